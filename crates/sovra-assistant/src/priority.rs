//! Routing hints for the fleet: priority class, fair-share bucket, session.
//!
//! Who a request is decides how it is queued, never what it says about
//! itself. The fair-share bucket is the caller's tenant, from the
//! [`Principal`] the server resolved (`public` for the anonymous public).
//! The priority class is the one the caller's identity grants
//! ([`granted`]: set by an administrator on a key, user or tenant in the
//! directory; `docs/admin.md`); the client may only *lower* it (a surface passes what the
//! client asked, e.g. the `x-sovra-priority` header): a class higher than
//! the granted one is ignored. The session key for prefix-aware routing
//! only places a request near its cache, and gives it no rights.

use sovra_engine::{Priority, RouteHints};
use sovra_identity::Principal;

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

    fn priority_with(who: &Principal, asked: Option<Priority>) -> Priority {
        let mut hints = RouteHints::default();
        apply(who, asked, None, &mut hints);
        hints.priority
    }

    #[test]
    fn a_batch_key_stays_batch_whatever_the_client_asks() {
        let who = key_of(sovra_identity::PriorityClass::Batch);
        assert_eq!(granted(&who), Priority::Batch);
        for asked in [
            None,
            Some(Priority::Emergency),
            Some(Priority::Citizen),
            Some(Priority::Batch),
        ] {
            assert_eq!(priority_with(&who, asked), Priority::Batch, "{asked:?}");
        }
    }

    #[test]
    fn an_emergency_key_gets_emergency_and_may_lower_it() {
        let who = key_of(sovra_identity::PriorityClass::Emergency);
        assert_eq!(granted(&who), Priority::Emergency);
        assert_eq!(priority_with(&who, None), Priority::Emergency);
        assert_eq!(
            priority_with(&who, Some(Priority::Citizen)),
            Priority::Citizen
        );
        assert_eq!(priority_with(&who, Some(Priority::Batch)), Priority::Batch);
        let citizen = key_of(sovra_identity::PriorityClass::Citizen);
        assert_eq!(
            priority_with(&citizen, Some(Priority::Emergency)),
            Priority::Citizen
        );
    }
}
