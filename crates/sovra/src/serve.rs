//! `sovra serve` and `sovra sim-node`: build the engine and store the
//! settings ask for, serve HTTP, and shut down gracefully.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use figment::providers::Serialized;
use sovra_config::{EngineKind, LogFormat, Settings};
use sovra_embedded::{EmbeddedConfig, EmbeddedEngine};
use sovra_engine::Engine;
use sovra_engine::sim::node::{Faults, SimNode, SimNodeConfig};
use sovra_engine::sim::{SimConfig, SimEngine};
use sovra_router::admin::ReloadFn;
use sovra_router::{FleetConfig, Router};
use sovra_server::conn::ConnLimits;
use sovra_server::embeddings::EmbeddingService;
use sovra_server::hardening::{AllowedHosts, SecurityHeaders};
use sovra_server::profile::PublicProfile;
use sovra_server::{AppState, Limits};
use sovra_store::SqliteStore;
use tokio_util::sync::CancellationToken;

use crate::cli::{LogFormatArg, ServeArgs, SimNodeArgs};

pub async fn serve(args: ServeArgs) -> Result<()> {
    let settings = Settings::load(
        args.config.as_deref(),
        Serialized::defaults(args.overrides()),
    )
    .context("invalid configuration")?;
    crate::setup::init_logging(settings.log_format);
    for var in sovra_config::unknown_env_vars() {
        tracing::warn!(variable = %var, "ignoring an environment variable that names no setting (see docs/configuration.md)");
    }
    // open_store makes the data dir owner-only (and tightens it and its
    // files when an older version left them open).
    let store = crate::setup::open_store(&settings).await?;
    let (engine, fleet) = if settings.backends.is_empty() {
        (build_engine(&settings).await?, None)
    } else {
        let (router, reload) = build_fleet(&settings, &args).await?;
        (
            Arc::new(router.clone()) as Arc<dyn Engine>,
            Some((router, reload)),
        )
    };
    tracing::info!(model = %engine.model().id, engine = %engine.model().description, "model loaded");
    let limits = Limits {
        max_body_bytes: settings.limits.max_body_bytes,
        max_completion_tokens: settings.limits.max_completion_tokens,
        max_messages: settings.limits.max_messages,
    };
    let retention_days = settings.retention.conversations_days;
    let safety = crate::safety::build(&settings, &*store).await?;
    // The web chat shows the public parts of the same profile the pipeline
    // follows (the built-in neutral one has its own neutral page).
    let profile = safety.profile();
    let public = match &settings.safety.profile {
        Some(_) => PublicProfile::from_profile(&profile, retention_days),
        None => PublicProfile::neutral(retention_days),
    };
    let prompts: BTreeMap<String, String> = profile
        .languages
        .iter()
        .map(|l| (l.as_str().to_owned(), profile.system_prompt(l.as_str())))
        .collect();
    let mut state = AppState::new(
        engine,
        store.clone(),
        limits,
        &profile.system_prompt(profile.fallback_language().as_str()),
    )
    .with_api_keys(sovra_server::auth::ApiKeys::new(&settings.auth.api_keys))
    .with_audit_digests(settings.audit.content == sovra_config::AuditContent::Digest)
    .with_anonymous(settings.identity.anonymous)
    .with_profile(public, prompts);
    let (signin, oidc) = crate::signin::build(
        &settings.signin,
        settings.listen,
        sovra_store::directory_of(store.clone()),
    )?;
    state = state.with_signin(signin);
    if let Some(oidc) = oidc {
        state = state.with_oidc(oidc);
    }
    if let Some(quotas) = crate::quotas::build(&settings).await? {
        state = state.with_quotas(quotas);
    }
    refuse_to_start_open(&settings, &state).await?;
    if let Some((router, reload)) = &fleet {
        state = state.with_fleet(Arc::new(FleetAdmin {
            router: router.clone(),
            reload: Arc::clone(reload),
        }));
    }
    let embeddings = crate::setup::load_embeddings(&settings)
        .await?
        .map(|embedder| EmbeddingService {
            embedder,
            max_inputs: settings.embeddings.max_inputs,
        });
    state = state.with_safety(safety.clone());
    let stop_safety = CancellationToken::new();
    let choice = crate::safety::Choice::from_settings(&settings, embeddings.is_some())?;
    let classifier = match (&embeddings, choice) {
        (Some(service), Some(choice)) => Some(crate::safety::spawn_classifier(
            safety.clone(),
            &settings,
            choice,
            service.embedder.clone(),
            stop_safety.clone(),
        )),
        _ => None,
    };
    let flush = tokio::spawn(crate::safety::run_tally_flush(
        safety,
        store.clone(),
        Duration::from_secs(10),
        stop_safety.clone(),
    ));
    if let Some(service) = embeddings {
        if settings.knowledge.enabled != Some(false) {
            let knowledge =
                crate::knowledge::open_service(&settings, service.embedder.clone(), store.clone())
                    .await?;
            state = state.with_knowledge(knowledge);
        }
        state = state.with_embeddings(service);
    } else if settings.knowledge.enabled == Some(true) {
        anyhow::bail!(
            "knowledge.enabled needs embeddings (embeddings.enabled): the knowledge base embeds with that model"
        );
    }
    let stop_purges = CancellationToken::new();
    let knowledge_purges = state.knowledge.clone().map(|k| {
        tokio::spawn(crate::knowledge::run_purges(
            k.kb,
            crate::setup::retention_rules(&settings),
            Duration::from_secs(settings.retention.purge_interval_secs),
            stop_purges.clone(),
        ))
    });
    let purges = tokio::spawn(sovra_store::retention::run_purges(
        store,
        crate::setup::retention_rules(&settings),
        Duration::from_secs(settings.retention.purge_interval_secs),
        stop_purges.clone(),
    ));
    let served = run_http(
        state,
        axum::Router::new(),
        settings.listen,
        Duration::from_secs(settings.limits.shutdown_grace_secs),
        fleet,
        Network::from_settings(&settings.server, settings.listen)?,
    )
    .await;
    stop_purges.cancel();
    stop_safety.cancel();
    let _ = purges.await;
    let _ = flush.await;
    if let Some(c) = classifier {
        let _ = c.await;
    }
    if let Some(p) = knowledge_purges {
        let _ = p.await;
    }
    served
}

/// An open platform (no operator key, no platform admin: the anonymous
/// public may use the OpenAI API) is for one machine. Bound beyond loopback
/// it starts only when the operator says so (`identity.public_open`,
/// `--public-open`), and then says so loudly.
async fn refuse_to_start_open(settings: &Settings, state: &AppState) -> Result<()> {
    if settings.listen.ip().is_loopback() || !state.api_keys.is_open() {
        return Ok(());
    }
    // Asked here, not through the server's latch (which treats a directory
    // that cannot answer as closed): a start must know.
    let admins = state
        .identity
        .directory
        .platform_admins()
        .await
        .context("could not count the platform admins")?;
    if admins > 0 {
        return Ok(());
    }
    if !settings.identity.public_open {
        anyhow::bail!(
            "refusing to serve an open platform on {}: anyone who reaches it could use it without a credential. \
             Make the first platform admin (`sovra admin bootstrap --name ...`) or set auth.api_keys, \
             or listen on 127.0.0.1; to serve it open anyway, pass --public-open (identity.public_open = true)",
            settings.listen
        );
    }
    for _ in 0..3 {
        tracing::warn!(
            listen = %settings.listen,
            "OPEN PLATFORM ON A PUBLIC ADDRESS (--public-open): anyone who reaches {} may use the OpenAI API without a credential until a platform admin is bootstrapped or auth.api_keys is set",
            settings.listen
        );
    }
    Ok(())
}

/// The fleet as the admin API sees it.
struct FleetAdmin {
    router: Router,
    reload: ReloadFn,
}

impl sovra_server::fleet::Fleet for FleetAdmin {
    fn snapshot(&self) -> serde_json::Value {
        self.router.snapshot()
    }

    fn reload(&self) -> Result<usize, String> {
        sovra_router::admin::reload(&self.router, &self.reload)
    }

    fn drain(&self, name: &str, on: bool) -> bool {
        self.router.drain(name, on)
    }
}

/// The fleet router over `[[backends]]`, and how to re-read its settings
/// (SIGHUP, `POST /admin/backends/reload`).
async fn build_fleet(settings: &Settings, args: &ServeArgs) -> Result<(Router, ReloadFn)> {
    let embedded = if settings.backends.iter().any(|b| b.is_embedded()) {
        Some(build_engine(settings).await?)
    } else {
        None
    };
    let config = FleetConfig {
        sovereignty: settings.sovereignty.clone(),
        backends: settings.backends.clone(),
        router: settings.router.clone(),
    };
    let router = Router::start(config, embedded).context("invalid fleet")?;
    let file = args.config.clone();
    let overrides = args.overrides();
    let reload: ReloadFn = Arc::new(move || {
        let s = Settings::load(file.as_deref(), Serialized::defaults(overrides.clone()))
            .map_err(|e| e.to_string())?;
        Ok(FleetConfig {
            sovereignty: s.sovereignty,
            backends: s.backends,
            router: s.router,
        })
    });
    for b in &settings.backends {
        tracing::info!(backend = %b.name, url = %b.url, jurisdiction = %b.jurisdiction, site = %b.site, "fleet backend");
    }
    Ok((router, reload))
}

pub async fn sim_node(args: SimNodeArgs) -> Result<()> {
    crate::setup::init_logging(match args.log_format {
        LogFormatArg::Human => LogFormat::Human,
        LogFormatArg::Json => LogFormat::Json,
    });
    let node = SimNode::start(node_config(&args)?);
    let control = node.control();
    // The node keeps no history: its conversation store lives in memory.
    let store = SqliteStore::in_memory()
        .await
        .context("could not open the in-memory store")?;
    // Long-document and multi-turn benchmarks send big prompts.
    let limits = Limits {
        max_body_bytes: 8 * 1024 * 1024,
        ..Limits::default()
    };
    let state = AppState::new(Arc::new(node), Arc::new(store), limits, "");
    let extra = sovra_server::sim::routes(control);
    run_http(
        state,
        extra,
        args.listen,
        Duration::from_secs(5),
        None,
        Network::from_settings(&sovra_config::ServerSettings::default(), args.listen)?,
    )
    .await
}

fn node_config(args: &SimNodeArgs) -> Result<SimNodeConfig> {
    if !(args.time_scale.is_finite() && args.time_scale >= 0.0) {
        anyhow::bail!("--time-scale must be a number >= 0");
    }
    if !(args.slowdown.is_finite() && (0.0..=1000.0).contains(&args.slowdown)) {
        anyhow::bail!("--slowdown must be between 0 and 1000");
    }
    if !(args.tokens_per_second.is_finite() && args.tokens_per_second >= 0.0) {
        anyhow::bail!("--tokens-per-second must be a number >= 0");
    }
    if args.max_batch == 0 || args.max_waiting == 0 || args.kv_tokens < 16 {
        anyhow::bail!("--max-batch and --max-waiting must be > 0, --kv-tokens at least 16");
    }
    Ok(SimNodeConfig {
        model_id: args.model.clone(),
        context_length: args.context,
        default_answer_tokens: args.answer_tokens,
        max_batch: args.max_batch,
        step_base: if args.tokens_per_second > 0.0 {
            Duration::from_secs_f64(1.0 / args.tokens_per_second)
        } else {
            Duration::ZERO
        },
        step_per_seq: Duration::from_micros(args.step_per_seq_us),
        prefill_overhead: Duration::from_millis(args.ttft_ms),
        prefill_per_token: Duration::from_micros(args.prefill_us_per_token),
        kv_tokens: args.kv_tokens,
        max_waiting: args.max_waiting,
        time_scale: args.time_scale,
        faults: Faults {
            refuse: args.refuse,
            hang: args.hang,
            die_after_tokens: args.die_after_tokens.filter(|n| *n > 0),
            slowdown: args.slowdown,
        },
        ..SimNodeConfig::default()
    })
}

async fn build_engine(settings: &Settings) -> Result<Arc<dyn Engine>> {
    let e = &settings.engine;
    match e.kind {
        EngineKind::Sim => Ok(Arc::new(SimEngine::new(SimConfig {
            model_id: e.model_name.clone().unwrap_or_else(|| "sim".to_owned()),
            time_to_first_token: Duration::from_millis(e.sim_ttft_ms),
            tokens_per_second: e.sim_tokens_per_second,
            context_length: e.context,
            fail_after_tokens: (e.sim_fail_after_tokens > 0).then_some(e.sim_fail_after_tokens),
            ..SimConfig::default()
        }))),
        EngineKind::Embedded => {
            let (path, default_name) = resolve_model(&e.model, e.model_cache.clone()).await?;
            let mut config =
                EmbeddedConfig::new(&path, e.model_name.clone().unwrap_or(default_name));
            if e.threads > 0 {
                config.threads = e.threads;
            }
            config.parallel = e.parallel;
            config.context_per_sequence = e.context;
            config.batch_tokens = e.batch_tokens;
            config.queue_depth = e.queue_depth;
            let engine = tokio::task::spawn_blocking(move || EmbeddedEngine::load(config))
                .await
                .context("the model loader crashed")?
                .with_context(|| format!("could not load the model {}", path.display()))?;
            Ok(Arc::new(engine))
        }
    }
}

/// A GGUF path as is, or a catalogue name pulled into the cache on first use.
async fn resolve_model(model: &str, cache: Option<PathBuf>) -> Result<(PathBuf, String)> {
    let as_path = Path::new(model);
    if as_path.extension().is_some_and(|x| x == "gguf") || as_path.is_file() {
        if !as_path.is_file() {
            anyhow::bail!("model file {model} does not exist");
        }
        return Ok((
            as_path.to_path_buf(),
            crate::setup::name_of_file(as_path, "model"),
        ));
    }
    let entry = sovra_models::find(model)?;
    crate::setup::pull_catalogue(entry, cache).await
}

/// How the server meets the network: TLS or not, the connection limits,
/// the request body deadline, the security headers and the host names it
/// answers to ([server] settings).
pub struct Network {
    tls: Option<tokio_rustls::TlsAcceptor>,
    limits: ConnLimits,
    body_timeout: Duration,
    headers: SecurityHeaders,
    hosts: Option<AllowedHosts>,
}

impl Network {
    pub fn from_settings(s: &sovra_config::ServerSettings, listen: SocketAddr) -> Result<Self> {
        let tls = match (&s.tls_cert, &s.tls_key) {
            (Some(cert), Some(key)) => Some(
                sovra_server::conn::load_tls(cert, key)
                    .context("could not set up TLS (server.tls_cert, server.tls_key)")?,
            ),
            _ => None,
        };
        // HSTS only where clients come over TLS: here or at a proxy in front.
        let hsts = (tls.is_some() || s.behind_tls_proxy).then_some(s.hsts_max_age_secs);
        Ok(Self {
            tls,
            limits: ConnLimits {
                header_read_timeout: Duration::from_secs(s.header_read_timeout_secs),
                max_header_bytes: s.max_header_bytes,
                max_headers: s.max_headers,
                tls_handshake_timeout: Duration::from_secs(s.tls_handshake_timeout_secs),
                http2_keep_alive: Duration::from_secs(s.http2_keep_alive_secs),
            },
            body_timeout: Duration::from_secs(s.body_read_timeout_secs),
            headers: SecurityHeaders::new(hsts),
            // A loopback server is reached by name only from this machine:
            // any other name is a page rebinding its DNS to 127.0.0.1.
            hosts: if !s.allowed_hosts.is_empty() {
                Some(AllowedHosts::new(&s.allowed_hosts))
            } else if listen.ip().is_loopback() {
                Some(AllowedHosts::loopback(listen))
            } else {
                None
            },
        })
    }
}

/// Serve until SIGINT/SIGTERM, then drain: stop accepting, let streams finish
/// within `grace`, then exit. `extra` routes are served beside Sovra's own.
async fn run_http(
    state: AppState,
    extra: axum::Router,
    listen: std::net::SocketAddr,
    grace: Duration,
    fleet: Option<(Router, ReloadFn)>,
    network: Network,
) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("could not listen on {listen}"))?;
    let local = listener.local_addr().context("no local address")?;
    let scheme = if network.tls.is_some() {
        "https"
    } else {
        "http"
    };
    tracing::info!(
        address = %local,
        tls = network.tls.is_some(),
        "Sovra is serving: web chat at {scheme}://{local}/ , OpenAI API at {scheme}://{local}/v1"
    );
    let shutdown = CancellationToken::new();
    let router = fleet.as_ref().map(|(r, _)| r.clone());
    let signals = tokio::spawn(wait_for_signal(shutdown.clone(), state.clone(), router));
    // Every route of the application (the fleet's admin API included) is
    // behind the identity middleware inside `sovra_server::router`.
    let mut app = sovra_server::router(state.clone()).merge(extra);
    let hangup = fleet.map(|(router, reload)| tokio::spawn(reload_on_sighup(router, reload)));
    if let Some(hosts) = network.hosts {
        app = sovra_server::hardening::allowed_hosts(app, hosts);
    }
    let app = sovra_server::hardening::body_deadline(app, network.body_timeout);
    let app = sovra_server::hardening::security_headers(app, network.headers);
    let left = sovra_server::conn::serve(
        listener,
        app,
        network.tls,
        network.limits,
        shutdown.clone(),
        grace,
    )
    .await;
    if left > 0 {
        tracing::warn!(
            grace_secs = grace.as_secs(),
            connections = left,
            "grace period over; closing remaining streams"
        );
    }
    state.tasks.close();
    if tokio::time::timeout(Duration::from_secs(2), state.tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            tasks = state.tasks.len(),
            "background tasks still running at exit"
        );
    }
    signals.abort();
    if let Some(task) = hangup {
        task.abort();
    }
    tracing::info!("stopped");
    Ok(())
}

/// SIGHUP re-reads the fleet's settings; a bad file leaves the fleet as it was.
async fn reload_on_sighup(router: Router, reload: ReloadFn) {
    #[cfg(unix)]
    {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            return;
        };
        while hup.recv().await.is_some() {
            match sovra_router::admin::reload(&router, &reload) {
                Ok(n) => tracing::info!(backends = n, "SIGHUP: fleet reloaded"),
                Err(e) => {
                    tracing::warn!(error = %e, "SIGHUP: reload refused; the running fleet is unchanged")
                }
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (router, reload);
}

async fn wait_for_signal(shutdown: CancellationToken, state: AppState, fleet: Option<Router>) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown requested: no new connections; finishing streams");
    state.start_draining();
    if let Some(router) = fleet {
        router.drain_all();
    }
    shutdown.cancel();
}
