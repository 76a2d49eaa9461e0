//! The one writer: a thread that owns the store and applies every queued change — claims,
//! completions, heartbeats, recoveries, manifest rows, quotas — in group commits: it takes
//! whatever requests are waiting, applies them all in one transaction (which the store
//! journals to the ledger file as it commits), then answers each request with its own typed
//! reply.

use anyhow::{Result, anyhow};
use baton_core::clock::now_ms;
use baton_core::store::{QueueTx, Store};
use std::sync::mpsc;
use tokio::sync::oneshot;

/// Most requests folded into one transaction.
const MAX_GROUP: usize = 512;

/// One request: applied inside the group's transaction, answered after it commits.
trait Request: Send {
    fn apply(&mut self, tx: &mut dyn QueueTx) -> Result<()>;
    fn answer(self: Box<Self>, committed: Result<(), String>);
}

/// A change with its reply channel; holds the reply until the transaction commits.
struct Pending<R, F> {
    change: Option<F>,
    reply_value: Option<R>,
    reply: oneshot::Sender<Result<R, String>>,
}

impl<R, F> Request for Pending<R, F>
where
    R: Send,
    F: FnOnce(&mut dyn QueueTx) -> Result<R> + Send,
{
    fn apply(&mut self, tx: &mut dyn QueueTx) -> Result<()> {
        if let Some(change) = self.change.take() {
            self.reply_value = Some(change(tx)?);
        }
        Ok(())
    }

    fn answer(self: Box<Self>, committed: Result<(), String>) {
        let Pending {
            reply_value, reply, ..
        } = *self;
        let result = committed
            .and_then(|()| reply_value.ok_or_else(|| "the change was not applied".to_string()));
        let _ = reply.send(result);
    }
}

/// A handle to send changes to the writer; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    /// `None` asks the writer to stop once what was sent before it is committed.
    tx: mpsc::Sender<Option<Box<dyn Request>>>,
}

impl Writer {
    /// Starts the writer thread on `store`; it stops when every handle is dropped or
    /// [`Writer::stop`] is called.
    pub fn start(mut store: Box<dyn Store>) -> Result<(Writer, std::thread::JoinHandle<()>)> {
        let (tx, rx) = mpsc::channel::<Option<Box<dyn Request>>>();
        let handle = std::thread::Builder::new()
            .name("baton-writer".into())
            .spawn(move || {
                let mut stopping = false;
                while !stopping {
                    let Ok(Some(first)) = rx.recv() else { break };
                    let mut group = vec![first];
                    while group.len() < MAX_GROUP {
                        match rx.try_recv() {
                            Ok(Some(more)) => group.push(more),
                            Ok(None) => {
                                stopping = true;
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    let committed = store.transaction(now_ms(), &mut |tx| {
                        for request in group.iter_mut() {
                            request.apply(tx)?;
                        }
                        Ok(())
                    });
                    let committed = committed.map(|_| ()).map_err(|e| {
                        let message = format!("{e:#}");
                        // Each request gets the error; its sender reports it once.
                        tracing::debug!("store write failed: {message}");
                        message
                    });
                    for request in group {
                        request.answer(committed.clone());
                    }
                }
            })?;
        Ok((Writer { tx }, handle))
    }

    /// Asks the writer to stop once every change sent before this is committed; changes
    /// sent later fail with "the store writer has stopped".
    pub fn stop(&self) {
        let _ = self.tx.send(None);
    }

    /// Queues `change` for the next group commit without waiting for it: for what must
    /// happen even where nothing can wait (a `Drop`); a failure is logged by the writer.
    pub fn send<F>(&self, change: F)
    where
        F: FnOnce(&mut dyn QueueTx) -> Result<()> + Send + 'static,
    {
        let (reply, _ignored) = oneshot::channel();
        let request = Pending {
            change: Some(change),
            reply_value: None,
            reply,
        };
        let _ = self.tx.send(Some(Box::new(request)));
    }

    /// Applies `change` in the next group commit and returns its reply once committed. If
    /// any change of the group fails, the whole group is rolled back and each gets the error.
    pub async fn submit<R, F>(&self, change: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut dyn QueueTx) -> Result<R> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let request = Pending {
            change: Some(change),
            reply_value: None,
            reply,
        };
        self.tx
            .send(Some(Box::new(request)))
            .map_err(|_| anyhow!("the store writer has stopped"))?;
        answer
            .await
            .map_err(|_| anyhow!("the store writer has stopped"))?
            .map_err(|e| anyhow!("store write failed: {e}"))
    }
}
