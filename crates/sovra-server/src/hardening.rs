//! Protections every response and every request body get, whatever the
//! route: security headers (a Content-Security-Policy that fits the web chat
//! and console as served, no framing, no sniffing, a strict referrer policy,
//! HSTS when clients reach Sovra over TLS), and a deadline for reading a
//! request's whole body, so a client that dribbles its body a byte at a time
//! gets `408` instead of holding a handler forever; and, where the operator
//! asks for it (by default on a loopback address), a check that the `Host`
//! a request was sent to is one of this server's names ([`AllowedHosts`]),
//! which stops DNS rebinding: a page on `evil.example` whose name is made to
//! resolve to 127.0.0.1 reaches the port, but with `Host: evil.example`. The
//! connection-level limits (header read time, header size and count, TLS
//! handshake time) are in [`crate::conn`].

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body::{Body as HttpBody, Frame, SizeHint};
use sovra_core::ApiError;

/// The web chat and console load only their own scripts, styles and images
/// (no inline code: they are ES modules and a stylesheet under `/assets`),
/// talk only to this origin, and may not be framed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; font-src 'self'; connect-src 'self'; media-src 'none'; object-src 'none'; worker-src 'none'; frame-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// Which headers to add (those a handler set itself are kept).
#[derive(Debug, Clone)]
pub struct SecurityHeaders {
    headers: Arc<[(HeaderName, HeaderValue)]>,
}

impl SecurityHeaders {
    /// `hsts_max_age`: send `Strict-Transport-Security` with this max-age
    /// (when clients reach Sovra over TLS, directly or at a proxy).
    pub fn new(hsts_max_age: Option<u64>) -> Self {
        let mut headers = vec![
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CONTENT_SECURITY_POLICY),
            ),
            (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
            (
                HeaderName::from_static("cross-origin-opener-policy"),
                HeaderValue::from_static("same-origin"),
            ),
            (
                HeaderName::from_static("permissions-policy"),
                HeaderValue::from_static("camera=(), microphone=(), geolocation=(), payment=()"),
            ),
        ];
        if let Some(age) = hsts_max_age.filter(|a| *a > 0)
            && let Ok(v) = HeaderValue::from_str(&format!("max-age={age}; includeSubDomains"))
        {
            headers.push((header::STRICT_TRANSPORT_SECURITY, v));
        }
        Self {
            headers: headers.into(),
        }
    }
}

/// Add the security headers to every response of `app`.
pub fn security_headers(app: axum::Router, headers: SecurityHeaders) -> axum::Router {
    app.layer(axum::middleware::from_fn_with_state(headers, add_headers))
}

async fn add_headers(State(h): State<SecurityHeaders>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let out = response.headers_mut();
    for (name, value) in h.headers.iter() {
        if !out.contains_key(name) {
            out.insert(name.clone(), value.clone());
        }
    }
    response
}

/// The host names requests may be sent to (lowercase, no port, IPv6 in
/// brackets).
#[derive(Debug, Clone)]
pub struct AllowedHosts(Arc<[String]>);

impl AllowedHosts {
    /// `names`, each `name` or `name:port` (the port is not compared).
    pub fn new<I: IntoIterator<Item = S>, S: AsRef<str>>(names: I) -> Self {
        Self(
            names
                .into_iter()
                .map(|n| host_of(n.as_ref()).to_owned())
                .collect(),
        )
    }

    /// A loopback server's default: the local names and the address it
    /// listens on.
    pub fn loopback(listen: std::net::SocketAddr) -> Self {
        let bound = match listen.ip() {
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            std::net::IpAddr::V4(ip) => ip.to_string(),
        };
        Self::new(["localhost", "127.0.0.1", "[::1]", bound.as_str()])
    }

    /// Whether a request with this `Host` (or HTTP/2 `:authority`) may be served.
    pub fn allows(&self, host: &str) -> bool {
        let h = host_of(host);
        self.0.iter().any(|a| a.eq_ignore_ascii_case(h))
    }
}

/// `host[:port]` → `host` (trailing dot dropped; `[v6]` kept whole).
fn host_of(authority: &str) -> &str {
    let a = authority.trim();
    let host = if let Some(rest) = a.strip_prefix('[') {
        match rest.find(']') {
            Some(end) => &a[..end + 2],
            None => a,
        }
    } else {
        match a.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => a,
        }
    };
    host.strip_suffix('.').unwrap_or(host)
}

/// Refuse (`421 Misdirected Request`, OpenAI's error shape) every request of
/// `app` sent to a host name not in `allowed`. A request without any host
/// (an HTTP/1.0 client) cannot come from a browser and is served.
pub fn allowed_hosts(app: axum::Router, allowed: AllowedHosts) -> axum::Router {
    app.layer(axum::middleware::from_fn_with_state(allowed, check_host))
}

async fn check_host(State(allowed): State<AllowedHosts>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| request.uri().authority().map(|a| a.as_str().to_owned()));
    match host {
        Some(h) if !allowed.allows(&h) => {
            let e = ApiError::new(
                sovra_core::ErrorKind::PermissionDenied,
                "This server does not answer to that host name. If you reached it through a name of your own, add the name to server.allowed_hosts.",
            )
            .with_code("host_not_allowed");
            (StatusCode::MISDIRECTED_REQUEST, axum::Json(e.envelope())).into_response()
        }
        _ => next.run(request).await,
    }
}

/// Give every request of `app` `limit` to deliver its whole body, counted
/// from when its headers were read. Only reading the request is limited: a
/// streamed response (SSE) runs as long as it needs.
pub fn body_deadline(app: axum::Router, limit: Duration) -> axum::Router {
    app.layer(axum::middleware::from_fn_with_state(limit, deadline))
}

async fn deadline(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    let expired = Arc::new(AtomicBool::new(false));
    let (parts, body) = request.into_parts();
    let body = Body::new(DeadlineBody {
        inner: body,
        sleep: Box::pin(tokio::time::sleep(limit)),
        expired: expired.clone(),
    });
    let response = next.run(Request::from_parts(parts, body)).await;
    if expired.load(Ordering::Acquire) {
        return request_timeout(limit);
    }
    response
}

/// OpenAI's error shape with 408; the connection is closed after it (the
/// rest of the body is not worth waiting for).
fn request_timeout(limit: Duration) -> Response {
    let e = ApiError::invalid(format!(
        "The request body did not arrive within {} s.",
        limit.as_secs()
    ))
    .with_code("request_timeout");
    (
        StatusCode::REQUEST_TIMEOUT,
        [(header::CONNECTION, HeaderValue::from_static("close"))],
        axum::Json(e.envelope()),
    )
        .into_response()
}

/// Why a body read stopped.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
pub struct BodyTimeout;

/// A request body that fails once its deadline passes.
struct DeadlineBody {
    inner: Body,
    sleep: Pin<Box<tokio::time::Sleep>>,
    expired: Arc<AtomicBool>,
}

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if self.sleep.as_mut().poll(cx).is_ready() {
            self.expired.store(true, Ordering::Release);
            return Poll::Ready(Some(Err(Box::new(BodyTimeout))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use axum::routing::post;
    use futures::StreamExt as _;
    use tower::ServiceExt as _;

    fn app(limit: Duration) -> axum::Router {
        let app = axum::Router::new().route(
            "/echo",
            post(|body: Bytes| async move { format!("{}", body.len()) }),
        );
        security_headers(body_deadline(app, limit), SecurityHeaders::new(None))
    }

    #[tokio::test]
    async fn a_body_that_arrives_in_time_is_served_with_the_headers() {
        let response = app(Duration::from_secs(5))
            .oneshot(Request::post("/echo").body(Body::from("hello")).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let h = response.headers();
        assert_eq!(h[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert!(
            h[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'")
        );
        assert!(!h.contains_key(header::STRICT_TRANSPORT_SECURITY));
    }

    #[tokio::test]
    async fn a_body_that_never_ends_gets_408() {
        // A body stream that yields one chunk and then nothing, ever.
        let stream = futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from("{"))])
            .chain(futures::stream::pending());
        let started = std::time::Instant::now();
        let response = app(Duration::from_millis(200))
            .oneshot(
                Request::post("/echo")
                    .body(Body::from_stream(stream))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(response.headers()[header::CONNECTION], "close");
        assert!(started.elapsed() < Duration::from_secs(2));
        let body = axum::body::to_bytes(response.into_body(), 10_000)
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"]["code"], "request_timeout");
    }

    #[test]
    fn hsts_only_when_asked() {
        let h = SecurityHeaders::new(Some(600));
        assert!(
            h.headers
                .iter()
                .any(|(n, v)| n == header::STRICT_TRANSPORT_SECURITY
                    && v == "max-age=600; includeSubDomains")
        );
        assert!(
            !SecurityHeaders::new(Some(0))
                .headers
                .iter()
                .any(|(n, _)| n == header::STRICT_TRANSPORT_SECURITY)
        );
    }

    #[test]
    fn hosts_are_compared_by_name_without_the_port() {
        let loopback = AllowedHosts::loopback("127.0.0.1:8080".parse().unwrap());
        for ok in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LOCALHOST",
            "localhost.:8080",
            "[::1]:8080",
            "127.0.0.1",
        ] {
            assert!(loopback.allows(ok), "{ok}");
        }
        for bad in [
            "evil.example:8080",
            "evil.example",
            "127.0.0.1.evil.example",
            "localhost.evil.example:8080",
            "",
            "[::2]:8080",
        ] {
            assert!(!loopback.allows(bad), "{bad}");
        }
        let v6 = AllowedHosts::loopback("[::1]:9000".parse().unwrap());
        assert!(v6.allows("[::1]:9000"));
        let named = AllowedHosts::new(["chat.gov.example", "Sovra.Local:443"]);
        assert!(named.allows("chat.gov.example:8443") && named.allows("sovra.local"));
        assert!(!named.allows("localhost"));
    }
}
