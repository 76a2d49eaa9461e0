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

/// An `agent-reply` as `{"text", "usage", "data"}`: `usage` holds `input_tokens` and
/// `output_tokens` (or is null); `data` is parsed JSON, or the text if it is not JSON.
pub fn agent_reply(reply: &types::AgentReply) -> Value {
    json!({
        "text": reply.text,
        "usage": reply.usage.map(|u| json!({"input_tokens": u.input_tokens, "output_tokens": u.output_tokens})),
        "data": embedded(&reply.data),
    })
}
