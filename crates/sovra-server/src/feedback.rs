//! Feedback on answers: thumbs up or down, with an optional reason.
//!
//! `POST /api/messages/{message_id}/feedback` takes
//! `{"rating": "up"|"down", "reason": "optional text"}` and answers 201;
//! `GET /admin/feedback` lists what came in, newest first, as
//! `{"data": [...]}` for the operator console's queue.
//!
//! This is the minimal form of the contract the safety work defines: entries
//! live in memory (the most recent [`KEEP`]), are not checked against the
//! stored message, and are forgotten on restart. `DELETE /api/me/data` drops
//! the caller's entries with the rest of their data.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use sovra_core::ApiError;
use sovra_store::Subject;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::data::RequestSubject;
use crate::openai::ApiJson;
use crate::{AppState, HttpError};

/// Entries kept; older ones are dropped first.
pub const KEEP: usize = 10_000;
const MAX_REASON_CHARS: usize = 2000;
const MAX_ID_CHARS: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Rating {
    Up,
    Down,
}

/// `POST /api/messages/{message_id}/feedback` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedbackBody {
    pub rating: Rating,
    /// Why, in the person's words (at most 2000 characters).
    #[serde(default)]
    pub reason: Option<String>,
}

/// One piece of feedback.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Feedback {
    pub message_id: String,
    pub rating: Rating,
    pub reason: Option<String>,
    /// The tenant and user who gave it.
    pub tenant: String,
    pub user: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// `GET /admin/feedback` body.
#[derive(Debug, Serialize, ToSchema)]
pub struct FeedbackList {
    pub data: Vec<Feedback>,
}

/// The feedback received, in memory; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct FeedbackLog {
    entries: Arc<Mutex<VecDeque<Feedback>>>,
}

impl FeedbackLog {
    fn lock(&self) -> MutexGuard<'_, VecDeque<Feedback>> {
        // A panic elsewhere while holding the lock leaves plain data behind.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn push(&self, feedback: Feedback) {
        let mut entries = self.lock();
        if entries.len() >= KEEP {
            entries.pop_front();
        }
        entries.push_back(feedback);
    }

    /// Newest first.
    pub fn recent(&self, limit: usize) -> Vec<Feedback> {
        self.lock().iter().rev().take(limit).cloned().collect()
    }

    /// Forget everything `subject` gave; returns how many entries went.
    pub fn erase(&self, subject: &Subject) -> usize {
        let mut entries = self.lock();
        let before = entries.len();
        entries.retain(|f| !(f.tenant == subject.tenant && f.user == subject.user));
        before - entries.len()
    }
}

/// `POST /api/messages/{message_id}/feedback`: rate an answer.
#[utoipa::path(post, path = "/api/messages/{message_id}/feedback", tag = "conversations",
    params(("message_id" = String, Path, description = "The id of the rated answer")),
    request_body = FeedbackBody,
    responses(
        (status = 201, description = "Feedback recorded", body = Feedback),
        (status = 400, description = "The request is invalid; `error.param` names the parameter", body = sovra_core::error::ErrorEnvelope),
        (status = 413, description = "The body is larger than `limits.max_body_bytes`", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn create(
    State(state): State<AppState>,
    RequestSubject(me): RequestSubject,
    Path(message_id): Path<String>,
    ApiJson(body): ApiJson<FeedbackBody>,
) -> Result<impl IntoResponse, HttpError> {
    let message_id = message_id.trim().to_owned();
    if message_id.is_empty() || message_id.chars().count() > MAX_ID_CHARS {
        return Err(ApiError::invalid_param(
            "message_id",
            format!("'message_id' must be 1-{MAX_ID_CHARS} characters."),
        )
        .into());
    }
    let reason = body
        .reason
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty());
    if reason
        .as_ref()
        .is_some_and(|r| r.chars().count() > MAX_REASON_CHARS)
    {
        return Err(ApiError::invalid_param(
            "reason",
            format!("'reason' may have at most {MAX_REASON_CHARS} characters."),
        )
        .into());
    }
    let feedback = Feedback {
        message_id,
        rating: body.rating,
        reason,
        tenant: me.tenant.clone(),
        user: me.user.clone(),
        created_at: OffsetDateTime::now_utc(),
    };
    metrics::counter!("sovra_feedback_total", "rating" => match feedback.rating {
        Rating::Up => "up",
        Rating::Down => "down",
    })
    .increment(1);
    state.feedback.push(feedback.clone());
    Ok((StatusCode::CREATED, axum::Json(feedback)))
}

/// `GET /admin/feedback`: the most recent feedback, newest first.
#[utoipa::path(get, path = "/admin/feedback", tag = "admin",
    responses(
        (status = 200, description = "The most recent feedback (at most 500), newest first", body = FeedbackList),
        (status = 401, description = "An operator key is configured and none (or a wrong one) was sent", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn list(State(state): State<AppState>) -> impl IntoResponse {
    axum::Json(FeedbackList {
        data: state.feedback.recent(500),
    })
}
