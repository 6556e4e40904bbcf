//! The Redis counter against the real Redis on 127.0.0.1:6379: exact under
//! concurrency from two clients (as two replicas would be), all or nothing,
//! expiring keys, a deadline when Redis is not there, and what a check costs.
//! Each run uses its own key prefix and deletes its keys afterwards.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use sovra_limits::{
    Adjust, Ask, Charge, Counter, CounterError, Limiter, MemoryCounter, OnStoreError, Policy,
    RedisCounter, Rule, Taken,
};

const URL: &str = "redis://127.0.0.1:6379/";

fn prefix(test: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("sovra-test:{test}:{}:{nanos}", std::process::id())
}

/// Deletes every key under the prefix when dropped.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let Ok(client) = redis::Client::open(URL) else {
            return;
        };
        let Ok(mut c) = client.get_connection() else {
            return;
        };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}:*", self.0))
            .query(&mut c)
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: Result<i64, _> = redis::cmd("DEL").arg(keys).query(&mut c);
        }
    }
}

fn counter(prefix: &str) -> RedisCounter {
    RedisCounter::new(URL, prefix, Duration::from_secs(2)).unwrap()
}

fn ask(id: &str, limit: u64, cost: u64) -> Ask {
    Ask {
        id: id.into(),
        limit,
        // A day window: the test never straddles a window's end (but at midnight UTC).
        period_secs: 86_400,
        cost,
        anonymous: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exact_across_two_replicas() {
    let p = prefix("exact");
    let _cleanup = Cleanup(p.clone());
    let replicas = [Arc::new(counter(&p)), Arc::new(counter(&p))];
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..300usize {
        let c = replicas[i % 2].clone();
        tasks.spawn(async move {
            let asks = [ask("pool", 37, 1), ask(&format!("user{}", i % 5), 1000, 1)];
            matches!(c.take(&asks).await.unwrap(), Taken::Granted { .. })
        });
    }
    let mut granted = 0;
    while let Some(r) = tasks.join_next().await {
        granted += usize::from(r.unwrap());
    }
    assert_eq!(granted, 37);
    // The refused ones took nothing from their user buckets either.
    let mut users = 0;
    for u in 0..5 {
        match replicas[0].take(&[ask(&format!("user{u}"), 1000, 0)]).await {
            Ok(Taken::Granted { used, .. }) => users += used[0],
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(users, 37);
}

#[tokio::test]
async fn all_or_nothing_adjust_and_expiry() {
    let p = prefix("adjust");
    let _cleanup = Cleanup(p.clone());
    let c = counter(&p);
    let asks = [ask("a", 100, 70), ask("b", 1, 1)];
    let Taken::Granted { now, used } = c.take(&asks).await.unwrap() else {
        panic!("refused");
    };
    assert_eq!(used, [70, 1]);
    // "a" has room for 10 more, "b" has none: neither is charged.
    match c.take(&[ask("a", 100, 10), ask("b", 1, 1)]).await.unwrap() {
        Taken::Denied { index, used, .. } => assert_eq!((index, used), (1, vec![70, 1])),
        other => panic!("{other:?}"),
    }
    // Refund 50 in the reservation's window.
    let window = now.as_secs() / 86_400;
    c.adjust(&[Adjust {
        id: "a".into(),
        window,
        delta: -50,
    }])
    .await
    .unwrap();
    match c.take(&[ask("a", 100, 80)]).await.unwrap() {
        Taken::Granted { used, .. } => assert_eq!(used, [100]),
        other => panic!("{other:?}"),
    }
    // Not below zero; a counter that does not exist is not created.
    c.adjust(&[
        Adjust {
            id: "a".into(),
            window,
            delta: -1000,
        },
        Adjust {
            id: "ghost".into(),
            window,
            delta: 5,
        },
    ])
    .await
    .unwrap();
    match c
        .take(&[ask("a", 100, 0), ask("ghost", 10, 0)])
        .await
        .unwrap()
    {
        Taken::Granted { used, .. } => assert_eq!(used, [0, 0]),
        other => panic!("{other:?}"),
    }
    // Every key the counter made expires after its window (plus a minute).
    let client = redis::Client::open(URL).unwrap();
    let mut raw = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{p}:*"))
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(keys.len(), 2, "{keys:?}");
    for k in keys {
        let ttl: i64 = redis::cmd("TTL")
            .arg(&k)
            .query_async(&mut raw)
            .await
            .unwrap();
        assert!((1..=86_400 + 60).contains(&ttl), "{k}: {ttl}");
    }
}

#[tokio::test]
async fn no_redis_is_an_error_within_the_deadline() {
    // Nothing listens on port 1.
    let c = RedisCounter::new("redis://127.0.0.1:1/", "x", Duration::from_millis(300)).unwrap();
    let started = Instant::now();
    let e = c.take(&[ask("a", 1, 1)]).await.unwrap_err();
    assert!(
        matches!(e, CounterError::Unavailable(_) | CounterError::Timeout(_)),
        "{e:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(c.ping().await.is_err());
    let policy = Policy {
        per_user: Rule {
            requests_per_minute: Some(5),
            ..Rule::default()
        },
        ..Policy::default()
    };
    let charge = Charge {
        user: Some("u".into()),
        tenant: "public".into(),
        ..Charge::default()
    };
    let closed = Limiter::new(policy.clone(), Arc::new(c.clone()), OnStoreError::Reject);
    assert!(matches!(
        closed.acquire(&charge, 0).await,
        Err(sovra_limits::Refusal::Unavailable(_))
    ));
    let open = Limiter::new(policy, Arc::new(c), OnStoreError::Allow);
    assert!(open.acquire(&charge, 0).await.is_ok());
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// What one check costs: a key, a user and two tenant pools, requests and
/// tokens (6 buckets), in process and in Redis. Prints p50/p99.
#[tokio::test]
async fn check_latency() {
    let p = prefix("latency");
    let _cleanup = Cleanup(p.clone());
    let mut policy = Policy {
        per_key: Rule {
            requests_per_minute: Some(1_000_000),
            tokens_per_minute: Some(1_000_000_000),
            ..Rule::default()
        },
        per_user: Rule {
            requests_per_day: Some(1_000_000),
            ..Rule::default()
        },
        ..Policy::default()
    };
    for t in ["nation", "nation/health"] {
        policy.tenants.insert(
            t.into(),
            sovra_limits::TenantRule {
                pool: Rule {
                    requests_per_minute: Some(1_000_000),
                    ..Rule::default()
                },
                ..Default::default()
            },
        );
    }
    let charge = Charge {
        key: Some("abcd1234".into()),
        user: Some("alice".into()),
        tenant: "nation/health".into(),
        model: None,
        anonymous: false,
    };
    let backends: [(&str, Arc<dyn Counter>); 2] = [
        ("memory", Arc::new(MemoryCounter::new(10_000))),
        ("redis", Arc::new(counter(&p))),
    ];
    for (name, c) in backends {
        let l = Limiter::new(policy.clone(), c, OnStoreError::Reject);
        let mut times = Vec::with_capacity(2000);
        for i in 0..2200 {
            let started = Instant::now();
            let a = l.acquire(&charge, 100).await.unwrap();
            l.settle(a.grant.as_ref().unwrap(), 60).await.unwrap();
            if i >= 200 {
                times.push(started.elapsed());
            }
        }
        times.sort();
        let (p50, p99) = (percentile(&times, 0.5), percentile(&times, 0.99));
        eprintln!("limiter {name}: acquire+settle p50 {p50:?} p99 {p99:?} (6 buckets)");
        assert!(p99 < Duration::from_millis(50), "{name}: p99 {p99:?}");
    }
}
