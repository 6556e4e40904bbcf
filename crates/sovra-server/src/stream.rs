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
use futures::future::BoxFuture;
use sovra_core::ids::new_id;
use sovra_core::openai::{
    ChatCompletionChunk, ChunkChoice, Completion, CompletionChoice, Delta, FinishReason, Role,
    Usage,
};
use sovra_engine::{Event, EventStream, Finish};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::error::engine_error;
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
}

impl ChunkMeta {
    /// A chat completion (`chatcmpl-…`).
    pub fn new(state: &AppState) -> Self {
        let (id, created) = crate::openai::completion_id();
        Self {
            id,
            created,
            model: state.engine.model().id.clone(),
            fingerprint: fingerprint(&state.engine.model().description),
            wire: Wire::Chat,
        }
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
                logprobs: None,
                finish_reason: finish,
            }],
            usage: include_usage.then_some(None),
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

    /// The first event of a stream, if this API has one.
    fn opening(&self, include_usage: bool) -> Option<SseItem> {
        match &self.wire {
            Wire::Chat => {
                let first = Delta {
                    role: Some(Role::Assistant),
                    content: Some(String::new()),
                };
                Some(data(&self.chunk(first, None, include_usage)))
            }
            Wire::Text { echo: Some(prompt) } => Some(data(&self.completion(
                prompt.clone(),
                None,
                include_usage.then_some(None),
            ))),
            Wire::Text { echo: None } => None,
        }
    }

    /// An event carrying the next piece of text.
    fn delta(&self, piece: String, include_usage: bool) -> SseItem {
        match &self.wire {
            Wire::Chat => {
                let delta = Delta {
                    role: None,
                    content: Some(piece),
                };
                data(&self.chunk(delta, None, include_usage))
            }
            Wire::Text { .. } => data(&self.completion(piece, None, include_usage.then_some(None))),
        }
    }

    /// The event that says why the answer ended.
    fn finish(&self, reason: FinishReason, include_usage: bool) -> SseItem {
        match &self.wire {
            Wire::Chat => data(&self.chunk(Delta::default(), Some(reason), include_usage)),
            Wire::Text { .. } => {
                data(&self.completion(String::new(), Some(reason), include_usage.then_some(None)))
            }
        }
    }

    /// The last event when the client asked for usage: no choices, counts.
    fn usage(&self, usage: Usage) -> SseItem {
        match &self.wire {
            Wire::Chat => {
                let mut last = self.chunk(Delta::default(), None, true);
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

/// Called once when a generation ends: the text produced, and how it ended
/// (`None` when the client went away or the engine failed first). Returns
/// whether the answer is durably kept: if not, the client gets an error
/// event instead of `[DONE]`, so nothing unsaved is acknowledged.
pub type OnEnd = Box<dyn FnOnce(String, Option<Finish>) -> BoxFuture<'static, bool> + Send>;

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
        let mut open = match meta.opening(include_usage) {
            Some(first) => tx.send(first).await.is_ok(),
            None => true,
        };
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
                    text.push_str(&piece);
                    open = tx.send(meta.delta(piece, include_usage)).await.is_ok();
                }
                Ok(Event::Finish(f)) => {
                    meter.finish(&f);
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
                    let _ = tx.send(meta.finish(f.reason, include_usage)).await;
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
    pub text: String,
    pub finish: Finish,
}

pub async fn collect(state: &AppState, mut events: EventStream) -> Result<Collected, HttpError> {
    let mut meter = state.metrics.meter();
    let mut text = String::new();
    while let Some(item) = events.next().await {
        match item? {
            Event::Delta(piece) => {
                meter.delta();
                text.push_str(&piece);
            }
            Event::Finish(finish) => {
                meter.finish(&finish);
                return Ok(Collected { text, finish });
            }
        }
    }
    Err(sovra_core::ApiError::internal("The engine ended the answer without finishing it.").into())
}
