//! Language identification (lingua, models compiled in) and the decision
//! which language to answer in.
//!
//! The detector knows the languages compiled into the workspace's `lingua`
//! features (the shipped profiles' languages and a few neighbours that are
//! easy to confuse with them, such as Finnish for Estonian). A message in a
//! language the profile does not support is answered in the profile's first
//! language, and the decision says so, so the answer can tell the person.
//!
//! Only the first [`SAMPLE_CHARS`] characters are looked at: lingua's cost
//! grows faster than the text (a 900 KB single-word message took 684 s of
//! CPU; issue 21, finding 4), and a few thousand characters say which
//! language a message is in as well as a million do.

use lingua::{Language, LanguageDetector, LanguageDetectorBuilder};
use serde::Serialize;
use sovra_profile::Profile;

/// How many characters of a text language identification reads (its
/// beginning). sovra-knowledge detects a document's language on the same
/// number.
pub const SAMPLE_CHARS: usize = 4000;

/// The first [`SAMPLE_CHARS`] characters of `text` (all of it when shorter),
/// cut on a character boundary.
pub fn sample(text: &str) -> &str {
    match text.char_indices().nth(SAMPLE_CHARS) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

/// A detected language with lingua's confidence (0..=1, relative to the
/// other candidates).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Detection {
    /// ISO 639-1 code (`et`).
    pub language: String,
    pub confidence: f64,
}

/// Which language to answer in, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LanguageDecision {
    /// What was detected; `None` when the text has no letters to go by.
    pub detected: Option<Detection>,
    /// The language to answer in (always one the profile supports).
    pub answer_language: String,
    /// True when the detected language is not supported (or nothing was
    /// detected) and the profile's first language is used instead.
    pub fallback: bool,
}

/// Wraps a lingua detector built once; detection is `&self` and thread-safe.
pub struct LanguageIdentifier {
    detector: LanguageDetector,
}

impl std::fmt::Debug for LanguageIdentifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LanguageIdentifier").finish_non_exhaustive()
    }
}

impl Default for LanguageIdentifier {
    fn default() -> Self {
        Self::new()
    }
}

impl LanguageIdentifier {
    /// A detector over every language compiled in. Models load lazily on
    /// first use (a few ms per language).
    pub fn new() -> Self {
        let languages: Vec<Language> = Language::all().into_iter().collect();
        LanguageIdentifier {
            detector: LanguageDetectorBuilder::from_languages(&languages).build(),
        }
    }

    /// ISO 639-1 codes this detector can return.
    pub fn languages() -> Vec<String> {
        let mut v: Vec<String> = Language::all()
            .into_iter()
            .map(|l| l.iso_code_639_1().to_string())
            .collect();
        v.sort();
        v
    }

    /// Every candidate language with its confidence, most likely first;
    /// empty when the text has no letters to go by. Reads [`sample`].
    pub fn confidences(&self, text: &str) -> Vec<(String, f64)> {
        self.detector
            .compute_language_confidence_values(sample(text))
            .into_iter()
            .filter(|(_, c)| *c > 0.0)
            .map(|(l, c)| (l.iso_code_639_1().to_string(), c))
            .collect()
    }

    /// The most likely language of `text`, if any. Reads [`sample`].
    pub fn detect(&self, text: &str) -> Option<Detection> {
        let values = self
            .detector
            .compute_language_confidence_values(sample(text));
        let (language, confidence) = values.into_iter().next()?;
        if confidence <= 0.0 {
            return None;
        }
        Some(Detection {
            language: language.iso_code_639_1().to_string(),
            confidence,
        })
    }

    /// Detects `text` and decides the answer language for `profile`.
    pub fn decide(&self, text: &str, profile: &Profile) -> LanguageDecision {
        decide(self.detect(text), profile)
    }
}

/// Answer in the detected language when the profile supports it, else in
/// the profile's first language (flagged as a fallback).
pub fn decide(detected: Option<Detection>, profile: &Profile) -> LanguageDecision {
    let supported = detected
        .as_ref()
        .filter(|d| profile.supports(&d.language))
        .map(|d| d.language.clone());
    match supported {
        Some(language) => LanguageDecision {
            detected,
            answer_language: language,
            fallback: false,
        },
        None => LanguageDecision {
            detected,
            answer_language: profile.fallback_language().as_str().to_owned(),
            fallback: true,
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn profile(code: &str) -> Profile {
        let path = format!("{}/../../profiles/{code}.toml", env!("CARGO_MANIFEST_DIR"));
        sovra_profile::load(path).unwrap()
    }

    #[test]
    fn answers_in_a_supported_language_and_falls_back_otherwise() {
        let id = LanguageIdentifier::new();
        let ee = profile("ee");
        let d = id.decide("Kuidas passi uuendada?", &ee);
        assert_eq!(d.answer_language, "et");
        assert!(!d.fallback);
        let d = id.decide("Как продлить загранпаспорт?", &ee);
        assert_eq!(d.answer_language, "ru");
        // German is not an Estonian profile language: Estonian, flagged.
        let d = id.decide("Wie verlängere ich meinen Reisepass?", &ee);
        assert_eq!(d.detected.as_ref().map(|x| x.language.as_str()), Some("de"));
        assert_eq!(d.answer_language, "et");
        assert!(d.fallback);
        let ma = profile("ma");
        assert_eq!(id.decide("كيف أجدد جواز سفري؟", &ma).answer_language, "ar");
    }

    #[test]
    fn only_a_bounded_sample_is_read() {
        let short = "Kuidas passi uuendada?";
        assert_eq!(sample(short), short);
        // Cut on a character boundary, after exactly SAMPLE_CHARS characters.
        let long = "ä".repeat(SAMPLE_CHARS + 10);
        assert_eq!(sample(&long).chars().count(), SAMPLE_CHARS);
        // A message that starts in Estonian is Estonian, however much
        // follows; and one enormous word costs what its sample costs.
        let id = LanguageIdentifier::new();
        let text = format!(
            "{} {}",
            "Kuidas passi uuendada? ".repeat(200),
            "x".repeat(900_000)
        );
        assert_eq!(id.detect(&text).unwrap().language, "et");
        let word = "a".repeat(900 * 1024);
        let started = std::time::Instant::now();
        id.confidences(&word);
        id.detect(&word);
        let took = started.elapsed();
        assert!(took < std::time::Duration::from_secs(2), "{took:?}");
    }

    #[test]
    fn no_letters_means_no_detection_and_the_fallback() {
        let id = LanguageIdentifier::new();
        let d = id.decide("1234 !!!", &profile("ch"));
        assert!(d.detected.is_none());
        assert!(d.fallback);
    }
}
