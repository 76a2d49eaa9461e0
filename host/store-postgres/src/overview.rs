//! The dashboards' reads (`StoreRead::overview`): counts from `job_counts` plus the deltas
//! the statement triggers appended (folded into `job_counts` once there are many), lists
//! through the partial indexes over the last change of running,
//! blocked, failed, done and skipped jobs and the `jobs_due` and `jobs_ready` ones, and the small
//! limiter tables, so a refresh costs the same whatever the queue holds.

use crate::connect::{Conn, get};
use crate::queue::job_from_row;
use anyhow::Result;
use baton_core::model::Job;
use baton_core::store::{Overview, StateCount, WaitingJob};
use std::collections::BTreeMap;

/// How far back `finished_last_minute` looks.
const MINUTE_MS: i64 = 60_000;
/// Delta rows past which a reader folds them into `job_counts`.
const FOLD_AFTER: i64 = 1000;

/// `SELECT <the job columns> FROM jobs <tail>`.
macro_rules! select_jobs {
    ($tail:literal) => {
        concat!(
            "SELECT id, key, kind, plugin, payload, priority, state, attempts, max_attempts,
             run_after, wait_reason, lease_owner, lease_expires, fence, recoveries, last_error,
             result, created_at, updated_at, error_code, run_id FROM jobs ",
            $tail
        )
    };
}

fn jobs(rows: Vec<postgres::Row>) -> Result<Vec<Job>> {
    rows.iter().map(job_from_row).collect()
}

/// Folds the delta rows into `job_counts` (each delta is taken by exactly one folder:
/// `DELETE … RETURNING` under row locks).
fn fold(conn: &mut Conn) -> Result<()> {
    conn.in_transaction(|conn| {
        conn.exec(
            "WITH d AS (DELETE FROM job_count_deltas RETURNING kind, state, n)
             INSERT INTO job_counts (kind, state, n)
             SELECT kind, state, SUM(n) FROM d GROUP BY kind, state
             ON CONFLICT (kind, state) DO UPDATE SET n = job_counts.n + excluded.n",
            &[],
        )?;
        Ok(())
    })
}

pub fn overview(conn: &mut Conn, now: i64, day: &str, rows: usize) -> Result<Overview> {
    let limit = rows as i64;
    let deltas: i64 = get(&conn.one("SELECT COUNT(*) FROM job_count_deltas", &[])?, 0)?;
    if deltas > FOLD_AFTER {
        fold(conn)?;
    }
    let counts = conn
        .query(
            "SELECT kind, state, SUM(n)::bigint FROM (
                 SELECT kind, state, n FROM job_counts
                 UNION ALL SELECT kind, state, n FROM job_count_deltas
             ) c GROUP BY kind, state HAVING SUM(n) <> 0 ORDER BY kind, state",
            &[],
        )?
        .iter()
        .map(|row| {
            Ok(StateCount {
                kind: get(row, 0)?,
                state: get(row, 1)?,
                jobs: get(row, 2)?,
            })
        })
        .collect::<Result<_>>()?;
    let since = now - MINUTE_MS;
    let finished_last_minute: i64 = get(
        &conn.one(
            "SELECT (SELECT COUNT(*) FROM jobs WHERE state = 'done' AND updated_at > $1)
                  + (SELECT COUNT(*) FROM jobs WHERE state = 'skipped' AND updated_at > $1)
                  + (SELECT COUNT(*) FROM jobs WHERE state = 'failed' AND updated_at > $1)",
            &[&since],
        )?,
        0,
    )?;
    let running = jobs(conn.query(
        select_jobs!("WHERE state = 'running' ORDER BY updated_at LIMIT $1"),
        &[&limit],
    )?)?;
    let failures = jobs(conn.query(
        select_jobs!("WHERE state = 'failed' ORDER BY updated_at DESC LIMIT $1"),
        &[&limit],
    )?)?;
    let mut waiting: Vec<WaitingJob> = jobs(conn.query(
        select_jobs!(
            "WHERE state = 'queued' AND run_after > $1 AND run_id IS NULL
             ORDER BY run_after LIMIT $2"
        ),
        &[&now, &limit],
    )?)?
    .into_iter()
    .map(|job| WaitingJob {
        job,
        deps: Vec::new(),
    })
    .collect();
    if waiting.len() < rows {
        let left = (rows - waiting.len()) as i64;
        let blocked = jobs(conn.query(
            select_jobs!("WHERE state = 'blocked' ORDER BY updated_at LIMIT $1"),
            &[&left],
        )?)?;
        // The unfinished dependencies of every listed blocked job, in one round trip.
        let ids: Vec<i64> = blocked.iter().map(|job| job.id).collect();
        let mut deps: BTreeMap<i64, Vec<String>> = BTreeMap::new();
        for row in conn.query(
            "SELECT job_id, key FROM (
                 SELECT jd.job_id, d.key,
                        ROW_NUMBER() OVER (PARTITION BY jd.job_id ORDER BY d.id) AS n
                 FROM job_deps jd JOIN jobs d ON d.id = jd.dep_id
                 WHERE jd.job_id = ANY($1) AND d.state NOT IN ('done', 'skipped')
             ) listed WHERE n <= 20 ORDER BY job_id, n",
            &[&ids],
        )? {
            deps.entry(get(&row, 0)?).or_default().push(get(&row, 1)?);
        }
        for job in blocked {
            let deps = deps.remove(&job.id).unwrap_or_default();
            waiting.push(WaitingJob { job, deps });
        }
    }
    if waiting.len() < rows {
        let left = (rows - waiting.len()) as i64;
        let ready = jobs(conn.query(
            select_jobs!(
                "WHERE state = 'queued' AND run_after <= $1 AND run_id IS NULL
                 ORDER BY priority DESC, run_after, id LIMIT $2"
            ),
            &[&now, &left],
        )?)?;
        waiting.extend(ready.into_iter().map(|job| WaitingJob {
            job,
            deps: Vec::new(),
        }));
    }
    let mut slots = BTreeMap::new();
    for row in conn.query(
        "SELECT key, COUNT(*) FROM limit_slots WHERE expires > $1 GROUP BY key",
        &[&now],
    )? {
        slots.insert(get::<String>(&row, 0)?, get::<i64>(&row, 1)?);
    }
    let mut quotas = BTreeMap::new();
    for row in conn.query("SELECT key, used FROM quotas WHERE day = $1", &[&day])? {
        let used: i64 = get(&row, 1)?;
        quotas.insert(get::<String>(&row, 0)?, used.max(0) as u64);
    }
    Ok(Overview {
        counts,
        finished_last_minute,
        running,
        waiting,
        failures,
        slots,
        quotas,
        parked: crate::slots::parked_now(conn, now)?,
    })
}

pub fn last_seq(conn: &mut Conn) -> Result<i64> {
    get(
        &conn.one("SELECT COALESCE(MAX(id), 0)::bigint FROM events", &[])?,
        0,
    )
}

pub fn events_since(
    conn: &mut Conn,
    after: i64,
    limit: usize,
) -> Result<Vec<(i64, serde_json::Value)>> {
    let limit = limit as i64;
    conn.query(
        "SELECT id, data FROM events WHERE id > $1 ORDER BY id LIMIT $2",
        &[&after, &limit],
    )?
    .iter()
    .map(|row| {
        let data: String = get(row, 1)?;
        Ok((
            get(row, 0)?,
            serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
        ))
    })
    .collect()
}
