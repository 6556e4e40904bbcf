//! The operator console's data: `GET /admin/usage` and `GET /admin/keys`.
//!
//! Usage is read from the process's own Prometheus metrics (see
//! [`crate::observe`]), so the console shows exactly what `/metrics` exports:
//! requests and errors by route, tokens, time to first token, live
//! generations, and per backend what the fleet router counted. The console
//! page polls it and draws the trend itself. `/admin/keys` lists the
//! operator keys by a short prefix and a fingerprint, never the secret. Both
//! sit under `/admin`, behind the operator key when keys are configured.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;

/// Routes that run a generation.
const GENERATION_ROUTES: [&str; 3] = [
    "/v1/chat/completions",
    "/v1/completions",
    "/api/conversations/{id}/messages",
];

/// Requests to one route.
#[derive(Debug, Default, Clone, Serialize, ToSchema)]
pub struct RouteUsage {
    pub route: String,
    pub requests: u64,
    /// Answers with a 4xx or 5xx status.
    pub errors: u64,
}

/// What the fleet router counted for one backend.
#[derive(Debug, Default, Clone, Serialize, ToSchema)]
pub struct BackendUsage {
    pub backend: String,
    /// Requests placed on it.
    pub routed: u64,
    /// Requests retried elsewhere after it failed before the first token.
    pub retries: u64,
    /// Times it was taken out of rotation as unhealthy.
    pub ejections: u64,
    pub in_flight: f64,
}

/// Time to first token.
#[derive(Debug, Default, Clone, Serialize, ToSchema)]
pub struct Ttft {
    pub count: u64,
    /// Mean in milliseconds; null before the first generation.
    pub mean_ms: Option<f64>,
    /// Upper bound of the histogram bucket holding the median (ms).
    pub p50_ms: Option<f64>,
    /// Upper bound of the histogram bucket holding the 95th percentile (ms).
    pub p95_ms: Option<f64>,
}

/// The model this server serves and its state.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ModelUsage {
    pub model: String,
    pub description: String,
    pub ready: bool,
    /// Generation requests and those that failed (4xx/5xx), all routes.
    pub requests: u64,
    pub errors: u64,
}

/// `GET /admin/usage` body.
#[derive(Debug, Clone, Serialize, ToSchema)]
// Named apart from the OpenAI `Usage` (token counts of one response).
#[schema(as = ConsoleUsage)]
pub struct Usage {
    /// Every HTTP request served, all routes.
    pub requests: u64,
    pub errors: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub active_generations: f64,
    pub ttft: Ttft,
    pub models: Vec<ModelUsage>,
    pub routes: Vec<RouteUsage>,
    pub backends: Vec<BackendUsage>,
    /// Requests the router refused, by reason (`queue_full`, `no_backend`, ...).
    pub rejections: BTreeMap<String, u64>,
    /// Feedback received, by rating.
    pub feedback: BTreeMap<String, u64>,
}

/// One sample of the Prometheus text format.
struct Sample<'a> {
    name: &'a str,
    labels: Vec<(&'a str, String)>,
    value: f64,
}

impl Sample<'_> {
    fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses `name{k="v",...} value` lines; comments and bad lines are skipped.
fn samples(text: &str) -> Vec<Sample<'_>> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|line| {
            let (head, value) = line.rsplit_once(' ')?;
            let value: f64 = value.trim().parse().ok()?;
            let (name, labels) = match head.split_once('{') {
                Some((name, rest)) => (name, parse_labels(rest.strip_suffix('}')?)),
                None => (head, Vec::new()),
            };
            Some(Sample {
                name,
                labels,
                value,
            })
        })
        .collect()
}

fn parse_labels(s: &str) -> Vec<(&str, String)> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some((key, after)) = rest.split_once("=\"") {
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = after.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, n)) = chars.next() {
                        value.push(if n == 'n' { '\n' } else { n });
                    }
                }
                '"' => {
                    end = i + 1;
                    break;
                }
                c => value.push(c),
            }
        }
        out.push((key.trim_start_matches(',').trim(), value));
        rest = after.get(end..).unwrap_or("");
    }
    out
}

/// The upper bound (ms) of the bucket where the cumulative count reaches `q`.
fn quantile_ms(buckets: &[(f64, f64)], count: f64, q: f64) -> Option<f64> {
    if count <= 0.0 {
        return None;
    }
    let target = count * q;
    buckets
        .iter()
        .find(|(_, c)| *c >= target)
        .map(|(le, _)| le * 1000.0)
        .filter(|v| v.is_finite())
}

/// Usage from a Prometheus text rendering.
pub fn usage_from_metrics(text: &str, model: ModelUsage) -> Usage {
    let mut routes: BTreeMap<String, RouteUsage> = BTreeMap::new();
    let mut backends: BTreeMap<String, BackendUsage> = BTreeMap::new();
    let mut rejections = BTreeMap::new();
    let mut feedback = BTreeMap::new();
    let (mut prompt, mut completion, mut active) = (0.0, 0.0, 0.0);
    let (mut ttft_sum, mut ttft_count) = (0.0, 0.0);
    let mut buckets = Vec::new();
    for s in samples(text) {
        let n = s.value.max(0.0) as u64;
        match s.name {
            "sovra_http_requests_total" => {
                let route = s.label("route").unwrap_or("unmatched").to_owned();
                let failed = s
                    .label("status")
                    .and_then(|v| v.parse::<u16>().ok())
                    .is_some_and(|c| c >= 400);
                let r = routes.entry(route.clone()).or_default();
                r.route = route;
                r.requests += n;
                if failed {
                    r.errors += n;
                }
            }
            "sovra_prompt_tokens_total" => prompt += s.value,
            "sovra_completion_tokens_total" => completion += s.value,
            "sovra_active_generations" => active += s.value,
            "sovra_time_to_first_token_seconds_sum" => ttft_sum += s.value,
            "sovra_time_to_first_token_seconds_count" => ttft_count += s.value,
            "sovra_time_to_first_token_seconds_bucket" => {
                let le = match s.label("le") {
                    Some("+Inf") => f64::INFINITY,
                    Some(v) => v.parse().unwrap_or(f64::INFINITY),
                    None => f64::INFINITY,
                };
                buckets.push((le, s.value));
            }
            "sovra_router_rejections_total" => {
                *rejections
                    .entry(s.label("reason").unwrap_or("other").to_owned())
                    .or_insert(0) += n;
            }
            "sovra_feedback_total" => {
                *feedback
                    .entry(s.label("rating").unwrap_or("other").to_owned())
                    .or_insert(0) += n;
            }
            name @ ("sovra_router_routed_total"
            | "sovra_router_retries_total"
            | "sovra_router_ejections_total"
            | "sovra_router_backend_in_flight") => {
                let Some(b) = s.label("backend") else {
                    continue;
                };
                let entry = backends.entry(b.to_owned()).or_default();
                entry.backend = b.to_owned();
                match name {
                    "sovra_router_routed_total" => entry.routed += n,
                    "sovra_router_retries_total" => entry.retries += n,
                    "sovra_router_ejections_total" => entry.ejections += n,
                    _ => entry.in_flight += s.value,
                }
            }
            _ => {}
        }
    }
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let generation = |f: fn(&RouteUsage) -> u64| -> u64 {
        routes
            .values()
            .filter(|r| GENERATION_ROUTES.contains(&r.route.as_str()))
            .map(f)
            .sum()
    };
    let model = ModelUsage {
        requests: generation(|r| r.requests),
        errors: generation(|r| r.errors),
        ..model
    };
    let mut routes: Vec<RouteUsage> = routes.into_values().collect();
    routes.sort_by_key(|r| std::cmp::Reverse(r.requests));
    Usage {
        requests: routes.iter().map(|r| r.requests).sum(),
        errors: routes.iter().map(|r| r.errors).sum(),
        prompt_tokens: prompt as u64,
        completion_tokens: completion as u64,
        active_generations: active,
        ttft: Ttft {
            count: ttft_count as u64,
            mean_ms: (ttft_count > 0.0).then(|| ttft_sum / ttft_count * 1000.0),
            p50_ms: quantile_ms(&buckets, ttft_count, 0.5),
            p95_ms: quantile_ms(&buckets, ttft_count, 0.95),
        },
        models: vec![model],
        routes,
        backends: backends.into_values().collect(),
        rejections,
        feedback,
    }
}

/// `GET /admin/usage`: live usage, from the server's own metrics.
#[utoipa::path(get, path = "/admin/usage", tag = "admin",
    responses(
        (status = 200, description = "Requests, errors, tokens and time to first token, by route, model and backend", body = Usage),
        (status = 401, description = "An operator key is configured and none (or a wrong one) was sent", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn usage(State(state): State<AppState>) -> impl IntoResponse {
    let model = state.engine.model();
    let model = ModelUsage {
        model: model.id.clone(),
        description: model.description.clone(),
        ready: state.engine.is_ready(),
        requests: 0,
        errors: 0,
    };
    axum::Json(usage_from_metrics(&state.metrics.render(), model))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# TYPE sovra_http_requests_total counter
sovra_http_requests_total{method="POST",route="/v1/chat/completions",status="200"} 7
sovra_http_requests_total{method="POST",route="/v1/chat/completions",status="503"} 2
sovra_http_requests_total{method="GET",route="/",status="200"} 3
sovra_prompt_tokens_total 120
sovra_completion_tokens_total 300
sovra_time_to_first_token_seconds_bucket{le="0.01"} 1
sovra_time_to_first_token_seconds_bucket{le="0.05"} 6
sovra_time_to_first_token_seconds_bucket{le="0.1"} 7
sovra_time_to_first_token_seconds_bucket{le="+Inf"} 7
sovra_time_to_first_token_seconds_sum 0.21
sovra_time_to_first_token_seconds_count 7
sovra_router_routed_total{backend="gpu-a"} 5
sovra_router_retries_total{backend="gpu-a"} 1
sovra_router_rejections_total{reason="queue_full"} 2
sovra_feedback_total{rating="down"} 1
"#;

    #[test]
    fn usage_adds_up_the_metrics() {
        let model = ModelUsage {
            model: "sim".into(),
            description: String::new(),
            ready: true,
            requests: 0,
            errors: 0,
        };
        let u = usage_from_metrics(TEXT, model);
        assert_eq!((u.requests, u.errors), (12, 2));
        assert_eq!((u.models[0].requests, u.models[0].errors), (9, 2));
        assert_eq!((u.prompt_tokens, u.completion_tokens), (120, 300));
        assert_eq!(u.ttft.count, 7);
        assert!((u.ttft.mean_ms.unwrap_or(0.0) - 30.0).abs() < 1e-6);
        assert_eq!(u.ttft.p50_ms, Some(50.0));
        assert_eq!(u.ttft.p95_ms, Some(100.0));
        assert_eq!(u.backends[0].backend, "gpu-a");
        assert_eq!((u.backends[0].routed, u.backends[0].retries), (5, 1));
        assert_eq!(u.rejections.get("queue_full"), Some(&2));
        assert_eq!(u.feedback.get("down"), Some(&1));
    }

    #[test]
    fn labels_with_escapes_parse() {
        let l = parse_labels(r#"a="x\"y",b="z""#);
        assert_eq!(l, vec![("a", "x\"y".to_owned()), ("b", "z".to_owned())]);
    }
}
