//! The OpenAI-compatible endpoints: `/v1/models`, `/v1/chat/completions` and
//! the legacy `/v1/completions`.
//!
//! Requests are checked here, parameter by parameter, with errors that name
//! the parameter as OpenAI's do; then they go to the engine unchanged in
//! meaning. Parameters Sovra cannot honour yet are refused by name, never
//! silently ignored (docs/openai-compatibility.md lists each one). Streaming
//! responses are produced by [`crate::stream`].

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use sovra_assistant::Question;
use sovra_core::ApiError;
use sovra_core::openai::{
    AssistantMessage, ChatChoice, ChatCompletion, ChatCompletionChunk, ChatCompletionRequest,
    ChatMessage, Completion, CompletionPrompt, CompletionRequest, Model, ModelList, Role,
    StopSequences, StreamOptions, ToolCall, Usage,
};
use sovra_engine::{GenerateRequest, SamplingParams, Turn};

use crate::extract::ApiJson;
use crate::limits::Quota;
use crate::stream::{ChunkMeta, Collected, Shape};
use crate::{AppState, HttpError, Limits};

/// Most stop sequences one request may carry (OpenAI's limit).
const MAX_STOP_SEQUENCES: usize = 4;

fn model_object(id: &str) -> Model {
    Model {
        id: id.to_owned(),
        object: "model".into(),
        created: 0,
        owned_by: "sovra".into(),
    }
}

/// Every chat model the engine serves (a fleet serves several), then embeddings.
#[utoipa::path(get, path = "/v1/models", tag = "openai",
    responses((status = 200, description = "The served models", body = ModelList)))]
pub async fn list_models(
    State(state): State<AppState>,
    crate::identity::Who(who): crate::identity::Who,
) -> axum::Json<ModelList> {
    axum::Json(ModelList {
        object: "list".into(),
        data: state
            .engine
            .models()
            .iter()
            .map(|m| model_object(&m.id))
            .chain(crate::embeddings::model_object(&state))
            // A key limited to some models sees only those.
            .filter(|m| who.allows_model(&m.id))
            .collect(),
    })
}

/// `GET /v1/models/{id}`.
#[utoipa::path(get, path = "/v1/models/{id}", tag = "openai",
    params(("id" = String, Path, description = "A model id from `GET /v1/models`")),
    responses(
        (status = 200, description = "The model", body = Model),
        (status = 404, description = "The model (or resource) does not exist; `error.code` says which", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn get_model(
    State(state): State<AppState>,
    crate::identity::Who(who): crate::identity::Who,
    Path(id): Path<String>,
) -> Result<axum::Json<Model>, HttpError> {
    crate::identity::check_model(&who, &id)?;
    if !state.engine.models().iter().any(|m| m.id == id) {
        return crate::embeddings::model_object(&state)
            .filter(|m| m.id == id)
            .map(axum::Json)
            .ok_or_else(|| ApiError::model_not_found(&id).into());
    }
    Ok(axum::Json(model_object(&id)))
}

/// A checked chat request, ready for the engine.
pub struct Prepared {
    pub generate: GenerateRequest,
    /// Tool calls and log-probabilities to return besides the text.
    pub shape: Shape,
    pub stream: bool,
    pub include_usage: bool,
    /// Legacy completions only: the prompt, when the client asked for it
    /// back (`echo`).
    pub echo: Option<String>,
}

/// A request names the served model, or gets OpenAI's 404.
fn check_model(state: &AppState, model: &str) -> Result<(), ApiError> {
    if model == state.engine.model().id || state.engine.models().iter().any(|m| m.id == model) {
        Ok(())
    } else {
        Err(ApiError::model_not_found(model))
    }
}

/// Most `logit_bias` entries one request may carry (OpenAI's limit).
const MAX_LOGIT_BIAS: usize = 300;

/// OpenAI's error for a number outside its range, e.g. "Invalid
/// 'presence_penalty': decimal above maximum value. Expected a value <= 2,
/// but got 3 instead."
fn out_of_range(param: &str, value: f64, min: f64, max: f64, integer: bool) -> Option<ApiError> {
    let kind = if integer { "integer" } else { "decimal" };
    // Print what the client sent: 0.1, not the f64 widening of an f32 0.1.
    let shown = if integer {
        format!("{}", value as i64)
    } else {
        format!("{}", value as f32)
    };
    let (side, code, bound) = if value < min || value.is_nan() {
        ("below minimum", "below_min", format!(">= {min}"))
    } else if value > max {
        ("above maximum", "above_max", format!("<= {max}"))
    } else {
        return None;
    };
    Some(
        ApiError::invalid_param(
            param,
            format!(
                "Invalid '{param}': {kind} {side} value. Expected a value {bound}, but got {shown} instead."
            ),
        )
        .with_code(&format!("{kind}_{code}_value")),
    )
}

fn check_range(param: &str, value: Option<f32>, min: f64, max: f64) -> Result<(), ApiError> {
    match value.and_then(|v| out_of_range(param, f64::from(v), min, max, false)) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// "Parameter X is not supported (yet)": a 400 that names the parameter.
fn unsupported(param: &str, message: impl Into<String>) -> ApiError {
    ApiError::invalid_param(param, message).with_code("unsupported_parameter")
}

/// The sampling fields chat and legacy completions share, as the client sent them.
pub struct SamplingInput {
    pub max_tokens: Option<(&'static str, u32)>,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub seed: Option<i64>,
    pub stop: Option<StopSequences>,
    pub presence_penalty: Option<f32>,
    pub frequency_penalty: Option<f32>,
    pub logit_bias: Option<BTreeMap<String, f32>>,
    pub n: Option<u32>,
}

/// Check the shared sampling fields against OpenAI's ranges and the server's limits.
pub fn sampling(limits: &Limits, input: SamplingInput) -> Result<SamplingParams, ApiError> {
    if let Some(n) = input.n {
        if let Some(e) = out_of_range("n", f64::from(n), 1.0, 128.0, true) {
            return Err(e);
        }
        if n != 1 {
            return Err(ApiError::invalid_param(
                "n",
                format!(
                    "n={n} is not supported: this server returns one choice per request (n=1)."
                ),
            ));
        }
    }
    check_range("temperature", input.temperature, 0.0, 2.0)?;
    check_range("top_p", input.top_p, 0.0, 1.0)?;
    check_range("presence_penalty", input.presence_penalty, -2.0, 2.0)?;
    check_range("frequency_penalty", input.frequency_penalty, -2.0, 2.0)?;
    if let Some((param, m)) = input.max_tokens
        && (m == 0 || m > limits.max_completion_tokens)
    {
        return Err(ApiError::invalid_param(
            param,
            format!(
                "'{param}' is {m}; it must be between 1 and {} on this server.",
                limits.max_completion_tokens
            ),
        ));
    }
    let stop = input.stop.map(|s| s.into_vec()).unwrap_or_default();
    if stop.len() > MAX_STOP_SEQUENCES {
        return Err(ApiError::invalid_param(
            "stop",
            format!(
                "'stop' has {} sequences; at most {MAX_STOP_SEQUENCES} are allowed.",
                stop.len()
            ),
        ));
    }
    let logit_bias = input.logit_bias.unwrap_or_default();
    if logit_bias.len() > MAX_LOGIT_BIAS {
        return Err(ApiError::invalid_param(
            "logit_bias",
            format!(
                "'logit_bias' has {} entries; at most {MAX_LOGIT_BIAS} are allowed.",
                logit_bias.len()
            ),
        ));
    }
    let mut bias = Vec::with_capacity(logit_bias.len());
    for (key, value) in logit_bias {
        let Ok(token) = key.parse::<u32>() else {
            return Err(ApiError::invalid_param(
                "logit_bias",
                format!("Invalid key in 'logit_bias': {key}. Keys must be token ids (integers)."),
            ));
        };
        if let Some(e) = out_of_range(
            &format!("logit_bias.{key}"),
            f64::from(value),
            -100.0,
            100.0,
            false,
        ) {
            return Err(e.with_param("logit_bias"));
        }
        bias.push((token, value));
    }
    Ok(SamplingParams {
        max_tokens: input.max_tokens.map(|(_, m)| m),
        ceiling: limits.max_completion_tokens,
        temperature: input.temperature.unwrap_or(1.0),
        top_p: input.top_p.unwrap_or(1.0),
        seed: input.seed.map(|s| s as u64),
        stop,
        presence_penalty: input.presence_penalty.unwrap_or(0.0),
        frequency_penalty: input.frequency_penalty.unwrap_or(0.0),
        logit_bias: bias,
        constraint: None,
        logprobs: None,
    })
}

/// `stream_options` is only allowed with `stream: true`, as on OpenAI.
fn stream_flags(
    stream: Option<bool>,
    options: Option<&StreamOptions>,
) -> Result<(bool, bool), ApiError> {
    let stream = stream.unwrap_or(false);
    if options.is_some() && !stream {
        return Err(ApiError::invalid_param(
            "stream_options",
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
        ));
    }
    Ok((stream, options.is_some_and(|o| o.include_usage)))
}

/// Refuse, by name, every chat parameter this server cannot honour yet:
/// accepting and ignoring them would hand the client an answer that silently
/// differs from what it asked for.
fn refuse_unsupported(req: &ChatCompletionRequest) -> Result<(), ApiError> {
    if let Some(top) = req.top_logprobs {
        if let Some(e) = out_of_range("top_logprobs", f64::from(top), 0.0, 20.0, true) {
            return Err(e);
        }
        if req.logprobs != Some(true) {
            return Err(ApiError::invalid_param(
                "top_logprobs",
                "Invalid value for 'top_logprobs': 'logprobs' must be set to true when 'top_logprobs' is set.",
            ));
        }
    }
    let refused: [(&str, bool, &str); 6] = [
        (
            "functions",
            req.functions.is_some(),
            "'functions' (deprecated function calling) is not supported by this server.",
        ),
        (
            "function_call",
            req.function_call.is_some(),
            "'function_call' (deprecated function calling) is not supported by this server.",
        ),
        (
            "modalities",
            req.modalities
                .as_ref()
                .is_some_and(|m| m.iter().any(|x| x != "text")),
            "This model produces text only: 'modalities' may only be [\"text\"].",
        ),
        (
            "audio",
            req.audio.is_some(),
            "Audio output is not supported by this model.",
        ),
        (
            "prediction",
            req.prediction.is_some(),
            "Predicted outputs ('prediction') are not supported by this server.",
        ),
        (
            "web_search_options",
            req.web_search_options.is_some(),
            "Web search is not available on this server: it answers from the model alone.",
        ),
    ];
    if let Some((param, _, message)) = refused.iter().find(|(_, set, _)| *set) {
        return Err(unsupported(param, *message));
    }
    if req.reasoning_effort.is_some() {
        return Err(unsupported(
            "reasoning_effort",
            "'reasoning_effort' is only supported by reasoning models; this model is not one.",
        ));
    }
    Ok(())
}

/// How an assistant message's tool calls appear in the prompt: the
/// `<tool_call>` blocks most open chat templates train on.
fn render_tool_calls(content: &mut String, calls: &[ToolCall]) {
    for call in calls {
        let arguments = serde_json::from_str::<serde_json::Value>(&call.function.arguments)
            .unwrap_or_else(|_| serde_json::Value::String(call.function.arguments.clone()));
        let body = serde_json::json!({"name": call.function.name, "arguments": arguments});
        if !content.is_empty() {
            content.push('\n');
        }
        content.push_str("<tool_call>\n");
        content.push_str(&body.to_string());
        content.push_str("\n</tool_call>");
    }
}

/// Messages to engine turns, with OpenAI's checks on tool messages: each
/// answers a call of the assistant message just before it, and every call
/// gets an answer.
fn turns(messages: Vec<ChatMessage>) -> Result<Vec<Turn>, ApiError> {
    let mut turns = Vec::with_capacity(messages.len());
    // Calls of the last assistant message that still await a `tool` message.
    let mut open_calls: Vec<String> = Vec::new();
    let mut in_tool_block = false;
    for (i, m) in messages.into_iter().enumerate() {
        if m.role != Role::Tool && !open_calls.is_empty() {
            return Err(ApiError::invalid_param(
                &format!("messages.[{i}].role"),
                format!(
                    "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: {}",
                    open_calls.join(", ")
                ),
            ));
        }
        let mut content = match &m.content {
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
        match m.role {
            Role::Tool => {
                let Some(id) = m.tool_call_id.as_deref() else {
                    return Err(ApiError::invalid_param(
                        &format!("messages[{i}].tool_call_id"),
                        format!("Missing required parameter: 'messages[{i}].tool_call_id'."),
                    ));
                };
                if !in_tool_block {
                    return Err(ApiError::invalid_param(
                        &format!("messages.[{i}].role"),
                        "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.",
                    ));
                }
                open_calls.retain(|open| open != id);
            }
            Role::Assistant => {
                let calls = m.tool_calls.unwrap_or_default();
                render_tool_calls(&mut content, &calls);
                open_calls = calls.into_iter().map(|c| c.id).collect();
                in_tool_block = !open_calls.is_empty();
            }
            _ => in_tool_block = false,
        }
        turns.push(Turn::new(m.role, content));
    }
    if !open_calls.is_empty() {
        return Err(ApiError::invalid_param(
            "messages",
            format!(
                "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: {}",
                open_calls.join(", ")
            ),
        ));
    }
    Ok(turns)
}

/// Check a chat request against the served model and the server's limits.
pub fn prepare(state: &AppState, req: ChatCompletionRequest) -> Result<Prepared, ApiError> {
    check_model(state, &req.model)?;
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
    if req.max_tokens.is_some() && req.max_completion_tokens.is_some() {
        return Err(ApiError::invalid_param(
            "max_tokens",
            "Setting 'max_tokens' and 'max_completion_tokens' at the same time is not supported.",
        )
        .with_code("invalid_parameter_combination"));
    }
    refuse_unsupported(&req)?;
    let output = crate::tools::plan(&req)?;
    let max_tokens = match (req.max_completion_tokens, req.max_tokens) {
        (Some(m), _) => Some(("max_completion_tokens", m)),
        (None, m) => m.map(|m| ("max_tokens", m)),
    };
    let params = sampling(
        limits,
        SamplingInput {
            max_tokens,
            temperature: req.temperature,
            top_p: req.top_p,
            seed: req.seed,
            stop: req.stop,
            presence_penalty: req.presence_penalty,
            frequency_penalty: req.frequency_penalty,
            logit_bias: req.logit_bias,
            n: req.n,
        },
    )?;
    let (stream, include_usage) = stream_flags(req.stream, req.stream_options.as_ref())?;
    let logprobs = req.logprobs.unwrap_or(false);
    let params = SamplingParams {
        constraint: output.constraint,
        logprobs: logprobs.then(|| req.top_logprobs.unwrap_or(0).min(20) as u8),
        ..params
    };
    let mut turns = turns(req.messages)?;
    crate::tools::show_tools(&mut turns, &output.tools);
    let mut generate = GenerateRequest::chat(turns, params);
    generate.model = Some(req.model);
    generate.hints.session = req.user;
    Ok(Prepared {
        generate,
        shape: Shape {
            tool_calls: output.parse_tool_calls,
            forced_function: output.forced_function,
            logprobs,
        },
        stream,
        include_usage,
        echo: None,
    })
}

/// `POST /v1/chat/completions`.
#[utoipa::path(post, path = "/v1/chat/completions", tag = "openai",
    request_body = ChatCompletionRequest,
    responses(
        (status = 200, description = "The completion; with `stream: true`, server-sent events whose `data:` is a chunk, ending with `data: [DONE]` (a failure mid-stream is sent as a `data:` error body)",
            content(
                (ChatCompletion = "application/json"),
                (ChatCompletionChunk = "text/event-stream"),
            )),
        (status = 400, description = "The request is invalid; `error.param` names the parameter", body = sovra_core::error::ErrorEnvelope),
        (status = 404, description = "The model (or resource) does not exist; `error.code` says which", body = sovra_core::error::ErrorEnvelope),
        (status = 413, description = "The body is larger than `limits.max_body_bytes`", body = sovra_core::error::ErrorEnvelope),
        (status = 429, description = "A rate limit or quota is spent (`quotas`); `retry-after` says when to retry, `error.type` is `requests` or `tokens`", body = sovra_core::error::ErrorEnvelope),
        (status = 500, description = "An unexpected failure inside Sovra", body = sovra_core::error::ErrorEnvelope),
        (status = 503, description = "No capacity now (queue full, model loading, shutting down); `Retry-After` says when to retry", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn chat_completions(
    State(state): State<AppState>,
    quota: Quota,
    crate::identity::Who(who): crate::identity::Who,
    headers: HeaderMap,
    ApiJson(mut req): ApiJson<ChatCompletionRequest>,
) -> Result<Response, HttpError> {
    crate::identity::check_model(&who, &req.model)?;
    let ext = req.sovra.take();
    let prepared = prepare(&state, req)?;
    let grounding = sovra_assistant::grounding::parse_ask(state.knowledge.as_ref(), ext.as_ref())?;
    let (asked_priority, session) = crate::answer::asked(&headers);
    let answer = state
        .assistant()
        .answer(Question {
            who: &who,
            request: prepared.generate,
            grounding,
            asked_priority,
            session,
            conversation: None,
            admission: &quota,
        })
        .await?;
    let language = answer.language.clone();
    let meta = ChunkMeta::new(&state)
        .with_shape(prepared.shape)
        .for_answer(&answer);
    if prepared.stream {
        let mut response =
            crate::stream::sse(&state, meta, answer.events, prepared.include_usage, None)
                .into_response();
        crate::answer::language_headers(&mut response, language.as_ref());
        return Ok(response);
    }
    let Collected {
        text,
        tool_calls,
        logprobs,
        finish,
    } = crate::stream::collect(&state, prepared.shape, answer.events).await?;
    // OpenAI: `content` is null when the answer is only tool calls.
    let content = (tool_calls.is_empty() || !text.trim().is_empty()).then_some(text);
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
                content,
                refusal: None,
                tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
            },
            logprobs,
            finish_reason: finish.reason,
        }],
        usage: Usage::new(finish.prompt_tokens, finish.completion_tokens),
        citations: meta.citations,
        sovra: meta.note,
    };
    let mut response = axum::Json(body).into_response();
    crate::answer::language_headers(&mut response, language.as_ref());
    Ok(response)
}

/// OpenAI's default `max_tokens` for the legacy completions endpoint.
const LEGACY_DEFAULT_MAX_TOKENS: u32 = 16;

/// Check a legacy completion request.
pub fn prepare_text(state: &AppState, req: CompletionRequest) -> Result<Prepared, ApiError> {
    check_model(state, &req.model)?;
    let prompt = match req.prompt {
        None => {
            return Err(ApiError::invalid_param(
                "prompt",
                "Missing required parameter: 'prompt'.",
            ));
        }
        Some(CompletionPrompt::Text(text)) => text,
        Some(CompletionPrompt::Texts(mut texts)) if texts.len() == 1 => texts.remove(0),
        Some(CompletionPrompt::Texts(texts)) => {
            return Err(unsupported(
                "prompt",
                format!(
                    "'prompt' is a list of {} strings; this server completes one prompt per request: send a string or a list of one.",
                    texts.len()
                ),
            ));
        }
        Some(CompletionPrompt::Tokens(_) | CompletionPrompt::TokenLists(_)) => {
            return Err(unsupported(
                "prompt",
                "Token-id prompts are not supported by this server; send the prompt as text.",
            ));
        }
    };
    if req.suffix.as_deref().is_some_and(|s| !s.is_empty()) {
        return Err(unsupported(
            "suffix",
            "'suffix' (insertion) is not supported by this model.",
        ));
    }
    if let Some(n) = req.logprobs {
        if let Some(e) = out_of_range("logprobs", f64::from(n), 0.0, 5.0, true) {
            return Err(e);
        }
        return Err(unsupported(
            "logprobs",
            "'logprobs' is not supported by this server yet; leave it out or send null.",
        ));
    }
    if let Some(best_of) = req.best_of
        && best_of != 1
    {
        return Err(ApiError::invalid_param(
            "best_of",
            format!(
                "best_of={best_of} is not supported: this server generates one completion per request (best_of=1)."
            ),
        ));
    }
    let params = sampling(
        &state.limits,
        SamplingInput {
            max_tokens: Some((
                "max_tokens",
                req.max_tokens.unwrap_or(LEGACY_DEFAULT_MAX_TOKENS),
            )),
            temperature: req.temperature,
            top_p: req.top_p,
            seed: req.seed,
            stop: req.stop,
            presence_penalty: req.presence_penalty,
            frequency_penalty: req.frequency_penalty,
            logit_bias: req.logit_bias,
            n: req.n,
        },
    )?;
    let (stream, include_usage) = stream_flags(req.stream, req.stream_options.as_ref())?;
    let echo = req.echo.unwrap_or(false).then(|| prompt.clone());
    let mut generate = GenerateRequest::text(prompt, params);
    generate.model = Some(req.model);
    generate.hints.session = req.user;
    Ok(Prepared {
        generate,
        shape: Shape::default(),
        stream,
        include_usage,
        echo,
    })
}

/// `POST /v1/completions`: the legacy text completion API.
#[utoipa::path(post, path = "/v1/completions", tag = "openai",
    request_body = CompletionRequest,
    responses(
        (status = 200, description = "The completion; with `stream: true`, server-sent events whose `data:` is a `Completion`, ending with `data: [DONE]`",
            content(
                (Completion = "application/json"),
                (Completion = "text/event-stream"),
            )),
        (status = 400, description = "The request is invalid; `error.param` names the parameter", body = sovra_core::error::ErrorEnvelope),
        (status = 404, description = "The model (or resource) does not exist; `error.code` says which", body = sovra_core::error::ErrorEnvelope),
        (status = 413, description = "The body is larger than `limits.max_body_bytes`", body = sovra_core::error::ErrorEnvelope),
        (status = 429, description = "A rate limit or quota is spent (`quotas`); `retry-after` says when to retry, `error.type` is `requests` or `tokens`", body = sovra_core::error::ErrorEnvelope),
        (status = 500, description = "An unexpected failure inside Sovra", body = sovra_core::error::ErrorEnvelope),
        (status = 503, description = "No capacity now (queue full, model loading, shutting down); `Retry-After` says when to retry", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn completions(
    State(state): State<AppState>,
    quota: Quota,
    crate::identity::Who(who): crate::identity::Who,
    headers: HeaderMap,
    ApiJson(req): ApiJson<CompletionRequest>,
) -> Result<Response, HttpError> {
    crate::identity::check_model(&who, &req.model)?;
    let prepared = prepare_text(&state, req)?;
    let (asked_priority, session) = crate::answer::asked(&headers);
    let answer = state
        .assistant()
        .answer(Question {
            who: &who,
            request: prepared.generate,
            grounding: None,
            asked_priority,
            session,
            conversation: None,
            admission: &quota,
        })
        .await?;
    let language = answer.language.clone();
    if prepared.stream {
        // The stream sends the echoed prompt as its first event.
        let meta = ChunkMeta::text(&state, prepared.echo).for_answer(&answer);
        let mut response =
            crate::stream::sse(&state, meta, answer.events, prepared.include_usage, None)
                .into_response();
        crate::answer::language_headers(&mut response, language.as_ref());
        return Ok(response);
    }
    let meta = ChunkMeta::text(&state, None).for_answer(&answer);
    let Collected { text, finish, .. } =
        crate::stream::collect(&state, Shape::default(), answer.events).await?;
    let text = match prepared.echo {
        Some(prompt) => prompt + &text,
        None => text,
    };
    let usage = Usage::new(finish.prompt_tokens, finish.completion_tokens);
    let body = meta.completion(text, Some(finish.reason), Some(Some(usage)));
    let mut response = axum::Json(body).into_response();
    crate::answer::language_headers(&mut response, language.as_ref());
    Ok(response)
}
