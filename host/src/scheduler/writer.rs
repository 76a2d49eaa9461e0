//! The one writer: a thread that owns the store and applies every queued change — claims,
//! completions, heartbeats, recoveries, manifest rows, quotas — in group commits: it takes
//! whatever requests are waiting, applies them all in one transaction, appends their ledger
//! lines, then answers each request.

use crate::ledger::LedgerFile;
use crate::queue::model::now_ms;
use crate::store::ops::{Op, OpResult, QueueStore};
use anyhow::{Result, anyhow};
use std::sync::mpsc;
use tokio::sync::oneshot;

/// Most requests folded into one transaction.
const MAX_GROUP: usize = 512;

struct Request {
    ops: Vec<Op>,
    reply: oneshot::Sender<Result<Vec<OpResult>, String>>,
}

/// A handle to send changes to the writer; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Request>,
}

impl Writer {
    /// Starts the writer thread; it stops when every handle is dropped.
    pub fn start(
        mut store: Box<dyn QueueStore>,
        mut ledger: LedgerFile,
    ) -> Result<(Writer, std::thread::JoinHandle<()>)> {
        let (tx, rx) = mpsc::channel::<Request>();
        let handle = std::thread::Builder::new()
            .name("baton-writer".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut group = vec![first];
                    while group.len() < MAX_GROUP {
                        match rx.try_recv() {
                            Ok(more) => group.push(more),
                            Err(_) => break,
                        }
                    }
                    let sizes: Vec<usize> = group.iter().map(|r| r.ops.len()).collect();
                    let mut ops = Vec::with_capacity(sizes.iter().sum());
                    let mut replies = Vec::with_capacity(group.len());
                    for request in group {
                        ops.extend(request.ops);
                        replies.push(request.reply);
                    }
                    match store.commit(ops, now_ms()) {
                        Ok((results, events)) => {
                            if let Err(e) = ledger.append(&events) {
                                tracing::error!("ledger file: {e:#}");
                            }
                            let mut results = results.into_iter();
                            for (reply, size) in replies.into_iter().zip(sizes) {
                                let _ = reply.send(Ok(results.by_ref().take(size).collect()));
                            }
                        }
                        Err(e) => {
                            let message = format!("{e:#}");
                            tracing::error!("store write failed: {message}");
                            for reply in replies {
                                let _ = reply.send(Err(message.clone()));
                            }
                        }
                    }
                }
            })?;
        Ok((Writer { tx }, handle))
    }

    /// Applies `ops` in the next group commit and returns their results.
    pub async fn apply(&self, ops: Vec<Op>) -> Result<Vec<OpResult>> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Request { ops, reply })
            .map_err(|_| anyhow!("the store writer has stopped"))?;
        answer
            .await
            .map_err(|_| anyhow!("the store writer has stopped"))?
            .map_err(|e| anyhow!("store write failed: {e}"))
    }
}
