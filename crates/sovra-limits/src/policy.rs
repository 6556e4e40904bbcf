//! Which limits apply to a request: rules per level, inherited down the
//! tenant tree, resolved into the buckets one request is counted in.
//!
//! Levels: the API key, the user, and every ancestor of the tenant path
//! (`nation`, `nation/health`, `nation/health/team-a`). A tenant path's own
//! rule is a *shared pool*: every request of anyone under that path counts
//! in it, so a team's members share the team's allowance and a nation-level
//! rule caps the whole subtree. The per-key and per-user rules are defaults
//! that a tenant may override for its subtree; the nearest ancestor that
//! sets one wins (an empty override lifts the limit there).

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

/// Who a request is charged to (built by the server from the caller's identity).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Charge {
    /// The API key's id (a digest fingerprint, never the key itself).
    pub key: Option<String>,
    pub user: Option<String>,
    /// A path such as `nation/health/team-a`; every ancestor path is a level too.
    pub tenant: String,
    /// The model asked for (shown in messages; rules are not per model yet).
    pub model: Option<String>,
    /// Nobody authenticated the caller (the anonymous public): the counters
    /// this charge creates come out of the anonymous budget.
    pub anonymous: bool,
}

/// Limits of one level; `None`: no limit of that kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rule {
    pub requests_per_minute: Option<u64>,
    pub requests_per_day: Option<u64>,
    pub tokens_per_minute: Option<u64>,
    pub tokens_per_day: Option<u64>,
}

impl Rule {
    /// Each limit the rule sets, with what it counts and over which window.
    fn limits(&self) -> impl Iterator<Item = (Measure, Window, u64)> {
        [
            (Measure::Requests, Window::Minute, self.requests_per_minute),
            (Measure::Requests, Window::Day, self.requests_per_day),
            (Measure::Tokens, Window::Minute, self.tokens_per_minute),
            (Measure::Tokens, Window::Day, self.tokens_per_day),
        ]
        .into_iter()
        .filter_map(|(m, w, l)| l.map(|l| (m, w, l)))
    }

    pub fn is_empty(&self) -> bool {
        self.limits().next().is_none()
    }

    /// Whether this rule counts tokens.
    pub fn counts_tokens(&self) -> bool {
        self.tokens_per_minute.is_some() || self.tokens_per_day.is_some()
    }
}

/// A tenant path's rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TenantRule {
    /// The pool everything under this path shares.
    pub pool: Rule,
    /// Replaces the default per-key rule for keys in this subtree.
    pub per_key: Option<Rule>,
    /// Replaces the default per-user rule for users in this subtree.
    pub per_user: Option<Rule>,
}

/// Every rule, by level.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Policy {
    /// Each API key's own allowance, unless its tenant overrides it.
    pub per_key: Rule,
    /// Each user's own allowance, unless their tenant overrides it.
    pub per_user: Rule,
    /// By tenant path (`nation/health`), without leading or trailing `/`.
    pub tenants: BTreeMap<String, TenantRule>,
}

/// What a bucket counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Measure {
    Requests,
    Tokens,
}

impl Measure {
    /// OpenAI's `error.type` for this limit, and the header suffix.
    pub fn as_str(self) -> &'static str {
        match self {
            Measure::Requests => "requests",
            Measure::Tokens => "tokens",
        }
    }
}

/// A fixed window, aligned to UTC (minutes start at :00, days at midnight).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Window {
    Minute,
    Day,
}

impl Window {
    pub fn seconds(self) -> u64 {
        match self {
            Window::Minute => 60,
            Window::Day => 86_400,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Window::Minute => "minute",
            Window::Day => "day",
        }
    }

    /// OpenAI's abbreviation: RPM, RPD, TPM, TPD.
    pub fn abbreviation(self, measure: Measure) -> &'static str {
        match (measure, self) {
            (Measure::Requests, Window::Minute) => "RPM",
            (Measure::Requests, Window::Day) => "RPD",
            (Measure::Tokens, Window::Minute) => "TPM",
            (Measure::Tokens, Window::Day) => "TPD",
        }
    }
}

/// Which level a bucket belongs to (the label of the rejection metric).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Level {
    Key,
    User,
    Tenant,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Key => "key",
            Level::User => "user",
            Level::Tenant => "tenant",
        }
    }
}

/// One counter a request is checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    /// The counter's name in the store: bounded in length, no client text.
    pub id: String,
    pub level: Level,
    /// Who the bucket is, for messages (`key sk-a…`, `tenant nation/health`).
    pub scope: String,
    pub measure: Measure,
    pub window: Window,
    pub limit: u64,
}

/// The first 16 bytes of a SHA-256, as hex: a fixed-size name for text a
/// client chose (user names), so store keys stay short and inert.
fn digest_hex(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    hex::encode(&h.finalize()[..16])
}

/// `nation/health/team-a` → `nation`, `nation/health`, `nation/health/team-a`.
pub fn ancestors(tenant: &str) -> impl Iterator<Item = &str> {
    tenant
        .match_indices('/')
        .map(|(i, _)| &tenant[..i])
        .chain((!tenant.is_empty()).then_some(tenant))
}

/// Whether `path` is a tenant path rules may name: segments of letters,
/// digits, `-`, `_` and `.`, joined by single `/`.
pub fn valid_tenant_path(path: &str) -> bool {
    !path.is_empty()
        && path.len() <= 256
        && path.split('/').all(|seg| {
            !seg.is_empty()
                && seg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        })
}

impl Policy {
    /// Whether any rule anywhere is set.
    pub fn is_empty(&self) -> bool {
        self.per_key.is_empty()
            && self.per_user.is_empty()
            && self.tenants.values().all(|t| {
                t.pool.is_empty()
                    && t.per_key.is_none_or(|r| r.is_empty())
                    && t.per_user.is_none_or(|r| r.is_empty())
            })
    }

    /// The per-key and per-user rules in force for `tenant`: the nearest
    /// ancestor's override, else the default.
    pub fn personal_rules(&self, tenant: &str) -> (Rule, Rule) {
        let mut key = self.per_key;
        let mut user = self.per_user;
        // Shallow to deep: a deeper override replaces a shallower one.
        for path in ancestors(tenant) {
            if let Some(t) = self.tenants.get(path) {
                if let Some(r) = t.per_key {
                    key = r;
                }
                if let Some(r) = t.per_user {
                    user = r;
                }
            }
        }
        (key, user)
    }

    /// Every bucket a request of `charge` is counted in.
    pub fn buckets(&self, charge: &Charge) -> Vec<Bucket> {
        let (key_rule, user_rule) = self.personal_rules(&charge.tenant);
        let mut out = Vec::new();
        let mut push = |level: Level, name: &str, scope: String, rule: &Rule| {
            for (measure, window, limit) in rule.limits() {
                let m = match measure {
                    Measure::Requests => 'r',
                    Measure::Tokens => 't',
                };
                let w = match window {
                    Window::Minute => 'm',
                    Window::Day => 'd',
                };
                out.push(Bucket {
                    id: format!("{name}:{m}{w}"),
                    level,
                    scope: scope.clone(),
                    measure,
                    window,
                    limit,
                });
            }
        };
        if let Some(key) = &charge.key {
            let shown: String = key.chars().take(8).collect();
            push(
                Level::Key,
                &format!("k:{}", digest_hex(&[key])),
                format!("API key {shown}"),
                &key_rule,
            );
        }
        if let Some(user) = &charge.user {
            push(
                Level::User,
                &format!("u:{}", digest_hex(&[&charge.tenant, user])),
                format!("user {user}"),
                &user_rule,
            );
        }
        for path in ancestors(&charge.tenant) {
            if let Some(t) = self.tenants.get(path) {
                push(
                    Level::Tenant,
                    &format!("t:{path}"),
                    format!("tenant {path}"),
                    &t.pool,
                );
            }
        }
        out
    }

    /// Whether a request of `charge` is counted in tokens anywhere (if not,
    /// the server need not tokenize the prompt before it runs).
    pub fn counts_tokens(&self, charge: &Charge) -> bool {
        self.buckets(charge)
            .iter()
            .any(|b| b.measure == Measure::Tokens)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rpm(n: u64) -> Rule {
        Rule {
            requests_per_minute: Some(n),
            ..Rule::default()
        }
    }

    fn charge(key: Option<&str>, user: Option<&str>, tenant: &str) -> Charge {
        Charge {
            key: key.map(str::to_owned),
            user: user.map(str::to_owned),
            tenant: tenant.to_owned(),
            model: None,
            anonymous: false,
        }
    }

    #[test]
    fn ancestors_shallow_to_deep() {
        let a: Vec<_> = ancestors("nation/health/team-a").collect();
        assert_eq!(a, ["nation", "nation/health", "nation/health/team-a"]);
        assert_eq!(ancestors("public").collect::<Vec<_>>(), ["public"]);
        assert_eq!(ancestors("").count(), 0);
    }

    #[test]
    fn tenant_paths() {
        for ok in ["public", "nation/health", "a-b/c_d/e.f/9"] {
            assert!(valid_tenant_path(ok), "{ok}");
        }
        for bad in ["", "/a", "a/", "a//b", "a b", "a:b", "ä"] {
            assert!(!valid_tenant_path(bad), "{bad}");
        }
    }

    #[test]
    fn nearest_ancestor_override_wins() {
        let mut p = Policy {
            per_key: rpm(100),
            per_user: rpm(10),
            ..Policy::default()
        };
        p.tenants.insert(
            "nation".into(),
            TenantRule {
                per_user: Some(rpm(5)),
                ..TenantRule::default()
            },
        );
        p.tenants.insert(
            "nation/health".into(),
            TenantRule {
                per_user: Some(rpm(7)),
                per_key: Some(Rule::default()),
                ..TenantRule::default()
            },
        );
        assert_eq!(p.personal_rules("other"), (rpm(100), rpm(10)));
        assert_eq!(p.personal_rules("nation"), (rpm(100), rpm(5)));
        assert_eq!(p.personal_rules("nation/edu"), (rpm(100), rpm(5)));
        // The deeper override wins, and an empty one lifts the key limit.
        assert_eq!(
            p.personal_rules("nation/health/team-a"),
            (Rule::default(), rpm(7))
        );
        // A prefix that is not a path ancestor does not count.
        assert_eq!(p.personal_rules("nationwide"), (rpm(100), rpm(10)));
    }

    #[test]
    fn buckets_cover_every_level_and_pool() {
        let mut p = Policy {
            per_key: rpm(60),
            per_user: Rule {
                tokens_per_day: Some(1000),
                ..Rule::default()
            },
            ..Policy::default()
        };
        p.tenants.insert(
            "nation".into(),
            TenantRule {
                pool: Rule {
                    requests_per_day: Some(100_000),
                    ..Rule::default()
                },
                ..TenantRule::default()
            },
        );
        p.tenants.insert(
            "nation/health/team-a".into(),
            TenantRule {
                pool: rpm(30),
                ..TenantRule::default()
            },
        );
        let b = p.buckets(&charge(
            Some("ab12cd34"),
            Some("alice"),
            "nation/health/team-a",
        ));
        let levels: Vec<_> = b
            .iter()
            .map(|b| (b.level, b.measure, b.window, b.limit))
            .collect();
        assert_eq!(
            levels,
            [
                (Level::Key, Measure::Requests, Window::Minute, 60),
                (Level::User, Measure::Tokens, Window::Day, 1000),
                (Level::Tenant, Measure::Requests, Window::Day, 100_000),
                (Level::Tenant, Measure::Requests, Window::Minute, 30),
            ]
        );
        assert!(p.counts_tokens(&charge(None, Some("bob"), "x")));
        assert!(!p.counts_tokens(&charge(Some("k"), None, "x")));
        // Two users of one team share the team's pool, not their own buckets.
        let bob = p.buckets(&charge(None, Some("bob"), "nation/health/team-a"));
        let pool = |bs: &[Bucket]| {
            bs.iter()
                .filter(|b| b.level == Level::Tenant)
                .map(|b| b.id.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(pool(&b), pool(&bob));
        let user = |bs: &[Bucket]| {
            bs.iter()
                .find(|b| b.level == Level::User)
                .map(|b| b.id.clone())
        };
        assert_ne!(user(&b), user(&bob));
        // The same user name in another tenant is another person.
        let other = p.buckets(&charge(None, Some("alice"), "nation/edu"));
        assert_ne!(user(&other), user(&b));
    }

    #[test]
    fn bucket_ids_are_bounded_and_inert() {
        let p = Policy {
            per_user: rpm(1),
            ..Policy::default()
        };
        let long = "x:".repeat(64);
        let b = p.buckets(&charge(None, Some(&long), "public"));
        assert_eq!(b.len(), 1);
        assert!(b[0].id.len() < 40, "{}", b[0].id);
        assert!(!b[0].id.contains("x:x"), "{}", b[0].id);
    }

    #[test]
    fn emptiness() {
        assert!(Policy::default().is_empty());
        let mut p = Policy::default();
        p.tenants.insert("a".into(), TenantRule::default());
        assert!(p.is_empty());
        p.tenants.insert(
            "b".into(),
            TenantRule {
                per_user: Some(rpm(1)),
                ..TenantRule::default()
            },
        );
        assert!(!p.is_empty());
    }
}
