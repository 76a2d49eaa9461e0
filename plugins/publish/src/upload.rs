//! Sending one file to its URL, and what each answer means:
//!
//! - 2xx: published.
//! - 429 and 5xx: tried again, after the server's `Retry-After` (RFC 9110 §10.2.3:
//!   delay-seconds or an HTTP-date) or else a doubling backoff from half a second, up to
//!   the configured attempts. A wait longer than `max-wait`, or the last attempt, ends the
//!   call with a `retry` failure carrying the wait, so the host decides (the stage's
//!   `retries`).
//! - Any other status (4xx, a redirect, which is never followed): fatal, with the status
//!   and a short excerpt of the answer.
//! - No answer: a transient transport error (refused or dropped connection, timeout) is
//!   tried again like a 5xx; any other is fatal. A destination the operator did not grant
//!   is fatal and says which grant would allow it.
//!
//! Every request carries `Content-Length`, `Content-Type`, `Content-Digest` (RFC 9530,
//! `sha-256=:BASE64:`) and, with a token, `Authorization: Bearer`; the token is never logged
//! nor put in any message.
use std::time::Duration;

use baton_sdk::api::retry_after_ms;
use baton_sdk::http::{ErrorCode, Request, Response};
use baton_sdk::types::Failure;
use baton_sdk::{fatal, retry, retry_after};
use url::Url;

use crate::config::Config;

/// How much of an answer's body a failure quotes, in bytes.
const EXCERPT_BYTES: usize = 200;
/// The largest answer body read, in bytes; deploy endpoints answer briefly.
const MAX_RESPONSE_BYTES: usize = 1 << 20;
/// The first wait of the doubling backoff, when the server names none.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// The `user-agent` of every request.
const USER_AGENT: &str = concat!("baton-publish/", env!("CARGO_PKG_VERSION"));

/// One file to send: its bytes and what the headers say about them.
pub struct Body<'a> {
    /// Where it goes.
    pub url: &'a Url,
    /// The file's content.
    pub bytes: Vec<u8>,
    /// The `Content-Type` header.
    pub content_type: &'a str,
    /// The SHA-256 of `bytes`, base64 (RFC 4648 §4), for `Content-Digest`.
    pub sha256_base64: &'a str,
}

/// A file the endpoint accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    /// The 2xx status of the accepting answer.
    pub status: u16,
    /// How many requests it took (1 when the first was accepted).
    pub attempts: u32,
}

/// What one request's answer means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Accepted with this 2xx status.
    Done(u16),
    /// Worth another try, after the server's wait in milliseconds when it named one.
    Again {
        reason: String,
        after_ms: Option<u64>,
    },
    /// Another try would fail the same way.
    Fatal(String),
}

/// Sends `body` with `config`'s method until it is accepted, a failure is fatal, or the
/// retries run out (see the module's documentation).
pub fn send(config: &Config, body: Body<'_>) -> Result<Accepted, Failure> {
    let Body {
        url,
        bytes,
        content_type,
        sha256_base64,
    } = body;
    let mut request = Request::new(config.method.method(), url.as_str())
        .header("content-type", content_type)
        .header("content-length", bytes.len().to_string())
        .header("content-digest", format!("sha-256=:{sha256_base64}:"))
        .header("user-agent", USER_AGENT)
        .max_response_bytes(MAX_RESPONSE_BYTES)
        .timeout(config.timeout);
    if let Some(token) = &config.token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let request = request.body(bytes);
    let what = format!("{} {url}", config.method.name());
    let mut attempt = 1;
    loop {
        let verdict = match request.send() {
            Ok(response) => judge(&what, &response),
            Err(error) if matches!(error.code(), Some(ErrorCode::HttpRequestDenied)) => {
                return Err(fatal(format!("{error}; {}", grant_hint(url))));
            }
            Err(error) if error.is_transient() => Verdict::Again {
                reason: error.to_string(),
                after_ms: None,
            },
            Err(error) => Verdict::Fatal(error.to_string()),
        };
        let (reason, after_ms) = match verdict {
            Verdict::Done(status) => {
                return Ok(Accepted {
                    status,
                    attempts: attempt,
                })
            }
            Verdict::Fatal(reason) => return Err(fatal(reason)),
            Verdict::Again { reason, after_ms } => (reason, after_ms),
        };
        let wait = after_ms.map_or_else(|| backoff(attempt), Duration::from_millis);
        if attempt >= config.attempts {
            return Err(give_back(
                format!("{reason} (tried {attempt} times)"),
                after_ms,
            ));
        }
        if wait > config.max_wait {
            return Err(give_back(
                format!(
                    "{reason}; the server asks to wait {} s, longer than max-wait ({} s)",
                    wait.as_secs_f64(),
                    config.max_wait.as_secs()
                ),
                after_ms,
            ));
        }
        baton_sdk::warn!(
            "trying again",
            "url" => url,
            "reason" => reason,
            "attempt" => attempt,
            "wait_ms" => wait.as_millis()
        );
        sleep(wait);
        attempt += 1;
    }
}

/// What an answer means for the file (see the module's documentation); `what` is
/// `METHOD url`.
pub fn judge(what: &str, response: &Response) -> Verdict {
    let status = response.status;
    match status {
        200..=299 => Verdict::Done(status),
        429 | 500..=599 => Verdict::Again {
            reason: format!("{what} answered {status}"),
            after_ms: retry_after_ms(response),
        },
        _ => {
            let excerpt = excerpt(&response.body);
            let redirect = if (300..400).contains(&status) {
                " (redirects are not followed: point the url at the final location)"
            } else {
                ""
            };
            Verdict::Fatal(if excerpt.is_empty() {
                format!("{what} answered {status}{redirect}")
            } else {
                format!("{what} answered {status}{redirect}: {excerpt}")
            })
        }
    }
}

/// The start of an answer's body as one line of text.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(EXCERPT_BYTES)]);
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The grant that would let the plugin reach `url`, for the operator.
fn grant_hint(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    let port = url.port_or_known_default().unwrap_or(80);
    let origin = format!("{}://{host}:{port}", url.scheme());
    format!(
        "not sent: to publish to {origin}, add `http = [\"{origin}\"]` to this plugin's [plugins.NAME.grants] in baton.toml"
    )
}

/// A `retry` failure for the host, with the server's wait when it named one.
fn give_back(reason: String, after_ms: Option<u64>) -> Failure {
    match after_ms {
        Some(after_ms) => retry_after(reason, after_ms),
        None => retry(reason),
    }
}

/// The wait before try `attempt + 1` when the server names none: 0.5 s, 1 s, 2 s, ...
fn backoff(attempt: u32) -> Duration {
    FIRST_BACKOFF.saturating_mul(1 << attempt.saturating_sub(1).min(16))
}

/// Blocks for `wait` on the monotonic clock.
fn sleep(wait: Duration) {
    let nanos = u64::try_from(wait.as_nanos()).unwrap_or(u64::MAX);
    baton_sdk::wasi::clocks::monotonic_clock::subscribe_duration(nanos).block();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, headers: &[(&str, &str)], body: &str) -> Response {
        Response {
            status,
            headers: headers
                .iter()
                .map(|(name, value)| (name.to_string(), value.as_bytes().to_vec()))
                .collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn answers() {
        let what = "PUT http://h/site/a.txt";
        assert_eq!(judge(what, &response(201, &[], "")), Verdict::Done(201));
        assert_eq!(judge(what, &response(204, &[], "")), Verdict::Done(204));
        assert_eq!(
            judge(what, &response(503, &[("retry-after", "3")], "")),
            Verdict::Again {
                reason: "PUT http://h/site/a.txt answered 503".into(),
                after_ms: Some(3000)
            }
        );
        assert_eq!(
            judge(
                what,
                &response(429, &[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")], "")
            ),
            Verdict::Again {
                reason: "PUT http://h/site/a.txt answered 429".into(),
                after_ms: Some(0)
            }
        );
        assert_eq!(
            judge(what, &response(500, &[], "")),
            Verdict::Again {
                reason: "PUT http://h/site/a.txt answered 500".into(),
                after_ms: None
            }
        );
        assert_eq!(
            judge(what, &response(403, &[], "forbidden:\n  token   expired\n")),
            Verdict::Fatal("PUT http://h/site/a.txt answered 403: forbidden: token expired".into())
        );
        assert_eq!(
            judge(what, &response(308, &[("location", "/x")], "")),
            Verdict::Fatal(
                "PUT http://h/site/a.txt answered 308 (redirects are not followed: point the url at the final location)"
                    .into()
            )
        );
        let long = "x".repeat(1000);
        match judge(what, &response(400, &[], &long)) {
            Verdict::Fatal(message) => assert!(message.len() < 300, "{message}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn backoff_doubles_and_hints_name_the_origin() {
        assert_eq!(backoff(1), Duration::from_millis(500));
        assert_eq!(backoff(3), Duration::from_secs(2));
        let url = Url::parse("https://deploy.example.org/site/a.txt").unwrap();
        assert!(grant_hint(&url).contains("`http = [\"https://deploy.example.org:443\"]`"));
    }
}
