//! The OpenAI-compatible endpoints: `/v1/models` and `/v1/chat/completions`.
//!
//! Requests are checked here, parameter by parameter, with errors that name
//! the parameter as OpenAI's do; then they go to the engine unchanged in
//! meaning. Streaming responses are produced by [`crate::stream`].

use axum::extract::{FromRequest, Path, State};
use axum::response::{IntoResponse, Response};
use sovra_core::ApiError;
use sovra_core::ids::{new_id, unix_now};
use sovra_core::openai::{
    AssistantMessage, ChatChoice, ChatCompletion, ChatCompletionRequest, Model, ModelList, Role,
    Usage,
};
use sovra_engine::{GenerateRequest, SamplingParams, Turn};

use crate::stream::{ChunkMeta, Collected};
use crate::{AppState, HttpError};

/// JSON body extractor whose rejections render as OpenAI errors.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(HttpError))]
pub struct ApiJson<T>(pub T);

/// Most stop sequences one request may carry (OpenAI's limit).
const MAX_STOP_SEQUENCES: usize = 4;

fn model_object(state: &AppState) -> Model {
    Model {
        id: state.engine.model().id.clone(),
        object: "model".into(),
        created: 0,
        owned_by: "sovra".into(),
    }
}

pub async fn list_models(State(state): State<AppState>) -> axum::Json<ModelList> {
    axum::Json(ModelList {
        object: "list".into(),
        data: std::iter::once(model_object(&state))
            .chain(crate::embeddings::model_object(&state))
            .collect(),
    })
}

pub async fn get_model(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<Model>, HttpError> {
    if id != state.engine.model().id {
        return crate::embeddings::model_object(&state)
            .filter(|m| m.id == id)
            .map(axum::Json)
            .ok_or_else(|| ApiError::model_not_found(&id).into());
    }
    Ok(axum::Json(model_object(&state)))
}

/// A checked chat request, ready for the engine.
pub struct Prepared {
    pub generate: GenerateRequest,
    pub stream: bool,
    pub include_usage: bool,
}

/// Check a chat request against the served model and the server's limits.
pub fn prepare(state: &AppState, req: ChatCompletionRequest) -> Result<Prepared, ApiError> {
    if req.model != state.engine.model().id {
        return Err(ApiError::model_not_found(&req.model));
    }
    if req.messages.is_empty() {
        return Err(ApiError::invalid_param(
            "messages",
            "'messages' must contain at least one message.",
        ));
    }
    let limits = &state.limits;
    if req.messages.len() > limits.max_messages {
        return Err(ApiError::invalid_param(
            "messages",
            format!(
                "'messages' has {} messages; this server accepts at most {}.",
                req.messages.len(),
                limits.max_messages
            ),
        ));
    }
    if let Some(n) = req.n
        && n != 1
    {
        return Err(ApiError::invalid_param(
            "n",
            format!("n={n} is not supported: this server returns one choice per request (n=1)."),
        ));
    }
    let temperature = req.temperature.unwrap_or(1.0);
    if !(0.0..=2.0).contains(&temperature) {
        return Err(ApiError::invalid_param(
            "temperature",
            format!("{temperature} is not valid: 'temperature' must be between 0 and 2."),
        ));
    }
    let top_p = req.top_p.unwrap_or(1.0);
    if !(top_p > 0.0 && top_p <= 1.0) {
        return Err(ApiError::invalid_param(
            "top_p",
            format!("{top_p} is not valid: 'top_p' must be greater than 0 and at most 1."),
        ));
    }
    let (max_param, max_tokens) = match (req.max_completion_tokens, req.max_tokens) {
        (Some(m), _) => ("max_completion_tokens", Some(m)),
        (None, m) => ("max_tokens", m),
    };
    if let Some(m) = max_tokens
        && (m == 0 || m > limits.max_completion_tokens)
    {
        return Err(ApiError::invalid_param(
            max_param,
            format!(
                "'{max_param}' is {m}; it must be between 1 and {} on this server.",
                limits.max_completion_tokens
            ),
        ));
    }
    let stop = req.stop.map(|s| s.into_vec()).unwrap_or_default();
    if stop.len() > MAX_STOP_SEQUENCES {
        return Err(ApiError::invalid_param(
            "stop",
            format!(
                "'stop' has {} sequences; at most {MAX_STOP_SEQUENCES} are allowed.",
                stop.len()
            ),
        ));
    }
    let stream = req.stream.unwrap_or(false);
    if req.stream_options.is_some() && !stream {
        return Err(ApiError::invalid_param(
            "stream_options",
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
        ));
    }
    let mut turns = Vec::with_capacity(req.messages.len());
    for (i, m) in req.messages.into_iter().enumerate() {
        let content = match &m.content {
            Some(c) => c
                .text()
                .map_err(|e| ApiError::invalid_param(&format!("messages[{i}].content"), e))?,
            None if m.role == Role::Assistant => String::new(),
            None => {
                return Err(ApiError::invalid_param(
                    &format!("messages[{i}].content"),
                    format!("messages[{i}] ({}) has no 'content'.", m.role.as_str()),
                ));
            }
        };
        turns.push(Turn::new(m.role, content));
    }
    Ok(Prepared {
        generate: GenerateRequest {
            turns,
            params: SamplingParams {
                max_tokens,
                ceiling: limits.max_completion_tokens,
                temperature,
                top_p,
                seed: req.seed.map(|s| s as u64),
                stop,
            },
        },
        stream,
        include_usage: req.stream_options.is_some_and(|o| o.include_usage),
    })
}

pub async fn chat_completions(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<ChatCompletionRequest>,
) -> Result<Response, HttpError> {
    let prepared = prepare(&state, req)?;
    let events = state.engine.generate(prepared.generate).await?;
    let meta = ChunkMeta::new(&state);
    if prepared.stream {
        return Ok(
            crate::stream::sse(&state, meta, events, prepared.include_usage, None).into_response(),
        );
    }
    let Collected { text, finish } = crate::stream::collect(&state, events).await?;
    let body = ChatCompletion {
        id: meta.id,
        object: "chat.completion".into(),
        created: meta.created,
        model: meta.model,
        system_fingerprint: Some(meta.fingerprint),
        choices: vec![ChatChoice {
            index: 0,
            message: AssistantMessage {
                role: Role::Assistant,
                content: text,
                refusal: None,
            },
            logprobs: None,
            finish_reason: finish.reason,
        }],
        usage: Usage::new(finish.prompt_tokens, finish.completion_tokens),
    };
    Ok(axum::Json(body).into_response())
}

/// A fresh completion id and timestamp (also used by the conversation API).
pub fn completion_id() -> (String, u64) {
    (new_id("chatcmpl"), unix_now())
}
