//! The store's interface to the queue: the operations one group commit applies, and the
//! `QueueStore` trait the SQLite store implements (and a PostgreSQL store will), so both can
//! pass the same conformance tests.

use super::artifacts::ManifestRow;
use super::stats::QueueStats;
use crate::ledger::Event;
use crate::queue::model::{Attempt, Claimed, Job, JobState, NewJob, Outcome};
use anyhow::Result;

/// A claim filter: admits a ready job given the resolver it names (`None`: the chain).
pub type Admit = Box<dyn FnMut(Option<&str>) -> bool + Send>;

/// One operation of a group commit.
pub enum Op {
    /// `ledger: false` for bulk imports, which record one summary event instead.
    Enqueue {
        jobs: Vec<NewJob>,
        ledger: bool,
    },
    Claim {
        /// Only jobs of this pipeline run; `None`: only jobs of no run (the work queue).
        run: Option<String>,
        owner: String,
        limit: usize,
        lease_until: i64,
        admit: Admit,
    },
    Finish(Vec<(Claimed, Outcome)>),
    Heartbeat {
        jobs: Vec<(i64, i64)>,
        lease_until: i64,
    },
    Recover {
        dead_owners: Vec<String>,
        max_recoveries: u32,
    },
    Release(Vec<Claimed>),
    Manifest(ManifestRow),
    Quota {
        key: String,
        day: String,
        used: u64,
    },
    Counter {
        name: &'static str,
        by: i64,
    },
    Events(Vec<Event>),
    /// Whether jobs (of a run, or of no run) are not final yet, and when the earliest
    /// queued one is due.
    Pending {
        run: Option<String>,
    },
    /// Inserts a pipeline run's jobs; each lists the indices (in `jobs`) it depends on.
    /// Jobs with dependencies start `blocked`.
    EnqueueRun {
        run_id: String,
        jobs: Vec<(NewJob, Vec<usize>)>,
    },
    /// Puts the unfinished jobs of a run back (blocked or queued, attempts reset); running
    /// jobs are included only when their owner is in `dead_owners` or their lease expired.
    ResumeRun {
        run_id: String,
        dead_owners: Vec<String>,
    },
    /// Cancels every job of a run that has not started.
    CancelRun {
        run_id: String,
        reason: String,
    },
}

/// What an operation produced, in the order of the operations.
#[derive(Debug)]
pub enum OpResult {
    Enqueued(Vec<bool>),
    Claimed(Vec<Claimed>),
    Finished(Vec<bool>),
    Heartbeat(usize),
    Recovered { recovered: usize, poisoned: usize },
    Released(usize),
    Cancelled(usize),
    Pending { open: bool, next_due: Option<i64> },
    Done,
}

/// A durable job queue.
pub trait QueueStore: Send {
    /// Applies `ops` in one transaction (all or nothing) and returns their results with the
    /// ledger events the changes produced (already stored with them).
    fn commit(&mut self, ops: Vec<Op>, now: i64) -> Result<(Vec<OpResult>, Vec<Event>)>;
    fn job(&self, key: &str) -> Result<Option<Job>>;
    fn list(&self, state: Option<JobState>, limit: usize) -> Result<Vec<Job>>;
    fn attempts(&self, job_id: i64) -> Result<Vec<Attempt>>;
    fn job_events(&self, job_id: i64, limit: usize) -> Result<Vec<serde_json::Value>>;
    fn stats(&self, now: i64) -> Result<QueueStats>;
    fn manifest(&self, key: &str) -> Result<Option<ManifestRow>>;
    fn quota_used(&self, key: &str, day: &str) -> Result<u64>;
    fn retry_failed(
        &mut self,
        max_attempts: Option<u32>,
        dry_run: bool,
        now: i64,
    ) -> Result<(Vec<String>, Vec<Event>)>;
    fn cancel(&mut self, key: &str, now: i64) -> Result<(Option<JobState>, Vec<Event>)>;
    /// Owners holding running leases (for recovering those of dead local processes).
    fn lease_owners(&self) -> Result<Vec<String>>;
}
