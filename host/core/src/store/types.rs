//! The typed values the store traits take and return.

use crate::model::{Job, JobKind};
use serde::Serialize;
use std::collections::BTreeMap;

/// Which jobs a claim may take, for whom, and for how long.
#[derive(Debug, Clone)]
pub struct Claim {
    /// Only jobs of this pipeline run; `None`: jobs of no run (the work queue), and with
    /// `any_run` the jobs of every run too.
    pub run: Option<String>,
    /// With `run: None`: also jobs of any pipeline run (a `queue run --pipelines` helping
    /// the runs started elsewhere).
    pub any_run: bool,
    /// The lease holder (`host:pid:start-ms`).
    pub owner: String,
    /// At most this many jobs.
    pub limit: usize,
    /// Unix milliseconds when the leases run out unless heartbeats extend them.
    pub lease_until: i64,
}

/// A ready job offered to a claim's filter (the worker's own caps).
#[derive(Debug, Clone, Copy)]
pub struct Offer<'a> {
    /// Its kind.
    pub kind: JobKind,
    /// The plugin it names, if any.
    pub plugin: Option<&'a str>,
    /// The pipeline run it belongs to, if any.
    pub run: Option<&'a str>,
}

/// What a lease recovery did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Jobs returned to the queue.
    pub recovered: usize,
    /// Jobs failed as poison pills (lost too often).
    pub poisoned: usize,
}

/// A running job an operator puts back in the queue by hand (`baton job recover`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requeue {
    /// The job's store id.
    pub id: i64,
    /// The fence of the lease being taken away: the job is requeued only while it still
    /// runs under this lease.
    pub fence: i64,
    /// Why (shown as its wait reason and recorded in its `recovered` event), e.g.
    /// `recovered by hand: process 4242 is gone on this host`.
    pub reason: String,
}

/// Whether work is left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pending {
    /// Jobs that are queued, running or blocked.
    pub open: bool,
    /// Unix milliseconds when the earliest queued job is due.
    pub next_due: Option<i64>,
}

/// A stored download: artifact id → content.
#[derive(Debug, Clone, Serialize)]
pub struct ManifestRow {
    /// The artifact id (the job's key).
    pub key: String,
    /// SHA-256 of the stored content, lowercase hex.
    pub sha256: String,
    /// Size in bytes.
    pub size: i64,
    /// The URL fetched (after redirects).
    pub url: String,
    /// Its host.
    pub host: String,
    /// The resolver that named it.
    pub resolver: String,
    /// The response's content type.
    pub content_type: Option<String>,
    /// Unix milliseconds.
    pub fetched_at: i64,
}

/// How a pipeline run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    /// Started and not finished (or its process died).
    Running,
    /// Every selected stage is done or cached.
    Done,
    /// Finished with stages that failed, were skipped or cancelled.
    Degraded,
}

impl RunState {
    /// The lowercase name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Done => "done",
            RunState::Degraded => "degraded",
        }
    }

    /// The state named `text`, if any.
    pub fn parse(text: &str) -> Option<RunState> {
        [RunState::Running, RunState::Done, RunState::Degraded]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// A pipeline run.
#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    /// `PIPELINE-YYYYMMDDTHHMMSSmmm`.
    pub id: String,
    /// The pipeline's name.
    pub pipeline: String,
    /// Unix milliseconds.
    pub started_at: i64,
    /// Unix milliseconds, once finished.
    pub finished_at: Option<i64>,
    /// How it stands.
    pub state: RunState,
    /// The run's options (JSON), e.g. `{"force": true}`.
    pub options: serde_json::Value,
    /// The lease owner (`host:pid:start-ms`) of the process running it (the last one that
    /// started or resumed it); `None` for runs recorded before owners were.
    pub owner: Option<String>,
}

/// A stage's last success, as the stage cache keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct StageRecord {
    /// The pipeline's name.
    pub pipeline: String,
    /// The stage id.
    pub stage: String,
    /// The cache key (SHA-256 over the fingerprint).
    pub key: String,
    /// SHA-256 of the stage's definition.
    pub definition: String,
    /// Digest of its runner (plugin component, or command line).
    pub plugin: String,
    /// Input path (project-relative) → SHA-256.
    pub inputs: BTreeMap<String, String>,
    /// Promoted output path (project-relative) → SHA-256.
    pub outputs: BTreeMap<String, String>,
    /// The run that produced it.
    pub run_id: String,
}

/// Downloads stored from one host.
#[derive(Debug, Serialize)]
pub struct HostStats {
    /// Artifacts stored.
    pub downloads: i64,
    /// Their bytes.
    pub bytes: i64,
}

/// The `queue stats` document (stable JSON, documented in docs/queue.md).
#[derive(Debug, Serialize)]
pub struct QueueStats {
    /// Jobs in the store.
    pub total: i64,
    /// Every state, zero included.
    pub states: BTreeMap<&'static str, i64>,
    /// Jobs per state per resolver (`chain` for jobs that use the configured chain).
    pub resolvers: BTreeMap<String, BTreeMap<String, i64>>,
    /// Stored downloads per host.
    pub hosts: BTreeMap<String, HostStats>,
    /// Jobs that ended (done, skipped, failed) per second over the last minute.
    pub jobs_per_second: f64,
    /// Milliseconds the oldest ready (queued, due) work-queue job has waited; null when none.
    /// A pipeline run's jobs are not counted here: they wait for their run's process (see
    /// `runs`).
    pub oldest_ready_ms: Option<i64>,
    /// Leases recovered from lost workers, ever.
    pub recoveries: i64,
    /// Times a limiter made a job or request wait, ever.
    pub limiter_denials: i64,
    /// Pipeline runs not finished, oldest first.
    pub runs: Vec<OpenRun>,
    /// Limiter keys parked now (quotas spent, rate-limit resets, open breakers), by key.
    pub parked: Vec<Park>,
}

/// A process working on the store (a `queue run` or a `pipeline run`), as it registers
/// itself with every heartbeat; `baton hosts` lists them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Member {
    /// Its lease owner id, `host:pid:start-ms`.
    pub owner: String,
    /// The machine's host name.
    pub host: String,
    /// Its process id on that machine.
    pub pid: u32,
    /// What it runs: `queue`, or `run RUN-ID`.
    pub role: String,
    /// Baton's version.
    pub version: String,
    /// Unix milliseconds.
    pub started_at: i64,
    /// Its last heartbeat, Unix milliseconds (set by the store).
    pub last_beat: i64,
}

/// A limiter key's rates and daily quota, as [`QueueTx::take_rate`](super::QueueTx::take_rate)
/// checks them for every process on the store. Absent limits are not checked.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimits {
    /// Requests per second (a token bucket holding one second's worth, at least 1).
    pub per_second: Option<f64>,
    /// Requests per minute (a token bucket holding one minute's worth).
    pub per_minute: Option<u32>,
    /// Requests per day.
    pub per_day: Option<u64>,
    /// The day the quota counts (`YYYY-MM-DD`).
    pub day: String,
    /// When that day ends, Unix milliseconds.
    pub day_ends: i64,
    /// Sliding-window limits (requests, and tokens charged with
    /// [`QueueTx::charge_tokens`](super::QueueTx::charge_tokens)): exact, no window of their
    /// length ever holds more than their limit.
    pub windows: Vec<WindowLimit>,
}

/// What a sliding window counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WindowUnit {
    /// Requests: each take counts one.
    Requests,
    /// Tokens: charged after each reply; a request waits while the window is spent.
    Tokens,
}

impl WindowUnit {
    /// `requests` or `tokens`, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            WindowUnit::Requests => "requests",
            WindowUnit::Tokens => "tokens",
        }
    }
}

/// A sliding-window limit: no span of `window_ms` holds more than `limit` units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowLimit {
    /// The window's length, milliseconds.
    pub window_ms: i64,
    /// Units allowed in any window.
    pub limit: u64,
    /// What it counts.
    pub unit: WindowUnit,
}

impl WindowLimit {
    /// When (Unix milliseconds) one more unit fits, given the units `used` in the window
    /// ending at `now` as `(at, amount)` oldest first; `None` when it fits now. The answer is
    /// when enough of the oldest entries leave the window.
    pub fn ready_at(&self, used: &[(i64, u64)], now: i64) -> Option<i64> {
        let start = now - self.window_ms;
        let live: Vec<&(i64, u64)> = used.iter().filter(|(at, _)| *at > start).collect();
        let mut total: u64 = live.iter().map(|(_, amount)| *amount).sum();
        if total < self.limit {
            return None;
        }
        for (at, amount) in live {
            total = total.saturating_sub(*amount);
            if total < self.limit {
                return Some(at + self.window_ms);
            }
        }
        Some(now + self.window_ms)
    }
}

/// A limiter key parked until a time: a provider's quota spent, a rate limit's reset, an
/// open authentication breaker. Shared by every process on the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Park {
    /// The key, e.g. `agent:gemini/gemini-2.5-flash` or `auth:claude`.
    pub key: String,
    /// Unix milliseconds before which nothing of the key runs.
    pub until: i64,
    /// Why, for `job show` and `queue stats`: `quota exhausted: ...`.
    pub reason: String,
    /// Consecutive failures behind it (an authentication breaker's count); 0 otherwise.
    pub strikes: u32,
}

impl RateLimits {
    /// The token buckets: (window in milliseconds, tokens per window, capacity).
    pub fn buckets(&self) -> Vec<(i64, f64, f64)> {
        let mut buckets = Vec::new();
        if let Some(rate) = self.per_second.filter(|r| *r > 0.0) {
            buckets.push((1000, rate, rate.max(1.0)));
        }
        if let Some(rate) = self.per_minute.filter(|r| *r > 0) {
            buckets.push((60_000, f64::from(rate), f64::from(rate)));
        }
        buckets
    }

    /// A bucket's tokens at `now` after `elapsed_ms` of refilling from `tokens`.
    pub fn refill(tokens: f64, elapsed_ms: i64, window_ms: i64, rate: f64, capacity: f64) -> f64 {
        (tokens + elapsed_ms.max(0) as f64 * rate / window_ms as f64).min(capacity)
    }

    /// When a bucket at `tokens` will hold one token, Unix milliseconds from `now`.
    pub fn ready_at(tokens: f64, now: i64, window_ms: i64, rate: f64) -> i64 {
        now + ((1.0 - tokens).max(0.0) * window_ms as f64 / rate).ceil() as i64
    }
}

/// Who leads maintenance: one process at a time holds the leader lease, under a term that
/// grows with each new holder.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Leadership {
    /// The leader's lease owner id.
    pub owner: String,
    /// Its term: 1 for the first leader, one more for each new holder.
    pub term: i64,
    /// When its lease ends unless renewed, Unix milliseconds.
    pub expires: i64,
}

/// A pipeline run that has not finished, in the `queue stats` document.
#[derive(Debug, Clone, Serialize)]
pub struct OpenRun {
    /// The run id.
    pub id: String,
    /// Its pipeline.
    pub pipeline: String,
    /// Its process's lease owner, if recorded.
    pub owner: Option<String>,
    /// Unix milliseconds.
    pub started_at: i64,
    /// Its jobs not done, skipped, failed or cancelled: waiting for its process (only the
    /// run's own process claims them).
    pub unfinished: i64,
    /// `running`, or `interrupted` when its process is known to be gone: its jobs then wait
    /// for `pipeline run PIPELINE --resume ID`, not for a worker.
    pub state: &'static str,
}

/// What [`crate::store::QueueTx::purge`] may remove: history that ended before `before`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Purge {
    /// Unix milliseconds: only jobs that ended (and runs that finished) before this go.
    pub before: i64,
    /// Count what would go and change nothing.
    pub dry_run: bool,
}

/// What a purge removed (or, in a dry run, would remove).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Purged {
    /// Ended jobs removed, with their dependency rows.
    pub jobs: u64,
    /// Their ledger rows removed from the store (the highest `seq` is always kept, so
    /// numbers are never issued twice).
    pub events: u64,
    /// Manifest rows of removed jobs (their content files become unreferenced).
    pub manifest_rows: u64,
    /// The sha256 of each removed manifest row (one entry per row).
    pub manifest_digests: Vec<String>,
    /// Finished runs removed, by id (their run logs may go too).
    pub runs: Vec<String>,
}

/// `store.sync`: how far a commit goes before it is acknowledged.
///
/// Either way a process crash (kill -9, a panic, OOM) loses nothing that was acknowledged:
/// the commit is in the operating system's page cache when the call returns. The modes differ
/// on a power loss or kernel crash:
/// - [`Durability::Full`] (the default) waits until the commit is on the disk (SQLite
///   `synchronous=FULL`: an fsync of the write-ahead log per commit; PostgreSQL
///   `synchronous_commit=on`): nothing acknowledged is lost.
/// - [`Durability::Normal`] returns before the disk has it (SQLite `synchronous=NORMAL` in WAL
///   mode: the log is fsynced only at checkpoints, about every 1,000 pages; PostgreSQL
///   `synchronous_commit=off`: the WAL writer flushes within three `wal_writer_delay`s, 0.6 s
///   by default): the commits since then may be lost on a power loss — finished jobs run
///   again, recent enqueues are gone — but the database stays consistent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// Acknowledged after the operating system has the commit.
    Normal,
    /// Acknowledged after the disk has the commit.
    #[default]
    Full,
}

impl Durability {
    /// Parses `normal` or `full`.
    ///
    /// Errors: anything else, with the two accepted values.
    pub fn parse(text: &str) -> Result<Durability, String> {
        match text {
            "normal" => Ok(Durability::Normal),
            "full" => Ok(Durability::Full),
            other => Err(format!(
                "`{other}` is not a sync mode: use `full` (every commit on disk before it is \
                 acknowledged) or `normal` (faster; a power loss may lose the last commits)"
            )),
        }
    }

    /// `normal` or `full`.
    pub fn name(self) -> &'static str {
        match self {
            Durability::Normal => "normal",
            Durability::Full => "full",
        }
    }
}

/// Jobs of one kind in one state, from the store's running summary (not a scan).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StateCount {
    /// The kind (`resolve`, `stage`, `agent`).
    pub kind: String,
    /// The state.
    pub state: String,
    /// How many jobs.
    pub jobs: i64,
}

/// A job that waits, with the dependencies it waits on (for a blocked job).
#[derive(Debug, Clone, Serialize)]
pub struct WaitingJob {
    /// The job.
    pub job: Job,
    /// Keys of its dependencies that have not succeeded yet (blocked jobs only).
    pub deps: Vec<String>,
}

/// What the dashboards show, read with indexed or summarized reads only, so one refresh
/// costs the same with a million jobs as with ten (see docs/benchmarks.md).
#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    /// Jobs per kind and state (every pair with jobs; zero pairs may be left out).
    pub counts: Vec<StateCount>,
    /// Jobs that ended (done, skipped, failed) in the minute before `now`.
    pub finished_last_minute: i64,
    /// Running jobs, longest running first, at most `rows`.
    pub running: Vec<Job>,
    /// Waiting jobs, at most `rows`: queued jobs not due yet (soonest first), then blocked
    /// ones, then ready work-queue jobs in claim order.
    pub waiting: Vec<WaitingJob>,
    /// Failed jobs, most recent first, at most `rows`.
    pub failures: Vec<Job>,
    /// Limiter keys with concurrency slots held now: key → slots.
    pub slots: BTreeMap<String, i64>,
    /// Limiter keys' daily quota use on the day asked for: key → requests.
    pub quotas: BTreeMap<String, u64>,
    /// Keys parked after `now` (providers' quotas and rate-limit resets, open breakers).
    pub parked: Vec<Park>,
}
