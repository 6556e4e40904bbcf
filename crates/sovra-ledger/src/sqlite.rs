//! The SQLite ledger: the embedded default, one writer at a time.
//!
//! WAL mode with `synchronous=FULL` (a transfer is on disk before it is
//! acknowledged); write transactions begin `IMMEDIATE`, so concurrent
//! writers queue on the lock instead of failing on upgrade, and every
//! check-then-write inside one runs alone.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::sql::impl_sql_ledger;
use crate::{Clock, SystemClock};

/// The ledger in one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteLedger {
    pool: SqlitePool,
    clock: Arc<dyn Clock>,
}

impl SqliteLedger {
    /// Open (creating if needed) the database file at `path`, with the wall clock.
    pub async fn open(path: &Path) -> crate::Result<Self> {
        Self::open_with(path, Arc::new(SystemClock)).await
    }

    /// Open the file at `path` with `clock`.
    pub async fn open_with(path: &Path, clock: Arc<dyn Clock>) -> crate::Result<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(30));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        Self::migrate(pool, clock).await
    }

    /// An in-memory ledger (tests).
    pub async fn in_memory(clock: Arc<dyn Clock>) -> crate::Result<Self> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")?.foreign_keys(true);
        // An in-memory database lives in one connection.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        Self::migrate(pool, clock).await
    }

    async fn migrate(pool: SqlitePool, clock: Arc<dyn Clock>) -> crate::Result<Self> {
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        Ok(Self { pool, clock })
    }

    async fn begin_write(&self) -> crate::Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// A deferred transaction reads one snapshot (WAL mode).
    async fn begin_read(&self) -> crate::Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        Ok(self.pool.begin().await?)
    }
}

impl_sql_ledger!(SqliteLedger, sqlx::Sqlite);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::{AccountKind, Ledger, NewAccount, NewTransfer};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_passes_conformance() {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        let n = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let open = move |clock: Arc<dyn Clock>| {
            let path = dir.path().join(format!(
                "ledger-{}.db",
                n.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            ));
            let opening: crate::conformance::Opening = Box::pin(async move {
                let l = Arc::new(SqliteLedger::open_with(&path, clock).await.unwrap());
                let pair: (Arc<dyn crate::Ledger>, Arc<dyn crate::FundStore>) = (l.clone(), l);
                pair
            });
            opening
        };
        crate::conformance::run_all(&open).await;
    }

    #[tokio::test]
    async fn reconcile_names_a_tampered_balance() {
        let l = SqliteLedger::in_memory(Arc::new(SystemClock))
            .await
            .unwrap();
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
        sqlx::query("UPDATE ledger_accounts SET balance = 60 WHERE id = 'g'")
            .execute(&l.pool)
            .await
            .unwrap();
        let r = l.reconcile().await.unwrap();
        assert!(!r.is_clean());
        assert_eq!(r.total, 10);
        let m = &r.mismatches[0];
        assert_eq!(
            (m.account.as_str(), m.field, m.cached, m.derived),
            ("g", "balance", 60, 50)
        );
    }

    #[tokio::test]
    async fn the_database_itself_refuses_a_negative_grant() {
        let l = SqliteLedger::in_memory(Arc::new(SystemClock))
            .await
            .unwrap();
        l.create_account(NewAccount::new("g", AccountKind::Grant, "o"))
            .await
            .unwrap();
        let err = sqlx::query("UPDATE ledger_accounts SET balance = -1 WHERE id = 'g'")
            .execute(&l.pool)
            .await;
        assert!(err.is_err(), "the CHECK constraint holds without the code");
    }
}
