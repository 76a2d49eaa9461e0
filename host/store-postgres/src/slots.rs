//! Limiter concurrency slots shared by every process and host on the database: a row per
//! held slot, leased to its holder until `expires` and extended by the holder's heartbeat, so
//! a crashed holder's slots free themselves when their lease runs out. Taking a slot holds a
//! transaction-scoped advisory lock on its key, so two hosts never both take the last one.
//! Rates are token buckets per key and window, and daily quotas a count per key and day,
//! taken under the same kind of lock, so they too hold across hosts. Sliding windows keep a
//! row per request taken and per token charge; parked keys a row each.

use crate::connect::{Conn, get};
use crate::tx::Tx;
use anyhow::Result;
use baton_core::store::{Park, RateLimits, WindowUnit};

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
    for limit in &limits.windows {
        let unit = limit.unit.as_str();
        tx.conn.exec(
            "DELETE FROM limit_usage WHERE key = $1 AND unit = $2 AND at <= $3",
            &[&key, &unit, &(now - limit.window_ms)],
        )?;
        let used = tx
            .conn
            .query(
                "SELECT at, amount FROM limit_usage WHERE key = $1 AND unit = $2 ORDER BY at, id",
                &[&key, &unit],
            )?
            .iter()
            .map(|row| Ok((get::<i64>(row, 0)?, get::<i64>(row, 1)?.max(0) as u64)))
            .collect::<Result<Vec<_>>>()?;
        if let Some(at) = limit.ready_at(&used, now) {
            wait = Some(wait.map_or(at, |w| w.max(at)));
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
    if limits
        .windows
        .iter()
        .any(|w| w.unit == WindowUnit::Requests)
    {
        use_window(tx, key, WindowUnit::Requests, 1)?;
    }
    Ok(None)
}

/// Records `amount` of `unit` used by `key` now (under the key's rate lock, so a take that
/// counts the window sees every charge committed before it).
pub fn use_window(tx: &mut Tx<'_>, key: &str, unit: WindowUnit, amount: u64) -> Result<()> {
    if unit == WindowUnit::Tokens {
        tx.conn.exec(
            "SELECT pg_advisory_xact_lock($1::int, hashtext($2))",
            &[&LOCK_RATES, &key],
        )?;
    }
    let now = tx.now;
    tx.conn.exec(
        "INSERT INTO limit_usage (key, unit, at, amount) VALUES ($1, $2, $3, $4)",
        &[
            &key,
            &unit.as_str(),
            &now,
            &(amount.min(i64::MAX as u64) as i64),
        ],
    )?;
    Ok(())
}

/// Parks a key (replacing its earlier park).
pub fn park(tx: &mut Tx<'_>, park: &Park) -> Result<()> {
    tx.conn.exec(
        "INSERT INTO limit_parks (key, until, reason, strikes) VALUES ($1, $2, $3, $4)
         ON CONFLICT (key) DO UPDATE SET until = EXCLUDED.until, reason = EXCLUDED.reason,
                                         strikes = EXCLUDED.strikes",
        &[
            &park.key,
            &park.until,
            &park.reason,
            &i64::from(park.strikes),
        ],
    )?;
    Ok(())
}

/// Removes a key's park.
pub fn unpark(tx: &mut Tx<'_>, key: &str) -> Result<()> {
    tx.conn
        .exec("DELETE FROM limit_parks WHERE key = $1", &[&key])?;
    Ok(())
}

/// Moves a park that has run out to `until`; returns it as it was. The row lock taken by
/// `FOR UPDATE` makes a second transaction wait and then see the moved park, so one wins.
pub fn probe_park(tx: &mut Tx<'_>, key: &str, until: i64, reason: &str) -> Result<Option<Park>> {
    let Some(row) = tx.conn.opt(
        "SELECT key, until, reason, strikes FROM limit_parks WHERE key = $1 FOR UPDATE",
        &[&key],
    )?
    else {
        return Ok(None);
    };
    let found = park_row(&row)?;
    if found.until > tx.now {
        return Ok(None);
    }
    tx.conn.exec(
        "UPDATE limit_parks SET until = $2, reason = $3 WHERE key = $1",
        &[&key, &until, &reason],
    )?;
    Ok(Some(found))
}

fn park_row(row: &postgres::Row) -> Result<Park> {
    Ok(Park {
        key: get(row, 0)?,
        until: get(row, 1)?,
        reason: get(row, 2)?,
        strikes: crate::connect::count(get(row, 3)?),
    })
}

/// The park of `key`.
pub fn parked(conn: &mut Conn, key: &str) -> Result<Option<Park>> {
    conn.opt(
        "SELECT key, until, reason, strikes FROM limit_parks WHERE key = $1",
        &[&key],
    )?
    .map(|row| park_row(&row))
    .transpose()
}

/// Keys parked after `now`, by key.
pub fn parked_now(conn: &mut Conn, now: i64) -> Result<Vec<Park>> {
    conn.query(
        "SELECT key, until, reason, strikes FROM limit_parks WHERE until > $1 ORDER BY key",
        &[&now],
    )?
    .iter()
    .map(park_row)
    .collect()
}
