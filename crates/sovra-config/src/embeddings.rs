//! `[embeddings]`: the embedding model that serves `POST /v1/embeddings` in
//! process, and the bounds on one request.

use serde::{Deserialize, Serialize};

use crate::engine::EngineKind;
use crate::error::{ConfigError, check};

/// `POST /v1/embeddings`: the embedding model that runs in process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmbeddingSettings {
    /// Serve embeddings. Unset: on with the embedded engine, off with `sim`.
    pub enabled: Option<bool>,
    /// A catalogue embedding model (pulled on first use) or a path to an E5S1 file.
    pub model: String,
    /// The name clients use for it; defaults to the catalogue name or file stem.
    pub model_name: Option<String>,
    /// CPU threads for embedding; 0 means all available cores.
    pub threads: u32,
    /// Most inputs in one request (OpenAI allows 2048).
    pub max_inputs: usize,
    /// Most tokens per input, special tokens included (the model's limit is 512).
    pub max_input_tokens: u32,
    /// Requests in flight (running or waiting) before new ones get a 503.
    pub queue_depth: usize,
}

impl Default for EmbeddingSettings {
    fn default() -> Self {
        Self {
            enabled: None,
            model: "multilingual-e5-small".to_owned(),
            model_name: None,
            threads: 0,
            max_inputs: 2048,
            max_input_tokens: 512,
            queue_depth: 64,
        }
    }
}

impl EmbeddingSettings {
    /// Whether embeddings are served, given the engine kind.
    pub fn is_enabled(&self, engine: EngineKind) -> bool {
        self.enabled.unwrap_or(engine == EngineKind::Embedded)
    }

    /// Checks of these settings alone, each naming the setting.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        check(
            !self.model.trim().is_empty(),
            "embeddings.model",
            "must name a catalogue embedding model or an E5S1 file",
        )?;
        check(
            self.max_inputs >= 1,
            "embeddings.max_inputs",
            "must be at least 1",
        )?;
        check(
            (3..=512).contains(&self.max_input_tokens),
            "embeddings.max_input_tokens",
            "must be between 3 and 512 (the model's limit)",
        )?;
        check(
            self.queue_depth >= 1,
            "embeddings.queue_depth",
            "must be at least 1",
        )?;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closures return its large error
mod tests {
    use crate::testing::none;
    use crate::{EngineKind, Settings};
    use figment::Jail;

    #[test]
    fn embeddings_follow_the_engine_unless_set() {
        Jail::expect_with(|jail| {
            let s = Settings::load(None, none()).map_err(|e| e.to_string())?;
            assert!(s.embeddings.is_enabled(s.engine.kind));
            assert!(!s.embeddings.is_enabled(EngineKind::Sim));
            jail.set_env("SOVRA_EMBEDDINGS_ENABLED", "false");
            jail.set_env("SOVRA_EMBEDDINGS_MAX_INPUTS", "16");
            let s = Settings::load(None, none()).map_err(|e| e.to_string())?;
            assert!(!s.embeddings.is_enabled(EngineKind::Embedded));
            assert_eq!(s.embeddings.max_inputs, 16);
            jail.set_env("SOVRA_EMBEDDINGS_MAX_INPUT_TOKENS", "4096");
            let err = Settings::load(None, none())
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains("embeddings.max_input_tokens"), "{err}");
            Ok(())
        });
    }
}
