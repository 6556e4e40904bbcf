//! The simulated node's own endpoints, mounted by `sovra sim-node` beside the
//! OpenAI API: `GET /sim/stats` (cache hit rate, batch, queue) and
//! `GET`/`POST /sim/faults` (inject or clear faults while it runs).
//! The same figures are in `/metrics` as `sovra_sim_*`.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde::{Deserialize, Serialize};
use sovra_core::error::ApiError;
use sovra_engine::sim::node::{Faults, SimControl, SimStats};

use crate::HttpError;
use crate::extract::ApiJson;

/// Faults as JSON. A `POST` replaces them all: fields left out are off.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultsBody {
    /// Refuse new requests with 503.
    #[serde(default)]
    pub refuse: bool,
    /// Accept new requests but never answer.
    #[serde(default)]
    pub hang: bool,
    /// New streams fail after this many tokens.
    #[serde(default)]
    pub die_after_tokens: Option<u32>,
    /// Steps take this many times longer (1 = normal, up to 1000).
    #[serde(default)]
    pub slowdown: Option<f64>,
}

impl From<Faults> for FaultsBody {
    fn from(f: Faults) -> Self {
        Self {
            refuse: f.refuse,
            hang: f.hang,
            die_after_tokens: f.die_after_tokens,
            slowdown: Some(f.slowdown),
        }
    }
}

/// `/sim/stats`.
#[derive(Debug, Clone, Serialize)]
pub struct StatsBody {
    pub requests: u64,
    pub finished: u64,
    pub refused: u64,
    pub failed: u64,
    pub running: u64,
    pub waiting: u64,
    pub prompt_tokens_cached: u64,
    pub prompt_tokens_computed: u64,
    pub cache_hit_rate: f64,
    pub completion_tokens: u64,
    pub kv_blocks_used: u64,
    pub kv_blocks_capacity: u64,
    pub steps: u64,
}

impl From<SimStats> for StatsBody {
    fn from(s: SimStats) -> Self {
        Self {
            cache_hit_rate: s.cache_hit_rate(),
            requests: s.requests,
            finished: s.finished,
            refused: s.refused,
            failed: s.failed,
            running: s.running,
            waiting: s.waiting,
            prompt_tokens_cached: s.prompt_tokens_cached,
            prompt_tokens_computed: s.prompt_tokens_computed,
            completion_tokens: s.completion_tokens,
            kv_blocks_used: s.kv_blocks_used,
            kv_blocks_capacity: s.kv_blocks_capacity,
            steps: s.steps,
        }
    }
}

/// The `/sim/*` routes over one node.
pub fn routes(control: SimControl) -> Router {
    Router::new()
        .route("/sim/stats", get(stats))
        .route("/sim/faults", get(get_faults).post(set_faults))
        .with_state(control)
}

async fn stats(State(control): State<SimControl>) -> axum::Json<StatsBody> {
    axum::Json(control.stats().into())
}

async fn get_faults(State(control): State<SimControl>) -> axum::Json<FaultsBody> {
    axum::Json(control.faults().into())
}

async fn set_faults(
    State(control): State<SimControl>,
    ApiJson(body): ApiJson<FaultsBody>,
) -> Result<axum::Json<FaultsBody>, HttpError> {
    let slowdown = body.slowdown.unwrap_or(1.0);
    if !(slowdown.is_finite() && (0.0..=1000.0).contains(&slowdown)) {
        return Err(ApiError::invalid_param("slowdown", "must be between 0 and 1000").into());
    }
    let faults = Faults {
        refuse: body.refuse,
        hang: body.hang,
        die_after_tokens: body.die_after_tokens,
        slowdown,
    };
    tracing::info!(?faults, "sim faults set");
    control.set_faults(faults.clone());
    Ok(axum::Json(faults.into()))
}
