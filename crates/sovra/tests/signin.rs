//! Web sign-in on the real binary: local accounts (argon2id) with the
//! session cookie, CSRF and origin checks, brute-force lockout, the audit
//! trail of sign-ins; and single sign-on against a real OpenID Connect
//! provider run locally (panva's oidc-provider, `tests/oidc/`), through the
//! whole authorization code flow, with tampered, replayed and cross-browser
//! callbacks refused.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use sovra_identity::{NewUser, Role, TenantPath, password};
use sovra_store::{OpenOptions, Store, SystemClock};
use sovra_testkit::{Sovra, free_port};
use tokio::io::AsyncBufReadExt as _;

const BIN: &str = env!("CARGO_BIN_EXE_sovra");
const KEY: &str = "sk-sovra-signin-test-0123456789";
const ADMIN_PASSWORD: &str = "correct horse battery staple";

async fn open_store(dir: &Path) -> Arc<dyn Store> {
    sovra_store::open(OpenOptions {
        url: None,
        data_dir: dir.to_path_buf(),
        keyring: sovra_store::load_keyring(None, &[], dir).unwrap(),
        clock: Arc::new(SystemClock),
    })
    .await
    .unwrap()
}

/// A platform admin with a local password, made in the store before the server starts.
async fn make_admin(dir: &Path, name: &str) -> String {
    let store = open_store(dir).await;
    let user = store
        .create_user(
            &NewUser {
                tenant: TenantPath::public(),
                name: name.into(),
                display_name: "Ada Admin".into(),
                role: Role::PlatformAdmin,
                password_hash: Some(password::hash(ADMIN_PASSWORD).unwrap()),
                oidc: None,
                priority: None,
            },
            "cli:test",
        )
        .await
        .unwrap();
    user.id
}

async fn audit(dir: &Path) -> Vec<sovra_store::AuditEntry> {
    open_store(dir).await.audit_entries(0, 1000).await.unwrap()
}

fn client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// `name=value` of the response's `Set-Cookie` for `name`, with its attributes.
fn set_cookie(r: &Response, name: &str) -> Option<String> {
    r.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_owned()
}

async fn login(s: &Sovra, name: &str, pw: &str) -> Response {
    client()
        .post(s.url("/auth/login"))
        .json(&json!({"name": name, "password": pw}))
        .send()
        .await
        .unwrap()
}

async fn me(s: &Sovra, cookie: &str) -> Value {
    client()
        .get(s.url("/auth/me"))
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn status_and_json(r: Response) -> (u16, Value) {
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_local_account_signs_in_changes_only_with_its_csrf_token_and_signs_out() {
    let dir = tempfile::tempdir().unwrap();
    let admin = make_admin(dir.path(), "ada@gov.example").await;
    let s = Sovra::serve(
        Path::new(BIN),
        dir.path(),
        &["--engine", "sim"],
        &[
            ("SOVRA_ENGINE_SIM_TTFT_MS", "0"),
            ("SOVRA_ENGINE_SIM_TOKENS_PER_SECOND", "0"),
            ("SOVRA_AUTH_API_KEYS", &format!("[\"{KEY}\"]")),
        ],
    )
    .await
    .unwrap();

    // Signed out: who am I says so, and which methods are offered.
    let out = me(&s, "").await;
    assert_eq!(out["signed_in"], false);
    assert_eq!(out["methods"]["password"], true);
    assert!(out["methods"]["oidc"].is_null());

    // A wrong password and an unknown name get the same answer.
    let (st, body) = status_and_json(login(&s, "ada@gov.example", "wrong password!!").await).await;
    assert_eq!(st, 401);
    assert_eq!(body["error"]["code"], "invalid_credentials");
    let (st2, body2) =
        status_and_json(login(&s, "nobody@gov.example", "wrong password!!").await).await;
    assert_eq!(st2, 401);
    assert_eq!(body2["error"]["message"], body["error"]["message"]);

    // What one argon2id verify costs here (the same build profile as the server).
    let hash = password::hash(ADMIN_PASSWORD).unwrap();
    let t = Instant::now();
    assert!(password::verify(ADMIN_PASSWORD, Some(&hash)));
    eprintln!("argon2id verify: {:?}", t.elapsed());

    // The right one: a session cookie with the attributes that matter.
    let started = Instant::now();
    let r = login(&s, "ada@gov.example", ADMIN_PASSWORD).await;
    let round_trip = started.elapsed();
    assert_eq!(r.status(), 200);
    let set = set_cookie(&r, "sovra_session").expect("a session cookie");
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=43200"] {
        assert!(set.contains(attr), "{set} lacks {attr}");
    }
    assert!(
        !set.contains("Secure"),
        "loopback over plain HTTP: not Secure"
    );
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["user"]["id"], admin.as_str());
    assert_eq!(body["user"]["role"], "platform_admin");
    let csrf = body["csrf_token"].as_str().unwrap().to_owned();
    let cookie = cookie_pair(&set);
    eprintln!("sign-in round trip (argon2id verify + session + audit): {round_trip:?}");

    let who = me(&s, &cookie).await;
    assert_eq!(who["signed_in"], true);
    assert_eq!(who["user"]["name"], "ada@gov.example");
    assert_eq!(who["user"]["tenant"], "public");
    assert_eq!(who["method"], "password");
    assert_eq!(who["csrf_token"], csrf.as_str());

    // A state-changing request with the cookie needs the CSRF token...
    let post = |headers: Vec<(&'static str, String)>| {
        let mut req = client()
            .post(s.url("/api/conversations"))
            .header(COOKIE, &cookie)
            .json(&json!({}));
        for (k, v) in headers {
            req = req.header(k, v);
        }
        req.send()
    };
    let (st, body) = status_and_json(post(vec![]).await.unwrap()).await;
    assert_eq!(st, 403, "{body}");
    assert_eq!(body["error"]["code"], "csrf_failed");
    let (st, _) = status_and_json(
        post(vec![(
            "x-csrf-token",
            format!("{}x", &csrf[..csrf.len() - 1]),
        )])
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(st, 403, "a wrong token");
    let r = post(vec![("x-csrf-token", csrf.clone())]).await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    // ...and must come from this origin, even with the token.
    let (st, body) = status_and_json(
        post(vec![
            ("x-csrf-token", csrf.clone()),
            ("origin", "https://evil.example".into()),
        ])
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(st, 403);
    assert_eq!(body["error"]["code"], "cross_origin");
    let (st, _) = status_and_json(
        post(vec![
            ("x-csrf-token", csrf.clone()),
            ("sec-fetch-site", "cross-site".into()),
        ])
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(st, 403);
    // Reads need no token.
    let r = client()
        .get(s.url("/api/conversations"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A bearer-key request is authenticated by its key, not the cookie: no token needed.
    let r = client()
        .post(s.url("/v1/chat/completions"))
        .header(COOKIE, &cookie)
        .bearer_auth(KEY)
        .json(&json!({"model": "sim", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A cross-site sign-in attempt (login CSRF) is refused before any check.
    let r = client()
        .post(s.url("/auth/login"))
        .header("origin", "https://evil.example")
        .json(&json!({"name": "ada@gov.example", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // Sign-out needs the token too; then the cookie is cleared and dead.
    let r = client()
        .post(s.url("/auth/logout"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = client()
        .post(s.url("/auth/logout"))
        .header(COOKIE, &cookie)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(
        set_cookie(&r, "sovra_session")
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(me(&s, &cookie).await["signed_in"], false);

    // An HTML form signs in too (303 to /), and carries the token as a field.
    let r = client()
        .post(s.url("/auth/login"))
        .form(&[("name", "ada@gov.example"), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let cookie = cookie_pair(&set_cookie(&r, "sovra_session").unwrap());
    let csrf = me(&s, &cookie).await["csrf_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = client()
        .post(s.url("/auth/logout"))
        .header(COOKIE, &cookie)
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(me(&s, &cookie).await["signed_in"], false);
    s.stop().await.unwrap();

    // The audit trail: sign-ins, failures, sign-outs; never a password or token.
    let entries = audit(dir.path()).await;
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e.action.as_str())
        .filter(|a| a.starts_with("auth."))
        .collect();
    assert_eq!(
        actions,
        [
            "auth.sign_in_failed",
            "auth.sign_in_failed",
            "auth.sign_in",
            "auth.sign_out",
            "auth.sign_in",
            "auth.sign_out"
        ]
    );
    let failed = entries
        .iter()
        .find(|e| e.action == "auth.sign_in_failed")
        .unwrap();
    assert_eq!(failed.details["reason"], "wrong_password");
    assert_eq!(failed.details["method"], "password");
    assert_eq!(failed.subject.as_deref(), Some(admin.as_str()));
    let signed_in = entries.iter().find(|e| e.action == "auth.sign_in").unwrap();
    assert_eq!(signed_in.actor, format!("user:{admin}"));
    assert_eq!(signed_in.details["name"], "ada@gov.example");
    let all =
        serde_json::to_string(&entries.iter().map(|e| &e.details).collect::<Vec<_>>()).unwrap();
    for secret in [
        ADMIN_PASSWORD,
        "wrong password!!",
        &csrf,
        cookie.split('=').nth(1).unwrap(),
    ] {
        assert!(!all.contains(secret), "the audit trail holds a secret");
    }
}

#[tokio::test]
async fn repeated_failures_lock_a_name_out() {
    let dir = tempfile::tempdir().unwrap();
    make_admin(dir.path(), "ada@gov.example").await;
    let s = Sovra::serve(
        Path::new(BIN),
        dir.path(),
        &["--engine", "sim"],
        &[
            ("SOVRA_SIGNIN_MAX_FAILURES_PER_NAME", "3"),
            ("SOVRA_SIGNIN_LOCKOUT_SECS", "120"),
            ("SOVRA_SIGNIN_FAILURE_DELAY_MS", "200"),
        ],
    )
    .await
    .unwrap();
    for _ in 0..3 {
        let started = Instant::now();
        assert_eq!(
            login(&s, "ada@gov.example", "not the password")
                .await
                .status(),
            401
        );
        assert!(
            started.elapsed() >= Duration::from_millis(200),
            "failures are slowed down"
        );
    }
    // Locked now, even with the right password.
    let r = login(&s, "ADA@gov.example", ADMIN_PASSWORD).await;
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=120).contains(&retry), "{retry}");
    let (_, body) = status_and_json(r).await;
    assert_eq!(body["error"]["code"], "sign_in_locked");
    // Other names are not.
    assert_eq!(
        login(&s, "someone@gov.example", "not the password")
            .await
            .status(),
        401
    );
    s.stop().await.unwrap();
    let locked = audit(dir.path())
        .await
        .into_iter()
        .filter(|e| e.action == "auth.sign_in_failed" && e.details["reason"] == "locked_out")
        .count();
    assert_eq!(locked, 1);
}

// ---- Single sign-on against a real provider ----

fn oidc_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/oidc")
}

/// The test provider on a free port, or None (loudly) when node is missing.
async fn start_provider(redirect: &str) -> Option<(tokio::process::Child, String)> {
    let dir = oidc_dir();
    if std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!(
            "\n\n!!!!!!!! SKIPPED: single sign-on test needs node (tests/oidc runs panva's oidc-provider); install nodejs !!!!!!!!\n\n"
        );
        return None;
    }
    if !dir.join("node_modules/oidc-provider").is_dir() {
        let ok = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "npm ci in tests/oidc failed");
    }
    let mut child = tokio::process::Command::new("node")
        .arg("provider.mjs")
        .current_dir(&dir)
        .env("PORT", "0")
        .env("REDIRECT_URIS", redirect)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let issuer = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(i) = line.strip_prefix("ISSUER=") {
                return i.to_owned();
            }
        }
        panic!("the provider exited before it listened");
    })
    .await
    .expect("the provider listens within 30 s");
    // Keep reading its output, so that it never writes into a closed pipe;
    // the task ends when the provider does.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Some((child, issuer))
}

/// A browser's cookie jar, one per host:port (enough for two local servers).
#[derive(Default, Clone)]
struct Jar(BTreeMap<String, BTreeMap<String, String>>);

impl Jar {
    fn origin(url: &str) -> String {
        let u = reqwest::Url::parse(url).unwrap();
        format!(
            "{}:{}",
            u.host_str().unwrap(),
            u.port_or_known_default().unwrap()
        )
    }

    fn header(&self, url: &str) -> String {
        self.0
            .get(&Self::origin(url))
            .map(|m| {
                m.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default()
    }

    fn take(&mut self, url: &str, r: &Response) {
        let jar = self.0.entry(Self::origin(url)).or_default();
        for v in r
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
        {
            let (pair, attrs) = v.split_once(';').unwrap_or((v, ""));
            let Some((k, val)) = pair.split_once('=') else {
                continue;
            };
            if val.is_empty()
                || attrs.contains("Max-Age=0")
                || attrs.contains("expires=Thu, 01 Jan 1970")
            {
                jar.remove(k.trim());
            } else {
                jar.insert(k.trim().to_owned(), val.trim().to_owned());
            }
        }
    }

    async fn get(&mut self, url: &str) -> Response {
        let r = client()
            .get(url)
            .header(COOKIE, self.header(url))
            .send()
            .await
            .unwrap();
        self.take(url, &r);
        r
    }

    async fn post_form(&mut self, url: &str, form: &[(&str, &str)]) -> Response {
        let r = client()
            .post(url)
            .header(COOKIE, self.header(url))
            .form(form)
            .send()
            .await
            .unwrap();
        self.take(url, &r);
        r
    }
}

fn location(r: &Response, base: &str) -> String {
    let loc = r.headers()[LOCATION].to_str().unwrap();
    reqwest::Url::parse(base)
        .unwrap()
        .join(loc)
        .unwrap()
        .to_string()
}

/// Sign in at the provider as `user` (its login page, by plain HTTP)
/// starting from the provider URL Sovra redirected to; returns the
/// callback URL the provider sends the browser back to.
async fn at_provider(jar: &mut Jar, mut url: String, user: &str, pw: &str, sovra: &str) -> String {
    for _ in 0..10 {
        if url.starts_with(sovra) {
            return url;
        }
        let r = jar.get(&url).await;
        if r.status().is_redirection() {
            url = location(&r, &url);
            continue;
        }
        assert_eq!(r.status(), 200, "{url}");
        let page = r.text().await.unwrap();
        assert!(page.contains("name=\"password\""), "a login page: {page}");
        let r = jar
            .post_form(&url, &[("login", user), ("password", pw)])
            .await;
        assert!(r.status().is_redirection(), "{}", r.status());
        url = location(&r, &url);
    }
    panic!("the provider never sent the browser back");
}

async fn start_flow(jar: &mut Jar, s: &Sovra) -> String {
    let r = jar.get(&s.url("/auth/oidc/start")).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
    let to = r.headers()[LOCATION].to_str().unwrap().to_owned();
    for p in [
        "code_challenge_method=S256",
        "state=",
        "nonce=",
        "response_type=code",
        "client_id=sovra",
    ] {
        assert!(to.contains(p), "{to} lacks {p}");
    }
    to
}

fn with_param(url: &str, name: &str, value: &str) -> String {
    let mut u = reqwest::Url::parse(url).unwrap();
    let pairs: Vec<(String, String)> = u
        .query_pairs()
        .map(|(k, v)| {
            if k == name {
                (k.into_owned(), value.to_owned())
            } else {
                (k.into_owned(), v.into_owned())
            }
        })
        .collect();
    u.query_pairs_mut().clear().extend_pairs(pairs);
    u.to_string()
}

#[tokio::test]
async fn single_sign_on_with_a_real_openid_provider() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let sovra = format!("http://127.0.0.1:{port}");
    let redirect = format!("{sovra}/auth/oidc/callback");
    let Some((mut provider, issuer)) = start_provider(&redirect).await else {
        return;
    };
    let secret_file = dir.path().join("oidc-secret");
    std::fs::write(&secret_file, "sovra-test-secret\n").unwrap();
    let listen = format!("127.0.0.1:{port}");
    let data = dir.path().to_string_lossy().into_owned();
    let secret = format!("file:{}", secret_file.display());
    let s = Sovra::start(
        Path::new(BIN),
        &[
            "serve",
            "--listen",
            &listen,
            "--data-dir",
            &data,
            "--engine",
            "sim",
        ],
        &[
            ("SOVRA_SIGNIN_OIDC_ISSUER", issuer.as_str()),
            ("SOVRA_SIGNIN_OIDC_CLIENT_ID", "sovra"),
            ("SOVRA_SIGNIN_OIDC_CLIENT_SECRET", secret.as_str()),
            ("SOVRA_SIGNIN_OIDC_REDIRECT_URL", redirect.as_str()),
            ("SOVRA_SIGNIN_OIDC_NAME", "Test ID"),
            ("SOVRA_SIGNIN_OIDC_ROLE", "developer"),
        ],
        port,
        dir.path(),
    )
    .await
    .unwrap();
    let methods = me(&s, "").await["methods"].clone();
    assert_eq!(methods["oidc"]["name"], "Test ID");

    // The whole flow, as a browser would: Sovra → provider login → Sovra.
    let mut jar = Jar::default();
    let started = Instant::now();
    let to = start_flow(&mut jar, &s).await;
    assert!(to.starts_with(&issuer), "{to}");
    let back = at_provider(&mut jar, to, "alice", "alice-password-123", &sovra).await;
    assert!(back.contains("code=") && back.contains("state="), "{back}");
    let r = jar.get(&back).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
    assert_eq!(r.headers()[LOCATION], "/");
    eprintln!(
        "single sign-on round trip (4 provider hops, token, JWKS): {:?}",
        started.elapsed()
    );
    let who = me(&s, &jar.header(&sovra)).await;
    assert_eq!(who["signed_in"], true, "{who}");
    assert_eq!(who["method"], "oidc");
    assert_eq!(who["user"]["name"], "alice@example.test");
    assert_eq!(who["user"]["display_name"], "Alice Example");
    assert_eq!(who["user"]["tenant"], "public");
    assert_eq!(who["user"]["role"], "developer");
    let alice = who["user"]["id"].as_str().unwrap().to_owned();

    // Replaying the same callback (state used, code used) is refused.
    let mut replay = jar.clone();
    let r = replay.get(&back).await;
    assert_eq!(r.status(), 401);
    let (_, body) = status_and_json(r).await;
    assert_eq!(body["error"]["code"], "sso_failed");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("state"),
        "{body}"
    );

    // A tampered state is refused.
    let mut jar2 = Jar::default();
    let to = start_flow(&mut jar2, &s).await;
    let back = at_provider(&mut jar2, to, "alice", "alice-password-123", &sovra).await;
    let r = jar2
        .get(&with_param(
            &back,
            "state",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ))
        .await;
    assert_eq!(r.status(), 401);

    // A callback in another browser than the one that started the flow
    // (login CSRF: the attacker's code in the victim's browser) is refused.
    let mut jar3 = Jar::default();
    let to = start_flow(&mut jar3, &s).await;
    let back = at_provider(&mut jar3, to, "bob", "bob-password-12345", &sovra).await;
    let mut victim = Jar::default();
    let r = victim.get(&back).await;
    assert_eq!(r.status(), 401);
    let (_, body) = status_and_json(r).await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("another browser"),
        "{body}"
    );

    // An ID token with another nonce than the flow's is refused: the
    // provider signs whatever nonce the authorization request carried.
    let mut jar4 = Jar::default();
    let to = start_flow(&mut jar4, &s).await;
    let to = with_param(&to, "nonce", "a-nonce-the-attacker-chose");
    let back = at_provider(&mut jar4, to, "alice", "alice-password-123", &sovra).await;
    let r = jar4.get(&back).await;
    assert_eq!(r.status(), 401);
    let (_, body) = status_and_json(r).await;
    assert!(
        body["error"]["message"].as_str().unwrap().contains("nonce"),
        "{body}"
    );

    // A PKCE challenge swapped on the way is refused by the provider at redemption.
    let mut jar5 = Jar::default();
    let to = start_flow(&mut jar5, &s).await;
    let to = with_param(
        &to,
        "code_challenge",
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
    );
    let back = at_provider(&mut jar5, to, "alice", "alice-password-123", &sovra).await;
    let r = jar5.get(&back).await;
    let (st, body) = status_and_json(r).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED.as_u16(), "{body}");
    assert_eq!(me(&s, &jar5.header(&sovra)).await["signed_in"], false);

    // Signing in again finds the same user by (issuer, subject).
    let mut again = Jar::default();
    let to = start_flow(&mut again, &s).await;
    let back = at_provider(&mut again, to, "alice", "alice-password-123", &sovra).await;
    assert_eq!(again.get(&back).await.status(), 303);
    assert_eq!(
        me(&s, &again.header(&sovra)).await["user"]["id"],
        alice.as_str()
    );

    s.stop().await.unwrap();
    let _ = provider.kill().await;
    let entries = audit(dir.path()).await;
    let sso_in = entries
        .iter()
        .filter(|e| e.action == "auth.sign_in" && e.details["method"] == "oidc")
        .count();
    assert_eq!(sso_in, 2);
    let sso_failed = entries
        .iter()
        .filter(|e| e.action == "auth.sign_in_failed" && e.details["method"] == "oidc")
        .count();
    assert_eq!(sso_failed, 5);
    let all =
        serde_json::to_string(&entries.iter().map(|e| &e.details).collect::<Vec<_>>()).unwrap();
    assert!(!all.contains("sovra-test-secret"));
    assert!(!all.contains("code="));
}
