//! The scheduler: a dispatcher that claims ready jobs in batches (each admitted by the
//! worker's own caps), a pool of tasks that run them on any [`Worker`], a completer that turns
//! verdicts into outcomes through the worker's retry policy and records them in group
//! commits, heartbeats that keep leases alive, and recovery of expired leases. Shuts down
//! gracefully: the first signal stops claiming and lets claimed jobs finish, the second
//! releases their leases and stops. A halt (the environment failed: a full disk) stops
//! claiming too, and ends the run with that failure as its error.

pub mod retry;
pub mod started;
#[cfg(test)]
mod tests;
pub mod verdict;
pub mod worker;
pub mod writer;

use anyhow::{Context, Result, bail};
use baton_core::clock::now_ms;
use baton_core::model::{Claimed, Failure, Outcome};
use baton_core::store::{Claim, Recovered};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use worker::{Worked, Worker};
use writer::Writer;

/// How one scheduler run behaves.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Jobs worked at once.
    pub workers: usize,
    /// Exit when no job is left (none queued, running or blocked).
    pub drain: bool,
    /// How long a claim holds a job without a heartbeat (heartbeats every third of it).
    pub lease: Duration,
    /// Times a job's worker may be lost before the job fails as a poison pill.
    pub max_recoveries: u32,
    /// Most jobs one claim takes.
    pub claim_batch: usize,
    /// This process's lease owner id (`host:pid:start-ms`).
    pub owner: String,
    /// Owners whose process is known dead: their leases are recovered at once.
    pub dead_owners: Vec<String>,
    /// Notified by in-process producers after they enqueue, so an idle dispatcher claims at
    /// once instead of at its next poll.
    pub wake: Arc<tokio::sync::Notify>,
    /// Run only the jobs of this pipeline run; `None`: only work-queue jobs (of no run),
    /// and with `any_run` the jobs of every pipeline run too.
    pub run: Option<String>,
    /// With `run: None`: also claim the jobs of pipeline runs started by other processes
    /// (the worker admits those it can run).
    pub any_run: bool,
    /// With a run: cancel its jobs that have not started as soon as one fails for good.
    pub stop_run_on_failure: bool,
    /// Where the start logs live (`.baton/started`), so a lost holder's never-started jobs
    /// are not counted against them; `None`: every lost lease counts.
    pub start_logs: Option<std::path::PathBuf>,
}

/// Counters of one run, readable while it runs.
#[derive(Debug, Default)]
pub struct Counters {
    /// Jobs done.
    pub done: AtomicU64,
    /// Jobs skipped.
    pub skipped: AtomicU64,
    /// Jobs failed for good.
    pub failed: AtomicU64,
    /// Attempts that will be retried after a backoff.
    pub retried: AtomicU64,
    /// Attempts snoozed (rate limits, requested delays).
    pub snoozed: AtomicU64,
    /// Outcomes discarded because their lease was lost.
    pub fenced: AtomicU64,
    /// Leases recovered (or poison pills failed).
    pub recovered: AtomicU64,
    /// Leases released at shutdown.
    pub released: AtomicU64,
    /// Jobs being worked right now.
    pub running: AtomicU64,
}

impl Counters {
    /// Reads one counter.
    pub fn get(value: &AtomicU64) -> u64 {
        value.load(Ordering::Relaxed)
    }

    /// Jobs that ended (done, skipped, failed).
    pub fn finished(&self) -> u64 {
        Self::get(&self.done) + Self::get(&self.skipped) + Self::get(&self.failed)
    }

    /// The counter of an outcome kind.
    fn of(&self, kind: Ended) -> &AtomicU64 {
        match kind {
            Ended::Done => &self.done,
            Ended::Skipped => &self.skipped,
            Ended::Failed => &self.failed,
            Ended::Snoozed => &self.snoozed,
            Ended::Retried => &self.retried,
        }
    }

    /// Adds what a lease recovery did: recovered leases, and poison pills as failures.
    fn recovered(&self, recovered: Recovered) {
        self.recovered.fetch_add(
            (recovered.recovered + recovered.poisoned) as u64,
            Ordering::Relaxed,
        );
        self.failed
            .fetch_add(recovered.poisoned as u64, Ordering::Relaxed);
    }
}

/// How an attempt ended, for the counters.
#[derive(Clone, Copy)]
enum Ended {
    Done,
    Skipped,
    Failed,
    Snoozed,
    Retried,
}

impl Ended {
    fn of(outcome: &Outcome) -> Ended {
        match outcome {
            Outcome::Done { .. } => Ended::Done,
            Outcome::Skipped { .. } => Ended::Skipped,
            Outcome::Failed { .. } => Ended::Failed,
            Outcome::Retry { snooze: true, .. } => Ended::Snoozed,
            Outcome::Retry { .. } => Ended::Retried,
        }
    }
}

/// How far a shutdown has gone (sent through a watch channel).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Shutdown {
    /// Keep going.
    Running,
    /// Claim nothing more; let claimed jobs finish (the first signal).
    StopClaiming,
    /// Release the leases of what is in flight and stop (the second signal).
    Abort,
}

type InFlight = Arc<Mutex<HashMap<i64, Claimed>>>;

/// Members silent this long (killed, or on a lost host) are forgotten by the next heartbeat
/// of any process: 10 minutes.
pub(crate) const FORGET_MEMBERS_MS: i64 = 10 * 60 * 1000;

/// This process as a member of the store (`baton hosts`): lease owner `owner`, running
/// pipeline run `run` or (with `None`) the work queue.
pub(crate) fn member(owner: &str, run: Option<&str>) -> baton_core::store::Member {
    baton_core::store::Member {
        owner: owner.to_string(),
        host: crate::owner::hostname(),
        pid: std::process::id(),
        role: match run {
            Some(run) => format!("run {run}"),
            None => "queue".to_string(),
        },
        version: env!("CARGO_PKG_VERSION").to_string(),
        started_at: now_ms(),
        last_beat: 0,
    }
}

/// Jobs shorter than this on average are claimed ahead of the workers.
const SHORT_JOB_MICROS: u64 = 5_000;

/// Short jobs held per worker.
const SHORT_PREFETCH: usize = 16;

/// How long this process's jobs take (a moving average), which sets how far ahead of its
/// workers the dispatcher claims.
#[derive(Default)]
struct Pace {
    /// Exponentially weighted mean of job durations, in microseconds; 0 until a job ends.
    mean_micros: AtomicU64,
}

impl Pace {
    /// Folds one job's duration into the mean (weight 1/8).
    fn record(&self, took: Duration) {
        let micros = took.as_micros().min(u128::from(u64::MAX / 8)) as u64;
        let _ = self
            .mean_micros
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |mean| {
                Some(if mean == 0 {
                    micros.max(1)
                } else {
                    (mean * 7 + micros) / 8
                })
            });
    }

    /// Jobs to hold at once. Short jobs: [`SHORT_PREFETCH`] per worker, so claims and
    /// completions come in large batches (one commit, which may wait for a disk or a
    /// server, covers many jobs) while workers stay busy. Longer or unknown
    /// ones: one per worker — holding more would only keep them from idle processes
    /// elsewhere, and strand more if this one crashed.
    fn capacity(&self, workers: usize) -> usize {
        let mean = self.mean_micros.load(Ordering::Relaxed);
        if mean > 0 && mean < SHORT_JOB_MICROS {
            workers * SHORT_PREFETCH
        } else {
            workers
        }
    }
}

/// How often an idle dispatcher looks for due jobs (jobs enqueued by other processes wait at
/// most this long; in-process producers wake it at once).
const IDLE_POLL: Duration = Duration::from_millis(50);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs jobs on `worker` until drained (with `drain`) or told to stop.
pub async fn run<W: Worker>(
    worker: Arc<W>,
    writer: Writer,
    options: RunOptions,
    shutdown: watch::Receiver<Shutdown>,
    counters: Arc<Counters>,
) -> Result<()> {
    let dead_owners = options.dead_owners.clone();
    let max_recoveries = options.max_recoveries;
    let owner = options.owner.clone();
    let lease = options.lease.as_millis() as i64;
    let me = member(&options.owner, options.run.as_deref());
    let logs: HashMap<String, Option<HashSet<(i64, i64)>>> = match &options.start_logs {
        Some(dir) => dead_owners
            .iter()
            .map(|owner| (owner.clone(), started::read(dir, owner)))
            .collect(),
        None => HashMap::new(),
    };
    let recovered = writer
        .submit(move |tx| {
            let was_started = |owner: &str, id: i64, fence: i64| match logs.get(owner) {
                Some(Some(started)) => started.contains(&(id, fence)),
                _ => true,
            };
            // Limiter slots of processes that are gone are free at once, not at their expiry.
            tx.extend_slots(&owner, now_ms() + lease, &dead_owners)?;
            tx.beat(&me, tx.now() - FORGET_MEMBERS_MS)?;
            tx.recover(&dead_owners, max_recoveries, &was_started)
        })
        .await?;
    counters.recovered(recovered);
    if let Some(dir) = &options.start_logs {
        for owner in &options.dead_owners {
            started::remove(dir, owner);
        }
        started::sweep(dir);
    }
    let start_log = match &options.start_logs {
        Some(dir) => Some(Arc::new(started::StartLog::open(dir, &options.owner)?)),
        None => None,
    };
    let (stop, shutdown, forwarding) = follow(shutdown);
    let halt: Arc<Mutex<Option<Failure>>> = Arc::default();
    let store_failed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let in_flight: InFlight = Arc::default();
    let pace = Arc::new(Pace::default());
    let (job_tx, job_rx) = mpsc::channel::<Claimed>(options.workers * SHORT_PREFETCH);
    let job_rx = Arc::new(tokio::sync::Mutex::new(job_rx));
    let (done_tx, done_rx) = mpsc::unbounded_channel::<(Claimed, Worked)>();

    let mut tasks = Vec::with_capacity(options.workers);
    for _ in 0..options.workers {
        let worker = worker.clone();
        let job_rx = job_rx.clone();
        let done_tx = done_tx.clone();
        let counters = counters.clone();
        let start_log = start_log.clone();
        let pace = pace.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let job = { job_rx.lock().await.recv().await };
                let Some(job) = job else { break };
                if let Some(log) = &start_log {
                    log.record(job.id, job.fence);
                }
                counters.running.fetch_add(1, Ordering::Relaxed);
                let began = Instant::now();
                let worked = worker.work(&job).await;
                pace.record(began.elapsed());
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
        worker: worker.clone(),
        writer: writer.clone(),
        in_flight: in_flight.clone(),
        counters: counters.clone(),
        slots_freed: slots_freed.clone(),
        stop_run: options.run.clone().filter(|_| options.stop_run_on_failure),
        halt: halt.clone(),
        store_failed: store_failed.clone(),
        stop,
    };
    let completer = tokio::spawn(completer.run(done_rx));
    let upkeep = tokio::spawn(upkeep(
        writer.clone(),
        in_flight.clone(),
        worker.clone(),
        options.clone(),
        counters.clone(),
    ));

    let dispatched = dispatch(
        &writer,
        &worker,
        &options,
        Held {
            jobs: &in_flight,
            freed: &slots_freed,
            pace: &pace,
        },
        job_tx,
        shutdown.clone(),
    )
    .await;

    if dispatched.is_err() {
        // Claims the store would not take: what is held goes back without a charge.
        store_failed.store(true, Ordering::Relaxed);
    }
    // Claimed jobs finish unless a second signal aborts them.
    let mut abort = shutdown.clone();
    let all_done = async {
        for task in &mut tasks {
            let _ = task.await;
        }
    };
    let aborted = tokio::select! {
        _ = all_done => false,
        _ = abort.wait_for(|level| *level >= Shutdown::Abort) => true,
    };
    if aborted {
        for task in &tasks {
            task.abort();
        }
        // Aborted tasks end at their next await point; wait until they have.
        while !tasks.iter().all(|task| task.is_finished()) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    let _ = completer.await;
    upkeep.abort();
    let leftover: Vec<Claimed> = lock(&in_flight).drain().map(|(_, job)| job).collect();
    // Wrapping up is best effort once the store refuses writes: the first error is kept.
    let mut store_error = None;
    if !leftover.is_empty() {
        for job in &leftover {
            worker.finished(job);
        }
        match writer.submit(move |tx| tx.release(&leftover)).await {
            Ok(released) => {
                counters
                    .released
                    .fetch_add(released as u64, Ordering::Relaxed);
            }
            Err(e) => store_error = Some(e),
        }
    }
    if let Some(change) = worker.upkeep()
        && let Err(e) = writer.submit(change).await
    {
        store_error.get_or_insert(e);
    }
    let owner = options.owner.clone();
    if let Err(e) = writer.submit(move |tx| tx.leave(&owner)).await {
        store_error.get_or_insert(e);
    }
    if let Some(log) = start_log.and_then(Arc::into_inner) {
        if store_error.is_some() || store_failed.load(Ordering::Relaxed) {
            // Outcomes were lost with the store: what this process held goes back without a
            // charge when the next process recovers its leases.
            log.give_back();
        } else {
            // Every job this process started is finished or released: its log has served.
            log.remove();
        }
    }
    forwarding.abort();
    if let Some(failure) = lock(&halt).take() {
        bail!(
            "{}\nthe run stopped: this is not the jobs' fault, so they were put back without \
             using an attempt; fix the cause and run again",
            failure.message
        );
    }
    let remedy = "the store refused a write (a full disk, a server gone): fix the cause and \
                  run again; what this process held goes back without using an attempt";
    if let Some(e) = store_error {
        return Err(e.context(remedy));
    }
    dispatched.context(remedy)
}

/// A shutdown channel that follows `outside` (the signals) and that the run itself can also
/// move to [`Shutdown::StopClaiming`] (a halt); the task forwarding `outside` is returned so
/// it ends with the run.
fn follow(
    mut outside: watch::Receiver<Shutdown>,
) -> (
    watch::Sender<Shutdown>,
    watch::Receiver<Shutdown>,
    tokio::task::JoinHandle<()>,
) {
    let (sender, receiver) = watch::channel(*outside.borrow());
    let forward = sender.clone();
    let task = tokio::spawn(async move {
        while outside.changed().await.is_ok() {
            let level = *outside.borrow();
            raise(&forward, level);
        }
    });
    (sender, receiver, task)
}

/// Moves a shutdown channel up to `level` (never back down).
fn raise(channel: &watch::Sender<Shutdown>, level: Shutdown) {
    channel.send_if_modified(|current| {
        let higher = level > *current;
        if higher {
            *current = level;
        }
        higher
    });
}

/// Pauses before a failed claim is tried again: a server that dropped the connection (a
/// failover, a pooler restart) is reconnected to on the next try; a store that keeps
/// refusing ends the run.
const CLAIM_RETRIES: [Duration; 3] = [
    Duration::from_millis(250),
    Duration::from_secs(1),
    Duration::from_secs(3),
];

/// Claims as `claim` says, trying again after [`CLAIM_RETRIES`] when the store fails.
async fn claim_retrying<W: Worker>(
    writer: &Writer,
    worker: &Arc<W>,
    claim: Claim,
) -> Result<Vec<Claimed>> {
    let mut pauses = CLAIM_RETRIES.iter();
    loop {
        let admitting = worker.clone();
        let attempt = claim.clone();
        match writer
            .submit(move |tx| tx.claim(&attempt, &mut |offer| admitting.admit(offer)))
            .await
        {
            Ok(claimed) => return Ok(claimed),
            Err(e) => match pauses.next() {
                Some(pause) => {
                    tracing::warn!("claiming failed, trying again in {pause:?}: {e:#}");
                    tokio::time::sleep(*pause).await;
                }
                None => return Err(e),
            },
        }
    }
}

/// What the dispatcher holds and how it paces claims.
struct Held<'a> {
    /// Jobs claimed and not finished.
    jobs: &'a InFlight,
    /// Notified when the completer frees slots.
    freed: &'a tokio::sync::Notify,
    /// How long jobs take here.
    pace: &'a Pace,
}

/// Claims jobs for the workers until drained or told to stop.
async fn dispatch<W: Worker>(
    writer: &Writer,
    worker: &Arc<W>,
    options: &RunOptions,
    held: Held<'_>,
    job_tx: mpsc::Sender<Claimed>,
    mut shutdown: watch::Receiver<Shutdown>,
) -> Result<()> {
    let Held {
        jobs: in_flight,
        freed: slots_freed,
        pace,
    } = held;
    loop {
        let capacity = pace.capacity(options.workers);
        if *shutdown.borrow() >= Shutdown::StopClaiming {
            return Ok(());
        }
        let held = lock(in_flight).len();
        // Claim in batches: wait until a quarter of the slots are free, unless idle.
        let open = capacity.saturating_sub(held);
        let free = if held == 0 || open >= capacity / 4 {
            open
        } else {
            0
        };
        let mut claimed = Vec::new();
        if free > 0 {
            let claim = Claim {
                run: options.run.clone(),
                any_run: options.any_run,
                owner: options.owner.clone(),
                limit: free.min(options.claim_batch),
                lease_until: now_ms() + options.lease.as_millis() as i64,
            };
            claimed = claim_retrying(writer, worker, claim).await?;
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
        let run = options.run.clone();
        let pending = writer.submit(move |tx| tx.pending(run.as_deref())).await?;
        if options.drain && !pending.open && lock(in_flight).is_empty() {
            return Ok(());
        }
        let pause = pending.next_due.map_or(IDLE_POLL, |due| {
            Duration::from_millis((due - now_ms()).clamp(1, IDLE_POLL.as_millis() as i64) as u64)
        });
        // A job still held may, when it ends, make others due (its dependents in a run): its
        // commit frees a slot and wakes this loop, rather than the next poll up to 50 ms later.
        let held = got > 0 || !lock(in_flight).is_empty();
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = options.wake.notified() => {}
            _ = slots_freed.notified(), if held => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// Records outcomes in group commits as workers report them.
struct Completer<W> {
    worker: Arc<W>,
    writer: Writer,
    in_flight: InFlight,
    counters: Arc<Counters>,
    slots_freed: Arc<tokio::sync::Notify>,
    /// The run to stop when one of its jobs fails for good.
    stop_run: Option<String>,
    /// The first halt (the environment failed, see `Verdict::Halt`): the run's error.
    halt: Arc<Mutex<Option<Failure>>>,
    /// Set when the store refused to record outcomes (a halt too).
    store_failed: Arc<std::sync::atomic::AtomicBool>,
    /// Moved to `StopClaiming` on a halt.
    stop: watch::Sender<Shutdown>,
}

impl<W: Worker> Completer<W> {
    async fn run(self, mut done_rx: mpsc::UnboundedReceiver<(Claimed, Worked)>) {
        let mut batch = Vec::new();
        while done_rx.recv_many(&mut batch, 1024).await > 0 {
            let now = now_ms();
            let mut records = Vec::new();
            let mut finish = Vec::with_capacity(batch.len());
            for (job, worked) in batch.drain(..) {
                if let verdict::Verdict::Halt(failure) = &worked.verdict {
                    lock(&self.halt).get_or_insert_with(|| failure.clone());
                    raise(&self.stop, Shutdown::StopClaiming);
                }
                let outcome = self
                    .worker
                    .retry_policy(&job)
                    .outcome(&job, worked.verdict, now);
                records.push(worked.record);
                finish.push((job, outcome));
            }
            // Counted once the store has applied them: an outcome fenced out (its lease was
            // lost and recovered) is not done, whatever the worker saw.
            let kinds: Vec<Ended> = finish.iter().map(|(_, o)| Ended::of(o)).collect();
            let ids: Vec<i64> = finish.iter().map(|(job, _)| job.id).collect();
            let stop = self.stop_run.clone().and_then(|run| {
                finish
                    .iter()
                    .find(|(_, outcome)| matches!(outcome, Outcome::Failed { .. }))
                    .map(|(job, _)| (run, format!("the run stopped: `{}` failed", job.key)))
            });
            let jobs: Vec<Claimed> = finish.iter().map(|(job, _)| job.clone()).collect();
            let recorded = self
                .writer
                .submit(move |tx| {
                    let applied = tx.finish(&finish)?;
                    // A record goes with its outcome only: a fenced-out attempt records nothing.
                    for (record, ok) in records.into_iter().zip(&applied) {
                        if let (Some(record), true) = (record, *ok) {
                            record(tx)?;
                        }
                    }
                    if let Some((run, reason)) = stop {
                        tx.cancel_run(&run, &reason)?;
                    }
                    Ok(applied)
                })
                .await;
            match recorded {
                Ok(applied) => {
                    for (kind, ok) in kinds.into_iter().zip(applied) {
                        let counter = if ok {
                            self.counters.of(kind)
                        } else {
                            &self.counters.fenced
                        };
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Err(e) => {
                    // The store refuses writes (a full disk, a lost server): every other
                    // outcome would be lost too, so stop once, saying why.
                    if !self.store_failed.swap(true, Ordering::Relaxed) {
                        let failure = crate::environment::failure(format!(
                            "cannot record outcomes in the store: {e:#}"
                        ));
                        lock(&self.halt).get_or_insert(failure);
                        raise(&self.stop, Shutdown::StopClaiming);
                    }
                }
            }
            for job in &jobs {
                self.worker.finished(job);
            }
            let mut flight = lock(&self.in_flight);
            for id in ids {
                flight.remove(&id);
            }
            self.slots_freed.notify_one();
        }
    }
}

/// Heartbeats (of leases, limiter slots and this process as a member), the leader lease, lease
/// recovery (by the leader only) and the worker's upkeep on a timer.
async fn upkeep<W: Worker>(
    writer: Writer,
    in_flight: InFlight,
    worker: Arc<W>,
    options: RunOptions,
    counters: Arc<Counters>,
) {
    let beat = (options.lease / 3).max(Duration::from_millis(100));
    let started_at = now_ms();
    loop {
        tokio::time::sleep(beat).await;
        let leases: Vec<(i64, i64)> = lock(&in_flight).values().map(|j| (j.id, j.fence)).collect();
        let lease_until = now_ms() + options.lease.as_millis() as i64;
        let max_recoveries = options.max_recoveries;
        let owner = options.owner.clone();
        let mut me = member(&options.owner, options.run.as_deref());
        me.started_at = started_at;
        let extra = worker.upkeep();
        let result = writer
            .submit(move |tx| {
                tx.heartbeat(&leases, lease_until)?;
                tx.extend_slots(&owner, lease_until, &[])?;
                tx.beat(&me, tx.now() - FORGET_MEMBERS_MS)?;
                // One process leads maintenance: the leader recovers expired leases at each
                // of its heartbeats, so a lost holder's jobs are back within its lease and
                // one heartbeat — also when the holder was the leader, whose lease ends as
                // its jobs' do.
                let leading = tx.lead(&owner, lease_until)?.is_some();
                let recovered = if leading {
                    tx.recover(&[], max_recoveries, &|_, _, _| true)?
                } else {
                    Default::default()
                };
                if let Some(change) = extra {
                    change(tx)?;
                }
                Ok(recovered)
            })
            .await;
        match result {
            Ok(r) => counters.recovered(r),
            Err(e) => tracing::error!("heartbeat failed: {e:#}"),
        }
    }
}
