//! Who each request acts for, and whether they may: the HTTP edge of identity.
//!
//! [`authorize`] runs once per request, after routing (a `route_layer`, so
//! axum's [`MatchedPath`] names the route template). It resolves the
//! [`Principal`]:
//!
//! - `Authorization: Bearer sk-sovra-…` → the directory's key with that
//!   hash, read on every request (no cache: a revoked or expired key is
//!   refused on the very next request), acting with the key's tenant, role
//!   (capped at its user's current role), scopes and model allow-list;
//! - one of the operator's static `auth.api_keys` → [`Credential::Operator`],
//!   a platform admin;
//! - a web session cookie → [`crate::signin::resolve_session`];
//! - nobody → the anonymous public: a member of the `public` tenant, the user
//!   named by `x-sovra-user` (absent: `anonymous`).
//!
//! Then it looks the route up in [`RULES`], the one table of who may call
//! what, and answers `401` (no or bad credentials) or `403`
//! (`permission_denied`) before the handler runs. A route missing from the
//! table is refused (fail closed), and a unit test fails.
//!
//! **Open mode.** A fresh single node has no operator key and no platform
//! admin; until one exists, anonymous callers act as the operator (as Sovra
//! always did without keys). Once `auth.api_keys` is set or a platform admin
//! is bootstrapped, the platform is closed: anonymous callers are public
//! members (`identity.anonymous = true`, the default) or refused with `401`.
//! The check is latched: once closed, a server never reopens.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sovra_core::{ApiError, ErrorKind};
use sovra_identity::{ApiKeySecret, Credential, Directory, Principal, Role, Scope, TenantPath};
use sovra_store::Subject;

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

    /// Whether anonymous callers are still the operator (see the module docs).
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

pub(crate) fn now_ms() -> i64 {
    sovra_store::Clock::now_ms(&sovra_store::SystemClock)
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Everyone, signed in or not (health, web pages, the public reports).
    Public,
    /// Callers whose credential carries `scope` and whose role is in `roles`;
    /// `anonymous`: the anonymous public too (once the platform is closed).
    Guarded {
        scope: Scope,
        roles: &'static [Role],
        anonymous: bool,
    },
}

use Role::{Auditor, Developer, Member, PlatformAdmin, TenantAdmin};

/// Everyone who uses the service (auditors read audit and usage only).
const USERS: &[Role] = &[PlatformAdmin, TenantAdmin, Developer, Member];
/// Every role: the caller's own data is theirs whatever their role.
const EVERYONE: &[Role] = &[PlatformAdmin, TenantAdmin, Developer, Member, Auditor];
const ADMINS: &[Role] = &[PlatformAdmin, TenantAdmin];
const ADMINS_AND_AUDITORS: &[Role] = &[PlatformAdmin, TenantAdmin, Auditor];
const KEY_MAKERS: &[Role] = &[PlatformAdmin, TenantAdmin, Developer];

const fn guarded(scope: Scope, roles: &'static [Role], anonymous: bool) -> Rule {
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
    ("GET", "/v1/models", guarded(Scope::Inference, USERS, false)),
    (
        "GET",
        "/v1/models/{id}",
        guarded(Scope::Inference, USERS, false),
    ),
    (
        "POST",
        "/v1/chat/completions",
        guarded(Scope::Inference, USERS, false),
    ),
    (
        "POST",
        "/v1/completions",
        guarded(Scope::Inference, USERS, false),
    ),
    (
        "POST",
        "/v1/moderations",
        guarded(Scope::Inference, USERS, false),
    ),
    (
        "POST",
        "/v1/embeddings",
        guarded(Scope::Embeddings, USERS, false),
    ),
    (
        "GET",
        "/v1/vector_stores",
        guarded(Scope::Knowledge, USERS, false),
    ),
    (
        "POST",
        "/v1/vector_stores",
        guarded(Scope::Knowledge, USERS, false),
    ),
    (
        "GET",
        "/v1/vector_stores/{id}",
        guarded(Scope::Knowledge, USERS, false),
    ),
    (
        "DELETE",
        "/v1/vector_stores/{id}",
        guarded(Scope::Knowledge, USERS, false),
    ),
    (
        "GET",
        "/v1/vector_stores/{id}/files",
        guarded(Scope::Knowledge, USERS, false),
    ),
    (
        "POST",
        "/v1/vector_stores/{id}/files",
        guarded(Scope::Knowledge, USERS, false),
    ),
    (
        "DELETE",
        "/v1/vector_stores/{id}/files/{file_id}",
        guarded(Scope::Knowledge, USERS, false),
    ),
    (
        "POST",
        "/v1/vector_stores/{id}/search",
        guarded(Scope::Knowledge, USERS, false),
    ),
    // The OpenAI Files API: a caller's own uploads.
    ("POST", "/v1/files", guarded(Scope::Knowledge, USERS, false)),
    ("GET", "/v1/files", guarded(Scope::Knowledge, USERS, false)),
    (
        "GET",
        "/v1/files/{file_id}",
        guarded(Scope::Knowledge, USERS, false),
    ),
    (
        "DELETE",
        "/v1/files/{file_id}",
        guarded(Scope::Knowledge, USERS, false),
    ),
    (
        "GET",
        "/v1/files/{file_id}/content",
        guarded(Scope::Knowledge, USERS, false),
    ),
    // The web chat's API: the anonymous public chats too.
    (
        "GET",
        "/api/conversations",
        guarded(Scope::Conversations, USERS, true),
    ),
    (
        "POST",
        "/api/conversations",
        guarded(Scope::Conversations, USERS, true),
    ),
    (
        "GET",
        "/api/conversations/{id}",
        guarded(Scope::Conversations, USERS, true),
    ),
    (
        "PATCH",
        "/api/conversations/{id}",
        guarded(Scope::Conversations, USERS, true),
    ),
    (
        "DELETE",
        "/api/conversations/{id}",
        guarded(Scope::Conversations, USERS, true),
    ),
    (
        "POST",
        "/api/conversations/{id}/messages",
        guarded(Scope::Conversations, USERS, true),
    ),
    (
        "DELETE",
        "/api/conversations/{id}/messages/{message_id}",
        guarded(Scope::Conversations, USERS, true),
    ),
    (
        "POST",
        "/api/messages/{id}/feedback",
        guarded(Scope::Conversations, USERS, true),
    ),
    // The data subject's rights: everyone's own data.
    (
        "GET",
        "/api/me/data",
        guarded(Scope::Conversations, EVERYONE, true),
    ),
    (
        "DELETE",
        "/api/me/data",
        guarded(Scope::Conversations, EVERYONE, true),
    ),
    // Administration. Feedback carries reasons (content): not auditors.
    (
        "GET",
        "/admin/usage",
        guarded(Scope::Admin, ADMINS_AND_AUDITORS, false),
    ),
    (
        "GET",
        "/admin/feedback",
        guarded(Scope::Admin, ADMINS, false),
    ),
    (
        "GET",
        "/admin/moderation",
        guarded(Scope::Admin, ADMINS_AND_AUDITORS, false),
    ),
    (
        "GET",
        "/admin/tenants",
        guarded(Scope::Admin, ADMINS, false),
    ),
    (
        "POST",
        "/admin/tenants",
        guarded(Scope::Admin, ADMINS, false),
    ),
    (
        "GET",
        "/admin/tenants/{tenant}",
        guarded(Scope::Admin, ADMINS, false),
    ),
    (
        "DELETE",
        "/admin/tenants/{tenant}",
        guarded(Scope::Admin, ADMINS, false),
    ),
    ("GET", "/admin/users", guarded(Scope::Admin, ADMINS, false)),
    ("POST", "/admin/users", guarded(Scope::Admin, ADMINS, false)),
    (
        "GET",
        "/admin/users/{id}",
        guarded(Scope::Admin, ADMINS, false),
    ),
    (
        "PATCH",
        "/admin/users/{id}",
        guarded(Scope::Admin, ADMINS, false),
    ),
    (
        "DELETE",
        "/admin/users/{id}",
        guarded(Scope::Admin, ADMINS, false),
    ),
    (
        "GET",
        "/admin/keys",
        guarded(Scope::Admin, KEY_MAKERS, false),
    ),
    (
        "POST",
        "/admin/keys",
        guarded(Scope::Admin, KEY_MAKERS, false),
    ),
    (
        "GET",
        "/admin/keys/{id}",
        guarded(Scope::Admin, KEY_MAKERS, false),
    ),
    (
        "DELETE",
        "/admin/keys/{id}",
        guarded(Scope::Admin, KEY_MAKERS, false),
    ),
    (
        "GET",
        "/admin/whoami",
        guarded(Scope::Admin, EVERYONE, false),
    ),
];

/// The rule for `method` on the route template `path`.
pub fn rule_for(method: &Method, path: &str) -> Option<Rule> {
    RULES
        .iter()
        .find(|(m, p, _)| *p == path && *m == method.as_str())
        .map(|(_, _, r)| *r)
}

/// Whether a concrete request path matches a route template of [`RULES`]
/// (`{x}` matches one segment).
pub fn covers(method: &Method, path: &str) -> bool {
    let segs: Vec<&str> = path.split('/').collect();
    RULES.iter().any(|(m, template, _)| {
        if *m != method.as_str() {
            return false;
        }
        let t: Vec<&str> = template.split('/').collect();
        t.len() == segs.len()
            && t.iter()
                .zip(&segs)
                .all(|(a, b)| (a.starts_with('{') && a.ends_with('}') && !b.is_empty()) || a == b)
    })
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// 401: no credential where one is needed, or a bad one.
    Unauthenticated(String),
    /// 403: the caller is known but may not do this.
    Forbidden(String),
    /// 400: the request names its caller badly (an unreadable `x-sovra-user`).
    Invalid(String),
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
            Denial::Invalid(m) => HttpError(ApiError::invalid(m)),
        }
    }
}

const NO_KEY: &str = "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).";

/// Decide `rule` for `who` (pure: the matrix test calls it too).
pub fn decide(rule: Rule, who: &Principal) -> Result<(), Denial> {
    let Rule::Guarded {
        scope,
        roles,
        anonymous,
    } = rule
    else {
        return Ok(());
    };
    if who.credential == Credential::Anonymous && who.role != PlatformAdmin {
        return if anonymous {
            Ok(())
        } else {
            Err(Denial::Unauthenticated(NO_KEY.into()))
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

/// The anonymous user the `x-sovra-user` header names.
fn header_user(headers: &HeaderMap) -> Result<String, HttpError> {
    crate::data::subject_of(headers).map(|s| s.user)
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
            user.id
        }
        None => format!("key:{}", key.id),
    };
    Ok(Ok(Principal {
        user,
        tenant: key.tenant,
        role,
        credential: Credential::ApiKey {
            id: key.id,
            scopes: key.scopes,
            models: key.models,
        },
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

/// Resolve who the request is from (before any rule is applied).
pub async fn resolve(state: &AppState, headers: &HeaderMap) -> Result<Principal, Denial> {
    let operator = |headers: &HeaderMap| -> Principal {
        let mut p = Principal::anonymous(
            &header_user(headers).unwrap_or_else(|_| Subject::ANONYMOUS.to_owned()),
        );
        p.role = PlatformAdmin;
        p.credential = Credential::Operator;
        p
    };
    if let Some(token) = bearer(headers) {
        if !state.api_keys.is_open() && state.api_keys.accepts(token) {
            return Ok(operator(headers));
        }
        let identity = &state.identity;
        match ApiKeySecret::parse(token) {
            Ok(secret) => {
                return match resolve_key(&*identity.directory, &secret, now_ms()).await {
                    Ok(r) => r,
                    Err(e) => Err(Denial::Unauthenticated(e.0.message.clone())),
                };
            }
            // An open node takes any placeholder key, as the OpenAI SDKs
            // insist on sending one (`api_key="not-needed"`): the caller is
            // the anonymous operator below, as with no key at all.
            Err(_) if identity.is_open(state).await => {}
            Err(_) => return Err(incorrect_key(token)),
        }
    }
    let identity = &state.identity;
    if let Some(p) = crate::signin::resolve_session(state, headers).await {
        return Ok(p);
    }
    let user = header_user(headers).map_err(|e| Denial::Invalid(e.0.message.clone()))?;
    let mut p = Principal::anonymous(&user);
    if identity.is_open(state).await {
        // Open mode: the anonymous caller is the operator (see module docs).
        p.role = PlatformAdmin;
    } else if !identity.anonymous {
        return Err(Denial::Unauthenticated(NO_KEY.into()));
    }
    Ok(p)
}

/// The middleware: resolve the principal, apply the route's rule, and hand
/// the principal to the handler in the request's extensions.
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
    if rule == Rule::Public {
        let who = resolve(&state, request.headers())
            .await
            .unwrap_or_else(|_| Principal::anonymous(Subject::ANONYMOUS));
        request.extensions_mut().insert(who);
        return next.run(request).await;
    }
    let who = match resolve(&state, request.headers()).await {
        Ok(p) => p,
        Err(d) => return d.into_error().into_response(),
    };
    if let Err(d) = decide(rule, &who) {
        return d.into_error().into_response();
    }
    request.extensions_mut().insert(who);
    next.run(request).await
}

/// The caller, as the middleware resolved them (handlers take this).
#[derive(Debug, Clone)]
pub struct Who(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Who {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Principal>() {
            Some(p) => Ok(Who(p.clone())),
            // Outside the router's middleware (never in serving): the anonymous public.
            None => Ok(Who(Principal::anonymous(
                &crate::data::subject_of(&parts.headers)?.user,
            ))),
        }
    }
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

/// Whether the caller may write public collections (and tenant ones of
/// their tenant): the operator, platform and tenant admins, developers.
pub fn knowledge_caller(who: &Principal) -> sovra_knowledge::Caller {
    let platform = who.role == PlatformAdmin;
    let staff = matches!(who.role, PlatformAdmin | TenantAdmin | Developer);
    sovra_knowledge::Caller::with_rights(who.tenant.as_str(), &who.user, platform, staff)
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
        let err = decide(chat, &dev).unwrap_err();
        assert!(matches!(&err, Denial::Forbidden(m) if m.contains("Missing scopes: inference")));
        assert_eq!(decide(emb, &dev), Ok(()));
        let anon = Principal::anonymous("u");
        assert!(matches!(
            decide(chat, &anon),
            Err(Denial::Unauthenticated(_))
        ));
        let conv = rule_for(&Method::GET, "/api/conversations").unwrap();
        assert_eq!(decide(conv, &anon), Ok(()));
    }
}
