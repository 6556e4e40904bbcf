//! The fleet router in front of a real engine nobody here wrote: the
//! OpenAI-compatible server of llama-cpp-python (`python -m llama_cpp.server`)
//! on the default GGUF, as the one `[[backends]]` entry of a `sovra serve`,
//! spoken to over HTTP, streaming and not.
//!
//! Ignored by default: it needs the Python package. `scripts/test` installs
//! `llama-cpp-python[server]` into `.venv-llama` and runs this file with
//! `SOVRA_LLAMA_CPP_PYTHON` naming that venv's python.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sovra_testkit::{Sovra, default_model_path, free_port, sse_events, stream_text};
use tokio::process::{Child, Command};

/// The public name clients use; the backend knows the model as [`ALIAS`].
const PUBLIC: &str = "smollm2-135m-instruct";
const ALIAS: &str = "smollm2";

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_sovra"))
}

/// The python that has `llama_cpp.server` installed.
fn python() -> PathBuf {
    match std::env::var_os("SOVRA_LLAMA_CPP_PYTHON") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => panic!(
            "SOVRA_LLAMA_CPP_PYTHON is not set: point it at a python with \
             llama-cpp-python[server] installed (scripts/test makes .venv-llama \
             and runs this test with SOVRA_LLAMA_CPP_PYTHON=$PWD/.venv-llama/bin/python)"
        ),
    }
}

/// `python -m llama_cpp.server` on a free port; killed when dropped.
struct LlamaServer {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl LlamaServer {
    async fn start(python: &Path, model: &Path, dir: &Path) -> Self {
        // Another test may take the free port between our probe and the
        // server's bind: then uvicorn exits, and we try another port.
        let mut attempt = 0;
        loop {
            attempt += 1;
            let port = free_port();
            match Self::try_start(python, model, dir, port).await {
                Ok(server) => return server,
                Err(tail) if attempt < 3 && tail.contains("address already in use") => continue,
                Err(tail) => panic!("llama_cpp.server did not come up on :{port}:\n{tail}"),
            }
        }
    }

    async fn try_start(python: &Path, model: &Path, dir: &Path, port: u16) -> Result<Self, String> {
        let log = dir.join(format!("llama-cpp-python-{port}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        let port_arg = port.to_string();
        let model_arg = model.to_string_lossy();
        let child = Command::new(python)
            .args(["-m", "llama_cpp.server", "--model", &model_arg])
            .args(["--model_alias", ALIAS])
            .args(["--host", "127.0.0.1", "--port", &port_arg])
            .args(["--n_ctx", "2048"])
            // Two cores, shared with builds: one thread avoids OpenMP
            // spinning against the compiler.
            .args(["--n_threads", "1", "--n_threads_batch", "1"])
            // Its default cuts a running stream short (a bare `[DONE]`)
            // whenever another request waits for the model, and Sovra's
            // health probe (`GET /v1/models`) waits for it too.
            .args(["--interrupt_requests", "false"])
            // Its settings also come from the environment (pydantic-settings):
            // an operator's API_KEY would make every call here a 401.
            .env_remove("API_KEY")
            .env_remove("CONFIG_FILE")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {}: {e}", python.display()));
        let mut server = Self { child, port, log };
        server.wait_ready(Duration::from_secs(120)).await?;
        Ok(server)
    }

    /// Until `GET /v1/models` answers 200 (the model is loaded by then).
    async fn wait_ready(&mut self, limit: Duration) -> Result<(), String> {
        let client = reqwest::Client::new();
        let url = format!("{}/models", self.base());
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("it exited ({status}):\n{}", self.log_tail()));
            }
            if let Ok(r) = client
                .get(&url)
                .timeout(Duration::from_secs(5))
                .send()
                .await
                && r.status().is_success()
            {
                return Ok(());
            }
            if started.elapsed() > limit {
                return Err(format!(
                    "GET {url} did not answer within {limit:?}:\n{}",
                    self.log_tail()
                ));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The OpenAI API root, as a backend `url`.
    fn base(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn log_tail(&self) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Chat completions it answered, from uvicorn's access log.
    fn chat_requests(&self) -> usize {
        self.log_text()
            .lines()
            .filter(|l| l.contains("\"POST /v1/chat/completions HTTP/1.1\" 200"))
            .count()
    }
}

/// `sovra serve` with the llama.cpp server as its only backend; Sovra itself
/// loads no model (`[engine] kind = "sim"`, no embeddings).
///
/// Active probes every 300 ms: llama_cpp.server serves one request at a
/// time and its `GET /v1/models` waits behind a running generation, so the
/// router must not count a probe stuck behind a stream it is receiving
/// tokens from as a failure.
async fn sovra_in_front_of(engine: &LlamaServer, dir: &Path) -> Sovra {
    let config = dir.join("sovra.toml");
    let text = format!(
        "[engine]\nkind = \"sim\"\n[embeddings]\nenabled = false\n\
         [sovereignty]\nallowed_jurisdictions = [\"EE\"]\n\
         [router]\nprobe_interval_ms = 300\n\
         [[backends]]\nname = \"llama-cpp-python\"\nurl = \"{}\"\n\
         models = [\"{PUBLIC}={ALIAS}\"]\njurisdiction = \"EE\"\nsite = \"this-host\"\n",
        engine.base()
    );
    std::fs::write(&config, text).unwrap();
    // The operator's key: the fleet's admin API is a platform admin's.
    const OPERATOR: &str = "sk-sovra-real-engine-operator-0123456789";
    let mut sovra = Sovra::serve(
        &bin(),
        &dir.join("data"),
        &["--config", &config.to_string_lossy()],
        &[("SOVRA_AUTH_API_KEYS", &format!("[\"{OPERATOR}\"]"))],
    )
    .await
    .unwrap_or_else(|e| panic!("sovra serve in front of llama-cpp-python: {e:#}"));
    sovra.use_key(OPERATOR);
    sovra
}

fn question(stream: bool) -> Value {
    let mut body = json!({
        "model": PUBLIC,
        "messages": [{"role": "user", "content": "What is the capital of France?"}],
        "max_tokens": 24,
        "temperature": 0,
    });
    if stream {
        body["stream"] = json!(true);
        body["stream_options"] = json!({"include_usage": true});
    }
    body
}

/// The backend's entry in `/admin/backends`.
async fn admin_entry(sovra: &Sovra) -> Value {
    let (status, admin) = sovra.get("/admin/backends").await.unwrap();
    assert_eq!(status, 200, "{admin}");
    admin["backends"]
        .as_array()
        .and_then(|b| b.iter().find(|b| b["name"] == "llama-cpp-python"))
        .cloned()
        .unwrap_or_else(|| panic!("no llama-cpp-python backend in {admin}"))
}

#[tokio::test]
#[ignore = "needs llama-cpp-python[server]: scripts/test runs it with SOVRA_LLAMA_CPP_PYTHON set"]
async fn llama_cpp_python_answers_through_the_router_streaming_and_not() {
    let python = python();
    let model = default_model_path();
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let engine = LlamaServer::start(&python, &model, dir.path()).await;
    eprintln!(
        "llama_cpp.server up on :{} in {:?}",
        engine.port,
        started.elapsed()
    );
    let sovra = sovra_in_front_of(&engine, dir.path()).await;

    let (_, models) = sovra.get("/v1/models").await.unwrap();
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert_eq!(ids, vec![PUBLIC], "{models}");

    // Not streaming: one OpenAI chat.completion.
    let (status, body) = sovra
        .post("/v1/chat/completions", &question(false))
        .await
        .unwrap();
    assert_eq!(
        status,
        200,
        "{body}\nllama_cpp.server log:\n{}",
        engine.log_tail()
    );
    assert!(
        body["id"].as_str().unwrap().starts_with("chatcmpl-"),
        "{body}"
    );
    assert_eq!(body["object"], "chat.completion", "{body}");
    assert_eq!(body["model"], PUBLIC, "clients see the public name: {body}");
    assert!(body["created"].as_u64().unwrap() > 0, "{body}");
    let choice = &body["choices"][0];
    assert_eq!(choice["index"], 0, "{body}");
    assert_eq!(choice["message"]["role"], "assistant", "{body}");
    let answer = choice["message"]["content"].as_str().unwrap();
    assert!(!answer.trim().is_empty(), "{body}");
    let finish = choice["finish_reason"].as_str().unwrap();
    assert!(["stop", "length"].contains(&finish), "{body}");
    let usage = body["usage"].clone();
    let prompt_tokens = usage["prompt_tokens"].as_u64().unwrap();
    let completion_tokens = usage["completion_tokens"].as_u64().unwrap();
    assert!(completion_tokens > 0, "{body}");
    assert_eq!(
        usage["total_tokens"].as_u64().unwrap(),
        prompt_tokens + completion_tokens,
        "{body}"
    );
    eprintln!("not streamed ({finish}, {usage}): {answer:?}");

    // Streaming, with the usage chunk asked for.
    let response = sovra.send("/v1/chat/completions", &question(true)).await;
    let status = response.status();
    if status != 200 {
        let body = response.text().await.unwrap_or_default();
        panic!(
            "streaming: {status} {body}\nadmin: {}",
            admin_entry(&sovra).await
        );
    }
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
    let events = sse_events(response).await.unwrap();
    assert_eq!(
        events.last().map(String::as_str),
        Some("[DONE]"),
        "{events:?}\nllama_cpp.server log:\n{}",
        engine.log_tail()
    );
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap_or_else(|_| panic!("not JSON: {e}")))
        .collect();
    assert!(chunks.len() >= 3, "{events:?}");
    let id = chunks[0]["id"].as_str().unwrap();
    assert!(id.starts_with("chatcmpl-"), "{events:?}");
    for chunk in &chunks {
        assert_eq!(chunk["object"], "chat.completion.chunk", "{chunk}");
        assert_eq!(chunk["id"], id, "one id for the whole stream: {chunk}");
        assert_eq!(chunk["model"], PUBLIC, "{chunk}");
    }
    let text = stream_text(&events);
    assert!(!text.trim().is_empty(), "{events:?}");
    let finishes: Vec<&str> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["finish_reason"].as_str())
        .collect();
    assert_eq!(finishes.len(), 1, "one finish_reason: {events:?}");
    assert!(["stop", "length"].contains(&finishes[0]), "{events:?}");
    // include_usage: a last chunk with no choices and the counts.
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"], json!([]), "{last}");
    let stream_usage = last["usage"].clone();
    let stream_completion_tokens = stream_usage["completion_tokens"].as_u64().unwrap();
    assert!(stream_completion_tokens > 0, "{last}");
    eprintln!(
        "streamed in {} chunks ({}, {stream_usage}): {text:?}",
        chunks.len(),
        finishes[0]
    );
    // Greedy decoding, the same question: the same length both ways. A
    // stream the engine cut short (it ends a stream with a bare `[DONE]`,
    // no finish_reason, when `interrupt_requests` is on and another request
    // waits) would be shorter.
    assert_eq!(
        (finishes[0], stream_completion_tokens),
        (finish, completion_tokens),
        "streamed {text:?}, not streamed {answer:?}"
    );

    // Both went to the real engine, and the router counted them.
    let entry = admin_entry(&sovra).await;
    assert!(entry["served"].as_u64().unwrap() >= 2, "{entry}");
    assert_eq!(entry["state"], "healthy", "{entry}");
    assert!(
        engine.chat_requests() >= 2,
        "llama_cpp.server log:\n{}",
        engine.log_tail()
    );

    // llama_cpp.server ignores `stream_options.include_usage` (its streams
    // carry no usage) and the router always streams from a backend: the
    // router estimates the prompt's tokens then.
    for (what, usage) in [("not streamed", &usage), ("streamed", &stream_usage)] {
        assert!(
            usage["prompt_tokens"].as_u64().unwrap() > 0,
            "{what}: usage {usage} counts no prompt tokens"
        );
    }

    // A generation of several seconds (longer than the probe's 2 s timeout
    // on a busy machine): the probes that would wait behind it are skipped
    // while tokens flow, so the backend stays healthy and the next request
    // is served (not a 503).
    let mut long = question(true);
    long["messages"][0]["content"] = json!("Count from 1 to 500, separated by commas.");
    long["max_tokens"] = json!(120);
    // SmolLM2's end tokens (<|endoftext|>, <|im_end|>) banned: all 120 come.
    long["logit_bias"] = json!({"0": -100, "2": -100});
    let began = Instant::now();
    let events = sse_events(sovra.send("/v1/chat/completions", &long).await)
        .await
        .unwrap();
    assert_eq!(
        events.last().map(String::as_str),
        Some("[DONE]"),
        "{events:?}"
    );
    eprintln!("120-token stream took {:?}", began.elapsed());
    let entry = admin_entry(&sovra).await;
    assert_eq!(entry["state"], "healthy", "{entry}");
    let (status, body) = sovra
        .post("/v1/chat/completions", &question(false))
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");

    let status = sovra.stop().await.unwrap();
    assert!(status.success(), "sovra exited with {status}");
}
