//! Operator-configured API keys for the OpenAI API and the admin API.
//!
//! When `auth.api_keys` lists keys, every request to `/v1/…` and `/admin/…`
//! must carry one as `Authorization: Bearer KEY`, or gets OpenAI's `401`
//! (`code: invalid_api_key`), which the SDKs raise as
//! `AuthenticationError`. Keys are held only as SHA-256 digests and compared
//! digest to digest without early exit, so neither memory nor timing gives a
//! key away. With no keys configured the API is open (a single-machine
//! default). Per-tenant keys with scopes and expiry belong to the identity
//! layer; this is the operator's static gate in front of it.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use sovra_core::{ApiError, ErrorKind};

use crate::HttpError;

/// The accepted keys, as digests.
#[derive(Debug, Clone, Default)]
pub struct ApiKeys {
    digests: Arc<[[u8; 32]]>,
    /// Per key, what the console may show: a 4-character prefix and the
    /// first 8 hex digits of the digest.
    shown: Arc<[(String, String)]>,
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

impl ApiKeys {
    pub fn new(keys: &[String]) -> Self {
        let shown = keys
            .iter()
            .map(|k| {
                let prefix: String = k.chars().take(4).collect();
                let fingerprint = digest(k)[..4].iter().fold(String::new(), |mut s, b| {
                    let _ = write!(s, "{b:02x}");
                    s
                });
                (format!("{prefix}…"), fingerprint)
            })
            .collect();
        Self {
            digests: keys.iter().map(|k| digest(k)).collect(),
            shown,
        }
    }

    /// Each key's prefix and fingerprint, for the operator console.
    pub fn shown(&self) -> &[(String, String)] {
        &self.shown
    }

    /// No keys configured: the API is open.
    pub fn is_open(&self) -> bool {
        self.digests.is_empty()
    }

    /// Whether `presented` is one of the keys; the time taken does not
    /// depend on which key matched or how much of it did.
    pub fn accepts(&self, presented: &str) -> bool {
        let d = digest(presented);
        self.digests.iter().fold(false, |found, k| {
            let diff = k
                .iter()
                .zip(d.iter())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b));
            found | (diff == 0)
        })
    }
}

/// Put `app` (the whole application, admin routes included) behind the keys.
pub fn guard(app: axum::Router, keys: ApiKeys) -> axum::Router {
    app.layer(axum::middleware::from_fn_with_state(keys, require_key))
}

/// Paths behind the key check.
fn guarded(path: &str) -> bool {
    path == "/v1" || path.starts_with("/v1/") || path == "/admin" || path.starts_with("/admin/")
}

/// The middleware: check the bearer key on guarded paths. Routes of the
/// application itself are left to [`crate::identity`], which also accepts
/// tenant API keys and decides per route; this gate keeps guarding what is
/// merged beside them (the fleet's `/admin/backends`...).
pub async fn require_key(State(keys): State<ApiKeys>, request: Request, next: Next) -> Response {
    if keys.is_open()
        || !guarded(request.uri().path())
        || crate::identity::covers(request.method(), request.uri().path())
    {
        return next.run(request).await;
    }
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|k| !k.is_empty());
    match presented {
        Some(key) if keys.accepts(key) => next.run(request).await,
        Some(key) => {
            // Show no more of the key than OpenAI does: a short prefix.
            let shown: String = key.chars().take(4).collect();
            HttpError(
                ApiError::new(
                    ErrorKind::Authentication,
                    format!("Incorrect API key provided: {shown}****. Ask the operator of this Sovra for a valid key."),
                )
                .with_code("invalid_api_key"),
            )
            .into_response()
        }
        None => HttpError(ApiError::new(
            ErrorKind::Authentication,
            "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        ))
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_exactly() {
        let keys = ApiKeys::new(&[
            "sk-sovra-0123456789abcdef".into(),
            "another-key-0123456789".into(),
        ]);
        assert!(!keys.is_open());
        assert!(keys.accepts("sk-sovra-0123456789abcdef"));
        assert!(keys.accepts("another-key-0123456789"));
        assert!(!keys.accepts("sk-sovra-0123456789abcde"));
        assert!(!keys.accepts(""));
        assert!(ApiKeys::new(&[]).is_open());
    }

    #[test]
    fn only_the_apis_are_guarded() {
        for p in [
            "/v1/models",
            "/v1/chat/completions",
            "/v1",
            "/admin/backends",
        ] {
            assert!(guarded(p), "{p}");
        }
        for p in [
            "/",
            "/healthz",
            "/readyz",
            "/metrics",
            "/openapi.json",
            "/api/conversations",
            "/v1x",
        ] {
            assert!(!guarded(p), "{p}");
        }
    }
}
