//! Builders for the `failure` a call returns: what the host should do when a plugin could
//! not produce a result.
use crate::types::{AgentFailure, Failure, Retry};

/// The input can never succeed; the job ends as `failed`.
pub fn fatal(reason: impl Into<String>) -> Failure {
    Failure::Fatal(reason.into())
}

/// Nothing to do for this input; the job ends as `skipped`.
pub fn skip(reason: impl Into<String>) -> Failure {
    Failure::Skip(reason.into())
}

/// A transient failure: the host tries again later with its own backoff.
pub fn retry(reason: impl Into<String>) -> Failure {
    Failure::Retry(Retry {
        reason: reason.into(),
        after_ms: None,
    })
}

/// A transient failure with a known wait (e.g. a server's `Retry-After`); the host treats
/// the wait as a snooze that does not use up one of the job's attempts.
pub fn retry_after(reason: impl Into<String>, after_ms: u64) -> Failure {
    Failure::Retry(Retry {
        reason: reason.into(),
        after_ms: Some(after_ms),
    })
}

/// Lets agent adapters use the settings and JSON helpers (which fail with `failure`) with `?`:
/// a retry becomes `overloaded` (its wait kept), skip and fatal become `fatal`, as the host
/// maps the failures of `baton:plugin@0.1.0` agents.
impl From<Failure> for AgentFailure {
    fn from(failure: Failure) -> AgentFailure {
        match failure {
            Failure::Retry(retry) => AgentFailure::Overloaded(retry),
            Failure::Skip(reason) | Failure::Fatal(reason) => AgentFailure::Fatal(reason),
        }
    }
}
