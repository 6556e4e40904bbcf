//! Who each request acts for, and whether they may: the HTTP edge of identity.
//!
//! [`authorize`] runs once per request, after routing (a `route_layer`, so
//! axum's [`MatchedPath`] names the route template). It resolves the
//! [`Principal`] ([`resolve`]):
//!
//! - `Authorization: Bearer sk-sovra-…` → the directory's key with that
//!   hash, read on every request (no cache: a revoked or expired key is
//!   refused on the very next request), acting with the key's tenant, role
//!   (capped at its user's current role), scopes and model allow-list;
//! - one of the operator's static `auth.api_keys` → [`Credential::Operator`],
//!   a platform admin (of priority class `citizen`);
//! - a web session cookie → [`crate::signin::resolve_session`];
//! - nobody → the anonymous public: a member of the `public` tenant, the
//!   person of the server-issued anonymous cookie ([`crate::anonymous`]), a
//!   new one when the request carries none; on the OpenAI API of an open
//!   node, the one local caller `anonymous` ([`Via::Local`]). No header
//!   names a user.
//!
//! The principal carries the priority class its identity grants
//! ([`granted_class`]): the key's, else its user's, else its tenant path's
//! (the nearest tenant with one), else `citizen`; the anonymous public is
//! always `citizen`. Read with the key and the user, on every request.
//!
//! Then it looks the route up in [`RULES`], the one table of who may call
//! what, and answers `401` (no or bad credentials) or `403`
//! (`permission_denied`) before the handler runs. A route missing from the
//! table is refused (fail closed), and a unit test fails. The fleet's
//! `/admin/backends` routes are in the table like every other.
//!
//! A state-changing request a cookie authenticated (a signed-in session, or
//! an anonymous person's) must also echo that cookie's CSRF token and come
//! from this origin ([`crate::signin::check_csrf`]); one a bearer key
//! authenticated uses no cookie and needs no token. What authenticated the
//! request decides, never the mere presence of an `Authorization` header.
//!
//! **Open mode.** A fresh node has no operator key and no platform admin.
//! Until one exists, the anonymous public may also use the OpenAI API
//! (`/v1`, [`Anonymous::WhileOpen`]), so an SDK with any placeholder key
//! works out of the box on loopback (as one local user, `anonymous`: an
//! open node has nobody to tell apart); it is never an administrator: the
//! first platform admin comes from `sovra admin bootstrap` on the command
//! line, never from an HTTP call. Once `auth.api_keys` is set or a platform
//! admin exists, the platform is closed: anonymous callers keep the web
//! chat (`identity.anonymous = true`, the default) or are refused with
//! `401`. The check is latched: once closed, a server never reopens (and the
//! directory refuses to disable, demote or delete the last platform admin).
//! A node bound beyond loopback does not start open unless the operator says
//! so (`identity.public_open`, see the `sovra` binary).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sovra_core::{ApiError, ErrorKind};
use sovra_identity::{
    ApiKeySecret, Credential, Directory, Principal, PriorityClass, Role, Scope, TenantPath,
};
use sovra_store::Subject;

use crate::anonymous::Citizen;
use crate::caller::{Caller, Via};
use crate::caller::{granted_class, now_ms};
use crate::{AppState, HttpError};

/// How the edge resolves callers; cheap to clone.
#[derive(Clone)]
pub struct Identity {
    pub directory: Arc<dyn Directory>,
    /// Whether callers with no credential are accepted (as public members)
    /// once the platform is closed.
    pub anonymous: bool,
    closed: Arc<AtomicBool>,
    /// When the directory was last asked whether a platform admin exists.
    checked_ms: Arc<AtomicI64>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("anonymous", &self.anonymous)
            .field("closed", &self.closed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// How often an open server asks whether a platform admin was bootstrapped.
const OPEN_RECHECK_MS: i64 = 1000;

impl Identity {
    pub fn new(directory: Arc<dyn Directory>, anonymous: bool) -> Self {
        Self {
            directory,
            anonymous,
            closed: Arc::new(AtomicBool::new(false)),
            checked_ms: Arc::new(AtomicI64::new(i64::MIN)),
        }
    }

    /// Whether the platform is still open (see the module docs).
    async fn is_open(&self, state: &AppState) -> bool {
        if self.closed.load(Ordering::Relaxed) {
            return false;
        }
        if !state.api_keys.is_open() {
            self.closed.store(true, Ordering::Relaxed);
            return false;
        }
        let now = now_ms();
        let last = self.checked_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) < OPEN_RECHECK_MS {
            return true;
        }
        self.checked_ms.store(now, Ordering::Relaxed);
        match self.directory.platform_admins().await {
            Ok(0) => true,
            Ok(_) => {
                self.closed.store(true, Ordering::Relaxed);
                false
            }
            // Fail closed: a directory that cannot answer does not open the platform.
            Err(e) => {
                tracing::warn!(error = %e, "could not count platform admins; treating the platform as closed");
                false
            }
        }
    }
}

/// Whether the anonymous public (no credential) may call a guarded route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anonymous {
    /// Never (`401`): administration.
    Refused,
    /// Only while the platform is open (see the module docs): the OpenAI API.
    WhileOpen,
    /// Always, unless `identity.anonymous = false` closes the platform to
    /// them: the web chat's API and their own data.
    Served,
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Everyone, signed in or not (health, web pages, the public reports).
    Public,
    /// Callers whose credential carries `scope` and whose role is in
    /// `roles`; the anonymous public as `anonymous` says.
    Guarded {
        scope: Scope,
        roles: &'static [Role],
        anonymous: Anonymous,
    },
}

use Anonymous::{Refused, Served, WhileOpen};
use Role::{Auditor, Developer, Member, PlatformAdmin, TenantAdmin};

/// Everyone who uses the service (auditors read audit and usage only).
const USERS: &[Role] = &[PlatformAdmin, TenantAdmin, Developer, Member];
/// Every role: the caller's own data is theirs whatever their role.
const EVERYONE: &[Role] = &[PlatformAdmin, TenantAdmin, Developer, Member, Auditor];
const ADMINS: &[Role] = &[PlatformAdmin, TenantAdmin];
const ADMINS_AND_AUDITORS: &[Role] = &[PlatformAdmin, TenantAdmin, Auditor];
const KEY_MAKERS: &[Role] = &[PlatformAdmin, TenantAdmin, Developer];
/// The fleet is the platform's, not a tenant's.
const PLATFORM: &[Role] = &[PlatformAdmin];

const fn guarded(scope: Scope, roles: &'static [Role], anonymous: Anonymous) -> Rule {
    Rule::Guarded {
        scope,
        roles,
        anonymous,
    }
}

/// The route table: every (method, path template) `routes()` serves, and
/// who may call it. The authorization matrix test is generated from it and
/// from `routes()`; a served route missing here is refused and fails tests.
pub const RULES: &[(&str, &str, Rule)] = &[
    // Operations and the web: public.
    ("GET", "/healthz", Rule::Public),
    ("GET", "/readyz", Rule::Public),
    ("GET", "/metrics", Rule::Public),
    ("GET", "/openapi.json", Rule::Public),
    ("GET", "/", Rule::Public),
    ("GET", "/console", Rule::Public),
    ("GET", "/assets/{file}", Rule::Public),
    ("GET", "/api/profile", Rule::Public),
    ("GET", "/policy", Rule::Public),
    ("GET", "/transparency", Rule::Public),
    // Web sign-in: anyone may try (the CSRF guard and the throttle stand in front).
    ("POST", "/auth/login", Rule::Public),
    ("POST", "/auth/logout", Rule::Public),
    ("GET", "/auth/me", Rule::Public),
    ("GET", "/auth/oidc/start", Rule::Public),
    ("GET", "/auth/oidc/callback", Rule::Public),
    // The OpenAI API.
    (
        "GET",
        "/v1/models",
        guarded(Scope::Inference, USERS, WhileOpen),
    ),
    (
        "GET",
        "/v1/models/{id}",
        guarded(Scope::Inference, USERS, WhileOpen),
    ),
    (
        "POST",
        "/v1/chat/completions",
        guarded(Scope::Inference, USERS, WhileOpen),
    ),
    (
        "POST",
        "/v1/completions",
        guarded(Scope::Inference, USERS, WhileOpen),
    ),
    (
        "POST",
        "/v1/moderations",
        guarded(Scope::Inference, USERS, WhileOpen),
    ),
    (
        "POST",
        "/v1/embeddings",
        guarded(Scope::Embeddings, USERS, WhileOpen),
    ),
    (
        "GET",
        "/v1/vector_stores",
        guarded(Scope::Knowledge, USERS, WhileOpen),
    ),
    (
        "POST",
        "/v1/vector_stores",
        guarded(Scope::Knowledge, USERS, WhileOpen),
    ),
    (
        "GET",
        "/v1/vector_stores/{id}",
        guarded(Scope::Knowledge, USERS, WhileOpen),
    ),
    (
        "DELETE",
        "/v1/vector_stores/{id}",
        guarded(Scope::Knowledge, USERS, WhileOpen),
    ),
    (
        "GET",
        "/v1/vector_stores/{id}/files",
        guarded(Scope::Knowledge, USERS, WhileOpen),
    ),
    (
        "POST",
        "/v1/vector_stores/{id}/files",
        guarded(Scope::Knowledge, USERS, WhileOpen),
    ),
    (
        "DELETE",
        "/v1/vector_stores/{id}/files/{file_id}",
        guarded(Scope::Knowledge, USERS, WhileOpen),
    ),
    (
        "POST",
        "/v1/vector_stores/{id}/search",
        guarded(Scope::Knowledge, USERS, WhileOpen),
    ),
    // The OpenAI Files API: a caller's own uploads.
    (
        "POST",
        "/v1/files",
        guarded(Scope::Knowledge, USERS, WhileOpen),
    ),
    (
        "GET",
        "/v1/files",
        guarded(Scope::Knowledge, USERS, WhileOpen),
    ),
    (
        "GET",
        "/v1/files/{file_id}",
        guarded(Scope::Knowledge, USERS, WhileOpen),
    ),
    (
        "DELETE",
        "/v1/files/{file_id}",
        guarded(Scope::Knowledge, USERS, WhileOpen),
    ),
    (
        "GET",
        "/v1/files/{file_id}/content",
        guarded(Scope::Knowledge, USERS, WhileOpen),
    ),
    // The web chat's API: the anonymous public chats too.
    (
        "GET",
        "/api/conversations",
        guarded(Scope::Conversations, USERS, Served),
    ),
    (
        "POST",
        "/api/conversations",
        guarded(Scope::Conversations, USERS, Served),
    ),
    (
        "GET",
        "/api/conversations/{id}",
        guarded(Scope::Conversations, USERS, Served),
    ),
    (
        "PATCH",
        "/api/conversations/{id}",
        guarded(Scope::Conversations, USERS, Served),
    ),
    (
        "DELETE",
        "/api/conversations/{id}",
        guarded(Scope::Conversations, USERS, Served),
    ),
    (
        "POST",
        "/api/conversations/{id}/messages",
        guarded(Scope::Conversations, USERS, Served),
    ),
    (
        "DELETE",
        "/api/conversations/{id}/messages/{message_id}",
        guarded(Scope::Conversations, USERS, Served),
    ),
    (
        "POST",
        "/api/messages/{id}/feedback",
        guarded(Scope::Conversations, USERS, Served),
    ),
    // The data subject's rights: everyone's own data.
    (
        "GET",
        "/api/me/data",
        guarded(Scope::Conversations, EVERYONE, Served),
    ),
    (
        "DELETE",
        "/api/me/data",
        guarded(Scope::Conversations, EVERYONE, Served),
    ),
    // Administration. Feedback carries reasons (content): not auditors.
    // Listings answer within the caller's reach (`reach_root`); usage comes
    // from the process's metrics, which carry no tenant: the platform's.
    (
        "GET",
        "/admin/usage",
        guarded(Scope::Admin, PLATFORM, Refused),
    ),
    (
        "GET",
        "/admin/feedback",
        guarded(Scope::Admin, ADMINS, Refused),
    ),
    (
        "GET",
        "/admin/moderation",
        guarded(Scope::Admin, ADMINS_AND_AUDITORS, Refused),
    ),
    (
        "GET",
        "/admin/tenants",
        guarded(Scope::Admin, ADMINS, Refused),
    ),
    (
        "POST",
        "/admin/tenants",
        guarded(Scope::Admin, ADMINS, Refused),
    ),
    (
        "GET",
        "/admin/tenants/{tenant}",
        guarded(Scope::Admin, ADMINS, Refused),
    ),
    (
        "PATCH",
        "/admin/tenants/{tenant}",
        guarded(Scope::Admin, ADMINS, Refused),
    ),
    (
        "DELETE",
        "/admin/tenants/{tenant}",
        guarded(Scope::Admin, ADMINS, Refused),
    ),
    (
        "GET",
        "/admin/users",
        guarded(Scope::Admin, ADMINS, Refused),
    ),
    (
        "POST",
        "/admin/users",
        guarded(Scope::Admin, ADMINS, Refused),
    ),
    (
        "GET",
        "/admin/users/{id}",
        guarded(Scope::Admin, ADMINS, Refused),
    ),
    (
        "PATCH",
        "/admin/users/{id}",
        guarded(Scope::Admin, ADMINS, Refused),
    ),
    (
        "DELETE",
        "/admin/users/{id}",
        guarded(Scope::Admin, ADMINS, Refused),
    ),
    (
        "GET",
        "/admin/keys",
        guarded(Scope::Admin, KEY_MAKERS, Refused),
    ),
    (
        "POST",
        "/admin/keys",
        guarded(Scope::Admin, KEY_MAKERS, Refused),
    ),
    (
        "GET",
        "/admin/keys/{id}",
        guarded(Scope::Admin, KEY_MAKERS, Refused),
    ),
    // Only a key's priority class changes, which administrators set.
    (
        "PATCH",
        "/admin/keys/{id}",
        guarded(Scope::Admin, ADMINS, Refused),
    ),
    (
        "DELETE",
        "/admin/keys/{id}",
        guarded(Scope::Admin, KEY_MAKERS, Refused),
    ),
    (
        "GET",
        "/admin/whoami",
        guarded(Scope::Admin, EVERYONE, Refused),
    ),
    // The fleet's admin API (served when `[[backends]]` is set; see crate::fleet).
    (
        "GET",
        "/admin/backends",
        guarded(Scope::Admin, PLATFORM, Refused),
    ),
    (
        "POST",
        "/admin/backends/reload",
        guarded(Scope::Admin, PLATFORM, Refused),
    ),
    (
        "POST",
        "/admin/backends/{name}/drain",
        guarded(Scope::Admin, PLATFORM, Refused),
    ),
    (
        "POST",
        "/admin/backends/{name}/undrain",
        guarded(Scope::Admin, PLATFORM, Refused),
    ),
];

/// The rule for `method` on the route template `path`.
pub fn rule_for(method: &Method, path: &str) -> Option<Rule> {
    RULES
        .iter()
        .find(|(m, p, _)| *p == path && *m == method.as_str())
        .map(|(_, _, r)| *r)
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// 401: no credential where one is needed, or a bad one.
    Unauthenticated(String),
    /// 403: the caller is known but may not do this.
    Forbidden(String),
}

impl Denial {
    pub fn into_error(self) -> HttpError {
        match self {
            Denial::Unauthenticated(m) => {
                HttpError(ApiError::new(ErrorKind::Authentication, m).with_code("invalid_api_key"))
            }
            Denial::Forbidden(m) => HttpError(
                ApiError::new(ErrorKind::PermissionDenied, m).with_code("permission_denied"),
            ),
        }
    }
}

const NO_KEY: &str = "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).";

/// Decide `rule` for `who` on a platform that is `open` or not (pure).
pub fn decide(rule: Rule, who: &Principal, open: bool) -> Result<(), Denial> {
    let Rule::Guarded {
        scope,
        roles,
        anonymous,
    } = rule
    else {
        return Ok(());
    };
    if who.credential == Credential::Anonymous {
        return match anonymous {
            Served => Ok(()),
            WhileOpen if open => Ok(()),
            _ => Err(Denial::Unauthenticated(NO_KEY.into())),
        };
    }
    if !who.allows(scope) {
        return Err(Denial::Forbidden(format!(
            "You have insufficient permissions for this operation. Missing scopes: {}.",
            scope.as_str()
        )));
    }
    if !roles.contains(&who.role) {
        return Err(Denial::Forbidden(format!(
            "You have insufficient permissions for this operation: the role {} may not do this.",
            who.role
        )));
    }
    Ok(())
}

/// The bearer token of the request, if any (the one parser the operator
/// keys, the fuzz target and this layer share).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(sovra_core::credentials::bearer_token)
}

fn incorrect_key(presented: &str) -> Denial {
    let shown: String = presented.chars().take(12).collect();
    Denial::Unauthenticated(format!(
        "Incorrect API key provided: {shown}****. Ask an administrator of this Sovra for a valid key."
    ))
}

/// The principal a tenant API key acts as, if the key is live.
pub async fn resolve_key(
    directory: &dyn Directory,
    secret: &ApiKeySecret,
    now_ms: i64,
) -> Result<Result<Principal, Denial>, HttpError> {
    let shown = secret.shown();
    let Some(key) = directory
        .key_by_hash(&secret.hash())
        .await
        .map_err(dir_err)?
    else {
        return Ok(Err(incorrect_key(&shown)));
    };
    if key.revoked_at_ms.is_some() {
        return Ok(Err(Denial::Unauthenticated(format!(
            "The API key {} has been revoked.",
            key.shown
        ))));
    }
    if !key.is_live(now_ms) {
        return Ok(Err(Denial::Unauthenticated(format!(
            "The API key {} has expired.",
            key.shown
        ))));
    }
    let mut role = key.role;
    let mut user_class = None;
    let user = match &key.user {
        Some(id) => {
            let Some(user) = directory.user(id).await.map_err(dir_err)? else {
                return Ok(Err(incorrect_key(&shown)));
            };
            if user.disabled {
                return Ok(Err(Denial::Unauthenticated(format!(
                    "The API key {} belongs to a disabled user.",
                    key.shown
                ))));
            }
            // A key never acts above its user's current role.
            if !user.role.may_grant(role) {
                role = user.role;
            }
            user_class = user.priority;
            user.id
        }
        None => format!("key:{}", key.id),
    };
    let priority = granted_class(directory, &key.tenant, key.priority, user_class)
        .await
        .map_err(dir_err)?;
    Ok(Ok(Principal {
        user,
        tenant: key.tenant,
        role,
        credential: Credential::ApiKey {
            id: key.id,
            scopes: key.scopes,
            models: key.models,
        },
        priority,
    }))
}

pub(crate) fn dir_err(e: sovra_identity::DirectoryError) -> HttpError {
    use sovra_identity::DirectoryError as D;
    match e {
        D::Conflict(what) => HttpError(
            ApiError::new(ErrorKind::InvalidRequest, format!("{what} already exists"))
                .with_code("conflict"),
        ),
        D::NotFound(what) => HttpError(
            ApiError::new(ErrorKind::NotFound, format!("{what} does not exist"))
                .with_code("not_found"),
        ),
        D::Invalid(m) => HttpError(ApiError::invalid(m)),
        D::Backend(m) => {
            tracing::error!(error = %m, "directory failed");
            HttpError(ApiError::internal("The directory could not be read."))
        }
    }
}

/// One of the operator's static keys: a platform admin, in the public
/// tenant, as the user `operator`, a citizen in the queue (the static keys
/// are not in the directory, where classes are granted).
fn operator() -> Principal {
    Principal {
        user: "operator".to_owned(),
        tenant: TenantPath::public(),
        role: PlatformAdmin,
        credential: Credential::Operator,
        priority: PriorityClass::Citizen,
    }
}

/// Resolve who the request is from (before any rule is applied); an
/// anonymous caller is the person of their cookie where `cookies` (routes
/// of the anonymous public), else the local caller ([`Via::Local`]).
pub async fn resolve(
    state: &AppState,
    headers: &HeaderMap,
    cookies: bool,
) -> Result<Caller, Denial> {
    let identity = &state.identity;
    if let Some(token) = bearer(headers) {
        if !state.api_keys.is_open() && state.api_keys.accepts(token) {
            return Ok(Caller::key(operator()));
        }
        match ApiKeySecret::parse(token) {
            Ok(secret) => {
                return match resolve_key(&*identity.directory, &secret, now_ms()).await {
                    Ok(r) => r.map(Caller::key),
                    Err(e) => Err(Denial::Unauthenticated(e.0.message.clone())),
                };
            }
            // An open node takes any placeholder key, as the OpenAI SDKs
            // insist on sending one (`api_key="not-needed"`): the caller is
            // the anonymous public below, as with no key at all.
            Err(_) if identity.is_open(state).await => {}
            Err(_) => return Err(incorrect_key(token)),
        }
    }
    if let Some((who, csrf)) = crate::signin::resolve_session(state, headers).await {
        return Ok(Caller {
            who,
            via: Via::Session { csrf },
        });
    }
    let open = identity.is_open(state).await;
    if !open && !identity.anonymous {
        return Err(Denial::Unauthenticated(NO_KEY.into()));
    }
    if !cookies {
        return Ok(Caller {
            who: Principal::anonymous(Subject::ANONYMOUS),
            via: Via::Local { open },
        });
    }
    let (citizen, fresh) = match Citizen::from_headers(headers, state.secure_cookies()) {
        Some(c) => (c, false),
        None => (Citizen::generate(), true),
    };
    Ok(Caller {
        who: Principal::anonymous(&citizen.user()),
        via: Via::Citizen {
            citizen,
            fresh,
            open,
        },
    })
}

/// The middleware: resolve the caller, apply the route's rule and the CSRF
/// check, hand the principal to the handler in the request's extensions,
/// and give a new anonymous person their cookie.
pub async fn authorize(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let Some(rule) = path.as_deref().and_then(|p| rule_for(request.method(), p)) else {
        tracing::error!(path = ?path, method = %request.method(), "route has no authorization rule; refused");
        return Denial::Forbidden("This route has no authorization rule; it is refused.".into())
            .into_error()
            .into_response();
    };
    let public = rule == Rule::Public;
    let cookies = !matches!(
        rule,
        Rule::Guarded {
            anonymous: WhileOpen,
            ..
        }
    );
    let caller = match resolve(&state, request.headers(), cookies).await {
        Ok(c) => c,
        // A public route serves everyone, whatever credential came with it.
        Err(_) if public => Caller::nobody(),
        Err(d) => return d.into_error().into_response(),
    };
    if let Err(d) = decide(rule, &caller.who, caller.open()) {
        return d.into_error().into_response();
    }
    if crate::signin::state_changing(request.method()) {
        let login = path.as_deref() == Some("/auth/login");
        request = match crate::signin::check_csrf(&caller, public, login, request).await {
            Ok(r) => r,
            Err(refused) => return refused,
        };
    }
    // A new anonymous person is handed their cookie where they used a route
    // of their own (`GET /auth/me` hands it out itself).
    let hand_out = match &caller.via {
        Via::Citizen {
            citizen,
            fresh: true,
            ..
        } if !public => Some(citizen.clone()),
        _ => None,
    };
    request.extensions_mut().insert(caller.who.clone());
    request.extensions_mut().insert(caller);
    let mut response = next.run(request).await;
    if let Some(citizen) = hand_out {
        citizen.hand_out(&mut response, state.secure_cookies());
    }
    response
}

/// The caller, as the middleware resolved them (handlers take this).
#[derive(Debug, Clone)]
pub struct Who(pub Principal);

/// A handler reached without [`authorize`] in front of it: never in
/// serving (every route is behind it), so refused rather than guessed.
fn unresolved() -> HttpError {
    tracing::error!("a handler ran without a resolved caller; refused");
    HttpError(ApiError::internal(
        "The caller of this request was not resolved.",
    ))
}

impl<S: Send + Sync> FromRequestParts<S> for Who {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .map(Who)
            .ok_or_else(unresolved)
    }
}

/// The resolved caller of a request whose handler has only its parts.
pub(crate) fn principal_of(parts: &Parts) -> Result<&Principal, HttpError> {
    parts.extensions.get::<Principal>().ok_or_else(unresolved)
}

/// The data subject a principal's data is kept under.
pub fn subject_of(who: &Principal) -> Result<Subject, HttpError> {
    Subject::new(who.tenant.as_str(), &who.user)
        .map_err(|e| HttpError(ApiError::invalid(e.to_string())))
}

/// Refuse a model outside the caller's allow-list, as OpenAI answers a
/// model the key cannot see: `404 model_not_found`.
pub fn check_model(who: &Principal, model: &str) -> Result<(), HttpError> {
    if who.allows_model(model) {
        Ok(())
    } else {
        Err(HttpError(ApiError::model_not_found(model)))
    }
}

/// The tenant root a principal administers: None for everything.
pub fn reach_root(who: &Principal) -> Option<&TenantPath> {
    (who.role != PlatformAdmin).then_some(&who.tenant)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_served_route_has_a_rule_and_every_rule_a_route() {
        let (_, api) = crate::routes().split_for_parts();
        let mut served = Vec::new();
        for (path, item) in &api.paths.paths {
            for (method, op) in [
                ("GET", &item.get),
                ("POST", &item.post),
                ("PUT", &item.put),
                ("PATCH", &item.patch),
                ("DELETE", &item.delete),
            ] {
                if op.is_some() {
                    served.push((method, path.clone()));
                }
            }
        }
        for (m, p) in &served {
            let method = Method::from_bytes(m.as_bytes()).unwrap();
            assert!(
                rule_for(&method, p).is_some(),
                "{m} {p} is served but has no rule in identity::RULES"
            );
        }
        for (m, p, _) in RULES {
            assert!(
                served.iter().any(|(sm, sp)| sm == m && sp == p),
                "identity::RULES names {m} {p}, which is not served"
            );
        }
    }

    #[test]
    fn scopes_then_roles() {
        let mut dev = Principal::anonymous("u");
        dev.role = Developer;
        dev.credential = Credential::ApiKey {
            id: "k".into(),
            scopes: vec![Scope::Embeddings],
            models: None,
        };
        let chat = rule_for(&Method::POST, "/v1/chat/completions").unwrap();
        let emb = rule_for(&Method::POST, "/v1/embeddings").unwrap();
        let err = decide(chat, &dev, false).unwrap_err();
        assert!(matches!(&err, Denial::Forbidden(m) if m.contains("Missing scopes: inference")));
        assert_eq!(decide(emb, &dev, false), Ok(()));
        let anon = Principal::anonymous("u");
        assert!(matches!(
            decide(chat, &anon, false),
            Err(Denial::Unauthenticated(_))
        ));
        let conv = rule_for(&Method::GET, "/api/conversations").unwrap();
        assert_eq!(decide(conv, &anon, false), Ok(()));
    }

    #[test]
    fn open_mode_opens_the_openai_api_and_never_administration() {
        let anon = Principal::anonymous("anon_1");
        let chat = rule_for(&Method::POST, "/v1/chat/completions").unwrap();
        assert_eq!(decide(chat, &anon, true), Ok(()));
        for (m, p) in RULES.iter().map(|(m, p, _)| (*m, *p)) {
            if !p.starts_with("/admin") {
                continue;
            }
            let method = Method::from_bytes(m.as_bytes()).unwrap();
            let rule = rule_for(&method, p).unwrap();
            assert!(
                matches!(decide(rule, &anon, true), Err(Denial::Unauthenticated(_))),
                "{m} {p} is open to the anonymous on an open platform"
            );
        }
    }
}
