//! Property tests: random sequences of grants, revocations, reservations,
//! posts, voids, expiries, single-phase charges and replays keep the
//! ledger's invariants after every step: reconcile is clean (cached
//! balances equal the transfers' sum, the books sum to zero), no account
//! but a funder is below zero (posted or available), and a replay returns
//! the original result and changes nothing. Run on SQLite, and with fewer
//! cases on PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use proptest::prelude::*;
use sovra_ledger::testdb::TestDb;
use sovra_ledger::{
    Account, Error, Fund, FundStore, Funder, Ledger, ManualClock, ModelPrice, NewTransfer,
    PostgresLedger, PriceList, Programme, SqliteLedger, Transfer, spent_account,
};

const T0: i64 = 1_800_000_000_000;

#[derive(Debug, Clone)]
enum Op {
    Grant { tenant: u8, amount: u64, ttl: i64 },
    Revoke { grant: usize },
    Reserve { grant: usize, amount: u64, ttl: i64 },
    Post { res: usize, percent: u64 },
    Void { res: usize },
    Charge { grant: usize, amount: u64 },
    Advance { ms: i64 },
    Replay { done: usize },
}

fn amount() -> impl Strategy<Value = u64> {
    prop_oneof![
        8 => 1..3000u64,
        1 => Just(0u64),
        1 => Just(u64::MAX),
        1 => Just(i64::MAX as u64),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0..3u8, amount(), 1..400i64).prop_map(|(tenant, amount, ttl)| Op::Grant { tenant, amount, ttl }),
        1 => any::<usize>().prop_map(|grant| Op::Revoke { grant }),
        4 => (any::<usize>(), amount(), 1..300i64).prop_map(|(grant, amount, ttl)| Op::Reserve { grant, amount, ttl }),
        3 => (any::<usize>(), 0..=110u64).prop_map(|(res, percent)| Op::Post { res, percent }),
        2 => any::<usize>().prop_map(|res| Op::Void { res }),
        1 => (any::<usize>(), amount()).prop_map(|(grant, amount)| Op::Charge { grant, amount }),
        2 => (0..150i64).prop_map(|ms| Op::Advance { ms }),
        2 => any::<usize>().prop_map(|done| Op::Replay { done }),
    ]
}

/// A write that succeeded, to replay.
#[derive(Debug, Clone)]
enum Done {
    Reserve(NewTransfer, i64, Transfer),
    Post(String, String, u64, Transfer),
    Void(String, String, Transfer),
    Charge(NewTransfer, Transfer),
}

fn allowed(e: &Error) -> bool {
    matches!(
        e,
        Error::InsufficientCredits { .. }
            | Error::Invalid { .. }
            | Error::Expired { .. }
            | Error::Settled { .. }
            | Error::NotFound { .. }
    )
}

async fn snapshot(l: &dyn Ledger, ids: &[String]) -> Vec<Account> {
    let mut out = Vec::new();
    for id in ids {
        out.push(l.account(id).await.unwrap());
    }
    out
}

async fn run(l: Arc<dyn Ledger>, s: Arc<dyn FundStore>, clock: ManualClock, ops: Vec<Op>) {
    let fund = Fund::new(l.clone(), s, Arc::new(clock.clone()));
    fund.add_funder(&Funder {
        id: "f".into(),
        name: "F".into(),
    })
    .await
    .unwrap();
    fund.add_programme(&Programme {
        id: "p".into(),
        name: "P".into(),
        eligibility: "any".into(),
        starts_at: T0,
        ends_at: T0 + 1_000_000,
        prices: PriceList {
            models: vec![ModelPrice {
                model: "m".into(),
                prompt_per_1k: 10,
                completion_per_1k: 30,
            }],
            embeddings_per_1k: 1,
            retrieval_per_query: 1,
        },
    })
    .await
    .unwrap();
    fund.contribute("c", "f", "p", 20_000).await.unwrap();
    let mut accounts: Vec<String> = ["funder:f", "programme:p", "spent:p", "expired:p"]
        .map(String::from)
        .to_vec();
    let mut grants: Vec<String> = Vec::new();
    let mut reservations: Vec<(String, u64)> = Vec::new();
    let mut done: Vec<Done> = Vec::new();
    for (n, op) in ops.into_iter().enumerate() {
        let step = format!("step {n}: {op:?}");
        let result: Result<(), Error> = async {
            match op {
                Op::Grant {
                    tenant,
                    amount,
                    ttl,
                } => {
                    let app = format!("app-{n}");
                    fund.apply(&app, &format!("t{tenant}"), "p", "please")
                        .await?;
                    let g = fund.approve(&app, amount, clock.now() + ttl).await?;
                    accounts.push(g.account.clone());
                    grants.push(g.account);
                }
                Op::Revoke { grant } if !grants.is_empty() => {
                    let g = &grants[grant % grants.len()];
                    fund.revoke(g.trim_start_matches("grant:"), "revoked")
                        .await?;
                }
                Op::Reserve { grant, amount, ttl } if !grants.is_empty() => {
                    let g = &grants[grant % grants.len()];
                    let new =
                        NewTransfer::new(format!("res-{n}"), g, spent_account("p"), amount, "req");
                    let expires = clock.now() + ttl;
                    let t = l.reserve(new.clone(), expires).await?;
                    reservations.push((t.id.clone(), amount));
                    done.push(Done::Reserve(new, expires, t));
                }
                Op::Post { res, percent } if !reservations.is_empty() => {
                    let (r, held) = reservations[res % reservations.len()].clone();
                    let amount = (u128::from(held) * u128::from(percent) / 100) as u64;
                    let id = format!("post-{n}");
                    let t = l.post(&id, &r, amount, "used").await?;
                    done.push(Done::Post(id, r, amount, t));
                }
                Op::Void { res } if !reservations.is_empty() => {
                    let (r, _) = reservations[res % reservations.len()].clone();
                    let id = format!("void-{n}");
                    let t = l.void(&id, &r, "cancelled").await?;
                    done.push(Done::Void(id, r, t));
                }
                Op::Charge { grant, amount } if !grants.is_empty() => {
                    let g = &grants[grant % grants.len()];
                    let new = NewTransfer::new(
                        format!("charge-{n}"),
                        g,
                        spent_account("p"),
                        amount,
                        "embeddings",
                    );
                    let t = l.transfer(new.clone()).await?;
                    done.push(Done::Charge(new, t));
                }
                Op::Advance { ms } => {
                    clock.advance(ms);
                    l.expire_due(clock.now()).await?;
                    fund.expire_grants().await?;
                }
                Op::Replay { done: i } if !done.is_empty() => {
                    let before = snapshot(&*l, &accounts).await;
                    let d = done[i % done.len()].clone();
                    let (again, original) = match d {
                        Done::Reserve(new, expires, t) => (l.reserve(new, expires).await, t),
                        Done::Post(id, r, amount, t) => (l.post(&id, &r, amount, "used").await, t),
                        Done::Void(id, r, t) => (l.void(&id, &r, "cancelled").await, t),
                        Done::Charge(new, t) => (l.transfer(new).await, t),
                    };
                    assert_eq!(
                        again.unwrap(),
                        original,
                        "{step}: a replay returns the original"
                    );
                    assert_eq!(
                        snapshot(&*l, &accounts).await,
                        before,
                        "{step}: a replay changes nothing"
                    );
                }
                _ => {}
            }
            Ok(())
        }
        .await;
        if let Err(e) = &result {
            assert!(allowed(e), "{step}: unexpected error {e}");
        }
        let r = l.reconcile().await.unwrap();
        assert!(r.is_clean(), "{step}: {r:?}");
        for a in snapshot(&*l, &accounts).await {
            if !a.may_go_negative {
                assert!(a.balance >= 0 && a.available() >= 0, "{step}: {a:?}");
            }
        }
    }
}

trait Now {
    fn now(&self) -> i64;
}
impl Now for ManualClock {
    fn now(&self) -> i64 {
        sovra_ledger::Clock::now_ms(self)
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn sqlite_keeps_the_invariants(ops in prop::collection::vec(op(), 1..50)) {
        let rt = runtime();
        rt.block_on(async {
            let clock = ManualClock::at(T0);
            let l = Arc::new(SqliteLedger::in_memory(Arc::new(clock.clone())).await.unwrap());
            run(l.clone(), l, clock, ops).await;
        });
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

    #[test]
    fn postgres_keeps_the_invariants(ops in prop::collection::vec(op(), 1..50)) {
        let rt = runtime();
        rt.block_on(async {
            let db = TestDb::create().await.unwrap();
            let clock = ManualClock::at(T0);
            let l = Arc::new(
                PostgresLedger::connect_with(&db.url, 2, Arc::new(clock.clone())).await.unwrap(),
            );
            run(l.clone(), l.clone(), clock, ops).await;
            drop(l);
            db.drop_now().await.ok();
        });
    }
}
