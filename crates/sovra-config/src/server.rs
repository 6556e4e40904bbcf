//! `[server]`: how the HTTP server meets the network (TLS, security
//! headers, allowed host names) and the limits that keep slow or idle
//! clients from holding connections (docs/security.md).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{ConfigError, check};

/// How the HTTP server meets the network (docs/security.md): TLS served
/// directly from PEM files, or plain HTTP behind a TLS-terminating proxy;
/// and the limits that keep slow or idle clients from holding connections.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Certificate chain (PEM) to serve HTTPS with; needs `tls_key`.
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM: PKCS#8, PKCS#1 or SEC1) of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Plain HTTP here, but clients reach Sovra over TLS at a proxy: send
    /// `Strict-Transport-Security` as if serving TLS.
    pub behind_tls_proxy: bool,
    /// `max-age` of `Strict-Transport-Security`, when sent; 0: not sent.
    pub hsts_max_age_secs: u64,
    /// A request's headers must arrive within this (HTTP/1; the same clock
    /// closes a keep-alive connection idle this long between requests).
    pub header_read_timeout_secs: u64,
    /// Most bytes of a request's start line and headers (431 beyond).
    pub max_header_bytes: usize,
    /// Most header fields in a request (431 beyond).
    pub max_headers: usize,
    /// A request's whole body must arrive within this, counted from its
    /// headers (408 beyond). Responses, streams included, are not limited.
    pub body_read_timeout_secs: u64,
    /// A TLS handshake must finish within this.
    pub tls_handshake_timeout_secs: u64,
    /// HTTP/2: ping an idle connection this often and close it if the ping
    /// is not answered within the same time.
    pub http2_keep_alive_secs: u64,
    /// The host names (`Host` header, port not compared) requests may be
    /// sent to; others get `421`. Empty (the default): on a loopback
    /// address, `localhost`, `127.0.0.1`, `[::1]` and the address listened
    /// on (against DNS rebinding); elsewhere, any.
    pub allowed_hosts: Vec<String>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            tls_cert: None,
            tls_key: None,
            behind_tls_proxy: false,
            hsts_max_age_secs: 31_536_000,
            header_read_timeout_secs: 60,
            max_header_bytes: 16 * 1024,
            max_headers: 64,
            body_read_timeout_secs: 60,
            tls_handshake_timeout_secs: 10,
            http2_keep_alive_secs: 30,
            allowed_hosts: Vec::new(),
        }
    }
}

impl ServerSettings {
    /// Whether HTTPS is served directly.
    pub fn tls(&self) -> bool {
        self.tls_cert.is_some()
    }

    /// Checks of these settings alone, each naming the setting.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        check(
            self.tls_cert.is_some() == self.tls_key.is_some(),
            if self.tls_cert.is_some() {
                "server.tls_key"
            } else {
                "server.tls_cert"
            },
            "server.tls_cert and server.tls_key go together: set both or neither",
        )?;
        check(
            (1..=3600).contains(&self.header_read_timeout_secs),
            "server.header_read_timeout_secs",
            "must be between 1 and 3600",
        )?;
        check(
            (1..=86_400).contains(&self.body_read_timeout_secs),
            "server.body_read_timeout_secs",
            "must be between 1 and 86400",
        )?;
        check(
            (1..=3600).contains(&self.tls_handshake_timeout_secs),
            "server.tls_handshake_timeout_secs",
            "must be between 1 and 3600",
        )?;
        check(
            (1..=86_400).contains(&self.http2_keep_alive_secs),
            "server.http2_keep_alive_secs",
            "must be between 1 and 86400",
        )?;
        check(
            (1024..=1024 * 1024).contains(&self.max_header_bytes),
            "server.max_header_bytes",
            "must be between 1024 and 1048576",
        )?;
        check(
            (8..=1000).contains(&self.max_headers),
            "server.max_headers",
            "must be between 8 and 1000",
        )?;
        check(
            self.allowed_hosts.iter().all(|h| {
                !h.is_empty()
                    && h.len() <= 255
                    && !h.contains(['/', '@', ',', '*'])
                    && !h.chars().any(char::is_whitespace)
            }),
            "server.allowed_hosts",
            "each entry is a host name or address (`chat.gov.example`, `10.0.0.5`, `[::1]`), optionally with a port",
        )
    }
}
