//! Tampering with the audit trail directly in the database, on both
//! backends: every edit, deletion, insertion and reordering done with plain
//! SQL makes verification fail and name the entry; cutting the tail or
//! rewriting the chain wholesale (head record included) is caught against an
//! archive exported earlier.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use sovra_audit::{Anchor, Archive, AuditEntry, ChainError};
use sovra_store::testdb::TestDb;
use sovra_store::{
    Key, Keyring, NewAuditEntry, PostgresStore, SqliteStore, Store, SystemClock,
    verify_audit_against,
};

/// A store with five entries, and a way to run SQL on its database behind its back.
struct Trail {
    store: Arc<dyn Store>,
    raw: Raw,
    _guard: Guard,
}

enum Raw {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

#[allow(dead_code)]
enum Guard {
    Dir(tempfile::TempDir),
    Db(TestDb),
}

impl Raw {
    async fn exec(&self, sql: &str) {
        match self {
            Raw::Sqlite(p) => {
                sqlx::raw_sql(sql).execute(p).await.unwrap();
            }
            Raw::Postgres(p) => {
                sqlx::raw_sql(sql).execute(p).await.unwrap();
            }
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

fn fields(i: i64) -> NewAuditEntry {
    NewAuditEntry {
        actor: "cli:root".into(),
        action: "data.erase".into(),
        tenant: "public".into(),
        subject: Some(format!("u{i}")),
        details: serde_json::json!({"messages": i}),
    }
}

async fn trail(backend: Backend) -> Trail {
    let keyring = Keyring::new(Key::generate());
    let (store, raw, guard): (Arc<dyn Store>, Raw, Guard) = match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("sovra.db");
            let store = SqliteStore::open_file(&path, keyring, Arc::new(SystemClock))
                .await
                .unwrap();
            let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
                .await
                .unwrap();
            (Arc::new(store), Raw::Sqlite(pool), Guard::Dir(dir))
        }
        Backend::Postgres => {
            let db = TestDb::create().await.unwrap();
            let store = PostgresStore::connect(&db.url, keyring, Arc::new(SystemClock))
                .await
                .unwrap();
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            (Arc::new(store), Raw::Postgres(pool), Guard::Db(db))
        }
    };
    for i in 1..=5 {
        store.append_audit(fields(i)).await.unwrap();
    }
    Trail {
        store,
        raw,
        _guard: guard,
    }
}

impl Trail {
    async fn entries(&self) -> Vec<AuditEntry> {
        self.store.audit_entries(i64::MIN, 1000).await.unwrap()
    }

    async fn verify(&self, archive: Option<&Archive>) -> Result<usize, ChainError> {
        verify_audit_against(&*self.store, archive)
            .await
            .unwrap()
            .map(|r| r.entries)
    }

    async fn archive(&self) -> Archive {
        let mut a = Archive::new();
        for e in self.entries().await {
            a.push(&e).unwrap();
        }
        a
    }

    /// Insert `e` as a row, as an attacker with write access would.
    async fn insert(&self, e: &AuditEntry) {
        self.raw
            .exec(&format!(
                "INSERT INTO audit_log (seq, at_ms, actor, action, tenant_id, user_id, details, prev_hash, hash) \
                 VALUES ({}, {}, '{}', '{}', '{}', '{}', '{}', '{}', '{}')",
                e.seq,
                e.at_ms,
                e.actor,
                e.action,
                e.tenant,
                e.subject.clone().unwrap_or_default(),
                e.details,
                e.prev_hash,
                e.hash
            ))
            .await;
    }

    async fn set_head(&self, head: &Anchor) {
        self.raw
            .exec(&format!(
                "UPDATE audit_head SET seq = {}, hash = '{}' WHERE id = 1",
                head.seq, head.hash
            ))
            .await;
    }
}

async fn every_tampering_is_named(backend: Backend) {
    let t = trail(backend).await;
    assert_eq!(t.verify(None).await, Ok(5), "{backend:?}: intact");

    // A field changed.
    let t = trail(backend).await;
    t.raw
        .exec("UPDATE audit_log SET details = '{\"messages\":99}' WHERE seq = 3")
        .await;
    assert_eq!(t.verify(None).await, Err(ChainError::Tampered { seq: 3 }));
    let t = trail(backend).await;
    t.raw
        .exec("UPDATE audit_log SET user_id = 'someone else' WHERE seq = 2")
        .await;
    assert_eq!(t.verify(None).await, Err(ChainError::Tampered { seq: 2 }));

    // A middle row deleted: named by the entry after the gap.
    let t = trail(backend).await;
    t.raw.exec("DELETE FROM audit_log WHERE seq = 3").await;
    assert_eq!(
        t.verify(None).await,
        Err(ChainError::Broken {
            seq: 4,
            prev_seq: 2
        })
    );

    // A forged row appended with a made-up hash.
    let t = trail(backend).await;
    let last = t.entries().await.pop().unwrap();
    let mut forged = AuditEntry::seal(last.seq, &last.hash, last.at_ms + 1, fields(6));
    forged.hash = "f".repeat(64);
    t.insert(&forged).await;
    assert_eq!(t.verify(None).await, Err(ChainError::Tampered { seq: 6 }));

    // A forged row appended with a correct hash (SHA-256 is public), head
    // left alone: the head record no longer matches.
    let t = trail(backend).await;
    let last = t.entries().await.pop().unwrap();
    t.insert(&AuditEntry::seal(
        last.seq,
        &last.hash,
        last.at_ms + 1,
        fields(6),
    ))
    .await;
    assert_eq!(
        t.verify(None).await,
        Err(ChainError::HeadMismatch {
            head_seq: 5,
            last_seq: 6
        })
    );

    // A forged row inserted in the middle (later rows renumbered to make room).
    let t = trail(backend).await;
    let second = t.entries().await[1].clone();
    t.raw
        .exec("UPDATE audit_log SET seq = seq + 1000 WHERE seq >= 3")
        .await;
    t.raw
        .exec("UPDATE audit_log SET seq = seq - 999 WHERE seq >= 1000")
        .await;
    t.insert(&AuditEntry::seal(
        second.seq,
        &second.hash,
        second.at_ms,
        fields(42),
    ))
    .await;
    assert_eq!(
        t.verify(None).await,
        Err(ChainError::Broken {
            seq: 4,
            prev_seq: 3
        })
    );

    // Two rows swapped (their seqs exchanged).
    let t = trail(backend).await;
    t.raw
        .exec("UPDATE audit_log SET seq = -2 WHERE seq = 2")
        .await;
    t.raw
        .exec("UPDATE audit_log SET seq = 2 WHERE seq = 4")
        .await;
    t.raw
        .exec("UPDATE audit_log SET seq = 4 WHERE seq = -2")
        .await;
    assert_eq!(
        t.verify(None).await,
        Err(ChainError::Broken {
            seq: 2,
            prev_seq: 1
        })
    );

    // The newest rows deleted: the head record still names entry 5.
    let t = trail(backend).await;
    t.raw.exec("DELETE FROM audit_log WHERE seq >= 4").await;
    assert_eq!(
        t.verify(None).await,
        Err(ChainError::HeadMismatch {
            head_seq: 5,
            last_seq: 3
        })
    );
    t.raw.exec("DELETE FROM audit_log").await;
    assert_eq!(
        t.verify(None).await,
        Err(ChainError::HeadMismatch {
            head_seq: 5,
            last_seq: 0
        })
    );
}

/// What the database alone cannot show, an archive can.
async fn an_archive_catches_a_consistent_rewrite(backend: Backend) {
    // The tail cut and the head record moved back with it.
    let t = trail(backend).await;
    let archive = t.archive().await;
    let third = t.entries().await[2].clone();
    t.raw.exec("DELETE FROM audit_log WHERE seq >= 4").await;
    t.set_head(&Anchor {
        seq: third.seq,
        hash: third.hash.clone(),
    })
    .await;
    assert_eq!(t.verify(None).await, Ok(3), "invisible without an archive");
    assert_eq!(
        t.verify(Some(&archive)).await,
        Err(ChainError::Missing { seq: 4 })
    );

    // Every entry from the second on rewritten with valid hashes, head too.
    let t = trail(backend).await;
    let archive = t.archive().await;
    let old = t.entries().await;
    t.raw.exec("DELETE FROM audit_log WHERE seq >= 2").await;
    let mut prev = old[0].clone();
    for e in &old[1..] {
        let mut f = e.fields();
        f.subject = Some("forged".into());
        let forged = AuditEntry::seal(prev.seq, &prev.hash, e.at_ms, f);
        t.insert(&forged).await;
        prev = forged;
    }
    t.set_head(&Anchor {
        seq: prev.seq,
        hash: prev.hash.clone(),
    })
    .await;
    assert_eq!(t.verify(None).await, Ok(5), "invisible without an archive");
    assert_eq!(
        t.verify(Some(&archive)).await,
        Err(ChainError::ArchiveMismatch { seq: 2 })
    );

    // Grown since the archive: still verifies against it.
    let t = trail(backend).await;
    let archive = t.archive().await;
    t.store.append_audit(fields(6)).await.unwrap();
    assert_eq!(t.verify(Some(&archive)).await, Ok(6));
}

#[tokio::test]
async fn sqlite_every_tampering_is_named() {
    every_tampering_is_named(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_every_tampering_is_named() {
    every_tampering_is_named(Backend::Postgres).await;
}

#[tokio::test]
async fn sqlite_an_archive_catches_a_consistent_rewrite() {
    an_archive_catches_a_consistent_rewrite(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_an_archive_catches_a_consistent_rewrite() {
    an_archive_catches_a_consistent_rewrite(Backend::Postgres).await;
}
