//! The behaviour every backend must have, as one suite.
//!
//! Each backend's tests call [`run_all`] with an [`Opener`], which opens a
//! fresh, empty ledger reading the given clock. Failures panic with a
//! message naming the broken promise.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::{
    AccountKind, ApplicationState, Clock, Error, Fund, FundStore, Funder, GrantState, Ledger,
    ManualClock, ModelPrice, NewAccount, NewTransfer, PriceList, Programme, ReservationState,
    TransferKind, Usage,
};

/// A fresh ledger and its fund records (the same database).
pub type Opening = Pin<Box<dyn Future<Output = (Arc<dyn Ledger>, Arc<dyn FundStore>)> + Send>>;

/// Opens a fresh, empty ledger with this clock.
pub type Opener = dyn Fn(Arc<dyn Clock>) -> Opening + Sync;

const T0: i64 = 1_800_000_000_000;

/// Run every conformance check, each on a fresh ledger.
pub async fn run_all(open: &Opener) {
    accounts_open_idempotently(open).await;
    transfers_move_balances_and_replay(open).await;
    two_phase_reserve_post_void_expire(open).await;
    the_fund_from_contribution_to_charge(open).await;
    grants_expire_and_revoke(open).await;
}

async fn clean(l: &dyn Ledger) {
    let r = l.reconcile().await.expect("reconcile");
    assert!(r.is_clean(), "reconcile is clean: {r:?}");
}

async fn setup(open: &Opener) -> (Arc<dyn Ledger>, Arc<dyn FundStore>, ManualClock) {
    let clock = ManualClock::at(T0);
    let (l, s) = open(Arc::new(clock.clone())).await;
    (l, s, clock)
}

async fn accounts_open_idempotently(open: &Opener) {
    let (l, _, _) = setup(open).await;
    let f = l
        .create_account(NewAccount::new("funder:eu", AccountKind::Funder, "eu"))
        .await
        .unwrap();
    assert!(f.may_go_negative, "a funder is a source");
    assert_eq!((f.balance, f.held), (0, 0));
    let again = l
        .create_account(NewAccount::new("funder:eu", AccountKind::Funder, "eu"))
        .await
        .unwrap();
    assert_eq!(again, f, "opening again returns the account");
    let g = l
        .create_account(NewAccount::new("grant:1", AccountKind::Grant, "t1"))
        .await
        .unwrap();
    assert!(!g.may_go_negative, "a grant never goes negative");
    assert!(matches!(
        l.create_account(NewAccount::new("funder:eu", AccountKind::Grant, "eu"))
            .await,
        Err(Error::Conflict { field: "kind", .. })
    ));
    assert!(matches!(
        l.create_account(NewAccount::new("funder:eu", AccountKind::Funder, "us"))
            .await,
        Err(Error::Conflict { field: "owner", .. })
    ));
    assert!(matches!(
        l.create_account(NewAccount::new("a b", AccountKind::Funder, "x"))
            .await,
        Err(Error::Invalid { field: "id", .. })
    ));
    assert!(matches!(
        l.account("nobody").await,
        Err(Error::NotFound { .. })
    ));
    clean(&*l).await;
}

async fn transfers_move_balances_and_replay(open: &Opener) {
    let (l, _, clock) = setup(open).await;
    for (id, kind) in [
        ("f", AccountKind::Funder),
        ("p", AccountKind::Programme),
        ("s", AccountKind::Spent),
    ] {
        l.create_account(NewAccount::new(id, kind, "o"))
            .await
            .unwrap();
    }
    let t = l
        .transfer(NewTransfer::new("c1", "f", "p", 1000, "contribution"))
        .await
        .unwrap();
    assert_eq!(t.kind, TransferKind::Posted);
    assert_eq!(l.account("f").await.unwrap().balance, -1000);
    assert_eq!(l.account("p").await.unwrap().balance, 1000);

    clock.advance(5);
    let replay = l
        .transfer(NewTransfer::new("c1", "f", "p", 1000, "contribution"))
        .await
        .unwrap();
    assert_eq!(
        replay, t,
        "a replay returns the original, timestamp included"
    );
    assert_eq!(
        l.account("p").await.unwrap().balance,
        1000,
        "a replay changes nothing"
    );
    for (new, field) in [
        (
            NewTransfer::new("c1", "f", "p", 999, "contribution"),
            "amount",
        ),
        (
            NewTransfer::new("c1", "f", "s", 1000, "contribution"),
            "credit",
        ),
        (
            NewTransfer::new("c1", "p", "s", 1000, "contribution"),
            "debit",
        ),
        (NewTransfer::new("c1", "f", "p", 1000, "other"), "reason"),
    ] {
        let err = l.transfer(new).await.unwrap_err();
        assert!(
            matches!(err, Error::Conflict { field: f, .. } if f == field),
            "reuse with another {field}: {err}"
        );
    }
    // A reservation's id is not a transfer's.
    assert!(matches!(
        l.reserve(
            NewTransfer::new("c1", "f", "p", 1000, "contribution"),
            T0 + 100
        )
        .await,
        Err(Error::Conflict { field: "kind", .. })
    ));
    for (amount, what) in [
        (0u64, "zero"),
        (i64::MAX as u64 + 1, "past i64"),
        (u64::MAX, "u64::MAX"),
    ] {
        assert!(
            matches!(
                l.transfer(NewTransfer::new("bad", "f", "p", amount, "x"))
                    .await,
                Err(Error::Invalid {
                    field: "amount",
                    ..
                })
            ),
            "{what} is refused"
        );
    }
    assert!(matches!(
        l.transfer(NewTransfer::new("self", "p", "p", 1, "x")).await,
        Err(Error::Invalid {
            field: "credit",
            ..
        })
    ));
    assert!(matches!(
        l.transfer(NewTransfer::new("ghost", "f", "nobody", 1, "x"))
            .await,
        Err(Error::NotFound { .. })
    ));
    let err = l
        .transfer(NewTransfer::new("over", "p", "s", 1001, "x"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InsufficientCredits { account, available: 1000, requested: 1001 } if account == "p"),
        "{err}"
    );
    assert!(
        matches!(l.transfer_by_id("over").await, Err(Error::NotFound { .. })),
        "a refused transfer leaves no row"
    );
    l.transfer(NewTransfer::new("all", "p", "s", 1000, "x"))
        .await
        .unwrap();
    assert_eq!(
        l.account("p").await.unwrap().balance,
        0,
        "down to exactly zero"
    );
    // A source may go negative, but not past what a BIGINT holds.
    l.transfer(NewTransfer::new(
        "huge",
        "f",
        "p",
        i64::MAX as u64 - 2000,
        "x",
    ))
    .await
    .unwrap();
    let err = l
        .transfer(NewTransfer::new("overflow", "f", "p", 5000, "x"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Invalid {
                field: "amount",
                ..
            }
        ),
        "{err}"
    );
    clean(&*l).await;
}

async fn two_phase_reserve_post_void_expire(open: &Opener) {
    let (l, _, clock) = setup(open).await;
    for (id, kind) in [
        ("f", AccountKind::Funder),
        ("g", AccountKind::Grant),
        ("s", AccountKind::Spent),
    ] {
        l.create_account(NewAccount::new(id, kind, "o"))
            .await
            .unwrap();
    }
    l.transfer(NewTransfer::new("fund", "f", "g", 1000, "grant"))
        .await
        .unwrap();
    let r1 = l
        .reserve(NewTransfer::new("r1", "g", "s", 300, "req"), T0 + 1000)
        .await
        .unwrap();
    assert_eq!(r1.kind, TransferKind::Pending);
    let g = l.account("g").await.unwrap();
    assert_eq!((g.balance, g.held, g.available()), (1000, 300, 700));
    let err = l
        .reserve(NewTransfer::new("r2", "g", "s", 701, "req"), T0 + 1000)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::InsufficientCredits {
                available: 700,
                requested: 701,
                ..
            }
        ),
        "holds count against available: {err}"
    );
    assert!(
        matches!(
            l.transfer(NewTransfer::new("t", "g", "s", 701, "x")).await,
            Err(Error::InsufficientCredits { .. })
        ),
        "and against single-phase transfers"
    );
    assert_eq!(
        l.reserve(NewTransfer::new("r1", "g", "s", 300, "req"), T0 + 1000)
            .await
            .unwrap(),
        r1,
        "replayed reservation"
    );
    assert!(matches!(
        l.reserve(NewTransfer::new("r1", "g", "s", 300, "req"), T0 + 999)
            .await,
        Err(Error::Conflict {
            field: "expires_at",
            ..
        })
    ));
    assert!(matches!(
        l.post("p1", "r1", 301, "used").await,
        Err(Error::Invalid {
            field: "amount",
            ..
        })
    ));
    let p1 = l.post("p1", "r1", 200, "used").await.unwrap();
    assert_eq!((p1.kind, p1.amount), (TransferKind::Post, 200));
    let g = l.account("g").await.unwrap();
    assert_eq!((g.balance, g.held), (800, 0), "the remainder is released");
    assert_eq!(l.account("s").await.unwrap().balance, 200);
    assert_eq!(l.post("p1", "r1", 200, "used").await.unwrap(), p1, "replay");
    assert!(matches!(
        l.post("p1", "r1", 100, "used").await,
        Err(Error::Conflict {
            field: "amount",
            ..
        })
    ));
    let err = l.post("p2", "r1", 100, "used").await.unwrap_err();
    assert!(
        matches!(&err, Error::Settled { state, .. } if state == "posted"),
        "{err}"
    );
    assert!(matches!(
        l.void("v1", "r1", "x").await,
        Err(Error::Settled { .. })
    ));
    assert!(matches!(
        l.post("p3", "fund", 1, "x").await,
        Err(Error::Invalid {
            field: "pending_id",
            ..
        })
    ));
    assert!(matches!(
        l.post("p4", "nothing", 1, "x").await,
        Err(Error::NotFound { .. })
    ));
    let r = l.reservation("r1").await.unwrap();
    assert_eq!(r.state, ReservationState::Posted);
    assert_eq!(r.settled_by, Some(p1));

    l.reserve(NewTransfer::new("r3", "g", "s", 800, "req"), T0 + 1000)
        .await
        .unwrap();
    assert_eq!(l.account("g").await.unwrap().available(), 0);
    let v = l.void("v3", "r3", "cancelled").await.unwrap();
    assert_eq!((v.kind, v.amount), (TransferKind::Void, 800));
    assert_eq!(l.void("v3", "r3", "cancelled").await.unwrap(), v, "replay");
    let g = l.account("g").await.unwrap();
    assert_eq!((g.balance, g.held), (800, 0), "a void moves nothing");
    assert_eq!(
        l.reservation("r3").await.unwrap().state,
        ReservationState::Voided
    );

    assert!(matches!(
        l.reserve(NewTransfer::new("r4", "g", "s", 1, "req"), T0)
            .await,
        Err(Error::Invalid {
            field: "expires_at",
            ..
        })
    ));
    l.reserve(NewTransfer::new("r5", "g", "s", 100, "req"), T0 + 10)
        .await
        .unwrap();
    l.reserve(NewTransfer::new("r6", "g", "s", 100, "req"), T0 + 20)
        .await
        .unwrap();
    assert!(
        l.expire_due(T0 + 9).await.unwrap().is_empty(),
        "none due yet"
    );
    clock.set(T0 + 10);
    assert!(
        matches!(
            l.post("p5", "r5", 50, "late").await,
            Err(Error::Expired { .. })
        ),
        "a post at or past expiry is refused"
    );
    let expired = l.expire_due(T0 + 10).await.unwrap();
    assert_eq!(expired.len(), 1);
    assert_eq!(
        (expired[0].kind, expired[0].pending_id.as_deref()),
        (TransferKind::Expire, Some("r5"))
    );
    assert!(
        l.expire_due(T0 + 10).await.unwrap().is_empty(),
        "expired once"
    );
    assert_eq!(
        l.reservation("r5").await.unwrap().state,
        ReservationState::Expired
    );
    assert!(matches!(
        l.void("v5", "r5", "x").await,
        Err(Error::Settled { .. })
    ));
    assert_eq!(l.account("g").await.unwrap().held, 100, "r6 still held");
    clock.set(T0 + 100);
    assert_eq!(l.expire_due(T0 + 100).await.unwrap().len(), 1);
    let g = l.account("g").await.unwrap();
    assert_eq!((g.balance, g.held), (800, 0));
    clean(&*l).await;
}

fn programme(id: &str) -> Programme {
    Programme {
        id: id.into(),
        name: "Estonian AI start-ups 2027".into(),
        eligibility: "Registered in Estonia, under 3 years old".into(),
        starts_at: T0 - 1000,
        ends_at: T0 + 1_000_000,
        prices: PriceList {
            models: vec![
                ModelPrice {
                    model: "smollm2".into(),
                    prompt_per_1k: 100,
                    completion_per_1k: 300,
                },
                ModelPrice {
                    model: "gemma3".into(),
                    prompt_per_1k: 200,
                    completion_per_1k: 600,
                },
            ],
            embeddings_per_1k: 5,
            retrieval_per_query: 2,
        },
    }
}

async fn the_fund_from_contribution_to_charge(open: &Opener) {
    let (l, s, clock) = setup(open).await;
    let fund = Fund::new(l.clone(), s.clone(), Arc::new(clock.clone()));
    let eu = Funder {
        id: "eu".into(),
        name: "EU Digital Fund".into(),
    };
    fund.add_funder(&eu).await.unwrap();
    fund.add_funder(&eu).await.unwrap();
    assert!(matches!(
        fund.add_funder(&Funder {
            id: "eu".into(),
            name: "Other".into()
        })
        .await,
        Err(Error::Conflict { field: "name", .. })
    ));
    let p = programme("ai27");
    let stored = fund.add_programme(&p).await.unwrap();
    assert_eq!(stored.prices.models.len(), 2);
    assert_eq!(s.programme("ai27").await.unwrap(), stored);
    let mut other = p.clone();
    other.prices.models[0].completion_per_1k = 1;
    assert!(matches!(
        fund.add_programme(&other).await,
        Err(Error::Conflict {
            field: "prices",
            ..
        })
    ));
    fund.contribute("contrib-1", "eu", "ai27", 100_000)
        .await
        .unwrap();
    assert_eq!(
        l.account(&crate::programme_account("ai27"))
            .await
            .unwrap()
            .balance,
        100_000
    );

    let app = fund
        .apply("app-1", "startup-a", "ai27", "We build a legal assistant")
        .await
        .unwrap();
    assert_eq!(app.state, ApplicationState::Pending);
    fund.apply("app-2", "startup-b", "ai27", "Chatbot")
        .await
        .unwrap();
    let big = fund
        .apply("app-3", "startup-c", "ai27", "Everything")
        .await
        .unwrap();
    let grant = fund.approve("app-1", 10_000, T0 + 50_000).await.unwrap();
    assert_eq!(grant.state, GrantState::Active);
    assert_eq!(
        fund.approve("app-1", 10_000, T0 + 50_000).await.unwrap().id,
        grant.id,
        "approving again returns the grant"
    );
    assert!(matches!(
        fund.approve("app-1", 20_000, T0 + 50_000).await,
        Err(Error::Conflict {
            field: "amount",
            ..
        })
    ));
    let rejected = fund.reject("app-2", "not eligible").await.unwrap();
    assert_eq!(rejected.state, ApplicationState::Rejected);
    assert_eq!(rejected.reason.as_deref(), Some("not eligible"));
    assert!(matches!(
        fund.approve("app-2", 1, T0 + 10).await,
        Err(Error::Conflict { field: "state", .. })
    ));
    assert!(matches!(
        fund.reject("app-1", "changed my mind").await,
        Err(Error::Conflict { field: "state", .. })
    ));
    let err = fund
        .approve(&big.id, 90_001, T0 + 50_000)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::InsufficientCredits {
                available: 90_000,
                requested: 90_001,
                ..
            }
        ),
        "a programme grants only what it holds: {err}"
    );
    clock.set(T0 + 2_000_000);
    assert!(matches!(
        fund.apply("app-late", "startup-d", "ai27", "late").await,
        Err(Error::Invalid {
            field: "programme",
            ..
        })
    ));
    clock.set(T0);

    let plan = fund
        .charge_plan("startup-a", "smollm2", 1000, 2000)
        .await
        .unwrap();
    assert_eq!(plan.worst_case, 100 + 600);
    assert_eq!(plan.grant, "app-1");
    assert!(matches!(
        fund.charge_plan("startup-a", "unknown-model", 10, 10).await,
        Err(Error::Invalid { field: "model", .. })
    ));
    assert!(matches!(
        fund.charge_plan("startup-b", "smollm2", 10, 10).await,
        Err(Error::NotFound { .. })
    ));
    let free = crate::ChargePlan {
        worst_case: 0,
        ..plan.clone()
    };
    assert!(matches!(
        fund.reserve("req-free", &free, 30_000).await,
        Err(Error::Invalid {
            field: "worst_case",
            ..
        })
    ));
    let held = fund.reserve("req-1", &plan, 30_000).await.unwrap();
    assert_eq!(held.amount, 700);
    let used = Usage {
        prompt_tokens: 1000,
        completion_tokens: 150,
    };
    let posted = fund
        .settle("req-1-done", "req-1", "ai27", "smollm2", used)
        .await
        .unwrap();
    assert_eq!(posted.amount, 100 + 45);
    let bal = fund.grant_balances("startup-a").await.unwrap();
    assert_eq!(bal[0].available, 10_000 - 145);
    assert_eq!(
        l.account(&crate::spent_account("ai27"))
            .await
            .unwrap()
            .balance,
        145
    );
    let plan = fund
        .charge_plan("startup-a", "gemma3", 0, 10)
        .await
        .unwrap();
    fund.reserve("req-2", &plan, 30_000).await.unwrap();
    let voided = fund
        .settle("req-2-done", "req-2", "ai27", "gemma3", Usage::default())
        .await
        .unwrap();
    assert_eq!(voided.kind, TransferKind::Void, "nothing used: released");
    clean(&*l).await;
}

async fn grants_expire_and_revoke(open: &Opener) {
    let (l, s, clock) = setup(open).await;
    let fund = Fund::new(l.clone(), s.clone(), Arc::new(clock.clone()));
    fund.add_funder(&Funder {
        id: "f".into(),
        name: "F".into(),
    })
    .await
    .unwrap();
    fund.add_programme(&programme("p")).await.unwrap();
    fund.contribute("c", "f", "p", 10_000).await.unwrap();
    for (app, tenant) in [("soon", "t"), ("later", "t"), ("other", "u")] {
        fund.apply(app, tenant, "p", "please").await.unwrap();
    }
    fund.approve("soon", 1000, T0 + 100).await.unwrap();
    fund.approve("later", 2000, T0 + 200).await.unwrap();
    fund.approve("other", 3000, T0 + 300).await.unwrap();
    let plan = fund.charge_plan("t", "smollm2", 1000, 0).await.unwrap();
    assert_eq!(plan.grant, "soon", "earliest expiry first");
    // A reservation in flight when the grant expires.
    fund.reserve("inflight", &plan, 1000).await.unwrap();

    clock.set(T0 + 100);
    let swept = fund.expire_grants().await.unwrap();
    assert_eq!(swept.len(), 1);
    assert_eq!(swept[0].amount, 900, "what was not held moves to expired");
    assert_eq!(s.grant("soon").await.unwrap().state, GrantState::Expired);
    let plan = fund.charge_plan("t", "smollm2", 1000, 0).await.unwrap();
    assert_eq!(plan.grant, "later", "an expired grant is not charged");
    l.void("inflight-void", "inflight", "cancelled")
        .await
        .unwrap();
    let swept = fund.expire_grants().await.unwrap();
    assert_eq!(swept.len(), 1, "what the void released is swept too");
    assert_eq!(swept[0].amount, 100);
    assert!(fund.expire_grants().await.unwrap().is_empty());
    assert_eq!(
        l.account(&crate::expired_account("p"))
            .await
            .unwrap()
            .balance,
        1000
    );
    assert_eq!(l.account("grant:soon").await.unwrap().balance, 0);

    let back = fund.revoke("other", "left the programme").await.unwrap();
    assert_eq!(back.map(|t| t.amount), Some(3000));
    assert_eq!(s.grant("other").await.unwrap().state, GrantState::Revoked);
    assert!(matches!(
        fund.charge_plan("u", "smollm2", 1, 1).await,
        Err(Error::NotFound { .. })
    ));
    assert_eq!(
        l.account(&crate::programme_account("p"))
            .await
            .unwrap()
            .balance,
        10_000 - 1000 - 2000
    );
    clean(&*l).await;
}
