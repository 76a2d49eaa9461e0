//! Downloading a candidate: HTTP(S) with redirects, connect and read timeouts, the per-host
//! limiter on every hop, content checks (expected content type, magic bytes, size cap, no
//! truncation) and streaming into the content-addressed store while hashing.

pub mod store;

use crate::limiter::Limiter;
use baton_core::digest::Hasher;
use bytes::Bytes;
use http_body_util::BodyExt;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};
use store::ContentStore;
use wasmtime_wasi_http::RequestOptions;

/// How downloads behave.
#[derive(Debug, Clone)]
pub struct FetchSettings {
    /// Bound on connecting.
    pub connect_timeout: Duration,
    /// The longest silence while reading a response.
    pub read_timeout: Duration,
    /// The largest download, in bytes.
    pub max_size: u64,
    /// Content types accepted when the candidate names none; empty: anything.
    pub accept: Vec<String>,
    /// Redirect hops followed.
    pub max_redirects: u32,
    /// How long a request may wait for the host limiter before its job steps aside.
    pub patience: Duration,
    /// The `User-Agent` sent.
    pub user_agent: String,
}

impl FetchSettings {
    /// Downloads as configured in `[queue]`: 5 redirect hops, 250 ms of patience for the
    /// host limiter, `baton/VERSION` as the user agent.
    pub fn from_settings(download: &crate::settings::DownloadSettings) -> FetchSettings {
        FetchSettings {
            connect_timeout: download.connect_timeout,
            read_timeout: download.read_timeout,
            max_size: download.max_size,
            accept: download.accept.clone(),
            max_redirects: 5,
            patience: Duration::from_millis(250),
            user_agent: format!("baton/{}", env!("CARGO_PKG_VERSION")),
        }
    }
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
}

impl FetchError {
    /// The reason, for people.
    pub fn reason(&self) -> &str {
        match self {
            FetchError::Transient(r) | FetchError::Permanent(r) => r,
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
}

type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, wasmtime_wasi_http::Error>;

fn empty_body() -> Body {
    http_body_util::Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed_unsync()
}

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

/// Seconds of a `Retry-After` header (the HTTP-date form is treated as one minute).
fn retry_after(response: &http::Response<impl http_body::Body>) -> Duration {
    response
        .headers()
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.trim()
                .parse::<u64>()
                .map_or(Duration::from_secs(60), Duration::from_secs)
        })
        .unwrap_or(Duration::from_secs(30))
}

impl Fetcher {
    /// Downloads `url` (with `headers`), expecting `expected` content type if given.
    pub async fn fetch(
        &self,
        url: &str,
        headers: &[(String, String)],
        expected: Option<&str>,
    ) -> Result<Stored, FetchError> {
        let mut current: http::Uri = url
            .parse()
            .map_err(|e| FetchError::Permanent(format!("bad URL {url}: {e}")))?;
        for _ in 0..=self.settings.max_redirects {
            let host = current
                .host()
                .ok_or_else(|| FetchError::Permanent(format!("URL without a host: {current}")))?
                .to_ascii_lowercase();
            if !matches!(current.scheme_str(), Some("http" | "https")) {
                return Err(FetchError::Permanent(format!(
                    "unsupported scheme in {current}"
                )));
            }
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
            let response = self.send(&current, headers).await?;
            let status = response.status();
            if status.is_redirection() {
                let location = response
                    .headers()
                    .get(http::header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .ok_or_else(|| {
                        FetchError::Permanent(format!("{status} without a location from {current}"))
                    })?;
                current = resolve_location(&current, location).ok_or_else(|| {
                    FetchError::Permanent(format!("bad redirect location {location:?}"))
                })?;
                continue;
            }
            if status == http::StatusCode::TOO_MANY_REQUESTS {
                let wait = retry_after(&response);
                return Err(FetchError::RateLimited {
                    until: Instant::now() + wait,
                    reason: format!("rate {key} (HTTP 429, retry after {}s)", wait.as_secs()),
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

    async fn send(
        &self,
        uri: &http::Uri,
        headers: &[(String, String)],
    ) -> Result<http::Response<Body>, FetchError> {
        let mut request = http::Request::get(uri.clone())
            .header(http::header::USER_AGENT, &self.settings.user_agent)
            .header(
                http::header::HOST,
                uri.authority().map(|a| a.as_str()).unwrap_or(""),
            );
        for (name, value) in headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let request = request
            .body(empty_body())
            .map_err(|e| FetchError::Permanent(format!("bad request for {uri}: {e}")))?;
        let options = RequestOptions {
            connect_timeout: Some(self.settings.connect_timeout),
            first_byte_timeout: Some(self.settings.read_timeout),
            between_bytes_timeout: Some(self.settings.read_timeout),
        };
        let sent = tokio::time::timeout(
            self.settings.connect_timeout + self.settings.read_timeout,
            wasmtime_wasi_http::default_send_request(request, Some(options)),
        )
        .await
        .map_err(|_| FetchError::Transient(format!("timed out waiting for {uri}")))?;
        let (response, io) = sent.map_err(|e| FetchError::Transient(format!("{uri}: {e}")))?;
        tokio::spawn(io);
        Ok(response.map(|b| b.boxed_unsync()))
    }

    async fn store_body(
        &self,
        response: http::Response<Body>,
        uri: &http::Uri,
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
        let magic = content_type.as_deref().and_then(magic);
        let mut temp = self
            .store
            .temp_file()
            .map_err(|e| FetchError::Transient(format!("{e:#}")))?;
        let mut hasher = Hasher::new();
        let mut size = 0u64;
        let mut head = Vec::new();
        let mut body = response.into_body();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| FetchError::Transient(format!("{uri}: body: {e}")))?;
            let Some(data) = frame.data_ref() else {
                continue;
            };
            size += data.len() as u64;
            if size > self.settings.max_size {
                return Err(FetchError::Permanent(format!(
                    "{uri}: over the size cap of {} bytes",
                    self.settings.max_size
                )));
            }
            if let Some(magic) = magic
                && head.len() < magic.len()
            {
                head.extend_from_slice(&data[..data.len().min(magic.len() - head.len())]);
                if head.len() == magic.len() && head != magic {
                    return Err(FetchError::Permanent(format!(
                        "{uri}: content does not start like {} ({:?})",
                        content_type.as_deref().unwrap_or(""),
                        String::from_utf8_lossy(&head)
                    )));
                }
            }
            hasher.update(data);
            temp.write_all(data)
                .map_err(|e| FetchError::Transient(format!("cannot write a download: {e}")))?;
        }
        if let Some(len) = declared
            && len != size
        {
            return Err(FetchError::Transient(format!(
                "{uri}: truncated, got {size} of {len} bytes"
            )));
        }
        if magic.is_some_and(|m| head.len() < m.len()) {
            return Err(FetchError::Permanent(format!(
                "{uri}: too short to be {}",
                content_type.as_deref().unwrap_or("")
            )));
        }
        let sha256 = hasher.finish();
        self.store
            .commit(temp, &sha256)
            .map_err(|e| FetchError::Transient(format!("{e:#}")))?;
        Ok(Stored {
            sha256,
            size,
            url: uri.to_string(),
            host,
            content_type,
        })
    }
}

/// Resolves a `Location` header against the URL that answered it.
fn resolve_location(base: &http::Uri, location: &str) -> Option<http::Uri> {
    if location.starts_with("http://") || location.starts_with("https://") {
        return location.parse().ok();
    }
    let authority = base.authority()?.as_str();
    let scheme = base.scheme_str()?;
    let path = if location.starts_with('/') {
        location.to_string()
    } else {
        let dir = base.path().rsplit_once('/').map_or("", |(d, _)| d);
        format!("{dir}/{location}")
    };
    format!("{scheme}://{authority}{path}").parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_resolve_against_the_base() {
        let base: http::Uri = "http://h:8/a/b.pdf?x=1".parse().unwrap();
        assert_eq!(
            resolve_location(&base, "/c").unwrap().to_string(),
            "http://h:8/c"
        );
        assert_eq!(
            resolve_location(&base, "d.pdf").unwrap().to_string(),
            "http://h:8/a/d.pdf"
        );
        assert_eq!(
            resolve_location(&base, "https://o/x").unwrap().to_string(),
            "https://o/x"
        );
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
