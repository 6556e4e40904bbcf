//! Write throughput of each backend with durability on: sealed messages
//! appended through the `Store` trait, against a baseline of bare
//! plaintext `INSERT`s (same durability, same connection pool size) in the
//! same run. Ignored by default; see docs/benchmarks.md for the command.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use sovra_core::openai::Role;
use sovra_store::testdb::TestDb;
use sovra_store::{
    Key, Keyring, NewMessage, PostgresStore, SqliteStore, Store, Subject, SystemClock,
};

const SECS: u64 = 5;
const TEXT: &str = "What documents do I need to renew my passport, and how long does it take? I live abroad and my old passport expired last month.";

async fn store_rate(store: Arc<dyn Store>, writers: usize) -> f64 {
    let mut tasks = tokio::task::JoinSet::new();
    let deadline = Instant::now() + Duration::from_secs(SECS);
    for w in 0..writers {
        let s = store.clone();
        tasks.spawn(async move {
            let owner = Subject::public(&format!("bench-{w}")).unwrap();
            let c = s.create_conversation(&owner, "bench").await.unwrap();
            let mut n = 0u64;
            while Instant::now() < deadline {
                s.append_message(
                    &c.id,
                    NewMessage {
                        role: Role::User,
                        content: TEXT,
                        usage: None,
                    },
                )
                .await
                .unwrap();
                n += 1;
            }
            n
        });
    }
    let mut total = 0;
    while let Some(n) = tasks.join_next().await {
        total += n.unwrap();
    }
    total as f64 / SECS as f64
}

async fn sqlite_baseline(path: &std::path::Path, writers: usize) -> f64 {
    use sqlx::sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
    };
    let pool = SqlitePoolOptions::new()
        .max_connections(4)
        .connect_with(
            SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(10)),
        )
        .await
        .unwrap();
    sqlx::query("CREATE TABLE m (id INTEGER PRIMARY KEY, c TEXT NOT NULL, content TEXT NOT NULL)")
        .execute(&pool)
        .await
        .unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    let deadline = Instant::now() + Duration::from_secs(SECS);
    for w in 0..writers {
        let pool = pool.clone();
        tasks.spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                sqlx::query("INSERT INTO m (c, content) VALUES ($1, $2)")
                    .bind(format!("c{w}"))
                    .bind(TEXT)
                    .execute(&pool)
                    .await
                    .unwrap();
                n += 1;
            }
            n
        });
    }
    let mut total = 0;
    while let Some(n) = tasks.join_next().await {
        total += n.unwrap();
    }
    total as f64 / SECS as f64
}

async fn postgres_baseline(url: &str, writers: usize) -> f64 {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(16)
        .connect(url)
        .await
        .unwrap();
    sqlx::query(
        "CREATE TABLE m (id BIGSERIAL PRIMARY KEY, c TEXT NOT NULL, content TEXT NOT NULL)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    let deadline = Instant::now() + Duration::from_secs(SECS);
    for w in 0..writers {
        let pool = pool.clone();
        tasks.spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                sqlx::query("INSERT INTO m (c, content) VALUES ($1, $2)")
                    .bind(format!("c{w}"))
                    .bind(TEXT)
                    .execute(&pool)
                    .await
                    .unwrap();
                n += 1;
            }
            n
        });
    }
    let mut total = 0;
    while let Some(n) = tasks.join_next().await {
        total += n.unwrap();
    }
    total as f64 / SECS as f64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: cargo test -p sovra-store --test throughput -- --ignored --nocapture"]
async fn write_throughput() {
    let keyring = Keyring::new(Key::generate());
    eprintln!(
        "| backend | writers | Sovra store (sealed), msg/s | bare INSERT baseline, msg/s | ratio |"
    );
    eprintln!("| --- | ---: | ---: | ---: | ---: |");
    for writers in [1usize, 8] {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open_file(
            &dir.path().join("s.db"),
            keyring.clone(),
            Arc::new(SystemClock),
        )
        .await
        .unwrap();
        let sovra = store_rate(Arc::new(s), writers).await;
        let base = sqlite_baseline(&dir.path().join("b.db"), writers).await;
        eprintln!(
            "| SQLite (WAL, synchronous=FULL) | {writers} | {sovra:.0} | {base:.0} | {:.2} |",
            sovra / base
        );

        let db = TestDb::create().await.unwrap();
        let s = PostgresStore::connect(&db.url, keyring.clone(), Arc::new(SystemClock))
            .await
            .unwrap();
        let sovra = store_rate(Arc::new(s), writers).await;
        let base = postgres_baseline(&db.url, writers).await;
        eprintln!(
            "| PostgreSQL 15 (synchronous_commit=on) | {writers} | {sovra:.0} | {base:.0} | {:.2} |",
            sovra / base
        );
        db.drop_now().await.ok();
    }
}
