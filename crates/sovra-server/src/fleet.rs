//! The fleet's admin API: `GET /admin/backends` lists the backends with
//! their live state; `POST /admin/backends/reload` re-reads the fleet's
//! settings (the same as SIGHUP); `POST /admin/backends/{name}/drain` and
//! `.../undrain` stop and resume new work for one backend.
//!
//! These are routes of [`crate::routes`] like every other, so the identity
//! middleware and its one table ([`crate::identity::RULES`]) guard them:
//! platform admins only (the fleet's internal addresses and its capacity
//! are the platform's business, not a tenant's). The fleet itself is the
//! `sovra-router` crate; the binary hands it over as a [`Fleet`], so this
//! crate needs no dependency on it. A server without `[[backends]]` has no
//! fleet and answers `404` here.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use sovra_core::{ApiError, ErrorKind};

use crate::{AppState, HttpError};

/// What the admin API may do with the fleet.
pub trait Fleet: Send + Sync + 'static {
    /// Every backend with its live state (health, queue, in flight, drain).
    fn snapshot(&self) -> serde_json::Value;
    /// Read the settings again and swap the fleet; how many backends it has
    /// now, or why the running fleet is unchanged.
    fn reload(&self) -> Result<usize, String>;
    /// Stop (`on`) or resume new work for the backend `name`; false if there is none.
    fn drain(&self, name: &str, on: bool) -> bool;
}

fn fleet(state: &AppState) -> Result<&Arc<dyn Fleet>, HttpError> {
    state.fleet.as_ref().ok_or_else(|| {
        HttpError(
            ApiError::new(
                ErrorKind::NotFound,
                "This server runs no fleet: `[[backends]]` is not set.",
            )
            .with_code("not_found"),
        )
    })
}

/// The fleet's backends with their live state (internal addresses included).
#[utoipa::path(get, path = "/admin/backends", tag = "admin",
    responses(
        (status = 200, description = "Every backend with its live state", body = serde_json::Value),
        (status = 401, description = "No or bad credentials", body = sovra_core::error::ErrorEnvelope),
        (status = 403, description = "Not a platform admin", body = sovra_core::error::ErrorEnvelope),
        (status = 404, description = "This server runs no fleet", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn list(State(state): State<AppState>) -> Result<Json<serde_json::Value>, HttpError> {
    Ok(Json(fleet(&state)?.snapshot()))
}

/// Re-read the fleet's settings and swap the fleet (as SIGHUP does); a bad
/// file leaves the running fleet as it was.
#[utoipa::path(post, path = "/admin/backends/reload", tag = "admin",
    responses(
        (status = 200, description = "Reloaded: `{\"reloaded\": true, \"backends\": N}`", body = serde_json::Value),
        (status = 400, description = "The settings were refused; the running fleet is unchanged", body = sovra_core::error::ErrorEnvelope),
        (status = 401, description = "No or bad credentials", body = sovra_core::error::ErrorEnvelope),
        (status = 403, description = "Not a platform admin", body = sovra_core::error::ErrorEnvelope),
        (status = 404, description = "This server runs no fleet", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn reload(State(state): State<AppState>) -> Result<Response, HttpError> {
    match fleet(&state)?.reload() {
        Ok(n) => Ok(Json(json!({"reloaded": true, "backends": n})).into_response()),
        Err(e) => {
            tracing::warn!(error = %e, "fleet reload refused; the running fleet is unchanged");
            Err(HttpError(ApiError::invalid(e)))
        }
    }
}

fn set_drain(state: &AppState, name: String, on: bool) -> Result<Response, HttpError> {
    if fleet(state)?.drain(&name, on) {
        Ok(Json(json!({"backend": name, "draining": on})).into_response())
    } else {
        Err(HttpError(
            ApiError::new(ErrorKind::NotFound, format!("No backend named `{name}`."))
                .with_code("not_found"),
        ))
    }
}

/// Stop sending new work to one backend (work in flight finishes).
#[utoipa::path(post, path = "/admin/backends/{name}/drain", tag = "admin",
    params(("name" = String, Path, description = "The backend's name in `[[backends]]`")),
    responses(
        (status = 200, description = "`{\"backend\": name, \"draining\": true}`", body = serde_json::Value),
        (status = 401, description = "No or bad credentials", body = sovra_core::error::ErrorEnvelope),
        (status = 403, description = "Not a platform admin", body = sovra_core::error::ErrorEnvelope),
        (status = 404, description = "No such backend, or no fleet", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn drain(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, HttpError> {
    set_drain(&state, name, true)
}

/// Send new work to a drained backend again.
#[utoipa::path(post, path = "/admin/backends/{name}/undrain", tag = "admin",
    params(("name" = String, Path, description = "The backend's name in `[[backends]]`")),
    responses(
        (status = 200, description = "`{\"backend\": name, \"draining\": false}`", body = serde_json::Value),
        (status = 401, description = "No or bad credentials", body = sovra_core::error::ErrorEnvelope),
        (status = 403, description = "Not a platform admin", body = sovra_core::error::ErrorEnvelope),
        (status = 404, description = "No such backend, or no fleet", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn undrain(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, HttpError> {
    set_drain(&state, name, false)
}
