//! `[safety]`: the country profile and how the safety pipeline around every
//! request classifies and checks (docs/safety.md).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{ConfigError, check};

/// The country profile Sovra follows and how its safety pipeline runs
/// (see docs/safety.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SafetySettings {
    /// A country profile (TOML, see `profiles/`); unset: the built-in
    /// neutral profile (English, international emergency number 112).
    pub profile: Option<PathBuf>,
    /// `auto`: the profile's rules, plus the trained classifier when
    /// embeddings are served; `rules`: rules only; `logistic`: rules and the
    /// trained classifier; `vote`: rules and the nearest-neighbour vote (both
    /// fail at start without embeddings).
    pub classifier: ClassifierKind,
    /// Neighbours that vote (with `vote`).
    pub knn_k: usize,
    /// Scales the vote's scores (0-1): lower refuses less.
    pub knn_scale: f32,
    /// With `vote`: a harmful neighbour votes only at this cosine
    /// similarity or above, and at least `knn_margin` nearer than the nearest
    /// benign exemplar. Unset: every neighbour votes.
    pub knn_floor: Option<f32>,
    /// With `knn_floor`: the margin over the nearest benign exemplar.
    pub knn_margin: f32,
    /// Check streamed answers as they are generated.
    pub check_output: bool,
}

impl Default for SafetySettings {
    fn default() -> Self {
        Self {
            profile: None,
            classifier: ClassifierKind::Auto,
            knn_k: 5,
            knn_scale: 1.0,
            knn_floor: None,
            knn_margin: 0.0,
            check_output: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClassifierKind {
    Auto,
    Rules,
    /// The calibrated logistic head over the embeddings (what `auto` serves).
    Logistic,
    /// Nearest neighbours over the exemplars (`exemplars` is its old name).
    #[serde(alias = "exemplars")]
    Vote,
}

impl SafetySettings {
    /// Checks of these settings alone, each naming the setting.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        check(
            (1..=64).contains(&self.knn_k),
            "safety.knn_k",
            "must be between 1 and 64",
        )?;
        check(
            (0.0..=1.0).contains(&self.knn_scale),
            "safety.knn_scale",
            "must be between 0 and 1",
        )?;
        check(
            self.knn_floor.is_none_or(|f| (-1.0..=1.0).contains(&f)),
            "safety.knn_floor",
            "must be a cosine similarity between -1 and 1",
        )?;
        check(
            (-1.0..=1.0).contains(&self.knn_margin),
            "safety.knn_margin",
            "must be between -1 and 1",
        )?;
        Ok(())
    }
}
