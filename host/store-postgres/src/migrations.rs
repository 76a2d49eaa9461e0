//! Versioned schema migrations on PostgreSQL: each runs once, in order. The versions applied
//! are rows of `baton_migrations`; pending ones are applied in one transaction that first
//! takes a transaction-scoped advisory lock, so processes opening a new database at once
//! migrate it exactly once (the others wait, then find nothing to do). A database migrated
//! by a newer Baton is refused.

use crate::connect::{Conn, get};
use anyhow::{Context, Result, bail};

/// The advisory lock class (first key) of schema migrations.
pub const LOCK_MIGRATIONS: i32 = 0x6274_0001;

/// Migration N (1-based) is `MIGRATIONS[N - 1]`. Append only; never edit a shipped one.
/// Times are Unix milliseconds (`BIGINT`), JSON is kept as text, exactly as given.
const MIGRATIONS: &[&str] = &[
    // 1: the job queue with runs and dependencies, the ledger events (with the host that
    // wrote them), the manifest, quotas, counters, the stage cache, limiter slots and the
    // plugins' state.
    r#"
    CREATE TABLE jobs (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        key TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        plugin TEXT,
        payload TEXT NOT NULL,
        priority BIGINT NOT NULL DEFAULT 0,
        state TEXT NOT NULL,
        attempts BIGINT NOT NULL DEFAULT 0,
        max_attempts BIGINT NOT NULL,
        run_after BIGINT NOT NULL DEFAULT 0,
        wait_reason TEXT,
        lease_owner TEXT,
        lease_expires BIGINT,
        fence BIGINT NOT NULL DEFAULT 0,
        recoveries BIGINT NOT NULL DEFAULT 0,
        last_error TEXT,
        error_code TEXT,
        result TEXT,
        run_id TEXT,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
    );
    CREATE INDEX jobs_ready ON jobs (priority DESC, run_after, id)
        WHERE state = 'queued' AND run_id IS NULL;
    CREATE INDEX jobs_run_ready ON jobs (run_id, priority DESC, run_after, id)
        WHERE state = 'queued' AND run_id IS NOT NULL;
    CREATE INDEX jobs_due ON jobs (run_after) WHERE state = 'queued' AND run_id IS NULL;
    CREATE INDEX jobs_leases ON jobs (lease_expires) WHERE state = 'running';
    CREATE INDEX jobs_blocked ON jobs (run_id) WHERE state = 'blocked';
    CREATE INDEX jobs_run ON jobs (run_id, state) WHERE run_id IS NOT NULL;
    CREATE TABLE job_deps (
        job_id BIGINT NOT NULL,
        dep_id BIGINT NOT NULL,
        PRIMARY KEY (job_id, dep_id)
    );
    CREATE INDEX job_deps_dep ON job_deps (dep_id);
    CREATE TABLE events (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at BIGINT NOT NULL,
        job_id BIGINT,
        event TEXT NOT NULL,
        data TEXT NOT NULL,
        origin TEXT NOT NULL
    );
    CREATE INDEX events_job ON events (job_id) WHERE job_id IS NOT NULL;
    CREATE INDEX events_origin ON events (origin, id);
    CREATE TABLE artifacts (
        key TEXT PRIMARY KEY,
        sha256 TEXT NOT NULL,
        size BIGINT NOT NULL,
        url TEXT NOT NULL,
        host TEXT NOT NULL,
        resolver TEXT NOT NULL,
        content_type TEXT,
        fetched_at BIGINT NOT NULL
    );
    CREATE TABLE quotas (
        key TEXT NOT NULL,
        day TEXT NOT NULL,
        used BIGINT NOT NULL,
        PRIMARY KEY (key, day)
    );
    CREATE TABLE counters (
        name TEXT PRIMARY KEY,
        value BIGINT NOT NULL
    );
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        pipeline TEXT NOT NULL,
        started_at BIGINT NOT NULL,
        finished_at BIGINT,
        state TEXT NOT NULL,
        options TEXT NOT NULL,
        owner TEXT
    );
    CREATE TABLE stage_cache (
        pipeline TEXT NOT NULL,
        stage TEXT NOT NULL,
        key TEXT NOT NULL,
        definition TEXT NOT NULL,
        plugin TEXT NOT NULL,
        inputs TEXT NOT NULL,
        outputs TEXT NOT NULL,
        run_id TEXT NOT NULL,
        at BIGINT NOT NULL,
        PRIMARY KEY (pipeline, stage)
    );
    CREATE TABLE limit_slots (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        key TEXT NOT NULL,
        holder TEXT NOT NULL,
        expires BIGINT NOT NULL
    );
    CREATE INDEX limit_slots_key ON limit_slots (key, expires);
    CREATE INDEX limit_slots_holder ON limit_slots (holder);
    CREATE TABLE plugin_state (
        plugin TEXT NOT NULL,
        key TEXT COLLATE "C" NOT NULL,
        value BYTEA NOT NULL,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (plugin, key)
    );
    "#,
    // 2: processes working on the database, and the leader lease for maintenance.
    r#"
    CREATE TABLE members (
        owner TEXT PRIMARY KEY,
        host TEXT NOT NULL,
        pid BIGINT NOT NULL,
        role TEXT NOT NULL,
        version TEXT NOT NULL,
        started_at BIGINT NOT NULL,
        last_beat BIGINT NOT NULL
    );
    CREATE TABLE leader (
        id INT PRIMARY KEY CHECK (id = 1),
        owner TEXT NOT NULL,
        term BIGINT NOT NULL,
        expires BIGINT NOT NULL
    );
    "#,
    // 3: limiter token buckets shared by every host.
    r#"
    CREATE TABLE limit_buckets (
        key TEXT NOT NULL,
        window_ms BIGINT NOT NULL,
        tokens DOUBLE PRECISION NOT NULL,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (key, window_ms)
    );
    "#,
    // 4: what the dashboards read without scanning. Jobs per kind and state: statement
    // triggers append one delta row per kind and state a statement changed (no row that
    // every claimer updates, so claims never queue behind each other); readers add the
    // deltas to `job_counts` and fold them in now and then. Partial indexes over the last
    // change of the states the views list serve the running list, the failures and the rate.
    r#"
    CREATE TABLE job_counts (
        kind TEXT NOT NULL,
        state TEXT NOT NULL,
        n BIGINT NOT NULL,
        PRIMARY KEY (kind, state)
    );
    CREATE TABLE job_count_deltas (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        kind TEXT NOT NULL,
        state TEXT NOT NULL,
        n BIGINT NOT NULL
    );
    INSERT INTO job_counts (kind, state, n) SELECT kind, state, COUNT(*) FROM jobs GROUP BY 1, 2;
    CREATE FUNCTION baton_job_counts_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO job_count_deltas (kind, state, n)
            SELECT kind, state, COUNT(*) FROM new_rows GROUP BY kind, state;
        RETURN NULL;
    END $$;
    CREATE FUNCTION baton_job_counts_update() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO job_count_deltas (kind, state, n)
            SELECT kind, state, SUM(n) FROM (
                SELECT kind, state, -1 AS n FROM old_rows
                UNION ALL SELECT kind, state, 1 FROM new_rows
            ) c GROUP BY kind, state HAVING SUM(n) <> 0;
        RETURN NULL;
    END $$;
    CREATE FUNCTION baton_job_counts_delete() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO job_count_deltas (kind, state, n)
            SELECT kind, state, -COUNT(*) FROM old_rows GROUP BY kind, state;
        RETURN NULL;
    END $$;
    CREATE TRIGGER job_counts_insert AFTER INSERT ON jobs REFERENCING NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION baton_job_counts_insert();
    CREATE TRIGGER job_counts_update AFTER UPDATE ON jobs
        REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION baton_job_counts_update();
    CREATE TRIGGER job_counts_delete AFTER DELETE ON jobs REFERENCING OLD TABLE AS old_rows
        FOR EACH STATEMENT EXECUTE FUNCTION baton_job_counts_delete();
    CREATE INDEX jobs_running_since ON jobs (updated_at) WHERE state = 'running';
    CREATE INDEX jobs_blocked_since ON jobs (updated_at) WHERE state = 'blocked';
    CREATE INDEX jobs_failed_at ON jobs (updated_at) WHERE state = 'failed';
    CREATE INDEX jobs_done_at ON jobs (updated_at) WHERE state = 'done';
    CREATE INDEX jobs_skipped_at ON jobs (updated_at) WHERE state = 'skipped';
    "#,
    // 5: sliding-window use (requests taken, tokens charged) and parked keys of the limiter.
    r#"
    CREATE TABLE limit_usage (
        id BIGSERIAL PRIMARY KEY,
        key TEXT NOT NULL,
        unit TEXT NOT NULL,
        at BIGINT NOT NULL,
        amount BIGINT NOT NULL
    );
    CREATE INDEX limit_usage_key ON limit_usage (key, unit, at);
    CREATE TABLE limit_parks (
        key TEXT PRIMARY KEY,
        until BIGINT NOT NULL,
        reason TEXT NOT NULL,
        strikes BIGINT NOT NULL
    );
    "#,
];

/// The schema version this build writes.
pub fn latest() -> i64 {
    MIGRATIONS.len() as i64
}

/// The schema version of the database, or `None` when it has no Baton schema yet.
pub fn current(conn: &mut Conn) -> Result<Option<i64>> {
    let exists: bool = get(
        &conn.one("SELECT to_regclass('baton_migrations') IS NOT NULL", &[])?,
        0,
    )?;
    if !exists {
        return Ok(None);
    }
    let version: Option<i64> = get(
        &conn.one("SELECT max(version)::bigint FROM baton_migrations", &[])?,
        0,
    )?;
    Ok(Some(version.unwrap_or(0)))
}

/// A database migrated by a newer Baton is refused.
pub fn refuse_newer(version: i64, server: &str) -> Result<()> {
    if version > latest() {
        bail!(
            "the database at {server} is at schema version {version}, newer than this baton ({}); \
             upgrade baton",
            latest()
        );
    }
    Ok(())
}

/// Brings the schema to the newest version (see the module header).
pub fn apply(conn: &mut Conn) -> Result<()> {
    if let Some(version) = current(conn)? {
        refuse_newer(version, conn.server())?;
        if version == latest() {
            return Ok(());
        }
    }
    let server = conn.server().to_string();
    conn.in_transaction(|conn| {
        conn.exec(
            "SELECT pg_advisory_xact_lock($1::int, 0)",
            &[&LOCK_MIGRATIONS],
        )?;
        conn.batch(
            "CREATE TABLE IF NOT EXISTS baton_migrations (
                 version BIGINT PRIMARY KEY,
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
             )",
        )?;
        let version = current(conn)?.unwrap_or(0);
        refuse_newer(version, conn.server())?;
        for (index, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let number = index as i64 + 1;
            conn.batch(sql)
                .with_context(|| format!("migration {number} failed"))?;
            conn.exec(
                "INSERT INTO baton_migrations (version) VALUES ($1)",
                &[&number],
            )?;
        }
        Ok(())
    })
    .with_context(|| format!("cannot migrate the database at {server}"))
}
