//! Durable storage. SQLite (WAL) is the embedded default, one file at `.baton/baton.db`;
//! schema changes are versioned migrations applied on open.

pub mod artifacts;
#[cfg(test)]
pub mod conformance;
pub mod migrations;
pub mod ops;
pub mod plugin_state;
pub mod queue;
pub mod sqlite_queue;
pub mod stats;

use anyhow::{Context, Result};
use rusqlite::Connection;
use std::path::Path;
use std::time::Duration;

/// How long a writer waits for another one before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens (creating it and its directory if needed) and migrates the database at `path`.
pub fn open_sqlite(path: &Path) -> Result<Connection> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut conn = Connection::open(path)
        .with_context(|| format!("cannot open the database {}", path.display()))?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    migrations::apply(&mut conn)
        .with_context(|| format!("cannot migrate the database {}", path.display()))?;
    Ok(conn)
}
