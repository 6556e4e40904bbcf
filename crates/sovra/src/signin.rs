//! `[signin]` → the server's web sign-in: cookie security, brute-force
//! bounds, and the single sign-on client with its secret read from a file
//! or an environment variable (never from the settings file itself, never
//! logged).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use sovra_config::{SecureCookies, SignInSettings};
use sovra_identity::{Directory, Role, TenantPath};
use sovra_server::oidc::{Oidc, OidcConfig};
use sovra_server::signin::{SignIn, SignInConfig, ThrottleConfig};

/// Whether cookies are `Secure` under `mode` for a server listening on `listen`.
pub fn secure_cookies(mode: SecureCookies, listen: SocketAddr) -> bool {
    match mode {
        SecureCookies::Always => true,
        SecureCookies::Never => false,
        SecureCookies::Auto => !listen.ip().is_loopback(),
    }
}

/// The secret behind `file:PATH` or `env:VAR`.
fn read_secret(source: &str) -> Result<String> {
    let secret = if let Some(path) = source.strip_prefix("file:") {
        std::fs::read_to_string(path)
            .with_context(|| format!("could not read signin.oidc_client_secret from {path}"))?
    } else if let Some(var) = source.strip_prefix("env:") {
        std::env::var(var)
            .with_context(|| format!("signin.oidc_client_secret names ${var}, which is not set"))?
    } else {
        bail!("signin.oidc_client_secret must be file:PATH or env:VAR");
    };
    let secret = secret.trim().to_owned();
    if secret.is_empty() {
        bail!("signin.oidc_client_secret ({source}) is empty");
    }
    Ok(secret)
}

/// Build sign-in from the settings, over `directory`, and single sign-on
/// when a provider is configured.
pub fn build(
    settings: &SignInSettings,
    listen: SocketAddr,
    directory: Arc<dyn Directory>,
) -> Result<(SignIn, Option<Oidc>)> {
    let config = SignInConfig {
        local: settings.local,
        session_ttl: Duration::from_secs(u64::from(settings.session_hours) * 3600),
        secure_cookies: secure_cookies(settings.secure_cookies, listen),
        throttle: ThrottleConfig {
            max_per_name: settings.max_failures_per_name,
            max_per_ip: settings.max_failures_per_ip,
            window: Duration::from_secs(settings.lockout_secs),
            max_tracked: settings.max_tracked,
        },
        failure_delay: Duration::from_millis(settings.failure_delay_ms),
    };
    let mut signin = SignIn::new(directory, config);
    if let Some(issuer) = &settings.oidc_issuer {
        let client_secret = settings
            .oidc_client_secret
            .as_deref()
            .map(read_secret)
            .transpose()?;
        let tenant = TenantPath::parse(&settings.oidc_tenant)
            .map_err(|e| anyhow::anyhow!("signin.oidc_tenant: {e}"))?;
        let role: Role = settings
            .oidc_role
            .parse()
            .map_err(|e: String| anyhow::anyhow!("signin.oidc_role: {e}"))?;
        let oidc = Oidc::new(OidcConfig {
            issuer: issuer.clone(),
            client_id: settings.oidc_client_id.clone().unwrap_or_default(),
            client_secret,
            redirect_url: settings.oidc_redirect_url.clone().unwrap_or_default(),
            display_name: settings.oidc_name.clone(),
            tenant,
            role,
            scopes: settings.oidc_scopes.clone(),
        })
        .context("could not set up single sign-on")?;
        tracing::info!(issuer = %issuer, "single sign-on offered");
        signin = signin.with_single_sign_on(oidc.display_name());
        return Ok((signin, Some(oidc)));
    }
    Ok((signin, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_is_secure_off_loopback() {
        let lo: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        assert!(!secure_cookies(SecureCookies::Auto, lo));
        assert!(secure_cookies(SecureCookies::Auto, any));
        assert!(secure_cookies(SecureCookies::Always, lo));
        assert!(!secure_cookies(SecureCookies::Never, any));
    }

    #[test]
    fn secrets_come_from_env_or_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "s3cret\n").unwrap();
        assert_eq!(
            read_secret(&format!("file:{}", path.display()))
                .ok()
                .as_deref(),
            Some("s3cret")
        );
        assert!(read_secret("env:SOVRA_TEST_SURELY_UNSET_VAR").is_err());
        assert!(read_secret("inline").is_err());
    }
}
