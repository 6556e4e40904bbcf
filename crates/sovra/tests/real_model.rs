//! The binary with the real embedded default model (SmolLM2-135M-Instruct):
//! loads, streams an on-topic answer, serves concurrent requests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use serde_json::json;
use sovra_testkit::{Sovra, default_model_path, sse_events, stream_text};

const BIN: &str = env!("CARGO_BIN_EXE_sovra");

/// The binary on the default model, and the model name it serves.
async fn embedded(dir: &Path) -> (Sovra, String) {
    let model = default_model_path();
    let model = model.to_string_lossy().into_owned();
    let s = Sovra::serve(
        Path::new(BIN),
        dir,
        &[
            "--model",
            &model,
            "--threads",
            "2",
            "--parallel",
            "4",
            "--context",
            "1024",
        ],
        // Chat only: the embedding model has its own tests (tests/embeddings.rs).
        &[("SOVRA_EMBEDDINGS_ENABLED", "false")],
    )
    .await
    .expect("sovra starts with the default model");
    let (_, models) = s.get("/v1/models").await.unwrap();
    let model = models["data"][0]["id"].as_str().unwrap().to_owned();
    (s, model)
}

#[tokio::test]
async fn default_model_streams_an_on_topic_answer() {
    let dir = tempfile::tempdir().unwrap();
    let (s, model) = embedded(dir.path()).await;
    let req = json!({
        "model": model,
        "stream": true,
        "temperature": 0,
        "max_tokens": 40,
        "messages": [{"role": "user", "content": "What is the capital of France?"}]
    });
    let r = s.send("/v1/chat/completions", &req).await;
    assert_eq!(r.status(), 200);
    let events = sse_events(r).await.unwrap();
    let text = stream_text(&events);
    assert!(text.contains("Paris"), "answer: {text}");
    assert!(
        events.len() > 4,
        "the answer arrived in {} events",
        events.len()
    );
    s.stop().await.unwrap();
}

#[tokio::test]
async fn four_concurrent_chats_all_finish() {
    let dir = tempfile::tempdir().unwrap();
    let (s, model) = embedded(dir.path()).await;
    let questions = [
        "Name a fruit.",
        "What colour is the sky?",
        "What is 3 plus 4?",
        "Say hello in French.",
    ];
    let tasks: Vec<_> = questions
        .iter()
        .map(|q| {
            let req = json!({"model": model, "max_tokens": 32, "messages": [{"role": "user", "content": q}]});
            let client = s.client.clone();
            let url = s.url("/v1/chat/completions");
            tokio::spawn(async move { client.post(url).json(&req).send().await?.json::<serde_json::Value>().await })
        })
        .collect();
    for t in tasks {
        let body = t.await.unwrap().unwrap();
        let reason = body["choices"][0]["finish_reason"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(reason == "stop" || reason == "length", "{body}");
        assert!(body["usage"]["completion_tokens"].as_u64().unwrap() > 0);
    }
    s.stop().await.unwrap();
}
