//! `[quotas]`: rate limits and quotas per API key, user and tenant pool
//! (docs/limits.md). Off by default.
//!
//! ```toml
//! [quotas]
//! enabled = true
//! backend = "redis"                       # or "memory" (one replica)
//! redis_url = "redis://127.0.0.1:6379/"
//! [quotas.per_key]
//! requests_per_minute = 60
//! tokens_per_minute = 40000
//! [quotas.per_user]
//! requests_per_day = 500
//! [quotas.tenants."nation/health"]        # a pool shared by the whole subtree
//! requests_per_minute = 600
//! [quotas.tenants."nation/health".per_user]  # overrides per_user below this path
//! requests_per_minute = 20
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ConfigError;

/// Where the counters live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum QuotaBackend {
    /// In this process: exact for one replica, lost at restart.
    #[default]
    Memory,
    /// In Redis: shared by every replica that points at it.
    Redis,
}

/// What a request gets when the counter store does not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OnStoreError {
    /// 503 with `retry-after`: no quota is exceeded because Redis is down.
    #[default]
    Reject,
    /// Let it through uncounted, with a warning in the log and a metric.
    Allow,
}

/// One level's limits; each unset one is no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct QuotaRule {
    pub requests_per_minute: Option<u64>,
    pub requests_per_day: Option<u64>,
    pub tokens_per_minute: Option<u64>,
    pub tokens_per_day: Option<u64>,
}

/// A tenant path's pool (shared by everything under the path) and its
/// overrides of the per-key and per-user defaults for its subtree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TenantQuota {
    pub requests_per_minute: Option<u64>,
    pub requests_per_day: Option<u64>,
    pub tokens_per_minute: Option<u64>,
    pub tokens_per_day: Option<u64>,
    pub per_key: Option<QuotaRule>,
    pub per_user: Option<QuotaRule>,
}

impl TenantQuota {
    /// The pool's own limits.
    pub fn pool(&self) -> QuotaRule {
        QuotaRule {
            requests_per_minute: self.requests_per_minute,
            requests_per_day: self.requests_per_day,
            tokens_per_minute: self.tokens_per_minute,
            tokens_per_day: self.tokens_per_day,
        }
    }
}

/// `[quotas]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuotaSettings {
    /// Off by default: no request is counted.
    pub enabled: bool,
    pub backend: QuotaBackend,
    /// The Redis the replicas share (`backend = "redis"`).
    pub redis_url: String,
    /// Prefix of every Redis key; replicas that share limits share it.
    pub key_prefix: String,
    /// Longest wait for Redis on a request (milliseconds).
    pub store_timeout_ms: u64,
    pub on_store_error: OnStoreError,
    /// Tokens reserved for the answer of a request that sets no
    /// `max_tokens` (never more than `limits.max_completion_tokens`).
    pub reserve_completion_tokens: u32,
    /// Most live counters the in-process table holds for authenticated
    /// callers (`backend = "memory"`).
    pub max_counters: usize,
    /// Most live counters the in-process table holds for the anonymous
    /// public, apart from `max_counters`: a flood of invented anonymous
    /// callers fills only this share and is refused (503) there, while
    /// authenticated callers keep being counted (`backend = "memory"`).
    pub max_anonymous_counters: usize,
    /// Each API key's allowance.
    pub per_key: Option<QuotaRule>,
    /// Each user's allowance.
    pub per_user: Option<QuotaRule>,
    /// By tenant path (`nation/health`).
    pub tenants: BTreeMap<String, TenantQuota>,
}

impl Default for QuotaSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            backend: QuotaBackend::Memory,
            redis_url: "redis://127.0.0.1:6379/".to_owned(),
            key_prefix: "sovra:quota".to_owned(),
            store_timeout_ms: 250,
            on_store_error: OnStoreError::Reject,
            reserve_completion_tokens: 256,
            max_counters: 100_000,
            max_anonymous_counters: 50_000,
            per_key: None,
            per_user: None,
            tenants: BTreeMap::new(),
        }
    }
}

/// Largest limit accepted: beyond it a limit is no limit.
const MAX_LIMIT: u64 = 1_000_000_000_000;

fn check_rule(setting: &str, rule: &QuotaRule) -> Result<(), ConfigError> {
    for (name, value) in [
        ("requests_per_minute", rule.requests_per_minute),
        ("requests_per_day", rule.requests_per_day),
        ("tokens_per_minute", rule.tokens_per_minute),
        ("tokens_per_day", rule.tokens_per_day),
    ] {
        if let Some(v) = value
            && !(1..=MAX_LIMIT).contains(&v)
        {
            return Err(ConfigError::Invalid(format!(
                "setting `{setting}.{name}`: must be between 1 and {MAX_LIMIT} (leave it out for no limit)"
            )));
        }
    }
    Ok(())
}

/// Same rule as `sovra_limits::policy::valid_tenant_path` (this crate does
/// not depend on that one).
fn valid_tenant_path(path: &str) -> bool {
    !path.is_empty()
        && path.len() <= 256
        && path.split('/').all(|seg| {
            !seg.is_empty()
                && seg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        })
}

impl QuotaSettings {
    /// Checks done at load, each naming the setting.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |setting: &str, problem: &str| {
            Err(ConfigError::Invalid(format!(
                "setting `quotas.{setting}`: {problem}"
            )))
        };
        if let Some(r) = &self.per_key {
            check_rule("quotas.per_key", r)?;
        }
        if let Some(r) = &self.per_user {
            check_rule("quotas.per_user", r)?;
        }
        for (path, t) in &self.tenants {
            if !valid_tenant_path(path) {
                return invalid(
                    &format!("tenants.\"{path}\""),
                    "a tenant path is segments of letters, digits, '-', '_' and '.' joined by single '/' (e.g. \"nation/health\"), at most 256 characters",
                );
            }
            let at = format!("quotas.tenants.\"{path}\"");
            check_rule(&at, &t.pool())?;
            if let Some(r) = &t.per_key {
                check_rule(&format!("{at}.per_key"), r)?;
            }
            if let Some(r) = &t.per_user {
                check_rule(&format!("{at}.per_user"), r)?;
            }
        }
        if self.store_timeout_ms == 0 || self.store_timeout_ms > 10_000 {
            return invalid(
                "store_timeout_ms",
                "must be between 1 and 10000 milliseconds",
            );
        }
        if self.max_counters < 1000 {
            return invalid("max_counters", "must be at least 1000");
        }
        if self.max_anonymous_counters == 0 {
            return invalid("max_anonymous_counters", "must be at least 1");
        }
        if self.reserve_completion_tokens == 0 {
            return invalid("reserve_completion_tokens", "must be at least 1");
        }
        if self.key_prefix.is_empty()
            || self.key_prefix.len() > 64
            || self.key_prefix.chars().any(|c| c.is_whitespace())
        {
            return invalid("key_prefix", "must be 1-64 characters without spaces");
        }
        if self.enabled && self.backend == QuotaBackend::Redis {
            let scheme_ok = ["redis://", "redis+unix://", "unix://"]
                .iter()
                .any(|s| self.redis_url.starts_with(s) && self.redis_url.len() > s.len());
            if !scheme_ok {
                return invalid(
                    "redis_url",
                    "must be redis://HOST:PORT/DB (or unix://PATH); TLS (rediss://) is not supported",
                );
            }
        }
        let any_rule = self.per_key.is_some_and(|r| r != QuotaRule::default())
            || self.per_user.is_some_and(|r| r != QuotaRule::default())
            || self.tenants.values().any(|t| {
                t.pool() != QuotaRule::default()
                    || t.per_key.is_some_and(|r| r != QuotaRule::default())
                    || t.per_user.is_some_and(|r| r != QuotaRule::default())
            });
        if self.enabled && !any_rule {
            return invalid(
                "enabled",
                "quotas are enabled but no limit is set: add [quotas.per_key], [quotas.per_user] or [quotas.tenants.\"PATH\"]",
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enabled() -> QuotaSettings {
        QuotaSettings {
            enabled: true,
            per_key: Some(QuotaRule {
                requests_per_minute: Some(10),
                ..QuotaRule::default()
            }),
            ..QuotaSettings::default()
        }
    }

    fn error(s: &QuotaSettings) -> String {
        s.validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's closures return its large error
    fn from_a_file_and_the_environment() {
        use std::path::Path;

        use figment::Jail;
        use figment::providers::Serialized;

        Jail::expect_with(|jail| {
            jail.create_file(
                "sovra.toml",
                "[quotas]\nenabled = true\n[quotas.tenants.\"nation/health\"]\nrequests_per_day = 100\n[quotas.tenants.\"nation/health\".per_user]\nrequests_per_minute = 2\n",
            )?;
            jail.set_env("SOVRA_QUOTAS_BACKEND", "redis");
            jail.set_env("SOVRA_QUOTAS_PER_KEY", "{requests_per_minute=60}");
            let none = Serialized::defaults(serde_json::json!({}));
            let s = crate::Settings::load(Some(Path::new("sovra.toml")), none)
                .map_err(|e| e.to_string())?;
            let q = &s.quotas;
            assert_eq!(q.backend, QuotaBackend::Redis);
            assert_eq!(q.per_key.and_then(|r| r.requests_per_minute), Some(60));
            let t = &q.tenants["nation/health"];
            assert_eq!(t.requests_per_day, Some(100));
            assert_eq!(t.per_user.and_then(|r| r.requests_per_minute), Some(2));
            assert!(
                crate::unknown_env_vars().is_empty(),
                "{:?}",
                crate::unknown_env_vars()
            );
            Ok(())
        });
    }

    #[test]
    fn defaults_are_off_and_valid() {
        let s = QuotaSettings::default();
        assert!(!s.enabled);
        assert!(s.validate().is_ok());
        assert!(enabled().validate().is_ok());
    }

    #[test]
    fn errors_name_the_setting() {
        let mut s = enabled();
        s.per_key = Some(QuotaRule {
            tokens_per_day: Some(0),
            ..QuotaRule::default()
        });
        assert!(
            error(&s).contains("quotas.per_key.tokens_per_day"),
            "{}",
            error(&s)
        );

        let mut s = enabled();
        s.tenants
            .insert("nation//health".into(), TenantQuota::default());
        assert!(error(&s).contains("nation//health"), "{}", error(&s));

        let mut s = enabled();
        s.tenants.insert(
            "nation/health".into(),
            TenantQuota {
                per_user: Some(QuotaRule {
                    requests_per_minute: Some(0),
                    ..QuotaRule::default()
                }),
                ..TenantQuota::default()
            },
        );
        assert!(
            error(&s).contains("quotas.tenants.\"nation/health\".per_user.requests_per_minute"),
            "{}",
            error(&s)
        );

        let mut s = enabled();
        s.backend = QuotaBackend::Redis;
        s.redis_url = "rediss://x".into();
        assert!(error(&s).contains("quotas.redis_url"), "{}", error(&s));

        let s = QuotaSettings {
            enabled: true,
            ..QuotaSettings::default()
        };
        assert!(error(&s).contains("no limit is set"), "{}", error(&s));
    }
}
