//! The composition root: the one place that opens the store, starts the writer (whose store
//! journals every commit to the ledger), builds the limiter and the plugin runtime, runs the
//! scheduler on a worker and installs signal handling. `queue run`, `pipeline run` and
//! `bench` all go through [`Engine`].

use crate::limiter::{LimitSpec, Limiter, SharedSlots};
use crate::owner;
use crate::scheduler::worker::Worker;
use crate::scheduler::writer::Writer;
use crate::scheduler::{self, Counters, RunOptions, Shutdown};
use crate::settings::Settings;
use anyhow::{Context, Result, anyhow};
use baton_core::store::Store;
use baton_runtime::engine::EngineSettings;
use baton_runtime::{Runtime, RuntimeOptions};
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// The plugin runtime for these settings, with plugin `state` kept in the configured store.
pub fn runtime(settings: &Settings) -> Result<Runtime> {
    let store = crate::store::open(&settings.store)?;
    let max_memory = settings
        .plugins
        .values()
        .filter_map(|p| p.memory.as_deref())
        .filter_map(|m| baton_core::units::parse_size(m).ok())
        .fold(settings.defaults.memory, u64::max)
        // `plugin call --memory` may ask for more than configured: leave room up to 4 GiB.
        .max(4 << 30);
    Runtime::new(RuntimeOptions {
        cache_dir: settings.runtime.cache_dir.clone(),
        cache_max_size: settings.runtime.cache_max_size,
        engine: EngineSettings {
            max_instances: settings.runtime.max_instances,
            max_memory,
        },
        state: Some(store.plugin_state()?),
    })
}

/// The plugin runtime of [`runtime`], made when something first needs it: a pipeline run
/// that finds every stage cached never builds an engine or its instance pool. Clones share
/// one runtime.
#[derive(Clone)]
pub struct LazyRuntime {
    settings: Arc<Settings>,
    made: Arc<Mutex<Option<Arc<Runtime>>>>,
}

impl LazyRuntime {
    /// A runtime for `settings`, not made yet.
    pub fn new(settings: &Settings) -> LazyRuntime {
        LazyRuntime {
            settings: Arc::new(settings.clone()),
            made: Arc::new(Mutex::new(None)),
        }
    }

    /// A runtime that is already made.
    pub fn ready(settings: &Settings, runtime: Arc<Runtime>) -> LazyRuntime {
        LazyRuntime {
            settings: Arc::new(settings.clone()),
            made: Arc::new(Mutex::new(Some(runtime))),
        }
    }

    /// The runtime, made now if it was not; the error is [`runtime`]'s (the store or the
    /// compile cache cannot be opened), and the next call tries again.
    pub fn get(&self) -> Result<Arc<Runtime>> {
        let mut made = self
            .made
            .lock()
            .map_err(|_| anyhow!("plugin runtime lock poisoned"))?;
        if let Some(runtime) = made.as_ref() {
            return Ok(runtime.clone());
        }
        let runtime = Arc::new(runtime(&self.settings)?);
        *made = Some(runtime.clone());
        Ok(runtime)
    }
}

/// Concurrency caps given on the command line for keys without their own `[limits]`.
#[derive(Debug, Clone, Copy, Default)]
pub struct KeyCaps {
    /// Downloads at once per host (`host:` keys); 0: no cap.
    pub per_host: u32,
    /// Jobs at once per resolver (`resolver:` keys); 0: no cap.
    pub per_resolver: u32,
}

/// The limits of a limiter key: `[limits."KEY"]`, else the command line's caps for `host:`
/// and `resolver:` keys.
pub fn limit_specs(
    settings: &Settings,
    caps: KeyCaps,
) -> impl Fn(&str) -> LimitSpec + Send + Sync + 'static {
    let limits = settings.limits.clone();
    move |key: &str| {
        let mut spec = limits.get(key).cloned().unwrap_or_default();
        let cap = if key.starts_with("host:") {
            caps.per_host
        } else if key.starts_with("resolver:") {
            caps.per_resolver
        } else {
            0
        };
        if spec.concurrency.is_none() && cap > 0 {
            spec.concurrency = Some(cap);
        }
        spec
    }
}

/// A running engine: the store with its writer, the limiter, this process's lease owner.
pub struct Engine {
    writer: Writer,
    /// A handle for reads (the limiter's quota reads among them) and for new handles
    /// (`Engine::store`).
    reader: Arc<Mutex<Box<dyn Store>>>,
    writer_thread: std::thread::JoinHandle<()>,
    /// Per-key limits, with daily quotas read from the store.
    pub limiter: Arc<Limiter>,
    /// This process's lease owner id.
    pub owner: String,
    /// Owners of leases whose process on this host is gone.
    pub dead_owners: Vec<String>,
    /// Woken when jobs may be ready: by in-process producers, and by the store's
    /// notifications from other processes (see [`listen`]).
    wake: Arc<tokio::sync::Notify>,
    /// Stops the notification listener's thread when the engine closes.
    listening: Arc<std::sync::atomic::AtomicBool>,
    /// `queue.lease`, `queue.max-recoveries` and `.baton/started` for [`Engine::options`].
    lease: std::time::Duration,
    max_recoveries: u32,
    start_logs: std::path::PathBuf,
}

impl Engine {
    /// Opens the configured store (`store::open`), starts the writer on it and builds the
    /// limiter, whose concurrency caps (`[limits]`, else `caps`) hold across every process
    /// on the store.
    pub fn start(settings: &Settings, caps: KeyCaps) -> Result<Engine> {
        let store = crate::store::open(&settings.store)?;
        // One handle for reads on other threads: the limiter's quota reads, and the
        // template of further handles.
        let reader = Arc::new(Mutex::new(store.reopen()?));
        let dead_owners = owner::dead_local_owners(&store.lease_owners()?);
        let quota_reader = reader.clone();
        let wake: Arc<tokio::sync::Notify> = Arc::default();
        let listening = Arc::new(std::sync::atomic::AtomicBool::new(true));
        if let Some(wakeups) = store.wakeups()? {
            listen(wakeups, wake.clone(), listening.clone())?;
        }
        let (writer, writer_thread) = Writer::start(store).context("cannot start the writer")?;
        let owner = owner::owner_id();
        let limiter = Limiter::new(
            limit_specs(settings, caps),
            Box::new(move |key, day| {
                quota_reader
                    .lock()
                    .map(|store| store.quota_used(key, day).unwrap_or(0))
                    .unwrap_or(0)
            }),
            Some(SharedSlots {
                writer: writer.clone(),
                holder: owner.clone(),
                lease: settings.queue.lease,
            }),
        );
        Ok(Engine {
            writer,
            reader,
            writer_thread,
            limiter,
            owner,
            dead_owners,
            wake,
            listening,
            lease: settings.queue.lease,
            max_recoveries: settings.queue.max_recoveries,
            start_logs: settings.state_dir.join("started"),
        })
    }

    /// Another handle on the store: for reads on other threads, and for the one-off
    /// transactions a command makes before the scheduler runs.
    pub fn store(&self) -> Result<Box<dyn Store>> {
        self.reader
            .lock()
            .map_err(|_| anyhow!("store handle lock poisoned"))?
            .reopen()
    }

    /// The writer (for producers that enqueue while the scheduler runs).
    pub fn writer(&self) -> &Writer {
        &self.writer
    }

    /// Scheduler options for `workers` workers from `[queue]`: this process's owner, the
    /// dead owners found at start, the work queue (no run), not draining.
    pub fn options(&self, workers: usize) -> RunOptions {
        RunOptions {
            workers: workers.max(1),
            drain: false,
            lease: self.lease,
            max_recoveries: self.max_recoveries,
            claim_batch: 256,
            owner: self.owner.clone(),
            dead_owners: self.dead_owners.clone(),
            wake: self.wake.clone(),
            run: None,
            any_run: false,
            stop_run_on_failure: false,
            start_logs: Some(self.start_logs.clone()),
        }
    }

    /// Runs the scheduler on `worker` until it drains or `shutdown` stops it; returns its
    /// counters.
    pub async fn run<W: Worker>(
        &self,
        worker: Arc<W>,
        options: RunOptions,
        shutdown: watch::Receiver<Shutdown>,
    ) -> Result<Arc<Counters>> {
        let counters = Arc::new(Counters::default());
        self.run_counting(worker, options, shutdown, counters.clone())
            .await?;
        Ok(counters)
    }

    /// [`Engine::run`] with counters the caller reads while it runs (a progress line).
    pub async fn run_counting<W: Worker>(
        &self,
        worker: Arc<W>,
        options: RunOptions,
        shutdown: watch::Receiver<Shutdown>,
        counters: Arc<Counters>,
    ) -> Result<()> {
        scheduler::run(worker, self.writer.clone(), options, shutdown, counters).await
    }

    /// Stops the writer once every change sent to it so far is committed (handles still
    /// held elsewhere fail from then on).
    pub fn close(self) -> Result<()> {
        self.listening
            .store(false, std::sync::atomic::Ordering::Relaxed);
        self.writer.stop();
        self.writer_thread
            .join()
            .map_err(|_| anyhow!("the store writer panicked"))
    }
}

/// How long the listener waits for a notification before it checks whether to stop.
const LISTEN_SLICE: std::time::Duration = std::time::Duration::from_millis(500);

/// Runs the store's notification listener on a thread of its own: each notification wakes
/// an idle dispatcher at once (polling stays the backstop); ends when `listening` turns
/// false.
fn listen(
    mut wakeups: Box<dyn baton_core::store::Wakeups>,
    wake: Arc<tokio::sync::Notify>,
    listening: Arc<std::sync::atomic::AtomicBool>,
) -> Result<()> {
    std::thread::Builder::new()
        .name("baton-listener".into())
        .spawn(move || {
            while listening.load(std::sync::atomic::Ordering::Relaxed) {
                match wakeups.wait(LISTEN_SLICE) {
                    Ok(true) => wake.notify_one(),
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!("store notifications: {e:#}; polling meanwhile");
                        std::thread::sleep(LISTEN_SLICE);
                    }
                }
            }
        })
        .context("cannot start the notification listener")?;
    Ok(())
}

/// A shutdown channel that no signal moves (benchmarks, tests).
pub fn never_stop() -> (watch::Sender<Shutdown>, watch::Receiver<Shutdown>) {
    watch::channel(Shutdown::Running)
}

/// Installs SIGINT/SIGTERM handling: the first signal stops claiming, the second releases
/// the leases in flight. `announce` is told each level as it is reached (the CLI prints it).
pub fn signals(announce: impl Fn(Shutdown) + Send + 'static) -> watch::Receiver<Shutdown> {
    let (levels, receiver) = watch::channel(Shutdown::Running);
    tokio::spawn(async move {
        let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            return;
        };
        for level in [Shutdown::StopClaiming, Shutdown::Abort] {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            announce(level);
            let _ = levels.send(level);
        }
    });
    receiver
}
