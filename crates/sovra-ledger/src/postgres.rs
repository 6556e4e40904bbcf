//! The PostgreSQL ledger: for several Sovra replicas sharing one database.
//!
//! Same SQL as SQLite (see `sql.rs`), its own migrations. Writes run at
//! READ COMMITTED: each balance change is a conditional `UPDATE` that takes
//! the account's row lock and re-checks the balance as committed by the
//! transaction it waited for, so no interleaving of replicas overdraws an
//! account. Every session sets `synchronous_commit=on`. `reconcile` reads
//! one REPEATABLE READ snapshot.

use std::str::FromStr;
use std::sync::Arc;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::sql::impl_sql_ledger;
use crate::{Clock, SystemClock};

/// The ledger in a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PostgresLedger {
    pool: PgPool,
    clock: Arc<dyn Clock>,
}

impl PostgresLedger {
    /// Connect to `url` with the wall clock and run migrations.
    pub async fn connect(url: &str) -> crate::Result<Self> {
        Self::connect_with(url, 16, Arc::new(SystemClock)).await
    }

    /// Connect with at most `connections` connections and `clock`.
    pub async fn connect_with(
        url: &str,
        connections: u32,
        clock: Arc<dyn Clock>,
    ) -> crate::Result<Self> {
        let options = PgConnectOptions::from_str(url)?.options([("synchronous_commit", "on")]);
        let pool = PgPoolOptions::new()
            .max_connections(connections)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Self { pool, clock })
    }

    async fn begin_write(&self) -> crate::Result<sqlx::Transaction<'static, sqlx::Postgres>> {
        Ok(self.pool.begin().await?)
    }

    async fn begin_read(&self) -> crate::Result<sqlx::Transaction<'static, sqlx::Postgres>> {
        Ok(self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await?)
    }
}

impl_sql_ledger!(PostgresLedger, sqlx::Postgres);

/// A fresh, empty database on the PostgreSQL server tests use, dropped when
/// the guard goes: each test run gets its own, so runs never collide.
pub mod testdb {
    use sqlx::Connection;
    use sqlx::postgres::PgConnection;

    /// The server tests use: `SOVRA_TEST_POSTGRES_URL` or the local one
    /// (the same convention as `sovra-store`).
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
        /// Create `sovra_ledger_test_<uuid>`.
        pub async fn create() -> crate::Result<Self> {
            let admin = admin_url();
            let name = format!("sovra_ledger_test_{}", uuid::Uuid::new_v4().simple());
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
        pub async fn drop_now(&self) -> crate::Result<()> {
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
    use crate::{AccountKind, Ledger, NewAccount, NewTransfer};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_passes_conformance() {
        let dbs = Arc::new(std::sync::Mutex::new(Vec::<Arc<testdb::TestDb>>::new()));
        let held = dbs.clone();
        let open = move |clock: Arc<dyn Clock>| {
            let dbs = held.clone();
            let opening: crate::conformance::Opening = Box::pin(async move {
                let db = Arc::new(testdb::TestDb::create().await.unwrap());
                dbs.lock().unwrap().push(db.clone());
                let l = Arc::new(
                    PostgresLedger::connect_with(&db.url, 4, clock)
                        .await
                        .unwrap(),
                );
                let pair: (Arc<dyn crate::Ledger>, Arc<dyn crate::FundStore>) = (l.clone(), l);
                pair
            });
            opening
        };
        crate::conformance::run_all(&open).await;
        let all: Vec<_> = dbs.lock().unwrap().drain(..).collect();
        for db in all {
            db.drop_now().await.ok();
        }
    }

    #[tokio::test]
    async fn reconcile_names_a_tampered_hold() {
        let db = testdb::TestDb::create().await.unwrap();
        let l = PostgresLedger::connect(&db.url).await.unwrap();
        l.create_account(NewAccount::new("f", AccountKind::Funder, "o"))
            .await
            .unwrap();
        l.create_account(NewAccount::new("g", AccountKind::Grant, "o"))
            .await
            .unwrap();
        l.transfer(NewTransfer::new("t", "f", "g", 50, "x"))
            .await
            .unwrap();
        assert!(l.reconcile().await.unwrap().is_clean());
        sqlx::query("UPDATE ledger_accounts SET held = 7 WHERE id = 'g'")
            .execute(&l.pool)
            .await
            .unwrap();
        let r = l.reconcile().await.unwrap();
        assert_eq!(r.mismatches.len(), 1, "{r:?}");
        let m = &r.mismatches[0];
        assert_eq!(
            (m.account.as_str(), m.field, m.cached, m.derived),
            ("g", "held", 7, 0)
        );
        assert!(
            sqlx::query("UPDATE ledger_accounts SET held = 51 WHERE id = 'g'")
                .execute(&l.pool)
                .await
                .is_err(),
            "the CHECK constraint refuses a negative available balance"
        );
        l.pool.close().await;
        db.drop_now().await.ok();
    }
}
