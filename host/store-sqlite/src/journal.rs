//! Keeping the ledger file whole across crashes: a process killed between a commit and the
//! append of its lines leaves the file short of events the store has. Before a process's
//! first write, and before the first write after a holder of the ledger's lock that did not
//! finish (see `baton_core::ledger`), the events after the file's highest `seq` are appended
//! from the store's `events` table, inside the writer's transaction before its own events
//! are inserted: the store's write lock stops other commits meanwhile, and the ledger's lock
//! means a writer that committed before has written its lines, so no line is written twice.
//! No writer appended after the killed one (the next holder is the one that catches up), so
//! none of its lines is below the file's highest `seq`.

use anyhow::{Context, Result};
use baton_core::clock::now_ms;
use baton_core::event::Event;
use baton_core::ledger::{LastSeq, LedgerFile, LedgerLine};
use rusqlite::{Transaction, params};
use serde_json::json;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Ledger directories caught up in this process.
static CAUGHT_UP: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

/// Appends the events the ledger in `dir` is missing; returns how many (once per process
/// and directory, 0 afterwards).
/// A store older than its ledger (restored from a backup, or replaced) would number new
/// events with `seq`s the ledger already has: a marker event takes the number after the
/// ledger's last and says so, and new events follow it.
fn behind_the_ledger(tx: &rusqlite::Transaction<'_>, after: i64) -> Result<()> {
    let newest: i64 = tx.query_row("SELECT COALESCE(MAX(id), 0) FROM events", [], |r| r.get(0))?;
    if after == i64::MAX || newest >= after {
        return Ok(());
    }
    let event = Event::general(
        now_ms(),
        "store-behind-ledger",
        json!({"ledger_seq": after, "store_seq": newest}),
    );
    tx.execute(
        "INSERT INTO events (id, at, job_id, event, data) VALUES (?1, ?2, NULL, ?3, ?4)",
        params![
            after + 1,
            event.at,
            event.event,
            event.to_json().to_string()
        ],
    )?;
    tracing::warn!(
        "the store's events end at {newest} but its ledger at {after}: restored from a backup? New events continue after {after}"
    );
    Ok(())
}

/// Appends the events the ledger in `dir` is missing, inside the open write transaction
/// `tx` and under the ledger's lock; returns how many. It looks once per process and
/// directory, and again whenever the lock's previous holder was `interrupted`; 0 otherwise.
pub fn catch_up(
    tx: &Transaction<'_>,
    ledger: &mut LedgerFile,
    dir: &Path,
    interrupted: bool,
) -> Result<usize> {
    let key = dir.to_path_buf();
    if !interrupted && CAUGHT_UP.lock().is_ok_and(|done| done.contains(&key)) {
        return Ok(0);
    }
    let after = match LedgerFile::last_seq(dir)? {
        LastSeq::Empty => 0,
        LastSeq::At(seq) => seq,
        LastSeq::Unknown => i64::MAX,
    };
    behind_the_ledger(tx, after)?;
    let lines: Vec<LedgerLine> = {
        let mut stmt =
            tx.prepare_cached("SELECT id, at, data FROM events WHERE id > ?1 ORDER BY id")?;
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
