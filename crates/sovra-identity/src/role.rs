//! Roles: what a user may do inside their tenant's subtree.
//!
//! One role per user. A role's reach is the user's tenant and everything
//! under it (a platform admin's tenant is the root of every tree: they reach
//! all tenants). What each role may do per endpoint is decided at the HTTP
//! edge from the route table; this module only names the roles and orders
//! the ones that can be delegated.

use serde::{Deserialize, Serialize};

use crate::PriorityClass;

/// A user's role.
#[derive(
    Debug,
    Clone,
    Copy,
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
// Named apart from the OpenAI message `Role` (system, user, assistant...) in
// /openapi.json: one schema name for both made chat chunks fail validation.
#[schema(as = UserRole)]
pub enum Role {
    /// Runs the whole platform: every tenant, every key, the audit trail.
    PlatformAdmin,
    /// Administers one tenant's subtree: its tenants, users and keys.
    TenantAdmin,
    /// Builds on the API: creates their own keys and tenant collections.
    Developer,
    /// A citizen or civil servant: chats, owns their data.
    Member,
    /// Reads the audit trail and usage of a subtree, never content.
    Auditor,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::PlatformAdmin,
        Role::TenantAdmin,
        Role::Developer,
        Role::Member,
        Role::Auditor,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::PlatformAdmin => "platform_admin",
            Role::TenantAdmin => "tenant_admin",
            Role::Developer => "developer",
            Role::Member => "member",
            Role::Auditor => "auditor",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Whether a holder of `self` may give `other` to someone (create a user
    /// or a key with it). Nobody grants a role above their own; only a
    /// platform admin makes platform admins.
    pub fn may_grant(self, other: Role) -> bool {
        match self {
            Role::PlatformAdmin => true,
            Role::TenantAdmin => other != Role::PlatformAdmin,
            Role::Developer => other == Role::Developer || other == Role::Member,
            Role::Member => other == Role::Member,
            Role::Auditor => other == Role::Auditor,
        }
    }

    /// Whether a holder of `self` may set the priority class `class` on a
    /// tenant, user or key they administer: a platform admin any class, a
    /// tenant admin `citizen` or `batch` (never `emergency`), nobody else
    /// any (an unset class inherits, so even `batch` on a key could lift
    /// it above a `batch` user).
    pub fn may_grant_priority(self, class: PriorityClass) -> bool {
        match self {
            Role::PlatformAdmin => true,
            Role::TenantAdmin => class != PriorityClass::Emergency,
            Role::Developer | Role::Member | Role::Auditor => false,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s).ok_or_else(|| {
            format!(
                "unknown role `{s}` (one of: {})",
                Self::ALL.map(Role::as_str).join(", ")
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
            assert_eq!(serde_json::to_string(&r).unwrap(), format!("\"{r}\""));
        }
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn nobody_grants_above_themselves() {
        assert!(!Role::TenantAdmin.may_grant(Role::PlatformAdmin));
        assert!(!Role::Developer.may_grant(Role::TenantAdmin));
        assert!(!Role::Member.may_grant(Role::Developer));
        assert!(Role::PlatformAdmin.may_grant(Role::PlatformAdmin));
    }

    #[test]
    fn only_platform_admins_grant_emergency() {
        for class in PriorityClass::ALL {
            assert!(Role::PlatformAdmin.may_grant_priority(class));
            assert_eq!(
                Role::TenantAdmin.may_grant_priority(class),
                class != PriorityClass::Emergency
            );
            for r in [Role::Developer, Role::Member, Role::Auditor] {
                assert!(!r.may_grant_priority(class), "{r} grants {class}");
            }
        }
    }
}
