//! The directory on both backends: tenants, users, API keys and sessions.
//!
//! [`impl_sql_directory!`] implements [`sovra_identity::Directory`] once for
//! SQLite and PostgreSQL (like `sql.rs` does for the [`Store`](crate::Store)).
//! Every change to a tenant, a user or a key appends its audit entry in the
//! same transaction (`tenant.create`, `tenant.update`, `tenant.delete`,
//! `user.create`, `user.update`, `user.delete`, `key.create`, `key.update`,
//! `key.revoke`), carrying ids, roles, scopes, priority classes and a key's
//! shown prefix: never a secret, a hash or a password. Sessions are not audited here; signing in is audited by the
//! sign-in code.

use rand::RngCore as _;
use sovra_identity::{DirectoryError, PriorityClass, Role, Scope, TenantKind, TenantPath};

use crate::StoreError;

impl From<StoreError> for DirectoryError {
    fn from(e: StoreError) -> Self {
        DirectoryError::Backend(e.to_string())
    }
}

/// Map a database error, naming `what` on a unique violation.
pub(crate) fn db_err(e: sqlx::Error, what: &str) -> DirectoryError {
    if let sqlx::Error::Database(d) = &e
        && d.is_unique_violation()
    {
        return DirectoryError::Conflict(what.to_owned());
    }
    DirectoryError::Backend(e.to_string())
}

pub(crate) fn backend(e: sqlx::Error) -> DirectoryError {
    DirectoryError::Backend(e.to_string())
}

/// `prefix_` and 24 hex digits of randomness.
pub(crate) fn new_id(prefix: &str) -> String {
    let mut b = [0u8; 12];
    rand::rng().fill_bytes(&mut b);
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{prefix}_{hex}")
}

pub(crate) fn corrupt(what: &str, value: &str) -> DirectoryError {
    DirectoryError::Backend(format!("stored {what} `{value}` is not valid"))
}

pub(crate) fn parse_path(s: &str) -> Result<TenantPath, DirectoryError> {
    TenantPath::parse(s).map_err(|_| corrupt("tenant path", s))
}

pub(crate) fn parse_role(s: &str) -> Result<Role, DirectoryError> {
    Role::parse(s).ok_or_else(|| corrupt("role", s))
}

pub(crate) fn parse_kind(s: &str) -> Result<TenantKind, DirectoryError> {
    TenantKind::parse(s).ok_or_else(|| corrupt("tenant kind", s))
}

pub(crate) fn parse_priority(s: Option<String>) -> Result<Option<PriorityClass>, DirectoryError> {
    s.map(|c| PriorityClass::parse(&c).ok_or_else(|| corrupt("priority class", &c)))
        .transpose()
}

pub(crate) fn priority_text(p: Option<PriorityClass>) -> Option<&'static str> {
    p.map(PriorityClass::as_str)
}

/// Scopes are kept as `inference,embeddings`.
pub(crate) fn scopes_to_text(scopes: &[Scope]) -> String {
    let mut v: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
    v.sort_unstable();
    v.dedup();
    v.join(",")
}

/// Scopes read back in their declared order, without repeats.
pub(crate) fn scopes_from_text(s: &str) -> Result<Vec<Scope>, DirectoryError> {
    let mut v = s
        .split(',')
        .filter(|x| !x.is_empty())
        .map(|x| Scope::parse(x).ok_or_else(|| corrupt("scope", x)))
        .collect::<Result<Vec<_>, _>>()?;
    v.sort_unstable();
    v.dedup();
    Ok(v)
}

pub(crate) fn models_to_text(models: &Option<Vec<String>>) -> Option<String> {
    models
        .as_ref()
        .map(|m| serde_json::Value::from(m.clone()).to_string())
}

pub(crate) fn models_from_text(s: Option<String>) -> Result<Option<Vec<String>>, DirectoryError> {
    s.map(|t| serde_json::from_str(&t).map_err(|_| corrupt("model list", &t)))
        .transpose()
}

/// `LIKE` pattern for a tenant's strict descendants (paths are
/// `[a-z0-9-/]`, so they hold no `LIKE` wildcard).
pub(crate) fn below(root: &TenantPath) -> String {
    format!("{}/%", root.as_str())
}

/// Implement [`sovra_identity::Directory`] for `$store` (the same fields and
/// helpers [`impl_sql_store!`](crate::sql) relies on) over database `$db`.
macro_rules! impl_sql_directory {
    ($store:ty, $db:ty) => {
        impl $store {
            fn tenant_row(
                row: &<$db as sqlx::Database>::Row,
            ) -> Result<sovra_identity::Tenant, sovra_identity::DirectoryError> {
                use sqlx::Row as _;
                use $crate::directory::backend;
                let path: String = row.try_get("path").map_err(backend)?;
                let kind: String = row.try_get("kind").map_err(backend)?;
                Ok(sovra_identity::Tenant {
                    path: $crate::directory::parse_path(&path)?,
                    name: row.try_get("name").map_err(backend)?,
                    kind: $crate::directory::parse_kind(&kind)?,
                    priority: $crate::directory::parse_priority(
                        row.try_get("priority").map_err(backend)?,
                    )?,
                    created_at_ms: row.try_get("created_at").map_err(backend)?,
                })
            }

            fn user_row(
                row: &<$db as sqlx::Database>::Row,
            ) -> Result<(sovra_identity::User, Option<String>), sovra_identity::DirectoryError>
            {
                use sqlx::Row as _;
                use $crate::directory::backend;
                let tenant: String = row.try_get("tenant").map_err(backend)?;
                let role: String = row.try_get("role").map_err(backend)?;
                let disabled: i64 = row.try_get("disabled").map_err(backend)?;
                let password_hash: Option<String> =
                    row.try_get("password_hash").map_err(backend)?;
                let issuer: Option<String> = row.try_get("oidc_issuer").map_err(backend)?;
                let subject: Option<String> = row.try_get("oidc_subject").map_err(backend)?;
                let user = sovra_identity::User {
                    id: row.try_get("id").map_err(backend)?,
                    tenant: $crate::directory::parse_path(&tenant)?,
                    name: row.try_get("name").map_err(backend)?,
                    display_name: row.try_get("display_name").map_err(backend)?,
                    role: $crate::directory::parse_role(&role)?,
                    disabled: disabled != 0,
                    has_password: password_hash.is_some(),
                    oidc: issuer.zip(subject),
                    priority: $crate::directory::parse_priority(
                        row.try_get("priority").map_err(backend)?,
                    )?,
                    created_at_ms: row.try_get("created_at").map_err(backend)?,
                };
                Ok((user, password_hash))
            }

            fn key_row(
                row: &<$db as sqlx::Database>::Row,
            ) -> Result<sovra_identity::ApiKeyRecord, sovra_identity::DirectoryError> {
                use sqlx::Row as _;
                use $crate::directory::backend;
                let tenant: String = row.try_get("tenant").map_err(backend)?;
                let role: String = row.try_get("role").map_err(backend)?;
                let scopes: String = row.try_get("scopes").map_err(backend)?;
                Ok(sovra_identity::ApiKeyRecord {
                    id: row.try_get("id").map_err(backend)?,
                    tenant: $crate::directory::parse_path(&tenant)?,
                    user: row.try_get("user_id").map_err(backend)?,
                    name: row.try_get("name").map_err(backend)?,
                    shown: row.try_get("shown").map_err(backend)?,
                    role: $crate::directory::parse_role(&role)?,
                    scopes: $crate::directory::scopes_from_text(&scopes)?,
                    models: $crate::directory::models_from_text(
                        row.try_get("models").map_err(backend)?,
                    )?,
                    priority: $crate::directory::parse_priority(
                        row.try_get("priority").map_err(backend)?,
                    )?,
                    expires_at_ms: row.try_get("expires_at").map_err(backend)?,
                    revoked_at_ms: row.try_get("revoked_at").map_err(backend)?,
                    created_at_ms: row.try_get("created_at").map_err(backend)?,
                    created_by: row.try_get("created_by").map_err(backend)?,
                    parent: row.try_get("parent_id").map_err(backend)?,
                })
            }

            async fn audit_dir(
                &self,
                conn: &mut <$db as sqlx::Database>::Connection,
                actor: &str,
                action: &str,
                tenant: &sovra_identity::TenantPath,
                subject: Option<&str>,
                details: serde_json::Value,
            ) -> Result<(), sovra_identity::DirectoryError> {
                self.append_audit_in(
                    conn,
                    sovra_audit::NewAuditEntry {
                        actor: actor.to_owned(),
                        action: action.to_owned(),
                        tenant: tenant.as_str().to_owned(),
                        subject: subject.map(str::to_owned),
                        details,
                    },
                )
                .await?;
                Ok(())
            }

            /// Refuse the change being made in `conn` when it leaves no enabled
            /// platform admin: the platform would have nobody to run it, and a
            /// server started on it would count as a fresh, open one. Called
            /// after the change's audit entry, whose write holds the audit head
            /// row's lock, so concurrent changes are counted one after another.
            async fn keep_a_platform_admin(
                &self,
                conn: &mut <$db as sqlx::Database>::Connection,
            ) -> Result<(), sovra_identity::DirectoryError> {
                use sqlx::Row as _;
                use $crate::directory::backend;
                let n: i64 = sqlx::query(
                    "SELECT COUNT(*) AS n FROM users WHERE role = 'platform_admin' AND disabled = 0",
                )
                .fetch_one(&mut *conn)
                .await
                .map_err(backend)?
                .try_get("n")
                .map_err(backend)?;
                if n == 0 {
                    return Err(sovra_identity::DirectoryError::Invalid(
                        "this is the last enabled platform admin: make another platform admin first (sovra admin user create --role platform_admin)".into(),
                    ));
                }
                Ok(())
            }

            async fn tenants_where(
                &self,
                root: Option<&sovra_identity::TenantPath>,
            ) -> Result<Vec<sovra_identity::Tenant>, sovra_identity::DirectoryError> {
                let rows = match root {
                    Some(root) => sqlx::query(
                        "SELECT path, name, kind, priority, created_at FROM tenants WHERE path = $1 OR path LIKE $2 ORDER BY path",
                    )
                    .bind(root.as_str())
                    .bind($crate::directory::below(root))
                    .fetch_all(&self.pool)
                    .await,
                    None => sqlx::query("SELECT path, name, kind, priority, created_at FROM tenants ORDER BY path")
                        .fetch_all(&self.pool)
                        .await,
                }
                .map_err($crate::directory::backend)?;
                rows.iter().map(Self::tenant_row).collect()
            }

            async fn users_where(
                &self,
                root: Option<&sovra_identity::TenantPath>,
            ) -> Result<Vec<sovra_identity::User>, sovra_identity::DirectoryError> {
                const COLS: &str = "SELECT id, tenant, name, display_name, role, disabled, password_hash, oidc_issuer, oidc_subject, priority, created_at FROM users";
                let rows = match root {
                    Some(root) => sqlx::query(&format!(
                        "{COLS} WHERE tenant = $1 OR tenant LIKE $2 ORDER BY tenant, name"
                    ))
                    .bind(root.as_str())
                    .bind($crate::directory::below(root))
                    .fetch_all(&self.pool)
                    .await,
                    None => sqlx::query(&format!("{COLS} ORDER BY tenant, name"))
                        .fetch_all(&self.pool)
                        .await,
                }
                .map_err($crate::directory::backend)?;
                rows.iter().map(|r| Self::user_row(r).map(|(u, _)| u)).collect()
            }

            async fn keys_where(
                &self,
                root: Option<&sovra_identity::TenantPath>,
            ) -> Result<Vec<sovra_identity::ApiKeyRecord>, sovra_identity::DirectoryError> {
                const COLS: &str = "SELECT id, tenant, user_id, name, shown, role, scopes, models, expires_at, revoked_at, created_at, created_by, parent_id, priority FROM api_keys";
                let rows = match root {
                    Some(root) => sqlx::query(&format!(
                        "{COLS} WHERE tenant = $1 OR tenant LIKE $2 ORDER BY tenant, created_at, id"
                    ))
                    .bind(root.as_str())
                    .bind($crate::directory::below(root))
                    .fetch_all(&self.pool)
                    .await,
                    None => sqlx::query(&format!("{COLS} ORDER BY tenant, created_at, id"))
                        .fetch_all(&self.pool)
                        .await,
                }
                .map_err($crate::directory::backend)?;
                rows.iter().map(Self::key_row).collect()
            }
        }

        #[async_trait::async_trait]
        impl sovra_identity::Directory for $store {
            async fn create_tenant(
                &self,
                tenant: &sovra_identity::NewTenant,
                actor: &str,
            ) -> Result<sovra_identity::Tenant, sovra_identity::DirectoryError> {
                use sqlx::Row as _;
                use $crate::directory::{backend, db_err};
                let now = self.core.now_ms();
                let mut tx = self.begin_write().await?;
                if let Some(parent) = tenant.path.parent() {
                    let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM tenants WHERE path = $1")
                        .bind(parent.as_str())
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(backend)?
                        .try_get("n")
                        .map_err(backend)?;
                    if n == 0 {
                        return Err(sovra_identity::DirectoryError::Invalid(format!(
                            "the parent tenant `{parent}` does not exist"
                        )));
                    }
                }
                sqlx::query("INSERT INTO tenants (path, name, kind, priority, created_at) VALUES ($1, $2, $3, $4, $5)")
                    .bind(tenant.path.as_str())
                    .bind(&tenant.name)
                    .bind(tenant.kind.as_str())
                    .bind($crate::directory::priority_text(tenant.priority))
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| db_err(e, &format!("tenant `{}`", tenant.path)))?;
                self.audit_dir(
                    &mut tx,
                    actor,
                    "tenant.create",
                    &tenant.path,
                    None,
                    serde_json::json!({
                        "path": tenant.path.as_str(),
                        "kind": tenant.kind.as_str(),
                        "priority": tenant.priority,
                    }),
                )
                .await?;
                tx.commit().await.map_err(backend)?;
                Ok(sovra_identity::Tenant {
                    path: tenant.path.clone(),
                    name: tenant.name.clone(),
                    kind: tenant.kind,
                    priority: tenant.priority,
                    created_at_ms: now,
                })
            }

            async fn tenant(
                &self,
                path: &sovra_identity::TenantPath,
            ) -> Result<Option<sovra_identity::Tenant>, sovra_identity::DirectoryError> {
                let row = sqlx::query("SELECT path, name, kind, priority, created_at FROM tenants WHERE path = $1")
                    .bind(path.as_str())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err($crate::directory::backend)?;
                row.as_ref().map(Self::tenant_row).transpose()
            }

            async fn tenants_under(
                &self,
                root: &sovra_identity::TenantPath,
            ) -> Result<Vec<sovra_identity::Tenant>, sovra_identity::DirectoryError> {
                self.tenants_where(Some(root)).await
            }

            async fn all_tenants(
                &self,
            ) -> Result<Vec<sovra_identity::Tenant>, sovra_identity::DirectoryError> {
                self.tenants_where(None).await
            }

            async fn delete_tenant(
                &self,
                path: &sovra_identity::TenantPath,
                actor: &str,
            ) -> Result<bool, sovra_identity::DirectoryError> {
                use sqlx::Row as _;
                use $crate::directory::backend;
                if path.as_str() == sovra_identity::tenant::PUBLIC {
                    return Err(sovra_identity::DirectoryError::Invalid(
                        "the public tenant cannot be deleted".into(),
                    ));
                }
                let mut tx = self.begin_write().await?;
                let row = sqlx::query(
                    "SELECT
                        (SELECT COUNT(*) FROM tenants WHERE path LIKE $2) AS children,
                        (SELECT COUNT(*) FROM users WHERE tenant = $1) AS users,
                        (SELECT COUNT(*) FROM api_keys WHERE tenant = $1) AS keys",
                )
                .bind(path.as_str())
                .bind($crate::directory::below(path))
                .fetch_one(&mut *tx)
                .await
                .map_err(backend)?;
                let children: i64 = row.try_get("children").map_err(backend)?;
                let users: i64 = row.try_get("users").map_err(backend)?;
                let keys: i64 = row.try_get("keys").map_err(backend)?;
                if children + users + keys > 0 {
                    return Err(sovra_identity::DirectoryError::Invalid(format!(
                        "tenant `{path}` still has {children} sub-tenant(s), {users} user(s) and {keys} key(s)"
                    )));
                }
                let gone = sqlx::query("DELETE FROM tenants WHERE path = $1")
                    .bind(path.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?
                    .rows_affected();
                if gone == 0 {
                    return Ok(false);
                }
                self.audit_dir(
                    &mut tx,
                    actor,
                    "tenant.delete",
                    path,
                    None,
                    serde_json::json!({ "path": path.as_str() }),
                )
                .await?;
                tx.commit().await.map_err(backend)?;
                Ok(true)
            }

            async fn set_tenant_priority(
                &self,
                path: &sovra_identity::TenantPath,
                priority: Option<sovra_identity::PriorityClass>,
                actor: &str,
            ) -> Result<Option<sovra_identity::Tenant>, sovra_identity::DirectoryError> {
                use $crate::directory::backend;
                let mut tx = self.begin_write().await?;
                let changed = sqlx::query("UPDATE tenants SET priority = $2 WHERE path = $1")
                    .bind(path.as_str())
                    .bind($crate::directory::priority_text(priority))
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?
                    .rows_affected();
                if changed == 0 {
                    return Ok(None);
                }
                let row = sqlx::query("SELECT path, name, kind, priority, created_at FROM tenants WHERE path = $1")
                    .bind(path.as_str())
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(backend)?;
                let tenant = Self::tenant_row(&row)?;
                self.audit_dir(
                    &mut tx,
                    actor,
                    "tenant.update",
                    path,
                    None,
                    serde_json::json!({ "path": path.as_str(), "priority": priority }),
                )
                .await?;
                tx.commit().await.map_err(backend)?;
                Ok(Some(tenant))
            }

            async fn tenant_priority(
                &self,
                path: &sovra_identity::TenantPath,
            ) -> Result<Option<sovra_identity::PriorityClass>, sovra_identity::DirectoryError> {
                use sqlx::Row as _;
                use $crate::directory::backend;
                // The path and its ancestors (at most MAX_DEPTH of them), by
                // primary key: the nearest one with a class wins.
                let chain: Vec<sovra_identity::TenantPath> = path.self_and_ancestors().collect();
                let marks: Vec<String> = (1..=chain.len()).map(|i| format!("${i}")).collect();
                let sql = format!(
                    "SELECT path, priority FROM tenants WHERE priority IS NOT NULL AND path IN ({})",
                    marks.join(", ")
                );
                let mut query = sqlx::query(&sql);
                for t in &chain {
                    query = query.bind(t.as_str());
                }
                let rows = query.fetch_all(&self.pool).await.map_err(backend)?;
                let mut classes = Vec::with_capacity(rows.len());
                for row in &rows {
                    let p: String = row.try_get("path").map_err(backend)?;
                    let c: String = row.try_get("priority").map_err(backend)?;
                    classes.push((p, c));
                }
                let nearest = chain.iter().find_map(|t| {
                    classes
                        .iter()
                        .find(|(p, _)| p == t.as_str())
                        .map(|(_, c)| c.clone())
                });
                $crate::directory::parse_priority(nearest)
            }

            async fn create_user(
                &self,
                user: &sovra_identity::NewUser,
                actor: &str,
            ) -> Result<sovra_identity::User, sovra_identity::DirectoryError> {
                use sqlx::Row as _;
                use $crate::directory::{backend, db_err};
                if user.name.trim().is_empty() || user.name.len() > 254 {
                    return Err(sovra_identity::DirectoryError::Invalid(
                        "a user's name must be 1-254 characters".into(),
                    ));
                }
                let now = self.core.now_ms();
                let id = $crate::directory::new_id("usr");
                let mut tx = self.begin_write().await?;
                let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM tenants WHERE path = $1")
                    .bind(user.tenant.as_str())
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(backend)?
                    .try_get("n")
                    .map_err(backend)?;
                if n == 0 {
                    return Err(sovra_identity::DirectoryError::NotFound(format!(
                        "tenant `{}`",
                        user.tenant
                    )));
                }
                let (issuer, subject) = match &user.oidc {
                    Some((i, s)) => (Some(i.as_str()), Some(s.as_str())),
                    None => (None, None),
                };
                sqlx::query(
                    "INSERT INTO users (id, tenant, name, display_name, role, disabled, password_hash, oidc_issuer, oidc_subject, priority, created_at)
                     VALUES ($1, $2, $3, $4, $5, 0, $6, $7, $8, $9, $10)",
                )
                .bind(&id)
                .bind(user.tenant.as_str())
                .bind(&user.name)
                .bind(&user.display_name)
                .bind(user.role.as_str())
                .bind(user.password_hash.as_deref())
                .bind(issuer)
                .bind(subject)
                .bind($crate::directory::priority_text(user.priority))
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(|e| db_err(e, &format!("user `{}`", user.name)))?;
                self.audit_dir(
                    &mut tx,
                    actor,
                    "user.create",
                    &user.tenant,
                    Some(&id),
                    serde_json::json!({
                        "id": id,
                        "role": user.role.as_str(),
                        "password": user.password_hash.is_some(),
                        "oidc": user.oidc.is_some(),
                        "priority": user.priority,
                    }),
                )
                .await?;
                tx.commit().await.map_err(backend)?;
                Ok(sovra_identity::User {
                    id,
                    tenant: user.tenant.clone(),
                    name: user.name.clone(),
                    display_name: user.display_name.clone(),
                    role: user.role,
                    disabled: false,
                    has_password: user.password_hash.is_some(),
                    oidc: user.oidc.clone(),
                    priority: user.priority,
                    created_at_ms: now,
                })
            }

            async fn user(
                &self,
                id: &str,
            ) -> Result<Option<sovra_identity::User>, sovra_identity::DirectoryError> {
                let row = sqlx::query(
                    "SELECT id, tenant, name, display_name, role, disabled, password_hash, oidc_issuer, oidc_subject, priority, created_at FROM users WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err($crate::directory::backend)?;
                Ok(row.as_ref().map(Self::user_row).transpose()?.map(|(u, _)| u))
            }

            async fn user_by_name(
                &self,
                name: &str,
            ) -> Result<Option<(sovra_identity::User, Option<String>)>, sovra_identity::DirectoryError>
            {
                let row = sqlx::query(
                    "SELECT id, tenant, name, display_name, role, disabled, password_hash, oidc_issuer, oidc_subject, priority, created_at FROM users WHERE name = $1",
                )
                .bind(name)
                .fetch_optional(&self.pool)
                .await
                .map_err($crate::directory::backend)?;
                row.as_ref().map(Self::user_row).transpose()
            }

            async fn user_by_oidc(
                &self,
                issuer: &str,
                subject: &str,
            ) -> Result<Option<sovra_identity::User>, sovra_identity::DirectoryError> {
                let row = sqlx::query(
                    "SELECT id, tenant, name, display_name, role, disabled, password_hash, oidc_issuer, oidc_subject, priority, created_at FROM users WHERE oidc_issuer = $1 AND oidc_subject = $2",
                )
                .bind(issuer)
                .bind(subject)
                .fetch_optional(&self.pool)
                .await
                .map_err($crate::directory::backend)?;
                Ok(row.as_ref().map(Self::user_row).transpose()?.map(|(u, _)| u))
            }

            async fn users_under(
                &self,
                root: &sovra_identity::TenantPath,
            ) -> Result<Vec<sovra_identity::User>, sovra_identity::DirectoryError> {
                self.users_where(Some(root)).await
            }

            async fn all_users(
                &self,
            ) -> Result<Vec<sovra_identity::User>, sovra_identity::DirectoryError> {
                self.users_where(None).await
            }

            async fn update_user(
                &self,
                id: &str,
                change: &sovra_identity::directory::UserChange,
                actor: &str,
            ) -> Result<Option<sovra_identity::User>, sovra_identity::DirectoryError> {
                use $crate::directory::backend;
                let mut tx = self.begin_write().await?;
                let row = sqlx::query(
                    "SELECT id, tenant, name, display_name, role, disabled, password_hash, oidc_issuer, oidc_subject, priority, created_at FROM users WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(backend)?;
                let Some((mut user, mut hash)) = row.as_ref().map(Self::user_row).transpose()? else {
                    return Ok(None);
                };
                let was_platform_admin =
                    user.role == sovra_identity::Role::PlatformAdmin && !user.disabled;
                if let Some(d) = &change.display_name {
                    user.display_name = d.clone();
                }
                if let Some(r) = change.role {
                    user.role = r;
                }
                if let Some(d) = change.disabled {
                    user.disabled = d;
                }
                if let Some(h) = &change.password_hash {
                    hash = Some(h.clone());
                    user.has_password = true;
                }
                if let Some(p) = change.priority {
                    user.priority = p;
                }
                sqlx::query(
                    "UPDATE users SET display_name = $2, role = $3, disabled = $4, password_hash = $5, priority = $6 WHERE id = $1",
                )
                .bind(id)
                .bind(&user.display_name)
                .bind(user.role.as_str())
                .bind(i64::from(user.disabled))
                .bind(hash.as_deref())
                .bind($crate::directory::priority_text(user.priority))
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
                if user.disabled {
                    // A disabled user's web sessions end now.
                    sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                }
                let mut details = serde_json::Map::new();
                details.insert("id".into(), id.into());
                if change.display_name.is_some() {
                    details.insert("display_name".into(), true.into());
                }
                if let Some(r) = change.role {
                    details.insert("role".into(), r.as_str().into());
                }
                if let Some(d) = change.disabled {
                    details.insert("disabled".into(), d.into());
                }
                if change.password_hash.is_some() {
                    details.insert("password".into(), true.into());
                }
                if let Some(p) = change.priority {
                    details.insert("priority".into(), serde_json::json!(p));
                }
                let tenant = user.tenant.clone();
                self.audit_dir(
                    &mut tx,
                    actor,
                    "user.update",
                    &tenant,
                    Some(id),
                    serde_json::Value::Object(details),
                )
                .await?;
                if was_platform_admin
                    && (user.disabled || user.role != sovra_identity::Role::PlatformAdmin)
                {
                    self.keep_a_platform_admin(&mut tx).await?;
                }
                tx.commit().await.map_err(backend)?;
                Ok(Some(user))
            }

            async fn delete_user(
                &self,
                id: &str,
                actor: &str,
            ) -> Result<bool, sovra_identity::DirectoryError> {
                use sqlx::Row as _;
                use $crate::directory::backend;
                let mut tx = self.begin_write().await?;
                let Some(row) = sqlx::query("SELECT tenant, role FROM users WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(backend)?
                else {
                    return Ok(false);
                };
                let tenant: String = row.try_get("tenant").map_err(backend)?;
                let role: String = row.try_get("role").map_err(backend)?;
                let tenant = $crate::directory::parse_path(&tenant)?;
                let sessions = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?
                    .rows_affected();
                let keys = sqlx::query("DELETE FROM api_keys WHERE user_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?
                    .rows_affected();
                sqlx::query("DELETE FROM users WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                self.audit_dir(
                    &mut tx,
                    actor,
                    "user.delete",
                    &tenant,
                    Some(id),
                    serde_json::json!({ "id": id, "keys": keys, "sessions": sessions }),
                )
                .await?;
                if role == sovra_identity::Role::PlatformAdmin.as_str() {
                    self.keep_a_platform_admin(&mut tx).await?;
                }
                tx.commit().await.map_err(backend)?;
                Ok(true)
            }

            async fn platform_admins(&self) -> Result<u64, sovra_identity::DirectoryError> {
                use sqlx::Row as _;
                use $crate::directory::backend;
                let n: i64 = sqlx::query(
                    "SELECT COUNT(*) AS n FROM users WHERE role = 'platform_admin' AND disabled = 0",
                )
                .fetch_one(&self.pool)
                .await
                .map_err(backend)?
                .try_get("n")
                .map_err(backend)?;
                Ok(u64::try_from(n).unwrap_or(0))
            }

            async fn create_key(
                &self,
                key: &sovra_identity::NewApiKey,
                actor: &str,
            ) -> Result<sovra_identity::ApiKeyRecord, sovra_identity::DirectoryError> {
                use sqlx::Row as _;
                use $crate::directory::{backend, db_err};
                let now = self.core.now_ms();
                let id = $crate::directory::new_id("key");
                let mut tx = self.begin_write().await?;
                let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM tenants WHERE path = $1")
                    .bind(key.tenant.as_str())
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(backend)?
                    .try_get("n")
                    .map_err(backend)?;
                if n == 0 {
                    return Err(sovra_identity::DirectoryError::NotFound(format!(
                        "tenant `{}`",
                        key.tenant
                    )));
                }
                if let Some(user) = &key.user {
                    let row = sqlx::query("SELECT tenant FROM users WHERE id = $1")
                        .bind(user)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(backend)?;
                    let Some(row) = row else {
                        return Err(sovra_identity::DirectoryError::NotFound(format!("user `{user}`")));
                    };
                    let t: String = row.try_get("tenant").map_err(backend)?;
                    if t != key.tenant.as_str() {
                        return Err(sovra_identity::DirectoryError::Invalid(format!(
                            "user `{user}` belongs to tenant `{t}`, not `{}`",
                            key.tenant
                        )));
                    }
                }
                let scopes = $crate::directory::scopes_to_text(&key.scopes);
                sqlx::query(
                    "INSERT INTO api_keys (id, tenant, user_id, name, shown, hash, role, scopes, models, expires_at, revoked_at, created_at, created_by, parent_id, priority)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, $11, $12, $13, $14)",
                )
                .bind(&id)
                .bind(key.tenant.as_str())
                .bind(key.user.as_deref())
                .bind(&key.name)
                .bind(&key.shown)
                .bind(&key.hash)
                .bind(key.role.as_str())
                .bind(&scopes)
                .bind($crate::directory::models_to_text(&key.models))
                .bind(key.expires_at_ms)
                .bind(now)
                .bind(actor)
                .bind(key.parent.as_deref())
                .bind($crate::directory::priority_text(key.priority))
                .execute(&mut *tx)
                .await
                .map_err(|e| db_err(e, "an API key with this secret"))?;
                self.audit_dir(
                    &mut tx,
                    actor,
                    "key.create",
                    &key.tenant,
                    key.user.as_deref(),
                    serde_json::json!({
                        "id": id,
                        "shown": key.shown,
                        "role": key.role.as_str(),
                        "scopes": key.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
                        "models": key.models,
                        "expires_at_ms": key.expires_at_ms,
                        "parent": key.parent,
                        "priority": key.priority,
                    }),
                )
                .await?;
                tx.commit().await.map_err(backend)?;
                let mut scopes = key.scopes.clone();
                scopes.sort_unstable();
                scopes.dedup();
                Ok(sovra_identity::ApiKeyRecord {
                    id,
                    tenant: key.tenant.clone(),
                    user: key.user.clone(),
                    name: key.name.clone(),
                    shown: key.shown.clone(),
                    role: key.role,
                    scopes,
                    models: key.models.clone(),
                    priority: key.priority,
                    expires_at_ms: key.expires_at_ms,
                    revoked_at_ms: None,
                    created_at_ms: now,
                    created_by: actor.to_owned(),
                    parent: key.parent.clone(),
                })
            }

            async fn key_by_hash(
                &self,
                hash: &str,
            ) -> Result<Option<sovra_identity::ApiKeyRecord>, sovra_identity::DirectoryError> {
                let row = sqlx::query(
                    "SELECT id, tenant, user_id, name, shown, role, scopes, models, expires_at, revoked_at, created_at, created_by, parent_id, priority FROM api_keys WHERE hash = $1",
                )
                .bind(hash)
                .fetch_optional(&self.pool)
                .await
                .map_err($crate::directory::backend)?;
                row.as_ref().map(Self::key_row).transpose()
            }

            async fn key(
                &self,
                id: &str,
            ) -> Result<Option<sovra_identity::ApiKeyRecord>, sovra_identity::DirectoryError> {
                let row = sqlx::query(
                    "SELECT id, tenant, user_id, name, shown, role, scopes, models, expires_at, revoked_at, created_at, created_by, parent_id, priority FROM api_keys WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err($crate::directory::backend)?;
                row.as_ref().map(Self::key_row).transpose()
            }

            async fn keys_under(
                &self,
                root: &sovra_identity::TenantPath,
            ) -> Result<Vec<sovra_identity::ApiKeyRecord>, sovra_identity::DirectoryError> {
                self.keys_where(Some(root)).await
            }

            async fn all_keys(
                &self,
            ) -> Result<Vec<sovra_identity::ApiKeyRecord>, sovra_identity::DirectoryError> {
                self.keys_where(None).await
            }

            async fn revoke_key(
                &self,
                id: &str,
                actor: &str,
            ) -> Result<bool, sovra_identity::DirectoryError> {
                use sqlx::Row as _;
                use $crate::directory::backend;
                let now = self.core.now_ms();
                let mut tx = self.begin_write().await?;
                let Some(row) = sqlx::query(
                    "SELECT tenant, user_id, shown FROM api_keys WHERE id = $1 AND revoked_at IS NULL",
                )
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(backend)?
                else {
                    return Ok(false);
                };
                let tenant: String = row.try_get("tenant").map_err(backend)?;
                let tenant = $crate::directory::parse_path(&tenant)?;
                let user: Option<String> = row.try_get("user_id").map_err(backend)?;
                let shown: String = row.try_get("shown").map_err(backend)?;
                // Every live key minted from this one, and from those, down
                // the lineage: they go with it, in the same transaction.
                let minted = sqlx::query(
                    "WITH RECURSIVE lineage (id) AS (
                         SELECT id FROM api_keys WHERE parent_id = $1
                         UNION SELECT k.id FROM api_keys k JOIN lineage l ON k.parent_id = l.id
                     )
                     SELECT k.id AS id, k.tenant AS tenant, k.user_id AS user_id, k.shown AS shown
                     FROM api_keys k JOIN lineage l ON k.id = l.id
                     WHERE k.revoked_at IS NULL ORDER BY k.id",
                )
                .bind(id)
                .fetch_all(&mut *tx)
                .await
                .map_err(backend)?;
                sqlx::query("UPDATE api_keys SET revoked_at = $2 WHERE id = $1")
                    .bind(id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                self.audit_dir(
                    &mut tx,
                    actor,
                    "key.revoke",
                    &tenant,
                    user.as_deref(),
                    serde_json::json!({ "id": id, "shown": shown }),
                )
                .await?;
                for child in minted {
                    let child_id: String = child.try_get("id").map_err(backend)?;
                    let child_tenant: String = child.try_get("tenant").map_err(backend)?;
                    let child_tenant = $crate::directory::parse_path(&child_tenant)?;
                    let child_user: Option<String> = child.try_get("user_id").map_err(backend)?;
                    let child_shown: String = child.try_get("shown").map_err(backend)?;
                    sqlx::query("UPDATE api_keys SET revoked_at = $2 WHERE id = $1")
                        .bind(&child_id)
                        .bind(now)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                    self.audit_dir(
                        &mut tx,
                        actor,
                        "key.revoke",
                        &child_tenant,
                        child_user.as_deref(),
                        serde_json::json!({ "id": child_id, "shown": child_shown, "with": id }),
                    )
                    .await?;
                }
                tx.commit().await.map_err(backend)?;
                Ok(true)
            }

            async fn set_key_priority(
                &self,
                id: &str,
                priority: Option<sovra_identity::PriorityClass>,
                actor: &str,
            ) -> Result<Option<sovra_identity::ApiKeyRecord>, sovra_identity::DirectoryError> {
                use $crate::directory::backend;
                let mut tx = self.begin_write().await?;
                let changed = sqlx::query("UPDATE api_keys SET priority = $2 WHERE id = $1")
                    .bind(id)
                    .bind($crate::directory::priority_text(priority))
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?
                    .rows_affected();
                if changed == 0 {
                    return Ok(None);
                }
                let row = sqlx::query(
                    "SELECT id, tenant, user_id, name, shown, role, scopes, models, expires_at, revoked_at, created_at, created_by, parent_id, priority FROM api_keys WHERE id = $1",
                )
                .bind(id)
                .fetch_one(&mut *tx)
                .await
                .map_err(backend)?;
                let key = Self::key_row(&row)?;
                self.audit_dir(
                    &mut tx,
                    actor,
                    "key.update",
                    &key.tenant,
                    key.user.as_deref(),
                    serde_json::json!({ "id": id, "shown": key.shown, "priority": priority }),
                )
                .await?;
                tx.commit().await.map_err(backend)?;
                Ok(Some(key))
            }

            async fn create_session(
                &self,
                session: &sovra_identity::Session,
            ) -> Result<(), sovra_identity::DirectoryError> {
                sqlx::query(
                    "INSERT INTO sessions (id, user_id, csrf, method, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&session.id)
                .bind(&session.user)
                .bind(&session.csrf)
                .bind(&session.method)
                .bind(session.created_at_ms)
                .bind(session.expires_at_ms)
                .execute(&self.pool)
                .await
                .map_err(|e| $crate::directory::db_err(e, "session"))?;
                Ok(())
            }

            async fn session(
                &self,
                id: &str,
                now_ms: i64,
            ) -> Result<Option<sovra_identity::Session>, sovra_identity::DirectoryError> {
                use sqlx::Row as _;
                use $crate::directory::backend;
                let row = sqlx::query(
                    "SELECT id, user_id, csrf, method, created_at, expires_at FROM sessions WHERE id = $1 AND expires_at > $2",
                )
                .bind(id)
                .bind(now_ms)
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
                row.map(|r| {
                    Ok(sovra_identity::Session {
                        id: r.try_get("id").map_err(backend)?,
                        user: r.try_get("user_id").map_err(backend)?,
                        csrf: r.try_get("csrf").map_err(backend)?,
                        method: r.try_get("method").map_err(backend)?,
                        created_at_ms: r.try_get("created_at").map_err(backend)?,
                        expires_at_ms: r.try_get("expires_at").map_err(backend)?,
                    })
                })
                .transpose()
            }

            async fn delete_session(&self, id: &str) -> Result<bool, sovra_identity::DirectoryError> {
                let n = sqlx::query("DELETE FROM sessions WHERE id = $1")
                    .bind(id)
                    .execute(&self.pool)
                    .await
                    .map_err($crate::directory::backend)?
                    .rows_affected();
                Ok(n > 0)
            }
        }
    };
}

pub(crate) use impl_sql_directory;
