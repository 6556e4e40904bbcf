//! `/v1/vector_stores`: collections of documents, shaped like OpenAI's
//! vector-stores API where it fits.
//!
//! A vector store is a [`sovra_knowledge::Collection`]. OpenAI attaches
//! files uploaded through `/v1/files`; Sovra also takes the document inline
//! (`filename` plus `content` text or `content_base64` bytes) so one call
//! ingests it, and reads OpenAI's `attributes` for the document's title,
//! canonical URL, language and effective date. Visibility is a Sovra
//! extension: `"sovra": {"scope": "public" | "tenant" | "private"}` (default
//! private). Who the caller is comes from the request's principal (see
//! [`crate::identity`]); public collections are written by platform admins,
//! tenant ones by their staff (see `sovra_knowledge::access`).
//! Every refusal is an OpenAI-shaped error: 400 with the
//! parameter, 403, 404, or 413 for a document over
//! `knowledge.max_upload_bytes`.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};
use sovra_core::{ApiError, ErrorKind};
use sovra_knowledge::{Caller, Collection, Document, Mode, NewDocument, Query, Scope};

use crate::extract::ApiJson;
use crate::{AppState, HttpError};

pub use sovra_assistant::KnowledgeService;

pub(crate) fn service(state: &AppState) -> Result<&KnowledgeService, HttpError> {
    state.knowledge.as_ref().ok_or_else(|| {
        HttpError(
            ApiError::new(
                ErrorKind::NotFound,
                "Knowledge collections are disabled on this server (knowledge.enabled, which needs embeddings).",
            )
            .with_code("knowledge_disabled"),
        )
    })
}

/// The caller, as the knowledge base's rules see them.
pub fn caller(who: &sovra_identity::Principal) -> Caller {
    sovra_assistant::grounding::knowledge_caller(who)
}

fn store_object(c: &Collection) -> Value {
    json!({
        "id": c.id,
        "object": "vector_store",
        "created_at": c.created_at,
        "name": c.name,
        "description": c.description,
        "usage_bytes": c.bytes,
        "file_counts": {"in_progress": 0, "completed": c.documents, "failed": 0, "cancelled": 0, "total": c.documents},
        "status": "completed",
        "expires_after": null,
        "expires_at": null,
        "last_active_at": c.created_at,
        "metadata": {},
        "sovra": {"scope": c.visibility.scope, "tenant": c.visibility.tenant, "owner": c.visibility.owner, "chunks": c.chunks},
    })
}

fn file_object(d: &Document) -> Value {
    json!({
        "id": d.id,
        "object": "vector_store.file",
        "created_at": d.created_at,
        "vector_store_id": d.collection_id,
        "usage_bytes": d.bytes,
        "status": "completed",
        "last_error": null,
        "attributes": {
            "filename": d.source,
            "title": d.title,
            "url": d.url,
            "language": d.language,
            "effective_date": d.effective_date,
        },
        "sovra": {"chunks": d.chunks, "content_hash": d.content_hash},
    })
}

#[derive(Debug, Deserialize)]
pub struct CreateStore {
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub metadata: Option<Value>,
    #[serde(default)]
    pub sovra: Option<StoreExtension>,
}

#[derive(Debug, Deserialize)]
pub struct StoreExtension {
    pub scope: Option<String>,
}

/// `POST /v1/vector_stores`.
#[utoipa::path(post, path = "/v1/vector_stores", tag = "knowledge",
    request_body = Value,
    responses(
        (status = 200, description = "The new vector store (collection)", body = Value),
        (status = 400, description = "The request is invalid; `error.param` names the parameter", body = sovra_core::error::ErrorEnvelope),
        (status = 403, description = "Public and tenant collections need the operator's key", body = sovra_core::error::ErrorEnvelope),
        (status = 404, description = "Knowledge is disabled on this server (`code: knowledge_disabled`)", body = sovra_core::error::ErrorEnvelope),
        (status = 500, description = "An unexpected failure inside Sovra", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn create_store(
    State(state): State<AppState>,
    crate::identity::Who(who): crate::identity::Who,
    ApiJson(req): ApiJson<CreateStore>,
) -> Result<axum::Json<Value>, HttpError> {
    let svc = service(&state)?;
    let scope = match req.sovra.and_then(|s| s.scope) {
        None => Scope::Private,
        Some(s) => Scope::parse(&s).map_err(|e| {
            HttpError(ApiError::invalid_param(
                "sovra.scope",
                crate::error::capitalise(&e.to_string()),
            ))
        })?,
    };
    let _ = req.metadata;
    let name = req.name.unwrap_or_else(|| "Untitled".into());
    let c = svc
        .kb
        .create_collection(
            &caller(&who),
            &name,
            scope,
            req.description.as_deref().unwrap_or(""),
        )
        .await?;
    Ok(axum::Json(store_object(&c)))
}

/// `GET /v1/vector_stores`: the collections the caller may read.
#[utoipa::path(get, path = "/v1/vector_stores", tag = "knowledge",
    responses(
        (status = 200, description = "Readable vector stores, newest first", body = Value),
        (status = 404, description = "Knowledge is disabled on this server (`code: knowledge_disabled`)", body = sovra_core::error::ErrorEnvelope),
        (status = 500, description = "An unexpected failure inside Sovra", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn list_stores(
    State(state): State<AppState>,
    crate::identity::Who(who): crate::identity::Who,
) -> Result<axum::Json<Value>, HttpError> {
    let svc = service(&state)?;
    let all = svc.kb.list_collections(&caller(&who)).await?;
    let data: Vec<Value> = all.iter().map(store_object).collect();
    Ok(axum::Json(json!({
        "object": "list",
        "first_id": all.first().map(|c| &c.id),
        "last_id": all.last().map(|c| &c.id),
        "has_more": false,
        "data": data,
    })))
}

/// `GET /v1/vector_stores/{id}`.
#[utoipa::path(get, path = "/v1/vector_stores/{id}", tag = "knowledge",
    params(("id" = String, Path, description = "The vector store id")),
    responses(
        (status = 200, description = "The vector store", body = Value),
        (status = 404, description = "No such vector store the caller may read", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn get_store(
    State(state): State<AppState>,
    crate::identity::Who(who): crate::identity::Who,
    Path(id): Path<String>,
) -> Result<axum::Json<Value>, HttpError> {
    let svc = service(&state)?;
    let c = svc.kb.collection(&caller(&who), &id).await?;
    Ok(axum::Json(store_object(&c)))
}

/// `DELETE /v1/vector_stores/{id}`: the collection with its documents, chunks and index rows.
#[utoipa::path(delete, path = "/v1/vector_stores/{id}", tag = "knowledge",
    params(("id" = String, Path, description = "The vector store id")),
    responses(
        (status = 200, description = "Deleted", body = Value),
        (status = 403, description = "The caller may read but not delete it", body = sovra_core::error::ErrorEnvelope),
        (status = 404, description = "No such vector store the caller may read", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn delete_store(
    State(state): State<AppState>,
    crate::identity::Who(who): crate::identity::Who,
    Path(id): Path<String>,
) -> Result<axum::Json<Value>, HttpError> {
    let svc = service(&state)?;
    svc.kb.delete_collection(&caller(&who), &id).await?;
    Ok(axum::Json(
        json!({"id": id, "object": "vector_store.deleted", "deleted": true}),
    ))
}

#[derive(Debug, Default, Deserialize)]
pub struct FileAttributes {
    pub title: Option<String>,
    pub url: Option<String>,
    pub language: Option<String>,
    pub effective_date: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct AddFile {
    pub file_id: Option<String>,
    pub filename: Option<String>,
    pub content: Option<String>,
    pub content_base64: Option<String>,
    #[serde(default)]
    pub attributes: Option<FileAttributes>,
}

/// `POST /v1/vector_stores/{id}/files`: ingest one document, inline.
#[utoipa::path(post, path = "/v1/vector_stores/{id}/files", tag = "knowledge",
    params(("id" = String, Path, description = "The vector store id")),
    request_body = Value,
    responses(
        (status = 200, description = "The ingested document; `sovra.status` is added, unchanged or replaced", body = Value),
        (status = 400, description = "The request is invalid; `error.param` names the parameter", body = sovra_core::error::ErrorEnvelope),
        (status = 403, description = "The caller may not write this collection", body = sovra_core::error::ErrorEnvelope),
        (status = 404, description = "No such vector store the caller may read", body = sovra_core::error::ErrorEnvelope),
        (status = 413, description = "The document is larger than `knowledge.max_upload_bytes`", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn add_file(
    State(state): State<AppState>,
    crate::identity::Who(who): crate::identity::Who,
    Path(id): Path<String>,
    body: Body,
) -> Result<axum::Json<Value>, HttpError> {
    let svc = service(&state)?;
    let max = svc.kb.limits().max_upload_bytes;
    // The document may be base64 (4/3 larger) inside JSON: this route has
    // its own body limit, derived from the upload limit.
    let allowance = max / 3 * 4 + 64 * 1024;
    let bytes = axum::body::to_bytes(body, allowance).await.map_err(|_| {
        HttpError(
            ApiError::new(
                ErrorKind::PayloadTooLarge,
                format!("The request body is larger than this server accepts for a document of at most {max} bytes (knowledge.max_upload_bytes)."),
            )
            .with_param("file")
            .with_code("file_too_large"),
        )
    })?;
    let req: AddFile = serde_json::from_slice(&bytes)
        .map_err(|e| HttpError(ApiError::invalid(format!("Invalid request body: {e}."))))?;
    let who = caller(&who);
    if let Some(file_id) = req.file_id {
        // A file uploaded through /v1/files, as OpenAI's SDKs attach it.
        if req.content.is_some() || req.content_base64.is_some() || req.filename.is_some() {
            return Err(ApiError::invalid_param(
                "file_id",
                "Send either 'file_id' (an uploaded file) or 'filename' with 'content' or 'content_base64', not both.",
            )
            .into());
        }
        let mut doc = svc.kb.file_document(&who, &file_id).await?;
        let a = req.attributes.unwrap_or_default();
        doc.title = a.title;
        doc.url = a.url;
        doc.language = a.language;
        doc.effective_date = a.effective_date;
        let out = svc.kb.ingest(&who, &id, doc).await?;
        let mut body = file_object(&out.document);
        body["sovra"]["status"] = json!(out.status);
        return Ok(axum::Json(body));
    }
    let Some(filename) = req.filename.filter(|f| !f.trim().is_empty()) else {
        return Err(ApiError::invalid_param("filename", "Missing required parameter: 'filename' (its extension names the format: .md, .html, .txt, .pdf, .docx).").into());
    };
    let content = match (req.content, req.content_base64) {
        (Some(t), None) => t.into_bytes(),
        (None, Some(b)) => base64::engine::general_purpose::STANDARD
            .decode(b.trim())
            .map_err(|_| {
                ApiError::invalid_param("content_base64", "'content_base64' is not valid base64.")
            })?,
        _ => {
            return Err(ApiError::invalid_param(
                "content",
                "Send exactly one of 'content' (text) and 'content_base64' (bytes).",
            )
            .into());
        }
    };
    let mut doc = NewDocument::from_source(&filename, content)?;
    let a = req.attributes.unwrap_or_default();
    doc.title = a.title;
    doc.url = a.url;
    doc.language = a.language;
    doc.effective_date = a.effective_date;
    let out = svc.kb.ingest(&who, &id, doc).await?;
    let mut body = file_object(&out.document);
    body["sovra"]["status"] = json!(out.status);
    Ok(axum::Json(body))
}

/// `GET /v1/vector_stores/{id}/files`.
#[utoipa::path(get, path = "/v1/vector_stores/{id}/files", tag = "knowledge",
    params(("id" = String, Path, description = "The vector store id")),
    responses(
        (status = 200, description = "The documents of the vector store", body = Value),
        (status = 404, description = "No such vector store the caller may read", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn list_files(
    State(state): State<AppState>,
    crate::identity::Who(who): crate::identity::Who,
    Path(id): Path<String>,
) -> Result<axum::Json<Value>, HttpError> {
    let svc = service(&state)?;
    let docs = svc.kb.documents(&caller(&who), &id).await?;
    let data: Vec<Value> = docs.iter().map(file_object).collect();
    Ok(axum::Json(json!({
        "object": "list",
        "first_id": docs.first().map(|d| &d.id),
        "last_id": docs.last().map(|d| &d.id),
        "has_more": false,
        "data": data,
    })))
}

/// `DELETE /v1/vector_stores/{id}/files/{file_id}`.
#[utoipa::path(delete, path = "/v1/vector_stores/{id}/files/{file_id}", tag = "knowledge",
    params(("id" = String, Path, description = "The vector store id"), ("file_id" = String, Path, description = "The document id")),
    responses(
        (status = 200, description = "Deleted with its chunks and index rows", body = Value),
        (status = 404, description = "No such vector store or file", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn delete_file(
    State(state): State<AppState>,
    crate::identity::Who(who): crate::identity::Who,
    Path((id, file_id)): Path<(String, String)>,
) -> Result<axum::Json<Value>, HttpError> {
    let svc = service(&state)?;
    svc.kb.delete_document(&caller(&who), &id, &file_id).await?;
    Ok(axum::Json(
        json!({"id": file_id, "object": "vector_store.file.deleted", "deleted": true}),
    ))
}

#[derive(Debug, Deserialize)]
pub struct SearchBody {
    pub query: Value,
    #[serde(default)]
    pub max_num_results: Option<usize>,
    #[serde(default)]
    pub sovra: Option<SearchExtension>,
}

#[derive(Debug, Deserialize)]
pub struct SearchExtension {
    pub mode: Option<Mode>,
}

/// `POST /v1/vector_stores/{id}/search`: hybrid search of one collection.
#[utoipa::path(post, path = "/v1/vector_stores/{id}/search", tag = "knowledge",
    params(("id" = String, Path, description = "The vector store id")),
    request_body = Value,
    responses(
        (status = 200, description = "A page of results, best first", body = Value),
        (status = 400, description = "The request is invalid (e.g. the query is too long)", body = sovra_core::error::ErrorEnvelope),
        (status = 404, description = "No such vector store the caller may read", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn search(
    State(state): State<AppState>,
    crate::identity::Who(who): crate::identity::Who,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<SearchBody>,
) -> Result<impl IntoResponse, HttpError> {
    let svc = service(&state)?;
    let text = match &req.query {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" "),
        _ => {
            return Err(ApiError::invalid_param(
                "query",
                "'query' must be a string or a list of strings.",
            )
            .into());
        }
    };
    let k = req.max_num_results.unwrap_or(10);
    if !(1..=50).contains(&k) {
        return Err(ApiError::invalid_param(
            "max_num_results",
            format!("'max_num_results' is {k}; it must be between 1 and 50."),
        )
        .into());
    }
    let q = Query {
        collections: Some(vec![id]),
        mode: req.sovra.and_then(|s| s.mode).unwrap_or_default(),
        ..Query::new(&text, k)
    };
    let hits = svc.kb.search(&caller(&who), &q).await?;
    let data: Vec<Value> = hits
        .iter()
        .map(|h| {
            json!({
                "file_id": h.document_id,
                "filename": h.source,
                "score": h.score,
                "attributes": {"title": h.title, "url": h.url, "language": h.language, "effective_date": h.effective_date, "heading": h.heading},
                "content": [{"type": "text", "text": h.text}],
                "sovra": {"similarity": h.similarity, "relevance": h.relevance, "chunk_id": h.chunk_id},
            })
        })
        .collect();
    Ok((
        StatusCode::OK,
        axum::Json(json!({
            "object": "vector_store.search_results.page",
            "search_query": text,
            "data": data,
            "has_more": false,
            "next_page": null,
        })),
    ))
}
