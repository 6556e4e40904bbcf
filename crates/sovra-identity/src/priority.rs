//! Priority classes: how urgent a caller's requests are in the fleet's queue.
//!
//! An administrator grants a class in the directory, on an API key, a user
//! or a tenant; absent, the class is inherited: a key's own class, else its
//! user's, else its tenant's (or the nearest ancestor tenant's that has
//! one), else `citizen` ([`PriorityClass::resolve`]). The resolved class
//! travels on the [`Principal`](crate::Principal); the HTTP edge maps it to
//! the engine's queue class. Who may grant which class
//! ([`Role::may_grant_priority`](crate::Role::may_grant_priority)): only a
//! platform admin grants `emergency`. A client may still lower its own
//! class per request, never raise it (that rule lives at the HTTP edge).

use serde::{Deserialize, Serialize};

/// A priority class, most urgent first.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum PriorityClass {
    /// Served before everyone else (emergency services); platform admins grant it.
    Emergency,
    /// Everyone's default.
    #[default]
    Citizen,
    /// Bulk work that yields to everyone else.
    Batch,
}

impl PriorityClass {
    /// Every class, most urgent first.
    pub const ALL: [PriorityClass; 3] = [
        PriorityClass::Emergency,
        PriorityClass::Citizen,
        PriorityClass::Batch,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PriorityClass::Emergency => "emergency",
            PriorityClass::Citizen => "citizen",
            PriorityClass::Batch => "batch",
        }
    }

    /// Exactly one of the names [`as_str`](Self::as_str) gives.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// The class a caller's identity grants: the key's own, else the
    /// user's, else the tenant's (already resolved up the tenant path),
    /// else `citizen`.
    pub fn resolve(
        key: Option<PriorityClass>,
        user: Option<PriorityClass>,
        tenant: Option<PriorityClass>,
    ) -> PriorityClass {
        key.or(user).or(tenant).unwrap_or_default()
    }
}

impl std::fmt::Display for PriorityClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for PriorityClass {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s).ok_or_else(|| {
            format!(
                "unknown priority class `{s}` (one of: {})",
                Self::ALL.map(PriorityClass::as_str).join(", ")
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for c in PriorityClass::ALL {
            assert_eq!(PriorityClass::parse(c.as_str()), Some(c));
            assert_eq!(serde_json::to_string(&c).unwrap(), format!("\"{c}\""));
            assert_eq!(c.as_str().parse::<PriorityClass>(), Ok(c));
        }
        assert!("high".parse::<PriorityClass>().is_err());
        assert!(serde_json::from_str::<PriorityClass>("\"urgent\"").is_err());
    }

    #[test]
    fn the_nearest_grant_wins_else_citizen() {
        use PriorityClass::{Batch, Citizen, Emergency};
        assert_eq!(PriorityClass::resolve(None, None, None), Citizen);
        assert_eq!(PriorityClass::resolve(None, None, Some(Batch)), Batch);
        assert_eq!(
            PriorityClass::resolve(None, Some(Emergency), Some(Batch)),
            Emergency
        );
        assert_eq!(
            PriorityClass::resolve(Some(Batch), Some(Emergency), Some(Citizen)),
            Batch,
            "a key's own class wins even when lower"
        );
    }
}
