//! Pipeline runs and the stage cache on PostgreSQL: recording a run with its jobs and their
//! dependencies (a few set-based statements for the whole run), resuming, stopping and
//! finishing it, its reads, and each stage's last success.

use crate::connect::{Conn, get};
use crate::tx::Tx;
use anyhow::{Context, Result};
use baton_core::event::Event;
use baton_core::model::NewJob;
use baton_core::store::{OpenRun, RunRecord, RunState, StageRecord};
use serde_json::json;
use std::collections::HashMap;

/// Records a run and inserts its jobs (those with dependencies `blocked`) and their
/// dependencies; a key already in the store is an error and nothing is recorded.
pub fn start_run(tx: &mut Tx<'_>, run: &RunRecord, jobs: &[(NewJob, Vec<usize>)]) -> Result<()> {
    let run_id = run.id.as_str();
    let options = run.options.to_string();
    tx.conn
        .exec(
            "INSERT INTO runs (id, pipeline, started_at, state, options, owner)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &run.id,
                &run.pipeline,
                &run.started_at,
                &run.state.as_str(),
                &options,
                &run.owner,
            ],
        )
        .with_context(|| format!("cannot record run {run_id}"))?;
    tx.events.push(Event::general(
        tx.now,
        "run-started",
        json!({"run": run_id, "pipeline": run.pipeline, "stages": jobs.len()}),
    ));
    if jobs.is_empty() {
        return Ok(());
    }
    let keys: Vec<&str> = jobs.iter().map(|(j, _)| j.key.as_str()).collect();
    let kinds: Vec<&str> = jobs.iter().map(|(j, _)| j.kind.as_str()).collect();
    let plugins: Vec<Option<&str>> = jobs.iter().map(|(j, _)| j.plugin.as_deref()).collect();
    let payloads: Vec<&str> = jobs.iter().map(|(j, _)| j.payload.as_str()).collect();
    let priorities: Vec<i64> = jobs.iter().map(|(j, _)| j.priority).collect();
    let max_attempts: Vec<i64> = jobs
        .iter()
        .map(|(j, _)| i64::from(j.max_attempts))
        .collect();
    let states: Vec<&str> = jobs
        .iter()
        .map(|(_, deps)| if deps.is_empty() { "queued" } else { "blocked" })
        .collect();
    let rows = tx
        .conn
        .query(
            "INSERT INTO jobs (key, kind, plugin, payload, priority, state, max_attempts,
                               run_after, created_at, updated_at, run_id)
             SELECT u.key, u.kind, u.plugin, u.payload, u.priority, u.state, u.max_attempts, 0,
                    $8, $8, $9
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[],
                         $6::text[], $7::bigint[])
                  WITH ORDINALITY AS u(key, kind, plugin, payload, priority, state, max_attempts,
                                       ord)
             ORDER BY u.ord
             RETURNING id, key",
            &[
                &keys,
                &kinds,
                &plugins,
                &payloads,
                &priorities,
                &states,
                &max_attempts,
                &tx.now,
                &run_id,
            ],
        )
        .with_context(|| format!("cannot enqueue the jobs of run {run_id}"))?;
    let mut by_key: HashMap<String, i64> = HashMap::with_capacity(rows.len());
    for row in &rows {
        by_key.insert(get(row, 1)?, get(row, 0)?);
    }
    let mut ids = Vec::with_capacity(jobs.len());
    for (job, _) in jobs {
        let id = *by_key
            .get(&job.key)
            .with_context(|| format!("the store did not insert job {}", job.key))?;
        ids.push(id);
        tx.events.push(Event::job(
            tx.now,
            id,
            &job.key,
            "enqueued",
            json!({"run": run_id}),
        ));
    }
    let (mut from, mut to) = (Vec::new(), Vec::new());
    for ((_, deps), id) in jobs.iter().zip(&ids) {
        for &d in deps {
            let dep = *ids
                .get(d)
                .with_context(|| format!("run {run_id}: dependency {d} is not one of its jobs"))?;
            from.push(*id);
            to.push(dep);
        }
    }
    if !from.is_empty() {
        tx.conn.exec(
            "INSERT INTO job_deps (job_id, dep_id)
             SELECT * FROM UNNEST($1::bigint[], $2::bigint[]) ON CONFLICT DO NOTHING",
            &[&from, &to],
        )?;
    }
    tx.notify |= states.contains(&"queued");
    Ok(())
}

/// Requeues a run's unfinished jobs (running ones only when their owner is dead or their
/// lease expired); the run is running again, owned by `owner`. Returns how many.
pub fn resume_run(
    tx: &mut Tx<'_>,
    run_id: &str,
    dead_owners: &[String],
    owner: &str,
) -> Result<usize> {
    tx.conn.exec(
        "UPDATE runs SET owner = $2, state = 'running', finished_at = NULL WHERE id = $1",
        &[&run_id, &owner],
    )?;
    let rows = tx.conn.query(
        "SELECT id, key, state, lease_owner, lease_expires FROM jobs
         WHERE run_id = $1 AND state <> 'done' ORDER BY id FOR UPDATE",
        &[&run_id],
    )?;
    let mut resumed = Vec::new();
    for row in &rows {
        let state: String = get(row, 2)?;
        let lease_owner: Option<String> = get(row, 3)?;
        let expires: Option<i64> = get(row, 4)?;
        let lost = lease_owner
            .as_ref()
            .is_some_and(|o| dead_owners.contains(o))
            || expires.is_some_and(|e| e < tx.now);
        if state == "running" && !lost {
            continue;
        }
        resumed.push((get::<i64>(row, 0)?, get::<String>(row, 1)?));
    }
    if resumed.is_empty() {
        return Ok(0);
    }
    let ids: Vec<i64> = resumed.iter().map(|r| r.0).collect();
    tx.conn.exec(
        "UPDATE jobs SET state = 'queued', attempts = 0, recoveries = 0, run_after = 0,
                last_error = NULL, wait_reason = 'resumed', lease_owner = NULL,
                lease_expires = NULL, fence = fence + 1, updated_at = $2
         WHERE id = ANY($1)",
        &[&ids, &tx.now],
    )?;
    for (id, key) in &resumed {
        tx.events.push(Event::job(
            tx.now,
            *id,
            key,
            "resumed",
            json!({"run": run_id}),
        ));
    }
    // Jobs whose dependencies are not done wait again.
    tx.conn.exec(
        "UPDATE jobs SET state = 'blocked' WHERE run_id = $1 AND state = 'queued'
           AND EXISTS (SELECT 1 FROM job_deps d JOIN jobs dj ON dj.id = d.dep_id
                       WHERE d.job_id = jobs.id AND dj.state NOT IN ('done', 'skipped'))",
        &[&run_id],
    )?;
    tx.notify = true;
    Ok(resumed.len())
}

/// Cancels the queued and blocked jobs of a run (locked in id order); returns how many.
pub fn cancel_run(tx: &mut Tx<'_>, run_id: &str, reason: &str) -> Result<usize> {
    let rows = tx.conn.query(
        "UPDATE jobs SET state = 'cancelled', last_error = $2, wait_reason = NULL, updated_at = $3
         WHERE id IN (SELECT id FROM jobs WHERE run_id = $1 AND state IN ('queued', 'blocked')
                      ORDER BY id FOR UPDATE)
           AND state IN ('queued', 'blocked')
         RETURNING id, key",
        &[&run_id, &reason, &tx.now],
    )?;
    let cancelled = crate::queue::journal_rows(tx, &rows, "cancelled", &json!({"reason": reason}))?;
    Ok(cancelled.len())
}

/// Records how run `run_id` ended.
pub fn finish_run(tx: &mut Tx<'_>, run_id: &str, state: RunState) -> Result<()> {
    tx.conn.exec(
        "UPDATE runs SET finished_at = $2, state = $3 WHERE id = $1",
        &[&run_id, &tx.now, &state.as_str()],
    )?;
    tx.events.push(Event::general(
        tx.now,
        "run-finished",
        json!({"run": run_id, "state": state.as_str()}),
    ));
    Ok(())
}

/// The run `run_id`.
pub fn run(conn: &mut Conn, run_id: &str) -> Result<Option<RunRecord>> {
    let Some(row) = conn.opt(
        "SELECT id, pipeline, started_at, finished_at, state, options, owner
         FROM runs WHERE id = $1",
        &[&run_id],
    )?
    else {
        return Ok(None);
    };
    let state: String = get(&row, 4)?;
    let options: String = get(&row, 5)?;
    Ok(Some(RunRecord {
        id: get(&row, 0)?,
        pipeline: get(&row, 1)?,
        started_at: get(&row, 2)?,
        finished_at: get(&row, 3)?,
        state: RunState::parse(&state)
            .with_context(|| format!("run {run_id} has an unknown state `{state}`"))?,
        options: serde_json::from_str(&options).unwrap_or(serde_json::Value::Null),
        owner: get(&row, 6)?,
    }))
}

/// Runs not finished, oldest first, with their unfinished jobs counted.
pub fn open_runs(conn: &mut Conn) -> Result<Vec<OpenRun>> {
    conn.query(
        "SELECT r.id, r.pipeline, r.owner, r.started_at,
                (SELECT count(*) FROM jobs j WHERE j.run_id = r.id
                   AND j.state IN ('queued', 'running', 'blocked'))
         FROM runs r WHERE r.state = 'running' ORDER BY r.started_at, r.id",
        &[],
    )?
    .iter()
    .map(|row| {
        Ok(OpenRun {
            id: get(row, 0)?,
            pipeline: get(row, 1)?,
            owner: get(row, 2)?,
            started_at: get(row, 3)?,
            unfinished: get(row, 4)?,
            state: "running",
        })
    })
    .collect()
}

/// The keys of run `run_id`'s jobs.
pub fn run_job_keys(conn: &mut Conn, run_id: &str) -> Result<Vec<String>> {
    conn.query(
        "SELECT key FROM jobs WHERE run_id = $1 ORDER BY id",
        &[&run_id],
    )?
    .iter()
    .map(|row| get(row, 0))
    .collect()
}

/// The last success of a pipeline's stage.
pub fn last_stage(conn: &mut Conn, pipeline: &str, stage: &str) -> Result<Option<StageRecord>> {
    conn.opt(
        "SELECT stage, key, definition, plugin, inputs, outputs, run_id FROM stage_cache
         WHERE pipeline = $1 AND stage = $2",
        &[&pipeline, &stage],
    )?
    .map(|row| stage_record(pipeline, &row))
    .transpose()
}

/// The last success of every stage of a pipeline, by stage id.
pub fn last_stages(conn: &mut Conn, pipeline: &str) -> Result<HashMap<String, StageRecord>> {
    conn.query(
        "SELECT stage, key, definition, plugin, inputs, outputs, run_id FROM stage_cache
         WHERE pipeline = $1",
        &[&pipeline],
    )?
    .iter()
    .map(|row| stage_record(pipeline, row).map(|record| (record.stage.clone(), record)))
    .collect()
}

/// A `stage_cache` row (stage, key, definition, plugin, inputs, outputs, run id) as a record.
fn stage_record(pipeline: &str, row: &postgres::Row) -> Result<StageRecord> {
    let stage: String = get(row, 0)?;
    let corrupt = || format!("the stage cache of {pipeline}/{stage} is corrupt");
    let inputs: String = get(row, 4)?;
    let outputs: String = get(row, 5)?;
    Ok(StageRecord {
        pipeline: pipeline.to_string(),
        key: get(row, 1)?,
        definition: get(row, 2)?,
        plugin: get(row, 3)?,
        inputs: serde_json::from_str(&inputs).with_context(corrupt)?,
        outputs: serde_json::from_str(&outputs).with_context(corrupt)?,
        run_id: get(row, 6)?,
        stage,
    })
}

/// Records (replaces) a stage's last success.
pub fn record_stage(tx: &mut Tx<'_>, record: &StageRecord) -> Result<()> {
    let inputs = serde_json::to_string(&record.inputs)?;
    let outputs = serde_json::to_string(&record.outputs)?;
    tx.conn.exec(
        "INSERT INTO stage_cache (pipeline, stage, key, definition, plugin, inputs, outputs,
                                  run_id, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (pipeline, stage) DO UPDATE SET key = excluded.key,
             definition = excluded.definition, plugin = excluded.plugin,
             inputs = excluded.inputs, outputs = excluded.outputs, run_id = excluded.run_id,
             at = excluded.at",
        &[
            &record.pipeline,
            &record.stage,
            &record.key,
            &record.definition,
            &record.plugin,
            &inputs,
            &outputs,
            &record.run_id,
            &tx.now,
        ],
    )?;
    Ok(())
}
