//! Routing hints for the fleet: priority class, fair-share bucket, session.
//!
//! Who a request is decides how it is queued, never what it says about
//! itself. The fair-share bucket is the caller's tenant, from the
//! [`Principal`] the identity middleware resolved (`public` for the
//! anonymous public). The priority class is the one the caller's identity
//! grants ([`granted`]: `citizen` for everyone until an administrator can
//! grant classes per key); the client may only *lower* it, with
//! [`LOWER_PRIORITY_HEADER`] (`batch` below `citizen`): a header naming a
//! higher class than the granted one is ignored. The session key for
//! prefix-aware routing comes from `x-sovra-session` (else the OpenAI `user`
//! field the handler already put there): it only places a request near its
//! cache, and gives it no rights.

use axum::http::HeaderMap;
use sovra_engine::{Priority, RouteHints};
use sovra_identity::Principal;

/// The header a client may use to lower its own priority class (`batch`,
/// `citizen`); it can never raise it above the one its identity grants.
pub const LOWER_PRIORITY_HEADER: &str = "x-sovra-priority";
/// The header that names a session for prefix-aware routing.
pub const SESSION_HEADER: &str = "x-sovra-session";

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// The priority class `who`'s identity grants. Every caller is a citizen
/// today; classes granted per key by an administrator will be read here,
/// and nowhere else.
pub fn granted(_who: &Principal) -> Priority {
    Priority::Citizen
}

/// `granted`, or the class the client asks for if that is lower (a larger
/// rank is less urgent).
fn lowered(granted: Priority, asked: Option<Priority>) -> Priority {
    match asked {
        Some(p) if p.rank() > granted.rank() => p,
        _ => granted,
    }
}

/// Fill `hints` for a request of `who` (a session header wins over `user`).
pub fn apply(who: &Principal, headers: &HeaderMap, hints: &mut RouteHints) {
    let asked = header(headers, LOWER_PRIORITY_HEADER).and_then(Priority::parse);
    hints.priority = lowered(granted(who), asked);
    if let Some(s) = header(headers, SESSION_HEADER) {
        hints.session = Some(s.chars().take(128).collect());
    }
    hints.tenant = Some(who.tenant.to_string());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_identity_decides_and_a_header_may_only_lower() {
        let who = Principal::anonymous("anon_1");
        let mut h = HeaderMap::new();
        h.insert(LOWER_PRIORITY_HEADER, "Emergency".parse().unwrap());
        let mut hints = RouteHints {
            session: Some("user-1".into()),
            ..RouteHints::default()
        };
        apply(&who, &h, &mut hints);
        assert_eq!(hints.priority, Priority::Citizen, "never raised");
        assert_eq!(
            hints.tenant.as_deref(),
            Some("public"),
            "never the header's"
        );
        assert_eq!(hints.session.as_deref(), Some("user-1"));
        h.insert(LOWER_PRIORITY_HEADER, "batch".parse().unwrap());
        h.insert(SESSION_HEADER, "conv-9".parse().unwrap());
        let mut hints = RouteHints::default();
        apply(&who, &h, &mut hints);
        assert_eq!(hints.priority, Priority::Batch, "lowered");
        assert_eq!(hints.session.as_deref(), Some("conv-9"));
        h.insert(LOWER_PRIORITY_HEADER, "nonsense".parse().unwrap());
        apply(&who, &h, &mut hints);
        assert_eq!(hints.priority, Priority::Citizen);
        for asked in Priority::ALL {
            for granted in Priority::ALL {
                assert!(lowered(granted, Some(asked)).rank() >= granted.rank());
            }
        }
    }
}
