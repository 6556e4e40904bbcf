//! Sovra's HTTP surface.
//!
//! One axum [`Router`] over one [`AppState`]: the OpenAI-compatible API under
//! `/v1`, the conversation API the web chat and `sovra chat` use under
//! `/api`, the web chat itself at `/` and the operator console at `/console`
//! (its data under `/admin`), and `/healthz`, `/readyz`, `/metrics`,
//! `/openapi.json` (generated from the handlers, see [`apidoc`]).
//! Cross-cutting concerns (request ids, tracing, body limits, metrics) are
//! tower layers; handlers are small functions returning
//! `Result<_, HttpError>`, and [`error::HttpError`] is the only place that
//! renders an error body. Handlers that answer a person are adapters over
//! the one answer pipeline, [`sovra_assistant::Assistant`]: wire types in,
//! the pipeline's answer out.

pub mod admin;
pub mod anonymous;
pub mod answer;
pub mod apidoc;
pub mod auth;
pub mod caller;
pub mod conn;
pub mod console;
pub mod conversations;
pub mod cookies;
pub mod data;
pub mod embeddings;
pub mod error;
pub mod extract;
pub mod files;
pub mod fleet;
pub mod hardening;
pub mod identity;
pub mod knowledge;
pub mod limits;
pub mod observe;
pub mod oidc;
pub mod openai;
pub mod profile;
pub mod signin;
pub mod sim;
pub mod stream;
pub mod tools;
pub mod transparency;
pub mod web;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request};
use sovra_engine::Engine;
use sovra_store::Store;
use tokio_util::task::TaskTracker;
use tower_http::compression::CompressionLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use error::HttpError;

/// Limits the HTTP layer enforces.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub max_completion_tokens: u32,
    pub max_messages: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            max_completion_tokens: 1024,
            max_messages: 256,
        }
    }
}

/// Everything a handler may need; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<dyn Engine>,
    pub store: Arc<dyn Store>,
    pub limits: Arc<Limits>,
    /// The system prompt of the web chat and `sovra chat` conversations.
    pub system_prompt: Arc<str>,
    /// The same per language (from the country profile), for a message that
    /// names its language; others get `system_prompt`.
    pub system_prompts: Arc<std::collections::BTreeMap<String, String>>,
    /// `/v1/embeddings`, when an embedding model is served.
    pub embeddings: Option<embeddings::EmbeddingService>,
    /// `/v1/vector_stores` and grounded chat, when a knowledge base is served.
    pub knowledge: Option<sovra_assistant::KnowledgeService>,
    /// Background work a response started (streams, persistence); shutdown waits on it.
    pub tasks: TaskTracker,
    /// The operator's static keys (none: no operator key); see [`auth`].
    pub api_keys: auth::ApiKeys,
    /// The country profile's safety pipeline; `None` only for a bare
    /// inference node (`sovra sim-node`), never for `sovra serve`.
    pub safety: Option<Arc<sovra_assistant::Safety>>,
    /// What the web chat shows of the country profile (`GET /api/profile`).
    pub profile: Arc<profile::PublicProfile>,
    /// Audit entries of data exports carry the SHA-256 of what was handed
    /// out (`[audit] content = "digest"`); otherwise metadata only.
    pub audit_digests: bool,
    /// Rate limits and quotas on the inference routes; `None`: off.
    pub quotas: Option<limits::Quotas>,
    /// Who each request acts for: the directory and the anonymous policy (see [`identity`]).
    pub identity: identity::Identity,
    /// Web sign-in (`/auth/*`) and the session cookie; `None`: not served.
    pub signin: Option<Arc<signin::SignIn>>,
    /// Single sign-on (`/auth/oidc/*`), when a provider is configured.
    pub oidc: Option<Arc<oidc::Oidc>>,
    /// The fleet behind `/admin/backends`, when `[[backends]]` is set.
    pub fleet: Option<Arc<dyn fleet::Fleet>>,
    draining: Arc<AtomicBool>,
    metrics: observe::Metrics,
}

impl AppState {
    pub fn new(
        engine: Arc<dyn Engine>,
        store: Arc<dyn Store>,
        limits: Limits,
        system_prompt: &str,
    ) -> Self {
        let directory = sovra_store::directory_of(store.clone());
        Self {
            identity: identity::Identity::new(directory, true),
            engine,
            store,
            limits: Arc::new(limits),
            system_prompt: Arc::from(system_prompt),
            system_prompts: Arc::default(),
            embeddings: None,
            knowledge: None,
            tasks: TaskTracker::new(),
            api_keys: auth::ApiKeys::default(),
            safety: None,
            profile: Arc::new(profile::PublicProfile::neutral(None)),
            audit_digests: false,
            quotas: None,
            signin: None,
            oidc: None,
            fleet: None,
            draining: Arc::new(AtomicBool::new(false)),
            metrics: observe::Metrics::global(),
        }
    }

    /// Serve `/v1/embeddings` with this model.
    pub fn with_embeddings(mut self, service: embeddings::EmbeddingService) -> Self {
        self.embeddings = Some(service);
        self
    }

    /// Serve collections and grounded chat from this knowledge base.
    pub fn with_knowledge(mut self, service: sovra_assistant::KnowledgeService) -> Self {
        self.knowledge = Some(service);
        self
    }

    /// Accept these operator keys (platform admins).
    pub fn with_api_keys(mut self, keys: auth::ApiKeys) -> Self {
        self.api_keys = keys;
        self
    }

    /// Whether callers with no credential are served as the anonymous public
    /// once the platform is closed (`identity.anonymous`; see [`identity`]).
    pub fn with_anonymous(mut self, allowed: bool) -> Self {
        self.identity.anonymous = allowed;
        self
    }

    /// Run every chat request through this safety pipeline.
    pub fn with_safety(mut self, safety: Arc<sovra_assistant::Safety>) -> Self {
        self.safety = Some(safety);
        self
    }

    /// Show this country profile's public parts in the web chat, and answer
    /// in each language with its system prompt (`language` → prompt).
    pub fn with_profile(
        mut self,
        profile: profile::PublicProfile,
        system_prompts: std::collections::BTreeMap<String, String>,
    ) -> Self {
        self.profile = Arc::new(profile);
        self.system_prompts = Arc::new(system_prompts);
        self
    }

    /// Record the SHA-256 of exported data in its audit entry.
    pub fn with_audit_digests(mut self, on: bool) -> Self {
        self.audit_digests = on;
        self
    }

    /// Enforce these quotas on the inference routes (see [`limits`]).
    pub fn with_quotas(mut self, quotas: limits::Quotas) -> Self {
        self.quotas = Some(quotas);
        self
    }

    /// Serve web sign-in and accept session cookies.
    pub fn with_signin(mut self, signin: signin::SignIn) -> Self {
        self.signin = Some(Arc::new(signin));
        self
    }

    /// Serve single sign-on with this provider (sign-in must be served too).
    pub fn with_oidc(mut self, oidc: oidc::Oidc) -> Self {
        self.oidc = Some(Arc::new(oidc));
        self
    }

    /// Serve the fleet's admin API over this fleet.
    pub fn with_fleet(mut self, fleet: Arc<dyn fleet::Fleet>) -> Self {
        self.fleet = Some(fleet);
        self
    }

    /// The answer pipeline over this server's parts (every surface that
    /// answers a person calls it).
    pub fn assistant(&self) -> sovra_assistant::Assistant {
        sovra_assistant::Assistant {
            engine: self.engine.clone(),
            store: self.store.clone(),
            safety: self.safety.clone(),
            knowledge: self.knowledge.clone(),
            system_prompt: self.system_prompt.clone(),
            system_prompts: self.system_prompts.clone(),
        }
    }

    /// Whether cookies are `Secure` (and `__Host-` named): as sign-in's.
    pub fn secure_cookies(&self) -> bool {
        self.signin
            .as_ref()
            .is_some_and(|s| s.config.secure_cookies)
    }

    /// Mark the server as shutting down: `/readyz` turns 503 so load balancers move away.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Every route of the application, each with its OpenAPI entry.
///
/// Register routes here, and only with `routes!`: it reads the handler's
/// `#[utoipa::path]`, so whatever is served is also in `/openapi.json`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(apidoc::ApiDoc::openapi())
        .routes(routes!(openai::list_models))
        .routes(routes!(openai::get_model))
        .routes(routes!(openai::chat_completions))
        .routes(routes!(embeddings::create))
        .routes(routes!(openai::completions))
        .routes(routes!(transparency::moderations))
        .routes(routes!(transparency::policy))
        .routes(routes!(transparency::transparency))
        .routes(routes!(transparency::feedback))
        .routes(routes!(transparency::admin_feedback))
        .routes(routes!(transparency::admin_moderation))
        .routes(routes!(knowledge::list_stores, knowledge::create_store))
        .routes(routes!(knowledge::get_store, knowledge::delete_store))
        .routes(routes!(knowledge::list_files, knowledge::add_file))
        .routes(routes!(knowledge::delete_file))
        .routes(routes!(knowledge::search))
        .routes(routes!(files::list, files::upload))
        .routes(routes!(files::get, files::delete))
        .routes(routes!(files::content))
        .routes(routes!(conversations::list, conversations::create))
        .routes(routes!(
            conversations::get,
            conversations::rename,
            conversations::delete
        ))
        .routes(routes!(conversations::send))
        .routes(routes!(conversations::truncate))
        .routes(routes!(data::export_me, data::erase_me))
        .routes(routes!(profile::get))
        .routes(routes!(console::usage))
        .routes(routes!(admin::list_keys, admin::create_key))
        .routes(routes!(
            admin::get_key,
            admin::update_key,
            admin::revoke_key
        ))
        .routes(routes!(admin::list_tenants, admin::create_tenant))
        .routes(routes!(
            admin::get_tenant,
            admin::update_tenant,
            admin::delete_tenant
        ))
        .routes(routes!(admin::list_users, admin::create_user))
        .routes(routes!(
            admin::get_user,
            admin::update_user,
            admin::delete_user
        ))
        .routes(routes!(admin::whoami))
        .routes(routes!(fleet::list))
        .routes(routes!(fleet::reload))
        .routes(routes!(fleet::drain))
        .routes(routes!(fleet::undrain))
        .routes(routes!(signin::login))
        .routes(routes!(signin::logout))
        .routes(routes!(signin::me))
        .routes(routes!(oidc::start))
        .routes(routes!(oidc::callback))
        .routes(routes!(observe::healthz))
        .routes(routes!(observe::readyz))
        .routes(routes!(observe::metrics))
        .routes(routes!(apidoc::openapi_json))
        .routes(routes!(web::index))
        .routes(routes!(web::console))
        .routes(routes!(web::asset))
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    let body_limit = state.limits.max_body_bytes;
    let (api, _) = routes().split_for_parts();
    let api = api
        // Quotas inside identity: a request is charged to the caller the
        // identity layer resolved.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limits::meter,
        ))
        // After routing, so the rule is looked up by the matched template.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            identity::authorize,
        ))
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn(observe::track_requests))
        .with_state(state);
    api.layer(CompressionLayer::new().compress_when(web::CompressWeb))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                let id = req
                    .headers()
                    .get(&REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
            })
            // One access-log line per request, at INFO, inside the request's span.
            .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}
