//! `sovra audit` through the real binary on a SQLite data dir: the trail
//! verifies, exports as JSON Lines incrementally, a data export over HTTP is
//! on the record (without content, or with its digest when configured), and
//! a database tampered with behind Sovra's back makes `sovra audit verify`
//! exit 1 naming the entry, including a cut tail that only the archive shows.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Output;

use serde_json::Value;
use sovra_testkit::Sovra;

const BIN: &str = env!("CARGO_BIN_EXE_sovra");
const KEY: &str = "7a1c7a0d9e2b3c8a5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4";

fn env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("SOVRA_STORAGE_MASTER_KEY", "env:TEST_MASTER_KEY"),
        ("TEST_MASTER_KEY", KEY),
        ("SOVRA_ENGINE_SIM_TTFT_MS", "0"),
        ("SOVRA_ENGINE_SIM_TOKENS_PER_SECOND", "0"),
    ]
}

fn sovra(dir: &Path, args: &[&str]) -> Output {
    std::process::Command::new(BIN)
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .envs(env())
        .env_remove("SOVRA_CONFIG")
        .output()
        .unwrap()
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = sovra(dir, args);
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

async fn sql(dir: &Path, statement: &str) {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", dir.join("sovra.db").display()))
        .await
        .unwrap();
    sqlx::raw_sql(statement).execute(&pool).await.unwrap();
    pool.close().await;
}

/// `sovra audit verify` failed as a verification (exit 1) naming `seq`.
fn fails_naming(dir: &Path, args: &[&str], seq: i64, kind: &str) {
    let out = sovra(dir, args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {stdout}{stderr}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["verified"], false);
    assert_eq!(v["seq"], seq, "{stdout}");
    assert_eq!(v["kind"], kind, "{stdout}");
    assert!(
        stderr.contains(&format!("audit entry {seq}")),
        "the error names the entry: {stderr}"
    );
}

#[tokio::test]
async fn verify_export_and_tampering_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for user in ["ann", "ben", "cy"] {
        ok(d, &["data", "hold", "--user", user, "--reason", "case 1"]);
        ok(d, &["data", "release", "--user", user]);
    }
    let v: Value = serde_json::from_str(&ok(d, &["audit", "verify"])).unwrap();
    assert_eq!(v["verified"], true);
    assert_eq!(v["entries"], 6, "{v}");
    assert_eq!(v["head"]["seq"], 6, "{v}");
    // The alias stays.
    let v: Value = serde_json::from_str(&ok(d, &["data", "verify-audit"])).unwrap();
    assert_eq!(v["entries"], 6);

    // A data export over HTTP is recorded, without content.
    let s = Sovra::serve(Path::new(BIN), d, &["--engine", "sim"], &env())
        .await
        .unwrap();
    let dora = s.person("dora").await;
    let r = s
        .as_citizen(reqwest::Method::GET, "/api/me/data", &dora)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.bytes().await.unwrap();
    s.stop().await.unwrap();

    // Export: stdout, then an archive file, then incrementally.
    let all: Vec<Value> = ok(d, &["audit", "export"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // The policy in force is recorded at start; then the export.
    let export = all.last().unwrap();
    assert_eq!(export["action"], "data.export");
    assert_eq!(export["actor"], format!("user:{}", dora.id));
    assert_eq!(export["details"]["via"], "api");
    assert!(
        export["details"].get("sha256").is_none(),
        "metadata only by default"
    );
    let n = all.len() as i64;
    let after: Vec<Value> = ok(d, &["audit", "export", "--after", "6"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(after.len() as i64, n - 6);
    assert_eq!(after[0]["seq"], 7);

    let archive = d.join("archive.jsonl");
    let a = archive.to_str().unwrap();
    ok(d, &["audit", "export", "--out", a]);
    assert_eq!(lines(&archive).len() as i64, n);
    ok(d, &["data", "hold", "--user", "eve", "--reason", "case 2"]);
    ok(d, &["audit", "export", "--out", a]);
    let archived = lines(&archive);
    assert_eq!(
        archived.len() as i64,
        n + 1,
        "only the new entry was appended"
    );
    for (i, e) in archived.iter().enumerate() {
        assert_eq!(e["seq"], i as i64 + 1);
    }
    let v: Value = serde_json::from_str(&ok(d, &["audit", "verify", "--archive", a])).unwrap();
    assert_eq!(v["archived"], n + 1);

    // Edited in place.
    sql(d, "UPDATE audit_log SET actor = 'cli:nobody' WHERE seq = 2").await;
    fails_naming(d, &["audit", "verify"], 2, "edited");
    fails_naming(d, &["data", "verify-audit"], 2, "edited");
    // An archive never continues a chain that differs from it.
    sql(
        d,
        "UPDATE audit_log SET actor = 'cli:x' WHERE seq = (SELECT MAX(seq) FROM audit_log)",
    )
    .await;
    let out = sovra(d, &["audit", "export", "--out", a]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("differs from the archived one"));
}

#[tokio::test]
async fn a_cut_tail_is_named_by_the_head_and_by_the_archive() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for user in ["ann", "ben", "cy"] {
        ok(d, &["data", "hold", "--user", user, "--reason", "case 1"]);
    }
    let archive = d.join("archive.jsonl");
    let a = archive.to_str().unwrap();
    ok(d, &["audit", "export", "--out", a]);

    // The newest entry deleted: the head record still names it.
    sql(d, "DELETE FROM audit_log WHERE seq = 3").await;
    fails_naming(d, &["audit", "verify"], 3, "head_mismatch");
    // The head record moved back too: only the archive knows.
    sql(
        d,
        "UPDATE audit_head SET seq = 2, hash = (SELECT hash FROM audit_log WHERE seq = 2)",
    )
    .await;
    ok(d, &["audit", "verify"]);
    fails_naming(d, &["audit", "verify", "--archive", a], 3, "missing");
    // The oldest row deleted too, as retention would: the archive still
    // names the cut tail.
    sql(d, "DELETE FROM audit_log WHERE seq = 1").await;
    fails_naming(d, &["audit", "verify", "--archive", a], 3, "missing");
}

#[tokio::test]
async fn digest_mode_records_what_was_handed_out() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut e = env();
    e.push(("SOVRA_AUDIT_CONTENT", "digest"));
    let s = Sovra::serve(Path::new(BIN), d, &["--engine", "sim"], &e)
        .await
        .unwrap();
    let body = s
        .as_person(reqwest::Method::GET, "/api/me/data", "fay")
        .await
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    s.stop().await.unwrap();
    use sha2::Digest as _;
    let expected: String = sha2::Sha256::digest(&body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let last: Value =
        serde_json::from_str(ok(d, &["audit", "export"]).lines().last().unwrap()).unwrap();
    assert_eq!(last["action"], "data.export");
    assert_eq!(last["details"]["sha256"], expected.as_str());
}
