//! The counter seam: fixed-window counters that take a request's cost from
//! several buckets at once, all or nothing.
//!
//! Two implementations: [`crate::memory::MemoryCounter`] (one process) and
//! [`crate::redis_counter::RedisCounter`] (replicas sharing one Redis). Both
//! keep, per bucket, the window it last counted in and how much it used
//! there; a counter of a past window is worth nothing and is dropped.
//!
//! Why fixed windows: the count is exact (N allowed in a window means N, not
//! "about N", whatever the concurrency), one integer per bucket is all the
//! state, and the "Used" a refusal reports is a real number the operator can
//! check. The price is the edge: a client can spend a window's allowance at
//! its end and the next one at the start of the next, so up to twice the
//! limit can pass within a short span across a boundary.

use std::time::Duration;

/// One bucket's part of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ask {
    /// The bucket's name (see [`crate::Bucket::id`]).
    pub id: String,
    pub limit: u64,
    /// The window's length in seconds; windows start at multiples of it
    /// since the Unix epoch (so minutes and days align to UTC).
    pub period_secs: u64,
    /// How much this request uses (1 for a requests bucket, the tokens for a
    /// tokens bucket; 0 checks without counting).
    pub cost: u64,
    /// Asked for a caller nobody authenticated (the anonymous public):
    /// counters such asks create are held to their own, smaller budget (see
    /// [`crate::memory`]), so unauthenticated input can never crowd out the
    /// counters of authenticated callers.
    pub anonymous: bool,
}

/// What the counter did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taken {
    /// Every bucket was charged; `used` is each one's count after it.
    Granted { now: Duration, used: Vec<u64> },
    /// Nothing was charged: bucket `index` would go over its limit; `used`
    /// is each bucket's count as it stands.
    Denied {
        now: Duration,
        index: usize,
        used: Vec<u64>,
    },
}

/// A correction to a bucket's count in the window the request was counted
/// in (a refund of reserved tokens, or the part of an answer beyond them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adjust {
    pub id: String,
    /// The window index (`now / period`) the reservation was made in.
    pub window: u64,
    /// Added to the count (negative: refunded); never below zero, and
    /// nothing happens if that window's counter is already gone.
    pub delta: i64,
}

/// Why the counter could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CounterError {
    #[error("the rate-limit store is unavailable: {0}")]
    Unavailable(String),
    #[error("the rate-limit store did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the in-process rate-limit table is full ({0} counters live)")]
    Full(usize),
    /// The anonymous public's share of the in-process table is full: the
    /// request of an anonymous caller is refused (whatever
    /// `on_store_error` says), authenticated callers are unaffected.
    #[error("the anonymous public's share of the rate-limit table is full ({0} counters live)")]
    Crowded(usize),
}

/// Where counts live.
#[async_trait::async_trait]
pub trait Counter: Send + Sync + 'static {
    /// Charge every ask, or none if any would go over its limit.
    async fn take(&self, asks: &[Ask]) -> Result<Taken, CounterError>;

    /// Apply corrections (best effort: a correction to a past window is dropped).
    async fn adjust(&self, adjustments: &[Adjust]) -> Result<(), CounterError>;
}
