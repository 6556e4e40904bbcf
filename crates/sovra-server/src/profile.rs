//! The public face of the active country profile, for the web chat.
//!
//! `GET /api/profile` tells the page what a citizen may see: the languages in
//! order, the assistant's name and persona per language (its welcome text),
//! the public-service lines, and the privacy facts (what is kept, for how
//! long, in which jurisdictions). Nothing else of the profile leaves the
//! server: system prompts and safety patterns stay inside. Without a profile
//! the page gets a neutral English default.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;

/// The assistant as people see it, in one language.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PublicAssistant {
    pub name: String,
    /// One line describing the assistant: the chat's welcome text.
    pub persona: String,
}

/// A public-service line: the number, its name and hours per language.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PublicService {
    pub number: String,
    pub name: BTreeMap<String, String>,
    pub hours: BTreeMap<String, String>,
}

/// The national portal.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PublicPortal {
    pub url: String,
    pub name: BTreeMap<String, String>,
}

/// The public-service facts of the profile.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PublicServices {
    pub emergency: PublicService,
    pub health: PublicService,
    pub crisis: PublicService,
    pub portal: PublicPortal,
    pub other: Vec<PublicService>,
}

/// What is kept about a person, for how long and where.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Privacy {
    /// Days a conversation is kept after its last message, as this server
    /// enforces it (`retention.conversations_days`); null: until deleted.
    pub conversations_days: Option<u32>,
    /// Jurisdictions where inference and data may be placed.
    pub jurisdictions: Vec<String>,
    /// Conversations are sealed with a per-person key on this server.
    pub encrypted_at_rest: bool,
}

/// `GET /api/profile` body.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PublicProfile {
    /// ISO 3166-1 alpha-2 code; null without a profile.
    pub country: Option<String>,
    /// The country's name in English; null without a profile.
    pub name: Option<String>,
    /// The profile's version; null without a profile.
    pub version: Option<String>,
    /// Locale for dates and numbers before a language is chosen (BCP 47).
    pub default_locale: String,
    /// Languages the assistant answers in, the fallback first.
    pub languages: Vec<String>,
    /// The assistant per language.
    pub assistant: BTreeMap<String, PublicAssistant>,
    /// Public-service lines; null without a profile.
    pub services: Option<PublicServices>,
    pub privacy: Privacy,
    /// Whether the chat may be used without signing in (today always: the
    /// page names its user with a random id it keeps in the browser).
    pub anonymous: bool,
}

fn service(s: &sovra_profile::Service) -> PublicService {
    let map = |m: &BTreeMap<sovra_profile::LanguageTag, String>| {
        m.iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
            .collect()
    };
    PublicService {
        number: s.number.clone(),
        name: map(&s.name),
        hours: map(&s.hours),
    }
}

impl PublicProfile {
    /// The neutral default: English, an assistant called Sovra, no lines.
    pub fn neutral(conversations_days: Option<u32>) -> Self {
        let mut assistant = BTreeMap::new();
        assistant.insert(
            "en".to_owned(),
            PublicAssistant {
                name: "Sovra".to_owned(),
                persona: "An AI assistant running on this server. Ask about public services, health or education.".to_owned(),
            },
        );
        Self {
            country: None,
            name: None,
            version: None,
            default_locale: "en".to_owned(),
            languages: vec!["en".to_owned()],
            assistant,
            services: None,
            privacy: Privacy {
                conversations_days,
                jurisdictions: Vec::new(),
                encrypted_at_rest: true,
            },
            anonymous: true,
        }
    }

    /// The public parts of `profile`; `conversations_days` is the retention
    /// the server enforces.
    pub fn from_profile(profile: &sovra_profile::Profile, conversations_days: Option<u32>) -> Self {
        let s = &profile.services;
        Self {
            country: Some(profile.country.as_str().to_owned()),
            name: Some(profile.name.clone()),
            version: Some(profile.version.clone()),
            default_locale: profile.default_locale.to_string(),
            languages: profile
                .languages
                .iter()
                .map(|l| l.as_str().to_owned())
                .collect(),
            assistant: profile
                .assistant
                .iter()
                .map(|(lang, a)| {
                    (
                        lang.as_str().to_owned(),
                        PublicAssistant {
                            name: a.name.clone(),
                            persona: a.persona.clone(),
                        },
                    )
                })
                .collect(),
            services: Some(PublicServices {
                emergency: service(&s.emergency),
                health: service(&s.health),
                crisis: service(&s.crisis),
                portal: PublicPortal {
                    url: s.portal.url.clone(),
                    name: s
                        .portal
                        .name
                        .iter()
                        .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
                        .collect(),
                },
                other: s.other.iter().map(service).collect(),
            }),
            privacy: Privacy {
                conversations_days,
                jurisdictions: profile
                    .allowed_jurisdictions
                    .iter()
                    .map(|j| j.as_str().to_owned())
                    .collect(),
                encrypted_at_rest: true,
            },
            anonymous: true,
        }
    }
}

/// `GET /api/profile`: what the web chat shows of the country profile.
#[utoipa::path(get, path = "/api/profile", tag = "web",
    responses((status = 200, description = "The public parts of the active country profile", body = PublicProfile)))]
pub async fn get(State(state): State<AppState>) -> impl IntoResponse {
    axum::Json(state.profile.as_ref().clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_profile_carries_no_prompts() {
        let src = include_str!("../../../profiles/ma.toml");
        let profile = sovra_profile::parse(src, "ma.toml").expect("ma.toml parses");
        let public = PublicProfile::from_profile(&profile, Some(30));
        let json = serde_json::to_string(&public).expect("json");
        assert!(json.contains("\"default_locale\":\"ar-MA\""));
        assert!(json.contains("\"conversations_days\":30"));
        assert!(!json.contains("system_prompt"));
        assert!(!json.contains("{portal}"), "no prompt template leaks");
        assert_eq!(public.languages.first().map(String::as_str), Some("ar"));
    }
}
