//! Baton's embedded store: SQLite in WAL mode, one file (`.baton/baton.db` by default),
//! versioned migrations applied on open. [`SqliteStore`] implements every store trait of
//! `baton_core::store`; each write transaction is `BEGIN IMMEDIATE`, and after it commits
//! the store appends its events to the ledger file it owns. Every SQL statement Baton runs
//! lives in this crate.

mod artifacts;
mod counts;
mod enqueue;
mod integrity;
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

use anyhow::{Context, Result};
use baton_core::event::Event;
use baton_core::ledger::LedgerFile;
use baton_core::model::{Attempt, Claimed, Job, JobState, NewJob, Outcome};
use baton_core::store::{
    Claim, Durability, Leadership, ManifestRow, Member, Offer, Overview, Park, Pending,
    PluginStateStore, Purge, Purged, QueueStats, QueueTx, RateLimits, Recovered, Requeue, Row,
    RunRecord, RunState, StageRecord, Store, StoreRead, WindowUnit,
};
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How long a writer waits for another process's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens (creating it and its directory if needed), checks (a damaged file is refused) and
/// migrates the database at `path`.
fn connect(path: &Path, durability: Durability) -> Result<Connection> {
    if let Some(dir) = path.parent() {
        create_dir(dir)?;
    }
    if path.is_dir() {
        anyhow::bail!(
            "the database {} is a directory, not a SQLite file; point store.db at a file",
            path.display()
        );
    }
    // Some lock waits of an open are not left to the busy handler (SQLite answers
    // SQLITE_BUSY at once, e.g. while another process recovers or checkpoints the WAL):
    // those are retried until the same timeout.
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match open_once(path, durability) {
            Err(error) if busy(&error) && std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(25));
            }
            opened => return opened,
        }
    }
}

/// Whether `error` is SQLite's "database is locked" (SQLITE_BUSY).
fn busy(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<rusqlite::Error>()
            .is_some_and(|e| e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy))
    })
}

/// Prepared statements kept per connection (rusqlite's default is 16).
const STATEMENT_CACHE: usize = 96;

/// One attempt of [`connect`].
fn open_once(path: &Path, durability: Durability) -> Result<Connection> {
    let mut conn = Connection::open(path)
        .with_context(|| format!("cannot open the database {}", path.display()))?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // The store's statements (about 60) stay prepared: rusqlite keeps 16 by default, and the
    // writer's upkeep would push the claim and finish statements out between batches.
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    integrity::check(&conn, path)?;
    // WAL is a property of the file: set once, by the first open (changing the mode needs
    // a lock that other processes' readers and writers hold).
    let mode: String = conn.pragma_query_value(None, "journal_mode", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        conn.pragma_update(None, "journal_mode", "WAL")?;
    }
    let synchronous = match durability {
        Durability::Normal => "NORMAL",
        Durability::Full => "FULL",
    };
    conn.pragma_update(None, "synchronous", synchronous)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    migrations::apply(&mut conn)
        .with_context(|| format!("cannot migrate the database {}", path.display()))?;
    Ok(conn)
}

/// Creates the database's directory, naming a file that stands where a directory must be.
fn create_dir(dir: &Path) -> Result<()> {
    let Err(error) = std::fs::create_dir_all(dir) else {
        return Ok(());
    };
    match dir.ancestors().find(|a| a.exists() && !a.is_dir()) {
        Some(blocker) => anyhow::bail!(
            "cannot create {}: {} is not a directory (move it aside or set store.db)",
            dir.display(),
            blocker.display()
        ),
        None => Err(error).with_context(|| format!("cannot create {}", dir.display())),
    }
}

/// The SQLite store: one connection, and the ledger file its commits are journaled to.
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
    ledger_dir: PathBuf,
    ledger: LedgerFile,
    durability: Durability,
}

impl SqliteStore {
    /// Opens (creating and migrating) the database at `path` with the default durability
    /// ([`Durability::Full`]); committed events are appended to `ledger_dir/YYYY-MM-DD.jsonl`.
    pub fn open(path: &Path, ledger_dir: &Path) -> Result<SqliteStore> {
        SqliteStore::open_with(path, ledger_dir, Durability::default())
    }

    /// Like [`SqliteStore::open`], acknowledging commits as `durability` says.
    pub fn open_with(
        path: &Path,
        ledger_dir: &Path,
        durability: Durability,
    ) -> Result<SqliteStore> {
        Ok(SqliteStore {
            conn: connect(path, durability)?,
            path: path.to_path_buf(),
            ledger_dir: ledger_dir.to_path_buf(),
            ledger: LedgerFile::new(ledger_dir),
            durability,
        })
    }

    /// Opens an existing database read-only, creating nothing; `None` if there is none.
    /// For plans and dry runs, which must not change the disk.
    pub fn open_read_only(path: &Path) -> Result<Option<ReadOnly>> {
        if !path.is_file() {
            return Ok(None);
        }
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .with_context(|| format!("cannot open the database {}", path.display()))?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        integrity::check(&conn, path)?;
        Ok(Some(ReadOnly { conn }))
    }
}

/// A read-only handle (see [`SqliteStore::open_read_only`]).
pub struct ReadOnly {
    conn: Connection,
}

/// One write transaction: the SQLite transaction and the events its changes produce.
struct SqliteTx<'a> {
    tx: Transaction<'a>,
    now: i64,
    events: Vec<Event>,
}

impl QueueTx for SqliteTx<'_> {
    fn now(&self) -> i64 {
        self.now
    }

    fn enqueue(&mut self, jobs: &[NewJob], ledger: bool) -> Result<Vec<bool>> {
        let inserted = enqueue::enqueue(&self.tx, jobs, self.now)?;
        if ledger {
            for (job, id) in jobs.iter().zip(&inserted) {
                if let Some(id) = id {
                    self.events.push(Event::job(
                        self.now,
                        *id,
                        &job.key,
                        "enqueued",
                        serde_json::json!({}),
                    ));
                }
            }
        }
        Ok(inserted.iter().map(Option::is_some).collect())
    }

    fn claim(
        &mut self,
        claim: &Claim,
        admit: &mut dyn FnMut(&Offer<'_>) -> bool,
    ) -> Result<Vec<Claimed>> {
        queue::claim(&self.tx, claim, self.now, admit, &mut self.events)
    }

    fn finish(&mut self, outcomes: &[(Claimed, Outcome)]) -> Result<Vec<bool>> {
        queue::finish(&self.tx, outcomes, self.now, &mut self.events)
    }

    fn heartbeat(&mut self, leases: &[(i64, i64)], lease_until: i64) -> Result<usize> {
        queue::heartbeat(&self.tx, leases, lease_until)
    }

    fn recover(
        &mut self,
        dead_owners: &[String],
        max_recoveries: u32,
        started: &dyn Fn(&str, i64, i64) -> bool,
    ) -> Result<Recovered> {
        queue::recover(
            &self.tx,
            self.now,
            dead_owners,
            started,
            max_recoveries,
            &mut self.events,
        )
    }

    fn requeue(&mut self, jobs: &[Requeue]) -> Result<Vec<bool>> {
        queue::requeue(&self.tx, jobs, self.now, &mut self.events)
    }

    fn release(&mut self, jobs: &[Claimed]) -> Result<usize> {
        queue::release(&self.tx, jobs, self.now, &mut self.events)
    }

    fn record_manifest(&mut self, row: &ManifestRow) -> Result<()> {
        artifacts::record(&self.tx, row)
    }

    fn add_quota(&mut self, key: &str, day: &str, used: u64) -> Result<()> {
        artifacts::quota_add(&self.tx, key, day, used)
    }

    fn bump_counter(&mut self, name: &str, by: i64) -> Result<()> {
        queue::bump_counter(&self.tx, name, by)
    }

    fn record_events(&mut self, events: Vec<Event>) {
        self.events.extend(events);
    }

    fn pending(&mut self, run: Option<&str>) -> Result<Pending> {
        queue::pending(&self.tx, run)
    }

    fn retry_failed(&mut self, max_attempts: Option<u32>, dry_run: bool) -> Result<Vec<String>> {
        queue::retry_failed(&self.tx, max_attempts, dry_run, self.now, &mut self.events)
    }

    fn retry(&mut self, key: &str) -> Result<Option<JobState>> {
        queue::retry(&self.tx, key, self.now, &mut self.events)
    }

    fn cancel(&mut self, key: &str) -> Result<Option<JobState>> {
        queue::cancel(&self.tx, key, self.now, &mut self.events)
    }

    fn purge(&mut self, purge: &Purge) -> Result<Purged> {
        purge::purge(&self.tx, purge)
    }

    fn start_run(&mut self, run: &RunRecord, jobs: &[(NewJob, Vec<usize>)]) -> Result<()> {
        queue::start_run(&self.tx, run, jobs, self.now, &mut self.events)
    }

    fn resume_run(&mut self, run_id: &str, dead_owners: &[String], owner: &str) -> Result<usize> {
        queue::resume_run(
            &self.tx,
            run_id,
            dead_owners,
            owner,
            self.now,
            &mut self.events,
        )
    }

    fn cancel_run(&mut self, run_id: &str, reason: &str) -> Result<usize> {
        queue::cancel_run(&self.tx, run_id, reason, self.now, &mut self.events)
    }

    fn finish_run(&mut self, run_id: &str, state: RunState) -> Result<()> {
        runs::finish_run(&self.tx, run_id, state, self.now)?;
        self.events.push(Event::general(
            self.now,
            "run-finished",
            serde_json::json!({"run": run_id, "state": state.as_str()}),
        ));
        Ok(())
    }

    fn take_slot(
        &mut self,
        key: &str,
        cap: u32,
        holder: &str,
        expires: i64,
    ) -> Result<Option<i64>> {
        slots::take(&self.tx, key, cap, holder, expires, self.now)
    }

    fn free_slot(&mut self, slot: i64) -> Result<()> {
        slots::free(&self.tx, slot)
    }

    fn take_rate(&mut self, key: &str, limits: &RateLimits) -> Result<Option<i64>> {
        slots::take_rate(&self.tx, key, limits, self.now)
    }

    fn extend_slots(&mut self, holder: &str, expires: i64, dead: &[String]) -> Result<usize> {
        slots::extend(&self.tx, holder, expires, dead)
    }

    fn charge_tokens(&mut self, key: &str, tokens: u64) -> Result<()> {
        slots::use_window(&self.tx, key, WindowUnit::Tokens, tokens, self.now)
    }

    fn park(&mut self, park: &Park) -> Result<()> {
        slots::park(&self.tx, park)
    }

    fn unpark(&mut self, key: &str) -> Result<()> {
        slots::unpark(&self.tx, key)
    }

    fn probe_park(&mut self, key: &str, until: i64, reason: &str) -> Result<Option<Park>> {
        slots::probe_park(&self.tx, key, until, reason, self.now)
    }

    fn beat(&mut self, member: &Member, forget_before: i64) -> Result<()> {
        members::beat(&self.tx, member, forget_before, self.now)
    }

    fn leave(&mut self, owner: &str) -> Result<()> {
        members::leave(&self.tx, owner)
    }

    fn lead(&mut self, owner: &str, until: i64) -> Result<Option<i64>> {
        members::lead(&self.tx, owner, until, self.now)
    }

    fn leads(&mut self, owner: &str, term: i64) -> Result<bool> {
        members::leads(&self.tx, owner, term, self.now)
    }

    fn import(&mut self, table: &str, rows: &[Row]) -> Result<usize> {
        portable::import(&self.tx, table, rows)
    }

    fn record_stage(&mut self, record: &StageRecord) -> Result<()> {
        runs::record_stage(&self.tx, record, self.now)
    }
}

/// Reads shared by the read-write and the read-only handle.
fn read(conn: &Connection) -> Reader<'_> {
    Reader(conn)
}

struct Reader<'a>(&'a Connection);

impl StoreRead for Reader<'_> {
    fn job(&self, key: &str) -> Result<Option<Job>> {
        queue::job(self.0, key)
    }
    fn list(&self, state: Option<JobState>, limit: usize) -> Result<Vec<Job>> {
        queue::list(self.0, state, limit)
    }
    fn attempts(&self, job_id: i64) -> Result<Vec<Attempt>> {
        queue::attempts(self.0, job_id)
    }
    fn job_events(&self, job_id: i64, limit: usize) -> Result<Vec<serde_json::Value>> {
        queue::job_events(self.0, job_id, limit)
    }
    fn events_after(
        &self,
        job_ids: &[i64],
        after: i64,
        limit: usize,
    ) -> Result<Vec<serde_json::Value>> {
        purge::events_after(self.0, job_ids, after, limit)
    }
    fn stats(&self, now: i64) -> Result<QueueStats> {
        stats::collect(self.0, now)
    }
    fn overview(&self, now: i64, day: &str, rows: usize) -> Result<Overview> {
        overview::overview(self.0, now, day, rows)
    }
    fn last_seq(&self) -> Result<i64> {
        overview::last_seq(self.0)
    }
    fn events_since(&self, after: i64, limit: usize) -> Result<Vec<(i64, serde_json::Value)>> {
        overview::events_since(self.0, after, limit)
    }
    fn manifest(&self, key: &str) -> Result<Option<ManifestRow>> {
        artifacts::lookup(self.0, key)
    }
    fn quota_used(&self, key: &str, day: &str) -> Result<u64> {
        artifacts::quota_used(self.0, key, day)
    }
    fn park(&self, key: &str) -> Result<Option<Park>> {
        slots::parked(self.0, key)
    }
    fn lease_owners(&self) -> Result<Vec<String>> {
        queue::lease_owners(self.0)
    }
    fn run(&self, run_id: &str) -> Result<Option<RunRecord>> {
        runs::run(self.0, run_id)
    }
    fn run_job_keys(&self, run_id: &str) -> Result<Vec<String>> {
        runs::run_job_keys(self.0, run_id)
    }
    fn last_stage(&self, pipeline: &str, stage: &str) -> Result<Option<StageRecord>> {
        runs::last_stage(self.0, pipeline, stage)
    }
    fn last_stages(&self, pipeline: &str) -> Result<HashMap<String, StageRecord>> {
        runs::last_stages(self.0, pipeline)
    }
    fn members(&self) -> Result<Vec<Member>> {
        members::members(self.0)
    }
    fn leadership(&self) -> Result<Option<Leadership>> {
        members::leadership(self.0)
    }
    fn export(&self, table: &str, row: &mut dyn FnMut(Row) -> Result<()>) -> Result<u64> {
        portable::export(self.0, table, row)
    }
}

/// Implements [`StoreRead`] for a type holding a `conn` by forwarding to [`Reader`].
macro_rules! forward_reads {
    ($type:ty) => {
        impl StoreRead for $type {
            fn job(&self, key: &str) -> Result<Option<Job>> {
                read(&self.conn).job(key)
            }
            fn list(&self, state: Option<JobState>, limit: usize) -> Result<Vec<Job>> {
                read(&self.conn).list(state, limit)
            }
            fn attempts(&self, job_id: i64) -> Result<Vec<Attempt>> {
                read(&self.conn).attempts(job_id)
            }
            fn job_events(&self, job_id: i64, limit: usize) -> Result<Vec<serde_json::Value>> {
                read(&self.conn).job_events(job_id, limit)
            }
            fn events_after(
                &self,
                job_ids: &[i64],
                after: i64,
                limit: usize,
            ) -> Result<Vec<serde_json::Value>> {
                read(&self.conn).events_after(job_ids, after, limit)
            }
            fn stats(&self, now: i64) -> Result<QueueStats> {
                read(&self.conn).stats(now)
            }
            fn overview(&self, now: i64, day: &str, rows: usize) -> Result<Overview> {
                read(&self.conn).overview(now, day, rows)
            }
            fn last_seq(&self) -> Result<i64> {
                read(&self.conn).last_seq()
            }
            fn events_since(
                &self,
                after: i64,
                limit: usize,
            ) -> Result<Vec<(i64, serde_json::Value)>> {
                read(&self.conn).events_since(after, limit)
            }
            fn manifest(&self, key: &str) -> Result<Option<ManifestRow>> {
                read(&self.conn).manifest(key)
            }
            fn quota_used(&self, key: &str, day: &str) -> Result<u64> {
                read(&self.conn).quota_used(key, day)
            }
            fn park(&self, key: &str) -> Result<Option<Park>> {
                read(&self.conn).park(key)
            }
            fn lease_owners(&self) -> Result<Vec<String>> {
                read(&self.conn).lease_owners()
            }
            fn run(&self, run_id: &str) -> Result<Option<RunRecord>> {
                read(&self.conn).run(run_id)
            }
            fn run_job_keys(&self, run_id: &str) -> Result<Vec<String>> {
                read(&self.conn).run_job_keys(run_id)
            }
            fn last_stage(&self, pipeline: &str, stage: &str) -> Result<Option<StageRecord>> {
                read(&self.conn).last_stage(pipeline, stage)
            }
            fn last_stages(&self, pipeline: &str) -> Result<HashMap<String, StageRecord>> {
                read(&self.conn).last_stages(pipeline)
            }
            fn members(&self) -> Result<Vec<Member>> {
                read(&self.conn).members()
            }
            fn leadership(&self) -> Result<Option<Leadership>> {
                read(&self.conn).leadership()
            }
            fn export(&self, table: &str, row: &mut dyn FnMut(Row) -> Result<()>) -> Result<u64> {
                read(&self.conn).export(table, row)
            }
        }
    };
}

forward_reads!(SqliteStore);
forward_reads!(ReadOnly);

impl Store for SqliteStore {
    fn transaction(
        &mut self,
        now: i64,
        change: &mut dyn FnMut(&mut dyn QueueTx) -> Result<()>,
    ) -> Result<Vec<Event>> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .with_context(|| format!("cannot start a transaction on {}", self.path.display()))?;
        let mut sqlite = SqliteTx {
            tx,
            now,
            events: Vec::new(),
        };
        change(&mut sqlite)?;
        let SqliteTx { tx, events, .. } = sqlite;
        // Held from before the events are numbered until their lines are written: a
        // catch-up in another process waits instead of writing them too.
        let journaling = self.ledger.lock()?;
        // Before a process's first write, and after a writer killed between its commit and
        // its append, the ledger gets what the killed one left out.
        journal::catch_up(
            &tx,
            &mut self.ledger,
            &self.ledger_dir,
            journaling.interrupted(),
        )?;
        let lines = queue::insert_events(&tx, &events)?;
        tx.commit()
            .with_context(|| format!("cannot commit to {}", self.path.display()))?;
        // The change is durable; a ledger file that cannot be written is reported, and the
        // events stay in the store's `events` table (the next writer catches up).
        if let Err(e) = self.ledger.append_committed(journaling, &lines) {
            tracing::error!("ledger file: {e:#}");
        }
        Ok(events)
    }

    fn reopen(&self) -> Result<Box<dyn Store>> {
        Ok(Box::new(SqliteStore::open_with(
            &self.path,
            &self.ledger_dir,
            self.durability,
        )?))
    }

    fn plugin_state(&self) -> Result<Arc<dyn PluginStateStore>> {
        Ok(Arc::new(plugin_state::PluginState::new(connect(
            &self.path,
            self.durability,
        )?)))
    }
}

#[cfg(test)]
mod tests {
    /// A first open while another process holds the database's exclusive lock waits for it,
    /// then switches the file to WAL and migrates it.
    #[test]
    fn an_open_waits_out_another_processs_exclusive_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("baton.db");
        let holder = rusqlite::Connection::open(&path).unwrap();
        holder
            .execute_batch("CREATE TABLE other (x); BEGIN EXCLUSIVE; INSERT INTO other VALUES (1);")
            .unwrap();
        let release = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(500));
            holder.execute_batch("COMMIT").unwrap();
        });
        let started = std::time::Instant::now();
        let conn = super::connect(&path, baton_core::store::Durability::Full).unwrap();
        assert!(started.elapsed() >= std::time::Duration::from_millis(400));
        release.join().unwrap();
        let mode: String = conn
            .pragma_query_value(None, "journal_mode", |row| row.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }

    #[test]
    fn sqlite_passes_the_conformance_suite() {
        let dir = tempfile::tempdir().unwrap();
        let counter = std::sync::atomic::AtomicUsize::new(0);
        baton_core::conformance::run_all(&|| {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Box::new(
                super::SqliteStore::open(
                    &dir.path().join(format!("{n}.db")),
                    &dir.path().join(format!("ledger-{n}")),
                )
                .unwrap(),
            )
        });
    }

    #[test]
    fn committed_events_reach_the_ledger_file() {
        use baton_core::store::Store;
        let dir = tempfile::tempdir().unwrap();
        let mut store =
            super::SqliteStore::open(&dir.path().join("b.db"), &dir.path().join("ledger")).unwrap();
        let job = baton_core::model::NewJob {
            key: "k".into(),
            kind: baton_core::model::JobKind::Resolve,
            plugin: None,
            payload: "{}".into(),
            priority: 0,
            max_attempts: 1,
        };
        let at = 1_780_000_000_000;
        store
            .transaction(at, &mut |tx| {
                tx.enqueue(std::slice::from_ref(&job), true).map(|_| ())
            })
            .unwrap();
        let file = dir
            .path()
            .join("ledger")
            .join(format!("{}.jsonl", baton_core::clock::day_of(at)));
        let text = std::fs::read_to_string(file).unwrap();
        assert!(text.contains("\"event\":\"enqueued\""), "{text}");
        assert!(text.contains("\"job\":\"k\""), "{text}");
    }

    /// Three processes share one database and ledger; one is killed after its commit and
    /// before its append, while the others have long caught up. The next writer (the one
    /// that takes the lock after it) writes the missing line before its own.
    #[test]
    fn a_writer_killed_between_commit_and_append_loses_no_line_among_live_writers() {
        use baton_core::store::Store;
        let dir = tempfile::tempdir().unwrap();
        let (db, ledger_dir) = (dir.path().join("b.db"), dir.path().join("ledger"));
        let mut first = super::SqliteStore::open(&db, &ledger_dir).unwrap();
        let mut second = super::SqliteStore::open(&db, &ledger_dir).unwrap();
        let at = 1_780_000_000_000;
        let enqueue = |store: &mut super::SqliteStore, key: &str| {
            let job = baton_core::model::NewJob {
                key: key.into(),
                kind: baton_core::model::JobKind::Resolve,
                plugin: None,
                payload: "{}".into(),
                priority: 0,
                max_attempts: 1,
            };
            store
                .transaction(at, &mut |tx| {
                    tx.enqueue(std::slice::from_ref(&job), true).map(|_| ())
                })
                .unwrap();
        };
        enqueue(&mut first, "a");
        enqueue(&mut second, "b");
        // The killed writer: it took the lock, committed its event, and never appended.
        let mut killed = baton_core::ledger::LedgerFile::new(&ledger_dir);
        let lock = killed.lock().unwrap();
        rusqlite::Connection::open(&db)
            .unwrap()
            .execute(
                "INSERT INTO events (at, job_id, event, data) VALUES (?1, NULL, 'lost', ?2)",
                rusqlite::params![at, format!("{{\"at\":{at},\"event\":\"lost\"}}")],
            )
            .unwrap();
        drop(lock);
        enqueue(&mut first, "c");
        enqueue(&mut second, "d");
        let file = ledger_dir.join(format!("{}.jsonl", baton_core::clock::day_of(at)));
        let lines: Vec<serde_json::Value> = std::fs::read_to_string(file)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let seqs: Vec<i64> = lines.iter().map(|l| l["seq"].as_i64().unwrap()).collect();
        assert_eq!(seqs, [1, 2, 3, 4, 5], "{lines:?}");
        assert_eq!(lines[2]["event"], "lost", "{lines:?}");
    }
}
