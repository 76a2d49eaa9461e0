//! Helping the pipeline runs other processes started (`queue run --pipelines`): a stage job
//! of any run is worked by the run's [`StageWorker`], built on first sight from this
//! project's pipeline files (so every process must run the same checkout) and kept for the
//! run's other stages. Stages of one run so spread over every process on the store, on any
//! host; the process that started the run still reports it. A run this process cannot serve
//! (its pipeline missing or invalid here, a stage needing an `--env-file` value it lacks) is
//! put back at once and not taken again.

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

/// A run this process serves, or why it cannot.
enum Served {
    Yes(Arc<StageWorker>),
    No(String),
}

/// Works the stage jobs of any run on the store (see the module header).
pub struct Assist {
    context: StageContext,
    runs: tokio::sync::Mutex<HashMap<String, Served>>,
    /// Runs known not to be servable here, for `admit` (which cannot wait).
    refused: Mutex<Vec<String>>,
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

    /// Whether this process may take a stage job of `run`.
    pub fn serves(&self, run: &str) -> bool {
        !lock(&self.refused).iter().any(|r| r == run)
    }

    async fn build(&self, run_id: &str) -> Result<StageWorker> {
        let store = self.context.store()?;
        let run = store
            .run(run_id)?
            .ok_or_else(|| anyhow!("no run {run_id} in the store"))?;
        let graph = load_graph(self.context.settings(), &run.pipeline)?;
        let selected = run_stages(&*store, &graph, run_id)?;
        let force = run.options["force"].as_bool().unwrap_or(false);
        stage_worker(&self.context, &graph, run_id, &selected, force).await
    }

    /// Works one stage job with its run's worker.
    pub async fn work(&self, job: &Claimed) -> Worked {
        let run_id = job.key.rsplit_once('/').map_or("", |(run, _)| run);
        let worker = {
            let mut runs = self.runs.lock().await;
            if !runs.contains_key(run_id) {
                let served = match self.build(run_id).await {
                    Ok(worker) => Served::Yes(Arc::new(worker)),
                    Err(e) => {
                        lock(&self.refused).push(run_id.to_string());
                        Served::No(format!("{e:#}"))
                    }
                };
                runs.insert(run_id.to_string(), served);
            }
            match runs.get(run_id) {
                Some(Served::Yes(worker)) => worker.clone(),
                Some(Served::No(why)) => return put_back(why),
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
