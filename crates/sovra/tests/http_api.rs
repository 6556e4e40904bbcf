//! The real `sovra` binary on a free port, with the simulated engine: the
//! OpenAI wire format, errors and limits, persistence across restarts,
//! graceful shutdown, health, metrics and the web page.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use sovra_testkit::{Sovra, sse_chunks, sse_events, stream_text};

const BIN: &str = env!("CARGO_BIN_EXE_sovra");

/// A fast simulated model: no delays. Later `env` entries override these.
const FAST: &[(&str, &str)] = &[
    ("SOVRA_ENGINE_SIM_TTFT_MS", "0"),
    ("SOVRA_ENGINE_SIM_TOKENS_PER_SECOND", "0"),
];

/// A simulated model with a real time to first token and token rate.
async fn paced(dir: &Path, ttft_ms: &str, tokens_per_second: &str) -> Sovra {
    sim(
        dir,
        &[
            ("SOVRA_ENGINE_SIM_TTFT_MS", ttft_ms),
            ("SOVRA_ENGINE_SIM_TOKENS_PER_SECOND", tokens_per_second),
        ],
    )
    .await
}

async fn sim(dir: &Path, env: &[(&str, &str)]) -> Sovra {
    let mut all: Vec<(&str, &str)> = FAST.to_vec();
    all.extend_from_slice(env);
    Sovra::serve(Path::new(BIN), dir, &["--engine", "sim"], &all)
        .await
        .expect("sovra starts")
}

fn chat(content: &str) -> Value {
    json!({"model": "sim", "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": content}]})
}

#[tokio::test]
async fn non_streaming_chat_has_openai_shape() {
    let dir = tempfile::tempdir().unwrap();
    let s = sim(dir.path(), &[]).await;
    let (status, body) = s
        .post("/v1/chat/completions", &chat("hello world"))
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(body["object"], "chat.completion");
    assert!(body["created"].as_u64().unwrap() > 1_700_000_000);
    assert_eq!(body["model"], "sim");
    assert!(
        body["system_fingerprint"]
            .as_str()
            .unwrap()
            .starts_with("fp_")
    );
    let choice = &body["choices"][0];
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["message"]["role"], "assistant");
    assert!(
        choice["message"]["content"]
            .as_str()
            .unwrap()
            .starts_with("You said: hello world.")
    );
    assert!(
        choice["message"]
            .as_object()
            .unwrap()
            .contains_key("refusal")
    );
    assert!(choice["logprobs"].is_null());
    assert_eq!(choice["finish_reason"], "stop");
    let u = &body["usage"];
    assert_eq!(
        u["total_tokens"].as_u64(),
        Some(u["prompt_tokens"].as_u64().unwrap() + u["completion_tokens"].as_u64().unwrap())
    );
    s.stop().await.unwrap();
}

#[tokio::test]
async fn streaming_chat_frames_like_openai() {
    let dir = tempfile::tempdir().unwrap();
    let s = sim(dir.path(), &[]).await;
    let (_, plain) = s
        .post("/v1/chat/completions", &chat("stream me"))
        .await
        .unwrap();
    let mut req = chat("stream me");
    req["stream"] = json!(true);
    req["stream_options"] = json!({"include_usage": true});
    let r = s.send("/v1/chat/completions", &req).await;
    assert_eq!(r.status(), 200);
    let chunks = sse_chunks(r).await.unwrap();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let id = chunks[0]["id"].clone();
    assert!(
        chunks
            .iter()
            .all(|c| c["id"] == id && c["object"] == "chat.completion.chunk")
    );
    // Same text as the non-streaming answer.
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(
        text,
        plain["choices"][0]["message"]["content"].as_str().unwrap()
    );
    // The finish chunk, then the usage chunk with no choices.
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    assert_eq!(finish["choices"][0]["delta"], json!({}));
    let usage = &chunks[chunks.len() - 1];
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"], plain["usage"]);
    assert!(chunks[1]["usage"].is_null() && chunks[1].as_object().unwrap().contains_key("usage"));
    s.stop().await.unwrap();
}

#[tokio::test]
async fn max_tokens_and_stop_are_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let s = sim(dir.path(), &[]).await;
    let mut req = chat("one two three");
    req["max_tokens"] = json!(3);
    let (_, body) = s.post("/v1/chat/completions", &req).await.unwrap();
    assert_eq!(body["choices"][0]["finish_reason"], "length");
    assert_eq!(body["usage"]["completion_tokens"], 3);
    let mut req = chat("one two three");
    req["stop"] = json!(["two"]);
    let (_, body) = s.post("/v1/chat/completions", &req).await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "You said: one ");
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    s.stop().await.unwrap();
}

async fn expect_error(s: &Sovra, body: &str, status: u16, param: Option<&str>) -> Value {
    let r = s
        .client
        .post(s.url("/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        status,
        "for {}",
        &body[..body.len().min(80)]
    );
    let v: Value = r.json().await.unwrap();
    let e = &v["error"];
    assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    assert!(e["type"].is_string());
    assert!(
        e.as_object().unwrap().contains_key("param") && e.as_object().unwrap().contains_key("code")
    );
    assert_eq!(e["param"].as_str(), param, "{v}");
    v
}

#[tokio::test]
async fn bad_requests_get_clear_openai_errors() {
    let dir = tempfile::tempdir().unwrap();
    let s = sim(
        dir.path(),
        &[
            ("SOVRA_LIMITS_MAX_BODY_BYTES", "4096"),
            ("SOVRA_LIMITS_MAX_COMPLETION_TOKENS", "100"),
        ],
    )
    .await;
    let v = expect_error(&s, "{not json", 400, None).await;
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("could not parse the JSON")
    );
    let v = expect_error(
        &s,
        r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#,
        404,
        Some("model"),
    )
    .await;
    assert_eq!(v["error"]["code"], "model_not_found");
    expect_error(&s, r#"{"model":"sim"}"#, 400, None).await;
    expect_error(
        &s,
        r#"{"model":"sim","messages":[]}"#,
        400,
        Some("messages"),
    )
    .await;
    expect_error(
        &s,
        r#"{"model":"sim","messages":[{"role":"wizard","content":"x"}]}"#,
        400,
        None,
    )
    .await;
    // One bad parameter at a time on an otherwise valid request.
    let cases = [
        (json!({"n": 2}), "n"),
        (json!({"max_tokens": 101}), "max_tokens"),
        (json!({"max_completion_tokens": 0}), "max_completion_tokens"),
        (json!({"temperature": 3}), "temperature"),
        (json!({"top_p": 1.5}), "top_p"),
        (json!({"stop": ["a", "b", "c", "d", "e"]}), "stop"),
        (
            json!({"stream_options": {"include_usage": true}}),
            "stream_options",
        ),
    ];
    for (extra, param) in cases {
        let mut body = json!({"model": "sim", "messages": [{"role": "user", "content": "x"}]});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        expect_error(&s, &body.to_string(), 400, Some(param)).await;
    }
    let big = format!(
        r#"{{"model":"sim","messages":[{{"role":"user","content":"{}"}}]}}"#,
        "a".repeat(10_000)
    );
    let v = expect_error(&s, &big, 413, None).await;
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max_body_bytes")
    );
    // A prompt longer than the context is refused before streaming starts.
    let long = json!({"model":"sim","stream":true,"messages":[{"role":"user","content":"word ".repeat(700)}]});
    let s2 = sim(dir.path(), &[("SOVRA_ENGINE_CONTEXT", "256")]).await;
    let (status, v) = s2.post("/v1/chat/completions", &long).await.unwrap();
    assert_eq!(status, 400);
    assert_eq!(v["error"]["code"], "context_length_exceeded");
    // Unknown routes answer in JSON too.
    let (status, v) = s.get("/v1/nothing-here").await.unwrap();
    assert_eq!(status, 404);
    assert_eq!(v["error"]["code"], "unknown_url");
    s.stop().await.unwrap();
    s2.stop().await.unwrap();
}

#[tokio::test]
async fn models_are_listed() {
    let dir = tempfile::tempdir().unwrap();
    let s = sim(dir.path(), &[]).await;
    let (status, list) = s.get("/v1/models").await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(list["object"], "list");
    assert_eq!(list["data"][0]["id"], "sim");
    assert_eq!(list["data"][0]["object"], "model");
    let (status, one) = s.get("/v1/models/sim").await.unwrap();
    assert_eq!((status, one["id"].as_str()), (200, Some("sim")));
    let (status, _) = s.get("/v1/models/other").await.unwrap();
    assert_eq!(status, 404);
    s.stop().await.unwrap();
}

/// The web chat's JSON as the anonymous person this test calls "me".
async fn as_me(
    s: &Sovra,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = s.as_person(method, path, "me").await;
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn send_message(s: &Sovra, conversation: &str, content: &str) -> String {
    let r = s
        .as_person(
            reqwest::Method::POST,
            &format!("/api/conversations/{conversation}/messages"),
            "me",
        )
        .await
        .json(&json!({"content": content}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let events = sse_events(r).await.unwrap();
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    stream_text(&events)
}

#[tokio::test]
async fn conversation_history_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let s = sim(dir.path(), &[]).await;
    let (status, conv) = as_me(
        &s,
        reqwest::Method::POST,
        "/api/conversations",
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 201);
    let id = conv["id"].as_str().unwrap().to_owned();
    let first = send_message(&s, &id, "How do I renew my passport?").await;
    let second = send_message(&s, &id, "And for a child?").await;
    assert!(first.starts_with("You said: How do I renew my passport?"));
    let me = s.person("me").await;
    assert_eq!(s.stop().await.unwrap().code(), Some(0));

    // The browser keeps its cookie across the restart.
    let s = sim(dir.path(), &[]).await;
    s.adopt("me", me);
    let path = format!("/api/conversations/{id}");
    let (status, got) = as_me(&s, reqwest::Method::GET, &path, None).await;
    assert_eq!(status, 200);
    let msgs = got["messages"].as_array().unwrap();
    let pairs: Vec<(&str, &str)> = msgs
        .iter()
        .map(|m| (m["role"].as_str().unwrap(), m["content"].as_str().unwrap()))
        .collect();
    assert_eq!(
        pairs,
        vec![
            ("user", "How do I renew my passport?"),
            ("assistant", first.as_str()),
            ("user", "And for a child?"),
            ("assistant", second.as_str()),
        ]
    );
    assert_eq!(got["title"], "How do I renew my passport?");
    assert_eq!(msgs[1]["usage"]["finish_reason"], "stop");
    let (_, list) = as_me(&s, reqwest::Method::GET, "/api/conversations", None).await;
    assert_eq!(list["data"][0]["id"], id.as_str());
    // Delete removes it for good.
    let (status, _) = as_me(&s, reqwest::Method::DELETE, &path, None).await;
    assert_eq!(status, 204);
    let (status, _) = as_me(&s, reqwest::Method::GET, &path, None).await;
    assert_eq!(status, 404);
    s.stop().await.unwrap();
}

#[tokio::test]
async fn sigterm_lets_a_running_stream_finish() {
    let dir = tempfile::tempdir().unwrap();
    // 48 tokens at 40 tok/s: about 1.2 s of streaming.
    let s = paced(dir.path(), "50", "40").await;
    let mut req = chat("keep talking");
    req["stream"] = json!(true);
    let r = s.send("/v1/chat/completions", &req).await;
    let reader = tokio::spawn(sse_events(r));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let base = s.base.clone();
    s.signal("TERM").unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    // No new connections while draining.
    let refused = reqwest::Client::new()
        .get(format!("{base}/healthz"))
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    assert!(
        refused.is_err(),
        "a new request was accepted during shutdown"
    );
    let events = reader.await.unwrap().unwrap();
    assert_eq!(
        events.last().map(String::as_str),
        Some("[DONE]"),
        "the stream was cut: {events:?}"
    );
    assert!(stream_text(&events).starts_with("You said: keep talking."));
    let status = s.stop_within(Duration::from_secs(10)).await;
    // The process has already exited after the stream, or exits now.
    assert!(status.map(|s| s.success()).unwrap_or(true));
}

#[tokio::test]
async fn health_readiness_metrics_and_request_ids() {
    let dir = tempfile::tempdir().unwrap();
    let s = sim(dir.path(), &[]).await;
    let (status, h) = s.get("/healthz").await.unwrap();
    assert_eq!((status, h["status"].as_str()), (200, Some("ok")));
    let (status, r) = s.get("/readyz").await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(r["checks"]["model_loaded"], true);
    assert_eq!(r["checks"]["store_open"], true);
    let mut req = chat("count me");
    req["stream"] = json!(true);
    let resp = s.send("/v1/chat/completions", &req).await;
    assert!(resp.headers().contains_key("x-request-id"));
    sse_events(resp).await.unwrap();
    let text = s
        .client
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "sovra_http_requests_total",
        "sovra_completion_tokens_total",
        "sovra_prompt_tokens_total",
        "sovra_time_to_first_token_seconds_bucket",
        "sovra_generation_tokens_per_second_bucket",
    ] {
        assert!(text.contains(name), "{name} missing from /metrics:\n{text}");
    }
    assert!(text.contains("route=\"/v1/chat/completions\""));
    s.stop().await.unwrap();
}

#[tokio::test]
async fn web_chat_page_is_served_from_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let s = sim(dir.path(), &[]).await;
    let r = s.client.get(s.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("default-src 'self'"));
    let html = r.text().await.unwrap();
    assert!(html.contains("Sovra"));
    assert!(html.contains("/assets/app.js") && html.contains("/assets/app.css"));
    // Nothing is loaded from outside the server.
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "external reference in page"
    );
    for asset in ["/assets/app.js", "/assets/app.css"] {
        let r = s.client.get(s.url(asset)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{asset}");
        let body = r.text().await.unwrap();
        assert!(
            !body.contains("https://"),
            "{asset} references an external URL"
        );
    }
    s.stop().await.unwrap();
}

#[tokio::test]
async fn config_errors_name_the_setting() {
    let out = std::process::Command::new(BIN)
        .args(["serve", "--engine", "sim"])
        .env("SOVRA_ENGINE_PARALLEL", "lots")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("engine.parallel") && err.contains("SOVRA_ENGINE_PARALLEL"),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("sovra.toml");
    std::fs::write(
        &cfg,
        "listen = \"127.0.0.1:1\"\n[engine]\nkind = \"quantum\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        err.contains("engine.kind") && err.contains("quantum"),
        "{err}"
    );
}

#[tokio::test]
async fn sim_node_serves_the_openai_api() {
    let dir = tempfile::tempdir().unwrap();
    let port = sovra_testkit::free_port();
    let listen = format!("127.0.0.1:{port}");
    let s = Sovra::start(
        Path::new(BIN),
        &[
            "sim-node",
            "--listen",
            &listen,
            "--model",
            "node-a",
            "--ttft-ms",
            "0",
            "--tokens-per-second",
            "0",
        ],
        &[],
        port,
        dir.path(),
    )
    .await
    .unwrap();
    let mut req = chat("ping");
    req["model"] = json!("node-a");
    let (status, body) = s.post("/v1/chat/completions", &req).await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["model"], "node-a");
    s.stop().await.unwrap();
}

#[tokio::test]
async fn terminal_chat_streams_and_keeps_the_conversation() {
    let dir = tempfile::tempdir().unwrap();
    // A key of the public tenant: the terminal chats as its own subject.
    let (ok, made) = sovra_testkit::sovra_admin(
        Path::new(BIN),
        dir.path(),
        &["key", "create", "--name", "terminal", "--tenant", "public"],
        None,
    );
    assert!(ok, "{made}");
    let made: Value = serde_json::Deserializer::from_str(&made[made.find('{').unwrap()..])
        .into_iter::<Value>()
        .next()
        .unwrap()
        .unwrap();
    let key = made["secret"].as_str().unwrap().to_owned();
    let mut s = sim(dir.path(), &[]).await;
    let out = tokio::task::spawn_blocking({
        let base = s.base.clone();
        let key = key.clone();
        move || {
            use std::io::Write;
            let mut child = std::process::Command::new(BIN)
                .args(["chat", "--url", &base, "--api-key", &key])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            child
                .stdin
                .take()
                .unwrap()
                .write_all(b"hello from the terminal\nsecond question\n/quit\n")
                .unwrap();
            child.wait_with_output().unwrap()
        }
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("You said: hello from the terminal."),
        "{stdout}"
    );
    assert!(stdout.contains("You said: second question."), "{stdout}");
    // Both turns are in one stored conversation, the key's.
    s.use_key(&key);
    let (_, list) = s.get("/api/conversations").await.unwrap();
    let id = list["data"][0]["id"].as_str().unwrap();
    let (_, conv) = s.get(&format!("/api/conversations/{id}")).await.unwrap();
    assert_eq!(conv["messages"].as_array().unwrap().len(), 4);
    s.stop().await.unwrap();
}

#[tokio::test]
async fn json_logs_carry_request_ids() {
    let dir = tempfile::tempdir().unwrap();
    let s = Sovra::serve(
        Path::new(BIN),
        dir.path(),
        &["--engine", "sim", "--log-format", "json"],
        FAST,
    )
    .await
    .unwrap();
    let r = s
        .client
        .get(s.url("/v1/models"))
        .header("x-request-id", "req-abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "req-abc-123");
    let log = s.log.clone();
    s.stop().await.unwrap();
    let text = std::fs::read_to_string(log).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(
        !lines.is_empty() && lines.len() == text.lines().count(),
        "not all log lines are JSON:\n{text}"
    );
    assert!(
        text.contains("req-abc-123"),
        "request id missing from logs:\n{text}"
    );
}

#[tokio::test]
async fn bench_measures_a_server() {
    let dir = tempfile::tempdir().unwrap();
    let s = paced(dir.path(), "30", "200").await;
    let url = format!("{}/v1", s.base);
    let out = tokio::process::Command::new(BIN)
        .args([
            "bench",
            "--url",
            &url,
            "--concurrency",
            "1,4",
            "--requests",
            "2",
            "--max-tokens",
            "16",
        ])
        .args(["--prefill-words", "100", "--json"])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["model"], "sim");
    let levels = report["levels"].as_array().unwrap();
    assert_eq!(levels.len(), 2);
    for (level, conc) in levels.iter().zip([1, 4]) {
        assert_eq!(level["concurrency"], conc);
        assert_eq!(level["requests"], conc * 2);
        assert_eq!(level["mean_completion_tokens"], 16.0);
        // 30 ms to the first token, then 200 tok/s per stream.
        let ttft = level["ttft_median_s"].as_f64().unwrap();
        assert!((0.025..0.5).contains(&ttft), "ttft {ttft}");
        let rate = level["stream_decode_tok_s_median"].as_f64().unwrap();
        assert!((50.0..260.0).contains(&rate), "stream rate {rate}");
    }
    // Four streams in parallel produce more tokens per second than one.
    let agg = |i: usize| levels[i]["aggregate_tok_s"].as_f64().unwrap();
    assert!(
        agg(1) > 2.0 * agg(0),
        "aggregate 1: {} 4: {}",
        agg(0),
        agg(1)
    );
    assert!(report["prefill"]["prompt_tok_s"].as_f64().unwrap() > 0.0);
    s.stop().await.unwrap();
}

#[tokio::test]
async fn a_taken_port_is_an_error_not_another_server() {
    // The test kit retries `serve` on this error; here it must surface.
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let listen = format!("127.0.0.1:{port}");
    let err = Sovra::start(
        Path::new(BIN),
        &[
            "serve",
            "--engine",
            "sim",
            "--listen",
            &listen,
            "--data-dir",
            &dir.path().to_string_lossy(),
        ],
        &[],
        port,
        dir.path(),
    )
    .await
    .err()
    .expect("a server on a taken port must not count as ready");
    assert!(format!("{err:#}").contains("could not listen"), "{err:#}");
}

/// With `auth.api_keys` set, `/v1` and `/admin` need one of the keys as a
/// bearer token and answer OpenAI's 401 otherwise; probes, the web page and
/// the OpenAPI document stay open.
#[tokio::test]
async fn api_keys_guard_the_openai_api() {
    let dir = tempfile::tempdir().unwrap();
    let key = "sk-sovra-test-0123456789abcdef";
    let keys = format!("[\"{key}\"]");
    let s = sim(dir.path(), &[("SOVRA_AUTH_API_KEYS", &keys)]).await;
    let missing = s.client.get(s.url("/v1/models")).send().await.unwrap();
    assert_eq!(missing.status(), 401);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("didn't provide an API key")
    );
    let wrong = s
        .client
        .post(s.url("/v1/chat/completions"))
        .bearer_auth("sk-sovra-wrong-0123456789abcdef")
        .json(&chat("hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let body: Value = wrong.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_api_key");
    let shown = body["error"]["message"].as_str().unwrap();
    assert!(
        !shown.contains("wrong-0123"),
        "the key is not echoed: {shown}"
    );
    let ok = s
        .client
        .post(s.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(&chat("hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    for open in ["/healthz", "/readyz", "/openapi.json", "/"] {
        let r = s.client.get(s.url(open)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{open}");
    }
    s.stop().await.unwrap();
    // A key too short to be a secret is refused at start.
    let dir = tempfile::tempdir().unwrap();
    let err = Sovra::serve(
        Path::new(BIN),
        dir.path(),
        &["--engine", "sim"],
        &[("SOVRA_AUTH_API_KEYS", "[\"short\"]")],
    )
    .await
    .err()
    .map(|e| format!("{e:#}"))
    .unwrap_or_default();
    assert!(err.contains("auth.api_keys"), "{err}");
}

/// `sovra serve` speaks cleartext HTTP/2 (prior knowledge) on the same port
/// as HTTP/1.1, as an L7 load balancer in front of it may: many streams on
/// one connection.
#[tokio::test]
async fn cleartext_http2_serves_many_streams_on_one_connection() {
    let dir = tempfile::tempdir().unwrap();
    let s = sim(dir.path(), &[]).await;
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let body = json!({
        "model": "sim", "stream": true, "max_tokens": 4,
        "messages": [{"role": "user", "content": "hello"}],
    });
    let requests = (0..20).map(|_| h2.post(s.url("/v1/chat/completions")).json(&body).send());
    for response in futures::future::join_all(requests).await {
        let response = response.unwrap();
        assert_eq!(response.version(), reqwest::Version::HTTP_2);
        assert_eq!(response.status(), 200);
        let events = sse_events(response).await.unwrap();
        assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    }
}
