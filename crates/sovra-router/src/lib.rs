//! The fleet router: many backends behind one [`Engine`].
//!
//! [`Router`] implements [`Engine`] over the backends of `[[backends]]`
//! (remote OpenAI-compatible servers through [`remote::RemoteEngine`], or
//! the in-process engine for `url = "embedded"`). For each request it:
//!
//! 1. keeps the **eligible** backends: jurisdiction allowed (checked at load,
//!    where a foreign backend is refused by name, and again here on every
//!    request: [`eligible`]), serves the model, healthy, not ejected, not
//!    draining. None: a 503 that says so; nothing ever falls back elsewhere;
//! 2. picks one by [`policy`] among those with room (`max_concurrency`);
//!    when all are full it waits in the bounded, fair, prioritized
//!    [`admission`] queue until one frees up or its deadline passes;
//! 3. waits for the first token; a failure before it is retried on another
//!    eligible backend (and counts towards ejecting the failed one); after
//!    it, the stream ends with an error item the server sends as the last
//!    SSE chunk.
//!
//! Health ([`backend`]): an active probe task (`GET {url}/models`), passive
//! outlier ejection after consecutive failures (a circuit breaker that
//! half-opens when the ejection ends), slow start after recovery, and drain.
//! The fleet is swapped whole on [`Router::reload`]; backends whose settings
//! did not change keep their state. [`admin`] re-reads the settings (SIGHUP, `/admin/backends/reload`).

pub mod admin;
pub mod admission;
pub mod backend;
pub mod policy;
pub mod remote;

use std::sync::{Arc, Mutex, MutexGuard, RwLock, Weak};
use std::time::{Duration, Instant};

use futures::StreamExt;
use sovra_config::fleet::{BackendSettings, RouterSettings, SovereigntySettings};
use sovra_engine::{Engine, EngineError, EventStream, GenerateRequest, ModelCard};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::admission::{FairQueue, Rejected};
use crate::backend::{Backend, State};
use crate::policy::{PolicyState, Reason, RouteInput, Sessions};

/// Sessions remembered for affinity (bounded memory).
const MAX_SESSIONS: usize = 100_000;

/// What the fleet is built from: the three sections of the settings.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetConfig {
    pub sovereignty: SovereigntySettings,
    pub backends: Vec<BackendSettings>,
    pub router: RouterSettings,
}

/// Why a fleet could not be built.
#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    #[error(transparent)]
    Config(#[from] sovra_config::ConfigError),
    #[error("backend `{0}` has url = \"embedded\" but no embedded engine is running")]
    NoEmbedded(String),
    #[error("no backends configured")]
    Empty,
}

/// The members of the fleet and the rules they were loaded under.
struct Fleet {
    backends: Vec<Arc<Backend>>,
    config: FleetConfig,
    models: Vec<ModelCard>,
}

/// A request queued for a backend.
struct Waiter {
    input: Arc<RouteInput>,
    excluded: Vec<String>,
    tx: oneshot::Sender<Lease>,
}

struct Core {
    queue: FairQueue<Waiter>,
    policy: PolicyState,
}

struct Inner {
    fleet: RwLock<Arc<Fleet>>,
    core: Mutex<Core>,
    embedded: Option<Arc<dyn Engine>>,
    client: reqwest::Client,
    card: ModelCard,
    shutdown: CancellationToken,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The fleet router. Cheap to clone; all clones share the fleet.
#[derive(Clone)]
pub struct Router {
    inner: Arc<Inner>,
}

/// A request's claim on a backend: released (and the queue served) on drop.
struct Lease {
    backend: Arc<Backend>,
    tokens: u64,
    inner: Weak<Inner>,
    /// Released without serving the queue (the queue's lock is held).
    quiet: bool,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.backend.release(self.tokens);
        if !self.quiet
            && let Some(inner) = self.inner.upgrade()
        {
            Router { inner }.dispatch();
        }
    }
}

/// Whether `backend` may take `model` now: the sovereignty invariant first.
/// Backends outside the allowed jurisdictions are refused at load; this
/// check is the last line, on every placement.
pub fn eligible(
    backend: &Backend,
    sovereignty: &SovereigntySettings,
    model: &str,
    excluded: &[String],
    now: Instant,
) -> bool {
    sovereignty.allows(&backend.settings.jurisdiction)
        && backend.model_name(model).is_some()
        && !excluded.iter().any(|e| e == backend.name())
        && backend.state(now) == State::Healthy
}

/// Errors worth trying on another backend: the backend, not the request, failed.
fn retryable(e: &EngineError) -> bool {
    matches!(
        e,
        EngineError::Unavailable(_)
            | EngineError::Overloaded(_)
            | EngineError::Stopped
            | EngineError::Internal(_)
    )
}

fn build_fleet(
    config: FleetConfig,
    previous: &[Arc<Backend>],
    embedded: Option<&Arc<dyn Engine>>,
    client: &reqwest::Client,
) -> Result<Fleet, RouterError> {
    sovra_config::fleet::validate(&config.sovereignty, &config.backends, &config.router)?;
    if config.backends.is_empty() {
        return Err(RouterError::Empty);
    }
    let mut backends = Vec::with_capacity(config.backends.len());
    for s in &config.backends {
        // The invariant, checked here too: never build a foreign backend.
        sovra_config::fleet::validate_backend(&config.sovereignty, s)?;
        if let Some(old) = previous.iter().find(|b| b.settings == *s) {
            backends.push(Arc::clone(old));
            continue;
        }
        let models = s.model_map();
        let first = models.first().map(|(_, own)| own.as_str()).unwrap_or("");
        let (engine, probe): (Arc<dyn Engine>, Option<String>) = if s.is_embedded() {
            let engine = embedded.ok_or_else(|| RouterError::NoEmbedded(s.name.clone()))?;
            (Arc::clone(engine), None)
        } else {
            let remote =
                remote::RemoteEngine::new(client.clone(), &s.url, s.api_key.clone(), first)
                    .with_idle_timeout(Duration::from_millis(config.router.stream_idle_timeout_ms));
            let probe = Some(remote.base().to_owned());
            (Arc::new(remote), probe)
        };
        backends.push(Arc::new(Backend::new(
            s.clone(),
            engine,
            probe,
            config.router.prefix_blocks_per_backend,
        )));
    }
    let mut models: Vec<ModelCard> = Vec::new();
    for b in &backends {
        for (public, _) in &b.models {
            if models.iter().any(|m| &m.id == public) {
                continue;
            }
            let context_length = if b.probe_url.is_none() {
                b.engine.model().context_length
            } else {
                0
            };
            models.push(ModelCard {
                id: public.clone(),
                context_length,
                description: format!("fleet model ({} policy)", config.router.policy.as_str()),
            });
        }
    }
    Ok(Fleet {
        backends,
        config,
        models,
    })
}

fn per_tenant(cfg: &RouterSettings) -> usize {
    (cfg.queue_depth * cfg.tenant_queue_percent as usize / 100).max(1)
}

impl Router {
    /// Build the fleet and start its health probes. `embedded` is the
    /// in-process engine for backends with `url = "embedded"`.
    pub fn start(
        config: FleetConfig,
        embedded: Option<Arc<dyn Engine>>,
    ) -> Result<Self, RouterError> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        let fleet = build_fleet(config, &[], embedded.as_ref(), &client)?;
        let card = fleet.models.first().cloned().ok_or(RouterError::Empty)?;
        let cfg = fleet.config.router.clone();
        let inner = Arc::new(Inner {
            core: Mutex::new(Core {
                queue: FairQueue::new(cfg.queue_depth, per_tenant(&cfg)),
                policy: PolicyState {
                    rr: 0,
                    sessions: Sessions::new(MAX_SESSIONS),
                },
            }),
            fleet: RwLock::new(Arc::new(fleet)),
            embedded,
            client,
            card,
            shutdown: CancellationToken::new(),
        });
        tokio::spawn(probe_loop(Arc::downgrade(&inner), inner.shutdown.clone()));
        Ok(Self { inner })
    }

    fn fleet(&self) -> Arc<Fleet> {
        Arc::clone(&self.inner.fleet.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Replace the fleet with `config` (checked first: a foreign backend
    /// refuses the whole reload). Unchanged backends keep their state;
    /// removed ones finish their streams.
    pub fn reload(&self, config: FleetConfig) -> Result<usize, RouterError> {
        let old = self.fleet();
        let fleet = build_fleet(
            config,
            &old.backends,
            self.inner.embedded.as_ref(),
            &self.inner.client,
        )?;
        let n = fleet.backends.len();
        let cfg = fleet.config.router.clone();
        *self.inner.fleet.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(fleet);
        lock(&self.inner.core)
            .queue
            .resize(cfg.queue_depth, per_tenant(&cfg));
        tracing::info!(backends = n, policy = cfg.policy.as_str(), "fleet reloaded");
        self.dispatch();
        Ok(n)
    }

    /// Stop (or resume) sending new work to a backend; its streams finish.
    pub fn drain(&self, name: &str, on: bool) -> bool {
        let fleet = self.fleet();
        let Some(b) = fleet.backends.iter().find(|b| b.name() == name) else {
            return false;
        };
        b.drain(on);
        tracing::info!(backend = name, draining = on, "backend drain");
        if !on {
            self.dispatch();
        }
        true
    }

    /// Drain every backend (on SIGTERM) and stop the probes.
    pub fn drain_all(&self) {
        for b in &self.fleet().backends {
            b.drain(true);
        }
        self.inner.shutdown.cancel();
    }

    /// `GET /admin/backends`.
    pub fn snapshot(&self) -> serde_json::Value {
        let fleet = self.fleet();
        let now = Instant::now();
        let slow = Duration::from_millis(fleet.config.router.slow_start_ms);
        let waiting = lock(&self.inner.core).queue.len();
        serde_json::json!({
            "policy": fleet.config.router.policy.as_str(),
            "allowed_jurisdictions": fleet.config.sovereignty.allowed_jurisdictions,
            "queue": {"waiting": waiting, "depth": fleet.config.router.queue_depth},
            "backends": fleet.backends.iter().map(|b| b.snapshot(now, slow)).collect::<Vec<_>>(),
        })
    }

    fn candidates(
        fleet: &Fleet,
        input: &RouteInput,
        excluded: &[String],
        now: Instant,
    ) -> Vec<Arc<Backend>> {
        let slow = Duration::from_millis(fleet.config.router.slow_start_ms);
        fleet
            .backends
            .iter()
            .filter(|b| eligible(b, &fleet.config.sovereignty, &input.model, excluded, now))
            .filter(|b| b.has_room(now, slow))
            .cloned()
            .collect()
    }

    /// Pick and reserve a backend; the core lock must be held.
    fn place(
        &self,
        fleet: &Fleet,
        policy: &mut PolicyState,
        input: &RouteInput,
        excluded: &[String],
        now: Instant,
    ) -> Option<Lease> {
        let started = Instant::now();
        let candidates = Self::candidates(fleet, input, excluded, now);
        let cfg = &fleet.config.router;
        let (i, reason) = policy::choose(
            cfg.policy,
            input,
            &candidates,
            policy,
            now,
            Duration::from_millis(cfg.slow_start_ms),
            cfg.affinity_max_extra_tokens,
        )?;
        metrics::histogram!("sovra_router_decision_seconds")
            .record(started.elapsed().as_secs_f64());
        let backend = Arc::clone(&candidates[i]);
        if reason != Reason::RoundRobin {
            backend.remember_prefix(&input.blocks);
        }
        if let Some(s) = &input.session {
            policy.sessions.set(s, backend.name());
        }
        backend.reserve(input.tokens);
        metrics::counter!("sovra_router_decisions_total", "policy" => cfg.policy.as_str(), "reason" => reason.as_str())
            .increment(1);
        metrics::counter!("sovra_router_routed_total", "backend" => backend.name().to_owned())
            .increment(1);
        Some(Lease {
            backend,
            tokens: input.tokens,
            inner: Arc::downgrade(&self.inner),
            quiet: false,
        })
    }

    /// Serve the queue: place every waiter that can be placed now.
    fn dispatch(&self) {
        let fleet = self.fleet();
        let now = Instant::now();
        let mut core = lock(&self.inner.core);
        let Core { queue, policy } = &mut *core;
        let expired = queue.expire(now, |w| !w.tx.is_closed());
        drop(expired);
        loop {
            let next = queue
                .pop_where(|w| !Self::candidates(&fleet, &w.input, &w.excluded, now).is_empty());
            let Some(w) = next else { break };
            if w.tx.is_closed() {
                continue;
            }
            let Some(lease) = self.place(&fleet, policy, &w.input, &w.excluded, now) else {
                continue;
            };
            if let Err(mut lease) = w.tx.send(lease) {
                lease.quiet = true;
            }
        }
        metrics::gauge!("sovra_router_queue_waiting").set(queue.len() as f64);
    }

    /// Why nothing can serve `model` now, for the 503.
    fn none_eligible(fleet: &Fleet, model: &str, excluded: &[String], now: Instant) -> EngineError {
        let states: Vec<String> = fleet
            .backends
            .iter()
            .filter(|b| b.model_name(model).is_some())
            .map(|b| {
                let why = if excluded.iter().any(|e| e == b.name()) {
                    "failed this request".to_owned()
                } else {
                    format!("{:?}", b.state(now)).to_lowercase()
                };
                format!("{}: {why}", b.name())
            })
            .collect();
        let allowed = fleet.config.sovereignty.allowed_jurisdictions.join(", ");
        metrics::counter!("sovra_router_rejections_total", "reason" => "no_backend").increment(1);
        if states.is_empty() {
            return EngineError::Unavailable(format!(
                "No backend serves model `{model}` in the allowed jurisdictions [{allowed}]."
            ));
        }
        EngineError::Unavailable(format!(
            "No backend in the allowed jurisdictions [{allowed}] can serve model `{model}` now ({}); the request was not sent anywhere else.",
            states.join(", ")
        ))
    }

    /// A lease on a backend for this request, now or after queueing.
    async fn acquire(
        &self,
        input: &Arc<RouteInput>,
        excluded: &[String],
        tenant: &str,
        priority: sovra_engine::Priority,
        deadline: Instant,
    ) -> Result<Lease, EngineError> {
        let fleet = self.fleet();
        let now = Instant::now();
        let rx = {
            let mut core = lock(&self.inner.core);
            let Core { queue, policy } = &mut *core;
            if let Some(lease) = self.place(&fleet, policy, input, excluded, now) {
                return Ok(lease);
            }
            let any = fleet
                .backends
                .iter()
                .any(|b| eligible(b, &fleet.config.sovereignty, &input.model, excluded, now));
            if !any {
                return Err(Self::none_eligible(&fleet, &input.model, excluded, now));
            }
            drop(queue.expire(now, |w| !w.tx.is_closed()));
            let (tx, rx) = oneshot::channel();
            let waiter = Waiter {
                input: Arc::clone(input),
                excluded: excluded.to_vec(),
                tx,
            };
            match queue.push(tenant, priority, deadline, waiter) {
                Ok(()) => {}
                Err((Rejected::Full, _)) => {
                    metrics::counter!("sovra_router_rejections_total", "reason" => "queue_full")
                        .increment(1);
                    return Err(EngineError::Overloaded(queue.len()));
                }
                Err((Rejected::TenantOverShare, _)) => {
                    metrics::counter!("sovra_router_rejections_total", "reason" => "tenant_share")
                        .increment(1);
                    return Err(EngineError::RateLimited(format!(
                        "Too many of your requests are waiting for capacity (router.tenant_queue_percent = {}% of {}); retry shortly.",
                        fleet.config.router.tenant_queue_percent, fleet.config.router.queue_depth
                    )));
                }
            }
            metrics::gauge!("sovra_router_queue_waiting").set(queue.len() as f64);
            rx
        };
        match tokio::time::timeout_at(deadline.into(), rx).await {
            Ok(Ok(lease)) => Ok(lease),
            _ => {
                metrics::counter!("sovra_router_rejections_total", "reason" => "queue_timeout")
                    .increment(1);
                Err(EngineError::Unavailable(format!(
                    "No backend for model `{}` became free within router.queue_timeout_ms = {}.",
                    input.model, fleet.config.router.queue_timeout_ms
                )))
            }
        }
    }
}

#[async_trait::async_trait]
impl Engine for Router {
    fn model(&self) -> &ModelCard {
        &self.inner.card
    }

    fn models(&self) -> Vec<ModelCard> {
        self.fleet().models.clone()
    }

    fn is_ready(&self) -> bool {
        let now = Instant::now();
        self.fleet()
            .backends
            .iter()
            .any(|b| b.state(now) == State::Healthy)
    }

    async fn generate(&self, request: GenerateRequest) -> Result<EventStream, EngineError> {
        let fleet = self.fleet();
        let cfg = fleet.config.router.clone();
        let model = request
            .model
            .clone()
            .unwrap_or_else(|| self.inner.card.id.clone());
        let input = Arc::new(RouteInput::new(
            &request,
            model.clone(),
            cfg.prefix_block_bytes,
        ));
        let deadline = Instant::now() + Duration::from_millis(cfg.queue_timeout_ms);
        let tenant = request.hints.tenant.clone().unwrap_or_default();
        let mut excluded: Vec<String> = Vec::new();
        let mut last: Option<EngineError> = None;
        for _ in 0..=cfg.max_retries {
            let lease = match self
                .acquire(&input, &excluded, &tenant, request.hints.priority, deadline)
                .await
            {
                Ok(l) => l,
                Err(EngineError::Unavailable(m)) => {
                    return Err(EngineError::Unavailable(match last {
                        Some(e) => format!("{m} Last failure: {e}"),
                        None => m,
                    }));
                }
                Err(e) => return Err(e),
            };
            let primary_backend = lease.backend.name().to_owned();
            let primary = attempt(lease, &request, &model, &cfg);
            let hedge_ok = cfg.hedge_after_ms > 0
                && request
                    .params
                    .max_tokens
                    .is_some_and(|m| m <= cfg.hedge_max_tokens);
            let outcomes = if hedge_ok {
                self.hedged(primary, &primary_backend, &input, &excluded, &request, &cfg)
                    .await
            } else {
                vec![primary.await]
            };
            let mut failures = Vec::new();
            for outcome in outcomes {
                match outcome {
                    Ok(stream) => return Ok(stream),
                    Err((e, backend)) => failures.push((e, backend)),
                }
            }
            for (e, backend) in failures {
                if !retryable(&e) {
                    return Err(e);
                }
                tracing::warn!(backend = %backend.name(), error = %e, "failed before the first token; trying another backend");
                backend.record_failure(Instant::now(), &cfg);
                metrics::counter!("sovra_router_retries_total", "backend" => backend.name().to_owned())
                    .increment(1);
                excluded.push(backend.name().to_owned());
                last = Some(e);
            }
        }
        Err(EngineError::Unavailable(format!(
            "Every backend tried failed before the first token; last failure: {}",
            last.map(|e| e.to_string()).unwrap_or_default()
        )))
    }
}

/// What one try on one backend came to: its stream (first event already
/// in), or the error and the backend that failed.
type Outcome = Result<EventStream, (EngineError, Arc<Backend>)>;

/// Send the request to the lease's backend and wait for its first event.
async fn attempt(
    lease: Lease,
    request: &GenerateRequest,
    model: &str,
    cfg: &RouterSettings,
) -> Outcome {
    let backend = Arc::clone(&lease.backend);
    let mut req = request.clone();
    req.model = backend.model_name(model).map(str::to_owned);
    let started = Instant::now();
    let first = tokio::time::timeout(Duration::from_millis(cfg.first_token_timeout_ms), async {
        let mut stream = backend.engine.generate(req).await?;
        let first = stream.next().await.unwrap_or_else(|| {
            Err(EngineError::Internal(
                "the backend ended the stream before its first event".into(),
            ))
        })?;
        Ok::<_, EngineError>((first, stream))
    })
    .await
    .unwrap_or_else(|_| {
        Err(EngineError::Unavailable(format!(
            "no first token within router.first_token_timeout_ms = {}",
            cfg.first_token_timeout_ms
        )))
    });
    match first {
        Ok((event, rest)) => {
            backend.record_success(started.elapsed());
            let cfg = cfg.clone();
            let stream = futures::stream::once(async move { Ok(event) })
                .chain(rest)
                .map(move |item| {
                    if item.is_err() {
                        lease.backend.record_failure(Instant::now(), &cfg);
                    } else {
                        lease.backend.record_progress(Instant::now());
                    }
                    item
                });
            Ok(stream.boxed())
        }
        Err(e) => Err((e, backend)),
    }
}

impl Router {
    /// Hedging: if `primary` has no first token after `hedge_after_ms`, send
    /// the same request to another backend with room now (never queued) and
    /// keep whichever answers first; the other is dropped, which cancels it.
    /// Returns the winner, or every failure.
    async fn hedged(
        &self,
        primary: impl std::future::Future<Output = Outcome>,
        primary_backend: &str,
        input: &RouteInput,
        excluded: &[String],
        request: &GenerateRequest,
        cfg: &RouterSettings,
    ) -> Vec<Outcome> {
        tokio::pin!(primary);
        tokio::select! {
            out = &mut primary => return vec![out],
            () = tokio::time::sleep(Duration::from_millis(cfg.hedge_after_ms)) => {}
        }
        let lease = {
            let fleet = self.fleet();
            let mut core = lock(&self.inner.core);
            let mut skip = excluded.to_vec();
            skip.push(primary_backend.to_owned());
            self.place(&fleet, &mut core.policy, input, &skip, Instant::now())
        };
        let Some(lease) = lease else {
            return vec![primary.await];
        };
        metrics::counter!("sovra_router_hedges_total", "backend" => lease.backend.name().to_owned())
            .increment(1);
        let hedge = attempt(lease, request, &input.model, cfg);
        tokio::pin!(hedge);
        tokio::select! {
            out = &mut primary => match out {
                Ok(s) => vec![Ok(s)],
                Err(e) => vec![Err(e), hedge.await],
            },
            out = &mut hedge => match out {
                Ok(s) => vec![Ok(s)],
                Err(e) => vec![Err(e), primary.await],
            },
        }
    }
}

/// Probe every remote backend's `GET {url}/models` (and the embedded
/// engine's readiness) until shut down; after each round, serve the queue.
/// How long an active probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

async fn probe_loop(inner: Weak<Inner>, shutdown: CancellationToken) {
    loop {
        let Some(strong) = inner.upgrade() else {
            return;
        };
        let router = Router { inner: strong };
        let fleet = router.fleet();
        let interval = fleet.config.router.probe_interval_ms;
        let client = router.inner.client.clone();
        drop(router);
        if interval > 0 {
            let probes = fleet.backends.iter().map(|b| {
                let client = client.clone();
                let b = Arc::clone(b);
                async move {
                    // Tokens flowing prove it alive; engines that serve one
                    // request at a time (llama-cpp-python) would keep the
                    // probe waiting behind the stream and fail it.
                    let now = Instant::now();
                    if b.streamed_within(now, PROBE_TIMEOUT.max(Duration::from_millis(interval))) {
                        return;
                    }
                    let probe_started = now;
                    let ok = match &b.probe_url {
                        None => b.engine.is_ready(),
                        Some(url) => {
                            let mut probe =
                                client.get(format!("{url}/models")).timeout(PROBE_TIMEOUT);
                            if let Some(key) = &b.settings.api_key {
                                probe = probe.bearer_auth(key);
                            }
                            probe.send().await.is_ok_and(|r| r.status().is_success())
                        }
                    };
                    // A probe that waited behind a stream that produced
                    // tokens meanwhile did not find the backend dead.
                    let ok = ok || b.progressed_since(probe_started);
                    b.set_probe(ok, Instant::now());
                }
            });
            tokio::select! {
                _ = futures::future::join_all(probes) => {}
                () = shutdown.cancelled() => return,
            }
        }
        drop(fleet);
        // Recoveries (probe passed, ejection over) free capacity no release
        // announces: serve the queue.
        if let Some(inner) = inner.upgrade() {
            Router { inner }.dispatch();
        }
        let wait = Duration::from_millis(if interval == 0 { 1000 } else { interval });
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests;
