//! In-process counters: one map behind one mutex, for a single replica.
//!
//! The critical section is a few hash lookups, never an await, so a plain
//! `std::sync::Mutex` makes check-and-count atomic across every task. The
//! map is bounded twice over: counters created for authenticated callers
//! (keys, signed-in users, their tenants) may number `max_counters`, and
//! counters created for the anonymous public ([`Ask::anonymous`]) have
//! their own budget, `max_anonymous`. When a budget is full, counters of
//! past windows are swept out; if it is still full, the take fails:
//! [`CounterError::Full`] for an authenticated caller (the limiter's failure
//! policy decides), [`CounterError::Crowded`] for an anonymous one (always
//! refused). Anonymous callers are whoever sends no credential, so they can
//! be invented by the thousand; their own budget means a flood of them fills
//! only their share and is refused there, while every authenticated caller
//! keeps being counted. No count is ever silently reset to make room.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::counter::{Adjust, Ask, Counter, CounterError, Taken};

/// The time since the Unix epoch (swappable in tests).
pub type Clock = Arc<dyn Fn() -> Duration + Send + Sync>;

fn system_clock() -> Duration {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    window: u64,
    period: u64,
    used: u64,
    /// Created by an anonymous caller's ask (counts against `max_anonymous`).
    anonymous: bool,
}

#[derive(Default)]
struct Table {
    slots: HashMap<String, Slot>,
    /// How many of `slots` are anonymous.
    anonymous: usize,
}

impl Table {
    /// Drop the counters of past windows.
    fn sweep(&mut self, now: Duration) {
        self.slots
            .retain(|_, s| s.window >= window_of(now, s.period));
        self.anonymous = self.slots.values().filter(|s| s.anonymous).count();
    }

    fn authenticated(&self) -> usize {
        self.slots.len() - self.anonymous
    }
}

/// Counters in this process.
pub struct MemoryCounter {
    table: Mutex<Table>,
    max_counters: usize,
    max_anonymous: usize,
    clock: Clock,
}

impl MemoryCounter {
    /// At most `max_counters` live counters of authenticated callers (one
    /// per bucket per request kind), and half as many of the anonymous
    /// public (see [`Self::with_max_anonymous`]).
    pub fn new(max_counters: usize) -> Self {
        Self::with_clock(max_counters, Arc::new(system_clock))
    }

    pub fn with_clock(max_counters: usize, clock: Clock) -> Self {
        let max_counters = max_counters.max(1);
        Self {
            table: Mutex::new(Table::default()),
            max_counters,
            max_anonymous: (max_counters / 2).max(1),
            clock,
        }
    }

    /// At most `n` live counters created by anonymous callers.
    pub fn with_max_anonymous(mut self, n: usize) -> Self {
        self.max_anonymous = n.max(1);
        self
    }

    /// Live counters (for tests and the console).
    pub fn len(&self) -> usize {
        self.lock().slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        // A panic while holding the lock cannot leave a half-applied take
        // (each write is one assignment), so a poisoned map is still sound.
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn window_of(now: Duration, period: u64) -> u64 {
    now.as_secs() / period.max(1)
}

#[async_trait::async_trait]
impl Counter for MemoryCounter {
    async fn take(&self, asks: &[Ask]) -> Result<Taken, CounterError> {
        let now = (self.clock)();
        let mut table = self.lock();
        let current = |slots: &HashMap<String, Slot>, a: &Ask| {
            slots
                .get(&a.id)
                .filter(|s| s.window == window_of(now, a.period_secs))
                .map_or(0, |s| s.used)
        };
        let used: Vec<u64> = asks.iter().map(|a| current(&table.slots, a)).collect();
        if let Some(index) = asks
            .iter()
            .zip(&used)
            .position(|(a, u)| u.saturating_add(a.cost) > a.limit)
        {
            return Ok(Taken::Denied { now, index, used });
        }
        let fresh = |t: &Table, anonymous: bool| {
            asks.iter()
                .filter(|a| a.anonymous == anonymous && !t.slots.contains_key(&a.id))
                .count()
        };
        let over = |t: &Table| {
            (
                t.anonymous + fresh(t, true) > self.max_anonymous,
                t.authenticated() + fresh(t, false) > self.max_counters,
            )
        };
        if over(&table) != (false, false) {
            table.sweep(now);
            match over(&table) {
                (true, _) => return Err(CounterError::Crowded(table.anonymous)),
                (_, true) => return Err(CounterError::Full(table.authenticated())),
                _ => {}
            }
        }
        let mut after = Vec::with_capacity(asks.len());
        for (a, u) in asks.iter().zip(used) {
            // A counter keeps the budget of whoever created it.
            let anonymous = match table.slots.get(&a.id) {
                Some(s) => s.anonymous,
                None => {
                    table.anonymous += usize::from(a.anonymous);
                    a.anonymous
                }
            };
            let slot = Slot {
                window: window_of(now, a.period_secs),
                period: a.period_secs.max(1),
                used: u.saturating_add(a.cost),
                anonymous,
            };
            after.push(slot.used);
            table.slots.insert(a.id.clone(), slot);
        }
        Ok(Taken::Granted { now, used: after })
    }

    async fn adjust(&self, adjustments: &[Adjust]) -> Result<(), CounterError> {
        let mut table = self.lock();
        for a in adjustments {
            if let Some(s) = table.slots.get_mut(&a.id)
                && s.window == a.window
            {
                s.used = s.used.saturating_add_signed(a.delta);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    fn ask(id: &str, limit: u64, cost: u64) -> Ask {
        Ask {
            id: id.into(),
            limit,
            period_secs: 60,
            cost,
            anonymous: false,
        }
    }

    fn manual_clock(secs: Arc<AtomicU64>) -> Clock {
        Arc::new(move || Duration::from_secs(secs.load(Ordering::SeqCst)))
    }

    #[tokio::test]
    async fn all_or_nothing() {
        let c = MemoryCounter::new(100);
        let asks = [ask("a", 10, 1), ask("b", 2, 1)];
        assert!(matches!(c.take(&asks).await, Ok(Taken::Granted { .. })));
        assert!(matches!(c.take(&asks).await, Ok(Taken::Granted { .. })));
        match c.take(&asks).await {
            Ok(Taken::Denied { index, used, .. }) => {
                assert_eq!(index, 1);
                assert_eq!(used, [2, 2]);
            }
            other => panic!("{other:?}"),
        }
        // The refusal took nothing from "a" either.
        match c.take(&[ask("a", 10, 1)]).await {
            Ok(Taken::Granted { used, .. }) => assert_eq!(used, [3]),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn windows_roll_and_adjust_stays_in_its_window() {
        let secs = Arc::new(AtomicU64::new(120));
        let c = MemoryCounter::with_clock(100, manual_clock(secs.clone()));
        assert!(matches!(
            c.take(&[ask("t", 100, 80)]).await,
            Ok(Taken::Granted { .. })
        ));
        assert!(matches!(
            c.take(&[ask("t", 100, 30)]).await,
            Ok(Taken::Denied { index: 0, .. })
        ));
        // A refund in the same window makes room.
        c.adjust(&[Adjust {
            id: "t".into(),
            window: 2,
            delta: -50,
        }])
        .await
        .unwrap();
        match c.take(&[ask("t", 100, 30)]).await {
            Ok(Taken::Granted { used, .. }) => assert_eq!(used, [60]),
            other => panic!("{other:?}"),
        }
        // The next minute starts from zero; a late refund for the old one is dropped.
        secs.store(180, Ordering::SeqCst);
        c.adjust(&[Adjust {
            id: "t".into(),
            window: 2,
            delta: -60,
        }])
        .await
        .unwrap();
        match c.take(&[ask("t", 100, 100)]).await {
            Ok(Taken::Granted { used, .. }) => assert_eq!(used, [100]),
            other => panic!("{other:?}"),
        }
        // Never below zero.
        c.adjust(&[Adjust {
            id: "t".into(),
            window: 3,
            delta: -1000,
        }])
        .await
        .unwrap();
        match c.take(&[ask("t", 100, 100)]).await {
            Ok(Taken::Granted { used, .. }) => assert_eq!(used, [100]),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn bounded_and_swept() {
        let secs = Arc::new(AtomicU64::new(0));
        let c = MemoryCounter::with_clock(3, manual_clock(secs.clone()));
        for id in ["a", "b", "c"] {
            assert!(matches!(
                c.take(&[ask(id, 5, 1)]).await,
                Ok(Taken::Granted { .. })
            ));
        }
        assert_eq!(c.take(&[ask("d", 5, 1)]).await, Err(CounterError::Full(3)));
        // Known buckets still count while the table is full.
        assert!(matches!(
            c.take(&[ask("a", 5, 1)]).await,
            Ok(Taken::Granted { .. })
        ));
        // Once their window is past, old counters make room.
        secs.store(60, Ordering::SeqCst);
        assert!(matches!(
            c.take(&[ask("d", 5, 1)]).await,
            Ok(Taken::Granted { .. })
        ));
        assert_eq!(c.len(), 1);
    }

    #[tokio::test]
    async fn the_anonymous_fill_only_their_own_share() {
        let secs = Arc::new(AtomicU64::new(0));
        let c = MemoryCounter::with_clock(4, manual_clock(secs.clone())).with_max_anonymous(2);
        let anon = |id: &str| Ask {
            anonymous: true,
            ..ask(id, 5, 1)
        };
        // A flood of invented anonymous callers: two counters, then refused.
        for id in ["anon-1", "anon-2"] {
            assert!(matches!(
                c.take(&[anon(id)]).await,
                Ok(Taken::Granted { .. })
            ));
        }
        for i in 3..50 {
            assert_eq!(
                c.take(&[anon(&format!("anon-{i}"))]).await,
                Err(CounterError::Crowded(2))
            );
        }
        // The known anonymous still count; every authenticated caller has room.
        assert!(matches!(
            c.take(&[anon("anon-1")]).await,
            Ok(Taken::Granted { .. })
        ));
        for id in ["key-a", "key-b", "key-c", "key-d"] {
            assert!(matches!(
                c.take(&[ask(id, 5, 1)]).await,
                Ok(Taken::Granted { .. })
            ));
        }
        assert_eq!(
            c.take(&[ask("key-e", 5, 1)]).await,
            Err(CounterError::Full(4))
        );
        // A counter an authenticated caller made is not charged to the
        // anonymous budget when an anonymous caller shares it (a pool).
        assert!(matches!(
            c.take(&[Ask {
                anonymous: true,
                ..ask("key-a", 5, 1)
            }])
            .await,
            Ok(Taken::Granted { .. })
        ));
        // The next window makes room for everyone again.
        secs.store(60, Ordering::SeqCst);
        assert!(matches!(
            c.take(&[anon("anon-3")]).await,
            Ok(Taken::Granted { .. })
        ));
        assert_eq!(c.len(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn exact_under_concurrency() {
        let c = Arc::new(MemoryCounter::new(1000));
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..500u64 {
            let c = c.clone();
            tasks.spawn(async move {
                // Every task shares the pool; each has its own user bucket.
                let asks = [ask("pool", 137, 1), ask(&format!("user{}", i % 7), 1000, 1)];
                matches!(c.take(&asks).await, Ok(Taken::Granted { .. }))
            });
        }
        let mut granted = 0;
        while let Some(r) = tasks.join_next().await {
            granted += u64::from(r.unwrap());
        }
        assert_eq!(granted, 137);
        match c.take(&[ask("pool", 137, 0)]).await {
            Ok(Taken::Granted { used, .. }) => assert_eq!(used, [137]),
            other => panic!("{other:?}"),
        }
    }
}
