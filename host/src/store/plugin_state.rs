//! The `state` import's storage: a small key-value map per plugin, kept in the database so it
//! survives restarts, with size limits that keep one plugin from filling the disk.

use anyhow::Result;
use rusqlite::{Connection, OptionalExtension, params};
use std::sync::Mutex;

pub const MAX_KEY_BYTES: usize = 256;
pub const MAX_VALUE_BYTES: usize = 64 << 10;
/// Total bytes of keys and values one plugin may keep.
pub const MAX_PLUGIN_BYTES: i64 = 4 << 20;

/// Thread-safe handle on the plugin state table.
pub struct PluginState {
    conn: Mutex<Connection>,
}

impl PluginState {
    pub fn new(conn: Connection) -> Self {
        PluginState {
            conn: Mutex::new(conn),
        }
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, plugin: &str, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT value FROM plugin_state WHERE plugin = ?1 AND key = ?2",
                params![plugin, key],
                |row| row.get(0),
            )
            .optional()?)
    }

    /// Stores `value`; the outer error is the host's, the inner one is for the plugin.
    pub fn set(&self, plugin: &str, key: &str, value: &[u8]) -> Result<Result<(), String>> {
        if key.len() > MAX_KEY_BYTES {
            return Ok(Err(format!("key longer than {MAX_KEY_BYTES} bytes")));
        }
        if value.len() > MAX_VALUE_BYTES {
            return Ok(Err(format!("value larger than {MAX_VALUE_BYTES} bytes")));
        }
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let used: i64 = tx.query_row(
            "SELECT COALESCE(SUM(length(key) + length(value)), 0) FROM plugin_state
             WHERE plugin = ?1 AND key <> ?2",
            params![plugin, key],
            |row| row.get(0),
        )?;
        if used + (key.len() + value.len()) as i64 > MAX_PLUGIN_BYTES {
            return Ok(Err(format!(
                "state quota of {MAX_PLUGIN_BYTES} bytes used up"
            )));
        }
        tx.execute(
            "INSERT INTO plugin_state (plugin, key, value, updated_at)
             VALUES (?1, ?2, ?3, unixepoch())
             ON CONFLICT (plugin, key) DO UPDATE SET value = excluded.value,
                 updated_at = excluded.updated_at",
            params![plugin, key, value],
        )?;
        tx.commit()?;
        Ok(Ok(()))
    }

    pub fn remove(&self, plugin: &str, key: &str) -> Result<()> {
        self.conn().execute(
            "DELETE FROM plugin_state WHERE plugin = ?1 AND key = ?2",
            params![plugin, key],
        )?;
        Ok(())
    }

    pub fn keys(&self, plugin: &str, prefix: &str) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT key FROM plugin_state WHERE plugin = ?1 AND substr(key, 1, length(?2)) = ?2
             ORDER BY key",
        )?;
        let keys = stmt
            .query_map(params![plugin, prefix], |row| row.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> PluginState {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::store::migrations::apply(&mut conn).unwrap();
        PluginState::new(conn)
    }

    #[test]
    fn values_are_private_to_each_plugin() {
        let state = state();
        state.set("a", "k", b"1").unwrap().unwrap();
        state.set("a", "k2", b"2").unwrap().unwrap();
        state.set("b", "k", b"other").unwrap().unwrap();
        assert_eq!(state.get("a", "k").unwrap().unwrap(), b"1");
        assert_eq!(state.keys("a", "k").unwrap(), vec!["k", "k2"]);
        state.remove("a", "k").unwrap();
        assert!(state.get("a", "k").unwrap().is_none());
        assert_eq!(state.get("b", "k").unwrap().unwrap(), b"other");
    }

    #[test]
    fn limits_are_reported_to_the_plugin() {
        let state = state();
        let long_key = "k".repeat(MAX_KEY_BYTES + 1);
        assert!(state.set("a", &long_key, b"").unwrap().is_err());
        let big = vec![0u8; MAX_VALUE_BYTES + 1];
        assert!(state.set("a", "k", &big).unwrap().is_err());
        let chunk = vec![0u8; MAX_VALUE_BYTES];
        let mut refused = false;
        for i in 0..100 {
            if state.set("a", &format!("k{i}"), &chunk).unwrap().is_err() {
                refused = true;
                break;
            }
        }
        assert!(refused, "quota never enforced");
    }
}
