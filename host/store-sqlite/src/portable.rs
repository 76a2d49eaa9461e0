//! Rows in and out for `baton store migrate`: every row of a portable table as a JSON object
//! by column name (integers and reals as numbers, text as strings, blobs as `\x` and hex
//! digits, the form PostgreSQL's `bytea` reads), and the same objects inserted back with
//! their ids. Table names come from `PORTABLE_TABLES` only, never from input.

use anyhow::{Result, anyhow, bail};
use baton_core::store::{PORTABLE_TABLES, Row};
use rusqlite::types::{Value as Sql, ValueRef};
use rusqlite::{Connection, Transaction};
use serde_json::Value;

/// The table, if it is one of the portable ones.
fn portable(table: &str) -> Result<&'static str> {
    PORTABLE_TABLES
        .iter()
        .find(|t| **t == table)
        .copied()
        .ok_or_else(|| anyhow!("`{table}` is not a table Baton copies between stores"))
}

/// Streams the rows of `table`, oldest first.
pub fn export(
    conn: &Connection,
    table: &str,
    row: &mut dyn FnMut(Row) -> Result<()>,
) -> Result<u64> {
    let table = portable(table)?;
    let mut stmt = conn
        .prepare(&format!("SELECT * FROM {table} ORDER BY rowid"))
        .or_else(|_| conn.prepare(&format!("SELECT * FROM {table}")))?;
    let names: Vec<String> = stmt.column_names().iter().map(|n| n.to_string()).collect();
    let mut rows = stmt.query([])?;
    let mut count = 0;
    while let Some(found) = rows.next()? {
        let mut object = Row::new();
        for (i, name) in names.iter().enumerate() {
            let value = match found.get_ref(i)? {
                ValueRef::Null => Value::Null,
                ValueRef::Integer(n) => Value::from(n),
                ValueRef::Real(x) => Value::from(x),
                ValueRef::Text(text) => Value::from(String::from_utf8_lossy(text).into_owned()),
                ValueRef::Blob(bytes) => Value::from(format!("\\x{}", hex::encode(bytes))),
            };
            object.insert(name.clone(), value);
        }
        row(object)?;
        count += 1;
    }
    Ok(count)
}

/// The columns of `table` and whether each holds blobs.
fn columns(tx: &Transaction<'_>, table: &str) -> Result<Vec<(String, bool)>> {
    let mut stmt = tx.prepare(&format!("PRAGMA table_info({table})"))?;
    let columns = stmt
        .query_map([], |r| {
            let name: String = r.get(1)?;
            let kind: String = r.get(2)?;
            Ok((name, kind.eq_ignore_ascii_case("BLOB")))
        })?
        .collect::<Result<_, _>>()?;
    Ok(columns)
}

/// Inserts `rows` into `table`, keeping their ids.
pub fn import(tx: &Transaction<'_>, table: &str, rows: &[Row]) -> Result<usize> {
    let table = portable(table)?;
    let columns = columns(tx, table)?;
    let names: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
    let marks = vec!["?"; names.len()].join(", ");
    let mut stmt = tx.prepare(&format!(
        "INSERT INTO {table} ({}) VALUES ({marks})",
        names.join(", ")
    ))?;
    for row in rows {
        let values = columns
            .iter()
            .map(|(name, blob)| sql(row.get(name).unwrap_or(&Value::Null), *blob))
            .collect::<Result<Vec<Sql>>>()
            .map_err(|e| anyhow!("{table}: {e}"))?;
        stmt.execute(rusqlite::params_from_iter(values))?;
    }
    Ok(rows.len())
}

fn sql(value: &Value, blob: bool) -> Result<Sql> {
    Ok(match value {
        Value::Null => Sql::Null,
        Value::Bool(b) => Sql::Integer(i64::from(*b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Sql::Integer(i),
            None => Sql::Real(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(text) if blob => {
            let digits = text
                .strip_prefix("\\x")
                .ok_or_else(|| anyhow!("a binary value must be \\x and hex digits"))?;
            Sql::Blob(hex::decode(digits).map_err(|e| anyhow!("a binary value: {e}"))?)
        }
        Value::String(text) => Sql::Text(text.clone()),
        other => bail!("unexpected value {other}"),
    })
}
