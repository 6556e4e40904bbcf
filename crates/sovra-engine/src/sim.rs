//! The simulated inference node.
//!
//! [`SimEngine`] answers like a model without running one: deterministic text
//! (the same conversation always gets the same answer), a configurable time to
//! first token and token rate, real stop-sequence and `max_tokens` handling.
//! Each stream is a timer-driven future with no thread of its own, so one
//! process can hold thousands of streams; `sovra sim-node` serves it over the
//! OpenAI API so fleet tests and benchmarks have a fast, exact backend.
//!
//! [`node::SimNode`] builds on the same answers to model a GPU engine
//! (continuous batching, a prefix KV cache, faults); `sovra sim-node` serves
//! that one.

pub mod kv;
pub mod node;

use std::time::Duration;

use futures::StreamExt;
use sovra_core::openai::{FinishReason, Role};

use crate::stop::{StopMatcher, StopOutcome};
use crate::{
    Engine, EngineError, Event, EventStream, Finish, GenerateRequest, ModelCard, Prompt,
    SamplingParams, Turn,
};

/// How the simulated node behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    pub model_id: String,
    /// Delay before the first token.
    pub time_to_first_token: Duration,
    /// Tokens per second per stream after the first (0 = as fast as possible).
    pub tokens_per_second: f64,
    pub context_length: u32,
    /// Answer length when the request sets no `max_tokens`.
    pub default_answer_tokens: u32,
    /// Fail every stream with an engine error after this many tokens, so
    /// clients' handling of a failure mid-stream can be tested.
    pub fail_after_tokens: Option<u32>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            model_id: "sim".to_owned(),
            time_to_first_token: Duration::from_millis(20),
            tokens_per_second: 200.0,
            context_length: 8192,
            default_answer_tokens: 48,
            fail_after_tokens: None,
        }
    }
}

/// A deterministic simulated model.
#[derive(Debug, Clone)]
pub struct SimEngine {
    config: SimConfig,
    card: ModelCard,
}

const WORDS: &[&str] = &[
    "the",
    "public",
    "service",
    "is",
    "open",
    "to",
    "every",
    "citizen",
    "and",
    "answers",
    "come",
    "from",
    "servers",
    "inside",
    "the",
    "country",
    "so",
    "data",
    "stays",
    "home",
    "while",
    "help",
    "arrives",
    "quickly",
    "in",
    "plain",
    "language",
    "for",
    "health",
    "education",
    "and",
    "daily",
    "life",
];

impl SimEngine {
    pub fn new(config: SimConfig) -> Self {
        let card = ModelCard {
            id: config.model_id.clone(),
            context_length: config.context_length,
            description: format!(
                "simulated node (ttft {:?}, {} tok/s)",
                config.time_to_first_token, config.tokens_per_second
            ),
        };
        Self { config, card }
    }

    /// Token count as the simulated tokenizer sees it: about four bytes a
    /// token plus a few for each message's framing.
    pub fn count_tokens(turns: &[Turn]) -> u32 {
        let n: usize = turns.iter().map(|t| t.content.len().div_ceil(4) + 4).sum();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// Token count of a prompt: chat turns as [`Self::count_tokens`], a raw
    /// text at about four bytes a token (at least one, like a BOS token).
    pub fn count_prompt_tokens(prompt: &Prompt) -> u32 {
        match prompt {
            Prompt::Chat(turns) => Self::count_tokens(turns),
            Prompt::Text(text) => u32::try_from(text.len().div_ceil(4).max(1)).unwrap_or(u32::MAX),
        }
    }

    /// The full answer the node gives to these turns, as tokens (pieces).
    pub fn answer_pieces(turns: &[Turn], seed: Option<u64>, count: u32) -> Vec<String> {
        let last_user = turns
            .iter()
            .rev()
            .find(|t| t.role == Role::User)
            .map(|t| t.content.as_str())
            .unwrap_or("");
        let echo: String = last_user.chars().take(200).collect();
        let mut pieces: Vec<String> = Vec::with_capacity(count as usize);
        pieces.push("You".to_owned());
        pieces.push(" said:".to_owned());
        for word in echo.split_whitespace() {
            pieces.push(format!(" {word}"));
        }
        pieces.push(".".to_owned());
        let mut state = seed.unwrap_or_else(|| fnv1a(turns));
        while pieces.len() < count as usize {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let idx = usize::try_from((state >> 33) % WORDS.len() as u64).unwrap_or(0);
            pieces.push(format!(" {}", WORDS[idx]));
        }
        pieces.truncate(count as usize);
        pieces
    }
}

fn fnv1a(turns: &[Turn]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for t in turns {
        for b in t.role.as_str().bytes().chain(t.content.bytes()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x100000001b3);
        }
    }
    h
}

#[async_trait::async_trait]
impl Engine for SimEngine {
    fn model(&self) -> &ModelCard {
        &self.card
    }

    async fn count_prompt_tokens(&self, prompt: &Prompt) -> Option<u32> {
        Some(Self::count_prompt_tokens(prompt))
    }

    async fn generate(&self, request: GenerateRequest) -> Result<EventStream, EngineError> {
        refuse_what_sim_cannot_do(&request.params)?;
        let prompt_tokens = Self::count_prompt_tokens(&request.prompt);
        // A raw text is answered as if a user had said it.
        let turns = match request.prompt {
            Prompt::Chat(turns) => turns,
            Prompt::Text(text) => vec![Turn::new(Role::User, text)],
        };
        let params = SamplingParams {
            ceiling: request
                .params
                .ceiling
                .min(self.config.default_answer_tokens),
            ..request.params.clone()
        };
        let max_tokens = params.budget(prompt_tokens, self.config.context_length)?;
        let answer_len = self.config.default_answer_tokens.max(1);
        let pieces = Self::answer_pieces(&turns, request.params.seed, answer_len);
        let limit = max_tokens.min(answer_len);
        let ttft = self.config.time_to_first_token;
        let gap = if self.config.tokens_per_second > 0.0 {
            Duration::from_secs_f64(1.0 / self.config.tokens_per_second)
        } else {
            Duration::ZERO
        };
        let state = SimStream {
            pieces: pieces.into_iter(),
            stop: StopMatcher::new(&request.params.stop),
            emitted: 0,
            limit,
            prompt_tokens,
            fail_after: self.config.fail_after_tokens,
            done: false,
        };
        let stream = futures::stream::unfold(state, move |mut s| async move {
            if s.done {
                return None;
            }
            let delay = if s.emitted == 0 { ttft } else { gap };
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            if s.fail_after.is_some_and(|n| s.emitted >= n) {
                s.done = true;
                let e = EngineError::Internal(format!(
                    "simulated failure after {} tokens (engine.sim_fail_after_tokens)",
                    s.emitted
                ));
                return Some((Err(e), s));
            }
            let event = s.next_event();
            Some((Ok(event), s))
        });
        Ok(stream.boxed())
    }
}

pub(crate) struct SimStream {
    pub(crate) pieces: std::vec::IntoIter<String>,
    pub(crate) stop: StopMatcher,
    pub(crate) emitted: u32,
    pub(crate) limit: u32,
    pub(crate) prompt_tokens: u32,
    pub(crate) fail_after: Option<u32>,
    pub(crate) done: bool,
}

impl SimStream {
    /// Whether the next event is the tail or the finish, not a new token.
    pub(crate) fn at_end(&self) -> bool {
        self.done || self.emitted >= self.limit || self.pieces.len() == 0
    }

    fn finish(&mut self, reason: FinishReason) -> Event {
        self.done = true;
        Event::Finish(Finish {
            reason,
            prompt_tokens: self.prompt_tokens,
            completion_tokens: self.emitted,
        })
    }

    pub(crate) fn next_event(&mut self) -> Event {
        loop {
            if self.emitted >= self.limit {
                let tail = self.stop.finish();
                if !tail.is_empty() {
                    return Event::Delta(tail);
                }
                // Ran out of budget: `length` unless the answer was complete.
                let reason = if self.pieces.len() == 0 {
                    FinishReason::Stop
                } else {
                    FinishReason::Length
                };
                return self.finish(reason);
            }
            let Some(piece) = self.pieces.next() else {
                let tail = self.stop.finish();
                if !tail.is_empty() {
                    return Event::Delta(tail);
                }
                return self.finish(FinishReason::Stop);
            };
            self.emitted += 1;
            match self.stop.push(&piece) {
                StopOutcome::Continue(text) if text.is_empty() => continue,
                StopOutcome::Continue(text) => return Event::Delta(text),
                StopOutcome::Stopped(text) => {
                    self.pieces = Vec::new().into_iter();
                    self.limit = self.emitted;
                    if text.is_empty() {
                        return self.finish(FinishReason::Stop);
                    }
                    return Event::Delta(text);
                }
            }
        }
    }
}

/// The simulated node writes canned text: it cannot honour an output
/// constraint or report real log-probabilities, so it refuses them rather
/// than return text that only looks compliant. Optional tool calls
/// (`tool_choice: auto`) are fine: the simulated model just never calls one.
fn refuse_what_sim_cannot_do(params: &SamplingParams) -> Result<(), EngineError> {
    let refuse = |param: &str, what: &str| EngineError::InvalidParam {
        param: param.to_owned(),
        message: format!("the simulated engine does not support {what}"),
    };
    match &params.constraint {
        None
        | Some(crate::Constraint::ToolCalls {
            required: false, ..
        }) => {}
        Some(crate::Constraint::ToolCalls { .. }) => {
            return Err(refuse("tool_choice", "forced tool calls"));
        }
        Some(_) => return Err(refuse("response_format", "structured output")),
    }
    if params.logprobs.is_some() {
        return Err(refuse("logprobs", "log-probabilities"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(text: &str, params: SamplingParams) -> GenerateRequest {
        GenerateRequest::chat(vec![Turn::new(Role::User, text)], params)
    }

    async fn collect(engine: &SimEngine, req: GenerateRequest) -> (String, Finish) {
        let mut stream = match engine.generate(req).await {
            Ok(s) => s,
            Err(e) => {
                return (
                    format!("error: {e}"),
                    Finish {
                        reason: FinishReason::Stop,
                        prompt_tokens: 0,
                        completion_tokens: 0,
                    },
                );
            }
        };
        let mut text = String::new();
        while let Some(Ok(event)) = stream.next().await {
            match event {
                Event::Delta(d) => text.push_str(&d),
                Event::Logprobs(_) => {}
                Event::Finish(f) => return (text, f),
            }
        }
        (
            text,
            Finish {
                reason: FinishReason::Stop,
                prompt_tokens: 0,
                completion_tokens: 0,
            },
        )
    }

    fn fast() -> SimEngine {
        SimEngine::new(SimConfig {
            time_to_first_token: Duration::ZERO,
            tokens_per_second: 0.0,
            ..SimConfig::default()
        })
    }

    #[tokio::test]
    async fn deterministic_and_echoes_the_question() {
        let engine = fast();
        let (a, fa) = collect(&engine, request("hello there", SamplingParams::default())).await;
        let (b, _) = collect(&engine, request("hello there", SamplingParams::default())).await;
        assert_eq!(a, b);
        assert!(a.starts_with("You said: hello there."), "{a}");
        assert_eq!(fa.completion_tokens, 48);
        assert_eq!(fa.reason, FinishReason::Stop);
    }

    #[tokio::test]
    async fn max_tokens_gives_length() {
        let params = SamplingParams {
            max_tokens: Some(3),
            ..SamplingParams::default()
        };
        let (text, finish) = collect(&fast(), request("a b c d", params)).await;
        assert_eq!(text, "You said: a");
        assert_eq!(finish.reason, FinishReason::Length);
        assert_eq!(finish.completion_tokens, 3);
    }

    #[tokio::test]
    async fn stop_sequence_cuts_answer() {
        let params = SamplingParams {
            stop: vec!["said".into()],
            ..SamplingParams::default()
        };
        let (text, finish) = collect(&fast(), request("x", params)).await;
        assert_eq!(text, "You ");
        assert_eq!(finish.reason, FinishReason::Stop);
    }

    #[tokio::test]
    async fn raw_text_is_continued_and_counted() {
        let req = GenerateRequest::text("once upon", SamplingParams::default());
        let (text, finish) = collect(&fast(), req).await;
        assert!(text.starts_with("You said: once upon."), "{text}");
        assert_eq!(finish.prompt_tokens, 3);
    }

    #[tokio::test]
    async fn injected_failure_ends_the_stream_with_an_error() {
        let engine = SimEngine::new(SimConfig {
            time_to_first_token: Duration::ZERO,
            tokens_per_second: 0.0,
            fail_after_tokens: Some(2),
            ..SimConfig::default()
        });
        let mut stream = engine
            .generate(request("x", SamplingParams::default()))
            .await
            .unwrap_or_else(|_| futures::stream::empty().boxed());
        let mut items = Vec::new();
        while let Some(item) = stream.next().await {
            items.push(item);
        }
        assert_eq!(items.len(), 3, "{items:?}");
        assert!(matches!(items[2], Err(EngineError::Internal(_))));
    }

    #[tokio::test]
    async fn too_long_prompt_is_refused_up_front() {
        let engine = SimEngine::new(SimConfig {
            context_length: 16,
            ..SimConfig::default()
        });
        let err = engine
            .generate(request(&"word ".repeat(40), SamplingParams::default()))
            .await
            .err();
        assert!(matches!(err, Some(EngineError::ContextLength { .. })));
    }
}

#[cfg(test)]
mod load {
    use super::*;
    use crate::SamplingParams;

    /// The simulated node must be cheap: thousands of concurrent streams on
    /// timers, no thread each.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_thousand_concurrent_streams_finish_quickly() {
        let engine = std::sync::Arc::new(SimEngine::new(SimConfig {
            time_to_first_token: Duration::from_millis(20),
            tokens_per_second: 100.0,
            default_answer_tokens: 10,
            ..SimConfig::default()
        }));
        let started = std::time::Instant::now();
        let tasks: Vec<_> = (0..2000)
            .map(|i| {
                let engine = std::sync::Arc::clone(&engine);
                tokio::spawn(async move {
                    let req = GenerateRequest::chat(
                        vec![Turn::new(Role::User, format!("question {i}"))],
                        SamplingParams::default(),
                    );
                    let mut stream = engine.generate(req).await.ok()?;
                    let mut tokens = 0;
                    while let Some(Ok(ev)) = stream.next().await {
                        if let Event::Finish(f) = ev {
                            tokens = f.completion_tokens;
                        }
                    }
                    Some(tokens)
                })
            })
            .collect();
        let mut done = 0;
        for t in tasks {
            if let Ok(Some(10)) = t.await {
                done += 1;
            }
        }
        let elapsed = started.elapsed();
        assert_eq!(done, 2000);
        // Each stream alone takes ~0.11 s; all 2000 together must not take much longer.
        assert!(
            elapsed < Duration::from_secs(3),
            "2000 streams took {elapsed:?}"
        );
    }
}
