//! Observability: `/healthz`, `/readyz`, `/metrics` and the per-request and
//! per-generation measurements behind them.
//!
//! Metrics use the `metrics` facade with a Prometheus recorder installed once
//! per process. Names: `sovra_http_requests_total{method,route,status}`,
//! `sovra_http_request_duration_seconds`, `sovra_prompt_tokens_total`,
//! `sovra_completion_tokens_total`, `sovra_time_to_first_token_seconds`,
//! `sovra_generation_tokens_per_second` and the gauge `sovra_active_generations`;
//! the embedded engine adds `sovra_prompt_tokens_reused_total` (prefix cache hits).

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde::Serialize;
use sovra_engine::Finish;

use utoipa::ToSchema;

use crate::AppState;

/// A handle on the process's metrics.
#[derive(Clone)]
pub struct Metrics {
    handle: Option<PrometheusHandle>,
}

impl Metrics {
    /// The process-wide recorder, installed on first use.
    pub fn global() -> Self {
        static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
        let handle = HANDLE.get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("sovra_time_to_first_token_seconds".into()),
                    &[0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0, 10.0],
                )
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("sovra_generation_tokens_per_second".into()),
                        &[1.0, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0, 640.0],
                    )
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("sovra_http_request_duration_seconds".into()),
                        &[0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0],
                    )
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("sovra_safety_check_seconds".into()),
                        &[
                            1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1, 0.2, 0.5,
                            1.0,
                        ],
                    )
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("sovra_router_decision_seconds".into()),
                        &[
                            1e-6, 2e-6, 5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3,
                            1e-2,
                        ],
                    )
                });
            let recorder = match builder {
                Ok(b) => b.build_recorder(),
                Err(e) => {
                    tracing::warn!(error = %e, "metrics disabled");
                    return None;
                }
            };
            let handle = recorder.handle();
            match metrics::set_global_recorder(recorder) {
                Ok(()) => Some(handle),
                Err(_) => None,
            }
        });
        Self {
            handle: handle.clone(),
        }
    }

    pub fn render(&self) -> String {
        self.handle.as_ref().map(|h| h.render()).unwrap_or_default()
    }

    /// Start measuring one generation.
    pub fn meter(&self) -> Meter {
        metrics::gauge!("sovra_active_generations").increment(1.0);
        Meter {
            started: Instant::now(),
            first_token: None,
        }
    }
}

/// Measures one generation: time to first token and decode rate.
pub struct Meter {
    started: Instant,
    first_token: Option<Instant>,
}

impl Meter {
    pub fn delta(&mut self) {
        if self.first_token.is_none() {
            let now = Instant::now();
            self.first_token = Some(now);
            metrics::histogram!("sovra_time_to_first_token_seconds")
                .record(now.duration_since(self.started).as_secs_f64());
        }
    }

    pub fn finish(&mut self, finish: &Finish) {
        metrics::counter!("sovra_prompt_tokens_total").increment(u64::from(finish.prompt_tokens));
        metrics::counter!("sovra_completion_tokens_total")
            .increment(u64::from(finish.completion_tokens));
        if let Some(first) = self.first_token {
            let secs = first.elapsed().as_secs_f64();
            if finish.completion_tokens > 1 && secs > 0.0 {
                metrics::histogram!("sovra_generation_tokens_per_second")
                    .record(f64::from(finish.completion_tokens - 1) / secs);
            }
        }
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        metrics::gauge!("sovra_active_generations").decrement(1.0);
    }
}

/// Count and time every request by route template (not raw path: ids would explode cardinality).
pub async fn track_requests(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().to_string();
    let started = Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("sovra_http_requests_total", "method" => method, "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("sovra_http_request_duration_seconds", "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// `GET /healthz` body.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: &'static str,
}

/// `GET /readyz` body.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: &'static str,
    /// The chat model's id.
    pub model: String,
    pub checks: ReadinessChecks,
}

/// What `/readyz` looked at.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadinessChecks {
    pub model_loaded: bool,
    pub store_open: bool,
    pub draining: bool,
    /// `off` (rules alone, as configured), `loading`, `ready` or `failed`:
    /// a node whose configured classifier is not in force is not ready.
    pub safety_classifier: &'static str,
}

/// Alive: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process is alive", body = Health)))]
pub async fn healthz() -> impl IntoResponse {
    axum::Json(Health { status: "ok" })
}

/// Ready: the model is loaded, the store answers, and we are not draining.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready to serve", body = Readiness),
        (status = 503, description = "Not ready (model loading, store down or draining)", body = Readiness),
    ))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let model_ready = state.engine.is_ready();
    let store_ready = state.store.ping().await.is_ok();
    let draining = state.is_draining();
    let classifier = state
        .safety
        .as_ref()
        .map_or(sovra_assistant::safety::ClassifierState::Off, |s| {
            s.classifier_state()
        });
    let classifier_in_force = matches!(
        classifier,
        sovra_assistant::safety::ClassifierState::Off
            | sovra_assistant::safety::ClassifierState::Ready
    );
    let ready = model_ready && store_ready && !draining && classifier_in_force;
    let body = Readiness {
        status: if ready { "ready" } else { "not_ready" },
        model: state.engine.model().id.clone(),
        checks: ReadinessChecks {
            model_loaded: model_ready,
            store_open: store_ready,
            draining,
            safety_classifier: classifier.as_str(),
        },
    };
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format 0.0.4", body = String, content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}
