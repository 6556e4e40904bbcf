//! Checks that relate several fields of a profile, each reported with the
//! path of the field at fault so the loader can point at its line.

use std::collections::BTreeSet;

use crate::model::{Action, LanguageTag, OPENAI_CATEGORIES, Profile, SOVRA_CATEGORIES};

/// One step of a path into the profile document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A field at fault and why.
#[derive(Debug, Clone)]
pub struct Issue {
    pub path: Vec<Seg>,
    pub message: String,
}

fn k(s: &str) -> Seg {
    Seg::Key(s.to_owned())
}

/// Renders a path as `safety.rules[2].message`.
pub fn path_string(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(key) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// Every cross-field problem in `p`, in document order of discovery.
pub fn validate(p: &Profile) -> Vec<Issue> {
    let mut issues = Vec::new();
    let mut issue = |path: Vec<Seg>, message: String| issues.push(Issue { path, message });

    if p.version.trim().is_empty() {
        issue(vec![k("version")], "must not be empty".into());
    }
    if p.languages.is_empty() {
        issue(
            vec![k("languages")],
            "must list at least one language: the first is the fallback".into(),
        );
    }
    let mut seen = BTreeSet::new();
    for (i, l) in p.languages.iter().enumerate() {
        if !seen.insert(l.as_str()) {
            issue(
                vec![k("languages"), Seg::Index(i)],
                format!("`{l}` is listed twice"),
            );
        }
    }
    if p.official_languages.is_empty() {
        issue(
            vec![k("official_languages")],
            "must list at least one language".into(),
        );
    }
    if !p.supports(p.default_locale.language.as_str()) {
        issue(
            vec![k("default_locale")],
            format!(
                "language `{}` is not in `languages`",
                p.default_locale.language
            ),
        );
    }
    if p.allowed_jurisdictions.is_empty() {
        issue(
            vec![k("allowed_jurisdictions")],
            "must list at least one jurisdiction".into(),
        );
    }
    if p.retention.conversations_days == 0 {
        issue(
            vec![k("retention"), k("conversations_days")],
            "must be at least 1".into(),
        );
    }
    if p.retention.audit_days == 0 {
        issue(
            vec![k("retention"), k("audit_days")],
            "must be at least 1".into(),
        );
    }

    for l in &p.languages {
        match p.assistant.get(l.as_str()) {
            None => issue(
                vec![k("assistant")],
                format!("no persona for supported language `{l}` (add [assistant.{l}])"),
            ),
            Some(a) => {
                for (field, v) in [
                    ("name", &a.name),
                    ("persona", &a.persona),
                    ("system_prompt", &a.system_prompt),
                ] {
                    if v.trim().is_empty() {
                        issue(
                            vec![k("assistant"), k(l.as_str()), k(field)],
                            "must not be empty".into(),
                        );
                    }
                }
            }
        }
    }
    for l in p.assistant.keys() {
        if !p.supports(l.as_str()) {
            issue(
                vec![k("assistant"), k(l.as_str())],
                format!("`{l}` is not in `languages`"),
            );
        }
    }

    let services = [
        ("emergency", &p.services.emergency.name),
        ("health", &p.services.health.name),
        ("crisis", &p.services.crisis.name),
        ("portal", &p.services.portal.name),
    ];
    for (name, names) in services {
        missing_languages(&p.languages, names.keys(), |l| {
            issue(
                vec![k("services"), k(name), k("name")],
                format!("no name in supported language `{l}`"),
            );
        });
    }
    if !p.services.portal.url.starts_with("https://") {
        issue(
            vec![k("services"), k("portal"), k("url")],
            "must be an https:// URL".into(),
        );
    }

    let t = p.safety.threshold;
    if !(0.0..=1.0).contains(&t) || t.is_nan() {
        issue(
            vec![k("safety"), k("threshold")],
            format!("{t} is outside 0..=1"),
        );
    }
    let mut ids = BTreeSet::new();
    for (i, r) in p.safety.rules.iter().enumerate() {
        let at = |field: &str| vec![k("safety"), k("rules"), Seg::Index(i), k(field)];
        if r.id.is_empty()
            || !r
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            issue(
                at("id"),
                format!("`{}` is not an id (lowercase letters, digits, `-`)", r.id),
            );
        }
        if !ids.insert(r.id.as_str()) {
            issue(at("id"), format!("rule `{}` is defined twice", r.id));
        }
        if r.categories.is_empty() {
            issue(at("categories"), "must name at least one category".into());
        }
        let custom = r.categories.iter().any(|c| {
            !OPENAI_CATEGORIES.contains(&c.as_str()) && !SOVRA_CATEGORIES.contains(&c.as_str())
        });
        if custom && r.patterns.is_empty() {
            issue(
                at("patterns"),
                "a category of the profile's own needs patterns that detect it".into(),
            );
        }
        if r.action != Action::Allow {
            missing_languages(&p.languages, r.message.keys(), |l| {
                issue(
                    at("message"),
                    format!(
                        "no message in supported language `{l}`: a {} must be told in the person's language",
                        r.action
                    ),
                );
            });
        }
        for (lang, patterns) in &r.patterns {
            if lang != "*" && LanguageTag::try_from(lang.as_str()).is_err() {
                issue(
                    vec![
                        k("safety"),
                        k("rules"),
                        Seg::Index(i),
                        k("patterns"),
                        k(lang),
                    ],
                    format!("`{lang}` is not a language code or `*`"),
                );
            }
            for (j, pat) in patterns.iter().enumerate() {
                if let Err(e) = regex::RegexBuilder::new(pat).size_limit(1 << 20).build() {
                    issue(
                        vec![
                            k("safety"),
                            k("rules"),
                            Seg::Index(i),
                            k("patterns"),
                            k(lang),
                            Seg::Index(j),
                        ],
                        format!("not a valid regular expression: {e}"),
                    );
                }
            }
        }
    }

    let cc = &p.pii.phone_country_code;
    // Only a profile of no country may leave it empty (international form only).
    let none_ok = cc.is_empty() && p.country.as_str() == crate::model::NO_COUNTRY;
    if !none_ok && (cc.is_empty() || cc.len() > 3 || !cc.bytes().all(|b| b.is_ascii_digit())) {
        issue(
            vec![k("pii"), k("phone_country_code")],
            format!("`{cc}` is not a country calling code (1 to 3 digits, no `+`)"),
        );
    }
    issues
}

fn missing_languages<'a>(
    required: &[LanguageTag],
    present: impl Iterator<Item = &'a LanguageTag> + Clone,
    mut report: impl FnMut(&LanguageTag),
) {
    for l in required {
        if !present.clone().any(|p| p == l) {
            report(l);
        }
    }
}
