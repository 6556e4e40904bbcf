//! [`ConfigError`]: what went wrong reading or checking the settings, and
//! `check`, the one-line form every section's `validate` uses.

use std::path::PathBuf;

/// A setting that could not be read or makes no sense.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("{0}")]
    Invalid(String),
    #[error("setting `{setting}`: {problem}")]
    Check {
        setting: &'static str,
        problem: String,
    },
    /// A backend that must not be used (e.g. outside the allowed jurisdictions).
    #[error("backend `{name}`: {problem}")]
    Backend { name: String, problem: String },
}

impl From<figment::Error> for ConfigError {
    fn from(error: figment::Error) -> Self {
        // One line per problem, each naming the key and where it came from.
        let lines: Vec<String> = error
            .into_iter()
            .map(|e| {
                let key = if e.path.is_empty() {
                    "(top level)".to_owned()
                } else {
                    e.path.join(".")
                };
                let source = match &e.metadata {
                    // Name the exact variable, not just "environment".
                    Some(m) if m.name.contains("environment") => {
                        format!(
                            " (from environment variable SOVRA_{})",
                            key.replace('.', "_").to_ascii_uppercase()
                        )
                    }
                    Some(m) => match &m.source {
                        Some(src) => format!(" (from {} {src})", m.name),
                        None => format!(" (from {})", m.name),
                    },
                    None => String::new(),
                };
                format!("setting `{key}`{source}: {}", e.kind)
            })
            .collect();
        ConfigError::Invalid(lines.join("\n"))
    }
}

/// `Ok` when `ok`, else the [`ConfigError::Check`] naming `setting`.
pub(crate) fn check(ok: bool, setting: &'static str, problem: &str) -> Result<(), ConfigError> {
    if ok {
        Ok(())
    } else {
        Err(ConfigError::Check {
            setting,
            problem: problem.to_owned(),
        })
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closures return its large error
mod tests {
    use crate::Settings;
    use crate::testing::none;
    use figment::Jail;

    #[test]
    fn errors_name_the_setting_and_source() {
        Jail::expect_with(|jail| {
            jail.set_env("SOVRA_ENGINE_THREADS", "many");
            let err = Settings::load(None, none())
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains("engine.threads"), "{err}");
            assert!(err.contains("SOVRA_ENGINE_THREADS"), "{err}");
            Ok(())
        });
    }
}
