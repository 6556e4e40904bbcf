//! The security suite, "what one request may cost" (issue 21): each test is
//! a CPU, memory or connection bomb from the 2026-12 black-box probe, sent
//! to the real binary as an attacker would, with the bound the fixed server
//! must keep, measured on the server process itself (`/proc/<pid>`).
//! docs/security.md ("Findings of the 2026-12 black-box probe") names the
//! finding each one proves and the numbers measured.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sovra_testkit::Sovra;
use tokio::io::AsyncWriteExt as _;

const BIN: &str = env!("CARGO_BIN_EXE_sovra");
const SIM: &[(&str, &str)] = &[
    ("SOVRA_ENGINE_SIM_TTFT_MS", "0"),
    ("SOVRA_ENGINE_SIM_TOKENS_PER_SECOND", "0"),
];

fn bin() -> PathBuf {
    PathBuf::from(BIN)
}

async fn serve_sim(data: &Path, env: &[(&str, &str)]) -> Sovra {
    let env: Vec<(&str, &str)> = SIM.iter().chain(env).copied().collect();
    Sovra::serve(&bin(), data, &["--engine", "sim"], &env)
        .await
        .unwrap()
}

/// User plus system CPU time the process has used so far.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces) in parentheses:
    // state is field 3, utime 14, stime 15.
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    let per_second = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(100);
    Duration::from_millis(ticks * 1000 / per_second)
}

/// Open file descriptors of the process (its sockets included).
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// Finding 12: a client that sent `PRI` (the first bytes of HTTP/2's
/// preface) and nothing more kept its connection on a 5 ms poll for the
/// whole header timeout (60 s), even after it had gone: 1000 such
/// connections cost ~45 % of a core. Now the server sleeps until bytes or
/// the end of the connection arrive, and lets go of a closed one at once.
#[tokio::test]
async fn a_half_sent_http2_preface_costs_no_cpu_and_ends_with_its_client() {
    const CONNECTIONS: usize = 400;
    let dir = tempfile::tempdir().unwrap();
    let s = serve_sim(dir.path(), &[]).await;
    let pid = s.pid().unwrap();
    let addr = s.base.trim_start_matches("http://").to_owned();
    let before = open_fds(pid);

    let mut conns = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        let mut c = tokio::net::TcpStream::connect(&addr).await.unwrap();
        c.write_all(b"PRI").await.unwrap();
        conns.push(c);
    }
    // Every connection accepted and waiting for the rest of its preface.
    let deadline = Instant::now() + Duration::from_secs(10);
    while open_fds(pid) < before + CONNECTIONS {
        assert!(
            Instant::now() < deadline,
            "the server did not accept them all"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let window = Duration::from_secs(2);
    let cpu = cpu_time(pid);
    tokio::time::sleep(window).await;
    let waiting = cpu_time(pid) - cpu;
    eprintln!(
        "{CONNECTIONS} connections that sent `PRI`: {waiting:?} of CPU in {window:?} while open"
    );

    // The clients leave.
    drop(conns);
    let left = Instant::now();
    while open_fds(pid) > before {
        assert!(
            left.elapsed() < Duration::from_secs(5),
            "{} of {CONNECTIONS} connections still open 5 s after their clients closed them",
            open_fds(pid) - before
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let released = left.elapsed();
    let cpu = cpu_time(pid);
    tokio::time::sleep(window).await;
    let after = cpu_time(pid) - cpu;
    eprintln!(
        "all closed {released:?} after their clients left; then {after:?} of CPU in {window:?}"
    );
    // Before the fix: 400 × 200 polls a second, ~0.3-0.6 s of CPU in 2 s.
    let bound = Duration::from_millis(150);
    assert!(
        waiting < bound,
        "{waiting:?} of CPU in {window:?} while the connections waited"
    );
    assert!(
        after < bound,
        "{after:?} of CPU in {window:?} after they closed"
    );

    // The server still serves.
    let (status, _) = s.get("/healthz").await.unwrap();
    assert_eq!(status, 200);
    s.stop().await.unwrap();
}
