//! Versioned schema migrations: each runs once, in order, inside a transaction, and the
//! version reached is kept in `PRAGMA user_version`.

use anyhow::{Result, bail};
use rusqlite::Connection;

/// Migration N (1-based) is `MIGRATIONS[N - 1]`. Append only; never edit a shipped one.
const MIGRATIONS: &[&str] = &[
    // 1: per-plugin key-value state.
    "CREATE TABLE plugin_state (
        plugin TEXT NOT NULL,
        key TEXT NOT NULL,
        value BLOB NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (plugin, key)
    ) WITHOUT ROWID;",
];

pub fn apply(conn: &mut Connection) -> Result<()> {
    let current: usize = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if current > MIGRATIONS.len() {
        bail!(
            "the database is at schema version {current}, newer than this baton ({}); upgrade baton",
            MIGRATIONS.len()
        );
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index + 1)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_applied_once_and_refuse_a_newer_schema() {
        let mut conn = Connection::open_in_memory().unwrap();
        apply(&mut conn).unwrap();
        apply(&mut conn).unwrap();
        let version: usize = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len());
        conn.pragma_update(None, "user_version", 999).unwrap();
        assert!(apply(&mut conn).unwrap_err().to_string().contains("newer"));
    }
}
