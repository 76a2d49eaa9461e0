//! The artifact manifest (artifact id → sha256, size, url, host, resolver, content type,
//! time) and the daily quotas the limiter keeps across restarts.

use anyhow::Result;
use baton_core::store::ManifestRow;
use rusqlite::{Connection, OptionalExtension, Transaction, params};

pub fn record(tx: &Transaction<'_>, row: &ManifestRow) -> Result<()> {
    tx.execute(
        "INSERT INTO artifacts (key, sha256, size, url, host, resolver, content_type, fetched_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (key) DO UPDATE SET sha256 = excluded.sha256, size = excluded.size,
             url = excluded.url, host = excluded.host, resolver = excluded.resolver,
             content_type = excluded.content_type, fetched_at = excluded.fetched_at",
        params![
            row.key,
            row.sha256,
            row.size,
            row.url,
            row.host,
            row.resolver,
            row.content_type,
            row.fetched_at
        ],
    )?;
    Ok(())
}

pub fn lookup(conn: &Connection, key: &str) -> Result<Option<ManifestRow>> {
    Ok(conn
        .query_row(
            "SELECT key, sha256, size, url, host, resolver, content_type, fetched_at
             FROM artifacts WHERE key = ?1",
            params![key],
            |r| {
                Ok(ManifestRow {
                    key: r.get(0)?,
                    sha256: r.get(1)?,
                    size: r.get(2)?,
                    url: r.get(3)?,
                    host: r.get(4)?,
                    resolver: r.get(5)?,
                    content_type: r.get(6)?,
                    fetched_at: r.get(7)?,
                })
            },
        )
        .optional()?)
}

/// Requests counted against `key`'s daily quota on `day` (YYYY-MM-DD, UTC).
pub fn quota_used(conn: &Connection, key: &str, day: &str) -> Result<u64> {
    Ok(conn
        .query_row(
            "SELECT used FROM quotas WHERE key = ?1 AND day = ?2",
            params![key, day],
            |r| r.get::<_, i64>(0),
        )
        .optional()?
        .unwrap_or(0) as u64)
}

pub fn quota_add(tx: &Transaction<'_>, key: &str, day: &str, used: u64) -> Result<()> {
    tx.execute(
        "INSERT INTO quotas (key, day, used) VALUES (?1, ?2, ?3)
         ON CONFLICT (key, day) DO UPDATE SET used = used + excluded.used",
        params![key, day, used as i64],
    )?;
    Ok(())
}
