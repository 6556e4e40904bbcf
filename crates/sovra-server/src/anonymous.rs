//! The anonymous public's identity: a session cookie the server issues.
//!
//! A citizen who has not signed in is still one person to Sovra: their
//! conversations and data are theirs and nobody else's. That person is a
//! [`Citizen`]: 256 random bits the server makes and hands to the browser in
//! an `HttpOnly`, `SameSite=Lax` cookie (`sovra_anon`; `__Host-sovra_anon`
//! with `Secure` where sign-in cookies are secure), the first time they use
//! a route the anonymous public may use, or ask `GET /auth/me`. No script
//! reads the cookie, and no header names a user: what a client *says* about
//! who it is counts for nothing.
//!
//! Their user id is derived from the token (`anon_` and 32 hex digits of a
//! SHA-256 of it under its own label), so it can sit in exports and the
//! audit trail without opening anything: the token cannot be recovered from
//! it. The CSRF token that state-changing requests carried by the cookie
//! must echo is derived the same way under another label, and handed to the
//! page by `GET /auth/me`. Nothing is stored: a token is its own proof, so
//! anonymous visitors cost the store no rows, and a conversation stays the
//! visitor's across reloads, restarts and replicas for as long as the
//! browser keeps the cookie ([`MAX_AGE_SECS`], renewed by every
//! `GET /auth/me`). A client that drops the cookie becomes a new person,
//! with nothing of the old one's.

use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use sovra_identity::SessionToken;

/// The cookie's name over plain HTTP.
pub const COOKIE: &str = "sovra_anon";
/// Its name when it is `Secure` (host-only, `Path=/`: no sibling domain can plant one).
pub const SECURE_COOKIE: &str = "__Host-sovra_anon";
/// How long a browser keeps the cookie: 180 days from the last `GET /auth/me`.
pub const MAX_AGE_SECS: u64 = 180 * 86_400;
/// The prefix of every anonymous user id.
pub const USER_PREFIX: &str = "anon_";

/// One anonymous person: the secret their browser holds.
#[derive(Clone, PartialEq, Eq)]
pub struct Citizen(SessionToken);

impl std::fmt::Debug for Citizen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Citizen").field(&self.user()).finish()
    }
}

fn derive(label: &str, token: &SessionToken) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"sovra.anonymous.");
    h.update(label.as_bytes());
    h.update([0u8]);
    h.update(token.expose().as_bytes());
    h.finalize().into()
}

/// The cookie name for this server.
pub fn cookie_name(secure: bool) -> &'static str {
    if secure { SECURE_COOKIE } else { COOKIE }
}

impl Citizen {
    /// A new person (256 bits from the OS's generator).
    pub fn generate() -> Self {
        Self(SessionToken::generate())
    }

    /// The person whose cookie the request carries, if it carries a
    /// well-formed one (anything else is no one).
    pub fn from_headers(headers: &HeaderMap, secure: bool) -> Option<Self> {
        let raw = crate::cookies::cookie_value(headers, cookie_name(secure))?;
        SessionToken::parse(raw).ok().map(Self)
    }

    /// Their user id: `anon_` and 32 hex digits.
    pub fn user(&self) -> String {
        let d = derive("user", &self.0);
        let mut id = String::with_capacity(USER_PREFIX.len() + 32);
        id.push_str(USER_PREFIX);
        id.push_str(&hex::encode(&d[..16]));
        id
    }

    /// The CSRF token state-changing requests with this cookie must echo.
    pub fn csrf(&self) -> SessionToken {
        // 32 bytes are 43 characters of base64url, the format `SessionToken`
        // accepts, so the fallback (a token nothing matches: closed) never runs.
        let encoded = URL_SAFE_NO_PAD.encode(derive("csrf", &self.0));
        SessionToken::parse(&encoded).unwrap_or_else(|_| SessionToken::generate())
    }

    /// The `Set-Cookie` value that hands this person to the browser.
    pub fn set_cookie(&self, secure: bool) -> Option<HeaderValue> {
        let value = crate::cookies::cookie_header(
            cookie_name(secure),
            self.0.expose(),
            MAX_AGE_SECS,
            secure,
        );
        HeaderValue::from_str(&value).ok()
    }

    /// Put the cookie on `response`.
    pub fn hand_out(&self, response: &mut axum::response::Response, secure: bool) {
        if let Some(v) = self.set_cookie(secure) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_csrf_tokens_come_from_the_secret_alone() {
        let a = Citizen::generate();
        let b = Citizen::generate();
        assert_ne!(a.user(), b.user());
        assert!(a.user().starts_with(USER_PREFIX) && a.user().len() == 37);
        let mut h = HeaderMap::new();
        let cookie = a.set_cookie(false).unwrap();
        let pair = cookie
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        h.insert(header::COOKIE, HeaderValue::from_str(&pair).unwrap());
        let again = Citizen::from_headers(&h, false).unwrap();
        assert_eq!(again.user(), a.user());
        assert!(again.csrf().matches(a.csrf().expose()));
        assert!(!b.csrf().matches(a.csrf().expose()));
        // Neither the id nor the CSRF token is the secret.
        let secret = pair.split_once('=').unwrap().1;
        assert!(!a.user().contains(secret) && a.csrf().expose() != secret);
        // The secure name is another cookie.
        assert!(Citizen::from_headers(&h, true).is_none());
    }

    #[test]
    fn malformed_or_guessable_cookies_are_nobody() {
        for v in [
            "sovra_anon=usr_0123",
            "sovra_anon=",
            "sovra_anon=a b",
            "sovra_anon=short",
        ] {
            let mut h = HeaderMap::new();
            h.insert(header::COOKIE, HeaderValue::from_static(v));
            assert!(Citizen::from_headers(&h, false).is_none(), "{v}");
        }
    }
}
