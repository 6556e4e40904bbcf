//! The SQLite store: the embedded default.
//!
//! One file (`sovra.db` in the data dir) in WAL mode with
//! `synchronous=FULL`, so a commit is on disk before a write is
//! acknowledged, and `secure_delete` so deleted rows are overwritten rather
//! than left in free pages. Write transactions begin `IMMEDIATE` so
//! concurrent writers queue on the lock instead of failing on upgrade.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::crypto::{Key, Keyring};
use crate::sql::{Core, DeleteBind, impl_sql_store};
use crate::{Clock, StoreError, SystemClock};

/// Conversations in one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    core: Arc<Core>,
}

impl SqliteStore {
    /// Open (creating if needed) `sovra.db` in `data_dir` with the wall clock.
    pub async fn open(data_dir: &Path, keyring: Keyring) -> Result<Self, StoreError> {
        Self::open_with(data_dir, keyring, Arc::new(SystemClock)).await
    }

    /// Open `sovra.db` in `data_dir`.
    pub async fn open_with(
        data_dir: &Path,
        keyring: Keyring,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StoreError> {
        Self::open_file(&data_dir.join("sovra.db"), keyring, clock).await
    }

    /// Open (creating if needed) the database file at `path`.
    pub async fn open_file(
        path: &Path,
        keyring: Keyring,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StoreError> {
        // Born owner-only (SQLite gives its -wal and -shm files the same mode).
        crate::private::private_file(path).map_err(StoreError::private(path))?;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // An acknowledged message is on disk, not only in the WAL's page cache.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            // Erased rows are zeroed, not left readable in free pages.
            .pragma("secure_delete", "ON")
            .busy_timeout(Duration::from_secs(10));
        Self::with_options(options, keyring, clock).await
    }

    /// An in-memory store with a throwaway master key (tests, the sim node).
    pub async fn in_memory() -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")?.foreign_keys(true);
        Self::with_options(
            options,
            Keyring::new(Key::generate()),
            Arc::new(SystemClock),
        )
        .await
    }

    /// An in-memory store with this clock (tests).
    pub async fn in_memory_with(
        keyring: Keyring,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")?.foreign_keys(true);
        Self::with_options(options, keyring, clock).await
    }

    async fn with_options(
        options: SqliteConnectOptions,
        keyring: Keyring,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StoreError> {
        let in_memory = options.get_filename() == Path::new(":memory:");
        let pool = SqlitePoolOptions::new()
            // An in-memory database lives in one connection.
            .max_connections(if in_memory { 1 } else { 4 })
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        let store = Self {
            pool,
            core: Arc::new(Core::new(keyring, clock)),
        };
        store.rewrap_master().await?;
        store.seal_legacy().await?;
        Ok(store)
    }

    /// Seal rows written before encryption existed (marked 0x00 by
    /// migration 0002), so no plaintext stays in the file.
    async fn seal_legacy(&self) -> Result<(), StoreError> {
        use sqlx::Row as _;
        let mut tx = self.begin_write().await?;
        let titles = sqlx::query(
            "SELECT id, tenant_id, user_id, title FROM conversations WHERE substr(title, 1, 1) = X'00'",
        )
        .fetch_all(&mut *tx)
        .await?;
        let messages = sqlx::query(
            "SELECT m.id AS id, c.tenant_id AS tenant_id, c.user_id AS user_id, m.content AS content
             FROM messages m JOIN conversations c ON c.id = m.conversation_id
             WHERE substr(m.content, 1, 1) = X'00'",
        )
        .fetch_all(&mut *tx)
        .await?;
        let n = titles.len() + messages.len();
        for (rows, column, aad) in [
            (
                titles,
                "title",
                crate::sql::title_aad as fn(&str) -> Vec<u8>,
            ),
            (messages, "content", crate::sql::content_aad),
        ] {
            for row in rows {
                let id: String = row.try_get("id")?;
                let owner = crate::Subject {
                    tenant: row.try_get("tenant_id")?,
                    user: row.try_get("user_id")?,
                };
                let legacy: Vec<u8> = row.try_get(column)?;
                let key = self
                    .subject_key(&mut tx, &owner, true)
                    .await?
                    .ok_or_else(|| StoreError::Key(format!("no key for {owner}")))?;
                let sealed = key.seal(&aad(&id), legacy.get(1..).unwrap_or_default())?;
                let table = if column == "title" {
                    "conversations"
                } else {
                    "messages"
                };
                sqlx::query(&format!("UPDATE {table} SET {column} = $1 WHERE id = $2"))
                    .bind(sealed)
                    .bind(&id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        if n > 0 {
            tracing::info!(rows = n, "sealed rows written before encryption");
            self.after_erase().await?;
        }
        Ok(())
    }

    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StoreError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// After an erasure: move the WAL into the file and truncate it, so the
    /// erased rows' old pages do not linger in the log.
    async fn after_erase(&self) -> Result<(), StoreError> {
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// `VACUUM INTO`: a consistent, compact copy, safe while serving.
    async fn backup_to(&self, dest: &Path) -> Result<(), StoreError> {
        if dest.exists() {
            return Err(StoreError::Backup(format!(
                "{} already exists",
                dest.display()
            )));
        }
        let path = dest;
        let dest = dest
            .to_str()
            .ok_or_else(|| StoreError::Backup("the backup path is not UTF-8".into()))?;
        // `VACUUM INTO` fills an empty file: made owner-only before it does.
        crate::private::open_new(path).map_err(StoreError::private(path))?;
        let done = sqlx::query("VACUUM INTO $1")
            .bind(dest)
            .execute(&self.pool)
            .await;
        if let Err(e) = done {
            let _ = std::fs::remove_file(path);
            return Err(e.into());
        }
        Ok(())
    }
}

impl_sql_store!(SqliteStore, sqlx::Sqlite);
crate::directory::impl_sql_directory!(SqliteStore, sqlx::Sqlite);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::{NewMessage, Store, Subject};
    use sovra_core::openai::Role;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_passes_conformance() {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        let open = move |name: String, keyring: Keyring, clock: Arc<dyn Clock>| {
            let path = dir.path().join(format!("{name}.db"));
            let opening: crate::conformance::Opening<'static> = Box::pin(async move {
                let s: Arc<dyn Store> =
                    Arc::new(SqliteStore::open_file(&path, keyring, clock).await?);
                Ok(s)
            });
            opening
        };
        crate::conformance::run_all(&open).await;
    }

    #[tokio::test]
    async fn sqlite_file_keeps_data_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let keyring = Keyring::new(Key::generate());
        let owner = Subject::default();
        let id = {
            let store = SqliteStore::open(dir.path(), keyring.clone())
                .await
                .unwrap();
            let c = store.create_conversation(&owner, "kept").await.unwrap();
            store
                .append_message(
                    &c.id,
                    NewMessage {
                        role: Role::User,
                        content: "hello",
                        usage: None,
                    },
                )
                .await
                .unwrap();
            c.id
        };
        let store = SqliteStore::open(dir.path(), keyring).await.unwrap();
        let msgs = store.messages(&id).await.unwrap();
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].content, "hello");
    }

    #[tokio::test]
    async fn after_erasure_nothing_of_the_subject_opens_or_remains_on_disk() {
        use sqlx::Row as _;
        let dir = tempfile::tempdir().unwrap();
        let keyring = Keyring::new(Key::generate());
        let store = SqliteStore::open(dir.path(), keyring.clone())
            .await
            .unwrap();
        let alice = Subject::public("alice").unwrap();
        let bob = Subject::public("bob").unwrap();
        let c = store
            .create_conversation(&alice, "alice's title")
            .await
            .unwrap();
        store
            .append_message(
                &c.id,
                NewMessage {
                    role: Role::User,
                    content: "alice's secret",
                    usage: None,
                },
            )
            .await
            .unwrap();
        let b = store
            .create_conversation(&bob, "bob's title")
            .await
            .unwrap();
        store
            .append_message(
                &b.id,
                NewMessage {
                    role: Role::User,
                    content: "bob's words",
                    usage: None,
                },
            )
            .await
            .unwrap();
        let sealed: Vec<(String, Vec<u8>)> =
            sqlx::query("SELECT id, content FROM messages WHERE conversation_id = $1")
                .bind(&c.id)
                .fetch_all(&store.pool)
                .await
                .unwrap()
                .iter()
                .map(|r| (r.get("id"), r.get("content")))
                .collect();
        let wrapped: Vec<u8> =
            sqlx::query("SELECT wrapped FROM subject_keys WHERE user_id = 'alice'")
                .fetch_one(&store.pool)
                .await
                .unwrap()
                .get("wrapped");
        store.erase_subject(&alice, "test").await.unwrap();

        let tenants: Vec<(String, i64, String, Vec<u8>)> =
            sqlx::query("SELECT tenant_id, version, master_id, wrapped FROM tenant_keys")
                .fetch_all(&store.pool)
                .await
                .unwrap()
                .iter()
                .map(|r| {
                    (
                        r.get("tenant_id"),
                        r.get("version"),
                        r.get("master_id"),
                        r.get("wrapped"),
                    )
                })
                .collect();
        let subjects: Vec<(String, String, i64, Vec<u8>)> =
            sqlx::query("SELECT tenant_id, user_id, tenant_version, wrapped FROM subject_keys")
                .fetch_all(&store.pool)
                .await
                .unwrap()
                .iter()
                .map(|r| {
                    (
                        r.get("tenant_id"),
                        r.get("user_id"),
                        r.get("tenant_version"),
                        r.get("wrapped"),
                    )
                })
                .collect();
        let keys = crate::sql::recover::all_keys(&keyring, &tenants, &subjects);
        assert!(
            keys.len() >= 2,
            "the tenant's and bob's keys are still there"
        );
        for (id, blob) in &sealed {
            for k in &keys {
                assert!(
                    k.open(&crate::sql::content_aad(id), blob).is_err(),
                    "erased ciphertext opened with a remaining key"
                );
            }
        }
        // secure_delete and the WAL truncation leave no copy on disk either.
        let mut files = Vec::new();
        for e in std::fs::read_dir(dir.path()).unwrap().flatten() {
            files.push(std::fs::read(e.path()).unwrap());
        }
        for needle in sealed
            .iter()
            .map(|(_, b)| &b[1..25])
            .chain(std::iter::once(&wrapped[1..25]))
        {
            for f in &files {
                assert!(
                    !f.windows(needle.len()).any(|w| w == needle),
                    "erased bytes remain on disk"
                );
            }
        }
        assert_eq!(
            store.messages(&b.id).await.unwrap()[0].content,
            "bob's words"
        );
    }

    #[tokio::test]
    async fn a_tampered_audit_entry_is_named() {
        let store = SqliteStore::in_memory().await.unwrap();
        for i in 0..3 {
            store
                .append_audit(sovra_audit::NewAuditEntry {
                    actor: "test".into(),
                    action: "test.append".into(),
                    tenant: "public".into(),
                    subject: Some(format!("u{i}")),
                    details: serde_json::json!({"i": i}),
                })
                .await
                .unwrap();
        }
        assert_eq!(crate::verify_audit(&store).await.unwrap(), Ok(3));
        sqlx::query("UPDATE audit_log SET user_id = 'someone else' WHERE seq = 2")
            .execute(&store.pool)
            .await
            .unwrap();
        assert_eq!(
            crate::verify_audit(&store).await.unwrap(),
            Err(sovra_audit::ChainError::Tampered { seq: 2 })
        );
        sqlx::query("DELETE FROM audit_log WHERE seq = 2")
            .execute(&store.pool)
            .await
            .unwrap();
        assert_eq!(
            crate::verify_audit(&store).await.unwrap(),
            Err(sovra_audit::ChainError::Broken {
                seq: 3,
                prev_seq: 1
            })
        );
    }

    #[tokio::test]
    async fn a_database_from_before_encryption_upgrades_and_reads() {
        use sqlx::sqlite::SqlitePoolOptions;
        let dir = tempfile::tempdir().unwrap();
        let first = dir.path().join("migrations");
        std::fs::create_dir(&first).unwrap();
        std::fs::copy(
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/migrations/sqlite/0001_conversations.sql"
            ),
            first.join("0001_conversations.sql"),
        )
        .unwrap();
        let db = dir.path().join("sovra.db");
        {
            let pool = SqlitePoolOptions::new()
                .connect_with(
                    SqliteConnectOptions::new()
                        .filename(&db)
                        .create_if_missing(true),
                )
                .await
                .unwrap();
            sqlx::migrate::Migrator::new(first.as_path())
                .await
                .unwrap()
                .run(&pool)
                .await
                .unwrap();
            sqlx::query("INSERT INTO conversations (id, title, created_at, updated_at) VALUES ('conv-old', 'Old title', 1, 2)")
                .execute(&pool)
                .await
                .unwrap();
            sqlx::query("INSERT INTO messages (id, conversation_id, role, content, created_at) VALUES ('msg-old', 'conv-old', 'user', 'old words', 1)")
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        }
        let store = SqliteStore::open(dir.path(), Keyring::new(Key::generate()))
            .await
            .unwrap();
        let c = store.get_conversation("conv-old").await.unwrap().unwrap();
        assert_eq!(c.title, "Old title");
        assert_eq!(c.owner, Subject::default());
        assert_eq!(
            store.messages("conv-old").await.unwrap()[0].content,
            "old words"
        );
        // New writes to the old conversation are sealed.
        store
            .append_message(
                "conv-old",
                NewMessage {
                    role: Role::User,
                    content: "new words",
                    usage: None,
                },
            )
            .await
            .unwrap();
        assert_eq!(
            store.messages("conv-old").await.unwrap()[1].content,
            "new words"
        );
    }
}
