//! The artifact manifest (artifact id → sha256, size, url, host, resolver, content type,
//! time) and the daily quotas the limiter keeps across restarts and hosts.

use crate::connect::{Conn, get};
use crate::tx::Tx;
use anyhow::Result;
use baton_core::store::ManifestRow;

/// Records (replaces) an artifact's manifest row.
pub fn record(tx: &mut Tx<'_>, row: &ManifestRow) -> Result<()> {
    tx.conn.exec(
        "INSERT INTO artifacts (key, sha256, size, url, host, resolver, content_type, fetched_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (key) DO UPDATE SET sha256 = excluded.sha256, size = excluded.size,
             url = excluded.url, host = excluded.host, resolver = excluded.resolver,
             content_type = excluded.content_type, fetched_at = excluded.fetched_at",
        &[
            &row.key,
            &row.sha256,
            &row.size,
            &row.url,
            &row.host,
            &row.resolver,
            &row.content_type,
            &row.fetched_at,
        ],
    )?;
    Ok(())
}

/// An artifact's manifest row.
pub fn lookup(conn: &mut Conn, key: &str) -> Result<Option<ManifestRow>> {
    let Some(r) = conn.opt(
        "SELECT key, sha256, size, url, host, resolver, content_type, fetched_at
         FROM artifacts WHERE key = $1",
        &[&key],
    )?
    else {
        return Ok(None);
    };
    Ok(Some(ManifestRow {
        key: get(&r, 0)?,
        sha256: get(&r, 1)?,
        size: get(&r, 2)?,
        url: get(&r, 3)?,
        host: get(&r, 4)?,
        resolver: get(&r, 5)?,
        content_type: get(&r, 6)?,
        fetched_at: get(&r, 7)?,
    }))
}

/// Requests counted against `key`'s daily quota on `day` (YYYY-MM-DD, UTC).
pub fn quota_used(conn: &mut Conn, key: &str, day: &str) -> Result<u64> {
    let used: i64 = match conn.opt(
        "SELECT used FROM quotas WHERE key = $1 AND day = $2",
        &[&key, &day],
    )? {
        Some(row) => get(&row, 0)?,
        None => 0,
    };
    Ok(used.max(0) as u64)
}

/// Adds `used` to `key`'s count for `day`.
pub fn quota_add(tx: &mut Tx<'_>, key: &str, day: &str, used: u64) -> Result<()> {
    let used = i64::try_from(used).unwrap_or(i64::MAX);
    tx.conn.exec(
        "INSERT INTO quotas (key, day, used) VALUES ($1, $2, $3)
         ON CONFLICT (key, day) DO UPDATE SET used = quotas.used + excluded.used",
        &[&key, &day, &used],
    )?;
    Ok(())
}
