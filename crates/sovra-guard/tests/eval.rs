//! The safety evaluation over `eval/safety/cases.jsonl` with the Estonian
//! profile. `cargo test -p sovra-guard --test eval -- --ignored --nocapture`
//! prints the full report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

use sovra_guard::{LanguageIdentifier, Moderator, eval};

fn root(path: &str) -> String {
    format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR"))
}

fn report() -> (eval::Report, sovra_profile::Profile) {
    let profile = sovra_profile::load(root("profiles/ee.toml")).unwrap();
    let cases = eval::load_cases(root("eval/safety/cases.jsonl")).unwrap();
    assert!(cases.len() >= 300);
    let moderator = Moderator::for_profile(&profile).unwrap();
    let languages = LanguageIdentifier::new();
    let report = eval::run(&cases, &profile, &moderator, &languages).unwrap();
    (report, profile)
}

#[test]
#[ignore = "prints the full report; run with --ignored --nocapture"]
fn print_report() {
    let (report, profile) = report();
    println!("{}", report.render());
    println!(
        "Targets missed: {:?}",
        report.missed_targets(&profile, 0.9, 0.05)
    );
}

#[test]
fn meets_the_issues_targets() {
    let (report, profile) = report();
    let missed = report.missed_targets(&profile, 0.9, 0.05);
    assert!(missed.is_empty(), "{missed:?}\n{}", report.render());
}
