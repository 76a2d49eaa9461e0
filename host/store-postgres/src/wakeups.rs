//! Wake-ups across hosts: a connection of its own that `LISTEN`s on [`NOTIFY_CHANNEL`], which
//! every transaction that makes jobs ready notifies as it commits. Listeners are known to die
//! silently (a proxy or the server drops the connection and nothing says so), so the
//! listener checks its connection with a query when it has heard nothing for
//! [`HEALTH_CHECK`], and after any failure connects and listens again — and reports a
//! wake-up, since jobs may have arrived unheard in the gap. Polling stays the backstop.

use crate::connect::{Conn, Target};
use crate::tx::NOTIFY_CHANNEL;
use anyhow::{Result, anyhow};
use baton_core::store::Wakeups;
use postgres::fallible_iterator::FallibleIterator;
use std::time::{Duration, Instant};

/// How long the listener may hear nothing before it checks that its connection still works.
pub const HEALTH_CHECK: Duration = Duration::from_secs(2);

/// A `LISTEN` connection that reconnects (see the module header).
pub struct Listener {
    target: Target,
    conn: Option<Conn>,
    last_sign: Instant,
}

impl Listener {
    /// Connects and listens.
    pub fn open(target: Target) -> Result<Listener> {
        let mut listener = Listener {
            target,
            conn: None,
            last_sign: Instant::now(),
        };
        listener.listen()?;
        Ok(listener)
    }

    fn listen(&mut self) -> Result<()> {
        let mut conn = self.target.connect()?;
        conn.batch(&format!("LISTEN {NOTIFY_CHANNEL}"))?;
        self.conn = Some(conn);
        self.last_sign = Instant::now();
        Ok(())
    }
}

impl Wakeups for Listener {
    fn wait(&mut self, timeout: Duration) -> Result<bool> {
        let conn = match &mut self.conn {
            Some(conn) if !conn.is_closed() => conn,
            _ => {
                self.conn = None;
                self.listen()?;
                return Ok(true);
            }
        };
        let heard = conn.with_client(|client| {
            let mut notifications = client.notifications();
            let first = notifications.timeout_iter(timeout).next();
            if matches!(first, Ok(Some(_))) {
                // Take what else is already there: one wake-up covers them all.
                while let Ok(Some(_)) = notifications.iter().next() {}
            }
            first.map(|note| note.is_some())
        })?;
        match heard {
            Ok(true) => {
                self.last_sign = Instant::now();
                Ok(true)
            }
            Err(e) => {
                self.conn = None;
                Err(anyhow!("the notification connection failed: {e}"))
            }
            Ok(false) if self.last_sign.elapsed() >= HEALTH_CHECK => {
                if let Err(e) = conn.batch("SELECT 1") {
                    self.conn = None;
                    return Err(e.context("the notification connection stopped answering"));
                }
                self.last_sign = Instant::now();
                Ok(false)
            }
            Ok(false) => Ok(false),
        }
    }
}
