//! The one owner of the retry and give-up rule: a worker's [`Verdict`] becomes the
//! [`Outcome`] the store records. A transient failure is retried after an exponential
//! backoff with jitter while attempts remain, then fails with "gave up after N attempts"; a
//! snooze waits without using the attempt; a fatal failure ends the job at once; a halt (the
//! environment failed, not the job) puts the job back at once without using the attempt.

use super::verdict::Verdict;
use baton_core::clock::format_ms;
use baton_core::model::{Claimed, Failure, Outcome};
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// Retry timing: attempt `n` waits `base · 2^(n-1)`, capped at `max`, ±20% jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first retry's delay.
    pub base: Duration,
    /// The longest delay (before jitter).
    pub max: Duration,
}

impl Backoff {
    /// Delay before attempt `attempt + 1`: base·2^(attempt-1), capped, ±20% jitter.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
            .min(self.max);
        let random = RandomState::new().build_hasher().finish();
        let jitter = 0.8 + (random % 4001) as f64 / 10_000.0;
        exp.mul_f64(jitter)
    }
}

/// The longest failure message recorded, in bytes; longer ones (a hostile server's
/// 70,000-character URL) are cut, saying how long they were.
pub const MAX_FAILURE_BYTES: usize = 4096;

/// `verdict` with its failure message cut to [`MAX_FAILURE_BYTES`].
fn bounded(mut verdict: Verdict) -> Verdict {
    let failure = match &mut verdict {
        Verdict::Fatal(f) | Verdict::Transient(f) | Verdict::Halt(f) => f,
        Verdict::Snooze { failure, .. } => failure,
        Verdict::Done(_) | Verdict::Skipped(_) => return verdict,
    };
    let length = failure.message.len();
    if length > MAX_FAILURE_BYTES {
        let mut end = MAX_FAILURE_BYTES;
        while !failure.message.is_char_boundary(end) {
            end -= 1;
        }
        failure.message.truncate(end);
        failure
            .message
            .push_str(&format!("… ({length} bytes in all)"));
    }
    verdict
}

/// Decides what a verdict means for a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The delay before each retry of a transient failure.
    pub backoff: Backoff,
}

impl RetryPolicy {
    /// The outcome to record for `job`'s attempt that ended with `verdict` at `now` (Unix
    /// milliseconds).
    pub fn outcome(&self, job: &Claimed, verdict: Verdict, now: i64) -> Outcome {
        match bounded(verdict) {
            Verdict::Done(result) => Outcome::Done { result },
            Verdict::Skipped(reason) => Outcome::Skipped { reason },
            Verdict::Fatal(failure) => Outcome::Failed { failure },
            Verdict::Snooze {
                until,
                wait,
                failure,
            } => Outcome::Retry {
                failure,
                at: until,
                snooze: true,
                wait_reason: wait,
            },
            Verdict::Halt(failure) => Outcome::Retry {
                wait_reason: format!("put back: {}", failure.message),
                failure,
                at: now,
                snooze: true,
            },
            Verdict::Transient(failure) if job.attempt >= job.max_attempts => Outcome::Failed {
                failure: Failure {
                    message: format!(
                        "gave up after {} attempts: {}",
                        job.attempt, failure.message
                    ),
                    code: failure.code,
                },
            },
            Verdict::Transient(failure) => {
                let at = now + self.backoff.delay(job.attempt).as_millis() as i64;
                Outcome::Retry {
                    failure,
                    at,
                    snooze: false,
                    wait_reason: format!(
                        "backoff until {} (attempt {} of {} next)",
                        format_ms(at),
                        job.attempt + 1,
                        job.max_attempts
                    ),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_core::model::JobKind;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            backoff: Backoff {
                base: Duration::from_secs(1),
                max: Duration::from_secs(60),
            },
        }
    }

    fn job(attempt: u32, max_attempts: u32) -> Claimed {
        Claimed {
            id: 1,
            key: "k".into(),
            kind: JobKind::Resolve,
            plugin: None,
            payload: "{}".into(),
            attempt,
            max_attempts,
            fence: 1,
            enqueued_at: 0,
        }
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let backoff = policy().backoff;
        let first = backoff.delay(1);
        assert!(first >= Duration::from_millis(800) && first <= Duration::from_millis(1200));
        let third = backoff.delay(3);
        assert!(third >= Duration::from_millis(3200) && third <= Duration::from_millis(4800));
        assert!(backoff.delay(30) <= Duration::from_secs(72));
    }

    #[test]
    fn transient_failures_retry_until_the_last_attempt_then_fail_with_their_code() {
        let failure = Failure::coded("trap", "boom");
        match policy().outcome(&job(1, 2), Verdict::Transient(failure.clone()), 1000) {
            Outcome::Retry {
                at,
                snooze,
                wait_reason,
                ..
            } => {
                assert!(!snooze);
                assert!((1800..=2200).contains(&at), "{at}");
                assert!(wait_reason.contains("attempt 2 of 2"), "{wait_reason}");
            }
            other => panic!("{other:?}"),
        }
        match policy().outcome(&job(2, 2), Verdict::Transient(failure), 1000) {
            Outcome::Failed { failure } => {
                assert_eq!(failure.code.as_deref(), Some("trap"));
                assert!(
                    failure
                        .message
                        .starts_with("gave up after 2 attempts: boom")
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn snoozes_never_give_up_and_keep_their_time() {
        let verdict = Verdict::Snooze {
            until: 5000,
            wait: "rate host:x until T".into(),
            failure: Failure::new("429"),
        };
        match policy().outcome(&job(9, 2), verdict, 1000) {
            Outcome::Retry {
                at,
                snooze,
                wait_reason,
                ..
            } => assert_eq!(
                (at, snooze, wait_reason.as_str()),
                (5000, true, "rate host:x until T")
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_halt_puts_the_job_back_without_using_its_attempt() {
        let verdict = Verdict::Halt(Failure::coded("environment", "disk full"));
        match policy().outcome(&job(3, 3), verdict, 1000) {
            Outcome::Retry {
                at,
                snooze,
                wait_reason,
                ..
            } => assert_eq!(
                (at, snooze, wait_reason.as_str()),
                (1000, true, "put back: disk full")
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn long_failure_messages_are_cut() {
        let verdict = Verdict::Fatal(Failure::new("é".repeat(MAX_FAILURE_BYTES)));
        match policy().outcome(&job(1, 1), verdict, 0) {
            Outcome::Failed { failure } => {
                assert!(failure.message.len() < MAX_FAILURE_BYTES + 40);
                assert!(
                    failure.message.ends_with("(8192 bytes in all)"),
                    "{}",
                    &failure.message[4000..]
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn fatal_failures_end_at_once() {
        let outcome = policy().outcome(&job(1, 5), Verdict::Fatal(Failure::new("no")), 0);
        assert!(matches!(outcome, Outcome::Failed { .. }));
    }
}
