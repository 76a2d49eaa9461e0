//! Baton's shared store on PostgreSQL: several hosts work one queue. [`PgStore`] implements
//! every store trait of `baton_core::store` with the SQLite store's semantics (the two pass
//! one conformance suite); every SQL statement it runs lives in this crate.
//!
//! - **Connections.** The sync `postgres` client (rust-postgres), one connection per handle
//!   with its statements prepared once, so most steps are one round trip. Connections are
//!   not encrypted (`NoTls`): use a unix socket (`postgres:///baton?host=/run/postgresql`)
//!   or a trusted network. Connecting times out after [`CONNECT_TIMEOUT`] unless the address
//!   sets `connect_timeout`. A lost connection is opened again on the next use. Errors name
//!   the server by its address without the password.
//! - **Schema.** Versioned migrations, applied once in a transaction under an advisory lock
//!   (concurrent opens of a new database migrate it once); a newer schema is refused.
//! - **Claims** are one `UPDATE ... FROM (SELECT ... FOR UPDATE SKIP LOCKED LIMIT n)
//!   RETURNING`, so claimers on many hosts never wait for each other nor take the same job.
//!   Finish, heartbeat, release and recovery are one `UPDATE ... FROM UNNEST(...)` per batch,
//!   and every write checks the lease's fence and state.
//! - **Journaling.** Each transaction inserts its events into `events` with `origin` = this
//!   host's name (`/proc/sys/kernel/hostname`), commits, then appends them to the host's
//!   ledger file with `seq` = the event id. Each host's writers hold the ledger directory's
//!   lock for their whole transaction, from before the first event id is drawn until after
//!   the append, so one host's ids rise in commit order; the catch-up before a process's
//!   first write appends this host's events above the file's last `seq` (see `journal`).
//! - **Notifications.** A transaction that enqueued, requeued or unblocked jobs runs
//!   `NOTIFY baton_jobs` ([`NOTIFY_CHANNEL`]) once, delivered as it commits, so idle
//!   dispatchers that `LISTEN` claim at once.

mod artifacts;
mod connect;
mod journal;
mod members;
mod migrations;
mod overview;
mod plugin_state;
mod portable;
mod purge;
mod queue;
mod runs;
mod slots;
mod stats;
mod tx;
mod wakeups;

pub use connect::{APPLICATION_NAME, CONNECT_TIMEOUT};
pub use tx::NOTIFY_CHANNEL;

use anyhow::Result;
use baton_core::event::Event;
use baton_core::ledger::LedgerFile;
use baton_core::model::{Attempt, Claimed, Job, JobState, NewJob, Outcome};
use baton_core::store::{
    Claim, Durability, Leadership, ManifestRow, Member, Offer, Overview, Park, Pending,
    PluginStateStore, Purge, Purged, QueueStats, QueueTx, RateLimits, Recovered, Requeue, Row,
    RunRecord, RunState, StageRecord, Store, StoreRead, Wakeups, WindowUnit,
};
use connect::{Conn, Target};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use tx::Tx;

/// A connection that is opened again when the server closed it.
struct Handle {
    target: Target,
    conn: Mutex<Conn>,
}

impl Handle {
    fn new(target: Target, conn: Conn) -> Handle {
        Handle {
            target,
            conn: Mutex::new(conn),
        }
    }

    /// The connection, for reads.
    fn conn(&self) -> Result<MutexGuard<'_, Conn>> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        if conn.is_closed() {
            *conn = self.target.connect()?;
        }
        Ok(conn)
    }

    /// The connection, for a write transaction (no other thread can hold it).
    fn conn_mut(&mut self) -> Result<&mut Conn> {
        let conn = self.conn.get_mut().unwrap_or_else(|p| p.into_inner());
        if conn.is_closed() {
            *conn = self.target.connect()?;
        }
        Ok(conn)
    }
}

/// The PostgreSQL store: a connection, and this host's ledger file its commits are journaled
/// to.
pub struct PgStore {
    handle: Handle,
    ledger_dir: PathBuf,
    ledger: LedgerFile,
    origin: String,
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`
    /// or a `key=value` connection string) and migrates it; committed events are appended to
    /// `ledger_dir/YYYY-MM-DD.jsonl` and recorded with this host's name as their origin.
    pub fn open(url: &str, ledger_dir: &Path) -> Result<PgStore> {
        PgStore::open_with(url, ledger_dir, Durability::default())
    }

    /// Like [`PgStore::open`], acknowledging commits as `durability` says
    /// (`synchronous_commit` on or off for Baton's sessions, unless the URL's `options` set it).
    pub fn open_with(url: &str, ledger_dir: &Path, durability: Durability) -> Result<PgStore> {
        PgStore::connect(url, ledger_dir, &journal::host_name(), durability)
    }

    /// Like [`PgStore::open`], recording events with `origin` as the host's name (several
    /// ledgers on one machine that must not see each other's events, and tests).
    pub fn open_as(url: &str, ledger_dir: &Path, origin: &str) -> Result<PgStore> {
        PgStore::connect(url, ledger_dir, origin, Durability::default())
    }

    fn connect(
        url: &str,
        ledger_dir: &Path,
        origin: &str,
        durability: Durability,
    ) -> Result<PgStore> {
        let target = Target::parse(url)?.with_durability(durability);
        let mut conn = target.connect()?;
        migrations::apply(&mut conn)?;
        Ok(PgStore {
            handle: Handle::new(target, conn),
            ledger_dir: ledger_dir.to_path_buf(),
            ledger: LedgerFile::new(ledger_dir),
            origin: origin.to_string(),
        })
    }

    /// Connects for reads only, creating and migrating nothing; `None` if the database has
    /// no Baton schema yet. For plans and dry runs, which must not change anything.
    pub fn open_read_only(url: &str) -> Result<Option<PgReader>> {
        let target = Target::parse(url)?;
        let mut conn = target.connect()?;
        let Some(version) = migrations::current(&mut conn)? else {
            return Ok(None);
        };
        migrations::refuse_newer(version, conn.server())?;
        conn.batch("SET default_transaction_read_only = on")?;
        Ok(Some(PgReader {
            handle: Handle::new(target, conn),
        }))
    }

    /// The server's address, without its password.
    pub fn server(&self) -> &str {
        self.handle.target.name()
    }

    /// The host name this store records as its events' origin.
    pub fn origin(&self) -> &str {
        &self.origin
    }
}

/// A read-only handle (see [`PgStore::open_read_only`]).
pub struct PgReader {
    handle: Handle,
}

impl QueueTx for Tx<'_> {
    fn now(&self) -> i64 {
        self.now
    }

    fn enqueue(&mut self, jobs: &[NewJob], ledger: bool) -> Result<Vec<bool>> {
        queue::enqueue(self, jobs, ledger)
    }

    fn claim(
        &mut self,
        claim: &Claim,
        admit: &mut dyn FnMut(&Offer<'_>) -> bool,
    ) -> Result<Vec<Claimed>> {
        queue::claim(self, claim, admit)
    }

    fn finish(&mut self, outcomes: &[(Claimed, Outcome)]) -> Result<Vec<bool>> {
        queue::finish(self, outcomes)
    }

    fn heartbeat(&mut self, leases: &[(i64, i64)], lease_until: i64) -> Result<usize> {
        queue::heartbeat(self, leases, lease_until)
    }

    fn recover(
        &mut self,
        dead_owners: &[String],
        max_recoveries: u32,
        started: &dyn Fn(&str, i64, i64) -> bool,
    ) -> Result<Recovered> {
        queue::recover(self, dead_owners, max_recoveries, started)
    }

    fn requeue(&mut self, jobs: &[Requeue]) -> Result<Vec<bool>> {
        queue::requeue(self, jobs)
    }

    fn release(&mut self, jobs: &[Claimed]) -> Result<usize> {
        queue::release(self, jobs)
    }

    fn record_manifest(&mut self, row: &ManifestRow) -> Result<()> {
        artifacts::record(self, row)
    }

    fn add_quota(&mut self, key: &str, day: &str, used: u64) -> Result<()> {
        artifacts::quota_add(self, key, day, used)
    }

    fn bump_counter(&mut self, name: &str, by: i64) -> Result<()> {
        queue::bump_counter(self, name, by)
    }

    fn record_events(&mut self, events: Vec<Event>) {
        self.events.extend(events);
    }

    fn pending(&mut self, run: Option<&str>) -> Result<Pending> {
        queue::pending(self, run)
    }

    fn retry_failed(&mut self, max_attempts: Option<u32>, dry_run: bool) -> Result<Vec<String>> {
        queue::retry_failed(self, max_attempts, dry_run)
    }

    fn retry(&mut self, key: &str) -> Result<Option<JobState>> {
        queue::retry(self, key)
    }

    fn cancel(&mut self, key: &str) -> Result<Option<JobState>> {
        queue::cancel(self, key)
    }

    fn purge(&mut self, purge: &Purge) -> Result<Purged> {
        purge::purge(self, purge)
    }

    fn start_run(&mut self, run: &RunRecord, jobs: &[(NewJob, Vec<usize>)]) -> Result<()> {
        runs::start_run(self, run, jobs)
    }

    fn resume_run(&mut self, run_id: &str, dead_owners: &[String], owner: &str) -> Result<usize> {
        runs::resume_run(self, run_id, dead_owners, owner)
    }

    fn cancel_run(&mut self, run_id: &str, reason: &str) -> Result<usize> {
        runs::cancel_run(self, run_id, reason)
    }

    fn finish_run(&mut self, run_id: &str, state: RunState) -> Result<()> {
        runs::finish_run(self, run_id, state)
    }

    fn record_stage(&mut self, record: &StageRecord) -> Result<()> {
        runs::record_stage(self, record)
    }

    fn take_slot(
        &mut self,
        key: &str,
        cap: u32,
        holder: &str,
        expires: i64,
    ) -> Result<Option<i64>> {
        slots::take(self, key, cap, holder, expires)
    }

    fn free_slot(&mut self, slot: i64) -> Result<()> {
        slots::free(self, slot)
    }

    fn take_rate(&mut self, key: &str, limits: &RateLimits) -> Result<Option<i64>> {
        slots::take_rate(self, key, limits)
    }

    fn extend_slots(&mut self, holder: &str, expires: i64, dead: &[String]) -> Result<usize> {
        slots::extend(self, holder, expires, dead)
    }

    fn charge_tokens(&mut self, key: &str, tokens: u64) -> Result<()> {
        slots::use_window(self, key, WindowUnit::Tokens, tokens)
    }

    fn park(&mut self, park: &Park) -> Result<()> {
        slots::park(self, park)
    }

    fn unpark(&mut self, key: &str) -> Result<()> {
        slots::unpark(self, key)
    }

    fn probe_park(&mut self, key: &str, until: i64, reason: &str) -> Result<Option<Park>> {
        slots::probe_park(self, key, until, reason)
    }

    fn beat(&mut self, member: &Member, forget_before: i64) -> Result<()> {
        members::beat(self, member, forget_before)
    }

    fn leave(&mut self, owner: &str) -> Result<()> {
        members::leave(self, owner)
    }

    fn lead(&mut self, owner: &str, until: i64) -> Result<Option<i64>> {
        members::lead(self, owner, until)
    }

    fn leads(&mut self, owner: &str, term: i64) -> Result<bool> {
        members::leads(self, owner, term)
    }

    fn import(&mut self, table: &str, rows: &[Row]) -> Result<usize> {
        let origin = self.origin;
        portable::import(self, table, rows, origin)
    }
}

/// Implements [`StoreRead`] for a type holding a `handle` by forwarding to the modules.
macro_rules! forward_reads {
    ($type:ty) => {
        impl StoreRead for $type {
            fn job(&self, key: &str) -> Result<Option<Job>> {
                queue::job(&mut *self.handle.conn()?, key)
            }
            fn list(&self, state: Option<JobState>, limit: usize) -> Result<Vec<Job>> {
                queue::list(&mut *self.handle.conn()?, state, limit)
            }
            fn attempts(&self, job_id: i64) -> Result<Vec<Attempt>> {
                queue::attempts(&mut *self.handle.conn()?, job_id)
            }
            fn job_events(&self, job_id: i64, limit: usize) -> Result<Vec<serde_json::Value>> {
                queue::job_events(&mut *self.handle.conn()?, job_id, limit)
            }
            fn events_after(
                &self,
                job_ids: &[i64],
                after: i64,
                limit: usize,
            ) -> Result<Vec<serde_json::Value>> {
                purge::events_after(&mut *self.handle.conn()?, job_ids, after, limit)
            }
            fn stats(&self, now: i64) -> Result<QueueStats> {
                stats::collect(&mut *self.handle.conn()?, now)
            }
            fn overview(&self, now: i64, day: &str, rows: usize) -> Result<Overview> {
                // Its dozen statements on one thread off the async runtime, not one
                // thread each.
                let mut conn = self.handle.conn()?;
                let conn = &mut *conn;
                connect::off_runtime(move || overview::overview(conn, now, day, rows))
            }
            fn last_seq(&self) -> Result<i64> {
                overview::last_seq(&mut *self.handle.conn()?)
            }
            fn events_since(
                &self,
                after: i64,
                limit: usize,
            ) -> Result<Vec<(i64, serde_json::Value)>> {
                overview::events_since(&mut *self.handle.conn()?, after, limit)
            }
            fn manifest(&self, key: &str) -> Result<Option<ManifestRow>> {
                artifacts::lookup(&mut *self.handle.conn()?, key)
            }
            fn quota_used(&self, key: &str, day: &str) -> Result<u64> {
                artifacts::quota_used(&mut *self.handle.conn()?, key, day)
            }
            fn park(&self, key: &str) -> Result<Option<Park>> {
                slots::parked(&mut *self.handle.conn()?, key)
            }
            fn lease_owners(&self) -> Result<Vec<String>> {
                queue::lease_owners(&mut *self.handle.conn()?)
            }
            fn run(&self, run_id: &str) -> Result<Option<RunRecord>> {
                runs::run(&mut *self.handle.conn()?, run_id)
            }
            fn run_job_keys(&self, run_id: &str) -> Result<Vec<String>> {
                runs::run_job_keys(&mut *self.handle.conn()?, run_id)
            }
            fn last_stage(&self, pipeline: &str, stage: &str) -> Result<Option<StageRecord>> {
                runs::last_stage(&mut *self.handle.conn()?, pipeline, stage)
            }
            fn last_stages(&self, pipeline: &str) -> Result<HashMap<String, StageRecord>> {
                runs::last_stages(&mut *self.handle.conn()?, pipeline)
            }
            fn members(&self) -> Result<Vec<Member>> {
                members::members(&mut *self.handle.conn()?)
            }
            fn leadership(&self) -> Result<Option<Leadership>> {
                members::leadership(&mut *self.handle.conn()?)
            }
            fn export(&self, table: &str, row: &mut dyn FnMut(Row) -> Result<()>) -> Result<u64> {
                portable::export(&mut *self.handle.conn()?, table, row)
            }
        }
    };
}

forward_reads!(PgStore);
forward_reads!(PgReader);

impl Store for PgStore {
    fn transaction(
        &mut self,
        now: i64,
        change: &mut dyn FnMut(&mut dyn QueueTx) -> Result<()>,
    ) -> Result<Vec<Event>> {
        // Held for the whole transaction: this host's event ids rise in commit order, and a
        // catch-up never writes lines a writer is about to write.
        let journaling = self.ledger.lock()?;
        let conn = self.handle.conn_mut()?;
        // Before a process's first write, and after a writer killed between its commit and
        // its append, the ledger gets what a killed one left out.
        journal::catch_up(
            conn,
            &mut self.ledger,
            &self.ledger_dir,
            &self.origin,
            journaling.interrupted(),
        )?;
        let mut tx = Tx::begin(conn, now, &self.origin)?;
        // A failure drops `tx`, which rolls back: nothing committed, nothing journaled.
        change(&mut tx)?;
        let lines = journal::insert(tx.conn, &tx.events, &self.origin)?;
        let events = std::mem::take(&mut tx.events);
        tx.commit()?;
        // The change is durable; a ledger file that cannot be written is reported, and the
        // events stay in the `events` table (the next writer catches up).
        if let Err(e) = self.ledger.append_committed(journaling, &lines) {
            tracing::error!("ledger file: {e:#}");
        }
        Ok(events)
    }

    fn reopen(&self) -> Result<Box<dyn Store>> {
        Ok(Box::new(PgStore {
            handle: Handle::new(self.handle.target.clone(), self.handle.target.connect()?),
            ledger_dir: self.ledger_dir.clone(),
            ledger: LedgerFile::new(&self.ledger_dir),
            origin: self.origin.clone(),
        }))
    }

    fn plugin_state(&self) -> Result<Arc<dyn PluginStateStore>> {
        Ok(Arc::new(plugin_state::PluginState::new(
            self.handle.target.connect()?,
        )))
    }

    fn wakeups(&self) -> Result<Option<Box<dyn Wakeups>>> {
        Ok(Some(Box::new(wakeups::Listener::open(
            self.handle.target.clone(),
        )?)))
    }
}
