//! Test harness: the real `sovra` binary on a free port, spoken to over HTTP.
//!
//! Integration tests build the binary (`CARGO_BIN_EXE_sovra`), start it with
//! [`Sovra::start`], wait until `/readyz` says ready, and talk to it like any
//! client would. [`Sovra::stop`] sends SIGTERM and returns the exit status, so
//! graceful shutdown is tested the way an operator triggers it. Output goes to
//! a log file whose tail is attached to every start failure.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use serde_json::Value;
use sovra_core::sse::SseDecoder;
use tokio::process::{Child, Command};

/// A running `sovra` process.
pub struct Sovra {
    child: Child,
    pub base: String,
    pub log: PathBuf,
    pub client: reqwest::Client,
    /// The anonymous people tests call by name ([`Sovra::person`]).
    people: std::sync::Mutex<std::collections::HashMap<String, Citizen>>,
    /// The keys of the members tests call by name ([`Sovra::member_key`]).
    members: std::sync::Mutex<std::collections::HashMap<String, String>>,
}

/// A port nobody is listening on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}

impl Sovra {
    /// `sovra serve` with a fresh port and the given data dir and extra args/env.
    pub async fn serve(
        bin: &Path,
        data_dir: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Self> {
        // Another test may take the free port between our probe and the
        // server's bind: then the server exits with "could not listen", and
        // we try another port.
        let mut attempt = 0;
        loop {
            attempt += 1;
            let port = free_port();
            let listen = format!("127.0.0.1:{port}");
            let mut all = vec!["serve", "--listen", &listen, "--data-dir"];
            let dir = data_dir.to_string_lossy().into_owned();
            all.push(&dir);
            all.extend_from_slice(args);
            match Self::start(bin, &all, env, port, data_dir).await {
                Err(e) if attempt < 5 && format!("{e:#}").contains("could not listen") => continue,
                other => return other,
            }
        }
    }

    /// Any subcommand that serves HTTP on `port`; waits for `/readyz`.
    pub async fn start(
        bin: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        port: u16,
        log_dir: &Path,
    ) -> Result<Self> {
        let log = log_dir.join(format!("sovra-{port}.log"));
        std::fs::create_dir_all(log_dir)?;
        let out = std::fs::File::create(&log)?;
        let err = out.try_clone()?;
        let mut cmd = Command::new(bin);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            // Tests must not read an operator's settings, and read the
            // server's own info-level log (readiness, request ids).
            .env_remove("SOVRA_CONFIG")
            .env_remove("RUST_LOG");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("could not start {}", bin.display()))?;
        let mut me = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
            client: reqwest::Client::new(),
            people: Default::default(),
            members: Default::default(),
        };
        me.wait_ready(Duration::from_secs(120)).await?;
        Ok(me)
    }

    async fn wait_ready(&mut self, limit: Duration) -> Result<()> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("sovra exited during start ({status}):\n{}", self.log_tail());
            }
            // Ready only once *this* process has bound the port (its own log
            // says so): never mistake another test's server for ours.
            let bound = std::fs::read_to_string(&self.log)
                .is_ok_and(|log| log.contains(&format!("{}/", self.base)));
            if bound
                && let Ok(r) = self.client.get(self.url("/readyz")).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            if started.elapsed() > limit {
                bail!("sovra was not ready within {limit:?}:\n{}", self.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// The last lines of the process's output.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Send a signal by name (e.g. "TERM", "INT").
    pub fn signal(&self, name: &str) -> Result<()> {
        let pid = self.pid().context("process already gone")?;
        let status = std::process::Command::new("kill")
            .args([format!("-{name}"), pid.to_string()])
            .status()?;
        if !status.success() {
            bail!("kill -{name} {pid} failed");
        }
        Ok(())
    }

    /// SIGTERM, then wait (up to `limit`) for the exit status.
    pub async fn stop_within(mut self, limit: Duration) -> Result<ExitStatus> {
        self.signal("TERM")?;
        match tokio::time::timeout(limit, self.child.wait()).await {
            Ok(status) => Ok(status?),
            Err(_) => bail!(
                "sovra did not exit within {limit:?} of SIGTERM:\n{}",
                self.log_tail()
            ),
        }
    }

    pub async fn stop(self) -> Result<ExitStatus> {
        self.stop_within(Duration::from_secs(30)).await
    }

    /// POST JSON and hand back the response as it is (for streams and headers).
    pub async fn send(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path} failed: {e}"))
    }

    /// POST JSON, return status and JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> Result<(u16, Value)> {
        read_json(self.client.post(self.url(path)).json(body).send().await?).await
    }

    pub async fn get(&self, path: &str) -> Result<(u16, Value)> {
        read_json(self.client.get(self.url(path)).send().await?).await
    }
}

/// A response's status and body: JSON when it parses, else the text as a
/// JSON string.
async fn read_json(r: reqwest::Response) -> Result<(u16, Value)> {
    let status = r.status().as_u16();
    let text = r.text().await?;
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Ok((status, value))
}

/// Send `r` and read its status and body as [`Sovra::post`] does; a
/// transport error fails the test.
pub async fn status_json(r: reqwest::RequestBuilder) -> (u16, Value) {
    let response = r
        .send()
        .await
        .unwrap_or_else(|e| panic!("sending a request: {e}"));
    read_json(response)
        .await
        .unwrap_or_else(|e| panic!("reading a response: {e:#}"))
}

/// One anonymous person of the web chat: the cookie the server handed out
/// (`name=value`), its CSRF token, and the user id it stands for.
#[derive(Debug, Clone)]
pub struct Citizen {
    pub cookie: String,
    pub csrf: String,
    pub id: String,
}

/// The `name=value` of the cookie called `name` a response sets.
pub fn set_cookie(headers: &reqwest::header::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .map(|pair| pair.trim().to_owned())
        .find(|pair| {
            pair.split_once('=')
                .is_some_and(|(n, v)| n == name && !v.is_empty())
        })
}

impl Sovra {
    /// A new anonymous person, as the web chat becomes one: `GET /auth/me`
    /// hands out the cookie and its CSRF token.
    pub async fn citizen(&self) -> Citizen {
        let r = self
            .client
            .get(self.url("/auth/me"))
            .send()
            .await
            .expect("GET /auth/me");
        let cookie = set_cookie(r.headers(), "sovra_anon")
            .unwrap_or_else(|| panic!("no anonymous cookie handed out: {:?}", r.headers()));
        let me: Value = r.json().await.expect("GET /auth/me answers JSON");
        Citizen {
            cookie,
            csrf: me["csrf_token"].as_str().expect("a CSRF token").to_owned(),
            id: me["anonymous_id"]
                .as_str()
                .expect("an anonymous id")
                .to_owned(),
        }
    }

    /// From now on `client` (and so `get`, `post`, `send`) carries
    /// `Authorization: Bearer KEY`: the test acts as that key everywhere
    /// (do not mix with [`Sovra::as_person`], which the key would override).
    pub fn use_key(&mut self, key: &str) {
        let mut headers = reqwest::header::HeaderMap::new();
        let value = reqwest::header::HeaderValue::from_str(&format!("Bearer {key}"))
            .expect("a key fits a header");
        headers.insert(reqwest::header::AUTHORIZATION, value);
        self.client = reqwest::Client::builder()
            .default_headers(headers)
            .build()
            .expect("a client");
    }

    /// The anonymous person this test calls `name`: a new one (its own
    /// cookie from `GET /auth/me`) the first time, the same one after.
    pub async fn person(&self, name: &str) -> Citizen {
        if let Some(c) = self.people.lock().unwrap().get(name) {
            return c.clone();
        }
        let c = self.citizen().await;
        self.people
            .lock()
            .unwrap()
            .entry(name.to_owned())
            .or_insert(c)
            .clone()
    }

    /// Call `citizen` `name` from now on (a person carried over from another server).
    pub fn adopt(&self, name: &str, citizen: Citizen) {
        self.people.lock().unwrap().insert(name.to_owned(), citizen);
    }

    /// The key of the member of the `public` tenant this test calls `name`
    /// (`name@public.test`, made over the admin API with `admin_key` the
    /// first time).
    pub async fn member_key(&self, admin_key: &str, name: &str) -> String {
        if let Some(k) = self.members.lock().unwrap().get(name) {
            return k.clone();
        }
        let (_, key) = self
            .make_user(
                admin_key,
                "public",
                &format!("{name}@public.test"),
                "member",
                None,
            )
            .await;
        self.members
            .lock()
            .unwrap()
            .entry(name.to_owned())
            .or_insert(key)
            .clone()
    }

    /// Call the member with `key` `name` from now on (one made on another replica).
    pub fn adopt_key(&self, name: &str, key: &str) {
        self.members
            .lock()
            .unwrap()
            .insert(name.to_owned(), key.to_owned());
    }

    /// A request as the anonymous person this test calls `name`.
    pub async fn as_person(
        &self,
        method: reqwest::Method,
        path: &str,
        name: &str,
    ) -> reqwest::RequestBuilder {
        let c = self.person(name).await;
        self.as_citizen(method, path, &c)
    }

    /// A request as `citizen`: their cookie, and their CSRF token.
    pub fn as_citizen(
        &self,
        method: reqwest::Method,
        path: &str,
        citizen: &Citizen,
    ) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .header(reqwest::header::COOKIE, &citizen.cookie)
            .header("x-csrf-token", &citizen.csrf)
    }

    /// A request with `Authorization: Bearer KEY`.
    pub fn with_key(
        &self,
        method: reqwest::Method,
        path: &str,
        key: &str,
    ) -> reqwest::RequestBuilder {
        self.client.request(method, self.url(path)).bearer_auth(key)
    }

    /// A user of `tenant` with `role` (and `password`, to sign in with),
    /// made over the admin API with `admin_key`, and a key acting as them
    /// (every scope): `(user id, key secret)`.
    pub async fn make_user(
        &self,
        admin_key: &str,
        tenant: &str,
        name: &str,
        role: &str,
        password: Option<&str>,
    ) -> (String, String) {
        let mut body = serde_json::json!({"name": name, "tenant": tenant, "role": role});
        if let Some(p) = password {
            body["password"] = serde_json::json!(p);
        }
        let r = self
            .with_key(reqwest::Method::POST, "/admin/users", admin_key)
            .json(&body)
            .send()
            .await
            .expect("POST /admin/users");
        let status = r.status();
        let user: Value = r.json().await.unwrap_or_default();
        assert_eq!(status, 201, "{user}");
        let id = user["id"].as_str().expect("a user id").to_owned();
        let r = self
            .with_key(reqwest::Method::POST, "/admin/keys", admin_key)
            .json(&serde_json::json!({"name": name, "user": id}))
            .send()
            .await
            .expect("POST /admin/keys");
        let status = r.status();
        let key: Value = r.json().await.unwrap_or_default();
        assert_eq!(status, 201, "{key}");
        (id, key["secret"].as_str().expect("a secret").to_owned())
    }
}

/// `sovra admin ARGS --data-dir DIR`, with `stdin` piped in: whether it
/// succeeded, and its output (stdout then stderr).
pub fn sovra_admin(
    bin: &Path,
    data_dir: &Path,
    args: &[&str],
    stdin: Option<&str>,
) -> (bool, String) {
    use std::io::Write as _;
    let mut child = std::process::Command::new(bin)
        .arg("admin")
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("SOVRA_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sovra admin runs");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// `sovra admin bootstrap`: the first platform admin (with `password`, to
/// sign in with); the secret of the key it prints.
pub fn bootstrap(bin: &Path, data_dir: &Path, name: &str, password: Option<&str>) -> String {
    let mut args = vec!["bootstrap", "--name", name];
    if password.is_some() {
        args.push("--password-stdin");
    }
    let (ok, out) = sovra_admin(bin, data_dir, &args, password);
    assert!(ok, "bootstrap failed: {out}");
    let start = out.find('{').expect("bootstrap prints JSON");
    let boot: Value = serde_json::Deserializer::from_str(&out[start..])
        .into_iter::<Value>()
        .next()
        .and_then(Result::ok)
        .expect("bootstrap prints JSON");
    boot["secret"].as_str().expect("a secret").to_owned()
}

/// The `data:` payloads of an SSE response, in order (including `[DONE]`).
pub async fn sse_events(response: reqwest::Response) -> Result<Vec<String>> {
    let mut decoder = SseDecoder::default();
    let mut out = Vec::new();
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        out.extend(decoder.push(&chunk?).map_err(anyhow::Error::msg)?);
    }
    Ok(out)
}

/// A streamed OpenAI response's JSON chunks, after checking its framing:
/// `text/event-stream`, and `data: [DONE]` last.
pub async fn sse_chunks(response: reqwest::Response) -> Result<Vec<Value>> {
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if !content_type.starts_with("text/event-stream") {
        bail!("not an event stream: content-type {content_type:?}");
    }
    let mut events = sse_events(response).await?;
    if events.pop().as_deref() != Some("[DONE]") {
        bail!("the stream did not end with data: [DONE]");
    }
    events
        .iter()
        .map(|e| serde_json::from_str(e).with_context(|| format!("not JSON: {e}")))
        .collect()
}

/// Concatenated `delta.content` of chat chunks.
pub fn stream_text(events: &[String]) -> String {
    events
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(e).ok())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

/// The model file for tests that need the real default model: `SOVRA_TEST_MODEL`,
/// or the verified default in the model cache. Panics with the fix if missing,
/// so a test that needs the model never passes without it.
pub fn default_model_path() -> PathBuf {
    if let Some(p) = std::env::var_os("SOVRA_TEST_MODEL") {
        return PathBuf::from(p);
    }
    let cache = std::env::var_os("SOVRA_ENGINE_MODEL_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(sovra_models::default_cache_dir);
    let entry =
        sovra_models::find(sovra_models::DEFAULT_MODEL).expect("default model in catalogue");
    match sovra_models::cached_path(&cache, entry) {
        Some(p) => p,
        None => panic!(
            "the default model is not in {}; run `sovra models pull` first (scripts/test does)",
            cache.display()
        ),
    }
}

/// The embedding model file for tests that need it: `SOVRA_TEST_EMBEDDING_MODEL`,
/// or the verified multilingual-e5-small in the model cache. Panics with the
/// fix if missing, so a test that needs the model never passes without it.
pub fn embedding_model_path() -> PathBuf {
    if let Some(p) = std::env::var_os("SOVRA_TEST_EMBEDDING_MODEL") {
        return PathBuf::from(p);
    }
    let cache = std::env::var_os("SOVRA_ENGINE_MODEL_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(sovra_models::default_cache_dir);
    let entry = sovra_models::find(sovra_models::DEFAULT_EMBEDDING_MODEL)
        .expect("embedding model in catalogue");
    match sovra_models::cached_path(&cache, entry) {
        Some(p) => p,
        None => panic!(
            "the embedding model is not in {}; run `sovra models pull` first (scripts/test does)",
            cache.display()
        ),
    }
}
