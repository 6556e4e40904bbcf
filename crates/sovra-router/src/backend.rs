//! One backend of the fleet and its live state.
//!
//! A [`Backend`] is an engine (remote or in process) plus what the router
//! knows about it: requests and tokens in flight, health (active probe,
//! passive outlier ejection acting as a circuit breaker, slow start after
//! recovery), whether it is draining, a latency EWMA, and the approximate
//! index of prompt prefixes it has recently seen ([`BlockSet`]), which is
//! what prefix-cache affinity routes on.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::Serialize;
use sovra_config::fleet::{BackendSettings, RouterSettings};
use sovra_engine::Engine;

/// A bounded set of recently seen prefix-block hashes, oldest forgotten
/// first (FIFO with refresh on reuse: an approximation of the backend's LRU
/// prefix cache).
#[derive(Debug)]
pub struct BlockSet {
    ring: VecDeque<u64>,
    counts: HashMap<u64, u32>,
    cap: usize,
}

impl BlockSet {
    pub fn new(cap: usize) -> Self {
        Self {
            ring: VecDeque::new(),
            counts: HashMap::new(),
            cap: cap.max(1),
        }
    }

    pub fn contains(&self, h: u64) -> bool {
        self.counts.contains_key(&h)
    }

    pub fn insert(&mut self, h: u64) {
        self.ring.push_back(h);
        *self.counts.entry(h).or_insert(0) += 1;
        while self.ring.len() > self.cap {
            let Some(old) = self.ring.pop_front() else {
                break;
            };
            if let Some(c) = self.counts.get_mut(&old) {
                *c -= 1;
                if *c == 0 {
                    self.counts.remove(&old);
                }
            }
        }
    }

    /// How many of `blocks` (a chain: each hash covers all before it) this
    /// set holds, from the start.
    pub fn matched(&self, blocks: &[u64]) -> usize {
        blocks.iter().take_while(|h| self.contains(**h)).count()
    }

    pub fn len(&self) -> usize {
        self.ring.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }
}

/// A backend's state as the admin API shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Healthy,
    /// Failed its active probe.
    Unhealthy,
    /// Ejected after consecutive failures, until the ejection ends.
    Ejected,
    /// Takes no new work; its streams finish.
    Draining,
}

#[derive(Debug, Default)]
struct Health {
    probe_ok: bool,
    consecutive_failures: u32,
    ejected_until: Option<Instant>,
    recovered_at: Option<Instant>,
    ttft_ewma_ms: Option<f64>,
    ejections: u64,
}

/// One member of the fleet.
pub struct Backend {
    pub settings: BackendSettings,
    /// (public name, name on the backend).
    pub models: Vec<(String, String)>,
    pub engine: Arc<dyn Engine>,
    /// The OpenAI base URL, for probes; `None` for the in-process engine.
    pub probe_url: Option<String>,
    health: Mutex<Health>,
    in_flight: AtomicU64,
    in_flight_tokens: AtomicU64,
    served: AtomicU64,
    failures: AtomicU64,
    draining: AtomicBool,
    prefixes: Mutex<BlockSet>,
    /// When the backend was added, the epoch of `last_progress_ms`.
    created: Instant,
    /// Milliseconds after `created` that a stream of it last produced an event.
    last_progress_ms: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Backend {
    pub fn new(
        settings: BackendSettings,
        engine: Arc<dyn Engine>,
        probe_url: Option<String>,
        prefix_blocks: usize,
    ) -> Self {
        Self {
            models: settings.model_map(),
            settings,
            engine,
            probe_url,
            health: Mutex::new(Health {
                probe_ok: true,
                ..Health::default()
            }),
            in_flight: AtomicU64::new(0),
            in_flight_tokens: AtomicU64::new(0),
            served: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            draining: AtomicBool::new(false),
            prefixes: Mutex::new(BlockSet::new(prefix_blocks)),
            created: Instant::now(),
            last_progress_ms: AtomicU64::new(0),
        }
    }

    pub fn name(&self) -> &str {
        &self.settings.name
    }

    /// The name this backend gives the public model `public`, if it serves it.
    pub fn model_name(&self, public: &str) -> Option<&str> {
        self.models
            .iter()
            .find(|(p, _)| p == public)
            .map(|(_, own)| own.as_str())
    }

    pub fn state(&self, now: Instant) -> State {
        if self.draining.load(Ordering::Relaxed) {
            return State::Draining;
        }
        let mut h = lock(&self.health);
        if let Some(until) = h.ejected_until {
            if now < until {
                return State::Ejected;
            }
            // Half-open: one more failure ejects it again; slow start from here.
            h.ejected_until = None;
            h.recovered_at = Some(until);
        }
        if h.probe_ok {
            State::Healthy
        } else {
            State::Unhealthy
        }
    }

    /// Share of its full capacity the backend gets now: ramps from 10% to
    /// 100% over `slow_start` after a recovery.
    pub fn ramp(&self, now: Instant, slow_start: Duration) -> f64 {
        let h = lock(&self.health);
        match h.recovered_at {
            Some(at) if !slow_start.is_zero() => {
                let f = now.saturating_duration_since(at).as_secs_f64() / slow_start.as_secs_f64();
                f.clamp(0.1, 1.0)
            }
            _ => 1.0,
        }
    }

    pub fn weight(&self) -> f64 {
        f64::from(self.settings.weight.unwrap_or(1))
    }

    /// Whether it may take one more request now.
    pub fn has_room(&self, now: Instant, slow_start: Duration) -> bool {
        match self.settings.max_concurrency {
            None => true,
            Some(max) => {
                let room = (f64::from(max) * self.ramp(now, slow_start))
                    .ceil()
                    .max(1.0);
                (self.in_flight() as f64) < room
            }
        }
    }

    /// Its weight scaled by the slow-start ramp: what load is divided by.
    pub fn capacity_scale(&self, now: Instant, slow_start: Duration) -> f64 {
        self.weight() * self.ramp(now, slow_start)
    }

    pub fn in_flight_tokens(&self) -> u64 {
        self.in_flight_tokens.load(Ordering::Relaxed)
    }

    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Relaxed)
    }

    pub fn reserve(&self, tokens: u64) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.in_flight_tokens.fetch_add(tokens, Ordering::Relaxed);
        self.gauges();
    }

    pub fn release(&self, tokens: u64) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.in_flight_tokens.fetch_sub(tokens, Ordering::Relaxed);
        self.gauges();
    }

    fn gauges(&self) {
        let name = self.settings.name.clone();
        metrics::gauge!("sovra_router_backend_in_flight", "backend" => name.clone())
            .set(self.in_flight() as f64);
        metrics::gauge!("sovra_router_backend_in_flight_tokens", "backend" => name)
            .set(self.in_flight_tokens.load(Ordering::Relaxed) as f64);
    }

    pub fn drain(&self, on: bool) {
        self.draining.store(on, Ordering::Relaxed);
    }

    /// One of its streams produced an event.
    pub fn record_progress(&self, now: Instant) {
        let ms = now.saturating_duration_since(self.created).as_millis();
        self.last_progress_ms
            .store(u64::try_from(ms).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Whether one of its streams produced an event after `t`.
    pub fn progressed_since(&self, t: Instant) -> bool {
        let last =
            self.created + Duration::from_millis(self.last_progress_ms.load(Ordering::Relaxed));
        last > self.created && last >= t
    }

    /// Whether it has streams in flight and one of them produced an event
    /// within `within` of `now`.
    pub fn streamed_within(&self, now: Instant, within: Duration) -> bool {
        if self.in_flight() == 0 {
            return false;
        }
        let last =
            self.created + Duration::from_millis(self.last_progress_ms.load(Ordering::Relaxed));
        last > self.created && now.saturating_duration_since(last) <= within
    }

    /// A request got its first token after `ttft`.
    pub fn record_success(&self, ttft: Duration) {
        self.served.fetch_add(1, Ordering::Relaxed);
        let mut h = lock(&self.health);
        h.consecutive_failures = 0;
        let ms = ttft.as_secs_f64() * 1000.0;
        h.ttft_ewma_ms = Some(match h.ttft_ewma_ms {
            Some(old) => old * 0.8 + ms * 0.2,
            None => ms,
        });
    }

    /// A request failed on this backend; returns whether it is now ejected.
    pub fn record_failure(&self, now: Instant, cfg: &RouterSettings) -> bool {
        self.failures.fetch_add(1, Ordering::Relaxed);
        let mut h = lock(&self.health);
        h.consecutive_failures += 1;
        if let Some(until) = h.ejected_until
            && now >= until
        {
            h.ejected_until = None;
            h.recovered_at = Some(until);
        }
        if h.consecutive_failures >= cfg.eject_after_failures && h.ejected_until.is_none() {
            h.ejected_until = Some(now + Duration::from_millis(cfg.eject_ms));
            // Leave it one failure from ejection when it comes back (half-open).
            h.consecutive_failures = cfg.eject_after_failures.saturating_sub(1);
            h.ejections += 1;
            metrics::counter!("sovra_router_ejections_total", "backend" => self.settings.name.clone())
                .increment(1);
            tracing::warn!(backend = %self.settings.name, eject_ms = cfg.eject_ms, "backend ejected after consecutive failures");
            return true;
        }
        false
    }

    /// The active probe's verdict.
    pub fn set_probe(&self, ok: bool, now: Instant) {
        let mut h = lock(&self.health);
        if ok && !h.probe_ok {
            h.recovered_at = Some(now);
            tracing::info!(backend = %self.settings.name, "backend passes its probe again; slow start");
        } else if !ok && h.probe_ok {
            tracing::warn!(backend = %self.settings.name, "backend fails its health probe");
        }
        h.probe_ok = ok;
    }

    pub fn prefix_matched(&self, blocks: &[u64]) -> usize {
        lock(&self.prefixes).matched(blocks)
    }

    pub fn remember_prefix(&self, blocks: &[u64]) {
        let mut set = lock(&self.prefixes);
        for h in blocks {
            set.insert(*h);
        }
    }

    /// What `GET /admin/backends` shows.
    pub fn snapshot(&self, now: Instant, slow_start: Duration) -> serde_json::Value {
        let state = self.state(now);
        let h = lock(&self.health);
        serde_json::json!({
            "name": self.settings.name,
            "url": self.settings.url,
            "site": self.settings.site,
            "jurisdiction": self.settings.jurisdiction,
            "models": self.settings.models,
            "weight": self.settings.weight.unwrap_or(1),
            "max_concurrency": self.settings.max_concurrency,
            "state": state,
            "in_flight_requests": self.in_flight(),
            "in_flight_tokens": self.in_flight_tokens.load(Ordering::Relaxed),
            "served": self.served.load(Ordering::Relaxed),
            "failures": self.failures.load(Ordering::Relaxed),
            "ejections": h.ejections,
            "consecutive_failures": h.consecutive_failures,
            "ttft_ewma_ms": h.ttft_ewma_ms,
            "ramp": if h.recovered_at.is_some() { drop(h); self.ramp(now, slow_start) } else { 1.0 },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sovra_engine::sim::{SimConfig, SimEngine};

    fn sim_backend(max_concurrency: Option<u32>) -> Backend {
        Backend::new(
            BackendSettings {
                name: "a".into(),
                url: "embedded".into(),
                models: vec!["m".into()],
                jurisdiction: "EE".into(),
                site: "s".into(),
                weight: None,
                max_concurrency,
                api_key: None,
            },
            Arc::new(SimEngine::new(SimConfig::default())),
            None,
            16,
        )
    }

    #[test]
    fn ejection_half_opens_and_slow_starts_on_the_given_clock() {
        let b = sim_backend(Some(10));
        let cfg = RouterSettings {
            eject_after_failures: 2,
            eject_ms: 100,
            ..RouterSettings::default()
        };
        let slow = Duration::from_millis(1000);
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        assert!(!b.record_failure(at(0), &cfg));
        assert!(b.record_failure(at(1), &cfg));
        assert_eq!(b.state(at(50)), State::Ejected);
        assert_eq!(b.state(at(101)), State::Healthy);
        // Slow start: 10% of its concurrency at first, all of it after slow_start.
        assert!((b.ramp(at(101), slow) - 0.1).abs() < 1e-9);
        assert!((b.ramp(at(601), slow) - 0.5).abs() < 1e-9);
        assert_eq!(b.ramp(at(1200), slow), 1.0);
        b.reserve(1);
        assert!(!b.has_room(at(101), slow), "1 of ceil(10 * 0.1) slots used");
        assert!(b.has_room(at(601), slow));
        // Half-open: one more failure ejects it again.
        assert!(b.record_failure(at(700), &cfg));
        assert_eq!(b.state(at(750)), State::Ejected);
        // A probe failure makes it unhealthy; passing again restarts the ramp.
        assert_eq!(b.state(at(900)), State::Healthy);
        b.set_probe(false, at(900));
        assert_eq!(b.state(at(901)), State::Unhealthy);
        b.set_probe(true, at(1000));
        assert!((b.ramp(at(1000), slow) - 0.1).abs() < 1e-9);
        b.drain(true);
        assert_eq!(b.state(at(2000)), State::Draining);
    }

    #[test]
    fn a_backend_streaming_tokens_counts_as_alive() {
        let b = sim_backend(None);
        let t0 = Instant::now() + Duration::from_millis(10);
        let window = Duration::from_secs(2);
        b.record_progress(t0);
        assert!(!b.streamed_within(t0, window), "nothing in flight");
        b.reserve(5);
        assert!(b.streamed_within(t0 + Duration::from_secs(1), window));
        assert!(!b.streamed_within(t0 + Duration::from_secs(3), window));
        b.release(5);
        assert!(!b.streamed_within(t0, window));
    }

    #[test]
    fn block_set_is_bounded_and_matches_prefixes() {
        let mut s = BlockSet::new(4);
        for h in [1, 2, 3] {
            s.insert(h);
        }
        assert_eq!(s.matched(&[1, 2, 3, 4]), 3);
        assert_eq!(s.matched(&[9, 2]), 0);
        for h in [10, 11, 12] {
            s.insert(h);
        }
        assert_eq!(s.len(), 4);
        assert_eq!(s.matched(&[1, 2, 3]), 0);
        assert!(s.contains(3) && s.contains(12));
    }
}
