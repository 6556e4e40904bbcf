//! The HTTP server's hardening through the real binary: HTTPS served
//! directly from PEM files (a self-signed certificate made here), security
//! headers on every response, slow clients cut off at the configured limits
//! while others are served (a slowloris dribbling headers, an idle
//! keep-alive connection, a body dribbled a byte at a time gets 408) and
//! streamed answers never cut by them, and no secret in the logs even at
//! trace level.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::json;
use sovra_testkit::{Sovra, free_port, sse_events};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const BIN: &str = env!("CARGO_BIN_EXE_sovra");

fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("sovra.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn chat(stream: bool, max_tokens: u32) -> serde_json::Value {
    json!({
        "model": "sim",
        "stream": stream,
        "max_tokens": max_tokens,
        "messages": [{"role": "user", "content": "Tell me about the weather."}],
    })
}

/// Read until the peer closes (or `limit` passes); how long it took and what came.
async fn read_to_close(conn: &mut TcpStream, limit: Duration) -> (Duration, String) {
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(
            tokio::time::Instant::from_std(started + limit),
            conn.read(&mut buf),
        )
        .await
        {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => panic!(
                "the connection was still open after {limit:?}; got {:?}",
                String::from_utf8_lossy(&got)
            ),
        }
    }
    (
        started.elapsed(),
        String::from_utf8_lossy(&got).into_owned(),
    )
}

#[tokio::test]
async fn slow_clients_are_cut_off_and_others_served() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "[engine]\nkind = \"sim\"\nsim_ttft_ms = 0\nsim_tokens_per_second = 10\n\
         [server]\nheader_read_timeout_secs = 2\nbody_read_timeout_secs = 2\nmax_headers = 32\n\
         behind_tls_proxy = true\n",
    );
    let s = Sovra::serve(
        Path::new(BIN),
        dir.path(),
        &["--config", config.to_str().unwrap()],
        &[],
    )
    .await
    .unwrap();
    let addr = s.base.trim_start_matches("http://").to_owned();

    // A slowloris: a header line every 300 ms, never the blank line.
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .unwrap();
    let dribble = tokio::spawn(async move {
        let started = Instant::now();
        let mut buf = [0u8; 1024];
        loop {
            tokio::select! {
                r = slow.read(&mut buf) => {
                    if matches!(r, Ok(0) | Err(_)) { break; }
                }
                () = tokio::time::sleep(Duration::from_millis(300)) => {
                    if slow.write_all(b"X-Slow: 1\r\n").await.is_err() { break; }
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(8),
                "a dribbling client was not cut off"
            );
        }
        started.elapsed()
    });
    // Meanwhile others are served.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, _) = s.get("/healthz").await.unwrap();
    assert_eq!(status, 200);
    let took = dribble.await.unwrap();
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_secs(5),
        "cut off after {took:?}, the limit is 2 s"
    );

    // An idle keep-alive connection is closed once the limit passes.
    let mut idle = TcpStream::connect(&addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let (took, got) = read_to_close(&mut idle, Duration::from_secs(8)).await;
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_secs(5),
        "idle connection closed after {took:?}"
    );

    // A body dribbled a byte at a time gets 408, within the limit.
    let mut body = TcpStream::connect(&addr).await.unwrap();
    body.write_all(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{",
    )
    .await
    .unwrap();
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("\r\n\r\n") {
        tokio::select! {
            r = body.read(&mut buf) => match r {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            },
            () = tokio::time::sleep(Duration::from_millis(300)) => {
                let _ = body.write_all(b" ").await;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "no answer to a dribbled body"
        );
    }
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );

    // Too many header fields: 431.
    let mut req = s.client.get(s.url("/healthz"));
    for i in 0..40 {
        req = req.header(format!("x-extra-{i}"), "1");
    }
    assert_eq!(req.send().await.unwrap().status(), 431);

    // A streamed answer longer than every limit runs to its end.
    let started = Instant::now();
    let events = sse_events(s.send("/v1/chat/completions", &chat(true, 40)).await)
        .await
        .unwrap();
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    assert!(
        started.elapsed() > Duration::from_millis(2500),
        "the stream should outlast the 2 s limits: {:?}",
        started.elapsed()
    );

    // Security headers, on pages, the API and errors alike; HSTS because
    // the config says a TLS proxy is in front.
    for path in ["/", "/console", "/v1/models", "/healthz", "/no-such-page"] {
        let r = s.client.get(s.url(path)).send().await.unwrap();
        let h = r.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert!(
            h["strict-transport-security"]
                .to_str()
                .unwrap()
                .starts_with("max-age=31536000"),
            "{path}"
        );
    }
    s.stop().await.unwrap();
}

#[tokio::test]
async fn plain_http_without_a_proxy_sends_no_hsts() {
    let dir = tempfile::tempdir().unwrap();
    let s = Sovra::serve(Path::new(BIN), dir.path(), &["--engine", "sim"], &[])
        .await
        .unwrap();
    let r = s.client.get(s.url("/")).send().await.unwrap();
    assert!(r.headers().contains_key("content-security-policy"));
    assert!(!r.headers().contains_key("strict-transport-security"));
    s.stop().await.unwrap();
}

/// `sovra serve` over HTTPS with a certificate for `localhost`, made here.
#[tokio::test]
async fn https_served_directly_with_graceful_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert_pem = cert.cert.pem();
    std::fs::write(dir.path().join("cert.pem"), &cert_pem).unwrap();
    std::fs::write(dir.path().join("key.pem"), cert.key_pair.serialize_pem()).unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "[engine]\nkind = \"sim\"\nsim_ttft_ms = 0\nsim_tokens_per_second = 20\n\
             [server]\ntls_cert = \"{0}/cert.pem\"\ntls_key = \"{0}/key.pem\"\n",
            dir.path().display()
        ),
    );
    let port = free_port();
    let log = dir.path().join("sovra.log");
    let out = std::fs::File::create(&log).unwrap();
    let mut child = tokio::process::Command::new(BIN)
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir.path())
        .arg("--config")
        .arg(&config)
        .env_remove("RUST_LOG")
        .env_remove("SOVRA_CONFIG")
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap())
        .resolve("localhost", ([127, 0, 0, 1], port).into())
        .build()
        .unwrap();
    let base = format!("https://localhost:{port}");
    let started = Instant::now();
    loop {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await
            && r.status().is_success()
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "not ready over HTTPS: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "{}",
            std::fs::read_to_string(&log).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains(&format!("https://127.0.0.1:{port}/"))
    );

    // HTTP/2 by ALPN, with HSTS; HTTP/1.1 too.
    let r = client
        .get(format!("{base}/v1/models"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert!(
        r.headers()["strict-transport-security"]
            .to_str()
            .unwrap()
            .starts_with("max-age=")
    );
    let h1 = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap())
        .resolve("localhost", ([127, 0, 0, 1], port).into())
        .http1_only()
        .build()
        .unwrap();
    let r = h1.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_11);
    assert_eq!(r.status(), 200);
    // A client that does not trust the certificate is refused by its own TLS.
    assert!(
        reqwest::Client::new()
            .get(format!("https://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .is_err()
    );
    // Plain HTTP to the TLS port gets no answer.
    assert!(
        reqwest::Client::new()
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map(|r| !r.status().is_success())
            .unwrap_or(true)
    );

    // A stream in flight at SIGTERM finishes; then the process exits cleanly.
    let streaming = client
        .post(format!("{base}/v1/chat/completions"))
        .json(&chat(true, 30))
        .send()
        .await
        .unwrap();
    assert_eq!(streaming.status(), 200);
    let pid = child.id().unwrap();
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let events = sse_events(streaming).await.unwrap();
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(
        status.success(),
        "{}",
        std::fs::read_to_string(&log).unwrap()
    );
}

#[tokio::test]
async fn a_missing_certificate_is_named_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "[engine]\nkind = \"sim\"\n[server]\ntls_cert = \"/nonexistent/cert.pem\"\ntls_key = \"/nonexistent/key.pem\"\n",
    );
    let out = std::process::Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("server.tls_cert") && err.contains("/nonexistent/cert.pem"),
        "{err}"
    );
}

/// Keys, wrong keys and cookies never reach the log, even at trace level.
#[tokio::test]
async fn no_secret_is_logged() {
    const KEY: &str = "sk-sovra-KEEPME-4b1d9f3e7a2c";
    const WRONG: &str = "sk-wrong-NOTME-8e2a7c1d9b3f";
    const COOKIE: &str = "SESSIONSECRET-5f2e9a7b1c3d";
    let dir = tempfile::tempdir().unwrap();
    let s = Sovra::serve(
        Path::new(BIN),
        dir.path(),
        &["--engine", "sim"],
        &[
            ("SOVRA_AUTH_API_KEYS", &format!("[\"{KEY}\"]")),
            ("RUST_LOG", "trace"),
        ],
    )
    .await
    .unwrap();
    let c = &s.client;
    let r = c
        .get(s.url("/v1/models"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .post(s.url("/v1/chat/completions"))
        .bearer_auth(KEY)
        .header("cookie", format!("sovra_session={COOKIE}"))
        .json(&chat(false, 4))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    for path in ["/v1/models", "/admin/usage", "/api/conversations", "/"] {
        let r = c
            .get(s.url(path))
            .bearer_auth(WRONG)
            .header("cookie", format!("sovra_session={COOKIE}; other=1"))
            .send()
            .await
            .unwrap();
        if path.starts_with("/v1") || path.starts_with("/admin") {
            assert_eq!(r.status(), 401, "{path}");
            let body = r.text().await.unwrap();
            assert!(
                !body.contains(&WRONG[4..]),
                "the error shows only a hint: {body}"
            );
        }
    }
    // Malformed authorization headers as well.
    for value in [
        format!("Basic {KEY}"),
        format!("Bearer  {KEY} trailing"),
        KEY.to_owned(),
    ] {
        c.get(s.url("/v1/models"))
            .header("authorization", value)
            .send()
            .await
            .unwrap();
    }
    let log_path = s.log.clone();
    s.stop().await.unwrap();
    let log = std::fs::read_to_string(log_path).unwrap();
    // Verbose logging was really on, and the requests are in the log.
    assert!(
        log.contains("DEBUG") && log.matches("finished processing request").count() >= 4,
        "verbose request logging was off:\n{log}"
    );
    for secret in [KEY, &KEY[9..], WRONG, &WRONG[9..], COOKIE] {
        assert!(!log.contains(secret), "{secret} is in the log");
    }
}
