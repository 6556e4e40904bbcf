//! Fleet settings: `[sovereignty]`, `[[backends]]` and `[router]`.
//!
//! ```toml
//! [sovereignty]
//! allowed_jurisdictions = ["EE"]
//! [[backends]]
//! name = "tallinn-gpu-01"
//! url = "http://10.0.0.11:8000/v1"
//! models = ["llama-3.1-70b"]          # or "public-name=name-on-the-backend"
//! jurisdiction = "EE"
//! site = "tallinn-1"
//! ```
//!
//! Sovereignty is checked here, at load: a backend whose jurisdiction is not
//! allowed is refused with an error naming it, so it never becomes part of
//! the fleet. The router checks again when it builds the fleet.

use serde::{Deserialize, Serialize};

use crate::error::{ConfigError, check};

/// Where requests may be served.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SovereigntySettings {
    /// ISO 3166-1 alpha-2 codes of the jurisdictions backends may be in.
    /// Must be set when any backend is configured.
    pub allowed_jurisdictions: Vec<String>,
}

impl SovereigntySettings {
    /// Whether a backend in `jurisdiction` may serve requests.
    pub fn allows(&self, jurisdiction: &str) -> bool {
        self.allowed_jurisdictions
            .iter()
            .any(|a| a.trim().eq_ignore_ascii_case(jurisdiction.trim()))
    }
}

/// One inference backend: an OpenAI-compatible server, or `embedded`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendSettings {
    /// Unique name, used in logs, metrics and the admin API.
    pub name: String,
    /// Base URL of its OpenAI API (ending in `/v1`), or `embedded` for the
    /// engine `[engine]` configures, in process.
    pub url: String,
    /// Models it serves: `public-name`, or `public-name=name-on-the-backend`.
    pub models: Vec<String>,
    /// ISO 3166-1 alpha-2 code of the country it runs in.
    pub jurisdiction: String,
    /// Data centre (for operators; shown in the admin API).
    pub site: String,
    /// Relative capacity (default 1): load is compared per unit of weight.
    #[serde(default)]
    pub weight: Option<u32>,
    /// Most requests in flight on it at once; more wait in the router's queue.
    #[serde(default)]
    pub max_concurrency: Option<u32>,
    /// Optional bearer token the backend expects.
    #[serde(default)]
    pub api_key: Option<String>,
}

impl BackendSettings {
    /// (public name, name on the backend) for each model it serves.
    pub fn model_map(&self) -> Vec<(String, String)> {
        self.models
            .iter()
            .map(|m| match m.split_once('=') {
                Some((public, own)) => (public.trim().to_owned(), own.trim().to_owned()),
                None => (m.trim().to_owned(), m.trim().to_owned()),
            })
            .collect()
    }

    pub fn is_embedded(&self) -> bool {
        self.url.trim() == "embedded"
    }
}

/// How the router picks a backend.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RoutingPolicy {
    /// Where the request's prefix is probably cached, unless that backend is
    /// overloaded; else the least loaded.
    #[default]
    PrefixAware,
    /// Fewest tokens in flight per unit of weight.
    LeastLoaded,
    /// In turn.
    RoundRobin,
}

impl RoutingPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            RoutingPolicy::PrefixAware => "prefix-aware",
            RoutingPolicy::LeastLoaded => "least-loaded",
            RoutingPolicy::RoundRobin => "round-robin",
        }
    }
}

/// `[router]`: routing, admission, health.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RouterSettings {
    pub policy: RoutingPolicy,
    /// Requests that may wait for a free backend; more get a 503.
    pub queue_depth: usize,
    /// Most of the queue one tenant may hold, in percent; more get a 429.
    pub tenant_queue_percent: u32,
    /// How long a request may wait in the queue before a 503.
    pub queue_timeout_ms: u64,
    /// Prefix affinity gives way when the preferred backend has this many
    /// more tokens in flight (per unit of weight) than the least loaded one.
    pub affinity_max_extra_tokens: u64,
    /// Bytes per block of the approximate prefix-cache index.
    pub prefix_block_bytes: usize,
    /// Prompt blocks remembered per backend (bounds the index's memory).
    pub prefix_blocks_per_backend: usize,
    /// Tries on other backends after a failure before the first token.
    pub max_retries: u32,
    /// A backend that has not sent its first token within this is given up on (retryable).
    pub first_token_timeout_ms: u64,
    /// A stream from a remote backend that sends nothing for this long has
    /// failed (ends with an error; counts towards ejection).
    pub stream_idle_timeout_ms: u64,
    /// Hedging: a short request with no first token after this long is
    /// also sent to another backend with room; the first to answer wins.
    /// 0 disables hedging.
    pub hedge_after_ms: u64,
    /// Only requests with `max_tokens` at most this are hedged.
    pub hedge_max_tokens: u32,
    /// Active health probe period (`GET {url}/models`); 0 disables probes.
    pub probe_interval_ms: u64,
    /// Consecutive failures that eject a backend (passive outlier ejection).
    pub eject_after_failures: u32,
    /// How long an ejected backend gets no work before it is tried again.
    pub eject_ms: u64,
    /// After recovering, a backend's share ramps up over this long.
    pub slow_start_ms: u64,
}

impl Default for RouterSettings {
    fn default() -> Self {
        Self {
            policy: RoutingPolicy::PrefixAware,
            queue_depth: 1024,
            tenant_queue_percent: 50,
            queue_timeout_ms: 30_000,
            affinity_max_extra_tokens: 2048,
            prefix_block_bytes: 64,
            prefix_blocks_per_backend: 65_536,
            max_retries: 2,
            first_token_timeout_ms: 60_000,
            stream_idle_timeout_ms: 60_000,
            hedge_after_ms: 0,
            hedge_max_tokens: 64,
            probe_interval_ms: 2_000,
            eject_after_failures: 3,
            eject_ms: 10_000,
            slow_start_ms: 10_000,
        }
    }
}

fn backend_error(name: &str, problem: String) -> ConfigError {
    ConfigError::Backend {
        name: name.to_owned(),
        problem,
    }
}

/// Checks one backend on its own, sovereignty first.
pub fn validate_backend(
    sovereignty: &SovereigntySettings,
    b: &BackendSettings,
) -> Result<(), ConfigError> {
    if !sovereignty.allows(&b.jurisdiction) {
        return Err(backend_error(
            &b.name,
            format!(
                "its jurisdiction `{}` is not in sovereignty.allowed_jurisdictions [{}]; refusing to load it",
                b.jurisdiction,
                sovereignty.allowed_jurisdictions.join(", ")
            ),
        ));
    }
    let j = b.jurisdiction.trim();
    if j.len() != 2 || !j.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(backend_error(
            &b.name,
            format!("jurisdiction `{j}` is not an ISO 3166-1 alpha-2 code (e.g. \"EE\")"),
        ));
    }
    let url = b.url.trim();
    if !(b.is_embedded() || url.starts_with("http://") || url.starts_with("https://")) {
        return Err(backend_error(
            &b.name,
            format!("url `{url}` must be http(s)://… or `embedded`"),
        ));
    }
    let models = b.model_map();
    if models.is_empty() || models.iter().any(|(p, o)| p.is_empty() || o.is_empty()) {
        return Err(backend_error(
            &b.name,
            "`models` must list at least one model, as `name` or `public=backend-name`".into(),
        ));
    }
    if b.weight == Some(0) || b.max_concurrency == Some(0) {
        return Err(backend_error(
            &b.name,
            "`weight` and `max_concurrency` must be at least 1".into(),
        ));
    }
    Ok(())
}

/// Checks the fleet settings together.
pub fn validate(
    sovereignty: &SovereigntySettings,
    backends: &[BackendSettings],
    router: &RouterSettings,
) -> Result<(), ConfigError> {
    if !backends.is_empty() {
        check(
            !sovereignty.allowed_jurisdictions.is_empty(),
            "sovereignty.allowed_jurisdictions",
            "must list the jurisdictions backends may be in (e.g. [\"EE\"]) when backends are configured",
        )?;
    }
    let mut names = std::collections::BTreeSet::new();
    for b in backends {
        if b.name.trim().is_empty() {
            return Err(ConfigError::Check {
                setting: "backends.name",
                problem: "every backend needs a name".into(),
            });
        }
        if !names.insert(b.name.as_str()) {
            return Err(backend_error(&b.name, "the name is used twice".into()));
        }
        validate_backend(sovereignty, b)?;
    }
    check(
        router.queue_depth >= 1,
        "router.queue_depth",
        "must be at least 1",
    )?;
    check(
        (1..=100).contains(&router.tenant_queue_percent),
        "router.tenant_queue_percent",
        "must be between 1 and 100",
    )?;
    check(
        router.prefix_block_bytes >= 8,
        "router.prefix_block_bytes",
        "must be at least 8",
    )?;
    check(
        router.stream_idle_timeout_ms >= 1 && router.first_token_timeout_ms >= 1,
        "router.stream_idle_timeout_ms",
        "timeouts must be at least 1 ms",
    )?;
    check(
        router.eject_after_failures >= 1,
        "router.eject_after_failures",
        "must be at least 1",
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::testing::none;
    use crate::{Settings, unknown_env_vars};
    use figment::Jail;

    fn backend(name: &str, jurisdiction: &str) -> BackendSettings {
        BackendSettings {
            name: name.into(),
            url: "http://10.0.0.1:8000/v1".into(),
            models: vec!["llama".into(), "small=smollm2".into()],
            jurisdiction: jurisdiction.into(),
            site: "tallinn-1".into(),
            weight: None,
            max_concurrency: None,
            api_key: None,
        }
    }

    fn ee() -> SovereigntySettings {
        SovereigntySettings {
            allowed_jurisdictions: vec!["EE".into()],
        }
    }

    #[test]
    fn foreign_backend_is_refused_by_name() {
        let err = validate(
            &ee(),
            &[backend("tallinn-01", "EE"), backend("virginia-01", "US")],
            &RouterSettings::default(),
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(err.contains("virginia-01"), "{err}");
        assert!(err.contains("US"), "{err}");
    }

    #[test]
    fn backends_need_an_explicit_allow_list() {
        let err = validate(
            &SovereigntySettings::default(),
            &[backend("a", "EE")],
            &RouterSettings::default(),
        );
        assert!(err.is_err());
        assert!(
            validate(
                &SovereigntySettings::default(),
                &[],
                &RouterSettings::default()
            )
            .is_ok()
        );
    }

    #[test]
    fn aliases_map_public_names() {
        assert_eq!(
            backend("a", "ee").model_map(),
            vec![
                ("llama".to_owned(), "llama".to_owned()),
                ("small".to_owned(), "smollm2".to_owned())
            ]
        );
        assert!(validate_backend(&ee(), &backend("a", "ee")).is_ok());
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's closures return its large error
    fn fleet_from_toml_and_env() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "sovra.toml",
                "[sovereignty]\nallowed_jurisdictions = [\"EE\"]\n[router]\npolicy = \"round-robin\"\n[[backends]]\nname = \"tallinn-gpu-01\"\nurl = \"http://10.0.0.11:8000/v1\"\nmodels = [\"llama-3.1-70b\"]\njurisdiction = \"EE\"\nsite = \"tallinn-1\"\n[[backends]]\nname = \"riga-gpu-01\"\nurl = \"http://10.1.0.11:8000/v1\"\nmodels = [\"llama-3.1-70b\"]\njurisdiction = \"LV\"\nsite = \"riga-1\"\n",
            )?;
            let err = Settings::load(Some(Path::new("sovra.toml")), none())
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains("riga-gpu-01"), "{err}");
            jail.set_env(
                "SOVRA_SOVEREIGNTY_ALLOWED_JURISDICTIONS",
                "[\"EE\", \"LV\"]",
            );
            jail.set_env("SOVRA_ROUTER_QUEUE_DEPTH", "7");
            let s =
                Settings::load(Some(Path::new("sovra.toml")), none()).map_err(|e| e.to_string())?;
            assert_eq!(s.backends.len(), 2);
            assert_eq!(s.router.policy, RoutingPolicy::RoundRobin);
            assert_eq!(s.router.queue_depth, 7);
            assert!(unknown_env_vars().is_empty(), "{:?}", unknown_env_vars());
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's closures return its large error
    fn backends_from_the_environment_alone() {
        Jail::expect_with(|jail| {
            jail.set_env("SOVRA_SOVEREIGNTY_ALLOWED_JURISDICTIONS", "[\"EE\"]");
            jail.set_env(
                "SOVRA_BACKENDS",
                "[{name=\"a\",url=\"http://10.0.0.1:8000/v1\",models=[\"m\"],jurisdiction=\"EE\",site=\"s\",max_concurrency=4}]",
            );
            let s = Settings::load(None, none()).map_err(|e| e.to_string())?;
            assert_eq!(s.backends.len(), 1);
            assert_eq!(s.backends[0].max_concurrency, Some(4));
            jail.set_env(
                "SOVRA_BACKENDS",
                "[{name=\"b\",url=\"http://10.0.0.1:8000/v1\",models=[\"m\"],jurisdiction=\"US\",site=\"s\"}]",
            );
            let err = Settings::load(None, none())
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains("backend `b`"), "{err}");
            Ok(())
        });
    }
}
