//! Limiter concurrency slots shared by every process and host on the database: a row per
//! held slot, leased to its holder until `expires` and extended by the holder's heartbeat, so
//! a crashed holder's slots free themselves when their lease runs out. Taking a slot holds a
//! transaction-scoped advisory lock on its key, so two hosts never both take the last one.
//! Rates are token buckets per key and window, and daily quotas a count per key and day,
//! taken under the same kind of lock, so they too hold across hosts.

use crate::connect::get;
use crate::tx::Tx;
use anyhow::Result;
use baton_core::store::RateLimits;

/// The advisory lock class (first key) of limiter slots; the second is the key's hash.
pub const LOCK_SLOTS: i32 = 0x6274_0002;
/// The advisory lock class of limiter rates and quotas.
pub const LOCK_RATES: i32 = 0x6274_0004;

/// Takes one of `cap` slots of `key` for `holder` until `expires`, after freeing the key's
/// expired slots; `None` when `cap` are held.
pub fn take(
    tx: &mut Tx<'_>,
    key: &str,
    cap: u32,
    holder: &str,
    expires: i64,
) -> Result<Option<i64>> {
    tx.conn.exec(
        "SELECT pg_advisory_xact_lock($1::int, hashtext($2))",
        &[&LOCK_SLOTS, &key],
    )?;
    // A new statement: it sees every slot committed by the lock's previous holder. The
    // count leaves out the expired slots the same statement deletes.
    let row = tx.conn.opt(
        "WITH gone AS (DELETE FROM limit_slots WHERE key = $1 AND expires <= $2 RETURNING id),
              held AS (SELECT count(*) AS n FROM limit_slots
                       WHERE key = $1 AND id NOT IN (SELECT id FROM gone))
         INSERT INTO limit_slots (key, holder, expires)
         SELECT $1, $3, $4 FROM held WHERE held.n < $5
         RETURNING id",
        &[&key, &tx.now, &holder, &expires, &i64::from(cap)],
    )?;
    row.map(|row| get(&row, 0)).transpose()
}

/// Frees one slot.
pub fn free(tx: &mut Tx<'_>, slot: i64) -> Result<()> {
    tx.conn
        .exec("DELETE FROM limit_slots WHERE id = $1", &[&slot])?;
    Ok(())
}

/// Extends `holder`'s slots to `expires` and frees those of `dead` holders.
pub fn extend(tx: &mut Tx<'_>, holder: &str, expires: i64, dead: &[String]) -> Result<usize> {
    if !dead.is_empty() {
        tx.conn
            .exec("DELETE FROM limit_slots WHERE holder = ANY($1)", &[&dead])?;
    }
    let extended = tx.conn.exec(
        "UPDATE limit_slots SET expires = $2 WHERE holder = $1",
        &[&holder, &expires],
    )?;
    Ok(extended as usize)
}

/// Takes one request of `key`'s rates and quota; when one says wait, nothing is taken.
pub fn take_rate(tx: &mut Tx<'_>, key: &str, limits: &RateLimits) -> Result<Option<i64>> {
    tx.conn.exec(
        "SELECT pg_advisory_xact_lock($1::int, hashtext($2))",
        &[&LOCK_RATES, &key],
    )?;
    let now = tx.now;
    let mut planned = Vec::new();
    let mut wait: Option<i64> = None;
    for (window, rate, capacity) in limits.buckets() {
        let row = tx.conn.opt(
            "SELECT tokens, updated_at FROM limit_buckets WHERE key = $1 AND window_ms = $2",
            &[&key, &window],
        )?;
        let tokens = match row {
            Some(row) => RateLimits::refill(
                get(&row, 0)?,
                now - get::<i64>(&row, 1)?,
                window,
                rate,
                capacity,
            ),
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
        let used = crate::artifacts::quota_used(tx.conn, key, &limits.day)?;
        if used >= limit {
            wait = Some(wait.map_or(limits.day_ends, |w| w.max(limits.day_ends)));
        }
    }
    if wait.is_some() {
        return Ok(wait);
    }
    for (window, tokens) in planned {
        tx.conn.exec(
            "INSERT INTO limit_buckets (key, window_ms, tokens, updated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (key, window_ms) DO UPDATE SET tokens = EXCLUDED.tokens,
                                                      updated_at = EXCLUDED.updated_at",
            &[&key, &window, &tokens, &now],
        )?;
    }
    if limits.per_day.is_some() {
        crate::artifacts::quota_add(tx, key, &limits.day, 1)?;
    }
    Ok(None)
}
