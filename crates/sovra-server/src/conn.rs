//! Connections: the accept loop that serves an axum app over plain TCP or
//! TLS (rustls, ALPN `h2` and `http/1.1`), with explicit limits on slow or
//! greedy clients, and a graceful drain.
//!
//! Limits, all from [`ConnLimits`]: a TLS handshake must finish within
//! `tls_handshake_timeout`; an HTTP/1 request's start line and headers must
//! arrive within `header_read_timeout` (hyper runs that clock from the end of
//! the previous response too, so it also closes a keep-alive connection left
//! idle that long), be at most `max_header_bytes` and `max_headers` fields
//! (431 beyond); plain HTTP/2 (prior knowledge, `sovra bench --http2`) must
//! send its preface within `header_read_timeout`; an HTTP/2 connection is
//! pinged every `http2_keep_alive` and closed when a ping goes unanswered.
//! The request *body* deadline is a layer, [`crate::hardening::body_deadline`].
//!
//! Shutdown: when `shutdown` fires, no new connection is accepted, every
//! open one is told to finish (HTTP/1: after its response in flight; HTTP/2:
//! GOAWAY, its streams run on), and whatever is still open after `grace` is
//! closed. Each connection is a task in one `JoinSet` owned by [`serve`].

use std::io;
use std::path::Path;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulConnection;
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// How long a connection may take at each step, and how big a request head may be.
#[derive(Debug, Clone)]
pub struct ConnLimits {
    pub header_read_timeout: Duration,
    pub max_header_bytes: usize,
    pub max_headers: usize,
    pub tls_handshake_timeout: Duration,
    pub http2_keep_alive: Duration,
}

impl Default for ConnLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(60),
            max_header_bytes: 16 * 1024,
            max_headers: 64,
            tls_handshake_timeout: Duration::from_secs(10),
            http2_keep_alive: Duration::from_secs(30),
        }
    }
}

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("could not read the certificate chain {path}: {source}")]
    Cert {
        path: String,
        source: rustls::pki_types::pem::Error,
    },
    #[error("{path} holds no certificate")]
    NoCert { path: String },
    #[error("could not read the private key {path}: {source}")]
    Key {
        path: String,
        source: rustls::pki_types::pem::Error,
    },
    #[error("the certificate and key do not make a TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// A rustls server configuration from PEM files, offering HTTP/2 and HTTP/1.1.
pub fn load_tls(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    let shown = |p: &Path| p.display().to_string();
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|source| TlsError::Cert {
            path: shown(cert),
            source,
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCert { path: shown(cert) });
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|source| TlsError::Key {
        path: shown(key),
        source,
    })?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Serve `app` on `listener` until `shutdown`, then drain for at most
/// `grace`. Returns how many connections were still open when the grace
/// period ended (and were closed).
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    tls: Option<TlsAcceptor>,
    limits: ConnLimits,
    shutdown: CancellationToken,
    grace: Duration,
) -> usize {
    let limits = Arc::new(limits);
    let mut conns = JoinSet::new();
    loop {
        // Reap finished connections so the set holds only open ones.
        while conns.try_join_next().is_some() {}
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // Streams are many small writes (an SSE event per token): without
        // TCP_NODELAY, Nagle's algorithm holds each one until the client's
        // delayed ACK (40 ms on Linux) arrives.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
        let app = app.clone();
        let tls = tls.clone();
        let limits = limits.clone();
        let stop = shutdown.clone();
        conns.spawn(async move {
            if let Err(e) = connection(stream, peer, app, tls, &limits, stop).await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    let drained = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(grace, drained).await.is_err() {
        let left = conns.len();
        conns.abort_all();
        while conns.join_next().await.is_some() {}
        return left;
    }
    0
}

/// One connection: TLS (if any), then HTTP/1 or HTTP/2.
async fn connection(
    stream: TcpStream,
    peer: std::net::SocketAddr,
    app: axum::Router,
    tls: Option<TlsAcceptor>,
    limits: &ConnLimits,
    stop: CancellationToken,
) -> io::Result<()> {
    match tls {
        Some(acceptor) => {
            let accepted =
                tokio::time::timeout(limits.tls_handshake_timeout, acceptor.accept(stream))
                    .await
                    .map_err(|_| {
                        io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out")
                    })??;
            let h2 = accepted.get_ref().1.alpn_protocol() == Some(b"h2");
            http(accepted, peer, h2, app, limits, stop).await
        }
        None => {
            let (stream, h2) = sniff_h2(stream, limits.header_read_timeout).await?;
            http(stream, peer, h2, app, limits, stop).await
        }
    }
}

/// HTTP/2's connection preface (RFC 9113 §3.4).
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Whether a plain connection speaks HTTP/2 with prior knowledge: its first
/// bytes are the preface. Any other first byte means HTTP/1 (whose own
/// header clock then runs). The bytes are *read*, not peeked, so the task
/// sleeps until the client sends more or closes (a peek sees the same bytes
/// again at once, and a closed socket's data hides its end: the first version
/// polled every 5 ms for the whole `limit` after a client sent `PRI` and
/// left). The bytes read come back in the returned stream. The client
/// closing before it is clear which protocol it speaks, or sending nothing
/// more within `limit`, ends the connection.
async fn sniff_h2(
    mut stream: TcpStream,
    limit: Duration,
) -> io::Result<(Sniffed<TcpStream>, bool)> {
    use tokio::io::AsyncReadExt as _;
    let deadline = tokio::time::Instant::now() + limit;
    let mut buf = [0u8; 24];
    let mut n = 0;
    let h2 = loop {
        let read = tokio::time::timeout_at(deadline, stream.read(&mut buf[n..]))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no request in time"))??;
        if read == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        n += read;
        if buf[..n] != H2_PREFACE[..n] {
            break false;
        }
        if n == H2_PREFACE.len() {
            break true;
        }
    };
    Ok((
        Sniffed {
            head: buf,
            len: n,
            at: 0,
            inner: stream,
        },
        h2,
    ))
}

/// A stream whose first bytes were already read (by [`sniff_h2`]): it hands
/// them out again before reading on.
struct Sniffed<S> {
    head: [u8; 24],
    len: usize,
    at: usize,
    inner: S,
}

impl<S: AsyncRead + Unpin> AsyncRead for Sniffed<S> {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        out: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        let me = self.get_mut();
        if me.at < me.len {
            let take = (me.len - me.at).min(out.remaining());
            out.put_slice(&me.head[me.at..me.at + take]);
            me.at += take;
            return std::task::Poll::Ready(Ok(()));
        }
        std::pin::Pin::new(&mut me.inner).poll_read(cx, out)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Sniffed<S> {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> std::task::Poll<io::Result<usize>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

async fn http<S>(
    io: S,
    peer: std::net::SocketAddr,
    h2: bool,
    app: axum::Router,
    limits: &ConnLimits,
    stop: CancellationToken,
) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(io);
    // The peer's address reaches handlers as axum's `ConnectInfo` (sign-in
    // counts failures per address).
    let app =
        tower::ServiceExt::map_request(app, move |mut r: hyper::Request<hyper::body::Incoming>| {
            r.extensions_mut().insert(axum::extract::ConnectInfo(peer));
            r
        });
    let service = TowerToHyperService::new(app);
    if h2 {
        let mut b = http2::Builder::new(TokioExecutor::new());
        b.timer(TokioTimer::new())
            .keep_alive_interval(Some(limits.http2_keep_alive))
            .keep_alive_timeout(limits.http2_keep_alive)
            .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
        drive(b.serve_connection(io, service), stop).await
    } else {
        let mut b = http1::Builder::new();
        b.timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .max_headers(limits.max_headers)
            .max_header_size(limits.max_header_bytes);
        drive(b.serve_connection(io, service), stop).await
    }
}

/// Run a connection to its end, asking it to finish when `stop` fires.
async fn drive<C>(conn: C, stop: CancellationToken) -> io::Result<()>
where
    C: GracefulConnection,
    C::Error: std::error::Error + Send + Sync + 'static,
{
    let mut conn = pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        () = stop.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    result.map_err(io::Error::other)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn missing_or_wrong_pem_files_are_named() {
        let dir = std::env::temp_dir();
        let missing = dir.join("sovra-no-such-cert.pem");
        let e = load_tls(&missing, &missing).err().unwrap().to_string();
        assert!(e.contains("sovra-no-such-cert.pem"), "{e}");
        let empty = dir.join(format!("sovra-empty-{}.pem", std::process::id()));
        std::fs::write(&empty, "not a pem file\n").unwrap();
        let e = load_tls(&empty, &empty).err().unwrap().to_string();
        assert!(e.contains("holds no certificate"), "{e}");
        std::fs::remove_file(&empty).ok();
    }
}
