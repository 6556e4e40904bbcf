//! Tenants, users and API keys through the real binary: the first platform
//! admin is bootstrapped with `sovra admin`, makes a tenant, a user and keys
//! over the admin API, and the keys hold on `/v1/chat/completions` (the sim
//! engine): scopes, the model allow-list, expiry, and revocation on the very
//! next request.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use serde_json::{Value, json};
use sovra_testkit::Sovra;

const BIN: &str = env!("CARGO_BIN_EXE_sovra");

const ENV: &[(&str, &str)] = &[
    ("SOVRA_ENGINE_SIM_TTFT_MS", "0"),
    ("SOVRA_ENGINE_SIM_TOKENS_PER_SECOND", "0"),
];

fn admin(dir: &Path, args: &[&str], stdin: Option<&str>) -> (bool, String) {
    sovra_testkit::sovra_admin(Path::new(BIN), dir, args, stdin)
}

async fn call(
    sovra: &Sovra,
    method: reqwest::Method,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let client = reqwest::Client::new();
    let mut req = client.request(method, sovra.url(path));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn chat(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 4})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_tenants_users_and_keys() {
    use reqwest::Method;
    let dir = tempfile::tempdir().unwrap();
    // The first platform admin, from the command line; a password from stdin.
    let (ok, out) = admin(
        dir.path(),
        &[
            "bootstrap",
            "--name",
            "root@example.org",
            "--password-stdin",
        ],
        Some("a long enough passphrase\n"),
    );
    assert!(ok, "{out}");
    let boot: Value = serde_json::from_str(&out).expect("bootstrap prints JSON");
    let root = boot["secret"].as_str().unwrap().to_owned();
    assert!(root.starts_with("sk-sovra-"));
    assert_eq!(boot["user"]["role"], "platform_admin");
    assert_eq!(boot["user"]["has_password"], true);
    assert!(!out.contains("argon2"), "no hash printed");
    let (ok, out) = admin(dir.path(), &["bootstrap", "--name", "second"], None);
    assert!(!ok && out.contains("already exists"), "{out}");

    let sovra = Sovra::serve(Path::new(BIN), dir.path(), &["--engine", "sim"], ENV)
        .await
        .expect("sovra starts");
    let (s, models) = call(&sovra, Method::GET, "/v1/models", Some(&root), None).await;
    assert_eq!(s, 200, "{models}");
    let model = models["data"][0]["id"].as_str().unwrap().to_owned();

    // The platform is closed now: anonymous callers are the public, not the operator.
    let (s, _) = call(
        &sovra,
        Method::POST,
        "/v1/chat/completions",
        None,
        Some(chat(&model)),
    )
    .await;
    assert_eq!(s, 401);
    let (s, _) = call(&sovra, Method::GET, "/admin/tenants", None, None).await;
    assert_eq!(s, 401);
    // The SDKs' placeholder key, which an open node lets through, is refused now.
    let (s, e) = call(
        &sovra,
        Method::GET,
        "/v1/models",
        Some("not-needed-yet"),
        None,
    )
    .await;
    assert_eq!(s, 401, "{e}");
    assert_eq!(e["error"]["code"], "invalid_api_key");
    let (s, _) = call(&sovra, Method::GET, "/api/conversations", None, None).await;
    assert_eq!(s, 200, "the web chat stays open to the public");

    // A tenant, a developer in it, and the developer's keys.
    let (s, t) = call(
        &sovra,
        Method::POST,
        "/admin/tenants",
        Some(&root),
        Some(json!({"path": "acme", "kind": "startup"})),
    )
    .await;
    assert_eq!(s, 201, "{t}");
    let (s, dev) = call(
        &sovra,
        Method::POST,
        "/admin/users",
        Some(&root),
        Some(json!({"name": "dev@acme.example", "tenant": "acme", "role": "developer"})),
    )
    .await;
    assert_eq!(s, 201, "{dev}");
    let dev_id = dev["id"].as_str().unwrap();
    let make_key = |body: Value| {
        let sovra = &sovra;
        let root = root.clone();
        async move {
            let (s, k) = call(sovra, Method::POST, "/admin/keys", Some(&root), Some(body)).await;
            assert_eq!(s, 201, "{k}");
            (
                k["secret"].as_str().unwrap().to_owned(),
                k["id"].as_str().unwrap().to_owned(),
            )
        }
    };
    let (key, key_id) =
        make_key(json!({"name": "ci", "user": dev_id, "scopes": ["inference", "admin"]})).await;

    // The key works on chat, as the developer, in their tenant.
    let (s, body) = call(
        &sovra,
        Method::POST,
        "/v1/chat/completions",
        Some(&key),
        Some(chat(&model)),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let (s, me) = call(&sovra, Method::GET, "/admin/whoami", Some(&key), None).await;
    assert_eq!(s, 200, "{me}");
    assert_eq!(
        (me["tenant"].as_str(), me["role"].as_str()),
        (Some("acme"), Some("developer"))
    );
    // A developer sees their own key, not the admin's, and never a secret.
    let (s, keys) = call(&sovra, Method::GET, "/admin/keys", Some(&key), None).await;
    assert_eq!(s, 200, "{keys}");
    let listed: Vec<&str> = keys["api_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [key_id.as_str()]);
    assert!(
        !keys.to_string().contains(&key),
        "a secret is shown once only"
    );
    // ... and may not administer users, nor mint a key above their role.
    let (s, _) = call(&sovra, Method::GET, "/admin/users", Some(&key), None).await;
    assert_eq!(s, 403);
    let (s, e) = call(
        &sovra,
        Method::POST,
        "/admin/keys",
        Some(&key),
        Some(json!({"name": "up", "role": "tenant_admin", "scopes": ["inference"]})),
    )
    .await;
    assert_eq!(s, 403, "{e}");

    // An embeddings-only key is refused chat with 403 and names the scope.
    let (emb, _) = make_key(json!({"name": "emb", "user": dev_id, "scopes": ["embeddings"]})).await;
    let (s, e) = call(
        &sovra,
        Method::POST,
        "/v1/chat/completions",
        Some(&emb),
        Some(chat(&model)),
    )
    .await;
    assert_eq!(s, 403, "{e}");
    assert_eq!(e["error"]["code"], "permission_denied");
    assert_eq!(e["error"]["type"], "invalid_request_error");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Missing scopes: inference")
    );

    // The model allow-list: other models are not found for the key.
    let (only, _) = make_key(json!({"name": "only", "user": dev_id, "scopes": ["inference"], "models": ["some-other-model"]})).await;
    let (s, e) = call(
        &sovra,
        Method::POST,
        "/v1/chat/completions",
        Some(&only),
        Some(chat(&model)),
    )
    .await;
    assert_eq!(s, 404, "{e}");
    assert_eq!(e["error"]["code"], "model_not_found");
    let (s, m) = call(&sovra, Method::GET, "/v1/models", Some(&only), None).await;
    assert_eq!(s, 200);
    assert_eq!(m["data"].as_array().unwrap().len(), 0, "{m}");

    // Expiry.
    let (short, _) = make_key(
        json!({"name": "short", "user": dev_id, "scopes": ["inference"], "expires_in": 1}),
    )
    .await;
    let (s, _) = call(
        &sovra,
        Method::POST,
        "/v1/chat/completions",
        Some(&short),
        Some(chat(&model)),
    )
    .await;
    assert_eq!(s, 200);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (s, e) = call(
        &sovra,
        Method::POST,
        "/v1/chat/completions",
        Some(&short),
        Some(chat(&model)),
    )
    .await;
    assert_eq!(s, 401, "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("expired"));

    // Revocation holds on the very next request.
    let (s, r) = call(
        &sovra,
        Method::DELETE,
        &format!("/admin/keys/{key_id}"),
        Some(&root),
        None,
    )
    .await;
    assert_eq!(s, 200, "{r}");
    let (s, e) = call(
        &sovra,
        Method::POST,
        "/v1/chat/completions",
        Some(&key),
        Some(chat(&model)),
    )
    .await;
    assert_eq!(s, 401, "{e}");
    assert_eq!(e["error"]["code"], "invalid_api_key");

    // A made-up key of the right shape is refused, naming no more than a prefix.
    let fake = "sk-sovra-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let (s, _) = call(
        &sovra,
        Method::POST,
        "/v1/chat/completions",
        Some(fake),
        Some(chat(&model)),
    )
    .await;
    assert_eq!(s, 401);

    // The command line sees the same directory; the trail has every change, no secret.
    let (ok, out) = admin(dir.path(), &["key", "list", "--under", "acme"], None);
    assert!(ok, "{out}");
    assert!(out.contains(&key_id) && !out.contains(&key));
    sovra.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_node_takes_placeholder_keys_but_checks_sovra_keys() {
    use reqwest::Method;
    let dir = tempfile::tempdir().unwrap();
    let sovra = Sovra::serve(Path::new(BIN), dir.path(), &["--engine", "sim"], ENV)
        .await
        .expect("sovra starts");
    // No operator key, no platform admin: the OpenAI SDKs' placeholder passes.
    let (s, models) = call(
        &sovra,
        Method::GET,
        "/v1/models",
        Some("not-needed-yet"),
        None,
    )
    .await;
    assert_eq!(s, 200, "{models}");
    // Something shaped like a Sovra key is looked up, open or not.
    let fake = "sk-sovra-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let (s, e) = call(&sovra, Method::GET, "/v1/models", Some(fake), None).await;
    assert_eq!(s, 401, "{e}");
    sovra.stop().await.unwrap();
}

/// `"service": true`: a signed-in admin's key for a sub-tenant acts as no
/// user (the console's "New API key"); only admins, and not with `user`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_keys_for_a_sub_tenant() {
    use reqwest::Method;
    let dir = tempfile::tempdir().unwrap();
    let (ok, out) = admin(
        dir.path(),
        &["bootstrap", "--name", "root@example.org"],
        None,
    );
    assert!(ok, "{out}");
    let boot: Value = serde_json::from_str(&out).expect("bootstrap prints JSON");
    let root = boot["secret"].as_str().unwrap().to_owned();
    let sovra = Sovra::serve(Path::new(BIN), dir.path(), &["--engine", "sim"], ENV)
        .await
        .expect("sovra starts");
    let (s, t) = call(
        &sovra,
        Method::POST,
        "/admin/tenants",
        Some(&root),
        Some(json!({"path": "platform/health", "kind": "agency"})),
    )
    .await;
    assert_eq!(s, 201, "{t}");
    // The admin's own user may not hold a key in another tenant ...
    let (s, e) = call(
        &sovra,
        Method::POST,
        "/admin/keys",
        Some(&root),
        Some(json!({"name": "as-me", "tenant": "platform/health"})),
    )
    .await;
    assert_eq!(s, 400, "{e}");
    // ... a service key may, and acts as no user, with the role asked for.
    let (s, k) = call(
        &sovra,
        Method::POST,
        "/admin/keys",
        Some(&root),
        Some(json!({"name": "portal", "tenant": "platform/health", "service": true, "role": "member", "scopes": ["inference"]})),
    )
    .await;
    assert_eq!(s, 201, "{k}");
    assert_eq!(k["user"], Value::Null);
    assert_eq!(k["tenant"], "platform/health");
    let secret = k["secret"].as_str().unwrap().to_owned();
    let (s, _) = call(&sovra, Method::GET, "/v1/models", Some(&secret), None).await;
    assert_eq!(s, 200);
    let (s, me) = call(&sovra, Method::GET, "/admin/whoami", Some(&secret), None).await;
    assert_eq!(s, 403, "no admin scope: {me}");
    // Not with a user; not for developers.
    let me_id = boot["user"]["id"].as_str().unwrap();
    let (s, e) = call(
        &sovra,
        Method::POST,
        "/admin/keys",
        Some(&root),
        Some(json!({"name": "both", "service": true, "user": me_id})),
    )
    .await;
    assert_eq!(s, 400, "{e}");
    assert_eq!(e["error"]["param"], "service");
    let (s, dev) = call(
        &sovra,
        Method::POST,
        "/admin/users",
        Some(&root),
        Some(json!({"name": "dev@example.org", "tenant": "platform/health", "role": "developer"})),
    )
    .await;
    assert_eq!(s, 201, "{dev}");
    let (s, dk) = call(
        &sovra,
        Method::POST,
        "/admin/keys",
        Some(&root),
        Some(json!({"name": "dev", "user": dev["id"], "scopes": ["inference", "admin"]})),
    )
    .await;
    assert_eq!(s, 201, "{dk}");
    let dev_key = dk["secret"].as_str().unwrap();
    let (s, e) = call(
        &sovra,
        Method::POST,
        "/admin/keys",
        Some(dev_key),
        Some(json!({"name": "svc", "service": true, "scopes": ["inference"]})),
    )
    .await;
    assert_eq!(s, 403, "{e}");
    sovra.stop().await.unwrap();
}
