//! The `state` import's storage on PostgreSQL: a small key-value map per plugin, on its own
//! connection, bounded by the core's limits. A `set` checks the plugin's total under a
//! transaction-scoped advisory lock on the plugin, so concurrent writers on several hosts
//! cannot pass the limit together. PostgreSQL text cannot hold NUL, so a key with one is
//! refused to the plugin (and never found).

use crate::connect::{Conn, get};
use anyhow::Result;
use baton_core::store::{
    MAX_STATE_KEY_BYTES as MAX_KEY_BYTES, MAX_STATE_PLUGIN_BYTES as MAX_PLUGIN_BYTES,
    MAX_STATE_VALUE_BYTES as MAX_VALUE_BYTES, PluginStateStore,
};
use std::sync::{Mutex, MutexGuard};

/// The advisory lock class (first key) of plugin state; the second is the plugin's hash.
pub const LOCK_STATE: i32 = 0x6274_0003;

/// Thread-safe handle on the plugin state table.
pub struct PluginState {
    conn: Mutex<Conn>,
}

impl PluginState {
    /// Plugin state on its own connection.
    pub fn new(conn: Conn) -> PluginState {
        PluginState {
            conn: Mutex::new(conn),
        }
    }

    fn conn(&self) -> MutexGuard<'_, Conn> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl PluginStateStore for PluginState {
    fn get(&self, plugin: &str, key: &str) -> Result<Option<Vec<u8>>> {
        if plugin.contains('\0') || key.contains('\0') {
            return Ok(None);
        }
        self.conn()
            .opt(
                "SELECT value FROM plugin_state WHERE plugin = $1 AND key = $2",
                &[&plugin, &key],
            )?
            .map(|row| get(&row, 0))
            .transpose()
    }

    fn set(&self, plugin: &str, key: &str, value: &[u8]) -> Result<Result<(), String>> {
        if key.len() > MAX_KEY_BYTES {
            return Ok(Err(format!("key longer than {MAX_KEY_BYTES} bytes")));
        }
        if value.len() > MAX_VALUE_BYTES {
            return Ok(Err(format!("value larger than {MAX_VALUE_BYTES} bytes")));
        }
        if plugin.contains('\0') || key.contains('\0') {
            return Ok(Err("key contains a NUL character".to_string()));
        }
        let needed = (key.len() + value.len()) as i64;
        self.conn().in_transaction(|conn| {
            conn.exec(
                "SELECT pg_advisory_xact_lock($1::int, hashtext($2))",
                &[&LOCK_STATE, &plugin],
            )?;
            let used: i64 = get(
                &conn.one(
                    "SELECT COALESCE(sum(octet_length(key) + octet_length(value)), 0)::bigint
                     FROM plugin_state WHERE plugin = $1 AND key <> $2",
                    &[&plugin, &key],
                )?,
                0,
            )?;
            if used + needed > MAX_PLUGIN_BYTES {
                return Ok(Err(format!(
                    "state quota of {MAX_PLUGIN_BYTES} bytes used up"
                )));
            }
            conn.exec(
                "INSERT INTO plugin_state (plugin, key, value, updated_at)
                 VALUES ($1, $2, $3, (extract(epoch FROM now()) * 1000)::bigint)
                 ON CONFLICT (plugin, key) DO UPDATE SET value = excluded.value,
                     updated_at = excluded.updated_at",
                &[&plugin, &key, &value],
            )?;
            Ok(Ok(()))
        })
    }

    fn remove(&self, plugin: &str, key: &str) -> Result<()> {
        if plugin.contains('\0') || key.contains('\0') {
            return Ok(());
        }
        self.conn().exec(
            "DELETE FROM plugin_state WHERE plugin = $1 AND key = $2",
            &[&plugin, &key],
        )?;
        Ok(())
    }

    fn keys(&self, plugin: &str, prefix: &str) -> Result<Vec<String>> {
        if plugin.contains('\0') || prefix.contains('\0') {
            return Ok(Vec::new());
        }
        // `key` sorts bytewise (COLLATE "C"), as SQLite's does.
        self.conn()
            .query(
                "SELECT key FROM plugin_state WHERE plugin = $1 AND starts_with(key, $2)
                 ORDER BY key",
                &[&plugin, &prefix],
            )?
            .iter()
            .map(|row| get(row, 0))
            .collect()
    }
}
