//! `[audit]`: what audit entries record about content (docs/security.md).
//! Nothing here needs checking at load.

use serde::{Deserialize, Serialize};

/// What the audit trail records about content.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSettings {
    /// `metadata` (default): who, what, when, whom and counts, never content.
    /// `digest`: also the SHA-256 of the content concerned (a data export's
    /// document), which proves later what was handed out without keeping it.
    pub content: AuditContent,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditContent {
    #[default]
    Metadata,
    Digest,
}
