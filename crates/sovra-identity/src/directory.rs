//! The directory: tenants, users, API keys and sessions, behind one trait.
//!
//! [`Directory`] is the seam between identity and storage. `sovra-store`
//! implements it on SQLite and PostgreSQL from one body of SQL; every
//! change (a tenant, a user, a key made or revoked) appends its audit entry
//! in the same transaction, naming the actor, and never a secret: keys and
//! sessions are kept as SHA-256 hashes, passwords as argon2id PHC strings.
//! Rows here are plain data; who may call which method is decided at the
//! HTTP edge, not here.

use serde::Serialize;

use crate::{PriorityClass, Role, Scope, TenantPath};

/// What a directory can fail with.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// A unique name or path is taken.
    #[error("{0} already exists")]
    Conflict(String),
    #[error("{0} does not exist")]
    NotFound(String),
    /// The change would break the tree (a tenant with children, a parent missing...).
    #[error("{0}")]
    Invalid(String),
    #[error("directory storage failed: {0}")]
    Backend(String),
}

/// What kind of body a tenant is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TenantKind {
    Nation,
    Agency,
    Team,
    Startup,
    Public,
}

impl TenantKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TenantKind::Nation => "nation",
            TenantKind::Agency => "agency",
            TenantKind::Team => "team",
            TenantKind::Startup => "startup",
            TenantKind::Public => "public",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            TenantKind::Nation,
            TenantKind::Agency,
            TenantKind::Team,
            TenantKind::Startup,
            TenantKind::Public,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// A tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Tenant {
    /// The tenant's path, which is its id.
    #[schema(value_type = String)]
    pub path: TenantPath,
    pub name: String,
    pub kind: TenantKind,
    /// The priority class granted to the tenant and, where they set none,
    /// its sub-tenants, users and keys; null: inherited from its parent.
    pub priority: Option<PriorityClass>,
    pub created_at_ms: i64,
}

/// A tenant to create; its parent (the path minus the last segment) must exist.
#[derive(Debug, Clone)]
pub struct NewTenant {
    pub path: TenantPath,
    pub name: String,
    pub kind: TenantKind,
    pub priority: Option<PriorityClass>,
}

/// A user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct User {
    /// `usr_` and 24 hex digits.
    pub id: String,
    #[schema(value_type = String)]
    pub tenant: TenantPath,
    /// The sign-in name (unique across the platform), e.g. an e-mail address.
    pub name: String,
    pub display_name: String,
    pub role: Role,
    pub disabled: bool,
    /// Whether a local password is set.
    pub has_password: bool,
    /// The single sign-on identity: (issuer, subject).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oidc: Option<(String, String)>,
    /// The priority class granted to the user (and their keys that set
    /// none); null: their tenant's.
    pub priority: Option<PriorityClass>,
    pub created_at_ms: i64,
}

/// A user to create.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub tenant: TenantPath,
    pub name: String,
    pub display_name: String,
    pub role: Role,
    /// An argon2id PHC string (see [`crate::password::hash`]).
    pub password_hash: Option<String>,
    pub oidc: Option<(String, String)>,
    pub priority: Option<PriorityClass>,
}

/// A change to a user; `None` fields stay as they are.
#[derive(Debug, Clone, Default)]
pub struct UserChange {
    pub display_name: Option<String>,
    pub role: Option<Role>,
    pub disabled: Option<bool>,
    pub password_hash: Option<String>,
    /// `Some(None)` clears the user's class (they inherit their tenant's).
    pub priority: Option<Option<PriorityClass>>,
}

/// An API key as stored: never the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ApiKeyRecord {
    /// `key_` and 24 hex digits.
    pub id: String,
    #[schema(value_type = String)]
    pub tenant: TenantPath,
    /// The user the key acts as; None for a tenant service key.
    pub user: Option<String>,
    pub name: String,
    /// The displayed prefix, `sk-sovra-AbC123…`.
    pub shown: String,
    /// The role the key acts with (never above its creator's).
    pub role: Role,
    pub scopes: Vec<Scope>,
    /// The models the key may use; None: all.
    pub models: Option<Vec<String>>,
    /// The priority class granted to the key; null: its user's, else its tenant's.
    pub priority: Option<PriorityClass>,
    pub expires_at_ms: Option<i64>,
    pub revoked_at_ms: Option<i64>,
    pub created_at_ms: i64,
    pub created_by: String,
    /// The key this one was minted with (its parent): revoking the parent
    /// revokes it; it never outlives, outranks or out-scopes the parent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
}

impl ApiKeyRecord {
    /// Whether the key may be used at `now_ms`.
    pub fn is_live(&self, now_ms: i64) -> bool {
        self.revoked_at_ms.is_none() && self.expires_at_ms.is_none_or(|e| now_ms < e)
    }
}

/// An API key to store; `hash` and `shown` come from
/// [`crate::ApiKeySecret`], which the caller shows once and drops.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub tenant: TenantPath,
    pub user: Option<String>,
    pub name: String,
    pub role: Role,
    pub scopes: Vec<Scope>,
    pub models: Option<Vec<String>>,
    pub priority: Option<PriorityClass>,
    pub expires_at_ms: Option<i64>,
    pub hash: String,
    pub shown: String,
    /// The key the request that makes this one came with, if any.
    pub parent: Option<String>,
}

/// A web session; `id` is the SHA-256 of the cookie's token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    pub user: String,
    /// The token forms and `fetch` must echo on state-changing requests.
    pub csrf: String,
    /// How the user signed in: `password` or `oidc`.
    pub method: String,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
}

/// Tenants, users, keys and sessions. Mutations take the `actor` the audit
/// entry names (`cli:<os user>`, `user:<id>`, `key:<id>`, `operator`).
#[async_trait::async_trait]
pub trait Directory: Send + Sync + 'static {
    async fn create_tenant(
        &self,
        tenant: &NewTenant,
        actor: &str,
    ) -> Result<Tenant, DirectoryError>;
    async fn tenant(&self, path: &TenantPath) -> Result<Option<Tenant>, DirectoryError>;
    /// `root` and every tenant under it, by path.
    async fn tenants_under(&self, root: &TenantPath) -> Result<Vec<Tenant>, DirectoryError>;
    /// Every tenant, by path (a platform admin's reach).
    async fn all_tenants(&self) -> Result<Vec<Tenant>, DirectoryError>;
    /// Refused ([`DirectoryError::Invalid`]) while the tenant has sub-tenants, users or keys.
    async fn delete_tenant(&self, path: &TenantPath, actor: &str) -> Result<bool, DirectoryError>;
    /// Set (or with None clear) the tenant's priority class; None if there is no such tenant.
    async fn set_tenant_priority(
        &self,
        path: &TenantPath,
        priority: Option<PriorityClass>,
        actor: &str,
    ) -> Result<Option<Tenant>, DirectoryError>;
    /// The class `path` inherits: its own, else that of its nearest
    /// ancestor that has one; None when no tenant on the path has one.
    async fn tenant_priority(
        &self,
        path: &TenantPath,
    ) -> Result<Option<PriorityClass>, DirectoryError>;

    async fn create_user(&self, user: &NewUser, actor: &str) -> Result<User, DirectoryError>;
    async fn user(&self, id: &str) -> Result<Option<User>, DirectoryError>;
    /// The user with this sign-in name, with their password hash.
    async fn user_by_name(
        &self,
        name: &str,
    ) -> Result<Option<(User, Option<String>)>, DirectoryError>;
    async fn user_by_oidc(
        &self,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<User>, DirectoryError>;
    /// Users of `root` and every tenant under it.
    async fn users_under(&self, root: &TenantPath) -> Result<Vec<User>, DirectoryError>;
    /// Every user (a platform admin's reach).
    async fn all_users(&self) -> Result<Vec<User>, DirectoryError>;
    async fn update_user(
        &self,
        id: &str,
        change: &UserChange,
        actor: &str,
    ) -> Result<Option<User>, DirectoryError>;
    /// Deletes the user, their keys and sessions.
    async fn delete_user(&self, id: &str, actor: &str) -> Result<bool, DirectoryError>;
    /// How many enabled platform admins exist (bootstrap refuses a second first one).
    async fn platform_admins(&self) -> Result<u64, DirectoryError>;

    async fn create_key(
        &self,
        key: &NewApiKey,
        actor: &str,
    ) -> Result<ApiKeyRecord, DirectoryError>;
    /// The key whose secret hashes to `hash`, live or not.
    async fn key_by_hash(&self, hash: &str) -> Result<Option<ApiKeyRecord>, DirectoryError>;
    async fn key(&self, id: &str) -> Result<Option<ApiKeyRecord>, DirectoryError>;
    /// Keys of `root` and every tenant under it.
    async fn keys_under(&self, root: &TenantPath) -> Result<Vec<ApiKeyRecord>, DirectoryError>;
    /// Every key (a platform admin's reach).
    async fn all_keys(&self) -> Result<Vec<ApiKeyRecord>, DirectoryError>;
    /// Revoke, with every live key minted from it down its lineage (each
    /// audited); false if there is no such key or it was already revoked.
    async fn revoke_key(&self, id: &str, actor: &str) -> Result<bool, DirectoryError>;
    /// Set (or with None clear) the key's priority class, revoked or not;
    /// None if there is no such key.
    async fn set_key_priority(
        &self,
        id: &str,
        priority: Option<PriorityClass>,
        actor: &str,
    ) -> Result<Option<ApiKeyRecord>, DirectoryError>;

    async fn create_session(&self, session: &Session) -> Result<(), DirectoryError>;
    /// The live session with this id (expired ones are not returned).
    async fn session(&self, id: &str, now_ms: i64) -> Result<Option<Session>, DirectoryError>;
    async fn delete_session(&self, id: &str) -> Result<bool, DirectoryError>;
}
