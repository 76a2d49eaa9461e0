//! `queue stats`: counts per state, per resolver and per host, throughput over the last
//! minute, the age of the oldest ready work-queue job (a pipeline run's jobs wait for their
//! run's process, not for any worker: they are counted per open run instead), recoveries,
//! limiter denials and the open runs. The JSON form is documented in docs/queue.md and
//! stable.

use anyhow::Result;
use baton_core::model::JobState;
use baton_core::store::{HostStats, QueueStats};
use rusqlite::{Connection, params};
use std::collections::BTreeMap;

/// How far back `jobs_per_second` looks.
const WINDOW_MS: i64 = 60_000;
/// Most recent ledger rows scanned for the throughput figure.
const RECENT_EVENTS: i64 = 200_000;

pub fn collect(conn: &Connection, now: i64) -> Result<QueueStats> {
    let mut states: BTreeMap<&'static str, i64> =
        JobState::ALL.iter().map(|s| (s.as_str(), 0)).collect();
    let mut resolvers: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    let mut stmt =
        conn.prepare("SELECT COALESCE(plugin, 'chain'), state, COUNT(*) FROM jobs GROUP BY 1, 2")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })?;
    let mut total = 0;
    for row in rows {
        let (resolver, state, count) = row?;
        total += count;
        if let Some(state) = JobState::parse(&state) {
            *states.entry(state.as_str()).or_default() += count;
        }
        *resolvers
            .entry(resolver)
            .or_default()
            .entry(state)
            .or_default() += count;
    }
    let mut hosts = BTreeMap::new();
    let mut stmt = conn.prepare("SELECT host, COUNT(*), SUM(size) FROM artifacts GROUP BY host")?;
    for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?)))? {
        let (host, downloads, bytes) = row?;
        hosts.insert(host, HostStats { downloads, bytes });
    }
    let finished: i64 = conn.query_row(
        "SELECT COUNT(*) FROM (SELECT at, event FROM events ORDER BY id DESC LIMIT ?1)
         WHERE at > ?2 AND event IN ('done', 'skipped', 'failed')",
        params![RECENT_EVENTS, now - WINDOW_MS],
        |r| r.get(0),
    )?;
    let oldest: Option<i64> = conn.query_row(
        "SELECT MIN(MAX(run_after, created_at)) FROM jobs
         WHERE state = 'queued' AND run_after <= ?1 AND run_id IS NULL",
        params![now],
        |r| r.get(0),
    )?;
    Ok(QueueStats {
        total,
        states,
        resolvers,
        hosts,
        jobs_per_second: finished as f64 / (WINDOW_MS as f64 / 1000.0),
        oldest_ready_ms: oldest.map(|t| (now - t).max(0)),
        recoveries: super::queue::counter(conn, "recoveries")?,
        limiter_denials: super::queue::counter(conn, "limiter_denials")?,
        runs: super::runs::open_runs(conn)?,
        parked: super::slots::parked_now(conn, now)?,
    })
}
