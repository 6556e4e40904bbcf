//! The web chat, served from assets compiled into the binary.
//!
//! No CDN, no external fonts or scripts: a sovereign page loads nothing from
//! outside the server that serves it. The content security policy says so to
//! the browser too.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

const INDEX: &str = include_str!("../assets/index.html");
const APP_JS: &str = include_str!("../assets/app.js");
const APP_CSS: &str = include_str!("../assets/app.css");

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

/// The web chat's script and style sheet.
#[utoipa::path(get, path = "/assets/{file}", tag = "web",
    params(("file" = String, Path, description = "`app.js` or `app.css`")),
    responses(
        (status = 200, description = "The asset", content((String = "text/javascript"), (String = "text/css"))),
        (status = 404, description = "No such asset", body = String, content_type = "text/plain"),
    ))]
pub async fn asset(Path(file): Path<String>) -> Response {
    match file.as_str() {
        "app.js" => page("text/javascript; charset=utf-8", APP_JS),
        "app.css" => page("text/css; charset=utf-8", APP_CSS),
        _ => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}
