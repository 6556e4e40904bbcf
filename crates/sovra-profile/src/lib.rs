//! Country profiles: what one deployment of Sovra speaks, says and refuses.
//!
//! A profile is a plain TOML file (see `profiles/` at the repository root):
//! country, languages in order, the assistant's persona and system prompt per
//! language, public-service facts (emergency, health and crisis lines, the
//! national portal), the safety policy (category -> block / safe completion /
//! allow, with localized messages and the country's own patterns), the PII
//! recognisers for its national identifiers, retention defaults and allowed
//! jurisdictions.
//!
//! Loading refuses unknown fields and bad values, and every error names the
//! file, the line and column, and the field (`profiles/ee.toml:12:1:
//! assistant.et.nmae: unknown field ...`). This crate only holds and checks
//! data; `sovra-guard` acts on it.

mod model;
mod validate;

use std::ops::Range;
use std::path::{Path, PathBuf};

pub use model::{
    Action, Assistant, Category, CountryCode, Jurisdiction, LanguageTag, Locale,
    NATIONAL_ID_RECOGNISERS, OPENAI_CATEGORIES, PiiPolicy, Portal, Profile, RecogniserName,
    Retention, SOVRA_CATEGORIES, SafetyPolicy, SafetyRule, Service, Services,
};
pub use validate::{Issue, Seg, path_string};

/// Why a profile could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("{file}: cannot read the profile: {source}")]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Bad syntax, an unknown field, a bad value or a failed cross-field check.
    #[error("{file}:{line}:{column}: {field}: {message}")]
    Invalid {
        file: PathBuf,
        /// 1-based line of the offending key or value (0 when unknown).
        line: usize,
        column: usize,
        /// Dotted path of the field (`safety.rules[1].action`); empty for
        /// syntax errors outside any field.
        field: String,
        message: String,
    },
}

/// The built-in neutral profile's text (English, emergency number 112):
/// what Sovra follows until the operator names a country profile.
pub const NEUTRAL_PROFILE: &str = include_str!("../builtin/neutral.toml");

/// The built-in neutral profile, validated like any other.
pub fn neutral() -> Result<Profile, ProfileError> {
    parse(NEUTRAL_PROFILE, "<built-in neutral profile>")
}

/// Reads and validates the profile at `path`.
pub fn load(path: impl AsRef<Path>) -> Result<Profile, ProfileError> {
    let path = path.as_ref();
    let src = std::fs::read_to_string(path).map_err(|source| ProfileError::Read {
        file: path.to_owned(),
        source,
    })?;
    parse(&src, path)
}

/// Parses and validates profile text; `file` is only used in errors.
pub fn parse(src: &str, file: impl AsRef<Path>) -> Result<Profile, ProfileError> {
    let file = file.as_ref().to_owned();
    let de = toml::Deserializer::new(src);
    let profile: Profile = serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        let (line, column) = inner
            .span()
            .map(|s| line_col(src, s.start))
            .unwrap_or((0, 0));
        ProfileError::Invalid {
            file: file.clone(),
            line,
            column,
            field: if field == "." { String::new() } else { field },
            message: inner.message().to_owned(),
        }
    })?;
    if let Some(issue) = validate::validate(&profile).into_iter().next() {
        let (line, column) = span_of(src, &issue.path)
            .map(|s| line_col(src, s.start))
            .unwrap_or((0, 0));
        return Err(ProfileError::Invalid {
            file,
            line,
            column,
            field: path_string(&issue.path),
            message: issue.message,
        });
    }
    Ok(profile)
}

/// Loads every `*.toml` in `dir`, sorted by file name.
pub fn load_dir(dir: impl AsRef<Path>) -> Result<Vec<(PathBuf, Profile)>, ProfileError> {
    let dir = dir.as_ref();
    let read_err = |source| ProfileError::Read {
        file: dir.to_owned(),
        source,
    };
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_err)? {
        let p = entry.map_err(read_err)?.path();
        if p.extension().is_some_and(|e| e == "toml") {
            paths.push(p);
        }
    }
    paths.sort();
    paths
        .into_iter()
        .map(|p| load(&p).map(|prof| (p, prof)))
        .collect()
}

impl Profile {
    /// The system prompt for `language` (or the fallback language) with the
    /// profile's facts filled in.
    pub fn system_prompt(&self, language: &str) -> String {
        let lang = self.answer_language(language).as_str();
        let Some(a) = self.assistant_for(lang) else {
            return String::new();
        };
        self.fill(&a.system_prompt, lang).replace("{name}", &a.name)
    }

    /// Replaces `{country}`, `{emergency}`, `{health}`, `{crisis}` and
    /// `{portal}` in `template` with the facts, named in `language`.
    pub fn fill(&self, template: &str, language: &str) -> String {
        let s = &self.services;
        let portal_name = s
            .portal
            .name
            .get(language)
            .or_else(|| s.portal.name.values().next())
            .map(String::as_str)
            .unwrap_or("");
        template
            .replace("{country}", &self.name)
            .replace("{emergency}", &s.emergency.describe(language))
            .replace("{health}", &s.health.describe(language))
            .replace("{crisis}", &s.crisis.describe(language))
            .replace("{portal}", &format!("{portal_name}: {}", s.portal.url))
    }
}

fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(src.len());
    let before = src.get(..offset).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map(|nl| before.len() - nl)
        .unwrap_or(before.len() + 1);
    (line, column)
}

/// The span of the deepest part of `path` found in the document: the key
/// when there is one, else the value or table header.
fn span_of(src: &str, path: &[Seg]) -> Option<Range<usize>> {
    let doc = toml_edit::ImDocument::parse(src).ok()?;
    let mut node = Node::Item(doc.as_item());
    let mut best = None;
    for seg in path {
        let Some((next, span)) = node.child(seg) else {
            break;
        };
        best = span.or(best);
        node = next;
    }
    best
}

#[derive(Clone, Copy)]
enum Node<'a> {
    Item(&'a toml_edit::Item),
    Table(&'a toml_edit::Table),
    Value(&'a toml_edit::Value),
}

impl<'a> Node<'a> {
    fn child(self, seg: &Seg) -> Option<(Node<'a>, Option<Range<usize>>)> {
        let keyed = |kv: Option<(&'a toml_edit::Key, &'a toml_edit::Item)>| {
            kv.map(|(k, v)| (Node::Item(v), k.span().or_else(|| v.span())))
        };
        match (self, seg) {
            (Node::Item(i), Seg::Key(key)) => keyed(i.as_table_like()?.get_key_value(key)),
            (Node::Table(t), Seg::Key(key)) => keyed(t.get_key_value(key)),
            (Node::Value(v), Seg::Key(key)) => keyed(v.as_inline_table()?.get_key_value(key)),
            (Node::Item(i), Seg::Index(n)) => match i.as_array_of_tables() {
                Some(aot) => aot.get(*n).map(|t| (Node::Table(t), t.span())),
                None => i.as_array()?.get(*n).map(|v| (Node::Value(v), v.span())),
            },
            (Node::Value(v), Seg::Index(n)) => {
                v.as_array()?.get(*n).map(|v| (Node::Value(v), v.span()))
            }
            (Node::Table(_), Seg::Index(_)) => None,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod neutral_tests {
    #[test]
    fn the_neutral_profile_is_valid_english_with_112() {
        let p = super::neutral().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.country.as_str(), super::model::NO_COUNTRY);
        assert_eq!(p.fallback_language().as_str(), "en");
        assert_eq!(p.services.emergency.number, "112");
        assert!(p.rule("self-harm").is_some());
    }

    #[test]
    fn only_a_profile_of_no_country_may_omit_the_calling_code() {
        let src = super::NEUTRAL_PROFILE
            .replace("country = \"ZZ\"", "country = \"EE\"")
            .replace(
                "allowed_jurisdictions = [\"ZZ\"]",
                "allowed_jurisdictions = [\"EE\"]",
            );
        let err = super::parse(&src, "x.toml").unwrap_err().to_string();
        assert!(err.contains("phone_country_code"), "{err}");
    }
}
