//! The `state` import's storage: a small key-value map per plugin, kept in the database so it
//! survives restarts, with size limits that keep one plugin from filling the disk.

use anyhow::Result;
use rusqlite::{Connection, OptionalExtension, params};
use std::sync::Mutex;

use baton_core::store::{
    MAX_STATE_KEY_BYTES as MAX_KEY_BYTES, MAX_STATE_PLUGIN_BYTES as MAX_PLUGIN_BYTES,
    MAX_STATE_VALUE_BYTES as MAX_VALUE_BYTES, PluginStateStore,
};

/// Thread-safe handle on the plugin state table.
pub struct PluginState {
    conn: Mutex<Connection>,
}

impl PluginState {
    /// Plugin state on its own connection.
    pub fn new(conn: Connection) -> Self {
        PluginState {
            conn: Mutex::new(conn),
        }
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl PluginStateStore for PluginState {
    fn get(&self, plugin: &str, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT value FROM plugin_state WHERE plugin = ?1 AND key = ?2",
                params![plugin, key],
                |row| row.get(0),
            )
            .optional()?)
    }

    fn set(&self, plugin: &str, key: &str, value: &[u8]) -> Result<Result<(), String>> {
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

    fn remove(&self, plugin: &str, key: &str) -> Result<()> {
        self.conn().execute(
            "DELETE FROM plugin_state WHERE plugin = ?1 AND key = ?2",
            params![plugin, key],
        )?;
        Ok(())
    }

    fn keys(&self, plugin: &str, prefix: &str) -> Result<Vec<String>> {
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
