//! `pipeline run`: loads and validates a pipeline, plans it, and runs the selected stages as
//! jobs with dependencies on the queue (the same store, scheduler, limiter and ledger as the
//! work queue, through the composition root), then reports every stage's result.

use super::events::{EventSink, StageResult, StageStatus};
use super::exec::{Runner, StageWorker, command_digest};
use super::graph::{self, Checks, Graph};
use super::model;
use super::plan::{self, Filters, Plan};
use crate::plugins;
use crate::root::{Engine, LazyRuntime};
use crate::scheduler::Shutdown;
use crate::scheduler::retry::{Backoff, RetryPolicy};
use crate::settings::Settings;
use anyhow::{Context, Result, anyhow, bail};
use baton_core::clock::{format_ms, now_ms};
use baton_core::digest_cache::DigestCache;
use baton_core::model::{JobKind, NewJob};
use baton_core::store::{RunRecord, RunState, StageRecord, Store, StoreRead, commit};
use baton_runtime::inspect::World;
use baton_runtime::plugin::{Plugin, PluginSpec};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// The bundled plugin that validates outputs against JSON Schemas.
const VALIDATOR: &str = "json-schema";

/// How failed stages are retried: 200 ms doubling up to 5 s.
pub const STAGE_RETRY: RetryPolicy = RetryPolicy {
    backoff: Backoff {
        base: Duration::from_millis(200),
        max: Duration::from_secs(5),
    },
};

/// Loads and validates pipeline `name`; the error lists every problem.
pub fn load_graph(settings: &Settings, name: &str) -> Result<Graph> {
    let (files, mut problems) = model::load_all(&settings.root)?;
    let Some((file, selection)) = graph::select(&files, name) else {
        problems.push(format!(
            "no pipeline `{name}` in {}/ (pipelines: {})",
            model::PIPELINE_DIR,
            graph::names(&files).join(", ")
        ));
        bail!("{}", problems.join("\n"));
    };
    problems.extend(graph::shared_output_dirs(&settings.root, &files, file));
    // Asked once per plugin name, not once per stage (each answer is a `stat`).
    let known = std::cell::RefCell::new(HashMap::<String, bool>::new());
    let exists = |plugin: &str| {
        *known
            .borrow_mut()
            .entry(plugin.to_string())
            .or_insert_with(|| plugins::exists(settings, plugin))
    };
    let checks = Checks {
        root: &settings.root,
        plugin_exists: &exists,
        allow_commands: settings.pipeline.allow_commands,
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
pub fn stage_spec(settings: &Settings, name: &str, env: &[(String, String)]) -> Result<PluginSpec> {
    let mut spec = plugins::spec(settings, name, World::Stage)?;
    spec.grants
        .env
        .extend(env.iter().map(|(k, v)| format!("{k}={v}")));
    Ok(spec)
}

/// The digest each stage's cache key uses for its runner (by stage index into `graph`),
/// without loading anything: a plugin's (or agent adapter's) component is digested once per
/// name, through `digests` (which hashes it only when its metadata changed), a plugin's
/// with its settings ([`plugins::runner_digest`]); a command line with the files it names,
/// per stage.
fn runner_digests<'a>(
    settings: &'a Settings,
    graph: &'a Graph,
    digests: &'a DigestCache,
) -> impl Fn(usize) -> String + 'a {
    // By (whether a stage plugin, name): a plugin and an agent adapter may share a name.
    let components = std::cell::RefCell::new(HashMap::<(bool, String), String>::new());
    move |i| {
        let stage = &graph.stages[i].value;
        match (&stage.plugin, &stage.command, &stage.agent) {
            (Some(name), _, _) | (None, None, Some(name)) => {
                let plugin = stage.plugin.is_some();
                components
                    .borrow_mut()
                    .entry((plugin, name.clone()))
                    .or_insert_with(|| {
                        let component = plugins::file_digest(settings, name, digests);
                        match plugin {
                            true => plugins::runner_digest(settings, name, &component),
                            false => component,
                        }
                    })
                    .clone()
            }
            (None, Some(command), _) => command_digest(command, &settings.root),
            _ => String::new(),
        }
    }
}

/// Plans a run without touching the store or the disk (nothing is created).
pub fn dry_plan(
    settings: &Settings,
    graph: &Graph,
    filters: &Filters,
    force: bool,
    force_wave: Option<u32>,
) -> Result<Plan> {
    let selected = plan::select(graph, filters).map_err(|e| anyhow!(e))?;
    let store = crate::store::open_read_only(&settings.store)?;
    let digests = DigestCache::read_only(&digests_file(settings));
    let forced = forced_stages(graph, force_wave)?;
    let last = store.as_deref().map(|store| last_successes(store, graph));
    plan::plan(
        graph,
        &selected,
        &settings.root,
        &|i| force || forced.contains(&i),
        &runner_digests(settings, graph, &digests),
        &|i| last.as_ref().and_then(|last| last(i)),
        &digests,
    )
}

/// The last success of stage `i` of `graph`, from the stage cache read once for the whole
/// pipeline. When that read fails (a record that cannot be parsed), each stage is read on
/// its own, and a stage whose record cannot be read counts as never run.
fn last_successes<'a>(
    store: &'a dyn StoreRead,
    graph: &'a Graph,
) -> impl Fn(usize) -> Option<StageRecord> + 'a {
    let records = store.last_stages(&graph.name).ok();
    move |i| {
        let id = &graph.stages[i].value.id;
        match &records {
            Some(records) => records.get(id).cloned(),
            None => store.last_stage(&graph.name, id).ok().flatten(),
        }
    }
}

/// The stages `--force-wave N` reruns: every stage of wave `N` and its dependents; an
/// error when no stage declares that wave.
pub fn forced_stages(graph: &Graph, force_wave: Option<u32>) -> Result<BTreeSet<usize>> {
    let Some(wave) = force_wave else {
        return Ok(BTreeSet::new());
    };
    let forced =
        crate::agents::stage::wave_and_dependents(&graph.stages, wave, |i| graph.downstream(i));
    if forced.is_empty() {
        let mut waves: Vec<u32> = graph.stages.iter().filter_map(|s| s.value.wave).collect();
        waves.sort();
        waves.dedup();
        bail!(
            "--force-wave {wave}: no prompt of `{}` is in wave {wave} (waves: {})",
            graph.name,
            if waves.is_empty() {
                "none declared".to_string()
            } else {
                waves
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        );
    }
    Ok(forced)
}

/// Reads an env file in the common dotenv dialect (dotenvy): `KEY=VALUE` lines, an optional
/// `export` prefix, single quotes (literal), double quotes (escapes, several lines),
/// `#` comments, `${VAR}` substitution. A byte-order mark is dropped and the last line needs
/// no newline. A line that does not parse, or is not UTF-8, is named by its number.
pub fn read_env_file(path: &Path) -> Result<HashMap<String, String>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut text = String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let upto = e.utf8_error().valid_up_to();
        let number = bytes[..upto].iter().filter(|&&b| b == b'\n').count() + 1;
        anyhow!("{}:{number}: not UTF-8 text", path.display())
    })?;
    if text.starts_with('\u{feff}') {
        text.drain(..'\u{feff}'.len_utf8());
    }
    // dotenvy refuses white space after the last line when no newline follows it.
    if !text.ends_with('\n') {
        text.push('\n');
    }
    let taken = std::cell::Cell::new(0);
    let lines = OneLineAtATime {
        rest: text.as_bytes(),
        taken: &taken,
    };
    // Where the last pair read ends: dotenvy has read up to there, a whole line at a time.
    let mut parsed = 0;
    let mut vars = HashMap::new();
    for item in dotenvy::from_read_iter(lines) {
        match item {
            Ok((key, value)) => {
                vars.insert(key, value);
                parsed = taken.get();
            }
            Err(dotenvy::Error::LineParse(..)) => {
                // The lines dotenvy skips (blank, comments) are one line each, so the line
                // that failed is the first other one after the last pair.
                let before = text[..parsed].matches('\n').count();
                let (offset, line) = text[parsed..]
                    .lines()
                    .enumerate()
                    .find(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
                    .unwrap_or((0, ""));
                bail!(
                    "{}:{}: cannot parse `{}` (expected KEY=VALUE, optionally quoted)",
                    path.display(),
                    before + offset + 1,
                    line.trim()
                );
            }
            Err(e) => bail!("{}: {e}", path.display()),
        }
    }
    Ok(vars)
}

/// Hands text to a reader one line (at most) per `read`, and counts the bytes handed out:
/// dotenvy reads whole lines through a `BufReader`, which then holds nothing more, so the
/// count is where dotenvy stands.
struct OneLineAtATime<'a> {
    rest: &'a [u8],
    taken: &'a std::cell::Cell<usize>,
}

impl std::io::Read for OneLineAtATime<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let line = self
            .rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(self.rest.len(), |i| i + 1);
        let n = line.min(buf.len());
        buf[..n].copy_from_slice(&self.rest[..n]);
        self.rest = &self.rest[n..];
        self.taken.set(self.taken.get() + n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::read_env_file;

    #[test]
    fn env_files_read_the_common_dotenv_dialect() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        std::fs::write(
            &path,
            "# a comment\nexport A=1\nB='two # not a comment'\nC=\"line\\nnext\"\n\nD=plain # comment\nE=\"${A}x\"\n",
        )
        .unwrap();
        let vars = read_env_file(&path).unwrap();
        assert_eq!(vars["A"], "1");
        assert_eq!(vars["B"], "two # not a comment");
        assert_eq!(vars["C"], "line\nnext");
        assert_eq!(vars["D"], "plain");
        assert_eq!(vars["E"], "1x");
        std::fs::write(&path, "OK=1\nnot a line\n").unwrap();
        let error = read_env_file(&path).unwrap_err().to_string();
        assert!(error.contains(":2:"), "{error}");
    }

    /// Found by `properties::env_file`: a refused line was looked up by its text, so an
    /// earlier line holding the same text took its number; a byte-order mark, white space
    /// after a last line without a newline, and bytes that are not UTF-8 were refused
    /// without a line (or at all).
    #[test]
    fn env_file_errors_name_the_failing_line_itself() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        for (text, line) in [
            ("# bad\nbad\n", 2),
            ("A='x y'\nB=x y\n", 2),
            ("A=\"one\ntwo\"\n\n# c\n  \nB\n", 6),
            ("A=1\nB='open\nC=2\n", 2),
        ] {
            std::fs::write(&path, text).unwrap();
            let error = read_env_file(&path).unwrap_err().to_string();
            assert!(
                error.starts_with(&format!("{}:{line}: ", path.display())),
                "{text:?}: {error}"
            );
        }
        std::fs::write(&path, b"A=1\nB=\xff\n").unwrap();
        let error = read_env_file(&path).unwrap_err().to_string();
        assert!(error.ends_with(".env:2: not UTF-8 text"), "{error}");
        std::fs::write(&path, "\u{feff}A=1\nB=2 ").unwrap();
        let vars = read_env_file(&path).unwrap();
        assert_eq!((vars["A"].as_str(), vars["B"].as_str()), ("1", "2"));
    }
}

/// How to run.
pub struct RunRequest {
    /// Which stages (`--only`, `--skip`, `--from`, `--to`).
    pub filters: Filters,
    /// Run every selected stage, cached or not.
    pub force: bool,
    /// Run the stages of this wave and their dependents, cached or not.
    pub force_wave: Option<u32>,
    /// Keep running independent stages after a failure.
    pub continue_on_error: bool,
    /// Stages run at once.
    pub jobs: usize,
    /// Resume this run instead of starting one.
    pub resume: Option<String>,
    /// `--env-file` variables.
    pub env: HashMap<String, String>,
    /// Receives one event per stage as it ends.
    pub events: EventSink,
}

/// One stage's final state in a run.
#[derive(Debug, Clone, Serialize)]
pub struct StageSummary {
    /// The stage id.
    pub stage: String,
    /// How it stands.
    pub state: StageStatus,
    /// The failure or skip reason, if any.
    pub detail: String,
}

/// What a run ended with.
#[derive(Debug, Serialize)]
pub struct RunResult {
    /// The run's id.
    pub run_id: String,
    /// The pipeline's name.
    pub pipeline: String,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Every selected stage, in topological order.
    pub stages: Vec<StageSummary>,
    /// Whether any stage did not end done (or cached).
    pub degraded: bool,
    /// Calls, tokens, retries and limits hit of the run's prompts (when it has any).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agents: Option<crate::agents::work::AgentSummary>,
}

/// How many run ids a run tries before giving up (each a millisecond later).
const RUN_ID_TRIES: usize = 5;

/// A new run id: `PIPELINE-YYYYMMDDTHHMMSSmmm`.
fn new_run_id(pipeline: &str) -> String {
    format!(
        "{pipeline}-{}",
        format_ms(now_ms())
            .replace([':', '-'], "")
            .replace('.', "")
            .trim_end_matches('Z')
    )
}

/// A run as recorded: its id, the stages its jobs run, and the stages found cached when it
/// was planned (they have no job: nothing upstream of them runs, so nothing can change them).
struct Enqueued {
    run_id: String,
    jobs: BTreeSet<usize>,
    cached: BTreeSet<usize>,
}

/// The selected stages that are cached now and stay so through the run: the plan's "cached"
/// stages (every upstream stage is cached or not selected). A runner's digest is read once
/// per plugin.
fn cached_at_start(
    settings: &Settings,
    store: &dyn Store,
    graph: &Graph,
    selected: &BTreeSet<usize>,
    forced: &BTreeSet<usize>,
    digests: &DigestCache,
) -> Result<BTreeSet<usize>> {
    let digest_of = runner_digests(settings, graph, digests);
    let last = last_successes(store, graph);
    // A stage whose fingerprint cannot be taken (an input that is missing, or a symlink out
    // of the project) is not cached: it goes to the queue, which reports its failure as the
    // stage's own, and the run carries on as `--continue-on-error` says.
    let Ok(planned) = plan::plan(
        graph,
        selected,
        &settings.root,
        &|i| forced.contains(&i),
        &digest_of,
        &last,
        digests,
    ) else {
        return Ok(BTreeSet::new());
    };
    let cached_in_plan: BTreeSet<usize> = planned
        .stages
        .iter()
        .filter(|stage| stage.action == "cached")
        .filter_map(|stage| graph.index.get(&stage.id).copied())
        .collect();
    // Prompt stages keep their own completion markers and go through the queue; so does
    // everything downstream of a stage that does.
    let mut cached = BTreeSet::new();
    for &i in &graph.order {
        let upstream_settled = graph.deps[i]
            .iter()
            .all(|d| cached.contains(d) || !selected.contains(d));
        if cached_in_plan.contains(&i) && graph.stages[i].value.agent.is_none() && upstream_settled
        {
            cached.insert(i);
        }
    }
    Ok(cached)
}

/// Records a new run and its jobs, or resumes `resume`.
fn enqueue(
    context: &StageContext,
    store: &mut dyn Store,
    graph: &Graph,
    request: &RunRequest,
    dead_owners: &[String],
    owner: &str,
) -> Result<Enqueued> {
    if let Some(run_id) = &request.resume {
        let run = match store.run(run_id)? {
            Some(run) if run.pipeline == graph.name => run,
            Some(run) => bail!(
                "run {run_id} is of pipeline `{}`, not `{}`",
                run.pipeline,
                graph.name
            ),
            None => bail!("no run {run_id} (see `baton pipeline logs`)"),
        };
        let jobs = run_stages(&*store, graph, run_id)?;
        let cached = run.options["cached"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|id| id.as_str().and_then(|id| graph.index.get(id).copied()))
            .collect();
        commit(store, now_ms(), |tx| {
            tx.beat(
                &crate::scheduler::member(owner, Some(run_id)),
                tx.now() - crate::scheduler::FORGET_MEMBERS_MS,
            )?;
            tx.resume_run(run_id, dead_owners, owner)
        })?;
        return Ok(Enqueued {
            run_id: run_id.clone(),
            jobs,
            cached,
        });
    }
    let selected = plan::select(graph, &request.filters).map_err(|e| anyhow!(e))?;
    let cached = if request.force {
        BTreeSet::new()
    } else {
        cached_at_start(
            &context.settings,
            &*store,
            graph,
            &selected,
            &forced_stages(graph, request.force_wave)?,
            &context.digests,
        )?
    };
    let order: Vec<usize> = graph
        .order
        .iter()
        .copied()
        .filter(|i| selected.contains(i) && !cached.contains(i))
        .collect();
    let position: HashMap<usize, usize> = order.iter().enumerate().map(|(p, &i)| (i, p)).collect();
    // Run ids come from the clock (milliseconds): two processes starting the same pipeline
    // in the same millisecond would take the same one. The store refuses the second, which
    // then takes the next millisecond's id.
    let start = |store: &mut dyn Store, run_id: &str| -> Result<()> {
        let jobs: Vec<(NewJob, Vec<usize>)> = order
            .iter()
            .map(|&i| {
                let stage = &graph.stages[i].value;
                let deps = graph.deps[i]
                    .iter()
                    .filter_map(|d| position.get(d).copied())
                    .collect();
                let job = NewJob {
                    key: format!("{run_id}/{}", stage.id),
                    kind: JobKind::Stage,
                    plugin: stage.plugin.clone(),
                    payload: serde_json::json!({"pipeline": graph.name, "stage": stage.id})
                        .to_string(),
                    priority: 0,
                    max_attempts: stage.retries + 1,
                };
                (job, deps)
            })
            .collect();
        let cached_ids: Vec<&str> = cached
            .iter()
            .map(|&i| graph.stages[i].value.id.as_str())
            .collect();
        let record = RunRecord {
            id: run_id.to_string(),
            pipeline: graph.name.clone(),
            started_at: now_ms(),
            finished_at: None,
            state: RunState::Running,
            options: serde_json::json!({"force": request.force, "force-wave": request.force_wave, "cached": cached_ids}),
            owner: Some(owner.to_string()),
        };
        // Registered with the run, so processes helping with it see its owner alive from the
        // start (the scheduler's heartbeats keep it so).
        commit(store, now_ms(), |tx| {
            tx.beat(
                &crate::scheduler::member(owner, Some(run_id)),
                tx.now() - crate::scheduler::FORGET_MEMBERS_MS,
            )?;
            tx.start_run(&record, &jobs)
        })?;
        Ok(())
    };
    let mut run_id = new_run_id(&graph.name);
    let mut tries = 1;
    loop {
        match start(store, &run_id) {
            Err(e)
                if tries < RUN_ID_TRIES
                    && store.run(&run_id).is_ok_and(|taken| taken.is_some()) =>
            {
                tracing::debug!("run id {run_id} is taken ({e:#}); taking the next one");
                std::thread::sleep(std::time::Duration::from_millis(1));
                run_id = new_run_id(&graph.name);
                tries += 1;
            }
            result => break result?,
        }
    }
    Ok(Enqueued {
        run_id,
        jobs: order.into_iter().collect(),
        cached,
    })
}

/// `.baton/digests.json`: the stat-then-hash cache of input and output digests.
fn digests_file(settings: &Settings) -> std::path::PathBuf {
    settings.state_dir.join("digests.json")
}

/// Loads each selected stage's runner (plugins loaded once per name and environment) and
/// the schema validator when a stage declares schemas.
async fn load_runners(
    settings: &Settings,
    runtime: &LazyRuntime,
    graph: &Graph,
    selected: &BTreeSet<usize>,
    env: &HashMap<String, String>,
) -> Result<Runners> {
    let mut runners = HashMap::new();
    let mut adapters: HashMap<String, Arc<Plugin>> = HashMap::new();
    let mut loaded: HashMap<(String, Vec<String>), Arc<Plugin>> = HashMap::new();
    let mut needs_validator = false;
    for &i in selected {
        let stage = &graph.stages[i].value;
        needs_validator |= !stage.schemas.is_empty();
        let vars: Vec<(String, String)> = stage
            .env
            .iter()
            .map(|name| {
                env.get(name)
                    .map(|v| (name.clone(), v.clone()))
                    .ok_or_else(|| {
                        anyhow!(
                            "stage `{}` needs `{name}`, which --env-file does not set",
                            stage.id
                        )
                    })
            })
            .collect::<Result<_>>()?;
        if let Some(name) = stage.agent.as_ref().filter(|_| stage.plugin.is_none()) {
            let plugin =
                match adapters.get(name) {
                    Some(plugin) => plugin.clone(),
                    None => {
                        let spec = plugins::spec(settings, name, World::Agent)?;
                        let plugin =
                            Arc::new(runtime.get()?.load(&spec).await.map_err(|e| {
                                anyhow!("prompt `{}`: agent `{name}`: {e}", stage.id)
                            })?);
                        adapters.insert(name.clone(), plugin.clone());
                        plugin
                    }
                };
            runners.insert(stage.id.clone(), Runner::Agent(plugin.digest.clone()));
            continue;
        }
        let runner = match (&stage.plugin, &stage.command) {
            (Some(name), _) => {
                let key = (
                    name.clone(),
                    vars.iter().map(|(k, v)| format!("{k}={v}")).collect(),
                );
                let plugin = match loaded.get(&key) {
                    Some(plugin) => plugin.clone(),
                    None => {
                        let spec = stage_spec(settings, name, &vars)?;
                        let plugin = Arc::new(
                            runtime
                                .get()?
                                .load(&spec)
                                .await
                                .map_err(|e| anyhow!("{e}"))?,
                        );
                        loaded.insert(key, plugin.clone());
                        plugin
                    }
                };
                let digest = plugins::runner_digest(settings, name, &plugin.digest);
                Runner::Plugin(plugin, digest)
            }
            (None, Some(command)) => Runner::Command(command.clone(), vars),
            _ => bail!("stage `{}` has no runner", stage.id),
        };
        runners.insert(stage.id.clone(), runner);
    }
    let validator = if needs_validator {
        let spec = stage_spec(settings, VALIDATOR, &[])?;
        Some(Arc::new(
            runtime
                .get()?
                .load(&spec)
                .await
                .map_err(|e| anyhow!("{e}"))?,
        ))
    } else {
        None
    };
    Ok(Runners {
        runners,
        validator,
        adapters,
    })
}

/// The loaded runners of a run: each stage's, the schema validator, the agent adapters.
struct Runners {
    runners: HashMap<String, Runner>,
    validator: Option<Arc<Plugin>>,
    adapters: HashMap<String, Arc<Plugin>>,
}

/// What every stage worker of a process shares: the settings, the runtime, the engine's
/// store and limiter, the `--env-file` values and where stage events go.
pub struct StageContext {
    settings: Settings,
    runtime: LazyRuntime,
    store: Mutex<Box<dyn Store>>,
    writer: crate::scheduler::writer::Writer,
    limiter: Arc<crate::limiter::Limiter>,
    env: HashMap<String, String>,
    events: EventSink,
    digests: Arc<DigestCache>,
}

/// The digest cache is saved when the context goes: at the end of `pipeline run`, or of a
/// `queue run --pipelines` that helped with runs. A cache that cannot be written costs the
/// next run its reads, nothing else.
impl Drop for StageContext {
    fn drop(&mut self) {
        if let Err(error) = self.digests.save() {
            tracing::warn!("{error:#}");
        }
    }
}

impl StageContext {
    /// The context of stage workers running on `engine`.
    pub fn new(
        settings: &Settings,
        runtime: LazyRuntime,
        engine: &Engine,
        env: HashMap<String, String>,
        events: EventSink,
    ) -> Result<StageContext> {
        Ok(StageContext {
            settings: settings.clone(),
            runtime,
            store: Mutex::new(engine.store()?),
            writer: engine.writer().clone(),
            limiter: engine.limiter.clone(),
            env,
            events,
            digests: Arc::new(DigestCache::open(&digests_file(settings))),
        })
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// A new handle on the store.
    pub fn store(&self) -> Result<Box<dyn Store>> {
        self.handle()?.reopen()
    }

    /// The context's own handle on the store (the template of new ones).
    fn handle(&self) -> Result<std::sync::MutexGuard<'_, Box<dyn Store>>> {
        self.store
            .lock()
            .map_err(|_| anyhow!("store handle lock poisoned"))
    }
}

/// The worker of run `run_id` of `graph` for the stages `selected` (indices into the graph):
/// its runners loaded, its log `.baton/runs/<run>.jsonl` opened for appending and its
/// directory `.baton/runs/<run>/` created.
pub async fn stage_worker(
    context: &StageContext,
    graph: &Graph,
    run_id: &str,
    selected: &BTreeSet<usize>,
    force: bool,
    force_wave: Option<u32>,
) -> Result<StageWorker> {
    let settings = &context.settings;
    let runs_dir = settings.state_dir.join("runs");
    let run_dir = runs_dir.join(run_id);
    std::fs::create_dir_all(&run_dir)
        .with_context(|| format!("cannot create {}", run_dir.display()))?;
    let log_path = runs_dir.join(format!("{run_id}.jsonl"));
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("cannot open {}", log_path.display()))?;
    let Runners {
        runners,
        validator,
        adapters,
    } = load_runners(settings, &context.runtime, graph, selected, &context.env).await?;
    let agents = if selected
        .iter()
        .any(|&i| graph.stages[i].value.agent.is_some())
    {
        let port = crate::agents::port::RuntimePort {
            runtime: context.runtime.get()?,
            adapters,
        };
        let guard = crate::agents::guard::Guard::new(
            context.limiter.clone(),
            context.writer.clone(),
            context.store()?,
            settings.pipeline.auth_cooldown,
        );
        Some(Arc::new(crate::agents::work::Agents::new(
            Arc::new(port),
            guard,
            crate::agents::marker::Manifests::new(&settings.state_dir),
            &graph.stages,
        )))
    } else {
        None
    };
    let forced = forced_stages(graph, force_wave)?
        .into_iter()
        .map(|i| graph.stages[i].value.id.clone())
        .collect();
    Ok(StageWorker {
        root: settings.root.clone(),
        run_dir,
        run_id: run_id.to_string(),
        graph: graph.clone(),
        runners,
        validator,
        runtime: context.runtime.clone(),
        cache: Mutex::new(context.store()?),
        writer: context.writer.clone(),
        force,
        digests: context.digests.clone(),
        forced,
        agents,
        total: selected.len(),
        finished: Mutex::new(0),
        events: context.events.clone(),
        log: Mutex::new(log),
        limiter: context.limiter.clone(),
        retry: STAGE_RETRY,
        log_cap: settings.runtime.log_cap,
        retry_on_panic: settings
            .plugins
            .iter()
            .filter(|(_, entry)| entry.retries_panics())
            .map(|(name, _)| name.clone())
            .collect(),
    })
}

/// The stages of run `run_id` (indices into `graph`), from its jobs' keys.
pub fn run_stages(
    store: &dyn baton_core::store::StoreRead,
    graph: &Graph,
    run_id: &str,
) -> Result<BTreeSet<usize>> {
    Ok(store
        .run_job_keys(run_id)?
        .iter()
        .filter_map(|k| {
            k.rsplit('/')
                .next()
                .and_then(|id| graph.index.get(id).copied())
        })
        .collect())
}

/// Runs (or resumes) pipeline `graph` until its jobs end or `shutdown` stops it.
pub async fn run(
    settings: &Settings,
    runtime: LazyRuntime,
    graph: Graph,
    request: RunRequest,
    shutdown: watch::Receiver<Shutdown>,
) -> Result<RunResult> {
    let started = std::time::Instant::now();
    let engine = Engine::start(settings, Default::default())?;
    let context = StageContext::new(
        settings,
        runtime,
        &engine,
        request.env.clone(),
        request.events.clone(),
    )?;
    let Enqueued {
        run_id,
        jobs: selected,
        cached,
    } = enqueue(
        &context,
        context.handle()?.as_mut(),
        &graph,
        &request,
        &engine.dead_owners,
        &engine.owner,
    )?;
    let mut worker = stage_worker(
        &context,
        &graph,
        &run_id,
        &selected,
        request.force,
        request.force_wave,
    )
    .await?;
    worker.total += cached.len();
    let worker = Arc::new(worker);
    worker.log_line(serde_json::json!({"event": "run", "run": run_id, "pipeline": graph.name, "stages": selected.len() + cached.len(), "cached": cached.len(), "resume": request.resume.is_some()}));
    for &i in graph.order.iter().filter(|i| cached.contains(i)) {
        worker.announce_cached(&graph.stages[i].value.id);
    }
    // Enough workers for the widest wave's concurrency class.
    let jobs = crate::agents::stage::wave_permits(&graph.stages)
        .values()
        .copied()
        .fold(request.jobs, usize::max);
    let options = crate::scheduler::RunOptions {
        drain: true,
        run: Some(run_id.clone()),
        stop_run_on_failure: !request.continue_on_error,
        ..engine.options(jobs)
    };
    // A run whose every stage was found cached has no job: no scheduler to start.
    let ran = if selected.is_empty() {
        Ok(())
    } else {
        engine
            .run(worker.clone(), options, shutdown)
            .await
            .map(|_| ())
    };
    let mut stages = Vec::new();
    let mut degraded = false;
    let summary: Result<()> = async {
        let store = worker
            .cache
            .lock()
            .map_err(|_| anyhow!("store lock poisoned"))?;
        for &i in graph
            .order
            .iter()
            .filter(|i| selected.contains(i) || cached.contains(i))
        {
            let id = &graph.stages[i].value.id;
            if cached.contains(&i) {
                stages.push(StageSummary {
                    stage: id.clone(),
                    state: StageStatus::Cached,
                    detail: String::new(),
                });
                continue;
            }
            let job = store.job(&format!("{run_id}/{id}"))?;
            let state = match &job {
                Some(job) => {
                    let result: StageResult = job
                        .result
                        .as_ref()
                        .and_then(|r| serde_json::from_value(r.clone()).ok())
                        .unwrap_or_default();
                    StageStatus::of(job.state, result.cached)
                }
                None => StageStatus::Missing,
            };
            degraded |= !matches!(state, StageStatus::Done | StageStatus::Cached);
            stages.push(StageSummary {
                stage: id.clone(),
                state,
                detail: job.and_then(|j| j.last_error).unwrap_or_default(),
            });
        }
        Ok(())
    }
    .await;
    let finished = if degraded {
        RunState::Degraded
    } else {
        RunState::Done
    };
    if ran.is_ok() {
        let id = run_id.clone();
        engine
            .writer()
            .submit(move |tx| tx.finish_run(&id, finished))
            .await?;
        worker.log_line(
            serde_json::json!({"event": "run-finished", "run": run_id, "state": finished.as_str()}),
        );
    }
    engine.close()?;
    ran?;
    summary?;
    Ok(RunResult {
        run_id,
        pipeline: graph.name.clone(),
        seconds: started.elapsed().as_secs_f64(),
        stages,
        degraded,
        agents: worker.agents.as_ref().map(|agents| agents.tally.summary()),
    })
}
