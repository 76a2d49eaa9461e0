//! What an OpenAI-compatible chat-completions response means: the answer of a 200, or the
//! one classification of anything else, with the reset time read from what the API said.
//!
//! 429: `insufficient_quota` (and the spend-limit codes next to it) is a spent quota, not a
//! rate limit; otherwise `error.type` `tokens` is the tokens-per-minute limit and anything
//! else the requests-per-minute limit. The reset is the first of `retry-after-ms`,
//! `retry-after` (seconds or HTTP-date), the limit's `x-ratelimit-reset-{requests,tokens}`
//! (a Go duration) and the message's "try again in 20s".
use baton_agent_support::excerpt;
use baton_agent_support::failure::{quota_exhausted, rate_limited, AgentError, Answer, Scope};
use baton_agent_support::reset;
use serde_json::{json, Value};

/// How much of an error message a classification quotes.
const MESSAGE_BYTES: usize = 400;

/// Error codes that mean the account's money or quota is spent.
const QUOTA_CODES: [&str; 4] = [
    "insufficient_quota",
    "billing_hard_limit_reached",
    "billing_not_active",
    "spend_limit_reached",
];

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

/// The answer in a 200, or the classification of any other response. `key_variable` names
/// the environment variable the key came from (for the auth message); `key` is redacted
/// from anything quoted.
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
                    "the API answered {} with a body that is not a chat completion: {}",
                    received.status,
                    excerpt(&String::from_utf8_lossy(received.body), 200, key)
                ),
                after_ms: None,
            });
    }
    let error = body.as_ref().map(|body| &body["error"]);
    let field = |name: &str| {
        error
            .and_then(|error| error[name].as_str())
            .unwrap_or_default()
            .to_string()
    };
    let message = match field("message") {
        text if text.is_empty() => {
            excerpt(&String::from_utf8_lossy(received.body), MESSAGE_BYTES, key)
        }
        text => excerpt(&text, MESSAGE_BYTES, key),
    };
    let (code, kind) = (field("code"), field("type"));
    let status = received.status;
    let described = |what: &str| match code.as_str() {
        "" => format!("{what} ({status}): {message}"),
        code => format!("{what} ({status} {code}): {message}"),
    };
    let retry_after = || {
        received
            .header("retry-after-ms")
            .and_then(|v| reset::retry_after_ms(v, now_ms))
            .or_else(|| {
                received
                    .header("retry-after")
                    .and_then(|v| reset::retry_after(v, now_ms))
            })
    };
    match status {
        401 | 403 => Err(AgentError::AuthFailed(format!(
            "{}; check the API key in the environment variable {key_variable}",
            described("the API refused the credential")
        ))),
        429 if QUOTA_CODES.contains(&code.as_str()) || QUOTA_CODES.contains(&kind.as_str()) => {
            Err(quota_exhausted(described("quota exhausted"), retry_after()))
        }
        429 => {
            let scope = if kind == "tokens" || message.contains("tokens per min") {
                Scope::Tokens
            } else {
                Scope::Requests
            };
            let header = match scope {
                Scope::Tokens => "x-ratelimit-reset-tokens",
                _ => "x-ratelimit-reset-requests",
            };
            let reset_at = retry_after()
                .or_else(|| {
                    received
                        .header(header)
                        .and_then(reset::go_duration_ms)
                        .map(|ms| now_ms.saturating_add(ms))
                })
                .or_else(|| reset::wait_after(&message, "try again in", now_ms));
            Err(rate_limited(scope, described("rate limited"), reset_at))
        }
        408 => Err(AgentError::Timeout(described("the API timed out"))),
        409 | 500..=599 => Err(AgentError::Overloaded {
            reason: described("the API is unavailable"),
            after_ms: retry_after().map(|at| at.saturating_sub(now_ms)),
        }),
        400 | 404 | 413 | 422 => Err(AgentError::BadRequest(described(
            "the API refused the request",
        ))),
        _ => Err(AgentError::Fatal(described("the API answered"))),
    }
}

/// The answer of a chat completion, or `None` when the body is not one.
fn answer(body: &Value, received: &Received) -> Option<Answer> {
    let choice = body["choices"].get(0)?;
    let message = choice.get("message")?;
    let text = match &message["content"] {
        Value::String(text) => text.clone(),
        Value::Null => message["refusal"].as_str().unwrap_or_default().to_string(),
        _ => return None,
    };
    let usage = &body["usage"];
    let usage = match (
        usage["prompt_tokens"].as_u64(),
        usage["completion_tokens"].as_u64(),
    ) {
        (Some(input), Some(output)) => Some((input, output)),
        _ => None,
    };
    Some(Answer {
        text,
        usage,
        model: body["model"].as_str().map(str::to_string),
        finish_reason: choice["finish_reason"].as_str().map(str::to_string),
        data: json!({
            "id": body["id"],
            "request-id": received.header("x-request-id"),
            "refusal": message["refusal"],
            "remaining-requests": received.header("x-ratelimit-remaining-requests"),
            "remaining-tokens": received.header("x-ratelimit-remaining-tokens"),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_764_568_800_000;

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn run(status: u16, pairs: &[(&str, &str)], body: Value) -> Result<Answer, AgentError> {
        let headers = headers(pairs);
        let body = body.to_string();
        classify(
            &Received {
                status,
                headers: &headers,
                body: body.as_bytes(),
            },
            NOW,
            "OPENAI_API_KEY",
            Some("sk-live-secret"),
        )
    }

    fn error(kind: &str, code: &str, message: &str) -> Value {
        json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
    }

    #[test]
    fn answers() {
        let body = json!({"id": "c1", "model": "gpt-4o-mini-2024", "choices": [{"index": 0,
            "message": {"role": "assistant", "content": "hi", "refusal": null},
            "finish_reason": "length"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}});
        let answer = run(200, &[("x-request-id", "req_1")], body).unwrap();
        assert_eq!(answer.text, "hi");
        assert_eq!(answer.usage, Some((5, 2)));
        assert_eq!(answer.finish_reason.as_deref(), Some("length"));
        assert_eq!(answer.model.as_deref(), Some("gpt-4o-mini-2024"));
        assert_eq!(answer.data["request-id"], "req_1");
        match run(200, &[], json!("<html>")) {
            Err(AgentError::Overloaded { reason, .. }) => {
                assert!(reason.contains("not a chat completion"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rate_limits_read_their_reset() {
        let rpm = error(
            "requests",
            "rate_limit_exceeded",
            "Rate limit reached on requests per min (RPM): Limit 3. Please try again in 20s.",
        );
        // retry-after-ms beats retry-after beats the header beats the message.
        let hit = |result| match result {
            Err(AgentError::RateLimited(hit)) => hit,
            other => panic!("{other:?}"),
        };
        let all = hit(run(
            429,
            &[
                ("retry-after-ms", "1500"),
                ("retry-after", "7"),
                ("x-ratelimit-reset-requests", "6m0s"),
            ],
            rpm.clone(),
        ));
        assert_eq!(
            (all.scope, all.reset_at_ms),
            (Scope::Requests, Some(NOW + 1500))
        );
        let seconds = hit(run(
            429,
            &[("retry-after", "7"), ("x-ratelimit-reset-requests", "6m0s")],
            rpm.clone(),
        ));
        assert_eq!(seconds.reset_at_ms, Some(NOW + 7000));
        let date = hit(run(
            429,
            &[("retry-after", "Mon, 01 Dec 2025 06:02:00 GMT")],
            rpm.clone(),
        ));
        assert_eq!(date.reset_at_ms, Some(NOW + 120_000));
        let duration = hit(run(
            429,
            &[("x-ratelimit-reset-requests", "6m0s")],
            rpm.clone(),
        ));
        assert_eq!(duration.reset_at_ms, Some(NOW + 360_000));
        let message = hit(run(429, &[], rpm));
        assert_eq!(message.reset_at_ms, Some(NOW + 20_000));
        assert!(message
            .message
            .starts_with("rate limited (429 rate_limit_exceeded): Rate limit reached"));
        let tpm = error("tokens", "rate_limit_exceeded", "on tokens per min (TPM)");
        let tokens = hit(run(
            429,
            &[
                ("x-ratelimit-reset-requests", "1s"),
                ("x-ratelimit-reset-tokens", "20ms"),
            ],
            tpm,
        ));
        assert_eq!(
            (tokens.scope, tokens.reset_at_ms),
            (Scope::Tokens, Some(NOW + 20))
        );
        let silent = hit(run(
            429,
            &[],
            error("requests", "rate_limit_exceeded", "slow down"),
        ));
        assert_eq!(silent.reset_at_ms, None);
    }

    #[test]
    fn quota_auth_and_the_rest() {
        match run(
            429,
            &[],
            error(
                "insufficient_quota",
                "insufficient_quota",
                "You exceeded your current quota",
            ),
        ) {
            Err(AgentError::QuotaExhausted(hit)) => {
                assert_eq!((hit.scope, hit.reset_at_ms), (Scope::Quota, None));
            }
            other => panic!("{other:?}"),
        }
        match run(
            401,
            &[],
            error(
                "invalid_request_error",
                "invalid_api_key",
                "Incorrect API key provided: sk-live-secret.",
            ),
        ) {
            Err(AgentError::AuthFailed(message)) => {
                assert!(message.contains("OPENAI_API_KEY"), "{message}");
                assert!(!message.contains("sk-live-secret"), "{message}");
                assert!(message.contains("[redacted]"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            run(
                503,
                &[("retry-after", "3")],
                error("server_error", "", "overloaded")
            ),
            Err(AgentError::Overloaded {
                after_ms: Some(3000),
                ..
            })
        ));
        assert!(matches!(
            run(
                400,
                &[],
                error(
                    "invalid_request_error",
                    "context_length_exceeded",
                    "too long"
                )
            ),
            Err(AgentError::BadRequest(_))
        ));
        assert!(matches!(
            run(
                404,
                &[],
                error("invalid_request_error", "model_not_found", "no model")
            ),
            Err(AgentError::BadRequest(_))
        ));
        assert!(matches!(
            run(408, &[], json!({})),
            Err(AgentError::Timeout(_))
        ));
        assert!(matches!(
            run(418, &[], json!({})),
            Err(AgentError::Fatal(_))
        ));
    }
}
