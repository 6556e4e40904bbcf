//! Democratic transparency: the published behaviour policy, citizens'
//! ratings of answers, the aggregate report, and OpenAI's moderation
//! endpoint over the same pipeline.
//!
//! - `GET /policy`: the active country profile's behaviour policy as
//!   readable text (or JSON with `?format=json` / `Accept: application/json`),
//!   with its version, digest and change history. Every change of the active
//!   policy is appended to the audit trail when Sovra starts with it
//!   (`sovra_assistant::policy::record_policy`), and the history is read back from there once, at
//!   start.
//! - `POST /api/messages/{id}/feedback`: rate an answer up or down, with an
//!   optional reason (sealed and PII-masked like messages).
//! - `GET /transparency`: requests by language, moderation actions by
//!   category and rule, ratings; counts only, no personal data.
//! - `GET /admin/feedback`, `GET /admin/moderation`: the administrators'
//!   queues, each within the caller's reach (a tenant admin sees their
//!   tenant's subtree; a platform admin, every tenant).
//! - `POST /v1/moderations`: OpenAI's request and response shape.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sovra_assistant::policy::{PolicyChange, policy_digest};
use sovra_core::{ApiError, ErrorKind};
use sovra_store::{Feedback, NewFeedback, Rating, SafetyRecord, TransparencyCounts};

use crate::data::RequestSubject;
use crate::extract::{ApiJson, ApiQuery};
use crate::identity::{Who, reach_root};
use crate::{AppState, HttpError};

/// Longest feedback reason accepted, in characters.
pub const MAX_REASON_CHARS: usize = 2000;

/// One rule of the published policy.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PolicyRule {
    pub id: String,
    pub description: String,
    pub categories: Vec<String>,
    /// `block`, `safe_completion` or `allow`.
    pub action: String,
    /// What a person is told, per language.
    pub messages: BTreeMap<String, String>,
}

/// The published behaviour policy.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Policy {
    pub version: String,
    pub country: String,
    pub name: String,
    pub languages: Vec<String>,
    pub sha256: String,
    /// What happens to a flagged category no rule names.
    pub default_action: String,
    pub threshold: f32,
    pub rules: Vec<PolicyRule>,
    /// Whether personal data is replaced by placeholders before the model.
    pub redact_before_model: bool,
    /// National identifiers recognised as personal data.
    pub national_ids: Vec<String>,
    pub retention: PolicyRetention,
    /// Every change of the active policy, oldest first.
    pub history: Vec<PolicyChange>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PolicyRetention {
    pub conversations_days: u32,
    pub audit_days: u32,
}

fn action_name(a: sovra_profile::Action) -> String {
    serde_json::to_value(a)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn policy_of(profile: &sovra_profile::Profile, history: Vec<PolicyChange>) -> Policy {
    Policy {
        version: profile.version.clone(),
        country: profile.country.as_str().to_owned(),
        name: profile.name.clone(),
        languages: profile
            .languages
            .iter()
            .map(|l| l.as_str().to_owned())
            .collect(),
        sha256: policy_digest(profile),
        default_action: action_name(profile.safety.default_action),
        threshold: profile.safety.threshold,
        rules: profile
            .safety
            .rules
            .iter()
            .map(|r| PolicyRule {
                id: r.id.clone(),
                description: r.description.clone(),
                categories: r.categories.iter().map(|c| c.as_str().to_owned()).collect(),
                action: action_name(r.action),
                messages: r
                    .message
                    .iter()
                    .map(|(l, m)| (l.as_str().to_owned(), profile.fill(m, l.as_str())))
                    .collect(),
            })
            .collect(),
        redact_before_model: profile.pii.redact_before_model,
        national_ids: profile
            .pii
            .national_ids
            .iter()
            .map(|n| n.as_str().to_owned())
            .collect(),
        retention: PolicyRetention {
            conversations_days: profile.retention.conversations_days,
            audit_days: profile.retention.audit_days,
        },
        history,
    }
}

fn render_text(p: &Policy) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Behaviour policy of this assistant: {} ({})",
        p.name, p.country
    );
    let _ = writeln!(s, "Version {} (sha256 {})", p.version, p.sha256);
    let _ = writeln!(s, "Languages: {}", p.languages.join(", "));
    let _ = writeln!(
        s,
        "A message is flagged in a category when its score reaches {}; a flagged category no rule names is handled as: {}.",
        p.threshold, p.default_action
    );
    let _ = writeln!(s, "\nRules:");
    for r in &p.rules {
        let _ = writeln!(s, "\n- {} ({}): {}", r.id, r.action, r.description);
        let _ = writeln!(s, "  categories: {}", r.categories.join(", "));
        for (lang, m) in &r.messages {
            let _ = writeln!(s, "  [{lang}] {m}");
        }
    }
    let _ = writeln!(s, "\nPersonal data:");
    let _ = writeln!(
        s,
        "  masked before anything is stored or logged; replaced by placeholders before the model sees it: {}",
        if p.redact_before_model { "yes" } else { "no" }
    );
    if !p.national_ids.is_empty() {
        let _ = writeln!(
            s,
            "  national identifiers recognised: {}",
            p.national_ids.join(", ")
        );
    }
    let _ = writeln!(
        s,
        "Retention: conversations {} days, audit trail {} days.",
        p.retention.conversations_days, p.retention.audit_days
    );
    let _ = writeln!(s, "\nChange history (from the audit trail):");
    for c in &p.history {
        let _ = writeln!(
            s,
            "  {}  version {}  {}  sha256 {}  (audit entry {})",
            c.at.date(),
            c.version,
            c.country,
            c.sha256,
            c.audit_seq
        );
    }
    s
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct PolicyQuery {
    /// `json` for the JSON form (also chosen by `Accept: application/json`).
    pub format: Option<String>,
}

fn safety_of(
    state: &AppState,
) -> Result<&std::sync::Arc<sovra_assistant::safety::Safety>, HttpError> {
    state.safety.as_ref().ok_or_else(|| {
        ApiError::new(
            ErrorKind::NotFound,
            "This server runs no safety pipeline (an inference node).",
        )
        .with_code("not_found")
        .into()
    })
}

/// `GET /policy`: the behaviour policy in force, readable or as JSON.
#[utoipa::path(get, path = "/policy", tag = "transparency", params(PolicyQuery),
    responses(
        (status = 200, description = "The policy as readable text, or as JSON with `?format=json` or `Accept: application/json`",
            content((String = "text/plain"), (Policy = "application/json"))),
        (status = 400, description = "The query string is invalid", body = sovra_core::error::ErrorEnvelope),
        (status = 404, description = "No safety pipeline runs here", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn policy(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<PolicyQuery>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let safety = safety_of(&state)?;
    let policy = policy_of(&safety.guard().profile, safety.policy_history().to_vec());
    let wants_json = query.format.as_deref() == Some("json")
        || headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("application/json"));
    if wants_json {
        return Ok(axum::Json(policy).into_response());
    }
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        render_text(&policy),
    )
        .into_response())
}

/// The transparency report.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TransparencyReport {
    pub country: String,
    pub policy_version: String,
    #[serde(with = "time::serde::rfc3339")]
    pub generated_at: time::OffsetDateTime,
    #[serde(flatten)]
    pub counts: TransparencyCounts,
}

/// `GET /transparency`: aggregate counts, no personal data.
#[utoipa::path(get, path = "/transparency", tag = "transparency",
    responses(
        (status = 200, description = "Requests by language, moderation actions by category and rule, ratings", body = TransparencyReport),
        (status = 404, description = "No safety pipeline runs here", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn transparency(
    State(state): State<AppState>,
) -> Result<axum::Json<TransparencyReport>, HttpError> {
    let safety = safety_of(&state)?;
    let mut counts = state.store.transparency().await?;
    // Requests not flushed to the store yet count too.
    for (language, n) in safety.peek_tally() {
        *counts.requests_by_language.entry(language).or_default() += n;
    }
    let guard = safety.guard();
    let profile = &guard.profile;
    Ok(axum::Json(TransparencyReport {
        country: profile.country.as_str().to_owned(),
        policy_version: profile.version.clone(),
        generated_at: time::OffsetDateTime::now_utc(),
        counts,
    }))
}

/// A rating of one answer.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedbackBody {
    /// `up` or `down`.
    pub rating: Rating,
    /// Why, in the person's words (at most 2000 characters).
    pub reason: Option<String>,
}

/// `POST /api/messages/{id}/feedback`: rate an answer in one of your own
/// conversations; rating it again replaces the earlier rating.
#[utoipa::path(post, path = "/api/messages/{id}/feedback", tag = "transparency",
    params(("id" = String, Path, description = "The assistant message's id")),
    request_body = FeedbackBody,
    responses(
        (status = 201, description = "The rating was recorded", body = Feedback),
        (status = 400, description = "The request is invalid; `error.param` names the parameter", body = sovra_core::error::ErrorEnvelope),
        (status = 404, description = "No such answer in your conversations", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn feedback(
    State(state): State<AppState>,
    RequestSubject(me): RequestSubject,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<FeedbackBody>,
) -> Result<(StatusCode, axum::Json<Feedback>), HttpError> {
    let reason = body
        .reason
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty());
    if let Some(r) = &reason
        && r.chars().count() > MAX_REASON_CHARS
    {
        return Err(ApiError::invalid_param(
            "reason",
            format!("'reason' must be at most {MAX_REASON_CHARS} characters."),
        )
        .into());
    }
    let reason = match (&state.safety, reason) {
        (Some(s), Some(r)) => Some(s.mask(&r)),
        (None, r) => r,
        (_, None) => None,
    };
    let recorded = state
        .store
        .add_feedback(
            &me,
            NewFeedback {
                message_id: &id,
                rating: body.rating,
                reason: reason.as_deref(),
            },
        )
        .await?;
    match recorded {
        Some(f) => {
            metrics::counter!("sovra_feedback_total", "rating" => f.rating.as_str()).increment(1);
            Ok((StatusCode::CREATED, axum::Json(f)))
        }
        None => Err(ApiError::new(
            ErrorKind::NotFound,
            format!("No answer '{id}' in your conversations."),
        )
        .with_code("not_found")
        .into()),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct QueueQuery {
    /// At most this many, newest first (1-500, default 100).
    pub limit: Option<u32>,
}

fn limit(q: &QueueQuery) -> Result<u32, HttpError> {
    match q.limit {
        None => Ok(100),
        Some(n) if (1..=500).contains(&n) => Ok(n),
        Some(_) => {
            Err(ApiError::invalid_param("limit", "'limit' must be between 1 and 500.").into())
        }
    }
}

/// A page of the operator's queue.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Queue<T> {
    pub object: &'static str,
    pub data: Vec<T>,
}

/// `GET /admin/feedback`: the newest ratings (reasons PII-masked) of answers
/// in the caller's reach ([`reach_root`]: a tenant admin's subtree, all for
/// a platform admin).
#[utoipa::path(get, path = "/admin/feedback", tag = "admin", params(QueueQuery),
    responses(
        (status = 200, description = "The newest ratings first", body = Queue<Feedback>),
        (status = 400, description = "The request is invalid; `error.param` names the parameter", body = sovra_core::error::ErrorEnvelope),
        (status = 401, description = "A key is configured and none (or a wrong one) was sent", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn admin_feedback(
    State(state): State<AppState>,
    Who(who): Who,
    ApiQuery(q): ApiQuery<QueueQuery>,
) -> Result<axum::Json<Queue<Feedback>>, HttpError> {
    let data = state
        .store
        .recent_feedback(reach_root(&who), limit(&q)?)
        .await?;
    Ok(axum::Json(Queue {
        object: "list",
        data,
    }))
}

/// `GET /admin/moderation`: the newest actions of the safety pipeline
/// (metadata only: stage, language, action, rule, categories, tenant) on
/// requests in the caller's reach ([`reach_root`]).
#[utoipa::path(get, path = "/admin/moderation", tag = "admin", params(QueueQuery),
    responses(
        (status = 200, description = "The newest safety actions first", body = Queue<SafetyRecord>),
        (status = 400, description = "The request is invalid; `error.param` names the parameter", body = sovra_core::error::ErrorEnvelope),
        (status = 401, description = "A key is configured and none (or a wrong one) was sent", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn admin_moderation(
    State(state): State<AppState>,
    Who(who): Who,
    ApiQuery(q): ApiQuery<QueueQuery>,
) -> Result<axum::Json<Queue<SafetyRecord>>, HttpError> {
    let data = state
        .store
        .recent_safety_events(reach_root(&who), limit(&q)?)
        .await?;
    Ok(axum::Json(Queue {
        object: "list",
        data,
    }))
}

/// Most inputs one moderation request may carry.
pub const MAX_MODERATION_INPUTS: usize = 32;

/// `input` of `POST /v1/moderations`: one text or several.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum ModerationInput {
    Text(String),
    Texts(Vec<String>),
}

/// OpenAI's moderation request.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ModerationRequest {
    pub input: ModerationInput,
    /// Accepted and echoed; the country's pipeline moderates whatever it names.
    pub model: Option<String>,
}

/// One input's result, as OpenAI shapes it (the official SDKs' `Moderation`:
/// every field is required by their strict validation).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ModerationItem {
    pub flagged: bool,
    pub categories: BTreeMap<String, bool>,
    /// Per category, the input types its score applies to: always `["text"]`
    /// (Sovra moderates text only).
    pub category_applied_input_types: BTreeMap<String, Vec<&'static str>>,
    pub category_scores: BTreeMap<String, f32>,
}

/// OpenAI's moderation response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ModerationResponse {
    pub id: String,
    pub model: String,
    pub results: Vec<ModerationItem>,
}

/// The model name moderation answers as.
pub const MODERATION_MODEL: &str = "sovra-guard";

/// `POST /v1/moderations`: OpenAI's moderation endpoint over the country's
/// rules and in-country classifier.
#[utoipa::path(post, path = "/v1/moderations", tag = "openai",
    request_body = ModerationRequest,
    responses(
        (status = 200, description = "One result per input", body = ModerationResponse),
        (status = 400, description = "The request is invalid; `error.param` names the parameter", body = sovra_core::error::ErrorEnvelope),
        (status = 404, description = "No safety pipeline runs here", body = sovra_core::error::ErrorEnvelope),
        (status = 413, description = "The body is larger than `limits.max_body_bytes`", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn moderations(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<ModerationRequest>,
) -> Result<axum::Json<ModerationResponse>, HttpError> {
    let safety = safety_of(&state)?;
    let texts = match req.input {
        ModerationInput::Text(t) => vec![t],
        ModerationInput::Texts(t) => t,
    };
    if texts.is_empty() {
        return Err(ApiError::invalid_param("input", "'input' must not be empty.").into());
    }
    if texts.len() > MAX_MODERATION_INPUTS {
        return Err(ApiError::invalid_param(
            "input",
            format!(
                "'input' holds {} texts; at most {MAX_MODERATION_INPUTS} per request.",
                texts.len()
            ),
        )
        .into());
    }
    let results = safety.moderate(texts).await?;
    Ok(axum::Json(ModerationResponse {
        id: sovra_core::ids::new_id("modr"),
        model: req.model.unwrap_or_else(|| MODERATION_MODEL.to_owned()),
        results: results
            .into_iter()
            .map(|r| ModerationItem {
                flagged: r.flagged,
                category_applied_input_types: r
                    .categories
                    .keys()
                    .map(|c| (c.clone(), vec!["text"]))
                    .collect(),
                categories: r.categories,
                category_scores: r.category_scores,
            })
            .collect(),
    }))
}
