//! Pipeline runs and the stage cache on SQLite: the `runs` rows (recorded with a run's jobs
//! in `queue::start_run`), how a run ended, its job keys, and each stage's last success.

use anyhow::{Context, Result};
use baton_core::store::{OpenRun, RunRecord, RunState, StageRecord};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use std::collections::HashMap;

/// Records how run `run_id` ended at `now`.
pub fn finish_run(tx: &Transaction<'_>, run_id: &str, state: RunState, now: i64) -> Result<()> {
    tx.prepare_cached("UPDATE runs SET finished_at = ?2, state = ?3 WHERE id = ?1")?
        .execute(params![run_id, now, state.as_str()])?;
    Ok(())
}

/// The run `run_id`.
pub fn run(conn: &Connection, run_id: &str) -> Result<Option<RunRecord>> {
    type Row = (
        String,
        String,
        i64,
        Option<i64>,
        String,
        String,
        Option<String>,
    );
    let row: Option<Row> = conn
        .query_row(
            "SELECT id, pipeline, started_at, finished_at, state, options, owner
             FROM runs WHERE id = ?1",
            params![run_id],
            |r| r.try_into(),
        )
        .optional()?;
    let Some((id, pipeline, started_at, finished_at, state, options, owner)) = row else {
        return Ok(None);
    };
    Ok(Some(RunRecord {
        id,
        pipeline,
        started_at,
        finished_at,
        state: RunState::parse(&state)
            .with_context(|| format!("run {run_id} has an unknown state `{state}`"))?,
        options: serde_json::from_str(&options).unwrap_or(serde_json::Value::Null),
        owner,
    }))
}

/// Runs not finished, oldest first, with their unfinished jobs counted.
pub fn open_runs(conn: &Connection) -> Result<Vec<OpenRun>> {
    let mut stmt = conn.prepare_cached(
        "SELECT r.id, r.pipeline, r.owner, r.started_at,
                (SELECT COUNT(*) FROM jobs j WHERE j.run_id = r.id
                   AND j.state IN ('queued', 'running', 'blocked'))
         FROM runs r WHERE r.state = 'running' ORDER BY r.started_at, r.id",
    )?;
    let runs = stmt
        .query_map([], |r| {
            Ok(OpenRun {
                id: r.get(0)?,
                pipeline: r.get(1)?,
                owner: r.get(2)?,
                started_at: r.get(3)?,
                unfinished: r.get(4)?,
                state: "running",
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(runs)
}

/// The keys of run `run_id`'s jobs.
pub fn run_job_keys(conn: &Connection, run_id: &str) -> Result<Vec<String>> {
    let mut stmt = conn.prepare_cached("SELECT key FROM jobs WHERE run_id = ?1 ORDER BY id")?;
    let keys = stmt
        .query_map(params![run_id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(keys)
}

/// The last success of a pipeline's stage.
pub fn last_stage(conn: &Connection, pipeline: &str, stage: &str) -> Result<Option<StageRecord>> {
    conn.prepare_cached(
        "SELECT stage, key, definition, plugin, inputs, outputs, run_id FROM stage_cache
         WHERE pipeline = ?1 AND stage = ?2",
    )?
    .query_row(params![pipeline, stage], |r| r.try_into())
    .optional()?
    .map(|row| stage_record(pipeline, row))
    .transpose()
}

/// The last success of every stage of a pipeline, by stage id.
pub fn last_stages(conn: &Connection, pipeline: &str) -> Result<HashMap<String, StageRecord>> {
    let mut stmt = conn.prepare_cached(
        "SELECT stage, key, definition, plugin, inputs, outputs, run_id FROM stage_cache
         WHERE pipeline = ?1",
    )?;
    let rows = stmt.query_map(params![pipeline], |r| r.try_into())?;
    let mut records = HashMap::new();
    for row in rows {
        let record = stage_record(pipeline, row?)?;
        records.insert(record.stage.clone(), record);
    }
    Ok(records)
}

/// A `stage_cache` row: stage, key, definition, plugin, inputs and outputs (JSON), run id.
type StageRow = (String, String, String, String, String, String, String);

fn stage_record(pipeline: &str, row: StageRow) -> Result<StageRecord> {
    let (stage, key, definition, plugin, inputs, outputs, run_id) = row;
    let corrupt = || format!("the stage cache of {pipeline}/{stage} is corrupt");
    Ok(StageRecord {
        pipeline: pipeline.to_string(),
        key,
        definition,
        plugin,
        inputs: serde_json::from_str(&inputs).with_context(corrupt)?,
        outputs: serde_json::from_str(&outputs).with_context(corrupt)?,
        run_id,
        stage,
    })
}

/// Records (replaces) a stage's last success.
pub fn record_stage(tx: &Transaction<'_>, record: &StageRecord, now: i64) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO stage_cache (pipeline, stage, key, definition, plugin, inputs, outputs, run_id, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (pipeline, stage) DO UPDATE SET key = excluded.key,
             definition = excluded.definition, plugin = excluded.plugin, inputs = excluded.inputs,
             outputs = excluded.outputs, run_id = excluded.run_id, at = excluded.at",
    )?
    .execute(params![
        record.pipeline,
        record.stage,
        record.key,
        record.definition,
        record.plugin,
        serde_json::to_string(&record.inputs)?,
        serde_json::to_string(&record.outputs)?,
        record.run_id,
        now
    ])?;
    Ok(())
}
