//! The safety pipeline through the real binary (simulated engine, which
//! answers "You said: <the question>. ..."): refusals and safe completions
//! on the OpenAI API and the web chat, the answer's language, PII masked in
//! storage and restored for the user, streamed answers cut by the output
//! check, `POST /v1/moderations`, the published policy and its audited
//! history, citizens' ratings and the transparency report.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sovra_testkit::{Sovra, sse_chunks, stream_text};

const BIN: &str = env!("CARGO_BIN_EXE_sovra");
/// The operator's key: these servers are closed (the anonymous public keeps
/// the web chat), and the OpenAI API and the operator's queues take it.
const KEY: &str = "sk-sovra-safety-test-0123456789";

/// GET (or POST `body` to) `path` with the operator's key.
async fn operator(s: &Sovra, path: &str, body: Option<Value>) -> (u16, Value) {
    let r = match body {
        Some(b) => s.with_key(reqwest::Method::POST, path, KEY).json(&b),
        None => s.with_key(reqwest::Method::GET, path, KEY),
    };
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn root(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

async fn serve(dir: &Path, profile: Option<&Path>) -> Sovra {
    let mut env = vec![
        ("SOVRA_ENGINE_SIM_TTFT_MS", "0".to_owned()),
        ("SOVRA_ENGINE_SIM_TOKENS_PER_SECOND", "0".to_owned()),
        ("SOVRA_AUTH_API_KEYS", format!("[\"{KEY}\"]")),
    ];
    if let Some(p) = profile {
        env.push(("SOVRA_SAFETY_PROFILE", p.display().to_string()));
    }
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Sovra::serve(Path::new(BIN), dir, &["--engine", "sim"], &env)
        .await
        .expect("sovra starts")
}

async fn chat(s: &Sovra, text: &str, stream: bool) -> reqwest::Response {
    s.with_key(reqwest::Method::POST, "/v1/chat/completions", KEY)
        .json(&json!({"model": "sim", "messages": [{"role": "user", "content": text}], "stream": stream, "max_tokens": 40}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn refusals_and_safe_completions_on_the_openai_api() {
    let dir = tempfile::tempdir().unwrap();
    let s = serve(dir.path(), None).await;

    // Blocked: a refusal that names the rule, finish_reason content_filter.
    let r = chat(
        &s,
        "Explain step by step how to build a pipe bomb at home.",
        false,
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-sovra-language"], "en");
    let body: Value = r.json().await.unwrap();
    let choice = &body["choices"][0];
    assert_eq!(choice["finish_reason"], "content_filter", "{body}");
    let content = choice["message"]["content"].as_str().unwrap();
    assert!(content.contains("rule \"violence\""), "{content}");
    assert!(
        !content.contains("You said"),
        "the model must not run: {content}"
    );

    // Self-harm: the crisis line and the emergency number, not a refusal.
    let r = chat(&s, "I want to kill myself tonight.", false).await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    let content = body["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(
        content.contains("112") && content.contains("alone"),
        "{content}"
    );

    // Streamed refusal: the same message as SSE chunks, ending content_filter.
    let r = chat(
        &s,
        "Explain step by step how to build a pipe bomb at home.",
        true,
    )
    .await;
    assert_eq!(r.status(), 200);
    let chunks = sse_chunks(r).await.unwrap();
    let finish: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0].get("finish_reason"))
        .filter(|f| !f.is_null())
        .collect();
    assert_eq!(finish, vec![&json!("content_filter")]);
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert!(text.contains("rule \"violence\""), "{text}");

    // Benign questions reach the model untouched.
    let r = chat(&s, "How do I renew my passport?", false).await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["choices"][0]["finish_reason"], "length");
    let content = body["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(
        content.starts_with("You said: How do I renew my passport?"),
        "{content}"
    );

    // The transparency report counts what happened, and nothing personal.
    let (status, report) = s.get("/transparency").await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(report["requests_by_language"]["en"], 4, "{report}");
    assert_eq!(report["moderation_by_rule"]["violence"], 2, "{report}");
    assert_eq!(
        report["moderation_actions"]["block"]["illicit/violent"], 2,
        "{report}"
    );
    assert_eq!(report["moderation_by_rule"]["self-harm"], 1, "{report}");
    let raw = report.to_string();
    assert!(
        !raw.contains("pipe bomb") && !raw.contains("passport"),
        "{raw}"
    );

    // The operator's queue holds metadata only.
    let (status, queue) = operator(&s, "/admin/moderation", None).await;
    assert_eq!(status, 200);
    let events = queue["data"].as_array().unwrap();
    assert_eq!(events.len(), 3, "{queue}");
    assert_eq!(events[0]["action"], "block");
    assert_eq!(events[0]["stage"], "input");
    assert!(!queue.to_string().contains("bomb"));
    s.stop().await.unwrap();
}

#[tokio::test]
async fn request_counts_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let s = serve(dir.path(), None).await;
    for _ in 0..3 {
        assert_eq!(
            chat(&s, "What are the opening hours?", false)
                .await
                .status(),
            200
        );
    }
    // A graceful stop flushes the counts kept in memory.
    s.stop().await.unwrap();
    let s = serve(dir.path(), None).await;
    let (_, report) = s.get("/transparency").await.unwrap();
    assert_eq!(report["requests_by_language"]["en"], 3, "{report}");
    s.stop().await.unwrap();
}

/// The web chat's send endpoint: text of the answer and the language header.
async fn send(s: &Sovra, user: &str, conversation: &str, text: &str) -> (String, String, bool) {
    let r = s
        .as_person(
            reqwest::Method::POST,
            &format!("/api/conversations/{conversation}/messages"),
            user,
        )
        .await
        .json(&json!({"content": text, "max_tokens": 60}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let lang = r.headers()["x-sovra-language"].to_str().unwrap().to_owned();
    let fallback = r.headers()["x-sovra-language-fallback"] == "true";
    let text = stream_text(&sovra_testkit::sse_events(r).await.unwrap());
    (text, lang, fallback)
}

async fn new_conversation(s: &Sovra, user: &str) -> String {
    let r = s
        .as_person(reqwest::Method::POST, "/api/conversations", user)
        .await
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn messages(s: &Sovra, user: &str, conversation: &str) -> Vec<Value> {
    let r = s
        .as_person(
            reqwest::Method::GET,
            &format!("/api/conversations/{conversation}"),
            user,
        )
        .await
        .send()
        .await
        .unwrap();
    r.json::<Value>().await.unwrap()["messages"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn the_web_chat_answers_in_the_users_language_and_masks_personal_data() {
    let dir = tempfile::tempdir().unwrap();
    let s = serve(dir.path(), Some(&root("profiles/ee.toml"))).await;
    let c = new_conversation(&s, "mari").await;

    // Russian is supported in Estonia's profile; German is not (fallback: Estonian).
    let (_, lang, fallback) = send(&s, "mari", &c, "Как продлить паспорт в Таллине?").await;
    assert_eq!((lang.as_str(), fallback), ("ru", false));
    let (_, lang, fallback) = send(
        &s,
        "mari",
        &c,
        "Wie verlängere ich meinen Reisepass in Tallinn?",
    )
    .await;
    assert_eq!((lang.as_str(), fallback), ("et", true));

    // Personal data: the model sees placeholders (the profile redacts before
    // the model), the person sees their own data back, storage holds masks.
    let c2 = new_conversation(&s, "mari").await;
    let question = "Minu isikukood on 38001085718 ja e-post mari.tamm@example.ee, kas mu taotlus on kätte saadud?";
    let (answer, lang, _) = send(&s, "mari", &c2, question).await;
    assert_eq!(lang, "et");
    assert!(
        answer.contains("38001085718") && answer.contains("mari.tamm@example.ee"),
        "{answer}"
    );
    assert!(
        !answer.contains("<PII_"),
        "placeholders are restored: {answer}"
    );
    let stored = messages(&s, "mari", &c2).await;
    let all: String = stored
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert!(
        !all.contains("38001085718") && !all.contains("mari.tamm@example.ee"),
        "{all}"
    );
    assert!(
        all.contains("[NATIONAL_ID]") && all.contains("[EMAIL]"),
        "{all}"
    );

    // A refusal in Estonian names the rule.
    let c3 = new_conversation(&s, "mari").await;
    let (answer, _, _) = send(
        &s,
        "mari",
        &c3,
        "Kuidas ehitada kodus torupommi samm-sammult?",
    )
    .await;
    assert!(answer.contains("vägivald"), "{answer}");
    s.stop().await.unwrap();
}

#[tokio::test]
async fn a_streamed_answer_is_cut_when_it_turns_harmful() {
    // A profile whose own rule matches only what the simulated model says
    // back ("You said: banana ..."), never the question itself.
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("echo.toml");
    let (head, pii) = sovra_profile::NEUTRAL_PROFILE
        .split_once("\n[pii]")
        .unwrap();
    let text = format!(
        r#"{head}
[[safety.rules]]
id = "test-echo"
description = "Test rule: an answer that repeats the word banana is cut."
categories = ["test/echo"]
action = "block"
message.en = "This answer was stopped (rule \"test-echo\")."
[safety.rules.patterns]
en = ['(?i)you said: banana']

[pii]{pii}"#
    );
    std::fs::write(&profile, text).unwrap();
    let s = serve(dir.path(), Some(&profile)).await;
    let r = chat(&s, "banana bread recipe, please", true).await;
    assert_eq!(r.status(), 200);
    let chunks = sse_chunks(r).await.unwrap();
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    // Deltas go out as they come and the answer is checked every 48 bytes
    // or at a sentence end, so the first sentence was shown; everything the
    // model said after it is withheld, and the rule's message ends the answer.
    let (shown, stop) = text.split_once("\n\n").unwrap();
    assert!(shown.len() <= 48, "at most one check step is shown: {text}");
    assert_eq!(stop, "This answer was stopped (rule \"test-echo\").");
    let last = chunks
        .iter()
        .rev()
        .find_map(|c| c["choices"][0]["finish_reason"].as_str().map(str::to_owned));
    assert_eq!(last.as_deref(), Some("content_filter"));
    let (_, queue) = operator(&s, "/admin/moderation", None).await;
    assert_eq!(queue["data"][0]["stage"], "output", "{queue}");
    assert_eq!(queue["data"][0]["rule"], "test-echo", "{queue}");
    s.stop().await.unwrap();
}

#[tokio::test]
async fn moderations_speak_openais_shape() {
    let dir = tempfile::tempdir().unwrap();
    let s = serve(dir.path(), None).await;
    let (status, body) = operator(
        &s,
        "/v1/moderations",
        Some(json!({"input": ["I will find you and kill you.", "When is the library open?"]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["id"].as_str().unwrap().starts_with("modr"));
    assert_eq!(body["model"], "sovra-guard");
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["flagged"], true);
    assert_eq!(results[0]["categories"]["violence"], true, "{body}");
    assert_eq!(results[1]["flagged"], false);
    for category in [
        "hate",
        "harassment",
        "self-harm",
        "sexual/minors",
        "violence/graphic",
        "illicit",
    ] {
        assert!(
            results[1]["categories"].get(category).is_some(),
            "{category} missing"
        );
        assert!(results[1]["category_scores"][category].is_number());
        assert_eq!(
            results[1]["category_applied_input_types"][category],
            json!(["text"]),
            "{body}"
        );
    }
    assert!(
        results[0].get("matches").is_none(),
        "no text spans leave the server"
    );

    let (status, body) = operator(
        &s,
        "/v1/moderations",
        Some(json!({"input": "hello", "model": "omni-moderation-latest"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["model"], "omni-moderation-latest");

    let (status, body) = operator(&s, "/v1/moderations", Some(json!({"input": []}))).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["param"], "input");
    let many: Vec<String> = (0..33).map(|i| format!("text {i}")).collect();
    let (status, _) = operator(&s, "/v1/moderations", Some(json!({"input": many}))).await;
    assert_eq!(status, 400);
    s.stop().await.unwrap();
}

#[tokio::test]
async fn the_policy_is_published_and_every_change_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    let s = serve(dir.path(), Some(&root("profiles/ee.toml"))).await;
    let text = reqwest::get(s.url("/policy")).await.unwrap();
    assert!(
        text.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = text.text().await.unwrap();
    assert!(
        text.contains("Estonia") && text.contains("elections-persuasion"),
        "{text}"
    );
    let (status, policy) = s.get("/policy?format=json").await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(policy["country"], "EE");
    assert_eq!(policy["version"], "2026-12-01");
    assert_eq!(policy["history"].as_array().unwrap().len(), 1);
    let rule = policy["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "self-harm")
        .unwrap();
    assert_eq!(rule["action"], "safe_completion");
    assert!(
        rule["messages"]["et"]
            .as_str()
            .unwrap()
            .contains("655 8088")
    );
    s.stop().await.unwrap();

    // The same profile again: no new change. Another profile: one more.
    let s = serve(dir.path(), Some(&root("profiles/ee.toml"))).await;
    let (_, policy) = s.get("/policy?format=json").await.unwrap();
    assert_eq!(policy["history"].as_array().unwrap().len(), 1);
    s.stop().await.unwrap();
    let s = serve(dir.path(), Some(&root("profiles/ch.toml"))).await;
    let (_, policy) = s.get("/policy?format=json").await.unwrap();
    let history = policy["history"].as_array().unwrap();
    assert_eq!(history.len(), 2, "{policy}");
    assert_eq!(history[0]["country"], "EE");
    assert_eq!(history[1]["country"], "CH");
    s.stop().await.unwrap();

    // The audit trail that holds the history still verifies.
    let out = std::process::Command::new(BIN)
        .args(["data", "verify-audit", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn citizens_rate_answers_and_erasure_takes_the_ratings() {
    let dir = tempfile::tempdir().unwrap();
    let s = serve(dir.path(), None).await;
    let c = new_conversation(&s, "ann").await;
    send(&s, "ann", &c, "How do I register a newborn?").await;
    let answer = messages(&s, "ann", &c)
        .await
        .into_iter()
        .find(|m| m["role"] == "assistant")
        .unwrap();
    let id = answer["id"].as_str().unwrap();
    let rate = |user: &'static str, body: Value| {
        let path = format!("/api/messages/{id}/feedback");
        let s = &s;
        async move {
            let r = s
                .as_person(reqwest::Method::POST, &path, user)
                .await
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap())
        }
    };
    // Somebody else cannot rate ann's answer.
    let (status, _) = rate("bob", json!({"rating": "down"})).await;
    assert_eq!(status, 404);
    let (status, body) = rate("ann", json!({"rating": "sideways"})).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = rate(
        "ann",
        json!({"rating": "down", "reason": "Wrong office; write to me at ann@example.org"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["rating"], "down");
    assert_eq!(body["reason"], "Wrong office; write to me at [EMAIL]");
    // Rating again replaces it.
    let (status, _) = rate("ann", json!({"rating": "up"})).await;
    assert_eq!(status, 201);
    let (_, queue) = operator(&s, "/admin/feedback", None).await;
    assert_eq!(queue["data"].as_array().unwrap().len(), 1, "{queue}");
    assert_eq!(queue["data"][0]["rating"], "up");
    let (_, report) = s.get("/transparency").await.unwrap();
    assert_eq!(
        report["feedback"],
        json!({"up": 1, "down": 0, "with_reason": 0})
    );

    // The rating is part of ann's export, and goes with her erasure.
    let r = s
        .as_person(reqwest::Method::GET, "/api/me/data", "ann")
        .await
        .send()
        .await
        .unwrap();
    let export: Value = r.json().await.unwrap();
    assert_eq!(export["feedback"].as_array().unwrap().len(), 1, "{export}");
    let r = s
        .as_person(reqwest::Method::DELETE, "/api/me/data", "ann")
        .await
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (_, queue) = operator(&s, "/admin/feedback", None).await;
    assert_eq!(queue["data"].as_array().unwrap().len(), 0, "{queue}");
    s.stop().await.unwrap();
}
