//! Turning an engine's event stream into what the client receives.
//!
//! [`sse`] runs the generation in a task owned by the server's
//! [`TaskTracker`](tokio_util::task::TaskTracker) and feeds OpenAI
//! `chat.completion.chunk` events (or `text_completion` ones for the legacy
//! completions API: see [`Wire`]) through a small bounded channel; if the
//! client goes away the task drops the engine stream, which cancels the
//! generation and frees its slot. An optional `on_end` hook sees the final
//! text (or the partial text of a cut-short answer) so the conversation API
//! can persist it before the client sees `[DONE]`. A failure after the first
//! event is sent as a last `data:` event holding an OpenAI error object (as
//! OpenAI does), and the stream ends there, without `[DONE]`. [`collect`] is
//! the non-streaming path.

use std::convert::Infallible;

use axum::response::sse::{Event as SseEvent, Sse};
use futures::StreamExt;
use sovra_core::ids::{new_id, unix_now};
use sovra_core::openai::{
    AnswerNote, ChatCompletionChunk, ChoiceLogprobs, ChunkChoice, Citation, Completion,
    CompletionChoice, Delta, FinishReason, FunctionCallDelta, Role, TokenLogprob, ToolCall,
    ToolCallDelta, TopLogprob, Usage,
};
use sovra_engine::{Event, EventStream, Finish};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::error::engine_error;
use crate::tools::{Piece, ToolCallParser};
use crate::{AppState, HttpError};

/// Which API a stream answers, which fixes the shape of its events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wire {
    /// `chat.completion.chunk` events, opened by one carrying the role.
    Chat,
    /// `text_completion` events of the legacy API; `echo` is the prompt,
    /// sent first when the client asked for `echo: true`.
    Text { echo: Option<String> },
}

/// The fields every chunk of one completion shares.
#[derive(Debug, Clone)]
pub struct ChunkMeta {
    pub id: String,
    pub created: u64,
    pub model: String,
    pub fingerprint: String,
    pub wire: Wire,
    pub shape: Shape,
    /// A grounded answer's passages, sent first in a chunk with no choices.
    pub citations: Option<Vec<Citation>>,
    /// Sovra's note on the answer (a decline), sent in the same chunk.
    pub note: Option<AnswerNote>,
}

/// What the answer is made into besides text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shape {
    /// Parse `<tool_call>` blocks into `tool_calls`.
    pub tool_calls: bool,
    /// A named function was forced (`finish_reason` stays `stop`, as on OpenAI).
    pub forced_function: bool,
    /// Return each token's log-probability.
    pub logprobs: bool,
}

/// One answer's text, tool calls and log-probabilities as they arrive.
struct Shaper {
    shape: Shape,
    parser: ToolCallParser,
    /// Log-probabilities not yet sent with a chunk.
    pending: Vec<TokenLogprob>,
}

/// What the client gets next: text, or a whole tool call.
enum Out {
    Text(String),
    Call(ToolCall),
}

impl Shaper {
    fn new(shape: Shape) -> Self {
        Self {
            shape,
            parser: ToolCallParser::default(),
            pending: Vec::new(),
        }
    }

    fn delta(&mut self, piece: String, outs: &mut Vec<Out>) {
        if !self.shape.tool_calls {
            outs.push(Out::Text(piece));
            return;
        }
        let mut pieces = Vec::new();
        self.parser.push(&piece, &mut pieces);
        outs.extend(pieces.into_iter().map(Out::from));
    }

    fn finish(&mut self, outs: &mut Vec<Out>) {
        let mut pieces = Vec::new();
        self.parser.finish(&mut pieces);
        outs.extend(pieces.into_iter().map(Out::from));
    }

    fn logprob(&mut self, lp: sovra_engine::TokenLogprob) {
        if !self.shape.logprobs {
            return;
        }
        let wire = |t: sovra_engine::TokenText| (t.text, Some(t.bytes));
        let (token, bytes) = wire(lp.token);
        self.pending.push(TokenLogprob {
            token,
            logprob: lp.logprob,
            bytes,
            top_logprobs: lp
                .top
                .into_iter()
                .map(|(t, logprob)| {
                    let (token, bytes) = wire(t);
                    TopLogprob {
                        token,
                        logprob,
                        bytes,
                    }
                })
                .collect(),
        });
    }

    /// The log-probabilities to send with the next chunk.
    fn take_logprobs(&mut self) -> Option<ChoiceLogprobs> {
        self.shape.logprobs.then(|| ChoiceLogprobs {
            content: Some(std::mem::take(&mut self.pending)),
            refusal: None,
        })
    }

    fn reason(&self, reason: FinishReason) -> FinishReason {
        if self.parser.calls() > 0 && reason == FinishReason::Stop && !self.shape.forced_function {
            FinishReason::ToolCalls
        } else {
            reason
        }
    }
}

impl From<Piece> for Out {
    fn from(piece: Piece) -> Self {
        match piece {
            Piece::Text(t) => Out::Text(t),
            Piece::Call(c) => Out::Call(c),
        }
    }
}

impl ChunkMeta {
    /// A chat completion (`chatcmpl-…`).
    pub fn new(state: &AppState) -> Self {
        let (id, created) = completion_id();
        Self {
            id,
            created,
            model: state.engine.model().id.clone(),
            fingerprint: fingerprint(&state.engine.model().description),
            wire: Wire::Chat,
            shape: Shape::default(),
            citations: None,
            note: None,
        }
    }

    /// The same completion, reporting what the pipeline's answer carries
    /// besides its events: its model, citations and note.
    pub fn for_answer(self, answer: &sovra_assistant::Answer) -> Self {
        Self {
            model: answer.model.clone(),
            citations: answer.citations.clone(),
            note: answer.note(),
            ..self
        }
    }

    /// The same completion, shaped as the request asked.
    pub fn with_shape(self, shape: Shape) -> Self {
        Self { shape, ..self }
    }

    /// A legacy text completion (`cmpl-…`).
    pub fn text(state: &AppState, echo: Option<String>) -> Self {
        Self {
            id: new_id("cmpl"),
            wire: Wire::Text { echo },
            ..Self::new(state)
        }
    }

    fn chunk(
        &self,
        delta: Delta,
        logprobs: Option<ChoiceLogprobs>,
        finish: Option<FinishReason>,
        include_usage: bool,
    ) -> ChatCompletionChunk {
        ChatCompletionChunk {
            id: self.id.clone(),
            object: "chat.completion.chunk".into(),
            created: self.created,
            model: self.model.clone(),
            system_fingerprint: Some(self.fingerprint.clone()),
            choices: vec![ChunkChoice {
                index: 0,
                delta,
                logprobs,
                finish_reason: finish,
            }],
            usage: include_usage.then_some(None),
            citations: None,
            sovra: None,
        }
    }

    /// A legacy completion object; `usage` as given (absent, `null`, or counts).
    pub fn completion(
        &self,
        text: String,
        finish: Option<FinishReason>,
        usage: Option<Option<Usage>>,
    ) -> Completion {
        Completion {
            id: self.id.clone(),
            object: "text_completion".into(),
            created: self.created,
            model: self.model.clone(),
            system_fingerprint: Some(self.fingerprint.clone()),
            choices: vec![CompletionChoice {
                text,
                index: 0,
                logprobs: None,
                finish_reason: finish,
            }],
            usage,
        }
    }

    /// The chunk before the answer that carries its citations and note
    /// (chat only; none when the answer has neither).
    fn preamble(&self, include_usage: bool) -> Option<SseItem> {
        if self.wire != Wire::Chat || (self.citations.is_none() && self.note.is_none()) {
            return None;
        }
        let mut head = self.chunk(Delta::default(), None, None, include_usage);
        head.choices.clear();
        head.citations = self.citations.clone();
        head.sovra = self.note.clone();
        Some(data(&head))
    }

    /// The first event of a stream, if this API has one.
    fn opening(&self, include_usage: bool) -> Option<SseItem> {
        match &self.wire {
            Wire::Chat => {
                let first = Delta {
                    role: Some(Role::Assistant),
                    content: Some(String::new()),
                    tool_calls: None,
                };
                Some(data(&self.chunk(first, None, None, include_usage)))
            }
            Wire::Text { echo: Some(prompt) } => Some(data(&self.completion(
                prompt.clone(),
                None,
                include_usage.then_some(None),
            ))),
            Wire::Text { echo: None } => None,
        }
    }

    /// The events that carry the next piece of the answer: one for text;
    /// two for a tool call (its id and name, then its arguments), the way
    /// OpenAI streams them and the SDKs assemble them.
    fn pieces(
        &self,
        out: Out,
        shaper: &mut Shaper,
        calls_sent: &mut u32,
        include_usage: bool,
    ) -> Vec<SseItem> {
        match (&self.wire, out) {
            (Wire::Chat, Out::Text(piece)) => {
                let delta = Delta {
                    content: Some(piece),
                    ..Delta::default()
                };
                let logprobs = shaper.take_logprobs();
                vec![data(&self.chunk(delta, logprobs, None, include_usage))]
            }
            (Wire::Chat, Out::Call(call)) => {
                let index = *calls_sent;
                *calls_sent += 1;
                let head = ToolCallDelta {
                    index,
                    id: Some(call.id),
                    kind: Some(call.kind),
                    function: FunctionCallDelta {
                        name: Some(call.function.name),
                        arguments: Some(String::new()),
                    },
                };
                let body = ToolCallDelta {
                    index,
                    function: FunctionCallDelta {
                        name: None,
                        arguments: Some(call.function.arguments),
                    },
                    ..ToolCallDelta::default()
                };
                let logprobs = shaper.take_logprobs();
                [(head, logprobs), (body, None)]
                    .into_iter()
                    .map(|(call, logprobs)| {
                        let delta = Delta {
                            tool_calls: Some(vec![call]),
                            ..Delta::default()
                        };
                        data(&self.chunk(delta, logprobs, None, include_usage))
                    })
                    .collect()
            }
            (Wire::Text { .. }, Out::Text(piece)) => {
                vec![data(&self.completion(
                    piece,
                    None,
                    include_usage.then_some(None),
                ))]
            }
            // The legacy API has no tool calls; its answers are never parsed for them.
            (Wire::Text { .. }, Out::Call(_)) => Vec::new(),
        }
    }

    /// The event that says why the answer ended.
    fn finish(&self, reason: FinishReason, shaper: &mut Shaper, include_usage: bool) -> SseItem {
        match &self.wire {
            Wire::Chat => {
                let logprobs = shaper
                    .take_logprobs()
                    .filter(|l| l.content.as_ref().is_some_and(|c| !c.is_empty()));
                data(&self.chunk(Delta::default(), logprobs, Some(reason), include_usage))
            }
            Wire::Text { .. } => {
                data(&self.completion(String::new(), Some(reason), include_usage.then_some(None)))
            }
        }
    }

    /// The last event when the client asked for usage: no choices, counts.
    fn usage(&self, usage: Usage) -> SseItem {
        match &self.wire {
            Wire::Chat => {
                let mut last = self.chunk(Delta::default(), None, None, true);
                last.choices.clear();
                last.usage = Some(Some(usage));
                data(&last)
            }
            Wire::Text { .. } => {
                let mut last = self.completion(String::new(), None, Some(Some(usage)));
                last.choices.clear();
                data(&last)
            }
        }
    }
}

/// A stable fingerprint of the serving configuration (Sovra version + model).
pub fn fingerprint(description: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in env!("CARGO_PKG_VERSION").bytes().chain(description.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("fp_{:010x}", h & 0xff_ffff_ffff)
}

/// Called once when a generation ends (see [`sovra_assistant::OnEnd`]): if
/// the answer is not durably kept, the client gets an error event instead
/// of `[DONE]`, so nothing unsaved is acknowledged.
pub use sovra_assistant::OnEnd;

type SseItem = Result<SseEvent, Infallible>;

fn data(value: &impl serde::Serialize) -> SseItem {
    let text = serde_json::to_string(value).unwrap_or_else(|_| "{}".to_owned());
    Ok(SseEvent::default().data(text))
}

/// Stream a generation as OpenAI server-sent events.
pub fn sse(
    state: &AppState,
    meta: ChunkMeta,
    mut events: EventStream,
    include_usage: bool,
    mut on_end: Option<OnEnd>,
) -> Sse<ReceiverStream<SseItem>> {
    let (tx, rx) = mpsc::channel::<SseItem>(32);
    let mut meter = state.metrics.meter();
    state.tasks.spawn(async move {
        let mut text = String::new();
        let mut finish = None;
        let mut open = true;
        for first in [meta.preamble(include_usage), meta.opening(include_usage)]
            .into_iter()
            .flatten()
        {
            open = open && tx.send(first).await.is_ok();
        }
        let mut shaper = Shaper::new(meta.shape);
        let mut calls_sent = 0;
        let mut outs = Vec::new();
        while open {
            let Some(item) = events.next().await else {
                let e = sovra_core::ApiError::internal(
                    "The engine ended the answer without finishing it.",
                );
                let _ = tx.send(data(&e.envelope())).await;
                break;
            };
            match item {
                Ok(Event::Delta(piece)) => {
                    meter.delta();
                    shaper.delta(piece, &mut outs);
                }
                Ok(Event::Logprobs(lp)) => shaper.logprob(lp),
                Ok(Event::Finish(f)) => {
                    meter.finish(&f);
                    shaper.finish(&mut outs);
                    for out in outs.drain(..) {
                        if let Out::Text(t) = &out {
                            text.push_str(t);
                        }
                        for item in meta.pieces(out, &mut shaper, &mut calls_sent, include_usage) {
                            let _ = tx.send(item).await;
                        }
                    }
                    let f = Finish {
                        reason: shaper.reason(f.reason),
                        ..f
                    };
                    finish = Some(f);
                    // Persist before the client can see the end of the stream.
                    if let Some(hook) = on_end.take()
                        && !hook(std::mem::take(&mut text), Some(f)).await
                    {
                        let e = sovra_core::ApiError::internal(
                            "The answer could not be saved; it was not kept.",
                        );
                        let _ = tx.send(data(&e.envelope())).await;
                        break;
                    }
                    let _ = tx
                        .send(meta.finish(f.reason, &mut shaper, include_usage))
                        .await;
                    if include_usage {
                        let usage = Usage::new(f.prompt_tokens, f.completion_tokens);
                        let _ = tx.send(meta.usage(usage)).await;
                    }
                    let _ = tx.send(Ok(SseEvent::default().data("[DONE]"))).await;
                    break;
                }
                Err(e) => {
                    // The status line has gone out: the error travels as the last event.
                    tracing::warn!(error = %e, "generation failed mid-stream");
                    let _ = tx.send(data(&engine_error(&e).envelope())).await;
                    break;
                }
            }
            for out in outs.drain(..) {
                if let Out::Text(t) = &out {
                    text.push_str(t);
                }
                for item in meta.pieces(out, &mut shaper, &mut calls_sent, include_usage) {
                    open = open && tx.send(item).await.is_ok();
                }
            }
        }
        // Dropping the engine stream cancels generation if it is not done.
        drop(events);
        if let Some(hook) = on_end.take() {
            hook(text, finish).await;
        }
    });
    Sse::new(ReceiverStream::new(rx))
}

/// The whole answer of a non-streaming request.
pub struct Collected {
    /// The text of the answer (without its tool calls).
    pub text: String,
    pub tool_calls: Vec<ToolCall>,
    /// Present when the request asked for `logprobs`.
    pub logprobs: Option<ChoiceLogprobs>,
    /// With the finish reason OpenAI would give (`tool_calls` when the answer called one).
    pub finish: Finish,
}

pub async fn collect(
    state: &AppState,
    shape: Shape,
    mut events: EventStream,
) -> Result<Collected, HttpError> {
    let mut meter = state.metrics.meter();
    let mut shaper = Shaper::new(shape);
    let mut outs = Vec::new();
    while let Some(item) = events.next().await {
        match item? {
            Event::Delta(piece) => {
                meter.delta();
                shaper.delta(piece, &mut outs);
            }
            Event::Logprobs(lp) => shaper.logprob(lp),
            Event::Finish(finish) => {
                meter.finish(&finish);
                shaper.finish(&mut outs);
                let mut text = String::new();
                let mut tool_calls = Vec::new();
                for out in outs {
                    match out {
                        Out::Text(t) => text.push_str(&t),
                        Out::Call(c) => tool_calls.push(c),
                    }
                }
                let finish = Finish {
                    reason: shaper.reason(finish.reason),
                    ..finish
                };
                return Ok(Collected {
                    text,
                    tool_calls,
                    logprobs: shaper.take_logprobs(),
                    finish,
                });
            }
        }
    }
    Err(sovra_core::ApiError::internal("The engine ended the answer without finishing it.").into())
}

/// A fresh completion id and timestamp .
fn completion_id() -> (String, u64) {
    (new_id("chatcmpl"), unix_now())
}
