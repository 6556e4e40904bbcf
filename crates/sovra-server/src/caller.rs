//! Who a request acts for, as the identity layer recognised it: how the
//! caller came (a key, a session, the anonymous public) and the priority
//! class their identity grants. Plain types the sign-in layer and the
//! identity middleware share; see [`crate::identity`].

use sovra_identity::{Directory, DirectoryError, Principal, PriorityClass, TenantPath};
use sovra_store::Subject;

use crate::anonymous::Citizen;

/// How a caller was recognised: what the CSRF check needs, and whether the
/// anonymous cookie must be handed out.
#[derive(Debug, Clone)]
pub enum Via {
    /// A bearer key (the operator's or the directory's) authenticated the
    /// request; no cookie was used.
    Key,
    /// A signed-in user's session cookie, whose CSRF token is `csrf`.
    Session { csrf: String },
    /// The anonymous public: the person of the anonymous cookie (`fresh`:
    /// the request carried none, and this new one is handed out), on a
    /// platform that is `open` or not.
    Citizen {
        citizen: Citizen,
        fresh: bool,
        open: bool,
    },
    /// The anonymous public on the OpenAI API ([`Anonymous::WhileOpen`]
    /// routes), which only an open platform serves them: one caller, the
    /// local `anonymous` user, whatever cookie came along. An SDK keeps
    /// whatever cookies it is handed but never a CSRF token, so the OpenAI
    /// API neither reads nor hands out the anonymous cookie; on an open
    /// node there is nobody to tell apart anyway.
    Local { open: bool },
    /// Nobody: a public route called with a refused credential, or by the
    /// anonymous where they are not served.
    Nobody,
}

/// The caller of a request, as [`crate::identity::authorize`] resolved them; handlers that
/// need more than the [`Principal`] (the sign-in pages) take it from the
/// request's extensions.
#[derive(Debug, Clone)]
pub struct Caller {
    pub who: Principal,
    pub via: Via,
}

impl Caller {
    pub(crate) fn key(who: Principal) -> Self {
        Self { who, via: Via::Key }
    }

    pub(crate) fn nobody() -> Self {
        Self {
            who: Principal::anonymous(Subject::ANONYMOUS),
            via: Via::Nobody,
        }
    }

    /// Whether the platform is open to this (anonymous) caller.
    pub(crate) fn open(&self) -> bool {
        matches!(
            self.via,
            Via::Citizen { open: true, .. } | Via::Local { open: true }
        )
    }
}

/// The priority class an identity grants: the key's own (`key`), else the
/// user's, else that of `tenant` or its nearest ancestor with one (read
/// only when neither sets one), else `citizen`.
pub async fn granted_class(
    directory: &dyn Directory,
    tenant: &TenantPath,
    key: Option<PriorityClass>,
    user: Option<PriorityClass>,
) -> Result<PriorityClass, DirectoryError> {
    let inherited = match key.or(user) {
        Some(_) => None,
        None => directory.tenant_priority(tenant).await?,
    };
    Ok(PriorityClass::resolve(key, user, inherited))
}

pub fn now_ms() -> i64 {
    sovra_store::Clock::now_ms(&sovra_store::SystemClock)
}
