//! `queue stats` on PostgreSQL: counts per state, per resolver and per host, throughput over
//! the last minute (every host's), the age of the oldest ready work-queue job (a pipeline
//! run's jobs wait for their run's process and are counted per open run instead),
//! recoveries, limiter denials and the open runs. The document is the SQLite store's, so
//! the JSON form documented in docs/queue.md holds for both.

use crate::connect::{Conn, get};
use anyhow::Result;
use baton_core::model::JobState;
use baton_core::store::{HostStats, QueueStats};
use std::collections::BTreeMap;

/// How far back `jobs_per_second` looks, in milliseconds.
const WINDOW_MS: i64 = 60_000;
/// Most recent ledger rows scanned for the throughput figure.
const RECENT_EVENTS: i64 = 200_000;

/// The `queue stats` document at `now` (Unix milliseconds).
pub fn collect(conn: &mut Conn, now: i64) -> Result<QueueStats> {
    let mut states: BTreeMap<&'static str, i64> =
        JobState::ALL.iter().map(|s| (s.as_str(), 0)).collect();
    let mut resolvers: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    let mut total = 0;
    for row in conn.query(
        "SELECT COALESCE(plugin, 'chain'), state, count(*) FROM jobs GROUP BY 1, 2",
        &[],
    )? {
        let resolver: String = get(&row, 0)?;
        let state: String = get(&row, 1)?;
        let count: i64 = get(&row, 2)?;
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
    for row in conn.query(
        "SELECT host, count(*), COALESCE(sum(size), 0)::bigint FROM artifacts GROUP BY host",
        &[],
    )? {
        let host: String = get(&row, 0)?;
        hosts.insert(
            host,
            HostStats {
                downloads: get(&row, 1)?,
                bytes: get(&row, 2)?,
            },
        );
    }
    let finished: i64 = get(
        &conn.one(
            "SELECT count(*) FROM (SELECT at, event FROM events ORDER BY id DESC LIMIT $1) e
             WHERE at > $2 AND event IN ('done', 'skipped', 'failed')",
            &[&RECENT_EVENTS, &(now - WINDOW_MS)],
        )?,
        0,
    )?;
    let oldest: Option<i64> = get(
        &conn.one(
            "SELECT min(GREATEST(run_after, created_at)) FROM jobs
             WHERE state = 'queued' AND run_after <= $1 AND run_id IS NULL",
            &[&now],
        )?,
        0,
    )?;
    Ok(QueueStats {
        total,
        states,
        resolvers,
        hosts,
        jobs_per_second: finished as f64 / (WINDOW_MS as f64 / 1000.0),
        oldest_ready_ms: oldest.map(|t| (now - t).max(0)),
        recoveries: crate::queue::counter(conn, "recoveries")?,
        limiter_denials: crate::queue::counter(conn, "limiter_denials")?,
        runs: crate::runs::open_runs(conn)?,
        parked: crate::slots::parked_now(conn, now)?,
    })
}
