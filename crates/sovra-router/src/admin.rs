//! The fleet's admin API, mounted under `/admin` next to the OpenAI API.
//!
//! `GET /admin/backends` lists backends with their live state;
//! `POST /admin/backends/reload` re-reads the configuration (the same as
//! SIGHUP); `POST /admin/backends/{name}/drain` and `.../undrain` stop and
//! resume new work for one backend. Unauthenticated for now: authentication
//! belongs to the identity issue.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use sovra_core::{ApiError, ErrorKind};

use crate::{FleetConfig, Router};

/// Re-reads the fleet's settings (from the config file and environment).
pub type ReloadFn = Arc<dyn Fn() -> Result<FleetConfig, String> + Send + Sync>;

#[derive(Clone)]
struct Admin {
    router: Router,
    reload: ReloadFn,
}

/// Read the settings again and swap the fleet; the error says why not.
pub fn reload(router: &Router, read: &ReloadFn) -> Result<usize, String> {
    let config = read()?;
    router.reload(config).map_err(|e| e.to_string())
}

fn error(status: StatusCode, kind: ErrorKind, message: String) -> Response {
    (status, Json(ApiError::new(kind, message).envelope())).into_response()
}

async fn list(State(a): State<Admin>) -> Json<serde_json::Value> {
    Json(a.router.snapshot())
}

async fn reload_now(State(a): State<Admin>) -> Response {
    match reload(&a.router, &a.reload) {
        Ok(n) => Json(json!({"reloaded": true, "backends": n})).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "fleet reload refused; the running fleet is unchanged");
            error(StatusCode::BAD_REQUEST, ErrorKind::InvalidRequest, e)
        }
    }
}

async fn set_drain(a: Admin, name: String, on: bool) -> Response {
    if a.router.drain(&name, on) {
        Json(json!({"backend": name, "draining": on})).into_response()
    } else {
        error(
            StatusCode::NOT_FOUND,
            ErrorKind::NotFound,
            format!("No backend named `{name}`."),
        )
    }
}

async fn drain(State(a): State<Admin>, Path(name): Path<String>) -> Response {
    set_drain(a, name, true).await
}

async fn undrain(State(a): State<Admin>, Path(name): Path<String>) -> Response {
    set_drain(a, name, false).await
}

/// The `/admin/backends` routes, to merge into the server's router.
pub fn routes(router: Router, reload: ReloadFn) -> axum::Router {
    axum::Router::new()
        .route("/admin/backends", get(list))
        .route("/admin/backends/reload", post(reload_now))
        .route("/admin/backends/{name}/drain", post(drain))
        .route("/admin/backends/{name}/undrain", post(undrain))
        .with_state(Admin { router, reload })
}
