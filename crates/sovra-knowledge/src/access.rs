//! Who may read and write a collection.
//!
//! A collection's visibility is (scope, tenant, owner): `public` collections
//! are read by everyone, `tenant` collections by the members of that
//! tenant's subtree (an agency's collection by its teams too), `private`
//! ones by one user of one tenant. Public collections are written with the
//! platform's authority (the operator, a platform admin); tenant ones by the
//! tenant's staff (admins and developers of that tenant or above it); a
//! private collection by its owner. The [`Caller`] is built at the edge from
//! the request's principal, so this module is the one place the rules live.

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
    /// May write public collections (the operator, a platform admin).
    pub operator: bool,
    /// May write tenant collections of their tenant's subtree (admins, developers).
    pub staff: bool,
}

/// Whether tenant path `t` is `root` or lies under it (whole segments).
fn within(t: &str, root: &str) -> bool {
    t == root || (t.len() > root.len() && t.starts_with(root) && t.as_bytes()[root.len()] == b'/')
}

impl Caller {
    /// `operator`: may write public and tenant collections.
    pub fn new(tenant: &str, user: &str, operator: bool) -> Self {
        Self::with_rights(tenant, user, operator, operator)
    }

    /// A caller with the platform's authority (`operator`) and/or the
    /// tenant staff's (`staff`).
    pub fn with_rights(tenant: &str, user: &str, operator: bool, staff: bool) -> Self {
        Self {
            tenant: tenant.to_owned(),
            user: user.to_owned(),
            operator,
            staff,
        }
    }

    /// The operator acting from the command line: may write anything in `tenant`.
    pub fn operator(tenant: &str) -> Self {
        Self::new(tenant, "operator", true)
    }

    pub fn can_read(&self, v: &Visibility) -> bool {
        match v.scope {
            Scope::Public => true,
            Scope::Tenant => within(&self.tenant, &v.tenant),
            Scope::Private => v.tenant == self.tenant && v.owner.as_deref() == Some(&self.user),
        }
    }

    pub fn can_write(&self, v: &Visibility) -> bool {
        match v.scope {
            Scope::Public => self.operator,
            Scope::Tenant => self.staff && within(&v.tenant, &self.tenant),
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

    #[test]
    fn tenant_collections_reach_the_subtree() {
        let agency = Caller::with_rights("nation/health", "admin", false, true);
        let team = Caller::new("nation/health/vaccines", "vic", false);
        let sibling = Caller::new("nation/healthcare", "sam", false);
        let col = agency.visibility(Scope::Tenant);
        assert!(agency.can_write(&col) && !agency.can_write(&agency.visibility(Scope::Public)));
        assert!(
            team.can_read(&col),
            "a team reads its agency's tenant collections"
        );
        assert!(
            !sibling.can_read(&col),
            "a sibling whose name shares a prefix does not"
        );
        assert!(!team.can_write(&col));
        let team_col = team.visibility(Scope::Tenant);
        assert!(
            !agency.can_read(&team_col),
            "reading goes up the tree, not down"
        );
        assert!(
            agency.can_write(&team_col),
            "staff write their subtree's collections"
        );
    }
}
