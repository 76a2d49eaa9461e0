//! What an Anthropic Messages response means: the answer of a 200, or the one
//! classification of anything else, with the reset time read from what the API said.
//!
//! 429 `rate_limit_error` with `retry-after` is a rate limit (tokens when the message or the
//! exhausted `anthropic-ratelimit-*` header says tokens, else requests), reset at the later
//! of `retry-after` and the exhausted limit's RFC 3339 `anthropic-ratelimit-*-reset`. A 429
//! without `retry-after` is a spend cap: the quota is exhausted (until "regain access on
//! DATE at HH:MM UTC" when the message says). 529 `overloaded_error` and 5xx are overloads.
use baton_agent_support::excerpt;
use baton_agent_support::failure::{quota_exhausted, rate_limited, AgentError, Answer, Scope};
use baton_agent_support::reset;
use serde_json::{json, Value};

/// How much of an error message a classification quotes.
const MESSAGE_BYTES: usize = 400;

/// One response as the adapter received it.
pub struct Received<'a> {
    /// The HTTP status.
    pub status: u16,
    /// Header names in lower case.
    pub headers: &'a [(String, String)],
    /// The body.
    pub body: &'a [u8],
}

impl Received<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// The answer in a 200, or the classification of any other response.
pub fn classify(
    received: &Received,
    now_ms: u64,
    key_variable: &str,
    key: Option<&str>,
) -> Result<Answer, AgentError> {
    let body: Option<Value> = serde_json::from_slice(received.body).ok();
    if (200..300).contains(&received.status) {
        return body
            .as_ref()
            .and_then(|body| answer(body, received))
            .ok_or_else(|| AgentError::Overloaded {
                reason: format!(
                    "the API answered {} with a body that is not a message: {}",
                    received.status,
                    excerpt(&String::from_utf8_lossy(received.body), 200, key)
                ),
                after_ms: None,
            });
    }
    let error = body.as_ref().map(|body| &body["error"]);
    let kind = error
        .and_then(|error| error["type"].as_str())
        .unwrap_or_default()
        .to_string();
    let message = match error.and_then(|error| error["message"].as_str()) {
        Some(text) => excerpt(text, MESSAGE_BYTES, key),
        None => excerpt(&String::from_utf8_lossy(received.body), MESSAGE_BYTES, key),
    };
    let status = received.status;
    let described = |what: &str| match kind.as_str() {
        "" => format!("{what} ({status}): {message}"),
        kind => format!("{what} ({status} {kind}): {message}"),
    };
    let retry_after = received
        .header("retry-after")
        .and_then(|value| reset::retry_after(value, now_ms));
    match status {
        401 => Err(AgentError::AuthFailed(format!(
            "{}; check the API key in the environment variable {key_variable}",
            described("the API refused the credential")
        ))),
        403 => Err(AgentError::AuthFailed(format!(
            "{}; the key in {key_variable} lacks the permission",
            described("the API refused the credential")
        ))),
        429 if retry_after.is_none() && !has_exhausted_limit(received) => Err(quota_exhausted(
            described("usage limit reached"),
            regain_access(&message),
        )),
        429 => {
            let tokens = message.contains("tokens per minute")
                || ["tokens", "input-tokens", "output-tokens"]
                    .iter()
                    .any(|name| remaining(received, name) == Some(0));
            let scope = if tokens {
                Scope::Tokens
            } else {
                Scope::Requests
            };
            let names: &[&str] = match scope {
                Scope::Tokens => &["tokens", "input-tokens", "output-tokens"],
                _ => &["requests"],
            };
            let header_reset = names
                .iter()
                .filter(|name| remaining(received, name) == Some(0))
                .filter_map(|name| {
                    received
                        .header(&format!("anthropic-ratelimit-{name}-reset"))
                        .and_then(reset::rfc3339)
                })
                .max();
            let reset_at = match (retry_after, header_reset) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            Err(rate_limited(scope, described("rate limited"), reset_at))
        }
        400 if message.contains("credit balance is too low") => {
            Err(quota_exhausted(described("credit exhausted"), None))
        }
        408 | 504 => Err(AgentError::Timeout(described("the API timed out"))),
        500..=599 => Err(AgentError::Overloaded {
            reason: described("the API is overloaded"),
            after_ms: retry_after.map(|at| at.saturating_sub(now_ms)),
        }),
        400 | 404 | 413 | 422 => Err(AgentError::BadRequest(described(
            "the API refused the request",
        ))),
        _ => Err(AgentError::Fatal(described("the API answered"))),
    }
}

/// `anthropic-ratelimit-NAME-remaining`, when sent.
fn remaining(received: &Received, name: &str) -> Option<u64> {
    received
        .header(&format!("anthropic-ratelimit-{name}-remaining"))
        .and_then(|value| value.trim().parse().ok())
}

/// Whether a per-minute limit header says it is used up (then a 429 without
/// `retry-after` is still a rate limit, not a spend cap).
fn has_exhausted_limit(received: &Received) -> bool {
    ["requests", "tokens", "input-tokens", "output-tokens"]
        .iter()
        .any(|name| remaining(received, name) == Some(0))
}

/// "You will regain access on 2026-01-01 at 00:00 UTC." as a time.
fn regain_access(message: &str) -> Option<u64> {
    let rest = &message[message.find("regain access on ")? + "regain access on ".len()..];
    let mut words = rest.split_whitespace();
    let date = words.next()?;
    let _at = words.next().filter(|w| *w == "at")?;
    let time = words.next()?;
    reset::rfc3339(&format!("{date}T{time}:00Z"))
}

/// The answer of a `message`, or `None` when the body is not one.
fn answer(body: &Value, received: &Received) -> Option<Answer> {
    if body["type"] != "message" {
        return None;
    }
    let text = body["content"]
        .as_array()?
        .iter()
        .filter(|block| block["type"] == "text")
        .filter_map(|block| block["text"].as_str())
        .collect::<Vec<_>>()
        .join("");
    let usage = &body["usage"];
    let usage = match (
        usage["input_tokens"].as_u64(),
        usage["output_tokens"].as_u64(),
    ) {
        (Some(input), Some(output)) => Some((input, output)),
        _ => None,
    };
    Some(Answer {
        text,
        usage,
        model: body["model"].as_str().map(str::to_string),
        finish_reason: body["stop_reason"].as_str().map(str::to_string),
        data: json!({
            "id": body["id"],
            "request-id": received.header("request-id"),
            "remaining-requests": received.header("anthropic-ratelimit-requests-remaining"),
            "remaining-tokens": received.header("anthropic-ratelimit-tokens-remaining"),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_764_568_800_000; // 2025-12-01T06:00:00Z

    fn run(status: u16, pairs: &[(&str, &str)], body: Value) -> Result<Answer, AgentError> {
        let headers: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let body = body.to_string();
        classify(
            &Received {
                status,
                headers: &headers,
                body: body.as_bytes(),
            },
            NOW,
            "ANTHROPIC_API_KEY",
            Some("sk-ant-secret"),
        )
    }

    fn error(kind: &str, message: &str) -> Value {
        json!({"type": "error", "error": {"type": kind, "message": message}})
    }

    #[test]
    fn answers() {
        let body = json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
            "content": [{"type": "text", "text": "he"}, {"type": "text", "text": "llo"}],
            "stop_reason": "max_tokens", "usage": {"input_tokens": 3, "output_tokens": 1}});
        let answer = run(200, &[("request-id", "req_9")], body).unwrap();
        assert_eq!(answer.text, "hello");
        assert_eq!(answer.usage, Some((3, 1)));
        assert_eq!(answer.finish_reason.as_deref(), Some("max_tokens"));
        assert_eq!(answer.data["request-id"], "req_9");
        assert!(matches!(
            run(200, &[], json!({"x": 1})),
            Err(AgentError::Overloaded { .. })
        ));
    }

    #[test]
    fn rate_limits_and_spend_caps() {
        let hit = |result| match result {
            Err(AgentError::RateLimited(hit)) => hit,
            other => panic!("{other:?}"),
        };
        let requests = hit(run(
            429,
            &[
                ("retry-after", "5"),
                ("anthropic-ratelimit-requests-remaining", "0"),
                ("anthropic-ratelimit-requests-reset", "2025-12-01T06:00:30Z"),
            ],
            error("rate_limit_error", "of 50 requests per minute"),
        ));
        assert_eq!(
            (requests.scope, requests.reset_at_ms),
            (Scope::Requests, Some(NOW + 30_000)),
            "the later of the two"
        );
        let tokens = hit(run(
            429,
            &[
                ("retry-after", "2"),
                ("anthropic-ratelimit-input-tokens-remaining", "0"),
                (
                    "anthropic-ratelimit-input-tokens-reset",
                    "2025-12-01T06:00:01Z",
                ),
            ],
            error("rate_limit_error", "of 40,000 input tokens per minute"),
        ));
        assert_eq!(
            (tokens.scope, tokens.reset_at_ms),
            (Scope::Tokens, Some(NOW + 2000))
        );
        match run(429, &[], error("rate_limit_error", "You have reached your specified API usage limits. You will regain access on 2025-12-02 at 00:00 UTC.")) {
            Err(AgentError::QuotaExhausted(hit)) => assert_eq!(hit.reset_at_ms, Some(NOW + 18 * 3_600_000)),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            run(
                400,
                &[],
                error(
                    "invalid_request_error",
                    "Your credit balance is too low to access the Anthropic API."
                )
            ),
            Err(AgentError::QuotaExhausted(_))
        ));
    }

    #[test]
    fn auth_overload_and_bad_requests() {
        match run(401, &[], error("authentication_error", "invalid x-api-key")) {
            Err(AgentError::AuthFailed(message)) => {
                assert!(message.contains("ANTHROPIC_API_KEY"), "{message}")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            run(
                529,
                &[("retry-after", "3")],
                error("overloaded_error", "Overloaded")
            ),
            Err(AgentError::Overloaded {
                after_ms: Some(3000),
                ..
            })
        ));
        assert!(matches!(
            run(503, &[], error("api_error", "down")),
            Err(AgentError::Overloaded { after_ms: None, .. })
        ));
        assert!(matches!(
            run(
                400,
                &[],
                error("invalid_request_error", "prompt is too long")
            ),
            Err(AgentError::BadRequest(_))
        ));
        assert!(matches!(
            run(504, &[], json!({})),
            Err(AgentError::Timeout(_))
        ));
    }
}
