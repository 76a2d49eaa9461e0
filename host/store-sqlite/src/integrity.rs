//! Refusing a damaged database: SQLite's `quick_check` runs before Baton reads, migrates or
//! changes a database file (once per file and process, so new handles on it cost nothing),
//! and a file that fails it — or is not a SQLite database at all — is never processed. The
//! error names the file, what SQLite found and the remedy.

use anyhow::{Result, anyhow};
use rusqlite::{Connection, ErrorCode};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Files that passed the check in this process.
static CHECKED: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

/// At most this many problems are reported (the check stops there).
const MAX_PROBLEMS: u32 = 5;

/// Checks the database behind `conn` (opened from `path`) unless this process already did;
/// a damaged file is an error saying so, with the remedy.
pub fn check(conn: &Connection, path: &Path) -> Result<()> {
    let key = path.to_path_buf();
    if CHECKED.lock().is_ok_and(|checked| checked.contains(&key)) {
        return Ok(());
    }
    let found = quick_check(conn).map_err(|e| match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => damaged(path, &e.to_string()),
        // Kept as SQLite's error: the open retries a busy database.
        Some(ErrorCode::DatabaseBusy) => {
            anyhow::Error::new(e).context(format!("cannot read the database {}", path.display()))
        }
        _ => anyhow!("cannot read the database {}: {e}", path.display()),
    })?;
    if found != ["ok"] {
        return Err(damaged(path, &found.join("; ")));
    }
    if let Ok(mut checked) = CHECKED.lock() {
        checked.insert(key);
    }
    Ok(())
}

fn quick_check(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut statement = conn.prepare(&format!("PRAGMA quick_check({MAX_PROBLEMS})"))?;
    let rows = statement.query_map([], |row| row.get::<_, String>(0))?;
    rows.collect()
}

fn damaged(path: &Path, found: &str) -> anyhow::Error {
    let path = path.display();
    anyhow!(
        "the database {path} is damaged ({found}); Baton will not read or change it. Restore it \
         from a backup, or save what is readable with `sqlite3 {path} .recover | sqlite3 \
         {path}.recovered`, move the damaged file aside and point store.db at the recovered one"
    )
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn a_file_that_is_not_a_database_is_refused_with_the_remedy() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("baton.db");
        std::fs::write(&path, vec![0x5a; 8192]).unwrap();
        let conn = rusqlite::Connection::open(&path).unwrap();
        let error = check(&conn, &path).unwrap_err().to_string();
        assert!(error.contains("is damaged"), "{error}");
        assert!(error.contains(".recover"), "{error}");
    }
}
