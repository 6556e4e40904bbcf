//! `[identity]`: who may call without a credential, and whether an open
//! platform may start on an address other than loopback (docs/admin.md,
//! docs/security.md). Nothing here needs checking at load.

use serde::{Deserialize, Serialize};

/// Who may call without a credential (see docs/admin.md, docs/security.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdentitySettings {
    /// Once the platform is closed (an operator key or a platform admin
    /// exists), serve callers with no credential as the anonymous public
    /// (members of the `public` tenant: the web chat and their own data);
    /// false: `401` for them. Before then a single node is open.
    pub anonymous: bool,
    /// Start open (no operator key, no platform admin: the anonymous public
    /// may use the OpenAI API) on an address other than loopback. Without
    /// it (also the `--public-open` flag) such a server refuses to start:
    /// bootstrap a platform admin or set `auth.api_keys` first.
    pub public_open: bool,
}

impl Default for IdentitySettings {
    fn default() -> Self {
        Self {
            anonymous: true,
            public_open: false,
        }
    }
}
