//! The job model shared by the store, the scheduler, the CLI, JSON output and the ledger: the
//! one canonical state enum, new jobs, stored jobs, claims and outcomes.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Every job is in exactly one of these states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Waiting on dependencies.
    Blocked,
    /// Ready, or waiting for its `run_after` (backoff, snooze, rate limit).
    Queued,
    /// Leased by a worker.
    Running,
    Done,
    Skipped,
    Failed,
    Cancelled,
}

impl JobState {
    pub const ALL: [JobState; 7] = [
        JobState::Blocked,
        JobState::Queued,
        JobState::Running,
        JobState::Done,
        JobState::Skipped,
        JobState::Failed,
        JobState::Cancelled,
    ];

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

/// A job to enqueue. `key` is the idempotency key: enqueueing it twice is a no-op.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub key: String,
    /// `resolve` for the work queue.
    pub kind: &'static str,
    /// The resolver named at enqueue; `None` uses the configured chain.
    pub plugin: Option<String>,
    /// A JSON object (text).
    pub payload: String,
    pub priority: i64,
    pub max_attempts: u32,
}

/// A stored job.
#[derive(Debug, Clone, Serialize)]
pub struct Job {
    pub id: i64,
    pub key: String,
    pub kind: String,
    pub plugin: Option<String>,
    pub payload: serde_json::Value,
    pub priority: i64,
    pub state: JobState,
    pub attempts: u32,
    pub max_attempts: u32,
    /// Unix milliseconds before which the job is not claimed.
    pub run_after: i64,
    pub wait_reason: Option<String>,
    pub lease_owner: Option<String>,
    pub lease_expires: Option<i64>,
    pub fence: i64,
    pub recoveries: u32,
    pub last_error: Option<String>,
    pub result: Option<serde_json::Value>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A job a worker holds: the fence proves the lease is still its own when it reports back.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: i64,
    pub key: String,
    /// `resolve` or `stage`.
    pub kind: String,
    pub plugin: Option<String>,
    pub payload: String,
    /// 1 on the first attempt.
    pub attempt: u32,
    pub max_attempts: u32,
    pub fence: i64,
    pub enqueued_at: i64,
}

/// How a worker's attempt ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    Done {
        result: serde_json::Value,
    },
    Skipped {
        reason: String,
    },
    Failed {
        reason: String,
    },
    /// Back to `queued` until `at`; `snooze` does not use up the attempt.
    Retry {
        reason: String,
        at: i64,
        snooze: bool,
        wait_reason: String,
    },
}

impl Outcome {
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
    pub attempt: u32,
    pub owner: String,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub outcome: Option<String>,
    pub detail: Option<String>,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Formats Unix milliseconds as RFC 3339 UTC.
pub fn format_ms(ms: i64) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(time).to_string()
}
