//! Journaling on a store several hosts share. Each transaction inserts its events into the
//! `events` table with `origin` = this host's name, and after the commit appends them to
//! this host's ledger file with `seq` = the event's id. Event ids come from one sequence for
//! every host, so a host's file holds its own events only, and its ids rise in commit order
//! because the host's writers hold the ledger directory's lock for their whole transaction
//! (from before the first id is drawn until after the append).
//!
//! A process killed between a commit and its append leaves the file short: before a
//! process's first write transaction, and before the first write after a holder of the lock
//! that did not finish (see `baton_core::ledger`), under the same lock, this host's events
//! with an id above the file's highest `seq` are appended from the table. No writer of this
//! host is between commit and append meanwhile (each holds the lock through both), so no
//! line is written twice; and no writer appended after the killed one (the next holder is
//! the one that catches up), so none of its lines is below the file's highest `seq`.

use crate::connect::{Conn, get};
use anyhow::{Context, Result};
use baton_core::clock::now_ms;
use baton_core::event::Event;
use baton_core::ledger::{LastSeq, LedgerFile, LedgerLine};
use serde_json::json;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Ledger directories caught up in this process.
static CAUGHT_UP: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

/// This host's name, as `events.origin` records it: `/proc/sys/kernel/hostname`, or
/// `localhost` where that cannot be read.
pub fn host_name() -> String {
    match std::fs::read_to_string("/proc/sys/kernel/hostname") {
        Ok(name) if !name.trim().is_empty() => name.trim().to_string(),
        _ => {
            tracing::warn!("cannot read this host's name; its events are recorded as `localhost`");
            "localhost".to_string()
        }
    }
}

/// Inserts `events` (in one statement) inside the open transaction; returns their ledger
/// lines, each with its id as `seq`.
pub fn insert(conn: &mut Conn, events: &[Event], origin: &str) -> Result<Vec<LedgerLine>> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let objects: Vec<String> = events.iter().map(|e| e.to_json().to_string()).collect();
    let ats: Vec<i64> = events.iter().map(|e| e.at).collect();
    let jobs: Vec<Option<i64>> = events.iter().map(|e| e.job_id).collect();
    let names: Vec<&str> = events.iter().map(|e| e.event).collect();
    let rows = conn.query(
        "INSERT INTO events (at, job_id, event, data, origin)
         SELECT u.at, u.job_id, u.event, u.data, $5
         FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::text[])
              WITH ORDINALITY AS u(at, job_id, event, data, ord)
         ORDER BY u.ord
         RETURNING id",
        &[&ats, &jobs, &names, &objects, &origin],
    )?;
    // Ids are drawn as the rows are inserted, in `ord` order; RETURNING's order is not
    // promised, so the sorted ids are matched to the events in order.
    let mut ids = rows
        .iter()
        .map(|row| get::<i64>(row, 0))
        .collect::<Result<Vec<_>>>()?;
    ids.sort_unstable();
    anyhow::ensure!(
        ids.len() == events.len(),
        "the store recorded {} of {} events",
        ids.len(),
        events.len()
    );
    Ok(events
        .iter()
        .zip(&objects)
        .zip(ids)
        .map(|((event, object), id)| LedgerLine::new(event.at, id, object))
        .collect())
}

/// A store older than this host's ledger (restored from a backup, or replaced) would
/// number new events with `seq`s the ledger already has: the id sequence moves past the
/// ledger's last, and a marker event says so.
fn behind_the_ledger(conn: &mut Conn, after: i64, origin: &str) -> Result<()> {
    let newest: i64 = get(
        &conn.one("SELECT COALESCE(MAX(id), 0)::bigint FROM events", &[])?,
        0,
    )?;
    if after == i64::MAX || newest >= after {
        return Ok(());
    }
    conn.exec(
        "SELECT setval(pg_get_serial_sequence('events', 'id'), $1)",
        &[&after],
    )?;
    let marker = Event::general(
        now_ms(),
        "store-behind-ledger",
        json!({"ledger_seq": after, "store_seq": newest}),
    );
    insert(conn, &[marker], origin)?;
    tracing::warn!(
        "the store's events end at {newest} but this host's ledger at {after}: restored from a backup? New events continue after {after}"
    );
    Ok(())
}

/// Appends this host's events the ledger in `dir` is missing; returns how many. It looks
/// once per process and directory, and again whenever the lock's previous holder was
/// `interrupted`; 0 otherwise. The caller holds the ledger's lock.
pub fn catch_up(
    conn: &mut Conn,
    ledger: &mut LedgerFile,
    dir: &Path,
    origin: &str,
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
    behind_the_ledger(conn, after, origin)?;
    let lines = conn
        .query(
            "SELECT id, at, data FROM events WHERE origin = $1 AND id > $2 ORDER BY id",
            &[&origin, &after],
        )?
        .iter()
        .map(|row| {
            let data: String = get(row, 2)?;
            Ok(LedgerLine::new(get(row, 1)?, get(row, 0)?, &data))
        })
        .collect::<Result<Vec<_>>>()?;
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
