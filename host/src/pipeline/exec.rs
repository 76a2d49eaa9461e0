//! Running one stage job of a pipeline run: check the cache, stage the inputs read-only and a
//! fresh output directory, run the plugin (or trusted command), check the declared outputs
//! exist, validate them against their JSON Schemas, promote them atomically into the stage's
//! output directory, record the success for caching, and report one line as the stage ends.

use super::cache::{self, Decision};
use super::glob;
use super::graph::Graph;
use super::model::StageDef;
use crate::queue::model::{Claimed, Outcome, now_ms};
use crate::queue::work::Worked;
use crate::runtime::Runtime;
use crate::runtime::bindings::types::Failure;
use crate::runtime::plugin::Plugin;
use crate::runtime::stage_io::{StagedIo, file_digest};
use anyhow::{Context, Result, anyhow};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// A stage's runner: a loaded plugin, or a trusted command with the `--env-file` variables
/// the stage names.
pub enum Runner {
    Plugin(Arc<Plugin>),
    Command(Vec<String>, Vec<(String, String)>),
}

impl Runner {
    pub fn digest(&self) -> String {
        match self {
            Runner::Plugin(plugin) => plugin.digest.clone(),
            Runner::Command(command, _) => crate::runtime::json::sha256_text(
                &serde_json::to_string(command).unwrap_or_default(),
            ),
        }
    }
}

/// Everything the stage jobs of one run share.
pub struct StageExecutor {
    pub root: PathBuf,
    pub run_dir: PathBuf,
    pub run_id: String,
    pub graph: Graph,
    pub runners: HashMap<String, Runner>,
    /// The json-schema plugin, when a stage declares schemas.
    pub validator: Option<Arc<Plugin>>,
    pub runtime: Arc<Runtime>,
    pub cache_db: Mutex<rusqlite::Connection>,
    pub force: bool,
    /// Stages of this run, for `[k/N]`.
    pub total: usize,
    pub finished: Mutex<usize>,
    /// Whether to print one line per stage (not with --format json).
    pub print: bool,
    pub log: Mutex<std::fs::File>,
    /// Holds each stage's `limits` keys while it runs.
    pub limiter: Arc<crate::limiter::Limiter>,
}

/// What the job's result records.
fn done(result: serde_json::Value) -> Worked {
    Worked {
        outcome: Outcome::Done { result },
        manifest: None,
    }
}

impl StageExecutor {
    fn stage_of(&self, job: &Claimed) -> Option<&StageDef> {
        let id = job.key.rsplit('/').next()?;
        self.graph.stage(id).map(|s| &s.value)
    }

    /// Appends one line to `.baton/runs/<run>.jsonl`.
    pub fn log_line(&self, line: serde_json::Value) {
        let mut line = line;
        line["at"] = json!(crate::queue::model::format_ms(now_ms()));
        if let Ok(mut file) = self.log.lock() {
            let _ = writeln!(file, "{line}");
        }
    }

    fn announce(&self, id: &str, status: &str, seconds: f64, detail: &str) {
        let k = {
            let mut finished = self.finished.lock().unwrap_or_else(|p| p.into_inner());
            *finished += 1;
            *finished
        };
        self.log_line(json!({"event": "stage", "stage": id, "status": status, "seconds": seconds, "detail": detail}));
        if !self.print {
            return;
        }
        let n = self.total;
        match status {
            "done" => println!("▶ [{k}/{n}] {id} … done in {seconds:.2}s"),
            "cached" => println!("▶ [{k}/{n}] {id} … cached"),
            _ => {
                println!("✗ [{k}/{n}] {id} … FAILED in {seconds:.2}s: {detail}");
                println!(
                    "  rerun it with: baton pipeline run {} --only {id}   (or everything unfinished: baton pipeline run {} --resume {})",
                    self.graph.name, self.graph.name, self.run_id
                );
            }
        }
    }

    pub async fn run(&self, job: &Claimed) -> Worked {
        let Some(stage) = self.stage_of(job) else {
            return Worked {
                outcome: Outcome::Failed {
                    reason: format!("job `{}` names no stage of this pipeline", job.key),
                },
                manifest: None,
            };
        };
        let started = Instant::now();
        let result = match stage
            .timeout
            .as_deref()
            .map(crate::config::units::parse_duration)
        {
            Some(Ok(limit)) => tokio::time::timeout(limit, self.execute(stage, job))
                .await
                .unwrap_or_else(|_| {
                    Err(anyhow!(
                        "timed out after {}",
                        humantime::format_duration(limit)
                    ))
                }),
            _ => self.execute(stage, job).await,
        };
        let seconds = started.elapsed().as_secs_f64();
        match result {
            Ok(Some(value)) => {
                self.announce(&stage.id, "done", seconds, "");
                done(value)
            }
            Ok(None) => {
                self.announce(&stage.id, "cached", seconds, "");
                done(json!({"cached": true}))
            }
            Err(error) => {
                let reason = format!("{error:#}");
                let last = job.attempt >= job.max_attempts;
                if last {
                    self.announce(&stage.id, "failed", seconds, &reason);
                    Worked {
                        outcome: Outcome::Failed { reason },
                        manifest: None,
                    }
                } else {
                    self.log_line(json!({"event": "retry", "stage": stage.id, "attempt": job.attempt, "reason": reason}));
                    Worked {
                        outcome: Outcome::Retry {
                            wait_reason: format!(
                                "retry {} of {}",
                                job.attempt + 1,
                                job.max_attempts
                            ),
                            reason,
                            at: now_ms() + 200,
                            snooze: false,
                        },
                        manifest: None,
                    }
                }
            }
        }
    }

    /// Runs the stage; `Ok(None)` when it was cached.
    async fn execute(&self, stage: &StageDef, job: &Claimed) -> Result<Option<serde_json::Value>> {
        let runner = self
            .runners
            .get(&stage.id)
            .ok_or_else(|| anyhow!("stage `{}` has no runner", stage.id))?;
        let mut permits = Vec::with_capacity(stage.limits.len());
        for key in &stage.limits {
            let permit = self
                .limiter
                .acquire(key, std::time::Duration::from_secs(24 * 3600))
                .await
                .map_err(|wait| anyhow!("waited a day for {}", wait.reason))?;
            permits.push(permit);
        }
        let fingerprint = cache::fingerprint(stage, &self.root, &runner.digest())?;
        if !self.force {
            let last = {
                let db = self
                    .cache_db
                    .lock()
                    .map_err(|_| anyhow!("cache lock poisoned"))?;
                cache::last_success(&db, &self.graph.name, &stage.id)?
            };
            if cache::decide(&fingerprint, last.as_ref(), &self.root) == Decision::Cached {
                return Ok(None);
            }
        }
        let work = self.run_dir.join(&stage.id);
        if work.exists() {
            std::fs::remove_dir_all(&work)
                .with_context(|| format!("cannot clear {}", work.display()))?;
        }
        let output = work.join("output");
        let inputs: Vec<(String, PathBuf)> = fingerprint
            .inputs
            .keys()
            .map(|path| (path.clone(), self.root.join(path)))
            .collect();
        let io = StagedIo::prepare(&work, &inputs, &output)?;
        let params = serde_json::to_value(&stage.params)?;
        let summary = match runner {
            Runner::Plugin(plugin) => {
                let report = self
                    .runtime
                    .run_stage(plugin, &io, &self.run_id, &stage.id, &params, job.attempt)
                    .await
                    .map_err(|e| anyhow!("{e}"))?;
                match report.value {
                    Ok(outcome) => outcome.summary,
                    Err(Failure::Skip(reason)) => return Ok(Some(json!({"skipped": reason}))),
                    Err(failure) => {
                        return Err(anyhow!("{}", crate::runtime::json::failure_line(&failure)));
                    }
                }
            }
            Runner::Command(command, env) => {
                run_command(command, env, &self.root, &inputs, &output).await?
            }
        };
        let produced = declared_outputs(stage, &output)?;
        for (pattern, schema) in &stage.schemas {
            for file in produced.iter().filter(|f| glob::matches(pattern, f)) {
                self.validate(&work, &output, file, schema).await?;
            }
        }
        let target = self.root.join(stage.output_dir());
        promote(&output, &target, &work)?;
        let mut outputs = BTreeMap::new();
        for file in &produced {
            let path = format!("{}/{file}", stage.output_dir());
            outputs.insert(path.clone(), file_digest(&self.root.join(&path))?);
        }
        {
            let db = self
                .cache_db
                .lock()
                .map_err(|_| anyhow!("cache lock poisoned"))?;
            cache::record_success(
                &db,
                &self.graph.name,
                &stage.id,
                &fingerprint,
                &outputs,
                &self.run_id,
            )?;
        }
        Ok(Some(
            json!({"summary": summary, "outputs": outputs.keys().collect::<Vec<_>>()}),
        ))
    }

    /// Validates one output file against a schema with the sandboxed json-schema plugin.
    async fn validate(&self, work: &Path, output: &Path, file: &str, schema: &str) -> Result<()> {
        let validator = self.validator.as_ref().ok_or_else(|| {
            anyhow!("the json-schema plugin is not available to validate `{file}`")
        })?;
        let check_dir = work.join("schema-check");
        let inputs = vec![
            ("schema.json".to_string(), self.root.join(schema)),
            (file.replace('/', "_"), output.join(file)),
        ];
        let io = StagedIo::prepare(&work.join("schema-inputs"), &inputs, &check_dir)?;
        let params = json!({"schema-input": "schema.json", "targets": [file.replace('/', "_")]});
        let report = self
            .runtime
            .run_stage(validator, &io, &self.run_id, "schema", &params, 1)
            .await
            .map_err(|e| anyhow!("{e}"))?;
        match report.value {
            Ok(_) => Ok(()),
            Err(failure) => Err(anyhow!(
                "output `{file}` does not match its schema {schema}: {}",
                crate::runtime::json::failure_line(&failure).trim_start_matches("fatal: ")
            )),
        }
    }
}

/// Files in `output` that match the stage's declared outputs; every pattern must match one.
fn declared_outputs(stage: &StageDef, output: &Path) -> Result<Vec<String>> {
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

/// Replaces `target` with `output` in two renames, so readers see the old or the new
/// directory, never a mix.
fn promote(output: &Path, target: &Path, work: &Path) -> Result<()> {
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let previous = work.join("previous");
    if target.exists() {
        std::fs::rename(target, &previous)
            .with_context(|| format!("cannot move {} aside", target.display()))?;
    }
    std::fs::rename(output, target)
        .with_context(|| format!("cannot promote into {}", target.display()))?;
    if previous.exists() {
        std::fs::remove_dir_all(&previous).ok();
    }
    Ok(())
}

/// Runs a trusted native command in the project root; it finds its inputs in `BATON_INPUTS`
/// (newline-separated project paths) and writes into `BATON_OUTPUT_DIR`.
async fn run_command(
    command: &[String],
    env: &[(String, String)],
    root: &Path,
    inputs: &[(String, PathBuf)],
    output: &Path,
) -> Result<String> {
    let (program, args) = command
        .split_first()
        .ok_or_else(|| anyhow!("empty command"))?;
    let listed: Vec<&str> = inputs.iter().map(|(name, _)| name.as_str()).collect();
    let result = tokio::process::Command::new(program)
        .args(args)
        .current_dir(root)
        .env("BATON_INPUTS", listed.join("\n"))
        .env("BATON_OUTPUT_DIR", output)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .kill_on_drop(true)
        .output()
        .await
        .with_context(|| format!("cannot run {program}"))?;
    if !result.status.success() {
        let stderr = String::from_utf8_lossy(&result.stderr);
        return Err(anyhow!(
            "command {command:?} exited with {}: {}",
            result.status,
            stderr.lines().rev().take(5).collect::<Vec<_>>().join(" / ")
        ));
    }
    Ok(String::from_utf8_lossy(&result.stdout)
        .lines()
        .last()
        .unwrap_or("")
        .to_string())
}
