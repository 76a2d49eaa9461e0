//! The job queue on SQLite: enqueue, claim with a fencing token, finish, heartbeat, recover
//! expired leases, release, retry and cancel; every change writes its ledger events in the
//! same transaction. Callers batch: one transaction serves many jobs (group commit).

use crate::counts;
use anyhow::{Context, Result};
use baton_core::event::Event;
use baton_core::ledger::LedgerLine;
use baton_core::model::{Attempt, Claimed, Failure, Job, JobKind, JobState, NewJob, Outcome};
use baton_core::store::{Claim, Offer, Pending, Recovered, Requeue, RunRecord};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde_json::{Value, json};

/// Applies `events` to the `events` table inside `tx`; returns their ledger lines, each with
/// its row id as `seq`.
pub fn insert_events(tx: &Transaction<'_>, events: &[Event]) -> Result<Vec<LedgerLine>> {
    let mut stmt =
        tx.prepare_cached("INSERT INTO events (at, job_id, event, data) VALUES (?1, ?2, ?3, ?4)")?;
    let mut lines = Vec::with_capacity(events.len());
    for event in events {
        let object = event.to_json().to_string();
        stmt.execute(params![event.at, event.job_id, event.event, object])?;
        lines.push(LedgerLine::new(event.at, tx.last_insert_rowid(), &object));
    }
    Ok(lines)
}

/// Claims up to `spec.limit` ready jobs that `accept` admits, leasing them to the owner with a
/// new fencing token each.
pub fn claim(
    tx: &Transaction<'_>,
    spec: &Claim,
    now: i64,
    accept: &mut dyn FnMut(&Offer<'_>) -> bool,
    events: &mut Vec<Event>,
) -> Result<Vec<Claimed>> {
    let (run, owner, limit, lease_until) = (
        spec.run.as_deref(),
        spec.owner.as_str(),
        spec.limit,
        spec.lease_until,
    );
    // Rows come in the order of the `jobs_ready` index, so reading stops where the claim is
    // full. Neither statement binds its LIMIT or a flag: SQLite plans around a bound LIMIT and
    // prepares the statement again whenever it is bound anew (a re-parse per claim).
    let any = spec.any_run && run.is_none();
    let mut select = if any {
        tx.prepare_cached(
            "SELECT id, key, plugin, payload, attempts, max_attempts, fence, created_at, kind,
                    run_id, run_after
             FROM jobs WHERE state = 'queued' AND run_after <= ?1
             ORDER BY priority DESC, run_after, id",
        )?
    } else {
        tx.prepare_cached(
            "SELECT id, key, plugin, payload, attempts, max_attempts, fence, created_at, kind,
                    run_id, run_after
             FROM jobs WHERE state = 'queued' AND run_after <= ?1 AND run_id IS ?2
             ORDER BY priority DESC, run_after, id",
        )?
    };
    // Look a little past `limit`: the filter may turn some jobs away.
    let scan = limit * 2;
    let bound: &[&dyn rusqlite::ToSql] = if any { &[&now] } else { &[&now, &run] };
    let rows = select.query_map(bound, |row| {
        let kind: String = row.get(8)?;
        let run: Option<String> = row.get(9)?;
        let job = Claimed {
            id: row.get(0)?,
            key: row.get(1)?,
            plugin: row.get(2)?,
            payload: row.get(3)?,
            attempt: row.get::<_, u32>(4)? + 1,
            max_attempts: row.get(5)?,
            fence: row.get::<_, i64>(6)? + 1,
            enqueued_at: row.get(7)?,
            kind: parse_kind(&kind)?,
        };
        // How long it waited since it was due: its ledger event carries it (queue wait
        // metrics).
        let waited = (now - row.get::<_, i64>(10)?.max(job.enqueued_at)).max(0);
        Ok((job, run, waited))
    })?;
    let mut claimed = Vec::with_capacity(limit);
    let mut waits = Vec::with_capacity(limit);
    for row in rows.take(scan) {
        let (job, run, waited) = row?;
        if claimed.len() == limit {
            break;
        }
        if accept(&Offer {
            kind: job.kind,
            plugin: job.plugin.as_deref(),
            run: run.as_deref(),
        }) {
            claimed.push(job);
            waits.push(waited);
        }
    }
    drop(select);
    let mut update = tx.prepare_cached(
        "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_owner = ?2,
                lease_expires = ?3, fence = ?4, wait_reason = NULL, updated_at = ?5
         WHERE id = ?1",
    )?;
    counts::add_moves(
        tx,
        claimed
            .iter()
            .map(|job| (job.kind.as_str(), JobState::Queued, JobState::Running)),
    )?;
    for (job, waited_ms) in claimed.iter().zip(waits) {
        update.execute(params![job.id, owner, lease_until, job.fence, now])?;
        events.push(Event::job(
            now,
            job.id,
            &job.key,
            "running",
            json!({"attempt": job.attempt, "owner": owner, "waited_ms": waited_ms}),
        ));
    }
    Ok(claimed)
}

/// Records how attempts ended. An outcome whose fence no longer matches (the lease was
/// recovered and maybe re-claimed) changes nothing; returns which outcomes were applied.
pub fn finish(
    tx: &Transaction<'_>,
    outcomes: &[(Claimed, Outcome)],
    now: i64,
    events: &mut Vec<Event>,
) -> Result<Vec<bool>> {
    let mut applied = Vec::with_capacity(outcomes.len());
    let mut moves = Vec::with_capacity(outcomes.len());
    let mut update = tx.prepare_cached(
        "UPDATE jobs SET state = ?3, run_after = ?4, wait_reason = ?5,
                last_error = CASE WHEN ?3 = 'done' THEN NULL ELSE COALESCE(?6, last_error) END,
                error_code = CASE WHEN ?3 = 'done' THEN NULL ELSE ?7 END,
                result = COALESCE(?8, result), attempts = attempts - ?9, lease_owner = NULL,
                lease_expires = NULL, updated_at = ?10
         WHERE id = ?1 AND fence = ?2 AND state = 'running'",
    )?;
    for (job, outcome) in outcomes {
        let (state, run_after, wait_reason, failure, result, snooze) = match outcome {
            Outcome::Done { result } => (
                JobState::Done,
                0,
                None,
                None,
                Some(result.to_string()),
                false,
            ),
            Outcome::Skipped { reason } => (
                JobState::Skipped,
                0,
                None,
                Some(Failure::new(reason.clone())),
                None,
                false,
            ),
            Outcome::Failed { failure } => (
                JobState::Failed,
                0,
                None,
                Some(failure.clone()),
                None,
                false,
            ),
            Outcome::Retry {
                failure,
                at,
                snooze,
                wait_reason,
            } => (
                JobState::Queued,
                *at,
                Some(wait_reason.clone()),
                Some(failure.clone()),
                None,
                *snooze,
            ),
        };
        let error = failure.as_ref().map(|f| f.message.clone());
        let code = failure.as_ref().and_then(|f| f.code.clone());
        let changed = update.execute(params![
            job.id,
            job.fence,
            state.as_str(),
            run_after,
            wait_reason,
            error,
            code,
            result,
            i64::from(snooze),
            now
        ])?;
        let ok = changed == 1;
        applied.push(ok);
        if ok {
            moves.push((job.kind.as_str(), JobState::Running, state));
        }
        if !ok {
            events.push(Event::job(
                now,
                job.id,
                &job.key,
                "fenced",
                json!({
                    "attempt": job.attempt, "outcome": state.as_str(),
                    "note": "the lease was lost; this outcome was discarded"
                }),
            ));
            continue;
        }
        let mut data = json!({"attempt": job.attempt});
        if let Some(error) = &error {
            data["reason"] = json!(error);
        }
        if let Some(code) = &code {
            data["code"] = json!(code);
        }
        if let Some(wait) = &wait_reason {
            data["wait"] = json!(wait);
        }
        match state {
            JobState::Done | JobState::Skipped => unblock_dependents(tx, job.id, now)?,
            JobState::Failed => skip_dependents(tx, job.id, &job.key, now, events)?,
            _ => {}
        }
        let event = match (state, snooze) {
            (JobState::Queued, true) => "snoozed",
            (JobState::Queued, false) => "retry",
            (JobState::Done, _) => "done",
            (JobState::Skipped, _) => "skipped",
            _ => "failed",
        };
        events.push(Event::job(now, job.id, &job.key, event, data));
    }
    counts::add_moves(tx, moves)?;
    Ok(applied)
}

/// Extends the leases of `jobs` held under their fences; returns how many were extended.
pub fn heartbeat(tx: &Transaction<'_>, jobs: &[(i64, i64)], lease_until: i64) -> Result<usize> {
    let mut stmt = tx.prepare_cached(
        "UPDATE jobs SET lease_expires = ?3 WHERE id = ?1 AND fence = ?2 AND state = 'running'",
    )?;
    let mut extended = 0;
    for (id, fence) in jobs {
        extended += stmt.execute(params![id, fence, lease_until])?;
    }
    Ok(extended)
}

/// Returns running jobs whose lease expired (or whose owner is in `dead_owners`) to the
/// queue; a job recovered more than `max_recoveries` times fails as a poison pill.
pub fn recover(
    tx: &Transaction<'_>,
    now: i64,
    dead_owners: &[String],
    started: &dyn Fn(&str, i64, i64) -> bool,
    max_recoveries: u32,
    events: &mut Vec<Event>,
) -> Result<Recovered> {
    let mut select = tx.prepare_cached(
        "SELECT id, key, recoveries, lease_owner, fence, kind FROM jobs
         WHERE state = 'running' AND lease_expires < ?1",
    )?;
    type Stale = (i64, String, u32, String, i64, String);
    let row = |r: &rusqlite::Row<'_>| Stale::try_from(r);
    let mut stale: Vec<Stale> = select
        .query_map(params![now], row)?
        .collect::<Result<_, _>>()?;
    drop(select);
    if !dead_owners.is_empty() {
        let mut by_owner = tx.prepare_cached(
            "SELECT id, key, recoveries, lease_owner, fence, kind FROM jobs
             WHERE state = 'running' AND lease_owner = ?1 AND lease_expires >= ?2",
        )?;
        for owner in dead_owners {
            let rows = by_owner.query_map(params![owner, now], row)?;
            for row in rows {
                stale.push(row?);
            }
        }
    }
    let (mut recovered, mut poisoned) = (0, 0);
    let mut moves = Vec::with_capacity(stale.len());
    for (id, key, recoveries, owner, fence, kind) in stale {
        let was_started = started(&owner, id, fence);
        let to = if was_started && recoveries + 1 > max_recoveries {
            JobState::Failed
        } else {
            JobState::Queued
        };
        moves.push((kind, JobState::Running, to));
        if !was_started {
            tx.execute(
                "UPDATE jobs SET state = 'queued', attempts = MAX(attempts - 1, 0), run_after = 0,
                        wait_reason = ?2, lease_owner = NULL, lease_expires = NULL,
                        updated_at = ?3 WHERE id = ?1",
                params![
                    id,
                    format!("claimed by lost worker {owner}, never started"),
                    now
                ],
            )?;
            events.push(Event::job(
                now,
                id,
                &key,
                "recovered",
                json!({"owner": owner, "started": false}),
            ));
            recovered += 1;
            continue;
        }
        if recoveries + 1 > max_recoveries {
            let reason = format!(
                "poison pill: its worker was lost {} times (last owner {owner})",
                recoveries + 1
            );
            tx.execute(
                "UPDATE jobs SET state = 'failed', recoveries = recoveries + 1, last_error = ?2,
                        lease_owner = NULL, lease_expires = NULL, updated_at = ?3 WHERE id = ?1",
                params![id, reason, now],
            )?;
            events.push(Event::job(
                now,
                id,
                &key,
                "failed",
                json!({"reason": reason}),
            ));
            poisoned += 1;
        } else {
            tx.execute(
                "UPDATE jobs SET state = 'queued', recoveries = recoveries + 1, run_after = 0,
                        wait_reason = ?2, lease_owner = NULL, lease_expires = NULL,
                        updated_at = ?3 WHERE id = ?1",
                params![id, format!("recovered from lost worker {owner}"), now],
            )?;
            events.push(Event::job(
                now,
                id,
                &key,
                "recovered",
                json!({"owner": owner}),
            ));
            recovered += 1;
        }
    }
    counts::add_moves(tx, moves)?;
    if recovered + poisoned > 0 {
        bump_counter(tx, "recoveries", (recovered + poisoned) as i64)?;
    }
    Ok(Recovered {
        recovered,
        poisoned,
    })
}

/// Puts running jobs back in the queue by hand; see `QueueTx::requeue`.
pub fn requeue(
    tx: &Transaction<'_>,
    jobs: &[Requeue],
    now: i64,
    events: &mut Vec<Event>,
) -> Result<Vec<bool>> {
    let mut select = tx.prepare_cached(
        "SELECT key, lease_owner, kind FROM jobs
         WHERE id = ?1 AND fence = ?2 AND state = 'running'",
    )?;
    let mut update = tx.prepare_cached(
        "UPDATE jobs SET state = 'queued', attempts = MAX(attempts - 1, 0),
                recoveries = recoveries + 1, run_after = 0, wait_reason = ?2,
                lease_owner = NULL, lease_expires = NULL, updated_at = ?3
         WHERE id = ?1",
    )?;
    let mut requeued = Vec::with_capacity(jobs.len());
    let mut moves = Vec::with_capacity(jobs.len());
    for job in jobs {
        let row: Option<(String, Option<String>, String)> = select
            .query_row(params![job.id, job.fence], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?;
        let Some((key, owner, kind)) = row else {
            requeued.push(false);
            continue;
        };
        update.execute(params![job.id, job.reason, now])?;
        moves.push((kind, JobState::Running, JobState::Queued));
        events.push(Event::job(
            now,
            job.id,
            &key,
            "recovered",
            json!({"owner": owner, "fence": job.fence, "reason": job.reason, "by_hand": true}),
        ));
        requeued.push(true);
    }
    drop((select, update));
    counts::add_moves(tx, moves)?;
    let count = requeued.iter().filter(|r| **r).count() as i64;
    if count > 0 {
        bump_counter(tx, "recoveries", count)?;
    }
    Ok(requeued)
}

/// Gives the leases of `jobs` back without using up their attempt (graceful shutdown).
pub fn release(
    tx: &Transaction<'_>,
    jobs: &[Claimed],
    now: i64,
    events: &mut Vec<Event>,
) -> Result<usize> {
    let mut released = 0;
    for job in jobs {
        let changed = tx.execute(
            "UPDATE jobs SET state = 'queued', attempts = attempts - 1, run_after = 0,
                    wait_reason = 'released at shutdown', lease_owner = NULL,
                    lease_expires = NULL, updated_at = ?3
             WHERE id = ?1 AND fence = ?2 AND state = 'running'",
            params![job.id, job.fence, now],
        )?;
        if changed == 1 {
            counts::add_moves(
                tx,
                [(job.kind.as_str(), JobState::Running, JobState::Queued)],
            )?;
            events.push(Event::job(
                now,
                job.id,
                &job.key,
                "released",
                json!({"attempt": job.attempt}),
            ));
            released += 1;
        }
    }
    Ok(released)
}

/// Adds `by` to counter `name`.
pub fn bump_counter(tx: &Transaction<'_>, name: &str, by: i64) -> Result<()> {
    tx.execute(
        "INSERT INTO counters (name, value) VALUES (?1, ?2)
         ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
        params![name, by],
    )?;
    Ok(())
}

/// The value of counter `name` (0 if never bumped).
pub fn counter(conn: &Connection, name: &str) -> Result<i64> {
    Ok(conn
        .query_row(
            "SELECT value FROM counters WHERE name = ?1",
            params![name],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(0))
}

pub const JOB_COLUMNS: &str =
    "id, key, kind, plugin, payload, priority, state, attempts, max_attempts,
    run_after, wait_reason, lease_owner, lease_expires, fence, recoveries, last_error, result,
    created_at, updated_at, error_code, run_id";

pub fn job_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Job> {
    let state: String = row.get(6)?;
    let payload: String = row.get(4)?;
    let result: Option<String> = row.get(16)?;
    let kind: String = row.get(2)?;
    Ok(Job {
        id: row.get(0)?,
        key: row.get(1)?,
        kind: parse_kind(&kind)?,
        plugin: row.get(3)?,
        payload: serde_json::from_str(&payload).unwrap_or(Value::String(payload)),
        priority: row.get(5)?,
        state: JobState::parse(&state).unwrap_or(JobState::Failed),
        attempts: row.get(7)?,
        max_attempts: row.get(8)?,
        run_after: row.get(9)?,
        wait_reason: row.get(10)?,
        lease_owner: row.get(11)?,
        lease_expires: row.get(12)?,
        fence: row.get(13)?,
        recoveries: row.get(14)?,
        last_error: row.get(15)?,
        result: result.map(|r| serde_json::from_str(&r).unwrap_or(Value::String(r))),
        created_at: row.get(17)?,
        updated_at: row.get(18)?,
        error_code: row.get(19)?,
        run_id: row.get(20)?,
    })
}

/// A stored kind name; an unknown one is a conversion error naming it.
fn parse_kind(text: &str) -> rusqlite::Result<JobKind> {
    JobKind::parse(text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            2,
            rusqlite::types::Type::Text,
            format!("unknown job kind `{text}` in the store").into(),
        )
    })
}

/// The job with key `key`.
pub fn job(conn: &Connection, key: &str) -> Result<Option<Job>> {
    Ok(conn
        .query_row(
            &format!("SELECT {JOB_COLUMNS} FROM jobs WHERE key = ?1"),
            params![key],
            job_from_row,
        )
        .optional()?)
}

/// Jobs of one state (or all), most recently changed first.
pub fn list(conn: &Connection, state: Option<JobState>, limit: usize) -> Result<Vec<Job>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {JOB_COLUMNS} FROM jobs WHERE (?1 IS NULL OR state = ?1)
         ORDER BY updated_at DESC, id DESC LIMIT ?2"
    ))?;
    let jobs = stmt
        .query_map(
            params![state.map(JobState::as_str), limit as i64],
            job_from_row,
        )?
        .collect::<Result<_, _>>()?;
    Ok(jobs)
}

/// A job's attempts, read back from its ledger events: each `running` event opens one, the
/// next outcome event (`done`, `failed`, `retry`, `snoozed`, `released`, ...) closes it.
pub fn attempts(conn: &Connection, job_id: i64) -> Result<Vec<Attempt>> {
    let mut stmt =
        conn.prepare("SELECT at, event, data FROM events WHERE job_id = ?1 ORDER BY id")?;
    let rows = stmt.query_map(params![job_id], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
        ))
    })?;
    let mut attempts: Vec<Attempt> = Vec::new();
    for row in rows {
        let (at, event, data) = row?;
        let data: Value = serde_json::from_str(&data).unwrap_or(Value::Null);
        if event == "running" {
            attempts.push(Attempt {
                attempt: data["attempt"].as_u64().unwrap_or(0) as u32,
                owner: data["owner"].as_str().unwrap_or("").to_string(),
                started_at: at,
                finished_at: None,
                outcome: None,
                detail: None,
            });
        } else if let Some(open) = attempts.last_mut().filter(|a| a.finished_at.is_none())
            && !matches!(event.as_str(), "enqueued" | "fenced")
        {
            open.finished_at = Some(at);
            open.outcome = Some(event);
            open.detail = data["reason"]
                .as_str()
                .or(data["wait"].as_str())
                .map(String::from);
        }
    }
    Ok(attempts)
}

/// The ledger lines of one job, oldest first.
pub fn job_events(conn: &Connection, job_id: i64, limit: usize) -> Result<Vec<Value>> {
    let mut stmt = conn.prepare(
        "SELECT data FROM (SELECT id, data FROM events WHERE job_id = ?1 ORDER BY id DESC LIMIT ?2)
         ORDER BY id",
    )?;
    let rows = stmt
        .query_map(params![job_id, limit as i64], |r| r.get::<_, String>(0))?
        .map(|text| Ok(serde_json::from_str(&text?).unwrap_or(Value::Null)))
        .collect::<Result<Vec<_>>>()?;
    Ok(rows)
}

/// Requeues failed jobs: all, or with `max_attempts`, those that made fewer attempts than
/// that (and may now make up to that many). Returns the keys.
pub fn retry_failed(
    tx: &Transaction<'_>,
    max_attempts: Option<u32>,
    dry_run: bool,
    now: i64,
    events: &mut Vec<Event>,
) -> Result<Vec<String>> {
    let mut select = tx.prepare(
        "SELECT id, key, attempts, kind FROM jobs
         WHERE state = 'failed' AND (?1 IS NULL OR attempts < ?1) ORDER BY id",
    )?;
    let failed: Vec<(i64, String, u32, String)> = select
        .query_map(params![max_attempts], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .collect::<Result<_, _>>()?;
    drop(select);
    if dry_run {
        return Ok(failed.into_iter().map(|(_, key, _, _)| key).collect());
    }
    counts::add_moves(
        tx,
        failed
            .iter()
            .map(|(_, _, _, kind)| (kind.as_str(), JobState::Failed, JobState::Queued)),
    )?;
    for (id, key, attempts, _) in &failed {
        let max = max_attempts.map_or(format!("{attempts} + max_attempts"), |m| m.to_string());
        tx.execute(
            &format!(
                "UPDATE jobs SET state = 'queued', run_after = 0, wait_reason = 'retried by hand',
                        recoveries = 0, max_attempts = {max}, updated_at = ?2 WHERE id = ?1"
            ),
            params![id, now],
        )?;
        events.push(Event::job(
            now,
            *id,
            key,
            "retry",
            json!({"by": "retry-failed"}),
        ));
    }
    Ok(failed.into_iter().map(|(_, key, _, _)| key).collect())
}

/// Retries one failed or cancelled job by hand; returns its state before, or `None` if
/// unknown.
pub fn retry(
    tx: &Transaction<'_>,
    key: &str,
    now: i64,
    events: &mut Vec<Event>,
) -> Result<Option<JobState>> {
    let row: Option<(i64, String, String)> = tx
        .query_row(
            "SELECT id, state, kind FROM jobs WHERE key = ?1",
            params![key],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((id, state, kind)) = row else {
        return Ok(None);
    };
    let state = JobState::parse(&state).context("unknown state in the store")?;
    if matches!(state, JobState::Failed | JobState::Cancelled) {
        counts::add_moves(tx, [(kind, state, JobState::Queued)])?;
        tx.execute(
            "UPDATE jobs SET state = 'queued', run_after = 0, wait_reason = 'retried by hand',
                    recoveries = 0, max_attempts = attempts + max_attempts, updated_at = ?2
             WHERE id = ?1",
            params![id, now],
        )?;
        events.push(Event::job(
            now,
            id,
            key,
            "retry",
            json!({"by": "hand", "was": state.as_str()}),
        ));
    }
    Ok(Some(state))
}

/// Cancels a job that has not ended; returns its state before, or `None` if unknown.
pub fn cancel(
    tx: &Transaction<'_>,
    key: &str,
    now: i64,
    events: &mut Vec<Event>,
) -> Result<Option<JobState>> {
    let row: Option<(i64, String, String)> = tx
        .query_row(
            "SELECT id, state, kind FROM jobs WHERE key = ?1",
            params![key],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((id, state, kind)) = row else {
        return Ok(None);
    };
    let state = JobState::parse(&state).context("unknown state in the store")?;
    if !state.is_final() {
        counts::add_moves(tx, [(kind, state, JobState::Cancelled)])?;
        tx.execute(
            "UPDATE jobs SET state = 'cancelled', lease_owner = NULL, lease_expires = NULL,
                    wait_reason = NULL, updated_at = ?2 WHERE id = ?1",
            params![id, now],
        )?;
        events.push(Event::job(
            now,
            id,
            key,
            "cancelled",
            json!({"was": state.as_str()}),
        ));
    }
    Ok(Some(state))
}

/// Queues the blocked dependents of `job_id` whose dependencies have all succeeded.
fn unblock_dependents(tx: &Transaction<'_>, job_id: i64, now: i64) -> Result<()> {
    move_all(
        tx,
        "UPDATE jobs SET state = 'queued', wait_reason = NULL, updated_at = ?2
         WHERE state = 'blocked'
           AND id IN (SELECT job_id FROM job_deps WHERE dep_id = ?1)
           AND NOT EXISTS (SELECT 1 FROM job_deps d JOIN jobs j ON j.id = d.dep_id
                           WHERE d.job_id = jobs.id AND j.state NOT IN ('done', 'skipped'))
         RETURNING kind",
        params![job_id, now],
        (JobState::Blocked, JobState::Queued),
    )
}

/// Runs `update`, an `UPDATE` of jobs from one state to another that returns each changed
/// job's `kind`, and counts the moves in `job_counts`.
fn move_all(
    tx: &Transaction<'_>,
    update: &str,
    bound: impl rusqlite::Params,
    (from, to): (JobState, JobState),
) -> Result<()> {
    let kinds: Vec<String> = tx
        .prepare_cached(update)?
        .query_map(bound, |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    counts::add_moves(tx, kinds.iter().map(|kind| (kind, from, to)))
}

/// Skips every blocked job downstream of a failed one.
fn skip_dependents(
    tx: &Transaction<'_>,
    job_id: i64,
    key: &str,
    now: i64,
    events: &mut Vec<Event>,
) -> Result<()> {
    let mut stmt = tx.prepare_cached(
        "WITH RECURSIVE down(id) AS (
             SELECT job_id FROM job_deps WHERE dep_id = ?1
             UNION SELECT d.job_id FROM job_deps d JOIN down ON d.dep_id = down.id)
         SELECT jobs.id, jobs.key, jobs.kind FROM jobs JOIN down ON jobs.id = down.id
         WHERE jobs.state = 'blocked'",
    )?;
    let down: Vec<(i64, String, String)> = stmt
        .query_map(params![job_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    counts::add_moves(
        tx,
        down.iter()
            .map(|(_, _, kind)| (kind.as_str(), JobState::Blocked, JobState::Skipped)),
    )?;
    let run: Option<String> = tx
        .prepare_cached("SELECT run_id FROM jobs WHERE id = ?1")?
        .query_row(params![job_id], |r| r.get(0))
        .optional()?
        .flatten();
    let reason = format!(
        "upstream `{}` failed",
        baton_core::model::upstream_name(key, run.as_deref())
    );
    for (id, dependent, _) in down {
        tx.execute(
            "UPDATE jobs SET state = 'skipped', last_error = ?2, wait_reason = NULL, updated_at = ?3
             WHERE id = ?1",
            params![id, reason, now],
        )?;
        events.push(Event::job(
            now,
            id,
            &dependent,
            "skipped",
            json!({"reason": reason}),
        ));
    }
    Ok(())
}

/// Whether jobs of `run` (or of no run) are open, and when the earliest queued one is due.
pub fn pending(tx: &Transaction<'_>, run: Option<&str>) -> Result<Pending> {
    let open: bool = tx
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM jobs WHERE state = 'queued' AND run_id IS ?1)
                 OR EXISTS (SELECT 1 FROM jobs WHERE state = 'running' AND run_id IS ?1)
                 OR EXISTS (SELECT 1 FROM jobs WHERE state = 'blocked' AND run_id IS ?1)",
        )?
        .query_row(params![run], |r| r.get(0))?;
    let next_due: Option<i64> = tx
        .prepare_cached(
            "SELECT run_after FROM jobs WHERE state = 'queued' AND run_id IS ?1
             ORDER BY run_after LIMIT 1",
        )?
        .query_row(params![run], |r| r.get(0))
        .optional()?;
    Ok(Pending { open, next_due })
}

/// Records a run and inserts its jobs and their dependencies.
pub fn start_run(
    tx: &Transaction<'_>,
    run: &RunRecord,
    jobs: &[(NewJob, Vec<usize>)],
    now: i64,
    events: &mut Vec<Event>,
) -> Result<()> {
    let run_id = run.id.as_str();
    tx.execute(
        "INSERT INTO runs (id, pipeline, started_at, state, options, owner)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            run.id,
            run.pipeline,
            run.started_at,
            run.state.as_str(),
            run.options.to_string(),
            run.owner
        ],
    )
    .with_context(|| format!("cannot record run {run_id}"))?;
    events.push(Event::general(
        now,
        "run-started",
        json!({"run": run_id, "pipeline": run.pipeline, "stages": jobs.len()}),
    ));
    let mut ids = Vec::with_capacity(jobs.len());
    let state = |deps: &[usize]| if deps.is_empty() { "queued" } else { "blocked" };
    for (job, deps) in jobs {
        tx.execute(
            "INSERT INTO jobs (key, kind, plugin, payload, priority, state, max_attempts,
                               run_after, created_at, updated_at, run_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, ?8, ?8, ?9)",
            params![
                job.key,
                job.kind.as_str(),
                job.plugin,
                job.payload,
                job.priority,
                state(deps),
                job.max_attempts,
                now,
                run_id
            ],
        )
        .with_context(|| format!("cannot enqueue {}", job.key))?;
        let id = tx.last_insert_rowid();
        ids.push(id);
        events.push(Event::job(
            now,
            id,
            &job.key,
            "enqueued",
            json!({"run": run_id}),
        ));
    }
    counts::add_inserted(
        tx,
        jobs.iter()
            .map(|(job, deps)| (job.kind.as_str(), state(deps))),
    )?;
    let mut dep = tx.prepare_cached("INSERT INTO job_deps (job_id, dep_id) VALUES (?1, ?2)")?;
    for ((_, deps), id) in jobs.iter().zip(&ids) {
        for &d in deps {
            dep.execute(params![id, ids[d]])?;
        }
    }
    Ok(())
}

/// Cancels the queued and blocked jobs of a run.
pub fn cancel_run(
    tx: &Transaction<'_>,
    run_id: &str,
    reason: &str,
    now: i64,
    events: &mut Vec<Event>,
) -> Result<usize> {
    let mut stmt = tx.prepare(
        "SELECT id, key, kind, state FROM jobs WHERE run_id = ?1 AND state IN ('queued', 'blocked')",
    )?;
    let open: Vec<(i64, String, String, String)> = stmt
        .query_map(params![run_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .collect::<Result<_, _>>()?;
    let mut moves = Vec::with_capacity(open.len());
    for (_, _, kind, state) in &open {
        let state = JobState::parse(state).context("unknown state in the store")?;
        moves.push((kind.as_str(), state, JobState::Cancelled));
    }
    counts::add_moves(tx, moves)?;
    for (id, key, _, _) in &open {
        tx.execute(
            "UPDATE jobs SET state = 'cancelled', last_error = ?2, wait_reason = NULL,
                    updated_at = ?3 WHERE id = ?1",
            params![id, reason, now],
        )?;
        events.push(Event::job(
            now,
            *id,
            key,
            "cancelled",
            json!({"reason": reason}),
        ));
    }
    Ok(open.len())
}

/// Requeues a run's unfinished jobs; returns how many.
pub fn resume_run(
    tx: &Transaction<'_>,
    run_id: &str,
    dead_owners: &[String],
    owner: &str,
    now: i64,
    events: &mut Vec<Event>,
) -> Result<usize> {
    tx.execute(
        "UPDATE runs SET owner = ?2, state = 'running', finished_at = NULL WHERE id = ?1",
        params![run_id, owner],
    )?;
    let mut stmt = tx.prepare(
        "SELECT id, key, state, lease_owner, lease_expires, kind FROM jobs
         WHERE run_id = ?1 AND state NOT IN ('done')",
    )?;
    type Row = (i64, String, String, Option<String>, Option<i64>, String);
    let rows: Vec<Row> = stmt
        .query_map(params![run_id], |r| Row::try_from(r))?
        .collect::<Result<_, _>>()?;
    drop(stmt);
    let mut resumed = Vec::new();
    let mut moves = Vec::new();
    for (id, key, state, owner, expires, kind) in rows {
        let lost = owner.as_ref().is_some_and(|o| dead_owners.contains(o))
            || expires.is_some_and(|e| e < now);
        if state == "running" && !lost {
            continue;
        }
        let state = JobState::parse(&state).context("unknown state in the store")?;
        moves.push((kind, state, JobState::Queued));
        resumed.push((id, key));
    }
    counts::add_moves(tx, moves)?;
    for (id, key) in &resumed {
        tx.execute(
            "UPDATE jobs SET state = 'queued', attempts = 0, recoveries = 0, run_after = 0,
                    last_error = NULL, wait_reason = 'resumed', lease_owner = NULL,
                    lease_expires = NULL, fence = fence + 1, updated_at = ?2 WHERE id = ?1",
            params![id, now],
        )?;
        events.push(Event::job(now, *id, key, "resumed", json!({"run": run_id})));
    }
    // Jobs whose dependencies are not done wait again.
    move_all(
        tx,
        "UPDATE jobs SET state = 'blocked' WHERE run_id = ?1 AND state = 'queued'
           AND EXISTS (SELECT 1 FROM job_deps d JOIN jobs j ON j.id = d.dep_id
                       WHERE d.job_id = jobs.id AND j.state NOT IN ('done', 'skipped'))
         RETURNING kind",
        params![run_id],
        (JobState::Queued, JobState::Blocked),
    )?;
    Ok(resumed.len())
}

/// Owners holding running leases.
pub fn lease_owners(conn: &Connection) -> Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT DISTINCT lease_owner FROM jobs WHERE state = 'running' AND lease_owner IS NOT NULL",
    )?;
    let owners = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(owners)
}
