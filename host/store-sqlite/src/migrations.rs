//! Versioned schema migrations: each runs once, in order, inside a transaction, and the
//! version reached is kept in `PRAGMA user_version`.

use anyhow::{Result, bail};
use rusqlite::Connection;

/// Migration N (1-based) is `MIGRATIONS[N - 1]`. Append only; never edit a shipped one.
const MIGRATIONS: &[&str] = &[
    // 1: per-plugin key-value state.
    "CREATE TABLE plugin_state (
        plugin TEXT NOT NULL,
        key TEXT NOT NULL,
        value BLOB NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (plugin, key)
    ) WITHOUT ROWID;",
    // 2: the job queue, the ledger (which also holds every attempt), the artifact manifest
    // and daily quotas.
    "CREATE TABLE jobs (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        plugin TEXT,
        payload TEXT NOT NULL,
        priority INTEGER NOT NULL DEFAULT 0,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        max_attempts INTEGER NOT NULL,
        run_after INTEGER NOT NULL DEFAULT 0,
        wait_reason TEXT,
        lease_owner TEXT,
        lease_expires INTEGER,
        fence INTEGER NOT NULL DEFAULT 0,
        recoveries INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        result TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE INDEX jobs_ready ON jobs (priority DESC, run_after, id) WHERE state = 'queued';
    CREATE INDEX jobs_due ON jobs (run_after) WHERE state = 'queued';
    CREATE INDEX jobs_leases ON jobs (lease_expires) WHERE state = 'running';
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        at INTEGER NOT NULL,
        job_id INTEGER,
        event TEXT NOT NULL,
        data TEXT NOT NULL
    );
    CREATE INDEX events_job ON events (job_id) WHERE job_id IS NOT NULL;
    CREATE TABLE artifacts (
        key TEXT PRIMARY KEY,
        sha256 TEXT NOT NULL,
        size INTEGER NOT NULL,
        url TEXT NOT NULL,
        host TEXT NOT NULL,
        resolver TEXT NOT NULL,
        content_type TEXT,
        fetched_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE quotas (
        key TEXT NOT NULL,
        day TEXT NOT NULL,
        used INTEGER NOT NULL,
        PRIMARY KEY (key, day)
    ) WITHOUT ROWID;
    CREATE TABLE counters (
        name TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    ) WITHOUT ROWID;",
    // 3: pipeline runs: jobs belong to a run and wait on each other; stage results are cached.
    "ALTER TABLE jobs ADD COLUMN run_id TEXT;
    CREATE INDEX jobs_run ON jobs (run_id, state) WHERE run_id IS NOT NULL;
    CREATE INDEX jobs_blocked ON jobs (run_id) WHERE state = 'blocked';
    CREATE TABLE job_deps (
        job_id INTEGER NOT NULL,
        dep_id INTEGER NOT NULL,
        PRIMARY KEY (job_id, dep_id)
    ) WITHOUT ROWID;
    CREATE INDEX job_deps_dep ON job_deps (dep_id);
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        pipeline TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        finished_at INTEGER,
        state TEXT NOT NULL,
        options TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE stage_cache (
        pipeline TEXT NOT NULL,
        stage TEXT NOT NULL,
        key TEXT NOT NULL,
        definition TEXT NOT NULL,
        plugin TEXT NOT NULL,
        inputs TEXT NOT NULL,
        outputs TEXT NOT NULL,
        run_id TEXT NOT NULL,
        at INTEGER NOT NULL,
        PRIMARY KEY (pipeline, stage)
    ) WITHOUT ROWID;",
    // 4: a failure's stable code (e.g. a plugin error's `trap`) beside its message.
    "ALTER TABLE jobs ADD COLUMN error_code TEXT;",
    // 5: limiter concurrency slots shared by every process on the store, leased like jobs.
    "CREATE TABLE limit_slots (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL,
        holder TEXT NOT NULL,
        expires INTEGER NOT NULL
    );
    CREATE INDEX limit_slots_key ON limit_slots (key, expires);
    CREATE INDEX limit_slots_holder ON limit_slots (holder);",
    // 6: the process running a pipeline run, so a run whose process died is shown as such.
    "ALTER TABLE runs ADD COLUMN owner TEXT;",
    // 7: processes working on the store, and the leader lease for maintenance.
    "CREATE TABLE members (
        owner TEXT PRIMARY KEY,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        role TEXT NOT NULL,
        version TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        last_beat INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE leader (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        owner TEXT NOT NULL,
        term INTEGER NOT NULL,
        expires INTEGER NOT NULL
    );",
    // 8: limiter token buckets shared by every process on the store.
    "CREATE TABLE limit_buckets (
        key TEXT NOT NULL,
        window_ms INTEGER NOT NULL,
        tokens REAL NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (key, window_ms)
    ) WITHOUT ROWID;",
    // 9: what the dashboards read without scanning: jobs per kind and state kept by
    // triggers, and jobs of the states the views list in order of their last change
    // (partial indexes: one over every state would tempt the planner away from `jobs_ready`
    // and `jobs_due` for queued jobs).
    "CREATE TABLE job_counts (
        kind TEXT NOT NULL,
        state TEXT NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (kind, state)
    ) WITHOUT ROWID;
    INSERT INTO job_counts (kind, state, n) SELECT kind, state, COUNT(*) FROM jobs GROUP BY 1, 2;
    CREATE TRIGGER job_counts_insert AFTER INSERT ON jobs BEGIN
        INSERT INTO job_counts (kind, state, n) VALUES (NEW.kind, NEW.state, 1)
            ON CONFLICT (kind, state) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER job_counts_update AFTER UPDATE OF state ON jobs
    WHEN OLD.state IS NOT NEW.state BEGIN
        UPDATE job_counts SET n = n - 1 WHERE kind = OLD.kind AND state = OLD.state;
        INSERT INTO job_counts (kind, state, n) VALUES (NEW.kind, NEW.state, 1)
            ON CONFLICT (kind, state) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER job_counts_delete AFTER DELETE ON jobs BEGIN
        UPDATE job_counts SET n = n - 1 WHERE kind = OLD.kind AND state = OLD.state;
    END;
    CREATE INDEX jobs_running_since ON jobs (updated_at) WHERE state = 'running';
    CREATE INDEX jobs_blocked_since ON jobs (updated_at) WHERE state = 'blocked';
    CREATE INDEX jobs_failed_at ON jobs (updated_at) WHERE state = 'failed';
    CREATE INDEX jobs_done_at ON jobs (updated_at) WHERE state = 'done';
    CREATE INDEX jobs_skipped_at ON jobs (updated_at) WHERE state = 'skipped';",
    // 10: sliding-window use (requests taken, tokens charged) and parked keys of the limiter.
    "CREATE TABLE limit_usage (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL,
        unit TEXT NOT NULL,
        at INTEGER NOT NULL,
        amount INTEGER NOT NULL
    );
    CREATE INDEX limit_usage_key ON limit_usage (key, unit, at);
    CREATE TABLE limit_parks (
        key TEXT PRIMARY KEY,
        until INTEGER NOT NULL,
        reason TEXT NOT NULL,
        strikes INTEGER NOT NULL
    ) WITHOUT ROWID;",
    // 11: inserted jobs are counted once per kind and state per batch by the code that
    // inserts them (`counts::add_inserted`), not by a trigger per row: a trigger costs an
    // upsert and a statement journal (a copy of every page the insert touches) per job.
    "DROP TRIGGER job_counts_insert;",
    // 12: changes of state are counted the same way, once per batch by the code that makes
    // them (`counts::add_moves`): the per-row trigger ran a sub-program with a statement
    // journal on every claim and every outcome, 15% of a no-op drain.
    "DROP TRIGGER job_counts_update;",
];

/// Brings the schema of `conn` to the newest version; refuses a database newer than this
/// build. The version is read and every pending migration applied inside one write
/// transaction, so processes opening a new database at once migrate it exactly once.
pub fn apply(conn: &mut Connection) -> Result<()> {
    let read = |conn: &Connection| -> rusqlite::Result<usize> {
        conn.pragma_query_value(None, "user_version", |row| row.get(0))
    };
    if read(conn)? == MIGRATIONS.len() {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let current = read(&tx)?;
    if current > MIGRATIONS.len() {
        bail!(
            "the database is at schema version {current}, newer than this baton ({}); upgrade baton",
            MIGRATIONS.len()
        );
    }
    for sql in MIGRATIONS.iter().skip(current) {
        tx.execute_batch(sql)?;
    }
    tx.pragma_update(None, "user_version", MIGRATIONS.len())?;
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_applied_once_and_refuse_a_newer_schema() {
        let mut conn = Connection::open_in_memory().unwrap();
        apply(&mut conn).unwrap();
        apply(&mut conn).unwrap();
        let version: usize = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len());
        conn.pragma_update(None, "user_version", 999).unwrap();
        assert!(apply(&mut conn).unwrap_err().to_string().contains("newer"));
    }
}
