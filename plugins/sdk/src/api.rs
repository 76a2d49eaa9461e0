//! Looking an artifact up in a JSON web API, as the `unpaywall`, `openalex` and `crossref`
//! resolvers do. Describe the service once as an [`Api`], then [`Api::get_json`] (or
//! [`Api::get`] for the raw body) sends one GET and maps what can go wrong to a `failure`:
//!
//! - a transport error is retried when it is transient (a timeout, a refused or dropped
//!   connection) and fatal otherwise (e.g. a destination the operator did not grant);
//! - 2xx goes on to parsing, 404 is a skip, 429 and 5xx are retried (after `Retry-After`
//!   when the server sends seconds), any other status is fatal;
//! - a 2xx body that does not parse is retried.
//!
//! URLs: [`base_url`] reads the usual `base-url` setting, [`with_email`] adds the contact
//! address.
use core::time::Duration;

use serde::de::DeserializeOwned;

use crate::http::{self, Request, Response};
use crate::json::{self, Object};
use crate::types::Failure;
use crate::{fatal, retry, retry_after, skip};

/// How much of an error body goes into a fatal reason.
const EXCERPT_BYTES: usize = 200;

/// A JSON API and how to ask it.
#[derive(Debug, Clone, Copy)]
pub struct Api {
    /// Names the service in failures, e.g. `not found in unpaywall`.
    pub name: &'static str,
    /// The `user-agent` header, e.g. `concat!("baton-unpaywall/", env!("CARGO_PKG_VERSION"))`.
    pub user_agent: &'static str,
    /// A larger response fails the request (fatally: it would be as large next time).
    pub max_response_bytes: usize,
    pub timeout: Duration,
}

impl Api {
    /// GETs `url` as JSON and parses the body; `what` names it when it does not parse
    /// (`unpaywall sent an unreadable record: ...`).
    pub fn get_json<T: DeserializeOwned>(&self, url: &str, what: &str) -> Result<T, Failure> {
        let body = self.get(url)?;
        serde_json::from_slice(&body)
            .map_err(|error| retry(format!("{} sent an unreadable {what}: {error}", self.name)))
    }

    /// GETs `url` as JSON: the body of a 2xx response.
    pub fn get(&self, url: &str) -> Result<Vec<u8>, Failure> {
        let response = Request::get(url)
            .header("accept", "application/json")
            .header("user-agent", self.user_agent)
            .max_response_bytes(self.max_response_bytes)
            .timeout(self.timeout)
            .send()
            .map_err(|error| transport_failure(&error))?;
        self.check(&response)?;
        Ok(response.body)
    }

    /// What the response's status means for the job: 2xx goes on to parsing, 404 is a skip,
    /// 429 and 5xx are retried (after `Retry-After` when the server sends seconds), any other
    /// status is fatal.
    pub fn check(&self, response: &Response) -> Result<(), Failure> {
        let name = self.name;
        let status = response.status;
        match status {
            200..=299 => Ok(()),
            404 => Err(skip(format!("not found in {name}"))),
            429 | 500..=599 => {
                let reason = format!("{name} answered {status}");
                Err(match retry_after_ms(response) {
                    Some(after_ms) => retry_after(reason, after_ms),
                    None => retry(reason),
                })
            }
            _ => {
                let end = response.body.len().min(EXCERPT_BYTES);
                let excerpt = String::from_utf8_lossy(&response.body[..end]);
                Err(fatal(format!(
                    "{name} answered {status}: {}",
                    excerpt.trim()
                )))
            }
        }
    }
}

/// A request that got no response: retried when trying again may help, else fatal.
pub fn transport_failure(error: &http::Error) -> Failure {
    if error.is_transient() {
        retry(error.to_string())
    } else {
        fatal(error.to_string())
    }
}

/// `settings.base-url` without trailing `/`s, else `default` (e.g. a mirror or a test
/// server in place of the public service).
pub fn base_url(settings: &Object, default: &str) -> Result<String, json::Error> {
    let base_url = settings.str("base-url")?.unwrap_or(default);
    Ok(base_url.trim_end_matches('/').to_string())
}

/// `url` with `?{key}={email}` appended when there is an email (percent-encoded, `@` kept):
/// the contact address an API asks for, e.g. Unpaywall's `email` or Crossref's `mailto`.
pub fn with_email(url: String, key: &str, email: Option<&str>) -> String {
    match email {
        Some(email) => format!("{url}?{key}={}", http::encode(email, "@")),
        None => url,
    }
}

/// `Retry-After` (RFC 9110 §10.2.3) in milliseconds from now: delta-seconds, or an
/// HTTP-date in any of the three forms of §5.6.7 (a date in the past: 0). `None` when the
/// response has no such header or its value is neither.
pub fn retry_after_ms(response: &Response) -> Option<u64> {
    let value = response.header("retry-after")?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(seconds.saturating_mul(1000));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    let wait = at
        .duration_since(std::time::SystemTime::now())
        .unwrap_or_default();
    Some(wait.as_millis().min(u128::from(u64::MAX)) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{Error, ErrorCode, ErrorKind};
    use crate::types::Retry;

    const API: Api = Api {
        name: "unpaywall",
        user_agent: "baton-test/0",
        max_response_bytes: 1024,
        timeout: Duration::from_secs(1),
    };

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
    fn statuses() {
        assert_eq!(API.check(&response(200, &[], "")), Ok(()));
        assert_eq!(
            API.check(&response(404, &[], "")),
            Err(Failure::Skip("not found in unpaywall".into()))
        );
        assert_eq!(
            API.check(&response(429, &[("retry-after", "7")], "")),
            Err(Failure::Retry(Retry {
                reason: "unpaywall answered 429".into(),
                after_ms: Some(7000)
            }))
        );
        assert_eq!(
            API.check(&response(
                503,
                &[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")],
                ""
            )),
            Err(Failure::Retry(Retry {
                reason: "unpaywall answered 503".into(),
                after_ms: Some(0)
            })),
            "a date in the past means: now"
        );
        let later = httpdate::fmt_http_date(
            std::time::SystemTime::now() + std::time::Duration::from_secs(60),
        );
        match API.check(&response(503, &[("retry-after", &later)], "")) {
            Err(Failure::Retry(Retry {
                after_ms: Some(ms), ..
            })) => assert!((58_000..=60_000).contains(&ms), "{ms}"),
            other => panic!("{other:?}"),
        }
        for obsolete in ["Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"] {
            assert_eq!(
                retry_after_ms(&response(429, &[("retry-after", obsolete)], "")),
                Some(0),
                "{obsolete}"
            );
        }
        assert_eq!(
            retry_after_ms(&response(429, &[("retry-after", "soon")], "")),
            None
        );
        assert_eq!(
            API.check(&response(422, &[], "{\"error\": \"bad email\"}\n")),
            Err(Failure::Fatal(
                "unpaywall answered 422: {\"error\": \"bad email\"}".into()
            ))
        );
    }

    #[test]
    fn transport_errors() {
        let timeout = Error::new(
            "GET https://x.org/".into(),
            ErrorKind::Host(ErrorCode::ConnectionTimeout),
        );
        assert_eq!(
            transport_failure(&timeout),
            retry("GET https://x.org/: ConnectionTimeout (connect timed out)")
        );
        let denied = Error::new(
            "GET https://x.org/".into(),
            ErrorKind::Host(ErrorCode::HttpRequestDenied),
        );
        assert_eq!(
            transport_failure(&denied),
            fatal("GET https://x.org/: HttpRequestDenied (the host did not grant this destination to the plugin)")
        );
    }

    #[test]
    fn email_in_the_query() {
        assert_eq!(
            with_email("https://a.org/v2/10.1/x".into(), "email", Some("a+b@x.org")),
            "https://a.org/v2/10.1/x?email=a%2Bb@x.org"
        );
        assert_eq!(
            with_email("https://a.org/works/10.1/x".into(), "mailto", None),
            "https://a.org/works/10.1/x"
        );
    }

    #[test]
    fn base_url_setting() {
        let settings = |text| Object::parse("settings", text).unwrap();
        assert_eq!(
            base_url(
                &settings(r#"{"base-url": "http://127.0.0.1:8080//"}"#),
                "https://a.org"
            )
            .unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            base_url(&settings("{}"), "https://a.org/").unwrap(),
            "https://a.org"
        );
        assert_eq!(
            base_url(&settings(r#"{"base-url": 1}"#), "https://a.org")
                .unwrap_err()
                .to_string(),
            "settings.base-url must be a string, found a non-negative integer"
        );
    }
}
