//! Who a caller is, and what they may do.
//!
//! Plain data and pure rules, no I/O: a [`TenantPath`] places a tenant in
//! the nation's tree (`nation/health/vaccines`), a [`Role`] says what a user
//! may do inside their tenant's subtree, a [`PriorityClass`] how urgent
//! their requests are (granted in the directory), a [`Principal`] is the
//! caller one request acts for (resolved at the HTTP edge from an API key,
//! a session cookie, or the anonymous public), [`keys`] makes and parses API key
//! secrets and session tokens, [`password`] hashes local passwords with
//! argon2id, and [`Directory`] is the seam to the store that keeps tenants,
//! users, keys and sessions (implemented by `sovra-store` on SQLite and
//! PostgreSQL, every change audited in the same transaction).

pub mod directory;
pub mod keys;
pub mod password;
pub mod principal;
pub mod priority;
pub mod role;
pub mod tenant;

pub use directory::{
    ApiKeyRecord, Directory, DirectoryError, NewApiKey, NewTenant, NewUser, Session, Tenant,
    TenantKind, User, UserChange,
};
pub use keys::{ApiKeySecret, KeyParseError, SessionToken};
pub use principal::{Credential, Principal, Scope};
pub use priority::PriorityClass;
pub use role::Role;
pub use tenant::{TenantPath, TenantPathError};
