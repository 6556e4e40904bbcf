//! The embedded engine with the real default model (SmolLM2-135M-Instruct).
//!
//! The model must be in the cache (`sovra models pull`, which the test
//! script runs first) or named by `SOVRA_TEST_MODEL`; without it these tests
//! fail and say so, rather than pass without having run.

#![allow(clippy::panic)]

use std::time::Instant;

use futures::StreamExt;
use sovra_core::openai::{FinishReason, Role};
use sovra_embedded::{EmbeddedConfig, EmbeddedEngine};
use sovra_engine::{Engine, EngineError, Event, Finish, GenerateRequest, SamplingParams, Turn};

fn engine(parallel: u32) -> EmbeddedEngine {
    engine_with_queue(parallel, 64)
}

fn engine_with_queue(parallel: u32, queue_depth: usize) -> EmbeddedEngine {
    let mut config =
        EmbeddedConfig::new(sovra_testkit::default_model_path(), "smollm2-135m-instruct");
    config.parallel = parallel;
    config.context_per_sequence = 1024;
    config.threads = 2;
    config.queue_depth = queue_depth;
    match EmbeddedEngine::load(config) {
        Ok(e) => e,
        Err(e) => panic!("engine failed to load: {e}"),
    }
}

fn ask(question: &str, params: SamplingParams) -> GenerateRequest {
    GenerateRequest::chat(
        vec![
            Turn::new(Role::System, "You are a helpful assistant. Answer briefly."),
            Turn::new(Role::User, question),
        ],
        params,
    )
}

async fn run(
    engine: &EmbeddedEngine,
    req: GenerateRequest,
) -> Result<(String, Finish, usize), EngineError> {
    let mut stream = engine.generate(req).await?;
    let mut text = String::new();
    let mut deltas = 0;
    while let Some(event) = stream.next().await {
        match event? {
            Event::Delta(d) => {
                deltas += 1;
                text.push_str(&d);
            }
            Event::Logprobs(_) => {}
            Event::Finish(f) => return Ok((text, f, deltas)),
        }
    }
    Err(EngineError::Internal("stream ended without finish".into()))
}

fn greedy(max_tokens: u32) -> SamplingParams {
    SamplingParams {
        max_tokens: Some(max_tokens),
        temperature: 0.0,
        ..SamplingParams::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_on_topic_and_streams() {
    let engine = engine(2);
    let (text, finish, deltas) = run(&engine, ask("What is the capital of France?", greedy(48)))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(text.contains("Paris"), "answer: {text}");
    assert!(deltas > 1, "streamed in {deltas} pieces");
    assert!(finish.prompt_tokens > 10);
    assert!(finish.completion_tokens >= deltas as u32 - 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honours_max_tokens_and_stop() {
    let engine = engine(2);
    let (_, finish, _) = run(&engine, ask("Write a long story about a cat.", greedy(5)))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(finish.reason, FinishReason::Length);
    assert_eq!(finish.completion_tokens, 5);

    // Take a word from the middle of the greedy answer as the stop sequence.
    let question = "What is the capital of France?";
    let (full, _, _) = run(&engine, ask(question, greedy(40)))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let words: Vec<&str> = full.split_whitespace().collect();
    assert!(words.len() >= 4, "answer too short to test stop: {full:?}");
    let stop = words[words.len() / 2].to_owned();
    let params = SamplingParams {
        stop: vec![stop.clone()],
        ..greedy(40)
    };
    let (cut, finish, _) = run(&engine, ask(question, params))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(finish.reason, FinishReason::Stop);
    assert!(
        !cut.contains(&stop) && full.starts_with(&cut),
        "stop {stop:?} cut: {cut:?} full: {full:?}"
    );
    assert!(cut.len() < full.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_seed_same_answer() {
    let engine = engine(1);
    let params = SamplingParams {
        max_tokens: Some(24),
        temperature: 0.9,
        seed: Some(42),
        ..SamplingParams::default()
    };
    let a = run(&engine, ask("Tell me about the sea.", params.clone()))
        .await
        .map(|r| r.0);
    let b = run(&engine, ask("Tell me about the sea.", params))
        .await
        .map(|r| r.0);
    assert_eq!(a, b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_concurrent_requests_finish_and_match_alone() {
    let engine = std::sync::Arc::new(engine(4));
    let questions = [
        "What is the capital of France?",
        "Name a primary colour.",
        "What is 2 plus 2?",
        "What do bees make?",
    ];
    // Greedy answers computed one at a time...
    let mut alone = Vec::new();
    for q in questions {
        alone.push(
            run(&engine, ask(q, greedy(24)))
                .await
                .map(|r| r.0)
                .unwrap_or_default(),
        );
    }
    // ...and all four at once, decoded together.
    let started = Instant::now();
    let tasks: Vec<_> = questions
        .iter()
        .map(|q| {
            let engine = std::sync::Arc::clone(&engine);
            let q = q.to_string();
            tokio::spawn(async move { run(&engine, ask(&q, greedy(24))).await })
        })
        .collect();
    let mut together = Vec::new();
    for t in tasks {
        let r = t
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(r.1.completion_tokens > 0);
        together.push(r.0);
    }
    eprintln!("4 concurrent requests took {:?}", started.elapsed());
    // Batched kernels may round differently from single-sequence ones, so the
    // texts are compared loosely: each concurrent answer starts like its solo one.
    for (a, b) in alone.iter().zip(&together) {
        let head: String = a.chars().take(8).collect();
        assert!(b.starts_with(&head), "alone {a:?} vs together {b:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompt_too_long_is_refused_before_streaming() {
    let engine = engine(1);
    let long = "word ".repeat(3000);
    let err = engine.generate(ask(&long, greedy(16))).await.err();
    assert!(
        matches!(err, Some(EngineError::ContextLength { context: 1024, .. })),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_stream_frees_its_slot() {
    let engine = engine(1);
    {
        let mut stream = engine
            .generate(ask("Write a long story.", greedy(500)))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let _ = stream.next().await;
    }
    // With one slot, this only finishes if the abandoned request was dropped.
    let r = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        run(&engine, ask("Hi", greedy(4))),
    )
    .await;
    assert!(matches!(r, Ok(Ok(_))), "{r:?}");
}

const LONG_SYSTEM: &str = "You are the assistant of a national public service. You help citizens with \
passports, identity cards, taxes, schooling, health insurance and social benefits. You answer in plain \
language, you never invent office hours or fees, you point people to the official portal when unsure, \
and you keep answers short: two or three sentences at most. You are polite and patient with everyone.";

fn with_system(question: &str, max_tokens: u32) -> GenerateRequest {
    GenerateRequest::chat(
        vec![
            Turn::new(Role::System, LONG_SYSTEM),
            Turn::new(Role::User, question),
        ],
        greedy(max_tokens),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_system_prompt_is_not_recomputed() {
    let engine = engine(2);
    run(&engine, with_system("How do I renew a passport?", 8))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let before = engine.stats();
    let (_, finish, _) = run(&engine, with_system("When are taxes due?", 8))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let after = engine.stats();
    let reused = after.reused_prompt_tokens - before.reused_prompt_tokens;
    // The system prompt is about 80 tokens; all of it comes from the cache.
    assert!(
        reused >= 60,
        "reused {reused} of {} prompt tokens",
        finish.prompt_tokens
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_request_shares_its_prefix_with_a_new_one() {
    let engine = std::sync::Arc::new(engine(2));
    let first = engine
        .generate(with_system("Tell me about identity cards.", 64))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut first = first;
    // Once the first answer streams, its prompt is in the cache.
    let _ = first.next().await;
    let before = engine.stats();
    let (text, _, _) = run(&engine, with_system("When are taxes due?", 8))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let after = engine.stats();
    assert!(!text.is_empty());
    assert_eq!(
        after.prefix_copies - before.prefix_copies,
        1,
        "the new request did not copy the live prefix"
    );
    assert!(after.reused_prompt_tokens - before.reused_prompt_tokens >= 60);
    // The first request is unharmed and finishes.
    let mut finished = false;
    while let Some(ev) = first.next().await {
        if matches!(ev, Ok(Event::Finish(_))) {
            finished = true;
        }
    }
    assert!(finished);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_refuses_new_requests() {
    let engine = engine_with_queue(1, 1);
    let mut running = engine
        .generate(ask("Write a long story.", greedy(400)))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // Once it streams, it holds the only slot.
    let _ = running.next().await;
    let queued = engine.generate(ask("Hi", greedy(4))).await;
    assert!(queued.is_ok(), "one request may wait");
    let refused = engine.generate(ask("Hi", greedy(4))).await.err();
    assert_eq!(refused, Some(EngineError::Overloaded(1)));
    drop(running);
    // With the slot freed, the queued request is served.
    let mut queued = queued.unwrap_or_else(|e| panic!("{e}"));
    let mut finished = false;
    while let Some(ev) = queued.next().await {
        finished |= matches!(ev, Ok(Event::Finish(_)));
    }
    assert!(finished);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logit_bias_and_penalties_change_the_answer() {
    let engine = engine(2);
    let question = "Repeat the word hello ten times.";
    let (plain, _, _) = run(&engine, ask(question, greedy(24)))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // A +100 bias on one token makes greedy decoding pick it every time.
    let forced = SamplingParams {
        logit_bias: vec![(1000, 100.0)],
        ..greedy(8)
    };
    let (text, finish, _) = run(&engine, ask(question, forced))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(finish.completion_tokens, 8);
    assert!(
        !text.is_empty() && text.len() % 8 == 0 && text == text[..text.len() / 8].repeat(8),
        "forced answer: {text:?}"
    );
    // Penalising repeats changes a repetitive greedy answer.
    let penalised = SamplingParams {
        frequency_penalty: 2.0,
        presence_penalty: 2.0,
        ..greedy(24)
    };
    let (varied, _, _) = run(&engine, ask(question, penalised))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let count = |s: &str| s.to_lowercase().matches("hello").count();
    assert!(
        varied != plain && count(&varied) < count(&plain),
        "plain: {plain:?} penalised: {varied:?}"
    );
    // Ids outside the vocabulary are refused by name.
    let bad = SamplingParams {
        logit_bias: vec![(10_000_000, 1.0)],
        ..greedy(4)
    };
    match run(&engine, ask(question, bad)).await {
        Err(EngineError::InvalidParam { param, .. }) => assert_eq!(param, "logit_bias"),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn continues_a_raw_text() {
    let engine = engine(1);
    let (text, finish, _) = run(
        &engine,
        GenerateRequest::text("The capital of France is", greedy(8)),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    // Raw text is not wrapped in the chat template: BOS plus a few tokens.
    assert!(finish.prompt_tokens < 10, "{finish:?}");
    assert!(text.contains("Paris"), "continuation: {text:?}");
}
