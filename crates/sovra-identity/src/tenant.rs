//! Tenant paths: a tenant's place in the tree, and subtree tests.
//!
//! A tenant is named by its path from the root, segments joined by `/`:
//! `nation`, `nation/health`, `nation/health/vaccines`, `startup-acme`,
//! `public`. The path is the tenant's id, so "is X inside Y's subtree" is a
//! prefix test on whole segments and needs no database lookup.

use serde::{Deserialize, Serialize};

/// The tenant every anonymous citizen belongs to.
pub const PUBLIC: &str = "public";

/// Deepest tenant tree accepted.
pub const MAX_DEPTH: usize = 8;

/// Why a tenant path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid tenant path `{0}`: use 1-{MAX_DEPTH} segments of 1-63 characters a-z, 0-9 and `-`, joined by `/` (e.g. `nation/health`)"
)]
pub struct TenantPathError(pub String);

/// A checked tenant path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantPath(String);

impl TenantPath {
    pub fn parse(s: &str) -> Result<Self, TenantPathError> {
        let bad = || TenantPathError(s.chars().take(200).collect());
        let segments: Vec<&str> = s.split('/').collect();
        if segments.is_empty() || segments.len() > MAX_DEPTH {
            return Err(bad());
        }
        for seg in &segments {
            let ok = !seg.is_empty()
                && seg.len() <= 63
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !seg.starts_with('-');
            if !ok {
                return Err(bad());
            }
        }
        Ok(Self(s.to_owned()))
    }

    /// The public tenant.
    pub fn public() -> Self {
        Self(PUBLIC.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The parent tenant, None at the root.
    pub fn parent(&self) -> Option<TenantPath> {
        self.0.rsplit_once('/').map(|(p, _)| Self(p.to_owned()))
    }

    /// Whether `self` is `root` or lies under it.
    pub fn is_within(&self, root: &TenantPath) -> bool {
        self.0 == root.0
            || (self.0.len() > root.0.len()
                && self.0.starts_with(&root.0)
                && self.0.as_bytes()[root.0.len()] == b'/')
    }

    /// This path and every ancestor, nearest first (`a/b/c`, `a/b`, `a`).
    pub fn self_and_ancestors(&self) -> impl Iterator<Item = TenantPath> + '_ {
        let mut cur = Some(self.clone());
        std::iter::from_fn(move || {
            let this = cur.take()?;
            cur = this.parent();
            Some(this)
        })
    }

    /// The last segment.
    pub fn leaf(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }
}

impl std::fmt::Display for TenantPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for TenantPath {
    type Error = TenantPathError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<TenantPath> for String {
    fn from(p: TenantPath) -> String {
        p.0
    }
}

impl std::str::FromStr for TenantPath {
    type Err = TenantPathError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> TenantPath {
        TenantPath::parse(s).unwrap()
    }

    #[test]
    fn paths_are_checked() {
        for good in [
            "public",
            "nation",
            "nation/health",
            "a-1/b/c",
            "startup-acme",
        ] {
            assert!(TenantPath::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "/",
            "a/",
            "/a",
            "a//b",
            "A",
            "a b",
            "a/../b",
            "-a",
            "ä",
            "a/b/c/d/e/f/g/h/i",
        ] {
            assert!(TenantPath::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn subtree_is_by_whole_segments() {
        assert!(p("nation/health").is_within(&p("nation")));
        assert!(p("nation").is_within(&p("nation")));
        assert!(!p("nation2").is_within(&p("nation")));
        assert!(!p("nation").is_within(&p("nation/health")));
        assert!(!p("nationhealth/x").is_within(&p("nation")));
    }

    #[test]
    fn ancestors_nearest_first() {
        let all: Vec<String> = p("a/b/c")
            .self_and_ancestors()
            .map(|t| t.to_string())
            .collect();
        assert_eq!(all, ["a/b/c", "a/b", "a"]);
        assert_eq!(p("a/b/c").leaf(), "c");
    }
}
