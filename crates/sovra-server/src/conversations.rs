//! The conversation API behind the web chat and `sovra chat`.
//!
//! Unlike `/v1/chat/completions`, where the client sends the whole history,
//! here the server owns it: a message is appended to a stored conversation,
//! the assistant answers with the history as context, and both turns are
//! persisted (the answer before the client sees `[DONE]`, or as far as it
//! got if the client leaves). Long histories are trimmed from the oldest turn
//! until the prompt fits the model's context.
//!
//! With `knowledge.ground_by_default` a message is grounded in official
//! documents ([`crate::grounding::for_web_chat`]): the stream opens with the
//! citations, and they are stored with the answer so a reload shows them.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sovra_core::openai::{ChatCompletionChunk, Role};
use sovra_core::{ApiError, ErrorKind};
use sovra_engine::{EngineError, Finish, GenerateRequest, SamplingParams, Turn};
use sovra_store::{Conversation, MessageUsage, NewMessage, StoredMessage, Subject};

use crate::data::RequestSubject;
use crate::grounding::{Grounding, Retrieved};
use crate::openai::ApiJson;
use crate::safety::{Gate, answer_stream};
use crate::stream::{ChunkMeta, OnEnd};
use crate::{AppState, HttpError};

/// The title a conversation has until its first message names it.
pub const DEFAULT_TITLE: &str = "New chat";
const TITLE_CHARS: usize = 60;
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
    // Charged before the model runs: the history as it stands, with the
    // default system prompt (the engine's count settles the difference).
    let ticket = {
        let mut turns = vec![Turn::new(Role::System, &*state.system_prompt)];
        turns.extend(
            history
                .iter()
                .filter(|m| matches!(m.role, Role::User | Role::Assistant))
                .map(|m| Turn::new(m.role, m.content.clone())),
        );
        turns.push(Turn::new(Role::User, content.clone()));
        quota
            .admit(
                &*state.engine,
                &state.engine.model().id,
                &sovra_engine::Prompt::Chat(turns),
                body.max_tokens,
                limits.max_completion_tokens,
            )
            .await?
    };
    // The safety pipeline: the answer's language and persona, whether the
    // model runs at all, and the text it may see (placeholders for PII).
    // Grounding (docs/knowledge.md): the passages go after the system
    // prompt; a decline is the answer, without the model.
    let mut retrieved: Option<Retrieved> = None;
    let (events, language, stored_question) = match state.safety.clone() {
        None => {
            let system = body
                .language
                .as_deref()
                .and_then(|l| state.system_prompts.get(l))
                .map(String::as_str)
                .unwrap_or(&state.system_prompt);
            retrieved = crate::grounding::for_web_chat(
                &state,
                &who,
                &content,
                None,
                body.language.as_deref(),
            )
            .await?;
            let events = match &retrieved {
                Some(Retrieved::Declined { message, .. }) => fixed_answer(message),
                _ => {
                    let system = with_passages(system, retrieved.as_ref());
                    generate_with_history(&state, &id, &history, &content, &system, params).await?
                }
            };
            (events, None, content.clone())
        }
        Some(safety) => {
            let (gate, model_text, stored) = safety
                .check_message(&*state.store, Some(who.tenant.as_str()), content.clone())
                .await?;
            match gate {
                Gate::Answer { language, decision } => {
                    (answer_stream(&decision), Some(language), stored)
                }
                Gate::Pass {
                    mut language,
                    vault,
                } => {
                    // No letters to detect (an emoji, a number): the page's
                    // language, when the profile speaks it.
                    if language.detected.is_none()
                        && let Some(l) = body.language.as_deref()
                        && safety.guard().profile.supports(l)
                    {
                        language.answer_language = l.to_owned();
                        language.fallback = false;
                    }
                    let system = safety.system_prompt(&language);
                    // Searched with what the model may see (placeholders for PII).
                    retrieved = crate::grounding::for_web_chat(
                        &state,
                        &who,
                        &model_text,
                        Some(&language.answer_language),
                        body.language.as_deref(),
                    )
                    .await?;
                    let events = match &retrieved {
                        Some(Retrieved::Declined { message, .. }) => fixed_answer(message),
                        _ => {
                            let system = with_passages(&system, retrieved.as_ref());
                            let events = generate_with_history(
                                &state,
                                &id,
                                &history,
                                &model_text,
                                &system,
                                params,
                            )
                            .await?;
                            safety.guard_output(
                                events,
                                &language.answer_language,
                                vault,
                                state.store.clone(),
                                Some(who.tenant.to_string()),
                            )
                        }
                    };
                    (events, Some(language), stored)
                }
            }
        }
    };

    // The engine accepted the turn: record the question (personal data
    // masked), then stream the answer.
    state
        .store
        .append_message(
            &id,
            NewMessage {
                role: Role::User,
                content: &stored_question,
                usage: None,
            },
        )
        .await?;
    if history.is_empty() && conversation.title == DEFAULT_TITLE {
        let title: String = stored_question.chars().take(TITLE_CHARS).collect();
        state.store.rename_conversation(&id, title.trim()).await?;
    }
    let grounding = retrieved
        .as_ref()
        .map(Retrieved::grounding)
        .unwrap_or_default();
    // Stored with the answer so a reload shows them; a decline cites nothing.
    let citations = match &grounding {
        Grounding::Grounded(c) => serde_json::to_value(c).ok(),
        Grounding::Declined { .. } | Grounding::Off => None,
    };
    let store = state.store.clone();
    let safety = state.safety.clone();
    let on_end: OnEnd = Box::new(move |text: String, finish: Option<Finish>| {
        Box::pin(async move {
            let text = match &safety {
                Some(s) => s.mask(&text),
                None => text,
            };
            if text.is_empty() && finish.is_none() {
                return true;
            }
            let usage = finish.map(|f| MessageUsage {
                prompt_tokens: f.prompt_tokens,
                completion_tokens: f.completion_tokens,
                finish_reason: f.reason.as_str().into(),
            });
            let message = NewMessage {
                role: Role::Assistant,
                content: &text,
                usage,
            };
            match store
                .append_message_cited(&id, message, citations.as_ref())
                .await
            {
                Ok(_) => true,
                Err(e) => {
                    tracing::error!(conversation = %id, error = %e, "could not store the answer");
                    false
                }
            }
        })
    });
    let meta = ChunkMeta::new(&state);
    let events = ticket.meter(events);
    let model = meta.model.clone();
    let response = crate::stream::sse(&state, meta, events, false, Some(on_end)).into_response();
    let mut response = grounding.stream(response, &model);
    crate::safety::language_headers(&mut response, language.as_ref());
    Ok(response)
}

/// The system prompt with the retrieved passages after it.
fn with_passages(system: &str, retrieved: Option<&Retrieved>) -> String {
    match retrieved {
        Some(Retrieved::Passages {
            block: Some(block), ..
        }) if system.is_empty() => block.clone(),
        Some(Retrieved::Passages {
            block: Some(block), ..
        }) => format!("{system}\n\n{block}"),
        _ => system.to_owned(),
    }
}

/// An answer given without the model (an "official sources only" decline).
fn fixed_answer(message: &str) -> sovra_engine::EventStream {
    let events = vec![
        Ok(sovra_engine::Event::Delta(message.to_owned())),
        Ok(sovra_engine::Event::Finish(Finish {
            reason: sovra_core::openai::FinishReason::Stop,
            prompt_tokens: 0,
            completion_tokens: 0,
        })),
    ];
    Box::pin(futures::stream::iter(events))
}

/// Start generating with as much history as fits, dropping the oldest turns first.
async fn generate_with_history(
    state: &AppState,
    conversation: &str,
    history: &[StoredMessage],
    content: &str,
    system_prompt: &str,
    params: SamplingParams,
) -> Result<sovra_engine::EventStream, HttpError> {
    let mut skip = 0;
    loop {
        let mut turns = Vec::with_capacity(history.len() + 2);
        if !system_prompt.is_empty() {
            turns.push(Turn::new(Role::System, system_prompt));
        }
        turns.extend(
            history[skip..]
                .iter()
                .filter(|m| matches!(m.role, Role::User | Role::Assistant))
                .map(|m| Turn::new(m.role, m.content.clone())),
        );
        turns.push(Turn::new(Role::User, content));
        let mut request = GenerateRequest::chat(turns, params.clone());
        // A fleet keeps one conversation on one backend (its prefix cache).
        request.hints.session = Some(conversation.to_owned());
        match state.engine.generate(request).await {
            Err(EngineError::ContextLength { .. }) if skip < history.len() => {
                // Drop the older half of what is left (at least one turn).
                skip += ((history.len() - skip) / 2).max(1);
            }
            other => return Ok(other?),
        }
    }
}
