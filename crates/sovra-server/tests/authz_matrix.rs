//! The authorization matrix: every route `routes()` serves × every role
//! (and the anonymous public) × own/other tenant, against the real router
//! in process, asserting the exact allowed set.
//!
//! The expected set is written out here, per route, independently of
//! `identity::RULES`; the route list is taken from `routes()`, so a new
//! endpoint fails this test until it is given a row in [`EXPECTED`].
//!
//! - own tenant: the caller's key, ids that do not exist in their tenant:
//!   allowed ⇔ the answer is neither 401 nor 403.
//! - other tenant: ids and bodies naming another tenant's real user,
//!   conversation, key and tenant: nobody but a platform admin gets a 2xx on
//!   them (conversations: nobody at all), and no answer to anyone but a
//!   platform admin carries the other tenant's ids.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::http::{Method, Request};
use serde_json::{Value, json};
use sovra_identity::{ApiKeySecret, Directory, NewApiKey, NewTenant, NewUser, Role, Scope};
use sovra_identity::{TenantKind, TenantPath};
use sovra_server::AppState;
use sovra_store::Store;
use tower::ServiceExt as _;

/// Who is calling: a role, or the anonymous public.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum As {
    Anon,
    R(Role),
}

use As::{Anon, R};
use Role::{Auditor, Developer, Member, PlatformAdmin, TenantAdmin};

const ALL: &[As] = &[
    Anon,
    R(PlatformAdmin),
    R(TenantAdmin),
    R(Developer),
    R(Member),
    R(Auditor),
];
const SIGNED_IN: &[As] = &[
    R(PlatformAdmin),
    R(TenantAdmin),
    R(Developer),
    R(Member),
    R(Auditor),
];
const CHAT: &[As] = &[
    Anon,
    R(PlatformAdmin),
    R(TenantAdmin),
    R(Developer),
    R(Member),
];
const API: &[As] = &[R(PlatformAdmin), R(TenantAdmin), R(Developer), R(Member)];
const ADMINS: &[As] = &[R(PlatformAdmin), R(TenantAdmin)];
const OVERSIGHT: &[As] = &[R(PlatformAdmin), R(TenantAdmin), R(Auditor)];
const KEYS: &[As] = &[R(PlatformAdmin), R(TenantAdmin), R(Developer)];
const PLATFORM: &[As] = &[R(PlatformAdmin)];

/// Who may call each route (of a closed platform: a platform admin exists).
const EXPECTED: &[(&str, &str, &[As])] = &[
    ("GET", "/healthz", ALL),
    ("GET", "/readyz", ALL),
    ("GET", "/metrics", ALL),
    ("GET", "/openapi.json", ALL),
    ("GET", "/", ALL),
    ("GET", "/console", ALL),
    ("GET", "/assets/{file}", ALL),
    ("GET", "/api/profile", ALL),
    ("GET", "/policy", ALL),
    ("GET", "/transparency", ALL),
    ("POST", "/auth/login", ALL),
    ("POST", "/auth/logout", ALL),
    ("GET", "/auth/me", ALL),
    ("GET", "/auth/oidc/start", ALL),
    ("GET", "/auth/oidc/callback", ALL),
    ("GET", "/v1/models", API),
    ("GET", "/v1/models/{id}", API),
    ("POST", "/v1/chat/completions", API),
    ("POST", "/v1/completions", API),
    ("POST", "/v1/moderations", API),
    ("POST", "/v1/embeddings", API),
    ("GET", "/v1/vector_stores", API),
    ("POST", "/v1/vector_stores", API),
    ("GET", "/v1/vector_stores/{id}", API),
    ("DELETE", "/v1/vector_stores/{id}", API),
    ("GET", "/v1/vector_stores/{id}/files", API),
    ("POST", "/v1/vector_stores/{id}/files", API),
    ("DELETE", "/v1/vector_stores/{id}/files/{file_id}", API),
    ("POST", "/v1/vector_stores/{id}/search", API),
    ("POST", "/v1/files", API),
    ("GET", "/v1/files", API),
    ("GET", "/v1/files/{file_id}", API),
    ("DELETE", "/v1/files/{file_id}", API),
    ("GET", "/v1/files/{file_id}/content", API),
    ("GET", "/api/conversations", CHAT),
    ("POST", "/api/conversations", CHAT),
    ("GET", "/api/conversations/{id}", CHAT),
    ("PATCH", "/api/conversations/{id}", CHAT),
    ("DELETE", "/api/conversations/{id}", CHAT),
    ("POST", "/api/conversations/{id}/messages", CHAT),
    (
        "DELETE",
        "/api/conversations/{id}/messages/{message_id}",
        CHAT,
    ),
    ("POST", "/api/messages/{id}/feedback", CHAT),
    ("GET", "/api/me/data", ALL),
    ("DELETE", "/api/me/data", ALL),
    ("GET", "/admin/usage", PLATFORM),
    ("GET", "/admin/moderation", OVERSIGHT),
    ("GET", "/admin/feedback", ADMINS),
    ("GET", "/admin/tenants", ADMINS),
    ("POST", "/admin/tenants", ADMINS),
    ("GET", "/admin/tenants/{tenant}", ADMINS),
    ("PATCH", "/admin/tenants/{tenant}", ADMINS),
    ("DELETE", "/admin/tenants/{tenant}", ADMINS),
    ("GET", "/admin/users", ADMINS),
    ("POST", "/admin/users", ADMINS),
    ("GET", "/admin/users/{id}", ADMINS),
    ("PATCH", "/admin/users/{id}", ADMINS),
    ("DELETE", "/admin/users/{id}", ADMINS),
    ("GET", "/admin/keys", KEYS),
    ("POST", "/admin/keys", KEYS),
    ("GET", "/admin/keys/{id}", KEYS),
    ("PATCH", "/admin/keys/{id}", ADMINS),
    ("DELETE", "/admin/keys/{id}", KEYS),
    ("GET", "/admin/whoami", SIGNED_IN),
    // The fleet: the platform's alone (no tenant's admin, never the anonymous).
    ("GET", "/admin/backends", PLATFORM),
    ("POST", "/admin/backends/reload", PLATFORM),
    ("POST", "/admin/backends/{name}/drain", PLATFORM),
    ("POST", "/admin/backends/{name}/undrain", PLATFORM),
];

fn served() -> Vec<(String, String)> {
    let (_, api) = sovra_server::routes().split_for_parts();
    let mut out = Vec::new();
    for (path, item) in &api.paths.paths {
        for (m, op) in [
            ("GET", &item.get),
            ("POST", &item.post),
            ("PUT", &item.put),
            ("PATCH", &item.patch),
            ("DELETE", &item.delete),
            ("HEAD", &item.head),
            ("OPTIONS", &item.options),
        ] {
            if op.is_some() {
                out.push((m.to_owned(), path.clone()));
            }
        }
    }
    out
}

fn tp(s: &str) -> TenantPath {
    TenantPath::parse(s).unwrap()
}

/// The other tenant's real things, which must not leak.
struct Other {
    user: String,
    key: String,
    conversation: String,
    tenant: &'static str,
}

struct Fixture {
    store: Arc<dyn Store>,
    app: axum::Router,
    secrets: Vec<(Role, String)>,
    other: Other,
}

async fn key_for(dir: &dyn Directory, tenant: &str, user: Option<String>, role: Role) -> String {
    let secret = ApiKeySecret::generate();
    dir.create_key(
        &NewApiKey {
            tenant: tp(tenant),
            user,
            name: "matrix".into(),
            role,
            scopes: Scope::ALL.to_vec(),
            models: None,
            expires_at_ms: None,
            hash: secret.hash(),
            shown: secret.shown(),
            parent: None,
            priority: None,
        },
        "test",
    )
    .await
    .unwrap();
    secret.expose().to_owned()
}

async fn fixture() -> Fixture {
    let store: Arc<dyn Store> = Arc::new(sovra_store::SqliteStore::in_memory().await.unwrap());
    let dir = sovra_store::directory_of(store.clone());
    for t in ["alpha", "beta"] {
        dir.create_tenant(
            &NewTenant {
                path: tp(t),
                name: t.into(),
                kind: TenantKind::Agency,
                priority: None,
            },
            "test",
        )
        .await
        .unwrap();
    }
    let mut secrets = Vec::new();
    for role in Role::ALL {
        let u = dir
            .create_user(
                &NewUser {
                    tenant: tp("alpha"),
                    name: format!("alpha-{role}"),
                    display_name: role.to_string(),
                    role,
                    password_hash: None,
                    oidc: None,
                    priority: None,
                },
                "test",
            )
            .await
            .unwrap();
        secrets.push((role, key_for(&*dir, "alpha", Some(u.id), role).await));
    }
    let b = dir
        .create_user(
            &NewUser {
                tenant: tp("beta"),
                name: "beta-member".into(),
                display_name: "beta".into(),
                role: Member,
                password_hash: None,
                oidc: None,
                priority: None,
            },
            "test",
        )
        .await
        .unwrap();
    let b_secret = key_for(&*dir, "beta", Some(b.id.clone()), Member).await;
    let b_key = dir
        .key_by_hash(&ApiKeySecret::parse(&b_secret).unwrap().hash())
        .await
        .unwrap()
        .unwrap()
        .id;
    let subject = sovra_store::Subject::new("beta", &b.id).unwrap();
    let conv = store
        .create_conversation(&subject, "beta secret title")
        .await
        .unwrap();
    let engine = Arc::new(sovra_engine::sim::SimEngine::new(
        sovra_engine::sim::SimConfig {
            time_to_first_token: std::time::Duration::ZERO,
            tokens_per_second: 0.0,
            default_answer_tokens: 4,
            ..Default::default()
        },
    ));
    let state = AppState::new(engine, store.clone(), Default::default(), "You are a test.");
    Fixture {
        app: sovra_server::router(state),
        store,
        secrets,
        other: Other {
            user: b.id,
            key: b_key,
            conversation: conv.id,
            tenant: "beta",
        },
    }
}

/// The path with its parameters filled: ids that do not exist in the
/// caller's tenant (`own`), or the other tenant's real ones.
fn concrete(template: &str, own: bool, o: &Other) -> String {
    let mut out = Vec::new();
    let segs: Vec<&str> = template.split('/').collect();
    for (i, seg) in segs.iter().enumerate() {
        let s = match *seg {
            "{file}" => "chat.js".to_owned(),
            "{tenant}" if own => "alpha%2Fnone".to_owned(),
            "{tenant}" => o.tenant.to_owned(),
            "{id}" if own => "nothing-here".to_owned(),
            "{id}" => match segs.get(i - 1).copied() {
                Some("users") => o.user.clone(),
                Some("keys") => o.key.clone(),
                Some("conversations") => o.conversation.clone(),
                Some("models") => "sim".into(),
                _ => "other-thing".into(),
            },
            "{message_id}" | "{file_id}" | "{name}" => "nothing-here".to_owned(),
            s if s.starts_with('{') => panic!("no value for {s} in {template}"),
            s => s.to_owned(),
        };
        out.push(s);
    }
    out.join("/")
}

fn body_for(method: &str, path: &str, own: bool) -> Value {
    let tenant = if own { "alpha" } else { "beta" };
    match (method, path) {
        ("POST", "/admin/tenants") => {
            json!({"path": format!("{tenant}/t{}", rand_suffix()), "kind": "team"})
        }
        ("POST", "/admin/users") => {
            json!({"name": format!("u{}", rand_suffix()), "tenant": tenant, "role": "member"})
        }
        ("POST", "/admin/keys") => json!({"name": "k", "tenant": tenant}),
        ("PATCH", "/admin/users/{id}") => json!({"display_name": "changed"}),
        ("PATCH", "/admin/tenants/{tenant}" | "/admin/keys/{id}") => json!({"priority": "batch"}),
        ("PATCH", "/api/conversations/{id}") => json!({"title": "changed"}),
        ("POST", "/v1/chat/completions") => {
            json!({"model": "sim", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2})
        }
        _ => json!({}),
    }
}

fn rand_suffix() -> String {
    ApiKeySecret::generate().hash()[..10].to_owned()
}

async fn call(
    app: &axum::Router,
    method: &str,
    path: &str,
    body: &Value,
    key: Option<&str>,
) -> (u16, String) {
    let mut req = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).unwrap())
        .uri(path)
        .header("content-type", "application/json");
    if let Some(k) = key {
        req = req.header("authorization", format!("Bearer {k}"));
    }
    let req = req.body(Body::from(body.to_string())).unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status().as_u16();
    let bytes = axum::body::to_bytes(resp.into_body(), 4 << 20)
        .await
        .unwrap_or_default();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_every_role_own_and_other_tenant() {
    let served = served();
    // The table and the router name the same routes.
    for (m, p) in &served {
        assert!(
            EXPECTED.iter().any(|(em, ep, _)| em == m && ep == p),
            "{m} {p} is served but has no row in the authorization matrix: add it to EXPECTED (and identity::RULES)"
        );
    }
    for (m, p, _) in EXPECTED {
        assert!(
            served.iter().any(|(sm, sp)| sm == m && sp == p),
            "the matrix names {m} {p}, which is not served"
        );
    }
    let fx = fixture().await;
    let secret = |who: As| match who {
        Anon => None,
        R(r) => fx
            .secrets
            .iter()
            .find(|(role, _)| *role == r)
            .map(|(_, s)| s.clone()),
    };
    let mut cases = 0;
    let mut failures = Vec::new();
    // Own tenant: the role decides.
    for (m, p, allowed) in EXPECTED {
        for who in ALL {
            let path = concrete(p, true, &fx.other);
            let (status, body) = call(
                &fx.app,
                m,
                &path,
                &body_for(m, p, true),
                secret(*who).as_deref(),
            )
            .await;
            cases += 1;
            let got = !(status == 401 || status == 403);
            let want = allowed.contains(who);
            if got != want {
                failures.push(format!(
                    "own  {who:?} {m} {path}: {status} (want {}) {}",
                    if want { "allowed" } else { "refused" },
                    body.chars().take(160).collect::<String>()
                ));
            }
        }
    }
    // Other tenant: a platform admin last (it may delete what it reaches),
    // and within a caller, deletes last.
    let order = [
        Anon,
        R(Auditor),
        R(Member),
        R(Developer),
        R(TenantAdmin),
        R(PlatformAdmin),
    ];
    let mut rows: Vec<_> = EXPECTED.iter().collect();
    rows.sort_by_key(|(m, _, _)| *m == "DELETE");
    // An id the caller put in the URL may be echoed in a 404; anything else is a leak.
    let leaks = |body: &str, path: &str| {
        [
            fx.other.user.as_str(),
            fx.other.key.as_str(),
            fx.other.conversation.as_str(),
            "beta secret title",
            "\"beta",
        ]
        .into_iter()
        .find(|s| body.contains(s) && !path.contains(s.trim_start_matches('"')))
        .map(str::to_owned)
    };
    for who in order {
        for (m, p, allowed) in &rows {
            let names_other = p.contains('{') && !p.contains("{file}") && !p.contains("/models/")
                || matches!(
                    (*m, *p),
                    ("POST", "/admin/tenants") | ("POST", "/admin/users") | ("POST", "/admin/keys")
                );
            let path = concrete(p, false, &fx.other);
            let (status, body) = call(
                &fx.app,
                m,
                &path,
                &body_for(m, p, false),
                secret(who).as_deref(),
            )
            .await;
            cases += 1;
            let platform = who == R(PlatformAdmin);
            let admin_route = p.starts_with("/admin/");
            let ok = (200..300).contains(&status);
            if names_other && ok && !(platform && admin_route) {
                failures.push(format!(
                    "other {who:?} {m} {path}: {status}, another tenant's thing was served: {}",
                    body.chars().take(160).collect::<String>()
                ));
            }
            if platform && admin_route && allowed.contains(&who) && (status == 401 || status == 403)
            {
                failures.push(format!(
                    "other {who:?} {m} {path}: {status}, a platform admin reaches every tenant"
                ));
            }
            if !platform && let Some(l) = leaks(&body, &path) {
                failures.push(format!(
                    "other {who:?} {m} {path}: {status}, the answer carries `{l}`"
                ));
            }
        }
    }
    println!(
        "authorization matrix: {} routes x {} callers x 2 tenants = {cases} cases",
        EXPECTED.len(),
        ALL.len()
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // The other tenant's conversation survived everyone.
    assert!(
        fx.store
            .get_conversation(&fx.other.conversation)
            .await
            .unwrap()
            .is_some()
    );
}

/// What resolving an API key costs per request (the directory is read on
/// every request, so revocation holds on the next one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_resolution_cost() {
    let dir = tempfile_dir();
    let store: Arc<dyn Store> = Arc::new(
        sovra_store::SqliteStore::open(
            &dir,
            sovra_store::Keyring::new(sovra_store::Key::generate()),
        )
        .await
        .unwrap(),
    );
    let d = sovra_store::directory_of(store);
    d.create_tenant(
        &NewTenant {
            path: tp("alpha"),
            name: "a".into(),
            kind: TenantKind::Agency,
            priority: None,
        },
        "t",
    )
    .await
    .unwrap();
    let u = d
        .create_user(
            &NewUser {
                tenant: tp("alpha"),
                name: "dev".into(),
                display_name: "dev".into(),
                role: Developer,
                password_hash: None,
                oidc: None,
                priority: None,
            },
            "t",
        )
        .await
        .unwrap();
    let secret = key_for(&*d, "alpha", Some(u.id), Developer).await;
    let secret = ApiKeySecret::parse(&secret).unwrap();
    let mut times = Vec::new();
    for _ in 0..500 {
        let t = Instant::now();
        let p = sovra_server::identity::resolve_key(&*d, &secret, 0)
            .await
            .unwrap();
        times.push(t.elapsed());
        assert!(p.is_ok());
    }
    times.sort();
    let p50 = times[times.len() / 2];
    let p99 = times[times.len() * 99 / 100];
    println!(
        "API key resolution (SQLite file, hash + key row + user row + tenant path classes): p50 {p50:?}, p99 {p99:?}"
    );
    assert!(p50 < std::time::Duration::from_millis(20), "p50 {p50:?}");
    std::fs::remove_dir_all(&dir).ok();
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("sovra-authz-{}", rand_suffix()));
    std::fs::create_dir_all(&d).unwrap();
    d
}
