//! What the safety pipeline and citizens leave in the store: ratings of
//! answers, the pipeline's actions (metadata only) and per-language request
//! counts, and the aggregate the transparency report publishes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// A citizen's rating of one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Rating {
    Up,
    Down,
}

impl Rating {
    pub fn as_str(self) -> &'static str {
        match self {
            Rating::Up => "up",
            Rating::Down => "down",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "up" => Some(Rating::Up),
            "down" => Some(Rating::Down),
            _ => None,
        }
    }
}

/// A rating to record (one per answer: rating again replaces it).
#[derive(Debug, Clone, Copy)]
pub struct NewFeedback<'a> {
    pub message_id: &'a str,
    pub rating: Rating,
    /// Why, in the citizen's words (sealed with their key like messages).
    pub reason: Option<&'a str>,
}

/// A recorded rating.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Feedback {
    pub id: String,
    pub message_id: String,
    pub conversation_id: String,
    pub rating: Rating,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// Where in a request the pipeline acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// On the user's message, before the model.
    Input,
    /// On the model's answer, as it streamed.
    Output,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Input => "input",
            Stage::Output => "output",
        }
    }
}

/// One action of the safety pipeline. It holds no text and no person's
/// identity: only the tenant the request was made in, so that a tenant's
/// administrators see their tenant's actions and nobody else's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SafetyEvent {
    pub stage: Stage,
    /// The language answered in.
    pub language: String,
    /// `block` or `safe_completion`.
    pub action: String,
    /// The profile rule that decided, if one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The categories flagged.
    pub categories: Vec<String>,
    /// The tenant of the request (None: unknown, the platform's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

/// A recorded [`SafetyEvent`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SafetyRecord {
    pub seq: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    #[serde(flatten)]
    pub event: SafetyEvent,
}

/// Aggregate counts, with no personal data, for `GET /transparency`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TransparencyCounts {
    /// Requests by the language they were answered in.
    pub requests_by_language: BTreeMap<String, u64>,
    /// Actions of the safety pipeline: action -> category -> count.
    pub moderation_actions: BTreeMap<String, BTreeMap<String, u64>>,
    /// Actions by the rule that decided them.
    pub moderation_by_rule: BTreeMap<String, u64>,
    pub feedback: FeedbackCounts,
}

/// Ratings, counted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FeedbackCounts {
    pub up: u64,
    pub down: u64,
    /// Ratings that came with a reason.
    pub with_reason: u64,
}
