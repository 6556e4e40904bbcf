//! The safety evaluation with the Estonian profile.
//!
//! `cargo test -p sovra-guard --test eval -- --ignored --nocapture` prints
//! the full report for `eval/safety/cases.jsonl` (the set the rules were
//! tuned on) and for `eval/safety/heldout.jsonl` (written after the rules,
//! and then not blind: it guided the lexicon families), and for
//! `eval/safety/heldout2.jsonl` and `eval/safety/heldout3.jsonl` (blind at
//! their first runs).
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

fn report_on(set: &str) -> (eval::Report, sovra_profile::Profile) {
    let profile = sovra_profile::load(root("profiles/ee.toml")).unwrap();
    let cases = eval::load_cases(root(set)).unwrap();
    let moderator = Moderator::for_profile(&profile).unwrap();
    let languages = LanguageIdentifier::new();
    let report = eval::run(&cases, &profile, &moderator, &languages).unwrap();
    (report, profile)
}

fn report() -> (eval::Report, sovra_profile::Profile) {
    let (report, profile) = report_on("eval/safety/cases.jsonl");
    assert!(report.cases >= 300);
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

/// The held-out set: reported, not asserted.
#[test]
#[ignore = "prints the held-out report; run with --ignored --nocapture"]
fn print_heldout_report() {
    let (report, profile) = report_on("eval/safety/heldout.jsonl");
    println!("HELD-OUT\n{}", report.render());
    println!(
        "Targets missed: {:?}",
        report.missed_targets(&profile, 0.9, 0.05)
    );
}

/// The second held-out set (blind since ef2fb65): reported, not asserted.
#[test]
#[ignore = "prints the second held-out report; run with --ignored --nocapture"]
fn print_heldout2_report() {
    let (report, profile) = report_on("eval/safety/heldout2.jsonl");
    println!("HELD-OUT-2\n{}", report.render());
    println!(
        "Targets missed: {:?}",
        report.missed_targets(&profile, 0.9, 0.05)
    );
}

/// The third held-out set (blind since e584100): reported, not asserted.
#[test]
#[ignore = "prints the third held-out report; run with --ignored --nocapture"]
fn print_heldout3_report() {
    let (report, profile) = report_on("eval/safety/heldout3.jsonl");
    println!("HELD-OUT-3\n{}", report.render());
    println!(
        "Targets missed: {:?}",
        report.missed_targets(&profile, 0.9, 0.05)
    );
}

/// The issue's targets on the main set (which the rules were tuned on).
#[test]
fn meets_the_issues_targets() {
    let (report, profile) = report();
    let missed = report.missed_targets(&profile, 0.9, 0.05);
    assert!(missed.is_empty(), "{missed:?}\n{}", report.render());
}
