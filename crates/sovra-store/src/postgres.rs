//! The PostgreSQL store: for several replicas and large deployments.
//!
//! Same SQL as SQLite (see `sql.rs`), its own migrations. Durability is
//! PostgreSQL's: every session sets `synchronous_commit=on`, so a commit
//! returns only after the WAL is flushed.
//! Backups shell out to `pg_dump`, which takes a consistent snapshot while
//! Sovra keeps serving.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::crypto::Keyring;
use crate::sql::{Core, DeleteBind, impl_sql_store};
use crate::{Clock, StoreError};

/// Sovra's data in a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    core: Arc<Core>,
    url: String,
}

impl PostgresStore {
    /// Connect to `url` (`postgres://user@host:port/db`) and run migrations.
    pub async fn connect(
        url: &str,
        keyring: Keyring,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StoreError> {
        // A commit returns only after its WAL is flushed, whatever the server's default.
        let options = PgConnectOptions::from_str(url)?.options([("synchronous_commit", "on")]);
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        let store = Self {
            pool,
            core: Arc::new(Core::new(keyring, clock)),
            url: url.to_owned(),
        };
        store.rewrap_master().await?;
        Ok(store)
    }

    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, StoreError> {
        Ok(self.pool.begin().await?)
    }

    /// After an erasure: vacuum the tables it touched so dead row versions
    /// (which still hold sealed bytes) are pruned; the key tables are
    /// rewritten so no wrapped key of an erased subject survives in them.
    async fn after_erase(&self) -> Result<(), StoreError> {
        for stmt in [
            "VACUUM messages",
            "VACUUM conversations",
            "VACUUM FULL subject_keys",
            "VACUUM FULL tenant_keys",
        ] {
            sqlx::query(stmt).execute(&self.pool).await?;
        }
        Ok(())
    }

    /// `pg_dump --format=custom` of the database, consistent while serving.
    async fn backup_to(&self, dest: &Path) -> Result<(), StoreError> {
        if dest.exists() {
            return Err(StoreError::Backup(format!(
                "{} already exists",
                dest.display()
            )));
        }
        let out = tokio::process::Command::new("pg_dump")
            .arg("--format=custom")
            .arg("--file")
            .arg(dest)
            .arg("--dbname")
            .arg(&self.url)
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .map_err(|e| StoreError::Backup(format!("could not run pg_dump: {e}")))?;
        if !out.status.success() {
            return Err(StoreError::Backup(format!(
                "pg_dump failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(())
    }
}

/// `pg_restore --clean` of a [`PostgresStore`] backup into the database at `url`.
pub async fn restore_postgres(url: &str, from: &Path) -> Result<(), StoreError> {
    let out = tokio::process::Command::new("pg_restore")
        .args([
            "--clean",
            "--if-exists",
            "--single-transaction",
            "--no-owner",
        ])
        .arg("--dbname")
        .arg(url)
        .arg(from)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| StoreError::Backup(format!("could not run pg_restore: {e}")))?;
    if !out.status.success() {
        return Err(StoreError::Backup(format!(
            "pg_restore failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

impl_sql_store!(PostgresStore, sqlx::Postgres);
crate::directory::impl_sql_directory!(PostgresStore, sqlx::Postgres);

/// A fresh, empty database on the PostgreSQL server of `admin_url`, dropped
/// when the guard goes (tests run against the real server, each in its own database).
pub mod testdb {
    use sqlx::Connection;
    use sqlx::postgres::PgConnection;

    use crate::StoreError;

    /// The server tests use: `SOVRA_TEST_POSTGRES_URL` or the local one.
    pub fn admin_url() -> String {
        std::env::var("SOVRA_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
    }

    /// A database that exists for one test.
    #[derive(Debug)]
    pub struct TestDb {
        pub name: String,
        pub url: String,
        admin: String,
    }

    impl TestDb {
        pub async fn create() -> Result<Self, StoreError> {
            let admin = admin_url();
            let name = format!("sovra_test_{}", uuid::Uuid::new_v4().simple());
            let mut conn = PgConnection::connect(&admin).await?;
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .await?;
            let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
            Ok(Self {
                url: format!("{base}/{name}"),
                name,
                admin,
            })
        }

        /// Drop the database (also done, best effort, on drop).
        pub async fn drop_now(&self) -> Result<(), StoreError> {
            let mut conn = PgConnection::connect(&self.admin).await?;
            sqlx::query(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut conn)
            .await?;
            Ok(())
        }
    }

    impl Drop for TestDb {
        fn drop(&mut self) {
            let _ = std::process::Command::new("psql")
                .arg(&self.admin)
                .arg("-qc")
                .arg(format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.name
                ))
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::Store;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_passes_conformance() {
        let dbs: Arc<std::sync::Mutex<std::collections::HashMap<String, Arc<testdb::TestDb>>>> =
            Arc::default();
        let held = dbs.clone();
        let open = move |name: String, keyring: Keyring, clock: Arc<dyn Clock>| {
            let dbs = held.clone();
            let opening: crate::conformance::Opening<'static> = Box::pin(async move {
                let existing = dbs.lock().unwrap().get(&name).cloned();
                let db = match existing {
                    Some(db) => db,
                    None => {
                        let db = Arc::new(testdb::TestDb::create().await.unwrap());
                        dbs.lock().unwrap().insert(name, db.clone());
                        db
                    }
                };
                let s: Arc<dyn Store> =
                    Arc::new(PostgresStore::connect(&db.url, keyring, clock).await?);
                Ok(s)
            });
            opening
        };
        crate::conformance::run_all(&open).await;
        let all: Vec<_> = dbs.lock().unwrap().drain().map(|(_, d)| d).collect();
        for db in all {
            db.drop_now().await.ok();
        }
    }

    #[tokio::test]
    async fn after_erasure_no_remaining_key_opens_the_subjects_ciphertext() {
        use crate::{NewMessage, Subject};
        use sovra_core::openai::Role;
        use sqlx::Row as _;
        let db = testdb::TestDb::create().await.unwrap();
        let keyring = Keyring::new(crate::Key::generate());
        let store = PostgresStore::connect(&db.url, keyring.clone(), Arc::new(crate::SystemClock))
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
        assert_eq!(
            store.messages(&b.id).await.unwrap()[0].content,
            "bob's words"
        );
        db.drop_now().await.ok();
    }
}
