//! `/v1/files`: OpenAI's Files API, for documents to attach to vector stores.
//!
//! `POST /v1/files` takes `multipart/form-data` with a `file` part (its
//! filename names the format when it is attached: .md, .html, .txt, .pdf,
//! .docx) and a `purpose` (`assistants`, `user_data`, …). The body is read
//! with an explicit limit (`knowledge.max_upload_bytes` for the file, a
//! little more for the whole form): over it, a 413 in OpenAI's shape. The
//! bytes are kept in the knowledge base ([`sovra_knowledge::files`]) and
//! belong to the caller ([`crate::data::RequestSubject`]): listing, reading
//! and deleting see only one's own files, and `DELETE /api/me/data` erases
//! them with everything else. `POST /v1/vector_stores/{id}/files` with
//! `{"file_id": …}` ingests one (see [`crate::knowledge`]).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use sovra_core::{ApiError, ErrorKind};
use sovra_knowledge::{FileListQuery, StoredFile};

use crate::extract::ApiQuery;
use crate::knowledge::{caller, service};
use crate::{AppState, HttpError};

/// What OpenAI accepts as `purpose`.
const PURPOSES: &[&str] = &[
    "assistants",
    "batch",
    "fine-tune",
    "vision",
    "user_data",
    "evals",
];

/// Room for the form's other parts and boundaries beside the file.
const FORM_OVERHEAD: u64 = 64 * 1024;

fn file_json(f: &StoredFile) -> Value {
    json!({
        "id": f.id,
        "object": "file",
        "bytes": f.bytes,
        "created_at": f.created_at,
        "expires_at": null,
        "filename": f.filename,
        "purpose": f.purpose,
        "status": "processed",
        "status_details": null,
    })
}

fn too_large(max: usize) -> HttpError {
    ApiError::new(
        ErrorKind::PayloadTooLarge,
        format!(
            "The file is larger than this server accepts ({max} bytes, knowledge.max_upload_bytes)."
        ),
    )
    .with_param("file")
    .with_code("file_too_large")
    .into()
}

fn bad_form(e: multer::Error, max: usize) -> HttpError {
    match e {
        multer::Error::FieldSizeExceeded { .. } | multer::Error::StreamSizeExceeded { .. } => {
            too_large(max)
        }
        other => ApiError::invalid(format!("Invalid multipart/form-data body: {other}.")).into(),
    }
}

/// `POST /v1/files`: upload a file (multipart/form-data: `file`, `purpose`).
#[utoipa::path(post, path = "/v1/files", tag = "knowledge",
    request_body(content = Value, content_type = "multipart/form-data", description = "Parts `file` (the document, with its filename) and `purpose` (e.g. `assistants`)"),
    responses(
        (status = 200, description = "The uploaded file", body = Value),
        (status = 400, description = "The request is invalid; `error.param` names the parameter", body = sovra_core::error::ErrorEnvelope),
        (status = 404, description = "Knowledge is disabled on this server", body = sovra_core::error::ErrorEnvelope),
        (status = 413, description = "The file is larger than `knowledge.max_upload_bytes`", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn upload(
    State(state): State<AppState>,
    headers: HeaderMap,
    crate::identity::Who(who): crate::identity::Who,
    body: Body,
) -> Result<axum::Json<Value>, HttpError> {
    let svc = service(&state)?;
    let max = svc.kb.limits().max_upload_bytes;
    let boundary = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| multer::parse_boundary(ct).ok())
        .ok_or_else(|| {
            HttpError::from(ApiError::invalid(
                "Send the file as multipart/form-data with a 'file' part and a 'purpose' part.",
            ))
        })?;
    let limits = multer::SizeLimit::new()
        .whole_stream(max as u64 + FORM_OVERHEAD)
        .per_field(max as u64 + 1);
    let mut form = multer::Multipart::with_constraints(
        body.into_data_stream(),
        boundary,
        multer::Constraints::new().size_limit(limits),
    );
    let (mut file, mut purpose) = (None, None);
    while let Some(field) = form.next_field().await.map_err(|e| bad_form(e, max))? {
        match field.name() {
            Some("file") => {
                let name = field.file_name().map(str::to_owned).unwrap_or_default();
                let bytes = field.bytes().await.map_err(|e| bad_form(e, max))?;
                file = Some((name, bytes));
            }
            Some("purpose") => {
                purpose = Some(field.text().await.map_err(|e| bad_form(e, max))?);
            }
            // OpenAI's optional `expires_after[...]` and anything else: read past.
            _ => {
                field.bytes().await.map_err(|e| bad_form(e, max))?;
            }
        }
    }
    let Some((filename, bytes)) = file else {
        return Err(ApiError::invalid_param("file", "Missing required parameter: 'file'.").into());
    };
    if filename.trim().is_empty() {
        return Err(ApiError::invalid_param(
            "file",
            "The 'file' part needs a filename (its extension names the format).",
        )
        .into());
    }
    let Some(purpose) = purpose.map(|p| p.trim().to_owned()) else {
        return Err(
            ApiError::invalid_param("purpose", "Missing required parameter: 'purpose'.").into(),
        );
    };
    if !PURPOSES.contains(&purpose.as_str()) {
        return Err(ApiError::invalid_param(
            "purpose",
            format!(
                "'{purpose}' is not a valid purpose; use one of: {}.",
                PURPOSES.join(", ")
            ),
        )
        .into());
    }
    if bytes.len() > max {
        return Err(too_large(max));
    }
    let f = svc
        .kb
        .add_file(&caller(&who), &filename, &purpose, &bytes)
        .await?;
    Ok(axum::Json(file_json(&f)))
}

/// `GET /v1/files`'s query (OpenAI's list parameters). Read as text and
/// checked here, so that a bad value is a 400 naming its parameter.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// How many files, 1 to 10000 (default 10000).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 10000)]
    pub limit: Option<String>,
    /// A file id (the `last_id` of the previous page): the page starts after it.
    pub after: Option<String>,
    /// `asc` or `desc` by `created_at` (default `desc`; ties by id).
    #[param(value_type = Option<String>, pattern = "^(asc|desc)$")]
    pub order: Option<String>,
    /// Only files of this purpose (`assistants`, `user_data`, …).
    pub purpose: Option<String>,
}

fn list_query(q: ListQuery) -> Result<FileListQuery, HttpError> {
    let max = sovra_knowledge::MAX_LIST_LIMIT;
    let limit = match q.limit.as_deref().map(str::trim) {
        None => max,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => n,
            _ => {
                return Err(ApiError::invalid_param(
                    "limit",
                    format!("'{l}' is not a valid limit; use an integer from 1 to {max}."),
                )
                .into());
            }
        },
    };
    let ascending = match q.order.as_deref() {
        None | Some("desc") => false,
        Some("asc") => true,
        Some(o) => {
            return Err(ApiError::invalid_param(
                "order",
                format!("'{o}' is not a valid order; use 'asc' or 'desc'."),
            )
            .into());
        }
    };
    if let Some(p) = &q.purpose
        && !PURPOSES.contains(&p.as_str())
    {
        return Err(ApiError::invalid_param(
            "purpose",
            format!(
                "'{p}' is not a valid purpose; use one of: {}.",
                PURPOSES.join(", ")
            ),
        )
        .into());
    }
    if q.after.as_deref().is_some_and(|a| a.trim().is_empty()) {
        return Err(ApiError::invalid_param("after", "'after' must be a file id.").into());
    }
    Ok(FileListQuery {
        limit,
        after: q.after,
        ascending,
        purpose: q.purpose,
    })
}

/// `GET /v1/files`: a page of the caller's files, newest first unless
/// `order=asc`; `has_more` and `last_id` lead to the next page (`after`).
#[utoipa::path(get, path = "/v1/files", tag = "knowledge", params(ListQuery),
    responses(
        (status = 200, description = "A page of the caller's files", body = Value),
        (status = 400, description = "A list parameter is invalid; `error.param` names it", body = sovra_core::error::ErrorEnvelope),
        (status = 404, description = "Knowledge is disabled on this server", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn list(
    State(state): State<AppState>,
    crate::identity::Who(who): crate::identity::Who,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<axum::Json<Value>, HttpError> {
    let svc = service(&state)?;
    let query = list_query(query)?;
    let page = svc.kb.list_files(&caller(&who), &query).await?;
    let data: Vec<Value> = page.files.iter().map(file_json).collect();
    Ok(axum::Json(json!({
        "object": "list",
        "data": data,
        "first_id": page.files.first().map(|f| &f.id),
        "last_id": page.files.last().map(|f| &f.id),
        "has_more": page.has_more,
    })))
}

/// `GET /v1/files/{file_id}`.
#[utoipa::path(get, path = "/v1/files/{file_id}", tag = "knowledge",
    params(("file_id" = String, Path, description = "The file id")),
    responses(
        (status = 200, description = "The file", body = Value),
        (status = 404, description = "No such file of the caller's", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn get(
    State(state): State<AppState>,
    crate::identity::Who(who): crate::identity::Who,
    Path(file_id): Path<String>,
) -> Result<axum::Json<Value>, HttpError> {
    let svc = service(&state)?;
    let f = svc.kb.file(&caller(&who), &file_id).await?;
    Ok(axum::Json(file_json(&f)))
}

/// `GET /v1/files/{file_id}/content`: the bytes as uploaded.
#[utoipa::path(get, path = "/v1/files/{file_id}/content", tag = "knowledge",
    params(("file_id" = String, Path, description = "The file id")),
    responses(
        (status = 200, description = "The file's bytes", content_type = "application/octet-stream"),
        (status = 404, description = "No such file of the caller's", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn content(
    State(state): State<AppState>,
    crate::identity::Who(who): crate::identity::Who,
    Path(file_id): Path<String>,
) -> Result<Response, HttpError> {
    let svc = service(&state)?;
    let (_, bytes) = svc.kb.file_content(&caller(&who), &file_id).await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
}

/// `DELETE /v1/files/{file_id}`: the file and its bytes (documents already
/// ingested from it stay in their vector stores until deleted there).
#[utoipa::path(delete, path = "/v1/files/{file_id}", tag = "knowledge",
    params(("file_id" = String, Path, description = "The file id")),
    responses(
        (status = 200, description = "Deleted", body = Value),
        (status = 404, description = "No such file of the caller's", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    crate::identity::Who(who): crate::identity::Who,
    Path(file_id): Path<String>,
) -> Result<axum::Json<Value>, HttpError> {
    let svc = service(&state)?;
    svc.kb.delete_file(&caller(&who), &file_id).await?;
    Ok(axum::Json(
        json!({"id": file_id, "object": "file", "deleted": true}),
    ))
}
