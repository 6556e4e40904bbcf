//! A remote OpenAI-compatible backend (vLLM, SGLang, TGI, llama.cpp server,
//! Ollama, another Sovra or `sovra sim-node`) as an [`Engine`].
//!
//! A [`GenerateRequest`] becomes a streaming `POST {base}/chat/completions`
//! (or `/completions` for a raw text), and the SSE that comes back becomes
//! [`Event`]s. Failures to connect and 429/5xx answers come back as
//! [`EngineError::Unavailable`] from `generate`, so the router can retry
//! them elsewhere; a stream that breaks after it started ends with an error
//! item (the server turns it into a final SSE error chunk).

use std::time::Duration;

use futures::StreamExt;
use serde_json::{Map, Value, json};
use sovra_core::openai::FinishReason;
use sovra_core::sse::SseDecoder;
use sovra_engine::{
    Constraint, Engine, EngineError, Event, EventStream, Finish, GenerateRequest, ModelCard,
    Prompt, TOOL_CALL_CLOSE, TOOL_CALL_OPEN, TokenLogprob, TokenText, tool_call_schema,
};

/// An OpenAI-compatible server reached over HTTP.
pub struct RemoteEngine {
    client: reqwest::Client,
    base: String,
    api_key: Option<String>,
    card: ModelCard,
    /// A stream with no bytes for this long has failed (a hung backend).
    idle_timeout: Duration,
}

impl RemoteEngine {
    /// `base` is the API root, e.g. `http://10.0.0.11:8000/v1`; `model` the
    /// name the backend knows its (first) model by.
    pub fn new(client: reqwest::Client, base: &str, api_key: Option<String>, model: &str) -> Self {
        let base = base.trim().trim_end_matches('/').to_owned();
        Self {
            idle_timeout: Duration::from_secs(60),
            card: ModelCard {
                id: model.to_owned(),
                context_length: 0,
                description: format!("remote OpenAI-compatible backend at {base}"),
            },
            client,
            base,
            api_key,
        }
    }

    /// Fail a stream that sends nothing for `idle` (default 60 s).
    pub fn with_idle_timeout(mut self, idle: Duration) -> Self {
        self.idle_timeout = idle;
        self
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    fn body(request: &GenerateRequest, model: &str) -> (String, Value) {
        let p = &request.params;
        let mut body = Map::new();
        body.insert("model".into(), json!(model));
        body.insert("stream".into(), json!(true));
        body.insert("stream_options".into(), json!({"include_usage": true}));
        let max = p.max_tokens.unwrap_or(p.ceiling).min(p.ceiling);
        if max != u32::MAX {
            body.insert("max_tokens".into(), json!(max));
        }
        body.insert("temperature".into(), json!(p.temperature));
        body.insert("top_p".into(), json!(p.top_p));
        if let Some(seed) = p.seed {
            body.insert("seed".into(), json!(seed));
        }
        if !p.stop.is_empty() {
            body.insert("stop".into(), json!(p.stop));
        }
        if p.presence_penalty != 0.0 {
            body.insert("presence_penalty".into(), json!(p.presence_penalty));
        }
        if p.frequency_penalty != 0.0 {
            body.insert("frequency_penalty".into(), json!(p.frequency_penalty));
        }
        if !p.logit_bias.is_empty() {
            let bias: Map<String, Value> = p
                .logit_bias
                .iter()
                .map(|(t, b)| (t.to_string(), json!(b)))
                .collect();
            body.insert("logit_bias".into(), Value::Object(bias));
        }
        // Output constraints travel as OpenAI's own parameters, which vLLM,
        // SGLang, TGI and llama-server enforce with their grammar engines.
        match &p.constraint {
            None
            | Some(Constraint::ToolCalls {
                required: false, ..
            }) => {}
            Some(Constraint::JsonObject) => {
                body.insert("response_format".into(), json!({"type": "json_object"}));
            }
            Some(Constraint::JsonSchema(schema)) => {
                body.insert(
                    "response_format".into(),
                    json!({"type": "json_schema", "json_schema": {"name": "output", "schema": schema, "strict": true}}),
                );
            }
            // A forced call: the backend enforces the call's JSON; the
            // stream wraps it in a `<tool_call>` block (see `generate`).
            Some(Constraint::ToolCalls { tools, .. }) => {
                body.insert(
                    "response_format".into(),
                    json!({"type": "json_schema", "json_schema": {"name": "tool_call", "schema": tool_call_schema(tools), "strict": true}}),
                );
            }
        }
        if let Some(top) = p.logprobs {
            body.insert("logprobs".into(), json!(true));
            if top > 0 {
                body.insert("top_logprobs".into(), json!(top));
            }
        }
        let path = match &request.prompt {
            Prompt::Chat(turns) => {
                let messages: Vec<Value> = turns
                    .iter()
                    .map(|t| json!({"role": t.role.as_str(), "content": t.content}))
                    .collect();
                body.insert("messages".into(), Value::Array(messages));
                "/chat/completions"
            }
            Prompt::Text(text) => {
                body.insert("prompt".into(), json!(text));
                "/completions"
            }
        };
        (path.to_owned(), Value::Object(body))
    }
}

/// The message of an OpenAI error body, or the text itself.
fn error_message(text: &str) -> String {
    serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| text.chars().take(300).collect())
}

/// What one `data:` payload means.
enum Item {
    Text(String),
    Nothing,
    Done,
    Failed(String),
}

struct Progress {
    /// Log-probabilities of the chunk just parsed, sent before its text.
    logprobs: Vec<TokenLogprob>,
    reason: Option<FinishReason>,
    /// Whether the backend reported usage (some, like llama-cpp-python's
    /// server, ignore `stream_options.include_usage`).
    saw_usage: bool,
    prompt_tokens: u32,
    completion_tokens: u32,
    pieces: u32,
}

fn parse(data: &str, progress: &mut Progress) -> Item {
    if data.trim() == "[DONE]" {
        return Item::Done;
    }
    let Ok(v) = serde_json::from_str::<Value>(data) else {
        return Item::Failed(format!(
            "the backend sent a chunk that is not JSON: {data:.200}"
        ));
    };
    if let Some(message) = v["error"]["message"].as_str() {
        return Item::Failed(message.to_owned());
    }
    if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
        progress.saw_usage = true;
        progress.prompt_tokens = u["prompt_tokens"].as_u64().unwrap_or(0) as u32;
        progress.completion_tokens = u["completion_tokens"].as_u64().unwrap_or(0) as u32;
    }
    let choice = &v["choices"][0];
    for entry in choice["logprobs"]["content"]
        .as_array()
        .into_iter()
        .flatten()
    {
        progress.logprobs.push(token_logprob(entry));
    }
    if let Some(reason) = choice["finish_reason"].as_str() {
        progress.reason = Some(if reason == "length" {
            FinishReason::Length
        } else {
            FinishReason::Stop
        });
    }
    let text = choice["delta"]["content"]
        .as_str()
        .or_else(|| choice["text"].as_str())
        .unwrap_or("");
    if text.is_empty() {
        Item::Nothing
    } else {
        progress.pieces += 1;
        Item::Text(text.to_owned())
    }
}

/// One OpenAI `logprobs.content` entry.
fn token_logprob(entry: &Value) -> TokenLogprob {
    let text = |v: &Value| {
        let token = v["token"].as_str().unwrap_or_default().to_owned();
        let bytes = v["bytes"]
            .as_array()
            .map(|b| {
                b.iter()
                    .filter_map(|x| x.as_u64())
                    .map(|x| x as u8)
                    .collect()
            })
            .unwrap_or_else(|| token.as_bytes().to_vec());
        TokenText { text: token, bytes }
    };
    TokenLogprob {
        token: text(entry),
        logprob: entry["logprob"].as_f64().unwrap_or(f64::NEG_INFINITY) as f32,
        top: entry["top_logprobs"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| {
                (
                    text(t),
                    t["logprob"].as_f64().unwrap_or(f64::NEG_INFINITY) as f32,
                )
            })
            .collect(),
    }
}

#[async_trait::async_trait]
impl Engine for RemoteEngine {
    fn model(&self) -> &ModelCard {
        &self.card
    }

    async fn generate(&self, request: GenerateRequest) -> Result<EventStream, EngineError> {
        let model = request
            .model
            .clone()
            .unwrap_or_else(|| self.card.id.clone());
        let (path, body) = Self::body(&request, &model);
        let mut call = self.client.post(format!("{}{path}", self.base)).json(&body);
        if let Some(key) = &self.api_key {
            call = call.bearer_auth(key);
        }
        let response = call
            .send()
            .await
            .map_err(|e| EngineError::Unavailable(format!("backend unreachable: {e}")))?;
        let status = response.status();
        if !status.is_success() {
            let text = tokio::time::timeout(Duration::from_secs(5), response.text())
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default();
            let message = error_message(&text);
            return Err(match status.as_u16() {
                400 | 413 | 422 => EngineError::Invalid(message),
                code => EngineError::Unavailable(format!("backend answered {code}: {message}")),
            });
        }
        let mut bytes = response.bytes_stream();
        let mut decoder = SseDecoder::default();
        let mut progress = Progress {
            logprobs: Vec::new(),
            reason: None,
            saw_usage: false,
            prompt_tokens: 0,
            completion_tokens: 0,
            pieces: 0,
        };
        let estimated_prompt = estimate_prompt_tokens(&request.prompt);
        let base = self.base.clone();
        let idle = self.idle_timeout;
        // A forced tool call came back as bare JSON: frame it as the block
        // the server parses tool calls from.
        let mut frame = matches!(
            request.params.constraint,
            Some(Constraint::ToolCalls { required: true, .. })
        )
        .then_some(false);
        let stream = async_stream(move |tx| async move {
            loop {
                let Ok(next) = tokio::time::timeout(idle, bytes.next()).await else {
                    let _ = tx
                        .send(Err(EngineError::Internal(format!(
                            "the backend sent nothing for {} ms (router.stream_idle_timeout_ms)",
                            idle.as_millis()
                        ))))
                        .await;
                    return;
                };
                let Some(chunk) = next else {
                    let _ = tx
                        .send(Err(EngineError::Internal(
                            "the backend closed the stream before it finished".into(),
                        )))
                        .await;
                    return;
                };
                let chunk = match chunk {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = tx
                            .send(Err(EngineError::Internal(format!(
                                "the backend's stream broke: {e}"
                            ))))
                            .await;
                        return;
                    }
                };
                let events = match decoder.push(&chunk) {
                    Ok(e) => e,
                    Err(e) => {
                        let _ = tx.send(Err(EngineError::Internal(e))).await;
                        return;
                    }
                };
                for data in events {
                    let item = parse(&data, &mut progress);
                    for lp in progress.logprobs.drain(..) {
                        if tx.send(Ok(Event::Logprobs(lp))).await.is_err() {
                            return;
                        }
                    }
                    match item {
                        Item::Nothing => {}
                        Item::Text(t) => {
                            let t = match frame {
                                Some(false) => {
                                    frame = Some(true);
                                    format!("{TOOL_CALL_OPEN}\n{t}")
                                }
                                _ => t,
                            };
                            if tx.send(Ok(Event::Delta(t))).await.is_err() {
                                return;
                            }
                        }
                        Item::Failed(m) => {
                            let _ = tx
                                .send(Err(EngineError::Internal(format!("backend failed: {m}"))))
                                .await;
                            return;
                        }
                        Item::Done => {
                            // OpenAI ends every choice with a finish_reason;
                            // a bare [DONE] without one means the backend cut
                            // the answer short (llama-cpp-python does when
                            // another request interrupts it).
                            let Some(reason) = progress.reason else {
                                let _ = tx
                                    .send(Err(EngineError::Internal(
                                        "the backend ended the stream without a finish_reason (the answer was cut short)".into(),
                                    )))
                                    .await;
                                return;
                            };
                            if frame == Some(true) {
                                let close = format!("\n{TOOL_CALL_CLOSE}");
                                if tx.send(Ok(Event::Delta(close))).await.is_err() {
                                    return;
                                }
                            }
                            if !progress.saw_usage {
                                tracing::debug!(backend = %base, "no usage reported; prompt tokens estimated");
                            }
                            let finish = Finish {
                                reason,
                                prompt_tokens: if progress.saw_usage {
                                    progress.prompt_tokens
                                } else {
                                    estimated_prompt
                                },
                                completion_tokens: progress.completion_tokens.max(progress.pieces),
                            };
                            let _ = tx.send(Ok(Event::Finish(finish))).await;
                            return;
                        }
                    }
                }
            }
        });
        Ok(stream)
    }
}

/// Prompt tokens when the backend reports none: about four bytes a token,
/// plus the few tokens a chat template adds per message (the estimate
/// OpenAI's own guides use). Only a fallback: a backend's usage always wins.
fn estimate_prompt_tokens(prompt: &Prompt) -> u32 {
    let tokens = match prompt {
        Prompt::Chat(turns) => turns
            .iter()
            .map(|t| t.content.len().div_ceil(4) + 4)
            .sum::<usize>(),
        Prompt::Text(text) => text.len().div_ceil(4),
    };
    u32::try_from(tokens.max(1)).unwrap_or(u32::MAX)
}

/// A stream fed by a future through a small channel; the future is polled
/// by the stream itself (no spawned task), so dropping the stream cancels it.
fn async_stream<F, Fut>(make: F) -> EventStream
where
    F: FnOnce(tokio::sync::mpsc::Sender<Result<Event, EngineError>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let producer = make(tx);
    let items = futures::stream::unfold(
        (rx, Some(Box::pin(producer))),
        |(mut rx, mut producer)| async move {
            loop {
                match producer.as_mut() {
                    Some(p) => {
                        tokio::select! {
                            biased;
                            item = rx.recv() => return item.map(|i| (i, (rx, producer))),
                            () = p.as_mut() => { producer = None; }
                        }
                    }
                    None => return rx.recv().await.map(|i| (i, (rx, None))),
                }
            }
        },
    );
    items.boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sovra_core::openai::Role;
    use sovra_engine::{SamplingParams, Turn};

    #[test]
    fn chat_request_body() {
        let mut req = GenerateRequest::chat(
            vec![Turn::new(Role::User, "hi")],
            SamplingParams {
                max_tokens: Some(5),
                stop: vec!["x".into()],
                ..SamplingParams::default()
            },
        );
        req.model = Some("llama".into());
        let (path, body) = RemoteEngine::body(&req, "llama");
        assert_eq!(path, "/chat/completions");
        assert_eq!(body["model"], "llama");
        assert_eq!(body["max_tokens"], 5);
        assert_eq!(body["messages"][0]["content"], "hi");
        assert_eq!(body["stream"], true);
        let (path, body) = RemoteEngine::body(
            &GenerateRequest::text("once", SamplingParams::default()),
            "m",
        );
        assert_eq!(path, "/completions");
        assert_eq!(body["prompt"], "once");
        assert!(body.get("max_tokens").is_none());
    }

    /// A backend that starts a stream, sends one token, then hangs.
    #[tokio::test]
    async fn a_stream_that_goes_silent_fails_after_the_idle_timeout() {
        let (engine, server) = raw_backend(
            &[r#"{"choices":[{"delta":{"content":"Hi"}}]}"#],
            Ending::Hang,
        )
        .await;
        let engine = engine.with_idle_timeout(Duration::from_millis(200));
        let mut stream = engine
            .generate(GenerateRequest::text("x", SamplingParams::default()))
            .await
            .unwrap();
        assert_eq!(stream.next().await, Some(Ok(Event::Delta("Hi".into()))));
        let started = std::time::Instant::now();
        let Some(Err(EngineError::Internal(m))) = stream.next().await else {
            panic!("expected an error");
        };
        assert!(m.contains("sent nothing"), "{m}");
        assert!(started.elapsed() < Duration::from_secs(2));
        server.abort();
    }

    /// How a [`raw_backend`] ends its stream after the events.
    enum Ending {
        Close,
        Hang,
    }

    /// A backend that answers one request with these SSE `data:` payloads,
    /// then closes the stream or hangs.
    async fn raw_backend(
        events: &'static [&'static str],
        ending: Ending,
    ) -> (RemoteEngine, tokio::task::JoinHandle<()>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 65536];
            let _ = sock.read(&mut buf).await;
            let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
            sock.write_all(head.as_bytes()).await.unwrap();
            for data in events {
                let event = format!("data: {data}\n\n");
                let chunk = format!("{:x}\r\n{event}\r\n", event.len());
                sock.write_all(chunk.as_bytes()).await.unwrap();
            }
            match ending {
                Ending::Close => sock.write_all(b"0\r\n\r\n").await.unwrap(),
                Ending::Hang => tokio::time::sleep(Duration::from_secs(5)).await,
            }
        });
        let engine = RemoteEngine::new(
            reqwest::Client::new(),
            &format!("http://{addr}/v1"),
            None,
            "m",
        );
        (engine, server)
    }

    async fn collect(
        engine: &RemoteEngine,
        request: GenerateRequest,
    ) -> Vec<Result<Event, EngineError>> {
        engine.generate(request).await.unwrap().collect().await
    }

    /// llama-cpp-python ends an interrupted answer with a bare `[DONE]`: that
    /// is a broken stream, not a finished answer.
    #[tokio::test]
    async fn a_stream_without_a_finish_reason_was_cut_short() {
        let (engine, server) = raw_backend(
            &[r#"{"choices":[{"delta":{"content":"Hi"}}]}"#, "[DONE]"],
            Ending::Close,
        )
        .await;
        let events = collect(
            &engine,
            GenerateRequest::text("x", SamplingParams::default()),
        )
        .await;
        assert_eq!(events[0], Ok(Event::Delta("Hi".into())));
        assert!(
            matches!(&events[1], Err(EngineError::Internal(m)) if m.contains("finish_reason")),
            "{events:?}"
        );
        server.abort();
    }

    /// A backend that ignores `stream_options.include_usage` still yields a
    /// prompt count (estimated from the prompt) and counts the answer's pieces.
    #[tokio::test]
    async fn missing_usage_is_estimated_from_the_prompt() {
        let (engine, server) = raw_backend(
            &[
                r#"{"choices":[{"delta":{"content":"Hi"}}]}"#,
                r#"{"choices":[{"delta":{"content":" there"}}]}"#,
                r#"{"choices":[{"delta":{},"finish_reason":"stop"}]}"#,
                "[DONE]",
            ],
            Ending::Close,
        )
        .await;
        let question = "How do I renew my passport in Tallinn?"; // 38 bytes
        let request = GenerateRequest::chat(
            vec![Turn::new(Role::User, question)],
            SamplingParams::default(),
        );
        let events = collect(&engine, request).await;
        let Some(Ok(Event::Finish(finish))) = events.last() else {
            panic!("{events:?}");
        };
        assert_eq!(finish.reason, FinishReason::Stop);
        assert_eq!(finish.prompt_tokens, 10 + 4);
        assert_eq!(finish.completion_tokens, 2);
        server.abort();
    }

    #[tokio::test]
    async fn an_unreachable_backend_is_unavailable() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let engine = RemoteEngine::new(
            reqwest::Client::new(),
            &format!("http://127.0.0.1:{port}/v1"),
            None,
            "m",
        );
        let err = engine
            .generate(GenerateRequest::text("x", SamplingParams::default()))
            .await
            .err();
        assert!(matches!(err, Some(EngineError::Unavailable(_))), "{err:?}");
    }

    #[test]
    fn constraints_and_logprobs_travel_as_openai_parameters() {
        let schema =
            serde_json::json!({"type": "object", "properties": {"a": {"type": "integer"}}});
        let req = GenerateRequest::chat(
            vec![Turn::new(Role::User, "hi")],
            SamplingParams {
                constraint: Some(Constraint::JsonSchema(schema.clone())),
                logprobs: Some(3),
                ..SamplingParams::default()
            },
        );
        let (_, body) = RemoteEngine::body(&req, "m");
        assert_eq!(body["response_format"]["type"], "json_schema");
        assert_eq!(body["response_format"]["json_schema"]["schema"], schema);
        assert_eq!(body["logprobs"], true);
        assert_eq!(body["top_logprobs"], 3);
        let mut p = Progress {
            logprobs: Vec::new(),
            reason: None,
            saw_usage: false,
            prompt_tokens: 0,
            completion_tokens: 0,
            pieces: 0,
        };
        let chunk = r#"{"choices":[{"delta":{"content":"Hi"},"logprobs":{"content":[{"token":"Hi","logprob":-0.5,"bytes":[72,105],"top_logprobs":[{"token":"Hi","logprob":-0.5,"bytes":[72,105]},{"token":"Hello","logprob":-1.5,"bytes":null}]}]}}]}"#;
        assert!(matches!(parse(chunk, &mut p), Item::Text(t) if t == "Hi"));
        assert_eq!(p.logprobs.len(), 1);
        assert_eq!(p.logprobs[0].token.bytes, b"Hi");
        assert_eq!(p.logprobs[0].top.len(), 2);
        assert_eq!(p.logprobs[0].top[1].0.text, "Hello");
    }

    #[test]
    fn chunks_parse() {
        let mut p = Progress {
            logprobs: Vec::new(),
            reason: None,
            saw_usage: false,
            prompt_tokens: 0,
            completion_tokens: 0,
            pieces: 0,
        };
        assert!(matches!(
            parse(r#"{"choices":[{"delta":{"content":"Hi"}}]}"#, &mut p),
            Item::Text(t) if t == "Hi"
        ));
        assert!(matches!(
            parse(
                r#"{"choices":[{"delta":{},"finish_reason":"length"}]}"#,
                &mut p
            ),
            Item::Nothing
        ));
        assert!(matches!(
            parse(
                r#"{"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3}}"#,
                &mut p
            ),
            Item::Nothing
        ));
        assert_eq!((p.prompt_tokens, p.completion_tokens), (7, 3));
        assert_eq!(p.reason, Some(FinishReason::Length));
        assert!(matches!(
            parse(r#"{"error":{"message":"boom"}}"#, &mut p),
            Item::Failed(m) if m == "boom"
        ));
        assert!(matches!(parse("[DONE]", &mut p), Item::Done));
    }
}
