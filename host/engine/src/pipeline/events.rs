//! What a pipeline run reports as it goes, for the CLI to print (`▶ [k/N] stage … done`) or
//! to pass on: one event per stage as it ends, and each stage's final state in the result.

use baton_core::model::JobState;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// How a stage stands at the end of an attempt or of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StageStatus {
    /// It ran and its outputs were promoted.
    Done,
    /// Its last success still holds; nothing ran.
    Cached,
    /// The plugin had nothing to do, or an upstream stage failed.
    Skipped,
    /// It failed for good.
    Failed,
    /// It failed and will be retried.
    Retrying,
    /// The run stopped before it started.
    Cancelled,
    /// It has not finished (its process died, or it is still waiting).
    Unfinished,
    /// Its job is not in the store.
    Missing,
}

impl StageStatus {
    /// The status of a stage whose job is in `state`, with `cached` from its result.
    pub fn of(state: JobState, cached: bool) -> StageStatus {
        match state {
            JobState::Done if cached => StageStatus::Cached,
            JobState::Done => StageStatus::Done,
            JobState::Skipped => StageStatus::Skipped,
            JobState::Failed => StageStatus::Failed,
            JobState::Cancelled => StageStatus::Cancelled,
            JobState::Blocked | JobState::Queued | JobState::Running => StageStatus::Unfinished,
        }
    }

    /// The lowercase name shown and written to JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            StageStatus::Done => "done",
            StageStatus::Cached => "cached",
            StageStatus::Skipped => "skipped",
            StageStatus::Failed => "failed",
            StageStatus::Retrying => "retrying",
            StageStatus::Cancelled => "cancelled",
            StageStatus::Unfinished => "unfinished",
            StageStatus::Missing => "missing",
        }
    }
}

/// One stage's attempt ended.
#[derive(Debug, Clone, Serialize)]
pub struct StageEvent {
    /// 1-based position among the stages of the run that ended so far (retries excluded).
    pub finished: usize,
    /// Stages in the run.
    pub total: usize,
    /// The stage id.
    pub stage: String,
    /// How it ended.
    pub status: StageStatus,
    /// Seconds the attempt took.
    pub seconds: f64,
    /// The failure or skip reason (empty when done or cached).
    pub detail: String,
    /// The attempt (1-based) and the attempts allowed.
    pub attempt: (u32, u32),
    /// The pipeline's name.
    pub pipeline: String,
    /// The run's id (for `--resume`).
    pub run_id: String,
    /// The stage's log in this run (`.baton/runs/<run>/<stage>.log`).
    pub log: std::path::PathBuf,
    /// Tokens a prompt's answer used (prompt stages that called their agent).
    pub tokens: Option<u64>,
    /// The failure's stable code, when it has one (e.g. `input-missing`: rerunning the
    /// stage alone cannot help, and its detail says what can).
    pub code: Option<String>,
}

/// Receives a run's events (called from worker tasks; keep it quick).
pub type EventSink = Arc<dyn Fn(&StageEvent) + Send + Sync>;

/// What a stage job records as its result (the job's `result` JSON).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StageResult {
    /// Nothing ran: the last success still holds.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cached: bool,
    /// The plugin skipped the stage, with this reason: its job ends `skipped` with the
    /// reason as its error (see `exec`), so no result of a skipped stage is recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// The plugin's (or command's last line of) summary.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub summary: String,
    /// Promoted outputs (project-relative paths).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<String>,
    /// Tokens in and out of a prompt's answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<u64>,
    /// The stage's outputs after this run (project-relative path → SHA-256): what it
    /// promoted, or for a cached stage what its last success recorded. `baton compare`
    /// compares runs by these.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub digests: std::collections::BTreeMap<String, String>,
}
