//! The scheduler on fake workers and a real SQLite store, without any plugin: dispatch
//! within a worker's caps, group-committed completions, lease recovery, retries through the
//! policy, and graceful shutdown (stop claiming, then release).

use super::retry::{Backoff, RetryPolicy};
use super::verdict::Verdict;
use super::worker::{Worked, Worker};
use super::writer::Writer;
use super::{Counters, RunOptions, Shutdown, run};
use baton_core::clock::now_ms;
use baton_core::event::Event;
use baton_core::model::{Claimed, Failure, JobKind, JobState, NewJob};
use baton_core::store::{
    Claim, ManifestRow, Offer, PluginStateStore, QueueStats, QueueTx, RunRecord, StageRecord,
    Store, StoreRead, commit,
};
use baton_store_sqlite::SqliteStore;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, watch};

const POLICY: RetryPolicy = RetryPolicy {
    backoff: Backoff {
        base: Duration::from_millis(10),
        max: Duration::from_millis(20),
    },
};

/// A worker that sleeps, counts how many run at once, and can fail a job's first attempt or
/// wait for a gate.
#[derive(Default)]
struct Fake {
    /// Jobs admitted at once, at most.
    cap: Option<u32>,
    admitted: AtomicU32,
    running: AtomicU32,
    max_running: AtomicU32,
    delay: Duration,
    fail_first_attempt: bool,
    /// When set, each job waits for it.
    gate: Option<Arc<Notify>>,
    attempts: Mutex<HashMap<String, Vec<u32>>>,
}

impl Worker for Fake {
    async fn work(&self, job: &Claimed) -> Worked {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_running.fetch_max(now, Ordering::SeqCst);
        self.attempts
            .lock()
            .unwrap()
            .entry(job.key.clone())
            .or_default()
            .push(job.attempt);
        tokio::time::sleep(self.delay).await;
        if let Some(gate) = &self.gate {
            gate.notified().await;
        }
        self.running.fetch_sub(1, Ordering::SeqCst);
        if self.fail_first_attempt && job.attempt == 1 {
            return Worked::verdict(Verdict::Transient(Failure::coded("flaky", "first try")));
        }
        Worked::verdict(Verdict::Done(serde_json::json!({"ok": job.key})))
    }

    fn admit(&self, offer: &Offer<'_>) -> bool {
        if offer.kind != JobKind::Resolve {
            return false;
        }
        let taken = self.admitted.fetch_add(1, Ordering::SeqCst);
        if self.cap.is_some_and(|cap| taken >= cap) {
            self.admitted.fetch_sub(1, Ordering::SeqCst);
            return false;
        }
        true
    }

    fn finished(&self, _job: &Claimed) {
        self.admitted.fetch_sub(1, Ordering::SeqCst);
    }

    fn retry_policy(&self, _job: &Claimed) -> &RetryPolicy {
        &POLICY
    }
}

/// A store that counts its write transactions.
struct Counting {
    inner: SqliteStore,
    transactions: Arc<AtomicUsize>,
}

impl StoreRead for Counting {
    fn job(&self, key: &str) -> anyhow::Result<Option<baton_core::model::Job>> {
        self.inner.job(key)
    }
    fn list(
        &self,
        state: Option<JobState>,
        limit: usize,
    ) -> anyhow::Result<Vec<baton_core::model::Job>> {
        self.inner.list(state, limit)
    }
    fn attempts(&self, job_id: i64) -> anyhow::Result<Vec<baton_core::model::Attempt>> {
        self.inner.attempts(job_id)
    }
    fn job_events(&self, job_id: i64, limit: usize) -> anyhow::Result<Vec<serde_json::Value>> {
        self.inner.job_events(job_id, limit)
    }
    fn events_after(
        &self,
        job_ids: &[i64],
        after: i64,
        limit: usize,
    ) -> anyhow::Result<Vec<serde_json::Value>> {
        self.inner.events_after(job_ids, after, limit)
    }
    fn stats(&self, now: i64) -> anyhow::Result<QueueStats> {
        self.inner.stats(now)
    }
    fn overview(
        &self,
        now: i64,
        day: &str,
        rows: usize,
    ) -> anyhow::Result<baton_core::store::Overview> {
        self.inner.overview(now, day, rows)
    }
    fn last_seq(&self) -> anyhow::Result<i64> {
        self.inner.last_seq()
    }
    fn events_since(
        &self,
        after: i64,
        limit: usize,
    ) -> anyhow::Result<Vec<(i64, serde_json::Value)>> {
        self.inner.events_since(after, limit)
    }
    fn manifest(&self, key: &str) -> anyhow::Result<Option<ManifestRow>> {
        self.inner.manifest(key)
    }
    fn quota_used(&self, key: &str, day: &str) -> anyhow::Result<u64> {
        self.inner.quota_used(key, day)
    }
    fn lease_owners(&self) -> anyhow::Result<Vec<String>> {
        self.inner.lease_owners()
    }
    fn park(&self, key: &str) -> anyhow::Result<Option<baton_core::store::Park>> {
        self.inner.park(key)
    }
    fn run(&self, run_id: &str) -> anyhow::Result<Option<RunRecord>> {
        self.inner.run(run_id)
    }
    fn run_job_keys(&self, run_id: &str) -> anyhow::Result<Vec<String>> {
        self.inner.run_job_keys(run_id)
    }
    fn last_stage(&self, pipeline: &str, stage: &str) -> anyhow::Result<Option<StageRecord>> {
        self.inner.last_stage(pipeline, stage)
    }
    fn last_stages(
        &self,
        pipeline: &str,
    ) -> anyhow::Result<std::collections::HashMap<String, StageRecord>> {
        self.inner.last_stages(pipeline)
    }
    fn members(&self) -> anyhow::Result<Vec<baton_core::store::Member>> {
        self.inner.members()
    }
    fn leadership(&self) -> anyhow::Result<Option<baton_core::store::Leadership>> {
        self.inner.leadership()
    }
    fn export(
        &self,
        table: &str,
        row: &mut dyn FnMut(baton_core::store::Row) -> anyhow::Result<()>,
    ) -> anyhow::Result<u64> {
        self.inner.export(table, row)
    }
}

impl Store for Counting {
    fn transaction(
        &mut self,
        now: i64,
        change: &mut dyn FnMut(&mut dyn QueueTx) -> anyhow::Result<()>,
    ) -> anyhow::Result<Vec<Event>> {
        self.transactions.fetch_add(1, Ordering::SeqCst);
        self.inner.transaction(now, change)
    }
    fn reopen(&self) -> anyhow::Result<Box<dyn Store>> {
        self.inner.reopen()
    }
    fn plugin_state(&self) -> anyhow::Result<Arc<dyn PluginStateStore>> {
        self.inner.plugin_state()
    }
}

struct Harness {
    _dir: tempfile::TempDir,
    reader: Box<dyn Store>,
    writer: Writer,
    transactions: Arc<AtomicUsize>,
}

fn new_job(key: String) -> NewJob {
    NewJob {
        key,
        kind: JobKind::Resolve,
        plugin: None,
        payload: "{}".into(),
        priority: 0,
        max_attempts: 3,
    }
}

fn harness(jobs: usize) -> Harness {
    harness_with(|tx| {
        let new: Vec<NewJob> = (0..jobs).map(|i| new_job(format!("job-{i}"))).collect();
        tx.enqueue(&new, true).map(drop)
    })
}

/// A store on a temporary directory holding what `fill` puts in it.
fn harness_with(fill: impl FnMut(&mut dyn QueueTx) -> anyhow::Result<()>) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let mut store =
        SqliteStore::open(&dir.path().join("q.db"), &dir.path().join("ledger")).unwrap();
    commit(&mut store, now_ms(), fill).unwrap();
    let reader = store.reopen().unwrap();
    let transactions = Arc::new(AtomicUsize::new(0));
    let (writer, _thread) = Writer::start(Box::new(Counting {
        inner: store,
        transactions: transactions.clone(),
    }))
    .unwrap();
    Harness {
        _dir: dir,
        reader,
        writer,
        transactions,
    }
}

fn options(workers: usize, lease: Duration) -> RunOptions {
    RunOptions {
        workers,
        drain: true,
        lease,
        max_recoveries: 3,
        claim_batch: 256,
        owner: "test:1:1".into(),
        dead_owners: Vec::new(),
        wake: Arc::default(),
        run: None,
        any_run: false,
        stop_run_on_failure: false,
        start_logs: None,
    }
}

/// Runs the scheduler until it drains (no signal) and returns its counters.
async fn drain<W: Worker>(h: &Harness, worker: Arc<W>, opts: RunOptions) -> Arc<Counters> {
    let counters = Arc::new(Counters::default());
    let (_keep, never) = watch::channel(Shutdown::Running);
    run(worker, h.writer.clone(), opts, never, counters.clone())
        .await
        .unwrap();
    counters
}

fn count(reader: &dyn Store, state: JobState) -> usize {
    reader.list(Some(state), 100_000).unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatch_stays_within_the_workers_caps_and_drains() {
    let h = harness(40);
    let worker = Arc::new(Fake {
        cap: Some(3),
        delay: Duration::from_millis(5),
        ..Fake::default()
    });
    let counters = drain(&h, worker.clone(), options(8, Duration::from_secs(30))).await;
    assert_eq!(Counters::get(&counters.done), 40);
    assert_eq!(count(h.reader.as_ref(), JobState::Done), 40);
    let max = worker.max_running.load(Ordering::SeqCst);
    assert!(
        (1..=3).contains(&max),
        "{max} jobs ran at once under a cap of 3"
    );
    assert_eq!(worker.admitted.load(Ordering::SeqCst), 0, "caps leaked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_are_group_committed() {
    let jobs = 400;
    let h = harness(jobs);
    let worker = Arc::new(Fake::default());
    drain(&h, worker, options(8, Duration::from_secs(30))).await;
    assert_eq!(count(h.reader.as_ref(), JobState::Done), jobs);
    let transactions = h.transactions.load(Ordering::SeqCst);
    // One transaction per claim and per completion would be at least `jobs` + 1.
    assert!(
        transactions < jobs / 2,
        "{transactions} transactions for {jobs} jobs: completions were not batched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_leases_and_dead_owners_are_recovered_and_fence_the_old_holder() {
    let h = harness(2);
    // A holder that died: one lease long, one already expired.
    let stale = h
        .writer
        .submit(|tx| {
            let claim = Claim {
                run: None,
                any_run: false,
                owner: "ghost:42:1".into(),
                limit: 2,
                lease_until: tx.now() + 60_000,
            };
            tx.claim(&claim, &mut |_| true)
        })
        .await
        .unwrap();
    assert_eq!(stale.len(), 2);
    let worker = Arc::new(Fake::default());
    let counters = Arc::new(Counters::default());
    let (_keep, never) = watch::channel(Shutdown::Running);
    let mut opts = options(2, Duration::from_millis(300));
    opts.dead_owners = vec!["ghost:42:1".into()];
    run(worker, h.writer.clone(), opts, never, counters.clone())
        .await
        .unwrap();
    assert_eq!(Counters::get(&counters.recovered), 2);
    assert_eq!(count(h.reader.as_ref(), JobState::Done), 2);
    // The dead holder's late outcome changes nothing.
    let late: Vec<_> = stale
        .into_iter()
        .map(|job| {
            (
                job,
                baton_core::model::Outcome::Failed {
                    failure: Failure::new("late"),
                },
            )
        })
        .collect();
    let applied = h.writer.submit(move |tx| tx.finish(&late)).await.unwrap();
    assert_eq!(applied, [false, false]);
    assert_eq!(count(h.reader.as_ref(), JobState::Done), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_that_expires_while_its_holder_is_away_is_recovered_by_upkeep() {
    let h = harness(1);
    h.writer
        .submit(|tx| {
            let claim = Claim {
                run: None,
                any_run: false,
                owner: "elsewhere:1:1".into(),
                limit: 1,
                lease_until: tx.now() + 200,
            };
            tx.claim(&claim, &mut |_| true)
        })
        .await
        .unwrap();
    let worker = Arc::new(Fake::default());
    let counters = Arc::new(Counters::default());
    let (_keep, never) = watch::channel(Shutdown::Running);
    // The holder is not known dead: only its lease running out frees the job.
    tokio::time::timeout(
        Duration::from_secs(10),
        run(
            worker,
            h.writer.clone(),
            options(1, Duration::from_millis(300)),
            never,
            counters.clone(),
        ),
    )
    .await
    .expect("the expired lease was never recovered")
    .unwrap();
    assert_eq!(Counters::get(&counters.recovered), 1);
    assert_eq!(count(h.reader.as_ref(), JobState::Done), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_are_retried_through_the_policy() {
    let h = harness(5);
    let worker = Arc::new(Fake {
        fail_first_attempt: true,
        ..Fake::default()
    });
    let counters = drain(&h, worker.clone(), options(2, Duration::from_secs(30))).await;
    assert_eq!(Counters::get(&counters.retried), 5);
    assert_eq!(count(h.reader.as_ref(), JobState::Done), 5);
    for attempts in worker.attempts.lock().unwrap().values() {
        assert_eq!(attempts, &[1, 2]);
    }
    let job = h.reader.job("job-0").unwrap().unwrap();
    assert_eq!(job.attempts, 2);
}

/// A scheduler (2 workers, not draining) whose jobs wait at a gate, once both workers hold
/// one.
struct Gated {
    worker: Arc<Fake>,
    gate: Arc<Notify>,
    counters: Arc<Counters>,
    signal: watch::Sender<Shutdown>,
    running: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Gated {
    async fn start(h: &Harness) -> Gated {
        let gate = Arc::new(Notify::new());
        let worker = Arc::new(Fake {
            gate: Some(gate.clone()),
            ..Fake::default()
        });
        let counters = Arc::new(Counters::default());
        let (signal, shutdown) = watch::channel(Shutdown::Running);
        let mut opts = options(2, Duration::from_secs(30));
        opts.drain = false;
        let running = tokio::spawn(run(
            worker.clone(),
            h.writer.clone(),
            opts,
            shutdown,
            counters.clone(),
        ));
        while worker.running.load(Ordering::SeqCst) < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Gated {
            worker,
            gate,
            counters,
            signal,
            running,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_signal_finishes_what_is_in_flight_and_claims_nothing_more() {
    let h = harness(50);
    let gated = Gated::start(&h).await;
    let (gate, counters, running) = (gated.gate, gated.counters, gated.running);
    gated.signal.send(Shutdown::StopClaiming).unwrap();
    // Let every job in flight (running or handed out) finish.
    while !running.is_finished() {
        gate.notify_waiters();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    running.await.unwrap().unwrap();
    let done = count(h.reader.as_ref(), JobState::Done);
    assert_eq!(done as u64, Counters::get(&counters.done));
    assert!(done >= 2, "the jobs in flight did not finish");
    assert_eq!(count(h.reader.as_ref(), JobState::Running), 0);
    assert_eq!(count(h.reader.as_ref(), JobState::Queued), 50 - done);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_second_signal_releases_what_is_in_flight_without_using_attempts() {
    let h = harness(4);
    let Gated {
        worker,
        counters,
        signal,
        running,
        ..
    } = Gated::start(&h).await;
    signal.send(Shutdown::StopClaiming).unwrap();
    signal.send(Shutdown::Abort).unwrap();
    running.await.unwrap().unwrap();
    assert_eq!(Counters::get(&counters.done), 0);
    // Jobs of unknown length are claimed for idle workers only: the two in flight.
    assert_eq!(Counters::get(&counters.released), 2);
    let queued = h.reader.list(Some(JobState::Queued), 10).unwrap();
    assert_eq!(queued.len(), 4);
    assert!(queued.iter().all(|job| job.attempts == 0), "{queued:?}");
    assert_eq!(worker.admitted.load(Ordering::SeqCst), 0, "caps leaked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outcome_fenced_out_is_counted_as_fenced_not_done() {
    let h = harness(1);
    let gate = Arc::new(Notify::new());
    let worker = Arc::new(Fake {
        gate: Some(gate.clone()),
        ..Fake::default()
    });
    let counters = Arc::new(Counters::default());
    let (_keep, never) = watch::channel(Shutdown::Running);
    let running = tokio::spawn(run(
        worker.clone(),
        h.writer.clone(),
        options(1, Duration::from_secs(30)),
        never,
        counters.clone(),
    ));
    while worker.running.load(Ordering::SeqCst) < 1 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Another host decides this one is dead and takes its lease back.
    let recovered = h
        .writer
        .submit(|tx| tx.recover(&["test:1:1".to_string()], 3, &|_, _, _| true))
        .await
        .unwrap();
    assert_eq!(recovered.recovered, 1);
    // The first attempt now ends (fenced out); the job is claimed again and done once.
    while !running.is_finished() {
        gate.notify_waiters();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    running.await.unwrap().unwrap();
    assert_eq!(Counters::get(&counters.fenced), 1);
    assert_eq!(
        Counters::get(&counters.done),
        1,
        "a discarded outcome was counted as done"
    );
    assert_eq!(count(h.reader.as_ref(), JobState::Done), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_holders_never_started_jobs_are_not_counted_against_them() {
    let h = harness(3);
    let logs = tempfile::tempdir().unwrap();
    // A holder that claimed three jobs, started only the first, then died.
    let held = h
        .writer
        .submit(|tx| {
            let claim = Claim {
                run: None,
                any_run: false,
                owner: "ghost:42:1".into(),
                limit: 3,
                lease_until: tx.now() + 60_000,
            };
            tx.claim(&claim, &mut |_| true)
        })
        .await
        .unwrap();
    let log = super::started::StartLog::open(logs.path(), "ghost:42:1").unwrap();
    log.record(held[0].id, held[0].fence);
    drop(log);
    let counters = Arc::new(Counters::default());
    let (_keep, never) = watch::channel(Shutdown::Running);
    let mut opts = options(2, Duration::from_secs(30));
    opts.dead_owners = vec!["ghost:42:1".into()];
    opts.start_logs = Some(logs.path().to_path_buf());
    run(
        Arc::new(Fake::default()),
        h.writer.clone(),
        opts,
        never,
        counters.clone(),
    )
    .await
    .unwrap();
    assert_eq!(Counters::get(&counters.done), 3);
    let started = h.reader.job(&held[0].key).unwrap().unwrap();
    assert_eq!((started.recoveries, started.attempts), (1, 2));
    for job in &held[1..] {
        let job = h.reader.job(&job.key).unwrap().unwrap();
        assert_eq!(
            (job.recoveries, job.attempts),
            (0, 1),
            "{} never started but was charged",
            job.key
        );
    }
    let left: Vec<_> = std::fs::read_dir(logs.path()).unwrap().flatten().collect();
    assert!(left.is_empty(), "start logs left behind: {left:?}");
}

/// A worker that sleeps `slow` for jobs whose key starts with `slow` (no time for the others)
/// and records when each job started and ended.
struct Timed {
    slow: Duration,
    times: Mutex<HashMap<String, (std::time::Instant, std::time::Instant)>>,
}

impl Worker for Timed {
    async fn work(&self, job: &Claimed) -> Worked {
        let began = std::time::Instant::now();
        if job.key.starts_with("slow") {
            tokio::time::sleep(self.slow).await;
        }
        let times = (began, std::time::Instant::now());
        self.times.lock().unwrap().insert(job.key.clone(), times);
        Worked::verdict(Verdict::Done(serde_json::json!({})))
    }

    fn admit(&self, _offer: &Offer<'_>) -> bool {
        true
    }

    fn finished(&self, _job: &Claimed) {}

    fn retry_policy(&self, _job: &Claimed) -> &RetryPolicy {
        &POLICY
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dependent_starts_when_its_dependency_commits_not_at_the_next_poll() {
    // Level i holds `slow-i` and `fast-i`, both depending on `slow-(i-1)`. `fast-i` ends at
    // once and a claim then finds nothing due while `slow-i` runs: the dispatcher must wake
    // when `slow-i` commits, not when its idle poll (50 ms) comes round.
    const LEVELS: usize = 10;
    let h = harness_with(|tx| {
        let run = RunRecord {
            id: "chain-1".into(),
            pipeline: "chain".into(),
            started_at: now_ms(),
            finished_at: None,
            state: baton_core::store::RunState::Running,
            options: serde_json::json!({}),
            owner: Some("test:1:1".into()),
        };
        let mut jobs = Vec::new();
        for level in 0..LEVELS {
            let after = if level == 0 {
                vec![]
            } else {
                vec![2 * (level - 1)]
            };
            jobs.push((new_job(format!("slow-{level}")), after.clone()));
            jobs.push((new_job(format!("fast-{level}")), after));
        }
        tx.start_run(&run, &jobs)
    });
    let worker = Arc::new(Timed {
        slow: Duration::from_millis(5),
        times: Mutex::default(),
    });
    let mut opts = options(4, Duration::from_secs(30));
    opts.run = Some("chain-1".into());
    let counters = drain(&h, worker.clone(), opts).await;
    assert_eq!(Counters::get(&counters.done), 2 * LEVELS as u64);
    let times = worker.times.lock().unwrap();
    let mut gaps: Vec<Duration> = (1..LEVELS)
        .map(|level| {
            let ended = times[&format!("slow-{}", level - 1)].1;
            times[&format!("slow-{level}")].0.duration_since(ended)
        })
        .collect();
    gaps.sort();
    let median = gaps[gaps.len() / 2];
    assert!(
        median < Duration::from_millis(25),
        "a dependent waited {median:?} (median) after its dependency ended: {gaps:?}"
    );
}
