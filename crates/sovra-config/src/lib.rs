//! Sovra's settings.
//!
//! One typed [`Settings`] struct, filled in layers: built-in defaults, then an
//! optional TOML file (`--config sovra.toml`), then `SOVRA_*` environment
//! variables, then command-line flags (which the binary hands in as a
//! [`figment::Provider`]). Unknown keys are refused, and every error names the
//! setting, where its value came from and what is wrong with it.
//!
//! Each section has its own module (`engine.rs` holds `[engine]`, and so on;
//! [`ConfigError`] is in `error.rs`), with the checks of its fields in a
//! `validate` beside them. [`Settings::validate`] runs them all, and the
//! checks that span sections, once, at load. The sections' types are
//! re-exported here, but for the fleet's and the quotas', which keep their
//! public modules [`fleet`] and [`quotas`].
//!
//! Environment names are the setting's path in capitals with `_` between
//! parts: `engine.threads` is `SOVRA_ENGINE_THREADS`, `listen` is `SOVRA_LISTEN`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

mod audit;
mod auth;
mod embeddings;
mod engine;
mod error;
pub mod fleet;
mod identity;
mod knowledge;
mod limits;
pub mod quotas;
mod retention;
mod safety;
mod server;
mod signin;
mod storage;

pub use audit::{AuditContent, AuditSettings};
pub use auth::AuthSettings;
pub use embeddings::EmbeddingSettings;
pub use engine::{EngineKind, EngineSettings};
pub use error::ConfigError;
pub use identity::IdentitySettings;
pub use knowledge::KnowledgeSettings;
pub use limits::LimitSettings;
pub use retention::{RetentionSettings, TenantRetention};
pub use safety::{ClassifierKind, SafetySettings};
pub use server::ServerSettings;
pub use signin::{SecureCookies, SignInSettings};
pub use storage::StorageSettings;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// All of Sovra's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Address the HTTP server listens on.
    pub listen: SocketAddr,
    /// Where Sovra keeps its database and state.
    pub data_dir: PathBuf,
    /// `human` (default) or `json` log lines.
    pub log_format: LogFormat,
    pub engine: EngineSettings,
    pub embeddings: EmbeddingSettings,
    pub knowledge: KnowledgeSettings,
    pub limits: LimitSettings,
    /// Where requests may be served: see [`fleet`].
    pub sovereignty: fleet::SovereigntySettings,
    /// The fleet of inference backends; empty: the engine of `[engine]` alone.
    pub backends: Vec<fleet::BackendSettings>,
    /// How the fleet router places and admits requests.
    pub router: fleet::RouterSettings,
    pub storage: StorageSettings,
    pub retention: RetentionSettings,
    pub auth: AuthSettings,
    /// The country profile and the safety pipeline around every request.
    pub safety: SafetySettings,
    /// TLS, security headers and slow-client limits of the HTTP server.
    pub server: ServerSettings,
    /// What audit entries record about content (docs/security.md).
    pub audit: AuditSettings,
    /// Rate limits and quotas per key, user and tenant (off by default).
    pub quotas: quotas::QuotaSettings,
    /// Web sign-in: local accounts and single sign-on (see docs/security.md).
    pub signin: SignInSettings,
    /// Tenants, users and API keys (see docs/admin.md).
    pub identity: IdentitySettings,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Human,
    Json,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("sovra-data"),
            log_format: LogFormat::Human,
            engine: EngineSettings::default(),
            embeddings: EmbeddingSettings::default(),
            knowledge: KnowledgeSettings::default(),
            limits: LimitSettings::default(),
            sovereignty: fleet::SovereigntySettings::default(),
            backends: Vec::new(),
            router: fleet::RouterSettings::default(),
            storage: StorageSettings::default(),
            retention: RetentionSettings::default(),
            auth: AuthSettings::default(),
            safety: SafetySettings::default(),
            server: ServerSettings::default(),
            audit: AuditSettings::default(),
            quotas: quotas::QuotaSettings::default(),
            signin: SignInSettings::default(),
            identity: IdentitySettings::default(),
        }
    }
}

/// `SOVRA_*` variables that belong to the tools, not to the settings.
const NOT_SETTINGS: &[&str] = &["config", "url", "bin", "test_model", "test_embedding_model"];

/// The sections: the settings whose defaults are tables (`engine`,
/// `identity`, ...), read from the defaults so none is left out.
fn sections() -> Vec<String> {
    match serde_json::to_value(Settings::default()) {
        Ok(serde_json::Value::Object(map)) => map
            .into_iter()
            .filter(|(_, v)| v.is_object())
            .map(|(k, _)| k)
            .collect(),
        _ => Vec::new(),
    }
}

/// `SOVRA_ENGINE_THREADS` → `engine.threads`.
fn setting_path(var: &str, sections: &[String]) -> String {
    let k = var.to_ascii_lowercase();
    for section in sections {
        if let Some(rest) = k.strip_prefix(&format!("{section}_")) {
            return format!("{section}.{rest}");
        }
    }
    k
}

/// Every setting's dotted path, from the defaults.
fn known_paths() -> Vec<String> {
    fn walk(prefix: &str, value: &serde_json::Value, out: &mut Vec<String>) {
        if let serde_json::Value::Object(map) = value {
            for (k, v) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                if v.is_object() {
                    walk(&path, v, out);
                } else {
                    out.push(path);
                }
            }
        }
    }
    let mut out = Vec::new();
    if let Ok(v) = serde_json::to_value(Settings::default()) {
        walk("", &v, &mut out);
    }
    out
}

/// The `SOVRA_*` environment layer: `SOVRA_ENGINE_THREADS` → `engine.threads`.
/// Variables that name no setting are left out (see [`unknown_env_vars`]).
pub fn env_provider() -> Env {
    let known = known_paths();
    let sections = sections();
    let map_sections = sections.clone();
    Env::prefixed("SOVRA_")
        .filter(move |key| known.contains(&setting_path(key.as_str(), &sections)))
        .map(move |key| setting_path(key.as_str(), &map_sections).into())
}

/// `SOVRA_*` variables that name no setting: probably typos, worth a warning.
pub fn unknown_env_vars() -> Vec<String> {
    let known = known_paths();
    let sections = sections();
    std::env::vars()
        .filter_map(|(k, _)| k.strip_prefix("SOVRA_").map(str::to_owned))
        .filter(|k| !NOT_SETTINGS.contains(&k.to_ascii_lowercase().as_str()))
        .filter(|k| !known.contains(&setting_path(k, &sections)))
        .map(|k| format!("SOVRA_{k}"))
        .collect()
}

impl Settings {
    /// Defaults, then the file (if any), then the environment, then `overrides`.
    pub fn load(
        file: Option<&Path>,
        overrides: impl figment::Provider,
    ) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError::MissingFile(path.to_path_buf()));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        let settings: Settings = figment.merge(env_provider()).merge(overrides).extract()?;
        settings.validate()?;
        Ok(settings)
    }

    /// Every section's own checks, then those that span sections; the first
    /// failure is the error. (`[identity]`, `[audit]` and the top-level
    /// settings have nothing to check beyond their types.)
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.safety.validate()?;
        self.knowledge.validate()?;
        self.engine.validate()?;
        self.embeddings.validate()?;
        self.limits.validate()?;
        // Across sections: each backend against `[sovereignty]`, the
        // backends together, and `[router]`.
        fleet::validate(&self.sovereignty, &self.backends, &self.router)?;
        self.server.validate()?;
        self.quotas.validate()?;
        self.storage.validate()?;
        self.auth.validate()?;
        self.signin.validate()?;
        self.retention.validate()?;
        Ok(())
    }
}

/// What the unit tests share.
#[cfg(test)]
pub(crate) mod testing {
    use figment::providers::Serialized;

    /// No command-line flags.
    pub(crate) fn none() -> Serialized<serde_json::Value> {
        Serialized::defaults(serde_json::json!({}))
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closures return its large error
mod tests {
    use super::*;
    use crate::testing::none;
    use figment::Jail;

    #[test]
    fn defaults_are_valid() {
        assert!(Settings::default().validate().is_ok());
    }

    #[test]
    fn file_then_env_then_flags() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "sovra.toml",
                "listen = \"127.0.0.1:9000\"\n[engine]\nthreads = 3\nparallel = 4\n",
            )?;
            jail.set_env("SOVRA_ENGINE_PARALLEL", "6");
            jail.set_env("SOVRA_DATA_DIR", "/tmp/x");
            let flags = Serialized::defaults(serde_json::json!({"engine": {"kind": "sim"}}));
            let s =
                Settings::load(Some(Path::new("sovra.toml")), flags).map_err(|e| e.to_string())?;
            assert_eq!(s.listen.port(), 9000);
            assert_eq!(s.engine.threads, 3);
            assert_eq!(s.engine.parallel, 6);
            assert_eq!(s.engine.kind, EngineKind::Sim);
            assert_eq!(s.data_dir, PathBuf::from("/tmp/x"));
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_are_refused() {
        Jail::expect_with(|jail| {
            jail.create_file("sovra.toml", "[engine]\nthreds = 3\n")?;
            let err = Settings::load(Some(Path::new("sovra.toml")), none())
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains("threds"), "{err}");
            assert!(err.contains("sovra.toml"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn env_vars_that_name_no_setting_are_reported_not_applied() {
        Jail::expect_with(|jail| {
            jail.set_env("SOVRA_ENGIN_THREADS", "3");
            jail.set_env("SOVRA_URL", "http://x");
            let s = Settings::load(None, none()).map_err(|e| e.to_string())?;
            assert_eq!(s.engine.threads, 0);
            assert_eq!(unknown_env_vars(), vec!["SOVRA_ENGIN_THREADS".to_owned()]);
            Ok(())
        });
    }

    #[test]
    fn every_section_takes_its_env_vars() {
        Jail::expect_with(|jail| {
            jail.set_env("SOVRA_IDENTITY_ANONYMOUS", "false");
            jail.set_env("SOVRA_IDENTITY_PUBLIC_OPEN", "true");
            jail.set_env("SOVRA_AUDIT_CONTENT", "digest");
            let s = Settings::load(None, none()).map_err(|e| e.to_string())?;
            assert!(!s.identity.anonymous);
            assert!(s.identity.public_open);
            assert_eq!(s.audit.content, AuditContent::Digest);
            assert!(unknown_env_vars().is_empty(), "{:?}", unknown_env_vars());
            Ok(())
        });
    }

    #[test]
    fn missing_file_is_named() {
        let err = Settings::load(Some(Path::new("/nonexistent/sovra.toml")), none()).err();
        assert!(matches!(err, Some(ConfigError::MissingFile(_))));
    }
}
