//! No egress: Sovra works with no route out, and the only connections it
//! opens are to the backends it was configured with.
//!
//! The first test runs `sovra serve` and its clients inside a fresh network
//! namespace (`ip netns`, loopback only) and drives every data feature; the
//! second watches every `connect()` of a PostgreSQL-backed Sovra with
//! `strace -f -e trace=connect` while the same features run, and finds only
//! the configured database. Both need root (`ip netns`, `ptrace`) and the
//! `ip`, `strace` and `curl` tools; without them they say so and pass.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sovra_store::testdb::TestDb;

const BIN: &str = env!("CARGO_BIN_EXE_sovra");
const KEY: &str = "0d1c7a0d9e2b3c8a5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4";

fn have(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Run `cmd` (inside `ns` if given); stdout, or a panic with its stderr.
fn run(ns: Option<&str>, cmd: &[&str], env: &[(&str, &str)]) -> String {
    let mut c = match ns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns]);
            c.args(cmd);
            c
        }
        None => {
            let mut c = Command::new(cmd[0]);
            c.args(&cmd[1..]);
            c
        }
    };
    let out = c.envs(env.iter().copied()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Every feature of the data layer and the API, through curl and `sovra data`.
fn exercise(ns: Option<&str>, bin: &str, base: &str, dir: &Path, env: &[(&str, &str)]) {
    // curl keeps the anonymous cookie the server hands out, as a browser would.
    let jar = dir.join("cookies.txt");
    let jar = jar.to_str().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ok = Command::new("sh")
            .arg("-c")
            .arg(match ns {
                Some(ns) => format!("ip netns exec {ns} curl -sf {base}/readyz"),
                None => format!("curl -sf {base}/readyz"),
            })
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if ok {
            break;
        }
        assert!(Instant::now() < deadline, "sovra did not become ready");
        std::thread::sleep(Duration::from_millis(100));
    }
    let me = run(
        ns,
        &[
            "curl",
            "-sSf",
            "-c",
            jar,
            "-b",
            jar,
            &format!("{base}/auth/me"),
        ],
        &[],
    );
    let me: serde_json::Value = serde_json::from_str(&me).unwrap();
    let csrf = format!("x-csrf-token: {}", me["csrf_token"].as_str().unwrap());
    let user = me["anonymous_id"].as_str().unwrap().to_owned();
    let curl = |args: &[&str]| {
        let mut all = vec![
            "curl",
            "-sSf",
            "-b",
            jar,
            "-H",
            csrf.as_str(),
            "-H",
            "content-type: application/json",
        ];
        all.extend_from_slice(args);
        run(ns, &all, &[])
    };
    assert!(curl(&[&format!("{base}/v1/models")]).contains("sim"));
    let chat = r#"{"model":"sim","messages":[{"role":"user","content":"hello"}]}"#;
    assert!(
        curl(&["-d", chat, &format!("{base}/v1/chat/completions")]).contains("chat.completion")
    );
    let conv = curl(&[
        "-d",
        r#"{"title":"egress"}"#,
        &format!("{base}/api/conversations"),
    ]);
    let id = serde_json::from_str::<serde_json::Value>(&conv).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let answer = curl(&[
        "-d",
        r#"{"content":"a sealed question","max_tokens":4}"#,
        &format!("{base}/api/conversations/{id}/messages"),
    ]);
    assert!(answer.contains("[DONE]"), "{answer}");
    assert!(curl(&[&format!("{base}/api/me/data")]).contains("a sealed question"));
    let d = dir.to_str().unwrap();
    let data = |args: &[&str]| {
        let mut all = vec![bin, "data"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--data-dir", d]);
        run(ns, &all, env)
    };
    assert!(data(&["export", "--user", &user]).contains("a sealed question"));
    let backup = dir.join("egress-backup.bin");
    data(&["backup", "--out", backup.to_str().unwrap()]);
    assert!(curl(&["-X", "DELETE", &format!("{base}/api/me/data")]).contains("\"messages\":2"));
    data(&["rotate-key", "--tenant", "public"]);
    data(&["purge"]);
    assert!(data(&["verify-audit"]).contains("\"verified\": true"));
    assert!(curl(&[&format!("{base}/metrics")]).contains("sovra"));
}

#[test]
fn every_feature_works_with_no_route_out() {
    if !(have("ip") && have("curl")) {
        eprintln!("SKIPPED: needs ip and curl");
        return;
    }
    let ns = format!("sovra-noegress-{}", std::process::id());
    if Command::new("ip")
        .args(["netns", "add", &ns])
        .status()
        .map(|s| !s.success())
        .unwrap_or(true)
    {
        eprintln!("SKIPPED: no rights to create a network namespace");
        return;
    }
    run(Some(&ns), &["ip", "link", "set", "lo", "up"], &[]);
    // No route out: only loopback exists.
    let routes = run(Some(&ns), &["ip", "route", "show"], &[]);
    assert!(routes.trim().is_empty(), "{routes}");
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("SOVRA_ENGINE_SIM_TTFT_MS", "0"),
        ("SOVRA_ENGINE_SIM_TOKENS_PER_SECOND", "0"),
        ("SOVRA_STORAGE_MASTER_KEY", "env:TEST_MASTER_KEY"),
        ("TEST_MASTER_KEY", KEY),
    ];
    let log = std::fs::File::create(dir.path().join("serve.log")).unwrap();
    let mut server = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns,
            BIN,
            "serve",
            "--engine",
            "sim",
            "--listen",
            "127.0.0.1:18080",
            "--data-dir",
        ])
        .arg(dir.path())
        .envs(env)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let result = std::panic::catch_unwind(|| {
        exercise(Some(&ns), BIN, "http://127.0.0.1:18080", dir.path(), &env)
    });
    let _ = Command::new("kill").arg(server.id().to_string()).status();
    let _ = server.wait();
    let _ = Command::new("ip").args(["netns", "del", &ns]).status();
    if let Err(e) = result {
        let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap_or_default();
        panic!("{e:?}\nserver log:\n{log}");
    }
}

#[tokio::test]
async fn connects_only_to_configured_peers() {
    if !(have("strace") && have("curl")) {
        eprintln!("SKIPPED: needs strace and curl");
        return;
    }
    let db = TestDb::create().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = sovra_testkit::free_port();
    let listen = format!("127.0.0.1:{port}");
    let env_owned: Vec<(String, String)> = [
        ("SOVRA_ENGINE_SIM_TTFT_MS", "0"),
        ("SOVRA_ENGINE_SIM_TOKENS_PER_SECOND", "0"),
        ("SOVRA_STORAGE_MASTER_KEY", "env:TEST_MASTER_KEY"),
        ("TEST_MASTER_KEY", KEY),
        ("SOVRA_STORAGE_URL", db.url.as_str()),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let env: Vec<(&str, &str)> = env_owned
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let trace = dir.path().join("connect.trace");
    let trace_cli = dir.path().join("connect-cli.trace");
    let log = std::fs::File::create(dir.path().join("serve.log")).unwrap();
    let mut server = Command::new("strace")
        .args(["-f", "-e", "trace=connect", "-o"])
        .arg(&trace)
        .args([
            BIN,
            "serve",
            "--engine",
            "sim",
            "--listen",
            &listen,
            "--data-dir",
        ])
        .arg(dir.path())
        .envs(env.iter().copied())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    // The CLI runs under strace too: wrap BIN for `exercise` with a shell.
    let wrapper = dir.path().join("sovra-traced");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec strace -f -e trace=connect -A -o {} {BIN} \"$@\"\n",
            trace_cli.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let base = format!("http://{listen}");
    let w = wrapper.to_str().unwrap().to_owned();
    let d = dir.path().to_path_buf();
    let result = tokio::task::spawn_blocking(move || {
        let env: Vec<(&str, &str)> = env_owned
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        std::panic::catch_unwind(|| exercise(None, &w, &base, &d, &env))
    })
    .await
    .unwrap();
    let _ = Command::new("pkill")
        .args(["-TERM", "-P", &server.id().to_string()])
        .status();
    let _ = server.wait();
    if let Err(e) = result {
        let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap_or_default();
        panic!("{e:?}\nserver log:\n{log}");
    }
    let text =
        std::fs::read_to_string(&trace).unwrap() + &std::fs::read_to_string(&trace_cli).unwrap();
    let inet: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("connect(") && (l.contains("AF_INET") || l.contains("AF_INET6")))
        .collect();
    assert!(
        !inet.is_empty(),
        "the trace saw the database connections:\n{text}"
    );
    for line in &inet {
        assert!(
            line.contains("sin_port=htons(5432)") && line.contains("127.0.0.1"),
            "an outbound connection to something not configured: {line}"
        );
    }
    assert!(!text.contains("htons(53)"), "no DNS look-ups");
    eprintln!(
        "connect() calls seen: {} to the configured PostgreSQL, nothing else",
        inet.len()
    );
    db.drop_now().await.ok();
}
