//! The conversation API behind the web chat and `sovra chat`.
//!
//! Unlike `/v1/chat/completions`, where the client sends the whole history,
//! here the server owns it: a message is appended to a stored conversation,
//! the assistant answers with the history as context, and both turns are
//! persisted (the answer before the client sees `[DONE]`, or as far as it
//! got if the client leaves). Long histories are trimmed from the oldest turn
//! until the prompt fits the model's context.
//!
//! A message is answered by the one answer pipeline
//! ([`sovra_assistant::Assistant::answer`]), which keeps both turns. With
//! `knowledge.ground_by_default` it is grounded in official documents: the
//! stream opens with the citations, and they are stored with the answer so
//! a reload shows them.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sovra_core::openai::ChatCompletionChunk;
use sovra_core::{ApiError, ErrorKind};
use sovra_engine::{GenerateRequest, SamplingParams};
use sovra_store::{Conversation, StoredMessage, Subject};

use crate::data::RequestSubject;
use crate::extract::ApiJson;
use crate::stream::ChunkMeta;
use crate::{AppState, HttpError};
use sovra_assistant::Question;

/// The title a conversation has until its first message names it.
pub const DEFAULT_TITLE: &str = "New chat";
const MAX_TITLE_CHARS: usize = 200;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    #[serde(default)]
    pub title: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameBody {
    pub title: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendBody {
    pub content: String,
    #[serde(default)]
    pub max_tokens: Option<u32>,
    #[serde(default)]
    pub temperature: Option<f32>,
    /// The person's language (BCP 47 primary subtag): with a country
    /// profile, the assistant gets its system prompt in that language when
    /// the profile has one.
    #[serde(default)]
    pub language: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConversationWithMessages {
    #[serde(flatten)]
    pub conversation: Conversation,
    pub messages: Vec<StoredMessage>,
}

/// `GET /api/conversations` response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConversationList {
    /// Always `list`.
    pub object: &'static str,
    pub data: Vec<Conversation>,
}

fn not_found(id: &str) -> HttpError {
    ApiError::new(
        ErrorKind::NotFound,
        format!("No conversation found with id '{id}'."),
    )
    .with_code("not_found")
    .into()
}

/// The conversation `id` if it belongs to `me`; someone else's is "not found".
async fn owned(state: &AppState, me: &Subject, id: &str) -> Result<Conversation, HttpError> {
    match state.store.get_conversation(id).await? {
        Some(c) if c.owner == *me => Ok(c),
        _ => Err(not_found(id)),
    }
}

fn clean_title(title: &str) -> Result<String, ApiError> {
    let t = title.trim();
    if t.is_empty() {
        return Err(ApiError::invalid_param(
            "title",
            "'title' must not be empty.",
        ));
    }
    if t.chars().count() > MAX_TITLE_CHARS {
        return Err(ApiError::invalid_param(
            "title",
            format!("'title' may have at most {MAX_TITLE_CHARS} characters."),
        ));
    }
    Ok(t.to_owned())
}

/// `GET /api/conversations`: the most recent conversations.
#[utoipa::path(get, path = "/api/conversations", tag = "conversations",
    responses(
        (status = 200, description = "Conversations, most recently updated first", body = ConversationList),
        (status = 500, description = "An unexpected failure inside Sovra", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn list(
    State(state): State<AppState>,
    RequestSubject(me): RequestSubject,
) -> Result<impl IntoResponse, HttpError> {
    let data = state.store.list_conversations(&me, 200).await?;
    Ok(axum::Json(ConversationList {
        object: "list",
        data,
    }))
}

/// `POST /api/conversations`.
#[utoipa::path(post, path = "/api/conversations", tag = "conversations",
    request_body = CreateBody,
    responses(
        (status = 201, description = "The new conversation", body = Conversation),
        (status = 400, description = "The request is invalid; `error.param` names the parameter", body = sovra_core::error::ErrorEnvelope),
        (status = 413, description = "The body is larger than `limits.max_body_bytes`", body = sovra_core::error::ErrorEnvelope),
        (status = 500, description = "An unexpected failure inside Sovra", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn create(
    State(state): State<AppState>,
    RequestSubject(me): RequestSubject,
    ApiJson(body): ApiJson<CreateBody>,
) -> Result<impl IntoResponse, HttpError> {
    let title = match body.title {
        Some(t) => clean_title(&t)?,
        None => DEFAULT_TITLE.to_owned(),
    };
    let conversation = state.store.create_conversation(&me, &title).await?;
    Ok((StatusCode::CREATED, axum::Json(conversation)))
}

/// `GET /api/conversations/{id}`: a conversation with its messages.
#[utoipa::path(get, path = "/api/conversations/{id}", tag = "conversations", params(("id" = String, Path, description = "The conversation id")),
    responses(
        (status = 200, description = "The conversation and its messages", body = ConversationWithMessages),
        (status = 404, description = "The model (or resource) does not exist; `error.code` says which", body = sovra_core::error::ErrorEnvelope),
        (status = 500, description = "An unexpected failure inside Sovra", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn get(
    State(state): State<AppState>,
    RequestSubject(me): RequestSubject,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, HttpError> {
    let conversation = owned(&state, &me, &id).await?;
    let messages = state.store.messages(&id).await?;
    Ok(axum::Json(ConversationWithMessages {
        conversation,
        messages,
    }))
}

/// `PATCH /api/conversations/{id}`: rename.
#[utoipa::path(patch, path = "/api/conversations/{id}", tag = "conversations", params(("id" = String, Path, description = "The conversation id")),
    request_body = RenameBody,
    responses(
        (status = 200, description = "The renamed conversation", body = Conversation),
        (status = 400, description = "The request is invalid; `error.param` names the parameter", body = sovra_core::error::ErrorEnvelope),
        (status = 404, description = "The model (or resource) does not exist; `error.code` says which", body = sovra_core::error::ErrorEnvelope),
        (status = 413, description = "The body is larger than `limits.max_body_bytes`", body = sovra_core::error::ErrorEnvelope),
        (status = 500, description = "An unexpected failure inside Sovra", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn rename(
    State(state): State<AppState>,
    RequestSubject(me): RequestSubject,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RenameBody>,
) -> Result<impl IntoResponse, HttpError> {
    let title = clean_title(&body.title)?;
    owned(&state, &me, &id).await?;
    if !state.store.rename_conversation(&id, &title).await? {
        return Err(not_found(&id));
    }
    let conversation = state
        .store
        .get_conversation(&id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(axum::Json(conversation))
}

/// `DELETE /api/conversations/{id}`.
#[utoipa::path(delete, path = "/api/conversations/{id}", tag = "conversations", params(("id" = String, Path, description = "The conversation id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "The model (or resource) does not exist; `error.code` says which", body = sovra_core::error::ErrorEnvelope),
        (status = 500, description = "An unexpected failure inside Sovra", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    RequestSubject(me): RequestSubject,
    Path(id): Path<String>,
) -> Result<StatusCode, HttpError> {
    owned(&state, &me, &id).await?;
    if !state.store.delete_conversation(&id).await? {
        return Err(not_found(&id));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/conversations/{id}/messages/{message_id}`: delete a message
/// and every later one. The web chat's regenerate (from the last question)
/// and edit (the last question, then send the new text) are this, then a send.
#[utoipa::path(delete, path = "/api/conversations/{id}/messages/{message_id}", tag = "conversations",
    params(
        ("id" = String, Path, description = "The conversation id"),
        ("message_id" = String, Path, description = "The first message to delete"),
    ),
    responses(
        (status = 204, description = "The message and all after it are deleted"),
        (status = 400, description = "The request is invalid; `error.param` names the parameter", body = sovra_core::error::ErrorEnvelope),
        (status = 404, description = "The model (or resource) does not exist; `error.code` says which", body = sovra_core::error::ErrorEnvelope),
        (status = 500, description = "An unexpected failure inside Sovra", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn truncate(
    State(state): State<AppState>,
    RequestSubject(me): RequestSubject,
    Path((id, message_id)): Path<(String, String)>,
) -> Result<StatusCode, HttpError> {
    owned(&state, &me, &id).await?;
    if state.store.truncate_messages(&id, &message_id).await? == 0 {
        return Err(ApiError::new(
            ErrorKind::NotFound,
            format!("No message '{message_id}' in conversation '{id}'."),
        )
        .with_code("not_found")
        .into());
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Append a user message and stream the assistant's answer (SSE, OpenAI chunks).
#[utoipa::path(post, path = "/api/conversations/{id}/messages", tag = "conversations", params(("id" = String, Path, description = "The conversation id")),
    request_body = SendBody,
    responses(
        (status = 200, description = "Server-sent events whose `data:` is a chat completion chunk, ending with `data: [DONE]`", body = ChatCompletionChunk, content_type = "text/event-stream"),
        (status = 400, description = "The request is invalid; `error.param` names the parameter", body = sovra_core::error::ErrorEnvelope),
        (status = 404, description = "The model (or resource) does not exist; `error.code` says which", body = sovra_core::error::ErrorEnvelope),
        (status = 413, description = "The body is larger than `limits.max_body_bytes`", body = sovra_core::error::ErrorEnvelope),
        (status = 429, description = "A rate limit or quota is spent (`quotas`); `retry-after` says when to retry, `error.type` is `requests` or `tokens`", body = sovra_core::error::ErrorEnvelope),
        (status = 500, description = "An unexpected failure inside Sovra", body = sovra_core::error::ErrorEnvelope),
        (status = 503, description = "No capacity now (queue full, model loading, shutting down); `Retry-After` says when to retry", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn send(
    State(state): State<AppState>,
    quota: crate::limits::Quota,
    crate::identity::Who(who): crate::identity::Who,
    RequestSubject(me): RequestSubject,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<SendBody>,
) -> Result<Response, HttpError> {
    let content = body.content.trim().to_owned();
    if content.is_empty() {
        return Err(ApiError::invalid_param("content", "'content' must not be empty.").into());
    }
    let limits = &state.limits;
    if let Some(m) = body.max_tokens
        && (m == 0 || m > limits.max_completion_tokens)
    {
        return Err(ApiError::invalid_param(
            "max_tokens",
            format!(
                "'max_tokens' must be between 1 and {}.",
                limits.max_completion_tokens
            ),
        )
        .into());
    }
    let temperature = body.temperature.unwrap_or(0.3);
    if !(0.0..=2.0).contains(&temperature) {
        return Err(ApiError::invalid_param(
            "temperature",
            "'temperature' must be between 0 and 2.",
        )
        .into());
    }
    let conversation = owned(&state, &me, &id).await?;
    let history = state.store.messages(&id).await?;
    let params = SamplingParams {
        max_tokens: body.max_tokens,
        ceiling: limits.max_completion_tokens,
        temperature,
        top_p: 0.9,
        ..SamplingParams::default()
    };
    // The pipeline builds the prompt from the history, with the profile's
    // persona in the answer's language and, when grounded by default, the
    // official passages (docs/knowledge.md).
    let assistant = state.assistant();
    let grounding = assistant
        .knowledge
        .as_ref()
        .filter(|k| k.ground_by_default)
        .map(sovra_assistant::grounding::Ask::by_default);
    let retitle = history.is_empty() && conversation.title == DEFAULT_TITLE;
    let answer = assistant
        .answer(Question {
            who: &who,
            request: GenerateRequest::chat(Vec::new(), params),
            grounding,
            asked_priority: None,
            session: None,
            conversation: Some(sovra_assistant::Conversation {
                id,
                history,
                content,
                page_language: body.language,
                retitle,
            }),
            admission: &quota,
        })
        .await?;
    let language = answer.language.clone();
    let meta = ChunkMeta::new(&state).for_answer(&answer);
    let response =
        crate::stream::sse(&state, meta, answer.events, false, answer.on_end).into_response();
    let mut response = response;
    crate::answer::language_headers(&mut response, language.as_ref());
    Ok(response)
}
