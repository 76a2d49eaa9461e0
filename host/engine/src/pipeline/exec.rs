//! The pipeline's worker: runs one stage job of a run. Fails it at once when a literal
//! input is missing (see `inputs`), checks the stage cache, stages the inputs read-only and
//! a fresh output directory in a directory of the attempt's own (never one an earlier
//! attempt used), runs the plugin (or trusted command: see `command`), checks the declared
//! outputs exist, validates them against their JSON Schemas, promotes them atomically into
//! the stage's output directory (only over a directory Baton promoted before: see
//! `outdir`), records the success for caching (committed at once, so a promotion is never
//! forgotten), and reports one event as the stage ends. A stage its plugin skips ends
//! `skipped`, with nothing promoted or recorded.

use super::cache::{self, Decision};
use super::command;
use super::events::{EventSink, StageEvent, StageResult, StageStatus};
use super::glob;
use super::graph::Graph;
use super::inputs;
use super::model::StageDef;
use super::outdir;
use super::realpath::RealPaths;
use crate::limiter::Limiter;
use crate::logfile::{self, Entry, LogFile};
use crate::root::LazyRuntime;
use crate::scheduler::retry::RetryPolicy;
use crate::scheduler::verdict::Verdict;
use crate::scheduler::worker::{Worked, Worker};
use anyhow::{Context, anyhow};
use baton_core::clock::{format_ms, now_ms};
use baton_core::digest::{file_digest, sha256_hex};
use baton_core::digest_cache::DigestCache;
use baton_core::model::{Claimed, Failure, JobKind};
use baton_core::store::{Offer, StageRecord, StoreRead};
use baton_runtime::bindings::types::Failure as PluginFailure;
use baton_runtime::error::{GUEST_PANIC, PluginError};
use baton_runtime::plugin::Plugin;
use baton_runtime::stage_io::StagedIo;
use serde_json::json;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// A stage's runner: a loaded plugin, or a trusted command with the `--env-file` variables
/// the stage names.
pub enum Runner {
    /// A sandboxed stage plugin, and the digest its stages' cache keys use (its component
    /// and its settings: `plugins::runner_digest`).
    Plugin(Arc<Plugin>, String),
    /// A trusted native command line and its environment.
    Command(Vec<String>, Vec<(String, String)>),
    /// An agent adapter (prompt stages), with its component's digest.
    Agent(String),
}

/// How an attempt (or a stage found cached) ended, as its announcement gives it.
struct Ending<'a> {
    status: StageStatus,
    /// Seconds the attempt took.
    seconds: f64,
    /// The failure or skip reason, empty when done or cached.
    detail: &'a str,
    /// Tokens a prompt's answer used.
    tokens: Option<u64>,
    /// The failure's stable code, when it has one.
    code: Option<&'a str>,
}

impl Runner {
    /// The digest a stage's cache key uses for its runner (`root` is the project root).
    pub fn digest(&self, root: &Path) -> String {
        match self {
            Runner::Plugin(_, digest) => digest.clone(),
            Runner::Command(command, _) => command_digest(command, root),
            Runner::Agent(digest) => digest.clone(),
        }
    }
}

/// Project files a command line names: every word of every argument (so `sh -c "python
/// scripts/x.py"` counts too) that is a relative path to a file inside `root`, sorted.
pub fn command_files(command: &[String], root: &Path) -> Vec<String> {
    let mut files: Vec<String> = command
        .iter()
        .flat_map(|arg| arg.split_whitespace())
        .map(|word| word.trim_matches(|c| c == '"' || c == '\''))
        .filter(|word| !word.is_empty() && !word.starts_with(['-', '/', '$']))
        .filter(|word| !Path::new(word).components().any(|c| c.as_os_str() == ".."))
        .filter(|word| root.join(word).is_file())
        .map(String::from)
        .collect();
    files.sort();
    files.dedup();
    files
}

/// The digest of a command line: its JSON form and the content of every project file it
/// names (a script edited since the last run makes the stage run again).
pub fn command_digest(command: &[String], root: &Path) -> String {
    let mut text = serde_json::to_string(command).unwrap_or_default();
    for file in command_files(command, root) {
        let digest = file_digest(&root.join(&file)).unwrap_or_default();
        text.push_str(&format!("\n{file} {digest}"));
    }
    sha256_hex(text.as_bytes())
}

/// Everything the stage jobs of one run share.
pub struct StageWorker {
    /// The project root.
    pub root: PathBuf,
    /// `.baton/runs/<run>/`: each stage's work directory.
    pub run_dir: PathBuf,
    /// The run's id.
    pub run_id: String,
    /// The pipeline.
    pub graph: Graph,
    /// Each selected stage's runner, by stage id.
    pub runners: HashMap<String, Runner>,
    /// The json-schema plugin, when a stage declares schemas.
    pub validator: Option<Arc<Plugin>>,
    /// The plugin runtime.
    pub runtime: LazyRuntime,
    /// Reads the stage cache.
    pub cache: Mutex<Box<dyn StoreRead + Send>>,
    /// Records what prompt stages commit on their own (their stage-cache records).
    pub writer: crate::scheduler::writer::Writer,
    /// Run every stage, cached or not.
    pub force: bool,
    /// Content digests of inputs and outputs (`.baton/digests.json`).
    pub digests: Arc<DigestCache>,
    /// Stages run even when cached (`--force-wave N`: that wave and its dependents).
    pub forced: std::collections::BTreeSet<String>,
    /// The agent side of the run, when it has prompt stages.
    pub agents: Option<Arc<crate::agents::work::Agents>>,
    /// Stages of this run, for `[k/N]`.
    pub total: usize,
    /// Stages that ended so far.
    pub finished: Mutex<usize>,
    /// Receives one event per stage as it ends.
    pub events: EventSink,
    /// `.baton/runs/<run>.jsonl`.
    pub log: Mutex<std::fs::File>,
    /// Holds each stage's `limits` keys while it runs.
    pub limiter: Arc<Limiter>,
    /// Retries of failed stages (a stage's `retries` sets its attempts).
    pub retry: RetryPolicy,
    /// Most bytes one stage's log (`.baton/runs/<run>/<stage>.log`) holds.
    pub log_cap: u64,
    /// Plugins whose guest panics are retried (`retry-on-panic = true`); other panics fail
    /// the stage at once.
    pub retry_on_panic: HashSet<String>,
}

/// A failure of the host side of a stage (I/O, a missing output), without a code; resource
/// exhaustion (a full disk) is the environment's failure instead (see `crate::environment`).
pub(crate) fn host(error: anyhow::Error) -> Failure {
    if crate::environment::exhausted(&error) {
        return crate::environment::failure(format!("{error:#}"));
    }
    Failure::new(format!("{error:#}"))
}

/// The code of a stage failure that another attempt cannot fix: its output directory is
/// not Baton's to replace (or not allowed at all).
pub const OUTPUT_DIR_REFUSED: &str = "output-dir-refused";

/// An output directory Baton may not replace: failed at once, without retries.
pub(crate) fn refused(error: anyhow::Error) -> Failure {
    Failure::coded(OUTPUT_DIR_REFUSED, format!("{error:#}"))
}

/// A plugin error with its stable code, in one line; what the guest logged and printed, the
/// error and its backtrace go to the stage's log.
fn plugin_error(error: PluginError, log: &LogFile) -> Failure {
    log.append_or_warn(&logfile::error_entries(&error, now_ms()));
    Failure::coded(error.kind.code(), error.summary())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl StageWorker {
    fn stage_of(&self, job: &Claimed) -> Option<&StageDef> {
        let id = job.key.rsplit('/').next()?;
        self.graph.stage(id).map(|s| &s.value)
    }

    /// Appends one line to `.baton/runs/<run>.jsonl`, in one `write` call: formatting
    /// straight into the file would issue one system call per fragment of the JSON, and a
    /// line written whole never interleaves with another process's.
    pub fn log_line(&self, line: serde_json::Value) {
        let mut line = line;
        line["at"] = json!(format_ms(now_ms()));
        let mut text = line.to_string();
        text.push('\n');
        let _ = lock(&self.log).write_all(text.as_bytes());
    }

    /// The log of stage `id` in this run.
    pub fn stage_log(&self, id: &str) -> LogFile {
        LogFile::new(logfile::stage_log_path(&self.run_dir, id), self.log_cap)
    }

    /// Whether stage `id` runs even when cached (`--force`, `--force-wave`).
    pub fn forced(&self, id: &str) -> bool {
        self.force || self.forced.contains(id)
    }

    /// The last recorded success of stage `id`.
    pub fn last_stage(&self, id: &str) -> anyhow::Result<Option<baton_core::store::StageRecord>> {
        lock(&self.cache).last_stage(&self.graph.name, id)
    }

    fn announce(&self, job: &Claimed, id: &str, status: StageStatus, seconds: f64, detail: &str) {
        self.announce_with(job, id, status, seconds, detail, None);
    }

    /// Logs and reports an attempt's end, with the tokens a prompt used.
    pub(crate) fn announce_with(
        &self,
        job: &Claimed,
        id: &str,
        status: StageStatus,
        seconds: f64,
        detail: &str,
        tokens: Option<u64>,
    ) {
        let attempt = (job.attempt, job.max_attempts);
        self.announce_attempt(
            attempt,
            id,
            Ending {
                status,
                seconds,
                detail,
                tokens,
                code: None,
            },
        );
    }

    /// Announces how an attempt failed, with the failure's code.
    fn announce_failure(
        &self,
        job: &Claimed,
        id: &str,
        status: StageStatus,
        seconds: f64,
        failure: &Failure,
    ) {
        let attempt = (job.attempt, job.max_attempts);
        let ending = Ending {
            status,
            seconds,
            detail: &failure.message,
            tokens: None,
            code: failure.code.as_deref(),
        };
        self.announce_attempt(attempt, id, ending);
    }

    /// Announces a stage found cached when the run was planned, which has no job.
    pub fn announce_cached(&self, id: &str) {
        let ending = Ending {
            status: StageStatus::Cached,
            seconds: 0.0,
            detail: "",
            tokens: None,
            code: None,
        };
        self.announce_attempt((1, 1), id, ending);
    }

    fn announce_attempt(&self, attempt: (u32, u32), id: &str, ending: Ending<'_>) {
        let Ending {
            status,
            seconds,
            detail,
            tokens,
            code,
        } = ending;
        let finished = if status == StageStatus::Retrying {
            *lock(&self.finished)
        } else {
            let mut finished = lock(&self.finished);
            *finished += 1;
            *finished
        };
        self.log_line(json!({"event": "stage", "stage": id, "status": status, "seconds": seconds, "detail": detail, "attempt": attempt.0, "tokens": tokens}));
        (self.events)(&StageEvent {
            finished,
            total: self.total,
            stage: id.to_string(),
            status,
            seconds,
            detail: detail.to_string(),
            attempt,
            pipeline: self.graph.name.clone(),
            run_id: self.run_id.clone(),
            log: self.stage_log(id).path,
            tokens,
            code: code.map(String::from),
        });
    }

    /// Runs the stage (or finds it cached); a promoted success comes with its stage-cache
    /// record, to be committed with the job's outcome.
    async fn execute(
        &self,
        stage: &StageDef,
        job: &Claimed,
        log: &LogFile,
    ) -> Result<(StageResult, Option<StageRecord>), Failure> {
        let runner = self
            .runners
            .get(&stage.id)
            .ok_or_else(|| Failure::new(format!("stage `{}` has no runner", stage.id)))?;
        let paths = RealPaths::new(&self.root);
        // Before anything else: a missing literal input fails the stage, whatever its cache.
        if let Some(message) = inputs::missing(&self.graph, stage, &paths, &|id| {
            self.runners.contains_key(id)
        }) {
            return Err(Failure::coded(inputs::INPUT_MISSING, message));
        }
        let mut permits = Vec::with_capacity(stage.limits.len());
        for key in &stage.limits {
            let permit = self
                .limiter
                .acquire(key, std::time::Duration::from_secs(24 * 3600))
                .await
                .map_err(|wait| Failure::new(format!("waited a day for {}", wait.reason)))?;
            permits.push(permit);
        }
        let fingerprint =
            cache::fingerprint(stage, &paths, &runner.digest(&self.root), &self.digests)
                .map_err(host)?;
        let last = lock(&self.cache)
            .last_stage(&self.graph.name, &stage.id)
            .map_err(host)?;
        if !self.forced(&stage.id)
            && cache::decide(&fingerprint, last.as_ref(), &self.root, &self.digests)
                == Decision::Cached
        {
            let cached = StageResult {
                cached: true,
                digests: last.map(|record| record.outputs).unwrap_or_default(),
                ..StageResult::default()
            };
            return Ok((cached, None));
        }
        // What the last success promoted: a directory without a marker (promoted before
        // markers existed) is Baton's when it holds exactly that.
        let recorded = last.as_ref().map(|record| &record.outputs);
        let dir = stage.output_dir();
        // Refused before the stage runs, and checked again just before promotion.
        outdir::claim(&self.root, &dir, &stage.id, recorded).map_err(refused)?;
        let work = attempt_dir(&self.run_dir.join(&stage.id), job.attempt, log).map_err(host)?;
        let output = work.join("output");
        let inputs: Vec<(String, PathBuf)> = fingerprint
            .inputs
            .keys()
            .map(|path| (path.clone(), self.root.join(path)))
            .collect();
        let io = StagedIo::prepare(&work, &inputs, &output).map_err(host)?;
        let params = crate::settings::toml_json::table_to_json(&stage.params);
        let summary = match runner {
            Runner::Plugin(plugin, _) => {
                let report = self
                    .runtime
                    .get()
                    .map_err(host)?
                    .run_stage(plugin, &io, &self.run_id, &stage.id, &params, job.attempt)
                    .await
                    .map_err(|error| plugin_error(error, log))?;
                log.append_or_warn(&logfile::report_entries(&plugin.name, &report));
                match report.value {
                    Ok(outcome) => outcome.summary,
                    Err(PluginFailure::Skip(reason)) => {
                        let skipped = StageResult {
                            skipped: Some(reason),
                            ..StageResult::default()
                        };
                        return Ok((skipped, None));
                    }
                    Err(failure) => {
                        return Err(Failure::new(baton_runtime::json::failure_line(&failure)));
                    }
                }
            }
            Runner::Command(command, env) => {
                command::run(command, env, &self.root, &inputs, &output, log)
                    .await
                    .map_err(host)?
            }
            Runner::Agent(_) => {
                return Err(Failure::new(format!(
                    "prompt `{}` reached the stage runner",
                    stage.id
                )));
            }
        };
        let produced = declared_outputs(stage, &output).map_err(host)?;
        for (pattern, schema) in &stage.schemas {
            let matcher = glob::Matcher::new(pattern);
            for file in produced.iter().filter(|f| matcher.is_match(f)) {
                self.validate(&work, &output, file, schema, log).await?;
            }
        }
        let owner = Owner {
            root: &self.root,
            dir: &dir,
            pipeline: &self.graph.name,
            stage: &stage.id,
            recorded,
        };
        promote(&output, &owner, &work)?;
        let mut outputs = BTreeMap::new();
        for file in &produced {
            let path = format!("{dir}/{file}");
            outputs.insert(
                path.clone(),
                self.digests.digest(&self.root.join(&path)).map_err(host)?,
            );
        }
        let promoted: Vec<String> = outputs.keys().cloned().collect();
        let digests = outputs.clone();
        let record = fingerprint.record(&self.graph.name, &stage.id, outputs, &self.run_id);
        let result = StageResult {
            cached: false,
            skipped: None,
            summary,
            outputs: promoted,
            tokens: None,
            digests,
        };
        Ok((result, Some(record)))
    }

    /// Validates one output file against a schema with the sandboxed json-schema plugin.
    async fn validate(
        &self,
        work: &Path,
        output: &Path,
        file: &str,
        schema: &str,
        log: &LogFile,
    ) -> Result<(), Failure> {
        let validator = self.validator.as_ref().ok_or_else(|| {
            Failure::new(format!(
                "the json-schema plugin is not available to validate `{file}`"
            ))
        })?;
        let check_dir = work.join("schema-check");
        // The schema and every schema file its `$ref`s reach, under their project paths, so
        // a relative `$ref` resolves as it does on disk; the output under a name no project
        // path has.
        let schemas = referenced_schemas(&self.root, schema);
        let target = format!(".baton-output-check/{file}");
        let mut inputs: Vec<(String, PathBuf)> = schemas
            .iter()
            .map(|path| (path.clone(), self.root.join(path)))
            .collect();
        inputs.push((target.clone(), output.join(file)));
        let io =
            StagedIo::prepare(&work.join("schema-inputs"), &inputs, &check_dir).map_err(host)?;
        let params = json!({
            "schema-input": schema,
            "ref-inputs": schemas.iter().filter(|path| *path != schema).collect::<Vec<_>>(),
            "targets": [target],
        });
        let report = self
            .runtime
            .get()
            .map_err(host)?
            .run_stage(validator, &io, &self.run_id, "schema", &params, 1)
            .await
            .map_err(|error| plugin_error(error, log))?;
        match report.value {
            Ok(_) => Ok(()),
            Err(failure) => Err(Failure::coded(
                "schema",
                format!(
                    "output `{file}` does not match its schema {schema}: {}",
                    baton_runtime::json::failure_line(&failure).trim_start_matches("fatal: ")
                ),
            )),
        }
    }
}

impl Worker for StageWorker {
    async fn work(&self, job: &Claimed) -> Worked {
        let Some(stage) = self.stage_of(job) else {
            return Worked::verdict(Verdict::Fatal(Failure::new(format!(
                "job `{}` names no stage of this pipeline",
                job.key
            ))));
        };
        if stage.agent.is_some()
            && let Some(agents) = &self.agents
        {
            return crate::agents::work::work(self, agents, stage, job).await;
        }
        let started = Instant::now();
        let log = self.stage_log(&stage.id);
        log.append_or_warn(&[Entry::new(
            now_ms(),
            "info",
            "baton".into(),
            format!(
                "run {} attempt {} of {} started",
                self.run_id, job.attempt, job.max_attempts
            ),
        )]);
        let result = match stage
            .timeout
            .as_deref()
            .map(baton_core::units::parse_duration)
        {
            Some(Ok(limit)) => tokio::time::timeout(limit, self.execute(stage, job, &log))
                .await
                .unwrap_or_else(|_| {
                    Err(Failure::coded(
                        "stage-timeout",
                        format!("timed out after {}", humantime::format_duration(limit)),
                    ))
                }),
            _ => self.execute(stage, job, &log).await,
        };
        let seconds = started.elapsed().as_secs_f64();
        let ended = match &result {
            Ok((result, _)) if result.cached => {
                Entry::new(now_ms(), "info", "baton".into(), "cached")
            }
            Ok((
                StageResult {
                    skipped: Some(reason),
                    ..
                },
                _,
            )) => Entry::new(
                now_ms(),
                "info",
                "baton".into(),
                format!("skipped: {reason}"),
            ),
            Ok(_) => Entry::new(
                now_ms(),
                "info",
                "baton".into(),
                format!("done in {seconds:.2}s"),
            ),
            Err(failure) => Entry::new(
                now_ms(),
                "error",
                "baton".into(),
                format!("failed in {seconds:.2}s: {}", failure.message),
            ),
        };
        log.append_or_warn(&[ended]);
        match result {
            // The job ends `skipped` with the reason as its error, as the contract says of a
            // `skip`: the run's summary then says what the stage's line says. Nothing was
            // promoted and no success is recorded for caching.
            Ok((
                StageResult {
                    skipped: Some(reason),
                    ..
                },
                _,
            )) => {
                self.announce(job, &stage.id, StageStatus::Skipped, seconds, &reason);
                Worked::verdict(Verdict::Skipped(reason))
            }
            Ok((result, record)) => {
                let status = if result.cached {
                    StageStatus::Cached
                } else {
                    StageStatus::Done
                };
                self.announce(job, &stage.id, status, seconds, "");
                let value = serde_json::to_value(&result).unwrap_or_default();
                // The stage-cache record commits with the outcome: one transaction, and a
                // fenced (late) completion records nothing.
                Worked {
                    verdict: Verdict::Done(value),
                    record: record.map(|record| -> crate::scheduler::worker::Change {
                        Box::new(move |tx| tx.record_stage(&record))
                    }),
                }
            }
            Err(failure) if failure.code.as_deref() == Some(crate::environment::ENVIRONMENT) => {
                self.announce(
                    job,
                    &stage.id,
                    StageStatus::Retrying,
                    seconds,
                    &failure.message,
                );
                Worked::verdict(Verdict::Halt(failure))
            }
            Err(failure) => {
                let panic_retried = stage
                    .plugin
                    .as_ref()
                    .is_some_and(|name| self.retry_on_panic.contains(name));
                let code = failure.code.as_deref();
                let fatal = code == Some(OUTPUT_DIR_REFUSED)
                    || code == Some(inputs::INPUT_MISSING)
                    || (code == Some(GUEST_PANIC) && !panic_retried);
                let status = if fatal || job.attempt >= job.max_attempts {
                    StageStatus::Failed
                } else {
                    StageStatus::Retrying
                };
                self.announce_failure(job, &stage.id, status, seconds, &failure);
                if fatal {
                    Worked::verdict(Verdict::Fatal(failure))
                } else {
                    Worked::verdict(Verdict::Transient(failure))
                }
            }
        }
    }

    fn admit(&self, offer: &Offer<'_>) -> bool {
        offer.kind == JobKind::Stage
    }

    fn upkeep(&self) -> Option<crate::scheduler::worker::Change> {
        self.limiter.flush()
    }

    fn retry_policy(&self, job: &Claimed) -> &RetryPolicy {
        match self.stage_of(job) {
            Some(stage) if stage.agent.is_some() => &crate::agents::work::AGENT_RETRY,
            _ => &self.retry,
        }
    }
}

/// `schema` (a project path) and the project's schema files its `$ref`s reach, directly or
/// through each other: relative references (no scheme, not only a `#fragment`) resolved
/// against the referring file's directory, kept when they name a file inside the project.
fn referenced_schemas(root: &Path, schema: &str) -> Vec<String> {
    let mut found = vec![schema.to_string()];
    let mut next = 0;
    while next < found.len() {
        let current = found[next].clone();
        next += 1;
        let Ok(text) = std::fs::read_to_string(root.join(&current)) else {
            continue;
        };
        let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        let mut refs = Vec::new();
        collect_refs(&value, &mut refs);
        let dir = Path::new(&current).parent().unwrap_or(Path::new(""));
        for reference in refs {
            let path = reference.split('#').next().unwrap_or_default();
            if path.is_empty() || path.contains(':') || path.starts_with('/') {
                continue;
            }
            let mut parts: Vec<String> = Vec::new();
            let joined = dir.join(path);
            let mut inside = true;
            for part in joined.components() {
                match part {
                    std::path::Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
                    std::path::Component::CurDir => {}
                    std::path::Component::ParentDir => inside &= parts.pop().is_some(),
                    _ => inside = false,
                }
            }
            let relative = parts.join("/");
            if inside && !found.contains(&relative) && root.join(&relative).is_file() {
                found.push(relative);
            }
        }
    }
    found
}

/// Every `$ref` string in a JSON value.
fn collect_refs(value: &serde_json::Value, refs: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, item) in map {
                match (key.as_str(), item) {
                    ("$ref", serde_json::Value::String(reference)) => refs.push(reference.clone()),
                    _ => collect_refs(item, refs),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|item| collect_refs(item, refs)),
        _ => {}
    }
}

/// Files in `output` that match the stage's declared outputs; every pattern must match one.
fn declared_outputs(stage: &StageDef, output: &Path) -> anyhow::Result<Vec<String>> {
    let mut files = Vec::new();
    for pattern in &stage.outputs {
        let found = glob::expand(output, pattern);
        if found.is_empty() {
            return Err(anyhow!("declared output `{pattern}` was not produced"));
        }
        files.extend(found);
    }
    files.sort();
    files.dedup();
    Ok(files)
}

/// How the directory of each attempt of a stage is named, before its number.
const ATTEMPT_PREFIX: &str = "attempt-";

/// A fresh directory for attempt `attempt` of a stage, in the stage's work directory
/// `stage_dir` (`.baton/runs/<run>/<stage>/`): `attempt-<n>-<random>`, a name never used
/// before, even when a resumed run repeats an attempt's number. A process an earlier attempt
/// left running (one that left its process group: see `command`) knows only its own
/// attempt's output directory, so it cannot write into what this attempt promotes. Earlier
/// attempts' directories — Baton's, by their names — are removed first; one that cannot be
/// is left in place and the stage's log says so.
fn attempt_dir(stage_dir: &Path, attempt: u32, log: &LogFile) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(stage_dir)
        .with_context(|| format!("cannot create {}", stage_dir.display()))?;
    let entries = std::fs::read_dir(stage_dir)
        .with_context(|| format!("cannot list {}", stage_dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot list {}", stage_dir.display()))?;
        if !entry
            .file_name()
            .to_string_lossy()
            .starts_with(ATTEMPT_PREFIX)
        {
            continue;
        }
        if let Err(error) = std::fs::remove_dir_all(entry.path()) {
            log.append_or_warn(&[Entry::new(
                now_ms(),
                "warn",
                "baton".into(),
                format!(
                    "cannot remove an earlier attempt's {}: {error}",
                    entry.path().display()
                ),
            )]);
        }
    }
    let dir = tempfile::Builder::new()
        .prefix(&format!("{ATTEMPT_PREFIX}{attempt}-"))
        .tempdir_in(stage_dir)
        .with_context(|| {
            format!(
                "cannot create an attempt directory in {}",
                stage_dir.display()
            )
        })?;
    Ok(dir.keep())
}

/// Whose output directory a promotion replaces.
pub(crate) struct Owner<'a> {
    /// The project root.
    pub(crate) root: &'a Path,
    /// The stage's output directory, relative to the root.
    pub(crate) dir: &'a str,
    /// The pipeline, written into the marker.
    pub(crate) pipeline: &'a str,
    /// The stage, named in the marker and in a refusal.
    pub(crate) stage: &'a str,
    /// The outputs the stage's last success promoted (project path → sha256).
    pub(crate) recorded: Option<&'a BTreeMap<String, String>>,
}

/// Replaces the stage's output directory with `output` in two renames, so readers see the
/// old or the new directory, never a mix. The directory is checked again first
/// ([`outdir::claim`]): one Baton did not promote is refused and nothing is moved or
/// deleted. The new directory carries Baton's marker ([`outdir::MARKER`]).
pub(crate) fn promote(output: &Path, owner: &Owner<'_>, work: &Path) -> Result<(), Failure> {
    let target =
        outdir::claim(owner.root, owner.dir, owner.stage, owner.recorded).map_err(refused)?;
    let moved: anyhow::Result<()> = (|| {
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        outdir::write_marker(output, owner.pipeline, owner.stage)?;
        // The old directory and the new one trade places in one step, so a kill never
        // leaves the stage without its output directory; the old one is then removed from
        // the attempt's directory. Where the file system cannot exchange, two renames.
        let replaces = std::fs::symlink_metadata(&target).is_ok();
        if replaces && super::exchange::exchange(output, &target)? {
            std::fs::remove_dir_all(output).ok();
            return Ok(());
        }
        let previous = work.join("previous");
        if replaces {
            std::fs::rename(&target, &previous)
                .with_context(|| format!("cannot move {} aside", target.display()))?;
        }
        std::fs::rename(output, &target)
            .with_context(|| format!("cannot promote into {}", target.display()))?;
        if previous.exists() {
            std::fs::remove_dir_all(&previous).ok();
        }
        Ok(())
    })();
    moved.map_err(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn staged(work: &Path, text: &str) -> PathBuf {
        let output = work.join("output");
        std::fs::create_dir_all(&output).unwrap();
        std::fs::write(output.join("o.jsonl"), text).unwrap();
        output
    }

    #[test]
    fn promotion_replaces_only_directories_baton_promoted() {
        let project = tempfile::tempdir().unwrap();
        let root = project.path();
        let work = root.join(".baton/runs/r/s");
        let owner = Owner {
            root,
            dir: "out/s",
            pipeline: "p",
            stage: "s",
            recorded: None,
        };
        // A directory someone else made: refused, untouched, the staged output kept.
        std::fs::create_dir_all(root.join("out/s")).unwrap();
        std::fs::write(root.join("out/s/notes.txt"), "mine").unwrap();
        let output = staged(&work, "1\n");
        let failure = promote(&output, &owner, &work).unwrap_err();
        assert_eq!(failure.code.as_deref(), Some(OUTPUT_DIR_REFUSED));
        assert!(failure.message.contains("`out/s`"), "{}", failure.message);
        assert_eq!(
            std::fs::read_to_string(root.join("out/s/notes.txt")).unwrap(),
            "mine"
        );
        assert!(output.join("o.jsonl").is_file());
        // Once it is gone, Baton promotes and marks its own directory, and replaces it later.
        std::fs::remove_dir_all(root.join("out/s")).unwrap();
        promote(&output, &owner, &work).unwrap();
        assert!(root.join("out/s").join(outdir::MARKER).is_file());
        let output = staged(&work, "2\n");
        promote(&output, &owner, &work).unwrap();
        assert_eq!(
            std::fs::read_to_string(root.join("out/s/o.jsonl")).unwrap(),
            "2\n"
        );
        assert!(!work.join("previous").exists());
        assert!(!output.exists(), "the replaced directory was left behind");
    }
}
