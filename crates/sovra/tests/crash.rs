//! Crash test: `kill -9` Sovra again and again while clients write at full
//! speed; after each restart every acknowledged write is present and whole,
//! every stored message opens with its key, and the audit chain verifies.
//!
//! Rounds: `SOVRA_CRASH_ROUNDS` (default 4 per backend). The counts are
//! printed to stderr (`cargo test -p sovra --test crash -- --nocapture`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use sovra_store::testdb::TestDb;
use sovra_testkit::{Citizen, Sovra, sse_events, stream_text};

const BIN: &str = env!("CARGO_BIN_EXE_sovra");
const KEY: &str = "9a1c7a0d9e2b3c8a5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4";
const WRITERS: usize = 8;

/// What the server acknowledged before it died.
#[derive(Default)]
struct Acked {
    /// (conversation, user message content)
    questions: Vec<(String, String)>,
    /// (conversation, full answer seen before `[DONE]`)
    answers: Vec<(String, String)>,
    /// (conversation, its owner: the writer's index)
    conversations: Vec<(String, usize)>,
    erasures: usize,
}

async fn writer(base: String, w: usize, me: Citizen, round: usize, acked: Arc<Mutex<Acked>>) {
    let client = reqwest::Client::new();
    let as_me = |r: reqwest::RequestBuilder| {
        r.header(reqwest::header::COOKIE, &me.cookie)
            .header("x-csrf-token", &me.csrf)
    };
    for n in 0.. {
        let Ok(r) = as_me(client.post(format!("{base}/api/conversations")))
            .json(&json!({"title": format!("r{round} w{w} n{n}")}))
            .send()
            .await
        else {
            return;
        };
        if r.status().as_u16() != 201 {
            return;
        }
        let Ok(c) = r.json::<Value>().await else {
            return;
        };
        let id = c["id"].as_str().unwrap_or_default().to_owned();
        acked.lock().unwrap().conversations.push((id.clone(), w));
        let content = format!("round {round} writer {w} message {n}: the quick brown fox");
        let Ok(r) = as_me(client.post(format!("{base}/api/conversations/{id}/messages")))
            .json(&json!({"content": content, "max_tokens": 6}))
            .send()
            .await
        else {
            return;
        };
        if r.status().as_u16() != 200 {
            return;
        }
        // The response starts after the question is stored.
        acked.lock().unwrap().questions.push((id.clone(), content));
        let Ok(events) = sse_events(r).await else {
            return;
        };
        if events.last().map(String::as_str) == Some("[DONE]") {
            acked
                .lock()
                .unwrap()
                .answers
                .push((id, stream_text(&events)));
        } else {
            return;
        }
        if w == 0 {
            // One writer also exercises audited erasures (each of a new
            // anonymous person: a request without a cookie).
            let Ok(r) = client.delete(format!("{base}/api/me/data")).send().await else {
                return;
            };
            if r.status().as_u16() == 200 {
                acked.lock().unwrap().erasures += 1;
            }
        }
    }
}

async fn crash_rounds(postgres: bool) {
    let rounds: usize = std::env::var("SOVRA_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let dir = tempfile::tempdir().unwrap();
    let db = if postgres {
        Some(TestDb::create().await.unwrap())
    } else {
        None
    };
    let mut env: Vec<(&str, &str)> = vec![
        ("SOVRA_ENGINE_SIM_TTFT_MS", "0"),
        ("SOVRA_ENGINE_SIM_TOKENS_PER_SECOND", "0"),
        ("SOVRA_STORAGE_MASTER_KEY", "env:TEST_MASTER_KEY"),
        ("TEST_MASTER_KEY", KEY),
    ];
    if let Some(db) = &db {
        env.push(("SOVRA_STORAGE_URL", db.url.as_str()));
    }
    let mut all = Acked::default();
    let mut total_erasures = 0;
    // The writers are anonymous people, each with the cookie the first
    // server handed out (it needs no server state, so it outlives crashes).
    let mut people: Vec<Citizen> = Vec::new();
    for round in 0..rounds {
        let s = Sovra::serve(Path::new(BIN), dir.path(), &["--engine", "sim"], &env)
            .await
            .expect("sovra restarts after kill -9");
        while people.len() < WRITERS {
            people.push(s.citizen().await);
        }
        // Everything acknowledged in earlier rounds survived the crash.
        check(&s, &all, &people, round).await;
        let acked = Arc::new(Mutex::new(Acked::default()));
        let mut tasks = tokio::task::JoinSet::new();
        for (w, me) in people.iter().enumerate() {
            tasks.spawn(writer(s.base.clone(), w, me.clone(), round, acked.clone()));
        }
        let run_ms = 400 + (round as u64 * 337) % 900;
        tokio::time::sleep(Duration::from_millis(run_ms)).await;
        s.signal("KILL").unwrap();
        while tasks.join_next().await.is_some() {}
        let _ = s.stop_within(Duration::from_secs(5)).await;
        let mut a = std::mem::take(&mut *acked.lock().unwrap());
        let t = &mut all;
        eprintln!(
            "crash round {round} ({}): killed after {run_ms} ms with {} conversations, {} questions, {} answers, {} erasures acknowledged",
            if postgres { "postgres" } else { "sqlite" },
            a.conversations.len(),
            a.questions.len(),
            a.answers.len(),
            a.erasures
        );
        total_erasures += a.erasures;
        t.conversations.append(&mut a.conversations);
        t.questions.append(&mut a.questions);
        t.answers.append(&mut a.answers);
    }
    let s = Sovra::serve(Path::new(BIN), dir.path(), &["--engine", "sim"], &env)
        .await
        .unwrap();
    let t = &all;
    check(&s, t, &people, rounds).await;
    s.stop().await.unwrap();
    // The audit chain verifies and holds every acknowledged erasure.
    let out = std::process::Command::new(BIN)
        .args(["data", "verify-audit", "--data-dir"])
        .arg(dir.path())
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_str(&text).unwrap();
    let entries = v["entries"].as_u64().unwrap() as usize;
    assert!(
        entries >= total_erasures,
        "{entries} audit entries < {total_erasures} acknowledged erasures"
    );
    eprintln!(
        "crash test ({}): {rounds} kill -9 rounds, {} conversations, {} questions, {} answers, {total_erasures} erasures acknowledged; all present after restart; audit chain of {entries} entries verifies",
        if postgres { "postgres" } else { "sqlite" },
        t.conversations.len(),
        t.questions.len(),
        t.answers.len()
    );
    if let Some(db) = db {
        db.drop_now().await.ok();
    }
}

async fn check(s: &Sovra, acked: &Acked, people: &[Citizen], round: usize) {
    // Nothing half-written: every stored conversation of every writer,
    // acknowledged or not, lists and opens (a torn sealed value would not).
    for me in people {
        let get = |path: String| s.as_citizen(reqwest::Method::GET, &path, me).send();
        let list: Value = get("/api/conversations".into())
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for c in list["data"].as_array().unwrap() {
            let id = c["id"].as_str().unwrap();
            let r = get(format!("/api/conversations/{id}")).await.unwrap();
            assert_eq!(
                r.status().as_u16(),
                200,
                "round {round}: stored conversation {id} does not open"
            );
        }
    }
    let mut by_conv: std::collections::HashMap<&str, Value> = Default::default();
    for (id, w) in &acked.conversations {
        let r = s
            .as_citizen(
                reqwest::Method::GET,
                &format!("/api/conversations/{id}"),
                &people[*w],
            )
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        assert_eq!(
            status, 200,
            "round {round}: acknowledged conversation {id} is missing: {body}"
        );
        by_conv.insert(id.as_str(), body);
    }
    for (id, q) in &acked.questions {
        let msgs = by_conv[id.as_str()]["messages"].as_array().unwrap();
        assert!(
            msgs.iter()
                .any(|m| m["role"] == "user" && m["content"] == q.as_str()),
            "round {round}: acknowledged question in {id} is missing"
        );
    }
    for (id, a) in &acked.answers {
        let msgs = by_conv[id.as_str()]["messages"].as_array().unwrap();
        assert!(
            msgs.iter()
                .any(|m| m["role"] == "assistant" && m["content"] == a.as_str()),
            "round {round}: acknowledged answer in {id} is missing or partial"
        );
    }
}

#[tokio::test]
async fn kill_9_loses_nothing_acknowledged_on_sqlite() {
    crash_rounds(false).await;
}

#[tokio::test]
async fn kill_9_loses_nothing_acknowledged_on_postgres() {
    crash_rounds(true).await;
}
