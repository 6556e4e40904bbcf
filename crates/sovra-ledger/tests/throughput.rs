//! Throughput of the ledger with durability on: reserve+post pairs per
//! second (each a transaction acknowledged after commit), by 1 and by 8
//! concurrent workers, each on its own grant and all on one shared grant
//! (every pair then waits on the same account row); then the time
//! `reconcile` takes over every transfer written, and again after a bulk
//! load of settled reservations written straight in SQL (with their cached
//! balances) to reach a size no benchmark run could write through the
//! ledger in minutes. Ignored by default; see docs/benchmarks.md for the
//! command. `SOVRA_LEDGER_BENCH_SECS` sets the seconds per configuration
//! (default 10), `SOVRA_LEDGER_BENCH_BULK` the reservations bulk-loaded
//! (default 1,000,000, i.e. 2,000,000 transfer rows).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use sovra_ledger::testdb::TestDb;
use sovra_ledger::{
    AccountKind, Ledger, NewAccount, NewTransfer, PostgresLedger, SqliteLedger, SystemClock,
};

fn bulk() -> i64 {
    std::env::var("SOVRA_LEDGER_BENCH_BULK")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000)
}

fn secs() -> u64 {
    std::env::var("SOVRA_LEDGER_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10)
}

/// Pairs per second by `workers`, on their own grants or one shared grant.
async fn pairs_per_sec(l: Arc<dyn Ledger>, run: &str, workers: usize, shared: bool) -> f64 {
    l.create_account(NewAccount::new("spent", AccountKind::Spent, "o"))
        .await
        .unwrap();
    l.create_account(NewAccount::new("funder", AccountKind::Funder, "o"))
        .await
        .unwrap();
    for w in 0..workers {
        let g = if shared {
            format!("{run}-g")
        } else {
            format!("{run}-g{w}")
        };
        l.create_account(NewAccount::new(&g, AccountKind::Grant, "t"))
            .await
            .unwrap();
        l.transfer(NewTransfer::new(&g, "funder", &g, 1 << 50, "grant"))
            .await
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(secs());
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..workers {
        let l = l.clone();
        let g = if shared {
            format!("{run}-g")
        } else {
            format!("{run}-g{w}")
        };
        let run = run.to_owned();
        tasks.spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                let r = format!("{run}-{w}-{n}");
                l.reserve(
                    NewTransfer::new(&r, &g, "spent", 1000, "request"),
                    i64::MAX - 1,
                )
                .await
                .unwrap();
                l.post(&format!("{r}-p"), &r, 640, "used").await.unwrap();
                n += 1;
            }
            n
        });
    }
    let mut total = 0;
    while let Some(n) = tasks.join_next().await {
        total += n.unwrap();
    }
    total as f64 / start.elapsed().as_secs_f64()
}

type Open<'a> =
    dyn Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = Arc<dyn Ledger>>>> + 'a;
type Load<'a> =
    dyn Fn(Vec<String>) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>> + 'a;

async fn time_reconcile(l: &dyn Ledger) {
    let t = Instant::now();
    let r = l.reconcile().await.unwrap();
    let took = t.elapsed();
    assert!(r.is_clean(), "{r:?}");
    eprintln!(
        "reconcile: {} transfers over {} accounts in {:.0} ms ({:.0} transfers/s)",
        r.transfers,
        r.accounts,
        took.as_secs_f64() * 1000.0,
        r.transfers as f64 / took.as_secs_f64()
    );
}

/// `n` reserved-and-posted pairs on one grant, with the cached balances.
fn bulk_sql(n: i64, postgres: bool) -> Vec<String> {
    let posted = 640 * n;
    let series = if postgres {
        format!("WITH s(i) AS (SELECT generate_series(1, {n}))")
    } else {
        format!("WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n})")
    };
    vec![
        format!(
            "INSERT INTO ledger_accounts (id, kind, owner, may_go_negative, balance, held, created_at) VALUES ('bulk-g', 'grant', 't', false, {posted}, 0, 0)"
        ),
        format!("UPDATE ledger_accounts SET balance = balance - {posted} WHERE id = 'funder'"),
        format!(
            "INSERT INTO ledger_transfers (id, kind, debit_account, credit_account, amount, pending_id, expires_at, reason, created_at) VALUES ('bulk-grant', 'posted', 'funder', 'bulk-g', {posted}, NULL, NULL, 'grant', 0)"
        ),
        format!(
            "{series} INSERT INTO ledger_transfers (id, kind, debit_account, credit_account, amount, pending_id, expires_at, reason, created_at) SELECT 'bulk-' || CAST(i AS TEXT), 'pending', 'bulk-g', 'spent', 1000, NULL, 9000000000000000000, 'request', 0 FROM s"
        ),
        format!(
            "{series} INSERT INTO ledger_transfers (id, kind, debit_account, credit_account, amount, pending_id, expires_at, reason, created_at) SELECT 'bulk-' || CAST(i AS TEXT) || '-p', 'post', 'bulk-g', 'spent', 640, 'bulk-' || CAST(i AS TEXT), NULL, 'used', 0 FROM s"
        ),
        format!("UPDATE ledger_accounts SET balance = balance - {posted} WHERE id = 'bulk-g'"),
        format!("UPDATE ledger_accounts SET balance = balance + {posted} WHERE id = 'spent'"),
    ]
}

async fn report(name: &str, postgres: bool, open: &Open<'_>, load: &Load<'_>) {
    eprintln!("\n{name}, {} s per configuration", secs());
    eprintln!("| workers | grants | reserve+post pairs/s |");
    eprintln!("| ---: | --- | ---: |");
    let l = open().await;
    for (workers, shared) in [(1, false), (8, false), (8, true)] {
        let run = format!("w{workers}{}", if shared { "s" } else { "" });
        let rate = pairs_per_sec(l.clone(), &run, workers, shared).await;
        eprintln!(
            "| {workers} | {} | {rate:.0} |",
            if shared { "one shared" } else { "one each" }
        );
    }
    time_reconcile(&*l).await;
    let t = Instant::now();
    load(bulk_sql(bulk(), postgres)).await;
    eprintln!(
        "bulk load of {} reservation pairs in SQL: {:.1} s",
        bulk(),
        t.elapsed().as_secs_f64()
    );
    time_reconcile(&*l).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "benchmark; see docs/benchmarks.md"]
async fn ledger_throughput() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    report(
        "SQLite (WAL, synchronous=FULL, 4 connections)",
        false,
        &|| {
            let path = path.clone();
            Box::pin(async move {
                let l: Arc<dyn Ledger> = Arc::new(
                    SqliteLedger::open_with(&path, Arc::new(SystemClock))
                        .await
                        .unwrap(),
                );
                l
            })
        },
        &|stmts| {
            let path = path.clone();
            Box::pin(async move {
                use sqlx::Connection;
                let mut c =
                    sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
                        .await
                        .unwrap();
                let mut tx = c.begin().await.unwrap();
                for s in stmts {
                    sqlx::query(&s).execute(&mut *tx).await.unwrap();
                }
                tx.commit().await.unwrap();
            })
        },
    )
    .await;
    let db = TestDb::create().await.unwrap();
    let url = db.url.clone();
    report(
        "PostgreSQL (synchronous_commit=on, 16 connections)",
        true,
        &|| {
            let url = url.clone();
            Box::pin(async move {
                let l: Arc<dyn Ledger> = Arc::new(PostgresLedger::connect(&url).await.unwrap());
                l
            })
        },
        &|stmts| {
            let url = url.clone();
            Box::pin(async move {
                use sqlx::Connection;
                let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
                let mut tx = c.begin().await.unwrap();
                for s in stmts {
                    sqlx::query(&s).execute(&mut *tx).await.unwrap();
                }
                tx.commit().await.unwrap();
            })
        },
    )
    .await;
    db.drop_now().await.ok();
}
