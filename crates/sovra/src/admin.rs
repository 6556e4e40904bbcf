//! `sovra admin`: tenants, users and API keys, straight on the store the
//! configuration names (like `sovra data`; `sovra serve` may be running).
//!
//! The command line is the operator's own authority (whoever can read the
//! store's files already holds everything), so it is not limited by role;
//! every change is audited by the directory with the actor `cli:<os user>`.
//! `bootstrap` makes the first platform admin and prints a platform-admin
//! API key once; it refuses when an enabled platform admin exists. Priority
//! classes (`--priority`, `set-priority`) are the operator's to grant, any
//! of them, `emergency` included. There is
//! never a default password: a password is read from standard input only
//! when `--password-stdin` is given.

use std::io::BufRead as _;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use figment::providers::Serialized;
use serde_json::json;
use sovra_config::Settings;
use sovra_identity::directory::UserChange;
use sovra_identity::{
    ApiKeySecret, Directory, NewApiKey, NewTenant, NewUser, PriorityClass, Role, Scope, TenantKind,
    TenantPath,
};

use crate::setup::{actor, emit, open_store};

#[derive(Debug, Args)]
pub struct AdminArgs {
    #[command(subcommand)]
    pub command: AdminCommand,
    /// Config file (TOML); the store is the one `serve` would use. Also SOVRA_CONFIG.
    #[arg(long, global = true, env = "SOVRA_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where Sovra keeps its database [default: ./sovra-data].
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create the first platform admin and print a platform-admin API key (once).
    Bootstrap {
        /// The admin's sign-in name (e.g. an e-mail address).
        #[arg(long)]
        name: String,
        /// The tenant the admin belongs to (created if missing).
        #[arg(long, default_value = "platform")]
        tenant: String,
        /// Read a local password (12+ characters) from standard input's first line.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Tenants.
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// Users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// API keys.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant (its parent must exist).
    Create {
        /// The path, e.g. `nation/health/vaccines`.
        path: String,
        /// nation, agency, team, startup or public.
        #[arg(long, default_value = "team")]
        kind: String,
        #[arg(long)]
        name: Option<String>,
        /// Priority class of the tenant and what it holds: emergency, citizen or batch (default: the parent's).
        #[arg(long)]
        priority: Option<PriorityClass>,
    },
    /// Set a tenant's priority class: emergency, citizen, batch, or inherit (the parent's).
    SetPriority { path: String, class: String },
    /// List tenants (under --under, default all).
    List {
        #[arg(long)]
        under: Option<String>,
    },
    /// Delete an empty tenant.
    Delete { path: String },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        tenant: String,
        /// platform_admin, tenant_admin, developer, member or auditor.
        #[arg(long, default_value = "member")]
        role: Role,
        #[arg(long)]
        display_name: Option<String>,
        /// Read a local password (12+ characters) from standard input's first line.
        #[arg(long)]
        password_stdin: bool,
        /// Priority class: emergency, citizen or batch (default: the tenant's).
        #[arg(long)]
        priority: Option<PriorityClass>,
    },
    /// Set a user's priority class: emergency, citizen, batch, or inherit (the tenant's).
    SetPriority { id: String, class: String },
    /// List users (under --under, default all).
    List {
        #[arg(long)]
        under: Option<String>,
    },
    /// Change a user's role.
    SetRole { id: String, role: Role },
    /// Disable a user (their sessions end; their keys stop working), or with --enable, enable.
    Disable {
        id: String,
        #[arg(long)]
        enable: bool,
    },
    /// Delete a user, their keys and sessions.
    Delete { id: String },
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create an API key and print its secret (once).
    Create {
        #[arg(long)]
        name: String,
        /// The tenant (default: the user's).
        #[arg(long)]
        tenant: Option<String>,
        /// The user it acts as (`usr_...`); none: a tenant service key.
        #[arg(long)]
        user: Option<String>,
        /// Default: the user's role, else member.
        #[arg(long)]
        role: Option<Role>,
        /// Comma-separated: inference, embeddings, knowledge, conversations, admin.
        #[arg(long, default_value = "inference,embeddings,knowledge,conversations")]
        scopes: String,
        /// Comma-separated model allow-list (default: all models).
        #[arg(long)]
        models: Option<String>,
        /// Lifetime in seconds.
        #[arg(long)]
        expires_in: Option<u64>,
        /// Priority class: emergency, citizen or batch (default: the user's, else the tenant's).
        #[arg(long)]
        priority: Option<PriorityClass>,
    },
    /// Set a key's priority class: emergency, citizen, batch, or inherit (the user's, else the tenant's).
    SetPriority { id: String, class: String },
    /// List keys (under --under, default all), by prefix.
    List {
        #[arg(long)]
        under: Option<String>,
    },
    /// Revoke a key: the next request with it gets 401.
    Revoke { id: String },
}

fn tenant(s: &str) -> Result<TenantPath> {
    Ok(TenantPath::parse(s)?)
}

/// A class to set, or `inherit` (None).
fn class_or_inherit(s: &str) -> Result<Option<PriorityClass>> {
    if s == "inherit" {
        return Ok(None);
    }
    s.parse::<PriorityClass>()
        .map(Some)
        .map_err(|e| anyhow::anyhow!("{e}, or inherit"))
}

fn read_password() -> Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("could not read the password from standard input")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

fn hash_password(stdin: bool) -> Result<Option<String>> {
    if !stdin {
        return Ok(None);
    }
    Ok(Some(sovra_identity::password::hash(&read_password()?)?))
}

fn now_ms() -> i64 {
    sovra_store::Clock::now_ms(&sovra_store::SystemClock)
}

fn scopes(s: &str) -> Result<Vec<Scope>> {
    s.split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(|x| {
            Scope::parse(x).with_context(|| {
                format!(
                    "unknown scope `{x}` (inference, embeddings, knowledge, conversations, admin)"
                )
            })
        })
        .collect()
}

pub async fn run(args: AdminArgs) -> Result<()> {
    let mut overrides = serde_json::Map::new();
    if let Some(d) = &args.data_dir {
        overrides.insert("data_dir".into(), json!(d));
    }
    let settings = Settings::load(
        args.config.as_deref(),
        Serialized::defaults(serde_json::Value::Object(overrides)),
    )
    .context("invalid configuration")?;
    let store = open_store(&settings).await?;
    let dir = sovra_store::directory_of(store);
    let actor = actor();
    match args.command {
        AdminCommand::Bootstrap {
            name,
            tenant: t,
            password_stdin,
        } => bootstrap(&*dir, &actor, &name, &tenant(&t)?, password_stdin).await,
        AdminCommand::Tenant { command } => match command {
            TenantCommand::Create {
                path,
                kind,
                name,
                priority,
            } => {
                let path = tenant(&path)?;
                let kind = TenantKind::parse(&kind).with_context(|| {
                    format!("unknown kind `{kind}` (nation, agency, team, startup, public)")
                })?;
                let t = dir
                    .create_tenant(
                        &NewTenant {
                            name: name.unwrap_or_else(|| path.leaf().to_owned()),
                            path,
                            kind,
                            priority,
                        },
                        &actor,
                    )
                    .await?;
                emit(&json!(t))
            }
            TenantCommand::SetPriority { path, class } => {
                let t = dir
                    .set_tenant_priority(&tenant(&path)?, class_or_inherit(&class)?, &actor)
                    .await?
                    .with_context(|| format!("no tenant `{path}`"))?;
                emit(&json!(t))
            }
            TenantCommand::List { under } => {
                let list = match under {
                    Some(u) => dir.tenants_under(&tenant(&u)?).await?,
                    None => dir.all_tenants().await?,
                };
                emit(&json!(list))
            }
            TenantCommand::Delete { path } => {
                if !dir.delete_tenant(&tenant(&path)?, &actor).await? {
                    bail!("no tenant `{path}`");
                }
                emit(&json!({"deleted": path}))
            }
        },
        AdminCommand::User { command } => match command {
            UserCommand::Create {
                name,
                tenant: t,
                role,
                display_name,
                password_stdin,
                priority,
            } => {
                let u = dir
                    .create_user(
                        &NewUser {
                            tenant: tenant(&t)?,
                            display_name: display_name.unwrap_or_else(|| name.clone()),
                            name,
                            role,
                            password_hash: hash_password(password_stdin)?,
                            oidc: None,
                            priority,
                        },
                        &actor,
                    )
                    .await?;
                emit(&json!(u))
            }
            UserCommand::SetPriority { id, class } => {
                let change = UserChange {
                    priority: Some(class_or_inherit(&class)?),
                    ..UserChange::default()
                };
                let u = dir
                    .update_user(&id, &change, &actor)
                    .await?
                    .with_context(|| format!("no user `{id}`"))?;
                emit(&json!(u))
            }
            UserCommand::List { under } => {
                let list = match under {
                    Some(u) => dir.users_under(&tenant(&u)?).await?,
                    None => dir.all_users().await?,
                };
                emit(&json!(list))
            }
            UserCommand::SetRole { id, role } => {
                let change = UserChange {
                    role: Some(role),
                    ..UserChange::default()
                };
                let u = dir
                    .update_user(&id, &change, &actor)
                    .await?
                    .with_context(|| format!("no user `{id}`"))?;
                emit(&json!(u))
            }
            UserCommand::Disable { id, enable } => {
                let change = UserChange {
                    disabled: Some(!enable),
                    ..UserChange::default()
                };
                let u = dir
                    .update_user(&id, &change, &actor)
                    .await?
                    .with_context(|| format!("no user `{id}`"))?;
                emit(&json!(u))
            }
            UserCommand::Delete { id } => {
                if !dir.delete_user(&id, &actor).await? {
                    bail!("no user `{id}`");
                }
                emit(&json!({"deleted": id}))
            }
        },
        AdminCommand::Key { command } => match command {
            KeyCommand::Create {
                name,
                tenant: t,
                user,
                role,
                scopes: s,
                models,
                expires_in,
                priority,
            } => {
                let owner = match &user {
                    Some(id) => Some(
                        dir.user(id)
                            .await?
                            .with_context(|| format!("no user `{id}`"))?,
                    ),
                    None => None,
                };
                let tenant = match (t, &owner) {
                    (Some(t), _) => tenant(&t)?,
                    (None, Some(u)) => u.tenant.clone(),
                    (None, None) => bail!("name the key's --tenant or its --user"),
                };
                let role = role.unwrap_or_else(|| owner.as_ref().map_or(Role::Member, |u| u.role));
                if let Some(u) = &owner
                    && !u.role.may_grant(role)
                {
                    bail!("a key of {} may not carry the role {role}", u.role);
                }
                let secret = ApiKeySecret::generate();
                let key = dir
                    .create_key(
                        &NewApiKey {
                            tenant,
                            user,
                            name,
                            role,
                            scopes: scopes(&s)?,
                            models: models.map(|m| {
                                m.split(',')
                                    .map(|x| x.trim().to_owned())
                                    .filter(|x| !x.is_empty())
                                    .collect()
                            }),
                            priority,
                            expires_at_ms: expires_in.map(|e| {
                                now_ms().saturating_add(
                                    i64::try_from(e.saturating_mul(1000)).unwrap_or(i64::MAX),
                                )
                            }),
                            hash: secret.hash(),
                            shown: secret.shown(),
                            parent: None,
                        },
                        &actor,
                    )
                    .await?;
                let mut out = json!(key);
                out["secret"] = json!(secret.expose());
                emit(&out)
            }
            KeyCommand::List { under } => {
                let list = match under {
                    Some(u) => dir.keys_under(&tenant(&u)?).await?,
                    None => dir.all_keys().await?,
                };
                emit(&json!(list))
            }
            KeyCommand::SetPriority { id, class } => {
                let k = dir
                    .set_key_priority(&id, class_or_inherit(&class)?, &actor)
                    .await?
                    .with_context(|| format!("no key `{id}`"))?;
                emit(&json!(k))
            }
            KeyCommand::Revoke { id } => {
                if !dir.revoke_key(&id, &actor).await? {
                    bail!("no live key `{id}`");
                }
                emit(&json!({"revoked": id}))
            }
        },
    }
}

/// The first platform admin, and a platform-admin API key for them.
async fn bootstrap(
    dir: &dyn Directory,
    actor: &str,
    name: &str,
    tenant: &TenantPath,
    password_stdin: bool,
) -> Result<()> {
    if dir.platform_admins().await? > 0 {
        bail!(
            "a platform admin already exists: bootstrap makes only the first one (use `sovra admin user create --role platform_admin`)"
        );
    }
    let password_hash = hash_password(password_stdin)?;
    // Create the admin's tenant (and any missing ancestor).
    let mut missing: Vec<TenantPath> = Vec::new();
    for t in tenant.self_and_ancestors() {
        if dir.tenant(&t).await?.is_some() {
            break;
        }
        missing.push(t);
    }
    for t in missing.into_iter().rev() {
        dir.create_tenant(
            &NewTenant {
                name: t.leaf().to_owned(),
                path: t,
                kind: TenantKind::Agency,
                priority: None,
            },
            actor,
        )
        .await?;
    }
    let user = dir
        .create_user(
            &NewUser {
                tenant: tenant.clone(),
                name: name.to_owned(),
                display_name: name.to_owned(),
                role: Role::PlatformAdmin,
                password_hash,
                oidc: None,
                priority: None,
            },
            actor,
        )
        .await?;
    let secret = ApiKeySecret::generate();
    let key = dir
        .create_key(
            &NewApiKey {
                tenant: tenant.clone(),
                user: Some(user.id.clone()),
                name: "bootstrap".into(),
                role: Role::PlatformAdmin,
                scopes: Scope::ALL.to_vec(),
                models: None,
                priority: None,
                expires_at_ms: None,
                hash: secret.hash(),
                shown: secret.shown(),
                parent: None,
            },
            actor,
        )
        .await?;
    emit(&json!({
        "user": user,
        "key": key,
        "secret": secret.expose(),
        "note": "The secret is shown once and kept nowhere: store it now.",
    }))
}
