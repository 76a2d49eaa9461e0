//! The classification every adapter returns for a call without an answer, as plain Rust
//! (the WIT `agent-failure` of baton:plugin@0.2.0 has the same cases; the adapters convert).
use core::fmt;

/// Which provider limit was hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Requests per minute (or another short window).
    Requests,
    /// Tokens per minute.
    Tokens,
    /// A daily or monthly allowance.
    Quota,
}

/// A limit that was hit and when it resets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitHit {
    /// Which limit.
    pub scope: Scope,
    /// The provider's message (no credential in it).
    pub message: String,
    /// When it resets, milliseconds since the Unix epoch; `None` when the provider did not
    /// say.
    pub reset_at_ms: Option<u64>,
}

/// Why an agent call produced no answer, and so what the host does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentError {
    /// Snooze until the reset (no attempt used).
    RateLimited(LimitHit),
    /// Park the limit key until the reset.
    QuotaExhausted(LimitHit),
    /// The credential was refused; the message names the variable or login that fixes it.
    AuthFailed(String),
    /// 529/503 or the CLI's equivalent; `after_ms` when the provider said how long.
    Overloaded {
        /// The provider's words.
        reason: String,
        /// How long to wait, when said.
        after_ms: Option<u64>,
    },
    /// No answer in time.
    Timeout(String),
    /// The request can never succeed as sent.
    BadRequest(String),
    /// Anything else that will not get better by retrying.
    Fatal(String),
}

impl fmt::Display for AgentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AgentError::RateLimited(hit) => {
                write!(f, "rate limited ({:?}): {}", hit.scope, hit.message)
            }
            AgentError::QuotaExhausted(hit) => write!(f, "quota exhausted: {}", hit.message),
            AgentError::AuthFailed(message) => write!(f, "authentication failed: {message}"),
            AgentError::Overloaded { reason, .. } => write!(f, "overloaded: {reason}"),
            AgentError::Timeout(message) => write!(f, "timeout: {message}"),
            AgentError::BadRequest(message) => write!(f, "bad request: {message}"),
            AgentError::Fatal(message) => write!(f, "{message}"),
        }
    }
}

/// A rate limit of `scope` that resets at `reset_at_ms`.
pub fn rate_limited(
    scope: Scope,
    message: impl Into<String>,
    reset_at_ms: Option<u64>,
) -> AgentError {
    AgentError::RateLimited(LimitHit {
        scope,
        message: message.into(),
        reset_at_ms,
    })
}

/// A spent quota that resets at `reset_at_ms`.
pub fn quota_exhausted(message: impl Into<String>, reset_at_ms: Option<u64>) -> AgentError {
    AgentError::QuotaExhausted(LimitHit {
        scope: Scope::Quota,
        message: message.into(),
        reset_at_ms,
    })
}

/// An answer, as every adapter reports it (the WIT `agent-reply`).
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The answer's text.
    pub text: String,
    /// `(input, output)` tokens, when reported.
    pub usage: Option<(u64, u64)>,
    /// The model that answered, as the provider names it.
    pub model: Option<String>,
    /// Why the answer ended (`stop`, `length`, `end_turn`, `max_tokens`, ...).
    pub finish_reason: Option<String>,
    /// Provider-specific facts (request id, session id, cost, remaining limits) as a JSON
    /// object.
    pub data: serde_json::Value,
}
