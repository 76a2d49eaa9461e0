//! What a worker says of one attempt: the input of the retry policy.

use baton_core::model::Failure;

/// How an attempt went, as the worker sees it. The scheduler's retry policy (`super::retry::RetryPolicy`) turns it into
/// the outcome the store records (whether to retry, when, and when to give up).
#[derive(Debug, Clone)]
pub enum Verdict {
    /// Finished; what the job produced.
    Done(serde_json::Value),
    /// Nothing to do; why.
    Skipped(String),
    /// Failed for good, whatever attempts are left.
    Fatal(Failure),
    /// Failed, and may work later: retried with backoff while attempts remain.
    Transient(Failure),
    /// Not now: back in the queue at `until` without using up the attempt (a rate limit, a
    /// limiter wait, a plugin's requested delay).
    Snooze {
        /// Unix milliseconds before which it is not claimed again.
        until: i64,
        /// What it waits for, e.g. `rate host:x until T`.
        wait: String,
        /// What made it wait.
        failure: Failure,
    },
    /// Baton's own environment failed, not the job (a full disk, a file size limit, an
    /// unwritable state directory): the job goes back to the queue without using its attempt
    /// and the run stops claiming, because every other job would fail the same way. The
    /// run ends with this failure as its error.
    Halt(Failure),
}
