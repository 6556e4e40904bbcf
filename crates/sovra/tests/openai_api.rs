//! The OpenAI request surface on the real binary with the simulated engine:
//! every chat parameter Sovra accepts or refuses, the legacy
//! `/v1/completions` endpoint, errors after streaming began, and
//! docs/openai-compatibility.md kept true against the server.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use serde_json::{Value, json};
use sovra_testkit::{Sovra, sse_chunks, sse_events};

const BIN: &str = env!("CARGO_BIN_EXE_sovra");

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

fn chat(content: &str) -> Value {
    json!({"model": "sim", "messages": [{"role": "user", "content": content}]})
}

fn with(mut body: Value, extra: &Value) -> Value {
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

/// POST and check the status and the OpenAI error envelope; returns `error`.
async fn refused(s: &Sovra, path: &str, body: &Value, status: u16, param: &str) -> Value {
    let (got, v) = s.post(path, body).await.unwrap();
    assert_eq!(got, status, "{body} -> {v}");
    let e = v["error"].clone();
    assert_eq!(e["param"].as_str(), Some(param), "{body} -> {v}");
    assert_eq!(e["type"], "invalid_request_error", "{v}");
    assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(e.as_object().unwrap().contains_key("code"));
    e
}

#[tokio::test]
async fn chat_accepts_openai_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let s = sim(dir.path(), &[]).await;
    let plain = s
        .post("/v1/chat/completions", &chat("hello"))
        .await
        .unwrap()
        .1;
    let extra = json!({
        "max_completion_tokens": 40,
        "presence_penalty": 0.5,
        "frequency_penalty": -0.5,
        "logit_bias": {"50": 10, "7": -100},
        "user": "citizen-42",
        "n": 1,
        "logprobs": false,
        "response_format": {"type": "text"},
        "modalities": ["text"],
        "store": false,
        "metadata": {"team": "a"},
        "seed": 7,
        "some_future_field": {"ignored": true}
    });
    let (status, body) = s
        .post("/v1/chat/completions", &with(chat("hello"), &extra))
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["system_fingerprint"], plain["system_fingerprint"]);
    assert!(body["choices"][0]["message"]["content"].is_string());
    // Penalties and biases reach the engine; the simulated one ignores them.
    assert_eq!(
        body["usage"]["prompt_tokens"],
        plain["usage"]["prompt_tokens"]
    );
    s.stop().await.unwrap();
}

#[tokio::test]
async fn tool_messages_are_part_of_the_prompt() {
    let dir = tempfile::tempdir().unwrap();
    let s = sim(dir.path(), &[]).await;
    let calls = json!([{"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Oslo\"}"}},
                       {"id": "call_2", "type": "function", "function": {"name": "time", "arguments": "{}"}}]);
    let messages = json!([
        {"role": "developer", "content": "be brief"},
        {"role": "user", "content": "weather and time in Oslo?"},
        {"role": "assistant", "content": null, "tool_calls": calls},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "noon"}]},
        {"role": "user", "content": "thanks"}
    ]);
    let body = json!({"model": "sim", "messages": messages});
    let (status, short) = s
        .post(
            "/v1/chat/completions",
            &json!({"model": "sim", "messages": [{"role": "user", "content": "thanks"}]}),
        )
        .await
        .unwrap();
    assert_eq!(status, 200);
    let (status, full) = s.post("/v1/chat/completions", &body).await.unwrap();
    assert_eq!(status, 200, "{full}");
    // The tool calls and results count as prompt tokens.
    assert!(
        full["usage"]["prompt_tokens"].as_u64() > short["usage"]["prompt_tokens"].as_u64(),
        "{full} vs {short}"
    );

    // A tool message must answer a call of the assistant message before it...
    let mut orphan = body.clone();
    orphan["messages"].as_array_mut().unwrap().remove(2);
    refused(
        &s,
        "/v1/chat/completions",
        &orphan,
        400,
        "messages.[2].role",
    )
    .await;
    // ... must say which call it answers ...
    let mut anonymous = body.clone();
    anonymous["messages"][3]
        .as_object_mut()
        .unwrap()
        .remove("tool_call_id");
    refused(
        &s,
        "/v1/chat/completions",
        &anonymous,
        400,
        "messages[3].tool_call_id",
    )
    .await;
    // ... and every call needs its answer.
    let mut unanswered = body.clone();
    unanswered["messages"].as_array_mut().unwrap().remove(4);
    let e = refused(
        &s,
        "/v1/chat/completions",
        &unanswered,
        400,
        "messages.[4].role",
    )
    .await;
    assert!(e["message"].as_str().unwrap().contains("call_2"));
    s.stop().await.unwrap();
}

/// Every chat parameter Sovra refuses, with the `param` its error names.
/// docs/openai-compatibility.md lists the same rows.
fn refused_chat_parameters() -> Vec<(Value, &'static str)> {
    vec![
        (json!({"n": 2}), "n"),
        (json!({"n": 0}), "n"),
        (
            json!({"max_tokens": 10, "max_completion_tokens": 10}),
            "max_tokens",
        ),
        (json!({"presence_penalty": 2.5}), "presence_penalty"),
        (json!({"frequency_penalty": -3}), "frequency_penalty"),
        (json!({"temperature": 3}), "temperature"),
        (json!({"top_p": 1.5}), "top_p"),
        (json!({"logit_bias": {"abc": 1}}), "logit_bias"),
        (json!({"logit_bias": {"5": 101}}), "logit_bias"),
        (json!({"top_logprobs": 2}), "top_logprobs"),
        (
            json!({"logprobs": true, "top_logprobs": 21}),
            "top_logprobs",
        ),
        (
            json!({"response_format": {"type": "json_object"}}),
            "messages",
        ),
        (
            json!({"response_format": {"type": "json_schema", "json_schema": {"schema": {}}}}),
            "response_format.json_schema.name",
        ),
        (
            json!({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "strict": true,
                "schema": {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}}}}),
            "response_format",
        ),
        (
            json!({"response_format": {"type": "xml"}}),
            "response_format.type",
        ),
        (json!({"tools": []}), "tools"),
        (json!({"tools": [{"type": "retrieval"}]}), "tools[0].type"),
        (
            json!({"tools": [{"type": "function", "function": {"name": "has space"}}]}),
            "tools[0].function.name",
        ),
        (
            json!({"tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": {"type": "function", "function": {"name": "g"}}}),
            "tool_choice",
        ),
        (json!({"tool_choice": "auto"}), "tool_choice"),
        (json!({"parallel_tool_calls": true}), "parallel_tool_calls"),
        (json!({"functions": [{"name": "f"}]}), "functions"),
        (json!({"function_call": "auto"}), "function_call"),
        (json!({"modalities": ["text", "audio"]}), "modalities"),
        (
            json!({"audio": {"voice": "alloy", "format": "wav"}}),
            "audio",
        ),
        (
            json!({"prediction": {"type": "content", "content": "x"}}),
            "prediction",
        ),
        (json!({"web_search_options": {}}), "web_search_options"),
        (json!({"reasoning_effort": "low"}), "reasoning_effort"),
    ]
}

#[tokio::test]
async fn chat_refuses_what_it_cannot_honour_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let s = sim(dir.path(), &[]).await;
    for (extra, param) in refused_chat_parameters() {
        let e = refused(
            &s,
            "/v1/chat/completions",
            &with(chat("x"), &extra),
            400,
            param,
        )
        .await;
        if param == "presence_penalty" {
            assert_eq!(e["code"], "decimal_above_max_value");
            assert_eq!(
                e["message"],
                "Invalid 'presence_penalty': decimal above maximum value. Expected a value <= 2, but got 2.5 instead."
            );
        }
        if param == "max_tokens" {
            assert_eq!(e["code"], "invalid_parameter_combination");
        }
        // Streaming requests are refused the same way, before any event.
        let mut streamed = with(chat("x"), &extra);
        streamed["stream"] = json!(true);
        refused(&s, "/v1/chat/completions", &streamed, 400, param).await;
    }
    // top_p 0 is allowed, as on OpenAI.
    let (status, _) = s
        .post(
            "/v1/chat/completions",
            &with(chat("x"), &json!({"top_p": 0})),
        )
        .await
        .unwrap();
    assert_eq!(status, 200);
    s.stop().await.unwrap();
}

#[tokio::test]
async fn streamed_chunks_carry_the_fingerprint() {
    let dir = tempfile::tempdir().unwrap();
    let s = sim(dir.path(), &[]).await;
    let req = with(chat("fingerprint"), &json!({"stream": true}));
    let events = sse_events(s.send("/v1/chat/completions", &req).await)
        .await
        .unwrap();
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    let fp = chunks[0]["system_fingerprint"].clone();
    assert!(fp.as_str().unwrap().starts_with("fp_"));
    assert!(chunks.iter().all(|c| c["system_fingerprint"] == fp));
    s.stop().await.unwrap();
}

#[tokio::test]
async fn legacy_completions_have_openai_shape() {
    let dir = tempfile::tempdir().unwrap();
    let s = sim(dir.path(), &[]).await;
    let (status, body) = s
        .post(
            "/v1/completions",
            &json!({"model": "sim", "prompt": "Once upon a time"}),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body["id"].as_str().unwrap().starts_with("cmpl-"));
    assert_eq!(body["object"], "text_completion");
    assert_eq!(body["model"], "sim");
    assert!(body["created"].as_u64().unwrap() > 1_700_000_000);
    assert!(
        body["system_fingerprint"]
            .as_str()
            .unwrap()
            .starts_with("fp_")
    );
    let choice = &body["choices"][0];
    assert_eq!(choice["index"], 0);
    assert!(choice.as_object().unwrap().contains_key("logprobs") && choice["logprobs"].is_null());
    let text = choice["text"].as_str().unwrap();
    assert!(text.starts_with("You said: Once upon a time."), "{text}");
    // OpenAI's default max_tokens here is 16.
    assert_eq!(body["usage"]["completion_tokens"], 16);
    assert_eq!(choice["finish_reason"], "length");
    // "Once upon a time" is 16 bytes: 4 tokens for the simulated tokenizer.
    assert_eq!(body["usage"]["prompt_tokens"], 4);
    assert_eq!(body["usage"]["total_tokens"], 20);

    // echo, stop, a list of one prompt, sampling parameters.
    let req = json!({"model": "sim", "prompt": ["Once upon a time"], "echo": true, "stop": ["time."],
                     "max_tokens": 30, "temperature": 0.2, "top_p": 0.9, "seed": 3,
                     "presence_penalty": 1, "frequency_penalty": 1, "logit_bias": {"1": 5},
                     "user": "u", "n": 1, "best_of": 1, "suffix": null});
    let (status, body) = s.post("/v1/completions", &req).await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["choices"][0]["text"],
        "Once upon a timeYou said: Once upon a "
    );
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    s.stop().await.unwrap();
}

#[tokio::test]
async fn legacy_completions_stream_like_openai() {
    let dir = tempfile::tempdir().unwrap();
    let s = sim(dir.path(), &[]).await;
    let base = json!({"model": "sim", "prompt": "tell me", "max_tokens": 12, "echo": true});
    let (_, plain) = s.post("/v1/completions", &base).await.unwrap();
    let req = with(
        base.clone(),
        &json!({"stream": true, "stream_options": {"include_usage": true}}),
    );
    let r = s.send("/v1/completions", &req).await;
    assert_eq!(r.status(), 200);
    let chunks = sse_chunks(r).await.unwrap();
    let id = chunks[0]["id"].clone();
    assert!(id.as_str().unwrap().starts_with("cmpl-"));
    assert!(
        chunks
            .iter()
            .all(|c| c["id"] == id && c["object"] == "text_completion")
    );
    // The echoed prompt comes first; the text adds up to the non-streamed one.
    assert_eq!(chunks[0]["choices"][0]["text"], "tell me");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["text"].as_str())
        .collect();
    assert_eq!(text, plain["choices"][0]["text"].as_str().unwrap());
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "length");
    assert_eq!(finish["choices"][0]["text"], "");
    assert!(chunks[1]["choices"][0]["finish_reason"].is_null());
    assert!(chunks[1].as_object().unwrap().contains_key("usage") && chunks[1]["usage"].is_null());
    let usage = &chunks[chunks.len() - 1];
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"], plain["usage"]);

    // Without include_usage there is no usage field at all.
    let events = sse_events(
        s.send("/v1/completions", &with(base, &json!({"stream": true})))
            .await,
    )
    .await
    .unwrap();
    let first: Value = serde_json::from_str(&events[0]).unwrap();
    assert!(!first.as_object().unwrap().contains_key("usage"));
    s.stop().await.unwrap();
}

/// Every legacy completion parameter Sovra refuses, with its error's `param`.
fn refused_completion_parameters() -> Vec<(Value, &'static str)> {
    vec![
        (json!({"suffix": "end"}), "suffix"),
        (json!({"prompt": ["a", "b"]}), "prompt"),
        (json!({"prompt": [1, 2, 3]}), "prompt"),
        (json!({"prompt": [[1], [2]]}), "prompt"),
        (json!({"best_of": 3}), "best_of"),
        (json!({"logprobs": 1}), "logprobs"),
        (json!({"n": 2}), "n"),
    ]
}

/// The `param`s that rows of one section of docs/openai-compatibility.md
/// say a refusal names: every "param `x`" in a row that says "refused".
fn documented_refusals(section: &str) -> std::collections::BTreeSet<String> {
    let doc = include_str!("../../../docs/openai-compatibility.md");
    let body = doc.split(section).nth(1).expect("section in the doc");
    let body = body.split("\n## ").next().unwrap_or(body);
    let mut out = std::collections::BTreeSet::new();
    for row in body.lines().filter(|l| l.starts_with("| `")) {
        if !row.contains("refused") {
            continue;
        }
        for part in row.split("param `").skip(1) {
            out.insert(part.split('`').next().unwrap().to_owned());
        }
    }
    out
}

#[test]
fn the_compatibility_doc_matches_the_tested_refusals() {
    let tested = |cases: Vec<(Value, &'static str)>| -> std::collections::BTreeSet<String> {
        cases.into_iter().map(|(_, p)| p.to_owned()).collect()
    };
    let chat = tested(refused_chat_parameters());
    let doc_chat = documented_refusals("## `POST /v1/chat/completions`");
    assert!(doc_chat.len() >= 15, "{doc_chat:?}");
    let untested: Vec<_> = doc_chat.difference(&chat).collect();
    assert!(
        untested.is_empty(),
        "documented but not tested: {untested:?}"
    );
    let legacy = tested(refused_completion_parameters());
    let doc_legacy = documented_refusals("## `POST /v1/completions`");
    assert_eq!(doc_legacy, legacy);
}

#[tokio::test]
async fn legacy_completions_refuse_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let s = sim(
        dir.path(),
        &[
            ("SOVRA_ENGINE_CONTEXT", "128"),
            ("SOVRA_LIMITS_MAX_COMPLETION_TOKENS", "32"),
        ],
    )
    .await;
    let base = json!({"model": "sim", "prompt": "x"});
    let mut cases = refused_completion_parameters();
    cases.extend([
        (json!({"max_tokens": 33}), "max_tokens"),
        (json!({"presence_penalty": -2.1}), "presence_penalty"),
        (json!({"logit_bias": {"x": 1}}), "logit_bias"),
        (json!({"stop": ["1", "2", "3", "4", "5"]}), "stop"),
        (
            json!({"stream_options": {"include_usage": true}}),
            "stream_options",
        ),
    ]);
    for (extra, param) in cases {
        refused(
            &s,
            "/v1/completions",
            &with(base.clone(), &extra),
            400,
            param,
        )
        .await;
    }
    refused(
        &s,
        "/v1/completions",
        &json!({"model": "sim"}),
        400,
        "prompt",
    )
    .await;
    let e = refused(
        &s,
        "/v1/completions",
        &json!({"model": "gpt-3.5-turbo-instruct", "prompt": "x"}),
        404,
        "model",
    )
    .await;
    assert_eq!(e["code"], "model_not_found");
    // Context overflow says how many tokens were asked for and how many fit.
    let long = json!({"model": "sim", "prompt": "word ".repeat(150), "max_tokens": 10});
    let (status, v) = s.post("/v1/completions", &long).await.unwrap();
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["code"], "context_length_exceeded");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("188") && message.contains("10") && message.contains("128"),
        "{message}"
    );
    s.stop().await.unwrap();
}

#[tokio::test]
async fn a_failure_after_streaming_began_ends_with_an_error_event() {
    let dir = tempfile::tempdir().unwrap();
    let s = sim(dir.path(), &[("SOVRA_ENGINE_SIM_FAIL_AFTER_TOKENS", "3")]).await;
    for (path, body) in [
        (
            "/v1/chat/completions",
            with(chat("fail soon"), &json!({"stream": true})),
        ),
        (
            "/v1/completions",
            json!({"model": "sim", "prompt": "fail soon", "stream": true}),
        ),
    ] {
        let r = s.send(path, &body).await;
        assert_eq!(r.status(), 200);
        let events = sse_events(r).await.unwrap();
        assert!(!events.iter().any(|e| e == "[DONE]"), "{events:?}");
        let last: Value = serde_json::from_str(events.last().unwrap()).unwrap();
        assert_eq!(last["error"]["type"], "server_error", "{last}");
        assert!(
            last["error"]["message"]
                .as_str()
                .unwrap()
                .contains("3 tokens")
        );
        assert!(last["error"].as_object().unwrap().contains_key("param"));
        let text: String = events
            .iter()
            .filter_map(|e| serde_json::from_str::<Value>(e).ok())
            .filter_map(|v| {
                let choice = &v["choices"][0];
                choice["delta"]["content"]
                    .as_str()
                    .or(choice["text"].as_str())
                    .map(str::to_owned)
            })
            .collect();
        assert!(text.starts_with("You said:"), "{text}");
    }
    // Before streaming, the same failure is a plain 500.
    let (status, v) = s
        .post("/v1/chat/completions", &chat("fail soon"))
        .await
        .unwrap();
    assert_eq!(status, 500, "{v}");
    assert_eq!(v["error"]["type"], "server_error");
    s.stop().await.unwrap();
}

/// The simulated engine writes canned text: it refuses what only a real
/// model can honour (structured output, forced tool calls, log-probabilities)
/// instead of returning text that merely looks compliant, and answers
/// `tool_choice: auto` in text, as a model that chose not to call would.
#[tokio::test]
async fn the_sim_engine_refuses_what_it_cannot_enforce() {
    let dir = tempfile::tempdir().unwrap();
    let s = sim(dir.path(), &[]).await;
    let schema = json!({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}});
    refused(
        &s,
        "/v1/chat/completions",
        &with(chat("x"), &schema),
        400,
        "response_format",
    )
    .await;
    refused(
        &s,
        "/v1/chat/completions",
        &with(chat("x"), &json!({"logprobs": true})),
        400,
        "logprobs",
    )
    .await;
    let tools = json!([{"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}]);
    refused(
        &s,
        "/v1/chat/completions",
        &with(
            chat("x"),
            &json!({"tools": tools, "tool_choice": "required"}),
        ),
        400,
        "tool_choice",
    )
    .await;
    let (status, body) = s
        .post(
            "/v1/chat/completions",
            &with(chat("what time is it?"), &json!({"tools": tools})),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert!(body["choices"][0]["message"]["content"].is_string());
    assert!(body["choices"][0]["message"].get("tool_calls").is_none());
    s.stop().await.unwrap();
}
