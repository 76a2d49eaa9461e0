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
pub fn import<'a>(tx: &Transaction<'_>, table: &str, rows: &'a [Row]) -> Result<usize> {
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
    if table == "jobs" {
        let text = |row: &'a Row, column: &str| row.get(column).and_then(Value::as_str);
        crate::counts::add_inserted(
            tx,
            rows.iter()
                .filter_map(|row| Some((text(row, "kind")?, text(row, "state")?))),
        )?;
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

#[cfg(test)]
mod tests {
    use crate::SqliteStore;
    use baton_core::model::{JobKind, NewJob};
    use baton_core::store::{Row, StoreRead, commit};

    /// Jobs copied in by `store migrate` show in the dashboards' counts like enqueued ones.
    #[test]
    fn imported_jobs_are_counted() {
        let dir = tempfile::tempdir().unwrap();
        let open = |name: &str| {
            SqliteStore::open(&dir.path().join(name), &dir.path().join("ledger")).unwrap()
        };
        let (mut from, mut to) = (open("from.db"), open("to.db"));
        let jobs: Vec<NewJob> = (0..3)
            .map(|i| NewJob {
                key: format!("k{i}"),
                kind: JobKind::Resolve,
                plugin: None,
                payload: "{}".into(),
                priority: 0,
                max_attempts: 1,
            })
            .collect();
        commit(&mut from, 1, |tx| tx.enqueue(&jobs, false)).unwrap();
        let mut rows: Vec<Row> = Vec::new();
        from.export("jobs", &mut |row| {
            rows.push(row);
            Ok(())
        })
        .unwrap();
        commit(&mut to, 2, |tx| tx.import("jobs", &rows)).unwrap();
        let counts = to.overview(3, "1970-01-01", 10).unwrap().counts;
        assert_eq!(counts.len(), 1, "{counts:?}");
        assert_eq!(
            (
                counts[0].kind.as_str(),
                counts[0].state.as_str(),
                counts[0].jobs
            ),
            ("resolve", "queued", 3)
        );
    }
}
