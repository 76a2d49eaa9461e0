//! The dashboards' reads (`StoreRead::overview`): counts from the `job_counts` summary that
//! triggers keep, lists through the partial indexes over the last change of running, blocked,
//! failed, done and skipped jobs and the `jobs_due` and `jobs_ready` ones, and
//! the small limiter tables, so a refresh costs the same whatever the queue holds.

use super::queue::{JOB_COLUMNS, job_from_row};
use anyhow::Result;
use baton_core::model::Job;
use baton_core::store::{Overview, StateCount, WaitingJob};
use rusqlite::{Connection, params};
use std::collections::BTreeMap;

/// How far back `finished_last_minute` looks.
const MINUTE_MS: i64 = 60_000;

/// Jobs of `sql` (selecting [`JOB_COLUMNS`]) with `params`.
fn jobs(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<Vec<Job>> {
    let mut stmt = conn.prepare_cached(&sql.replace("{COLUMNS}", JOB_COLUMNS))?;
    let rows = stmt.query_map(params, job_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn overview(conn: &Connection, now: i64, day: &str, rows: usize) -> Result<Overview> {
    let limit = rows as i64;
    let mut stmt = conn.prepare_cached(
        "SELECT kind, state, n FROM job_counts WHERE n <> 0 ORDER BY kind, state",
    )?;
    let counts = stmt
        .query_map([], |r| {
            Ok(StateCount {
                kind: r.get(0)?,
                state: r.get(1)?,
                jobs: r.get(2)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let finished_last_minute: i64 = conn.query_row(
        "SELECT (SELECT COUNT(*) FROM jobs WHERE state = 'done' AND updated_at > ?1)
              + (SELECT COUNT(*) FROM jobs WHERE state = 'skipped' AND updated_at > ?1)
              + (SELECT COUNT(*) FROM jobs WHERE state = 'failed' AND updated_at > ?1)",
        params![now - MINUTE_MS],
        |r| r.get(0),
    )?;
    let running = jobs(
        conn,
        "SELECT {COLUMNS} FROM jobs WHERE state = 'running' ORDER BY updated_at LIMIT ?1",
        params![limit],
    )?;
    let failures = jobs(
        conn,
        "SELECT {COLUMNS} FROM jobs WHERE state = 'failed' ORDER BY updated_at DESC LIMIT ?1",
        params![limit],
    )?;
    let mut waiting: Vec<WaitingJob> = jobs(
        conn,
        "SELECT {COLUMNS} FROM jobs WHERE state = 'queued' AND run_after > ?1
         ORDER BY run_after LIMIT ?2",
        params![now, limit],
    )?
    .into_iter()
    .map(|job| WaitingJob {
        job,
        deps: Vec::new(),
    })
    .collect();
    if waiting.len() < rows {
        let blocked = jobs(
            conn,
            "SELECT {COLUMNS} FROM jobs WHERE state = 'blocked' ORDER BY updated_at LIMIT ?1",
            params![(rows - waiting.len()) as i64],
        )?;
        let mut deps = conn.prepare_cached(
            "SELECT d.key FROM job_deps jd JOIN jobs d ON d.id = jd.dep_id
             WHERE jd.job_id = ?1 AND d.state NOT IN ('done', 'skipped') ORDER BY d.id LIMIT 20",
        )?;
        for job in blocked {
            let keys = deps
                .query_map(params![job.id], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            waiting.push(WaitingJob { job, deps: keys });
        }
    }
    if waiting.len() < rows {
        let ready = jobs(
            conn,
            "SELECT {COLUMNS} FROM jobs WHERE state = 'queued' AND run_after <= ?1
             ORDER BY priority DESC, run_after, id LIMIT ?2",
            params![now, (rows - waiting.len()) as i64],
        )?;
        waiting.extend(ready.into_iter().map(|job| WaitingJob {
            job,
            deps: Vec::new(),
        }));
    }
    let mut slots = BTreeMap::new();
    let mut stmt = conn
        .prepare_cached("SELECT key, COUNT(*) FROM limit_slots WHERE expires > ?1 GROUP BY key")?;
    for row in stmt.query_map(params![now], |r| Ok((r.get::<_, String>(0)?, r.get(1)?)))? {
        let (key, held) = row?;
        slots.insert(key, held);
    }
    let mut quotas = BTreeMap::new();
    let mut stmt = conn.prepare_cached("SELECT key, used FROM quotas WHERE day = ?1")?;
    for row in stmt.query_map(params![day], |r| Ok((r.get::<_, String>(0)?, r.get(1)?)))? {
        let (key, used) = row?;
        quotas.insert(key, used);
    }
    Ok(Overview {
        counts,
        finished_last_minute,
        running,
        waiting,
        failures,
        slots,
        quotas,
        parked: super::slots::parked_now(conn, now)?,
    })
}

pub fn last_seq(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("SELECT COALESCE(MAX(id), 0) FROM events", [], |r| r.get(0))?)
}

pub fn events_since(
    conn: &Connection,
    after: i64,
    limit: usize,
) -> Result<Vec<(i64, serde_json::Value)>> {
    let mut stmt =
        conn.prepare_cached("SELECT id, data FROM events WHERE id > ?1 ORDER BY id LIMIT ?2")?;
    let rows = stmt.query_map(params![after, limit as i64], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
    })?;
    rows.map(|row| {
        let (seq, data) = row?;
        Ok((
            seq,
            serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
        ))
    })
    .collect()
}
