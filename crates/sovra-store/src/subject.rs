//! Whose data a row is: a tenant and a data subject inside it.
//!
//! Until identity lands, the tenant is `public` and the user comes from a
//! request header; the type is the seam identity plugs into later.

use serde::Serialize;

use crate::StoreError;

/// A data subject: a user inside a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Subject {
    pub tenant: String,
    pub user: String,
}

impl Subject {
    pub const DEFAULT_TENANT: &'static str = "public";
    pub const ANONYMOUS: &'static str = "anonymous";

    /// A checked subject: both parts 1-128 characters, no control characters.
    pub fn new(tenant: &str, user: &str) -> Result<Self, StoreError> {
        for (what, v) in [("tenant", tenant), ("user", user)] {
            if v.is_empty() || v.chars().count() > 128 || v.chars().any(char::is_control) {
                return Err(StoreError::Invalid {
                    what,
                    problem: format!("`{v}` must be 1-128 characters without control characters"),
                });
            }
        }
        Ok(Self {
            tenant: tenant.to_owned(),
            user: user.to_owned(),
        })
    }

    /// A user of the default tenant.
    pub fn public(user: &str) -> Result<Self, StoreError> {
        Self::new(Self::DEFAULT_TENANT, user)
    }
}

impl Default for Subject {
    fn default() -> Self {
        Self {
            tenant: Self::DEFAULT_TENANT.to_owned(),
            user: Self::ANONYMOUS.to_owned(),
        }
    }
}

impl std::fmt::Display for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.tenant, self.user)
    }
}
