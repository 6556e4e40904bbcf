//! Rate limits and quotas: requests and tokens per minute and per day, per
//! API key, per user and per tenant pool.
//!
//! [`Policy`] says which limits apply to a [`Charge`] (who a request is
//! charged to) and resolves them into buckets ([`policy`]); a [`Counter`]
//! counts them, in this process ([`memory`]) or in Redis shared by replicas
//! ([`redis_counter`]). [`Limiter::acquire`] checks a request against every
//! bucket at once and either counts it in all of them or in none, so a
//! refused request costs nothing. Tokens are reserved up front (the prompt
//! plus the most the answer may take) and [`Limiter::settle`] corrects the
//! count to the real usage when the answer ends.
//!
//! The outcome carries what OpenAI's `x-ratelimit-*` headers report and,
//! for a refusal, what its 429 says ([`Refusal`]); rendering them is the
//! HTTP layer's job. Metrics: `sovra_quota_rejections_total{level,measure,window}`,
//! `sovra_quota_store_errors_total{outcome}` and the histogram
//! `sovra_quota_check_seconds`.

pub mod counter;
pub mod memory;
pub mod policy;
pub mod redis_counter;

use std::sync::Arc;
use std::time::{Duration, Instant};

pub use counter::{Adjust, Ask, Counter, CounterError, Taken};
pub use memory::MemoryCounter;
pub use policy::{Bucket, Charge, Level, Measure, Policy, Rule, TenantRule, Window};
pub use redis_counter::RedisCounter;

/// What a request gets when the counter cannot answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnStoreError {
    /// Refuse the request (503): no quota is ever exceeded because Redis is down.
    #[default]
    Reject,
    /// Let it through uncounted (and log it): availability over quotas.
    Allow,
}

/// One limit as the `x-ratelimit-*` headers report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gauge {
    pub limit: u64,
    pub remaining: u64,
    /// Until the window ends and the count starts again from zero.
    pub reset: Duration,
}

/// The tightest requests limit and the tightest tokens limit of a request
/// (the one with least remaining), as OpenAI's headers show one of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Report {
    pub requests: Option<Gauge>,
    pub tokens: Option<Gauge>,
}

impl Report {
    fn from_counts(buckets: &[Bucket], used: &[u64], now: Duration) -> Self {
        let mut report = Report::default();
        for (b, u) in buckets.iter().zip(used) {
            let gauge = Gauge {
                limit: b.limit,
                remaining: b.limit.saturating_sub(*u),
                reset: until_window_end(now, b.window),
            };
            let slot = match b.measure {
                Measure::Requests => &mut report.requests,
                Measure::Tokens => &mut report.tokens,
            };
            let tighter = slot.is_none_or(|g| {
                (gauge.remaining, gauge.limit, gauge.reset) < (g.remaining, g.limit, g.reset)
            });
            if tighter {
                *slot = Some(gauge);
            }
        }
        report
    }
}

fn until_window_end(now: Duration, window: Window) -> Duration {
    let period = window.seconds();
    let end = Duration::from_secs((now.as_secs() / period + 1) * period);
    end.saturating_sub(now)
}

/// A counted request, to be settled when its answer ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The tokens buckets the reservation went into, with their windows.
    tokens: Vec<(String, u64)>,
    /// Tokens reserved in each of them.
    pub reserved: u64,
}

/// A request that may go ahead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission {
    /// `None` when nothing needs settling (no tokens bucket, or the request
    /// went through uncounted because the store was down).
    pub grant: Option<Grant>,
    pub report: Report,
}

/// Why a request may not go ahead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A bucket is spent for this window: a 429 with `retry-after`.
    Limited {
        bucket: Bucket,
        used: u64,
        requested: u64,
        retry_after: Duration,
        report: Report,
    },
    /// The request alone is more than a bucket's whole limit: no wait helps.
    TooLarge { bucket: Bucket, requested: u64 },
    /// The store did not answer and the policy is to refuse (a 503).
    Unavailable(CounterError),
    /// The caller is anonymous and the anonymous public's share of the
    /// counters is full: refused whatever `on_store_error` says (letting
    /// them through uncounted would undo the bound), until counters of
    /// past windows make room.
    Crowded,
}

/// Limits, applied.
pub struct Limiter {
    policy: Policy,
    counter: Arc<dyn Counter>,
    on_store_error: OnStoreError,
}

impl Limiter {
    pub fn new(policy: Policy, counter: Arc<dyn Counter>, on_store_error: OnStoreError) -> Self {
        Self {
            policy,
            counter,
            on_store_error,
        }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Whether requests of `charge` need a token count before they run.
    pub fn counts_tokens(&self, charge: &Charge) -> bool {
        self.policy.counts_tokens(charge)
    }

    /// Count one request of (up to) `tokens` tokens in every bucket of
    /// `charge`, or in none.
    pub async fn acquire(&self, charge: &Charge, tokens: u64) -> Result<Admission, Refusal> {
        let buckets = self.policy.buckets(charge);
        if buckets.is_empty() {
            return Ok(Admission {
                grant: None,
                report: Report::default(),
            });
        }
        let cost = |b: &Bucket| match b.measure {
            Measure::Requests => 1,
            Measure::Tokens => tokens,
        };
        if let Some(b) = buckets.iter().find(|b| cost(b) > b.limit) {
            reject_metric(b);
            return Err(Refusal::TooLarge {
                bucket: b.clone(),
                requested: cost(b),
            });
        }
        let asks: Vec<Ask> = buckets
            .iter()
            .map(|b| Ask {
                id: b.id.clone(),
                limit: b.limit,
                period_secs: b.window.seconds(),
                cost: cost(b),
                anonymous: charge.anonymous,
            })
            .collect();
        let started = Instant::now();
        let taken = self.counter.take(&asks).await;
        metrics::histogram!("sovra_quota_check_seconds").record(started.elapsed().as_secs_f64());
        match taken {
            Ok(Taken::Granted { now, used }) => {
                let tokens_buckets = buckets
                    .iter()
                    .filter(|b| b.measure == Measure::Tokens)
                    .map(|b| (b.id.clone(), now.as_secs() / b.window.seconds()))
                    .collect::<Vec<_>>();
                Ok(Admission {
                    grant: (!tokens_buckets.is_empty()).then_some(Grant {
                        tokens: tokens_buckets,
                        reserved: tokens,
                    }),
                    report: Report::from_counts(&buckets, &used, now),
                })
            }
            Ok(Taken::Denied { now, index, used }) => {
                let bucket = buckets[index].clone();
                reject_metric(&bucket);
                Err(Refusal::Limited {
                    retry_after: until_window_end(now, bucket.window),
                    used: used[index],
                    requested: cost(&bucket),
                    report: Report::from_counts(&buckets, &used, now),
                    bucket,
                })
            }
            Err(CounterError::Crowded(live)) => {
                metrics::counter!("sovra_quota_store_errors_total", "outcome" => "anonymous_crowded")
                    .increment(1);
                tracing::warn!(
                    live,
                    "the anonymous public's share of the rate-limit table is full; refusing an anonymous request"
                );
                Err(Refusal::Crowded)
            }
            Err(e) => match self.on_store_error {
                OnStoreError::Reject => {
                    metrics::counter!("sovra_quota_store_errors_total", "outcome" => "rejected")
                        .increment(1);
                    tracing::warn!(error = %e, "rate-limit store failed; refusing the request (quotas.on_store_error = reject)");
                    Err(Refusal::Unavailable(e))
                }
                OnStoreError::Allow => {
                    metrics::counter!("sovra_quota_store_errors_total", "outcome" => "allowed")
                        .increment(1);
                    tracing::warn!(error = %e, "rate-limit store failed; letting the request through uncounted (quotas.on_store_error = allow)");
                    Ok(Admission {
                        grant: None,
                        report: Report::default(),
                    })
                }
            },
        }
    }

    /// The answer used `used` tokens in all: give back what was reserved
    /// beyond that, or count what went past it.
    pub async fn settle(&self, grant: &Grant, used: u64) -> Result<(), CounterError> {
        let delta = if used >= grant.reserved {
            i64::try_from(used - grant.reserved).unwrap_or(i64::MAX)
        } else {
            -i64::try_from(grant.reserved - used).unwrap_or(i64::MAX)
        };
        if delta == 0 {
            return Ok(());
        }
        let adjustments: Vec<Adjust> = grant
            .tokens
            .iter()
            .map(|(id, window)| Adjust {
                id: id.clone(),
                window: *window,
                delta,
            })
            .collect();
        self.counter.adjust(&adjustments).await
    }
}

fn reject_metric(bucket: &Bucket) {
    metrics::counter!(
        "sovra_quota_rejections_total",
        "level" => bucket.level.as_str(),
        "measure" => bucket.measure.as_str(),
        "window" => bucket.window.as_str(),
    )
    .increment(1);
}

/// A duration as OpenAI's headers write it (Go's format, to the
/// millisecond): `59ms`, `1s`, `20.5s`, `6m0s`, `1h2m3s`.
pub fn openai_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let (h, rest) = (ms / 3_600_000, ms % 3_600_000);
    let (m, rest) = (rest / 60_000, rest % 60_000);
    let (s, frac) = (rest / 1000, rest % 1000);
    let mut secs = s.to_string();
    if frac > 0 {
        let f = format!("{frac:03}");
        secs.push('.');
        secs.push_str(f.trim_end_matches('0'));
    }
    match (h, m) {
        (0, 0) => format!("{secs}s"),
        (0, m) => format!("{m}m{secs}s"),
        (h, m) => format!("{h}h{m}m{secs}s"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    #[test]
    fn durations_as_openai_writes_them() {
        let ms = Duration::from_millis;
        assert_eq!(openai_duration(ms(0)), "0ms");
        assert_eq!(openai_duration(ms(59)), "59ms");
        assert_eq!(openai_duration(ms(1000)), "1s");
        assert_eq!(openai_duration(ms(20_500)), "20.5s");
        assert_eq!(openai_duration(ms(8_640)), "8.64s");
        assert_eq!(openai_duration(ms(360_000)), "6m0s");
        assert_eq!(openai_duration(ms(3_723_004)), "1h2m3.004s");
    }

    fn limiter(policy: Policy, secs: Arc<AtomicU64>) -> Limiter {
        let clock: memory::Clock =
            Arc::new(move || Duration::from_millis(secs.load(Ordering::SeqCst)));
        Limiter::new(
            policy,
            Arc::new(MemoryCounter::with_clock(1000, clock)),
            OnStoreError::Reject,
        )
    }

    fn alice() -> Charge {
        Charge {
            key: Some("k1".into()),
            user: Some("alice".into()),
            tenant: "nation/health".into(),
            model: Some("sim".into()),
            anonymous: false,
        }
    }

    #[tokio::test]
    async fn refusal_costs_nothing_and_reports_the_bucket() {
        let mut policy = Policy {
            per_key: Rule {
                requests_per_minute: Some(3),
                ..Rule::default()
            },
            ..Policy::default()
        };
        policy.tenants.insert(
            "nation".into(),
            TenantRule {
                pool: Rule {
                    tokens_per_minute: Some(100),
                    ..Rule::default()
                },
                ..TenantRule::default()
            },
        );
        // 10.25 s into a minute.
        let now = Arc::new(AtomicU64::new(600_000 + 10_250));
        let l = limiter(policy, now.clone());
        let a = l.acquire(&alice(), 60).await.unwrap();
        assert_eq!(
            a.report.requests,
            Some(Gauge {
                limit: 3,
                remaining: 2,
                reset: Duration::from_millis(49_750)
            })
        );
        assert_eq!(a.report.tokens.map(|g| g.remaining), Some(40));
        // 60 more tokens do not fit the pool: refused, and the key's request not counted.
        match l.acquire(&alice(), 60).await {
            Err(Refusal::Limited {
                bucket,
                used,
                requested,
                retry_after,
                report,
            }) => {
                assert_eq!(bucket.level, Level::Tenant);
                assert_eq!(bucket.measure, Measure::Tokens);
                assert_eq!((used, requested), (60, 60));
                assert_eq!(retry_after, Duration::from_millis(49_750));
                assert_eq!(report.requests.map(|g| g.remaining), Some(2));
            }
            other => panic!("{other:?}"),
        }
        // The answer used 20 tokens: 40 come back, and 60 now fit.
        l.settle(a.grant.as_ref().unwrap(), 20).await.unwrap();
        let b = l.acquire(&alice(), 60).await.unwrap();
        assert_eq!(b.report.tokens.map(|g| g.remaining), Some(20));
        assert_eq!(b.report.requests.map(|g| g.remaining), Some(1));
        // An answer longer than reserved is counted too.
        l.settle(b.grant.as_ref().unwrap(), 70).await.unwrap();
        assert!(matches!(
            l.acquire(&alice(), 11).await,
            Err(Refusal::Limited { .. })
        ));
        // More than the whole limit can never pass.
        match l.acquire(&alice(), 101).await {
            Err(Refusal::TooLarge { requested, bucket }) => {
                assert_eq!((requested, bucket.limit), (101, 100));
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn shared_pool_is_shared() {
        let mut policy = Policy::default();
        policy.tenants.insert(
            "nation/health/team-a".into(),
            TenantRule {
                pool: Rule {
                    requests_per_day: Some(5),
                    ..Rule::default()
                },
                per_user: Some(Rule {
                    requests_per_day: Some(3),
                    ..Rule::default()
                }),
                ..TenantRule::default()
            },
        );
        let l = limiter(policy, Arc::new(AtomicU64::new(0)));
        let user = |name: &str| Charge {
            key: None,
            user: Some(name.into()),
            tenant: "nation/health/team-a".into(),
            model: None,
            anonymous: false,
        };
        let mut through = Vec::new();
        for name in ["a", "a", "a", "a", "b", "b", "b"] {
            through.push(l.acquire(&user(name), 0).await.is_ok());
        }
        // a: 3 (its own limit), b: 2 (the team's 5 are spent).
        assert_eq!(through, [true, true, true, false, true, true, false]);
        // Another team is not affected.
        let other = Charge {
            tenant: "nation/health/team-b".into(),
            ..user("a")
        };
        assert!(l.acquire(&other, 0).await.is_ok());
    }

    #[tokio::test]
    async fn a_crowd_of_anonymous_callers_is_refused_even_where_errors_are_allowed() {
        let policy = Policy {
            per_user: Rule {
                requests_per_day: Some(10),
                ..Rule::default()
            },
            ..Policy::default()
        };
        let counter = MemoryCounter::new(100).with_max_anonymous(3);
        let l = Limiter::new(policy, Arc::new(counter), OnStoreError::Allow);
        let anon = |n: usize| Charge {
            user: Some(format!("anon_{n}")),
            tenant: "public".into(),
            anonymous: true,
            ..Charge::default()
        };
        for n in 0..3 {
            assert!(l.acquire(&anon(n), 0).await.is_ok());
        }
        assert_eq!(l.acquire(&anon(3), 0).await, Err(Refusal::Crowded));
        // An authenticated caller is counted as ever.
        assert!(l.acquire(&alice(), 0).await.is_ok());
    }

    struct Broken;

    #[async_trait::async_trait]
    impl Counter for Broken {
        async fn take(&self, _: &[Ask]) -> Result<Taken, CounterError> {
            Err(CounterError::Unavailable("down".into()))
        }
        async fn adjust(&self, _: &[Adjust]) -> Result<(), CounterError> {
            Err(CounterError::Unavailable("down".into()))
        }
    }

    #[tokio::test]
    async fn store_failure_follows_the_policy() {
        let policy = Policy {
            per_user: Rule {
                requests_per_minute: Some(1),
                ..Rule::default()
            },
            ..Policy::default()
        };
        let closed = Limiter::new(policy.clone(), Arc::new(Broken), OnStoreError::Reject);
        assert!(matches!(
            closed.acquire(&alice(), 1).await,
            Err(Refusal::Unavailable(_))
        ));
        let open = Limiter::new(policy, Arc::new(Broken), OnStoreError::Allow);
        let a = open.acquire(&alice(), 1).await.unwrap();
        assert_eq!(a.grant, None);
    }
}
