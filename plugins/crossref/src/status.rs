//! What Crossref's HTTP status means for the job: 2xx goes on to parsing, 404 is a skip,
//! 429 and 5xx are retried (after `Retry-After` when the server sends seconds), any other
//! status is fatal.
use baton_sdk::http::Response;
use baton_sdk::types::Failure;
use baton_sdk::{fatal, retry, retry_after, skip};

/// How much of an error body goes into a fatal reason.
const EXCERPT_BYTES: usize = 200;

pub fn check(response: &Response) -> Result<(), Failure> {
    let status = response.status;
    match status {
        200..=299 => Ok(()),
        404 => Err(skip("not found in crossref")),
        429 | 500..=599 => {
            let reason = format!("crossref answered {status}");
            Err(match retry_after_ms(response) {
                Some(after_ms) => retry_after(reason, after_ms),
                None => retry(reason),
            })
        }
        _ => {
            let end = response.body.len().min(EXCERPT_BYTES);
            let excerpt = String::from_utf8_lossy(&response.body[..end]);
            Err(fatal(format!(
                "crossref answered {status}: {}",
                excerpt.trim()
            )))
        }
    }
}

/// `Retry-After` in delta-seconds; the HTTP-date form is left to the host's backoff.
fn retry_after_ms(response: &Response) -> Option<u64> {
    let seconds: u64 = response.header("retry-after")?.trim().parse().ok()?;
    Some(seconds.saturating_mul(1000))
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_sdk::types::Retry;

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
        assert_eq!(check(&response(200, &[], "")), Ok(()));
        assert_eq!(
            check(&response(404, &[], "")),
            Err(Failure::Skip("not found in crossref".into()))
        );
        assert_eq!(
            check(&response(429, &[("retry-after", "7")], "")),
            Err(Failure::Retry(Retry {
                reason: "crossref answered 429".into(),
                after_ms: Some(7000)
            }))
        );
        assert_eq!(
            check(&response(
                503,
                &[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")],
                ""
            )),
            Err(Failure::Retry(Retry {
                reason: "crossref answered 503".into(),
                after_ms: None
            }))
        );
        assert_eq!(
            check(&response(400, &[], "{\"status\": \"failed\", \"message-type\": \"validation-failure\"}")),
            Err(Failure::Fatal(
                "crossref answered 400: {\"status\": \"failed\", \"message-type\": \"validation-failure\"}".into()
            ))
        );
    }
}
