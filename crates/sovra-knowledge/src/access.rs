//! Who may read and write a collection.
//!
//! A collection's visibility is (scope, tenant, owner): `public` collections
//! are read by everyone, `tenant` collections by the staff of one tenant (an
//! agency), `private` ones by one user of one tenant. Writes to public and
//! tenant collections need the operator's authority (the API key, when keys
//! are configured); a private collection is written by its owner. The
//! [`Caller`] is built at the edge (today from `RequestSubject`; later from
//! real identity), so this module is the one place the rules live.

use serde::{Deserialize, Serialize};

use crate::Error;

/// How widely a collection is visible.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Everyone: the official national documents.
    Public,
    /// The members of one tenant (an agency's staff).
    Tenant,
    /// One user's uploads.
    Private,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Tenant => "tenant",
            Self::Private => "private",
        }
    }

    pub fn parse(s: &str) -> Result<Self, Error> {
        match s {
            "public" => Ok(Self::Public),
            "tenant" => Ok(Self::Tenant),
            "private" => Ok(Self::Private),
            other => Err(Error::Invalid {
                what: "scope",
                problem: format!("`{other}` is not one of public, tenant, private"),
            }),
        }
    }
}

/// Who a collection is visible to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Visibility {
    pub scope: Scope,
    pub tenant: String,
    /// The owning user (private collections only).
    pub owner: Option<String>,
}

/// The identity a knowledge operation runs for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub tenant: String,
    pub user: String,
    /// May write public and tenant collections (the operator's key, or no keys configured).
    pub operator: bool,
}

impl Caller {
    pub fn new(tenant: &str, user: &str, operator: bool) -> Self {
        Self {
            tenant: tenant.to_owned(),
            user: user.to_owned(),
            operator,
        }
    }

    /// The operator acting from the command line: may write anything in `tenant`.
    pub fn operator(tenant: &str) -> Self {
        Self::new(tenant, "operator", true)
    }

    pub fn can_read(&self, v: &Visibility) -> bool {
        match v.scope {
            Scope::Public => true,
            Scope::Tenant => v.tenant == self.tenant,
            Scope::Private => v.tenant == self.tenant && v.owner.as_deref() == Some(&self.user),
        }
    }

    pub fn can_write(&self, v: &Visibility) -> bool {
        match v.scope {
            Scope::Public => self.operator,
            Scope::Tenant => self.operator && v.tenant == self.tenant,
            Scope::Private => v.tenant == self.tenant && v.owner.as_deref() == Some(&self.user),
        }
    }

    /// The visibility a new collection of `scope` created by this caller gets.
    pub fn visibility(&self, scope: Scope) -> Visibility {
        Visibility {
            scope,
            tenant: self.tenant.clone(),
            owner: (scope == Scope::Private).then(|| self.user.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rules() {
        let alice = Caller::new("a", "alice", false);
        let bob = Caller::new("a", "bob", false);
        let op_b = Caller::new("b", "op", true);
        let public = Visibility {
            scope: Scope::Public,
            tenant: "b".into(),
            owner: None,
        };
        let tenant_a = alice.visibility(Scope::Tenant);
        let mine = alice.visibility(Scope::Private);
        assert!(alice.can_read(&public) && bob.can_read(&public) && op_b.can_read(&public));
        assert!(!alice.can_write(&public) && op_b.can_write(&public));
        assert!(alice.can_read(&tenant_a) && bob.can_read(&tenant_a) && !op_b.can_read(&tenant_a));
        assert!(!alice.can_write(&tenant_a) && !op_b.can_write(&tenant_a));
        assert!(alice.can_read(&mine) && alice.can_write(&mine));
        assert!(!bob.can_read(&mine) && !bob.can_write(&mine) && !op_b.can_read(&mine));
    }
}
