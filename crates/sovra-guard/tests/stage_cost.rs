//! What each stage of the input check costs on everyday messages, so the
//! per-request path can be profiled stage by stage: language detection,
//! the rules (with the language already detected), PII recognition, and the
//! whole check; then the output check of a short streamed answer. Run with
//! `cargo test --release -p sovra-guard --test stage_cost -- --ignored --nocapture`
//! (docs/benchmarks.md quotes it).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

use std::time::{Duration, Instant};

use sovra_guard::{Guard, StreamWindow};

fn root(rel: &str) -> String {
    format!("{}/../../{rel}", env!("CARGO_MANIFEST_DIR"))
}

fn pct(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    let at = |p: f64| v[((v.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e6;
    (at(0.5), at(0.99))
}

fn time<T>(texts: &[String], mut f: impl FnMut(&str) -> T) -> (f64, f64) {
    for t in texts.iter().take(20) {
        f(t);
    }
    pct(texts
        .iter()
        .map(|t| {
            let s = Instant::now();
            std::hint::black_box(f(t));
            s.elapsed()
        })
        .collect())
}

#[test]
#[ignore = "a timing, not a check: run it by name"]
fn input_and_output_check_stage_by_stage() {
    let guard = Guard::new(sovra_guard_profile()).unwrap();
    let mut texts = Vec::new();
    for set in [
        "eval/safety/everyday-tuning.jsonl",
        "eval/safety/cases.jsonl",
    ] {
        for c in sovra_guard::eval::load_cases(root(set)).unwrap() {
            texts.push(c.text);
        }
    }
    let rows = [
        (
            "language detection (lingua)",
            time(&texts, |t| guard.languages.confidences(t)),
        ),
        ("rules, language given", {
            let detected: Vec<_> = texts
                .iter()
                .map(|t| guard.languages.confidences(t))
                .collect();
            let mut i = 0;
            time(&texts, |t| {
                let r = guard
                    .moderator
                    .moderate_detected(t, &detected[i % detected.len()]);
                i += 1;
                r
            })
        }),
        (
            "rules, detecting the language",
            time(&texts, |t| guard.moderator.moderate(t)),
        ),
        (
            "PII recognition",
            time(&texts, |t| sovra_guard::pii::find(t, &guard.pii)),
        ),
        (
            "the whole input check",
            time(&texts, |t| guard.check_input(t)),
        ),
    ];
    println!(
        "{} messages (everyday + cases), Estonia's profile, microseconds:",
        texts.len()
    );
    println!("{:<34} {:>9} {:>9}", "stage", "p50", "p99");
    for (name, (p50, p99)) in rows {
        println!("{name:<34} {p50:>9.1} {p99:>9.1}");
    }
    // A 16-token answer streamed a token at a time, as the gateway bench's.
    let answer: Vec<String> = "The office opens at nine and you can book a time online today."
        .split_inclusive(' ')
        .map(str::to_owned)
        .collect();
    let mut times = Vec::new();
    for _ in 0..300 {
        let started = Instant::now();
        let mut w = StreamWindow::new("en");
        for piece in &answer {
            w.push(&guard.moderator, &guard.profile, piece).unwrap();
        }
        w.finish(&guard.moderator, &guard.profile).unwrap();
        times.push(started.elapsed());
    }
    let (p50, p99) = pct(times);
    println!(
        "{:<34} {p50:>9.1} {p99:>9.1}",
        "output check, 16-token answer"
    );
}

fn sovra_guard_profile() -> sovra_profile::Profile {
    sovra_profile::load(root("profiles/ee.toml")).unwrap()
}
