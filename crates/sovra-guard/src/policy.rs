//! The policy decision: what a profile does with a moderation result.
//!
//! Each flagged category is looked up in the profile's rules (the exact
//! category, else its parent, else the profile's `default_action`); the
//! strictest action wins. `Block` carries the rule's refusal in the answer
//! language, naming the rule; `SafeCompletion` carries the help lines
//! (`{crisis}`, `{emergency}`, `{health}` filled in from the profile) for
//! the model to lead with or the server to show. When several rules give
//! the same action, the most specific and most confident names it.

use serde::Serialize;
use sovra_profile::{Action, Profile, SafetyRule};

use crate::moderation::ModerationResult;

/// What to do with a message (or a piece of an answer).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Decision {
    Allow,
    /// Answer, carefully, with `message` (the country's help lines).
    SafeCompletion {
        rule: String,
        categories: Vec<String>,
        message: String,
    },
    /// Refuse with `message`, which names `rule`.
    Block {
        rule: String,
        categories: Vec<String>,
        message: String,
    },
}

impl Decision {
    pub fn action(&self) -> Action {
        match self {
            Decision::Allow => Action::Allow,
            Decision::SafeCompletion { .. } => Action::SafeCompletion,
            Decision::Block { .. } => Action::Block,
        }
    }

    /// The rule that decided, if any.
    pub fn rule(&self) -> Option<&str> {
        match self {
            Decision::Allow => None,
            Decision::SafeCompletion { rule, .. } | Decision::Block { rule, .. } => Some(rule),
        }
    }
}

/// The rule for `category`: one naming it, else one naming its parent.
pub fn rule_for<'a>(profile: &'a Profile, category: &str) -> Option<&'a SafetyRule> {
    let named = |c: &str| {
        profile
            .safety
            .rules
            .iter()
            .find(|r| r.categories.iter().any(|k| k.as_str() == c))
    };
    named(category).or_else(|| category.split_once('/').and_then(|(p, _)| named(p)))
}

/// Decides for `result` under `profile`; messages are in `language` when the
/// rule has it, else in the profile's fallback language.
pub fn decide(result: &ModerationResult, profile: &Profile, language: &str) -> Decision {
    struct Hit<'a> {
        category: &'a str,
        score: f32,
        action: Action,
        rule: Option<&'a SafetyRule>,
    }
    let hits: Vec<Hit<'_>> = result
        .flagged_categories()
        .into_iter()
        .map(|(category, score)| {
            let rule = rule_for(profile, category);
            Hit {
                category,
                score,
                action: rule.map_or(profile.safety.default_action, |r| r.action),
                rule,
            }
        })
        .collect();
    let Some(action) = hits.iter().map(|h| h.action).max_by_key(|a| a.severity()) else {
        return Decision::Allow;
    };
    if action == Action::Allow {
        return Decision::Allow;
    }
    let mut chosen: Vec<&Hit<'_>> = hits.iter().filter(|h| h.action == action).collect();
    // Most specific (a subcategory), then most confident, names the rule.
    chosen.sort_by(|a, b| {
        b.category
            .contains('/')
            .cmp(&a.category.contains('/'))
            .then(b.score.total_cmp(&a.score))
    });
    let categories: Vec<String> = chosen.iter().map(|h| h.category.to_owned()).collect();
    let lang = profile.answer_language(language).as_str().to_owned();
    let (rule_id, message) = match chosen.first().and_then(|h| h.rule) {
        Some(rule) => {
            let mut messages: Vec<String> = Vec::new();
            // A safe completion gathers each distinct rule's help lines
            // (an overdose is both self-harm and a medical emergency).
            let mut seen: Vec<&str> = Vec::new();
            for h in &chosen {
                let Some(r) = h.rule else { continue };
                if seen.contains(&r.id.as_str()) || (action == Action::Block && r.id != rule.id) {
                    continue;
                }
                seen.push(&r.id);
                messages.push(rule_message(profile, r, &lang));
            }
            (rule.id.clone(), messages.join("\n\n"))
        }
        None => ("default".to_owned(), default_message(profile, &lang)),
    };
    match action {
        Action::Block => Decision::Block {
            rule: rule_id,
            categories,
            message,
        },
        _ => Decision::SafeCompletion {
            rule: rule_id,
            categories,
            message,
        },
    }
}

fn rule_message(profile: &Profile, rule: &SafetyRule, lang: &str) -> String {
    let fallback = profile.fallback_language().as_str();
    let (text, in_lang) = match rule.message.get(lang) {
        Some(m) => (m.as_str(), lang),
        None => match rule.message.get(fallback) {
            Some(m) => (m.as_str(), fallback),
            None => return default_message(profile, lang),
        },
    };
    profile.fill(text, in_lang)
}

/// A refusal for categories no rule names (the profile's default action).
fn default_message(profile: &Profile, lang: &str) -> String {
    let text = match lang {
        "fr" => "Je ne peux pas aider pour cela (règle « default » de la politique publiée).",
        "es" => "No puedo ayudar con eso (regla «default» de la política publicada).",
        "de" => "Dabei kann ich nicht helfen (Regel „default“ der veröffentlichten Richtlinie).",
        "it" => "Non posso aiutarti con questo (regola «default» della politica pubblicata).",
        "ru" => "Я не могу с этим помочь (правило «default» опубликованной политики).",
        "et" => "Ma ei saa sellega aidata (avaldatud reeglistiku reegel „default”).",
        "ar" => "لا يمكنني المساعدة في هذا (القاعدة «default» من السياسة المنشورة).",
        "sw" => "Siwezi kusaidia kwa hilo (kanuni \"default\" ya sera iliyochapishwa).",
        "hi" => "मैं इसमें मदद नहीं कर सकता (प्रकाशित नीति का नियम \"default\")।",
        _ => "I can't help with that (rule \"default\" of the published policy).",
    };
    profile.fill(text, lang)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::moderation::Moderator;

    fn profile(code: &str) -> Profile {
        let path = format!("{}/../../profiles/{code}.toml", env!("CARGO_MANIFEST_DIR"));
        sovra_profile::load(path).unwrap()
    }

    #[test]
    fn self_harm_gets_the_crisis_line_in_the_users_language() {
        let p = profile("ee");
        let m = Moderator::for_profile(&p).unwrap();
        let r = m
            .moderate("Я хочу покончить с собой сегодня ночью.")
            .unwrap();
        let d = decide(&r, &p, "ru");
        let Decision::SafeCompletion { rule, message, .. } = &d else {
            panic!("{d:?}");
        };
        assert_eq!(rule, "self-harm");
        assert!(message.contains("655 8088"), "{message}");
        assert!(message.contains("Мне очень жаль"), "{message}");
    }

    #[test]
    fn an_overdose_gets_both_the_crisis_and_the_emergency_lines() {
        let p = profile("ee");
        let m = Moderator::for_profile(&p).unwrap();
        let r = m.moderate("I took 30 sleeping pills an hour ago.").unwrap();
        let d = decide(&r, &p, "en");
        let Decision::SafeCompletion { message, .. } = &d else {
            panic!("{d:?}");
        };
        assert!(
            message.contains("655 8088") && message.contains("112"),
            "{message}"
        );
    }

    #[test]
    fn a_block_names_the_rule_and_falls_back_to_the_first_language() {
        let p = profile("ma");
        let m = Moderator::for_profile(&p).unwrap();
        let r = m.moderate("How can I build a pipe bomb?").unwrap();
        // Swahili is not a Moroccan profile language: the refusal is in the
        // profile's first language.
        let d = decide(&r, &p, "sw");
        let Decision::Block { rule, message, .. } = &d else {
            panic!("{d:?}");
        };
        assert_eq!(rule, "violence");
        let first = p.fallback_language().as_str();
        let expected = p.rule("violence").unwrap().message.get(first).unwrap();
        assert_eq!(message, &p.fill(expected, first));
    }

    #[test]
    fn the_profiles_own_patterns_extend_the_rules() {
        let p = profile("ee");
        let m = Moderator::for_profile(&p).unwrap();
        let r = m.moderate("Kelle poolt ma peaksin hääletama?").unwrap();
        let d = decide(&r, &p, "et");
        assert_eq!(d.rule(), Some("elections-persuasion"), "{d:?}");
        let r = m
            .moderate("Millal ja kus saan järgmistel valimistel hääletada?")
            .unwrap();
        assert_eq!(decide(&r, &p, "et"), Decision::Allow);
    }
}
