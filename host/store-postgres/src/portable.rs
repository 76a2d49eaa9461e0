//! Rows in and out for `baton store migrate`: every row of a portable table as a JSON object
//! by column name (`row_to_json`: `bytea` as `\x` and hex digits), and such objects inserted
//! back in one statement per batch (`json_populate_recordset`), keeping their ids, after
//! which the id sequences continue past them. Events without an origin (from a SQLite
//! store) are recorded as this host's. Every statement is written out per table: no table
//! name comes from input.

use crate::connect::{Conn, get};
use crate::tx::Tx;
use anyhow::{Context, Result, anyhow};
use baton_core::store::Row;

/// Streams the rows of `table`, in primary key order.
pub fn export(conn: &mut Conn, table: &str, row: &mut dyn FnMut(Row) -> Result<()>) -> Result<u64> {
    let sql = match table {
        "jobs" => "SELECT row_to_json(t)::text FROM jobs t ORDER BY id",
        "job_deps" => "SELECT row_to_json(t)::text FROM job_deps t ORDER BY job_id, dep_id",
        "runs" => "SELECT row_to_json(t)::text FROM runs t ORDER BY id",
        "stage_cache" => "SELECT row_to_json(t)::text FROM stage_cache t ORDER BY pipeline, stage",
        "artifacts" => "SELECT row_to_json(t)::text FROM artifacts t ORDER BY key",
        "quotas" => "SELECT row_to_json(t)::text FROM quotas t ORDER BY key, day",
        "counters" => "SELECT row_to_json(t)::text FROM counters t ORDER BY name",
        "plugin_state" => "SELECT row_to_json(t)::text FROM plugin_state t ORDER BY plugin, key",
        "events" => "SELECT row_to_json(t)::text FROM events t ORDER BY id",
        other => {
            return Err(anyhow!(
                "`{other}` is not a table Baton copies between stores"
            ));
        }
    };
    let rows = conn.query(sql, &[])?;
    for found in &rows {
        let text: String = get(found, 0)?;
        let object: Row = serde_json::from_str(&text)
            .with_context(|| format!("a row of {table} is not a JSON object"))?;
        row(object)?;
    }
    Ok(rows.len() as u64)
}

/// Inserts `rows` into `table` keeping their ids; events lacking an origin get `origin`.
pub fn import(tx: &mut Tx<'_>, table: &str, rows: &[Row], origin: &str) -> Result<usize> {
    if rows.is_empty() {
        return Ok(0);
    }
    let json = serde_json::to_string(rows)?;
    let changed = match table {
        "jobs" => {
            tx.conn.exec(
                "INSERT INTO jobs OVERRIDING SYSTEM VALUE
                 SELECT * FROM json_populate_recordset(NULL::jobs, $1::text::json)",
                &[&json],
            )?;
            tx.conn.exec(
                "SELECT setval(pg_get_serial_sequence('jobs', 'id'),
                               (SELECT COALESCE(MAX(id), 1) FROM jobs))",
                &[],
            )?
        }
        "job_deps" => tx.conn.exec(
            "INSERT INTO job_deps SELECT * FROM json_populate_recordset(NULL::job_deps, $1::text::json)",
            &[&json],
        )?,
        "runs" => tx.conn.exec(
            "INSERT INTO runs SELECT * FROM json_populate_recordset(NULL::runs, $1::text::json)",
            &[&json],
        )?,
        "stage_cache" => tx.conn.exec(
            "INSERT INTO stage_cache
             SELECT * FROM json_populate_recordset(NULL::stage_cache, $1::text::json)",
            &[&json],
        )?,
        "artifacts" => tx.conn.exec(
            "INSERT INTO artifacts
             SELECT * FROM json_populate_recordset(NULL::artifacts, $1::text::json)",
            &[&json],
        )?,
        "quotas" => tx.conn.exec(
            "INSERT INTO quotas SELECT * FROM json_populate_recordset(NULL::quotas, $1::text::json)",
            &[&json],
        )?,
        "counters" => tx.conn.exec(
            "INSERT INTO counters
             SELECT * FROM json_populate_recordset(NULL::counters, $1::text::json)",
            &[&json],
        )?,
        "plugin_state" => tx.conn.exec(
            "INSERT INTO plugin_state
             SELECT * FROM json_populate_recordset(NULL::plugin_state, $1::text::json)",
            &[&json],
        )?,
        "events" => {
            tx.conn.exec(
                "INSERT INTO events (id, at, job_id, event, data, origin) OVERRIDING SYSTEM VALUE
                 SELECT id, at, job_id, event, data, COALESCE(origin, $2)
                 FROM json_populate_recordset(NULL::events, $1::text::json)",
                &[&json, &origin],
            )?;
            tx.conn.exec(
                "SELECT setval(pg_get_serial_sequence('events', 'id'),
                               (SELECT COALESCE(MAX(id), 1) FROM events))",
                &[],
            )?
        }
        other => return Err(anyhow!("`{other}` is not a table Baton copies between stores")),
    };
    let _ = changed;
    Ok(rows.len())
}
