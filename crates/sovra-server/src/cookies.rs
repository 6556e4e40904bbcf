//! Cookies as the sign-in and anonymous-person layers read and write
//! them (plain header text; no state).

use axum::http::{HeaderMap, header};

/// A `Set-Cookie` value: host-only, whole site, out of scripts' reach, sent
/// on top-level navigations from elsewhere (the single sign-on redirect
/// back) but never on cross-site subrequests or form posts.
pub fn cookie_header(name: &str, value: &str, max_age: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}")
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}
