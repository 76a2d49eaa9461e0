//! The job model shared by the store, the scheduler, the CLI, JSON output and the ledger: the
//! one canonical state enum, the job kinds, new jobs, stored jobs, claims and outcomes.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Every job is in exactly one of these states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Waiting on dependencies.
    Blocked,
    /// Ready, or waiting for its `run_after` (backoff, snooze, rate limit).
    Queued,
    /// Leased by a worker.
    Running,
    /// Finished successfully.
    Done,
    /// Finished without doing anything (nothing to do, or an upstream job failed).
    Skipped,
    /// Failed for good (a fatal failure, or the last attempt).
    Failed,
    /// Cancelled by an operator or by a run that stopped.
    Cancelled,
}

impl JobState {
    /// Every state, in lifecycle order.
    pub const ALL: [JobState; 7] = [
        JobState::Blocked,
        JobState::Queued,
        JobState::Running,
        JobState::Done,
        JobState::Skipped,
        JobState::Failed,
        JobState::Cancelled,
    ];

    /// The lowercase name used in the store, the CLI, JSON and the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Blocked => "blocked",
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Skipped => "skipped",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    /// The state named `text`, if any.
    pub fn parse(text: &str) -> Option<JobState> {
        JobState::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether the job will never run again (unless retried by hand).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobState::Done | JobState::Skipped | JobState::Failed | JobState::Cancelled
        )
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobState {
    type Err = String;

    fn from_str(text: &str) -> Result<JobState, String> {
        JobState::parse(text).ok_or_else(|| {
            let names: Vec<&str> = JobState::ALL.iter().map(|s| s.as_str()).collect();
            format!("`{text}` is not a job state ({})", names.join(", "))
        })
    }
}

/// What a job is, and so which worker runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    /// A work-queue artifact: resolve it with the resolver chain, then download it.
    Resolve,
    /// A pipeline stage, run as part of a pipeline run.
    Stage,
    /// An agent prompt.
    Agent,
}

impl JobKind {
    /// Every kind.
    pub const ALL: [JobKind; 3] = [JobKind::Resolve, JobKind::Stage, JobKind::Agent];

    /// The lowercase name used in the store and JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Resolve => "resolve",
            JobKind::Stage => "stage",
            JobKind::Agent => "agent",
        }
    }

    /// The kind named `text`, if any.
    pub fn parse(text: &str) -> Option<JobKind> {
        JobKind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A job to enqueue. `key` is the idempotency key: enqueueing it twice is a no-op.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// The idempotency key (an artifact id, or `RUN/STAGE` for a stage).
    pub key: String,
    /// Which worker runs it.
    pub kind: JobKind,
    /// The plugin named at enqueue (a resolver, a stage plugin); `None`: the configured
    /// resolver chain, or a stage without a plugin (a trusted command).
    pub plugin: Option<String>,
    /// A JSON object (text).
    pub payload: String,
    /// Higher runs first.
    pub priority: i64,
    /// Attempts before a retryable failure becomes final (at least 1).
    pub max_attempts: u32,
}

/// A stored job.
#[derive(Debug, Clone, Serialize)]
pub struct Job {
    /// The store's id.
    pub id: i64,
    /// The idempotency key.
    pub key: String,
    /// Which worker runs it.
    pub kind: JobKind,
    /// The plugin named at enqueue, if any.
    pub plugin: Option<String>,
    /// The payload (a JSON object).
    pub payload: serde_json::Value,
    /// Higher runs first.
    pub priority: i64,
    /// Where it is in its lifecycle.
    pub state: JobState,
    /// Attempts started so far (snoozes and releases give theirs back).
    pub attempts: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// Unix milliseconds before which the job is not claimed.
    pub run_after: i64,
    /// Why it waits (backoff, snooze, rate limit, dependency …), when it does.
    pub wait_reason: Option<String>,
    /// The lease holder (`host:pid:start-ms`) while running.
    pub lease_owner: Option<String>,
    /// Unix milliseconds when the lease runs out, while running.
    pub lease_expires: Option<i64>,
    /// The fencing token of the current (or last) lease.
    pub fence: i64,
    /// Times its worker was lost and the job recovered.
    pub recoveries: u32,
    /// The last failure's message.
    pub last_error: Option<String>,
    /// The last failure's stable code (e.g. a plugin error's `trap`), when it has one.
    pub error_code: Option<String>,
    /// What the job produced (JSON), once done.
    pub result: Option<serde_json::Value>,
    /// The pipeline run it belongs to, if any.
    pub run_id: Option<String>,
    /// Unix milliseconds of the enqueue.
    pub created_at: i64,
    /// Unix milliseconds of the last change.
    pub updated_at: i64,
}

/// A job a worker holds: the fence proves the lease is still its own when it reports back.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// The store's id.
    pub id: i64,
    /// The idempotency key.
    pub key: String,
    /// Which worker runs it.
    pub kind: JobKind,
    /// The plugin named at enqueue, if any.
    pub plugin: Option<String>,
    /// The payload (JSON object text).
    pub payload: String,
    /// 1 on the first attempt.
    pub attempt: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// The fencing token of this lease.
    pub fence: i64,
    /// Unix milliseconds of the enqueue.
    pub enqueued_at: i64,
}

/// A failure's message with its stable code, when it has one (a plugin error's code such as
/// `trap`, `deadline-exceeded` or `capability-refused`), so JSON output can match on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// The stable code, if any.
    pub code: Option<String>,
    /// What went wrong, for people.
    pub message: String,
}

impl Failure {
    /// A failure without a code.
    pub fn new(message: impl Into<String>) -> Failure {
        Failure {
            code: None,
            message: message.into(),
        }
    }

    /// A failure with a stable code.
    pub fn coded(code: impl Into<String>, message: impl Into<String>) -> Failure {
        Failure {
            code: Some(code.into()),
            message: message.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// How an attempt ended, as the store records it. The scheduler's retry policy decides it
/// (whether a failure is retried, when, and when to give up); the store only records.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Done, with what the job produced.
    Done {
        /// The job's result (JSON).
        result: serde_json::Value,
    },
    /// Nothing to do.
    Skipped {
        /// Why.
        reason: String,
    },
    /// Failed for good.
    Failed {
        /// Why.
        failure: Failure,
    },
    /// Back to `queued` until `at`.
    Retry {
        /// The failure that is retried.
        failure: Failure,
        /// Unix milliseconds before which it is not claimed again.
        at: i64,
        /// A snooze (rate limit, a plugin's requested delay) gives the attempt back.
        snooze: bool,
        /// What `job show` and `queue list` say it waits for.
        wait_reason: String,
    },
}

impl Outcome {
    /// The state the job ends this attempt in.
    pub fn state(&self) -> JobState {
        match self {
            Outcome::Done { .. } => JobState::Done,
            Outcome::Skipped { .. } => JobState::Skipped,
            Outcome::Failed { .. } => JobState::Failed,
            Outcome::Retry { .. } => JobState::Queued,
        }
    }
}

/// One attempt of a job, as recorded.
#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    /// 1 for the first.
    pub attempt: u32,
    /// The lease holder that ran it.
    pub owner: String,
    /// Unix milliseconds.
    pub started_at: i64,
    /// Unix milliseconds; `None` while it runs (or if its worker was lost).
    pub finished_at: Option<i64>,
    /// The event that ended it (`done`, `failed`, `retry`, `snoozed`, `released` …).
    pub outcome: Option<String>,
    /// The reason or wait given with that event.
    pub detail: Option<String>,
}

/// What a skipped dependent's reason calls the failed job with key `key`: a pipeline run's
/// job (key `<run>/<stage>`) by its stage id, any other job by its key.
pub fn upstream_name<'a>(key: &'a str, run: Option<&str>) -> &'a str {
    run.and_then(|run| key.strip_prefix(run))
        .and_then(|rest| rest.strip_prefix('/'))
        .unwrap_or(key)
}
