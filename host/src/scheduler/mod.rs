//! The scheduler: a dispatcher that claims ready jobs in batches within the per-resolver
//! caps, a pool of workers that run them, a completer that records outcomes in group commits,
//! heartbeats that keep leases alive, and recovery of expired leases. Shuts down gracefully:
//! the first signal stops claiming and lets claimed jobs finish, the second releases their
//! leases and stops.

pub mod writer;

use crate::queue::model::{Claimed, now_ms};
use crate::queue::work::{WorkContext, Worked};
use crate::store::ops::{Op, OpResult};
use anyhow::{Result, bail};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use writer::Writer;

/// How a run behaves.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub workers: usize,
    /// Cap on jobs running per resolver (the job's named resolver, or the chain's first).
    pub max_per_resolver: Option<u32>,
    pub first_resolver: String,
    /// Exit when no job is left (none queued, running or blocked).
    pub drain: bool,
    pub lease: Duration,
    pub max_recoveries: u32,
    pub claim_batch: usize,
    /// This process's lease owner id.
    pub owner: String,
    /// Owners whose process is known dead: their leases are recovered at once.
    pub dead_owners: Vec<String>,
    /// Notified by in-process producers after they enqueue, so an idle dispatcher claims at
    /// once instead of at its next poll.
    pub wake: Arc<tokio::sync::Notify>,
    /// Run only the jobs of this pipeline run; `None`: only work-queue jobs (of no run).
    pub run: Option<String>,
    /// With a run: cancel its jobs that have not started as soon as one fails for good.
    pub stop_run_on_failure: bool,
}

impl RunOptions {
    /// Options for `workers` workers from the configuration's lease and recovery settings:
    /// the work queue (no run), no per-resolver cap, not draining. Callers override fields.
    pub fn from_config(config: &crate::config::Config, workers: usize) -> RunOptions {
        RunOptions {
            workers,
            max_per_resolver: None,
            first_resolver: String::new(),
            drain: false,
            lease: config.duration("queue.lease"),
            max_recoveries: config.count("queue.max-recoveries"),
            claim_batch: 256,
            owner: crate::queue::setup::owner_id(),
            dead_owners: Vec::new(),
            wake: Arc::default(),
            run: None,
            stop_run_on_failure: false,
        }
    }
}

/// Counters of one run.
#[derive(Debug, Default)]
pub struct Counters {
    pub done: AtomicU64,
    pub skipped: AtomicU64,
    pub failed: AtomicU64,
    pub retried: AtomicU64,
    pub snoozed: AtomicU64,
    pub fenced: AtomicU64,
    pub recovered: AtomicU64,
    pub released: AtomicU64,
    pub running: AtomicU64,
}

impl Counters {
    pub fn get(value: &AtomicU64) -> u64 {
        value.load(Ordering::Relaxed)
    }

    pub fn finished(&self) -> u64 {
        Self::get(&self.done) + Self::get(&self.skipped) + Self::get(&self.failed)
    }
}

/// Shutdown levels sent through the watch channel.
pub const RUNNING: u8 = 0;
pub const STOP_CLAIMING: u8 = 1;
pub const ABORT: u8 = 2;

type InFlight = Arc<Mutex<HashMap<i64, Claimed>>>;

/// How often an idle dispatcher looks for due jobs (jobs enqueued by other processes wait at
/// most this long; in-process producers wake it at once).
const IDLE_POLL: Duration = Duration::from_millis(50);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs the queue until drained (with `drain`) or told to stop.
pub async fn run(
    ctx: Arc<WorkContext>,
    writer: Writer,
    options: RunOptions,
    shutdown: watch::Receiver<u8>,
    counters: Arc<Counters>,
) -> Result<()> {
    let recovered = writer
        .apply(vec![Op::Recover {
            dead_owners: options.dead_owners.clone(),
            max_recoveries: options.max_recoveries,
        }])
        .await?;
    if let Some(OpResult::Recovered {
        recovered,
        poisoned,
    }) = recovered.first()
    {
        counters
            .recovered
            .fetch_add((recovered + poisoned) as u64, Ordering::Relaxed);
    }
    let in_flight: InFlight = Arc::default();
    let per_resolver: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let (job_tx, job_rx) = mpsc::channel::<Claimed>(options.workers * 4);
    let job_rx = Arc::new(tokio::sync::Mutex::new(job_rx));
    let (done_tx, done_rx) = mpsc::unbounded_channel::<(Claimed, Worked)>();

    let mut workers = Vec::with_capacity(options.workers);
    for _ in 0..options.workers {
        let ctx = ctx.clone();
        let job_rx = job_rx.clone();
        let done_tx = done_tx.clone();
        let counters = counters.clone();
        workers.push(tokio::spawn(async move {
            loop {
                let job = { job_rx.lock().await.recv().await };
                let Some(job) = job else { break };
                counters.running.fetch_add(1, Ordering::Relaxed);
                let worked = ctx.work(&job).await;
                counters.running.fetch_sub(1, Ordering::Relaxed);
                if done_tx.send((job, worked)).is_err() {
                    break;
                }
            }
        }));
    }
    drop(done_tx);

    let slots_freed = Arc::new(tokio::sync::Notify::new());
    let completer = Completer {
        writer: writer.clone(),
        in_flight: in_flight.clone(),
        per_resolver: per_resolver.clone(),
        first_resolver: options.first_resolver.clone(),
        counters: counters.clone(),
        slots_freed: slots_freed.clone(),
        stop_run: options.run.clone().filter(|_| options.stop_run_on_failure),
    };
    let completer = tokio::spawn(completer.run(done_rx));
    let upkeep = tokio::spawn(upkeep(
        writer.clone(),
        in_flight.clone(),
        ctx.clone(),
        options.clone(),
        counters.clone(),
    ));

    let dispatched = dispatch(
        &writer,
        &options,
        &in_flight,
        &per_resolver,
        job_tx,
        &slots_freed,
        shutdown.clone(),
    )
    .await;

    // Claimed jobs finish unless a second signal aborts them.
    let mut abort = shutdown.clone();
    let all_done = async {
        for worker in &mut workers {
            let _ = worker.await;
        }
    };
    tokio::select! {
        _ = all_done => {}
        _ = abort.wait_for(|level| *level >= ABORT) => {
            for worker in &workers {
                worker.abort();
            }
        }
    }
    let _ = completer.await;
    upkeep.abort();
    let leftover: Vec<Claimed> = lock(&in_flight).drain().map(|(_, job)| job).collect();
    if !leftover.is_empty() {
        let results = writer.apply(vec![Op::Release(leftover)]).await?;
        if let Some(OpResult::Released(n)) = results.first() {
            counters.released.fetch_add(*n as u64, Ordering::Relaxed);
        }
    }
    flush_limiter(&writer, &ctx).await?;
    dispatched
}

/// Claims jobs for the workers until drained or told to stop.
async fn dispatch(
    writer: &Writer,
    options: &RunOptions,
    in_flight: &InFlight,
    per_resolver: &Arc<Mutex<HashMap<String, u32>>>,
    job_tx: mpsc::Sender<Claimed>,
    slots_freed: &tokio::sync::Notify,
    mut shutdown: watch::Receiver<u8>,
) -> Result<()> {
    // Jobs held at once: enough that claims come in batches, few enough that a crash
    // strands little (their leases are recovered).
    let capacity = options.workers * 4;
    loop {
        if *shutdown.borrow() >= STOP_CLAIMING {
            return Ok(());
        }
        let held = lock(in_flight).len();
        // Claim in batches: wait until a quarter of the slots are free, unless idle.
        let free = if held == 0 || capacity - held >= capacity / 4 {
            capacity - held
        } else {
            0
        };
        let mut claimed = Vec::new();
        if free > 0 {
            let admit_counts = per_resolver.clone();
            let cap = options.max_per_resolver;
            let first = options.first_resolver.clone();
            let results = writer
                .apply(vec![Op::Claim {
                    run: options.run.clone(),
                    owner: options.owner.clone(),
                    limit: free.min(options.claim_batch),
                    lease_until: now_ms() + options.lease.as_millis() as i64,
                    admit: Box::new(move |plugin| {
                        let name = plugin.unwrap_or(&first);
                        let mut counts = lock(&admit_counts);
                        let count = counts.entry(name.to_string()).or_default();
                        if cap.is_some_and(|cap| *count >= cap) {
                            return false;
                        }
                        *count += 1;
                        true
                    }),
                }])
                .await?;
            if let Some(OpResult::Claimed(jobs)) = results.into_iter().next() {
                claimed = jobs;
            }
        }
        let got = claimed.len();
        {
            let mut flight = lock(in_flight);
            for job in &claimed {
                flight.insert(job.id, job.clone());
            }
        }
        for job in claimed {
            if job_tx.send(job).await.is_err() {
                bail!("the workers stopped");
            }
        }
        if free == 0 || (got > 0 && got >= free.min(options.claim_batch)) {
            // Slots are taken, or there may be more: go again when slots free up.
            if free == 0 {
                tokio::select! {
                    _ = slots_freed.notified() => {}
                    _ = tokio::time::sleep(IDLE_POLL) => {}
                    _ = shutdown.changed() => {}
                }
            }
            continue;
        }
        // Nothing due now: wait for a due job, a producer, a free slot or a signal.
        let mut pause = IDLE_POLL;
        let results = writer
            .apply(vec![Op::Pending {
                run: options.run.clone(),
            }])
            .await?;
        if let Some(OpResult::Pending { open, next_due }) = results.first() {
            if options.drain && !*open && lock(in_flight).is_empty() {
                return Ok(());
            }
            if let Some(due) = next_due {
                let wait = (due - now_ms()).clamp(1, IDLE_POLL.as_millis() as i64) as u64;
                pause = Duration::from_millis(wait);
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = options.wake.notified() => {}
            _ = slots_freed.notified(), if got > 0 => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// Records outcomes in group commits as workers report them.
struct Completer {
    writer: Writer,
    in_flight: InFlight,
    per_resolver: Arc<Mutex<HashMap<String, u32>>>,
    first_resolver: String,
    counters: Arc<Counters>,
    slots_freed: Arc<tokio::sync::Notify>,
    /// The run to stop when one of its jobs fails for good.
    stop_run: Option<String>,
}

impl Completer {
    async fn run(self, mut done_rx: mpsc::UnboundedReceiver<(Claimed, Worked)>) {
        let Completer {
            writer,
            in_flight,
            per_resolver,
            first_resolver,
            counters,
            slots_freed,
            stop_run,
        } = self;
        let mut batch = Vec::new();
        while done_rx.recv_many(&mut batch, 1024).await > 0 {
            let mut ops = Vec::new();
            let mut finish = Vec::with_capacity(batch.len());
            for (job, worked) in batch.drain(..) {
                if let Some(row) = worked.manifest {
                    ops.push(Op::Manifest(row));
                }
                let counter = match &worked.outcome {
                    crate::queue::model::Outcome::Done { .. } => &counters.done,
                    crate::queue::model::Outcome::Skipped { .. } => &counters.skipped,
                    crate::queue::model::Outcome::Failed { .. } => &counters.failed,
                    crate::queue::model::Outcome::Retry { snooze: true, .. } => &counters.snoozed,
                    crate::queue::model::Outcome::Retry { .. } => &counters.retried,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                finish.push((job, worked.outcome));
            }
            let jobs: Vec<(i64, String)> = finish
                .iter()
                .map(|(job, _)| {
                    (
                        job.id,
                        job.plugin.clone().unwrap_or_else(|| first_resolver.clone()),
                    )
                })
                .collect();
            let failed = finish
                .iter()
                .find(|(_, outcome)| matches!(outcome, crate::queue::model::Outcome::Failed { .. }))
                .map(|(job, _)| job.key.clone());
            ops.push(Op::Finish(finish));
            if let (Some(run_id), Some(key)) = (&stop_run, failed) {
                ops.push(Op::CancelRun {
                    run_id: run_id.clone(),
                    reason: format!("the run stopped: `{key}` failed"),
                });
            }
            match writer.apply(ops).await {
                Ok(results) => {
                    if let Some(OpResult::Finished(applied)) =
                        results.iter().find(|r| matches!(r, OpResult::Finished(_)))
                    {
                        let fenced = applied.iter().filter(|ok| !**ok).count();
                        counters.fenced.fetch_add(fenced as u64, Ordering::Relaxed);
                    }
                }
                Err(e) => {
                    tracing::error!("cannot record outcomes: {e:#}; their jobs will be recovered");
                }
            }
            let mut flight = lock(&in_flight);
            let mut counts = lock(&per_resolver);
            for (id, resolver) in jobs {
                flight.remove(&id);
                if let Some(count) = counts.get_mut(&resolver) {
                    *count = count.saturating_sub(1);
                }
            }
            slots_freed.notify_one();
        }
    }
}

/// Heartbeats, lease recovery and limiter flushes on a timer.
async fn upkeep(
    writer: Writer,
    in_flight: InFlight,
    ctx: Arc<WorkContext>,
    options: RunOptions,
    counters: Arc<Counters>,
) {
    let beat = (options.lease / 3).max(Duration::from_millis(100));
    let mut next_recovery = Instant::now() + options.lease / 2;
    loop {
        tokio::time::sleep(beat).await;
        let jobs: Vec<(i64, i64)> = lock(&in_flight).values().map(|j| (j.id, j.fence)).collect();
        let mut ops = vec![Op::Heartbeat {
            jobs,
            lease_until: now_ms() + options.lease.as_millis() as i64,
        }];
        if Instant::now() >= next_recovery {
            next_recovery = Instant::now() + options.lease / 2;
            ops.push(Op::Recover {
                dead_owners: Vec::new(),
                max_recoveries: options.max_recoveries,
            });
        }
        match writer.apply(ops).await {
            Ok(results) => {
                for result in results {
                    if let OpResult::Recovered {
                        recovered,
                        poisoned,
                    } = result
                    {
                        counters
                            .recovered
                            .fetch_add((recovered + poisoned) as u64, Ordering::Relaxed);
                    }
                }
            }
            Err(e) => tracing::error!("heartbeat failed: {e:#}"),
        }
        if let Err(e) = flush_limiter(&writer, &ctx).await {
            tracing::error!("cannot record limiter state: {e:#}");
        }
    }
}

async fn flush_limiter(writer: &Writer, ctx: &WorkContext) -> Result<()> {
    let mut ops: Vec<Op> = ctx
        .limiter
        .take_quota_use()
        .into_iter()
        .map(|(key, day, used)| Op::Quota { key, day, used })
        .collect();
    let denials = ctx.limiter.take_denials();
    if denials > 0 {
        ops.push(Op::Counter {
            name: "limiter_denials",
            by: denials as i64,
        });
    }
    if !ops.is_empty() {
        writer.apply(ops).await?;
    }
    Ok(())
}
