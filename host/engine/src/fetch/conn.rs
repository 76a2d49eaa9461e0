//! The downloader's connections: resolves a URL's host itself, asks the egress policy about
//! every address the name resolves to, connects to an address it checked (the name is not
//! resolved a second time, so a DNS answer that changes in between — rebinding — cannot
//! reach an address that was not checked), does TLS for https (rustls with Mozilla's roots,
//! `webpki-roots`) and the HTTP/1.1 handshake. One connection per request; the connect
//! timeout covers resolution, TCP, TLS and the handshake. It does not build requests, follow
//! redirects or read bodies: that is `fetch`.

use super::policy::EgressPolicy;
use bytes::Bytes;
use http_body_util::Empty;
use hyper::client::conn::http1::SendRequest;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::rustls;
use url::{Host, Url};

/// Why no connection was made.
#[derive(Debug, Clone)]
pub enum ConnectError {
    /// The egress policy refused an address the host resolved to: the reason, with the
    /// setting that would grant it. Trying again will not help.
    Refused(String),
    /// Resolution, connection, TLS or the handshake failed, or the connect timeout passed.
    Failed(String),
}

/// The TLS client configuration Baton trusts by default: Mozilla's root certificates
/// (`webpki-roots`), the ring provider, TLS 1.2 and 1.3.
pub fn default_tls() -> Arc<rustls::ClientConfig> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.into(),
    };
    tls_with_roots(roots)
}

/// A TLS client configuration trusting `roots` only (for tests with their own CA).
pub(crate) fn tls_with_roots(roots: rustls::RootCertStore) -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|builder| builder.with_root_certificates(roots).with_no_client_auth())
        .unwrap_or_else(|_| unreachable!("ring supports the default protocol versions"));
    Arc::new(config)
}

/// Every address `url`'s host stands for, with its port: an IP literal is itself; a name is
/// resolved once, here.
async fn addresses(url: &Url) -> Result<Vec<SocketAddr>, String> {
    let port = url
        .port_or_known_default()
        .ok_or_else(|| format!("{url}: no port"))?;
    let mut found: Vec<SocketAddr> = match url.host() {
        Some(Host::Ipv4(v4)) => vec![SocketAddr::new(IpAddr::V4(v4), port)],
        Some(Host::Ipv6(v6)) => vec![SocketAddr::new(IpAddr::V6(v6), port)],
        Some(Host::Domain(name)) => tokio::net::lookup_host((name, port))
            .await
            .map_err(|e| format!("{url}: cannot resolve {name}: {e}"))?
            .collect(),
        None => return Err(format!("{url}: no host")),
    };
    let mut seen = std::collections::HashSet::new();
    found.retain(|addr| seen.insert(*addr));
    if found.is_empty() {
        return Err(format!(
            "{url}: {} has no address",
            url.host_str().unwrap_or("")
        ));
    }
    Ok(found)
}

trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// The TLS server name of `url`'s host: its DNS name, or its IP address.
fn server_name(url: &Url) -> Result<rustls::pki_types::ServerName<'static>, String> {
    match url.host() {
        Some(Host::Domain(name)) => rustls::pki_types::ServerName::try_from(name.to_string())
            .map_err(|e| format!("{url}: {name} is not a TLS server name: {e}")),
        Some(Host::Ipv4(v4)) => Ok(IpAddr::V4(v4).into()),
        Some(Host::Ipv6(v6)) => Ok(IpAddr::V6(v6).into()),
        None => Err(format!("{url}: no host")),
    }
}

/// Resolves, checks every address against `policy` (one refused address refuses the URL),
/// connects to the first checked address that answers, does TLS for https and the HTTP/1.1
/// handshake, all within `timeout`. The connection is driven by a task of its own, which ends
/// when the response has been read or dropped.
pub async fn connect(
    url: &Url,
    policy: &EgressPolicy,
    tls: &Arc<rustls::ClientConfig>,
    timeout: Duration,
) -> Result<SendRequest<Empty<Bytes>>, ConnectError> {
    let attempt = async {
        let found = addresses(url).await.map_err(ConnectError::Failed)?;
        for addr in &found {
            policy
                .check_address(addr.ip())
                .map_err(ConnectError::Refused)?;
        }
        let mut last = String::new();
        let mut stream = None;
        for addr in &found {
            match TcpStream::connect(addr).await {
                Ok(tcp) => {
                    stream = Some(tcp);
                    break;
                }
                Err(e) => last = format!("{url}: connect to {addr}: {e}"),
            }
        }
        let tcp = stream.ok_or(ConnectError::Failed(last))?;
        let _ = tcp.set_nodelay(true);
        let io: Box<dyn Io> = if url.scheme() == "https" {
            let name = server_name(url).map_err(ConnectError::Failed)?;
            let tls = tokio_rustls::TlsConnector::from(tls.clone())
                .connect(name, tcp)
                .await
                .map_err(|e| ConnectError::Failed(format!("{url}: TLS: {e}")))?;
            Box::new(tls)
        } else {
            Box::new(tcp)
        };
        let (sender, connection) =
            hyper::client::conn::http1::handshake(wasmtime_wasi_http::io::TokioIo::new(io))
                .await
                .map_err(|e| ConnectError::Failed(format!("{url}: {e}")))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("download connection ended: {e}");
            }
        });
        Ok(sender)
    };
    tokio::time::timeout(timeout, attempt).await.map_err(|_| {
        ConnectError::Failed(format!(
            "{url}: timed out connecting (queue.connect-timeout = {})",
            humantime::format_duration(timeout)
        ))
    })?
}
