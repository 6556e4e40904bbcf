//! The safety pipeline around every request, as a library: plain data in,
//! plain data out, so the server (and `sovra eval safety`) can wire it.
//!
//! - [`lang`]: which language a message is in, and which to answer in.
//! - [`pii`]: personal data found, masked for logs, or swapped for reversible
//!   placeholders before the model and restored after.
//! - [`moderation`]: scores over OpenAI's moderation categories (and Sovra's
//!   own, such as `medical/emergency`) from multilingual rules the profile
//!   extends, behind the [`Classifier`] trait so an in-country model can be
//!   added.
//! - [`exemplar`]: the first such model, nearest neighbours over sentence
//!   embeddings (multilingual-e5-small in `sovra-embeddings`).
//! - [`head`]: a trained, calibrated logistic head over the same embeddings,
//!   the classifier Sovra serves.
//! - [`policy`]: what to do with a moderation result under a profile: allow,
//!   answer with the country's help lines, or refuse naming the rule.
//! - [`injection`]: screening text the assistant did not get from the user.
//! - [`stream`]: checking a streamed answer as its deltas arrive.
//! - [`eval`]: the labelled evaluation set and its report.
//!
//! [`Guard`] bundles them for one profile.

pub mod eval;
pub mod exemplar;
pub mod head;
pub mod injection;
pub mod lang;
mod lexicon;
pub mod moderation;
pub mod normalize;
pub mod pii;
pub mod policy;
pub mod stream;

pub use exemplar::{Abstention, Embed, Exemplar, ExemplarClassifier};
pub use head::{HeadClassifier, LogisticHead, ShippedHead, TrainParams};
pub use injection::{InjectionReport, fence_untrusted, screen_injection};
pub use lang::{Detection, LanguageDecision, LanguageIdentifier};
pub use moderation::{
    CategoryMatch, Classifier, ModerationResult, Moderator, RuleClassifier, Scores,
};
pub use pii::{PiiConfig, PiiFinding, PiiKind, Restorer, Vault};
pub use policy::{Decision, decide};
pub use stream::{StreamChecker, StreamVerdict, StreamWindow};

/// What can go wrong in the guard's own terms.
#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    /// A profile names a national id recogniser this build does not have.
    #[error("unknown national id recogniser `{0}`")]
    UnknownRecogniser(String),
    /// A profile's safety pattern does not compile (profiles are validated
    /// at load, so this only happens to hand-built profiles).
    #[error("safety rule `{rule}`: pattern `{pattern}` does not compile: {source}")]
    Pattern {
        rule: String,
        pattern: String,
        #[source]
        source: Box<regex::Error>,
    },
    /// A built-in lexicon entry does not compile (a bug, caught by tests).
    #[error("built-in lexicon `{category}`/`{language}`: {source}")]
    Lexicon {
        category: String,
        language: String,
        #[source]
        source: Box<regex::Error>,
    },
    /// A built-in pattern does not compile (a bug, caught by tests).
    #[error("built-in {0}")]
    Builtin(String),
    /// The evaluation set could not be read or parsed.
    #[error("{file}:{line}: {message}")]
    EvalSet {
        file: String,
        line: usize,
        message: String,
    },
    /// A classifier plugged in through [`Classifier`] failed.
    #[error("classifier `{name}` failed: {message}")]
    Classifier { name: String, message: String },
}

/// The pipeline for one profile: built once at start, shared by requests.
#[derive(Debug)]
pub struct Guard {
    pub profile: sovra_profile::Profile,
    pub languages: LanguageIdentifier,
    pub moderator: Moderator,
    pub pii: PiiConfig,
}

impl Guard {
    /// Compiles the built-in rules with the profile's own patterns.
    pub fn new(profile: sovra_profile::Profile) -> Result<Self, GuardError> {
        let moderator = Moderator::for_profile(&profile)?;
        let pii = PiiConfig::from_profile(&profile);
        // Fail at start, not at the first request, on a recogniser we lack.
        pii::find("", &pii)?;
        Ok(Guard {
            profile,
            languages: LanguageIdentifier::new(),
            moderator,
            pii,
        })
    }

    /// `text` with its personal data masked, for logs and storage.
    pub fn mask_for_log(&self, text: &str) -> Result<String, GuardError> {
        Ok(pii::mask(text, &pii::find(text, &self.pii)?))
    }

    /// A checker for one streamed answer in `language`.
    pub fn stream_checker(&self, language: &str) -> StreamChecker<'_> {
        StreamChecker::new(&self.moderator, &self.profile, language)
    }

    /// Checks one user message: its language, the moderation result, and the
    /// decision under the profile (with the message to show, if any).
    pub fn check_input(&self, text: &str) -> Result<InputCheck, GuardError> {
        check_input(text, &self.languages, &self.moderator, &self.profile)
    }
}

/// The input check of [`Guard::check_input`] over any detector, moderator
/// and profile: what the answer pipeline runs on every message, and what
/// `sovra eval safety` scores (one code path for both). The language is
/// detected once: for the decision, and to gate the rules' lexicons.
pub fn check_input(
    text: &str,
    languages: &LanguageIdentifier,
    moderator: &Moderator,
    profile: &sovra_profile::Profile,
) -> Result<InputCheck, GuardError> {
    let confidences = languages.confidences(text);
    let detected = confidences.first().map(|(language, confidence)| Detection {
        language: language.clone(),
        confidence: *confidence,
    });
    let language = lang::decide(detected, profile);
    let moderation = moderator.moderate_detected(text, &confidences)?;
    let decision = policy::decide(&moderation, profile, &language.answer_language);
    Ok(InputCheck {
        language,
        moderation,
        decision,
    })
}

/// The result of [`Guard::check_input`]. It holds no message text, so it can
/// be logged as it is.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InputCheck {
    pub language: LanguageDecision,
    pub moderation: ModerationResult,
    pub decision: Decision,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn one_guard_checks_a_message_end_to_end() {
        let path = format!("{}/../../profiles/ch.toml", env!("CARGO_MANIFEST_DIR"));
        let guard = Guard::new(sovra_profile::load(path).unwrap()).unwrap();
        let check = guard
            .check_input("Ich will mich heute Nacht umbringen.")
            .unwrap();
        assert_eq!(check.language.answer_language, "de");
        assert_eq!(check.decision.rule(), Some("self-harm"));
        let check = guard.check_input("Wie beantrage ich Elterngeld?").unwrap();
        assert_eq!(check.decision, Decision::Allow);
        let masked = guard
            .mask_for_log("AHV 756.1234.5678.97, mail a@b.ch")
            .unwrap();
        assert_eq!(masked, "AHV [NATIONAL_ID], mail [EMAIL]");
    }
}
