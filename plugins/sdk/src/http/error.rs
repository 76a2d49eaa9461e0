//! The client's error type. A failure reported by the host keeps its wasi-http
//! `error-code` (e.g. `HttpRequestDenied` when the operator did not grant the destination),
//! and every message names the request it belongs to.
use core::fmt;

use crate::bindings::wasi::http::types::{ErrorCode, HeaderError};

/// Why a request did not produce a response.
#[derive(Debug, Clone)]
pub struct Error {
    /// `METHOD url` of the request (of the last hop when following redirects).
    pub request: String,
    pub kind: ErrorKind,
}

#[derive(Debug, Clone)]
pub enum ErrorKind {
    /// The URL is not an absolute http(s) URL the client can send.
    InvalidUrl(&'static str),
    /// The host refused a request header (`Forbidden` or `InvalidSyntax`).
    InvalidHeader { name: String, error: HeaderError },
    /// The host refused the method.
    InvalidMethod,
    /// The host's wasi-http error code, from `handle`, the response or the body.
    Host(ErrorCode),
    /// A stream failed without an http error code; the host's description.
    Stream(String),
    /// The response body is larger than the request's limit.
    ResponseTooLarge { limit: usize },
    /// A redirect without a usable `Location` header.
    BadRedirect { status: u16 },
    /// Still redirected after the allowed number of hops.
    TooManyRedirects { max: u32 },
}

impl Error {
    pub(crate) fn new(request: String, kind: ErrorKind) -> Self {
        Self { request, kind }
    }

    /// The host's error code, when the host reported one.
    pub fn code(&self) -> Option<&ErrorCode> {
        match &self.kind {
            ErrorKind::Host(code) => Some(code),
            _ => None,
        }
    }

    /// Whether trying again later may succeed (timeouts, refused or dropped connections,
    /// broken streams), as opposed to errors that repeat (denied, bad URL, TLS, limits).
    pub fn is_transient(&self) -> bool {
        match &self.kind {
            ErrorKind::Host(code) => matches!(
                code,
                ErrorCode::DnsTimeout
                    | ErrorCode::DestinationUnavailable
                    | ErrorCode::ConnectionRefused
                    | ErrorCode::ConnectionTerminated
                    | ErrorCode::ConnectionTimeout
                    | ErrorCode::ConnectionReadTimeout
                    | ErrorCode::ConnectionWriteTimeout
                    | ErrorCode::ConnectionLimitReached
                    | ErrorCode::HttpResponseIncomplete
                    | ErrorCode::HttpResponseTimeout
            ),
            ErrorKind::Stream(_) => true,
            _ => false,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.request)?;
        match &self.kind {
            ErrorKind::InvalidUrl(reason) => write!(f, "invalid URL: {reason}"),
            ErrorKind::InvalidHeader { name, error } => {
                write!(f, "header `{name}` refused by the host: {}", strip(error))
            }
            ErrorKind::InvalidMethod => write!(f, "method refused by the host"),
            ErrorKind::Host(code) => {
                write!(f, "{}", strip(code))?;
                match explain(code) {
                    Some(text) => write!(f, " ({text})"),
                    None => Ok(()),
                }
            }
            ErrorKind::Stream(text) => write!(f, "stream failed: {text}"),
            ErrorKind::ResponseTooLarge { limit } => {
                write!(f, "response body larger than {limit} bytes")
            }
            ErrorKind::BadRedirect { status } => {
                write!(f, "redirect {status} without a usable Location header")
            }
            ErrorKind::TooManyRedirects { max } => write!(f, "more than {max} redirects"),
        }
    }
}

impl std::error::Error for Error {}

/// The generated `Debug` text without its `ErrorCode::` prefix, e.g. `HttpRequestDenied`
/// or `DnsError(DnsErrorPayload { .. })`.
fn strip(value: &impl fmt::Debug) -> String {
    let text = format!("{value:?}");
    match text.split_once("::") {
        Some((_, rest)) => rest.to_string(),
        None => text,
    }
}

fn explain(code: &ErrorCode) -> Option<&'static str> {
    Some(match code {
        ErrorCode::HttpRequestDenied => "the host did not grant this destination to the plugin",
        ErrorCode::DnsTimeout | ErrorCode::DnsError(_) => "name lookup failed",
        ErrorCode::DestinationNotFound => "unknown host",
        ErrorCode::DestinationIpProhibited => "the host forbids this address",
        ErrorCode::ConnectionRefused => "connection refused",
        ErrorCode::ConnectionTerminated => "connection closed early",
        ErrorCode::ConnectionTimeout => "connect timed out",
        ErrorCode::HttpResponseTimeout => "no response in time",
        ErrorCode::TlsCertificateError => "TLS certificate rejected",
        ErrorCode::HttpRequestUriInvalid => "the host rejected the URL",
        _ => return None,
    })
}
