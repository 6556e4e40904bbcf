//! The web chat and the operator console, served from assets compiled into
//! the binary.
//!
//! No CDN, no external fonts or scripts, no build step: hand-written ES
//! modules and one style sheet, embedded with `include_str!`. A sovereign page
//! loads nothing from outside the server that serves it, and the content
//! security policy says so to the browser too. Responses are compressed
//! (gzip or brotli, see [`crate::router`]) when the browser accepts it.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower_http::compression::Predicate;
use tower_http::compression::predicate::SizeAbove;

const INDEX: &str = include_str!("../assets/index.html");
const CONSOLE: &str = include_str!("../assets/console.html");

/// Every asset under `/assets/`: name, content type, body.
const ASSETS: [(&str, &str, &str); 8] = [
    ("app.js", JS, include_str!("../assets/app.js")),
    ("i18n.js", JS, include_str!("../assets/i18n.js")),
    ("markdown.js", JS, include_str!("../assets/markdown.js")),
    ("console.js", JS, include_str!("../assets/console.js")),
    (
        "console-i18n.js",
        JS,
        include_str!("../assets/console-i18n.js"),
    ),
    ("common.js", JS, include_str!("../assets/common.js")),
    ("signin.js", JS, include_str!("../assets/signin.js")),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../assets/app.css"),
    ),
];
const JS: &str = "text/javascript; charset=utf-8";

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

fn page(content_type: &'static str, body: &'static str) -> Response {
    let mut response = ([(header::CONTENT_TYPE, content_type)], body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// The web chat's page.
#[utoipa::path(get, path = "/", tag = "web",
    responses((status = 200, description = "The web chat (HTML)", body = String, content_type = "text/html")))]
pub async fn index() -> Response {
    page("text/html; charset=utf-8", INDEX)
}

/// The operator console's page (its data comes from `/admin/*`).
#[utoipa::path(get, path = "/console", tag = "web",
    responses((status = 200, description = "The operator console (HTML)", body = String, content_type = "text/html")))]
pub async fn console() -> Response {
    page("text/html; charset=utf-8", CONSOLE)
}

/// The pages' scripts and style sheet.
#[utoipa::path(get, path = "/assets/{file}", tag = "web",
    params(("file" = String, Path, description = "`app.js`, `i18n.js`, `markdown.js`, `common.js`, `signin.js`, `console.js`, `console-i18n.js` or `app.css`")),
    responses(
        (status = 200, description = "The asset", content((String = "text/javascript"), (String = "text/css"))),
        (status = 404, description = "No such asset", body = String, content_type = "text/plain"),
    ))]
pub async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, body)) => page(content_type, body),
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

/// Compress what a browser downloads (pages, scripts, styles, JSON), never
/// event streams (each token must leave at once) or tiny bodies.
#[derive(Debug, Clone, Copy, Default)]
pub struct CompressWeb;

impl Predicate for CompressWeb {
    fn should_compress<B>(&self, response: &axum::http::Response<B>) -> bool
    where
        B: axum::body::HttpBody,
    {
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        [
            "text/html",
            "text/css",
            "text/javascript",
            "application/json",
        ]
        .iter()
        .any(|t| content_type.starts_with(t))
            && SizeAbove::new(256).should_compress(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_the_pages_name_is_served() {
        for page in [INDEX, CONSOLE] {
            for part in page.split("/assets/").skip(1) {
                let name = part.split('"').next().unwrap_or("");
                assert!(
                    ASSETS.iter().any(|(n, _, _)| *n == name),
                    "{name} is not served"
                );
            }
        }
        for (_, _, body) in ASSETS {
            for part in body.split("from './").skip(1) {
                let name = part.split('\'').next().unwrap_or("");
                assert!(
                    ASSETS.iter().any(|(n, _, _)| *n == name),
                    "import {name} is not served"
                );
            }
        }
    }
}
