//! Between the plain-Rust classification and the WIT records the host sees: an
//! [`AgentError`] as the baton:plugin@0.2.0 `agent-failure` an agent returns (one case per
//! classification, the reset time as the provider said it), and an [`Answer`] as its
//! `agent-reply` (text, usage, model, finish reason, data).
use baton_sdk::types::{AgentFailure, AgentReply, LimitHit, LimitScope, Retry, Usage};

use crate::failure::{self, AgentError, Answer, Scope};

/// The `agent-failure` the host gets for `error`: the same case, with a limit's scope,
/// message and reset time (milliseconds since the Unix epoch) carried over unchanged.
pub fn failure(error: &AgentError) -> AgentFailure {
    match error {
        AgentError::RateLimited(hit) => AgentFailure::RateLimited(limit_hit(hit)),
        AgentError::QuotaExhausted(hit) => AgentFailure::QuotaExhausted(limit_hit(hit)),
        AgentError::AuthFailed(message) => AgentFailure::AuthFailed(message.clone()),
        AgentError::Overloaded { reason, after_ms } => AgentFailure::Overloaded(Retry {
            reason: reason.clone(),
            after_ms: *after_ms,
        }),
        AgentError::Timeout(message) => AgentFailure::Timeout(message.clone()),
        AgentError::BadRequest(message) => AgentFailure::BadRequest(message.clone()),
        AgentError::Fatal(message) => AgentFailure::Fatal(message.clone()),
    }
}

/// The WIT `limit-hit` for `hit`.
fn limit_hit(hit: &failure::LimitHit) -> LimitHit {
    LimitHit {
        scope: match hit.scope {
            Scope::Requests => LimitScope::Requests,
            Scope::Tokens => LimitScope::Tokens,
            Scope::Quota => LimitScope::Quota,
        },
        message: hit.message.clone(),
        reset_at_ms: hit.reset_at_ms,
    }
}

/// The reply the host gets for `answer`; `extra` fields join the answer's data (e.g. the
/// turn number). The model and finish reason travel in their own fields.
pub fn reply(answer: Answer, extra: serde_json::Value) -> AgentReply {
    let mut data = answer.data;
    if let (Some(data), serde_json::Value::Object(extra)) = (data.as_object_mut(), extra) {
        data.extend(extra);
    }
    AgentReply {
        text: answer.text,
        usage: answer.usage.map(|(input_tokens, output_tokens)| Usage {
            input_tokens,
            output_tokens,
        }),
        model: answer.model,
        finish_reason: answer.finish_reason,
        data: data.to_string(),
    }
}

/// A request that got no response: a timeout (of the request's `timeout_ms`, milliseconds,
/// which the message names with the `timeout-ms` option that sets it), a transient transport
/// error (an overload: try again later), or one that will repeat (a destination the operator
/// did not grant, a bad URL), which is fatal.
pub fn transport(error: &baton_sdk::http::Error, timeout_ms: u64) -> AgentError {
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
        AgentError::Timeout(format!(
            "no answer within {timeout_ms} ms ({error}); a model that needs longer needs a larger `timeout-ms` option"
        ))
    } else if error.is_transient() {
        AgentError::Overloaded {
            reason: error.to_string(),
            after_ms: None,
        }
    } else {
        AgentError::Fatal(error.to_string())
    }
}

/// The value of the environment variable `name` (granted to the plugin), or a fatal
/// failure that names it: a missing key is the operator's configuration, which no retry
/// and no breaker cool-down can fix (a key the provider refuses is `auth-failed`).
pub fn api_key(name: &str) -> Result<String, AgentError> {
    match std::env::var(name) {
        Ok(key) if !key.trim().is_empty() => Ok(key.trim().to_string()),
        _ => Err(AgentError::Fatal(format!(
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
    use crate::failure::{quota_exhausted, rate_limited};

    #[test]
    fn every_classification_keeps_its_case_and_reset() {
        assert_eq!(
            failure(&rate_limited(Scope::Tokens, "slow down", Some(10_500))),
            AgentFailure::RateLimited(LimitHit {
                scope: LimitScope::Tokens,
                message: "slow down".into(),
                reset_at_ms: Some(10_500),
            })
        );
        assert_eq!(
            failure(&quota_exhausted("spent", None)),
            AgentFailure::QuotaExhausted(LimitHit {
                scope: LimitScope::Quota,
                message: "spent".into(),
                reset_at_ms: None,
            })
        );
        assert_eq!(
            failure(&AgentError::Overloaded {
                reason: "busy".into(),
                after_ms: Some(2_000)
            }),
            AgentFailure::Overloaded(Retry {
                reason: "busy".into(),
                after_ms: Some(2_000)
            })
        );
        assert_eq!(
            failure(&AgentError::AuthFailed("bad key".into())),
            AgentFailure::AuthFailed("bad key".into())
        );
        assert_eq!(
            failure(&AgentError::Timeout("slow".into())),
            AgentFailure::Timeout("slow".into())
        );
        assert_eq!(
            failure(&AgentError::BadRequest("no such model".into())),
            AgentFailure::BadRequest("no such model".into())
        );
        assert_eq!(
            failure(&AgentError::Fatal("broken".into())),
            AgentFailure::Fatal("broken".into())
        );
    }

    #[test]
    fn replies_carry_model_and_finish_reason_in_their_fields() {
        let answer = Answer {
            text: "hi".into(),
            usage: Some((3, 1)),
            model: Some("gpt-4o-mini".into()),
            finish_reason: Some("stop".into()),
            data: serde_json::json!({ "id": "r1" }),
        };
        let reply = reply(answer, serde_json::json!({ "turn": 2 }));
        assert_eq!(reply.model.as_deref(), Some("gpt-4o-mini"));
        assert_eq!(reply.finish_reason.as_deref(), Some("stop"));
        let usage = reply.usage.map(|u| (u.input_tokens, u.output_tokens));
        assert_eq!(usage, Some((3, 1)));
        let data: serde_json::Value = serde_json::from_str(&reply.data).unwrap_or_default();
        assert_eq!(data, serde_json::json!({ "id": "r1", "turn": 2 }));
    }
}
