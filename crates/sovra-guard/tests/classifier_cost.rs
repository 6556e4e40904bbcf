//! What each classifier costs per message beyond the embedding they share:
//! the vote scans every exemplar (2,900 of them as shipped), the logistic
//! head takes one dot product per category. Run with
//! `cargo test --release -p sovra-guard --test classifier_cost -- --ignored --nocapture`
//! (docs/safety.md quotes it).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use sovra_guard::{
    Abstention, Classifier, Embed, Exemplar, ExemplarClassifier, GuardError, HeadClassifier,
    LogisticHead, TrainParams,
};

const DIMS: usize = 384;
const EXEMPLARS: usize = 2_900;

/// A deterministic pseudo-random unit vector per seed.
fn vector(seed: u64) -> Vec<f32> {
    let mut x = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    let mut v: Vec<f32> = (0..DIMS)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((x >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        })
        .collect();
    let n = v.iter().map(|a| a * a).sum::<f32>().sqrt();
    v.iter_mut().for_each(|a| *a /= n);
    v
}

/// The embedding step, made free: both classifiers get the same vector.
#[derive(Debug)]
struct Fixed(Vec<f32>);
impl Embed for Fixed {
    fn embed(&self, _: &str) -> Result<Vec<f32>, GuardError> {
        Ok(self.0.clone())
    }
}

fn per_message(c: &dyn Classifier) -> (Duration, Duration) {
    let mut times: Vec<Duration> = (0..2_000)
        .map(|_| {
            let t = Instant::now();
            c.classify("a message").unwrap();
            t.elapsed()
        })
        .collect();
    times.sort();
    (times[times.len() / 2], times[times.len() * 99 / 100])
}

#[test]
#[ignore = "a timing, not a check: run it by name"]
fn classifier_cost_beside_the_embedding() {
    let cats = ["harassment", "violence", "self-harm/intent", "illicit", ""];
    let exemplars: Vec<Exemplar> = (0..EXEMPLARS as u64)
        .map(|i| Exemplar {
            categories: match cats[(i % 5) as usize] {
                "" => vec![],
                c => vec![c.to_owned()],
            },
            vector: vector(i),
        })
        .collect();
    let all: Vec<&str> = sovra_profile::OPENAI_CATEGORIES
        .iter()
        .chain(sovra_profile::SOVRA_CATEGORIES.iter())
        .copied()
        .collect();
    let started = Instant::now();
    let head = LogisticHead::train(
        &exemplars,
        &all,
        TrainParams {
            folds: 0,
            ..TrainParams::default()
        },
        "synthetic",
        "-",
    )
    .unwrap();
    let trained = started.elapsed();
    let q = Fixed(vector(99_999));
    let vote = ExemplarClassifier::new(Fixed(q.0.clone()), exemplars.clone(), 5);
    let abstaining =
        ExemplarClassifier::new(Fixed(q.0.clone()), exemplars, 5).with_abstention(Abstention {
            floor: 0.85,
            margin: 0.0,
        });
    let logistic = HeadClassifier::new(q, head);
    for (name, c) in [
        ("vote", &vote as &dyn Classifier),
        ("abstaining vote", &abstaining),
        ("logistic", &logistic),
    ] {
        let (p50, p99) = per_message(c);
        eprintln!(
            "{name:16} p50 {p50:>10.2?}  p99 {p99:>10.2?}  ({EXEMPLARS} exemplars, {DIMS} dims)"
        );
    }
    eprintln!(
        "training the head on {EXEMPLARS} exemplars, 14 categories, no calibration folds: {trained:.2?}"
    );
}
