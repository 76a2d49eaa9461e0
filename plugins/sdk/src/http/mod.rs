//! A small, strict HTTP client over raw `wasi:http/outgoing-handler`.
//!
//! Every request goes through the host, which checks it against the plugin's granted HTTP
//! targets. The client does not follow redirects unless asked:
//! [`Request::send_following_redirects`] and [`get_following_redirects`] issue one new
//! request per hop, so the host's allowlist applies to every hop.
//!
//! ```ignore
//! let response = baton_sdk::http::Request::get("https://api.example.org/v1/items")
//!     .header("accept", "application/json")
//!     .max_response_bytes(1 << 20)
//!     .send()?;
//! if response.status == 200 { /* response.body */ }
//! ```
mod error;
mod url;
mod wire;

use core::time::Duration;

pub use self::error::{Error, ErrorKind};
pub use self::url::encode;
pub use crate::bindings::wasi::http::types::{ErrorCode, Method};

/// The response size limit when a request sets none.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

/// Headers not carried over when a redirect leaves the original origin.
const CREDENTIAL_HEADERS: [&str; 3] = ["authorization", "cookie", "proxy-authorization"];

/// An outgoing request; build it with [`Request::new`] or [`Request::get`] and the setters.
#[derive(Debug, Clone)]
pub struct Request {
    method: Method,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    max_response_bytes: usize,
    timeout: Option<Duration>,
}

/// A response with its whole body read.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Header names in lower case, in the order received.
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (case-insensitive), if it is valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .and_then(|(_, value)| core::str::from_utf8(value).ok())
    }
}

/// Sends a GET without following redirects.
pub fn get(url: &str) -> Result<Response, Error> {
    Request::get(url).send()
}

/// Sends a GET and follows up to `max` redirects, each as a new request through the host.
pub fn get_following_redirects(url: &str, max: u32) -> Result<Response, Error> {
    Request::get(url).send_following_redirects(max)
}

impl Request {
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Self {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: None,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            timeout: None,
        }
    }

    pub fn get(url: impl Into<String>) -> Self {
        Self::new(Method::Get, url)
    }

    /// Adds a header (repeat the name to send several values).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the request body; without one, no body stream is opened at all.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Fails with [`ErrorKind::ResponseTooLarge`] past this many body bytes.
    pub fn max_response_bytes(mut self, limit: usize) -> Self {
        self.max_response_bytes = limit;
        self
    }

    /// Asks the host for connect, first-byte and between-bytes timeouts of this length.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sends the request once; a redirect comes back as a 3xx response.
    pub fn send(&self) -> Result<Response, Error> {
        wire::exchange(self).map_err(|kind| Error::new(self.describe(), kind))
    }

    /// Sends the request and follows 301, 302, 303, 307 and 308 up to `max` times. A 303,
    /// or a 301/302 answering a POST, continues as a body-less GET; credentials are
    /// dropped when a hop leaves the original origin.
    pub fn send_following_redirects(&self, max: u32) -> Result<Response, Error> {
        let origin = url::origin(&self.url);
        let mut request = self.clone();
        let mut hops = 0;
        loop {
            let response = request.send()?;
            if !matches!(response.status, 301 | 302 | 303 | 307 | 308) {
                return Ok(response);
            }
            let fail = |kind| Err(Error::new(request.describe(), kind));
            if hops == max {
                return fail(ErrorKind::TooManyRedirects { max });
            }
            hops += 1;
            let bad_redirect = ErrorKind::BadRedirect {
                status: response.status,
            };
            let Some(location) = response.header("location") else {
                return fail(bad_redirect);
            };
            let Ok(next) = url::resolve(&request.url, location) else {
                return fail(bad_redirect);
            };
            request.redirect(next, response.status, origin.as_deref());
        }
    }

    fn redirect(&mut self, url: String, status: u16, origin: Option<&str>) {
        let becomes_get = status == 303 && !matches!(self.method, Method::Head)
            || matches!(status, 301 | 302) && matches!(self.method, Method::Post);
        if becomes_get {
            self.method = Method::Get;
            self.body = None;
            self.headers
                .retain(|(name, _)| !name.to_ascii_lowercase().starts_with("content-"));
        }
        if url::origin(&url).as_deref() != origin {
            self.headers.retain(|(name, _)| {
                !CREDENTIAL_HEADERS.contains(&name.to_ascii_lowercase().as_str())
            });
        }
        self.url = url;
    }

    fn describe(&self) -> String {
        let method = match &self.method {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Connect => "CONNECT",
            Method::Options => "OPTIONS",
            Method::Trace => "TRACE",
            Method::Patch => "PATCH",
            Method::Other(name) => name,
        };
        format!("{method} {}", self.url)
    }
}
