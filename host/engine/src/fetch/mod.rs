//! Downloading a candidate: HTTP(S) with redirects, connect and read timeouts, the egress
//! policy on the candidate and every hop (`policy`: schemes, hosts, checked addresses, no
//! downgrade; resolver headers stay with the candidate's origin), the per-host limiter on
//! every hop, content checks (expected content type, magic bytes, size cap, no truncation)
//! and streaming into the content-addressed store while hashing. Connections are `conn`'s.

pub mod conn;
pub mod policy;
pub mod store;

#[cfg(test)]
mod https_tests;

use crate::limiter::Limiter;
use baton_core::digest::Hasher;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use policy::EgressPolicy;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use store::ContentStore;
use tokio_rustls::rustls;
use url::Url;

/// How downloads behave (from `[queue]`, see `queue::setup::fetch_settings`).
#[derive(Debug, Clone)]
pub struct FetchSettings {
    /// Bound on resolving, connecting, TLS and the HTTP handshake (`queue.connect-timeout`,
    /// default 10 s).
    pub connect_timeout: Duration,
    /// The longest wait for the response head and between body bytes (`queue.read-timeout`,
    /// default 30 s).
    pub read_timeout: Duration,
    /// The largest download, in bytes (`queue.max-size`, default 256 MiB).
    pub max_size: u64,
    /// Content types accepted when the candidate names none; empty: anything
    /// (`queue.accept`).
    pub accept: Vec<String>,
    /// Redirect hops followed (5).
    pub max_redirects: u32,
    /// How long a request may wait for the host limiter before its job steps aside (250 ms).
    pub patience: Duration,
    /// The `User-Agent` sent (`baton/VERSION`).
    pub user_agent: String,
    /// Where downloads may go (`queue.allow-schemes`, `queue.allow-hosts`,
    /// `queue.allow-addresses`, `queue.allow-downgrade`).
    pub egress: EgressPolicy,
}

/// What was stored.
#[derive(Debug, Clone)]
pub struct Stored {
    /// SHA-256 of the stored content, lowercase hex.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// The URL finally fetched (after redirects).
    pub url: String,
    /// Its host.
    pub host: String,
    /// The response's `Content-Type`, if any.
    pub content_type: Option<String>,
}

/// Why a candidate could not be stored.
#[derive(Debug, Clone)]
pub enum FetchError {
    /// Worth trying again later (5xx, timeout, truncated, connection failure).
    Transient(String),
    /// This candidate will not work (4xx, wrong content, too large).
    Permanent(String),
    /// A limiter or the server (429) asks to wait until `until`.
    RateLimited {
        /// When to try again.
        until: Instant,
        /// Who asked to wait, e.g. `rate host:x` or `429 from host:x`.
        reason: String,
    },
    /// Baton could not write the download into its own store (a full disk, a file size
    /// limit, an unwritable `.baton/artifacts`): neither the candidate's nor the job's fault.
    Environment(String),
}

impl FetchError {
    /// The reason, for people.
    pub fn reason(&self) -> &str {
        match self {
            FetchError::Transient(r) | FetchError::Permanent(r) | FetchError::Environment(r) => r,
            FetchError::RateLimited { reason, .. } => reason,
        }
    }
}

/// Downloads candidates into the content store, within the per-host limiter.
pub struct Fetcher {
    /// How downloads behave.
    pub settings: FetchSettings,
    /// Per-host concurrency and rates (`host:NAME` keys), held on every redirect hop.
    pub limiter: Arc<Limiter>,
    /// Where downloads are stored, by SHA-256.
    pub store: ContentStore,
    /// The TLS client configuration: Mozilla's roots ([`conn::default_tls`]) unless a test
    /// trusts its own CA.
    pub tls: Arc<rustls::ClientConfig>,
}

/// Request headers a resolver may not set: Baton writes `Host` itself (from the URL, never
/// with userinfo) and frames the request itself.
const RESERVED_HEADERS: &[&str] = &["host", "content-length", "transfer-encoding", "connection"];

/// Magic bytes a content type must start with, where known.
fn magic(content_type: &str) -> Option<&'static [u8]> {
    match content_type {
        "application/pdf" => Some(b"%PDF-"),
        "application/zip" | "application/epub+zip" => Some(b"PK\x03\x04"),
        "application/gzip" => Some(b"\x1f\x8b"),
        "image/png" => Some(b"\x89PNG"),
        _ => None,
    }
}

fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// How long a `Retry-After` header asks to wait (RFC 9110 §10.2.3): either delay-seconds or
/// an HTTP-date (IMF-fixdate, or the obsolete RFC 850 and asctime forms, per §5.6.7), taken
/// relative to `now`; a date in the past means no wait. `None` when absent or unreadable.
fn retry_after(headers: &http::HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Resolves a `Location` header against the URL that answered it (RFC 3986 §5: absolute
/// URLs, network-path `//host/p`, absolute-path, relative-path with dot segments, query and
/// fragment references); the fragment is dropped, it is not sent.
fn resolve_location(base: &Url, location: &str) -> Option<Url> {
    let mut next = base.join(location.trim()).ok()?;
    next.set_fragment(None);
    Some(next)
}

/// Drops `user:password@` from a URL: credentials in URLs are never sent (RFC 3986 §3.2.1
/// deprecates them) and never appear in messages; the request goes to the host alone.
fn strip_credentials(url: &mut Url) {
    let _ = url.set_username("");
    let _ = url.set_password(None);
}

/// The request target of `url` in origin form (RFC 9112 §3.2.1): path and query, no
/// scheme, host or userinfo.
fn request_target(url: &Url) -> Result<http::Uri, String> {
    let target = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_string(),
    };
    target.parse().map_err(|e| format!("bad URL {url}: {e}"))
}

/// The `Host` header value: host and non-default port, never userinfo (RFC 9110 §7.2).
fn host_header(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_string(),
        _ => String::new(),
    }
}

/// Where decoded body bytes go: the size cap, the magic check, the digest and the
/// temporary file, in that order. The first refusal is kept in `refused`, a failure to
/// write the file in `unwritable`.
struct Sink<'a> {
    file: &'a mut tempfile::NamedTempFile,
    hasher: Hasher,
    size: u64,
    max_size: u64,
    magic: Option<&'static [u8]>,
    head: Vec<u8>,
    refused: Option<String>,
    unwritable: Option<String>,
}

impl<'a> Sink<'a> {
    /// An empty sink into `file`, refusing more than `max_size` bytes (and content not
    /// starting with `magic`, when given).
    fn new(
        file: &'a mut tempfile::NamedTempFile,
        max_size: u64,
        magic: Option<&'static [u8]>,
    ) -> Sink<'a> {
        Sink {
            file,
            hasher: Hasher::new(),
            size: 0,
            max_size,
            magic,
            head: Vec::new(),
            refused: None,
            unwritable: None,
        }
    }
}

impl std::io::Write for Sink<'_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.size += data.len() as u64;
        if self.size > self.max_size {
            self.refused = Some(format!("over the size cap of {} bytes", self.max_size));
            return Err(std::io::Error::other("size cap"));
        }
        if let Some(magic) = self.magic
            && self.head.len() < magic.len()
        {
            let take = data.len().min(magic.len() - self.head.len());
            self.head.extend_from_slice(&data[..take]);
            if self.head.len() == magic.len() && self.head != magic {
                self.refused = Some(format!(
                    "content does not start like its type ({:?})",
                    String::from_utf8_lossy(&self.head)
                ));
                return Err(std::io::Error::other("magic"));
            }
        }
        self.hasher.update(data);
        if let Err(e) = self.file.write_all(data) {
            // The OS's own words: the temporary file's error would repeat the path.
            let cause = e.raw_os_error().map_or_else(
                || e.to_string(),
                |code| std::io::Error::from_raw_os_error(code).to_string(),
            );
            self.unwritable = Some(format!(
                "cannot write {}: {cause}",
                self.file.path().display()
            ));
            return Err(e);
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// The body's content coding (RFC 9110 §8.4): identity, or a decoder for gzip and deflate.
enum Decoding<'a> {
    Identity(Sink<'a>),
    Gzip(flate2::write::GzDecoder<Sink<'a>>),
    Deflate(flate2::write::ZlibDecoder<Sink<'a>>),
}

impl<'a> Decoding<'a> {
    /// The decoder for a `Content-Encoding` value; an unsupported coding is refused by name.
    fn new(coding: Option<&str>, sink: Sink<'a>) -> Result<Decoding<'a>, String> {
        match coding.map(|c| c.trim().to_ascii_lowercase()).as_deref() {
            None | Some("" | "identity") => Ok(Decoding::Identity(sink)),
            Some("gzip" | "x-gzip") => Ok(Decoding::Gzip(flate2::write::GzDecoder::new(sink))),
            Some("deflate") => Ok(Decoding::Deflate(flate2::write::ZlibDecoder::new(sink))),
            Some(other) => Err(format!(
                "unsupported content coding `{other}` (Baton asks for identity and decodes gzip and deflate)"
            )),
        }
    }

    fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        match self {
            Decoding::Identity(sink) => sink.write_all(data),
            Decoding::Gzip(decoder) => decoder.write_all(data),
            Decoding::Deflate(decoder) => decoder.write_all(data),
        }
    }

    /// Ends the stream (a truncated compressed stream is an error) and returns the sink.
    fn finish(self) -> std::io::Result<Sink<'a>> {
        match self {
            Decoding::Identity(sink) => Ok(sink),
            Decoding::Gzip(decoder) => decoder.finish(),
            Decoding::Deflate(decoder) => decoder.finish(),
        }
    }

    fn sink(&self) -> &Sink<'a> {
        match self {
            Decoding::Identity(sink) => sink,
            Decoding::Gzip(decoder) => decoder.get_ref(),
            Decoding::Deflate(decoder) => decoder.get_ref(),
        }
    }
}

impl Fetcher {
    /// A fetcher trusting Mozilla's roots ([`conn::default_tls`]).
    pub fn new(settings: FetchSettings, limiter: Arc<Limiter>, store: ContentStore) -> Fetcher {
        Fetcher {
            settings,
            limiter,
            store,
            tls: conn::default_tls(),
        }
    }

    /// Downloads `url` (with the resolver's `headers`), expecting `expected` content type if
    /// given. The candidate and every redirect hop pass the egress policy; a refusal is a
    /// permanent failure naming the URL, what refused it and the setting that would allow
    /// it. The resolver's headers go to the candidate's origin only (RFC 6454): after a hop
    /// to another origin none of them is sent again, `Authorization` and `Cookie` included.
    pub async fn fetch(
        &self,
        url: &str,
        headers: &[(String, String)],
        expected: Option<&str>,
    ) -> Result<Stored, FetchError> {
        let mut current =
            Url::parse(url.trim()).map_err(|e| FetchError::Permanent(format!("bad URL: {e}")))?;
        current.set_fragment(None);
        strip_credentials(&mut current);
        let policy = &self.settings.egress;
        policy
            .check_url(&current)
            .map_err(|reason| FetchError::Permanent(format!("refused {current}: {reason}")))?;
        let mut carried = headers;
        let mut previous: Option<Url> = None;
        for _ in 0..=self.settings.max_redirects {
            let host = current
                .host_str()
                .ok_or_else(|| FetchError::Permanent(format!("URL without a host: {current}")))?
                .to_ascii_lowercase();
            let key = format!("host:{host}");
            let _permit = self
                .limiter
                .acquire(&key, self.settings.patience)
                .await
                .map_err(|wait| FetchError::RateLimited {
                    until: wait
                        .until
                        .unwrap_or_else(|| Instant::now() + Duration::from_millis(500)),
                    reason: wait.reason,
                })?;
            let response = match self.send(&current, carried).await {
                Ok(response) => response,
                Err(conn::ConnectError::Refused(reason)) => {
                    let via = previous
                        .as_ref()
                        .map(|p| format!(" (redirected from {p})"))
                        .unwrap_or_default();
                    return Err(FetchError::Permanent(format!(
                        "refused {current}{via}: {reason}"
                    )));
                }
                Err(conn::ConnectError::Failed(reason)) => {
                    return Err(FetchError::Transient(reason));
                }
            };
            let status = response.status();
            let wait = retry_after(response.headers(), SystemTime::now());
            if status.is_redirection() {
                let location = response
                    .headers()
                    .get(http::header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .ok_or_else(|| {
                        FetchError::Permanent(format!("{status} without a location from {current}"))
                    })?;
                let mut next = resolve_location(&current, location).ok_or_else(|| {
                    FetchError::Permanent(format!("bad redirect location from {current}"))
                })?;
                strip_credentials(&mut next);
                policy.check_hop(&current, &next).map_err(|reason| {
                    FetchError::Permanent(format!(
                        "refused redirect from {current} to {next}: {reason}"
                    ))
                })?;
                if !policy::same_origin(&current, &next) {
                    carried = &[];
                }
                previous = Some(std::mem::replace(&mut current, next));
                continue;
            }
            if status == http::StatusCode::TOO_MANY_REQUESTS {
                let wait = wait.unwrap_or(Duration::from_secs(30));
                return Err(FetchError::RateLimited {
                    until: Instant::now() + wait,
                    reason: format!("rate {key} (HTTP 429, retry after {}s)", wait.as_secs()),
                });
            }
            if status == http::StatusCode::SERVICE_UNAVAILABLE
                && let Some(wait) = wait
            {
                return Err(FetchError::RateLimited {
                    until: Instant::now() + wait,
                    reason: format!(
                        "{key} unavailable (HTTP 503, retry after {}s)",
                        wait.as_secs()
                    ),
                });
            }
            if status.is_server_error() || status == http::StatusCode::REQUEST_TIMEOUT {
                return Err(FetchError::Transient(format!(
                    "HTTP {status} from {current}"
                )));
            }
            if !status.is_success() {
                return Err(FetchError::Permanent(format!(
                    "HTTP {status} from {current}"
                )));
            }
            return self.store_body(response, &current, host, expected).await;
        }
        Err(FetchError::Permanent(format!(
            "more than {} redirects from {url}",
            self.settings.max_redirects
        )))
    }

    /// One GET of `url` on a connection of its own (see [`conn::connect`]), with Baton's
    /// headers and the resolver's `headers` (but never the reserved ones), waiting up to
    /// the read timeout for the response head.
    async fn send(
        &self,
        url: &Url,
        headers: &[(String, String)],
    ) -> Result<http::Response<Incoming>, conn::ConnectError> {
        let failed = conn::ConnectError::Failed;
        // A URL that makes no request target will not make one on a retry either.
        let target = request_target(url).map_err(conn::ConnectError::Refused)?;
        let mut request = http::Request::get(target)
            .header(http::header::USER_AGENT, &self.settings.user_agent)
            .header(http::header::HOST, host_header(url))
            .header(http::header::ACCEPT_ENCODING, "identity");
        for (name, value) in headers {
            if RESERVED_HEADERS.contains(&name.trim().to_ascii_lowercase().as_str()) {
                continue;
            }
            request = request.header(name.as_str(), value.as_str());
        }
        let request = request
            .body(http_body_util::Empty::<Bytes>::new())
            .map_err(|e| conn::ConnectError::Failed(format!("bad request for {url}: {e}")))?;
        let mut sender = conn::connect(
            url,
            &self.settings.egress,
            &self.tls,
            self.settings.connect_timeout,
        )
        .await?;
        tokio::time::timeout(self.settings.read_timeout, sender.send_request(request))
            .await
            .map_err(|_| {
                failed(format!(
                    "{url}: no response within {} (queue.read-timeout)",
                    humantime::format_duration(self.settings.read_timeout)
                ))
            })?
            .map_err(|e| failed(format!("{url}: {e}")))
    }

    async fn store_body(
        &self,
        response: http::Response<Incoming>,
        uri: &Url,
        host: String,
        expected: Option<&str>,
    ) -> Result<Stored, FetchError> {
        let content_type = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(essence);
        let wanted: Vec<String> = match expected {
            Some(t) => vec![essence(t)],
            None => self.settings.accept.iter().map(|t| essence(t)).collect(),
        };
        if !wanted.is_empty() {
            let got = content_type.clone().unwrap_or_default();
            if !wanted.contains(&got) {
                return Err(FetchError::Permanent(format!(
                    "{uri}: expected {}, got {}",
                    wanted.join(" or "),
                    if got.is_empty() {
                        "no content type".into()
                    } else {
                        got
                    }
                )));
            }
        }
        let declared: Option<u64> = response
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        if declared.is_some_and(|len| len > self.settings.max_size) {
            return Err(FetchError::Permanent(format!(
                "{uri}: {} bytes is over the size cap of {}",
                declared.unwrap_or(0),
                self.settings.max_size
            )));
        }
        let coding = response
            .headers()
            .get(http::header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let magic = content_type.as_deref().and_then(magic);
        let mut temp = self
            .store
            .temp_file()
            .map_err(|e| FetchError::Environment(format!("{e:#}")))?;
        let sink = Sink::new(&mut temp, self.settings.max_size, magic);
        let mut decoding = Decoding::new(coding.as_deref(), sink)
            .map_err(|reason| FetchError::Permanent(format!("{uri}: {reason}")))?;
        let mut received = 0u64;
        let mut body = response.into_body();
        loop {
            let frame = tokio::time::timeout(self.settings.read_timeout, body.frame())
                .await
                .map_err(|_| {
                    FetchError::Transient(format!(
                        "{uri}: no data for {} (queue.read-timeout)",
                        humantime::format_duration(self.settings.read_timeout)
                    ))
                })?;
            let Some(frame) = frame else {
                break;
            };
            let frame = frame.map_err(|e| FetchError::Transient(format!("{uri}: body: {e}")))?;
            let Some(data) = frame.data_ref() else {
                continue;
            };
            received += data.len() as u64;
            if let Err(e) = decoding.write(data) {
                let sink = decoding.sink();
                return Err(match (&sink.unwritable, &sink.refused) {
                    (Some(reason), _) => FetchError::Environment(reason.clone()),
                    (None, Some(reason)) => FetchError::Permanent(format!("{uri}: {reason}")),
                    (None, None) => {
                        FetchError::Permanent(format!("{uri}: cannot decode the body: {e}"))
                    }
                });
            }
        }
        if let Some(len) = declared
            && len != received
        {
            return Err(FetchError::Transient(format!(
                "{uri}: truncated, got {received} of {len} bytes"
            )));
        }
        let unwritable = decoding.sink().unwritable.clone();
        let sink = decoding.finish().map_err(|e| match &unwritable {
            Some(reason) => FetchError::Environment(reason.clone()),
            None => FetchError::Transient(format!("{uri}: the compressed body ended early: {e}")),
        })?;
        if let Some(reason) = &sink.refused {
            return Err(FetchError::Permanent(format!("{uri}: {reason}")));
        }
        if magic.is_some_and(|m| sink.head.len() < m.len()) {
            return Err(FetchError::Permanent(format!(
                "{uri}: too short to be {}",
                content_type.as_deref().unwrap_or("")
            )));
        }
        let Sink { hasher, size, .. } = sink;
        let sha256 = hasher.finish();
        self.store
            .commit(temp, &sha256)
            .map_err(|e| FetchError::Environment(format!("{e:#}")))?;
        Ok(Stored {
            sha256,
            size,
            url: uri.to_string(),
            host,
            content_type,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_resolve_as_rfc_3986_section_5_says() {
        let base = Url::parse("http://a/b/c/d;p?q").unwrap();
        // The normal examples of RFC 3986 §5.4.1, and the forms servers send.
        for (reference, target) in [
            ("g", "http://a/b/c/g"),
            ("./g", "http://a/b/c/g"),
            ("g/", "http://a/b/c/g/"),
            ("/g", "http://a/g"),
            ("//g", "http://g/"),
            ("?y", "http://a/b/c/d;p?y"),
            ("g?y", "http://a/b/c/g?y"),
            ("#s", "http://a/b/c/d;p?q"),
            ("g#s", "http://a/b/c/g"),
            ("..", "http://a/b/"),
            ("../g", "http://a/b/g"),
            ("../../g", "http://a/g"),
            ("../../../g", "http://a/g"),
            ("https://o:8443/x.pdf", "https://o:8443/x.pdf"),
            (
                "//cdn.example/p/x.pdf?sig=1",
                "http://cdn.example/p/x.pdf?sig=1",
            ),
            (" /spaced ", "http://a/spaced"),
        ] {
            assert_eq!(
                resolve_location(&base, reference).unwrap().as_str(),
                target,
                "{reference}"
            );
        }
    }

    #[test]
    fn retry_after_takes_seconds_and_every_http_date_form() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        let header = |value: &str| {
            let mut headers = http::HeaderMap::new();
            headers.insert(http::header::RETRY_AFTER, value.parse().unwrap());
            retry_after(&headers, now)
        };
        assert_eq!(header("120"), Some(Duration::from_secs(120)));
        assert_eq!(
            header("Sun, 06 Nov 1994 08:50:37 GMT"),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            header("Sunday, 06-Nov-94 08:51:37 GMT"),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            header("Sun Nov  6 08:52:37 1994"),
            Some(Duration::from_secs(180))
        );
        assert_eq!(
            header("Sun, 06 Nov 1994 08:00:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(header("soon"), None);
        assert_eq!(retry_after(&http::HeaderMap::new(), now), None);
    }

    #[test]
    fn the_host_header_never_carries_userinfo() {
        let mut url = Url::parse("http://user:secret@h.example:8080/x").unwrap();
        assert_eq!(host_header(&url), "h.example:8080");
        strip_credentials(&mut url);
        assert_eq!(url.as_str(), "http://h.example:8080/x");
        assert_eq!(request_target(&url).unwrap().to_string(), "/x");
        let url = Url::parse("http://u:p@h.example/a/b?q=1&r").unwrap();
        assert_eq!(request_target(&url).unwrap().to_string(), "/a/b?q=1&r");
        let url = Url::parse("https://h.example/x").unwrap();
        assert_eq!(host_header(&url), "h.example");
    }

    #[test]
    fn gzip_bodies_are_decoded_before_the_magic_check_and_the_digest() {
        use std::io::Write as _;
        let pdf = b"%PDF-1.7 body".to_vec();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&pdf).unwrap();
        let encoded = gz.finish().unwrap();
        let mut file = tempfile::NamedTempFile::new().unwrap();
        let sink = Sink::new(&mut file, 1 << 20, magic("application/pdf"));
        let mut decoding = Decoding::new(Some("gzip"), sink).unwrap();
        for chunk in encoded.chunks(5) {
            decoding.write(chunk).unwrap();
        }
        let sink = decoding.finish().unwrap();
        assert_eq!(sink.size, pdf.len() as u64);
        assert_eq!(sink.hasher.finish(), baton_core::digest::sha256_hex(&pdf));
        let refused = Decoding::new(Some("br"), Sink::new(&mut file, 1, None));
        assert!(refused.is_err_and(|e| e.contains("`br`")));
    }

    #[test]
    fn content_types_compare_by_essence() {
        assert_eq!(
            essence("Application/PDF; charset=binary"),
            "application/pdf"
        );
        assert_eq!(magic("application/pdf"), Some(&b"%PDF-"[..]));
    }
}
