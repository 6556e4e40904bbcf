//! The fleet router with real processes: several `sovra sim-node`s behind a
//! `sovra serve` configured with `[[backends]]`, spoken to over HTTP.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use sovra_testkit::{Sovra, free_port, sse_events};

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_sovra"))
}

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

fn write_config(path: &Path, router: &str, backends: &[String]) {
    let text = format!(
        "[sovereignty]\nallowed_jurisdictions = [\"EE\"]\n[router]\n{router}\n{}",
        backends.join("\n")
    );
    std::fs::write(path, text).unwrap();
}

async fn serve(dir: &Path, config: &Path) -> anyhow::Result<Sovra> {
    Sovra::serve(
        &bin(),
        &dir.join("data"),
        &["--config", &config.to_string_lossy()],
        &[],
    )
    .await
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
