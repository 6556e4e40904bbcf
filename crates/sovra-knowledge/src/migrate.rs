//! The knowledge base's schema: the numbered files under
//! `migrations/sqlite` and `migrations/postgres`, embedded in the binary by
//! `sqlx::migrate!` (as `sovra-store`'s are) and applied at open.
//!
//! Applied migrations are recorded in `knowledge_migrations` (version,
//! description, checksum), not in sqlx's `_sqlx_migrations`: on PostgreSQL
//! the knowledge tables sit in the platform store's database, whose
//! `_sqlx_migrations` belongs to the store's migrator (each migrator refuses
//! versions it does not know, and both start at 1). One transaction, under
//! a lock (an advisory lock on PostgreSQL, `BEGIN IMMEDIATE` on SQLite),
//! applies every pending migration and records it, so replicas or
//! processes opening together apply each exactly once and a failed
//! migration leaves nothing half done.
//!
//! As with sqlx's migrator, an applied migration whose file changed
//! since ([`MigrateError::VersionMismatch`]), or one this binary does not
//! know (a database a newer Sovra migrated, [`MigrateError::VersionMissing`]),
//! stops the open.
//!
//! A database made before migrations existed (its schema created by code
//! at open) has no record: migration 0001 is that code's DDL, statement for
//! statement and idempotent (`IF NOT EXISTS`, inserts that skip existing
//! rows), so it runs over the existing tables, keeps their rows, and is
//! recorded like any other.

use sqlx::migrate::{MigrateError, Migrator};
use sqlx::{Database, Executor, FromRow, IntoArguments, Transaction};

/// The SQLite schema (`knowledge.db`).
pub(crate) static SQLITE: Migrator = sqlx::migrate!("./migrations/sqlite");

/// The PostgreSQL schema (the `knowledge_*` tables).
pub(crate) static POSTGRES: Migrator = sqlx::migrate!("./migrations/postgres");

const SQLITE_TABLE: &str = "CREATE TABLE IF NOT EXISTS knowledge_migrations (
    version INTEGER PRIMARY KEY,
    description TEXT NOT NULL,
    checksum BLOB NOT NULL,
    applied_at INTEGER NOT NULL
)";

const POSTGRES_TABLE: &str = "CREATE TABLE IF NOT EXISTS knowledge_migrations (
    version BIGINT PRIMARY KEY,
    description TEXT NOT NULL,
    checksum BYTEA NOT NULL,
    applied_at BIGINT NOT NULL
)";

/// Both dialects read and record migrations with the same statements.
const APPLIED: &str = "SELECT version, checksum FROM knowledge_migrations ORDER BY version";
const RECORD: &str = "INSERT INTO knowledge_migrations (version, description, checksum, applied_at) VALUES ($1, $2, $3, $4)";

/// Bring `knowledge.db` up to date.
pub(crate) async fn sqlite(pool: &sqlx::SqlitePool) -> Result<(), sqlx::Error> {
    // IMMEDIATE: the write lock is taken before the applied list is read.
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    apply(&mut tx, &SQLITE, SQLITE_TABLE).await?;
    tx.commit().await
}

/// Bring the `knowledge_*` tables up to date.
pub(crate) async fn postgres(pool: &sqlx::PgPool) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    // The lock the schema code took before migrations existed, so a replica
    // still running that code and this one never create tables together.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('sovra_knowledge_schema'))")
        .execute(&mut *tx)
        .await?;
    apply(&mut tx, &POSTGRES, POSTGRES_TABLE).await?;
    tx.commit().await
}

/// Apply `migrator`'s pending migrations in `tx`, recording each.
async fn apply<DB>(
    tx: &mut Transaction<'_, DB>,
    migrator: &Migrator,
    table: &str,
) -> Result<(), sqlx::Error>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'r> (i64, Vec<u8>): FromRow<'r, DB::Row>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Vec<u8>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    sqlx::query(table).execute(&mut **tx).await?;
    let applied: Vec<(i64, Vec<u8>)> = sqlx::query_as(APPLIED).fetch_all(&mut **tx).await?;
    for (version, checksum) in &applied {
        match migrator.iter().find(|m| m.version == *version) {
            None => return Err(MigrateError::VersionMissing(*version).into()),
            Some(m) if *m.checksum != checksum[..] => {
                return Err(MigrateError::VersionMismatch(*version).into());
            }
            Some(_) => {}
        }
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    for m in migrator.iter() {
        if applied.iter().any(|(v, _)| *v == m.version) {
            continue;
        }
        sqlx::raw_sql(&m.sql).execute(&mut **tx).await?;
        sqlx::query(RECORD)
            .bind(m.version)
            .bind(m.description.to_string())
            .bind(m.checksum.to_vec())
            .bind(now)
            .execute(&mut **tx)
            .await?;
        tracing::info!(
            version = m.version,
            description = %m.description,
            "applied a knowledge base migration"
        );
    }
    Ok(())
}
