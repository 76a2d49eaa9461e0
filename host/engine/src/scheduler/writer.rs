//! The one writer: a thread that owns the store and applies every queued change — claims,
//! completions, heartbeats, recoveries, manifest rows, quotas — in group commits: it takes
//! whatever requests are waiting, applies them all in one transaction (which the store
//! journals to the ledger file as it commits), then answers each request with its own typed
//! reply.

use anyhow::{Result, anyhow};
use baton_core::clock::now_ms;
use baton_core::store::{QueueTx, Store};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;
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
    /// CPU time the writer thread has used, in nanoseconds, updated after each group commit.
    cpu_ns: Arc<AtomicU64>,
    /// Group commits so far.
    commits: Arc<AtomicU64>,
}

/// CPU time the calling thread has used (`CLOCK_THREAD_CPUTIME_ID`), in nanoseconds.
fn thread_cpu_ns() -> u64 {
    let mut time = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `time` is a valid timespec for the call to fill; the clock id is a constant.
    let ok = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut time) } == 0;
    if ok {
        time.tv_sec as u64 * 1_000_000_000 + time.tv_nsec as u64
    } else {
        0
    }
}

impl Writer {
    /// Starts the writer thread on `store`; it stops when every handle is dropped or
    /// [`Writer::stop`] is called.
    pub fn start(mut store: Box<dyn Store>) -> Result<(Writer, std::thread::JoinHandle<()>)> {
        let (tx, rx) = mpsc::channel::<Option<Box<dyn Request>>>();
        let cpu_ns = Arc::new(AtomicU64::new(0));
        let commits = Arc::new(AtomicU64::new(0));
        let (thread_cpu, thread_commits) = (cpu_ns.clone(), commits.clone());
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
                    thread_commits.fetch_add(1, Ordering::Relaxed);
                    thread_cpu.store(thread_cpu_ns(), Ordering::Relaxed);
                }
            })?;
        Ok((
            Writer {
                tx,
                cpu_ns,
                commits,
            },
            handle,
        ))
    }

    /// CPU time the writer thread has used so far (user and system), as of its last commit.
    pub fn cpu_time(&self) -> Duration {
        Duration::from_nanos(self.cpu_ns.load(Ordering::Relaxed))
    }

    /// Group commits so far.
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
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
