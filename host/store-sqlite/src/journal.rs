//! Keeping the ledger file whole across crashes: a process killed between a commit and the
//! append of its lines leaves the file short of events the store has. Before a process's
//! first write transaction, the events after the file's highest `seq` are
//! appended from the store's `events` table, under the store's write lock (no writer commits
//! meanwhile) and the ledger's lock (a writer that committed just before has written its
//! lines), so no line is written twice.

use anyhow::{Context, Result};
use baton_core::ledger::{LastSeq, LedgerFile, LedgerLine};
use rusqlite::{Connection, TransactionBehavior, params};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Ledger directories caught up in this process.
static CAUGHT_UP: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

/// Appends the events the ledger in `dir` is missing; returns how many (once per process
/// and directory, 0 afterwards).
pub fn catch_up(conn: &mut Connection, ledger: &mut LedgerFile, dir: &Path) -> Result<usize> {
    let key = dir.to_path_buf();
    if CAUGHT_UP.lock().is_ok_and(|done| done.contains(&key)) {
        return Ok(0);
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // A writer that committed before our write lock may not have written its lines yet: it
    // holds the ledger lock until it has.
    let _journaling = ledger.lock()?;
    let after = match LedgerFile::last_seq(dir)? {
        LastSeq::Empty => 0,
        LastSeq::At(seq) => seq,
        LastSeq::Unknown => i64::MAX,
    };
    let lines: Vec<LedgerLine> = {
        let mut stmt = tx.prepare("SELECT id, at, data FROM events WHERE id > ?1 ORDER BY id")?;
        stmt.query_map(params![after], |r| {
            Ok(LedgerLine::new(
                r.get(1)?,
                r.get(0)?,
                &r.get::<_, String>(2)?,
            ))
        })?
        .collect::<Result<_, _>>()?
    };
    ledger
        .append(&lines)
        .with_context(|| format!("cannot complete the ledger in {}", dir.display()))?;
    tx.commit()?;
    if let Ok(mut done) = CAUGHT_UP.lock() {
        done.insert(key);
    }
    if !lines.is_empty() {
        tracing::info!(
            "wrote {} ledger line(s) a stopped process had not",
            lines.len()
        );
    }
    Ok(lines.len())
}
