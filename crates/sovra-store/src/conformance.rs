//! The behaviour every [`Store`] must have, as one suite.
//!
//! Each backend's tests call [`run_all`] with an [`Opener`]: a way to open a
//! store by name, where the same name opens the same database again (to
//! reopen with other keys or another clock). Failures panic with a message
//! naming the broken promise.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use sovra_audit::NewAuditEntry;
use sovra_core::openai::Role;

use crate::crypto::{Key, Keyring};
use crate::{
    Clock, KindRetention, LegalHold, ManualClock, MessageUsage, NewMessage, RetentionRules, Store,
    StoreError, Subject, SystemClock,
};

/// A future that opens a store.
pub type Opening<'a> =
    Pin<Box<dyn Future<Output = Result<Arc<dyn Store>, StoreError>> + Send + 'a>>;

/// Opens the database called `name` (created empty on first use).
pub type Opener = dyn Fn(String, Keyring, Arc<dyn Clock>) -> Opening<'static> + Sync;

fn user(u: &str) -> Subject {
    Subject::public(u).unwrap()
}

fn msg(content: &str) -> NewMessage<'_> {
    NewMessage {
        role: Role::User,
        content,
        usage: None,
    }
}

/// Run every conformance check.
pub async fn run_all(open: &Opener) {
    let keyring = Keyring::new(Key::generate());
    let store = open("main".into(), keyring.clone(), Arc::new(SystemClock))
        .await
        .expect("open");
    store.ping().await.expect("ping");
    conversations_round_trip(&*store).await;
    messages_keep_order_and_usage(&*store).await;
    citations_stay_with_their_message(&*store).await;
    appending_bumps_updated_and_list_order(&*store).await;
    delete_removes_messages(&*store).await;
    truncate_drops_a_message_and_what_follows(&*store).await;
    append_to_missing_conversation_fails(&*store).await;
    lists_are_per_owner(&*store).await;
    export_holds_everything_of_one_subject(&*store).await;
    erasure_removes_a_subject_and_is_audited(&*store).await;
    sealing_for_others_follows_the_subject_key(&*store).await;
    legal_hold_blocks_erasure(&*store).await;
    shredding_a_tenant_leaves_others(&*store).await;
    tenant_key_rotation_keeps_data_readable(&*store).await;
    concurrent_audit_appends_keep_the_chain(store.clone()).await;
    concurrent_writers_all_land(store.clone()).await;
    master_key_rotation(open).await;
    retention_with_a_controlled_clock(open).await;
    feedback_safety_events_and_counts(open).await;
    directory_checks(open).await;
}

/// `seal_for`/`open_for`: what another part keeps about a person, sealed
/// with their key, opens only for them with the same binding, and no
/// more once they are erased (the key is gone) or their tenant shredded.
async fn sealing_for_others_follows_the_subject_key(store: &dyn Store) {
    let me = user("seal-owner");
    let other = user("seal-other");
    let sealed = store
        .seal_for(&me, b"file:1", b"uploaded words")
        .await
        .expect("seal (makes the key)");
    assert!(
        !sealed.windows(8).any(|w| w == b"uploaded"),
        "no plaintext in the sealed value"
    );
    assert_eq!(
        store.open_for(&me, b"file:1", &sealed).await.expect("open"),
        b"uploaded words"
    );
    assert!(
        store.open_for(&me, b"file:2", &sealed).await.is_err(),
        "bound to its aad"
    );
    // Many at once, the key read once: each bound to its own aad.
    let second = store
        .seal_for(&me, b"file:2", b"second words")
        .await
        .expect("seal");
    let items = vec![
        (b"file:1".to_vec(), sealed.clone()),
        (b"file:2".to_vec(), second),
    ];
    assert_eq!(
        store.open_many_for(&me, &items).await.expect("open many"),
        vec![b"uploaded words".to_vec(), b"second words".to_vec()]
    );
    assert!(
        store
            .open_many_for(&me, &[])
            .await
            .expect("none")
            .is_empty()
    );
    assert!(
        store
            .open_many_for(&me, &[(b"file:2".to_vec(), sealed.clone())])
            .await
            .is_err(),
        "each bound to its aad"
    );
    store.seal_for(&other, b"x", b"y").await.expect("seal");
    assert!(
        store.open_for(&other, b"file:1", &sealed).await.is_err(),
        "another subject's key does not open it"
    );
    let mut legacy = vec![0u8];
    legacy.extend_from_slice(b"plain");
    assert!(
        store.open_for(&me, b"file:1", &legacy).await.is_err(),
        "only sealed values open"
    );
    // A conversation title sealed under the same key is not a file.
    let c = store
        .create_conversation(&me, "title")
        .await
        .expect("create");
    let title_aad = format!("title:{}", c.id);
    assert!(
        store
            .open_for(&me, title_aad.as_bytes(), &sealed)
            .await
            .is_err()
    );

    store.erase_subject(&me, "cli:test").await.expect("erase");
    assert!(
        matches!(
            store.open_for(&me, b"file:1", &sealed).await,
            Err(StoreError::Key(_))
        ),
        "the erased subject's values are shredded"
    );
    assert!(
        matches!(
            store.open_many_for(&me, &items).await,
            Err(StoreError::Key(_))
        ),
        "all of them"
    );
    let fresh = store
        .seal_for(&me, b"file:1", b"again")
        .await
        .expect("new key");
    assert!(
        store.open_for(&me, b"file:1", &sealed).await.is_err(),
        "a new key never opens the old values"
    );
    assert_eq!(
        store.open_for(&me, b"file:1", &fresh).await.expect("open"),
        b"again"
    );
    store.erase_subject(&me, "cli:test").await.expect("erase");
    store
        .erase_subject(&other, "cli:test")
        .await
        .expect("erase");

    let tenant = Subject::new("seal-shredded-tenant", "u1").unwrap();
    let sealed = store.seal_for(&tenant, b"f", b"z").await.expect("seal");
    store
        .shred_tenant("seal-shredded-tenant", "cli:test")
        .await
        .expect("shred");
    assert!(
        store.open_for(&tenant, b"f", &sealed).await.is_err(),
        "a shredded tenant's values are unreadable"
    );
}

/// The directory: tenants, users, keys and sessions, each change audited.
pub async fn directory_checks(open: &Opener) {
    let clock = Arc::new(ManualClock::at(1_000_000));
    let store = open(
        "directory".into(),
        Keyring::new(Key::generate()),
        clock.clone(),
    )
    .await
    .expect("open");
    directory_tenants(&*store).await;
    directory_users(&*store).await;
    directory_keys(&*store, &clock).await;
    directory_sessions(&*store, &clock).await;
    directory_audit_carries_no_secret(&*store).await;
    directory_priority_classes(&*store).await;
}

fn tp(s: &str) -> sovra_identity::TenantPath {
    sovra_identity::TenantPath::parse(s).unwrap()
}

fn new_tenant(path: &str, kind: sovra_identity::TenantKind) -> sovra_identity::NewTenant {
    sovra_identity::NewTenant {
        path: tp(path),
        name: path.to_uppercase(),
        kind,
        priority: None,
    }
}

fn new_user(tenant: &str, name: &str, role: sovra_identity::Role) -> sovra_identity::NewUser {
    sovra_identity::NewUser {
        tenant: tp(tenant),
        name: name.into(),
        display_name: format!("{name} display"),
        role,
        password_hash: None,
        oidc: None,
        priority: None,
    }
}

async fn audit_actions(store: &dyn Store) -> Vec<sovra_audit::AuditEntry> {
    store.audit_entries(i64::MIN, 10_000).await.unwrap()
}

async fn directory_tenants(store: &dyn Store) {
    use sovra_identity::{DirectoryError, TenantKind};
    let public = store.tenant(&tp("public")).await.unwrap();
    assert_eq!(
        public.map(|t| t.kind),
        Some(TenantKind::Public),
        "the public tenant exists from the migration"
    );
    let orphan = store
        .create_tenant(&new_tenant("nation/health", TenantKind::Agency), "t")
        .await;
    assert!(
        matches!(orphan, Err(DirectoryError::Invalid(_))),
        "a tenant needs its parent: {orphan:?}"
    );
    for (p, k) in [
        ("nation", TenantKind::Nation),
        ("nation/health", TenantKind::Agency),
        ("nation/health/vaccines", TenantKind::Team),
        ("nation/healthcare", TenantKind::Agency),
        ("acme", TenantKind::Startup),
    ] {
        store
            .create_tenant(&new_tenant(p, k), "cli:test")
            .await
            .unwrap();
    }
    let again = store
        .create_tenant(&new_tenant("acme", TenantKind::Startup), "t")
        .await;
    assert!(
        matches!(again, Err(DirectoryError::Conflict(_))),
        "{again:?}"
    );
    let under: Vec<String> = store
        .tenants_under(&tp("nation/health"))
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.path.to_string())
        .collect();
    assert_eq!(
        under,
        ["nation/health", "nation/health/vaccines"],
        "a subtree is whole segments: nation/healthcare is not under nation/health"
    );
    assert!(store.all_tenants().await.unwrap().len() >= 6);
    let busy = store.delete_tenant(&tp("nation/health"), "t").await;
    assert!(
        matches!(busy, Err(DirectoryError::Invalid(_))),
        "a tenant with sub-tenants stays: {busy:?}"
    );
    assert!(matches!(
        store.delete_tenant(&tp("public"), "t").await,
        Err(DirectoryError::Invalid(_))
    ));
    assert!(
        store
            .delete_tenant(&tp("nation/healthcare"), "cli:test")
            .await
            .unwrap()
    );
    assert!(
        !store
            .delete_tenant(&tp("nation/healthcare"), "t")
            .await
            .unwrap()
    );
    let audit = audit_actions(store).await;
    let creates = audit.iter().filter(|e| e.action == "tenant.create").count();
    let deletes = audit.iter().filter(|e| e.action == "tenant.delete").count();
    assert_eq!(
        (creates, deletes),
        (5, 1),
        "each tenant change is audited once"
    );
}

async fn directory_users(store: &dyn Store) {
    use sovra_identity::directory::UserChange;
    use sovra_identity::{DirectoryError, Role};
    let mut ann = new_user("nation/health", "ann@health.example", Role::TenantAdmin);
    ann.password_hash = Some("$argon2id$fake".into());
    let ann = store.create_user(&ann, "cli:test").await.unwrap();
    assert!(ann.id.starts_with("usr_") && ann.has_password && !ann.disabled);
    let dup = store
        .create_user(&new_user("acme", "ann@health.example", Role::Member), "t")
        .await;
    assert!(
        matches!(dup, Err(DirectoryError::Conflict(_))),
        "sign-in names are unique across the platform: {dup:?}"
    );
    let nowhere = store
        .create_user(&new_user("nation/none", "x@y", Role::Member), "t")
        .await;
    assert!(
        matches!(nowhere, Err(DirectoryError::NotFound(_))),
        "{nowhere:?}"
    );
    let mut vic = new_user("nation/health/vaccines", "vic", Role::Developer);
    vic.oidc = Some(("https://idp.example".into(), "sub-1".into()));
    let vic = store.create_user(&vic, "cli:test").await.unwrap();
    let bob = store
        .create_user(&new_user("acme", "bob", Role::Member), "cli:test")
        .await
        .unwrap();

    let (found, hash) = store
        .user_by_name("ann@health.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, ann);
    assert_eq!(hash.as_deref(), Some("$argon2id$fake"));
    assert_eq!(store.user(&vic.id).await.unwrap().as_ref(), Some(&vic));
    assert_eq!(
        store
            .user_by_oidc("https://idp.example", "sub-1")
            .await
            .unwrap()
            .map(|u| u.id),
        Some(vic.id.clone())
    );
    assert!(
        store
            .user_by_oidc("https://idp.example", "sub-2")
            .await
            .unwrap()
            .is_none()
    );
    let health: Vec<String> = store
        .users_under(&tp("nation/health"))
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.name)
        .collect();
    assert_eq!(health, ["ann@health.example", "vic"]);
    assert_eq!(store.all_users().await.unwrap().len(), 3);

    assert_eq!(store.platform_admins().await.unwrap(), 0);
    let root = store
        .create_user(&new_user("nation", "root", Role::PlatformAdmin), "cli:test")
        .await
        .unwrap();
    assert_eq!(store.platform_admins().await.unwrap(), 1);
    // The last enabled platform admin cannot be disabled, demoted or
    // deleted (the platform would have nobody to run it, and would look
    // fresh); nothing of the refused change is kept, audit entry included.
    for change in [
        UserChange {
            disabled: Some(true),
            ..UserChange::default()
        },
        UserChange {
            role: Some(Role::TenantAdmin),
            ..UserChange::default()
        },
    ] {
        let refused = store.update_user(&root.id, &change, "cli:test").await;
        assert!(
            matches!(&refused, Err(DirectoryError::Invalid(m)) if m.contains("last enabled platform admin")),
            "{refused:?}"
        );
    }
    assert!(matches!(
        store.delete_user(&root.id, "cli:test").await,
        Err(DirectoryError::Invalid(_))
    ));
    assert_eq!(store.user(&root.id).await.unwrap(), Some(root.clone()));
    assert_eq!(store.platform_admins().await.unwrap(), 1);
    // With a second one, the first may go.
    let root2 = store
        .create_user(
            &new_user("nation", "root2", Role::PlatformAdmin),
            "cli:test",
        )
        .await
        .unwrap();
    let changed = store
        .update_user(
            &root.id,
            &UserChange {
                disabled: Some(true),
                ..UserChange::default()
            },
            "cli:test",
        )
        .await
        .unwrap()
        .unwrap();
    assert!(changed.disabled);
    assert_eq!(
        store.platform_admins().await.unwrap(),
        1,
        "disabled admins do not count"
    );
    let demoted = store
        .update_user(
            &bob.id,
            &UserChange {
                role: Some(Role::Auditor),
                display_name: Some("Bob".into()),
                ..UserChange::default()
            },
            "cli:test",
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (demoted.role, demoted.display_name.as_str()),
        (Role::Auditor, "Bob")
    );
    assert_eq!(store.user(&bob.id).await.unwrap(), Some(demoted));
    assert!(
        store
            .update_user("usr_none", &UserChange::default(), "t")
            .await
            .unwrap()
            .is_none()
    );

    assert!(store.delete_user(&root.id, "cli:test").await.unwrap());
    assert!(!store.delete_user(&root.id, "cli:test").await.unwrap());
    assert!(store.user(&root.id).await.unwrap().is_none());
    assert!(store.user(&root2.id).await.unwrap().is_some());
    let busy = store.delete_tenant(&tp("acme"), "t").await;
    assert!(
        matches!(busy, Err(DirectoryError::Invalid(_))),
        "a tenant with users stays"
    );
    let audit = audit_actions(store).await;
    let count = |a: &str| audit.iter().filter(|e| e.action == a).count();
    assert_eq!(
        (
            count("user.create"),
            count("user.update"),
            count("user.delete")
        ),
        (5, 2, 1)
    );
    let upd = audit.iter().rfind(|e| e.action == "user.update").unwrap();
    assert_eq!(upd.subject.as_deref(), Some(bob.id.as_str()));
    assert_eq!(upd.tenant, "acme");
    assert_eq!(upd.details["role"], "auditor");
}

async fn directory_keys(store: &dyn Store, clock: &ManualClock) {
    use sovra_identity::{ApiKeySecret, NewApiKey, Role, Scope};
    let vic = store.user_by_name("vic").await.unwrap().unwrap().0;
    let secret = ApiKeySecret::generate();
    let key = store
        .create_key(
            &NewApiKey {
                tenant: vic.tenant.clone(),
                user: Some(vic.id.clone()),
                name: "ci".into(),
                role: Role::Developer,
                scopes: vec![Scope::Inference, Scope::Embeddings, Scope::Inference],
                models: Some(vec!["qwen".into()]),
                expires_at_ms: Some(clock.now_ms() + 60_000),
                hash: secret.hash(),
                shown: secret.shown(),
                parent: None,
                priority: None,
            },
            &format!("user:{}", vic.id),
        )
        .await
        .unwrap();
    assert!(key.id.starts_with("key_"));
    assert_eq!(key.scopes, [Scope::Inference, Scope::Embeddings]);
    let found = store.key_by_hash(&secret.hash()).await.unwrap().unwrap();
    assert_eq!(found, key, "a key reads back as it was made");
    assert!(found.is_live(clock.now_ms()));
    assert!(
        !found.is_live(clock.now_ms() + 60_000),
        "expired keys are not live"
    );
    assert!(
        store
            .key_by_hash(&ApiKeySecret::generate().hash())
            .await
            .unwrap()
            .is_none()
    );
    let dup = store
        .create_key(
            &NewApiKey {
                tenant: vic.tenant.clone(),
                user: None,
                name: "same secret".into(),
                role: Role::Member,
                scopes: vec![],
                models: None,
                expires_at_ms: None,
                hash: secret.hash(),
                shown: secret.shown(),
                parent: None,
                priority: None,
            },
            "t",
        )
        .await;
    assert!(
        matches!(dup, Err(sovra_identity::DirectoryError::Conflict(_))),
        "{dup:?}"
    );
    let wrong_tenant = store
        .create_key(
            &NewApiKey {
                tenant: tp("acme"),
                user: Some(vic.id.clone()),
                name: "x".into(),
                role: Role::Member,
                scopes: vec![],
                models: None,
                expires_at_ms: None,
                hash: ApiKeySecret::generate().hash(),
                shown: "x".into(),
                parent: None,
                priority: None,
            },
            "t",
        )
        .await;
    assert!(
        matches!(
            wrong_tenant,
            Err(sovra_identity::DirectoryError::Invalid(_))
        ),
        "a user's key lives in the user's tenant: {wrong_tenant:?}"
    );
    let service = ApiKeySecret::generate();
    let svc = store
        .create_key(
            &NewApiKey {
                tenant: tp("acme"),
                user: None,
                name: "service".into(),
                role: Role::Member,
                scopes: Scope::ALL.to_vec(),
                models: None,
                expires_at_ms: None,
                hash: service.hash(),
                shown: service.shown(),
                parent: None,
                priority: None,
            },
            "cli:test",
        )
        .await
        .unwrap();
    assert_eq!(svc.user, None);
    assert_eq!(svc.models, None);
    let health: Vec<String> = store
        .keys_under(&tp("nation"))
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.id)
        .collect();
    assert_eq!(health, std::slice::from_ref(&key.id));
    assert_eq!(store.all_keys().await.unwrap().len(), 2);
    assert_eq!(store.key(&svc.id).await.unwrap().as_ref(), Some(&svc));

    clock.advance_ms(5);
    assert!(store.revoke_key(&key.id, "cli:test").await.unwrap());
    assert!(
        !store.revoke_key(&key.id, "cli:test").await.unwrap(),
        "revoking twice"
    );
    assert!(!store.revoke_key("key_none", "cli:test").await.unwrap());
    let revoked = store.key_by_hash(&secret.hash()).await.unwrap().unwrap();
    assert_eq!(revoked.revoked_at_ms, Some(clock.now_ms()));
    assert!(
        !revoked.is_live(clock.now_ms()),
        "a revoked key is dead at once"
    );

    // Revoking a key revokes every key minted from it, down the lineage,
    // each revocation audited; a key minted elsewhere lives on.
    let mint = |name: &str, parent: Option<&str>| NewApiKey {
        tenant: tp("acme"),
        user: None,
        name: name.into(),
        role: Role::Member,
        scopes: vec![Scope::Inference],
        models: None,
        expires_at_ms: None,
        hash: ApiKeySecret::generate().hash(),
        shown: format!("sk-sovra-{name}…"),
        parent: parent.map(str::to_owned),
        priority: None,
    };
    let a = store.create_key(&mint("a", None), "t").await.unwrap();
    let b = store
        .create_key(&mint("b", Some(&a.id)), &format!("key:{}", a.id))
        .await
        .unwrap();
    assert_eq!(b.parent.as_deref(), Some(a.id.as_str()));
    assert_eq!(store.key(&b.id).await.unwrap().unwrap().parent, b.parent);
    let c = store
        .create_key(&mint("c", Some(&b.id)), &format!("key:{}", b.id))
        .await
        .unwrap();
    let d = store
        .create_key(&mint("d", Some(&svc.id)), "t")
        .await
        .unwrap();
    let audited = store.audit_entries(0, 100_000).await.unwrap().len();
    clock.advance_ms(5);
    assert!(store.revoke_key(&a.id, "cli:test").await.unwrap());
    for k in [&a, &b, &c] {
        let k = store.key(&k.id).await.unwrap().unwrap();
        assert_eq!(
            k.revoked_at_ms,
            Some(clock.now_ms()),
            "{} goes with a",
            k.name
        );
    }
    assert!(
        store
            .key(&d.id)
            .await
            .unwrap()
            .unwrap()
            .is_live(clock.now_ms())
    );
    assert_eq!(
        store.audit_entries(0, 100_000).await.unwrap().len(),
        audited + 3,
        "each revocation is audited"
    );

    // Deleting a user takes their keys with them.
    let tmp = store
        .create_user(&new_user("acme", "tmp", Role::Developer), "t")
        .await
        .unwrap();
    let tmp_secret = ApiKeySecret::generate();
    store
        .create_key(
            &NewApiKey {
                tenant: tp("acme"),
                user: Some(tmp.id.clone()),
                name: "tmp".into(),
                role: Role::Developer,
                scopes: vec![Scope::Inference],
                models: None,
                expires_at_ms: None,
                hash: tmp_secret.hash(),
                shown: tmp_secret.shown(),
                parent: None,
                priority: None,
            },
            "t",
        )
        .await
        .unwrap();
    assert!(store.delete_user(&tmp.id, "t").await.unwrap());
    assert!(
        store
            .key_by_hash(&tmp_secret.hash())
            .await
            .unwrap()
            .is_none()
    );
}

async fn directory_sessions(store: &dyn Store, clock: &ManualClock) {
    use sovra_identity::Session;
    let vic = store.user_by_name("vic").await.unwrap().unwrap().0;
    let now = clock.now_ms();
    let s = Session {
        id: "sess-hash-1".into(),
        user: vic.id.clone(),
        csrf: "csrf-1".into(),
        method: "password".into(),
        created_at_ms: now,
        expires_at_ms: now + 1000,
    };
    store.create_session(&s).await.unwrap();
    assert_eq!(store.session(&s.id, now).await.unwrap(), Some(s.clone()));
    assert_eq!(
        store.session(&s.id, now + 1000).await.unwrap(),
        None,
        "expired"
    );
    assert!(store.delete_session(&s.id).await.unwrap());
    assert!(!store.delete_session(&s.id).await.unwrap());
    assert_eq!(store.session(&s.id, now).await.unwrap(), None);
    let s2 = Session {
        id: "sess-hash-2".into(),
        ..s
    };
    store.create_session(&s2).await.unwrap();
    store
        .update_user(
            &vic.id,
            &sovra_identity::directory::UserChange {
                disabled: Some(true),
                ..Default::default()
            },
            "t",
        )
        .await
        .unwrap();
    assert_eq!(
        store.session(&s2.id, now).await.unwrap(),
        None,
        "disabling a user ends their sessions"
    );
}

/// Priority classes on tenants, users and keys: kept, read back by every
/// reader, changed and cleared (each change audited), and a tenant's class
/// inherited down its path by the nearest ancestor that has one.
async fn directory_priority_classes(store: &dyn Store) {
    use PriorityClass::{Batch, Citizen, Emergency};
    use sovra_identity::directory::UserChange;
    use sovra_identity::{ApiKeySecret, NewApiKey, PriorityClass, Role, Scope, TenantKind};
    let mut prio = new_tenant("prio", TenantKind::Agency);
    prio.priority = Some(Batch);
    let made = store.create_tenant(&prio, "cli:test").await.unwrap();
    assert_eq!(made.priority, Some(Batch));
    for p in ["prio/a", "prio/a/b"] {
        store
            .create_tenant(&new_tenant(p, TenantKind::Team), "cli:test")
            .await
            .unwrap();
    }
    assert_eq!(
        store.tenant(&tp("prio")).await.unwrap().unwrap().priority,
        Some(Batch),
        "a tenant's class reads back"
    );
    assert_eq!(
        store
            .tenant(&tp("prio/a/b"))
            .await
            .unwrap()
            .unwrap()
            .priority,
        None,
        "absent: inherit"
    );
    assert_eq!(
        store.tenant_priority(&tp("prio/a/b")).await.unwrap(),
        Some(Batch),
        "inherited from the nearest ancestor with a class"
    );
    assert_eq!(store.tenant_priority(&tp("acme")).await.unwrap(), None);
    assert_eq!(
        store
            .tenant_priority(&tp("prio/none/deeper"))
            .await
            .unwrap(),
        Some(Batch),
        "a path's ancestors are looked up whether or not it exists"
    );
    let a = store
        .set_tenant_priority(&tp("prio/a"), Some(Emergency), "cli:test")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a.priority, Some(Emergency));
    assert_eq!(
        store.tenant_priority(&tp("prio/a/b")).await.unwrap(),
        Some(Emergency),
        "the nearest ancestor wins"
    );
    assert_eq!(
        store.tenant_priority(&tp("prio")).await.unwrap(),
        Some(Batch)
    );
    let under: Vec<_> = store
        .tenants_under(&tp("prio"))
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.priority)
        .collect();
    assert_eq!(under, [Some(Batch), Some(Emergency), None]);
    store
        .set_tenant_priority(&tp("prio/a"), None, "cli:test")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store.tenant_priority(&tp("prio/a/b")).await.unwrap(),
        Some(Batch),
        "cleared: inherited again"
    );
    assert!(
        store
            .set_tenant_priority(&tp("prio/none"), Some(Batch), "t")
            .await
            .unwrap()
            .is_none()
    );

    let mut ug = new_user("prio/a", "urgent", Role::Member);
    ug.priority = Some(Emergency);
    let ug = store.create_user(&ug, "cli:test").await.unwrap();
    assert_eq!(ug.priority, Some(Emergency));
    assert_eq!(store.user(&ug.id).await.unwrap().as_ref(), Some(&ug));
    assert_eq!(store.user_by_name("urgent").await.unwrap().unwrap().0, ug);
    assert!(store.users_under(&tp("prio")).await.unwrap().contains(&ug));
    let kept = store
        .update_user(
            &ug.id,
            &UserChange {
                display_name: Some("Urgent".into()),
                ..UserChange::default()
            },
            "cli:test",
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        kept.priority,
        Some(Emergency),
        "a change without it keeps it"
    );
    let lowered = store
        .update_user(
            &ug.id,
            &UserChange {
                priority: Some(Some(Batch)),
                ..UserChange::default()
            },
            "cli:test",
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lowered.priority, Some(Batch));
    assert_eq!(
        store.user(&ug.id).await.unwrap().unwrap().priority,
        Some(Batch)
    );
    let cleared = store
        .update_user(
            &ug.id,
            &UserChange {
                priority: Some(None),
                ..UserChange::default()
            },
            "cli:test",
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cleared.priority, None);
    assert_eq!(store.user(&ug.id).await.unwrap().unwrap().priority, None);

    let secret = ApiKeySecret::generate();
    let key = store
        .create_key(
            &NewApiKey {
                tenant: tp("prio/a"),
                user: Some(ug.id.clone()),
                name: "bulk".into(),
                role: Role::Member,
                scopes: vec![Scope::Inference],
                models: None,
                priority: Some(Batch),
                expires_at_ms: None,
                hash: secret.hash(),
                shown: secret.shown(),
                parent: None,
            },
            "cli:test",
        )
        .await
        .unwrap();
    assert_eq!(key.priority, Some(Batch));
    assert_eq!(
        store.key_by_hash(&secret.hash()).await.unwrap().as_ref(),
        Some(&key)
    );
    assert_eq!(store.key(&key.id).await.unwrap().as_ref(), Some(&key));
    assert!(store.keys_under(&tp("prio")).await.unwrap().contains(&key));
    let raised = store
        .set_key_priority(&key.id, Some(Citizen), "cli:test")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(raised.priority, Some(Citizen));
    assert_eq!(
        store.key(&key.id).await.unwrap().unwrap(),
        raised,
        "only the class changed"
    );
    assert!(
        store
            .set_key_priority("key_none", Some(Batch), "t")
            .await
            .unwrap()
            .is_none()
    );

    let audit = audit_actions(store).await;
    let last = |a: &str| audit.iter().rfind(|e| e.action == a).unwrap().clone();
    assert_eq!(
        last("tenant.create").details["priority"],
        serde_json::Value::Null
    );
    assert!(
        audit
            .iter()
            .any(|e| e.action == "tenant.create" && e.details["priority"] == "batch")
    );
    let t = last("tenant.update");
    assert_eq!(t.tenant, "prio/a");
    assert_eq!(t.details["priority"], serde_json::Value::Null);
    assert_eq!(
        audit.iter().filter(|e| e.action == "tenant.update").count(),
        2,
        "a class set and cleared: two entries"
    );
    assert_eq!(
        last("user.update").details["priority"],
        serde_json::Value::Null
    );
    assert_eq!(last("key.create").details["priority"], "batch");
    let k = last("key.update");
    assert_eq!(k.details["priority"], "citizen");
    assert_eq!(k.details["id"], key.id.as_str());
    assert_eq!(k.subject.as_deref(), Some(ug.id.as_str()));
}

async fn directory_audit_carries_no_secret(store: &dyn Store) {
    let audit = audit_actions(store).await;
    let keys: Vec<_> = audit
        .iter()
        .filter(|e| e.action.starts_with("key."))
        .collect();
    // vic's, the service key, tmp's, and the lineage a, b, c, d; revoked:
    // vic's, and a with b and c.
    assert_eq!(keys.iter().filter(|e| e.action == "key.create").count(), 7);
    assert_eq!(keys.iter().filter(|e| e.action == "key.revoke").count(), 4);
    for k in &keys {
        assert!(
            k.details["shown"]
                .as_str()
                .is_some_and(|s| s.starts_with("sk-sovra-") || s == "x")
        );
    }
    for e in &audit {
        let text = e.details.to_string();
        assert!(
            !text.contains("argon2"),
            "no password hash in the audit trail: {text}"
        );
        assert!(
            !text.contains("hash\""),
            "no key hash in the audit trail: {text}"
        );
        assert!(
            !text.contains("sess-hash"),
            "sessions are not in the directory's audit"
        );
    }
    assert!(crate::verify_audit(store).await.unwrap().is_ok());
}

async fn feedback_safety_events_and_counts(open: &Opener) {
    use crate::{NewFeedback, Rating, SafetyEvent, Stage};
    let store = open(
        "safety".into(),
        Keyring::new(Key::generate()),
        Arc::new(SystemClock),
    )
    .await
    .expect("open");
    let ann = user("ann");
    let bob = user("bob");
    let c = store.create_conversation(&ann, "t").await.unwrap();
    let question = store.append_message(&c.id, msg("q")).await.unwrap();
    let answer = store
        .append_message(
            &c.id,
            NewMessage {
                role: Role::Assistant,
                content: "a",
                usage: None,
            },
        )
        .await
        .unwrap();
    let rate = |id: &'static str| NewFeedback {
        message_id: id,
        rating: Rating::Down,
        reason: Some("too vague"),
    };
    let answer_id: &'static str = Box::leak(answer.id.clone().into_boxed_str());
    let question_id: &'static str = Box::leak(question.id.clone().into_boxed_str());
    assert!(
        store
            .add_feedback(&bob, rate(answer_id))
            .await
            .unwrap()
            .is_none(),
        "only the conversation's owner rates its answers"
    );
    assert!(
        store
            .add_feedback(&ann, rate(question_id))
            .await
            .unwrap()
            .is_none(),
        "only answers are rated"
    );
    let f = store
        .add_feedback(&ann, rate(answer_id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (f.rating, f.reason.as_deref()),
        (Rating::Down, Some("too vague"))
    );
    assert_eq!(f.conversation_id, c.id);
    let again = NewFeedback {
        message_id: answer_id,
        rating: Rating::Up,
        reason: None,
    };
    store.add_feedback(&ann, again).await.unwrap().unwrap();
    let queue = store.recent_feedback(None, 10).await.unwrap();
    assert_eq!(queue.len(), 1, "rating again replaces the rating");
    assert_eq!(
        (queue[0].rating, queue[0].reason.as_deref()),
        (Rating::Up, None)
    );

    for (stage, action) in [
        (Stage::Input, "block"),
        (Stage::Output, "block"),
        (Stage::Input, "safe_completion"),
    ] {
        store
            .record_safety_event(&SafetyEvent {
                stage,
                language: "et".into(),
                action: action.into(),
                rule: Some("violence".into()),
                categories: vec!["violence".into(), "illicit/violent".into()],
                tenant: Some(ann.tenant.clone()),
            })
            .await
            .unwrap();
    }
    let events = store.recent_safety_events(None, 2).await.unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].event.action, "safe_completion", "newest first");
    // Each tenant's administrators see their own subtree's, and only that.
    let own = sovra_identity::TenantPath::parse(&ann.tenant).unwrap();
    let other = sovra_identity::TenantPath::parse("elsewhere").unwrap();
    assert_eq!(
        store
            .recent_safety_events(Some(&own), 10)
            .await
            .unwrap()
            .len(),
        3
    );
    assert!(
        store
            .recent_safety_events(Some(&other), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.recent_feedback(Some(&own), 10).await.unwrap().len(),
        1
    );
    assert!(
        store
            .recent_feedback(Some(&other), 10)
            .await
            .unwrap()
            .is_empty()
    );
    store
        .add_request_counts("2026-12-01", &[("et".into(), 3), ("ru".into(), 1)])
        .await
        .unwrap();
    store
        .add_request_counts("2026-12-01", &[("et".into(), 2)])
        .await
        .unwrap();
    store
        .add_request_counts("2026-12-02", &[("et".into(), 1)])
        .await
        .unwrap();
    let t = store.transparency().await.unwrap();
    assert_eq!(t.requests_by_language.get("et"), Some(&6));
    assert_eq!(t.requests_by_language.get("ru"), Some(&1));
    assert_eq!(t.moderation_actions["block"]["violence"], 2);
    assert_eq!(
        t.moderation_actions["safe_completion"]["illicit/violent"],
        1
    );
    assert_eq!(t.moderation_by_rule["violence"], 3);
    assert_eq!((t.feedback.up, t.feedback.down), (1, 0));

    let export = store.export_subject(&ann).await.unwrap();
    assert_eq!(export.feedback.len(), 1, "ratings are part of the export");
    store.erase_subject(&ann, "test").await.unwrap();
    assert!(
        store.recent_feedback(None, 10).await.unwrap().is_empty(),
        "erasure takes the ratings"
    );
    assert_eq!(
        store
            .transparency()
            .await
            .unwrap()
            .requests_by_language
            .get("et"),
        Some(&6),
        "counts are not personal data"
    );
}

async fn conversations_round_trip(store: &dyn Store) {
    let me = user("round-trip");
    let c = store
        .create_conversation(&me, "Passport renewal")
        .await
        .expect("create");
    let got = store
        .get_conversation(&c.id)
        .await
        .expect("get")
        .expect("created conversation is found");
    assert_eq!(got, c);
    assert_eq!(got.owner, me, "the owner is kept");
    assert!(
        store
            .rename_conversation(&c.id, "Renamed")
            .await
            .expect("rename")
    );
    let got = store
        .get_conversation(&c.id)
        .await
        .expect("get")
        .expect("found");
    assert_eq!(got.title, "Renamed");
    assert!(
        store
            .get_conversation("conv-missing")
            .await
            .expect("get")
            .is_none()
    );
    assert!(
        !store
            .rename_conversation("conv-missing", "x")
            .await
            .expect("rename missing")
    );
}

async fn messages_keep_order_and_usage(store: &dyn Store) {
    let c = store
        .create_conversation(&user("order"), "order")
        .await
        .expect("create");
    for i in 0..5 {
        let role = if i % 2 == 0 {
            Role::User
        } else {
            Role::Assistant
        };
        let usage = (role == Role::Assistant).then(|| MessageUsage {
            prompt_tokens: 10 + i,
            completion_tokens: 3,
            finish_reason: "stop".into(),
        });
        let content = format!("message {i} — ünïcødé ✓");
        store
            .append_message(
                &c.id,
                NewMessage {
                    role,
                    content: &content,
                    usage,
                },
            )
            .await
            .expect("append");
    }
    let msgs = store.messages(&c.id).await.expect("messages");
    assert_eq!(msgs.len(), 5);
    for (i, m) in msgs.iter().enumerate() {
        assert_eq!(
            m.content,
            format!("message {i} — ünïcødé ✓"),
            "messages come back in append order"
        );
    }
    assert_eq!(msgs[1].role, Role::Assistant);
    assert_eq!(msgs[1].usage.as_ref().map(|u| u.prompt_tokens), Some(11));
    assert!(msgs[0].usage.is_none());
}

async fn citations_stay_with_their_message(store: &dyn Store) {
    let owner = user("cited");
    let c = store
        .create_conversation(&owner, "cited")
        .await
        .expect("create");
    store
        .append_message(&c.id, msg("How do I renew my passport?"))
        .await
        .expect("append question");
    let citations = serde_json::json!([
        {"index": 1, "document_id": "doc_1", "title": "Passport renewal — Überblick ✓",
         "url": "https://gov.example/passport", "effective_date": "2025-02-01", "snippet": "Apply online."}
    ]);
    let answer = store
        .append_message_cited(
            &c.id,
            NewMessage {
                role: Role::Assistant,
                content: "Apply online [1].",
                usage: None,
            },
            Some(&citations),
        )
        .await
        .expect("append cited answer");
    assert_eq!(answer.citations.as_ref(), Some(&citations));
    store
        .append_message_cited(
            &c.id,
            NewMessage {
                role: Role::Assistant,
                content: "Nothing cited.",
                usage: None,
            },
            Some(&serde_json::json!([])),
        )
        .await
        .expect("append answer with no sources");
    let msgs = store.messages(&c.id).await.expect("messages");
    assert_eq!(msgs.len(), 3);
    assert!(
        msgs[0].citations.is_none(),
        "a plain message has no citations"
    );
    assert_eq!(
        msgs[1].citations.as_ref(),
        Some(&citations),
        "citations come back as stored"
    );
    assert_eq!(
        msgs[2].citations,
        Some(serde_json::json!([])),
        "an empty list is kept apart from no grounding"
    );
    let json = serde_json::to_value(&msgs[0]).expect("json");
    assert!(json.get("citations").is_none(), "absent, not null: {json}");
    let export = store.export_subject(&owner).await.expect("export");
    let exported = serde_json::to_value(&export).expect("json");
    assert_eq!(
        exported["conversations"][0]["messages"][1]["citations"], citations,
        "the export carries the citations"
    );
}

async fn appending_bumps_updated_and_list_order(store: &dyn Store) {
    let me = user("bumps");
    let a = store
        .create_conversation(&me, "older")
        .await
        .expect("create");
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let b = store
        .create_conversation(&me, "newer")
        .await
        .expect("create");
    let list = store.list_conversations(&me, 100).await.expect("list");
    let pos = |id: &str| list.iter().position(|c| c.id == id).expect("listed");
    assert!(pos(&b.id) < pos(&a.id), "newest-updated first");
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    store
        .append_message(&a.id, msg("bump"))
        .await
        .expect("append");
    let list = store.list_conversations(&me, 100).await.expect("list");
    let pos = |id: &str| list.iter().position(|c| c.id == id).expect("listed");
    assert!(
        pos(&a.id) < pos(&b.id),
        "appending moves a conversation to the top"
    );
    assert_eq!(
        store.list_conversations(&me, 1).await.expect("list").len(),
        1,
        "limit is honoured"
    );
}

async fn delete_removes_messages(store: &dyn Store) {
    let c = store
        .create_conversation(&user("del"), "to delete")
        .await
        .expect("create");
    store
        .append_message(&c.id, msg("bye"))
        .await
        .expect("append");
    assert!(store.delete_conversation(&c.id).await.expect("delete"));
    assert!(store.get_conversation(&c.id).await.expect("get").is_none());
    assert!(
        store.messages(&c.id).await.expect("messages").is_empty(),
        "messages go with their conversation"
    );
    assert!(
        !store
            .delete_conversation(&c.id)
            .await
            .expect("delete again")
    );
}

async fn truncate_drops_a_message_and_what_follows(store: &dyn Store) {
    let c = store
        .create_conversation(&user("trunc"), "to truncate")
        .await
        .expect("create");
    let mut ids = Vec::new();
    for text in ["one", "two", "three", "four"] {
        ids.push(
            store
                .append_message(&c.id, msg(text))
                .await
                .expect("append")
                .id,
        );
    }
    let other = store
        .create_conversation(&user("trunc"), "other")
        .await
        .expect("create");
    assert_eq!(
        store
            .truncate_messages(&other.id, &ids[1])
            .await
            .expect("truncate"),
        0,
        "a message of another conversation is not touched"
    );
    assert_eq!(
        store
            .truncate_messages(&c.id, "msg_none")
            .await
            .expect("truncate"),
        0
    );
    assert_eq!(
        store
            .truncate_messages(&c.id, &ids[2])
            .await
            .expect("truncate"),
        2
    );
    let left: Vec<String> = store
        .messages(&c.id)
        .await
        .expect("messages")
        .into_iter()
        .map(|m| m.content)
        .collect();
    assert_eq!(left, ["one", "two"]);
}

async fn append_to_missing_conversation_fails(store: &dyn Store) {
    let err = store.append_message("conv-missing", msg("x")).await;
    assert!(matches!(err, Err(StoreError::NoConversation(_))), "{err:?}");
}

async fn lists_are_per_owner(store: &dyn Store) {
    let alice = user("list-alice");
    let bob = user("list-bob");
    store
        .create_conversation(&alice, "a")
        .await
        .expect("create");
    store.create_conversation(&bob, "b").await.expect("create");
    let other_tenant = Subject::new("ministry", "list-alice").unwrap();
    store
        .create_conversation(&other_tenant, "m")
        .await
        .expect("create");
    let list = store.list_conversations(&alice, 100).await.expect("list");
    assert_eq!(list.len(), 1, "only alice's own conversations");
    assert_eq!(list[0].title, "a");
}

async fn export_holds_everything_of_one_subject(store: &dyn Store) {
    let me = user("export-me");
    let other = user("export-other");
    let c1 = store
        .create_conversation(&me, "first")
        .await
        .expect("create");
    store
        .append_message(&c1.id, msg("my first question"))
        .await
        .expect("append");
    let c2 = store
        .create_conversation(&me, "second")
        .await
        .expect("create");
    store
        .append_message(&c2.id, msg("my second question"))
        .await
        .expect("append");
    let o = store
        .create_conversation(&other, "not mine")
        .await
        .expect("create");
    store
        .append_message(&o.id, msg("someone else's words"))
        .await
        .expect("append");
    let export = store.export_subject(&me).await.expect("export");
    assert_eq!(export.conversations.len(), 2);
    let json = serde_json::to_string(&export).expect("json");
    assert!(json.contains("my first question") && json.contains("my second question"));
    assert!(
        !json.contains("someone else's words"),
        "nothing of other subjects"
    );
    assert_eq!(export.format, "sovra.subject-export.v1");
}

async fn erasure_removes_a_subject_and_is_audited(store: &dyn Store) {
    let me = user("erase-me");
    let other = user("erase-other");
    let c = store
        .create_conversation(&me, "secret title")
        .await
        .expect("create");
    store
        .append_message(&c.id, msg("secret words"))
        .await
        .expect("append");
    store
        .append_message(&c.id, msg("more secret words"))
        .await
        .expect("append");
    let o = store
        .create_conversation(&other, "kept")
        .await
        .expect("create");
    store
        .append_message(&o.id, msg("kept words"))
        .await
        .expect("append");

    let report = store.erase_subject(&me, "cli:test").await.expect("erase");
    assert_eq!(
        (report.conversations, report.messages, report.keys),
        (1, 2, 1)
    );
    assert!(store.get_conversation(&c.id).await.expect("get").is_none());
    assert!(store.messages(&c.id).await.expect("messages").is_empty());
    let export = store.export_subject(&me).await.expect("export");
    assert!(export.conversations.is_empty(), "nothing left");
    assert_eq!(
        store.messages(&o.id).await.expect("messages").len(),
        1,
        "others untouched"
    );

    let entries = store
        .audit_entries(report.audit_seq - 1, 1)
        .await
        .expect("audit");
    let e = &entries[0];
    assert_eq!(
        (e.action.as_str(), e.subject.as_deref()),
        ("data.erase", Some("erase-me"))
    );
    let text = serde_json::to_string(e).unwrap();
    assert!(
        !text.contains("secret"),
        "the audit entry holds no content: {text}"
    );
    assert_eq!(
        export.audit.len(),
        1,
        "the erasure is in the subject's export"
    );
    let verified = crate::verify_audit(store).await.expect("read audit");
    assert!(verified.is_ok(), "{verified:?}");

    // A new conversation after erasure gets a fresh key and works.
    let again = store
        .create_conversation(&me, "fresh start")
        .await
        .expect("create");
    store
        .append_message(&again.id, msg("hello again"))
        .await
        .expect("append");
    assert_eq!(
        store.messages(&again.id).await.expect("messages")[0].content,
        "hello again"
    );
}

async fn legal_hold_blocks_erasure(store: &dyn Store) {
    let me = user("held");
    let c = store
        .create_conversation(&me, "evidence")
        .await
        .expect("create");
    let hold = LegalHold {
        tenant: me.tenant.clone(),
        user: Some(me.user.clone()),
        reason: "case 42".into(),
        created_at_ms: 0,
    };
    store.set_legal_hold(&hold, "cli:test").await.expect("hold");
    assert!(
        store
            .legal_holds()
            .await
            .expect("holds")
            .iter()
            .any(|h| h.user.as_deref() == Some("held"))
    );
    let err = store.erase_subject(&me, "cli:test").await;
    assert!(matches!(err, Err(StoreError::LegalHold(_))), "{err:?}");
    assert!(store.get_conversation(&c.id).await.expect("get").is_some());
    assert!(
        store
            .release_legal_hold(&me.tenant, Some(&me.user), "cli:test")
            .await
            .expect("release")
    );
    store
        .erase_subject(&me, "cli:test")
        .await
        .expect("erase after release");
}

async fn shredding_a_tenant_leaves_others(store: &dyn Store) {
    let gone = Subject::new("shredded-tenant", "u1").unwrap();
    let stays = Subject::new("other-tenant", "u1").unwrap();
    let c = store.create_conversation(&gone, "t").await.expect("create");
    store.append_message(&c.id, msg("x")).await.expect("append");
    let k = store
        .create_conversation(&stays, "t")
        .await
        .expect("create");
    store.append_message(&k.id, msg("y")).await.expect("append");
    let report = store
        .shred_tenant("shredded-tenant", "cli:test")
        .await
        .expect("shred");
    assert_eq!(
        (report.conversations, report.messages, report.keys),
        (1, 1, 2)
    );
    assert!(store.get_conversation(&c.id).await.expect("get").is_none());
    assert_eq!(
        store.messages(&k.id).await.expect("messages")[0].content,
        "y"
    );
}

async fn tenant_key_rotation_keeps_data_readable(store: &dyn Store) {
    let s = Subject::new("rotating", "u1").unwrap();
    let c = store
        .create_conversation(&s, "before rotation")
        .await
        .expect("create");
    store
        .append_message(&c.id, msg("old words"))
        .await
        .expect("append");
    let v = store
        .rotate_tenant_key("rotating", "cli:test")
        .await
        .expect("rotate");
    assert_eq!(v, 2);
    store
        .append_message(&c.id, msg("new words"))
        .await
        .expect("append after rotation");
    let msgs = store.messages(&c.id).await.expect("messages");
    assert_eq!(
        msgs.iter().map(|m| m.content.as_str()).collect::<Vec<_>>(),
        ["old words", "new words"]
    );
    assert_eq!(
        store
            .rotate_tenant_key("rotating", "cli:test")
            .await
            .expect("rotate"),
        3
    );
    assert_eq!(
        store
            .get_conversation(&c.id)
            .await
            .expect("get")
            .expect("found")
            .title,
        "before rotation"
    );
}

async fn concurrent_audit_appends_keep_the_chain(store: Arc<dyn Store>) {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let s = store.clone();
        tasks.spawn(async move {
            for j in 0..5 {
                s.append_audit(NewAuditEntry {
                    actor: format!("test:{i}"),
                    action: "test.append".into(),
                    tenant: "public".into(),
                    subject: None,
                    details: serde_json::json!({"j": j}),
                })
                .await
                .expect("append audit");
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("task");
    }
    let verified = crate::verify_audit(&*store).await.expect("read audit");
    assert!(verified.is_ok(), "{verified:?}");
}

async fn concurrent_writers_all_land(store: Arc<dyn Store>) {
    let c = store
        .create_conversation(&user("busy"), "busy")
        .await
        .expect("create");
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let s = store.clone();
        let id = c.id.clone();
        tasks.spawn(async move {
            for j in 0..10 {
                s.append_message(&id, msg(&format!("w{i}-{j}")))
                    .await
                    .expect("append");
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("task");
    }
    assert_eq!(store.messages(&c.id).await.expect("messages").len(), 80);
}

async fn master_key_rotation(open: &Opener) {
    let old = Key::generate();
    let new = Key::generate();
    let id = {
        let store = open(
            "rotation".into(),
            Keyring::new(old.clone()),
            Arc::new(SystemClock),
        )
        .await
        .expect("open");
        let c = store
            .create_conversation(&user("m"), "sealed with old")
            .await
            .expect("create");
        store
            .append_message(&c.id, msg("still readable"))
            .await
            .expect("append");
        c.id
    };
    // New master key, old one still known: tenant keys are rewrapped at open.
    {
        let keyring = Keyring {
            current: new.clone(),
            previous: vec![old.clone()],
        };
        let store = open("rotation".into(), keyring, Arc::new(SystemClock))
            .await
            .expect("open");
        assert_eq!(
            store.messages(&id).await.expect("messages")[0].content,
            "still readable"
        );
    }
    // The old key can now be retired.
    let store = open(
        "rotation".into(),
        Keyring::new(new.clone()),
        Arc::new(SystemClock),
    )
    .await
    .expect("open");
    assert_eq!(
        store.messages(&id).await.expect("messages")[0].content,
        "still readable"
    );
    // A wrong master key reads nothing.
    let wrong = open(
        "rotation".into(),
        Keyring::new(Key::generate()),
        Arc::new(SystemClock),
    )
    .await;
    assert!(
        matches!(wrong, Err(StoreError::Key(_))),
        "a wrong master key opens nothing"
    );
}

async fn retention_with_a_controlled_clock(open: &Opener) {
    const DAY: i64 = 86_400_000;
    let clock = Arc::new(ManualClock::at(1_700_000_000_000));
    let store = open(
        "retention".into(),
        Keyring::new(Key::generate()),
        clock.clone(),
    )
    .await
    .expect("open");
    let old = store
        .create_conversation(&user("r-old"), "old")
        .await
        .expect("create");
    store
        .append_message(&old.id, msg("old words"))
        .await
        .expect("append");
    let held = store
        .create_conversation(&user("r-held"), "held")
        .await
        .expect("create");
    let ministry = Subject::new("ministry", "r-m").unwrap();
    let long = store
        .create_conversation(&ministry, "kept longer")
        .await
        .expect("create");
    store
        .set_legal_hold(
            &LegalHold {
                tenant: "public".into(),
                user: Some("r-held".into()),
                reason: "inquiry".into(),
                created_at_ms: 0,
            },
            "cli:test",
        )
        .await
        .expect("hold");
    clock.advance_days(20);
    let fresh = store
        .create_conversation(&user("r-fresh"), "fresh")
        .await
        .expect("create");
    let mut rules = RetentionRules {
        default: KindRetention {
            conversations_days: Some(30),
            audit_days: None,
        },
        ..RetentionRules::default()
    };
    rules.tenants.insert(
        "ministry".into(),
        KindRetention {
            conversations_days: Some(90),
            audit_days: None,
        },
    );

    let report = store.purge_expired(&rules).await.expect("purge");
    assert_eq!(report.conversations, 0, "nothing is 30 days old yet");
    clock.advance_days(11); // old: 31 days, fresh: 11 days
    let report = store.purge_expired(&rules).await.expect("purge");
    assert_eq!((report.conversations, report.messages), (1, 1));
    assert!(
        store
            .get_conversation(&old.id)
            .await
            .expect("get")
            .is_none(),
        "expired"
    );
    assert!(
        store
            .get_conversation(&held.id)
            .await
            .expect("get")
            .is_some(),
        "legal hold exempts"
    );
    assert!(
        store
            .get_conversation(&fresh.id)
            .await
            .expect("get")
            .is_some(),
        "not yet expired"
    );
    assert!(
        store
            .get_conversation(&long.id)
            .await
            .expect("get")
            .is_some(),
        "tenant rule: 90 days"
    );
    clock.advance_days(60);
    store.purge_expired(&rules).await.expect("purge");
    assert!(
        store
            .get_conversation(&long.id)
            .await
            .expect("get")
            .is_none(),
        "the tenant rule expires too"
    );
    assert!(
        store
            .get_conversation(&held.id)
            .await
            .expect("get")
            .is_some(),
        "still held"
    );

    // Audit retention drops a prefix; what is left still verifies.
    clock.advance_ms(DAY);
    let rules = RetentionRules {
        default: KindRetention {
            conversations_days: None,
            audit_days: Some(1),
        },
        ..RetentionRules::default()
    };
    let report = store.purge_expired(&rules).await.expect("purge audit");
    assert!(report.audit_entries > 0, "{report:?}");
    let verified = crate::verify_audit(&*store).await.expect("read audit");
    assert!(verified.is_ok(), "{verified:?}");
}
