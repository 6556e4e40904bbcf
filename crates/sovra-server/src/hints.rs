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

/// The priority class `who`'s identity grants: the one an administrator
/// set in the directory on the caller's key, user or tenant path, resolved
/// with the [`Principal`] (`citizen` where none is set, and for the
/// anonymous public); read here, and nowhere else.
pub fn granted(who: &Principal) -> Priority {
    match who.priority {
        sovra_identity::PriorityClass::Emergency => Priority::Emergency,
        sovra_identity::PriorityClass::Citizen => Priority::Citizen,
        sovra_identity::PriorityClass::Batch => Priority::Batch,
    }
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

    /// A caller of a key an administrator granted `class`.
    fn key_of(class: sovra_identity::PriorityClass) -> Principal {
        let mut who = Principal::anonymous("usr_1");
        who.credential = sovra_identity::Credential::ApiKey {
            id: "key_1".into(),
            scopes: vec![sovra_identity::Scope::Inference],
            models: None,
        };
        who.priority = class;
        who
    }

    fn priority_with(who: &Principal, header: Option<&str>) -> Priority {
        let mut h = HeaderMap::new();
        if let Some(v) = header {
            h.insert(LOWER_PRIORITY_HEADER, v.parse().unwrap());
        }
        let mut hints = RouteHints::default();
        apply(who, &h, &mut hints);
        hints.priority
    }

    #[test]
    fn a_batch_key_stays_batch_whatever_the_header_says() {
        let who = key_of(sovra_identity::PriorityClass::Batch);
        assert_eq!(granted(&who), Priority::Batch);
        for asked in [None, Some("emergency"), Some("citizen"), Some("batch")] {
            assert_eq!(priority_with(&who, asked), Priority::Batch, "{asked:?}");
        }
    }

    #[test]
    fn an_emergency_key_gets_emergency_and_may_lower_it() {
        let who = key_of(sovra_identity::PriorityClass::Emergency);
        assert_eq!(granted(&who), Priority::Emergency);
        assert_eq!(priority_with(&who, None), Priority::Emergency);
        assert_eq!(priority_with(&who, Some("emergency")), Priority::Emergency);
        assert_eq!(priority_with(&who, Some("citizen")), Priority::Citizen);
        assert_eq!(priority_with(&who, Some("batch")), Priority::Batch);
        let citizen = key_of(sovra_identity::PriorityClass::Citizen);
        assert_eq!(granted(&citizen), Priority::Citizen);
        assert_eq!(
            priority_with(&citizen, Some("emergency")),
            Priority::Citizen
        );
    }
}
