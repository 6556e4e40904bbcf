//! The country profile as data: every type a profile file deserializes into.
//!
//! Values that have a format of their own (country codes, language tags,
//! locales, categories, recogniser names) are newtypes that check it while
//! deserializing, so a bad value fails at its own span in the file. Rules that
//! relate several fields (a language with no persona, a rule without a refusal
//! in every language) live in [`crate::validate`].

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// One country's (or region's, or ministry's) deployment profile.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Version of this profile; published with the policy so citizens can
    /// tell which rules were in force (e.g. a date, `2026-12-01`).
    pub version: String,
    /// ISO 3166-1 alpha-2 code of the country.
    pub country: CountryCode,
    /// The country's name in English, for operators.
    pub name: String,
    /// Official languages of the country (BCP 47), whether or not the
    /// assistant speaks all of them yet.
    pub official_languages: Vec<LanguageTag>,
    /// Languages the assistant answers in, in order of preference: the first
    /// is the fallback for a message in any other language.
    pub languages: Vec<LanguageTag>,
    /// Locale for dates, numbers and the web chat before a language is known.
    pub default_locale: Locale,
    /// Jurisdictions (ISO 3166-1 alpha-2, or `EU`) where inference and data
    /// may be placed.
    pub allowed_jurisdictions: Vec<Jurisdiction>,
    pub retention: Retention,
    /// The assistant's name, persona and system prompt, per supported language.
    pub assistant: BTreeMap<LanguageTag, Assistant>,
    /// Public-service facts the assistant must get right.
    pub services: Services,
    pub safety: SafetyPolicy,
    pub pii: PiiPolicy,
}

impl Profile {
    /// The language to answer in when a message's language is not supported.
    pub fn fallback_language(&self) -> &LanguageTag {
        // Validation refuses an empty `languages`, but stay total anyway.
        self.languages
            .first()
            .unwrap_or(&self.default_locale.language)
    }

    /// Whether the assistant answers in `language`.
    pub fn supports(&self, language: &str) -> bool {
        self.languages.iter().any(|l| l.as_str() == language)
    }

    /// `language` if supported, else the fallback language.
    pub fn answer_language<'a>(&'a self, language: &str) -> &'a LanguageTag {
        self.languages
            .iter()
            .find(|l| l.as_str() == language)
            .unwrap_or_else(|| self.fallback_language())
    }

    /// The assistant persona for `language`, or the fallback language's.
    pub fn assistant_for(&self, language: &str) -> Option<&Assistant> {
        self.assistant
            .get(self.answer_language(language).as_str())
            .or_else(|| self.assistant.get(self.fallback_language().as_str()))
    }

    /// The safety rule with this id.
    pub fn rule(&self, id: &str) -> Option<&SafetyRule> {
        self.safety.rules.iter().find(|r| r.id == id)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    /// Days conversations are kept before the retention job purges them.
    pub conversations_days: u32,
    /// Days audit entries are kept.
    pub audit_days: u32,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Assistant {
    pub name: String,
    /// One line describing the assistant, shown to people.
    pub persona: String,
    /// The system prompt for this language. `{name}`, `{country}`,
    /// `{emergency}`, `{health}`, `{crisis}` and `{portal}` are replaced by
    /// the profile's facts by [`crate::Profile::system_prompt`].
    pub system_prompt: String,
}

/// Public-service facts: numbers are the same in every language, names are
/// per language.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Services {
    pub emergency: Service,
    pub health: Service,
    /// Crisis and self-harm line: what a safe completion points to.
    pub crisis: Service,
    pub portal: Portal,
    /// Further lines (poison centre, child helpline, ...).
    #[serde(default)]
    pub other: Vec<Service>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// The number to dial, as written in the country.
    pub number: String,
    /// The service's name per language.
    pub name: BTreeMap<LanguageTag, String>,
    /// Hours or conditions, per language (e.g. "24/7").
    #[serde(default)]
    pub hours: BTreeMap<LanguageTag, String>,
}

impl Service {
    /// "Name: number" in `language`, or in any language the profile has.
    pub fn describe(&self, language: &str) -> String {
        let name = self
            .name
            .get(language)
            .or_else(|| self.name.values().next())
            .map(String::as_str)
            .unwrap_or("");
        match self.hours.get(language) {
            Some(h) => format!("{name}: {} ({h})", self.number),
            None => format!("{name}: {}", self.number),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Portal {
    pub url: String,
    pub name: BTreeMap<LanguageTag, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Refuse, with the rule's localized message.
    Block,
    /// Answer carefully, with the country's help lines in the user's language.
    SafeCompletion,
    Allow,
}

impl Action {
    /// Strictness order: `Block` > `SafeCompletion` > `Allow`.
    pub fn severity(self) -> u8 {
        match self {
            Action::Allow => 0,
            Action::SafeCompletion => 1,
            Action::Block => 2,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Block => "block",
            Action::SafeCompletion => "safe_completion",
            Action::Allow => "allow",
        })
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SafetyPolicy {
    /// What happens to a flagged category no rule names.
    pub default_action: Action,
    /// A category is flagged when its score reaches this (0..=1).
    #[serde(default = "default_threshold")]
    pub threshold: f32,
    pub rules: Vec<SafetyRule>,
}

fn default_threshold() -> f32 {
    0.5
}

/// One published rule: which categories it covers, what it does, what the
/// person is told, and extra patterns the country adds.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SafetyRule {
    /// Stable id, named in refusals, audits and `/policy`.
    pub id: String,
    /// What the rule is for, in plain words (published in `/policy`).
    pub description: String,
    /// OpenAI moderation categories, or categories of the profile's own
    /// (such as `elections/persuasion`) defined by `patterns`.
    pub categories: Vec<Category>,
    pub action: Action,
    /// What the person is told, per supported language. For `block` it
    /// should name the rule; for `safe_completion` it carries the help lines
    /// (`{crisis}`, `{emergency}`, `{health}` are filled in).
    #[serde(default)]
    pub message: BTreeMap<LanguageTag, String>,
    /// Extra regular expressions per language that flag the rule's first
    /// category (`*` applies to every language).
    #[serde(default)]
    pub patterns: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PiiPolicy {
    /// National identifier recognisers, by name from the built-in set
    /// ([`crate::NATIONAL_ID_RECOGNISERS`]).
    pub national_ids: Vec<RecogniserName>,
    /// Country calling code used for phone numbers written without `+`.
    pub phone_country_code: String,
    /// Replace PII with reversible placeholders before the model sees it.
    #[serde(default)]
    pub redact_before_model: bool,
}

/// The 13 categories of OpenAI's `omni-moderation` model, in its order.
pub const OPENAI_CATEGORIES: [&str; 13] = [
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/intent",
    "self-harm/instructions",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
];

/// Categories of Sovra's own that `sovra-guard` detects with built-in
/// multilingual rules, beside OpenAI's.
pub const SOVRA_CATEGORIES: [&str; 1] = ["medical/emergency"];

/// Built-in national identifier recognisers (implemented in `sovra-guard`).
pub const NATIONAL_ID_RECOGNISERS: [&str; 6] = [
    "ee_isikukood",
    "ch_ahv",
    "in_aadhaar",
    "in_pan",
    "ma_cin",
    "fr_nir",
];

/// ISO 3166-1 alpha-2 codes, officially assigned.
const ISO_3166_1: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

macro_rules! checked_string {
    ($(#[$doc:meta])* $name:ident, $check:path) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                $check(&s)?;
                Ok(Self(s))
            }
        }

        impl TryFrom<&str> for $name {
            type Error = String;
            fn try_from(s: &str) -> Result<Self, String> {
                Self::try_from(s.to_owned())
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

checked_string!(
    /// ISO 3166-1 alpha-2 country code (`EE`, `MA`, `CH`).
    CountryCode,
    check_country
);
checked_string!(
    /// A jurisdiction: an ISO 3166-1 alpha-2 code or `EU`.
    Jurisdiction,
    check_jurisdiction
);
checked_string!(
    /// A BCP 47 primary language subtag: ISO 639-1 where the language has
    /// one (`et`, `ar`), else ISO 639-2/3 (`zgh`).
    LanguageTag,
    check_language
);
checked_string!(
    /// A moderation category: one of [`OPENAI_CATEGORIES`] or a profile's
    /// own, lowercase, with at most one `/` (`elections/persuasion`).
    Category,
    check_category
);
checked_string!(
    /// The name of a built-in national identifier recogniser.
    RecogniserName,
    check_recogniser
);

/// ISO 3166's user-assigned code for "unknown": the built-in neutral
/// profile's country.
pub const NO_COUNTRY: &str = "ZZ";

fn check_country(s: &str) -> Result<(), String> {
    if s == NO_COUNTRY || (s.len() == 2 && ISO_3166_1.split(' ').any(|c| c == s)) {
        Ok(())
    } else {
        Err(format!(
            "`{s}` is not an ISO 3166-1 alpha-2 country code (two capital letters, e.g. `EE`)"
        ))
    }
}

fn check_jurisdiction(s: &str) -> Result<(), String> {
    if s == "EU" {
        return Ok(());
    }
    check_country(s)
        .map_err(|_| format!("`{s}` is not a jurisdiction (an ISO 3166-1 alpha-2 code or `EU`)"))
}

fn check_language(s: &str) -> Result<(), String> {
    if (2..=3).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase()) {
        Ok(())
    } else {
        Err(format!(
            "`{s}` is not a language code (ISO 639-1 in lowercase, e.g. `et`; ISO 639-3 where there is no 639-1 code)"
        ))
    }
}

fn check_category(s: &str) -> Result<(), String> {
    let ok_part = |p: &str| {
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'-' || b == b'_')
    };
    let parts: Vec<&str> = s.split('/').collect();
    if parts.len() <= 2 && parts.iter().all(|p| ok_part(p)) {
        Ok(())
    } else {
        Err(format!(
            "`{s}` is not a category (one of OpenAI's, e.g. `self-harm/intent`, or lowercase words with one `/`)"
        ))
    }
}

fn check_recogniser(s: &str) -> Result<(), String> {
    if NATIONAL_ID_RECOGNISERS.contains(&s) {
        Ok(())
    } else {
        Err(format!(
            "`{s}` is not a built-in national id recogniser (known: {})",
            NATIONAL_ID_RECOGNISERS.join(", ")
        ))
    }
}

/// A locale: language, optional script, region (`et-EE`, `ar-MA`, `sr-Latn-RS`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Locale {
    pub language: LanguageTag,
    pub script: Option<String>,
    pub region: Option<String>,
}

impl TryFrom<String> for Locale {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let bad = || format!("`{s}` is not a locale (BCP 47, e.g. `et-EE` or `sr-Latn-RS`)");
        let mut parts = s.split('-');
        let language = LanguageTag::try_from(parts.next().unwrap_or("")).map_err(|_| bad())?;
        let mut script = None;
        let mut region = None;
        for p in parts {
            let is_script = p.len() == 4
                && p.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                && p.chars().skip(1).all(|c| c.is_ascii_lowercase());
            let is_region = (p.len() == 2 && p.bytes().all(|b| b.is_ascii_uppercase()))
                || (p.len() == 3 && p.bytes().all(|b| b.is_ascii_digit()));
            if is_script && script.is_none() && region.is_none() {
                script = Some(p.to_owned());
            } else if is_region && region.is_none() {
                region = Some(p.to_owned());
            } else {
                return Err(bad());
            }
        }
        Ok(Locale {
            language,
            script,
            region,
        })
    }
}

impl From<Locale> for String {
    fn from(l: Locale) -> String {
        l.to_string()
    }
}

impl fmt::Display for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.language.as_str())?;
        if let Some(s) = &self.script {
            write!(f, "-{s}")?;
        }
        if let Some(r) = &self.region {
            write!(f, "-{r}")?;
        }
        Ok(())
    }
}
