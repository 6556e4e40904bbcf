//! The admin API: tenants, users and API keys, by delegated administration.
//!
//! Every handler acts for the caller's [`Principal`] (resolved and checked
//! against the route table by [`crate::identity`]) and only within their
//! reach: a platform admin reaches every tenant, a tenant admin their
//! tenant's subtree, a developer their own keys. What lies outside the reach
//! answers `404`, as if it did not exist; creating outside it answers `403`.
//! Nobody grants a role above their own ([`Role::may_grant`]). Priority
//! classes (`priority` on tenants, users and keys; absent: inherited) are
//! set by administrators only, and `emergency` by platform admins only
//! ([`Role::may_grant_priority`]); a tenant admin never changes their own
//! tenant's. An API key's
//! secret is in the response that creates it and nowhere else, ever: the
//! directory keeps its SHA-256 only. Each change is audited by the
//! directory, in the same transaction, naming [`Principal::actor`].
//!
//! Tenant paths contain `/`: in a URL they are one segment, percent-encoded
//! (`/admin/tenants/nation%2Fhealth`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Deserializer, Serialize};
use sovra_core::{ApiError, ErrorKind};
use sovra_identity::directory::UserChange;
use sovra_identity::{
    ApiKeyRecord, ApiKeySecret, Credential, NewApiKey, NewTenant, NewUser, Principal,
    PriorityClass, Role, Scope, Tenant, TenantKind, TenantPath, User,
};
use utoipa::ToSchema;

use crate::identity::{Who, dir_err};
use crate::{AppState, HttpError};

/// A list in OpenAI's shape.
#[derive(Debug, Serialize, ToSchema)]
pub struct List<T: ToSchema> {
    /// Always `list`.
    pub object: &'static str,
    pub data: Vec<T>,
}

fn list<T: ToSchema>(data: Vec<T>) -> Json<List<T>> {
    Json(List {
        object: "list",
        data,
    })
}

/// A delete's answer, in OpenAI's shape.
#[derive(Debug, Serialize, ToSchema)]
pub struct Deleted {
    pub id: String,
    pub object: &'static str,
    pub deleted: bool,
}

fn forbidden(message: impl Into<String>) -> HttpError {
    HttpError(ApiError::new(ErrorKind::PermissionDenied, message).with_code("permission_denied"))
}

fn not_found(what: &str, id: &str) -> HttpError {
    HttpError(
        ApiError::new(
            ErrorKind::NotFound,
            format!("No {what} found with id '{id}'."),
        )
        .with_code("not_found"),
    )
}

fn parse_tenant(s: &str, param: &str) -> Result<TenantPath, HttpError> {
    TenantPath::parse(s).map_err(|e| HttpError(ApiError::invalid_param(param, e.to_string())))
}

/// Whether the caller is a user of the directory (not the operator's
/// static key, not the anonymous open-mode operator, not a service key).
fn directory_user(who: &Principal) -> Option<&str> {
    match &who.credential {
        Credential::Operator | Credential::Anonymous => None,
        _ if who.user.starts_with("key:") => None,
        _ => Some(who.user.as_str()),
    }
}

/// Whether an administrator may act on `tenant`: a tenant admin acts on
/// their own tenant's subtree (users and keys of their tenant too).
fn reaches(who: &Principal, tenant: &TenantPath) -> bool {
    who.reaches(tenant)
}

// ------------------------------------------------------- priority classes

/// A `priority` field as sent: a class name, or none (absent or null:
/// inherit). Anything else is a `400` naming `priority`.
fn parse_priority(sent: Option<&str>) -> Result<Option<PriorityClass>, HttpError> {
    sent.map(|s| {
        PriorityClass::parse(s).ok_or_else(|| {
            HttpError(ApiError::invalid_param(
                "priority",
                format!(
                    "Invalid priority class '{s}': use emergency, citizen or batch (or null to inherit)."
                ),
            ))
        })
    })
    .transpose()
}

/// Whether the caller may set `class` (None: clear it, to inherit) on a
/// tenant, user or key in their reach: administrators only, and only a
/// platform admin grants `emergency`.
fn check_priority(who: &Principal, class: Option<PriorityClass>) -> Result<(), HttpError> {
    let admin = matches!(who.role, Role::PlatformAdmin | Role::TenantAdmin);
    if !admin {
        return Err(forbidden(format!(
            "A {} may not set priority classes; ask an administrator.",
            who.role
        )));
    }
    match class {
        Some(c) if !who.role.may_grant_priority(c) => Err(forbidden(format!(
            "Only a platform admin may grant the priority class {c}."
        ))),
        _ => Ok(()),
    }
}

/// A body field that may be absent (`None`: no change), null (`Some(None)`:
/// clear) or set.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

// ---------------------------------------------------------------- tenants

/// `POST /admin/tenants` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateTenant {
    /// The new tenant's path; its parent must exist (`nation/health/vaccines`).
    pub path: String,
    /// A display name (default: the path's last segment).
    #[serde(default)]
    pub name: Option<String>,
    pub kind: TenantKind,
    /// The priority class of the tenant and, where they set none, of its
    /// sub-tenants, users and keys: `emergency` (platform admins only),
    /// `citizen` or `batch`; absent: inherited from its parent.
    #[serde(default)]
    #[schema(value_type = Option<PriorityClass>)]
    pub priority: Option<String>,
}

/// `PATCH /admin/tenants/{tenant}` body; absent fields stay.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateTenant {
    /// A priority class (`emergency`: platform admins only), or null to
    /// inherit the parent's.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<PriorityClass>)]
    pub priority: Option<Option<String>>,
}

/// `GET /admin/tenants`: the tenants in the caller's reach.
#[utoipa::path(get, path = "/admin/tenants", tag = "admin",
    responses(
        (status = 200, description = "The tenants the caller administers, by path", body = List<Tenant>),
        (status = 401, description = "No or bad credentials", body = sovra_core::error::ErrorEnvelope),
        (status = 403, description = "The caller's role or key scopes do not allow this", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn list_tenants(
    State(state): State<AppState>,
    Who(who): Who,
) -> Result<Json<List<Tenant>>, HttpError> {
    let dir = &state.identity.directory;
    let tenants = match crate::identity::reach_root(&who) {
        None => dir.all_tenants().await,
        Some(root) => dir.tenants_under(root).await,
    }
    .map_err(dir_err)?;
    Ok(list(tenants))
}

/// `POST /admin/tenants`: create a tenant under one the caller administers.
#[utoipa::path(post, path = "/admin/tenants", tag = "admin", request_body = CreateTenant,
    responses(
        (status = 201, description = "The tenant (the change is in the audit trail)", body = Tenant),
        (status = 400, description = "Invalid path or priority class, missing parent, or the tenant exists", body = sovra_core::error::ErrorEnvelope),
        (status = 401, description = "No or bad credentials", body = sovra_core::error::ErrorEnvelope),
        (status = 403, description = "Outside the caller's subtree, their role does not allow this, or `emergency` from a tenant admin", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn create_tenant(
    State(state): State<AppState>,
    Who(who): Who,
    crate::extract::ApiJson(req): crate::extract::ApiJson<CreateTenant>,
) -> Result<impl IntoResponse, HttpError> {
    let path = parse_tenant(&req.path, "path")?;
    let priority = parse_priority(req.priority.as_deref())?;
    // A tenant admin creates below their tenant, never beside or above it.
    if !(who.role == Role::PlatformAdmin || (path.is_within(&who.tenant) && path != who.tenant)) {
        return Err(forbidden(format!(
            "You may create tenants only under '{}'.",
            who.tenant
        )));
    }
    if priority.is_some() {
        check_priority(&who, priority)?;
    }
    let tenant = state
        .identity
        .directory
        .create_tenant(
            &NewTenant {
                name: req.name.unwrap_or_else(|| path.leaf().to_owned()),
                path,
                kind: req.kind,
                priority,
            },
            &who.actor(),
        )
        .await
        .map_err(dir_err)?;
    Ok((StatusCode::CREATED, Json(tenant)))
}

/// `GET /admin/tenants/{tenant}`.
#[utoipa::path(get, path = "/admin/tenants/{tenant}", tag = "admin",
    params(("tenant" = String, Path, description = "The tenant's path, percent-encoded (`nation%2Fhealth`)")),
    responses(
        (status = 200, description = "The tenant", body = Tenant),
        (status = 400, description = "Not a tenant path", body = sovra_core::error::ErrorEnvelope),
        (status = 404, description = "No such tenant in the caller's reach", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn get_tenant(
    State(state): State<AppState>,
    Who(who): Who,
    Path(tenant): Path<String>,
) -> Result<Json<Tenant>, HttpError> {
    let path = parse_tenant(&tenant, "tenant")?;
    if !reaches(&who, &path) {
        return Err(not_found("tenant", &tenant));
    }
    state
        .identity
        .directory
        .tenant(&path)
        .await
        .map_err(dir_err)?
        .map(Json)
        .ok_or_else(|| not_found("tenant", &tenant))
}

/// `PATCH /admin/tenants/{tenant}`: set or clear the tenant's priority class.
#[utoipa::path(patch, path = "/admin/tenants/{tenant}", tag = "admin", request_body = UpdateTenant,
    params(("tenant" = String, Path, description = "The tenant's path, percent-encoded (`nation%2Fhealth`)")),
    responses(
        (status = 200, description = "The tenant as changed (the change is in the audit trail)", body = Tenant),
        (status = 400, description = "Not a tenant path, or not a priority class", body = sovra_core::error::ErrorEnvelope),
        (status = 403, description = "A tenant admin changing their own tenant, or granting `emergency`", body = sovra_core::error::ErrorEnvelope),
        (status = 404, description = "No such tenant in the caller's reach", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn update_tenant(
    State(state): State<AppState>,
    Who(who): Who,
    Path(tenant): Path<String>,
    crate::extract::ApiJson(req): crate::extract::ApiJson<UpdateTenant>,
) -> Result<Json<Tenant>, HttpError> {
    let path = parse_tenant(&tenant, "tenant")?;
    if !reaches(&who, &path) {
        return Err(not_found("tenant", &tenant));
    }
    let dir = &state.identity.directory;
    let Some(sent) = req.priority else {
        return dir
            .tenant(&path)
            .await
            .map_err(dir_err)?
            .map(Json)
            .ok_or_else(|| not_found("tenant", &tenant));
    };
    let priority = parse_priority(sent.as_deref())?;
    // A tenant admin's own tenant's class is set above them (as its
    // deletion is): else they would lift a class a platform admin lowered.
    if who.role != Role::PlatformAdmin && path == who.tenant {
        return Err(forbidden(
            "You may not change your own tenant's priority class; ask a platform admin.",
        ));
    }
    check_priority(&who, priority)?;
    dir.set_tenant_priority(&path, priority, &who.actor())
        .await
        .map_err(dir_err)?
        .map(Json)
        .ok_or_else(|| not_found("tenant", &tenant))
}

/// `DELETE /admin/tenants/{tenant}`: only an empty tenant (no sub-tenants, users or keys).
#[utoipa::path(delete, path = "/admin/tenants/{tenant}", tag = "admin",
    params(("tenant" = String, Path, description = "The tenant's path, percent-encoded (`nation%2Fhealth`)")),
    responses(
        (status = 200, description = "Deleted (the change is in the audit trail)", body = Deleted),
        (status = 400, description = "Not a tenant path, or the tenant still has sub-tenants, users or keys", body = sovra_core::error::ErrorEnvelope),
        (status = 403, description = "A tenant admin deleting their own tenant", body = sovra_core::error::ErrorEnvelope),
        (status = 404, description = "No such tenant in the caller's reach", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn delete_tenant(
    State(state): State<AppState>,
    Who(who): Who,
    Path(tenant): Path<String>,
) -> Result<Json<Deleted>, HttpError> {
    let path = parse_tenant(&tenant, "tenant")?;
    if !reaches(&who, &path) {
        return Err(not_found("tenant", &tenant));
    }
    if who.role != Role::PlatformAdmin && path == who.tenant {
        return Err(forbidden("You may not delete your own tenant."));
    }
    if !state
        .identity
        .directory
        .delete_tenant(&path, &who.actor())
        .await
        .map_err(dir_err)?
    {
        return Err(not_found("tenant", &tenant));
    }
    Ok(Json(Deleted {
        id: tenant,
        object: "tenant",
        deleted: true,
    }))
}

// ------------------------------------------------------------------ users

/// `POST /admin/users` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateUser {
    /// The sign-in name, unique across the platform (e.g. an e-mail address).
    pub name: String,
    /// Default: the caller's tenant.
    #[serde(default)]
    pub tenant: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    pub role: Role,
    /// A local password (12-1024 characters), kept as argon2id; none: sign-in by SSO or keys only.
    #[serde(default)]
    pub password: Option<String>,
    /// The user's priority class (and their keys' that set none):
    /// `emergency` (platform admins only), `citizen` or `batch`; absent:
    /// their tenant's.
    #[serde(default)]
    #[schema(value_type = Option<PriorityClass>)]
    pub priority: Option<String>,
}

/// `PATCH /admin/users/{id}` body; absent fields stay.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateUser {
    #[serde(default)]
    pub role: Option<Role>,
    #[serde(default)]
    pub disabled: Option<bool>,
    #[serde(default)]
    pub display_name: Option<String>,
    /// A priority class (`emergency`: platform admins only), or null to
    /// inherit the tenant's.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<PriorityClass>)]
    pub priority: Option<Option<String>>,
}

/// The user `id`, if the caller administers them (their tenant is in
/// reach and their role is one the caller could grant).
async fn managed_user(state: &AppState, who: &Principal, id: &str) -> Result<User, HttpError> {
    let user = state
        .identity
        .directory
        .user(id)
        .await
        .map_err(dir_err)?
        .filter(|u| reaches(who, &u.tenant))
        .ok_or_else(|| not_found("user", id))?;
    Ok(user)
}

/// `GET /admin/users`: the users in the caller's reach.
#[utoipa::path(get, path = "/admin/users", tag = "admin",
    responses(
        (status = 200, description = "Users of the caller's subtree (never a password hash)", body = List<User>),
        (status = 401, description = "No or bad credentials", body = sovra_core::error::ErrorEnvelope),
        (status = 403, description = "The caller's role or key scopes do not allow this", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn list_users(
    State(state): State<AppState>,
    Who(who): Who,
) -> Result<Json<List<User>>, HttpError> {
    let dir = &state.identity.directory;
    let users = match crate::identity::reach_root(&who) {
        None => dir.all_users().await,
        Some(root) => dir.users_under(root).await,
    }
    .map_err(dir_err)?;
    Ok(list(users))
}

/// `POST /admin/users`: create a user with a role no higher than the caller's.
#[utoipa::path(post, path = "/admin/users", tag = "admin", request_body = CreateUser,
    responses(
        (status = 201, description = "The user (the change is in the audit trail)", body = User),
        (status = 400, description = "Invalid body or priority class, the name is taken, or the password is too short", body = sovra_core::error::ErrorEnvelope),
        (status = 403, description = "Outside the caller's subtree, a role above theirs, or `emergency` from a tenant admin", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn create_user(
    State(state): State<AppState>,
    Who(who): Who,
    crate::extract::ApiJson(req): crate::extract::ApiJson<CreateUser>,
) -> Result<impl IntoResponse, HttpError> {
    let tenant = match &req.tenant {
        Some(t) => parse_tenant(t, "tenant")?,
        None => who.tenant.clone(),
    };
    let priority = parse_priority(req.priority.as_deref())?;
    if !reaches(&who, &tenant) {
        return Err(forbidden(format!(
            "You may create users only in '{}' and below.",
            who.tenant
        )));
    }
    if !who.role.may_grant(req.role) {
        return Err(forbidden(format!(
            "A {} may not grant the role {}.",
            who.role, req.role
        )));
    }
    if priority.is_some() {
        check_priority(&who, priority)?;
    }
    let password_hash = match &req.password {
        Some(p) => Some(
            sovra_identity::password::hash(p)
                .map_err(|e| HttpError(ApiError::invalid_param("password", e.to_string())))?,
        ),
        None => None,
    };
    let user = state
        .identity
        .directory
        .create_user(
            &NewUser {
                tenant,
                display_name: req.display_name.unwrap_or_else(|| req.name.clone()),
                name: req.name,
                role: req.role,
                password_hash,
                oidc: None,
                priority,
            },
            &who.actor(),
        )
        .await
        .map_err(dir_err)?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// `GET /admin/users/{id}`.
#[utoipa::path(get, path = "/admin/users/{id}", tag = "admin",
    params(("id" = String, Path, description = "The user's id (`usr_...`)")),
    responses(
        (status = 200, description = "The user", body = User),
        (status = 404, description = "No such user in the caller's reach", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn get_user(
    State(state): State<AppState>,
    Who(who): Who,
    Path(id): Path<String>,
) -> Result<Json<User>, HttpError> {
    managed_user(&state, &who, &id).await.map(Json)
}

/// `PATCH /admin/users/{id}`: change role, disabled, display name, priority class.
#[utoipa::path(patch, path = "/admin/users/{id}", tag = "admin", request_body = UpdateUser,
    params(("id" = String, Path, description = "The user's id (`usr_...`)")),
    responses(
        (status = 200, description = "The user as changed (the change is in the audit trail)", body = User),
        (status = 400, description = "Not a priority class", body = sovra_core::error::ErrorEnvelope),
        (status = 403, description = "A role above the caller's (given or held), or `emergency` from a tenant admin", body = sovra_core::error::ErrorEnvelope),
        (status = 404, description = "No such user in the caller's reach", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn update_user(
    State(state): State<AppState>,
    Who(who): Who,
    Path(id): Path<String>,
    crate::extract::ApiJson(req): crate::extract::ApiJson<UpdateUser>,
) -> Result<Json<User>, HttpError> {
    let user = managed_user(&state, &who, &id).await?;
    for role in std::iter::once(user.role).chain(req.role) {
        if !who.role.may_grant(role) {
            return Err(forbidden(format!(
                "A {} may not manage or grant the role {role}.",
                who.role
            )));
        }
    }
    let priority = match &req.priority {
        Some(sent) => {
            let class = parse_priority(sent.as_deref())?;
            check_priority(&who, class)?;
            Some(class)
        }
        None => None,
    };
    state
        .identity
        .directory
        .update_user(
            &id,
            &UserChange {
                display_name: req.display_name,
                role: req.role,
                disabled: req.disabled,
                password_hash: None,
                priority,
            },
            &who.actor(),
        )
        .await
        .map_err(dir_err)?
        .map(Json)
        .ok_or_else(|| not_found("user", &id))
}

/// `DELETE /admin/users/{id}`: the user, their keys and sessions.
#[utoipa::path(delete, path = "/admin/users/{id}", tag = "admin",
    params(("id" = String, Path, description = "The user's id (`usr_...`)")),
    responses(
        (status = 200, description = "Deleted (the change is in the audit trail)", body = Deleted),
        (status = 403, description = "A user whose role is above the caller's", body = sovra_core::error::ErrorEnvelope),
        (status = 404, description = "No such user in the caller's reach", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn delete_user(
    State(state): State<AppState>,
    Who(who): Who,
    Path(id): Path<String>,
) -> Result<Json<Deleted>, HttpError> {
    let user = managed_user(&state, &who, &id).await?;
    if !who.role.may_grant(user.role) {
        return Err(forbidden(format!(
            "A {} may not delete a {}.",
            who.role, user.role
        )));
    }
    if !state
        .identity
        .directory
        .delete_user(&id, &who.actor())
        .await
        .map_err(dir_err)?
    {
        return Err(not_found("user", &id));
    }
    Ok(Json(Deleted {
        id,
        object: "user",
        deleted: true,
    }))
}

// ------------------------------------------------------------------- keys

/// One operator key, as the console may show it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KeyInfo {
    /// The key's first characters, then `…`.
    pub prefix: String,
    /// The first 8 hex digits of the key's SHA-256 (tells keys apart).
    pub fingerprint: String,
}

/// `GET /admin/keys` body.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KeyList {
    /// True when no operator key is configured.
    pub open: bool,
    /// The operator's static keys (`auth.api_keys`), by prefix; shown to platform admins only.
    pub data: Vec<KeyInfo>,
    /// The tenants in the caller's reach.
    pub tenants: Vec<String>,
    /// The directory's API keys in the caller's reach (a developer: their own), never the secret.
    pub api_keys: Vec<ApiKeyRecord>,
}

/// `POST /admin/keys` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateKey {
    /// A label (`ci`, `mobile app`).
    pub name: String,
    /// Default: the user's tenant, else the caller's.
    #[serde(default)]
    pub tenant: Option<String>,
    /// The user the key acts as (`usr_...`); default: the caller when they
    /// are a directory user; none: a tenant service key. Developers make keys
    /// for themselves only.
    #[serde(default)]
    pub user: Option<String>,
    /// A tenant service key: acts as no user, even when the caller is a
    /// directory user (admins only; not with `user`). How a signed-in admin
    /// makes a key for a tenant other than their own.
    #[serde(default)]
    pub service: bool,
    /// Default: the user's role (service keys: member); never above the
    /// caller's nor the user's.
    #[serde(default)]
    pub role: Option<Role>,
    /// Default: inference, embeddings, knowledge, conversations (`admin` only when asked).
    #[serde(default)]
    pub scopes: Option<Vec<Scope>>,
    /// The only models the key may use; absent: all.
    #[serde(default)]
    pub models: Option<Vec<String>>,
    /// Lifetime in seconds from now; absent: no expiry.
    #[serde(default)]
    pub expires_in: Option<u64>,
    /// The key's priority class: `emergency` (platform admins only),
    /// `citizen` or `batch` (administrators only); absent: its user's, else
    /// its tenant's (a key made with a key: that key's own class).
    #[serde(default)]
    #[schema(value_type = Option<PriorityClass>)]
    pub priority: Option<String>,
}

/// `PATCH /admin/keys/{id}` body; absent fields stay.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateKey {
    /// A priority class (`emergency`: platform admins only), or null to
    /// inherit its user's, else its tenant's.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<PriorityClass>)]
    pub priority: Option<Option<String>>,
}

/// `POST /admin/keys` answer: the only time the secret is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKey {
    /// The secret (`sk-sovra-...`); shown once, kept by nobody but the caller.
    pub secret: String,
    #[serde(flatten)]
    pub key: ApiKeyRecord,
}

/// Whether the caller may see and revoke `key`.
fn manages_key(who: &Principal, key: &ApiKeyRecord) -> bool {
    match who.role {
        Role::PlatformAdmin | Role::TenantAdmin => reaches(who, &key.tenant),
        _ => directory_user(who).is_some_and(|me| key.user.as_deref() == Some(me)),
    }
}

/// `GET /admin/keys`: the operator keys (platform admins) and the directory's keys in reach.
#[utoipa::path(get, path = "/admin/keys", tag = "admin",
    responses(
        (status = 200, description = "Keys by prefix (never a secret or hash), and the tenants in reach", body = KeyList),
        (status = 401, description = "No or bad credentials", body = sovra_core::error::ErrorEnvelope),
        (status = 403, description = "The caller's role or key scopes do not allow this", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn list_keys(
    State(state): State<AppState>,
    Who(who): Who,
) -> Result<Json<KeyList>, HttpError> {
    let dir = &state.identity.directory;
    let root = crate::identity::reach_root(&who);
    let (tenants, keys) = match root {
        None => (dir.all_tenants().await, dir.all_keys().await),
        Some(r) => (dir.tenants_under(r).await, dir.keys_under(r).await),
    };
    let tenants = tenants.map_err(dir_err)?;
    let keys = keys.map_err(dir_err)?;
    let platform = who.role == Role::PlatformAdmin;
    Ok(Json(KeyList {
        open: state.api_keys.is_open(),
        data: if platform {
            state
                .api_keys
                .shown()
                .iter()
                .map(|(prefix, fingerprint)| KeyInfo {
                    prefix: prefix.clone(),
                    fingerprint: fingerprint.clone(),
                })
                .collect()
        } else {
            Vec::new()
        },
        tenants: tenants.into_iter().map(|t| t.path.to_string()).collect(),
        api_keys: keys.into_iter().filter(|k| manages_key(&who, k)).collect(),
    }))
}

/// `POST /admin/keys`: make a key; the secret is in this answer only.
#[utoipa::path(post, path = "/admin/keys", tag = "admin", request_body = CreateKey,
    responses(
        (status = 201, description = "The key and its secret, shown once (the creation is in the audit trail, without the secret)", body = CreatedKey),
        (status = 400, description = "Invalid body or priority class, or no such user in that tenant", body = sovra_core::error::ErrorEnvelope),
        (status = 403, description = "Another user's key (developers), outside the caller's subtree, a role above theirs, scopes/models beyond the caller's key, or a priority class the caller may not grant", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn create_key(
    State(state): State<AppState>,
    Who(who): Who,
    crate::extract::ApiJson(req): crate::extract::ApiJson<CreateKey>,
) -> Result<impl IntoResponse, HttpError> {
    let dir = &state.identity.directory;
    let admin = matches!(who.role, Role::PlatformAdmin | Role::TenantAdmin);
    let mut priority = parse_priority(req.priority.as_deref())?;
    if priority.is_some() {
        check_priority(&who, priority)?;
    }
    if req.service && !admin {
        return Err(forbidden("Only administrators may create service keys."));
    }
    if req.service && req.user.is_some() {
        return Err(HttpError(ApiError::invalid_param(
            "service",
            "A service key acts as no user: give `service` or `user`, not both.",
        )));
    }
    let user_id = if req.service {
        None
    } else {
        req.user
            .clone()
            .or_else(|| directory_user(&who).map(str::to_owned))
    };
    if !admin && user_id.as_deref() != directory_user(&who) {
        return Err(forbidden("You may create API keys only for yourself."));
    }
    // A key with no user is a service key, whatever the body says: a caller
    // who acts as no user (a service key) makes one only if its role may.
    if user_id.is_none() && !admin {
        return Err(forbidden("Only administrators may create service keys."));
    }
    let user = match &user_id {
        Some(id) => Some(
            dir.user(id)
                .await
                .map_err(dir_err)?
                .filter(|u| reaches(&who, &u.tenant))
                .ok_or_else(|| {
                    HttpError(ApiError::invalid_param(
                        "user",
                        format!("No user '{id}' in your reach."),
                    ))
                })?,
        ),
        None => None,
    };
    // A key acting as a user is that user: nobody makes one for a user
    // whose role is above their own (a tenant admin for a platform admin).
    if let Some(u) = user.as_ref().filter(|u| !who.role.may_grant(u.role)) {
        return Err(forbidden(format!(
            "You may not create keys acting as {}: their role ({}) is above yours.",
            u.id, u.role
        )));
    }
    let tenant = match (&req.tenant, &user) {
        (Some(t), _) => parse_tenant(t, "tenant")?,
        (None, Some(u)) => u.tenant.clone(),
        (None, None) => who.tenant.clone(),
    };
    if !reaches(&who, &tenant) {
        return Err(forbidden(format!(
            "You may create keys only in '{}' and below.",
            who.tenant
        )));
    }
    let role = req
        .role
        .unwrap_or_else(|| user.as_ref().map_or(Role::Member, |u| u.role));
    if !who.role.may_grant(role) || user.as_ref().is_some_and(|u| !u.role.may_grant(role)) {
        return Err(forbidden(format!(
            "A key may not carry the role {role}: it is above yours or its user's."
        )));
    }
    let scopes = req.scopes.unwrap_or_else(|| {
        vec![
            Scope::Inference,
            Scope::Embeddings,
            Scope::Knowledge,
            Scope::Conversations,
        ]
    });
    // A key never mints a key with more than it has.
    if let Credential::ApiKey {
        scopes: mine,
        models: my_models,
        ..
    } = &who.credential
    {
        if let Some(s) = scopes.iter().find(|s| !mine.contains(s)) {
            return Err(forbidden(format!(
                "Your key lacks the scope {}; it cannot grant it.",
                s.as_str()
            )));
        }
        if let Some(allowed) = my_models {
            let within = req
                .models
                .as_ref()
                .is_some_and(|m| m.iter().all(|x| allowed.contains(x)));
            if !within {
                return Err(forbidden(
                    "Your key is limited to some models; a key it makes must be limited to them too.",
                ));
            }
        }
    }
    let now = crate::caller::now_ms();
    let mut expires_at_ms = req
        .expires_in
        .map(|s| now.saturating_add(i64::try_from(s.saturating_mul(1000)).unwrap_or(i64::MAX)));
    // A key never outlives the key that mints it: no expiry asked for is
    // the parent's; a later one is refused.
    let parent = match &who.credential {
        Credential::ApiKey { id, .. } => Some(
            dir.key(id)
                .await
                .map_err(dir_err)?
                .ok_or_else(|| forbidden("The key this request came with is gone."))?,
        ),
        _ => None,
    };
    if let Some(limit) = parent.as_ref().and_then(|p| p.expires_at_ms) {
        match expires_at_ms {
            None => expires_at_ms = Some(limit),
            Some(asked) if asked > limit => {
                return Err(forbidden(
                    "A key may not outlive the key that makes it: ask for an `expires_in` within your key's.",
                ));
            }
            Some(_) => {}
        }
    }
    // Nor, asked for no class, escapes the class its parent was given.
    if priority.is_none() {
        priority = parent.as_ref().and_then(|p| p.priority);
    }
    let secret = ApiKeySecret::generate();
    let key = dir
        .create_key(
            &NewApiKey {
                tenant,
                user: user.map(|u| u.id),
                name: req.name,
                role,
                scopes,
                models: req.models,
                priority,
                expires_at_ms,
                hash: secret.hash(),
                shown: secret.shown(),
                parent: parent.map(|p| p.id),
            },
            &who.actor(),
        )
        .await
        .map_err(dir_err)?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedKey {
            secret: secret.expose().to_owned(),
            key,
        }),
    ))
}

/// `GET /admin/keys/{id}`.
#[utoipa::path(get, path = "/admin/keys/{id}", tag = "admin",
    params(("id" = String, Path, description = "The key's id (`key_...`)")),
    responses(
        (status = 200, description = "The key (never its secret)", body = ApiKeyRecord),
        (status = 404, description = "No such key in the caller's reach", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn get_key(
    State(state): State<AppState>,
    Who(who): Who,
    Path(id): Path<String>,
) -> Result<Json<ApiKeyRecord>, HttpError> {
    state
        .identity
        .directory
        .key(&id)
        .await
        .map_err(dir_err)?
        .filter(|k| manages_key(&who, k))
        .map(Json)
        .ok_or_else(|| not_found("API key", &id))
}

/// `PATCH /admin/keys/{id}`: set or clear the key's priority class.
#[utoipa::path(patch, path = "/admin/keys/{id}", tag = "admin", request_body = UpdateKey,
    params(("id" = String, Path, description = "The key's id (`key_...`)")),
    responses(
        (status = 200, description = "The key as changed, never its secret (the change is in the audit trail)", body = ApiKeyRecord),
        (status = 400, description = "Not a priority class", body = sovra_core::error::ErrorEnvelope),
        (status = 403, description = "`emergency` from a tenant admin", body = sovra_core::error::ErrorEnvelope),
        (status = 404, description = "No such key in the caller's reach", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn update_key(
    State(state): State<AppState>,
    Who(who): Who,
    Path(id): Path<String>,
    crate::extract::ApiJson(req): crate::extract::ApiJson<UpdateKey>,
) -> Result<Json<ApiKeyRecord>, HttpError> {
    let dir = &state.identity.directory;
    let key = dir
        .key(&id)
        .await
        .map_err(dir_err)?
        .filter(|k| manages_key(&who, k))
        .ok_or_else(|| not_found("API key", &id))?;
    let Some(sent) = req.priority else {
        return Ok(Json(key));
    };
    let priority = parse_priority(sent.as_deref())?;
    check_priority(&who, priority)?;
    dir.set_key_priority(&id, priority, &who.actor())
        .await
        .map_err(dir_err)?
        .map(Json)
        .ok_or_else(|| not_found("API key", &id))
}

/// `DELETE /admin/keys/{id}`: revoke; the next request with the key gets `401`.
#[utoipa::path(delete, path = "/admin/keys/{id}", tag = "admin",
    params(("id" = String, Path, description = "The key's id (`key_...`)")),
    responses(
        (status = 200, description = "Revoked (the revocation is in the audit trail)", body = Deleted),
        (status = 404, description = "No such live key in the caller's reach", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn revoke_key(
    State(state): State<AppState>,
    Who(who): Who,
    Path(id): Path<String>,
) -> Result<Json<Deleted>, HttpError> {
    let dir = &state.identity.directory;
    let managed = dir
        .key(&id)
        .await
        .map_err(dir_err)?
        .is_some_and(|k| manages_key(&who, &k));
    if !managed || !dir.revoke_key(&id, &who.actor()).await.map_err(dir_err)? {
        return Err(not_found("API key", &id));
    }
    Ok(Json(Deleted {
        id,
        object: "api_key",
        deleted: true,
    }))
}

/// `GET /admin/whoami`: the caller as Sovra sees them.
#[utoipa::path(get, path = "/admin/whoami", tag = "admin",
    responses(
        (status = 200, description = "The caller's user, tenant, role and credential (scopes, models; never a secret)", body = serde_json::Value),
        (status = 401, description = "No or bad credentials", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn whoami(Who(who): Who) -> Json<Principal> {
    Json(who)
}
