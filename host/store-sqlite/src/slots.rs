//! Limiter concurrency slots shared by every process on the database: a row per held slot,
//! leased to its holder until `expires` and extended by the holder's heartbeat, so a
//! crashed holder's slots free themselves when their lease runs out. Rates are token buckets
//! kept per key and window, and daily quotas a count per key and day, so they too hold
//! across processes. Sliding windows keep a row per request taken and per token charge;
//! parked keys a row each.

use anyhow::Result;
use baton_core::store::{Park, RateLimits, WindowUnit};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

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
    for limit in &limits.windows {
        let unit = limit.unit.as_str();
        tx.prepare_cached("DELETE FROM limit_usage WHERE key = ?1 AND unit = ?2 AND at <= ?3")?
            .execute(params![key, unit, now - limit.window_ms])?;
        let used: Vec<(i64, u64)> = tx
            .prepare_cached(
                "SELECT at, amount FROM limit_usage WHERE key = ?1 AND unit = ?2 ORDER BY at, id",
            )?
            .query_map(params![key, unit], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?.max(0) as u64))
            })?
            .collect::<rusqlite::Result<_>>()?;
        if let Some(at) = limit.ready_at(&used, now) {
            wait = Some(wait.map_or(at, |w| w.max(at)));
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
    if limits
        .windows
        .iter()
        .any(|w| w.unit == WindowUnit::Requests)
    {
        use_window(tx, key, WindowUnit::Requests, 1, now)?;
    }
    Ok(None)
}

/// Records `amount` of `unit` used by `key` at `now`.
pub fn use_window(
    tx: &Transaction<'_>,
    key: &str,
    unit: WindowUnit,
    amount: u64,
    now: i64,
) -> Result<()> {
    tx.prepare_cached("INSERT INTO limit_usage (key, unit, at, amount) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![key, unit.as_str(), now, amount as i64])?;
    Ok(())
}

/// Parks a key (replacing its earlier park).
pub fn park(tx: &Transaction<'_>, park: &Park) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO limit_parks (key, until, reason, strikes) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (key) DO UPDATE SET until = excluded.until, reason = excluded.reason,
                                         strikes = excluded.strikes",
    )?
    .execute(params![park.key, park.until, park.reason, park.strikes])?;
    Ok(())
}

/// Removes a key's park.
pub fn unpark(tx: &Transaction<'_>, key: &str) -> Result<()> {
    tx.prepare_cached("DELETE FROM limit_parks WHERE key = ?1")?
        .execute(params![key])?;
    Ok(())
}

/// Moves a park that has run out to `until`; returns it as it was.
pub fn probe_park(
    tx: &Transaction<'_>,
    key: &str,
    until: i64,
    reason: &str,
    now: i64,
) -> Result<Option<Park>> {
    let Some(found) = parked(tx, key)? else {
        return Ok(None);
    };
    if found.until > now {
        return Ok(None);
    }
    tx.prepare_cached("UPDATE limit_parks SET until = ?2, reason = ?3 WHERE key = ?1")?
        .execute(params![key, until, reason])?;
    Ok(Some(found))
}

fn park_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Park> {
    Ok(Park {
        key: row.get(0)?,
        until: row.get(1)?,
        reason: row.get(2)?,
        strikes: row.get::<_, i64>(3)?.clamp(0, i64::from(u32::MAX)) as u32,
    })
}

/// The park of `key`.
pub fn parked(conn: &Connection, key: &str) -> Result<Option<Park>> {
    Ok(conn
        .prepare_cached("SELECT key, until, reason, strikes FROM limit_parks WHERE key = ?1")?
        .query_row(params![key], park_row)
        .optional()?)
}

/// Keys parked after `now`, by key.
pub fn parked_now(conn: &Connection, now: i64) -> Result<Vec<Park>> {
    Ok(conn
        .prepare_cached(
            "SELECT key, until, reason, strikes FROM limit_parks WHERE until > ?1 ORDER BY key",
        )?
        .query_map(params![now], park_row)?
        .collect::<rusqlite::Result<_>>()?)
}
