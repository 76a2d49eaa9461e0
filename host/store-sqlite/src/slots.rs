//! Limiter concurrency slots shared by every process on the database: a row per held slot,
//! leased to its holder until `expires` and extended by the holder's heartbeat, so a
//! crashed holder's slots free themselves when their lease runs out.

use anyhow::Result;
use rusqlite::{Transaction, params};

/// Takes one of `cap` slots of `key` for `holder` until `expires`, after freeing the key's
/// expired slots; `None` when `cap` are held.
pub fn take(
    tx: &Transaction<'_>,
    key: &str,
    cap: u32,
    holder: &str,
    expires: i64,
    now: i64,
) -> Result<Option<i64>> {
    tx.prepare_cached("DELETE FROM limit_slots WHERE key = ?1 AND expires <= ?2")?
        .execute(params![key, now])?;
    let held: i64 = tx
        .prepare_cached("SELECT count(*) FROM limit_slots WHERE key = ?1")?
        .query_row(params![key], |row| row.get(0))?;
    if held >= i64::from(cap) {
        return Ok(None);
    }
    tx.prepare_cached("INSERT INTO limit_slots (key, holder, expires) VALUES (?1, ?2, ?3)")?
        .execute(params![key, holder, expires])?;
    Ok(Some(tx.last_insert_rowid()))
}

/// Frees one slot.
pub fn free(tx: &Transaction<'_>, slot: i64) -> Result<()> {
    tx.prepare_cached("DELETE FROM limit_slots WHERE id = ?1")?
        .execute(params![slot])?;
    Ok(())
}

/// Extends `holder`'s slots to `expires` and frees those of `dead` holders.
pub fn extend(tx: &Transaction<'_>, holder: &str, expires: i64, dead: &[String]) -> Result<usize> {
    let mut free = tx.prepare_cached("DELETE FROM limit_slots WHERE holder = ?1")?;
    for owner in dead {
        free.execute(params![owner])?;
    }
    Ok(tx
        .prepare_cached("UPDATE limit_slots SET expires = ?2 WHERE holder = ?1")?
        .execute(params![holder, expires])?)
}
