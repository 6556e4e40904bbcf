//! Single sign-on with OpenID Connect: the authorization code flow.
//!
//! Owns `GET /auth/oidc/start` and `GET /auth/oidc/callback`, the pending
//! flows between them, and the provider's discovery document and signing
//! keys. Start makes a `state`, a `nonce` and a PKCE verifier (S256), keeps
//! them in a bounded, expiring map, binds the flow to the browser with a
//! short-lived HttpOnly cookie, and sends the browser to the provider. The
//! callback takes the flow out of the map (a `state` works once), checks the
//! cookie, redeems the code at the token endpoint with the verifier, and
//! verifies the ID token: signature against the provider's JWKS (refetched
//! when an unknown key id appears), issuer, audience, expiry and nonce.
//! Then the user is found by (issuer, subject), or created in the
//! configured tenant with the configured role, and a session starts exactly
//! as after a password. Sovereignty: the only outbound calls go to the
//! operator-configured issuer's origin; discovery documents that point
//! elsewhere are refused, and redirects are not followed.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{Query, Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use sovra_core::{ApiError, ErrorKind};
use sovra_identity::{NewUser, Role, SessionToken, TenantPath, User};
use tokio::sync::RwLock;

use crate::signin::{self, SignIn};
use crate::{AppState, HttpError};

/// The cookie binding a flow to the browser that started it.
pub const FLOW_COOKIE: &str = "sovra_oidc";
/// How long a started flow may take to come back.
const FLOW_TTL: Duration = Duration::from_secs(600);
/// Most flows pending at once (older ones are dropped first).
const MAX_FLOWS: usize = 10_000;
/// Least time between two JWKS fetches caused by unknown key ids.
const JWKS_REFRESH: Duration = Duration::from_secs(30);
/// Clock skew tolerated on `exp`, `iat`, `nbf`.
const LEEWAY_SECS: u64 = 60;

/// Why single sign-on could not complete.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("the identity provider could not be reached: {0}")]
    Unreachable(String),
    #[error("the identity provider answered something unusable: {0}")]
    Provider(String),
    #[error("the ID token was refused: {0}")]
    Token(String),
    /// The provider refused to redeem the code (4xx: a bad, used or
    /// mismatched code or PKCE verifier).
    #[error("the identity provider refused the code: {0}")]
    Refused(String),
    #[error("{0}")]
    Flow(String),
}

/// The provider's settings, from `[signin]`.
#[derive(Clone)]
pub struct OidcConfig {
    /// Exactly as the provider names itself in `iss`.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    pub redirect_url: String,
    pub display_name: String,
    /// Where first-time users are created, and with which role.
    pub tenant: TenantPath,
    pub role: Role,
    /// Asked for besides `openid`.
    pub scopes: Vec<String>,
}

impl std::fmt::Debug for OidcConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcConfig")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "…"))
            .field("redirect_url", &self.redirect_url)
            .field("tenant", &self.tenant)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// What discovery tells us.
#[derive(Debug, Clone, Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

struct Provider {
    discovery: Discovery,
    jwks: JwkSet,
    jwks_at: Instant,
}

/// One started flow, keyed by the hash of its `state`.
struct Flow {
    nonce: String,
    verifier: String,
    started: Instant,
}

/// The single sign-on client.
pub struct Oidc {
    config: OidcConfig,
    http: reqwest::Client,
    provider: RwLock<Option<Provider>>,
    flows: Mutex<HashMap<String, Flow>>,
}

fn origin(url: &str) -> Option<String> {
    let u = reqwest::Url::parse(url).ok()?;
    Some(u.origin().ascii_serialization())
}

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The ID token claims Sovra reads.
#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    nonce: Option<String>,
    azp: Option<String>,
    #[serde(default)]
    aud: serde_json::Value,
    email: Option<String>,
    preferred_username: Option<String>,
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct TokenResponse {
    id_token: Option<String>,
}

impl Oidc {
    pub fn new(config: OidcConfig) -> Result<Self, OidcError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| OidcError::Unreachable(e.to_string()))?;
        Ok(Self {
            config,
            http,
            provider: RwLock::new(None),
            flows: Mutex::new(HashMap::new()),
        })
    }

    pub fn display_name(&self) -> &str {
        &self.config.display_name
    }

    pub fn config(&self) -> &OidcConfig {
        &self.config
    }

    fn flows(&self) -> std::sync::MutexGuard<'_, HashMap<String, Flow>> {
        self.flows.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Pending flows now (bounded by [`MAX_FLOWS`]).
    pub fn pending(&self) -> usize {
        self.flows().len()
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, OidcError> {
        let r = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| OidcError::Unreachable(e.to_string()))?;
        if !r.status().is_success() {
            return Err(OidcError::Provider(format!(
                "{url} answered {}",
                r.status()
            )));
        }
        r.json()
            .await
            .map_err(|e| OidcError::Provider(format!("{url}: {e}")))
    }

    async fn fetch_provider(&self) -> Result<Provider, OidcError> {
        let base = self.config.issuer.trim_end_matches('/');
        let discovery: Discovery = self
            .get_json(&format!("{base}/.well-known/openid-configuration"))
            .await?;
        if discovery.issuer != self.config.issuer {
            return Err(OidcError::Provider(format!(
                "the discovery document names issuer {} instead of the configured {}",
                discovery.issuer, self.config.issuer
            )));
        }
        let home = origin(&self.config.issuer);
        for url in [
            &discovery.authorization_endpoint,
            &discovery.token_endpoint,
            &discovery.jwks_uri,
        ] {
            if origin(url) != home {
                return Err(OidcError::Provider(format!(
                    "{url} is not at the issuer's origin; Sovra calls only the configured provider"
                )));
            }
        }
        let jwks: JwkSet = self.get_json(&discovery.jwks_uri).await?;
        Ok(Provider {
            discovery,
            jwks,
            jwks_at: Instant::now(),
        })
    }

    /// The discovery document's endpoints, fetched once and kept.
    async fn discovery(&self) -> Result<Discovery, OidcError> {
        if let Some(p) = self.provider.read().await.as_ref() {
            return Ok(p.discovery.clone());
        }
        let fresh = self.fetch_provider().await?;
        let d = fresh.discovery.clone();
        *self.provider.write().await = Some(fresh);
        Ok(d)
    }

    /// The decoding key for `kid`, refetching the JWKS (at most every
    /// [`JWKS_REFRESH`]) when the provider has rotated its keys.
    async fn key_for(&self, kid: Option<&str>, alg: Algorithm) -> Result<DecodingKey, OidcError> {
        let find = |jwks: &JwkSet| -> Option<Result<DecodingKey, OidcError>> {
            let jwk = match kid {
                Some(k) => jwks.find(k),
                None if jwks.keys.len() == 1 => jwks.keys.first(),
                None => None,
            }?;
            if let Some(key_alg) = jwk.common.key_algorithm
                && format!("{key_alg:?}") != format!("{alg:?}")
            {
                return Some(Err(OidcError::Token(format!(
                    "the token is signed with {alg:?}, its key is for {key_alg:?}"
                ))));
            }
            Some(DecodingKey::from_jwk(jwk).map_err(|e| OidcError::Token(e.to_string())))
        };
        let stale = {
            let guard = self.provider.read().await;
            let Some(p) = guard.as_ref() else {
                return Err(OidcError::Flow("no provider metadata yet".into()));
            };
            if let Some(found) = find(&p.jwks) {
                return found;
            }
            p.jwks_at.elapsed() >= JWKS_REFRESH
        };
        if stale {
            let fresh = self.fetch_provider().await?;
            let found = find(&fresh.jwks);
            *self.provider.write().await = Some(fresh);
            if let Some(found) = found {
                return found;
            }
        }
        Err(OidcError::Token(format!(
            "no signing key {} in the provider's JWKS",
            kid.unwrap_or("(none named)")
        )))
    }

    /// Begin a flow: the URL to send the browser to, and the `state` for
    /// the browser-binding cookie.
    pub async fn start(&self) -> Result<(String, SessionToken), OidcError> {
        let discovery = self.discovery().await?;
        let state = SessionToken::generate();
        let nonce = SessionToken::generate().expose().to_owned();
        let verifier = SessionToken::generate().expose().to_owned();
        let mut url = reqwest::Url::parse(&discovery.authorization_endpoint)
            .map_err(|e| OidcError::Provider(e.to_string()))?;
        let scope = std::iter::once("openid")
            .chain(self.config.scopes.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ");
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.config.client_id)
            .append_pair("redirect_uri", &self.config.redirect_url)
            .append_pair("scope", &scope)
            .append_pair("state", state.expose())
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &challenge(&verifier))
            .append_pair("code_challenge_method", "S256");
        let mut flows = self.flows();
        flows.retain(|_, f| f.started.elapsed() < FLOW_TTL);
        if flows.len() >= MAX_FLOWS {
            let oldest = flows
                .iter()
                .min_by_key(|(_, f)| f.started)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                flows.remove(&k);
            }
        }
        flows.insert(
            state.hash(),
            Flow {
                nonce,
                verifier,
                started: Instant::now(),
            },
        );
        Ok((url.into(), state))
    }

    /// Finish a flow: redeem `code`, verify the ID token, and return the
    /// provider's (subject, claims). `state` is consumed whatever happens.
    async fn finish(
        &self,
        state: &str,
        browser_state: Option<&str>,
        code: &str,
    ) -> Result<Claims, OidcError> {
        let state =
            SessionToken::parse(state).map_err(|_| OidcError::Flow("malformed state".into()))?;
        let flow = self
            .flows()
            .remove(&state.hash())
            .filter(|f| f.started.elapsed() < FLOW_TTL)
            .ok_or_else(|| OidcError::Flow("unknown, expired or already used state".into()))?;
        if !browser_state.is_some_and(|b| state.matches(b)) {
            return Err(OidcError::Flow(
                "the flow was started in another browser (state cookie missing or different)"
                    .into(),
            ));
        }
        let discovery = self.discovery().await?;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.config.redirect_url.as_str()),
            ("code_verifier", flow.verifier.as_str()),
        ];
        let mut req = self.http.post(&discovery.token_endpoint);
        match &self.config.client_secret {
            Some(secret) => req = req.basic_auth(&self.config.client_id, Some(secret)),
            None => form.push(("client_id", self.config.client_id.as_str())),
        }
        let r = req
            .form(&form)
            .send()
            .await
            .map_err(|e| OidcError::Unreachable(e.to_string()))?;
        let status = r.status();
        if !status.is_success() {
            let body: String = r
                .text()
                .await
                .unwrap_or_default()
                .chars()
                .take(300)
                .collect();
            let what = format!("the token endpoint answered {status}: {body}");
            return Err(if status.is_client_error() {
                OidcError::Refused(what)
            } else {
                OidcError::Provider(what)
            });
        }
        let tokens: TokenResponse = r
            .json()
            .await
            .map_err(|e| OidcError::Provider(format!("token response: {e}")))?;
        let id_token = tokens
            .id_token
            .ok_or_else(|| OidcError::Provider("no id_token in the token response".into()))?;
        self.verify_id_token(&id_token, &flow.nonce).await
    }

    /// Check an ID token's signature, issuer, audience, expiry and nonce.
    async fn verify_id_token(&self, token: &str, nonce: &str) -> Result<Claims, OidcError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| OidcError::Token(e.to_string()))?;
        const ALLOWED: [Algorithm; 7] = [
            Algorithm::RS256,
            Algorithm::RS384,
            Algorithm::RS512,
            Algorithm::PS256,
            Algorithm::ES256,
            Algorithm::ES384,
            Algorithm::EdDSA,
        ];
        if !ALLOWED.contains(&header.alg) {
            return Err(OidcError::Token(format!(
                "signature algorithm {:?} is not accepted",
                header.alg
            )));
        }
        let key = self.key_for(header.kid.as_deref(), header.alg).await?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(&[&self.config.client_id]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECS;
        let data = jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map_err(|e| OidcError::Token(e.to_string()))?;
        let claims = data.claims;
        let nonce_ok = claims
            .nonce
            .as_deref()
            .and_then(|n| SessionToken::parse(nonce).ok().map(|t| t.matches(n)))
            .unwrap_or(false);
        if !nonce_ok {
            return Err(OidcError::Token(
                "the nonce does not match the flow's".into(),
            ));
        }
        let several_audiences = claims.aud.as_array().is_some_and(|a| a.len() > 1);
        if (several_audiences || claims.azp.is_some())
            && claims.azp.as_deref() != Some(self.config.client_id.as_str())
        {
            return Err(OidcError::Token("azp is not this client".into()));
        }
        Ok(claims)
    }
}

fn sso_error(e: &OidcError) -> Response {
    tracing::warn!(error = %e, "single sign-on failed");
    let (kind, code) = match e {
        OidcError::Unreachable(_) | OidcError::Provider(_) => {
            (ErrorKind::Overloaded, "sso_provider_unavailable")
        }
        OidcError::Token(_) | OidcError::Flow(_) | OidcError::Refused(_) => {
            (ErrorKind::Authentication, "sso_failed")
        }
    };
    let mut r =
        HttpError(ApiError::new(kind, format!("Single sign-on failed: {e}")).with_code(code))
            .into_response();
    clear_flow_cookie(&mut r, false);
    r
}

fn clear_flow_cookie(r: &mut Response, secure: bool) {
    let c = crate::cookies::cookie_header(FLOW_COOKIE, "", 0, secure);
    if let Ok(v) = HeaderValue::from_str(&c) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
}

fn not_configured() -> Response {
    HttpError(
        ApiError::new(
            ErrorKind::NotFound,
            "Single sign-on is not configured here.",
        )
        .with_code("not_found"),
    )
    .into_response()
}

fn services(state: &AppState) -> Option<(&SignIn, &Oidc)> {
    let s = state.signin.as_deref()?;
    Some((s, state.oidc.as_deref()?))
}

/// Start single sign-on: a redirect to the identity provider.
#[utoipa::path(get, path = "/auth/oidc/start", tag = "sign-in",
    responses(
        (status = 303, description = "To the provider's authorization endpoint (code flow, PKCE S256, state, nonce)"),
        (status = 404, description = "Single sign-on is not configured", body = sovra_core::error::ErrorEnvelope),
        (status = 503, description = "The provider could not be reached", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn start(State(state): State<AppState>) -> Response {
    let Some((signin, oidc)) = services(&state) else {
        return not_configured();
    };
    match oidc.start().await {
        Ok((url, flow_state)) => {
            let mut r = Redirect::to(&url).into_response();
            let c = crate::cookies::cookie_header(
                FLOW_COOKIE,
                flow_state.expose(),
                FLOW_TTL.as_secs(),
                signin.config.secure_cookies,
            );
            if let Ok(v) = HeaderValue::from_str(&c) {
                r.headers_mut().append(header::SET_COOKIE, v);
            }
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Err(e) => sso_error(&e),
    }
}

/// The provider's answer.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct CallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// The provider sends the browser back here; on success a session starts
/// and the browser goes to `/`.
#[utoipa::path(get, path = "/auth/oidc/callback", tag = "sign-in",
    params(CallbackQuery),
    responses(
        (status = 303, description = "Signed in; `Set-Cookie` carries the session; back to `/`"),
        (status = 401, description = "The flow or the ID token was refused (unknown or reused state, other browser, bad signature, issuer, audience, expiry or nonce)", body = sovra_core::error::ErrorEnvelope),
        (status = 404, description = "Single sign-on is not configured", body = sovra_core::error::ErrorEnvelope),
        (status = 429, description = "Too many failed callbacks from this address; `retry-after` says when to try again", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn callback(State(state): State<AppState>, request: Request) -> Response {
    let Some((signin, oidc)) = services(&state) else {
        return not_configured();
    };
    let ip = signin::client_ip(&request);
    // Failed callbacks count against the client's address like failed
    // passwords: past the limit, the address is locked out and each refusal
    // costs no work and, but for the first, no audit entry.
    let now = crate::caller::now_ms();
    let checked = signin.throttle().check(None, ip, now);
    if let Err(lockout) = checked {
        metrics::counter!("sovra_signin_refused_total", "method" => "oidc").increment(1);
        if lockout.first {
            record_failure(&state, oidc, "locked_out", ip).await;
        }
        return signin::locked_out(lockout.retry_after);
    }
    let query = match Query::<CallbackQuery>::try_from_uri(request.uri()) {
        Ok(q) => q.0,
        Err(e) => return HttpError::from(e).into_response(),
    };
    let browser_state =
        crate::cookies::cookie_value(request.headers(), FLOW_COOKIE).map(str::to_owned);
    let result = match (&query.error, &query.code, &query.state) {
        (Some(err), _, _) => Err(OidcError::Flow(format!(
            "the provider said {}: {}",
            err.chars().take(100).collect::<String>(),
            query
                .error_description
                .as_deref()
                .unwrap_or("")
                .chars()
                .take(200)
                .collect::<String>()
        ))),
        (None, Some(code), Some(st)) => oidc.finish(st, browser_state.as_deref(), code).await,
        _ => Err(OidcError::Flow("the callback lacks code or state".into())),
    };
    let claims = match result {
        Ok(c) => c,
        Err(e) => {
            signin.throttle().fail(None, ip, now);
            let reason: String = e.to_string().chars().take(300).collect();
            record_failure(&state, oidc, &reason, ip).await;
            return sso_error(&e);
        }
    };
    let user = match user_for(signin, oidc, &claims).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    if user.disabled {
        signin::audit(
            state.store.as_ref(),
            format!("user:{}", user.id),
            "auth.sign_in_failed",
            user.tenant.as_str(),
            Some(user.id.clone()),
            serde_json::json!({"method": "oidc", "user": user.id, "name": user.name, "reason": "disabled", "ip": ip.map(|i| i.to_string())}),
        )
        .await;
        return sso_error(&OidcError::Flow("this account is disabled".into()));
    }
    let (token, session) = match signin.start_session(&user, "oidc").await {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    if !signin::record_sign_in(&state, &user, "oidc", ip).await {
        let _ = signin.directory.delete_session(&session.id).await;
        return HttpError(ApiError::internal(
            "The sign-in could not be recorded in the audit trail, so it was not completed.",
        ))
        .into_response();
    }
    let mut r = Redirect::to("/").into_response();
    if let Ok(v) = HeaderValue::from_str(&signin.session_cookie(&token)) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    clear_flow_cookie(&mut r, signin.config.secure_cookies);
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// `auth.sign_in_failed` for a callback that signed nobody in: the issuer,
/// why (never a code or a token) and the client address.
async fn record_failure(state: &AppState, oidc: &Oidc, reason: &str, ip: Option<std::net::IpAddr>) {
    signin::audit(
        state.store.as_ref(),
        "anonymous".to_owned(),
        "auth.sign_in_failed",
        "public",
        None,
        serde_json::json!({
            "method": "oidc",
            "issuer": oidc.config.issuer,
            "reason": reason,
            "ip": ip.map(|i| i.to_string()),
        }),
    )
    .await;
}

/// The user this provider identity maps to, created on first sign-in.
async fn user_for(signin: &SignIn, oidc: &Oidc, claims: &Claims) -> Result<User, Response> {
    let dir = &signin.directory;
    let issuer = &oidc.config.issuer;
    let fail = |e: sovra_identity::DirectoryError| {
        tracing::error!(error = %e, "directory failure during single sign-on");
        HttpError(ApiError::internal(
            "The server could not read or write its directory.",
        ))
        .into_response()
    };
    if let Some(u) = dir.user_by_oidc(issuer, &claims.sub).await.map_err(fail)? {
        return Ok(u);
    }
    let host = reqwest::Url::parse(issuer)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "sso".to_owned());
    let fallback = format!("{}@{host}", claims.sub);
    let preferred = claims
        .email
        .clone()
        .or_else(|| claims.preferred_username.clone())
        .unwrap_or_else(|| fallback.clone());
    let display = claims.name.clone().unwrap_or_else(|| preferred.clone());
    for name in [preferred, fallback] {
        let new = NewUser {
            tenant: oidc.config.tenant.clone(),
            name: name.chars().take(256).collect(),
            display_name: display.chars().take(256).collect(),
            role: oidc.config.role,
            password_hash: None,
            oidc: Some((issuer.clone(), claims.sub.clone())),
            priority: None,
        };
        match dir.create_user(&new, "system:sso").await {
            Ok(u) => return Ok(u),
            // A local account already has this name: use the subject instead.
            Err(sovra_identity::DirectoryError::Conflict(_)) => continue,
            Err(e) => return Err(fail(e)),
        }
    }
    Err(sso_error(&OidcError::Flow(
        "no free account name for this identity".into(),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_challenge_is_rfc7636() {
        // RFC 7636, appendix B.
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        assert_eq!(
            origin("http://127.0.0.1:9000/oidc"),
            origin("http://127.0.0.1:9000/token")
        );
        assert_ne!(
            origin("http://127.0.0.1:9000/"),
            origin("http://127.0.0.1:9001/")
        );
        assert_ne!(origin("https://a.example/"), origin("http://a.example/"));
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let c = OidcConfig {
            issuer: "http://idp".into(),
            client_id: "sovra".into(),
            client_secret: Some("hunter2-very-secret".into()),
            redirect_url: "http://sovra/auth/oidc/callback".into(),
            display_name: "IdP".into(),
            tenant: TenantPath::public(),
            role: Role::Member,
            scopes: vec![],
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
