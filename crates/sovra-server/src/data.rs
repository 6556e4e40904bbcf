//! Who a request speaks for, and the data subject's own rights.
//!
//! [`RequestSubject`] is the caller's data subject: the tenant and user of
//! the [`Principal`](sovra_identity::Principal) the identity middleware
//! resolved (see [`crate::identity`]); for the anonymous public, the
//! `public` tenant and the person of the server-issued anonymous cookie
//! ([`crate::anonymous`]). `GET /api/me/data` exports
//! everything held about the caller as JSON (their uploaded files, bytes
//! included, and private knowledge collections among it) (the export itself is recorded
//! in the audit trail, without content); `DELETE /api/me/data` erases it
//! and records the erasure in the audit trail, and deletes the caller's
//! uploaded files (`/v1/files`, bytes included) and private knowledge
//! collections (documents, chunks, vectors, index rows).

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::response::IntoResponse;
use sovra_core::ApiError;
use sovra_store::Subject;

use crate::{AppState, HttpError};

/// The data subject a request acts for.
#[derive(Debug, Clone)]
pub struct RequestSubject(pub Subject);

impl<S: Send + Sync> FromRequestParts<S> for RequestSubject {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        crate::identity::subject_of(crate::identity::principal_of(parts)?).map(RequestSubject)
    }
}

/// `GET /api/me/data`: everything held about the caller.
#[utoipa::path(get, path = "/api/me/data", tag = "data",
    responses(
        (status = 200, description = "Everything held about the caller, as JSON (format `sovra.subject-export.v1`)", body = serde_json::Value),
        (status = 400, description = "The request is invalid; `error.param` names the parameter", body = sovra_core::error::ErrorEnvelope),
        (status = 500, description = "An unexpected failure inside Sovra", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn export_me(
    State(state): State<AppState>,
    RequestSubject(me): RequestSubject,
) -> Result<impl IntoResponse, HttpError> {
    let export = state.store.export_subject(&me).await?;
    let mut value = serde_json::to_value(&export)
        .map_err(|e| ApiError::internal(format!("could not encode the export: {e}")))?;
    // What the knowledge base holds of the caller: their uploads (bytes
    // included) and private collections.
    let mut files = 0;
    if let Some(k) = &state.knowledge {
        let held = k.kb.export_subject(&me.tenant, &me.user).await?;
        files = held.files.len();
        value["knowledge"] = knowledge_export(held);
    }
    let body = serde_json::to_vec(&value)
        .map_err(|e| ApiError::internal(format!("could not encode the export: {e}")))?;
    // A copy of a person's data leaving the system is on the record (counts,
    // never content; its digest with `[audit] content = "digest"`): no
    // record, no copy.
    let mut details = serde_json::json!({
        "conversations": export.conversations.len(),
        "files": files,
        "via": "api",
    });
    if state.audit_digests {
        details["sha256"] = serde_json::json!(sha256_hex(&body));
    }
    state
        .store
        .append_audit(sovra_store::NewAuditEntry {
            actor: format!("user:{}", me.user),
            action: "data.export".into(),
            tenant: me.tenant.clone(),
            subject: Some(me.user.clone()),
            details,
        })
        .await?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        )],
        body,
    ))
}

/// The export's `knowledge` part: `files` (metadata and `content_base64`)
/// and `vector_stores` (the caller's private collections, with `documents`).
fn knowledge_export(held: sovra_knowledge::SubjectKnowledge) -> serde_json::Value {
    use base64::Engine as _;
    let files: Vec<serde_json::Value> = held
        .files
        .into_iter()
        .map(|(f, bytes)| {
            serde_json::json!({
                "id": f.id,
                "filename": f.filename,
                "purpose": f.purpose,
                "bytes": f.bytes,
                "created_at": f.created_at,
                "content_base64": base64::engine::general_purpose::STANDARD.encode(bytes),
            })
        })
        .collect();
    let stores: Vec<serde_json::Value> = held
        .collections
        .into_iter()
        .map(|(c, documents)| {
            serde_json::json!({
                "id": c.id,
                "name": c.name,
                "description": c.description,
                "created_at": c.created_at,
                "documents": documents,
            })
        })
        .collect();
    serde_json::json!({"files": files, "vector_stores": stores})
}

/// Lowercase hex SHA-256, as audit entries record digests.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// `DELETE /api/me/data`: erase everything held about the caller.
#[utoipa::path(delete, path = "/api/me/data", tag = "data",
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
    // After the store (which refuses under legal hold): the caller's files
    // and private knowledge collections, with their chunks, vectors and
    // full-text rows.
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
