//! The conformance suite every [`Store`] must pass (SQLite now, PostgreSQL next): claims,
//! fencing, recovery and poison pills, snoozes, release, idempotent enqueue, retry and
//! cancel, runs with dependencies, the stage cache, the manifest, quotas, plugin state and
//! journaling. A store's tests call [`run_all`] with a factory of fresh stores.

use crate::model::{Claimed, Failure, JobKind, JobState, NewJob, Outcome};
use crate::store::{
    Claim, ManifestRow, Purge, QueueTx, Requeue, RunRecord, RunState, StageRecord, Store, commit,
};
use serde_json::json;

fn job(key: &str, max_attempts: u32) -> NewJob {
    NewJob {
        key: key.into(),
        kind: JobKind::Resolve,
        plugin: None,
        payload: "{}".into(),
        priority: 0,
        max_attempts,
    }
}

fn with<R>(
    store: &mut dyn Store,
    now: i64,
    change: impl FnOnce(&mut dyn QueueTx) -> anyhow::Result<R>,
) -> R {
    commit(store, now, change).expect("the store refused a valid change")
}

fn enqueue(store: &mut dyn Store, jobs: Vec<NewJob>, now: i64) -> Vec<bool> {
    with(store, now, |tx| tx.enqueue(&jobs, true))
}

fn claim_in(
    store: &mut dyn Store,
    run: Option<&str>,
    owner: &str,
    limit: usize,
    now: i64,
    lease: i64,
) -> Vec<Claimed> {
    let claim = Claim {
        run: run.map(String::from),
        any_run: false,
        owner: owner.into(),
        limit,
        lease_until: now + lease,
    };
    with(store, now, |tx| tx.claim(&claim, &mut |_| true))
}

fn claim(store: &mut dyn Store, owner: &str, limit: usize, now: i64, lease: i64) -> Vec<Claimed> {
    claim_in(store, None, owner, limit, now, lease)
}

fn finish(store: &mut dyn Store, job: Claimed, outcome: Outcome, now: i64) -> bool {
    with(store, now, |tx| tx.finish(&[(job, outcome)]))[0]
}

fn failed(reason: &str) -> Outcome {
    Outcome::Failed {
        failure: Failure::new(reason),
    }
}

fn recover(store: &mut dyn Store, now: i64, max_recoveries: u32) -> (usize, usize) {
    let r = with(store, now, |tx| {
        tx.recover(&[], max_recoveries, &|_, _, _| true)
    });
    (r.recovered, r.poisoned)
}

fn state(store: &dyn Store, key: &str) -> JobState {
    store.job(key).unwrap().unwrap().state
}

/// Enqueueing a key twice changes nothing; a running job is never claimed twice.
pub fn enqueue_is_idempotent_and_claims_are_exclusive(store: &mut dyn Store) {
    assert_eq!(
        enqueue(store, vec![job("a", 3), job("b", 3), job("a", 3)], 1),
        [true, true, false]
    );
    let first = claim(store, "w1", 10, 10, 1000);
    assert_eq!(first.len(), 2);
    assert_eq!(first[0].kind, JobKind::Resolve);
    assert!(
        claim(store, "w2", 10, 11, 1000).is_empty(),
        "a running job was claimed twice"
    );
    assert_eq!(first[0].attempt, 1);
}

/// A recovered lease gets a new fence, and the old holder's late outcome is discarded.
pub fn a_recovered_lease_fences_out_the_old_holder(store: &mut dyn Store) {
    enqueue(store, vec![job("f", 3)], 1);
    let old = claim(store, "w1", 1, 10, 100).remove(0);
    assert_eq!(recover(store, 200, 3), (1, 0));
    assert_eq!(state(store, "f"), JobState::Queued);
    let new = claim(store, "w2", 1, 210, 100).remove(0);
    assert!(new.fence > old.fence);
    assert!(
        !finish(store, old, failed("stale"), 220),
        "a stale worker overwrote the result"
    );
    assert!(finish(store, new, Outcome::Done { result: json!({}) }, 230));
    assert_eq!(state(store, "f"), JobState::Done);
}

/// Heartbeats keep a lease; a job lost more than `max_recoveries` times fails.
pub fn heartbeats_keep_leases_and_poison_pills_fail(store: &mut dyn Store) {
    enqueue(store, vec![job("p", 9)], 1);
    let held = claim(store, "w1", 1, 10, 100).remove(0);
    let extended = with(store, 90, |tx| tx.heartbeat(&[(held.id, held.fence)], 500));
    assert_eq!(extended, 1);
    assert_eq!(
        recover(store, 200, 2),
        (0, 0),
        "a heartbeated lease was recovered"
    );
    for round in 0..2 {
        claim(store, "w", 1, 1000 * (round + 1), 100);
        assert_eq!(
            recover(store, 1000 * (round + 1) + 200, 1).1,
            round as usize
        );
    }
    let job = store.job("p").unwrap().unwrap();
    assert_eq!(job.state, JobState::Failed);
    assert!(job.last_error.unwrap().contains("poison pill"));
}

/// A lost holder's job it never started goes back without counting against it.
pub fn a_never_started_job_is_recovered_without_a_charge(store: &mut dyn Store) {
    enqueue(store, vec![job("n", 3)], 1);
    let held = claim(store, "gone:1:1", 1, 10, 100).remove(0);
    let recovered = with(store, 200, |tx| {
        tx.recover(&[], 3, &|owner, id, fence| {
            assert_eq!((owner, id, fence), ("gone:1:1", held.id, held.fence));
            false
        })
    });
    assert_eq!((recovered.recovered, recovered.poisoned), (1, 0));
    let job = store.job("n").unwrap().unwrap();
    assert_eq!(
        (job.state, job.recoveries, job.attempts),
        (JobState::Queued, 0, 0),
        "a job that never started was charged"
    );
}

/// A retry waits until its time and uses the attempt; a snooze gives the attempt back. The
/// store records what the outcome says (giving up is the retry policy's decision).
pub fn retries_wait_and_snoozes_keep_the_attempt(store: &mut dyn Store) {
    enqueue(store, vec![job("r", 2)], 1);
    let first = claim(store, "w", 1, 10, 100).remove(0);
    let snooze = Outcome::Retry {
        failure: Failure::new("429"),
        at: 50,
        snooze: true,
        wait_reason: "rate host:x until T".into(),
    };
    assert!(finish(store, first, snooze, 20));
    assert!(
        claim(store, "w", 1, 30, 100).is_empty(),
        "claimed before its snooze ended"
    );
    assert_eq!(
        store.job("r").unwrap().unwrap().wait_reason.as_deref(),
        Some("rate host:x until T")
    );
    let second = claim(store, "w", 1, 60, 100).remove(0);
    assert_eq!(second.attempt, 1, "a snooze used up an attempt");
    let other = {
        enqueue(store, vec![job("r-ok", 2)], 61);
        let held = claim(store, "w", 1, 62, 100).remove(0);
        let snooze = Outcome::Retry {
            failure: Failure::coded("rate", "429"),
            at: 63,
            snooze: true,
            wait_reason: "rate".into(),
        };
        finish(store, held, snooze, 62);
        claim(store, "w", 1, 64, 100).remove(0)
    };
    assert!(finish(
        store,
        other,
        Outcome::Done { result: json!({}) },
        64
    ));
    let done = store.job("r-ok").unwrap().unwrap();
    assert_eq!(
        (done.last_error, done.error_code, done.wait_reason),
        (None, None, None),
        "a done job kept the error of an earlier attempt"
    );
    let retry = Outcome::Retry {
        failure: Failure::coded("trap", "503"),
        at: 70,
        snooze: false,
        wait_reason: "backoff".into(),
    };
    assert!(finish(store, second, retry, 65));
    let job = store.job("r").unwrap().unwrap();
    assert_eq!(job.error_code.as_deref(), Some("trap"));
    let third = claim(store, "w", 1, 80, 100).remove(0);
    assert_eq!(third.attempt, 2);
    assert!(finish(
        store,
        third,
        Outcome::Failed {
            failure: Failure::coded("deadline-exceeded", "gave up")
        },
        85
    ));
    let job = store.job("r").unwrap().unwrap();
    assert_eq!(job.state, JobState::Failed);
    assert_eq!(job.error_code.as_deref(), Some("deadline-exceeded"));
    let attempts = store.attempts(job.id).unwrap();
    assert_eq!(attempts.len(), 3, "{attempts:?}");
    assert_eq!(attempts[2].outcome.as_deref(), Some("failed"));
}

/// A released lease goes back to the queue with its attempt given back.
pub fn release_returns_jobs_without_using_attempts(store: &mut dyn Store) {
    enqueue(store, vec![job("s", 3)], 1);
    let held = claim(store, "w", 1, 10, 100);
    assert_eq!(with(store, 20, |tx| tx.release(&held)), 1);
    let job = store.job("s").unwrap().unwrap();
    assert_eq!((job.state, job.attempts), (JobState::Queued, 0));
}

/// `retry-failed` (with a dry run that changes nothing) and `cancel`.
pub fn retry_failed_and_cancel(store: &mut dyn Store) {
    enqueue(store, vec![job("x", 1), job("y", 1)], 1);
    for held in claim(store, "w", 2, 10, 100) {
        finish(store, held, failed("no"), 20);
    }
    assert_eq!(with(store, 30, |tx| tx.retry_failed(None, true)).len(), 2);
    assert_eq!(
        state(store, "x"),
        JobState::Failed,
        "a dry run changed something"
    );
    assert_eq!(
        with(store, 30, |tx| tx.retry_failed(Some(1), false)).len(),
        0,
        "attempts >= max-attempts"
    );
    assert_eq!(with(store, 30, |tx| tx.retry_failed(None, false)).len(), 2);
    assert_eq!(claim(store, "w", 2, 40, 100).len(), 2);
    assert_eq!(
        with(store, 50, |tx| tx.cancel("x")),
        Some(JobState::Running)
    );
    assert_eq!(state(store, "x"), JobState::Cancelled);
    assert_eq!(with(store, 50, |tx| tx.cancel("nope")), None);
}

fn stage_job(key: &str) -> NewJob {
    NewJob {
        kind: JobKind::Stage,
        ..job(key, 1)
    }
}

fn run_record(id: &str) -> RunRecord {
    RunRecord {
        id: id.into(),
        pipeline: "p".into(),
        started_at: 1,
        finished_at: None,
        state: RunState::Running,
        options: json!({"force": false}),
        owner: Some("live:1:1".into()),
    }
}

/// A run's jobs wait for their dependencies; a failure skips what depends on it; the work
/// queue never claims a run's jobs.
pub fn run_jobs_wait_on_their_dependencies(store: &mut dyn Store) {
    // a → b → c, and d on its own.
    let jobs = vec![
        (stage_job("r1/a"), vec![]),
        (stage_job("r1/b"), vec![0]),
        (stage_job("r1/c"), vec![1]),
        (stage_job("r1/d"), vec![]),
    ];
    with(store, 1, |tx| tx.start_run(&run_record("r1"), &jobs));
    let run = store.run("r1").unwrap().expect("the run was recorded");
    assert_eq!((run.pipeline.as_str(), run.state), ("p", RunState::Running));
    let mut keys = store.run_job_keys("r1").unwrap();
    keys.sort();
    assert_eq!(keys, ["r1/a", "r1/b", "r1/c", "r1/d"]);
    assert!(
        claim(store, "w", 10, 5, 100).is_empty(),
        "a queue worker took a pipeline job"
    );
    assert_eq!(state(store, "r1/b"), JobState::Blocked);
    let first = claim_in(store, Some("r1"), "w", 10, 10, 1000);
    let names: Vec<&str> = first.iter().map(|j| j.key.as_str()).collect();
    assert_eq!(names, ["r1/a", "r1/d"]);
    assert_eq!(first[0].kind, JobKind::Stage);
    let a = first.into_iter().next().unwrap();
    assert!(finish(store, a, Outcome::Done { result: json!({}) }, 20));
    assert_eq!(state(store, "r1/b"), JobState::Queued);
    assert_eq!(state(store, "r1/c"), JobState::Blocked);
    let b = claim_in(store, Some("r1"), "w", 10, 30, 1000).remove(0);
    assert!(finish(store, b, failed("boom"), 40));
    let c = store.job("r1/c").unwrap().unwrap();
    assert_eq!(c.state, JobState::Skipped);
    assert_eq!(c.last_error.as_deref(), Some("upstream `b` failed"));
    with(store, 50, |tx| tx.finish_run("r1", RunState::Degraded));
    let run = store.run("r1").unwrap().unwrap();
    assert_eq!((run.state, run.finished_at), (RunState::Degraded, Some(50)));
}

/// Stopping a run cancels its jobs that have not started, and only those.
pub fn a_stopped_run_cancels_what_has_not_started(store: &mut dyn Store) {
    let jobs = vec![
        (stage_job("r2/a"), vec![]),
        (stage_job("r2/b"), vec![0]),
        (stage_job("r2/c"), vec![]),
    ];
    with(store, 1, |tx| tx.start_run(&run_record("r2"), &jobs));
    let running = claim_in(store, Some("r2"), "w", 10, 10, 1000);
    assert_eq!(running.len(), 2);
    assert_eq!(with(store, 20, |tx| tx.cancel_run("r2", "stopped")), 1);
    assert_eq!(state(store, "r2/b"), JobState::Cancelled);
    assert_eq!(state(store, "r2/a"), JobState::Running);
}

/// Resuming a run requeues what did not finish, including jobs of a dead holder.
pub fn a_resumed_run_requeues_what_did_not_finish(store: &mut dyn Store) {
    let jobs = vec![(stage_job("r3/a"), vec![]), (stage_job("r3/b"), vec![0])];
    with(store, 1, |tx| tx.start_run(&run_record("r3"), &jobs));
    let held = claim_in(store, Some("r3"), "dead:1:1", 10, 10, 100_000);
    assert_eq!(held.len(), 1);
    assert_eq!(
        with(store, 20, |tx| tx.resume_run("r3", &[], "live:1:1")),
        1,
        "only the blocked job (the running one is alive)"
    );
    assert_eq!(
        with(store, 30, |tx| tx.resume_run(
            "r3",
            &["dead:1:1".to_string()],
            "new:2:2"
        )),
        2
    );
    assert_eq!(state(store, "r3/a"), JobState::Queued);
    assert_eq!(state(store, "r3/b"), JobState::Blocked);
    assert_eq!(
        store.run("r3").unwrap().unwrap().owner.as_deref(),
        Some("new:2:2"),
        "the resuming process owns the run"
    );
    let open = store.stats(31).unwrap().runs;
    assert_eq!(open.len(), 1);
    assert_eq!((open[0].id.as_str(), open[0].unfinished), ("r3", 2));
    assert!(
        !finish(
            store,
            held.into_iter().next().unwrap(),
            Outcome::Done { result: json!({}) },
            40
        ),
        "the dead holder's late outcome was applied"
    );
}

/// The stage cache keeps one record per stage; the manifest and quotas round-trip.
pub fn stage_records_manifest_and_quotas_round_trip(store: &mut dyn Store) {
    assert!(store.last_stage("p", "s").unwrap().is_none());
    let mut record = StageRecord {
        pipeline: "p".into(),
        stage: "s".into(),
        key: "k1".into(),
        definition: "d".into(),
        plugin: "x".into(),
        inputs: [("in/a".to_string(), "1".to_string())].into(),
        outputs: [("out/b".to_string(), "2".to_string())].into(),
        run_id: "r".into(),
    };
    with(store, 1, |tx| tx.record_stage(&record));
    record.key = "k2".into();
    with(store, 2, |tx| tx.record_stage(&record));
    let other = StageRecord {
        pipeline: "q".into(),
        stage: "t".into(),
        ..record.clone()
    };
    with(store, 3, |tx| tx.record_stage(&other));
    assert_eq!(store.last_stage("p", "s").unwrap().as_ref(), Some(&record));
    let all = store.last_stages("p").unwrap();
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all.get("s"), Some(&record));
    assert!(store.last_stages("none").unwrap().is_empty());
    let row = ManifestRow {
        key: "a".into(),
        sha256: "0".repeat(64),
        size: 3,
        url: "http://127.0.0.1/a".into(),
        host: "127.0.0.1".into(),
        resolver: "direct".into(),
        content_type: Some("application/pdf".into()),
        fetched_at: 5,
    };
    with(store, 5, |tx| tx.record_manifest(&row));
    assert_eq!(store.manifest("a").unwrap().unwrap().size, 3);
    with(store, 6, |tx| {
        tx.add_quota("resolver:x", "2026-12-01", 2)?;
        tx.add_quota("resolver:x", "2026-12-01", 3)
    });
    assert_eq!(store.quota_used("resolver:x", "2026-12-01").unwrap(), 5);
    assert_eq!(store.quota_used("resolver:x", "2026-12-02").unwrap(), 0);
}

/// Every committed change returns its events; a failed change commits nothing.
pub fn changes_are_journaled_and_failures_commit_nothing(store: &mut dyn Store) {
    let events = store
        .transaction(1, &mut |tx| tx.enqueue(&[job("j", 1)], true).map(|_| ()))
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].event, events[0].key.as_deref()),
        ("enqueued", Some("j"))
    );
    let refused = store.transaction(2, &mut |tx| {
        tx.enqueue(&[job("k", 1)], true)?;
        anyhow::bail!("refused")
    });
    assert!(refused.is_err());
    assert!(
        store.job("k").unwrap().is_none(),
        "a failed change was committed"
    );
}

/// Plugin state is private to each plugin and bounded.
pub fn plugin_state_is_private_and_bounded(store: &mut dyn Store) {
    let state = store.plugin_state().unwrap();
    state.set("a", "k", b"1").unwrap().unwrap();
    state.set("a", "k2", b"2").unwrap().unwrap();
    state.set("b", "k", b"other").unwrap().unwrap();
    assert_eq!(state.get("a", "k").unwrap().unwrap(), b"1");
    assert_eq!(state.keys("a", "k").unwrap(), vec!["k", "k2"]);
    state.remove("a", "k").unwrap();
    assert!(state.get("a", "k").unwrap().is_none());
    assert_eq!(state.get("b", "k").unwrap().unwrap(), b"other");
    let long_key = "k".repeat(crate::store::MAX_STATE_KEY_BYTES + 1);
    assert!(state.set("a", &long_key, b"").unwrap().is_err());
    let big = vec![0u8; crate::store::MAX_STATE_VALUE_BYTES + 1];
    assert!(state.set("a", "k", &big).unwrap().is_err());
    let chunk = vec![0u8; crate::store::MAX_STATE_VALUE_BYTES];
    let refused = (0..100).any(|i| state.set("a", &format!("k{i}"), &chunk).unwrap().is_err());
    assert!(refused, "the per-plugin quota was never enforced");
}

/// Limiter slots: at most `cap` held per key across holders; freed ones, expired ones and a
/// dead holder's are taken again; a heartbeat keeps a holder's.
pub fn limit_slots_hold_their_cap_across_holders(store: &mut dyn Store) {
    let take = |store: &mut dyn Store, now: i64, holder: &str| {
        let holder = holder.to_string();
        with(store, now, move |tx| {
            tx.take_slot("host:x", 2, &holder, now + 100)
        })
    };
    let a = take(store, 0, "a").expect("first slot");
    assert!(take(store, 0, "b").is_some());
    assert_eq!(
        take(store, 1, "c"),
        None,
        "a third holder got a slot of two"
    );
    // Another key is independent.
    let other = with(store, 1, |tx| tx.take_slot("host:y", 1, "c", 101));
    assert!(other.is_some());
    with(store, 2, |tx| tx.free_slot(a));
    assert!(
        take(store, 2, "c").is_some(),
        "a freed slot was not taken again"
    );
    // "b" and "c" hold both; "c" keeps beating, "b" stops: after its lease, one slot frees.
    let extended = with(store, 50, |tx| tx.extend_slots("c", 250, &[]));
    assert_eq!(extended, 2, "c holds a host:x and a host:y slot");
    assert_eq!(take(store, 99, "d"), None);
    assert!(
        take(store, 101, "d").is_some(),
        "an expired slot was not freed"
    );
    assert_eq!(take(store, 102, "e"), None);
    // A holder known dead frees its slots at once.
    with(store, 103, |tx| {
        tx.extend_slots("e", 400, &["c".to_string()]).map(|_| ())
    });
    assert!(
        take(store, 104, "e").is_some(),
        "a dead holder kept its slot"
    );
}

/// Members register and are forgotten when silent; one leader at a time, a new term for each
/// new holder, and a leader whose term has passed cannot act.
pub fn one_leader_at_a_time_under_growing_terms(store: &mut dyn Store) {
    let member = |owner: &str| crate::store::Member {
        owner: owner.into(),
        host: "h".into(),
        pid: 1,
        role: "queue".into(),
        version: "0".into(),
        started_at: 0,
        last_beat: 0,
    };
    with(store, 10, |tx| tx.beat(&member("a"), 0));
    with(store, 20, |tx| tx.beat(&member("b"), 0));
    let members = store.members().unwrap();
    assert_eq!(members.len(), 2);
    assert_eq!((members[0].owner.as_str(), members[0].last_beat), ("a", 10));
    assert_eq!(with(store, 100, |tx| tx.lead("a", 200)), Some(1));
    assert_eq!(
        with(store, 110, |tx| tx.lead("b", 210)),
        None,
        "two leaders"
    );
    assert_eq!(
        with(store, 150, |tx| tx.lead("a", 250)),
        Some(1),
        "a renewal keeps the term"
    );
    assert!(with(store, 160, |tx| tx.leads("a", 1)));
    // "a" stops renewing: after its lease "b" takes over under term 2, and "a" can no longer
    // act nor take it back.
    assert_eq!(with(store, 251, |tx| tx.lead("b", 351)), Some(2));
    assert!(
        !with(store, 252, |tx| tx.leads("a", 1)),
        "a stale leader acted"
    );
    assert_eq!(with(store, 253, |tx| tx.lead("a", 353)), None);
    let leadership = store.leadership().unwrap().unwrap();
    assert_eq!((leadership.owner.as_str(), leadership.term), ("b", 2));
    // A leader that leaves frees the lease at once; a silent member is forgotten.
    with(store, 260, |tx| tx.leave("b"));
    assert_eq!(with(store, 261, |tx| tx.lead("a", 361)), Some(3));
    with(store, 300, |tx| tx.beat(&member("a"), 250));
    let members: Vec<String> = store
        .members()
        .unwrap()
        .into_iter()
        .map(|m| m.owner)
        .collect();
    assert_eq!(members, ["a"]);
}

/// Rates and daily quotas are counted for every holder alike: a bucket of 2 per second lets
/// two through and says when the next may go; a quota of 3 a day stops the fourth until the
/// day ends; a refused take takes nothing.
pub fn shared_rates_and_quotas_say_when(store: &mut dyn Store) {
    let limits = crate::store::RateLimits {
        per_second: Some(2.0),
        per_minute: None,
        per_day: Some(3),
        day: "2026-12-01".into(),
        day_ends: 86_400_000,
        windows: Vec::new(),
    };
    let take = |store: &mut dyn Store, now: i64, key: &str| {
        let limits = limits.clone();
        let key = key.to_string();
        with(store, now, move |tx| tx.take_rate(&key, &limits))
    };
    assert_eq!(take(store, 1000, "k"), None);
    assert_eq!(take(store, 1000, "k"), None);
    assert_eq!(
        take(store, 1000, "k"),
        Some(1500),
        "a third within the second"
    );
    assert_eq!(take(store, 1500, "k"), None);
    assert_eq!(
        take(store, 5000, "k"),
        Some(86_400_000),
        "the quota of 3 is spent"
    );
    assert_eq!(store.quota_used("k", "2026-12-01").unwrap(), 3);
    assert_eq!(take(store, 5000, "other"), None, "keys are independent");
}

/// Sliding windows are exact: 3 requests per 10 s let three through and name when the
/// oldest leaves the window; tokens charged after replies stop requests while the window is
/// spent and free them as the charges age out; a refused take counts nothing.
pub fn sliding_windows_hold_exactly(store: &mut dyn Store) {
    use crate::store::{WindowLimit, WindowUnit};
    let limits = crate::store::RateLimits {
        per_second: None,
        per_minute: None,
        per_day: None,
        day: "2026-12-01".into(),
        day_ends: 86_400_000,
        windows: vec![
            WindowLimit {
                window_ms: 10_000,
                limit: 3,
                unit: WindowUnit::Requests,
            },
            WindowLimit {
                window_ms: 10_000,
                limit: 100,
                unit: WindowUnit::Tokens,
            },
        ],
    };
    let take = |store: &mut dyn Store, now: i64| {
        let limits = limits.clone();
        with(store, now, move |tx| tx.take_rate("agent:a", &limits))
    };
    assert_eq!(take(store, 1_000), None);
    assert_eq!(take(store, 2_000), None);
    assert_eq!(take(store, 3_000), None);
    assert_eq!(take(store, 4_000), Some(11_000), "the first leaves at 11 s");
    assert_eq!(
        take(store, 10_999),
        Some(11_000),
        "a refusal counts nothing"
    );
    assert_eq!(take(store, 11_000), None);
    with(store, 11_500, |tx| tx.charge_tokens("agent:a", 60));
    with(store, 11_600, |tx| tx.charge_tokens("agent:a", 50));
    assert_eq!(
        take(store, 13_000),
        Some(21_500),
        "110 tokens of 100: wait until the 60 leave"
    );
    assert_eq!(take(store, 21_500), None);
}

/// Parks hold a key until their time for every process; only one caller gets the probe of
/// a park that ran out, and stats list what is parked now.
pub fn parks_hold_and_give_one_probe(store: &mut dyn Store) {
    use crate::store::Park;
    let park = Park {
        key: "auth:claude".into(),
        until: 5_000,
        reason: "auth breaker open".into(),
        strikes: 3,
    };
    let parked = park.clone();
    with(store, 1_000, move |tx| tx.park(&parked));
    assert_eq!(store.park("auth:claude").unwrap(), Some(park.clone()));
    assert_eq!(
        store.stats(4_000).unwrap().parked,
        std::slice::from_ref(&park)
    );
    assert!(store.stats(5_000).unwrap().parked.is_empty());
    let probe = |store: &mut dyn Store, now: i64| {
        with(store, now, |tx| {
            tx.probe_park("auth:claude", now + 1_000, "half-open")
        })
    };
    assert_eq!(probe(store, 4_999), None, "still parked");
    assert_eq!(probe(store, 5_000), Some(park), "the first caller probes");
    assert_eq!(probe(store, 5_001), None, "the probe holds the park");
    assert_eq!(
        store.park("auth:claude").unwrap().map(|p| p.reason),
        Some("half-open".into())
    );
    with(store, 5_500, |tx| tx.unpark("auth:claude"));
    assert_eq!(store.park("auth:claude").unwrap(), None);
    assert_eq!(probe(store, 9_000), None, "no park, no probe");
}

/// A purge removes ended history past the cutoff and nothing unfinished work, a running
/// run or the stage cache needs; a dry run changes nothing; `seq` is never issued twice;
/// `events_after` reads what follows a `seq`.
pub fn purge_keeps_what_live_work_needs(store: &mut dyn Store) {
    enqueue(
        store,
        vec![job("old-done", 1), job("old-failed", 1), job("live", 1)],
        1,
    );
    let mut held = claim(store, "w", 2, 10, 1000);
    assert_eq!(held.len(), 2);
    let second = held.remove(1);
    let first = held.remove(0);
    assert!(finish(
        store,
        first,
        Outcome::Done { result: json!({}) },
        10
    ));
    assert!(finish(store, second, failed("gone"), 10));
    with(store, 10, |tx| {
        tx.record_manifest(&ManifestRow {
            key: "old-done".into(),
            sha256: "1".repeat(64),
            size: 1,
            url: "http://127.0.0.1/a".into(),
            host: "127.0.0.1".into(),
            resolver: "direct".into(),
            content_type: None,
            fetched_at: 10,
        })
    });
    // ra: finished, nothing needs it. rb: finished, but a stage's last success came from
    // it. rc: still running.
    for run in ["ra", "rb", "rc"] {
        let jobs = vec![(stage_job(&format!("{run}/s")), vec![])];
        with(store, 11, |tx| tx.start_run(&run_record(run), &jobs));
        let claimed = claim_in(store, Some(run), "w", 1, 12, 1000).remove(0);
        assert!(finish(
            store,
            claimed,
            Outcome::Done { result: json!({}) },
            12
        ));
    }
    with(store, 20, |tx| tx.finish_run("ra", RunState::Done));
    with(store, 20, |tx| tx.finish_run("rb", RunState::Done));
    let record = StageRecord {
        pipeline: "p".into(),
        stage: "s".into(),
        key: "k".into(),
        definition: "d".into(),
        plugin: "x".into(),
        inputs: Default::default(),
        outputs: Default::default(),
        run_id: "rb".into(),
    };
    with(store, 20, |tx| tx.record_stage(&record));
    enqueue(store, vec![job("recent", 1)], 900);
    let recent = claim(store, "w", 2, 900, 1000);
    let recent_key: Vec<&str> = recent.iter().map(|j| j.key.as_str()).collect();
    assert_eq!(recent_key, ["live", "recent"]);
    let mut recent = recent.into_iter();
    let live = recent.next().unwrap();
    assert!(finish(
        store,
        recent.next().unwrap(),
        Outcome::Done { result: json!({}) },
        900
    ));
    let old = store.job("old-done").unwrap().unwrap();
    let before_purge = store.events_after(&[old.id], 0, 100).unwrap();
    assert!(before_purge.len() >= 2, "{before_purge:?}");
    let seqs: Vec<i64> = before_purge
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert_eq!(before_purge[0]["event"], "enqueued");
    let after_first = store.events_after(&[old.id], seqs[0], 100).unwrap();
    assert_eq!(after_first.len(), before_purge.len() - 1);

    let dry = with(store, 1000, |tx| {
        tx.purge(&Purge {
            before: 500,
            dry_run: true,
        })
    });
    assert_eq!(dry.jobs, 3, "old-done, old-failed and ra/s: {dry:?}");
    assert_eq!(dry.runs, ["ra"]);
    assert_eq!(dry.manifest_rows, 1);
    assert_eq!(dry.manifest_digests, ["1".repeat(64)]);
    assert!(dry.events >= 4, "{dry:?}");
    assert!(
        store.job("old-done").unwrap().is_some(),
        "a dry run removed a job"
    );
    assert!(
        store.run("ra").unwrap().is_some(),
        "a dry run removed a run"
    );

    let done = with(store, 1000, |tx| {
        tx.purge(&Purge {
            before: 500,
            dry_run: false,
        })
    });
    assert_eq!(done, dry, "a purge did other than its dry run said");
    for gone in ["old-done", "old-failed", "ra/s"] {
        assert!(store.job(gone).unwrap().is_none(), "{gone} was kept");
    }
    assert!(store.run("ra").unwrap().is_none());
    assert!(store.manifest("old-done").unwrap().is_none());
    assert!(store.events_after(&[old.id], 0, 100).unwrap().is_empty());
    for kept in ["live", "recent", "rb/s", "rc/s"] {
        assert!(store.job(kept).unwrap().is_some(), "{kept} was removed");
    }
    assert!(
        store.run("rb").unwrap().is_some(),
        "the stage cache's run was removed"
    );
    assert!(
        store.run("rc").unwrap().is_some(),
        "a running run was removed"
    );
    assert_eq!(store.last_stage("p", "s").unwrap(), Some(record));
    // The live job still finishes, and new events get new numbers.
    assert!(finish(
        store,
        live,
        Outcome::Done { result: json!({}) },
        1001
    ));
    let top = seqs.last().copied().unwrap_or(0);
    enqueue(store, vec![job("after", 1)], 1002);
    let after = store.job("after").unwrap().unwrap();
    let fresh = store.events_after(&[after.id], 0, 10).unwrap();
    assert_eq!(fresh.len(), 1);
    assert!(fresh[0]["seq"].as_i64().unwrap() > top);
    let again = with(store, 1003, |tx| {
        tx.purge(&Purge {
            before: 500,
            dry_run: false,
        })
    });
    assert_eq!(again.jobs, 0, "a second purge found more: {again:?}");
}

/// A job recovered by hand goes back to the queue with its attempt given back, only while
/// the lease it names still holds; its old holder's late outcome is fenced.
pub fn a_job_recovered_by_hand_fences_out_its_holder(store: &mut dyn Store) {
    enqueue(store, vec![job("h", 3), job("i", 3)], 1);
    let mut held = claim(store, "w1", 2, 10, 100_000);
    let (old, other) = (held.remove(0), held.remove(0));
    let requeue = |held: &Claimed, reason: &str| Requeue {
        id: held.id,
        fence: held.fence,
        reason: reason.into(),
    };
    let stale = Requeue {
        fence: other.fence + 1,
        ..requeue(&other, "stale")
    };
    assert_eq!(
        with(store, 20, |tx| tx
            .requeue(&[requeue(&old, "recovered by hand: test"), stale])),
        [true, false],
        "only the lease named by its fence is taken"
    );
    let job = store.job("h").unwrap().unwrap();
    assert_eq!(
        (job.state, job.attempts, job.recoveries),
        (JobState::Queued, 0, 1)
    );
    assert_eq!(job.wait_reason.as_deref(), Some("recovered by hand: test"));
    assert_eq!(state(store, "i"), JobState::Running);
    assert_eq!(
        with(store, 21, |tx| tx.requeue(&[requeue(&old, "again")])),
        [false],
        "a queued job was requeued twice"
    );
    assert!(
        !finish(store, old.clone(), Outcome::Done { result: json!({}) }, 30),
        "the old holder's late outcome was applied"
    );
    assert_eq!(state(store, "h"), JobState::Queued);
    let new = claim(store, "w2", 1, 40, 100).remove(0);
    assert_eq!(new.key, "h");
    assert!(new.fence > old.fence);
    assert_eq!(new.attempt, 1, "the attempt was given back");
    let events = store.job_events(new.id, 20).unwrap();
    let names: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    assert!(
        names.contains(&"recovered") && names.contains(&"fenced"),
        "{names:?}"
    );
}

/// A failed or cancelled job is retried by hand; other states are left alone.
pub fn one_job_is_retried_by_hand(store: &mut dyn Store) {
    enqueue(store, vec![job("r", 1), job("q", 1)], 1);
    let held = claim(store, "w", 1, 10, 100).remove(0);
    assert_eq!(held.key, "r");
    finish(store, held, failed("no"), 20);
    assert_eq!(with(store, 30, |tx| tx.retry("q")), Some(JobState::Queued));
    assert_eq!(with(store, 30, |tx| tx.retry("r")), Some(JobState::Failed));
    let job = store.job("r").unwrap().unwrap();
    assert_eq!((job.state, job.max_attempts), (JobState::Queued, 2));
    assert_eq!(job.wait_reason.as_deref(), Some("retried by hand"));
    assert_eq!(with(store, 31, |tx| tx.cancel("q")), Some(JobState::Queued));
    assert_eq!(
        with(store, 32, |tx| tx.retry("q")),
        Some(JobState::Cancelled)
    );
    assert_eq!(state(store, "q"), JobState::Queued);
    assert_eq!(with(store, 33, |tx| tx.retry("nope")), None);
}

/// The dashboards' overview: counts follow every change, and the lists hold the running,
/// waiting (not due, blocked on named dependencies, ready) and failed jobs.
pub fn the_overview_counts_and_lists_what_the_dashboards_show(store: &mut dyn Store) {
    enqueue(store, (0..6).map(|i| job(&format!("o{i}"), 1)).collect(), 1);
    let count = |store: &dyn Store, kind: &str, st: &str| {
        let overview = store.overview(1000, "2026-12-01", 10).unwrap();
        overview
            .counts
            .iter()
            .find(|c| c.kind == kind && c.state == st)
            .map_or(0, |c| c.jobs)
    };
    assert_eq!(count(store, "resolve", "queued"), 6);
    // A key already there changes nothing, its count included.
    enqueue(store, vec![job("o0", 1), job("o6", 1)], 2);
    assert_eq!(count(store, "resolve", "queued"), 7);
    with(store, 3, |tx| tx.cancel("o6"));
    assert_eq!(count(store, "resolve", "queued"), 6);
    let mut held = claim(store, "w", 3, 10, 100_000);
    assert_eq!(count(store, "resolve", "queued"), 3);
    assert_eq!(count(store, "resolve", "running"), 3);
    let first = held.remove(0);
    finish(store, first, failed("no"), 500);
    let second = held.remove(0);
    let retry = Outcome::Retry {
        failure: crate::model::Failure::new("busy"),
        at: 50_000,
        snooze: true,
        wait_reason: "rate host:x until later".into(),
    };
    finish(store, second, retry, 600);
    with(store, 700, |tx| {
        tx.start_run(
            &run_record("ov"),
            &[(stage_job("ov/a"), vec![]), (stage_job("ov/b"), vec![0])],
        )
    });
    let slot = with(store, 700, |tx| tx.take_slot("host:x", 2, "w", 100_000));
    assert!(slot.is_some());
    with(store, 700, |tx| tx.add_quota("host:x", "2026-12-01", 7));
    let overview = store.overview(1000, "2026-12-01", 10).unwrap();
    let get = |kind: &str, st: &str| {
        overview
            .counts
            .iter()
            .find(|c| c.kind == kind && c.state == st)
            .map_or(0, |c| c.jobs)
    };
    assert_eq!(
        (
            get("resolve", "queued"),
            get("resolve", "running"),
            get("resolve", "failed")
        ),
        (4, 1, 1),
        "{:?}",
        overview.counts
    );
    assert_eq!((get("stage", "queued"), get("stage", "blocked")), (1, 1));
    assert_eq!(overview.finished_last_minute, 1);
    assert_eq!(overview.running.len(), 1);
    assert_eq!(overview.failures[0].key, "o0");
    assert_eq!(
        overview.waiting[0].job.key, "o1",
        "the snoozed job comes first"
    );
    assert_eq!(overview.waiting[0].job.run_after, 50_000);
    let blocked = overview
        .waiting
        .iter()
        .find(|w| w.job.key == "ov/b")
        .expect("the blocked job is listed");
    assert_eq!(blocked.deps, ["ov/a"]);
    assert!(overview.waiting.iter().any(|w| w.job.key == "o3"));
    assert_eq!(overview.slots.get("host:x"), Some(&1));
    assert_eq!(overview.quotas.get("host:x"), Some(&7));
    assert_eq!(
        store.overview(1000, "2026-12-01", 1).unwrap().waiting.len(),
        1
    );
    // The last one held ends done; two more are claimed and one of them is done too.
    let last = held.remove(0);
    let done = || Outcome::Done {
        result: serde_json::json!({}),
    };
    assert!(finish(store, last, done(), 800));
    let mut more = claim(store, "w", 2, 900, 100_000);
    assert_eq!(more.len(), 2);
    assert!(finish(store, more.remove(0), done(), 950));
    assert_eq!(
        (
            count(store, "resolve", "queued"),
            count(store, "resolve", "running"),
            count(store, "resolve", "done"),
            count(store, "resolve", "failed"),
        ),
        (2, 1, 2, 1)
    );
    assert_eq!(
        store
            .overview(200_000, "2026-12-01", 10)
            .unwrap()
            .finished_last_minute,
        0
    );
}

/// Runs every check, each on a fresh store from `make`.
pub fn run_all(make: &dyn Fn() -> Box<dyn Store>) {
    let checks: [fn(&mut dyn Store); 22] = [
        sliding_windows_hold_exactly,
        parks_hold_and_give_one_probe,
        purge_keeps_what_live_work_needs,
        the_overview_counts_and_lists_what_the_dashboards_show,
        a_job_recovered_by_hand_fences_out_its_holder,
        one_job_is_retried_by_hand,
        shared_rates_and_quotas_say_when,
        one_leader_at_a_time_under_growing_terms,
        limit_slots_hold_their_cap_across_holders,
        a_never_started_job_is_recovered_without_a_charge,
        run_jobs_wait_on_their_dependencies,
        a_stopped_run_cancels_what_has_not_started,
        a_resumed_run_requeues_what_did_not_finish,
        enqueue_is_idempotent_and_claims_are_exclusive,
        a_recovered_lease_fences_out_the_old_holder,
        heartbeats_keep_leases_and_poison_pills_fail,
        retries_wait_and_snoozes_keep_the_attempt,
        release_returns_jobs_without_using_attempts,
        retry_failed_and_cancel,
        stage_records_manifest_and_quotas_round_trip,
        changes_are_journaled_and_failures_commit_nothing,
        plugin_state_is_private_and_bounded,
    ];
    for check in checks {
        let mut store = make();
        check(&mut *store);
        counts_match_the_jobs(&*store);
    }
}

/// The dashboards' counts (`overview`, kept by triggers or by the code that changes jobs)
/// agree with the jobs themselves, whatever a check did to them.
fn counts_match_the_jobs(store: &dyn Store) {
    let mut actual: std::collections::BTreeMap<(String, String), i64> = Default::default();
    for job in store.list(None, 1_000_000).unwrap() {
        *actual
            .entry((
                job.kind.as_str().to_string(),
                job.state.as_str().to_string(),
            ))
            .or_default() += 1;
    }
    let counted: std::collections::BTreeMap<(String, String), i64> = store
        .overview(0, "2026-12-01", 1)
        .unwrap()
        .counts
        .into_iter()
        .filter(|c| c.jobs != 0)
        .map(|c| ((c.kind, c.state), c.jobs))
        .collect();
    assert_eq!(counted, actual, "job_counts drifted from the jobs");
}
