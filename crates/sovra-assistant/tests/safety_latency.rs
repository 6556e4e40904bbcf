//! What the safety pipeline adds to a request, measured in process with
//! the rules (the classifier's cost is measured by `sovra eval safety
//! --classifier exemplars`): screening the question (language, moderation,
//! decision, PII placeholders) and checking a 200-token streamed answer.
//!
//!   cargo test --release -p sovra-assistant --test safety_latency -- --ignored --nocapture

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use sovra_assistant::safety::{Gate, Safety};
use sovra_core::openai::{FinishReason, Role};
use sovra_engine::{Event, Finish, Prompt, Turn};

fn root(rel: &str) -> String {
    format!("{}/../../{rel}", env!("CARGO_MANIFEST_DIR"))
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark; prints p50/p99"]
async fn pipeline_latency_per_request() {
    let profile = sovra_profile::load(root("profiles/ee.toml")).unwrap();
    let safety = Safety::new(sovra_guard::Guard::new(profile).unwrap(), true);
    let store: Arc<dyn sovra_store::Store> =
        Arc::new(sovra_store::SqliteStore::in_memory().await.unwrap());
    let mut texts = Vec::new();
    for set in ["eval/safety/cases.jsonl", "eval/safety/exemplars.jsonl"] {
        for c in sovra_guard::eval::load_cases(root(set)).unwrap() {
            texts.push(c.text);
        }
    }
    // Warm up lingua's models (loaded on first use).
    let mut p = Prompt::Chat(vec![Turn::new(Role::User, "Tere!")]);
    safety.screen(&*store, None, &mut p).await.unwrap();

    let mut input = Vec::with_capacity(texts.len());
    let mut output = Vec::new();
    let answer: Vec<String> = "The passport office in Tallinn opens at nine and you can book a time online at the state portal. "
        .repeat(10)
        .split_inclusive(' ')
        .map(str::to_owned)
        .collect();
    for (i, text) in texts.iter().enumerate() {
        let mut prompt = Prompt::Chat(vec![
            Turn::new(Role::System, "You are Kratt."),
            Turn::new(Role::User, text.clone()),
        ]);
        let started = Instant::now();
        let gate = safety.screen(&*store, None, &mut prompt).await.unwrap();
        input.push(started.elapsed());
        if i % 5 != 0 {
            continue;
        }
        let (language, vault) = match gate {
            Gate::Pass { language, vault } => (language, vault),
            Gate::Answer { language, .. } => (language, sovra_guard::Vault::new()),
        };
        let events: Vec<Result<Event, sovra_engine::EngineError>> = answer
            .iter()
            .map(|d| Ok(Event::Delta(d.clone())))
            .chain([Ok(Event::Finish(Finish {
                reason: FinishReason::Stop,
                prompt_tokens: 10,
                completion_tokens: answer.len() as u32,
            }))])
            .collect();
        let started = Instant::now();
        let out = safety.guard_output(
            Box::pin(futures::stream::iter(events)),
            &language.answer_language,
            vault,
            store.clone(),
            None,
        );
        let n = out.count().await;
        output.push(started.elapsed());
        assert!(n >= answer.len());
    }
    input.sort();
    output.sort();
    let tokens = answer.len() as f64;
    println!(
        "input screening over {} questions: p50 {:?}, p99 {:?}",
        input.len(),
        pct(&input, 0.5),
        pct(&input, 0.99)
    );
    println!(
        "output check of a {}-token answer, over {} answers: p50 {:?} ({:.1} us per token), p99 {:?}",
        answer.len(),
        output.len(),
        pct(&output, 0.5),
        pct(&output, 0.5).as_secs_f64() * 1e6 / tokens,
        pct(&output, 0.99)
    );
}
