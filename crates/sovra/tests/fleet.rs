//! The fleet router with real processes: several `sovra sim-node`s behind a
//! `sovra serve` configured with `[[backends]]`, spoken to over HTTP.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sovra_testkit::{Sovra, free_port, sse_events};

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_sovra"))
}

/// The operator's key: the fleet's admin API is a platform admin's, and
/// these tests act as the operator throughout (tenants get keys of their own).
const OPERATOR: &str = "sk-sovra-fleet-test-operator-0123456789";

/// A simulated node serving `model` on a free port.
async fn node(dir: &Path, model: &str, extra: &[&str]) -> Sovra {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut args = vec!["sim-node", "--listen", &listen, "--model", model];
    args.extend_from_slice(extra);
    Sovra::start(&bin(), &args, &[], port, dir).await.unwrap()
}

fn backend(name: &str, node: &Sovra, models: &[&str], jurisdiction: &str) -> String {
    let models: Vec<String> = models.iter().map(|m| format!("\"{m}\"")).collect();
    format!(
        "[[backends]]\nname = \"{name}\"\nurl = \"{}/v1\"\nmodels = [{}]\njurisdiction = \"{jurisdiction}\"\nsite = \"site-{name}\"\n",
        node.base,
        models.join(", ")
    )
}

/// A backend entry that takes at most `n` requests at once.
fn limited(entry: String, n: u32) -> String {
    format!("{entry}max_concurrency = {n}\n")
}

fn write_config(path: &Path, router: &str, backends: &[String]) {
    let text = format!(
        "[sovereignty]\nallowed_jurisdictions = [\"EE\"]\n[router]\n{router}\n{}",
        backends.join("\n")
    );
    std::fs::write(path, text).unwrap();
}

async fn serve(dir: &Path, config: &Path) -> anyhow::Result<Sovra> {
    let keys = format!("[\"{OPERATOR}\"]");
    let mut s = Sovra::serve(
        &bin(),
        &dir.join("data"),
        &["--config", &config.to_string_lossy()],
        &[("SOVRA_AUTH_API_KEYS", &keys)],
    )
    .await?;
    s.use_key(OPERATOR);
    Ok(s)
}

/// A tenant at `path` and a service key of it (its requests are queued in its share).
async fn tenant_key(sovra: &Sovra, path: &str) -> String {
    let (status, body) = sovra
        .post("/admin/tenants", &json!({"path": path, "kind": "team"}))
        .await
        .unwrap();
    assert_eq!(status, 201, "{body}");
    let (status, key) = sovra
        .post(
            "/admin/keys",
            &json!({"name": path, "tenant": path, "service": true}),
        )
        .await
        .unwrap();
    assert_eq!(status, 201, "{key}");
    key["secret"].as_str().unwrap().to_owned()
}

fn chat(model: &str, system: &str, user: &str) -> Value {
    json!({
        "model": model,
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
        "max_tokens": 8,
    })
}

/// `served` per backend name, from the admin API.
async fn served(sovra: &Sovra) -> Vec<(String, u64)> {
    let (status, body) = sovra.get("/admin/backends").await.unwrap();
    assert_eq!(status, 200, "{body}");
    body["backends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["name"].as_str().unwrap().to_owned(),
                b["served"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Chat completions a node answered, from its own metrics.
async fn node_chat_requests(node: &Sovra) -> u64 {
    let text = node
        .client
        .get(node.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| {
            l.starts_with("sovra_http_requests_total") && l.contains("/v1/chat/completions")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

#[tokio::test]
async fn a_foreign_backend_is_refused_at_load_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let ee = node(dir.path(), "sim", &[]).await;
    let us = node(dir.path(), "sim", &[]).await;
    let config = dir.path().join("sovra.toml");
    write_config(
        &config,
        "",
        &[
            backend("tallinn-gpu-01", &ee, &["sim"], "EE"),
            backend("virginia-gpu-01", &us, &["sim"], "US"),
        ],
    );
    let err = serve(dir.path(), &config)
        .await
        .err()
        .map(|e| format!("{e:#}"));
    let err = err.unwrap_or_default();
    assert!(err.contains("virginia-gpu-01"), "{err}");
    assert!(err.contains("allowed_jurisdictions"), "{err}");
    assert_eq!(node_chat_requests(&us).await, 0);
}

#[tokio::test]
async fn models_and_aliases_are_served_by_public_name() {
    let dir = tempfile::tempdir().unwrap();
    let a = node(dir.path(), "meta-llama-70b", &[]).await;
    let b = node(dir.path(), "smol", &[]).await;
    let config = dir.path().join("sovra.toml");
    write_config(
        &config,
        "",
        &[
            backend("a", &a, &["llama=meta-llama-70b"], "EE"),
            backend("b", &b, &["small=smol"], "EE"),
        ],
    );
    let sovra = serve(dir.path(), &config).await.unwrap();
    let (_, models) = sovra.get("/v1/models").await.unwrap();
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert_eq!(ids, vec!["llama", "small"]);
    let (status, body) = sovra
        .post("/v1/chat/completions", &chat("small", "s", "hi"))
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["model"], "small");
    assert!(
        body["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .starts_with("You said: hi")
    );
    assert_eq!(served(&sovra).await, vec![("a".into(), 0), ("b".into(), 1)]);
    let (status, _) = sovra
        .post("/v1/chat/completions", &chat("smol", "s", "hi"))
        .await
        .unwrap();
    assert_eq!(status, 404, "backend names are not public names");
}

#[tokio::test]
async fn a_dead_backend_is_failed_over_before_the_first_token_then_ejected() {
    let dir = tempfile::tempdir().unwrap();
    let a = node(dir.path(), "sim", &[]).await;
    let b = node(dir.path(), "sim", &[]).await;
    let config = dir.path().join("sovra.toml");
    write_config(
        &config,
        "policy = \"round-robin\"\nprobe_interval_ms = 0\neject_after_failures = 2",
        &[
            backend("a", &a, &["sim"], "EE"),
            backend("b", &b, &["sim"], "EE"),
        ],
    );
    let sovra = serve(dir.path(), &config).await.unwrap();
    a.stop().await.unwrap();
    for i in 0..6 {
        let (status, body) = sovra
            .post("/v1/chat/completions", &chat("sim", "s", &format!("q{i}")))
            .await
            .unwrap();
        assert_eq!(status, 200, "request {i}: {body}");
    }
    let (_, admin) = sovra.get("/admin/backends").await.unwrap();
    assert_eq!(admin["backends"][0]["state"], "ejected", "{admin}");
    assert_eq!(admin["backends"][1]["served"], 6, "{admin}");
    let metrics = sovra
        .client
        .get(sovra.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("sovra_router_retries_total{backend=\"a\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("sovra_router_ejections_total{backend=\"a\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "sovra_router_decisions_total{policy=\"round-robin\",reason=\"round_robin\"}"
        )
    );
}

#[tokio::test]
async fn a_failure_mid_stream_ends_with_an_sse_error_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let a = node(dir.path(), "sim", &["--fail-after-tokens", "3"]).await;
    let config = dir.path().join("sovra.toml");
    write_config(
        &config,
        "probe_interval_ms = 0",
        &[backend("a", &a, &["sim"], "EE")],
    );
    let sovra = serve(dir.path(), &config).await.unwrap();
    let mut body = chat("sim", "s", "tell me a long story please");
    body["stream"] = json!(true);
    body["max_tokens"] = json!(20);
    let response = sovra.send("/v1/chat/completions", &body).await;
    assert_eq!(response.status(), 200);
    let events = sse_events(response).await.unwrap();
    let last: Value = serde_json::from_str(events.last().unwrap()).unwrap();
    assert!(
        last["error"]["message"]
            .as_str()
            .unwrap()
            .contains("simulated failure"),
        "{events:?}"
    );
    assert!(!events.iter().any(|e| e == "[DONE]"), "{events:?}");
    let deltas = events
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(e).ok())
        .filter(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .is_some_and(|c| !c.is_empty())
        })
        .count();
    assert_eq!(deltas, 3, "{events:?}");
}

#[tokio::test]
async fn drain_reload_and_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let a = node(dir.path(), "sim", &[]).await;
    let b = node(dir.path(), "sim", &[]).await;
    let c = node(dir.path(), "sim", &[]).await;
    let config = dir.path().join("sovra.toml");
    let router = "policy = \"least-loaded\"\nprobe_interval_ms = 200";
    write_config(
        &config,
        router,
        &[
            backend("a", &a, &["sim"], "EE"),
            backend("b", &b, &["sim"], "EE"),
        ],
    );
    let sovra = serve(dir.path(), &config).await.unwrap();
    let (status, _) = sovra
        .post("/admin/backends/a/drain", &json!({}))
        .await
        .unwrap();
    assert_eq!(status, 200);
    for i in 0..4 {
        let (status, _) = sovra
            .post("/v1/chat/completions", &chat("sim", "s", &format!("{i}")))
            .await
            .unwrap();
        assert_eq!(status, 200);
    }
    assert_eq!(served(&sovra).await, vec![("a".into(), 0), ("b".into(), 4)]);
    let (status, _) = sovra
        .post("/admin/backends/nope/drain", &json!({}))
        .await
        .unwrap();
    assert_eq!(status, 404);

    // Reload over the admin API: b out, c in; a keeps its state (draining).
    write_config(
        &config,
        router,
        &[
            backend("a", &a, &["sim"], "EE"),
            backend("c", &c, &["sim"], "EE"),
        ],
    );
    let (status, body) = sovra
        .post("/admin/backends/reload", &json!({}))
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    let (_, admin) = sovra.get("/admin/backends").await.unwrap();
    assert_eq!(admin["backends"][0]["state"], "draining", "{admin}");
    assert_eq!(admin["backends"][1]["name"], "c", "{admin}");

    // A foreign backend in the new file: the reload is refused, naming it.
    write_config(
        &config,
        router,
        &[
            backend("a", &a, &["sim"], "EE"),
            backend("stockholm", &b, &["sim"], "SE"),
        ],
    );
    let (status, body) = sovra
        .post("/admin/backends/reload", &json!({}))
        .await
        .unwrap();
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("stockholm"),
        "{body}"
    );

    // SIGHUP re-reads the file too.
    write_config(&config, router, &[backend("b", &b, &["sim"], "EE")]);
    sovra.signal("HUP").unwrap();
    let mut names = Vec::new();
    for _ in 0..50 {
        names = served(&sovra).await.into_iter().map(|(n, _)| n).collect();
        if names == ["b"] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(names, ["b"]);
    sovra.stop().await.unwrap();
}

#[tokio::test]
async fn requests_sharing_a_long_prefix_go_to_the_same_node() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = Vec::new();
    for _ in 0..4 {
        nodes.push(node(dir.path(), "sim", &["--ttft-ms", "1"]).await);
    }
    let config = dir.path().join("sovra.toml");
    let backends: Vec<String> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| backend(&format!("n{i}"), n, &["sim"], "EE"))
        .collect();
    write_config(&config, "policy = \"prefix-aware\"", &backends);
    let sovra = serve(dir.path(), &config).await.unwrap();
    let systems = [
        "You are the assistant of the tax office. ".repeat(20),
        "You are the assistant of the health board. ".repeat(20),
    ];
    for i in 0..12 {
        let system = &systems[i % 2];
        let (status, _) = sovra
            .post(
                "/v1/chat/completions",
                &chat("sim", system, &format!("question {i}")),
            )
            .await
            .unwrap();
        assert_eq!(status, 200);
    }
    let counts: Vec<u64> = served(&sovra).await.into_iter().map(|(_, n)| n).collect();
    let mut sorted = counts.clone();
    sorted.sort_unstable();
    // Each system prompt stuck to one node.
    assert_eq!(sorted.iter().filter(|n| **n == 6).count(), 2, "{counts:?}");
    let metrics = sovra
        .client
        .get(sovra.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            "sovra_router_decisions_total{policy=\"prefix-aware\",reason=\"affinity_hit\"} 10"
        ),
        "{metrics}"
    );
}

#[tokio::test]
async fn when_no_allowed_backend_can_serve_the_client_gets_a_503_that_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let ee = node(dir.path(), "sim", &[]).await;
    let foreign = node(dir.path(), "sim", &[]).await;
    let config = dir.path().join("sovra.toml");
    let router = "probe_interval_ms = 100\neject_after_failures = 1";
    write_config(&config, router, &[backend("tallinn", &ee, &["sim"], "EE")]);
    let sovra = serve(dir.path(), &config).await.unwrap();
    // The foreign node can never join, even by reload.
    write_config(
        &config,
        router,
        &[
            backend("tallinn", &ee, &["sim"], "EE"),
            backend("dublin", &foreign, &["sim"], "IE"),
        ],
    );
    let (status, body) = sovra
        .post("/admin/backends/reload", &json!({}))
        .await
        .unwrap();
    assert_eq!(status, 400, "{body}");
    // Now the only allowed node dies, under concurrent load.
    ee.stop().await.unwrap();
    let requests = (0..16).map(|i| {
        let sovra = &sovra;
        async move {
            let r = sovra
                .client
                .post(sovra.url("/v1/chat/completions"))
                .json(&chat("sim", "s", &format!("{i}")))
                .send()
                .await
                .unwrap();
            let retry_after = r.headers().get("retry-after").is_some();
            (
                r.status().as_u16(),
                retry_after,
                r.json::<Value>().await.unwrap(),
            )
        }
    });
    for (status, retry_after, body) in futures::future::join_all(requests).await {
        assert_eq!(status, 503, "{body}");
        assert!(retry_after);
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("allowed jurisdictions [EE]"), "{message}");
    }
    assert_eq!(node_chat_requests(&foreign).await, 0);
}

#[tokio::test]
async fn a_short_request_stuck_on_a_slow_node_is_hedged() {
    let dir = tempfile::tempdir().unwrap();
    let slow = node(dir.path(), "sim", &["--ttft-ms", "5000"]).await;
    let fast = node(dir.path(), "sim", &["--ttft-ms", "5"]).await;
    let config = dir.path().join("sovra.toml");
    write_config(
        &config,
        "policy = \"round-robin\"\nprobe_interval_ms = 0\nhedge_after_ms = 100\nhedge_max_tokens = 16",
        &[
            backend("slow", &slow, &["sim"], "EE"),
            backend("fast", &fast, &["sim"], "EE"),
        ],
    );
    let sovra = serve(dir.path(), &config).await.unwrap();
    for i in 0..4 {
        let started = std::time::Instant::now();
        let (status, body) = sovra
            .post("/v1/chat/completions", &chat("sim", "s", &format!("q{i}")))
            .await
            .unwrap();
        assert_eq!(status, 200, "{body}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "request {i} took {:?}",
            started.elapsed()
        );
    }
    let metrics = sovra
        .client
        .get(sovra.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // Round-robin counts hedges as turns: 2 or 3 of the 4 start on the slow node.
    assert!(
        metrics.contains("sovra_router_hedges_total{backend=\"fast\"}"),
        "{metrics}"
    );
    assert!(
        !metrics.contains("sovra_router_hedges_total{backend=\"slow\"}"),
        "{metrics}"
    );
}

/// Poll `/admin/backends` until `reached` holds (a minute at most); that snapshot.
async fn until(sovra: &Sovra, what: &str, reached: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let (status, admin) = sovra.get("/admin/backends").await.unwrap();
        assert_eq!(status, 200, "{admin}");
        if reached(&admin) {
            return admin;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "never reached: {what}; last snapshot {admin}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Requests waiting in the router's queue.
fn waiting(admin: &Value) -> u64 {
    admin["queue"]["waiting"].as_u64().unwrap()
}

/// Sum of a per-backend counter of the admin snapshot.
fn total(admin: &Value, field: &str) -> u64 {
    admin["backends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b[field].as_u64().unwrap())
        .sum()
}

/// What a client saw of one chat completion.
#[derive(Debug)]
struct Reply {
    status: u16,
    retry_after: bool,
    body: Value,
}

/// POST a chat completion with extra headers (`authorization` among them
/// replaces the operator's key).
async fn call(sovra: &Sovra, body: Value, headers: Vec<(&'static str, String)>) -> Reply {
    let mut request = sovra
        .client
        .post(sovra.url("/v1/chat/completions"))
        .json(&body);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let r = request.send().await.unwrap();
    let status = r.status().as_u16();
    let retry_after = r.headers().get("retry-after").is_some();
    let text = r.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Reply {
        status,
        retry_after,
        body,
    }
}

/// Ask `name` with a tenant's `key` (as the operator: None), asking for
/// `priority` (a header may only lower it), in the background; `name` goes
/// into `done` when its answer is complete.
fn queued(
    sovra: &Arc<Sovra>,
    name: String,
    key: Option<&str>,
    priority: &str,
    done: &Arc<Mutex<Vec<String>>>,
) -> tokio::task::JoinHandle<Reply> {
    let (sovra, done) = (Arc::clone(sovra), Arc::clone(done));
    let mut headers = vec![("x-sovra-priority", priority.to_owned())];
    if let Some(k) = key {
        headers.push(("authorization", format!("Bearer {k}")));
    }
    tokio::spawn(async move {
        let reply = call(&sovra, chat("sim", "s", &name), headers).await;
        done.lock().unwrap().push(name);
        reply
    })
}

/// A streamed request (of the operator's) holding the node's only slot until the response is dropped.
async fn occupy(sovra: &Sovra) -> reqwest::Response {
    let mut body = chat("sim", "s", "a very long answer please");
    body["stream"] = json!(true);
    body["max_tokens"] = json!(1000);
    let response = sovra
        .client
        .post(sovra.url("/v1/chat/completions"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    until(sovra, "the slot is taken", |a| {
        total(a, "in_flight_requests") == 1
    })
    .await;
    response
}

/// How one streamed answer ended.
#[derive(Debug, PartialEq)]
enum Ending {
    /// 200, chunks, `data: [DONE]` last.
    Done,
    /// 200, an OpenAI error object as the last event, no `[DONE]`.
    Error,
    /// Anything else: a status, a cut stream, a malformed ending.
    Broken(String),
}

/// Stream `body` to its end and classify the ending.
async fn stream_ending(sovra: &Sovra, body: Value) -> Ending {
    let response = sovra
        .client
        .post(sovra.url("/v1/chat/completions"))
        .json(&body)
        .send()
        .await;
    let response = match response {
        Ok(r) if r.status() == 200 => r,
        Ok(r) => return Ending::Broken(format!("status {}", r.status())),
        Err(e) => return Ending::Broken(format!("request failed: {e}")),
    };
    let events = match sse_events(response).await {
        Ok(events) => events,
        Err(e) => return Ending::Broken(format!("stream broke: {e:#}")),
    };
    let done = events.iter().filter(|e| *e == "[DONE]").count();
    match events.last().map(String::as_str) {
        Some("[DONE]") if done == 1 => Ending::Done,
        Some(last) if done == 0 => match serde_json::from_str::<Value>(last) {
            Ok(v) if v["error"]["message"].is_string() => Ending::Error,
            _ => Ending::Broken(format!("ended without [DONE] or error: {events:?}")),
        },
        _ => Ending::Broken(format!("{events:?}")),
    }
}

/// Overload, and a reload that tries to add a foreign node, send nothing abroad.
#[tokio::test]
async fn residency_under_overload_sends_nothing_to_a_foreign_node() {
    let dir = tempfile::tempdir().unwrap();
    let slow = ["--tokens-per-second", "20", "--answer-tokens", "20"];
    let tallinn = node(dir.path(), "sim", &slow).await;
    let tartu = node(dir.path(), "sim", &slow).await;
    let riga = node(dir.path(), "sim", &[]).await;
    let config = dir.path().join("sovra.toml");
    let router = "probe_interval_ms = 200\nqueue_depth = 6\ntenant_queue_percent = 50\nqueue_timeout_ms = 120000";
    let ee = vec![
        limited(backend("tallinn", &tallinn, &["sim"], "EE"), 1),
        limited(backend("tartu", &tartu, &["sim"], "EE"), 1),
    ];
    write_config(&config, router, &ee);
    let sovra = serve(dir.path(), &config).await.unwrap();
    let load = futures::future::join_all((0..24).map(|i| {
        let mut body = chat("sim", "s", &format!("question {i}"));
        body["max_tokens"] = json!(20);
        call(&sovra, body, vec![])
    }));
    let reload = async {
        until(&sovra, "both nodes busy and requests queued", |a| {
            total(a, "in_flight_requests") == 2 && waiting(a) > 0
        })
        .await;
        let mut with_riga = ee.clone();
        with_riga.push(backend("riga", &riga, &["sim"], "LV"));
        write_config(&config, router, &with_riga);
        sovra
            .post("/admin/backends/reload", &json!({}))
            .await
            .unwrap()
    };
    let (replies, (status, body)) = tokio::join!(load, reload);
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("riga"),
        "{body}"
    );
    let mut ok = 0;
    let mut refused = 0;
    for r in &replies {
        match r.status {
            200 => ok += 1,
            429 | 503 => {
                assert!(r.retry_after, "{r:?}");
                assert!(!r.body.to_string().contains("riga"), "{r:?}");
                refused += 1;
            }
            _ => panic!("unexpected reply {r:?}"),
        }
    }
    assert!(ok >= 2 && refused >= 1, "ok {ok}, refused {refused}");
    assert_eq!(node_chat_requests(&riga).await, 0);
    let at_home = node_chat_requests(&tallinn).await + node_chat_requests(&tartu).await;
    assert_eq!(at_home, ok, "chat requests at the EE nodes vs 200s");
    let admin = until(&sovra, "the fleet is idle", |a| {
        total(a, "in_flight_requests") == 0
    })
    .await;
    assert_eq!(total(&admin, "served"), ok, "{admin}");
    let names: Vec<&str> = admin["backends"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["name"].as_str())
        .collect();
    assert_eq!(names, ["tallinn", "tartu"]);
}

/// SIGKILL of a node mid-load: every stream ends cleanly, later requests fail over.
#[tokio::test]
async fn failover_when_a_node_is_killed_mid_load() {
    let dir = tempfile::tempdir().unwrap();
    let slow = ["--tokens-per-second", "20", "--answer-tokens", "40"];
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(node(dir.path(), "sim", &slow).await);
    }
    let config = dir.path().join("sovra.toml");
    let backends: Vec<String> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| backend(&format!("n{i}"), n, &["sim"], "EE"))
        .collect();
    write_config(
        &config,
        "policy = \"round-robin\"\nprobe_interval_ms = 200\neject_after_failures = 2\nstream_idle_timeout_ms = 10000\nfirst_token_timeout_ms = 10000",
        &backends,
    );
    let sovra = serve(dir.path(), &config).await.unwrap();
    let streamed = |i: usize| {
        let mut body = chat("sim", "s", &format!("stream {i}"));
        body["stream"] = json!(true);
        body["max_tokens"] = json!(40);
        body
    };
    let test = async {
        let load = futures::future::join_all((0..30).map(|i| stream_ending(&sovra, streamed(i))));
        let kill = async {
            // Every stream has its first token: all 30 are mid-answer.
            let admin = until(&sovra, "30 streams started", |a| total(a, "served") == 30).await;
            let on_victim = admin["backends"][1]["served"].as_u64().unwrap();
            nodes[1].signal("KILL").unwrap();
            let started = Instant::now();
            while nodes[1]
                .client
                .get(nodes[1].url("/readyz"))
                .send()
                .await
                .is_ok()
            {
                assert!(started.elapsed() < Duration::from_secs(30), "node still up");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let after =
                futures::future::join_all((30..42).map(|i| stream_ending(&sovra, streamed(i))))
                    .await;
            (on_victim, after)
        };
        tokio::join!(load, kill)
    };
    let (during, (on_victim, after)) = tokio::time::timeout(Duration::from_secs(180), test)
        .await
        .expect("a request hung");
    let errors = during.iter().filter(|e| **e == Ending::Error).count() as u64;
    let done = during.iter().filter(|e| **e == Ending::Done).count() as u64;
    assert_eq!(errors + done, 30, "{during:?}");
    assert!(
        errors >= 1 && errors <= on_victim,
        "errors {errors}, on victim {on_victim}"
    );
    assert!(
        after.iter().all(|e| *e == Ending::Done),
        "after the kill: {after:?}"
    );
    let (_, admin) = sovra.get("/admin/backends").await.unwrap();
    assert_ne!(admin["backends"][1]["state"], "healthy", "{admin}");
}

/// One slow node that takes one stream at a time (long answers, so a
/// request holds it until dropped) behind a Sovra with these `[router]`
/// settings; returns the node (keep it alive) and the server.
async fn one_slot_fleet(dir: &Path, router: &str) -> (Sovra, Arc<Sovra>) {
    let only = node(
        dir,
        "sim",
        &["--tokens-per-second", "50", "--answer-tokens", "1000"],
    )
    .await;
    let config = dir.join("sovra.toml");
    write_config(
        &config,
        &format!("probe_interval_ms = 0\nqueue_timeout_ms = 120000\n{router}"),
        &[limited(backend("only", &only, &["sim"], "EE"), 1)],
    );
    let sovra = Arc::new(serve(dir, &config).await.unwrap());
    (only, sovra)
}

/// A citizen's request queued last is served before the requests queued
/// before it that lowered themselves to batch (`x-sovra-priority: batch`).
#[tokio::test]
async fn priority_under_saturation() {
    let dir = tempfile::tempdir().unwrap();
    let (_only, sovra) = one_slot_fleet(dir.path(), "").await;
    let busy = occupy(&sovra).await;
    let done = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for i in 0..4 {
        tasks.push(queued(&sovra, format!("batch-{i}"), None, "batch", &done));
        until(&sovra, "batch queued", |a| waiting(a) == i + 1).await;
    }
    tasks.push(queued(&sovra, "citizen".into(), None, "citizen", &done));
    until(&sovra, "citizen queued", |a| waiting(a) == 5).await;
    drop(busy);
    for t in tasks {
        let reply = t.await.unwrap();
        assert_eq!(reply.status, 200, "{reply:?}");
    }
    let order = done.lock().unwrap().clone();
    assert_eq!(
        order,
        ["citizen", "batch-0", "batch-1", "batch-2", "batch-3"]
    );
}

/// A quiet tenant is served within two placements of a noisy backlog; the queue bounds hold.
#[tokio::test]
async fn fairness_between_two_tenants() {
    let dir = tempfile::tempdir().unwrap();
    // 10 may wait, 5 of them (50%) per tenant.
    let (_only, sovra) =
        one_slot_fleet(dir.path(), "queue_depth = 10\ntenant_queue_percent = 50").await;
    let mut keys = std::collections::HashMap::new();
    for t in ["a", "b", "c", "d", "e"] {
        keys.insert(t, tenant_key(&sovra, t).await);
    }
    let busy = occupy(&sovra).await;
    let done = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    let mut enqueue = async |name: String, tenant: &str| {
        tasks.push(queued(&sovra, name, Some(&keys[tenant]), "citizen", &done));
        let n = tasks.len() as u64;
        until(&sovra, "request queued", |a| waiting(a) == n).await;
    };
    for i in 0..5 {
        enqueue(format!("a-{i}"), "a").await;
    }
    let as_tenant = |t: &str| vec![("authorization", format!("Bearer {}", keys[t]))];
    // Tenant a holds its share: its sixth waiting request is refused.
    let over = call(&sovra, chat("sim", "s", "a-5"), as_tenant("a")).await;
    assert_eq!(over.status, 429, "{over:?}");
    assert!(over.retry_after, "{over:?}");
    enqueue("b-0".into(), "b").await;
    for i in 0..4 {
        enqueue(format!("c-{i}"), "c").await;
    }
    // The queue is full (10): exactly the 3 extra requests are refused.
    let extra = futures::future::join_all(
        ["b", "d", "e"].map(|t| call(&sovra, chat("sim", "s", t), as_tenant(t))),
    )
    .await;
    for r in &extra {
        assert_eq!(r.status, 503, "{r:?}");
        assert!(r.retry_after, "{r:?}");
    }
    let (_, admin) = sovra.get("/admin/backends").await.unwrap();
    assert_eq!(waiting(&admin), 10, "{admin}");
    drop(busy);
    for t in tasks {
        let reply = t.await.unwrap();
        assert_eq!(reply.status, 200, "{reply:?}");
    }
    let order = done.lock().unwrap().clone();
    assert_eq!(order.len(), 10, "{order:?}");
    let b = order.iter().position(|n| n == "b-0").unwrap();
    assert!(b <= 1, "b was placement {} of {order:?}", b + 1);
    let a: Vec<&String> = order.iter().filter(|n| n.starts_with("a-")).collect();
    assert_eq!(a, ["a-0", "a-1", "a-2", "a-3", "a-4"], "{order:?}");
    let admin = until(&sovra, "idle", |a| total(a, "in_flight_requests") == 0).await;
    assert_eq!(waiting(&admin), 0);
    assert_eq!(admin["backends"][0]["served"], 11, "{admin}");
}
