//! `pipeline run`: loads and validates a pipeline, plans it, and runs the selected stages as
//! jobs with dependencies on the queue (the same store, scheduler, limiter and ledger as the
//! work queue), then reports every stage's result.

use super::exec::{Runner, StageExecutor};
use super::graph::{self, Checks, Graph};
use super::model;
use super::plan::{self, Filters, Plan};
use crate::config::Config;
use crate::ledger::LedgerFile;
use crate::queue::model::{JobState, NewJob, now_ms};
use crate::queue::setup;
use crate::queue::work::{Backoff, WorkContext};
use crate::runtime::Runtime;
use crate::runtime::inspect::World;
use crate::runtime::plugin::PluginSpec;
use crate::runtime::spec;
use crate::scheduler::writer::Writer;
use crate::scheduler::{self, Counters, RunOptions};
use crate::store::ops::{Op, QueueStore};
use anyhow::{Context, Result, anyhow, bail};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The bundled plugin that validates outputs against JSON Schemas.
const VALIDATOR: &str = "json-schema";

/// Whether a stage plugin name resolves (configured or bundled).
pub fn plugin_exists(config: &Config, name: &str) -> bool {
    config.plugins.contains_key(name) || setup::bundled_plugin(name).is_some()
}

/// Loads and validates pipeline `name`; the error lists every problem.
pub fn load_graph(config: &Config, name: &str) -> Result<Graph> {
    let (files, mut problems) = model::load_all(&config.root)?;
    let Some((file, selection)) = graph::select(&files, name) else {
        problems.push(format!(
            "no pipeline `{name}` in {}/ (pipelines: {})",
            model::PIPELINE_DIR,
            graph::names(&files).join(", ")
        ));
        bail!("{}", problems.join("\n"));
    };
    let exists = |plugin: &str| plugin_exists(config, plugin);
    let checks = Checks {
        root: &config.root,
        plugin_exists: &exists,
        allow_commands: config.flag("pipeline.allow-commands"),
    };
    match graph::build(file, name, selection.as_deref(), &checks) {
        Ok(graph) if problems.is_empty() => Ok(graph),
        Ok(_) => bail!("{}", problems.join("\n")),
        Err(more) => {
            problems.extend(more);
            bail!("{}", problems.join("\n"))
        }
    }
}

/// The spec of a stage plugin, with the `--env-file` variables the stage names granted.
fn stage_spec(config: &Config, name: &str, env: &[(String, String)]) -> Result<PluginSpec> {
    let mut spec = if config.plugins.contains_key(name) {
        spec::from_config(config, name)?
    } else {
        let path = setup::bundled_plugin(name)
            .ok_or_else(|| anyhow!("stage plugin `{name}` is not configured"))?;
        PluginSpec {
            name: Some(name.to_string()),
            path,
            sha256: None,
            expected: None,
            settings: serde_json::json!({}),
            grants: Default::default(),
            limits: spec::limits(config, None)?,
        }
    };
    spec.expected = Some(World::Stage);
    spec.grants
        .env
        .extend(env.iter().map(|(k, v)| format!("{k}={v}")));
    Ok(spec)
}

/// The spec `pipeline doctor` loads a stage plugin with (no `--env-file` variables).
pub fn stage_spec_for_doctor(config: &Config, name: &str) -> Result<PluginSpec> {
    stage_spec(config, name, &[])
}

/// The digest a stage's cache key uses for its runner, without loading anything.
pub fn runner_digest(config: &Config, stage: &model::StageDef) -> String {
    match (&stage.plugin, &stage.command) {
        (Some(name), _) => {
            let path = config
                .plugins
                .get(name)
                .map(|e| config.root.join(&e.path))
                .or_else(|| setup::bundled_plugin(name));
            path.and_then(|p| crate::runtime::stage_io::file_digest(&p).ok())
                .unwrap_or_default()
        }
        (None, Some(command)) => {
            crate::runtime::json::sha256_text(&serde_json::to_string(command).unwrap_or_default())
        }
        _ => String::new(),
    }
}

/// Plans a run without touching the store or the disk (nothing is created).
pub fn dry_plan(config: &Config, graph: &Graph, filters: &Filters, force: bool) -> Result<Plan> {
    let selected = plan::select(graph, filters).map_err(|e| anyhow!(e))?;
    let db_path = config.path("store.db");
    let cache_db = if db_path.is_file() {
        Some(rusqlite::Connection::open_with_flags(
            &db_path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )?)
    } else {
        None
    };
    plan::plan(
        graph,
        &selected,
        &config.root,
        force,
        &|i| runner_digest(config, &graph.stages[i].value),
        &|i| {
            cache_db.as_ref().and_then(|db| {
                super::cache::last_success(db, &graph.name, &graph.stages[i].value.id)
                    .ok()
                    .flatten()
            })
        },
    )
}

/// Reads `KEY=VALUE` lines (blank lines and `#` comments ignored).
pub fn read_env_file(path: &Path) -> Result<HashMap<String, String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut vars = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| anyhow!("{}:{}: expected KEY=VALUE", path.display(), n + 1))?;
        vars.insert(
            key.trim().to_string(),
            value.trim().trim_matches('"').to_string(),
        );
    }
    Ok(vars)
}

/// How to run.
pub struct RunRequest {
    pub filters: Filters,
    pub force: bool,
    pub continue_on_error: bool,
    pub jobs: usize,
    pub resume: Option<String>,
    pub env: HashMap<String, String>,
    pub print: bool,
}

/// What a run ended with.
#[derive(Debug, serde::Serialize)]
pub struct RunResult {
    pub run_id: String,
    pub pipeline: String,
    pub seconds: f64,
    /// Per stage: state and reason.
    pub stages: Vec<serde_json::Value>,
    pub degraded: bool,
}

/// Runs (or resumes) pipeline `graph`.
pub async fn run(
    config: &Config,
    runtime: Arc<Runtime>,
    graph: Graph,
    request: RunRequest,
) -> Result<RunResult> {
    let started = std::time::Instant::now();
    let mut store = setup::open_store(config)?;
    let cache_db = crate::store::open_sqlite(&config.path("store.db"))?;
    let (run_id, selected) = match &request.resume {
        Some(run_id) => {
            let pipeline: Option<String> = cache_db
                .query_row("SELECT pipeline FROM runs WHERE id = ?1", [run_id], |r| {
                    r.get(0)
                })
                .ok();
            match pipeline {
                Some(p) if p == graph.name => {}
                Some(p) => bail!("run {run_id} is of pipeline `{p}`, not `{}`", graph.name),
                None => bail!("no run {run_id} (see `baton pipeline logs`)"),
            }
            let dead = setup::dead_local_owners(&store.lease_owners()?);
            let stages: BTreeSet<usize> = {
                let mut stmt = cache_db.prepare("SELECT key FROM jobs WHERE run_id = ?1")?;
                let keys: Vec<String> = stmt
                    .query_map([run_id], |r| r.get(0))?
                    .collect::<Result<_, _>>()?;
                keys.iter()
                    .filter_map(|k| {
                        k.rsplit('/')
                            .next()
                            .and_then(|id| graph.index.get(id).copied())
                    })
                    .collect()
            };
            store.commit(
                vec![Op::ResumeRun {
                    run_id: run_id.clone(),
                    dead_owners: dead,
                }],
                now_ms(),
            )?;
            (run_id.clone(), stages)
        }
        None => {
            let selected = plan::select(&graph, &request.filters).map_err(|e| anyhow!(e))?;
            let run_id = format!(
                "{}-{}",
                graph.name,
                crate::queue::model::format_ms(now_ms())
                    .replace([':', '-'], "")
                    .replace('.', "")
                    .trim_end_matches('Z')
            );
            let order: Vec<usize> = graph
                .order
                .iter()
                .copied()
                .filter(|i| selected.contains(i))
                .collect();
            let position: HashMap<usize, usize> =
                order.iter().enumerate().map(|(p, &i)| (i, p)).collect();
            let jobs = order
                .iter()
                .map(|&i| {
                    let stage = &graph.stages[i].value;
                    let deps: Vec<usize> = graph.deps[i]
                        .iter()
                        .filter_map(|d| position.get(d).copied())
                        .collect();
                    let job = NewJob {
                        key: format!("{run_id}/{}", stage.id),
                        kind: "stage",
                        plugin: stage.plugin.clone(),
                        payload: serde_json::json!({"pipeline": graph.name, "stage": stage.id})
                            .to_string(),
                        priority: 0,
                        max_attempts: stage.retries + 1,
                    };
                    (job, deps)
                })
                .collect();
            cache_db.execute(
                "INSERT INTO runs (id, pipeline, started_at, state, options) VALUES (?1, ?2, ?3, 'running', ?4)",
                rusqlite::params![run_id, graph.name, now_ms(), serde_json::json!({"force": request.force}).to_string()],
            )?;
            store.commit(
                vec![Op::EnqueueRun {
                    run_id: run_id.clone(),
                    jobs,
                }],
                now_ms(),
            )?;
            (run_id, selected)
        }
    };
    let run_dir = config.state_dir().join("runs").join(&run_id);
    std::fs::create_dir_all(&run_dir)
        .with_context(|| format!("cannot create {}", run_dir.display()))?;
    let log_path = config
        .state_dir()
        .join("runs")
        .join(format!("{run_id}.jsonl"));
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)?;

    // Load each stage's runner.
    let mut runners = HashMap::new();
    let mut loaded: HashMap<(String, Vec<String>), Arc<crate::runtime::plugin::Plugin>> =
        HashMap::new();
    let mut needs_validator = false;
    for &i in &selected {
        let stage = &graph.stages[i].value;
        needs_validator |= !stage.schemas.is_empty();
        let env: Vec<(String, String)> = stage
            .env
            .iter()
            .map(|name| {
                request
                    .env
                    .get(name)
                    .map(|v| (name.clone(), v.clone()))
                    .ok_or_else(|| {
                        anyhow!(
                            "stage `{}` needs `{name}`, which --env-file does not set",
                            stage.id
                        )
                    })
            })
            .collect::<Result<_>>()?;
        let runner = match (&stage.plugin, &stage.command) {
            (Some(name), _) => {
                let key = (
                    name.clone(),
                    env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
                );
                let plugin = match loaded.get(&key) {
                    Some(plugin) => plugin.clone(),
                    None => {
                        let plugin = Arc::new(
                            runtime
                                .load(&stage_spec(config, name, &env)?)
                                .await
                                .map_err(|e| anyhow!("{e}"))?,
                        );
                        loaded.insert(key, plugin.clone());
                        plugin
                    }
                };
                Runner::Plugin(plugin)
            }
            (None, Some(command)) => Runner::Command(command.clone(), env),
            _ => bail!("stage `{}` has no runner", stage.id),
        };
        runners.insert(stage.id.clone(), runner);
    }
    let validator = if needs_validator {
        Some(Arc::new(
            runtime
                .load(&stage_spec(config, VALIDATOR, &[])?)
                .await
                .map_err(|e| anyhow!("{e}"))?,
        ))
    } else {
        None
    };

    let dead_owners = setup::dead_local_owners(&store.lease_owners()?);
    let (writer, writer_thread) = Writer::start(
        Box::new(store),
        LedgerFile::new(&config.state_dir().join("ledger")),
    )?;
    // Stage limit keys; daily quotas are not kept for stages.
    let limiter = crate::limiter::Limiter::new(setup::limit_specs(config, 0), Box::new(|_, _| 0));
    let executor = Arc::new(StageExecutor {
        root: config.root.clone(),
        run_dir,
        run_id: run_id.clone(),
        graph: graph.clone(),
        runners,
        validator,
        runtime: runtime.clone(),
        cache_db: Mutex::new(cache_db),
        force: request.force,
        total: selected.len(),
        finished: Mutex::new(0),
        print: request.print,
        log: Mutex::new(log),
        limiter: limiter.clone(),
    });
    executor.log_line(serde_json::json!({"event": "run", "run": run_id, "pipeline": graph.name, "stages": selected.len(), "resume": request.resume.is_some()}));
    let context = Arc::new(stage_context(config, runtime, executor.clone(), limiter));
    let options = RunOptions {
        drain: true,
        dead_owners,
        run: Some(run_id.clone()),
        stop_run_on_failure: !request.continue_on_error,
        ..RunOptions::from_config(config, request.jobs.max(1))
    };
    let (_signal_tx, signal_rx) = tokio::sync::watch::channel(scheduler::RUNNING);
    let result = scheduler::run(
        context,
        writer,
        options,
        signal_rx,
        Arc::new(Counters::default()),
    )
    .await;
    let _ = writer_thread.join();
    result?;
    let store = setup::open_store(config)?;
    let mut stages = Vec::new();
    let mut degraded = false;
    for &i in graph.order.iter().filter(|i| selected.contains(i)) {
        let id = &graph.stages[i].value.id;
        let job = store.job(&format!("{run_id}/{id}"))?;
        let (state, detail) = match &job {
            Some(job) => {
                let cached = job.result.as_ref().is_some_and(|r| r["cached"] == true);
                let state = if cached {
                    "cached".to_string()
                } else {
                    job.state.to_string()
                };
                (state, job.last_error.clone().unwrap_or_default())
            }
            None => ("missing".into(), String::new()),
        };
        degraded |= job.as_ref().is_none_or(|j| j.state != JobState::Done);
        stages.push(serde_json::json!({"stage": id, "state": state, "detail": detail}));
    }
    let finished_state = if degraded { "degraded" } else { "done" };
    executor.log_line(
        serde_json::json!({"event": "run-finished", "run": run_id, "state": finished_state}),
    );
    let db = crate::store::open_sqlite(&config.path("store.db"))?;
    db.execute(
        "UPDATE runs SET finished_at = ?2, state = ?3 WHERE id = ?1",
        rusqlite::params![run_id, now_ms(), finished_state],
    )?;
    Ok(RunResult {
        run_id,
        pipeline: graph.name.clone(),
        seconds: started.elapsed().as_secs_f64(),
        stages,
        degraded,
    })
}

/// A work context that runs only stage jobs.
fn stage_context(
    config: &Config,
    runtime: Arc<Runtime>,
    executor: Arc<StageExecutor>,
    limiter: Arc<crate::limiter::Limiter>,
) -> WorkContext {
    WorkContext {
        runtime,
        plugins: HashMap::new(),
        chain: Vec::new(),
        fetcher: crate::fetch::Fetcher {
            settings: crate::fetch::FetchSettings {
                connect_timeout: Duration::from_secs(10),
                read_timeout: Duration::from_secs(30),
                max_size: 0,
                accept: Vec::new(),
                max_redirects: 0,
                patience: Duration::ZERO,
                user_agent: String::new(),
            },
            limiter: limiter.clone(),
            store: crate::fetch::store::ContentStore::new(config.state_dir().join("artifacts")),
        },
        limiter,
        backoff: Backoff {
            base: Duration::from_millis(200),
            max: Duration::from_secs(5),
        },
        download: false,
        manifest: Box::new(|_| None),
        on_start: None,
        stages: Some(executor),
    }
}
