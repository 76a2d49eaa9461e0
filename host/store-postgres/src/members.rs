//! The processes working on the database (registered with each heartbeat, on any host) and
//! the leader lease: one row, held by one owner under a term that grows with each new
//! holder. Taking or renewing the lease locks its row (`FOR UPDATE`), so two hosts never
//! both win a term.

use crate::connect::{Conn, get};
use crate::tx::Tx;
use anyhow::Result;
use baton_core::store::{Leadership, Member};

/// Registers `member` or records its heartbeat; forgets members silent since `forget_before`.
pub fn beat(tx: &mut Tx<'_>, member: &Member, forget_before: i64) -> Result<()> {
    tx.conn.exec(
        "INSERT INTO members (owner, host, pid, role, version, started_at, last_beat)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (owner) DO UPDATE SET last_beat = EXCLUDED.last_beat,
                                           role = EXCLUDED.role",
        &[
            &member.owner,
            &member.host,
            &i64::from(member.pid),
            &member.role,
            &member.version,
            &member.started_at,
            &tx.now,
        ],
    )?;
    tx.conn.exec(
        "DELETE FROM members WHERE last_beat < $1",
        &[&forget_before],
    )?;
    Ok(())
}

/// Removes a member and ends its leadership.
pub fn leave(tx: &mut Tx<'_>, owner: &str) -> Result<()> {
    tx.conn
        .exec("DELETE FROM members WHERE owner = $1", &[&owner])?;
    tx.conn
        .exec("UPDATE leader SET expires = 0 WHERE owner = $1", &[&owner])?;
    Ok(())
}

/// Takes or renews the leader lease (see `QueueTx::lead`).
pub fn lead(tx: &mut Tx<'_>, owner: &str, until: i64) -> Result<Option<i64>> {
    // The row exists from the first call on; creating it races harmlessly (DO NOTHING).
    tx.conn.exec(
        "INSERT INTO leader (id, owner, term, expires) VALUES (1, '', 0, 0)
         ON CONFLICT (id) DO NOTHING",
        &[],
    )?;
    let row = tx.conn.one(
        "SELECT owner, term, expires FROM leader WHERE id = 1 FOR UPDATE",
        &[],
    )?;
    let (holder, term, expires): (String, i64, i64) = (get(&row, 0)?, get(&row, 1)?, get(&row, 2)?);
    let term = if holder == owner && expires > tx.now {
        term
    } else if expires <= tx.now {
        term + 1
    } else {
        return Ok(None);
    };
    tx.conn.exec(
        "UPDATE leader SET owner = $1, term = $2, expires = $3 WHERE id = 1",
        &[&owner, &term, &until],
    )?;
    Ok(Some(term))
}

/// Whether `owner` leads under `term` now.
pub fn leads(tx: &mut Tx<'_>, owner: &str, term: i64) -> Result<bool> {
    Ok(tx
        .conn
        .opt(
            "SELECT 1 FROM leader WHERE id = 1 AND owner = $1 AND term = $2 AND expires > $3",
            &[&owner, &term, &tx.now],
        )?
        .is_some())
}

/// The registered members, oldest first.
pub fn members(conn: &mut Conn) -> Result<Vec<Member>> {
    conn.query(
        "SELECT owner, host, pid, role, version, started_at, last_beat FROM members
         ORDER BY started_at, owner",
        &[],
    )?
    .iter()
    .map(|row| {
        Ok(Member {
            owner: get(row, 0)?,
            host: get(row, 1)?,
            pid: u32::try_from(get::<i64>(row, 2)?).unwrap_or(0),
            role: get(row, 3)?,
            version: get(row, 4)?,
            started_at: get(row, 5)?,
            last_beat: get(row, 6)?,
        })
    })
    .collect()
}

/// The leader lease, if ever taken.
pub fn leadership(conn: &mut Conn) -> Result<Option<Leadership>> {
    let Some(row) = conn.opt(
        "SELECT owner, term, expires FROM leader WHERE id = 1 AND term > 0",
        &[],
    )?
    else {
        return Ok(None);
    };
    Ok(Some(Leadership {
        owner: get(&row, 0)?,
        term: get(&row, 1)?,
        expires: get(&row, 2)?,
    }))
}
