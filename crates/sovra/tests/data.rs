//! Data sovereignty through the real binary, on both backends: what a
//! citizen writes is sealed on disk, the person can export and erase it
//! (over HTTP and with `sovra data`), erasures land in a verifying audit
//! trail, and backups are taken while serving.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sovra_store::testdb::TestDb;
use sovra_testkit::{Sovra, sse_events};

const BIN: &str = env!("CARGO_BIN_EXE_sovra");
const KEY: &str = "4f1c7a0d9e2b3c8a5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4";

/// How the test reaches a backend.
struct Backend {
    env: Vec<(String, String)>,
    db: Option<TestDb>,
}

async fn backend(postgres: bool) -> Backend {
    let mut env = vec![
        ("SOVRA_ENGINE_SIM_TTFT_MS".into(), "0".into()),
        ("SOVRA_ENGINE_SIM_TOKENS_PER_SECOND".into(), "0".into()),
        (
            "SOVRA_STORAGE_MASTER_KEY".into(),
            "env:TEST_MASTER_KEY".into(),
        ),
        ("TEST_MASTER_KEY".into(), KEY.into()),
    ];
    let db = if postgres {
        let db = TestDb::create().await.expect("a fresh PostgreSQL database");
        env.push(("SOVRA_STORAGE_URL".into(), db.url.clone()));
        Some(db)
    } else {
        None
    };
    Backend { env, db }
}

impl Backend {
    fn env(&self) -> Vec<(&str, &str)> {
        self.env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    async fn serve(&self, dir: &Path) -> Sovra {
        Sovra::serve(Path::new(BIN), dir, &["--engine", "sim"], &self.env())
            .await
            .expect("sovra starts")
    }

    /// `sovra data ARGS` against the same store.
    fn data(&self, dir: &Path, args: &[&str]) -> (bool, String) {
        let out = std::process::Command::new(BIN)
            .arg("data")
            .args(args)
            .arg("--data-dir")
            .arg(dir)
            .envs(self.env())
            .output()
            .expect("sovra data runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    /// The files the backend keeps data in: the data dir, or PostgreSQL's
    /// files of this database plus its WAL (after a checkpoint).
    async fn raw_files(&self, dir: &Path) -> Vec<PathBuf> {
        let mut roots = vec![dir.to_path_buf()];
        if let Some(db) = &self.db {
            let q = |sql: &str| {
                let out = std::process::Command::new("psql")
                    .args([db.url.as_str(), "-Atc", sql])
                    .output()
                    .expect("psql");
                String::from_utf8_lossy(&out.stdout).trim().to_owned()
            };
            q("CHECKPOINT");
            let data_dir = PathBuf::from(q("SHOW data_directory"));
            let oid = q(&format!(
                "SELECT oid FROM pg_database WHERE datname = '{}'",
                db.name
            ));
            roots.push(data_dir.join("base").join(oid));
            roots.push(data_dir.join("pg_wal"));
        }
        let mut files = Vec::new();
        while let Some(p) = roots.pop() {
            if p.is_dir() {
                for e in std::fs::read_dir(&p).unwrap().flatten() {
                    roots.push(e.path());
                }
            } else if p.is_file() {
                files.push(p);
            }
        }
        files
    }

    async fn files_containing(&self, dir: &Path, needle: &str) -> Vec<PathBuf> {
        self.raw_files(dir)
            .await
            .into_iter()
            .filter(|f| {
                std::fs::read(f)
                    .map(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
                    .unwrap_or(false)
            })
            .collect()
    }
}

async fn as_user(
    s: &Sovra,
    user: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = s.as_person(method, path, user).await;
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Create a conversation as `user` and say `content` in it; returns its id.
async fn say(s: &Sovra, user: &str, content: &str) -> String {
    let (status, c) = as_user(
        s,
        user,
        reqwest::Method::POST,
        "/api/conversations",
        Some(json!({"title": "t"})),
    )
    .await;
    assert_eq!(status, 201, "{c}");
    let id = c["id"].as_str().unwrap().to_owned();
    let r = s
        .as_person(
            reqwest::Method::POST,
            &format!("/api/conversations/{id}/messages"),
            user,
        )
        .await
        .json(&json!({"content": content, "max_tokens": 8}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let events = sse_events(r).await.unwrap();
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    id
}

async fn sovereign_data_round(postgres: bool) {
    let dir = tempfile::tempdir().unwrap();
    let b = backend(postgres).await;
    let s = b.serve(dir.path()).await;
    const ALICE_SECRET: &str = "Alice's passport number is ZX-4815162342";
    const BOB_SECRET: &str = "Bob lives at 17 Quiet Harbour Road";
    let alice_conv = say(&s, "alice", ALICE_SECRET).await;
    say(&s, "bob", BOB_SECRET).await;

    // Disk: the sentences exist only sealed.
    for secret in [ALICE_SECRET, BOB_SECRET, "ZX-4815162342", "Quiet Harbour"] {
        let found = b.files_containing(dir.path(), secret).await;
        assert!(
            found.is_empty(),
            "plaintext `{secret}` found on disk in {found:?}"
        );
    }

    // Each person sees only their own conversations.
    let (_, list) = as_user(&s, "bob", reqwest::Method::GET, "/api/conversations", None).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    let path = format!("/api/conversations/{alice_conv}");
    let (status, _) = as_user(&s, "bob", reqwest::Method::GET, &path, None).await;
    assert_eq!(status, 404, "someone else's conversation is not found");
    let (status, _) = as_user(&s, "bob", reqwest::Method::DELETE, &path, None).await;
    assert_eq!(status, 404);
    let (status, got) = as_user(&s, "alice", reqwest::Method::GET, &path, None).await;
    assert_eq!(status, 200, "{got}");

    // Export: the endpoint for the person themself, and the CLI while serving.
    let (status, export) = as_user(&s, "alice", reqwest::Method::GET, "/api/me/data", None).await;
    assert_eq!(status, 200, "{export}");
    let text = export.to_string();
    assert!(
        text.contains(ALICE_SECRET) && !text.contains(BOB_SECRET),
        "{text}"
    );
    assert_eq!(
        export["conversations"][0]["messages"][0]["content"],
        ALICE_SECRET
    );
    let bob = s.person("bob").await.id;
    let (ok, out) = b.data(dir.path(), &["export", "--user", &bob]);
    assert!(ok, "{out}");
    let cli: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(cli["user"], bob.as_str());
    assert!(out.contains(BOB_SECRET) && !out.contains(ALICE_SECRET));

    // Backup while serving holds no plaintext either.
    let backup = dir.path().join("backup.bin");
    let (ok, out) = b.data(dir.path(), &["backup", "--out", backup.to_str().unwrap()]);
    assert!(ok, "{out}");
    let bytes = std::fs::read(&backup).unwrap();
    assert!(
        !bytes.windows(13).any(|w| w == b"ZX-4815162342"),
        "backup is sealed"
    );

    // Erase: alice herself over HTTP, bob with the CLI.
    let (status, report) =
        as_user(&s, "alice", reqwest::Method::DELETE, "/api/me/data", None).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["conversations"], 1);
    assert_eq!(report["messages"], 2, "question and answer");
    let (status, _) = s
        .get(&format!("/api/conversations/{alice_conv}"))
        .await
        .unwrap();
    assert_eq!(status, 404);
    let (ok, out) = b.data(dir.path(), &["erase", "--user", &bob]);
    assert!(ok, "{out}");
    let (_, export) = as_user(&s, "bob", reqwest::Method::GET, "/api/me/data", None).await;
    assert_eq!(export["conversations"].as_array().unwrap().len(), 0);
    let actions: Vec<&str> = export["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["data.export", "data.erase"],
        "the operator's export and the erasure are on the record"
    );
    assert!(
        !export["audit"].to_string().contains("Harbour"),
        "no content in the audit trail"
    );
    // The policy in force (recorded at start), the exports (alice's and
    // bob's over HTTP, bob's by the operator) and the two erasures.
    let (ok, out) = b.data(dir.path(), &["verify-audit"]);
    assert!(ok && out.contains("\"entries\": 6"), "{out}");

    // Legal hold blocks erasure.
    say(&s, "carol", "evidence").await;
    let carol = s.person("carol").await.id;
    let (ok, out) = b.data(
        dir.path(),
        &["hold", "--user", &carol, "--reason", "case 7"],
    );
    assert!(ok, "{out}");
    let (status, body) = as_user(&s, "carol", reqwest::Method::DELETE, "/api/me/data", None).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "legal_hold");
    let alice = s.person("alice").await;
    s.stop().await.unwrap();

    // Restore the backup: alice's data is back (the backup predates erasure).
    if !postgres {
        let (ok, out) = b.data(
            dir.path(),
            &["restore", "--from", backup.to_str().unwrap(), "--force"],
        );
        assert!(ok, "{out}");
        let s = b.serve(dir.path()).await;
        // Her browser's cookie still says who she is: it needs no server state.
        s.adopt("alice", alice);
        let (_, export) = as_user(&s, "alice", reqwest::Method::GET, "/api/me/data", None).await;
        assert_eq!(
            export["conversations"][0]["messages"][0]["content"],
            ALICE_SECRET
        );
        s.stop().await.unwrap();
    }
    if let Some(db) = &b.db {
        db.drop_now().await.ok();
    }
}

#[tokio::test]
async fn sovereign_data_on_sqlite() {
    sovereign_data_round(false).await;
}

#[tokio::test]
async fn sovereign_data_on_postgres() {
    sovereign_data_round(true).await;
}
