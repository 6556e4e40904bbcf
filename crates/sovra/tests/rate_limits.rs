//! Quotas on the real `sovra` binary (simulated engine): two replicas
//! sharing Redis let exactly a key's limit through, tokens are charged with
//! the engine's count and settled to the real usage, a team's users share
//! the team's pool, and a Redis that does not answer fails closed (or open,
//! when configured so). Redis is the one on 127.0.0.1:6379; each test uses
//! its own key prefix.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use sovra_testkit::{Sovra, sse_events};

const BIN: &str = env!("CARGO_BIN_EXE_sovra");
const KEY: &str = "sk-sovra-rate-limit-test-0001";

fn unique(test: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("sovra-test:{test}:{}:{nanos}", std::process::id())
}

/// Deletes the test's Redis keys when dropped.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let Ok(mut c) =
            redis::Client::open("redis://127.0.0.1:6379/").and_then(|c| c.get_connection())
        else {
            return;
        };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}:*", self.0))
            .query(&mut c)
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: Result<i64, _> = redis::cmd("DEL").arg(keys).query(&mut c);
        }
    }
}

/// Minute windows are fixed (they start at :00): keep a burst inside one.
async fn away_from_a_minute_boundary() {
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        % 60.0;
    if secs > 45.0 {
        tokio::time::sleep(Duration::from_secs_f64(61.0 - secs)).await;
    }
}

async fn serve(dir: &Path, config: &str) -> Sovra {
    let file = dir.join("sovra.toml");
    std::fs::write(&file, config).unwrap();
    let file = file.to_string_lossy().into_owned();
    Sovra::serve(
        Path::new(BIN),
        &dir.join("data"),
        &["--engine", "sim", "--config", &file],
        &[
            ("SOVRA_ENGINE_SIM_TTFT_MS", "0"),
            ("SOVRA_ENGINE_SIM_TOKENS_PER_SECOND", "0"),
        ],
    )
    .await
    .expect("sovra starts")
}

fn chat(content: &str, max_tokens: u32) -> Value {
    json!({"model": "sim", "max_tokens": max_tokens, "messages": [{"role": "user", "content": content}]})
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> &'a str {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no {name} header: {:?}", r.headers()))
}

/// POST as `user`: a member of `public` with a key of their own (made with
/// the operator's key on first use); `""`: the operator's key itself.
async fn post(s: &Sovra, path: &str, user: &str, body: &Value) -> reqwest::Response {
    let key = if user.is_empty() {
        KEY.to_owned()
    } else {
        s.member_key(KEY, user).await
    };
    s.client
        .post(s.url(path))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// The proof the issue asks for: 40 parallel clients on one key, split over
/// two replicas sharing Redis, against 10 requests a minute: exactly 10 pass.
#[tokio::test]
async fn two_replicas_share_one_key_limit_exactly() {
    let prefix = unique("replicas");
    let _cleanup = Cleanup(prefix.clone());
    let config = format!(
        "[auth]\napi_keys = [\"{KEY}\"]\n[quotas]\nenabled = true\nbackend = \"redis\"\nkey_prefix = \"{prefix}\"\n[quotas.per_key]\nrequests_per_minute = 10\n"
    );
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let replicas = [
        serve(a.path(), &config).await,
        serve(b.path(), &config).await,
    ];
    away_from_a_minute_boundary().await;
    let requests = (0..40).map(|i| {
        let s = &replicas[i % 2];
        // Forty clients with the one key: only the key's limit applies.
        async move { post(s, "/v1/chat/completions", "", &chat("hi", 2)).await }
    });
    let responses = futures::future::join_all(requests).await;
    let mut ok_remaining = Vec::new();
    let mut limited = 0;
    for r in responses {
        assert_eq!(header(&r, "x-ratelimit-limit-requests"), "10");
        let reset = header(&r, "x-ratelimit-reset-requests").to_owned();
        assert!(reset.ends_with('s'), "{reset}");
        match r.status().as_u16() {
            200 => {
                ok_remaining.push(
                    header(&r, "x-ratelimit-remaining-requests")
                        .parse::<u64>()
                        .unwrap(),
                );
                assert!(r.headers().get("retry-after").is_none());
                let body: Value = r.json().await.unwrap();
                assert_eq!(body["object"], "chat.completion");
            }
            429 => {
                limited += 1;
                assert_eq!(header(&r, "x-ratelimit-remaining-requests"), "0");
                let wait: u64 = header(&r, "retry-after").parse().unwrap();
                assert!((1..=60).contains(&wait), "{wait}");
                let body: Value = r.json().await.unwrap();
                let e = &body["error"];
                assert_eq!(e["type"], "requests", "{body}");
                assert_eq!(e["code"], "rate_limit_exceeded", "{body}");
                assert!(e["param"].is_null(), "{body}");
                let m = e["message"].as_str().unwrap();
                assert!(
                    m.starts_with("Rate limit reached for sim")
                        && m.contains("requests per min (RPM): Limit 10, Used 10, Requested 1.")
                        && m.contains("Please try again in"),
                    "{m}"
                );
                assert!(!m.contains(KEY), "the key itself leaked: {m}");
            }
            other => panic!("status {other}"),
        }
    }
    ok_remaining.sort();
    // Every one of the 10 slots was handed out once, across both replicas.
    assert_eq!(ok_remaining, (0..10).collect::<Vec<_>>());
    assert_eq!(limited, 30);
    let (_, metrics) = replicas[0].get("/metrics").await.unwrap();
    let metrics = metrics.as_str().unwrap_or_default().to_owned();
    assert!(
        metrics.contains(
            "sovra_quota_rejections_total{level=\"key\",measure=\"requests\",window=\"minute\"}"
        ),
        "{metrics}"
    );
    for s in replicas {
        s.stop().await.unwrap();
    }
}

/// Tokens are reserved up front (the engine's count of the prompt plus
/// `max_tokens`) and settled to what the answer used.
#[tokio::test]
async fn tokens_are_reserved_then_settled() {
    let prefix = unique("tokens");
    let _cleanup = Cleanup(prefix.clone());
    let config = format!(
        "[auth]\napi_keys = [\"{KEY}\"]\n[quotas]\nenabled = true\nbackend = \"redis\"\nkey_prefix = \"{prefix}\"\n[quotas.per_user]\ntokens_per_minute = 200\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let s = serve(dir.path(), &config).await;
    away_from_a_minute_boundary().await;
    // "hello there" is 11 bytes: 3 + 4 tokens to the simulated tokenizer;
    // with max_tokens 100 that is 107 reserved. The simulated answer is 48
    // tokens, so 55 are used and 52 come back.
    let body = chat("hello there", 100);
    let r = post(&s, "/v1/chat/completions", "alice", &body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-ratelimit-limit-tokens"), "200");
    assert_eq!(header(&r, "x-ratelimit-remaining-tokens"), "93");
    let usage: Value = r.json().await.unwrap();
    assert_eq!(usage["usage"]["prompt_tokens"], 7);
    assert_eq!(usage["usage"]["completion_tokens"], 48);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Without the refund this would not fit (107 + 107 > 200); a stream settles too.
    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let r = post(&s, "/v1/chat/completions", "alice", &streamed).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-ratelimit-remaining-tokens"), "38");
    let events = sse_events(r).await.unwrap();
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    // 110 used: another 107 does not fit.
    let r = post(&s, "/v1/chat/completions", "alice", &body).await;
    assert_eq!(r.status(), 429);
    assert_eq!(header(&r, "x-ratelimit-remaining-tokens"), "90");
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["type"], "tokens", "{e}");
    let m = e["error"]["message"].as_str().unwrap();
    assert!(
        m.contains("tokens per min (TPM): Limit 200, Used 110, Requested 107."),
        "{m}"
    );
    // A smaller request still fits the 90 left; another user has their own 200.
    let r = post(
        &s,
        "/v1/chat/completions",
        "alice",
        &chat("hello there", 20),
    )
    .await;
    assert_eq!(r.status(), 200);
    let r = post(&s, "/v1/chat/completions", "bob", &body).await;
    assert_eq!(r.status(), 200);
    // More than the whole limit can never pass: said so, not "try again".
    let r = post(&s, "/v1/chat/completions", "carol", &chat("hi", 300)).await;
    assert_eq!(r.status(), 429);
    // ... and the SDKs are told not to retry it.
    assert_eq!(header(&r, "x-should-retry"), "false");
    assert!(r.headers().get("retry-after").is_none());
    let e: Value = r.json().await.unwrap();
    let m = e["error"]["message"].as_str().unwrap();
    assert!(m.starts_with("Request too large for sim"), "{m}");
    s.stop().await.unwrap();
}

/// A team's pool is shared by its users, on the OpenAI API and the web chat alike.
#[tokio::test]
async fn team_members_share_the_team_pool() {
    let config = format!(
        "[auth]\napi_keys = [\"{KEY}\"]\n[quotas]\nenabled = true\n[quotas.tenants.public]\nrequests_per_minute = 5\n[quotas.tenants.public.per_user]\nrequests_per_minute = 3\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let s = serve(dir.path(), &config).await;
    away_from_a_minute_boundary().await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let r = post(&s, "/v1/chat/completions", "alice", &chat("hi", 2)).await;
        statuses.push(r.status().as_u16());
        if r.status() == 429 {
            let e: Value = r.json().await.unwrap();
            let m = e["error"]["message"].as_str().unwrap().to_owned();
            assert!(m.contains("for user usr_"), "{m}");
        }
    }
    // Alice's own limit is 3.
    assert_eq!(statuses, [200, 200, 200, 429]);
    // Bob, in the web chat, has 2 left of the team's 5.
    let created = s
        .as_person(reqwest::Method::POST, "/api/conversations", "bob")
        .await
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let r = s
            .as_person(
                reqwest::Method::POST,
                &format!("/api/conversations/{id}/messages"),
                "bob",
            )
            .await
            .json(&json!({"content": "hello", "max_tokens": 2}))
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
        // The headers show the tightest limit: the team's, with 1 and then 0 left.
        assert_eq!(header(&r, "x-ratelimit-limit-requests"), "5");
        if r.status() == 200 {
            let events = sse_events(r).await.unwrap();
            assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
        } else {
            let e: Value = r.json().await.unwrap();
            let m = e["error"]["message"].as_str().unwrap().to_owned();
            assert!(m.contains("for tenant public"), "{m}");
        }
    }
    assert_eq!(statuses, [200, 200, 429]);
    s.stop().await.unwrap();
}

/// Redis not answering: refused with a 503 by default, let through when
/// `on_store_error = "allow"`.
#[tokio::test]
async fn redis_down_fails_closed_unless_told_otherwise() {
    for (policy, expected) in [("reject", 503), ("allow", 200)] {
        let config = format!(
            "[quotas]\nenabled = true\nbackend = \"redis\"\nredis_url = \"redis://127.0.0.1:1/\"\nstore_timeout_ms = 200\non_store_error = \"{policy}\"\n[quotas.per_user]\nrequests_per_minute = 100\n"
        );
        let dir = tempfile::tempdir().unwrap();
        let s = serve(dir.path(), &config).await;
        let (status, body) = s
            .post("/v1/chat/completions", &chat("hi", 2))
            .await
            .unwrap();
        assert_eq!(status, expected, "{policy}: {body}");
        if expected == 503 {
            assert!(
                body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("rate-limit store is unavailable"),
                "{body}"
            );
        }
        // Unmetered routes do not depend on Redis.
        let (status, _) = s.get("/v1/models").await.unwrap();
        assert_eq!(status, 200);
        s.stop().await.unwrap();
    }
}

/// Quotas are off unless enabled: no headers, no counting.
#[tokio::test]
async fn off_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let s = serve(dir.path(), "").await;
    for _ in 0..3 {
        let r = s.send("/v1/chat/completions", &chat("hi", 2)).await;
        assert_eq!(r.status(), 200);
        assert!(r.headers().get("x-ratelimit-limit-requests").is_none());
    }
    s.stop().await.unwrap();
}
