//! The `job_counts` summary for inserted jobs: the code that inserts jobs adds them here once
//! per kind and state per batch (migration 11 replaced a per-row trigger). State changes and
//! deletions are still counted by triggers.

use anyhow::Result;
use rusqlite::{Transaction, params};
use std::collections::BTreeMap;

/// Adds one job per `(kind, state)` pair of `inserted` to `job_counts`, with one upsert per
/// distinct pair. Call it in the transaction that inserted the jobs.
pub fn add_inserted<'a>(
    tx: &Transaction<'_>,
    inserted: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<()> {
    let mut counts: BTreeMap<(&str, &str), i64> = BTreeMap::new();
    for pair in inserted {
        *counts.entry(pair).or_default() += 1;
    }
    if counts.is_empty() {
        return Ok(());
    }
    let mut upsert = tx.prepare_cached(
        "INSERT INTO job_counts (kind, state, n) VALUES (?1, ?2, ?3)
         ON CONFLICT (kind, state) DO UPDATE SET n = n + excluded.n",
    )?;
    for ((kind, state), n) in counts {
        upsert.execute(params![kind, state, n])?;
    }
    Ok(())
}
