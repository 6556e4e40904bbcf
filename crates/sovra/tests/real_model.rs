//! The binary with the real embedded default model (SmolLM2-135M-Instruct):
//! loads, streams an on-topic answer, serves concurrent requests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use serde_json::json;
use sovra_testkit::{Sovra, default_model_path, sse_chunks, sse_events, stream_text};

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

/// `response_format: json_schema` is enforced while sampling: whatever the
/// small model would have said, the answer parses and fits the schema.
#[tokio::test]
async fn json_schema_answers_parse_and_validate() {
    let dir = tempfile::tempdir().unwrap();
    let (s, model) = embedded(dir.path()).await;
    let schema = json!({
        "type": "object",
        "properties": {
            "city": {"type": "string", "maxLength": 40},
            "population": {"type": "integer"},
            "size": {"type": "string", "enum": ["small", "medium", "large"]},
            "landmarks": {"type": "array", "items": {"type": "string", "maxLength": 40}, "maxItems": 3}
        },
        "required": ["city", "population", "size", "landmarks"],
        "additionalProperties": false
    });
    for (seed, stream) in [(1, false), (2, true), (3, false)] {
        let req = json!({
            "model": model,
            "temperature": 0.9,
            "seed": seed,
            "stream": stream,
            "max_tokens": 300,
            "messages": [{"role": "user", "content": "Describe Tallinn."}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "city", "strict": true, "schema": schema}}
        });
        let r = s.send("/v1/chat/completions", &req).await;
        assert_eq!(r.status(), 200);
        let (text, finish) = if stream {
            let events = sse_chunks(r).await.unwrap();
            let finish = events
                .iter()
                .filter_map(|e| e["choices"][0]["finish_reason"].as_str())
                .next_back()
                .unwrap()
                .to_owned();
            let text: String = events
                .iter()
                .filter_map(|e| e["choices"][0]["delta"]["content"].as_str())
                .collect();
            (text, finish)
        } else {
            let body: serde_json::Value = r.json().await.unwrap();
            (
                body["choices"][0]["message"]["content"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                body["choices"][0]["finish_reason"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        };
        assert_eq!(finish, "stop", "seed {seed}: {text}");
        let v: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("seed {seed}: {e}: {text}"));
        let obj = v.as_object().unwrap();
        assert_eq!(obj.len(), 4, "{text}");
        assert!(v["city"].as_str().is_some_and(|c| c.chars().count() <= 40));
        assert!(
            v["population"].is_i64() || v["population"].is_u64(),
            "{text}"
        );
        assert!(["small", "medium", "large"].contains(&v["size"].as_str().unwrap()));
        assert!(v["landmarks"].as_array().unwrap().len() <= 3);
    }
    // `json_object`: any object, as long as the prompt asks for JSON.
    let req = json!({
        "model": model, "temperature": 0, "max_tokens": 200,
        "messages": [{"role": "user", "content": "Give me a JSON object with a greeting."}],
        "response_format": {"type": "json_object"}
    });
    let (status, body) = s.post("/v1/chat/completions", &req).await.unwrap();
    assert_eq!(status, 200);
    let text = body["choices"][0]["message"]["content"].as_str().unwrap();
    if body["choices"][0]["finish_reason"] == "stop" {
        assert!(
            serde_json::from_str::<serde_json::Value>(text)
                .unwrap()
                .is_object(),
            "{text}"
        );
    } else {
        assert!(text.trim_start().starts_with('{'), "{text}");
    }
    s.stop().await.unwrap();
}

fn weather_tool() -> serde_json::Value {
    json!({"type": "function", "function": {
        "name": "get_weather",
        "description": "Current weather in a city.",
        "parameters": {"type": "object",
            "properties": {"city": {"type": "string", "maxLength": 40}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
            "required": ["city", "unit"], "additionalProperties": false}
    }})
}

/// Forced tool calls come back as OpenAI `tool_calls` whose arguments fit
/// the tool's schema, whole or streamed as deltas.
#[tokio::test]
async fn forced_tool_calls_fit_the_schema_whole_and_streamed() {
    let dir = tempfile::tempdir().unwrap();
    let (s, model) = embedded(dir.path()).await;
    let time_tool = json!({"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}});
    let req = json!({
        "model": model, "temperature": 0, "max_tokens": 150,
        "messages": [{"role": "user", "content": "What's the weather in Tartu?"}],
        "tools": [weather_tool(), time_tool], "tool_choice": "required"
    });
    let (status, body) = s.post("/v1/chat/completions", &req).await.unwrap();
    assert_eq!(status, 200, "{body}");
    let choice = &body["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls", "{body}");
    assert!(choice["message"]["content"].is_null(), "{body}");
    let calls = choice["message"]["tool_calls"].as_array().unwrap();
    assert!(!calls.is_empty() && calls.len() <= 8);
    for call in calls {
        assert!(call["id"].as_str().unwrap().starts_with("call_"));
        assert_eq!(call["type"], "function");
        let args: serde_json::Value =
            serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
        match call["function"]["name"].as_str().unwrap() {
            "get_weather" => {
                assert!(args["city"].is_string());
                assert!(["celsius", "fahrenheit"].contains(&args["unit"].as_str().unwrap()));
            }
            "get_time" => assert!(args.is_object()),
            other => panic!("unknown tool {other}"),
        }
    }

    // Named function, streamed: the deltas assemble into one call.
    let req = json!({
        "model": model, "temperature": 0, "max_tokens": 150, "stream": true,
        "messages": [{"role": "user", "content": "What's the weather in Narva?"}],
        "tools": [weather_tool()],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}}
    });
    let r = s.send("/v1/chat/completions", &req).await;
    assert_eq!(r.status(), 200);
    let events = sse_chunks(r).await.unwrap();
    let (mut id, mut name, mut arguments, mut finish) = (None, String::new(), String::new(), None);
    for e in &events {
        let choice = &e["choices"][0];
        if let Some(reason) = choice["finish_reason"].as_str() {
            finish = Some(reason.to_owned());
        }
        for d in choice["delta"]["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
        {
            assert_eq!(d["index"], 0);
            if let Some(i) = d["id"].as_str() {
                assert!(id.is_none(), "one id per call");
                id = Some(i.to_owned());
                assert_eq!(d["type"], "function");
            }
            name.push_str(d["function"]["name"].as_str().unwrap_or(""));
            arguments.push_str(d["function"]["arguments"].as_str().unwrap_or(""));
        }
    }
    assert!(id.is_some());
    assert_eq!(name, "get_weather");
    assert_eq!(
        finish.as_deref(),
        Some("stop"),
        "a forced function ends with stop"
    );
    let args: serde_json::Value = serde_json::from_str(&arguments).unwrap();
    assert!(args["city"].is_string(), "{arguments}");
    s.stop().await.unwrap();
}

/// `logprobs`: one entry per generated token, the raw distribution's
/// log-probabilities, alternatives most likely first.
#[tokio::test]
async fn logprobs_cover_every_token() {
    let dir = tempfile::tempdir().unwrap();
    let (s, model) = embedded(dir.path()).await;
    let req = json!({
        "model": model, "temperature": 0, "max_tokens": 12, "logprobs": true, "top_logprobs": 4,
        "messages": [{"role": "user", "content": "Name three colours."}]
    });
    let (status, body) = s.post("/v1/chat/completions", &req).await.unwrap();
    assert_eq!(status, 200, "{body}");
    let content = body["choices"][0]["message"]["content"].as_str().unwrap();
    let entries = body["choices"][0]["logprobs"]["content"]
        .as_array()
        .unwrap();
    assert_eq!(
        entries.len() as u64,
        body["usage"]["completion_tokens"].as_u64().unwrap()
    );
    let joined: String = entries
        .iter()
        .map(|e| e["token"].as_str().unwrap())
        .collect();
    assert_eq!(joined, content);
    for e in entries {
        let lp = e["logprob"].as_f64().unwrap();
        assert!(lp <= 0.0);
        let tops = e["top_logprobs"].as_array().unwrap();
        assert_eq!(tops.len(), 4);
        // Greedy: the chosen token is the likeliest one.
        assert_eq!(tops[0]["token"], e["token"]);
        assert!((tops[0]["logprob"].as_f64().unwrap() - lp).abs() < 1e-6);
        let values: Vec<f64> = tops
            .iter()
            .map(|t| t["logprob"].as_f64().unwrap())
            .collect();
        assert!(values.windows(2).all(|w| w[0] >= w[1]));
    }
    // Streamed: the chunks carry the same entries between them.
    let mut streamed = req.clone();
    streamed["stream"] = json!(true);
    let events = sse_chunks(s.send("/v1/chat/completions", &streamed).await)
        .await
        .unwrap();
    let n: usize = events
        .iter()
        .filter_map(|e| e["choices"][0]["logprobs"]["content"].as_array())
        .map(Vec::len)
        .sum();
    assert_eq!(n, entries.len());
    s.stop().await.unwrap();
}
