//! Limiter concurrency slots shared by every process on the database: a row per held slot,
//! leased to its holder until `expires` and extended by the holder's heartbeat, so a
//! crashed holder's slots free themselves when their lease runs out. Rates are token buckets
//! kept per key and window, and daily quotas a count per key and day, so they too hold
//! across processes.

use anyhow::Result;
use baton_core::store::RateLimits;
use rusqlite::{OptionalExtension, Transaction, params};

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

/// Takes one request of `key`'s rates and quota; when one says wait, nothing is taken.
pub fn take_rate(
    tx: &Transaction<'_>,
    key: &str,
    limits: &RateLimits,
    now: i64,
) -> Result<Option<i64>> {
    let mut planned = Vec::new();
    let mut wait: Option<i64> = None;
    for (window, rate, capacity) in limits.buckets() {
        let row: Option<(f64, i64)> = tx
            .prepare_cached(
                "SELECT tokens, updated_at FROM limit_buckets WHERE key = ?1 AND window_ms = ?2",
            )?
            .query_row(params![key, window], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let tokens = match row {
            Some((tokens, at)) => RateLimits::refill(tokens, now - at, window, rate, capacity),
            None => capacity,
        };
        if tokens < 1.0 {
            let at = RateLimits::ready_at(tokens, now, window, rate);
            wait = Some(wait.map_or(at, |w| w.max(at)));
        } else {
            planned.push((window, tokens - 1.0));
        }
    }
    if let Some(limit) = limits.per_day {
        let used = super::artifacts::quota_used(tx, key, &limits.day)?;
        if used >= limit {
            wait = Some(wait.map_or(limits.day_ends, |w| w.max(limits.day_ends)));
        }
    }
    if wait.is_some() {
        return Ok(wait);
    }
    let mut save = tx.prepare_cached(
        "INSERT INTO limit_buckets (key, window_ms, tokens, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (key, window_ms) DO UPDATE SET tokens = excluded.tokens,
                                                  updated_at = excluded.updated_at",
    )?;
    for (window, tokens) in planned {
        save.execute(params![key, window, tokens, now])?;
    }
    if limits.per_day.is_some() {
        super::artifacts::quota_add(tx, key, &limits.day, 1)?;
    }
    Ok(None)
}
