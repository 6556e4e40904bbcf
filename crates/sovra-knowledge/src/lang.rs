//! Which language a document or a question is in (lingua, with the
//! languages the workspace compiles in: those of the shipped profiles and
//! evaluation). Answers are ISO 639-1 codes; short or mixed text that lingua
//! cannot call gets None, and the caller decides the default.

use std::sync::LazyLock;

use lingua::{IsoCode639_1, Language, LanguageDetector, LanguageDetectorBuilder};

static DETECTOR: LazyLock<LanguageDetector> =
    LazyLock::new(|| LanguageDetectorBuilder::from_all_languages().build());

/// The ISO 639-1 code of `text`'s language, if lingua can tell.
pub fn detect(text: &str) -> Option<String> {
    // The first few thousand characters decide; a whole book adds nothing.
    let sample: String = text.chars().take(4000).collect();
    DETECTOR
        .detect_language_of(&sample)
        .map(|l: Language| l.iso_code_639_1().to_string())
}

/// A language code as given by a client, if it names a known language.
pub fn normalise(code: &str) -> Option<String> {
    let base = code.trim().split(['-', '_']).next()?.to_ascii_lowercase();
    base.parse::<IsoCode639_1>().ok().map(|c| c.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_profile_languages() {
        assert_eq!(
            detect("Kuidas ma saan oma passi uuendada?").as_deref(),
            Some("et")
        );
        assert_eq!(
            detect("Comment renouveler mon passeport ?").as_deref(),
            Some("fr")
        );
        assert_eq!(
            detect("Wie beantrage ich Kindergeld für mein Kind?").as_deref(),
            Some("de")
        );
        assert_eq!(detect("كيف أجدد جواز سفري؟").as_deref(), Some("ar"));
        assert_eq!(normalise("fr-CH").as_deref(), Some("fr"));
    }
}
