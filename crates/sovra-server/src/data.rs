//! Who a request speaks for, and the data subject's own rights.
//!
//! [`RequestSubject`] is the caller's data subject: the tenant and user of
//! the [`Principal`](sovra_identity::Principal) the identity middleware
//! resolved (see [`crate::identity`]); for the anonymous public, the
//! `public` tenant and the user the `x-sovra-user` header names (absent:
//! `anonymous`). `GET /api/me/data` exports
//! everything held about the caller as JSON; `DELETE /api/me/data` erases it
//! and records the erasure in the audit trail, and deletes the caller's
//! private knowledge collections (documents, chunks, vectors, index rows).

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::response::IntoResponse;
use sovra_core::ApiError;
use sovra_store::Subject;

use crate::{AppState, HttpError};

/// The header that names an anonymous caller's user.
pub const USER_HEADER: &str = "x-sovra-user";

/// The data subject a request acts for.
#[derive(Debug, Clone)]
pub struct RequestSubject(pub Subject);

impl<S: Send + Sync> FromRequestParts<S> for RequestSubject {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<sovra_identity::Principal>() {
            Some(who) => crate::identity::subject_of(who).map(RequestSubject),
            None => subject_of(&parts.headers).map(RequestSubject),
        }
    }
}

/// The anonymous subject the headers name.
pub fn subject_of(headers: &axum::http::HeaderMap) -> Result<Subject, HttpError> {
    let user = match headers.get(USER_HEADER) {
        None => Subject::ANONYMOUS.to_owned(),
        Some(v) => v.to_str().map_err(|_| bad_user())?.trim().to_owned(),
    };
    Subject::public(&user).map_err(|_| bad_user())
}

fn bad_user() -> HttpError {
    ApiError::invalid(format!(
        "The '{USER_HEADER}' header must be 1-128 printable characters."
    ))
    .into()
}

/// `GET /api/me/data`: everything held about the caller.
#[utoipa::path(get, path = "/api/me/data", tag = "data",
    params(("x-sovra-user" = Option<String>, Header, description = "The caller (until identity lands); absent: anonymous")),
    responses(
        (status = 200, description = "Everything held about the caller, as JSON (format `sovra.subject-export.v1`)", body = serde_json::Value),
        (status = 400, description = "The request is invalid; `error.param` names the parameter", body = sovra_core::error::ErrorEnvelope),
        (status = 500, description = "An unexpected failure inside Sovra", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn export_me(
    State(state): State<AppState>,
    RequestSubject(me): RequestSubject,
) -> Result<impl IntoResponse, HttpError> {
    Ok(axum::Json(state.store.export_subject(&me).await?))
}

/// `DELETE /api/me/data`: erase everything held about the caller.
#[utoipa::path(delete, path = "/api/me/data", tag = "data",
    params(("x-sovra-user" = Option<String>, Header, description = "The caller (until identity lands); absent: anonymous")),
    responses(
        (status = 200, description = "What was erased (the erasure itself is in the audit trail)", body = sovra_store::ErasureReport),
        (status = 400, description = "The request is invalid; `error.param` names the parameter", body = sovra_core::error::ErrorEnvelope),
        (status = 409, description = "A legal hold stands for the caller: nothing was erased", body = sovra_core::error::ErrorEnvelope),
        (status = 500, description = "An unexpected failure inside Sovra", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn erase_me(
    State(state): State<AppState>,
    RequestSubject(me): RequestSubject,
) -> Result<impl IntoResponse, HttpError> {
    let actor = format!("user:{}", me.user);
    let report = state.store.erase_subject(&me, &actor).await?;
    // After the store (which refuses under legal hold): the caller's private
    // knowledge collections, with their chunks, vectors and full-text rows.
    let knowledge = match &state.knowledge {
        Some(k) => Some(k.kb.erase_subject(&me.tenant, &me.user).await?),
        None => None,
    };
    let mut body = serde_json::to_value(&report).unwrap_or_default();
    if let Some(k) = knowledge {
        body["knowledge"] = serde_json::json!(k);
    }
    Ok(axum::Json(body))
}
