//! Recovering jobs by hand (`baton job recover`): judges whether each running job's lease
//! holder is dead — its lease expired, its process is gone on this machine, or its host has
//! been silent on the store for two leases — and puts those jobs back in the queue. A holder
//! that still looks alive keeps its job unless forced; a forced recovery fences the holder
//! out (its late outcome no longer matches the job's state and fence and is discarded).

use anyhow::Result;
use baton_core::model::{Job, JobState};
use baton_core::store::{Member, Requeue, Store, commit};
use serde::Serialize;

/// Why a holder is judged dead, or why it looks alive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Holder {
    /// The lease ran out `ago_ms` milliseconds ago without a heartbeat.
    LeaseExpired {
        /// Milliseconds since it ran out.
        ago_ms: i64,
    },
    /// The holder was a process on this machine that no longer exists.
    ProcessGone {
        /// Its process id.
        pid: i32,
    },
    /// The holder's host has sent no heartbeat to the store for two leases.
    Silent {
        /// Its host name.
        host: String,
        /// Milliseconds since its last heartbeat.
        ago_ms: i64,
    },
    /// The holder looks alive: its process runs on this machine, or its host beats.
    Alive {
        /// What shows it alive, e.g. `process 4242 runs on this host`.
        evidence: String,
    },
}

impl Holder {
    /// Whether the holder is judged dead.
    pub fn dead(&self) -> bool {
        !matches!(self, Holder::Alive { .. })
    }

    /// In words, e.g. `process 4242 is gone on this host`.
    pub fn describe(&self) -> String {
        let secs = |ms: i64| format!("{:.1} s", ms.max(0) as f64 / 1000.0);
        match self {
            Holder::LeaseExpired { ago_ms } => {
                format!("its lease expired {} ago", secs(*ago_ms))
            }
            Holder::ProcessGone { pid } => format!("process {pid} is gone on this host"),
            Holder::Silent { host, ago_ms } => {
                format!("host {host} has been silent for {}", secs(*ago_ms))
            }
            Holder::Alive { evidence } => format!("the holder looks alive: {evidence}"),
        }
    }
}

/// One running job and the verdict on its holder.
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    /// The job's key.
    pub key: String,
    /// Its store id.
    #[serde(skip)]
    pub id: i64,
    /// The fence of the lease being judged.
    pub fence: i64,
    /// The lease owner (`host:pid:start-ms`).
    pub owner: String,
    /// Unix milliseconds since it holds the job (its last change).
    pub since: i64,
    /// The verdict.
    pub holder: Holder,
    /// Whether it is (or, in a dry run, would be) recovered: its holder is dead, or `force`.
    pub recover: bool,
    /// Set after applying: whether the store requeued it (`false`: it ended or changed
    /// hands meanwhile).
    pub applied: Option<bool>,
}

/// Which jobs to look at.
#[derive(Debug, Clone)]
pub enum Selection {
    /// One job by key.
    One(String),
    /// Every running job.
    All,
}

/// What `job recover` found for one key that is not running.
#[derive(Debug, Clone, Serialize)]
pub struct NotRunning {
    /// The key.
    pub key: String,
    /// Its state.
    pub state: JobState,
}

/// The plan: running jobs with verdicts, and a named job that was not running.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// The running jobs looked at.
    pub candidates: Vec<Candidate>,
    /// The named job, when it is not running (nothing to recover).
    pub not_running: Option<NotRunning>,
}

/// Most running jobs `--all` looks at in one call.
pub const MAX_RUNNING: usize = 1_000_000;

/// Judges the holders of the selected running jobs at `now` (Unix milliseconds), with
/// `lease` the configured lease (a host silent for two is judged dead). `force` marks live
/// holders' jobs for recovery too. Errors: the store cannot be read; `Ok(None)` when the
/// named job does not exist.
pub fn plan(
    store: &dyn Store,
    selection: &Selection,
    force: bool,
    now: i64,
    lease_ms: i64,
) -> Result<Option<Plan>> {
    let jobs: Vec<Job> = match selection {
        Selection::One(key) => match store.job(key)? {
            None => return Ok(None),
            Some(job) if job.state != JobState::Running => {
                return Ok(Some(Plan {
                    candidates: Vec::new(),
                    not_running: Some(NotRunning {
                        key: job.key,
                        state: job.state,
                    }),
                }));
            }
            Some(job) => vec![job],
        },
        Selection::All => store.list(Some(JobState::Running), MAX_RUNNING)?,
    };
    let members = store.members()?;
    let me = crate::owner::hostname();
    let candidates = jobs
        .into_iter()
        .map(|job| {
            let owner = job.lease_owner.clone().unwrap_or_default();
            let holder = judge(&owner, job.lease_expires, &members, &me, now, lease_ms);
            let recover = force || holder.dead();
            Candidate {
                key: job.key,
                id: job.id,
                fence: job.fence,
                owner,
                since: job.updated_at,
                holder,
                recover,
                applied: None,
            }
        })
        .collect();
    Ok(Some(Plan {
        candidates,
        not_running: None,
    }))
}

/// The verdict on one holder; see [`Holder`].
pub fn judge(
    owner: &str,
    lease_expires: Option<i64>,
    members: &[Member],
    me: &str,
    now: i64,
    lease_ms: i64,
) -> Holder {
    if let Some(expires) = lease_expires.filter(|e| *e < now) {
        return Holder::LeaseExpired {
            ago_ms: now - expires,
        };
    }
    let mut parts = owner.split(':');
    let host = parts.next().unwrap_or_default();
    let pid = parts.next().and_then(|p| p.parse::<i32>().ok());
    if host == me
        && let Some(pid) = pid
    {
        return if pid != std::process::id() as i32 && !crate::owner::alive(pid) {
            Holder::ProcessGone { pid }
        } else {
            Holder::Alive {
                evidence: format!("process {pid} runs on this host"),
            }
        };
    }
    let until = lease_expires.map_or_else(String::new, |e| {
        format!("; its lease runs until {}", baton_core::clock::format_ms(e))
    });
    match members.iter().find(|m| m.owner == owner) {
        Some(member) if member.last_beat < now - 2 * lease_ms => Holder::Silent {
            host: member.host.clone(),
            ago_ms: now - member.last_beat,
        },
        Some(member) => Holder::Alive {
            evidence: format!(
                "host {} sent a heartbeat {:.1} s ago{until}",
                member.host,
                (now - member.last_beat).max(0) as f64 / 1000.0
            ),
        },
        None => Holder::Alive {
            evidence: format!("{owner} runs on another host{until}"),
        },
    }
}

/// Requeues the candidates marked for recovery and records whether the store did; returns
/// how many it requeued. Errors: the store refused the transaction.
pub fn apply(store: &mut dyn Store, plan: &mut Plan, now: i64) -> Result<usize> {
    let chosen: Vec<usize> = (0..plan.candidates.len())
        .filter(|i| plan.candidates[*i].recover)
        .collect();
    if chosen.is_empty() {
        return Ok(0);
    }
    let requeues: Vec<Requeue> = chosen
        .iter()
        .map(|i| {
            let c = &plan.candidates[*i];
            let why = c.holder.describe();
            Requeue {
                id: c.id,
                fence: c.fence,
                reason: if c.holder.dead() {
                    format!("recovered by hand from {}: {why}", c.owner)
                } else {
                    format!("recovered by hand from {} (forced; {why})", c.owner)
                },
            }
        })
        .collect();
    let applied = commit(store, now, |tx| tx.requeue(&requeues))?;
    let mut count = 0;
    for (i, ok) in chosen.iter().zip(applied) {
        plan.candidates[*i].applied = Some(ok);
        count += usize::from(ok);
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(owner: &str, last_beat: i64) -> Member {
        Member {
            owner: owner.into(),
            host: owner.split(':').next().unwrap_or_default().into(),
            pid: 1,
            role: "queue".into(),
            version: "0".into(),
            started_at: 0,
            last_beat,
        }
    }

    #[test]
    fn holders_are_judged_by_lease_process_and_heartbeat() {
        let lease = 30_000;
        let now = 1_000_000;
        assert_eq!(
            judge("me:1:0", Some(now - 5), &[], "me", now, lease),
            Holder::LeaseExpired { ago_ms: 5 }
        );
        let mine = format!("me:{}:0", std::process::id());
        assert!(!judge(&mine, Some(now + 5), &[], "me", now, lease).dead());
        // A pid far above any pid_max is never a live process.
        assert_eq!(
            judge("me:999999999:0", Some(now + 5), &[], "me", now, lease),
            Holder::ProcessGone { pid: 999_999_999 }
        );
        let quiet = [member("far:7:0", now - 3 * lease)];
        assert!(matches!(
            judge("far:7:0", Some(now + 5), &quiet, "me", now, lease),
            Holder::Silent { .. }
        ));
        let beating = [member("far:7:0", now - 1000)];
        let alive = judge("far:7:0", Some(now + 5), &beating, "me", now, lease);
        assert!(!alive.dead());
        assert!(
            alive.describe().contains("heartbeat 1.0 s ago"),
            "{alive:?}"
        );
    }
}
