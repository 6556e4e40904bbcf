//! Web sign-in: local accounts, the session cookie, CSRF, brute-force bounds.
//!
//! Owns `POST /auth/login`, `POST /auth/logout` and `GET /auth/me`, the
//! session cookie they set (HttpOnly, SameSite=Lax, `Secure` with the
//! `__Host-` prefix when served over TLS), [`resolve_session`] (the hook the
//! principal-resolution middleware calls to turn a cookie into a
//! [`Principal`]), and [`check_csrf`], which that middleware runs on every
//! state-changing request a cookie authenticated (a session's, or an
//! anonymous person's, [`crate::anonymous`]): it is refused unless it
//! echoes that cookie's CSRF token and comes from this origin. Passwords are
//! argon2id (`sovra_identity::password`); a name that does not exist costs
//! the same hash. Failed attempts are counted per name and per client
//! address in a bounded map ([`Throttle`]) and lock further attempts out for
//! a window. Every sign-in, failed sign-in and sign-out is appended to the
//! audit trail with the method and the user, never a password or a token;
//! attempts refused during a lockout are recorded once per lockout, not
//! once each, so a client hammering a locked door cannot grow the trail.
//! Single sign-on (OpenID Connect) lives in [`crate::oidc`] and ends in the
//! same [`SignIn::start_session`].

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::{ConnectInfo, FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use sovra_core::{ApiError, ErrorKind};
use sovra_identity::{Credential, Directory, Principal, Session, SessionToken, User, password};
use sovra_store::{NewAuditEntry, Store};
use utoipa::ToSchema;

use crate::caller::now_ms;
use crate::cookies::{cookie_header, cookie_value};
use crate::{AppState, HttpError};

/// The cookie's name over plain HTTP.
pub const COOKIE: &str = "sovra_session";
/// The cookie's name when it is `Secure`: browsers then insist it is
/// host-only, `Path=/` and Secure, so no sibling domain can plant one.
pub const SECURE_COOKIE: &str = "__Host-sovra_session";
/// The header `fetch` calls echo the CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The form field HTML forms echo it in.
pub const CSRF_FIELD: &str = "csrf_token";

/// How sign-in behaves (from `[signin]`).
#[derive(Debug, Clone)]
pub struct SignInConfig {
    /// Local account passwords accepted.
    pub local: bool,
    pub session_ttl: Duration,
    /// Mark cookies `Secure` (and use the `__Host-` name).
    pub secure_cookies: bool,
    pub throttle: ThrottleConfig,
    /// Added to every failed attempt's answer.
    pub failure_delay: Duration,
}

impl Default for SignInConfig {
    fn default() -> Self {
        Self {
            local: true,
            session_ttl: Duration::from_secs(12 * 3600),
            secure_cookies: false,
            throttle: ThrottleConfig::default(),
            failure_delay: Duration::from_millis(250),
        }
    }
}

/// Brute-force bounds.
#[derive(Debug, Clone)]
pub struct ThrottleConfig {
    pub max_per_name: u32,
    pub max_per_ip: u32,
    pub window: Duration,
    /// Most keys (names and addresses together) tracked.
    pub max_tracked: usize,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            max_per_name: 5,
            max_per_ip: 20,
            window: Duration::from_secs(300),
            max_tracked: 10_000,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    since_ms: i64,
    last_ms: i64,
    count: u32,
    /// A refusal during this lockout has been put on the record.
    refusal_recorded: bool,
}

/// An attempt refused because its name or address is locked out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lockout {
    /// Seconds until the lockout ends (`retry-after`).
    pub retry_after: u64,
    /// The first refusal of this lockout: the one the audit trail records.
    pub first: bool,
}

/// Failed sign-ins per account name and per client address, in a map that
/// never holds more than `max_tracked` entries: when full, expired entries
/// go first, then the one that failed least recently (so a flood of new
/// names cannot push out the address that keeps failing). A key with `max` failures inside the window
/// is locked out until the window that began with its first failure ends.
#[derive(Debug)]
pub struct Throttle {
    config: ThrottleConfig,
    entries: HashMap<String, Failures>,
}

impl Throttle {
    pub fn new(config: ThrottleConfig) -> Self {
        Self {
            config,
            entries: HashMap::new(),
        }
    }

    fn window_ms(&self) -> i64 {
        i64::try_from(self.config.window.as_millis()).unwrap_or(i64::MAX)
    }

    fn keys(name: Option<&str>, ip: Option<IpAddr>) -> impl Iterator<Item = (String, bool)> {
        name.map(|n| (format!("n:{}", n.to_lowercase()), true))
            .into_iter()
            .chain(ip.map(|ip| (format!("a:{ip}"), false)))
    }

    /// `Err` while `name` or `ip` is locked out (`name` None: the address
    /// alone, as for single sign-on callbacks). The first refusal of each
    /// lockout says so ([`Lockout::first`]), for the audit trail.
    pub fn check(
        &mut self,
        name: Option<&str>,
        ip: Option<IpAddr>,
        now_ms: i64,
    ) -> Result<(), Lockout> {
        let window = self.window_ms();
        let mut out: Option<Lockout> = None;
        for (key, is_name) in Self::keys(name, ip) {
            let max = if is_name {
                self.config.max_per_name
            } else {
                self.config.max_per_ip
            };
            let Some(f) = self
                .entries
                .get_mut(&key)
                .filter(|f| f.count >= max && now_ms - f.since_ms < window)
            else {
                continue;
            };
            let left_ms = window - (now_ms - f.since_ms);
            let secs = u64::try_from(left_ms.max(0))
                .unwrap_or(0)
                .div_ceil(1000)
                .max(1);
            let first = !f.refusal_recorded;
            f.refusal_recorded = true;
            out = Some(match out {
                Some(o) => Lockout {
                    retry_after: o.retry_after.max(secs),
                    first: o.first || first,
                },
                None => Lockout {
                    retry_after: secs,
                    first,
                },
            });
        }
        out.map_or(Ok(()), Err)
    }

    /// Count a failure against `name` and `ip` (`name` None: the address alone).
    pub fn fail(&mut self, name: Option<&str>, ip: Option<IpAddr>, now_ms: i64) {
        for (key, _) in Self::keys(name, ip) {
            self.bump(key, now_ms);
        }
    }

    fn bump(&mut self, key: String, now_ms: i64) {
        let window = self.window_ms();
        if !self.entries.contains_key(&key) && self.entries.len() >= self.config.max_tracked {
            self.entries.retain(|_, f| now_ms - f.since_ms < window);
            if self.entries.len() >= self.config.max_tracked {
                let oldest = self
                    .entries
                    .iter()
                    .min_by_key(|(_, f)| f.last_ms)
                    .map(|(k, _)| k.clone());
                if let Some(k) = oldest {
                    self.entries.remove(&k);
                }
            }
        }
        let fresh = Failures {
            since_ms: now_ms,
            last_ms: now_ms,
            count: 0,
            refusal_recorded: false,
        };
        let f = self.entries.entry(key).or_insert(fresh);
        if now_ms - f.since_ms >= window {
            *f = fresh;
        }
        f.count = f.count.saturating_add(1);
        f.last_ms = now_ms;
    }

    /// A successful sign-in clears the name's failures (not the address's).
    pub fn succeed(&mut self, name: &str) {
        for (key, _) in Self::keys(Some(name), None) {
            self.entries.remove(&key);
        }
    }

    /// Keys tracked now.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Sign-in as a service: the directory it reads users and keeps sessions
/// in, its settings, the throttle, and single sign-on when configured.
pub struct SignIn {
    pub directory: Arc<dyn Directory>,
    pub config: SignInConfig,
    throttle: Mutex<Throttle>,
    /// The single sign-on provider's name, when one is offered (the flow
    /// itself is [`AppState::oidc`]).
    pub sso_name: Option<String>,
}

impl std::fmt::Debug for SignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignIn")
            .field("config", &self.config)
            .field("sso", &self.sso_name)
            .finish_non_exhaustive()
    }
}

impl SignIn {
    pub fn new(directory: Arc<dyn Directory>, config: SignInConfig) -> Self {
        let throttle = Mutex::new(Throttle::new(config.throttle.clone()));
        Self {
            directory,
            config,
            throttle,
            sso_name: None,
        }
    }

    /// Offer single sign-on with the provider of this name (its flow is
    /// served with [`AppState::with_oidc`]).
    pub fn with_single_sign_on(mut self, name: &str) -> Self {
        self.sso_name = Some(name.to_owned());
        self
    }

    pub fn cookie_name(&self) -> &'static str {
        if self.config.secure_cookies {
            SECURE_COOKIE
        } else {
            COOKIE
        }
    }

    pub(crate) fn throttle(&self) -> std::sync::MutexGuard<'_, Throttle> {
        // A poisoned lock only means a panic elsewhere; the counts are still usable.
        self.throttle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new session for `user` (after a password or single sign-on): the
    /// cookie's token, and the stored session.
    pub async fn start_session(
        &self,
        user: &User,
        method: &str,
    ) -> Result<(SessionToken, Session), HttpError> {
        let token = SessionToken::generate();
        let now = now_ms();
        let ttl = i64::try_from(self.config.session_ttl.as_millis()).unwrap_or(i64::MAX);
        let session = Session {
            id: token.hash(),
            user: user.id.clone(),
            csrf: SessionToken::generate().expose().to_owned(),
            method: method.to_owned(),
            created_at_ms: now,
            expires_at_ms: now.saturating_add(ttl),
        };
        self.directory
            .create_session(&session)
            .await
            .map_err(directory_error)?;
        Ok((token, session))
    }

    /// The `Set-Cookie` value carrying `token`.
    pub fn session_cookie(&self, token: &SessionToken) -> String {
        let secs = self.config.session_ttl.as_secs();
        self.cookie(self.cookie_name(), token.expose(), secs)
    }

    /// A cookie with this server's attributes; `max_age` 0 deletes it.
    pub fn cookie(&self, name: &str, value: &str, max_age: u64) -> String {
        cookie_header(name, value, max_age, self.config.secure_cookies)
    }

    /// The live session the request's cookie names, with its user (enabled).
    pub async fn session_of(&self, headers: &HeaderMap) -> Option<(Session, User)> {
        let raw = cookie_value(headers, self.cookie_name())?;
        let token = SessionToken::parse(raw).ok()?;
        let session = match self.directory.session(&token.hash(), now_ms()).await {
            Ok(s) => s?,
            Err(e) => {
                tracing::warn!(error = %e, "could not read a session");
                return None;
            }
        };
        let user = match self.directory.user(&session.user).await {
            Ok(u) => u?,
            Err(e) => {
                tracing::warn!(error = %e, "could not read a session's user");
                return None;
            }
        };
        (!user.disabled).then_some((session, user))
    }
}

/// The hook principal resolution calls: the signed-in user behind the
/// request's session cookie, with the session's CSRF token; or None (no
/// cookie, an unknown, expired or deleted session, a disabled user, or
/// sign-in not served).
pub async fn resolve_session(state: &AppState, headers: &HeaderMap) -> Option<(Principal, String)> {
    let signin = state.signin.as_ref()?;
    let (session, user) = signin.session_of(headers).await?;
    let priority =
        match crate::caller::granted_class(&*signin.directory, &user.tenant, None, user.priority)
            .await
        {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "could not read a session's priority class");
                return None;
            }
        };
    let who = Principal {
        user: user.id,
        tenant: user.tenant,
        role: user.role,
        credential: Credential::Session { id: session.id },
        priority,
    };
    Some((who, session.csrf))
}

fn directory_error(e: sovra_identity::DirectoryError) -> HttpError {
    tracing::error!(error = %e, "directory failure during sign-in");
    HttpError(ApiError::internal(
        "The server could not read or write its directory.",
    ))
}

fn not_served() -> HttpError {
    HttpError(
        ApiError::new(ErrorKind::NotFound, "Sign-in is not served here.").with_code("not_found"),
    )
}

pub(crate) fn client_ip(request: &Request) -> Option<IpAddr> {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

/// Append an audit entry; a failure to write is logged (the caller decides
/// whether it must stop the action).
pub(crate) async fn audit(
    store: &dyn Store,
    actor: String,
    action: &str,
    tenant: &str,
    subject: Option<String>,
    details: serde_json::Value,
) -> bool {
    match store
        .append_audit(NewAuditEntry {
            actor,
            action: action.to_owned(),
            tenant: tenant.to_owned(),
            subject,
            details,
        })
        .await
    {
        Ok(_) => true,
        Err(e) => {
            tracing::error!(error = %e, action, "could not append to the audit trail");
            false
        }
    }
}

/// What `POST /auth/login` takes (JSON or an HTML form).
#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    /// The account's sign-in name.
    pub name: String,
    pub password: String,
}

/// The signed-in user, as the pages show them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Me {
    pub id: String,
    pub name: String,
    pub display_name: String,
    pub tenant: String,
    pub role: String,
}

impl From<&User> for Me {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.clone(),
            name: u.name.clone(),
            display_name: u.display_name.clone(),
            tenant: u.tenant.to_string(),
            role: u.role.to_string(),
        }
    }
}

/// The single sign-on provider offered.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OidcMethod {
    /// The name on the button.
    pub name: String,
    /// Where the button goes (`GET`).
    pub start: String,
}

/// The ways to sign in here.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Methods {
    /// Local account passwords at `POST /auth/login`.
    pub password: bool,
    pub oidc: Option<OidcMethod>,
}

/// `GET /auth/me` (and the body of a successful `POST /auth/login`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MeResponse {
    pub signed_in: bool,
    pub user: Option<Me>,
    /// Echo as `x-csrf-token` (or form field `csrf_token`) on every
    /// state-changing request made with the session cookie (or, not signed
    /// in, with the anonymous cookie).
    pub csrf_token: Option<String>,
    /// Not signed in: the anonymous person this browser is (its cookie,
    /// handed out with this answer), whose conversations and data are
    /// theirs alone.
    pub anonymous_id: Option<String>,
    /// `password` or `oidc`.
    pub method: Option<String>,
    pub expires_at_ms: Option<i64>,
    pub methods: Methods,
}

fn methods(signin: Option<&SignIn>) -> Methods {
    Methods {
        password: signin.is_some_and(|s| s.config.local),
        oidc: signin
            .and_then(|s| s.sso_name.as_deref())
            .map(|name| OidcMethod {
                name: name.to_owned(),
                start: "/auth/oidc/start".to_owned(),
            }),
    }
}

fn me_response(signin: &SignIn, session: &Session, user: &User) -> MeResponse {
    MeResponse {
        signed_in: true,
        user: Some(Me::from(user)),
        csrf_token: Some(session.csrf.clone()),
        anonymous_id: None,
        method: Some(session.method.clone()),
        expires_at_ms: Some(session.expires_at_ms),
        methods: methods(Some(signin)),
    }
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn set_cookie(response: &mut Response, cookie: &str) {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// Who is signed in, the CSRF token for the page, and how one can sign in.
/// Not signed in, where the anonymous public is served: the anonymous
/// person this browser is, handed out (or renewed) as an `HttpOnly` cookie,
/// and its CSRF token.
#[utoipa::path(get, path = "/auth/me", tag = "sign-in",
    responses((status = 200, description = "The session's user (or `signed_in: false`, with the anonymous person's id and CSRF token where the anonymous public is served) and the sign-in methods; `Set-Cookie` carries the anonymous cookie", body = MeResponse)))]
pub async fn me(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: Option<axum::Extension<crate::caller::Caller>>,
) -> Response {
    let signin = state.signin.as_deref();
    if let Some(s) = signin
        && let Some((session, user)) = s.session_of(&headers).await
    {
        return no_store(Json(me_response(s, &session, &user)).into_response());
    }
    let mut body = signed_out(signin);
    let citizen = caller.and_then(|c| match c.0.via {
        crate::caller::Via::Citizen { citizen, .. } => Some(citizen),
        _ => None,
    });
    if let Some(c) = &citizen {
        body.csrf_token = Some(c.csrf().expose().to_owned());
        body.anonymous_id = Some(c.user());
    }
    let mut response = Json(body).into_response();
    if let Some(c) = citizen {
        // Handed out or renewed: a visit keeps the person for another MAX_AGE.
        c.hand_out(&mut response, state.secure_cookies());
    }
    no_store(response)
}

fn signed_out(signin: Option<&SignIn>) -> MeResponse {
    MeResponse {
        signed_in: false,
        user: None,
        csrf_token: None,
        anonymous_id: None,
        method: None,
        expires_at_ms: None,
        methods: methods(signin),
    }
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

fn bad_credentials() -> HttpError {
    HttpError(
        ApiError::new(ErrorKind::Authentication, "Incorrect name or password.")
            .with_code("invalid_credentials"),
    )
}

pub(crate) fn locked_out(retry_after: u64) -> Response {
    let mut r = HttpError(
        ApiError::new(
            ErrorKind::RateLimited,
            format!("Too many failed sign-ins. Try again in {retry_after} seconds."),
        )
        .with_code("sign_in_locked"),
    )
    .into_response();
    if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// Sign in with a local account's name and password; sets the session
/// cookie. A form post is answered with a redirect to `/`, JSON with the
/// signed-in user and the page's CSRF token.
#[utoipa::path(post, path = "/auth/login", tag = "sign-in",
    request_body(content(
        (LoginRequest = "application/json"),
        (LoginRequest = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "Signed in; `Set-Cookie` carries the session", body = MeResponse),
        (status = 303, description = "Signed in from an HTML form; back to `/`"),
        (status = 400, description = "The body is not a sign-in form or JSON with `name` and `password`", body = sovra_core::error::ErrorEnvelope),
        (status = 401, description = "Wrong name or password", body = sovra_core::error::ErrorEnvelope),
        (status = 429, description = "Too many failed attempts for this name or address; `retry-after` says when to try again", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn login(State(state): State<AppState>, request: Request) -> Response {
    match login_inner(state, request).await {
        Ok(r) | Err(r) => no_store(r),
    }
}

async fn login_inner(state: AppState, request: Request) -> Result<Response, Response> {
    let signin = state
        .signin
        .clone()
        .filter(|s| s.config.local)
        .ok_or_else(|| not_served().into_response())?;
    let ip = client_ip(&request);
    let form = is_form(request.headers());
    let body: LoginRequest = if form {
        axum::Form::<LoginRequest>::from_request(request, &())
            .await
            .map(|f| f.0)
            .map_err(|e| HttpError(ApiError::invalid(e.body_text())).into_response())?
    } else {
        Json::<LoginRequest>::from_request(request, &())
            .await
            .map(|j| j.0)
            .map_err(|e| HttpError::from(e).into_response())?
    };
    let name = body.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 256 {
        return Err(bad_credentials().into_response());
    }
    let now = now_ms();
    let check = signin.throttle().check(Some(&name), ip, now);
    if let Err(lockout) = check {
        // Once per lockout: a client hammering a locked door does not grow
        // the trail (the refusals are counted in the metrics instead).
        metrics::counter!("sovra_signin_refused_total", "method" => "password").increment(1);
        if lockout.first {
            record_failure(&state, &name, None, ip, "locked_out").await;
        }
        return Err(locked_out(lockout.retry_after));
    }
    let found = signin
        .directory
        .user_by_name(&name)
        .await
        .map_err(|e| directory_error(e).into_response())?;
    let (user, hash) = match found {
        Some((u, h)) => (Some(u), h),
        None => (None, None),
    };
    // argon2id is ~tens of ms of CPU: off the async workers.
    let password = body.password;
    let verified =
        tokio::task::spawn_blocking(move || password::verify(&password, hash.as_deref()))
            .await
            .unwrap_or(false);
    let user = match user {
        Some(u) if verified && !u.disabled => u,
        other => {
            let reason = match &other {
                None => "unknown_name",
                Some(u) if u.disabled => "disabled",
                Some(_) => "wrong_password",
            };
            signin.throttle().fail(Some(&name), ip, now);
            record_failure(&state, &name, other.as_ref(), ip, reason).await;
            tokio::time::sleep(signin.config.failure_delay).await;
            return Err(bad_credentials().into_response());
        }
    };
    signin.throttle().succeed(&name);
    let (token, session) = signin
        .start_session(&user, "password")
        .await
        .map_err(IntoResponse::into_response)?;
    if !record_sign_in(&state, &user, "password", ip).await {
        let _ = signin.directory.delete_session(&session.id).await;
        return Err(HttpError(ApiError::internal(
            "The sign-in could not be recorded in the audit trail, so it was not completed.",
        ))
        .into_response());
    }
    let mut response = if form {
        Redirect::to("/").into_response()
    } else {
        Json(me_response(&signin, &session, &user)).into_response()
    };
    set_cookie(&mut response, &signin.session_cookie(&token));
    Ok(response)
}

/// `auth.sign_in` for `user`; false when the audit trail could not be written.
pub(crate) async fn record_sign_in(
    state: &AppState,
    user: &User,
    method: &str,
    ip: Option<IpAddr>,
) -> bool {
    audit(
        state.store.as_ref(),
        format!("user:{}", user.id),
        "auth.sign_in",
        user.tenant.as_str(),
        Some(user.id.clone()),
        serde_json::json!({
            "method": method,
            "user": user.id,
            "name": user.name,
            "ip": ip.map(|i| i.to_string()),
        }),
    )
    .await
}

/// `auth.sign_in_failed`: the name tried (never the password) and why.
pub(crate) async fn record_failure(
    state: &AppState,
    name: &str,
    user: Option<&User>,
    ip: Option<IpAddr>,
    reason: &str,
) {
    let name: String = name.chars().take(256).collect();
    audit(
        state.store.as_ref(),
        user.map_or_else(|| "anonymous".to_owned(), |u| format!("user:{}", u.id)),
        "auth.sign_in_failed",
        user.map_or("public", |u| u.tenant.as_str()),
        user.map(|u| u.id.clone()),
        serde_json::json!({
            "method": "password",
            "name": name,
            "user": user.map(|u| u.id.clone()),
            "reason": reason,
            "ip": ip.map(|i| i.to_string()),
        }),
    )
    .await;
}

/// Sign out: the session is deleted and the cookie cleared. Needs the
/// session's CSRF token like every state-changing request.
#[utoipa::path(post, path = "/auth/logout", tag = "sign-in",
    responses(
        (status = 204, description = "Signed out (or was not signed in)"),
        (status = 303, description = "Signed out from an HTML form; back to `/`"),
        (status = 403, description = "The CSRF token is missing or wrong", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn logout(State(state): State<AppState>, request: Request) -> Response {
    let Some(signin) = state.signin.clone() else {
        return not_served().into_response();
    };
    let ip = client_ip(&request);
    let headers = request.headers();
    if let Some((session, user)) = signin.session_of(headers).await {
        match signin.directory.delete_session(&session.id).await {
            Ok(_) => {
                audit(
                    state.store.as_ref(),
                    format!("user:{}", user.id),
                    "auth.sign_out",
                    user.tenant.as_str(),
                    Some(user.id.clone()),
                    serde_json::json!({
                        "method": session.method,
                        "user": user.id,
                        "name": user.name,
                        "ip": ip.map(|i| i.to_string()),
                    }),
                )
                .await;
            }
            Err(e) => return directory_error(e).into_response(),
        }
    }
    let mut response = if is_form(headers) {
        Redirect::to("/").into_response()
    } else {
        StatusCode::NO_CONTENT.into_response()
    };
    set_cookie(&mut response, &signin.cookie(signin.cookie_name(), "", 0));
    no_store(response)
}

fn forbidden(message: &str, code: &str) -> Response {
    HttpError(ApiError::new(ErrorKind::PermissionDenied, message).with_code(code)).into_response()
}

/// Whether a request changes state (anything but GET, HEAD, OPTIONS, TRACE).
pub(crate) fn state_changing(method: &Method) -> bool {
    !matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// Whether the request says it comes from another site: `Sec-Fetch-Site:
/// cross-site`, or an `Origin` whose host is not the `Host` it was sent to.
fn cross_origin(headers: &HeaderMap) -> bool {
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if site == Some("cross-site") || site == Some("same-site") {
        return true;
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    let origin = origin.to_str().unwrap_or("null");
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let origin_host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    origin_host != Some(host)
}

/// The largest form body the check reads to find `csrf_token`.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// The CSRF check of a state-changing request, run by the identity
/// middleware once it knows what authenticated the request.
///
/// A request a bearer key authenticated used no cookie and passes (a
/// cross-site page cannot add that header without a CORS preflight, which
/// Sovra does not grant). Any other must not come from another origin; and
/// one a cookie authenticates (a signed-in session; an anonymous person's
/// cookie on their own routes) must carry that cookie's CSRF token
/// (`x-csrf-token`, or form field `csrf_token`), compared in constant time;
/// else 403. An `Authorization` header that authenticated nothing (`Basic
/// …`, an empty `Bearer`) changes none of this. `POST /auth/login` has no
/// session yet and is checked for its origin only; a new anonymous person
/// (no cookie came) has nothing to forge.
pub async fn check_csrf(
    caller: &crate::caller::Caller,
    public: bool,
    login: bool,
    request: Request,
) -> Result<Request, Response> {
    use crate::caller::Via;
    let expected = match &caller.via {
        Via::Key => return Ok(request),
        Via::Session { csrf } if !login => SessionToken::parse(csrf)
            .map(Some)
            .map_err(|_| forbidden("The session has no usable CSRF token.", "csrf_failed"))?,
        Via::Citizen {
            citizen,
            fresh: false,
            ..
        } if !public => Some(citizen.csrf()),
        _ => None,
    };
    let headers = request.headers();
    if cross_origin(headers) {
        return Err(if login {
            forbidden(
                "Sign-in is only accepted from this site's own pages.",
                "cross_origin",
            )
        } else {
            forbidden(
                "This request came from another site and is not authenticated by a key: refused.",
                "cross_origin",
            )
        });
    }
    let Some(expected) = expected else {
        return Ok(request);
    };
    let presented = headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (request, presented) = match presented {
        Some(p) => (request, Some(p)),
        None if is_form(headers) => {
            let (parts, body) = request.into_parts();
            let Ok(bytes) = axum::body::to_bytes(body, MAX_FORM_BYTES).await else {
                return Err(forbidden("The form is too large to check.", "csrf_failed"));
            };
            let field = form_field(&bytes, CSRF_FIELD);
            (
                Request::from_parts(parts, axum::body::Body::from(bytes)),
                field,
            )
        }
        None => (request, None),
    };
    match presented {
        Some(p) if expected.matches(&p) => Ok(request),
        _ => Err(forbidden(
            "Missing or wrong CSRF token: send the token from GET /auth/me as the x-csrf-token header.",
            "csrf_failed",
        )),
    }
}

/// One field of an `application/x-www-form-urlencoded` body.
fn form_field(body: &[u8], name: &str) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        s.parse().ok()
    }

    #[test]
    fn names_lock_out_after_the_limit_and_unlock_after_the_window() {
        let mut t = Throttle::new(ThrottleConfig {
            max_per_name: 3,
            max_per_ip: 100,
            window: Duration::from_secs(60),
            max_tracked: 100,
        });
        for i in 0..3 {
            assert!(t.check(Some("Alice"), ip("10.0.0.1"), i).is_ok());
            t.fail(Some("alice"), ip("10.0.0.1"), i);
        }
        let left = t.check(Some("ALICE"), ip("10.0.0.9"), 10_000).unwrap_err();
        assert_eq!(
            left,
            Lockout {
                retry_after: 50,
                first: true
            },
            "locked until the first failure's window ends"
        );
        // Every later refusal of the same lockout is not the first.
        for now in [10_001, 20_000, 59_999] {
            let again = t.check(Some("alice"), ip("10.0.0.7"), now).unwrap_err();
            assert!(!again.first, "{again:?}");
        }
        assert!(t.check(Some("bob"), ip("10.0.0.1"), 10_000).is_ok());
        assert!(t.check(Some("alice"), None, 60_000).is_ok(), "window over");
        // A new lockout is recorded again.
        for i in 0..3 {
            t.fail(Some("alice"), None, 60_000 + i);
        }
        assert!(t.check(Some("alice"), None, 60_010).unwrap_err().first);
    }

    #[test]
    fn addresses_lock_out_across_names() {
        let mut t = Throttle::new(ThrottleConfig {
            max_per_name: 100,
            max_per_ip: 4,
            window: Duration::from_secs(60),
            max_tracked: 100,
        });
        for i in 0..4 {
            t.fail(Some(&format!("user{i}")), ip("192.0.2.7"), 0);
        }
        assert!(t.check(Some("someone-else"), ip("192.0.2.7"), 1).is_err());
        assert!(t.check(Some("someone-else"), ip("192.0.2.8"), 1).is_ok());
        // The address alone (single sign-on callbacks): locked too, once on the record.
        assert!(!t.check(None, ip("192.0.2.7"), 2).unwrap_err().first);
        t.fail(None, ip("192.0.2.9"), 0);
        assert!(t.check(None, ip("192.0.2.9"), 1).is_ok());
    }

    #[test]
    fn success_clears_the_name() {
        let mut t = Throttle::new(ThrottleConfig {
            max_per_name: 2,
            ..ThrottleConfig::default()
        });
        t.fail(Some("a"), None, 0);
        t.fail(Some("a"), None, 0);
        assert!(t.check(Some("a"), None, 1).is_err());
        t.succeed("a");
        assert!(t.check(Some("a"), None, 1).is_ok());
    }

    #[test]
    fn the_map_stays_bounded() {
        let mut t = Throttle::new(ThrottleConfig {
            max_tracked: 16,
            ..ThrottleConfig::default()
        });
        for i in 0..1000 {
            t.fail(Some(&format!("name{i}")), ip("10.1.1.1"), i);
        }
        assert!(t.len() <= 16, "{}", t.len());
        // The address, failing all along, is still there and locked.
        assert!(t.check(Some("new"), ip("10.1.1.1"), 1000).is_err());
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; xsovra_session=evil; sovra_session=tok ; b=2"),
        );
        assert_eq!(cookie_value(&h, COOKIE), Some("tok"));
        assert_eq!(cookie_value(&h, SECURE_COOKIE), None);
    }

    #[test]
    fn origins_are_compared_with_the_host() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("sovra.example:8080"));
        assert!(
            !cross_origin(&h),
            "no Origin: a same-origin form or a non-browser"
        );
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://sovra.example:8080"),
        );
        assert!(!cross_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(cross_origin(&h));
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(cross_origin(&h));
        h.remove(header::ORIGIN);
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(cross_origin(&h));
        h.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        assert!(!cross_origin(&h));
    }

    #[test]
    fn form_fields_are_read() {
        assert_eq!(
            form_field(b"a=1&csrf_token=abc%2Ddef&b=2", CSRF_FIELD).as_deref(),
            Some("abc-def")
        );
        assert_eq!(form_field(b"a=1", CSRF_FIELD), None);
    }

    #[test]
    fn session_cookies_carry_the_attributes() {
        let c = cookie_header(SECURE_COOKIE, "tok", 43200, true);
        assert!(c.starts_with("__Host-sovra_session=tok"), "{c}");
        for attr in [
            "; Path=/",
            "; HttpOnly",
            "; SameSite=Lax",
            "; Secure",
            "; Max-Age=43200",
        ] {
            assert!(c.contains(attr), "{c} lacks {attr}");
        }
        let c = cookie_header(COOKIE, "tok", 0, false);
        assert!(
            c.starts_with("sovra_session=tok") && !c.contains("Secure"),
            "{c}"
        );
    }
}
