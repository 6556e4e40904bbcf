//! `[storage]`: where data is kept and the master key that seals it
//! (docs/data.md).

use serde::{Deserialize, Serialize};

use crate::error::{ConfigError, check};

/// Where data is kept and the key that seals it (see docs/data.md).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageSettings {
    /// `sqlite://PATH` or `postgres://user@host/db`; unset: `sovra.db` in `data_dir`.
    pub url: Option<String>,
    /// The master key: `file:PATH`, `env:VAR` or `command:CMD` (a KMS hook);
    /// unset: `data_dir/master.key`, created on first start.
    pub master_key: Option<String>,
    /// Master keys being rotated out (same forms); tenant keys they wrap are
    /// rewrapped with `master_key` at start.
    pub previous_master_keys: Vec<String>,
}

impl StorageSettings {
    /// Checks of these settings alone, each naming the setting.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.url {
            check(
                url.starts_with("sqlite:")
                    || url.starts_with("postgres://")
                    || url.starts_with("postgresql://"),
                "storage.url",
                "must start with sqlite:// or postgres://",
            )?;
        }
        let source_ok = |s: &str| {
            ["file:", "env:", "command:"]
                .iter()
                .any(|p| s.starts_with(p) && s.len() > p.len())
        };
        if let Some(k) = &self.master_key {
            check(
                source_ok(k),
                "storage.master_key",
                "must be file:PATH, env:VAR or command:CMD",
            )?;
        }
        check(
            self.previous_master_keys.iter().all(|k| source_ok(k)),
            "storage.previous_master_keys",
            "each must be file:PATH, env:VAR or command:CMD",
        )?;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closures return its large error
mod tests {
    use std::path::Path;

    use crate::Settings;
    use crate::testing::none;
    use figment::Jail;

    // Reads [retention] too: the two sections are set together in a file.
    #[test]
    fn storage_and_retention_settings() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "sovra.toml",
                "[storage]\nurl = \"postgres://postgres@127.0.0.1/sovra\"\nmaster_key = \"env:SOVRA_KEY\"\n[retention]\nconversations_days = 30\n[retention.tenants.ministry]\nconversations_days = 365\n",
            )?;
            let s =
                Settings::load(Some(Path::new("sovra.toml")), none()).map_err(|e| e.to_string())?;
            assert_eq!(s.retention.conversations_days, Some(30));
            assert_eq!(
                s.retention.tenants["ministry"].conversations_days,
                Some(365)
            );
            jail.set_env("SOVRA_STORAGE_MASTER_KEY", "vault");
            let err = Settings::load(None, none())
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains("storage.master_key"), "{err}");
            Ok(())
        });
    }
}
