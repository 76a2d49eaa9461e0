//! The processes working on the database (registered with each heartbeat) and the leader
//! lease: one row, held by one owner under a term that grows with each new holder.

use anyhow::Result;
use baton_core::store::{Leadership, Member};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

/// Registers `member` or records its heartbeat; forgets members silent since `forget_before`.
pub fn beat(tx: &Transaction<'_>, member: &Member, forget_before: i64, now: i64) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO members (owner, host, pid, role, version, started_at, last_beat)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (owner) DO UPDATE SET last_beat = excluded.last_beat,
                                           role = excluded.role",
    )?
    .execute(params![
        member.owner,
        member.host,
        member.pid,
        member.role,
        member.version,
        member.started_at,
        now
    ])?;
    tx.prepare_cached("DELETE FROM members WHERE last_beat < ?1")?
        .execute(params![forget_before])?;
    Ok(())
}

/// Removes a member and ends its leadership.
pub fn leave(tx: &Transaction<'_>, owner: &str) -> Result<()> {
    tx.prepare_cached("DELETE FROM members WHERE owner = ?1")?
        .execute(params![owner])?;
    tx.prepare_cached("UPDATE leader SET expires = 0 WHERE owner = ?1")?
        .execute(params![owner])?;
    Ok(())
}

/// Takes or renews the leader lease (see `QueueTx::lead`).
pub fn lead(tx: &Transaction<'_>, owner: &str, until: i64, now: i64) -> Result<Option<i64>> {
    let current: Option<(String, i64, i64)> = tx
        .prepare_cached("SELECT owner, term, expires FROM leader WHERE id = 1")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let term = match current {
        None => 1,
        Some((holder, term, expires)) if holder == owner && expires > now => term,
        Some((_, term, expires)) if expires <= now => term + 1,
        Some(_) => return Ok(None),
    };
    tx.prepare_cached(
        "INSERT INTO leader (id, owner, term, expires) VALUES (1, ?1, ?2, ?3)
         ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, term = excluded.term,
                                        expires = excluded.expires",
    )?
    .execute(params![owner, term, until])?;
    Ok(Some(term))
}

/// Whether `owner` leads under `term` at `now`.
pub fn leads(tx: &Transaction<'_>, owner: &str, term: i64, now: i64) -> Result<bool> {
    let found: Option<i64> = tx
        .prepare_cached(
            "SELECT 1 FROM leader WHERE id = 1 AND owner = ?1 AND term = ?2 AND expires > ?3",
        )?
        .query_row(params![owner, term, now], |r| r.get(0))
        .optional()?;
    Ok(found.is_some())
}

/// The registered members, oldest first.
pub fn members(conn: &Connection) -> Result<Vec<Member>> {
    let mut stmt = conn.prepare_cached(
        "SELECT owner, host, pid, role, version, started_at, last_beat FROM members
         ORDER BY started_at, owner",
    )?;
    let rows = stmt
        .query_map([], |r| {
            Ok(Member {
                owner: r.get(0)?,
                host: r.get(1)?,
                pid: r.get(2)?,
                role: r.get(3)?,
                version: r.get(4)?,
                started_at: r.get(5)?,
                last_beat: r.get(6)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// The leader lease, if ever taken.
pub fn leadership(conn: &Connection) -> Result<Option<Leadership>> {
    Ok(conn
        .prepare_cached("SELECT owner, term, expires FROM leader WHERE id = 1")?
        .query_row([], |r| {
            Ok(Leadership {
                owner: r.get(0)?,
                term: r.get(1)?,
                expires: r.get(2)?,
            })
        })
        .optional()?)
}
