//! One write transaction: the connection it runs on (inside `BEGIN`), its time, the events
//! its changes produce and whether it made jobs ready (then it notifies
//! [`NOTIFY_CHANNEL`] as it commits). A transaction dropped before [`Tx::commit`] rolls
//! back.

use crate::connect::Conn;
use anyhow::{Context, Result};
use baton_core::event::Event;

/// The channel a transaction that enqueued, requeued or unblocked jobs notifies (with an
/// empty payload, once per transaction) as it commits, so idle dispatchers that `LISTEN`
/// on it claim at once instead of at their next poll.
pub const NOTIFY_CHANNEL: &str = "baton_jobs";

/// A transaction in progress.
pub struct Tx<'a> {
    /// Its connection, inside `BEGIN`.
    pub conn: &'a mut Conn,
    /// The transaction's time, in Unix milliseconds.
    pub now: i64,
    /// The ledger events its changes produced, in order.
    pub events: Vec<Event>,
    /// Whether it enqueued, requeued or unblocked jobs.
    pub notify: bool,
    /// This host's name, the origin of the events it records.
    pub origin: &'a str,
    open: bool,
}

impl<'a> Tx<'a> {
    /// Starts a transaction on `conn` at time `now` for host `origin`.
    pub fn begin(conn: &'a mut Conn, now: i64, origin: &'a str) -> Result<Tx<'a>> {
        conn.batch("BEGIN")?;
        Ok(Tx {
            conn,
            now,
            events: Vec::new(),
            notify: false,
            origin,
            open: true,
        })
    }

    /// Commits (notifying [`NOTIFY_CHANNEL`] in the same round trip when it made jobs
    /// ready).
    pub fn commit(mut self) -> Result<()> {
        self.open = false;
        let sql = if self.notify {
            // NOTIFY (on NOTIFY_CHANNEL) is delivered at commit, and only if it succeeds.
            "NOTIFY baton_jobs; COMMIT"
        } else {
            "COMMIT"
        };
        let server = self.conn.server().to_string();
        self.conn
            .batch(sql)
            .with_context(|| format!("cannot commit to {server}"))
    }
}

impl Drop for Tx<'_> {
    fn drop(&mut self) {
        if self.open {
            // A failed change commits nothing; a broken connection is found by the next use.
            let _ = self.conn.batch("ROLLBACK");
        }
    }
}
