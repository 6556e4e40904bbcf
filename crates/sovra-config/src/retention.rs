//! `[retention]`: how long conversations and audit entries are kept, with
//! per-tenant overrides, and how often they are purged.

use serde::{Deserialize, Serialize};

use crate::error::{ConfigError, check};

/// How long data is kept, per kind, with per-tenant overrides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionSettings {
    /// Days a conversation is kept after its last message; unset: forever.
    pub conversations_days: Option<u32>,
    /// Days audit entries are kept; unset: forever.
    pub audit_days: Option<u32>,
    /// Seconds between purges.
    pub purge_interval_secs: u64,
    /// Per-tenant overrides: `[retention.tenants.ministry] conversations_days = 365`.
    pub tenants: std::collections::BTreeMap<String, TenantRetention>,
}

/// A tenant's own retention.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TenantRetention {
    pub conversations_days: Option<u32>,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        Self {
            conversations_days: None,
            audit_days: None,
            purge_interval_secs: 3600,
            tenants: Default::default(),
        }
    }
}

impl RetentionSettings {
    /// Checks of these settings alone, each naming the setting.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        check(
            self.purge_interval_secs >= 1,
            "retention.purge_interval_secs",
            "must be at least 1",
        )
    }
}
