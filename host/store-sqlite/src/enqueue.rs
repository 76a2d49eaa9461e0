//! Inserting new jobs: multi-row `INSERT OR IGNORE … RETURNING`, so one statement opens the
//! jobs table and its eleven indexes once for many jobs (a statement per job opened them per
//! job: a third of a bulk import's time), and the inserted jobs are counted once per batch.
//!
//! `OR IGNORE` skips a row whose key is already there, as `ON CONFLICT (key) DO NOTHING`
//! would; the table's other constraints are `NOT NULL` ones, which the bound values always
//! meet. Unlike `ON CONFLICT`, it lets no row abort the statement, so SQLite keeps no
//! statement journal (a copy of every page the statement changes) for it.

use anyhow::Result;
use baton_core::model::NewJob;
use rusqlite::types::ToSql;
use rusqlite::{Transaction, params_from_iter};
use std::collections::HashMap;
use std::sync::LazyLock;

/// Jobs per statement. 64 rows bind 385 parameters, far below SQLite's limit of 32,766;
/// larger statements gain nothing measurable.
const ROWS_PER_STATEMENT: usize = 64;

/// Values bound per job (`?1` is the time, shared by all).
const COLUMNS: usize = 6;

/// Inserts jobs as `queued` at `now` (Unix milliseconds); returns for each its new id, or
/// `None` when its key is already in the queue (that job is unchanged) or earlier in `jobs`.
pub fn enqueue(tx: &Transaction<'_>, jobs: &[NewJob], now: i64) -> Result<Vec<Option<i64>>> {
    let mut inserted = Vec::with_capacity(jobs.len());
    for chunk in jobs.chunks(ROWS_PER_STATEMENT) {
        let mut stmt = if chunk.len() == ROWS_PER_STATEMENT {
            static FULL: LazyLock<String> = LazyLock::new(|| insert_sql(ROWS_PER_STATEMENT));
            tx.prepare_cached(&FULL)?
        } else {
            tx.prepare_cached(&insert_sql(chunk.len()))?
        };
        let kinds: Vec<&str> = chunk.iter().map(|job| job.kind.as_str()).collect();
        let mut values: Vec<&dyn ToSql> = Vec::with_capacity(1 + COLUMNS * chunk.len());
        values.push(&now);
        for (job, kind) in chunk.iter().zip(&kinds) {
            values.extend([
                &job.key as &dyn ToSql,
                kind,
                &job.plugin,
                &job.payload,
                &job.priority,
                &job.max_attempts,
            ]);
        }
        // RETURNING gives the inserted rows in no promised order: match them by key.
        let mut ids: HashMap<String, i64> = HashMap::with_capacity(chunk.len());
        let mut rows = stmt.query(params_from_iter(values))?;
        while let Some(row) = rows.next()? {
            ids.insert(row.get(1)?, row.get(0)?);
        }
        // A key twice in one statement is inserted once, for its first job.
        inserted.extend(chunk.iter().map(|job| ids.remove(&job.key)));
    }
    crate::counts::add_inserted(
        tx,
        jobs.iter()
            .zip(&inserted)
            .filter(|(_, id)| id.is_some())
            .map(|(job, _)| (job.kind.as_str(), "queued")),
    )?;
    Ok(inserted)
}

/// The statement inserting `rows` jobs: row `r` binds `?(2 + 6r)` to `?(7 + 6r)`.
fn insert_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT OR IGNORE INTO jobs (key, kind, plugin, payload, priority, state,
                                     max_attempts, run_after, created_at, updated_at) VALUES ",
    );
    for r in 0..rows {
        let p = 2 + COLUMNS * r;
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!(
            "(?{}, ?{}, ?{}, ?{}, ?{}, 'queued', ?{}, 0, ?1, ?1)",
            p,
            p + 1,
            p + 2,
            p + 3,
            p + 4,
            p + 5
        ));
    }
    sql.push_str(" RETURNING id, key");
    sql
}

#[cfg(test)]
mod tests {
    use crate::SqliteStore;
    use baton_core::model::{JobKind, NewJob};
    use baton_core::store::{StoreRead, commit};

    fn job(key: &str) -> NewJob {
        NewJob {
            key: key.into(),
            kind: JobKind::Resolve,
            plugin: Some("direct".into()),
            payload: format!("{{\"id\":\"{key}\"}}"),
            priority: 1,
            max_attempts: 2,
        }
    }

    /// Across statement boundaries, with keys repeated in one batch and keys already in the
    /// queue, each job learns whether it was inserted, and ids follow the order of `jobs`.
    #[test]
    fn each_job_learns_whether_it_was_new() {
        let dir = tempfile::tempdir().unwrap();
        let mut store =
            SqliteStore::open(&dir.path().join("b.db"), &dir.path().join("ledger")).unwrap();
        let old: Vec<NewJob> = (0..70).step_by(7).map(|i| job(&format!("k{i}"))).collect();
        commit(&mut store, 1, |tx| tx.enqueue(&old, false)).unwrap();
        let mut batch: Vec<NewJob> = (0..150).map(|i| job(&format!("k{i}"))).collect();
        batch.push(job("k100"));
        batch.insert(3, job("k140"));
        let inserted = commit(&mut store, 2, |tx| tx.enqueue(&batch, false)).unwrap();
        let expected: Vec<bool> = batch
            .iter()
            .enumerate()
            .map(|(at, job)| {
                let n: usize = job.key[1..].parse().unwrap();
                let first = batch.iter().position(|j| j.key == job.key) == Some(at);
                first && !(n < 70 && n.is_multiple_of(7))
            })
            .collect();
        assert_eq!(inserted, expected);
        let stored = store.job("k141").unwrap().unwrap();
        assert_eq!(stored.plugin.as_deref(), Some("direct"));
        assert_eq!(stored.priority, 1);
        assert_eq!(stored.max_attempts, 2);
        assert_eq!(stored.created_at, 2);
        let ids: Vec<i64> = ["k1", "k2", "k140", "k149"]
            .iter()
            .map(|k| store.job(k).unwrap().unwrap().id)
            .collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    }
}
