//! Removing old history on PostgreSQL (`baton cleanup`): finished runs and ended jobs past
//! the retention, with their dependency, ledger and manifest rows, never what unfinished
//! work or the stage cache needs (the rules of `QueueTx::purge`, as on SQLite); and reading
//! jobs' ledger rows after a `seq` (`job attach`).

use crate::connect::{Conn, get};
use crate::tx::Tx;
use anyhow::Result;
use baton_core::store::{Purge, Purged};
use serde_json::Value;

/// Removes (or with `dry_run` counts) what [`Purge`] allows; see `QueueTx::purge`.
pub fn purge(tx: &mut Tx<'_>, purge: &Purge) -> Result<Purged> {
    let runs: Vec<String> = tx
        .conn
        .query(
            "SELECT id FROM runs r
             WHERE r.state <> 'running' AND r.finished_at IS NOT NULL AND r.finished_at < $1
               AND NOT EXISTS (SELECT 1 FROM stage_cache c WHERE c.run_id = r.id)
               AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.run_id = r.id
                               AND j.state IN ('queued', 'running', 'blocked'))
             ORDER BY id
             FOR UPDATE",
            &[&purge.before],
        )?
        .iter()
        .map(|row| get(row, 0))
        .collect::<Result<_>>()?;
    let rows = tx.conn.query(
        "SELECT id, key FROM jobs j
         WHERE ((j.run_id IS NULL AND j.updated_at < $1
                 AND j.state IN ('done', 'skipped', 'failed', 'cancelled')
                 AND NOT EXISTS (SELECT 1 FROM job_deps d JOIN jobs w ON w.id = d.job_id
                                 WHERE d.dep_id = j.id
                                   AND w.state IN ('queued', 'running', 'blocked')))
                OR j.run_id = ANY($2))
         ORDER BY id
         FOR UPDATE",
        &[&purge.before, &runs],
    )?;
    let mut ids = Vec::with_capacity(rows.len());
    let mut keys = Vec::with_capacity(rows.len());
    for row in &rows {
        ids.push(get::<i64>(row, 0)?);
        keys.push(get::<String>(row, 1)?);
    }
    // The highest event id stays, as on SQLite (an identity column would not reuse it, but
    // the ledger's catch-up reads the top row).
    let events = tx.conn.one(
        "SELECT COUNT(*) FROM events
         WHERE job_id = ANY($1) AND id < (SELECT COALESCE(MAX(id), 0) FROM events)",
        &[&ids],
    )?;
    let manifest_digests: Vec<String> = tx
        .conn
        .query(
            "SELECT sha256 FROM artifacts WHERE key = ANY($1) ORDER BY key",
            &[&keys],
        )?
        .iter()
        .map(|row| get(row, 0))
        .collect::<Result<_>>()?;
    let purged = Purged {
        jobs: ids.len() as u64,
        events: u64::try_from(get::<i64>(&events, 0)?).unwrap_or(0),
        manifest_rows: manifest_digests.len() as u64,
        manifest_digests,
        runs,
    };
    if purge.dry_run {
        return Ok(purged);
    }
    tx.conn.exec(
        "DELETE FROM job_deps WHERE job_id = ANY($1) OR dep_id = ANY($1)",
        &[&ids],
    )?;
    tx.conn.exec(
        "DELETE FROM events
         WHERE job_id = ANY($1) AND id < (SELECT COALESCE(MAX(id), 0) FROM events)",
        &[&ids],
    )?;
    tx.conn
        .exec("DELETE FROM artifacts WHERE key = ANY($1)", &[&keys])?;
    tx.conn
        .exec("DELETE FROM jobs WHERE id = ANY($1)", &[&ids])?;
    tx.conn
        .exec("DELETE FROM runs WHERE id = ANY($1)", &[&purged.runs])?;
    Ok(purged)
}

/// The ledger rows of `job_ids` with an id above `after`, lowest first, at most `limit`,
/// each with its `seq`.
pub fn events_after(
    conn: &mut Conn,
    job_ids: &[i64],
    after: i64,
    limit: usize,
) -> Result<Vec<Value>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let ids = job_ids.to_vec();
    conn.query(
        "SELECT id, data FROM events WHERE job_id = ANY($1) AND id > $2 ORDER BY id LIMIT $3",
        &[&ids, &after, &limit],
    )?
    .iter()
    .map(|row| {
        let seq: i64 = get(row, 0)?;
        let text: String = get(row, 1)?;
        let mut value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(match &mut value {
            Value::Object(map) => {
                map.insert("seq".into(), Value::from(seq));
                value
            }
            _ => serde_json::json!({"seq": seq, "event": "unreadable"}),
        })
    })
    .collect()
}
