//! The job queue on PostgreSQL: enqueue, claim with a fencing token, finish, heartbeat,
//! recover expired leases, release, retry and cancel, and the queue's reads. Each batch is
//! one set-based statement where it can be: enqueue is one `INSERT ... SELECT FROM UNNEST`,
//! a claim one `UPDATE ... FROM (SELECT ... FOR UPDATE SKIP LOCKED LIMIT n) RETURNING`,
//! finish, heartbeat, release and recovery one `UPDATE ... FROM UNNEST(...)` each. Every
//! write checks the fence and the state, so a late outcome of a lost lease changes nothing.
//! Dependency work (unblocking, skipping what follows a failure) happens only for jobs of a
//! pipeline run, under row locks taken in id order (see [`unblock_dependents`]).

use crate::connect::{Conn, count, get};
use crate::tx::Tx;
use anyhow::{Context, Result};
use baton_core::event::Event;
use baton_core::model::{Attempt, Claimed, Failure, Job, JobKind, JobState, NewJob, Outcome};
use baton_core::store::{Claim, Offer, Pending, Recovered, Requeue};
use postgres::Row;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};

/// New jobs in one enqueue from which the table's statistics are refreshed at once.
const ANALYZE_AFTER: usize = 5_000;

/// Inserts jobs (state `queued`); returns for each its new id, or `None` for a key already
/// there (or repeated earlier in `jobs`).
pub fn enqueue(tx: &mut Tx<'_>, jobs: &[NewJob], ledger: bool) -> Result<Vec<bool>> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let keys: Vec<&str> = jobs.iter().map(|j| j.key.as_str()).collect();
    let kinds: Vec<&str> = jobs.iter().map(|j| j.kind.as_str()).collect();
    let plugins: Vec<Option<&str>> = jobs.iter().map(|j| j.plugin.as_deref()).collect();
    let payloads: Vec<&str> = jobs.iter().map(|j| j.payload.as_str()).collect();
    let priorities: Vec<i64> = jobs.iter().map(|j| j.priority).collect();
    let max_attempts: Vec<i64> = jobs.iter().map(|j| i64::from(j.max_attempts)).collect();
    let rows = tx.conn.query(
        "INSERT INTO jobs (key, kind, plugin, payload, priority, state, max_attempts,
                           run_after, created_at, updated_at)
         SELECT u.key, u.kind, u.plugin, u.payload, u.priority, 'queued', u.max_attempts, 0,
                $7, $7
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[])
              WITH ORDINALITY AS u(key, kind, plugin, payload, priority, max_attempts, ord)
         ORDER BY u.ord
         ON CONFLICT (key) DO NOTHING
         RETURNING id, key",
        &[
            &keys,
            &kinds,
            &plugins,
            &payloads,
            &priorities,
            &max_attempts,
            &tx.now,
        ],
    )?;
    let mut new: HashMap<String, i64> = HashMap::with_capacity(rows.len());
    for row in &rows {
        new.insert(get(row, 1)?, get(row, 0)?);
    }
    tx.notify |= !new.is_empty();
    if new.len() >= ANALYZE_AFTER {
        // A bulk enqueue leaves the planner's statistics far behind until autovacuum runs:
        // with them, claims would sort every queued row instead of reading the ready index.
        tx.conn.batch("ANALYZE jobs")?;
    }
    let mut inserted = Vec::with_capacity(jobs.len());
    for job in jobs {
        // The first occurrence of a new key is the inserted one; a repeat is a no-op.
        let id = new.remove(&job.key);
        if ledger && let Some(id) = id {
            tx.events
                .push(Event::job(tx.now, id, &job.key, "enqueued", json!({})));
        }
        inserted.push(id.is_some());
    }
    Ok(inserted)
}

/// A job taken by one claim statement, with what it had before (to give it back if the
/// claim's filter turns it away).
struct Taken {
    job: Claimed,
    run: Option<String>,
    priority: i64,
    run_after: i64,
    wait_reason: Option<String>,
    updated_at: i64,
}

fn taken(row: &Row) -> Result<Taken> {
    let kind: String = get(row, 8)?;
    Ok(Taken {
        job: Claimed {
            id: get(row, 0)?,
            key: get(row, 1)?,
            plugin: get(row, 2)?,
            payload: get(row, 3)?,
            attempt: count(get(row, 4)?),
            max_attempts: count(get(row, 5)?),
            fence: get(row, 6)?,
            enqueued_at: get(row, 7)?,
            kind: parse_kind(&kind)?,
        },
        run: get(row, 13)?,
        priority: get(row, 9)?,
        run_after: get(row, 10)?,
        wait_reason: get(row, 11)?,
        updated_at: get(row, 12)?,
    })
}

/// Takes up to `want` ready jobs of the work queue (`run: None`) or of one run, leasing them
/// in one statement; rows other transactions hold are skipped, not waited for.
fn take(tx: &mut Tx<'_>, spec: &Claim, want: usize) -> Result<Vec<Taken>> {
    let want = want as i64;
    let rows = match spec.run.as_deref() {
        None if spec.any_run => tx.conn.query(
            "UPDATE jobs j SET state = 'running', attempts = j.attempts + 1, lease_owner = $3,
                    lease_expires = $4, fence = j.fence + 1, wait_reason = NULL, updated_at = $1
             FROM (SELECT id, wait_reason, updated_at FROM jobs
                   WHERE state = 'queued' AND run_after <= $1
                   ORDER BY priority DESC, run_after, id LIMIT $2
                   FOR UPDATE SKIP LOCKED) old
             WHERE j.id = old.id
             RETURNING j.id, j.key, j.plugin, j.payload, j.attempts, j.max_attempts, j.fence,
                       j.created_at, j.kind, j.priority, j.run_after, old.wait_reason,
                       old.updated_at, j.run_id",
            &[&tx.now, &want, &spec.owner, &spec.lease_until],
        )?,
        None => tx.conn.query(
            "UPDATE jobs j SET state = 'running', attempts = j.attempts + 1, lease_owner = $3,
                    lease_expires = $4, fence = j.fence + 1, wait_reason = NULL, updated_at = $1
             FROM (SELECT id, wait_reason, updated_at FROM jobs
                   WHERE state = 'queued' AND run_id IS NULL AND run_after <= $1
                   ORDER BY priority DESC, run_after, id LIMIT $2
                   FOR UPDATE SKIP LOCKED) old
             WHERE j.id = old.id
             RETURNING j.id, j.key, j.plugin, j.payload, j.attempts, j.max_attempts, j.fence,
                       j.created_at, j.kind, j.priority, j.run_after, old.wait_reason,
                       old.updated_at, j.run_id",
            &[&tx.now, &want, &spec.owner, &spec.lease_until],
        )?,
        Some(run) => tx.conn.query(
            "UPDATE jobs j SET state = 'running', attempts = j.attempts + 1, lease_owner = $3,
                    lease_expires = $4, fence = j.fence + 1, wait_reason = NULL, updated_at = $1
             FROM (SELECT id, wait_reason, updated_at FROM jobs
                   WHERE state = 'queued' AND run_id = $5 AND run_after <= $1
                   ORDER BY priority DESC, run_after, id LIMIT $2
                   FOR UPDATE SKIP LOCKED) old
             WHERE j.id = old.id
             RETURNING j.id, j.key, j.plugin, j.payload, j.attempts, j.max_attempts, j.fence,
                       j.created_at, j.kind, j.priority, j.run_after, old.wait_reason,
                       old.updated_at, j.run_id",
            &[&tx.now, &want, &spec.owner, &spec.lease_until, &run],
        )?,
    };
    let mut taken = rows.iter().map(taken).collect::<Result<Vec<_>>>()?;
    // RETURNING has no order: offer them as the queue orders them.
    taken.sort_by_key(|t| (-t.priority, t.run_after, t.job.id));
    Ok(taken)
}

/// Claims up to `spec.limit` ready jobs that `accept` admits, leasing them to the owner with a
/// new fencing token each. Usually one statement: jobs are leased, then offered in queue
/// order; when the filter turns some away, more are taken (up to `2 × limit` looked at, as
/// the SQLite store does) and those turned away are given back as they were.
pub fn claim(
    tx: &mut Tx<'_>,
    spec: &Claim,
    accept: &mut dyn FnMut(&Offer<'_>) -> bool,
) -> Result<Vec<Claimed>> {
    let limit = spec.limit;
    let mut claimed: Vec<Claimed> = Vec::with_capacity(limit);
    let mut refused: Vec<Taken> = Vec::new();
    let mut waited: Vec<i64> = Vec::with_capacity(limit);
    let mut looked = 0;
    while claimed.len() < limit && looked < 2 * limit {
        let want = (limit - claimed.len()).min(2 * limit - looked);
        let batch = take(tx, spec, want)?;
        looked += batch.len();
        let exhausted = batch.len() < want;
        for t in batch {
            let offer = Offer {
                kind: t.job.kind,
                plugin: t.job.plugin.as_deref(),
                run: t.run.as_deref(),
            };
            if accept(&offer) {
                // How long it waited since it was due: its ledger event carries it (queue
                // wait metrics).
                waited.push((tx.now - t.run_after.max(t.job.enqueued_at)).max(0));
                claimed.push(t.job);
            } else {
                refused.push(t);
            }
        }
        if exhausted {
            break;
        }
    }
    if !refused.is_empty() {
        let ids: Vec<i64> = refused.iter().map(|t| t.job.id).collect();
        let waits: Vec<Option<&str>> = refused.iter().map(|t| t.wait_reason.as_deref()).collect();
        let updated: Vec<i64> = refused.iter().map(|t| t.updated_at).collect();
        tx.conn.exec(
            "UPDATE jobs j SET state = 'queued', attempts = j.attempts - 1, fence = j.fence - 1,
                    lease_owner = NULL, lease_expires = NULL, wait_reason = u.wait,
                    updated_at = u.updated_at
             FROM UNNEST($1::bigint[], $2::text[], $3::bigint[]) AS u(id, wait, updated_at)
             WHERE j.id = u.id",
            &[&ids, &waits, &updated],
        )?;
    }
    for (job, waited_ms) in claimed.iter().zip(waited) {
        tx.events.push(Event::job(
            tx.now,
            job.id,
            &job.key,
            "running",
            json!({"attempt": job.attempt, "owner": spec.owner, "waited_ms": waited_ms}),
        ));
    }
    Ok(claimed)
}

/// What one outcome writes.
struct Written {
    state: JobState,
    run_after: i64,
    wait_reason: Option<String>,
    failure: Option<Failure>,
    result: Option<String>,
    snooze: bool,
}

fn written(outcome: &Outcome) -> Written {
    let plain = |state, failure, result| Written {
        state,
        run_after: 0,
        wait_reason: None,
        failure,
        result,
        snooze: false,
    };
    match outcome {
        Outcome::Done { result } => plain(JobState::Done, None, Some(result.to_string())),
        Outcome::Skipped { reason } => {
            plain(JobState::Skipped, Some(Failure::new(reason.clone())), None)
        }
        Outcome::Failed { failure } => plain(JobState::Failed, Some(failure.clone()), None),
        Outcome::Retry {
            failure,
            at,
            snooze,
            wait_reason,
        } => Written {
            state: JobState::Queued,
            run_after: *at,
            wait_reason: Some(wait_reason.clone()),
            failure: Some(failure.clone()),
            result: None,
            snooze: *snooze,
        },
    }
}

/// Records how attempts ended, in one statement for the batch. An outcome whose fence no
/// longer matches (the lease was recovered and maybe re-claimed), or a repeat of a job
/// earlier in the batch, changes nothing and records `fenced`; returns which were applied.
/// Jobs of a run then unblock or skip their dependents.
pub fn finish(tx: &mut Tx<'_>, outcomes: &[(Claimed, Outcome)]) -> Result<Vec<bool>> {
    if outcomes.is_empty() {
        return Ok(Vec::new());
    }
    let writes: Vec<Written> = outcomes.iter().map(|(_, o)| written(o)).collect();
    let mut seen = HashSet::with_capacity(outcomes.len());
    let first: Vec<bool> = outcomes.iter().map(|(j, _)| seen.insert(j.id)).collect();
    let sent = || {
        outcomes
            .iter()
            .zip(&writes)
            .zip(&first)
            .filter(|(_, f)| **f)
    };
    let ids: Vec<i64> = sent().map(|((j, _), _)| j.0.id).collect();
    let fences: Vec<i64> = sent().map(|((j, _), _)| j.0.fence).collect();
    let states: Vec<&str> = sent().map(|((_, w), _)| w.state.as_str()).collect();
    let run_afters: Vec<i64> = sent().map(|((_, w), _)| w.run_after).collect();
    let waits: Vec<Option<&str>> = sent().map(|((_, w), _)| w.wait_reason.as_deref()).collect();
    let errors: Vec<Option<&str>> = sent()
        .map(|((_, w), _)| w.failure.as_ref().map(|f| f.message.as_str()))
        .collect();
    let codes: Vec<Option<&str>> = sent()
        .map(|((_, w), _)| w.failure.as_ref().and_then(|f| f.code.as_deref()))
        .collect();
    let results: Vec<Option<&str>> = sent().map(|((_, w), _)| w.result.as_deref()).collect();
    let snoozes: Vec<i64> = sent().map(|((_, w), _)| i64::from(w.snooze)).collect();
    let rows = tx.conn.query(
        "UPDATE jobs j SET state = u.state, run_after = u.run_after, wait_reason = u.wait,
                last_error = CASE WHEN u.state = 'done' THEN NULL
                                  ELSE COALESCE(u.error, j.last_error) END,
                error_code = CASE WHEN u.state = 'done' THEN NULL ELSE u.code END,
                result = COALESCE(u.result, j.result), attempts = j.attempts - u.snooze,
                lease_owner = NULL, lease_expires = NULL, updated_at = $10
         FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::text[],
                     $6::text[], $7::text[], $8::text[], $9::bigint[])
              AS u(id, fence, state, run_after, wait, error, code, result, snooze)
         WHERE j.id = u.id AND j.fence = u.fence AND j.state = 'running'
         RETURNING j.id, j.run_id",
        &[
            &ids,
            &fences,
            &states,
            &run_afters,
            &waits,
            &errors,
            &codes,
            &results,
            &snoozes,
            &tx.now,
        ],
    )?;
    // Applied job id → whether it belongs to a run.
    let mut applied: HashMap<i64, bool> = HashMap::with_capacity(rows.len());
    for row in &rows {
        let run: Option<String> = get(row, 1)?;
        applied.insert(get(row, 0)?, run.is_some());
    }
    let succeeded: Vec<i64> = outcomes
        .iter()
        .zip(&writes)
        .filter(|((job, _), w)| {
            matches!(w.state, JobState::Done | JobState::Skipped)
                && applied.get(&job.id) == Some(&true)
        })
        .map(|((job, _), _)| job.id)
        .collect();
    if unblock_dependents(tx, &succeeded)? > 0 {
        tx.notify = true;
    }
    let mut reply = Vec::with_capacity(outcomes.len());
    for (((job, _), w), first) in outcomes.iter().zip(&writes).zip(&first) {
        let in_run = applied.get(&job.id).copied();
        let ok = *first && in_run.is_some();
        reply.push(ok);
        let now = tx.now;
        if !ok {
            tx.events.push(Event::job(
                now,
                job.id,
                &job.key,
                "fenced",
                json!({
                    "attempt": job.attempt, "outcome": w.state.as_str(),
                    "note": "the lease was lost; this outcome was discarded"
                }),
            ));
            continue;
        }
        let error = w.failure.as_ref().map(|f| f.message.as_str());
        let code = w.failure.as_ref().and_then(|f| f.code.as_deref());
        let mut data = json!({"attempt": job.attempt});
        if let Some(error) = error {
            data["reason"] = json!(error);
        }
        if let Some(code) = code {
            data["code"] = json!(code);
        }
        if let Some(wait) = &w.wait_reason {
            data["wait"] = json!(wait);
        }
        if w.state == JobState::Failed && in_run == Some(true) {
            skip_dependents(tx, job.id, &job.key)?;
        }
        if w.state == JobState::Queued {
            tx.notify = true;
        }
        let event = match (w.state, w.snooze) {
            (JobState::Queued, true) => "snoozed",
            (JobState::Queued, false) => "retry",
            (JobState::Done, _) => "done",
            (JobState::Skipped, _) => "skipped",
            _ => "failed",
        };
        tx.events
            .push(Event::job(now, job.id, &job.key, event, data));
    }
    Ok(reply)
}

/// Queues the blocked dependents of `done` (jobs that succeeded) whose dependencies have all
/// succeeded; returns how many. Two transactions finishing two dependencies of one job
/// could each miss the other's uncommitted change, so the dependents are first locked (in id
/// order); the check then runs as a new statement, which sees whatever the previous holder
/// of those locks committed.
fn unblock_dependents(tx: &mut Tx<'_>, done: &[i64]) -> Result<u64> {
    if done.is_empty() {
        return Ok(0);
    }
    let locked = tx.conn.query(
        "SELECT id FROM jobs
         WHERE state = 'blocked' AND id IN (SELECT job_id FROM job_deps WHERE dep_id = ANY($1))
         ORDER BY id FOR UPDATE",
        &[&done],
    )?;
    let ids = locked
        .iter()
        .map(|row| get::<i64>(row, 0))
        .collect::<Result<Vec<_>>>()?;
    if ids.is_empty() {
        return Ok(0);
    }
    tx.conn.exec(
        "UPDATE jobs SET state = 'queued', wait_reason = NULL, updated_at = $2
         WHERE id = ANY($1) AND state = 'blocked'
           AND NOT EXISTS (SELECT 1 FROM job_deps d JOIN jobs dj ON dj.id = d.dep_id
                           WHERE d.job_id = jobs.id AND dj.state NOT IN ('done', 'skipped'))",
        &[&ids, &tx.now],
    )
}

/// Skips every blocked job downstream of the failed job `job_id` (key `key`).
fn skip_dependents(tx: &mut Tx<'_>, job_id: i64, key: &str) -> Result<()> {
    let run: Option<String> = match tx
        .conn
        .opt("SELECT run_id FROM jobs WHERE id = $1", &[&job_id])?
    {
        Some(row) => get(&row, 0)?,
        None => None,
    };
    let reason = format!(
        "upstream `{}` failed",
        baton_core::model::upstream_name(key, run.as_deref())
    );
    let rows = tx.conn.query(
        "WITH RECURSIVE down(id) AS (
             SELECT job_id FROM job_deps WHERE dep_id = $1
             UNION SELECT d.job_id FROM job_deps d JOIN down ON d.dep_id = down.id)
         UPDATE jobs SET state = 'skipped', last_error = $2, wait_reason = NULL, updated_at = $3
         FROM down WHERE jobs.id = down.id AND jobs.state = 'blocked'
         RETURNING jobs.id, jobs.key",
        &[&job_id, &reason, &tx.now],
    )?;
    journal_rows(tx, &rows, "skipped", &json!({"reason": reason}))?;
    Ok(())
}

/// Records `event` (with `data`) for each `(id, key)` row a statement returned, in id order;
/// returns the rows so.
pub fn journal_rows(
    tx: &mut Tx<'_>,
    rows: &[Row],
    event: &'static str,
    data: &Value,
) -> Result<Vec<(i64, String)>> {
    let mut jobs = rows
        .iter()
        .map(|row| Ok((get::<i64>(row, 0)?, get::<String>(row, 1)?)))
        .collect::<Result<Vec<_>>>()?;
    jobs.sort();
    for (id, key) in &jobs {
        tx.events
            .push(Event::job(tx.now, *id, key, event, data.clone()));
    }
    Ok(jobs)
}

/// Extends the leases of `(job id, fence)` pairs still held, in one statement; returns how
/// many were extended.
pub fn heartbeat(tx: &mut Tx<'_>, leases: &[(i64, i64)], lease_until: i64) -> Result<usize> {
    if leases.is_empty() {
        return Ok(0);
    }
    let ids: Vec<i64> = leases.iter().map(|l| l.0).collect();
    let fences: Vec<i64> = leases.iter().map(|l| l.1).collect();
    let extended = tx.conn.exec(
        "UPDATE jobs j SET lease_expires = $3
         FROM (SELECT DISTINCT id, fence FROM UNNEST($1::bigint[], $2::bigint[]) AS u(id, fence)) u
         WHERE j.id = u.id AND j.fence = u.fence AND j.state = 'running'",
        &[&ids, &fences, &lease_until],
    )?;
    Ok(extended as usize)
}

/// How recovery treats one lost lease.
#[derive(Clone, Copy)]
enum Lost {
    /// Claimed but never started: back with its attempt given back.
    NeverStarted = 0,
    /// Started: back, counting one recovery.
    Requeued = 1,
    /// Lost too often: failed as a poison pill.
    Poisoned = 2,
}

/// Returns running jobs whose lease expired (or whose owner is in `dead_owners`) to the
/// queue; a job recovered more than `max_recoveries` times fails as a poison pill. Rows
/// another transaction holds (their holder is finishing them) are skipped.
pub fn recover(
    tx: &mut Tx<'_>,
    dead_owners: &[String],
    max_recoveries: u32,
    started: &dyn Fn(&str, i64, i64) -> bool,
) -> Result<Recovered> {
    let rows = tx.conn.query(
        "SELECT id, key, recoveries, lease_owner, fence FROM jobs
         WHERE state = 'running' AND (lease_expires < $1 OR lease_owner = ANY($2))
         ORDER BY id FOR UPDATE SKIP LOCKED",
        &[&tx.now, &dead_owners],
    )?;
    let (mut ids, mut actions, mut reasons) = (Vec::new(), Vec::new(), Vec::new());
    let (mut recovered, mut poisoned) = (0, 0);
    for row in &rows {
        let id: i64 = get(row, 0)?;
        let key: String = get(row, 1)?;
        let recoveries = count(get(row, 2)?);
        let owner: String = get::<Option<String>>(row, 3)?.unwrap_or_default();
        let fence: i64 = get(row, 4)?;
        let (action, reason, event, data) = if !started(&owner, id, fence) {
            recovered += 1;
            (
                Lost::NeverStarted,
                format!("claimed by lost worker {owner}, never started"),
                "recovered",
                json!({"owner": owner, "started": false}),
            )
        } else if recoveries + 1 > max_recoveries {
            poisoned += 1;
            let reason = format!(
                "poison pill: its worker was lost {} times (last owner {owner})",
                recoveries + 1
            );
            let data = json!({"reason": reason});
            (Lost::Poisoned, reason, "failed", data)
        } else {
            recovered += 1;
            (
                Lost::Requeued,
                format!("recovered from lost worker {owner}"),
                "recovered",
                json!({"owner": owner}),
            )
        };
        ids.push(id);
        actions.push(action as i64);
        reasons.push(reason);
        tx.events.push(Event::job(tx.now, id, &key, event, data));
    }
    if !ids.is_empty() {
        tx.conn.exec(
            "UPDATE jobs j SET
                 state = CASE WHEN u.action = 2 THEN 'failed' ELSE 'queued' END,
                 attempts = CASE WHEN u.action = 0 THEN GREATEST(j.attempts - 1, 0)
                                 ELSE j.attempts END,
                 recoveries = CASE WHEN u.action = 0 THEN j.recoveries ELSE j.recoveries + 1 END,
                 run_after = CASE WHEN u.action = 2 THEN j.run_after ELSE 0 END,
                 wait_reason = CASE WHEN u.action = 2 THEN j.wait_reason ELSE u.reason END,
                 last_error = CASE WHEN u.action = 2 THEN u.reason ELSE j.last_error END,
                 lease_owner = NULL, lease_expires = NULL, updated_at = $4
             FROM UNNEST($1::bigint[], $2::bigint[], $3::text[]) AS u(id, action, reason)
             WHERE j.id = u.id",
            &[&ids, &actions, &reasons, &tx.now],
        )?;
        bump_counter(tx, "recoveries", (recovered + poisoned) as i64)?;
    }
    tx.notify |= recovered > 0;
    Ok(Recovered {
        recovered,
        poisoned,
    })
}

/// Puts running jobs back in the queue by hand, in one statement; see `QueueTx::requeue`.
pub fn requeue(tx: &mut Tx<'_>, jobs: &[Requeue]) -> Result<Vec<bool>> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = jobs.iter().map(|j| j.id).collect();
    let fences: Vec<i64> = jobs.iter().map(|j| j.fence).collect();
    let reasons: Vec<&str> = jobs.iter().map(|j| j.reason.as_str()).collect();
    // The old owner is read before the update clears it (a self-join sees the row as it was).
    let rows = tx.conn.query(
        "UPDATE jobs j SET state = 'queued', attempts = GREATEST(j.attempts - 1, 0),
                recoveries = j.recoveries + 1, run_after = 0, wait_reason = u.reason,
                lease_owner = NULL, lease_expires = NULL, updated_at = $4
         FROM (SELECT DISTINCT ON (id) id, fence, reason
               FROM UNNEST($1::bigint[], $2::bigint[], $3::text[]) AS u(id, fence, reason)) u,
              jobs old
         WHERE j.id = u.id AND j.fence = u.fence AND j.state = 'running' AND old.id = j.id
         RETURNING j.id, j.key, old.lease_owner",
        &[&ids, &fences, &reasons, &tx.now],
    )?;
    let mut done: HashMap<i64, (String, Option<String>)> = HashMap::new();
    for row in &rows {
        done.insert(get(row, 0)?, (get(row, 1)?, get(row, 2)?));
    }
    let mut requeued = Vec::with_capacity(jobs.len());
    for job in jobs {
        match done.remove(&job.id) {
            Some((key, owner)) => {
                tx.events.push(Event::job(
                    tx.now,
                    job.id,
                    &key,
                    "recovered",
                    json!({"owner": owner, "fence": job.fence, "reason": job.reason, "by_hand": true}),
                ));
                requeued.push(true);
            }
            None => requeued.push(false),
        }
    }
    let count = requeued.iter().filter(|r| **r).count();
    if count > 0 {
        bump_counter(tx, "recoveries", count as i64)?;
    }
    tx.notify |= count > 0;
    Ok(requeued)
}

/// Gives the leases of `jobs` back without using up their attempt (graceful shutdown), in
/// one statement; returns how many.
pub fn release(tx: &mut Tx<'_>, jobs: &[Claimed]) -> Result<usize> {
    if jobs.is_empty() {
        return Ok(0);
    }
    let ids: Vec<i64> = jobs.iter().map(|j| j.id).collect();
    let fences: Vec<i64> = jobs.iter().map(|j| j.fence).collect();
    let rows = tx.conn.query(
        "UPDATE jobs j SET state = 'queued', attempts = j.attempts - 1, run_after = 0,
                wait_reason = 'released at shutdown', lease_owner = NULL, lease_expires = NULL,
                updated_at = $3
         FROM (SELECT DISTINCT id, fence FROM UNNEST($1::bigint[], $2::bigint[]) AS u(id, fence)) u
         WHERE j.id = u.id AND j.fence = u.fence AND j.state = 'running'
         RETURNING j.id",
        &[&ids, &fences, &tx.now],
    )?;
    let mut released: HashSet<i64> = rows
        .iter()
        .map(|row| get::<i64>(row, 0))
        .collect::<Result<_>>()?;
    let count = released.len();
    for job in jobs {
        if released.remove(&job.id) {
            tx.events.push(Event::job(
                tx.now,
                job.id,
                &job.key,
                "released",
                json!({"attempt": job.attempt}),
            ));
        }
    }
    tx.notify |= count > 0;
    Ok(count)
}

/// Adds `by` to counter `name`.
pub fn bump_counter(tx: &mut Tx<'_>, name: &str, by: i64) -> Result<()> {
    tx.conn.exec(
        "INSERT INTO counters (name, value) VALUES ($1, $2)
         ON CONFLICT (name) DO UPDATE SET value = counters.value + excluded.value",
        &[&name, &by],
    )?;
    Ok(())
}

/// The value of counter `name` (0 if never bumped).
pub fn counter(conn: &mut Conn, name: &str) -> Result<i64> {
    match conn.opt("SELECT value FROM counters WHERE name = $1", &[&name])? {
        Some(row) => get(&row, 0),
        None => Ok(0),
    }
}

/// The columns [`job_from_row`] reads, in its order.
macro_rules! job_columns {
    () => {
        "id, key, kind, plugin, payload, priority, state, attempts, max_attempts, run_after,
         wait_reason, lease_owner, lease_expires, fence, recoveries, last_error, result,
         created_at, updated_at, error_code, run_id"
    };
}

pub fn job_from_row(row: &Row) -> Result<Job> {
    let state: String = get(row, 6)?;
    let payload: String = get(row, 4)?;
    let result: Option<String> = get(row, 16)?;
    let kind: String = get(row, 2)?;
    Ok(Job {
        id: get(row, 0)?,
        key: get(row, 1)?,
        kind: parse_kind(&kind)?,
        plugin: get(row, 3)?,
        payload: serde_json::from_str(&payload).unwrap_or(Value::String(payload)),
        priority: get(row, 5)?,
        state: JobState::parse(&state).unwrap_or(JobState::Failed),
        attempts: count(get(row, 7)?),
        max_attempts: count(get(row, 8)?),
        run_after: get(row, 9)?,
        wait_reason: get(row, 10)?,
        lease_owner: get(row, 11)?,
        lease_expires: get(row, 12)?,
        fence: get(row, 13)?,
        recoveries: count(get(row, 14)?),
        last_error: get(row, 15)?,
        result: result.map(|r| serde_json::from_str(&r).unwrap_or(Value::String(r))),
        created_at: get(row, 17)?,
        updated_at: get(row, 18)?,
        error_code: get(row, 19)?,
        run_id: get(row, 20)?,
    })
}

/// A stored kind name; an unknown one is an error naming it.
pub fn parse_kind(text: &str) -> Result<JobKind> {
    JobKind::parse(text).with_context(|| format!("unknown job kind `{text}` in the store"))
}

/// The job with key `key`.
pub fn job(conn: &mut Conn, key: &str) -> Result<Option<Job>> {
    conn.opt(
        concat!("SELECT ", job_columns!(), " FROM jobs WHERE key = $1"),
        &[&key],
    )?
    .as_ref()
    .map(job_from_row)
    .transpose()
}

/// Jobs of one state (or all), most recently changed first.
pub fn list(conn: &mut Conn, state: Option<JobState>, limit: usize) -> Result<Vec<Job>> {
    let state = state.map(JobState::as_str);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    conn.query(
        concat!(
            "SELECT ",
            job_columns!(),
            " FROM jobs WHERE ($1::text IS NULL OR state = $1)
              ORDER BY updated_at DESC, id DESC LIMIT $2"
        ),
        &[&state, &limit],
    )?
    .iter()
    .map(job_from_row)
    .collect()
}

/// A job's attempts, read back from its ledger events: each `running` event opens one, the
/// next outcome event (`done`, `failed`, `retry`, `snoozed`, `released`, ...) closes it.
pub fn attempts(conn: &mut Conn, job_id: i64) -> Result<Vec<Attempt>> {
    let rows = conn.query(
        "SELECT at, event, data FROM events WHERE job_id = $1 ORDER BY id",
        &[&job_id],
    )?;
    let mut attempts: Vec<Attempt> = Vec::new();
    for row in &rows {
        let at: i64 = get(row, 0)?;
        let event: String = get(row, 1)?;
        let data: String = get(row, 2)?;
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

/// The last `limit` ledger lines of one job, oldest first.
pub fn job_events(conn: &mut Conn, job_id: i64, limit: usize) -> Result<Vec<Value>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    conn.query(
        "SELECT data FROM (SELECT id, data FROM events WHERE job_id = $1
                           ORDER BY id DESC LIMIT $2) e
         ORDER BY id",
        &[&job_id, &limit],
    )?
    .iter()
    .map(|row| {
        let text: String = get(row, 0)?;
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    })
    .collect()
}

/// Requeues failed jobs: all, or with `max_attempts`, those that made fewer attempts than
/// that (and may now make up to that many). Returns the keys, in id order.
pub fn retry_failed(
    tx: &mut Tx<'_>,
    max_attempts: Option<u32>,
    dry_run: bool,
) -> Result<Vec<String>> {
    let max = max_attempts.map(i64::from);
    if dry_run {
        return tx
            .conn
            .query(
                "SELECT key FROM jobs WHERE state = 'failed' AND ($1::bigint IS NULL OR attempts < $1)
                 ORDER BY id",
                &[&max],
            )?
            .iter()
            .map(|row| get(row, 0))
            .collect();
    }
    let rows = tx.conn.query(
        "UPDATE jobs SET state = 'queued', run_after = 0, wait_reason = 'retried by hand',
                recoveries = 0, max_attempts = COALESCE($1::bigint, attempts + max_attempts),
                updated_at = $2
         WHERE state = 'failed' AND ($1::bigint IS NULL OR attempts < $1)
         RETURNING id, key",
        &[&max, &tx.now],
    )?;
    let retried = journal_rows(tx, &rows, "retry", &json!({"by": "retry-failed"}))?;
    tx.notify |= !retried.is_empty();
    Ok(retried.into_iter().map(|(_, key)| key).collect())
}

/// Retries one failed or cancelled job by hand (one statement); returns its state before,
/// or `None` if unknown.
pub fn retry(tx: &mut Tx<'_>, key: &str) -> Result<Option<JobState>> {
    let Some(row) = tx.conn.opt(
        "WITH old AS (SELECT id, state FROM jobs WHERE key = $1 FOR UPDATE),
              again AS (UPDATE jobs SET state = 'queued', run_after = 0,
                               wait_reason = 'retried by hand', recoveries = 0,
                               max_attempts = jobs.attempts + jobs.max_attempts, updated_at = $2
                        FROM old
                        WHERE jobs.id = old.id AND old.state IN ('failed', 'cancelled'))
         SELECT id, state FROM old",
        &[&key, &tx.now],
    )?
    else {
        return Ok(None);
    };
    let id: i64 = get(&row, 0)?;
    let text: String = get(&row, 1)?;
    let state = JobState::parse(&text).context("unknown state in the store")?;
    if matches!(state, JobState::Failed | JobState::Cancelled) {
        tx.events.push(Event::job(
            tx.now,
            id,
            key,
            "retry",
            json!({"by": "hand", "was": state.as_str()}),
        ));
        tx.notify = true;
    }
    Ok(Some(state))
}

/// Cancels a job that has not ended (one statement); returns its state before, or `None`
/// if unknown.
pub fn cancel(tx: &mut Tx<'_>, key: &str) -> Result<Option<JobState>> {
    let Some(row) = tx.conn.opt(
        "WITH old AS (SELECT id, state FROM jobs WHERE key = $1 FOR UPDATE),
              gone AS (UPDATE jobs SET state = 'cancelled', lease_owner = NULL,
                              lease_expires = NULL, wait_reason = NULL, updated_at = $2
                       FROM old
                       WHERE jobs.id = old.id AND old.state IN ('blocked', 'queued', 'running'))
         SELECT id, state FROM old",
        &[&key, &tx.now],
    )?
    else {
        return Ok(None);
    };
    let id: i64 = get(&row, 0)?;
    let state: String = get(&row, 1)?;
    let state = JobState::parse(&state)
        .with_context(|| format!("job {key} has an unknown state `{state}` in the store"))?;
    if !state.is_final() {
        tx.events.push(Event::job(
            tx.now,
            id,
            key,
            "cancelled",
            json!({"was": state.as_str()}),
        ));
    }
    Ok(Some(state))
}

/// Whether jobs of `run` (or of no run) are open, and when the earliest queued one is due.
pub fn pending(tx: &mut Tx<'_>, run: Option<&str>) -> Result<Pending> {
    let row = match run {
        // Every part reads a partial index, whatever the statistics say: the earliest due
        // queued job (`jobs_due`: an empty queue answers at once, where `EXISTS` over
        // `queued` may scan the whole table on stale statistics), then any running or
        // blocked one.
        None => tx.conn.one(
            "WITH due AS (SELECT min(run_after) AS at FROM jobs
                          WHERE state = 'queued' AND run_id IS NULL)
             SELECT (SELECT at FROM due) IS NOT NULL
                 OR EXISTS (SELECT 1 FROM jobs WHERE state = 'running' AND run_id IS NULL)
                 OR EXISTS (SELECT 1 FROM jobs WHERE state = 'blocked' AND run_id IS NULL),
                    (SELECT at FROM due)",
            &[],
        )?,
        Some(run) => tx.conn.one(
            "SELECT EXISTS (SELECT 1 FROM jobs
                            WHERE run_id = $1 AND state IN ('queued', 'running', 'blocked')),
                    (SELECT min(run_after) FROM jobs WHERE state = 'queued' AND run_id = $1)",
            &[&run],
        )?,
    };
    Ok(Pending {
        open: get(&row, 0)?,
        next_due: get(&row, 1)?,
    })
}

/// Owners holding running leases.
pub fn lease_owners(conn: &mut Conn) -> Result<Vec<String>> {
    conn.query(
        "SELECT DISTINCT lease_owner FROM jobs
         WHERE state = 'running' AND lease_owner IS NOT NULL ORDER BY lease_owner",
        &[],
    )?
    .iter()
    .map(|row| get(row, 0))
    .collect()
}
