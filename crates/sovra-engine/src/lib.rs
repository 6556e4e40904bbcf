//! The `Engine` seam and what every engine shares.
//!
//! Everything above this crate (server, router, conversations) talks to an
//! [`Engine`]: give it a chat (or, for the legacy completions API, a raw
//! text: see [`Prompt`]), get back a stream of text deltas that ends with a
//! [`Finish`]. Implementations: the embedded llama.cpp engine
//! (`sovra-embedded`), and [`sim::SimEngine`], a deterministic simulated node
//! cheap enough to run thousands of streams for tests and fleet benchmarks.
//! [`stop::StopMatcher`] is the one place stop sequences are handled.

pub mod sim;
pub mod stop;

use std::pin::Pin;

use futures::Stream;
use sovra_core::openai::{FinishReason, Role};

/// One turn of a conversation, as the engine sees it: plain text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn {
    pub role: Role,
    pub content: String,
}

impl Turn {
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
        }
    }
}

/// How to sample. Limits are already resolved: `max_tokens` is a number.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingParams {
    /// Most tokens the client asked for; it must fit in the context or the
    /// request is refused. `None`: as many as fit, up to `ceiling`.
    pub max_tokens: Option<u32>,
    /// Server policy: never generate more than this, whatever was asked.
    pub ceiling: u32,
    /// 0 means greedy.
    pub temperature: f32,
    pub top_p: f32,
    /// Same seed and same input give the same output on one engine build.
    pub seed: Option<u64>,
    /// Generation stops before the first occurrence of any of these.
    pub stop: Vec<String>,
    /// OpenAI's `presence_penalty` (-2..2, 0 = off): subtracted once from the
    /// logit of every token already generated.
    pub presence_penalty: f32,
    /// OpenAI's `frequency_penalty` (-2..2, 0 = off): subtracted from a
    /// token's logit once per time it was already generated.
    pub frequency_penalty: f32,
    /// OpenAI's `logit_bias`: (token id, bias added to its logit); -100 bans
    /// a token, 100 all but forces it. Ids are the model's tokenizer's; an
    /// engine refuses ids outside its vocabulary.
    pub logit_bias: Vec<(u32, f32)>,
    /// What the output must look like (JSON, tool calls), enforced by the
    /// engine while it samples; `None`: free text.
    pub constraint: Option<Constraint>,
    /// Report the log-probability of every sampled token, with this many
    /// most likely alternatives (0..=20); `None`: no log-probabilities.
    pub logprobs: Option<u8>,
}

/// A shape the output must take, enforced token by token (an engine that
/// cannot enforce it refuses the request; it never returns unchecked text).
#[derive(Debug, Clone, PartialEq)]
pub enum Constraint {
    /// Any JSON object (OpenAI's `response_format: json_object`).
    JsonObject,
    /// One JSON value valid against this JSON Schema (`json_schema`).
    JsonSchema(serde_json::Value),
    /// Function calls, written as the `<tool_call>` blocks of [`tool_call_block`].
    ToolCalls {
        tools: Vec<ToolSpec>,
        /// `false`: the model may answer in text instead (`tool_choice: auto`).
        required: bool,
        /// More than one call in one answer (`parallel_tool_calls`).
        parallel: bool,
    },
}

/// A function the model may call: its name and the JSON Schema of its arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    pub name: String,
    pub parameters: serde_json::Value,
}

/// Opens a tool call in the model's output (the format most open chat models
/// are trained on: Hermes, Qwen, SmolLM).
pub const TOOL_CALL_OPEN: &str = "<tool_call>";
/// Closes a tool call.
pub const TOOL_CALL_CLOSE: &str = "</tool_call>";

/// A call as the model writes it: `<tool_call>\n{"name": …, "arguments": {…}}\n</tool_call>`.
pub fn tool_call_block(name: &str, arguments: &serde_json::Value) -> String {
    let body = serde_json::json!({"name": name, "arguments": arguments});
    format!("{TOOL_CALL_OPEN}\n{body}\n{TOOL_CALL_CLOSE}")
}

/// The JSON one tool call must be: one of the tools, by name, with
/// arguments valid for that tool's schema.
pub fn tool_call_schema(tools: &[ToolSpec]) -> serde_json::Value {
    let one = |t: &ToolSpec| {
        serde_json::json!({
            "type": "object",
            "properties": {"name": {"const": t.name}, "arguments": t.parameters},
            "required": ["name", "arguments"],
            "additionalProperties": false,
        })
    };
    match tools {
        [single] => one(single),
        many => serde_json::json!({"anyOf": many.iter().map(one).collect::<Vec<_>>()}),
    }
}

/// A token's log-probability and, when asked for, its most likely alternatives.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenLogprob {
    pub token: TokenText,
    pub logprob: f32,
    /// Most likely first; empty unless `logprobs` asked for alternatives.
    pub top: Vec<(TokenText, f32)>,
}

/// A token as text (lossy where it splits a UTF-8 character) and its raw bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenText {
    pub text: String,
    pub bytes: Vec<u8>,
}

impl TokenText {
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self {
            text: String::from_utf8_lossy(&bytes).into_owned(),
            bytes,
        }
    }
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self {
            max_tokens: None,
            ceiling: u32::MAX,
            temperature: 0.7,
            top_p: 1.0,
            seed: None,
            stop: Vec::new(),
            presence_penalty: 0.0,
            frequency_penalty: 0.0,
            logit_bias: Vec::new(),
            constraint: None,
            logprobs: None,
        }
    }
}

/// What the model continues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prompt {
    /// A chat: the engine renders the turns with the model's chat template
    /// and generates the assistant's next message.
    Chat(Vec<Turn>),
    /// Raw text (the legacy `/v1/completions`): tokenized as is, no template.
    Text(String),
}

/// How urgent a request is: the router's admission queue serves a higher
/// class first (emergency and public-health services above citizens above
/// batch work).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    Emergency,
    #[default]
    Citizen,
    Batch,
}

impl Priority {
    /// Every class, most urgent first.
    pub const ALL: [Priority; 3] = [Priority::Emergency, Priority::Citizen, Priority::Batch];

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Emergency => "emergency",
            Priority::Citizen => "citizen",
            Priority::Batch => "batch",
        }
    }

    /// `emergency`/`high`, `citizen`/`normal`/`default`, `batch`/`low`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "emergency" | "high" => Some(Priority::Emergency),
            "citizen" | "normal" | "default" => Some(Priority::Citizen),
            "batch" | "low" => Some(Priority::Batch),
            _ => None,
        }
    }

    /// Index into [`Self::ALL`].
    pub fn rank(self) -> usize {
        self as usize
    }
}

/// What the router may use to place a request; engines that serve one model
/// in one place ignore it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteHints {
    /// Who is asking, for fair sharing of the queue between tenants.
    pub tenant: Option<String>,
    pub priority: Priority,
    /// Requests of one conversation share this key (session affinity).
    pub session: Option<String>,
}

/// A request to generate: the assistant's next message, or the continuation of a text.
#[derive(Debug, Clone)]
pub struct GenerateRequest {
    pub prompt: Prompt,
    pub params: SamplingParams,
    /// The public model name the client asked for; `None`: the engine's own.
    pub model: Option<String>,
    pub hints: RouteHints,
}

impl GenerateRequest {
    /// The assistant's next message after these turns.
    pub fn chat(turns: Vec<Turn>, params: SamplingParams) -> Self {
        Self {
            prompt: Prompt::Chat(turns),
            params,
            model: None,
            hints: RouteHints::default(),
        }
    }

    /// The continuation of a raw text.
    pub fn text(text: impl Into<String>, params: SamplingParams) -> Self {
        Self {
            prompt: Prompt::Text(text.into()),
            params,
            model: None,
            hints: RouteHints::default(),
        }
    }
}

/// How a generation ended, with token counts from the engine's tokenizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finish {
    pub reason: FinishReason,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
}

/// One item of a generation stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Text to append to the answer (never split inside a UTF-8 character).
    Delta(String),
    /// The log-probability of the token just sampled (only when the request
    /// asked for `logprobs`); its text arrives in the next [`Event::Delta`]s.
    Logprobs(TokenLogprob),
    /// The last event of every successful stream.
    Finish(Finish),
}

/// The stream [`Engine::generate`] returns. Dropping it cancels generation.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<Event, EngineError>> + Send>>;

/// What an engine can fail with, in its own terms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error(
        "the prompt has {prompt_tokens} tokens and asks for up to {max_tokens} more, but this model's context holds {context} tokens per conversation"
    )]
    ContextLength {
        prompt_tokens: u32,
        max_tokens: u32,
        context: u32,
    },
    #[error("the engine's queue is full ({0} requests waiting); try again shortly")]
    Overloaded(usize),
    #[error("the engine is not running")]
    Stopped,
    #[error("invalid request: {0}")]
    Invalid(String),
    /// One request parameter is wrong for this engine or model (e.g. a
    /// `logit_bias` token id outside the vocabulary).
    #[error("invalid '{param}': {message}")]
    InvalidParam { param: String, message: String },
    #[error("engine failure: {0}")]
    Internal(String),
    /// Nothing can serve the request now (no eligible backend, backend
    /// unreachable); a retry later may succeed. Rendered as a 503.
    #[error("{0}")]
    Unavailable(String),
    /// This client is over its share (e.g. its tenant's part of the queue);
    /// rendered as a 429.
    #[error("{0}")]
    RateLimited(String),
}

impl SamplingParams {
    /// The answer budget for a prompt of `prompt_tokens` in a context of
    /// `context` tokens, or the error that says why it cannot fit.
    pub fn budget(&self, prompt_tokens: u32, context: u32) -> Result<u32, EngineError> {
        let room = context.saturating_sub(prompt_tokens);
        let max_tokens = self
            .max_tokens
            .unwrap_or(room.min(self.ceiling))
            .min(self.ceiling);
        if prompt_tokens == 0 || prompt_tokens >= context || max_tokens > room || max_tokens == 0 {
            return Err(EngineError::ContextLength {
                prompt_tokens,
                max_tokens,
                context,
            });
        }
        Ok(max_tokens)
    }
}

/// What a model is, for `/v1/models` and for limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelCard {
    /// The public name clients ask for.
    pub id: String,
    /// Tokens one conversation may hold (prompt plus answer).
    pub context_length: u32,
    /// A short description of the engine and weights (shown in logs and `/readyz`).
    pub description: String,
}

/// The seam between Sovra and whatever runs the model.
#[async_trait::async_trait]
pub trait Engine: Send + Sync + 'static {
    /// The model this engine serves (the default one, if it serves several).
    fn model(&self) -> &ModelCard;

    /// Every model this engine serves, by public name (the router serves many).
    fn models(&self) -> Vec<ModelCard> {
        vec![self.model().clone()]
    }

    /// Whether the engine can take requests now.
    fn is_ready(&self) -> bool {
        true
    }

    /// Start generating. Errors that can be known before the first token
    /// (prompt too long, queue full) come back here, not in the stream.
    async fn generate(&self, request: GenerateRequest) -> Result<EventStream, EngineError>;

    /// The prompt's length in this engine's tokens (chat template included),
    /// as [`Finish::prompt_tokens`] would report it, without generating;
    /// `None` when the engine cannot tell before it runs (a remote backend).
    /// Quotas use it to charge a request before the model runs.
    async fn count_prompt_tokens(&self, _prompt: &Prompt) -> Option<u32> {
        None
    }
}
