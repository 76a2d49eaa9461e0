//! The downloader over real TLS: an https server on 127.0.0.1 with a test CA
//! (`testdata/`, see its README) that only these tests trust, and a plain http server beside
//! it. The end-to-end tests drive the `baton` binary, which trusts Mozilla's roots only, so
//! the https rules (certificate checks, the https→http downgrade) are tested here.

use super::policy::{EgressPolicy, SCHEMES, parse_range};
use super::store::ContentStore;
use super::{FetchError, FetchSettings, Fetcher, conn};
use crate::limiter::{LimitSpec, Limiter};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

const CA: &[u8] = include_bytes!("testdata/ca.der");
const LEAF: &[u8] = include_bytes!("testdata/leaf.der");
const LEAF_KEY: &[u8] = include_bytes!("testdata/leaf.key.der");
const PDF: &[u8] = b"%PDF-1.7\nhttps test\n%%EOF\n";

/// The request paths a server was asked for.
type Seen = Arc<Mutex<Vec<String>>>;

/// Answers one request on `stream`: `/x.pdf` is a PDF, `/redirect?to=URL` a 302 to `URL`.
async fn answer(mut stream: impl AsyncRead + AsyncWrite + Unpin, seen: Seen) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    seen.lock().unwrap().push(path.clone());
    let reply = match path.strip_prefix("/redirect?to=") {
        Some(to) => format!(
            "HTTP/1.1 302 Found\r\nlocation: {to}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        )
        .into_bytes(),
        None => {
            let mut reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/pdf\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                PDF.len()
            )
            .into_bytes();
            reply.extend_from_slice(PDF);
            reply
        }
    };
    let _ = stream.write_all(&reply).await;
    let _ = stream.shutdown().await;
}

/// Serves on 127.0.0.1, over TLS with the test certificate when `tls`; returns the origin.
async fn serve(tls: bool, seen: Seen) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = tls.then(|| {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(LEAF.to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(LEAF_KEY.to_vec())),
            )
            .unwrap();
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    });
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let seen = seen.clone();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                match acceptor {
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(tcp).await {
                            answer(stream, seen).await;
                        }
                    }
                    None => answer(tcp, seen).await,
                }
            });
        }
    });
    let scheme = if tls { "https" } else { "http" };
    format!("{scheme}://{addr}")
}

/// A fetcher that may reach 127.0.0.1, trusting the test CA only.
fn fetcher(dir: &std::path::Path, allow_downgrade: bool) -> Fetcher {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(CA.to_vec())).unwrap();
    let settings = FetchSettings {
        connect_timeout: Duration::from_secs(5),
        read_timeout: Duration::from_secs(5),
        max_size: 1 << 20,
        accept: Vec::new(),
        max_redirects: 5,
        patience: Duration::from_millis(250),
        user_agent: "baton-test".into(),
        egress: EgressPolicy::new(
            SCHEMES.iter().map(|s| s.to_string()).collect(),
            vec!["*".into()],
            vec![parse_range("127.0.0.1/32").unwrap()],
            allow_downgrade,
        )
        .unwrap(),
    };
    let limiter = Limiter::new(|_| LimitSpec::default(), Box::new(|_, _| 0), None);
    let mut fetcher = Fetcher::new(settings, limiter, ContentStore::new(dir.to_path_buf()));
    fetcher.tls = conn::tls_with_roots(roots);
    fetcher
}

#[tokio::test]
async fn https_downloads_check_the_certificate_and_refuse_a_downgrade_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let secure_seen = Seen::default();
    let plain_seen = Seen::default();
    let secure = serve(true, secure_seen.clone()).await;
    let plain = serve(false, plain_seen.clone()).await;
    let strict = fetcher(dir.path(), false);

    // Over TLS, with a same-origin https redirect on the way.
    let stored = strict
        .fetch(&format!("{secure}/redirect?to=/x.pdf"), &[], None)
        .await
        .unwrap();
    assert_eq!(stored.size, PDF.len() as u64);
    assert_eq!(stored.url, format!("{secure}/x.pdf"));

    // An https candidate redirected to http is refused before the http request is made.
    let downgrade = format!("{secure}/redirect?to={plain}/x.pdf");
    match strict.fetch(&downgrade, &[], None).await {
        Err(FetchError::Permanent(reason)) => assert_eq!(
            reason,
            format!(
                "refused redirect from {downgrade} to {plain}/x.pdf: it downgrades https to http (allow it with queue.allow-downgrade = true)"
            )
        ),
        other => panic!("the downgrade was not refused: {other:?}"),
    }
    assert!(plain_seen.lock().unwrap().is_empty());

    // With queue.allow-downgrade the same redirect is followed.
    let lenient = fetcher(dir.path(), true);
    let stored = lenient.fetch(&downgrade, &[], None).await.unwrap();
    assert_eq!(stored.url, format!("{plain}/x.pdf"));
    assert_eq!(plain_seen.lock().unwrap().as_slice(), ["/x.pdf"]);

    // Mozilla's roots do not hold the test CA: the certificate is checked.
    let mut untrusting = fetcher(dir.path(), false);
    untrusting.tls = conn::default_tls();
    match untrusting
        .fetch(&format!("{secure}/x.pdf"), &[], None)
        .await
    {
        Err(FetchError::Transient(reason)) => {
            assert!(reason.contains("TLS"), "{reason}");
            assert!(reason.contains("certificate"), "{reason}");
        }
        other => panic!("an untrusted certificate was accepted: {other:?}"),
    }
}
