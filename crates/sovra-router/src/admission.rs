//! The admission queue: requests that found no free backend wait here.
//!
//! Bounded (`depth` entries in all, at most `per_tenant` per tenant), with a
//! deadline per entry. Served by strict priority class (emergency before
//! citizen before batch), and within a class round-robin between tenants,
//! FIFO within a tenant: a tenant that queues a thousand requests gets one
//! turn in each round like a tenant that queues one. The queue is plain
//! data; time comes in as an argument, so tests drive it with their own
//! clock.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use sovra_engine::Priority;

/// Why a request was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    /// The queue holds `depth` entries: 503.
    Full,
    /// This tenant holds its share of the queue already: 429.
    TenantOverShare,
}

struct Entry<T> {
    deadline: Instant,
    item: T,
}

/// A bounded, fair, prioritized queue.
pub struct FairQueue<T> {
    /// Per priority class: tenants in round-robin order, each with its FIFO.
    classes: [VecDeque<(String, VecDeque<Entry<T>>)>; 3],
    counts: HashMap<String, usize>,
    len: usize,
    depth: usize,
    per_tenant: usize,
}

impl<T> FairQueue<T> {
    pub fn new(depth: usize, per_tenant: usize) -> Self {
        Self {
            classes: [VecDeque::new(), VecDeque::new(), VecDeque::new()],
            counts: HashMap::new(),
            len: 0,
            depth: depth.max(1),
            per_tenant: per_tenant.clamp(1, depth.max(1)),
        }
    }

    /// New limits (a reload); entries already queued stay.
    pub fn resize(&mut self, depth: usize, per_tenant: usize) {
        self.depth = depth.max(1);
        self.per_tenant = per_tenant.clamp(1, self.depth);
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Queue `item` for `tenant` until `deadline`, or hand it back with the reason.
    pub fn push(
        &mut self,
        tenant: &str,
        priority: Priority,
        deadline: Instant,
        item: T,
    ) -> Result<(), (Rejected, T)> {
        if self.len >= self.depth {
            return Err((Rejected::Full, item));
        }
        let count = self.counts.get(tenant).copied().unwrap_or(0);
        if count >= self.per_tenant {
            return Err((Rejected::TenantOverShare, item));
        }
        let class = &mut self.classes[priority.rank()];
        let entry = Entry { deadline, item };
        match class.iter_mut().find(|(t, _)| t == tenant) {
            Some((_, q)) => q.push_back(entry),
            None => class.push_back((tenant.to_owned(), VecDeque::from([entry]))),
        }
        *self.counts.entry(tenant.to_owned()).or_insert(0) += 1;
        self.len += 1;
        Ok(())
    }

    fn taken(&mut self, tenant: &str) {
        self.len -= 1;
        if let Some(c) = self.counts.get_mut(tenant) {
            *c -= 1;
            if *c == 0 {
                self.counts.remove(tenant);
            }
        }
    }

    /// The next entry to serve that `can_place` accepts: the most urgent
    /// class first, then the tenant whose turn it is (each tenant's oldest
    /// entry only). The tenant served moves to the back of its class.
    pub fn pop_where(&mut self, mut can_place: impl FnMut(&T) -> bool) -> Option<T> {
        for rank in 0..self.classes.len() {
            let class = &mut self.classes[rank];
            let found = class
                .iter()
                .position(|(_, q)| q.front().is_some_and(|e| can_place(&e.item)));
            let Some(i) = found else { continue };
            let (tenant, mut q) = class.remove(i)?;
            let entry = q.pop_front()?;
            if !q.is_empty() {
                class.push_back((tenant.clone(), q));
            }
            self.taken(&tenant);
            return Some(entry.item);
        }
        None
    }

    /// Remove entries past their deadline or that `keep` rejects (their
    /// client left); returns the expired ones.
    pub fn expire(&mut self, now: Instant, keep: impl Fn(&T) -> bool) -> Vec<T> {
        let mut gone = Vec::new();
        let mut removed: Vec<String> = Vec::new();
        for class in &mut self.classes {
            for (tenant, q) in class.iter_mut() {
                let mut kept = VecDeque::with_capacity(q.len());
                for e in q.drain(..) {
                    if e.deadline <= now || !keep(&e.item) {
                        removed.push(tenant.clone());
                        gone.push(e.item);
                    } else {
                        kept.push_back(e);
                    }
                }
                *q = kept;
            }
            class.retain(|(_, q)| !q.is_empty());
        }
        for t in removed {
            self.taken(&t);
        }
        gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn clock() -> (Instant, impl Fn(u64) -> Instant) {
        let t0 = Instant::now();
        (t0, move |ms| t0 + Duration::from_millis(ms))
    }

    #[test]
    fn higher_priority_first_then_fifo() {
        let (_, at) = clock();
        let mut q = FairQueue::new(10, 10);
        let far = at(10_000);
        q.push("t", Priority::Batch, far, "batch-1").ok();
        q.push("t", Priority::Citizen, far, "citizen-1").ok();
        q.push("t", Priority::Emergency, far, "emergency-1").ok();
        q.push("t", Priority::Citizen, far, "citizen-2").ok();
        let order: Vec<_> = std::iter::from_fn(|| q.pop_where(|_| true)).collect();
        assert_eq!(
            order,
            vec!["emergency-1", "citizen-1", "citizen-2", "batch-1"]
        );
        assert!(q.is_empty());
    }

    #[test]
    fn a_noisy_tenant_does_not_starve_others() {
        let (_, at) = clock();
        let mut q = FairQueue::new(100, 100);
        let far = at(10_000);
        for i in 0..50 {
            q.push("noisy", Priority::Citizen, far, format!("noisy-{i}"))
                .ok();
        }
        q.push("quiet", Priority::Citizen, far, "quiet-0".to_owned())
            .ok();
        q.push("other", Priority::Citizen, far, "other-0".to_owned())
            .ok();
        let first: Vec<String> = (0..3).filter_map(|_| q.pop_where(|_| true)).collect();
        assert!(first.contains(&"quiet-0".to_owned()), "{first:?}");
        assert!(first.contains(&"other-0".to_owned()), "{first:?}");
    }

    #[test]
    fn bounded_overall_and_per_tenant() {
        let (_, at) = clock();
        let mut q = FairQueue::new(4, 2);
        let far = at(10_000);
        assert!(q.push("a", Priority::Citizen, far, 1).is_ok());
        assert!(q.push("a", Priority::Citizen, far, 2).is_ok());
        assert_eq!(
            q.push("a", Priority::Emergency, far, 3).err().map(|e| e.0),
            Some(Rejected::TenantOverShare)
        );
        assert!(q.push("b", Priority::Citizen, far, 4).is_ok());
        assert!(q.push("c", Priority::Citizen, far, 5).is_ok());
        assert_eq!(
            q.push("d", Priority::Citizen, far, 6).err().map(|e| e.0),
            Some(Rejected::Full)
        );
        assert_eq!(q.len(), 4);
        // Serving one frees the tenant's share.
        assert_eq!(q.pop_where(|x| *x == 1), Some(1));
        assert!(q.push("a", Priority::Citizen, far, 7).is_ok());
    }

    #[test]
    fn deadlines_expire_with_the_controlled_clock() {
        let (_, at) = clock();
        let mut q = FairQueue::new(10, 10);
        q.push("a", Priority::Citizen, at(100), "short").ok();
        q.push("b", Priority::Citizen, at(1_000), "long").ok();
        assert!(q.expire(at(50), |_| true).is_empty());
        assert_eq!(q.expire(at(100), |_| true), vec!["short"]);
        assert_eq!(q.len(), 1);
        assert_eq!(q.expire(at(200), |x| *x != "long"), vec!["long"]);
        assert!(q.is_empty());
        assert!(q.counts.is_empty());
    }

    #[test]
    fn entries_that_cannot_be_placed_wait_without_blocking_others() {
        let (_, at) = clock();
        let mut q = FairQueue::new(10, 10);
        let far = at(10_000);
        q.push("a", Priority::Emergency, far, "model-x").ok();
        q.push("b", Priority::Batch, far, "model-y").ok();
        assert_eq!(q.pop_where(|m| *m == "model-y"), Some("model-y"));
        assert_eq!(q.len(), 1);
    }
}
