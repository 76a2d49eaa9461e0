//! The conformance suite every `QueueStore` must pass (SQLite now, PostgreSQL later): claims,
//! fencing, recovery and poison pills, snoozes, release, idempotent enqueue, retry and cancel.

use super::ops::{Op, OpResult, QueueStore};
use crate::queue::model::{Claimed, JobState, NewJob, Outcome};
use serde_json::json;

fn job(key: &str, max_attempts: u32) -> NewJob {
    NewJob {
        key: key.into(),
        kind: "resolve",
        plugin: None,
        payload: "{}".into(),
        priority: 0,
        max_attempts,
    }
}

fn enqueue(store: &mut dyn QueueStore, jobs: Vec<NewJob>, now: i64) -> Vec<bool> {
    match store
        .commit(vec![Op::Enqueue { jobs, ledger: true }], now)
        .unwrap()
        .0
        .remove(0)
    {
        OpResult::Enqueued(v) => v,
        other => panic!("{other:?}"),
    }
}

fn claim(
    store: &mut dyn QueueStore,
    owner: &str,
    limit: usize,
    now: i64,
    lease: i64,
) -> Vec<Claimed> {
    let op = Op::Claim {
        run: None,
        owner: owner.into(),
        limit,
        lease_until: now + lease,
        admit: Box::new(|_| true),
    };
    match store.commit(vec![op], now).unwrap().0.remove(0) {
        OpResult::Claimed(v) => v,
        other => panic!("{other:?}"),
    }
}

fn finish(store: &mut dyn QueueStore, job: Claimed, outcome: Outcome, now: i64) -> bool {
    match store
        .commit(vec![Op::Finish(vec![(job, outcome)])], now)
        .unwrap()
        .0
        .remove(0)
    {
        OpResult::Finished(v) => v[0],
        other => panic!("{other:?}"),
    }
}

fn recover(store: &mut dyn QueueStore, now: i64, max_recoveries: u32) -> (usize, usize) {
    let op = Op::Recover {
        dead_owners: vec![],
        max_recoveries,
    };
    match store.commit(vec![op], now).unwrap().0.remove(0) {
        OpResult::Recovered {
            recovered,
            poisoned,
        } => (recovered, poisoned),
        other => panic!("{other:?}"),
    }
}

fn state(store: &dyn QueueStore, key: &str) -> JobState {
    store.job(key).unwrap().unwrap().state
}

pub fn enqueue_is_idempotent_and_claims_are_exclusive(store: &mut dyn QueueStore) {
    assert_eq!(
        enqueue(store, vec![job("a", 3), job("b", 3), job("a", 3)], 1),
        [true, true, false]
    );
    let first = claim(store, "w1", 10, 10, 1000);
    assert_eq!(first.len(), 2);
    assert!(
        claim(store, "w2", 10, 11, 1000).is_empty(),
        "a running job was claimed twice"
    );
    assert_eq!(first[0].attempt, 1);
}

pub fn a_recovered_lease_fences_out_the_old_holder(store: &mut dyn QueueStore) {
    enqueue(store, vec![job("f", 3)], 1);
    let old = claim(store, "w1", 1, 10, 100).remove(0);
    assert_eq!(recover(store, 200, 3), (1, 0));
    assert_eq!(state(store, "f"), JobState::Queued);
    let new = claim(store, "w2", 1, 210, 100).remove(0);
    assert!(new.fence > old.fence);
    assert!(
        !finish(
            store,
            old,
            Outcome::Failed {
                reason: "stale".into()
            },
            220
        ),
        "a stale worker overwrote the result"
    );
    assert!(finish(store, new, Outcome::Done { result: json!({}) }, 230));
    assert_eq!(state(store, "f"), JobState::Done);
}

pub fn heartbeats_keep_leases_and_poison_pills_fail(store: &mut dyn QueueStore) {
    enqueue(store, vec![job("p", 9)], 1);
    let held = claim(store, "w1", 1, 10, 100).remove(0);
    let op = Op::Heartbeat {
        jobs: vec![(held.id, held.fence)],
        lease_until: 500,
    };
    store.commit(vec![op], 90).unwrap();
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

pub fn retries_back_off_snoozes_keep_the_attempt_and_the_last_attempt_fails(
    store: &mut dyn QueueStore,
) {
    enqueue(store, vec![job("r", 2)], 1);
    let first = claim(store, "w", 1, 10, 100).remove(0);
    let snooze = Outcome::Retry {
        reason: "429".into(),
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
    let retry = Outcome::Retry {
        reason: "503".into(),
        at: 70,
        snooze: false,
        wait_reason: "backoff".into(),
    };
    assert!(finish(store, second, retry, 65));
    let third = claim(store, "w", 1, 80, 100).remove(0);
    assert_eq!(third.attempt, 2);
    let retry = Outcome::Retry {
        reason: "503".into(),
        at: 90,
        snooze: false,
        wait_reason: "backoff".into(),
    };
    assert!(finish(store, third, retry, 85));
    assert_eq!(state(store, "r"), JobState::Failed);
}

pub fn release_returns_jobs_without_using_attempts(store: &mut dyn QueueStore) {
    enqueue(store, vec![job("s", 3)], 1);
    let held = claim(store, "w", 1, 10, 100);
    store.commit(vec![Op::Release(held)], 20).unwrap();
    let job = store.job("s").unwrap().unwrap();
    assert_eq!((job.state, job.attempts), (JobState::Queued, 0));
}

pub fn retry_failed_and_cancel(store: &mut dyn QueueStore) {
    enqueue(store, vec![job("x", 1), job("y", 1)], 1);
    for held in claim(store, "w", 2, 10, 100) {
        finish(
            store,
            held,
            Outcome::Failed {
                reason: "no".into(),
            },
            20,
        );
    }
    assert_eq!(store.retry_failed(None, true, 30).unwrap().0.len(), 2);
    assert_eq!(
        state(store, "x"),
        JobState::Failed,
        "a dry run changed something"
    );
    assert_eq!(
        store.retry_failed(Some(1), false, 30).unwrap().0.len(),
        0,
        "attempts >= max-attempts"
    );
    assert_eq!(store.retry_failed(None, false, 30).unwrap().0.len(), 2);
    assert_eq!(claim(store, "w", 2, 40, 100).len(), 2);
    assert_eq!(store.cancel("x", 50).unwrap().0, Some(JobState::Running));
    assert_eq!(state(store, "x"), JobState::Cancelled);
    assert_eq!(store.cancel("nope", 50).unwrap().0, None);
}

fn claim_run(store: &mut dyn QueueStore, run: &str, now: i64) -> Vec<Claimed> {
    let op = Op::Claim {
        run: Some(run.into()),
        owner: "w".into(),
        limit: 10,
        lease_until: now + 1000,
        admit: Box::new(|_| true),
    };
    match store.commit(vec![op], now).unwrap().0.remove(0) {
        OpResult::Claimed(v) => v,
        other => panic!("{other:?}"),
    }
}

pub fn run_jobs_wait_on_their_dependencies(store: &mut dyn QueueStore) {
    // a → b → c, and d on its own; the work queue never sees run jobs.
    let jobs = vec![
        (job("r1/a", 1), vec![]),
        (job("r1/b", 1), vec![0]),
        (job("r1/c", 1), vec![1]),
        (job("r1/d", 1), vec![]),
    ];
    store
        .commit(
            vec![Op::EnqueueRun {
                run_id: "r1".into(),
                jobs,
            }],
            1,
        )
        .unwrap();
    assert!(
        claim(store, "w", 10, 5, 100).is_empty(),
        "a queue worker took a pipeline job"
    );
    assert_eq!(state(store, "r1/b"), JobState::Blocked);
    let first: Vec<String> = claim_run(store, "r1", 10)
        .into_iter()
        .map(|j| j.key)
        .collect();
    assert_eq!(first, ["r1/a", "r1/d"]);
    let a = store.job("r1/a").unwrap().unwrap();
    let held = Claimed {
        id: a.id,
        key: a.key,
        kind: "stage".into(),
        plugin: None,
        payload: "{}".into(),
        attempt: 1,
        max_attempts: 1,
        fence: a.fence,
        enqueued_at: 1,
    };
    assert!(finish(store, held, Outcome::Done { result: json!({}) }, 20));
    assert_eq!(state(store, "r1/b"), JobState::Queued);
    assert_eq!(state(store, "r1/c"), JobState::Blocked);
    let b = claim_run(store, "r1", 30).remove(0);
    assert!(finish(
        store,
        b,
        Outcome::Failed {
            reason: "boom".into()
        },
        40
    ));
    let c = store.job("r1/c").unwrap().unwrap();
    assert_eq!(c.state, JobState::Skipped);
    assert!(c.last_error.unwrap().contains("upstream `r1/b` failed"));
}

pub fn a_stopped_run_cancels_what_has_not_started(store: &mut dyn QueueStore) {
    let jobs = vec![
        (job("r2/a", 1), vec![]),
        (job("r2/b", 1), vec![0]),
        (job("r2/c", 1), vec![]),
    ];
    store
        .commit(
            vec![Op::EnqueueRun {
                run_id: "r2".into(),
                jobs,
            }],
            1,
        )
        .unwrap();
    let running = claim_run(store, "r2", 10);
    assert_eq!(running.len(), 2);
    let op = Op::CancelRun {
        run_id: "r2".into(),
        reason: "stopped".into(),
    };
    match store.commit(vec![op], 20).unwrap().0.remove(0) {
        OpResult::Cancelled(n) => assert_eq!(n, 1),
        other => panic!("{other:?}"),
    }
    assert_eq!(state(store, "r2/b"), JobState::Cancelled);
    assert_eq!(state(store, "r2/a"), JobState::Running);
}

/// Runs every check, each on a fresh store from `make`.
pub fn run_all(make: &dyn Fn() -> Box<dyn QueueStore>) {
    let checks: [fn(&mut dyn QueueStore); 8] = [
        run_jobs_wait_on_their_dependencies,
        a_stopped_run_cancels_what_has_not_started,
        enqueue_is_idempotent_and_claims_are_exclusive,
        a_recovered_lease_fences_out_the_old_holder,
        heartbeats_keep_leases_and_poison_pills_fail,
        retries_back_off_snoozes_keep_the_attempt_and_the_last_attempt_fails,
        release_returns_jobs_without_using_attempts,
        retry_failed_and_cancel,
    ];
    for check in checks {
        check(&mut *make());
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sqlite_passes_the_conformance_suite() {
        let dir = tempfile::tempdir().unwrap();
        let counter = std::sync::atomic::AtomicUsize::new(0);
        super::run_all(&|| {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Box::new(
                crate::store::sqlite_queue::SqliteQueue::open(&dir.path().join(format!("{n}.db")))
                    .unwrap(),
            )
        });
    }
}
