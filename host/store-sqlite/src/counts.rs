//! The `job_counts` summary the dashboards read, kept by the code that changes jobs, once per
//! batch and `(kind, state)`: inserted jobs (`add_inserted`; migration 11 dropped the per-row
//! insert trigger) and every change of state (`add_moves`; migration 12 dropped the per-row
//! update trigger, which cost a sub-program and a statement journal on every claim and every
//! outcome). Deleted jobs are still counted by a trigger.

use anyhow::Result;
use baton_core::model::JobState;
use rusqlite::{Transaction, params};
use std::collections::BTreeMap;

/// Adds one job per `(kind, state)` pair of `inserted` to `job_counts`, with one upsert per
/// distinct pair. Call it in the transaction that inserted the jobs.
pub fn add_inserted<'a>(
    tx: &Transaction<'_>,
    inserted: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<()> {
    apply(tx, inserted.into_iter().map(|pair| (pair, 1)))
}

/// Counts jobs that moved between states, one `(kind, from, to)` per job (a move to the
/// same state counts nothing). Call it in the transaction that changed them, for every
/// `UPDATE` of `jobs.state`: no trigger counts them any more.
pub fn add_moves<K: AsRef<str>>(
    tx: &Transaction<'_>,
    moves: impl IntoIterator<Item = (K, JobState, JobState)>,
) -> Result<()> {
    // Collected first, so the counts can borrow the kinds instead of copying each.
    let moves: Vec<(K, JobState, JobState)> = moves.into_iter().collect();
    apply(
        tx,
        moves
            .iter()
            .filter(|(_, from, to)| from != to)
            .flat_map(|(kind, from, to)| {
                let kind = kind.as_ref();
                [((kind, from.as_str()), -1), ((kind, to.as_str()), 1)]
            }),
    )
}

/// Adds each delta to its `(kind, state)` row, summed per row first; rows whose sum is zero
/// are left alone.
fn apply<'a>(
    tx: &Transaction<'_>,
    deltas: impl IntoIterator<Item = ((&'a str, &'a str), i64)>,
) -> Result<()> {
    let mut counts: BTreeMap<(&str, &str), i64> = BTreeMap::new();
    for (pair, n) in deltas {
        *counts.entry(pair).or_default() += n;
    }
    counts.retain(|_, n| *n != 0);
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
