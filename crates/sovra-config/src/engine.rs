//! `[engine]`: which engine serves the model (llama.cpp in process or the
//! simulated node), the model, and how many conversations it decodes at once.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{ConfigError, check};

/// Which engine serves the model, and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineSettings {
    /// `embedded` (llama.cpp in process) or `sim` (the simulated node).
    pub kind: EngineKind,
    /// A catalogue model name (pulled on first use) or a path to a GGUF file.
    pub model: String,
    /// The name clients use for the model; defaults to the catalogue name or file stem.
    pub model_name: Option<String>,
    /// Where pulled models are cached; defaults to `~/.cache/sovra/models`.
    pub model_cache: Option<PathBuf>,
    /// CPU threads for inference; 0 means all available cores.
    pub threads: u32,
    /// Conversations decoded together.
    pub parallel: u32,
    /// Tokens one conversation may hold (prompt plus answer).
    pub context: u32,
    /// Most tokens in one decode step.
    pub batch_tokens: u32,
    /// Requests that may wait for a free slot before new ones get a 503.
    pub queue_depth: usize,
    /// Simulated node: milliseconds to the first token.
    pub sim_ttft_ms: u64,
    /// Simulated node: tokens per second per stream.
    pub sim_tokens_per_second: f64,
    /// Simulated node: fail every stream after this many tokens (0 = never),
    /// for testing how clients handle a failure mid-stream.
    pub sim_fail_after_tokens: u32,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            kind: EngineKind::Embedded,
            model: "smollm2-135m-instruct".to_owned(),
            model_name: None,
            model_cache: None,
            threads: 0,
            parallel: 8,
            context: 2048,
            batch_tokens: 512,
            queue_depth: 64,
            sim_ttft_ms: 20,
            sim_tokens_per_second: 200.0,
            sim_fail_after_tokens: 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    Embedded,
    Sim,
}

impl EngineSettings {
    /// Checks of these settings alone, each naming the setting.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        check(
            self.parallel >= 1 && self.parallel <= 256,
            "engine.parallel",
            "must be between 1 and 256",
        )?;
        check(
            self.context >= 128,
            "engine.context",
            "must be at least 128 tokens",
        )?;
        check(
            self.batch_tokens >= self.parallel,
            "engine.batch_tokens",
            "must be at least engine.parallel",
        )?;
        check(
            self.queue_depth >= 1,
            "engine.queue_depth",
            "must be at least 1",
        )?;
        check(
            !self.model.trim().is_empty(),
            "engine.model",
            "must name a catalogue model or a GGUF file",
        )?;
        check(
            self.sim_tokens_per_second >= 0.0,
            "engine.sim_tokens_per_second",
            "must not be negative",
        )?;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closures return its large error
mod tests {
    use crate::Settings;
    use crate::testing::none;
    use figment::Jail;

    #[test]
    fn cross_field_check_names_setting() {
        Jail::expect_with(|jail| {
            jail.set_env("SOVRA_ENGINE_PARALLEL", "0");
            let err = Settings::load(None, none())
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains("engine.parallel"), "{err}");
            Ok(())
        });
    }
}
