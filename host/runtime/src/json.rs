//! JSON views of the WIT types, for `--format json`, logs and (later) the store.

use super::bindings::types;
use serde_json::{Value, json};

/// Parses a JSON string a plugin returned, keeping it as text if it is not JSON.
fn embedded(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

/// A WIT `failure` as `{"kind": "retry" | "skip" | "fatal", "reason"}`, plus `after_ms`
/// (milliseconds, or null) for `retry`.
pub fn failure(failure: &types::Failure) -> Value {
    match failure {
        types::Failure::Retry(retry) => json!({
            "kind": "retry",
            "reason": retry.reason,
            "after_ms": retry.after_ms,
        }),
        types::Failure::Skip(reason) => json!({"kind": "skip", "reason": reason}),
        types::Failure::Fatal(reason) => json!({"kind": "fatal", "reason": reason}),
    }
}

/// One line for humans: `fatal: no such DOI`.
pub fn failure_line(failure: &types::Failure) -> String {
    match failure {
        types::Failure::Retry(retry) => match retry.after_ms {
            Some(ms) => format!("retry after {ms} ms: {}", retry.reason),
            None => format!("retry: {}", retry.reason),
        },
        types::Failure::Skip(reason) => format!("skip: {reason}"),
        types::Failure::Fatal(reason) => format!("fatal: {reason}"),
    }
}

/// A `candidate` as `{"url", "content_type", "score", "headers", "note"}`; `headers` is an
/// object of name to value (a repeated name keeps its last value).
pub fn candidate(candidate: &types::Candidate) -> Value {
    json!({
        "url": candidate.url,
        "content_type": candidate.content_type,
        "score": candidate.score,
        "headers": candidate.headers.iter().map(|f| (f.key.clone(), Value::String(f.value.clone()))).collect::<serde_json::Map<_, _>>(),
        "note": candidate.note,
    })
}

/// A `stage-outcome` as `{"summary", "outputs"}`, outputs relative to the output directory.
pub fn stage_outcome(outcome: &types::StageOutcome) -> Value {
    json!({"summary": outcome.summary, "outputs": outcome.outputs})
}

/// An `agent-reply` as `{"text", "usage", "model", "finish_reason", "data"}`: `usage` holds
/// `input_tokens` and `output_tokens` (or is null); `model` and `finish_reason` are strings or
/// null; `data` is parsed JSON, or the text if it is not JSON.
pub fn agent_reply(reply: &types::AgentReply) -> Value {
    json!({
        "text": reply.text,
        "usage": reply.usage.map(|u| json!({"input_tokens": u.input_tokens, "output_tokens": u.output_tokens})),
        "model": reply.model,
        "finish_reason": reply.finish_reason,
        "data": embedded(&reply.data),
    })
}

/// The kebab-case WIT name of an `agent-failure` case, e.g. `rate-limited`.
pub fn agent_failure_kind(failure: &types::AgentFailure) -> &'static str {
    match failure {
        types::AgentFailure::RateLimited(_) => "rate-limited",
        types::AgentFailure::QuotaExhausted(_) => "quota-exhausted",
        types::AgentFailure::AuthFailed(_) => "auth-failed",
        types::AgentFailure::Overloaded(_) => "overloaded",
        types::AgentFailure::Timeout(_) => "timeout",
        types::AgentFailure::BadRequest(_) => "bad-request",
        types::AgentFailure::Fatal(_) => "fatal",
    }
}

fn limit_scope(scope: types::LimitScope) -> &'static str {
    match scope {
        types::LimitScope::Requests => "requests",
        types::LimitScope::Tokens => "tokens",
        types::LimitScope::Quota => "quota",
    }
}

/// An `agent-failure` as `{"kind", "reason"}` with `kind` its case (see
/// [`agent_failure_kind`]); `rate-limited` and `quota-exhausted` add `scope` (`requests`,
/// `tokens`, `quota`) and `reset_at_ms` (ms since the Unix epoch, or null); `overloaded` adds
/// `after_ms` (or null).
pub fn agent_failure(failure: &types::AgentFailure) -> Value {
    let kind = agent_failure_kind(failure);
    match failure {
        types::AgentFailure::RateLimited(hit) | types::AgentFailure::QuotaExhausted(hit) => {
            json!({
                "kind": kind,
                "reason": hit.message,
                "scope": limit_scope(hit.scope),
                "reset_at_ms": hit.reset_at_ms,
            })
        }
        types::AgentFailure::Overloaded(retry) => json!({
            "kind": kind,
            "reason": retry.reason,
            "after_ms": retry.after_ms,
        }),
        types::AgentFailure::AuthFailed(reason)
        | types::AgentFailure::Timeout(reason)
        | types::AgentFailure::BadRequest(reason)
        | types::AgentFailure::Fatal(reason) => json!({"kind": kind, "reason": reason}),
    }
}

/// One line for humans: `rate-limited (tokens, resets at 1767225600000 ms): slow down`.
pub fn agent_failure_line(failure: &types::AgentFailure) -> String {
    let kind = agent_failure_kind(failure);
    match failure {
        types::AgentFailure::RateLimited(hit) | types::AgentFailure::QuotaExhausted(hit) => {
            match hit.reset_at_ms {
                Some(at) => format!(
                    "{kind} ({}, resets at {at} ms): {}",
                    limit_scope(hit.scope),
                    hit.message
                ),
                None => format!("{kind} ({}): {}", limit_scope(hit.scope), hit.message),
            }
        }
        types::AgentFailure::Overloaded(retry) => match retry.after_ms {
            Some(ms) => format!("{kind}, retry after {ms} ms: {}", retry.reason),
            None => format!("{kind}: {}", retry.reason),
        },
        types::AgentFailure::AuthFailed(reason)
        | types::AgentFailure::Timeout(reason)
        | types::AgentFailure::BadRequest(reason)
        | types::AgentFailure::Fatal(reason) => format!("{kind}: {reason}"),
    }
}
