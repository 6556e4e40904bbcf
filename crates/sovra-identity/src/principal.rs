//! The caller one request acts for.
//!
//! Resolved once at the HTTP edge (from an API key, a session cookie, the
//! operator's static key, or nobody: the anonymous public) and passed to
//! handlers as plain data. Handlers ask it questions (`reaches`, `allows`)
//! rather than looking at how the caller signed in.

use serde::Serialize;

use crate::{PriorityClass, Role, TenantPath};

/// An endpoint scope an API key may be limited to.
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
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// `/v1/chat/completions`, `/v1/completions`, `/v1/models`, `/v1/moderations`.
    Inference,
    /// `/v1/embeddings`.
    Embeddings,
    /// `/v1/vector_stores`, `/v1/files`: collections and documents.
    Knowledge,
    /// `/api/...`: conversations and the caller's own data.
    Conversations,
    /// `/admin/...`: within what the key's role allows.
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 5] = [
        Scope::Inference,
        Scope::Embeddings,
        Scope::Knowledge,
        Scope::Conversations,
        Scope::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Inference => "inference",
            Scope::Embeddings => "embeddings",
            Scope::Knowledge => "knowledge",
            Scope::Conversations => "conversations",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// How the caller proved who they are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Credential {
    /// A tenant API key: limited to its scopes and (when set) its models.
    ApiKey {
        id: String,
        scopes: Vec<Scope>,
        models: Option<Vec<String>>,
    },
    /// A web session (local password or single sign-on).
    Session { id: String },
    /// One of the operator's static keys from the configuration (`auth.api_keys`).
    Operator,
    /// Nobody signed in: the anonymous public, where the profile allows it.
    Anonymous,
}

/// Who a request acts for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    /// The user's id (`usr_...`), `anonymous`, or for a key without a user `key:<id>`.
    pub user: String,
    pub tenant: TenantPath,
    pub role: Role,
    pub credential: Credential,
    /// The priority class the caller's identity grants (resolved from the
    /// key, the user, the tenant path; see [`PriorityClass::resolve`]).
    pub priority: PriorityClass,
}

impl Principal {
    /// The anonymous public: a member of the public tenant, a citizen.
    /// `user` names the browser's own anonymous id when it sends one.
    pub fn anonymous(user: &str) -> Self {
        Self {
            user: user.to_owned(),
            tenant: TenantPath::public(),
            role: Role::Member,
            credential: Credential::Anonymous,
            priority: PriorityClass::Citizen,
        }
    }

    /// Whether `tenant` lies in the caller's reach (their tenant's subtree;
    /// everything for a platform admin).
    pub fn reaches(&self, tenant: &TenantPath) -> bool {
        self.role == Role::PlatformAdmin || tenant.is_within(&self.tenant)
    }

    /// Whether the credential allows `scope` (sessions and operator keys allow all).
    pub fn allows(&self, scope: Scope) -> bool {
        match &self.credential {
            Credential::ApiKey { scopes, .. } => scopes.contains(&scope),
            _ => true,
        }
    }

    /// Whether the credential allows `model` (keys with an allow-list).
    pub fn allows_model(&self, model: &str) -> bool {
        match &self.credential {
            Credential::ApiKey {
                models: Some(list), ..
            } => list.iter().any(|m| m == model),
            _ => true,
        }
    }

    /// The audit trail's name for the caller.
    pub fn actor(&self) -> String {
        match &self.credential {
            Credential::ApiKey { id, .. } => format!("key:{id}"),
            Credential::Operator => "operator".to_owned(),
            _ => format!("user:{}", self.user),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reach_is_the_subtree() {
        let mut p = Principal::anonymous("u");
        p.tenant = TenantPath::parse("nation/health").unwrap();
        p.role = Role::TenantAdmin;
        assert!(p.reaches(&TenantPath::parse("nation/health/vaccines").unwrap()));
        assert!(!p.reaches(&TenantPath::parse("nation/education").unwrap()));
        assert!(!p.reaches(&TenantPath::parse("nation").unwrap()));
        p.role = Role::PlatformAdmin;
        assert!(p.reaches(&TenantPath::parse("nation").unwrap()));
    }

    #[test]
    fn keys_are_limited_to_scopes_and_models() {
        let mut p = Principal::anonymous("u");
        p.credential = Credential::ApiKey {
            id: "k".into(),
            scopes: vec![Scope::Inference],
            models: Some(vec!["m1".into()]),
        };
        assert!(p.allows(Scope::Inference));
        assert!(!p.allows(Scope::Admin));
        assert!(p.allows_model("m1"));
        assert!(!p.allows_model("m2"));
    }
}
