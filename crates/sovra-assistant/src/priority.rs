//! Routing hints for the fleet: priority class, fair-share bucket, session.
//!
//! Who a request is decides how it is queued, never what it says about
//! itself. The fair-share bucket is the caller's tenant, from the
//! [`Principal`] the server resolved (`public` for the anonymous public).
//! The priority class is the one the caller's identity grants
//! ([`granted`]); the client may only *lower* it (a surface passes what the
//! client asked, e.g. the `x-sovra-priority` header): a class higher than
//! the granted one is ignored. The session key for prefix-aware routing
//! only places a request near its cache, and gives it no rights.

use sovra_engine::{Priority, RouteHints};
use sovra_identity::Principal;

/// The priority class `who`'s identity grants. Every caller is a citizen
/// today; classes granted per key by an administrator will be read here,
/// and nowhere else.
pub fn granted(_who: &Principal) -> Priority {
    Priority::Citizen
}

/// `granted`, or the class the client asks for if that is lower (a larger
/// rank is less urgent).
pub fn lowered(granted: Priority, asked: Option<Priority>) -> Priority {
    match asked {
        Some(p) if p.rank() > granted.rank() => p,
        _ => granted,
    }
}

/// Fill `hints` for a request of `who`: the granted class (or the lower one
/// asked for), the tenant as the fair-share bucket, and `session` when
/// given (else what the request already carries, e.g. OpenAI's `user`).
pub fn apply(
    who: &Principal,
    asked: Option<Priority>,
    session: Option<&str>,
    hints: &mut RouteHints,
) {
    hints.priority = lowered(granted(who), asked);
    if let Some(s) = session {
        hints.session = Some(s.chars().take(128).collect());
    }
    hints.tenant = Some(who.tenant.to_string());
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn the_identity_decides_and_a_client_may_only_lower() {
        let who = Principal::anonymous("anon_1");
        let mut hints = RouteHints {
            session: Some("user-1".into()),
            ..RouteHints::default()
        };
        apply(&who, Some(Priority::Emergency), None, &mut hints);
        assert_eq!(hints.priority, Priority::Citizen, "never raised");
        assert_eq!(hints.tenant.as_deref(), Some("public"));
        assert_eq!(hints.session.as_deref(), Some("user-1"));
        let mut hints = RouteHints::default();
        apply(&who, Some(Priority::Batch), Some("conv-9"), &mut hints);
        assert_eq!(hints.priority, Priority::Batch, "lowered");
        assert_eq!(hints.session.as_deref(), Some("conv-9"));
        apply(&who, None, None, &mut hints);
        assert_eq!(hints.priority, Priority::Citizen);
        for asked in Priority::ALL {
            for granted in Priority::ALL {
                assert!(lowered(granted, Some(asked)).rank() >= granted.rank());
            }
        }
    }
}
