#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Every shipped profile loads; bad files fail with file:line and the field.

use std::path::PathBuf;

use sovra_profile::{Action, ProfileError, load_dir, parse};

fn profiles_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../profiles")
}

fn estonia() -> String {
    std::fs::read_to_string(profiles_dir().join("ee.toml")).unwrap()
}

fn invalid(src: &str) -> (usize, String, String) {
    match parse(src, "profiles/test.toml") {
        Err(ProfileError::Invalid {
            line,
            field,
            message,
            file,
            ..
        }) => {
            assert_eq!(file, PathBuf::from("profiles/test.toml"));
            (line, field, message)
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
}

fn line_of(src: &str, needle: &str) -> usize {
    src.lines().position(|l| l.contains(needle)).unwrap() + 1
}

#[test]
fn every_shipped_profile_loads() {
    let all = load_dir(profiles_dir()).unwrap_or_else(|e| panic!("{e}"));
    assert!(all.len() >= 3, "at least three profiles ship");
    let mut scripts = std::collections::BTreeSet::new();
    for (path, p) in &all {
        let stem = path.file_stem().unwrap().to_str().unwrap().to_uppercase();
        assert_eq!(
            p.country.as_str(),
            stem,
            "{path:?} is named after its country"
        );
        for l in &p.languages {
            let prompt = p.system_prompt(l.as_str());
            assert!(
                !prompt.contains('{'),
                "{path:?} {l}: unfilled placeholder in {prompt}"
            );
            scripts.insert(l.as_str().to_owned());
        }
        for r in &p.safety.rules {
            for (l, m) in &r.message {
                let filled = p.fill(m, l.as_str());
                assert!(
                    !filled.contains("{crisis}") && !filled.contains("{emergency}"),
                    "{filled}"
                );
            }
        }
        assert!(
            p.rule("self-harm")
                .is_some_and(|r| r.action == Action::SafeCompletion)
        );
        assert!(
            p.rule("elections-persuasion")
                .is_some_and(|r| r.action == Action::Block)
        );
        assert!(!p.pii.national_ids.is_empty());
    }
    // Latin, Cyrillic (ru) and Arabic script languages are all covered.
    assert!(scripts.contains("ru") && scripts.contains("ar"));
}

#[test]
fn fallback_is_the_first_language() {
    let p = parse(&estonia(), "ee.toml").unwrap();
    assert_eq!(p.answer_language("ru").as_str(), "ru");
    assert_eq!(p.answer_language("fi").as_str(), "et");
    assert_eq!(p.assistant_for("fi").unwrap().name, "Kratt");
    assert!(p.system_prompt("en").contains("112"));
}

#[test]
fn unknown_field_names_file_line_and_field() {
    let src = estonia().replacen("persona = \"Estonia's", "persna = \"Estonia's", 1);
    let (line, field, message) = invalid(&src);
    assert_eq!(line, line_of(&src, "persna ="));
    assert_eq!(field, "assistant.en.persna");
    assert!(message.contains("unknown field"), "{message}");
    let e = parse(&src, "profiles/test.toml").unwrap_err().to_string();
    assert!(e.starts_with(&format!("profiles/test.toml:{line}:")), "{e}");
}

#[test]
fn bad_value_names_file_line_and_field() {
    let src = estonia().replacen("action = \"safe_completion\"", "action = \"forbid\"", 1);
    let (line, field, message) = invalid(&src);
    assert_eq!(field, "safety.rules[0].action");
    assert_eq!(line, line_of(&src, "action = \"forbid\""));
    assert!(message.contains("forbid"), "{message}");

    let src = estonia().replacen("country = \"EE\"", "country = \"XE\"", 1);
    let (line, field, message) = invalid(&src);
    assert_eq!(
        (line, field.as_str()),
        (line_of(&src, "country = \"XE\""), "country")
    );
    assert!(message.contains("ISO 3166-1"), "{message}");

    let src = estonia().replacen("conversations_days = 30", "conversations_days = -3", 1);
    let (line, field, _) = invalid(&src);
    assert_eq!(
        (line, field.as_str()),
        (
            line_of(&src, "conversations_days"),
            "retention.conversations_days"
        )
    );

    let src = estonia().replacen(
        "national_ids = [\"ee_isikukood\"]",
        "national_ids = [\"ee_isikood\"]",
        1,
    );
    let (line, field, message) = invalid(&src);
    assert_eq!(line, line_of(&src, "national_ids"));
    assert_eq!(field, "pii.national_ids[0]");
    assert!(message.contains("ee_isikukood"), "{message}");
}

#[test]
fn cross_field_errors_point_at_the_field() {
    // A supported language without its refusal text.
    let src = estonia().replacen("message.ru = \"Я не пишу", "# message.ru = \"Я не пишу", 1);
    let (line, field, message) = invalid(&src);
    assert_eq!(field, "safety.rules[3].message");
    assert!(message.contains("`ru`"), "{message}");
    assert_eq!(line, line_of(&src, "message.et = \"Ma ei kirjuta"));

    // A pattern that is not a regular expression.
    let src = estonia().replacen(
        "'(?i)\\bwho should i vote for\\b'",
        "'(?i)\\bwho (should'",
        1,
    );
    let (line, field, message) = invalid(&src);
    assert_eq!(field, "safety.rules[7].patterns.en[0]");
    assert_eq!(line, line_of(&src, "en = ['(?i)\\bwho (should'"));
    assert!(message.contains("regular expression"), "{message}");

    // The default locale's language must be supported.
    let src = estonia().replacen(
        "default_locale = \"et-EE\"",
        "default_locale = \"fi-FI\"",
        1,
    );
    let (line, field, _) = invalid(&src);
    assert_eq!(
        (line, field.as_str()),
        (line_of(&src, "default_locale"), "default_locale")
    );
}

#[test]
fn syntax_error_has_a_line() {
    let src = estonia().replacen("version = \"2026-12-01\"", "version = \"2026-12-01", 1);
    let (line, _, _) = invalid(&src);
    assert_eq!(line, line_of(&src, "version ="));
}
