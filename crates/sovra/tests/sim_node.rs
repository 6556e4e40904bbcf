//! `sovra sim-node` over HTTP: the prefix cache, TTFT that follows the
//! uncached prompt, each fault, `/sim/stats` and `/metrics`; and `sovra bench`
//! in load mode against it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sovra_testkit::{Sovra, sse_events};

const BIN: &str = env!("CARGO_BIN_EXE_sovra");

async fn node(dir: &Path, extra: &[&str]) -> Sovra {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let port = sovra_testkit::free_port();
        let listen = format!("127.0.0.1:{port}");
        let mut args = vec!["sim-node", "--listen", &listen, "--model", "gpu"];
        args.extend_from_slice(extra);
        match Sovra::start(Path::new(BIN), &args, &[], port, dir).await {
            Err(e) if attempt < 5 && format!("{e:#}").contains("could not listen") => continue,
            other => return other.unwrap(),
        }
    }
}

/// A fast node: 1 ms steps, 0.2 ms of prefill per uncached token.
const FAST: &[&str] = &[
    "--tokens-per-second",
    "1000",
    "--step-per-seq-us",
    "0",
    "--ttft-ms",
    "0",
    "--prefill-us-per-token",
    "200",
    "--answer-tokens",
    "8",
];

fn chat(system: &str, user: &str) -> Value {
    json!({
        "model": "gpu",
        "stream": true,
        "messages": [
            {"role": "system", "content": system},
            {"role": "user", "content": user},
        ],
    })
}

/// Time to the first content delta of a streamed chat, and the raw events.
async fn ttft(s: &Sovra, body: &Value) -> (Duration, Vec<String>) {
    let started = Instant::now();
    let r = s.send("/v1/chat/completions", body).await;
    assert_eq!(r.status(), 200);
    let mut first = None;
    let mut events = Vec::new();
    let mut bytes = r.bytes_stream();
    let mut decoder = sovra_core::sse::SseDecoder::default();
    use futures::StreamExt;
    while let Some(chunk) = bytes.next().await {
        let Ok(chunk) = chunk else { break };
        for data in decoder.push(&chunk).unwrap() {
            if first.is_none() && has_text(&data) {
                first = Some(started.elapsed());
            }
            events.push(data);
        }
    }
    (first.unwrap_or_else(|| started.elapsed()), events)
}

/// Whether an SSE data line carries answer text (not the empty role chunk).
fn has_text(data: &str) -> bool {
    serde_json::from_str::<Value>(data).is_ok_and(|v| {
        v["choices"][0]["delta"]["content"]
            .as_str()
            .is_some_and(|c| !c.is_empty())
    })
}

async fn stats(s: &Sovra) -> Value {
    let (status, body) = s.get("/sim/stats").await.unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn shared_prefixes_raise_the_cache_hit_rate_and_cut_ttft() {
    let dir = tempfile::tempdir().unwrap();
    let s = node(dir.path(), FAST).await;
    let system = "rule ".repeat(1000);
    // Cold: 1000 uncached tokens, about 200 ms of prefill.
    let (cold, _) = ttft(&s, &chat(&system, "first question")).await;
    let after_one = stats(&s).await;
    assert_eq!(after_one["prompt_tokens_cached"], 0, "{after_one}");
    // Warm: the system prompt's blocks are cached.
    let (warm, events) = ttft(&s, &chat(&system, "second question")).await;
    assert!(events.iter().any(|e| e.contains(" second")), "{events:?}");
    let after_two = stats(&s).await;
    let hit = after_two["cache_hit_rate"].as_f64().unwrap();
    assert!(hit > 0.45, "{after_two}");
    assert!(
        after_two["prompt_tokens_cached"].as_u64().unwrap() >= 992,
        "{after_two}"
    );
    assert!(
        cold > warm + Duration::from_millis(100),
        "cold {cold:?} warm {warm:?}"
    );
    // TTFT grows with the uncached prompt: 2000 fresh tokens take longer than 1000.
    let (longer, _) = ttft(&s, &chat(&"other ".repeat(2000), "q")).await;
    assert!(
        longer > cold + Duration::from_millis(100),
        "2000 tokens {longer:?} vs 1000 {cold:?}"
    );
    // The same figures in /metrics.
    let metrics = s
        .client
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("sovra_sim_prompt_tokens_cached_total")
            && metrics.contains("sovra_sim_cache_hit_rate"),
        "{metrics}"
    );
    s.stop().await.unwrap();
}

#[tokio::test]
async fn faults_refuse_hang_die_and_slow_down_on_demand() {
    let dir = tempfile::tempdir().unwrap();
    let s = node(dir.path(), FAST).await;
    let body = chat("be brief", "hello");

    let (status, faults) = s
        .post("/sim/faults", &json!({"refuse": true}))
        .await
        .unwrap();
    assert_eq!(status, 200, "{faults}");
    assert_eq!(faults["refuse"], true);
    let r = s.send("/v1/chat/completions", &body).await;
    assert_eq!(r.status(), 503);

    s.post("/sim/faults", &json!({"die_after_tokens": 2}))
        .await
        .unwrap();
    let r = s.send("/v1/chat/completions", &body).await;
    assert_eq!(r.status(), 200);
    let events = sse_events(r).await.unwrap();
    assert!(
        events.iter().any(|e| e.contains("\"error\"")),
        "a dying node ends the stream with an error: {events:?}"
    );

    s.post("/sim/faults", &json!({"hang": true})).await.unwrap();
    let r = s.send("/v1/chat/completions", &body).await;
    let mut bytes = r.bytes_stream();
    use futures::StreamExt;
    let mut got_content = false;
    let _ = tokio::time::timeout(Duration::from_millis(300), async {
        while let Some(Ok(chunk)) = bytes.next().await {
            let text = String::from_utf8_lossy(&chunk).into_owned();
            if text
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .any(|d| has_text(d.trim()))
            {
                got_content = true;
            }
        }
    })
    .await;
    assert!(!got_content, "a hung node sends no token");
    drop(bytes);

    s.post("/sim/faults", &json!({})).await.unwrap();
    let (normal, _) = ttft(&s, &chat(&"a ".repeat(10), "u")).await;
    let (status, _) = s
        .post("/sim/faults", &json!({"slowdown": 50}))
        .await
        .unwrap();
    assert_eq!(status, 200);
    let started = Instant::now();
    let (_, events) = ttft(&s, &chat(&"b ".repeat(10), "u")).await;
    let slow = started.elapsed();
    assert!(events.iter().any(|e| e == "[DONE]"));
    // 8 tokens at 1 ms per step, 50 times slower: at least 400 ms.
    assert!(
        slow > Duration::from_millis(350),
        "slow {slow:?} normal {normal:?}"
    );

    let (status, _) = s
        .post("/sim/faults", &json!({"slowdown": -1}))
        .await
        .unwrap();
    assert_eq!(status, 400);
    let st = stats(&s).await;
    assert_eq!(st["refused"], 1, "{st}");
    assert_eq!(st["failed"], 1, "{st}");
    s.stop().await.unwrap();
}

#[tokio::test]
async fn faults_can_be_set_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = FAST.to_vec();
    args.push("--refuse");
    let s = node(dir.path(), &args).await;
    let r = s.send("/v1/chat/completions", &chat("s", "u")).await;
    assert_eq!(r.status(), 503);
    let (_, faults) = s.get("/sim/faults").await.unwrap();
    assert_eq!(faults["refuse"], true);
    s.stop().await.unwrap();
}

fn bench(args: &[&str]) -> std::process::Output {
    std::process::Command::new(BIN)
        .arg("bench")
        .args(args)
        .output()
        .unwrap()
}

#[tokio::test]
async fn bench_open_loop_reports_json_that_adds_up() {
    let dir = tempfile::tempdir().unwrap();
    let s = node(dir.path(), FAST).await;
    let out_file = dir.path().join("report.json");
    let url = format!("{}/v1", s.base);
    let out_path = out_file.to_string_lossy().into_owned();
    let out = tokio::task::spawn_blocking(move || {
        bench(&[
            "--url",
            &url,
            // 12 conversations at 20 req/s: a scheduling stall on a loaded
            // 2-core machine would need 12 turns in flight at once (600 ms
            // each) to overflow; 8 at 40 req/s overflowed at 200 ms.
            "--rate",
            "20",
            "--requests",
            "30",
            "--workload",
            "multi-turn",
            "--turns",
            "3",
            "--conversations",
            "12",
            "--system-words",
            "100",
            "--max-tokens",
            "8",
            "--slo-ttft-ms",
            "10000",
            "--json",
            &out_path,
        ])
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("ttft") && stdout.contains("goodput"),
        "{stdout}"
    );
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&out_file).unwrap()).unwrap();
    assert_eq!(report["sent"], 30, "{report}");
    assert_eq!(report["ok"], 30, "{report}");
    assert_eq!(report["error_total"], 0, "{report}");
    assert_eq!(report["mode"], "open");
    assert_eq!(report["workload"], "multi-turn");
    assert_eq!(report["goodput"]["requests"], 30, "{report}");
    assert!((report["completion_tokens_mean"].as_f64().unwrap() - 8.0).abs() < 1e-9);
    let p = &report["ttft_ms"];
    assert!(p["p50"].as_f64().unwrap() <= p["p99"].as_f64().unwrap());
    // Multi-turn conversations share system prompts and grow: the node's cache hits.
    let st = stats(&s).await;
    assert!(st["cache_hit_rate"].as_f64().unwrap() > 0.3, "{st}");
    assert_eq!(st["finished"], 30, "{st}");
    s.stop().await.unwrap();
}

#[tokio::test]
async fn bench_closed_loop_counts_errors_by_kind() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = FAST.to_vec();
    args.push("--refuse");
    let s = node(dir.path(), &args).await;
    let url = format!("{}/v1", s.base);
    let out = tokio::task::spawn_blocking(move || {
        bench(&[
            "--url",
            &url,
            "--model",
            "gpu",
            "--users",
            "3",
            "--requests",
            "12",
            "--workload",
            "single-turn",
            "--json",
        ])
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["sent"], 12, "{report}");
    assert_eq!(report["ok"], 0, "{report}");
    assert_eq!(report["errors"]["http_503"], 12, "{report}");
    assert_eq!(report["mode"], "closed");
    s.stop().await.unwrap();
}
