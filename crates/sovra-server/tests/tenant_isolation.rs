//! A property: random sequences of operations by users of several tenants
//! (create, list, read, rename and delete conversations, export one's data)
//! never hand anyone another user's (or another tenant's) data, and never
//! let anyone change or delete it. Against the real router in process, each
//! user calling with their own API key.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use proptest::prelude::*;
use serde_json::{Value, json};
use sovra_identity::{ApiKeySecret, NewApiKey, NewTenant, NewUser, Role, Scope};
use sovra_identity::{TenantKind, TenantPath};
use tower::ServiceExt as _;

/// Users: (tenant, name). Two share a tenant, one tenant is nested in another.
const USERS: &[(&str, &str)] = &[
    ("nation", "ann"),
    ("nation", "bob"),
    ("nation/health", "cat"),
    ("acme", "dan"),
];

#[derive(Debug, Clone)]
enum Op {
    Create { user: usize },
    List { user: usize },
    Read { user: usize, conv: usize },
    Rename { user: usize, conv: usize },
    Delete { user: usize, conv: usize },
    Export { user: usize },
}

fn op() -> impl Strategy<Value = Op> {
    let u = 0..USERS.len();
    prop_oneof![
        3 => u.clone().prop_map(|user| Op::Create { user }),
        1 => u.clone().prop_map(|user| Op::List { user }),
        2 => (u.clone(), 0..16usize).prop_map(|(user, conv)| Op::Read { user, conv }),
        2 => (u.clone(), 0..16usize).prop_map(|(user, conv)| Op::Rename { user, conv }),
        1 => (u.clone(), 0..16usize).prop_map(|(user, conv)| Op::Delete { user, conv }),
        1 => u.prop_map(|user| Op::Export { user }),
    ]
}

struct World {
    app: axum::Router,
    keys: Vec<String>,
    /// Every conversation made: (id, owner index, its title marker).
    convs: Vec<(String, usize, String)>,
    /// Titles as their owner last set them.
    titles: HashMap<String, String>,
    deleted: Vec<String>,
}

fn tp(s: &str) -> TenantPath {
    TenantPath::parse(s).unwrap()
}

async fn world() -> World {
    let store: Arc<dyn sovra_store::Store> =
        Arc::new(sovra_store::SqliteStore::in_memory().await.unwrap());
    let dir = sovra_store::directory_of(store.clone());
    for t in ["nation", "nation/health", "acme"] {
        dir.create_tenant(
            &NewTenant {
                path: tp(t),
                name: t.into(),
                kind: TenantKind::Agency,
                priority: None,
            },
            "t",
        )
        .await
        .unwrap();
    }
    let mut keys = Vec::new();
    for (tenant, name) in USERS {
        let u = dir
            .create_user(
                &NewUser {
                    tenant: tp(tenant),
                    name: (*name).into(),
                    display_name: (*name).into(),
                    role: Role::Member,
                    password_hash: None,
                    oidc: None,
                    priority: None,
                },
                "t",
            )
            .await
            .unwrap();
        let secret = ApiKeySecret::generate();
        dir.create_key(
            &NewApiKey {
                tenant: tp(tenant),
                user: Some(u.id),
                name: "k".into(),
                role: Role::Member,
                scopes: Scope::ALL.to_vec(),
                models: None,
                expires_at_ms: None,
                hash: secret.hash(),
                shown: secret.shown(),
                parent: None,
                priority: None,
            },
            "t",
        )
        .await
        .unwrap();
        keys.push(secret.expose().to_owned());
    }
    let engine = Arc::new(sovra_engine::sim::SimEngine::new(Default::default()));
    let state = sovra_server::AppState::new(engine, store, Default::default(), "test");
    World {
        app: sovra_server::router(state),
        keys,
        convs: Vec::new(),
        titles: HashMap::new(),
        deleted: Vec::new(),
    }
}

async fn call(w: &World, user: usize, method: &str, path: &str, body: Value) -> (u16, String) {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {}", w.keys[user]))
        // An anonymous header must not let a keyed caller be someone else.
        .header("x-sovra-user", "ann")
        .body(Body::from(body.to_string()))
        .unwrap();
    let resp = w.app.clone().oneshot(req).await.unwrap();
    let status = resp.status().as_u16();
    let bytes = axum::body::to_bytes(resp.into_body(), 4 << 20)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

/// Nothing in `body` belongs to someone other than `user`.
fn assert_no_foreign(w: &World, user: usize, body: &str, what: &str) {
    for (id, owner, marker) in &w.convs {
        if *owner == user {
            continue;
        }
        assert!(
            !body.contains(marker.as_str()),
            "{what}: user {user} was shown {owner}'s title {marker}"
        );
        assert!(
            !body.contains(id.as_str()) || what.contains(id.as_str()),
            "{what}: user {user} was shown {owner}'s conversation {id}"
        );
    }
}

async fn run(ops: Vec<Op>) {
    let mut w = world().await;
    let mut n = 0;
    for op in ops {
        n += 1;
        match op {
            Op::Create { user } => {
                let marker = format!("title-{user}-{n}");
                let (s, body) = call(
                    &w,
                    user,
                    "POST",
                    "/api/conversations",
                    json!({"title": marker}),
                )
                .await;
                assert!((200..300).contains(&s), "create: {s} {body}");
                let v: Value = serde_json::from_str(&body).unwrap();
                let id = v["id"].as_str().unwrap().to_owned();
                w.titles.insert(id.clone(), marker.clone());
                w.convs.push((id, user, marker));
            }
            Op::List { user } => {
                let (s, body) = call(&w, user, "GET", "/api/conversations", json!({})).await;
                assert_eq!(s, 200, "{body}");
                assert_no_foreign(&w, user, &body, "list");
            }
            Op::Export { user } => {
                let (s, body) = call(&w, user, "GET", "/api/me/data", json!({})).await;
                assert_eq!(s, 200, "{body}");
                assert_no_foreign(&w, user, &body, "export");
            }
            Op::Read { user, conv } | Op::Rename { user, conv } | Op::Delete { user, conv }
                if w.convs.is_empty() =>
            {
                let _ = (user, conv);
            }
            Op::Read { user, conv } => {
                let (id, owner, _) = w.convs[conv % w.convs.len()].clone();
                let path = format!("/api/conversations/{id}");
                let (s, body) = call(&w, user, "GET", &path, json!({})).await;
                if owner == user && !w.deleted.contains(&id) {
                    assert_eq!(s, 200, "own read: {body}");
                    assert!(body.contains(&w.titles[&id]), "{body}");
                } else {
                    assert_eq!(s, 404, "read of {owner}'s by {user}: {body}");
                }
                assert_no_foreign(&w, user, &body, &path);
            }
            Op::Rename { user, conv } => {
                let (id, owner, _) = w.convs[conv % w.convs.len()].clone();
                let path = format!("/api/conversations/{id}");
                let title = format!("renamed-{user}-{n}");
                let (s, body) = call(&w, user, "PATCH", &path, json!({"title": title})).await;
                if owner == user && !w.deleted.contains(&id) {
                    assert!((200..300).contains(&s), "own rename: {s} {body}");
                    // The new title is the owner's marker from now on.
                    w.titles.insert(id.clone(), title.clone());
                    if let Some(c) = w.convs.iter_mut().find(|c| c.0 == id) {
                        c.2 = title;
                    }
                } else {
                    assert_eq!(s, 404, "rename of {owner}'s by {user}: {body}");
                }
            }
            Op::Delete { user, conv } => {
                let (id, owner, _) = w.convs[conv % w.convs.len()].clone();
                let path = format!("/api/conversations/{id}");
                let (s, body) = call(&w, user, "DELETE", &path, json!({})).await;
                if owner == user && !w.deleted.contains(&id) {
                    assert!((200..300).contains(&s), "own delete: {s} {body}");
                    w.deleted.push(id);
                } else {
                    assert_eq!(s, 404, "delete of {owner}'s by {user}: {body}");
                }
            }
        }
    }
    // Whatever others did, every owner still finds what they kept, as they left it.
    for (id, owner, _) in w.convs.clone() {
        let (s, body) = call(
            &w,
            owner,
            "GET",
            &format!("/api/conversations/{id}"),
            json!({}),
        )
        .await;
        if w.deleted.contains(&id) {
            assert_eq!(s, 404);
        } else {
            assert_eq!(s, 200, "{body}");
            assert!(body.contains(&w.titles[&id]), "{body}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn no_operation_sequence_crosses_users_or_tenants(ops in proptest::collection::vec(op(), 1..40)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(run(ops));
    }
}
