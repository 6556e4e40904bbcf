//! `[quotas]` to a limiter: the policy from the settings, the counters in
//! this process or in the Redis the replicas share.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use sovra_config::Settings;
use sovra_config::quotas::{OnStoreError, QuotaBackend, QuotaRule, QuotaSettings};
use sovra_limits::{Counter, Limiter, MemoryCounter, Policy, RedisCounter, Rule, TenantRule};
use sovra_server::limits::Quotas;

fn rule(r: &QuotaRule) -> Rule {
    Rule {
        requests_per_minute: r.requests_per_minute,
        requests_per_day: r.requests_per_day,
        tokens_per_minute: r.tokens_per_minute,
        tokens_per_day: r.tokens_per_day,
    }
}

/// The policy `[quotas]` describes.
pub fn policy(q: &QuotaSettings) -> Policy {
    Policy {
        per_key: q.per_key.as_ref().map(rule).unwrap_or_default(),
        per_user: q.per_user.as_ref().map(rule).unwrap_or_default(),
        tenants: q
            .tenants
            .iter()
            .map(|(path, t)| {
                (
                    path.clone(),
                    TenantRule {
                        pool: rule(&t.pool()),
                        per_key: t.per_key.as_ref().map(rule),
                        per_user: t.per_user.as_ref().map(rule),
                    },
                )
            })
            .collect(),
    }
}

/// The quotas to enforce, or `None` when they are off.
pub async fn build(settings: &Settings) -> Result<Option<Quotas>> {
    let q = &settings.quotas;
    if !q.enabled {
        return Ok(None);
    }
    let timeout = Duration::from_millis(q.store_timeout_ms);
    let counter: Arc<dyn Counter> = match q.backend {
        QuotaBackend::Memory => Arc::new(
            MemoryCounter::new(q.max_counters).with_max_anonymous(q.max_anonymous_counters),
        ),
        QuotaBackend::Redis => {
            let redis = RedisCounter::new(&q.redis_url, &q.key_prefix, timeout)
                .with_context(|| format!("quotas.redis_url `{}`", q.redis_url))?;
            // Not fatal: until Redis answers, requests follow quotas.on_store_error.
            match redis.ping().await {
                Ok(()) => tracing::info!(url = %q.redis_url, "quota counters in Redis"),
                Err(e) => {
                    tracing::warn!(url = %q.redis_url, error = %e, on_store_error = ?q.on_store_error, "Redis does not answer yet; metered requests follow quotas.on_store_error until it does");
                }
            }
            Arc::new(redis)
        }
    };
    let on_error = match q.on_store_error {
        OnStoreError::Reject => sovra_limits::OnStoreError::Reject,
        OnStoreError::Allow => sovra_limits::OnStoreError::Allow,
    };
    let limiter = Limiter::new(policy(q), counter, on_error);
    Ok(Some(Quotas::new(
        Arc::new(limiter),
        q.reserve_completion_tokens
            .min(settings.limits.max_completion_tokens),
    )))
}
