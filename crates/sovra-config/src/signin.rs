//! `[signin]`: web sign-in with local accounts and OpenID Connect single
//! sign-on, the session cookie, and the brute-force bounds
//! (docs/security.md).

use serde::{Deserialize, Serialize};

use crate::error::{ConfigError, check};

/// When the session cookie is marked `Secure` (and named `__Host-sovra_session`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecureCookies {
    /// Secure unless Sovra listens on a loopback address only (a machine's
    /// own browser over plain HTTP): anything reachable from elsewhere is
    /// assumed to be served over TLS, directly or by a proxy in front.
    Auto,
    Always,
    Never,
}

/// Web sign-in: local accounts (argon2id passwords), single sign-on with
/// OpenID Connect, the session cookie and the brute-force bounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SignInSettings {
    /// Accept local account passwords at `POST /auth/login`.
    pub local: bool,
    /// How long a session lasts after sign-in (hours).
    pub session_hours: u32,
    pub secure_cookies: SecureCookies,
    /// Failed sign-ins one account name may have within `lockout_secs`
    /// before further attempts for it are refused until the window passes.
    pub max_failures_per_name: u32,
    /// The same for one client address (all names together).
    pub max_failures_per_ip: u32,
    /// The window failures are counted in, and how long a lockout lasts.
    pub lockout_secs: u64,
    /// Extra time every failed attempt waits before it is answered (ms).
    pub failure_delay_ms: u64,
    /// Most names and addresses tracked at once; the oldest are forgotten first.
    pub max_tracked: usize,
    /// The OpenID Connect provider's issuer URL (its discovery document is
    /// `ISSUER/.well-known/openid-configuration`); unset: no single sign-on.
    pub oidc_issuer: Option<String>,
    pub oidc_client_id: Option<String>,
    /// The client secret as `file:PATH` or `env:VAR`, never inline.
    pub oidc_client_secret: Option<String>,
    /// Where the provider sends the browser back: this server's
    /// `/auth/oidc/callback`, as the browser reaches it.
    pub oidc_redirect_url: Option<String>,
    /// The provider's name on the sign-in button.
    pub oidc_name: String,
    /// The tenant a first-time single sign-on user is placed in.
    pub oidc_tenant: String,
    /// The role a first-time single sign-on user gets.
    pub oidc_role: String,
    /// Scopes asked for, besides `openid`.
    pub oidc_scopes: Vec<String>,
}

impl Default for SignInSettings {
    fn default() -> Self {
        Self {
            local: true,
            session_hours: 12,
            secure_cookies: SecureCookies::Auto,
            max_failures_per_name: 5,
            max_failures_per_ip: 20,
            lockout_secs: 300,
            failure_delay_ms: 250,
            max_tracked: 10_000,
            oidc_issuer: None,
            oidc_client_id: None,
            oidc_client_secret: None,
            oidc_redirect_url: None,
            oidc_name: "single sign-on".to_owned(),
            oidc_tenant: "public".to_owned(),
            oidc_role: "member".to_owned(),
            oidc_scopes: vec!["email".to_owned(), "profile".to_owned()],
        }
    }
}

impl SignInSettings {
    /// Whether single sign-on is configured.
    pub fn oidc_enabled(&self) -> bool {
        self.oidc_issuer.is_some()
    }

    /// Checks of these settings alone, each naming the setting.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        check(
            (1..=24 * 90).contains(&self.session_hours),
            "signin.session_hours",
            "must be between 1 and 2160 (90 days)",
        )?;
        check(
            self.max_failures_per_name >= 1 && self.max_failures_per_ip >= 1,
            "signin.max_failures_per_name",
            "failure limits must be at least 1",
        )?;
        check(
            self.lockout_secs >= 1,
            "signin.lockout_secs",
            "must be at least 1",
        )?;
        check(
            self.failure_delay_ms <= 10_000,
            "signin.failure_delay_ms",
            "must be at most 10000",
        )?;
        check(
            (16..=10_000_000).contains(&self.max_tracked),
            "signin.max_tracked",
            "must be between 16 and 10000000",
        )?;
        let Some(issuer) = &self.oidc_issuer else {
            return Ok(());
        };
        let http_ok = |u: &str| u.starts_with("https://") || u.starts_with("http://");
        check(
            http_ok(issuer),
            "signin.oidc_issuer",
            "must be an http(s) URL",
        )?;
        check(
            self.oidc_client_id
                .as_deref()
                .is_some_and(|c| !c.trim().is_empty()),
            "signin.oidc_client_id",
            "must be set when signin.oidc_issuer is",
        )?;
        check(
            self.oidc_client_secret.as_deref().is_none_or(|s| {
                ["file:", "env:"]
                    .iter()
                    .any(|p| s.starts_with(p) && s.len() > p.len())
            }),
            "signin.oidc_client_secret",
            "must be file:PATH or env:VAR",
        )?;
        check(
            self.oidc_redirect_url.as_deref().is_some_and(http_ok),
            "signin.oidc_redirect_url",
            "must be set to this server's /auth/oidc/callback URL when signin.oidc_issuer is",
        )?;
        check(
            !self.oidc_tenant.trim().is_empty(),
            "signin.oidc_tenant",
            "must name a tenant",
        )?;
        check(
            [
                "tenant_admin",
                "developer",
                "member",
                "auditor",
                "platform_admin",
            ]
            .contains(&self.oidc_role.as_str()),
            "signin.oidc_role",
            "must be one of platform_admin, tenant_admin, developer, member, auditor",
        )?;
        Ok(())
    }
}
