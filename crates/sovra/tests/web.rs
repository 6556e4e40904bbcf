//! The web chat's and operator console's server side, on the real binary
//! with the simulated engine: every asset is served compressed and names
//! nothing outside; the country profile's public parts; regenerate/edit
//! (deleting from a message on); feedback; the console's usage and keys
//! behind the operator key. The pages themselves are tested in Chromium
//! (`tests/browser/`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use serde_json::{Value, json};
use sovra_testkit::{Sovra, sse_events};

const BIN: &str = env!("CARGO_BIN_EXE_sovra");
const KEY: &str = "sk-sovra-web-test-0123456789";

async fn sim(dir: &Path, env: &[(&str, &str)]) -> Sovra {
    let mut all = vec![
        ("SOVRA_ENGINE_SIM_TTFT_MS", "0"),
        ("SOVRA_ENGINE_SIM_TOKENS_PER_SECOND", "0"),
    ];
    all.extend_from_slice(env);
    Sovra::serve(Path::new(BIN), dir, &["--engine", "sim"], &all)
        .await
        .expect("sovra starts")
}

async fn send(s: &Sovra, user: &str, conversation: &str, content: &str) {
    let r = s
        .as_person(
            reqwest::Method::POST,
            &format!("/api/conversations/{conversation}/messages"),
            user,
        )
        .await
        .json(&json!({"content": content, "language": "et"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let events = sse_events(r).await.unwrap();
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
}

async fn json_as(
    s: &Sovra,
    method: reqwest::Method,
    path: &str,
    user: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = s.as_person(method, path, user).await;
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn pages_and_assets_are_compressed_and_self_contained() {
    let dir = tempfile::tempdir().unwrap();
    let s = sim(dir.path(), &[]).await;
    for path in [
        "/",
        "/console",
        "/assets/app.js",
        "/assets/common.js",
        "/assets/i18n.js",
        "/assets/markdown.js",
        "/assets/console.js",
        "/assets/console-i18n.js",
        "/assets/app.css",
    ] {
        let r = s
            .client
            .get(s.url(path))
            .header("accept-encoding", "gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["content-encoding"], "gzip", "{path}");
        assert!(
            r.headers().contains_key("content-security-policy"),
            "{path}"
        );
        let plain = s.client.get(s.url(path)).send().await.unwrap();
        assert!(plain.headers().get("content-encoding").is_none(), "{path}");
        let body = plain.text().await.unwrap();
        // A URL with a host, not the scheme as a string (the Markdown
        // renderer compares link schemes with 'https://').
        let external = body.match_indices("https://").any(|(i, m)| {
            body[i + m.len()..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric())
        });
        assert!(!external, "{path} names an external URL");
    }
    // Event streams are never compressed: every token leaves at once.
    let (_, c) = json_as(
        &s,
        reqwest::Method::POST,
        "/api/conversations",
        "u",
        Some(json!({})),
    )
    .await;
    let r = s
        .as_person(
            reqwest::Method::POST,
            &format!("/api/conversations/{}/messages", c["id"].as_str().unwrap()),
            "u",
        )
        .await
        .header("accept-encoding", "gzip, br")
        .json(&json!({"content": "hello"}))
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("content-encoding").is_none());
    s.stop().await.unwrap();
}

#[tokio::test]
async fn profile_truncate_and_feedback() {
    let dir = tempfile::tempdir().unwrap();
    let profile = concat!(env!("CARGO_MANIFEST_DIR"), "/../../profiles/ee.toml");
    let s = sim(
        dir.path(),
        &[
            ("SOVRA_SAFETY_PROFILE", profile),
            ("SOVRA_RETENTION_CONVERSATIONS_DAYS", "30"),
            ("SOVRA_AUTH_API_KEYS", &format!("[\"{KEY}\"]")),
        ],
    )
    .await;
    let (status, p) = s.get("/api/profile").await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(p["country"], "EE");
    assert_eq!(p["assistant"]["et"]["name"], "Kratt");
    assert_eq!(p["privacy"]["conversations_days"], 30);
    assert_eq!(p["services"]["emergency"]["number"], "112");
    assert!(!p.to_string().contains("system_prompt"));

    let (_, c) = json_as(
        &s,
        reqwest::Method::POST,
        "/api/conversations",
        "ann",
        Some(json!({})),
    )
    .await;
    let id = c["id"].as_str().unwrap().to_owned();
    send(&s, "ann", &id, "first question").await;
    send(&s, "ann", &id, "second question").await;
    let path = format!("/api/conversations/{id}");
    let (_, full) = json_as(&s, reqwest::Method::GET, &path, "ann", None).await;
    let messages = full["messages"].as_array().unwrap().clone();
    assert_eq!(messages.len(), 4);
    // Someone else cannot truncate it; a missing message is a 404.
    let second = messages[2]["id"].as_str().unwrap();
    let (status, _) = json_as(
        &s,
        reqwest::Method::DELETE,
        &format!("{path}/messages/{second}"),
        "bob",
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = json_as(
        &s,
        reqwest::Method::DELETE,
        &format!("{path}/messages/msg_none"),
        "ann",
        None,
    )
    .await;
    assert_eq!(status, 404);
    // Regenerate = delete from the question on, then send it again.
    let (status, _) = json_as(
        &s,
        reqwest::Method::DELETE,
        &format!("{path}/messages/{second}"),
        "ann",
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (_, left) = json_as(&s, reqwest::Method::GET, &path, "ann", None).await;
    assert_eq!(left["messages"].as_array().unwrap().len(), 2);

    // Feedback on the answer that is left.
    let answer = messages[1]["id"].as_str().unwrap();
    let fb = format!("/api/messages/{answer}/feedback");
    let (status, body) = json_as(
        &s,
        reqwest::Method::POST,
        &fb,
        "ann",
        Some(json!({"rating": "down", "reason": " wrong hours "})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["reason"], "wrong hours");
    let (status, body) = json_as(
        &s,
        reqwest::Method::POST,
        &fb,
        "ann",
        Some(json!({"rating": "meh"})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let feedback = || async {
        let r = s
            .client
            .get(s.url("/admin/feedback"))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap();
        r.json::<Value>().await.unwrap()
    };
    let list = feedback().await;
    assert_eq!(list["data"][0]["message_id"], answer);
    // Erasing my data takes my feedback with it.
    let (status, _) = json_as(&s, reqwest::Method::DELETE, "/api/me/data", "ann", None).await;
    assert_eq!(status, 200);
    let list = feedback().await;
    assert_eq!(list["data"].as_array().unwrap().len(), 0);
    s.stop().await.unwrap();
}

#[tokio::test]
async fn console_data_sits_behind_the_operator_key() {
    let dir = tempfile::tempdir().unwrap();
    let keys = format!("[\"{KEY}\"]");
    let s = sim(dir.path(), &[("SOVRA_AUTH_API_KEYS", &keys)]).await;
    // The console page itself is public; its data is not.
    let r = s.client.get(s.url("/console")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    for path in ["/admin/usage", "/admin/keys", "/admin/feedback"] {
        let r = s.client.get(s.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 401, "{path}");
    }
    let (_, c) = json_as(
        &s,
        reqwest::Method::POST,
        "/api/conversations",
        "u",
        Some(json!({})),
    )
    .await;
    send(&s, "u", c["id"].as_str().unwrap(), "count me").await;
    let get = |path: &'static str| {
        s.client
            .get(s.url(path))
            .header("authorization", format!("Bearer {KEY}"))
            .send()
    };
    let usage: Value = get("/admin/usage").await.unwrap().json().await.unwrap();
    assert!(usage["requests"].as_u64().unwrap() >= 2, "{usage}");
    assert!(usage["completion_tokens"].as_u64().unwrap() > 0, "{usage}");
    assert_eq!(usage["models"][0]["model"], "sim");
    assert!(
        usage["models"][0]["requests"].as_u64().unwrap() >= 1,
        "{usage}"
    );
    assert!(usage["ttft"]["count"].as_u64().unwrap() >= 1, "{usage}");
    let keys: Value = get("/admin/keys").await.unwrap().json().await.unwrap();
    assert_eq!(keys["open"], false);
    assert_eq!(keys["data"][0]["prefix"], "sk-s…");
    assert_eq!(keys["data"][0]["fingerprint"].as_str().unwrap().len(), 8);
    assert!(!keys.to_string().contains(KEY));
    s.stop().await.unwrap();
}
