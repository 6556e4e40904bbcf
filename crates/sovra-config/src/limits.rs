//! `[limits]`: what a client may send and ask for, and how long streams may
//! run on after a shutdown signal.

use serde::{Deserialize, Serialize};

use crate::error::{ConfigError, check};

/// Limits on what a client may send and ask for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitSettings {
    /// Largest request body accepted (bytes); larger gets a 413.
    pub max_body_bytes: usize,
    /// Most tokens one request may ask the model to generate.
    pub max_completion_tokens: u32,
    /// Most messages in one chat request.
    pub max_messages: usize,
    /// Seconds to let streams finish after SIGINT/SIGTERM before exiting.
    pub shutdown_grace_secs: u64,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            max_completion_tokens: 1024,
            max_messages: 256,
            shutdown_grace_secs: 20,
        }
    }
}

impl LimitSettings {
    /// Checks of these settings alone, each naming the setting.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        check(
            self.max_body_bytes >= 1024,
            "limits.max_body_bytes",
            "must be at least 1024 bytes",
        )?;
        check(
            self.max_completion_tokens >= 1,
            "limits.max_completion_tokens",
            "must be at least 1",
        )?;
        check(
            self.max_messages >= 1,
            "limits.max_messages",
            "must be at least 1",
        )?;
        Ok(())
    }
}
