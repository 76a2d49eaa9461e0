//! Helping the pipeline runs other processes started (`queue run --pipelines`): a stage job
//! of any run is worked by the run's [`StageWorker`], built on first sight from this
//! project's pipeline files (so every process must run the same checkout) and kept for the
//! run's other stages. Stages of one run so spread over every process on the store, on any
//! host; the process that started the run still reports it. A run whose process stopped
//! beating (on any host) is not helped: it waits for `pipeline run --resume`, like any
//! interrupted run. A run this process cannot serve (that, its pipeline missing or invalid
//! here, a stage needing an `--env-file` value it lacks) is put back at once and not taken
//! again for a few seconds.

use super::exec::StageWorker;
use super::run::{STAGE_RETRY, StageContext, load_graph, run_stages, stage_worker};
use crate::scheduler::retry::RetryPolicy;
use crate::scheduler::verdict::Verdict;
use crate::scheduler::worker::{Change, Worked, Worker};
use anyhow::{Result, anyhow};
use baton_core::clock::now_ms;
use baton_core::model::{Claimed, Failure, JobKind};
use baton_core::store::Offer;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A run this process serves: its worker, and when its owner was last seen alive.
struct Served {
    worker: Arc<StageWorker>,
    checked: Instant,
}

/// How often a served run's owner is looked at again, and how long a refused run waits
/// before it is considered again.
const RECHECK: Duration = Duration::from_secs(5);

/// Works the stage jobs of any run on the store (see the module header).
pub struct Assist {
    context: StageContext,
    runs: tokio::sync::Mutex<HashMap<String, Served>>,
    /// Runs not servable here, and since when, for `admit` (which cannot wait).
    refused: Mutex<HashMap<String, Instant>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Assist {
    /// Serves runs with this process's settings, runtime, engine, `--env-file` values and
    /// stage event sink.
    pub fn new(context: StageContext) -> Assist {
        Assist {
            context,
            runs: tokio::sync::Mutex::default(),
            refused: Mutex::default(),
        }
    }

    /// Whether this process may take a stage job of `run` (not one it refused lately).
    pub fn serves(&self, run: &str) -> bool {
        lock(&self.refused)
            .get(run)
            .is_none_or(|since| since.elapsed() >= RECHECK)
    }

    /// Why run `run_id` is not to be helped now: its process (on any host) has stopped
    /// beating, so it waits for `pipeline run --resume` like any interrupted run.
    fn orphaned(&self, run_id: &str) -> Result<Option<String>> {
        let store = self.context.store()?;
        let run = store
            .run(run_id)?
            .ok_or_else(|| anyhow!("no run {run_id} in the store"))?;
        let Some(owner) = run.owner.clone() else {
            return Ok(None);
        };
        // A process of this host that is gone is known at once; one elsewhere once it has
        // missed its heartbeats for two leases.
        let lease = self.context.settings().queue.lease.as_millis() as i64;
        let alive = crate::owner::dead_local_owners(std::slice::from_ref(&owner)).is_empty()
            && store
                .members()?
                .iter()
                .any(|m| m.owner == owner && m.last_beat > now_ms() - 2 * lease);
        Ok((!alive).then(|| {
            format!(
                "run {run_id} was interrupted (its process is gone): resume it with `baton pipeline run {} --resume {run_id}`",
                run.pipeline
            )
        }))
    }

    async fn build(&self, run_id: &str) -> Result<StageWorker> {
        if let Some(why) = self.orphaned(run_id)? {
            anyhow::bail!("{why}");
        }
        let store = self.context.store()?;
        let run = store
            .run(run_id)?
            .ok_or_else(|| anyhow!("no run {run_id} in the store"))?;
        let graph = load_graph(self.context.settings(), &run.pipeline)?;
        let selected = run_stages(&*store, &graph, run_id)?;
        let force = run.options["force"].as_bool().unwrap_or(false);
        let force_wave = run.options["force-wave"]
            .as_u64()
            .and_then(|w| u32::try_from(w).ok());
        stage_worker(&self.context, &graph, run_id, &selected, force, force_wave).await
    }

    fn refuse(&self, run_id: &str, why: &str) -> Worked {
        lock(&self.refused).insert(run_id.to_string(), Instant::now());
        put_back(why)
    }

    /// Works one stage job with its run's worker.
    pub async fn work(&self, job: &Claimed) -> Worked {
        let run_id = job.key.rsplit_once('/').map_or("", |(run, _)| run);
        let worker = {
            let mut runs = self.runs.lock().await;
            let stale = runs
                .get(run_id)
                .is_some_and(|served| served.checked.elapsed() >= RECHECK);
            if stale {
                match self.orphaned(run_id) {
                    Ok(None) => {
                        if let Some(served) = runs.get_mut(run_id) {
                            served.checked = Instant::now();
                        }
                    }
                    Ok(Some(why)) => {
                        runs.remove(run_id);
                        return self.refuse(run_id, &why);
                    }
                    Err(e) => return self.refuse(run_id, &format!("{e:#}")),
                }
            }
            if !runs.contains_key(run_id) {
                match self.build(run_id).await {
                    Ok(worker) => {
                        runs.insert(
                            run_id.to_string(),
                            Served {
                                worker: Arc::new(worker),
                                checked: Instant::now(),
                            },
                        );
                    }
                    Err(e) => return self.refuse(run_id, &format!("{e:#}")),
                }
            }
            match runs.get(run_id) {
                Some(served) => served.worker.clone(),
                None => return put_back("the run vanished"),
            }
        };
        worker.work(job).await
    }
}

/// Gives a job this process cannot run back to the others at once, attempt unused.
fn put_back(why: &str) -> Worked {
    let reason = format!("not runnable on {}: {why}", crate::owner::hostname());
    Worked::verdict(Verdict::Snooze {
        until: now_ms(),
        wait: reason.clone(),
        failure: Failure::new(reason),
    })
}

/// A worker that also works the stage jobs of every pipeline run through an [`Assist`]
/// (when it has one); jobs of other kinds go to `inner`.
pub struct WithPipelines<W> {
    /// The worker of the other kinds (the resolve worker).
    pub inner: W,
    /// Works stage jobs; `None`: none are taken.
    pub assist: Option<Assist>,
}

impl<W: Worker> Worker for WithPipelines<W> {
    async fn work(&self, job: &Claimed) -> Worked {
        match (job.kind, &self.assist) {
            (JobKind::Stage, Some(assist)) => assist.work(job).await,
            _ => self.inner.work(job).await,
        }
    }

    fn admit(&self, offer: &Offer<'_>) -> bool {
        match (offer.kind, offer.run) {
            (JobKind::Stage, Some(run)) => self.assist.as_ref().is_some_and(|a| a.serves(run)),
            (_, None) => self.inner.admit(offer),
            _ => false,
        }
    }

    fn finished(&self, job: &Claimed) {
        if job.kind != JobKind::Stage {
            self.inner.finished(job);
        }
    }

    fn upkeep(&self) -> Option<Change> {
        // Stage workers share the engine's limiter, which the inner worker flushes.
        self.inner.upkeep()
    }

    fn retry_policy(&self, job: &Claimed) -> &RetryPolicy {
        match job.kind {
            JobKind::Stage => &STAGE_RETRY,
            _ => self.inner.retry_policy(job),
        }
    }
}
