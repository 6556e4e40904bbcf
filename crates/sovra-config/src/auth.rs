//! `[auth]`: the operator's static API keys for the OpenAI and admin APIs.

use serde::{Deserialize, Serialize};

use crate::error::{ConfigError, check};

/// Who may call the OpenAI and admin APIs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// Keys a client must send as `Authorization: Bearer KEY` on `/v1` and
    /// `/admin`; empty: those APIs are open.
    pub api_keys: Vec<String>,
}

impl AuthSettings {
    /// Checks of these settings alone, each naming the setting.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        check(
            self.api_keys
                .iter()
                .all(|k| k.len() >= 16 && !k.chars().any(char::is_whitespace)),
            "auth.api_keys",
            "each key must be at least 16 characters, without spaces",
        )
    }
}
