//! The store boundary: every durable read and write Baton makes goes through these traits,
//! so the SQLite store (the embedded default) and a PostgreSQL store implement the same
//! operations and pass the same conformance suite ([`crate::conformance`]).
//!
//! Writes happen in transactions: [`Store::transaction`] runs a closure against a
//! [`QueueTx`] (one method per operation, each with a typed reply), commits, and appends the
//! events the changes produced to the ledger file, so committing and journaling are one
//! step. The scheduler's writer folds many requests into one transaction (group commit).

mod types;

pub use types::{
    Claim, Durability, HostStats, Leadership, ManifestRow, Member, Offer, OpenRun, Overview, Park,
    Pending, Purge, Purged, QueueStats, RateLimits, Recovered, Requeue, RunRecord, RunState,
    StageRecord, StateCount, WaitingJob, WindowLimit, WindowUnit,
};

use crate::event::Event;
use crate::model::{Attempt, Claimed, Job, JobState, NewJob, Outcome};
use anyhow::Result;
use std::collections::HashMap;
use std::sync::Arc;

/// Longest key a plugin may keep in `state`, in bytes.
pub const MAX_STATE_KEY_BYTES: usize = 256;
/// Largest value a plugin may keep under one key, in bytes (64 KiB).
pub const MAX_STATE_VALUE_BYTES: usize = 64 << 10;
/// Total bytes of keys and values one plugin may keep (4 MiB).
pub const MAX_STATE_PLUGIN_BYTES: i64 = 4 << 20;

/// The operations of one write transaction. Every change records its ledger events with it.
pub trait QueueTx {
    /// The transaction's time, in Unix milliseconds.
    fn now(&self) -> i64;

    /// Inserts jobs (state `queued`); returns for each whether it was new (`false`: its key
    /// was already there, nothing changed). `ledger: false` skips the per-job `enqueued`
    /// events (bulk imports record one summary event instead).
    fn enqueue(&mut self, jobs: &[NewJob], ledger: bool) -> Result<Vec<bool>>;

    /// Claims up to `claim.limit` ready jobs that `admit` accepts, leasing each to the owner
    /// until `claim.lease_until` with a new fencing token.
    fn claim(
        &mut self,
        claim: &Claim,
        admit: &mut dyn FnMut(&Offer<'_>) -> bool,
    ) -> Result<Vec<Claimed>>;

    /// Records how attempts ended. An outcome whose fence no longer matches (the lease was
    /// recovered and maybe claimed again) changes nothing and records a `fenced` event;
    /// returns for each outcome whether it was applied. A finished job unblocks its
    /// dependents; a failed one skips them.
    fn finish(&mut self, outcomes: &[(Claimed, Outcome)]) -> Result<Vec<bool>>;

    /// Extends the leases of `(job id, fence)` pairs still held; returns how many.
    fn heartbeat(&mut self, leases: &[(i64, i64)], lease_until: i64) -> Result<usize>;

    /// Returns running jobs whose lease expired, or whose owner is in `dead_owners`, to the
    /// queue. `started(owner, job id, fence)` says whether the holder had actually started the
    /// job: only then does the loss count against it (a job recovered more than
    /// `max_recoveries` times fails as a poison pill); a job claimed but never started goes
    /// back with its attempt given back, like a released one.
    fn recover(
        &mut self,
        dead_owners: &[String],
        max_recoveries: u32,
        started: &dyn Fn(&str, i64, i64) -> bool,
    ) -> Result<Recovered>;

    /// Puts running jobs back in the queue by hand (`baton job recover`): each one still
    /// running under the lease `fence` names becomes `queued`, due now, with `reason` as its
    /// wait reason; its attempt is given back, the loss counts as a recovery (never as a
    /// poison pill: an operator chose it), and a `recovered` event records the old owner and
    /// the reason. The old holder's late outcome then matches neither state nor fence and is
    /// fenced. Returns for each whether it was requeued (`false`: it ended, or its lease
    /// changed, meanwhile).
    fn requeue(&mut self, jobs: &[Requeue]) -> Result<Vec<bool>>;

    /// Gives leases back without using up the attempt (graceful shutdown); returns how many.
    fn release(&mut self, jobs: &[Claimed]) -> Result<usize>;

    /// Records (or replaces) an artifact's manifest row.
    fn record_manifest(&mut self, row: &ManifestRow) -> Result<()>;

    /// Adds `used` to a limiter key's daily quota count for `day` (`YYYY-MM-DD`).
    fn add_quota(&mut self, key: &str, day: &str, used: u64) -> Result<()>;

    /// Adds `by` to a named counter (`recoveries`, `limiter_denials`).
    fn bump_counter(&mut self, name: &str, by: i64) -> Result<()>;

    /// Records events that come with no other change (an import summary).
    fn record_events(&mut self, events: Vec<Event>);

    /// Whether jobs of `run` (or of no run) are not final yet, and when the earliest queued
    /// one is due.
    fn pending(&mut self, run: Option<&str>) -> Result<Pending>;

    /// Requeues failed jobs: all, or with `max_attempts`, those that made fewer attempts
    /// than that (and may now make up to that many). With `dry_run` nothing changes.
    /// Returns their keys.
    fn retry_failed(&mut self, max_attempts: Option<u32>, dry_run: bool) -> Result<Vec<String>>;

    /// Retries one job by hand: a `failed` or `cancelled` job is queued again, due now, with
    /// as many attempts again as it was given (as `retry_failed` without a cap) and a `retry`
    /// event; a job in another state is left as it is. Returns its state before, or `None`
    /// if unknown.
    fn retry(&mut self, key: &str) -> Result<Option<JobState>>;

    /// Cancels a job that has not ended; returns its state before, or `None` if unknown.
    fn cancel(&mut self, key: &str) -> Result<Option<JobState>>;

    /// Records a new pipeline run and inserts its jobs; each lists the indices (in `jobs`)
    /// it depends on. Jobs with dependencies start `blocked`.
    fn start_run(&mut self, run: &RunRecord, jobs: &[(NewJob, Vec<usize>)]) -> Result<()>;

    /// Puts the unfinished jobs of a run back (blocked or queued, attempts reset); running
    /// jobs are included only when their owner is in `dead_owners` or their lease expired.
    /// The run is running again, owned by `owner`. Returns how many jobs.
    fn resume_run(&mut self, run_id: &str, dead_owners: &[String], owner: &str) -> Result<usize>;

    /// Cancels every job of a run that has not started; returns how many.
    fn cancel_run(&mut self, run_id: &str, reason: &str) -> Result<usize>;

    /// Records how a run ended.
    fn finish_run(&mut self, run_id: &str, state: RunState) -> Result<()>;

    /// Records a stage's success for the stage cache (replacing the previous one).
    fn record_stage(&mut self, record: &StageRecord) -> Result<()>;

    /// Takes one of the `cap` concurrency slots of limiter key `key` (e.g. `host:x`) for
    /// `holder` (a lease owner) until `expires` (Unix milliseconds). Slots are shared by
    /// every process on the store; expired ones (a crashed holder's) are freed first.
    /// Returns the slot's id, or `None` when `cap` slots are held.
    fn take_slot(&mut self, key: &str, cap: u32, holder: &str, expires: i64)
    -> Result<Option<i64>>;

    /// Takes one request's worth of limiter key `key`'s rates and daily quota, counted for
    /// every process on the store: `None` when taken, or when (Unix milliseconds) a rate or
    /// the quota allows the next request — nothing is taken then.
    fn take_rate(&mut self, key: &str, limits: &RateLimits) -> Result<Option<i64>>;

    /// Charges `tokens` to limiter key `key`'s token windows now (after a reply: providers
    /// count what was actually used). Checked by [`QueueTx::take_rate`]'s
    /// [`WindowUnit::Tokens`] windows.
    fn charge_tokens(&mut self, key: &str, tokens: u64) -> Result<()>;

    /// Parks `park.key` until `park.until` with its reason and strikes (replacing an earlier
    /// park of the key).
    fn park(&mut self, park: &Park) -> Result<()>;

    /// Removes the park of `key` (nothing if none).
    fn unpark(&mut self, key: &str) -> Result<()>;

    /// Moves the park of `key` to `until` with `reason` only if it has run out (its time is
    /// not after now): the one caller that gets `Some` (the park as it was) holds a
    /// half-open breaker's single probe; `None` when there is no park or it still holds.
    fn probe_park(&mut self, key: &str, until: i64, reason: &str) -> Result<Option<Park>>;

    /// Frees a slot taken by [`QueueTx::take_slot`] (nothing if it is gone).
    fn free_slot(&mut self, slot: i64) -> Result<()>;

    /// Extends every slot `holder` holds to `expires` (its heartbeat); frees all slots of
    /// `dead` holders (processes known to be gone). Returns how many were extended.
    fn extend_slots(&mut self, holder: &str, expires: i64, dead: &[String]) -> Result<usize>;

    /// Registers `member` (or records its heartbeat: `last_beat` is set to now); forgets
    /// members whose last heartbeat is older than `forget_before` (Unix milliseconds).
    fn beat(&mut self, member: &Member, forget_before: i64) -> Result<()>;

    /// Removes a member that stops cleanly, and gives up its leadership if it leads.
    fn leave(&mut self, owner: &str) -> Result<()>;

    /// Takes or renews the leader lease for `owner` until `until` (Unix milliseconds):
    /// renewed under the same term while `owner` holds it unexpired; taken under a new term
    /// when it is free or expired. Returns the term when `owner` leads, `None` when another
    /// process does.
    fn lead(&mut self, owner: &str, until: i64) -> Result<Option<i64>>;

    /// Whether `owner` leads under `term` now (unexpired): maintenance checks it inside its
    /// own transaction, so a leader whose term has passed cannot act.
    fn leads(&mut self, owner: &str, term: i64) -> Result<bool>;

    /// Inserts rows another store exported from `table` (one of [`PORTABLE_TABLES`]),
    /// keeping their ids; columns this store does not have are left out, and ids issued
    /// later follow the highest imported. Returns how many rows.
    fn import(&mut self, table: &str, rows: &[Row]) -> Result<usize>;

    /// Removes history that ended before `purge.before`: finished runs (and their jobs)
    /// that are not running, not the run of any stage's last success (the stage cache's
    /// outputs) and have no job still queued, running or blocked; ended jobs of no run
    /// (`done`, `skipped`, `failed`, `cancelled`) that no unfinished job depends on; their
    /// dependency rows, their ledger rows (except the highest `seq`, so numbers are never
    /// issued twice) and their manifest rows. Nothing else. With `purge.dry_run` nothing
    /// changes and the reply says what would go.
    fn purge(&mut self, purge: &Purge) -> Result<Purged>;
}

/// Reads, outside any write transaction.
pub trait StoreRead {
    /// The job with idempotency key `key`.
    fn job(&self, key: &str) -> Result<Option<Job>>;
    /// Jobs (of one state, or all), most recently changed first, at most `limit`.
    fn list(&self, state: Option<JobState>, limit: usize) -> Result<Vec<Job>>;
    /// A job's attempts, oldest first.
    fn attempts(&self, job_id: i64) -> Result<Vec<Attempt>>;
    /// A job's last `limit` ledger lines, oldest first.
    fn job_events(&self, job_id: i64, limit: usize) -> Result<Vec<serde_json::Value>>;
    /// The ledger lines of jobs `job_ids` whose `seq` is above `after`, lowest `seq` first,
    /// at most `limit`; each is the line's JSON object with its `seq` (as in the ledger
    /// file). What `job attach` follows.
    fn events_after(
        &self,
        job_ids: &[i64],
        after: i64,
        limit: usize,
    ) -> Result<Vec<serde_json::Value>>;
    /// The `queue stats` document at time `now` (Unix milliseconds).
    fn stats(&self, now: i64) -> Result<QueueStats>;
    /// What the dashboards show at `now` (Unix milliseconds): counts from the store's
    /// summary, at most `rows` jobs per list, and limiter quota use on `day` (`YYYY-MM-DD`).
    /// Every read is indexed or summarized: its cost does not grow with the queue.
    fn overview(&self, now: i64, day: &str, rows: usize) -> Result<Overview>;
    /// The newest ledger event's `seq` (0 when there is none).
    fn last_seq(&self) -> Result<i64>;
    /// Up to `limit` ledger events after `seq` `after`, oldest first, each with its `seq`
    /// (for followers such as the metrics of `baton serve`).
    fn events_since(&self, after: i64, limit: usize) -> Result<Vec<(i64, serde_json::Value)>>;
    /// An artifact's manifest row.
    fn manifest(&self, key: &str) -> Result<Option<ManifestRow>>;
    /// How much of a limiter key's daily quota `day` (`YYYY-MM-DD`) has used.
    fn quota_used(&self, key: &str, day: &str) -> Result<u64>;
    /// The park of limiter key `key`, expired or not.
    fn park(&self, key: &str) -> Result<Option<Park>>;
    /// Owners holding running leases (to recover those of dead local processes).
    fn lease_owners(&self) -> Result<Vec<String>>;
    /// A pipeline run.
    fn run(&self, run_id: &str) -> Result<Option<RunRecord>>;
    /// The keys of a run's jobs.
    fn run_job_keys(&self, run_id: &str) -> Result<Vec<String>>;
    /// The last recorded success of a pipeline's stage.
    fn last_stage(&self, pipeline: &str, stage: &str) -> Result<Option<StageRecord>>;
    /// The last recorded success of every stage of a pipeline, by stage id: one read where a
    /// plan would otherwise ask [`StoreRead::last_stage`] once per stage.
    fn last_stages(&self, pipeline: &str) -> Result<HashMap<String, StageRecord>>;
    /// The processes registered on the store, oldest first.
    fn members(&self) -> Result<Vec<Member>>;
    /// The leader lease, if any process ever took it.
    fn leadership(&self) -> Result<Option<Leadership>>;
    /// Streams every row of `table` (one of [`PORTABLE_TABLES`]) to `row` as a JSON object
    /// by column name (binary values as `\\x` and hex digits); returns how many rows.
    fn export(&self, table: &str, row: &mut dyn FnMut(Row) -> Result<()>) -> Result<u64>;
}

/// A row of a table as [`StoreRead::export`] gives it and [`QueueTx::import`] takes it.
pub type Row = serde_json::Map<String, serde_json::Value>;

/// The tables `baton store migrate` copies from one store to another, parents first. Limiter
/// slots, windows and parks, members and the leader lease belong to running processes and
/// are not copied.
pub const PORTABLE_TABLES: &[&str] = &[
    "jobs",
    "job_deps",
    "runs",
    "stage_cache",
    "artifacts",
    "quotas",
    "counters",
    "plugin_state",
    "events",
];

/// A durable store: reads, journaled write transactions, the plugins' key-value state.
pub trait Store: StoreRead + Send {
    /// Runs `change` in one transaction at time `now` (Unix milliseconds), commits it, then
    /// appends the events it produced to the ledger file; returns those events. If `change`
    /// fails, nothing is committed and nothing is journaled.
    fn transaction(
        &mut self,
        now: i64,
        change: &mut dyn FnMut(&mut dyn QueueTx) -> Result<()>,
    ) -> Result<Vec<Event>>;

    /// Another handle on the same store, for readers on other threads.
    fn reopen(&self) -> Result<Box<dyn Store>>;

    /// The plugins' `state` storage.
    fn plugin_state(&self) -> Result<Arc<dyn PluginStateStore>>;

    /// Wake-ups from other processes when jobs may have become ready (a server's
    /// notifications); `None` when the store has none and idle processes poll. Default:
    /// none.
    fn wakeups(&self) -> Result<Option<Box<dyn Wakeups>>> {
        Ok(None)
    }
}

/// A listener for "jobs may be ready" notifications from other processes on the store.
pub trait Wakeups: Send {
    /// Waits up to `timeout` for a notification. `Ok(true)` when one came — or when the
    /// listener had to reconnect, since jobs may have arrived unseen in the gap — and
    /// `Ok(false)` when the time ran out. An error means it could not listen now; the
    /// caller retries later (polling covers the gap).
    fn wait(&mut self, timeout: std::time::Duration) -> Result<bool>;
}

/// The storage behind the `state` host import: a small key-value map per plugin that
/// survives restarts, bounded by [`MAX_STATE_KEY_BYTES`], [`MAX_STATE_VALUE_BYTES`] and
/// [`MAX_STATE_PLUGIN_BYTES`].
pub trait PluginStateStore: Send + Sync {
    /// The value of `key`.
    fn get(&self, plugin: &str, key: &str) -> Result<Option<Vec<u8>>>;
    /// Stores `value`; the outer error is the host's, the inner one is for the plugin (a
    /// bound was hit).
    fn set(&self, plugin: &str, key: &str, value: &[u8]) -> Result<Result<(), String>>;
    /// Removes `key` (no error if absent).
    fn remove(&self, plugin: &str, key: &str) -> Result<()>;
    /// Keys starting with `prefix`, sorted.
    fn keys(&self, plugin: &str, prefix: &str) -> Result<Vec<String>>;
}

/// Runs `change` in its own transaction and returns its typed reply (for one-off commands;
/// the scheduler's writer batches instead).
pub fn commit<R>(
    store: &mut dyn Store,
    now: i64,
    change: impl FnOnce(&mut dyn QueueTx) -> Result<R>,
) -> Result<R> {
    let mut change = Some(change);
    let mut reply = None;
    store.transaction(now, &mut |tx| {
        if let Some(change) = change.take() {
            reply = Some(change(tx)?);
        }
        Ok(())
    })?;
    reply.ok_or_else(|| anyhow::anyhow!("the store did not run the change"))
}
