//! The SQLite implementation of [`QueueStore`]: WAL, `BEGIN IMMEDIATE` for writes, one
//! transaction per group commit.

use super::artifacts::{self, ManifestRow};
use super::ops::{Op, OpResult, QueueStore};
use super::queue;
use super::stats::{self, QueueStats};
use crate::ledger::Event;
use crate::queue::model::{Attempt, Job, JobState};
use anyhow::Result;
use rusqlite::{Connection, TransactionBehavior};

pub struct SqliteQueue {
    conn: Connection,
}

impl SqliteQueue {
    pub fn open(path: &std::path::Path) -> Result<SqliteQueue> {
        Ok(SqliteQueue {
            conn: super::open_sqlite(path)?,
        })
    }
}

impl QueueStore for SqliteQueue {
    fn commit(&mut self, ops: Vec<Op>, now: i64) -> Result<(Vec<OpResult>, Vec<Event>)> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut events = Vec::new();
        let mut results = Vec::with_capacity(ops.len());
        for op in ops {
            results.push(match op {
                Op::Enqueue { jobs, ledger } => {
                    let inserted = queue::enqueue(&tx, &jobs, now)?;
                    for (job, id) in jobs.iter().zip(&inserted) {
                        if let (Some(id), true) = (id, ledger) {
                            events.push(Event::job(
                                now,
                                *id,
                                &job.key,
                                "enqueued",
                                serde_json::json!({}),
                            ));
                        }
                    }
                    OpResult::Enqueued(inserted.iter().map(Option::is_some).collect())
                }
                Op::Claim {
                    run,
                    owner,
                    limit,
                    lease_until,
                    mut admit,
                } => OpResult::Claimed(queue::claim(
                    &tx,
                    &queue::ClaimSpec {
                        run: run.as_deref(),
                        owner: &owner,
                        limit,
                        lease_until,
                    },
                    now,
                    &mut |offer| admit(offer.plugin),
                    &mut events,
                )?),
                Op::Finish(outcomes) => {
                    OpResult::Finished(queue::finish(&tx, &outcomes, now, &mut events)?)
                }
                Op::Heartbeat { jobs, lease_until } => {
                    OpResult::Heartbeat(queue::heartbeat(&tx, &jobs, lease_until)?)
                }
                Op::Recover {
                    dead_owners,
                    max_recoveries,
                } => {
                    let (recovered, poisoned) =
                        queue::recover(&tx, now, &dead_owners, max_recoveries, &mut events)?;
                    OpResult::Recovered {
                        recovered,
                        poisoned,
                    }
                }
                Op::Release(jobs) => {
                    OpResult::Released(queue::release(&tx, &jobs, now, &mut events)?)
                }
                Op::Manifest(row) => {
                    artifacts::record(&tx, &row)?;
                    OpResult::Done
                }
                Op::Quota { key, day, used } => {
                    artifacts::quota_add(&tx, &key, &day, used)?;
                    OpResult::Done
                }
                Op::Counter { name, by } => {
                    queue::bump_counter(&tx, name, by)?;
                    OpResult::Done
                }
                Op::Pending { run } => {
                    let (open, next_due) = queue::pending(&tx, run.as_deref())?;
                    OpResult::Pending { open, next_due }
                }
                Op::EnqueueRun { run_id, jobs } => {
                    queue::enqueue_run(&tx, &run_id, &jobs, now, &mut events)?;
                    OpResult::Done
                }
                Op::ResumeRun {
                    run_id,
                    dead_owners,
                } => OpResult::Released(queue::resume_run(
                    &tx,
                    &run_id,
                    &dead_owners,
                    now,
                    &mut events,
                )?),
                Op::CancelRun { run_id, reason } => {
                    OpResult::Cancelled(queue::cancel_run(&tx, &run_id, &reason, now, &mut events)?)
                }
                Op::Events(more) => {
                    events.extend(more);
                    OpResult::Done
                }
            });
        }
        queue::insert_events(&tx, &events)?;
        tx.commit()?;
        Ok((results, events))
    }

    fn job(&self, key: &str) -> Result<Option<Job>> {
        queue::job(&self.conn, key)
    }

    fn list(&self, state: Option<JobState>, limit: usize) -> Result<Vec<Job>> {
        queue::list(&self.conn, state, limit)
    }

    fn attempts(&self, job_id: i64) -> Result<Vec<Attempt>> {
        queue::attempts(&self.conn, job_id)
    }

    fn job_events(&self, job_id: i64, limit: usize) -> Result<Vec<serde_json::Value>> {
        queue::job_events(&self.conn, job_id, limit)
    }

    fn stats(&self, now: i64) -> Result<QueueStats> {
        stats::collect(&self.conn, now)
    }

    fn manifest(&self, key: &str) -> Result<Option<ManifestRow>> {
        artifacts::lookup(&self.conn, key)
    }

    fn quota_used(&self, key: &str, day: &str) -> Result<u64> {
        artifacts::quota_used(&self.conn, key, day)
    }

    fn retry_failed(
        &mut self,
        max_attempts: Option<u32>,
        dry_run: bool,
        now: i64,
    ) -> Result<(Vec<String>, Vec<Event>)> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut events = Vec::new();
        let keys = queue::retry_failed(&tx, max_attempts, dry_run, now, &mut events)?;
        queue::insert_events(&tx, &events)?;
        tx.commit()?;
        Ok((keys, events))
    }

    fn cancel(&mut self, key: &str, now: i64) -> Result<(Option<JobState>, Vec<Event>)> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut events = Vec::new();
        let state = queue::cancel(&tx, key, now, &mut events)?;
        queue::insert_events(&tx, &events)?;
        tx.commit()?;
        Ok((state, events))
    }

    fn lease_owners(&self) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare(
            "SELECT DISTINCT lease_owner FROM jobs WHERE state = 'running' AND lease_owner IS NOT NULL",
        )?;
        let owners = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(owners)
    }
}
