//! Races between replicas: 200 requests reserve-then-post against one grant
//! that covers exactly N of them, through two separate connection pools
//! (two Sovra replicas sharing the database); and requests dropped
//! mid-way whose holds come back through `expire_due`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use sovra_ledger::testdb::TestDb;
use sovra_ledger::{
    AccountKind, Clock, Error, Ledger, ManualClock, NewAccount, NewTransfer, PostgresLedger,
    SqliteLedger,
};

const TASKS: usize = 200;
const N: u64 = 37;
const COST: u64 = 250;
const T0: i64 = 1_800_000_000_000;

async fn open_accounts(l: &dyn Ledger, grant: u64) {
    for (id, kind) in [
        ("funder", AccountKind::Funder),
        ("grant", AccountKind::Grant),
        ("spent", AccountKind::Spent),
    ] {
        l.create_account(NewAccount::new(id, kind, "o"))
            .await
            .unwrap();
    }
    l.transfer(NewTransfer::new("fund", "funder", "grant", grant, "grant"))
        .await
        .unwrap();
}

/// Every task reserves `COST` and posts it; exactly `N` may succeed.
async fn race(replicas: [Arc<dyn Ledger>; 2]) {
    open_accounts(&*replicas[0], N * COST).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..TASKS {
        let l = replicas[i % 2].clone();
        tasks.spawn(async move {
            let res = format!("req-{i}");
            match l
                .reserve(
                    NewTransfer::new(&res, "grant", "spent", COST, "request"),
                    T0 + 3_600_000,
                )
                .await
            {
                Ok(_) => {
                    l.post(&format!("{res}-post"), &res, COST, "used")
                        .await
                        .unwrap();
                    true
                }
                Err(Error::InsufficientCredits { requested, .. }) => {
                    assert_eq!(requested, COST);
                    false
                }
                Err(e) => panic!("only insufficient credits may refuse a request: {e}"),
            }
        });
    }
    let mut ok = 0;
    while let Some(r) = tasks.join_next().await {
        ok += u64::from(r.unwrap());
    }
    assert_eq!(ok, N, "exactly the grant's worth of requests succeed");
    let g = replicas[1].account("grant").await.unwrap();
    assert_eq!((g.balance, g.held), (0, 0));
    assert_eq!(
        replicas[0].account("spent").await.unwrap().balance,
        i64::try_from(N * COST).unwrap()
    );
    let r = replicas[1].reconcile().await.unwrap();
    assert!(r.is_clean(), "{r:?}");
    assert_eq!(r.transfers, 1 + 2 * N);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_two_replicas_never_overdraw_a_grant() {
    let db = TestDb::create().await.unwrap();
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::at(T0));
    let a = PostgresLedger::connect_with(&db.url, 10, clock.clone())
        .await
        .unwrap();
    let b = PostgresLedger::connect_with(&db.url, 10, clock)
        .await
        .unwrap();
    race([Arc::new(a), Arc::new(b)]).await;
    db.drop_now().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_two_pools_never_overdraw_a_grant() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::at(T0));
    let a = SqliteLedger::open_with(&path, clock.clone()).await.unwrap();
    let b = SqliteLedger::open_with(&path, clock).await.unwrap();
    race([Arc::new(a), Arc::new(b)]).await;
}

/// Requests that reserve and then vanish (their tasks aborted while they
/// wait on the engine, as a crashed replica would) leave holds that
/// `expire_due` releases.
async fn crash(l: Arc<dyn Ledger>, clock: ManualClock) {
    open_accounts(&*l, 1_000_000).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..60 {
        let l = l.clone();
        tasks.spawn(async move {
            let res = format!("crash-{i}");
            l.reserve(
                NewTransfer::new(&res, "grant", "spent", 1000, "request"),
                T0 + 30_000,
            )
            .await
            .unwrap();
            // The engine call that never returns.
            tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
            l.post(&format!("{res}-post"), &res, 10, "used")
                .await
                .unwrap();
        });
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    let held = l.account("grant").await.unwrap().held;
    assert!(held > 0, "some holds were left behind");
    assert!(l.reconcile().await.unwrap().is_clean());
    assert!(l.expire_due(T0 + 29_999).await.unwrap().is_empty());
    clock.set(T0 + 30_000);
    let expired = l.expire_due(T0 + 30_000).await.unwrap();
    assert_eq!(
        expired.iter().map(|t| t.amount).sum::<u64>(),
        u64::try_from(held).unwrap(),
        "every hold comes back"
    );
    let g = l.account("grant").await.unwrap();
    assert_eq!((g.balance, g.held), (1_000_000, 0));
    assert!(l.reconcile().await.unwrap().is_clean());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_abandoned_reservations_expire_back() {
    let db = TestDb::create().await.unwrap();
    let clock = ManualClock::at(T0);
    let l = PostgresLedger::connect_with(&db.url, 8, Arc::new(clock.clone()))
        .await
        .unwrap();
    crash(Arc::new(l), clock).await;
    db.drop_now().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_abandoned_reservations_expire_back() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at(T0);
    let l = SqliteLedger::open_with(&dir.path().join("l.db"), Arc::new(clock.clone()))
        .await
        .unwrap();
    crash(Arc::new(l), clock).await;
}

/// Two replicas settle the same reservations at once: for each, one posts,
/// one voids, and both run `expire_due` after its expiry. Exactly one
/// settlement per reservation lands; the losers get `Settled` (or, for
/// expiry, skip it), and no hold is released twice.
async fn settle_race(replicas: [Arc<dyn Ledger>; 2], clock: ManualClock) {
    const R: usize = 60;
    open_accounts(&*replicas[0], 1_000_000).await;
    for i in 0..R {
        replicas[i % 2]
            .reserve(
                NewTransfer::new(format!("r{i}"), "grant", "spent", 100, "request"),
                T0 + 1000,
            )
            .await
            .unwrap();
    }
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..R {
        let (a, b) = (replicas[i % 2].clone(), replicas[(i + 1) % 2].clone());
        tasks.spawn(async move {
            match a.post(&format!("p{i}"), &format!("r{i}"), 60, "used").await {
                Ok(_) => 1u64,
                Err(Error::Settled { .. }) => 0,
                Err(e) => panic!("post: {e}"),
            }
        });
        tasks.spawn(async move {
            match b
                .void(&format!("v{i}"), &format!("r{i}"), "cancelled")
                .await
            {
                Ok(_) => 1u64,
                Err(Error::Settled { .. }) => 0,
                Err(e) => panic!("void: {e}"),
            }
        });
    }
    let mut settled = 0;
    while let Some(n) = tasks.join_next().await {
        settled += n.unwrap();
    }
    assert_eq!(settled, R as u64, "one of post and void wins each race");
    // A second batch left to expire, expired by both replicas at once.
    for i in 0..R {
        replicas[0]
            .reserve(
                NewTransfer::new(format!("e{i}"), "grant", "spent", 100, "request"),
                T0 + 1000,
            )
            .await
            .unwrap();
    }
    clock.set(T0 + 1000);
    let (x, y) = tokio::join!(
        replicas[0].expire_due(T0 + 1000),
        replicas[1].expire_due(T0 + 1000)
    );
    let expired = x.unwrap().len() + y.unwrap().len();
    assert_eq!(expired, R, "each reservation expired once, counted once");
    let g = replicas[1].account("grant").await.unwrap();
    assert_eq!(g.held, 0);
    let r = replicas[0].reconcile().await.unwrap();
    assert!(r.is_clean(), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_two_replicas_settle_each_reservation_once() {
    let db = TestDb::create().await.unwrap();
    let clock = ManualClock::at(T0);
    let a = PostgresLedger::connect_with(&db.url, 8, Arc::new(clock.clone()))
        .await
        .unwrap();
    let b = PostgresLedger::connect_with(&db.url, 8, Arc::new(clock.clone()))
        .await
        .unwrap();
    settle_race([Arc::new(a), Arc::new(b)], clock).await;
    db.drop_now().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_two_pools_settle_each_reservation_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.db");
    let clock = ManualClock::at(T0);
    let a = SqliteLedger::open_with(&path, Arc::new(clock.clone()))
        .await
        .unwrap();
    let b = SqliteLedger::open_with(&path, Arc::new(clock.clone()))
        .await
        .unwrap();
    settle_race([Arc::new(a), Arc::new(b)], clock).await;
}
