//! Moderation over OpenAI's categories (and Sovra's own, such as
//! `medical/emergency`), with results in the shape of OpenAI's
//! `/v1/moderations`: `flagged`, `categories`, `category_scores`.
//!
//! A [`Moderator`] runs one or more [`Classifier`]s and keeps, per category,
//! the highest score any of them gave. The built-in one is the
//! [`RuleClassifier`]: the multilingual lexicons of [`crate::lexicon`] plus
//! the profile's own patterns. A parent category scores at least as high as
//! its subcategories (`hate/threatening` implies `hate`), as in OpenAI's
//! model. A classifier model running in the country (the embedded model, a
//! guard model on the fleet) plugs in through [`Classifier`]; nothing here
//! calls out of the machine.

use std::collections::BTreeMap;
use std::fmt;

use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};
use sovra_profile::{OPENAI_CATEGORIES, Profile, SOVRA_CATEGORIES};

use crate::GuardError;
use crate::lang::LanguageIdentifier;
use crate::lexicon::{BENIGN, ENTRIES, S};
use crate::normalize::{Normalized, normalize};

/// Why a category scored: which rule matched where (byte offsets in the
/// original text). No matched text is kept, so a result can be logged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoryMatch {
    pub category: String,
    /// `builtin:<language>` for the built-in lexicons, else the profile
    /// rule's id (or a classifier's name).
    pub rule: String,
    pub start: usize,
    pub end: usize,
    pub score: f32,
}

/// What one classifier says about a text.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    /// Category -> score in 0..=1; missing means 0.
    pub scores: BTreeMap<String, f32>,
    pub matches: Vec<CategoryMatch>,
}

/// A moderation model: text in, category scores out. Implementations must
/// be cheap to share across requests (`&self`, `Send + Sync`).
pub trait Classifier: Send + Sync + fmt::Debug {
    /// Named in matches and errors.
    fn name(&self) -> &str;
    fn classify(&self, text: &str) -> Result<Scores, GuardError>;
    /// The same, for a text whose language confidences the caller already
    /// has (as [`LanguageIdentifier::confidences`] returns them), so the
    /// language is not detected twice. The default ignores them.
    fn classify_detected(
        &self,
        text: &str,
        _confidences: &[(String, f64)],
    ) -> Result<Scores, GuardError> {
        self.classify(text)
    }
    /// The language confidences this classifier gates on, when it detects
    /// the language itself (the rules do); None otherwise.
    fn gate_confidences(&self, _text: &str) -> Option<Vec<(String, f64)>> {
        None
    }
}

impl<C: Classifier + ?Sized> Classifier for Box<C> {
    fn name(&self) -> &str {
        (**self).name()
    }

    fn classify(&self, text: &str) -> Result<Scores, GuardError> {
        (**self).classify(text)
    }

    fn classify_detected(
        &self,
        text: &str,
        confidences: &[(String, f64)],
    ) -> Result<Scores, GuardError> {
        (**self).classify_detected(text, confidences)
    }

    fn gate_confidences(&self, text: &str) -> Option<Vec<(String, f64)>> {
        (**self).gate_confidences(text)
    }
}

/// One result of OpenAI's `/v1/moderations` (plus Sovra's `matches`, which
/// OpenAI clients ignore).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModerationResult {
    pub flagged: bool,
    pub categories: BTreeMap<String, bool>,
    pub category_scores: BTreeMap<String, f32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<CategoryMatch>,
}

impl ModerationResult {
    /// Flagged categories, most confident first.
    pub fn flagged_categories(&self) -> Vec<(&str, f32)> {
        let mut v: Vec<(&str, f32)> = self
            .categories
            .iter()
            .filter(|(_, f)| **f)
            .map(|(c, _)| {
                let s = self.category_scores.get(c).copied().unwrap_or(0.0);
                (c.as_str(), s)
            })
            .collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1));
        v
    }

    pub fn is_flagged(&self, category: &str) -> bool {
        self.categories.get(category).copied().unwrap_or(false)
    }
}

/// OpenAI's `/v1/moderations` response body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModerationResponse {
    pub id: String,
    pub model: String,
    pub results: Vec<ModerationResult>,
}

#[derive(Debug)]
struct Rule {
    categories: Vec<String>,
    weight: f32,
    source: String,
    /// The lexicon's language; `None` for the profile's patterns, which
    /// always run.
    language: Option<String>,
    regex: Regex,
}

/// The multilingual rule engine: built-in lexicons, benign phrases, and
/// the profile's patterns, all over normalised text.
///
/// A language's lexicon only runs when the text could be in that language
/// (lingua gives it at least [`GATE_CONFIDENCE`], or it is the most likely
/// one): words mean different things across languages (Estonian `insult` is
/// a stroke), so running every lexicon on every text misfires.
#[derive(Debug)]
pub struct RuleClassifier {
    rules: Vec<Rule>,
    benign: Vec<Regex>,
    gate: Option<LanguageIdentifier>,
}

/// Lowest lingua confidence at which a language's lexicon runs.
pub const GATE_CONFIDENCE: f64 = 0.05;

/// Compiles `pattern` normalised like the text it runs on. A pattern whose
/// normalised form no longer parses because a class held only marks that
/// normalisation drops (`[ّ]?` becomes `[]?`) loses those empty classes; if it
/// still does not parse it is compiled as written.
fn compile(pattern: &str) -> Result<Regex, regex::Error> {
    let build = |p: &str| {
        RegexBuilder::new(p)
            .case_insensitive(true)
            .size_limit(1 << 22)
            .build()
    };
    let normalized = normalize(pattern);
    build(&normalized)
        .or_else(|_| {
            let emptied = ["[]?", "[]*", "[]+"]
                .iter()
                .fold(normalized.clone(), |p, e| p.replace(e, ""));
            build(&emptied)
        })
        .or_else(|_| build(pattern))
}

impl RuleClassifier {
    /// The built-in lexicons for every language they cover.
    pub fn builtin() -> Result<Self, GuardError> {
        let mut rules = Vec::with_capacity(ENTRIES.len());
        for (cats, lang, weight, pattern) in ENTRIES {
            let regex = compile(pattern).map_err(|e| GuardError::Lexicon {
                category: (*cats).to_owned(),
                language: (*lang).to_owned(),
                source: Box::new(e),
            })?;
            rules.push(Rule {
                categories: cats.split('|').map(str::to_owned).collect(),
                weight: *weight,
                source: format!("builtin:{lang}"),
                language: Some((*lang).to_owned()),
                regex,
            });
        }
        let mut benign = Vec::with_capacity(BENIGN.len());
        for (lang, pattern) in BENIGN {
            benign.push(compile(pattern).map_err(|e| GuardError::Lexicon {
                category: "benign".to_owned(),
                language: (*lang).to_owned(),
                source: Box::new(e),
            })?);
        }
        Ok(RuleClassifier {
            rules,
            benign,
            gate: Some(LanguageIdentifier::new()),
        })
    }

    /// Adds the profile's patterns: each flags its rule's first category.
    /// Patterns run whatever the message's language (the key in the
    /// profile says what they were written for; detection on a short
    /// message is not reliable enough to gate them).
    pub fn with_profile(mut self, profile: &Profile) -> Result<Self, GuardError> {
        for rule in &profile.safety.rules {
            let Some(category) = rule.categories.first() else {
                continue;
            };
            for patterns in rule.patterns.values() {
                for pattern in patterns {
                    let regex = compile(pattern).map_err(|e| GuardError::Pattern {
                        rule: rule.id.clone(),
                        pattern: pattern.clone(),
                        source: Box::new(e),
                    })?;
                    self.rules.push(Rule {
                        categories: vec![category.as_str().to_owned()],
                        weight: S,
                        source: rule.id.clone(),
                        language: None,
                        regex,
                    });
                }
            }
        }
        Ok(self)
    }

    /// Runs every language's lexicon on every text (for comparison).
    pub fn without_language_gate(mut self) -> Self {
        self.gate = None;
        self
    }

    /// Number of patterns, for start-up logs.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

/// Replaces each benign phrase with spaces of the same byte length, so
/// offsets stay valid.
fn blank(text: &str, benign: &[Regex]) -> String {
    let mut out = text.to_owned();
    for re in benign {
        let spans: Vec<(usize, usize)> = re.find_iter(&out).map(|m| (m.start(), m.end())).collect();
        for (s, e) in spans {
            out.replace_range(s..e, &" ".repeat(e - s));
        }
    }
    out
}

impl Classifier for RuleClassifier {
    fn name(&self) -> &str {
        "rules"
    }

    fn classify(&self, text: &str) -> Result<Scores, GuardError> {
        let confidences = self.gate.as_ref().map(|g| g.confidences(text));
        self.run(text, confidences.as_deref())
    }

    fn classify_detected(
        &self,
        text: &str,
        confidences: &[(String, f64)],
    ) -> Result<Scores, GuardError> {
        self.run(text, self.gate.as_ref().map(|_| confidences))
    }

    fn gate_confidences(&self, text: &str) -> Option<Vec<(String, f64)>> {
        self.gate.as_ref().map(|g| g.confidences(text))
    }
}

impl RuleClassifier {
    /// The rules over `text`, each language's lexicon gated by
    /// `confidences` (None: no gate).
    fn run(&self, text: &str, confidences: Option<&[(String, f64)]>) -> Result<Scores, GuardError> {
        let normalized = Normalized::new(text);
        let haystack = blank(&normalized.text, &self.benign);
        // Languages the text could be in; `None` runs every lexicon (no
        // gate, or no letters to detect a language by).
        let active: Option<Vec<&str>> = confidences.and_then(|candidates| {
            let active: Vec<&str> = candidates
                .iter()
                .enumerate()
                .filter(|(i, (_, c))| *i == 0 || *c >= GATE_CONFIDENCE)
                .map(|(_, (l, _))| l.as_str())
                .collect();
            (!active.is_empty()).then_some(active)
        });
        // Noisy-or per category: 1 - prod(1 - w) over the rules that match.
        let mut miss: BTreeMap<String, f32> = BTreeMap::new();
        let mut matches = Vec::new();
        for rule in &self.rules {
            if let (Some(active), Some(lang)) = (&active, &rule.language)
                && !active.iter().any(|a| *a == lang)
            {
                continue;
            }
            let Some(m) = rule.regex.find(&haystack) else {
                continue;
            };
            let (start, end) = normalized.original_span(m.start(), m.end());
            for category in &rule.categories {
                let p = miss.entry(category.clone()).or_insert(1.0);
                *p *= 1.0 - rule.weight;
                matches.push(CategoryMatch {
                    category: category.clone(),
                    rule: rule.source.clone(),
                    start,
                    end,
                    score: rule.weight,
                });
            }
        }
        let scores = miss.into_iter().map(|(c, p)| (c, 1.0 - p)).collect();
        Ok(Scores { scores, matches })
    }
}

/// Runs the classifiers and shapes the result; built once per profile.
#[derive(Debug)]
pub struct Moderator {
    classifiers: Vec<Box<dyn Classifier>>,
    threshold: f32,
    categories: Vec<String>,
}

impl Moderator {
    /// The built-in rules with the profile's patterns, at the profile's
    /// threshold. Every category the profile names is reported.
    pub fn for_profile(profile: &Profile) -> Result<Self, GuardError> {
        let rules = RuleClassifier::builtin()?.with_profile(profile)?;
        let mut m = Moderator::new(vec![Box::new(rules)], profile.safety.threshold);
        for rule in &profile.safety.rules {
            for c in &rule.categories {
                if !m.categories.iter().any(|k| k == c.as_str()) {
                    m.categories.push(c.as_str().to_owned());
                }
            }
        }
        Ok(m)
    }

    /// Any classifiers; a category is flagged at `threshold` or above.
    pub fn new(classifiers: Vec<Box<dyn Classifier>>, threshold: f32) -> Self {
        let categories = OPENAI_CATEGORIES
            .iter()
            .chain(SOVRA_CATEGORIES.iter())
            .map(|c| (*c).to_owned())
            .collect();
        Moderator {
            classifiers,
            threshold,
            categories,
        }
    }

    /// Adds a classifier (say, an in-country guard model) beside the rules.
    pub fn with_classifier(mut self, classifier: Box<dyn Classifier>) -> Self {
        self.classifiers.push(classifier);
        self
    }

    pub fn threshold(&self) -> f32 {
        self.threshold
    }

    pub fn moderate(&self, text: &str) -> Result<ModerationResult, GuardError> {
        self.moderate_inner(text, None)
    }

    /// The language confidences of `text` as the rules' gate sees them
    /// (None when no classifier gates on the language), for a caller that
    /// reuses them ([`Self::moderate_detected`]).
    pub fn confidences(&self, text: &str) -> Option<Vec<(String, f64)>> {
        self.classifiers
            .iter()
            .find_map(|c| c.gate_confidences(text))
    }

    /// [`Self::moderate`] for a text whose language confidences the caller
    /// already computed (the input check detects the language once).
    pub fn moderate_detected(
        &self,
        text: &str,
        confidences: &[(String, f64)],
    ) -> Result<ModerationResult, GuardError> {
        self.moderate_inner(text, Some(confidences))
    }

    fn moderate_inner(
        &self,
        text: &str,
        confidences: Option<&[(String, f64)]>,
    ) -> Result<ModerationResult, GuardError> {
        let mut scores: BTreeMap<String, f32> =
            self.categories.iter().map(|c| (c.clone(), 0.0)).collect();
        let mut matches = Vec::new();
        for classifier in &self.classifiers {
            let out = match confidences {
                Some(c) => classifier.classify_detected(text, c)?,
                None => classifier.classify(text)?,
            };
            for (c, s) in out.scores {
                // A category this moderator does not report (a classifier's
                // own label) must not reach the policy as an unnamed
                // category, where the default action would apply to it.
                let Some(e) = scores.get_mut(&c) else {
                    continue;
                };
                let s = if s.is_finite() {
                    s.clamp(0.0, 1.0)
                } else {
                    0.0
                };
                *e = e.max(s);
            }
            matches.extend(
                out.matches
                    .into_iter()
                    .filter(|m| scores.contains_key(&m.category)),
            );
        }
        // A parent scores at least its subcategories' best.
        let children: Vec<(String, f32)> = scores
            .iter()
            .filter_map(|(c, s)| c.split_once('/').map(|(p, _)| (p.to_owned(), *s)))
            .collect();
        for (parent, s) in children {
            if let Some(e) = scores.get_mut(&parent) {
                *e = e.max(s);
            }
        }
        let categories: BTreeMap<String, bool> = scores
            .iter()
            .map(|(c, s)| (c.clone(), *s >= self.threshold))
            .collect();
        Ok(ModerationResult {
            flagged: categories.values().any(|f| *f),
            categories,
            category_scores: scores,
            matches,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn moderator() -> Moderator {
        Moderator::new(vec![Box::new(RuleClassifier::builtin().unwrap())], 0.5)
    }

    #[test]
    fn every_builtin_pattern_compiles() {
        let r = RuleClassifier::builtin().unwrap();
        assert_eq!(r.len(), ENTRIES.len());
    }

    #[test]
    fn result_has_openai_shape_and_parent_follows_child() {
        let m = moderator();
        let r = m
            .moderate("All gay people should be rounded up and shot.")
            .unwrap();
        assert!(r.flagged);
        assert!(r.is_flagged("hate/threatening"));
        assert!(r.is_flagged("hate"), "parent follows child");
        for c in OPENAI_CATEGORIES {
            assert!(r.categories.contains_key(c), "{c}");
            assert!(r.category_scores.contains_key(c), "{c}");
        }
        let json = serde_json::to_value(&r).unwrap();
        assert!(json["categories"]["self-harm/intent"].is_boolean());
        assert!(json["category_scores"]["hate"].is_number());
    }

    #[test]
    fn benign_phrases_do_not_count() {
        let m = moderator();
        for text in [
            "How do I kill a Python process that is stuck?",
            "What is the suicide prevention hotline number?",
            "At what age should parents start sex education with their children?",
            "Who directed the film Kill Bill?",
        ] {
            let r = m.moderate(text).unwrap();
            assert!(!r.flagged, "{text}: {:?}", r.flagged_categories());
        }
    }

    #[test]
    fn obfuscation_does_not_hide_a_match() {
        let m = moderator();
        let r = m.moderate("I want to k\u{200B}ill myself").unwrap();
        assert!(r.is_flagged("self-harm/intent"));
        let r = m
            .moderate("Ｉ ｗａｎｔ ｔｏ ｋｉｌｌ ｍｙｓｅｌｆ")
            .unwrap();
        assert!(r.is_flagged("self-harm/intent"));
    }

    #[test]
    fn a_lexicon_runs_only_on_text_that_could_be_its_language() {
        // Estonian `insult` is a stroke: not an emergency in English.
        let m = moderator();
        let t = "My colleague keeps insulting me, what can I do?";
        assert!(!m.moderate(t).unwrap().is_flagged("medical/emergency"));
        let r = m
            .moderate("Isal on insult, ta ei saa rääkida, mida ma tegema pean?")
            .unwrap();
        assert!(r.is_flagged("medical/emergency"));
    }

    #[test]
    fn a_usual_dose_is_not_an_overdose_and_a_parents_question_is_not_abuse() {
        let m = moderator();
        for t in [
            "How do antidepressants work? I took 2 pills of sertraline today.",
            "J'ai pris 2 comprimés de Doliprane, je peux conduire ?",
            "My son is 12 years old, how do I talk to him about sex?",
        ] {
            let r = m.moderate(t).unwrap();
            assert!(!r.flagged, "{t}: {:?}", r.flagged_categories());
        }
        let r = m
            .moderate("J'ai avalé toute une boîte de somnifères.")
            .unwrap();
        assert!(r.is_flagged("self-harm/intent") && r.is_flagged("medical/emergency"));
    }

    #[test]
    fn matches_point_at_the_original_text() {
        let m = moderator();
        let text = "ok. أريد أن أنتحر الليلة";
        let r = m.moderate(text).unwrap();
        let hit = r
            .matches
            .iter()
            .find(|x| x.category == "self-harm/intent")
            .unwrap();
        assert!(text[hit.start..hit.end].contains("أنتحر"));
    }

    #[derive(Debug)]
    struct Fixed;
    impl Classifier for Fixed {
        fn name(&self) -> &str {
            "fixed"
        }
        fn classify(&self, _: &str) -> Result<Scores, GuardError> {
            Ok(Scores {
                scores: [("illicit".to_owned(), 0.8)].into_iter().collect(),
                matches: vec![],
            })
        }
    }

    #[test]
    fn a_plugged_in_classifier_adds_its_scores() {
        let m = moderator().with_classifier(Box::new(Fixed));
        let r = m.moderate("hello").unwrap();
        assert!(r.is_flagged("illicit"));
        assert!((r.category_scores["illicit"] - 0.8).abs() < 1e-6);
    }
}
