//! Removing old history on SQLite (`baton cleanup`): finished runs and ended jobs past the
//! retention, with their dependency, ledger and manifest rows, never what unfinished work or
//! the stage cache needs; and reading a job's ledger rows after a `seq` (`job attach`).

use anyhow::Result;
use baton_core::store::{Purge, Purged};
use rusqlite::{Connection, Transaction, params};
use serde_json::Value;

/// Runs that may go: finished before `before`, not running, not the run of a stage's last
/// success, and with no job still queued, running or blocked.
const RUNS: &str = "SELECT id FROM runs r
     WHERE r.state != 'running' AND r.finished_at IS NOT NULL AND r.finished_at < ?1
       AND NOT EXISTS (SELECT 1 FROM stage_cache c WHERE c.run_id = r.id)
       AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.run_id = r.id
                       AND j.state IN ('queued', 'running', 'blocked'))
     ORDER BY id";

/// Jobs of no run that ended before `before` and that no unfinished job depends on.
const LONE_JOBS: &str = "SELECT id, key FROM jobs j
     WHERE j.run_id IS NULL AND j.updated_at < ?1
       AND j.state IN ('done', 'skipped', 'failed', 'cancelled')
       AND NOT EXISTS (SELECT 1 FROM job_deps d JOIN jobs w ON w.id = d.job_id
                       WHERE d.dep_id = j.id AND w.state IN ('queued', 'running', 'blocked'))
     ORDER BY id";

/// Removes (or with `dry_run` counts) what [`Purge`] allows; see `QueueTx::purge`.
pub fn purge(tx: &Transaction<'_>, purge: &Purge) -> Result<Purged> {
    let runs: Vec<String> = tx
        .prepare(RUNS)?
        .query_map(params![purge.before], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut jobs: Vec<(i64, String)> = tx
        .prepare(LONE_JOBS)?
        .query_map(params![purge.before], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    {
        let mut of_run = tx.prepare("SELECT id, key FROM jobs WHERE run_id = ?1 ORDER BY id")?;
        for run in &runs {
            let rows = of_run.query_map(params![run], |r| Ok((r.get(0)?, r.get(1)?)))?;
            for row in rows {
                jobs.push(row?);
            }
        }
    }
    // The highest event id stays: SQLite would issue it again once it is gone.
    let top: i64 = tx.query_row("SELECT COALESCE(MAX(id), 0) FROM events", [], |r| r.get(0))?;
    let mut purged = Purged {
        runs,
        ..Purged::default()
    };
    let mut count_events =
        tx.prepare("SELECT COUNT(*) FROM events WHERE job_id = ?1 AND id < ?2")?;
    let mut digests = tx.prepare("SELECT sha256 FROM artifacts WHERE key = ?1")?;
    for (id, key) in &jobs {
        purged.events += count_events.query_row(params![id, top], |r| r.get::<_, u64>(0))?;
        for digest in digests.query_map(params![key], |r| r.get::<_, String>(0))? {
            purged.manifest_digests.push(digest?);
        }
    }
    purged.manifest_rows = purged.manifest_digests.len() as u64;
    purged.jobs = jobs.len() as u64;
    if purge.dry_run {
        return Ok(purged);
    }
    let mut deps = tx.prepare("DELETE FROM job_deps WHERE job_id = ?1 OR dep_id = ?1")?;
    let mut events = tx.prepare("DELETE FROM events WHERE job_id = ?1 AND id < ?2")?;
    let mut manifest = tx.prepare("DELETE FROM artifacts WHERE key = ?1")?;
    let mut job = tx.prepare("DELETE FROM jobs WHERE id = ?1")?;
    for (id, key) in &jobs {
        deps.execute(params![id])?;
        events.execute(params![id, top])?;
        manifest.execute(params![key])?;
        job.execute(params![id])?;
    }
    let mut run = tx.prepare("DELETE FROM runs WHERE id = ?1")?;
    for id in &purged.runs {
        run.execute(params![id])?;
    }
    Ok(purged)
}

/// The ledger rows of `job_ids` with an id above `after`, lowest first, at most `limit`,
/// each with its `seq`.
pub fn events_after(
    conn: &Connection,
    job_ids: &[i64],
    after: i64,
    limit: usize,
) -> Result<Vec<Value>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut stmt = conn.prepare_cached(
        "SELECT id, data FROM events WHERE job_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
    )?;
    let mut rows: Vec<(i64, String)> = Vec::new();
    for job in job_ids {
        for row in stmt.query_map(params![job, after, limit], |r| Ok((r.get(0)?, r.get(1)?)))? {
            rows.push(row?);
        }
    }
    rows.sort_by_key(|(id, _)| *id);
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok(rows
        .into_iter()
        .map(|(id, data)| with_seq(id, &data))
        .collect())
}

/// The stored event `data` as its ledger line's object: `seq` added.
fn with_seq(seq: i64, data: &str) -> Value {
    let mut value: Value = serde_json::from_str(data).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.insert("seq".into(), Value::from(seq));
        value
    } else {
        serde_json::json!({"seq": seq, "event": "unreadable"})
    }
}
