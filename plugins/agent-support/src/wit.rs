//! Between the plain-Rust classification and the WIT records the host sees: an
//! [`AgentError`] as the `failure` an agent returns, and an [`Answer`] as its `agent-reply`.
//!
//! Under baton:plugin@0.1.0 a limit with a known reset is a `retry` with `after-ms` until
//! the reset (a snooze that uses no attempt), one without a reset, an overload or a timeout a
//! plain `retry`; authentication, bad requests and the rest are `fatal`.
use baton_sdk::types::{AgentReply, Failure, Usage};
use baton_sdk::{fatal, retry, retry_after};

use crate::failure::{AgentError, Answer};

/// The failure the host gets for `error`, at `now_ms`.
pub fn failure(error: &AgentError, now_ms: u64) -> Failure {
    let reason = error.to_string();
    match error {
        AgentError::RateLimited(hit) | AgentError::QuotaExhausted(hit) => match hit.reset_at_ms {
            Some(at) => retry_after(reason, at.saturating_sub(now_ms)),
            None => retry(reason),
        },
        AgentError::Overloaded {
            after_ms: Some(after),
            ..
        } => retry_after(reason, *after),
        AgentError::Overloaded { .. } | AgentError::Timeout(_) => retry(reason),
        AgentError::AuthFailed(_) | AgentError::BadRequest(_) | AgentError::Fatal(_) => {
            fatal(reason)
        }
    }
}

/// The reply the host gets for `answer`; `extra` fields join the answer's data (e.g. the
/// turn number).
pub fn reply(answer: Answer, extra: serde_json::Value) -> AgentReply {
    let mut data = answer.data;
    if let (Some(data), serde_json::Value::Object(extra)) = (data.as_object_mut(), extra) {
        data.extend(extra);
    }
    if let Some(data) = data.as_object_mut() {
        data.insert("model".into(), answer.model.into());
        data.insert("finish_reason".into(), answer.finish_reason.into());
    }
    AgentReply {
        text: answer.text,
        usage: answer.usage.map(|(input_tokens, output_tokens)| Usage {
            input_tokens,
            output_tokens,
        }),
        data: data.to_string(),
    }
}

/// A request that got no response: a timeout, a transient transport error (an overload: try
/// again later), or one that will repeat (a destination the operator did not grant, a bad
/// URL), which is fatal.
pub fn transport(error: &baton_sdk::http::Error) -> AgentError {
    use baton_sdk::http::ErrorCode;
    let timed_out = matches!(
        error.code(),
        Some(
            ErrorCode::ConnectionTimeout
                | ErrorCode::ConnectionReadTimeout
                | ErrorCode::HttpResponseTimeout
                | ErrorCode::DnsTimeout
        )
    );
    if timed_out {
        AgentError::Timeout(error.to_string())
    } else if error.is_transient() {
        AgentError::Overloaded {
            reason: error.to_string(),
            after_ms: None,
        }
    } else {
        AgentError::Fatal(error.to_string())
    }
}

/// The value of the environment variable `name` (granted to the plugin), or the
/// authentication failure that names it.
pub fn api_key(name: &str) -> Result<String, AgentError> {
    match std::env::var(name) {
        Ok(key) if !key.trim().is_empty() => Ok(key.trim().to_string()),
        _ => Err(AgentError::AuthFailed(format!(
            "no API key: the environment variable {name} is not set or not granted; set it and grant it with `env = [\"{name}\"]` in the plugin's grants"
        ))),
    }
}

/// Milliseconds since the Unix epoch, from the host's wall clock.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failure::{quota_exhausted, rate_limited, Scope};
    use baton_sdk::types::Retry;

    #[test]
    fn limits_become_snoozes_until_the_reset() {
        assert_eq!(
            failure(
                &rate_limited(Scope::Requests, "slow down", Some(10_500)),
                10_000
            ),
            Failure::Retry(Retry {
                reason: "rate limited (Requests): slow down".into(),
                after_ms: Some(500)
            })
        );
        assert_eq!(
            failure(&quota_exhausted("spent", None), 10_000),
            Failure::Retry(Retry {
                reason: "quota exhausted: spent".into(),
                after_ms: None
            })
        );
        assert!(matches!(
            failure(&AgentError::AuthFailed("bad key".into()), 0),
            Failure::Fatal(_)
        ));
        assert!(matches!(
            failure(&AgentError::Timeout("slow".into()), 0),
            Failure::Retry(_)
        ));
    }
}
