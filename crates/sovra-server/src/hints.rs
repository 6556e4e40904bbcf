//! Routing hints from request headers: priority class, session and tenant.
//!
//! Until identity exists (another issue), the tenant is a [`TenantKey`]
//! taken from `x-sovra-tenant` or, failing that, the first characters of the
//! bearer API key; the priority class comes from `x-sovra-priority`
//! (`emergency`, `citizen`, `batch`; unknown values mean `citizen`), and the
//! session from `x-sovra-session` (else the OpenAI `user` field the handler
//! already put there). The router uses them for fair queueing, priority
//! admission and session affinity; nothing else trusts them.

use axum::http::HeaderMap;
use sovra_engine::{Priority, RouteHints};

/// Characters of an API key that name its tenant: enough to tell keys
/// apart, too few to be the secret.
const KEY_PREFIX_CHARS: usize = 12;

/// Who a request belongs to, for fair sharing. A placeholder for real
/// tenants: one type, so the source can change in one place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantKey(pub String);

impl TenantKey {
    pub fn from_headers(headers: &HeaderMap) -> Option<Self> {
        if let Some(t) = header(headers, "x-sovra-tenant") {
            return Some(Self(t.chars().take(64).collect()));
        }
        let auth = header(headers, "authorization")?;
        let key = auth.strip_prefix("Bearer ").unwrap_or(auth).trim();
        (!key.is_empty()).then(|| {
            Self(format!(
                "key:{}",
                key.chars().take(KEY_PREFIX_CHARS).collect::<String>()
            ))
        })
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Fill `hints` from the headers (a session header wins over `user`).
pub fn apply(headers: &HeaderMap, hints: &mut RouteHints) {
    if let Some(p) = header(headers, "x-sovra-priority").and_then(Priority::parse) {
        hints.priority = p;
    }
    if let Some(s) = header(headers, "x-sovra-session") {
        hints.session = Some(s.chars().take(128).collect());
    }
    hints.tenant = TenantKey::from_headers(headers).map(|t| t.0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_fill_the_hints() {
        let mut h = HeaderMap::new();
        h.insert("x-sovra-priority", "Emergency".parse().unwrap());
        h.insert(
            "authorization",
            "Bearer sk-abcdefghijklmnopqrstuvwxyz".parse().unwrap(),
        );
        let mut hints = RouteHints {
            session: Some("user-1".into()),
            ..RouteHints::default()
        };
        apply(&h, &mut hints);
        assert_eq!(hints.priority, Priority::Emergency);
        assert_eq!(hints.tenant.as_deref(), Some("key:sk-abcdefghi"));
        assert_eq!(hints.session.as_deref(), Some("user-1"));
        h.insert("x-sovra-tenant", "ministry".parse().unwrap());
        h.insert("x-sovra-session", "conv-9".parse().unwrap());
        h.insert("x-sovra-priority", "nonsense".parse().unwrap());
        let mut hints = RouteHints::default();
        apply(&h, &mut hints);
        assert_eq!(hints.tenant.as_deref(), Some("ministry"));
        assert_eq!(hints.session.as_deref(), Some("conv-9"));
        assert_eq!(hints.priority, Priority::Citizen);
    }
}
