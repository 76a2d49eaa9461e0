//! `baton pipeline list | describe ID | run ID | run-stage ID | logs [RUN] | doctor`.

use super::exit::{CliError, CliResult, Exit, runtime, usage};
use super::output::{self, FAIL, Format, INFO, OK};
use crate::progress::Progress;
use anyhow::anyhow;
use baton_engine::follow::{FALLBACK, Follower};
use baton_engine::pipeline::events::{StageEvent, StageStatus};
use baton_engine::pipeline::plan::Filters;
use baton_engine::pipeline::run::{self as pipeline_run, RunRequest};
use baton_engine::pipeline::{graph, model, plan};
use baton_engine::root::LazyRuntime;
use baton_engine::settings::Settings;
use baton_runtime::Runtime;
use clap::{Args, Subcommand};
use serde_json::json;
use std::collections::HashMap;
use std::io::{BufRead, Seek};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

#[derive(Debug, Subcommand)]
pub enum PipelineCommand {
    /// List the pipelines in pipelines/*.toml.
    List,
    /// Show a pipeline's stages (runner, inputs, outputs, needs, wave), or one stage by its
    /// id: its pipeline, runner, inputs, outputs, what it needs and what needs it, and its
    /// log in the latest run.
    Describe {
        /// A pipeline id, or a stage id.
        id: String,
    },
    /// Run a pipeline: stages in dependency order, in parallel where they can, cached when
    /// nothing changed.
    Run(RunArgs),
    /// Run one stage now, whatever its cache says (its inputs must exist).
    RunStage {
        stage: String,
        /// The pipeline the stage belongs to, when several have it.
        #[arg(long)]
        pipeline: Option<String>,
    },
    /// Show a run's log (default: the latest run).
    Logs {
        run: Option<String>,
        /// Keep printing as the run goes on.
        #[arg(long)]
        follow: bool,
    },
    /// Check plugins, grants, schemas, disk and store for every pipeline.
    Doctor,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    pub id: String,
    /// Only these stages (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Leave out these stages (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub skip: Vec<String>,
    /// This stage and everything downstream of it.
    #[arg(long)]
    pub from: Option<String>,
    /// This stage and everything it depends on.
    #[arg(long)]
    pub to: Option<String>,
    /// Print the plan (what would run and why, what is cached); change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Run stages even when cached.
    #[arg(long)]
    pub force: bool,
    /// Rerun the prompts of this wave and everything that depends on them, cached or not.
    #[arg(long, value_name = "N")]
    pub force_wave: Option<u32>,
    /// Keep running independent stages after a failure.
    #[arg(long)]
    pub continue_on_error: bool,
    /// KEY=VALUE lines; stages receive the variables they list in `env`.
    #[arg(long)]
    pub env_file: Option<PathBuf>,
    /// Rerun only what did not finish in this run.
    #[arg(long)]
    pub resume: Option<String>,
    /// Stages running at once (at least 1).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: u16,
}

pub async fn run(
    command: &PipelineCommand,
    settings: &Settings,
    rt: impl Fn() -> Result<Runtime, CliError>,
    format: Format,
) -> CliResult {
    match command {
        PipelineCommand::List => list(settings, format),
        PipelineCommand::Describe { id } => describe(settings, id, format),
        PipelineCommand::Run(args) => run_pipeline(settings, args, format).await,
        PipelineCommand::RunStage { stage, pipeline } => {
            let pipeline = match pipeline {
                Some(p) => p.clone(),
                None => owning_pipeline(settings, stage)?,
            };
            let args = RunArgs {
                id: pipeline,
                only: vec![stage.clone()],
                skip: Vec::new(),
                from: None,
                to: None,
                dry_run: false,
                force: true,
                force_wave: None,
                continue_on_error: false,
                env_file: None,
                resume: None,
                jobs: 1,
            };
            run_pipeline(settings, &args, format).await
        }
        PipelineCommand::Logs { run, follow } => logs(settings, run.as_deref(), *follow).await,
        PipelineCommand::Doctor => doctor(settings, rt, format).await,
    }
}

fn owning_pipeline(settings: &Settings, stage: &str) -> Result<String, CliError> {
    let (files, _) = model::load_all(&settings.root).map_err(runtime)?;
    let owners: Vec<String> = files
        .iter()
        .filter(|f| f.stages.iter().any(|s| s.value.id == stage))
        .filter_map(|f| f.path.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    match owners.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(usage(anyhow!("no pipeline has a stage `{stage}`"))),
        many => Err(usage(anyhow!(
            "stage `{stage}` is in {}: name one with --pipeline",
            many.join(", ")
        ))),
    }
}

fn list(settings: &Settings, format: Format) -> CliResult {
    let (files, errors) = model::load_all(&settings.root).map_err(runtime)?;
    let mut rows = Vec::new();
    for name in graph::names(&files) {
        let (state, stages) = match pipeline_run::load_graph(settings, &name) {
            Ok(g) => ("valid".to_string(), g.stages.len()),
            Err(e) => (format!("invalid: {}", e.to_string().lines().count()), 0),
        };
        rows.push((name, stages, state));
    }
    if format == Format::Json {
        output::json(&json!({
            "pipelines": rows.iter().map(|(n, s, v)| json!({"id": n, "stages": s, "status": v})).collect::<Vec<_>>(),
            "errors": errors,
        }));
    } else {
        for error in &errors {
            eprintln!("{FAIL} {error}");
        }
        if rows.is_empty() {
            println!("{INFO} no pipelines: add {}/NAME.toml", model::PIPELINE_DIR);
        } else {
            let table: Vec<Vec<String>> = rows
                .iter()
                .map(|(n, s, v)| vec![n.clone(), s.to_string(), v.clone()])
                .collect();
            output::table(&["pipeline", "stages", "status"], &table);
        }
    }
    Ok(Exit::Success)
}

fn load(settings: &Settings, id: &str) -> Result<graph::Graph, CliError> {
    pipeline_run::load_graph(settings, id)
        .map_err(|e| usage(anyhow!("pipeline `{id}` is invalid:\n{e}")))
}

fn describe(settings: &Settings, id: &str, format: Format) -> CliResult {
    let (files, _) = model::load_all(&settings.root).map_err(runtime)?;
    if !graph::names(&files).iter().any(|name| name == id) {
        let owners: Vec<String> = graph::names(&files)
            .into_iter()
            .filter(|name| {
                pipeline_run::load_graph(settings, name).is_ok_and(|g| g.stage(id).is_some())
            })
            .collect();
        if !owners.is_empty() {
            return describe_stage(settings, id, &owners, format);
        }
        return Err(usage(anyhow!(
            "no pipeline or stage `{id}` in {}/ (pipelines: {})",
            model::PIPELINE_DIR,
            graph::names(&files).join(", ")
        )));
    }
    let graph = load(settings, id)?;
    let stages: Vec<serde_json::Value> = graph
        .order
        .iter()
        .map(|&i| {
            let s = &graph.stages[i];
            json!({
                "id": s.value.id, "wave": graph.wave[i], "at": s.at(),
                "description": s.value.description, "plugin": s.value.plugin, "command": s.value.command,
                "inputs": s.value.inputs, "outputs": s.value.outputs, "output_dir": s.value.output_dir(),
                "needs": graph.deps[i].iter().map(|&d| graph.stages[d].value.id.clone()).collect::<Vec<_>>(),
                "schemas": s.value.schemas, "retries": s.value.retries,
            })
        })
        .collect();
    if format == Format::Json {
        output::json(&json!({"pipeline": graph.name, "stages": stages}));
        return Ok(Exit::Success);
    }
    let rows: Vec<Vec<String>> = stages
        .iter()
        .map(|s| {
            vec![
                s["wave"].to_string(),
                s["id"].as_str().unwrap_or("").to_string(),
                s["plugin"]
                    .as_str()
                    .map(String::from)
                    .unwrap_or_else(|| "command".into()),
                s["needs"]
                    .as_array()
                    .map(|n| {
                        n.iter()
                            .filter_map(|x| x.as_str())
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                    .unwrap_or_default(),
                s["output_dir"].as_str().unwrap_or("").to_string(),
            ]
        })
        .collect();
    output::table(&["wave", "stage", "runner", "needs", "outputs in"], &rows);
    Ok(Exit::Success)
}

/// `pipeline describe STAGE`: the stage in each pipeline that has it.
fn describe_stage(settings: &Settings, id: &str, owners: &[String], format: Format) -> CliResult {
    let latest = latest_run(settings);
    let mut documents = Vec::new();
    for owner in owners {
        let graph = load(settings, owner)?;
        let Some(&i) = graph.index.get(id) else {
            continue;
        };
        let stage = &graph.stages[i];
        let needed_by: Vec<String> = (0..graph.stages.len())
            .filter(|&j| graph.deps[j].contains(&i))
            .map(|j| graph.stages[j].value.id.clone())
            .collect();
        let log = latest.as_ref().and_then(|run| {
            let dir = run.with_extension("");
            let path = baton_engine::logfile::stage_log_path(&dir, id);
            path.is_file().then_some(path)
        });
        documents.push(json!({
            "pipeline": graph.name, "id": stage.value.id, "at": stage.at(), "wave": graph.wave[i],
            "description": stage.value.description, "plugin": stage.value.plugin,
            "command": stage.value.command, "inputs": stage.value.inputs,
            "outputs": stage.value.outputs, "output_dir": stage.value.output_dir(),
            "needs": graph.deps[i].iter().map(|&d| graph.stages[d].value.id.clone()).collect::<Vec<_>>(),
            "needed_by": needed_by, "schemas": stage.value.schemas, "retries": stage.value.retries,
            "timeout": stage.value.timeout, "latest_log": log,
        }));
    }
    if format == Format::Json {
        output::json(&json!({"stage": id, "in": documents}));
        return Ok(Exit::Success);
    }
    for (n, d) in documents.iter().enumerate() {
        if n > 0 {
            println!();
        }
        let list = |v: &serde_json::Value| {
            v.as_array()
                .map(|items| {
                    items
                        .iter()
                        .map(|x| {
                            x.as_str()
                                .map(String::from)
                                .unwrap_or_else(|| x.to_string())
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default()
        };
        let text = |v: &serde_json::Value| output::safe(v.as_str().unwrap_or("-"), false);
        println!(
            "stage      {} (pipeline {}, {})",
            text(&d["id"]),
            text(&d["pipeline"]),
            text(&d["at"])
        );
        if let Some(description) = d["description"].as_str() {
            println!("about      {}", output::safe(description, false));
        }
        let runner = match d["plugin"].as_str() {
            Some(plugin) => format!("plugin {plugin}"),
            None => format!("command {}", list(&d["command"])),
        };
        println!("runner     {}", output::safe(&runner, false));
        println!("wave       {}", d["wave"]);
        println!("inputs     {}", output::safe(&list(&d["inputs"]), false));
        println!(
            "outputs    {} in {}",
            output::safe(&list(&d["outputs"]), false),
            text(&d["output_dir"])
        );
        println!("needs      {}", output::safe(&list(&d["needs"]), false));
        println!("needed by  {}", output::safe(&list(&d["needed_by"]), false));
        if let Some(log) = d["latest_log"].as_str() {
            println!("log        {}", output::safe(log, false));
        }
        println!(
            "{INFO} run it alone: {}",
            run_stage_command(&text(&d["id"]), &text(&d["pipeline"]))
        );
    }
    Ok(Exit::Success)
}

/// The command that runs stage `id` of `pipeline` alone; an id that starts with `-` goes
/// after `--`, where it cannot be read as an option.
fn run_stage_command(id: &str, pipeline: &str) -> String {
    if id.starts_with('-') {
        format!("baton pipeline run-stage --pipeline {pipeline} -- {id}")
    } else {
        format!("baton pipeline run-stage {id} --pipeline {pipeline}")
    }
}

pub async fn run_pipeline(settings: &Settings, args: &RunArgs, format: Format) -> CliResult {
    let graph = load(settings, &args.id)?;
    let filters = Filters {
        only: args.only.clone(),
        skip: args.skip.clone(),
        from: args.from.clone(),
        to: args.to.clone(),
    };
    if args.resume.is_some()
        && (!args.only.is_empty()
            || !args.skip.is_empty()
            || args.from.is_some()
            || args.to.is_some())
    {
        return Err(usage(anyhow!(
            "--resume reruns what the run left unfinished; it takes no stage filters"
        )));
    }
    if args.dry_run {
        // Contradicting filters are the user's to fix (20); a store that cannot be read is not (30).
        plan::select(&graph, &filters).map_err(|e| usage(anyhow!(e)))?;
        let plan = pipeline_run::dry_plan(settings, &graph, &filters, args.force, args.force_wave)
            .map_err(|e| {
                if args.force_wave.is_some() && e.to_string().starts_with("--force-wave") {
                    usage(e)
                } else {
                    runtime(e)
                }
            })?;
        if format == Format::Json {
            output::json(&plan);
        } else {
            println!(
                "plan for `{}`: {} stages in {} waves",
                plan.pipeline,
                plan.stages.len(),
                plan.waves
            );
            let rows: Vec<Vec<String>> = plan
                .stages
                .iter()
                .map(|s| {
                    vec![
                        s.wave.to_string(),
                        s.id.clone(),
                        s.action.to_string(),
                        s.reason.clone(),
                    ]
                })
                .collect();
            output::table(&["wave", "stage", "action", "why"], &rows);
        }
        return Ok(Exit::Success);
    }
    // Bad filters are refused before anything runs.
    plan::select(&graph, &filters).map_err(|e| usage(anyhow!(e)))?;
    pipeline_run::forced_stages(&graph, args.force_wave).map_err(usage)?;
    // So is a run to resume that does not exist or is another pipeline's.
    if let Some(run_id) = &args.resume {
        let store = super::open::store(settings)?;
        match store.run(run_id).map_err(runtime)? {
            Some(run) if run.pipeline == graph.name => {}
            Some(run) => {
                return Err(usage(anyhow!(
                    "--resume {run_id}: that run is of pipeline `{}`, not `{}`",
                    run.pipeline,
                    graph.name
                )));
            }
            None => {
                return Err(usage(anyhow!(
                    "--resume {run_id}: no such run of `{}` (run ids are the names of .baton/runs/*.jsonl; `baton pipeline logs` shows the latest run)",
                    graph.name
                )));
            }
        }
    }
    let env = match &args.env_file {
        Some(path) => pipeline_run::read_env_file(&settings.cwd.join(path)).map_err(usage)?,
        None => Default::default(),
    };
    // The stage count is known from the first stage that ends.
    let progress = Arc::new(Progress::new(0, "stages", format));
    let request = RunRequest {
        filters,
        force: args.force,
        force_wave: args.force_wave,
        continue_on_error: args.continue_on_error,
        jobs: usize::from(args.jobs),
        resume: args.resume.clone(),
        env,
        events: {
            let progress = progress.clone();
            let failed = Arc::new(std::sync::atomic::AtomicU64::new(0));
            let waits = Mutex::new(HashMap::<String, String>::new());
            Arc::new(move |event: &StageEvent| {
                if event.status == StageStatus::Retrying {
                    // Why a stage waits or retries, once per distinct reason.
                    let fresh = waits.lock().is_ok_and(|mut waits| {
                        waits.insert(event.stage.clone(), event.detail.clone())
                            != Some(event.detail.clone())
                    });
                    if fresh
                        && format == Format::Table
                        && !event.detail.is_empty()
                        && !output::quiet()
                    {
                        progress.println(|| {
                            println!("⏸ {} … {}", event.stage, output::safe(&event.detail, false))
                        });
                    }
                    return;
                }
                let failure = !matches!(
                    event.status,
                    StageStatus::Done | StageStatus::Cached | StageStatus::Skipped
                );
                if failure {
                    failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                if format == Format::Table && (failure || !output::quiet()) {
                    progress.println(|| print_stage(event));
                }
                progress.set_total(event.total as u64);
                progress.update(
                    event.finished as u64,
                    failed.load(std::sync::atomic::Ordering::Relaxed),
                );
            })
        },
    };
    let shutdown = baton_engine::root::signals(super::queue::announce_shutdown);
    let result = pipeline_run::run(
        settings,
        LazyRuntime::new(settings),
        graph,
        request,
        shutdown,
    )
    .await;
    progress.finish();
    let result = result.map_err(runtime)?;
    if format == Format::Json {
        output::json(&result);
    } else {
        println!();
        let rows: Vec<Vec<String>> = result
            .stages
            .iter()
            .map(|s| vec![s.stage.clone(), s.state.as_str().into(), s.detail.clone()])
            .collect();
        output::table(&["stage", "result", "detail"], &rows);
        let mark = if result.degraded { FAIL } else { OK };
        println!(
            "{mark} run {} of `{}` in {:.2}s",
            result.run_id, result.pipeline, result.seconds
        );
        if let Some(agents) = &result.agents {
            let count =
                |state: StageStatus| result.stages.iter().filter(|s| s.state == state).count();
            let (done, cached, failed, skipped) = (
                count(StageStatus::Done),
                count(StageStatus::Cached),
                count(StageStatus::Failed),
                count(StageStatus::Skipped),
            );
            // Cancelled, unfinished (still waiting, or its process died) and missing.
            let unfinished = result.stages.len() - done - cached - failed - skipped;
            let mut line = format!(
                "{INFO} prompts: {} · done {done} · cached {cached} · failed {failed}",
                result.stages.len()
            );
            if skipped > 0 {
                line.push_str(&format!(" · skipped {skipped}"));
            }
            if unfinished > 0 {
                line.push_str(&format!(" · unfinished {unfinished}"));
            }
            println!(
                "{line} · retries {} · calls {} · tokens {}",
                agents.retries, agents.calls, agents.tokens
            );
            for (key, reason) in &agents.limits_hit {
                println!("{INFO} limit hit: {key}: {}", output::safe(reason, false));
            }
        }
        if result.degraded {
            println!(
                "{INFO} rerun what did not finish: baton pipeline run {} --resume {}",
                result.pipeline, result.run_id
            );
        }
    }
    Ok(if result.degraded {
        Exit::Degraded
    } else {
        Exit::Success
    })
}

/// One line per stage as it ends (`▶ [k/N] id … done in 0.12s`), with the rerun command
/// after a failure; retries print nothing until the stage ends.
pub(crate) fn print_stage(event: &StageEvent) {
    let StageEvent {
        finished: k,
        total: n,
        stage: id,
        seconds,
        detail,
        ..
    } = event;
    match event.status {
        StageStatus::Done => {
            let note = if detail.is_empty() {
                String::new()
            } else {
                format!(" · ⚠ {}", output::safe(detail, false))
            };
            match event.tokens {
                Some(tokens) => {
                    println!("▶ [{k}/{n}] {id} … done in {seconds:.1}s · {tokens} tokens{note}")
                }
                None => println!("▶ [{k}/{n}] {id} … done in {seconds:.2}s{note}"),
            }
        }
        StageStatus::Cached => println!("▶ [{k}/{n}] {id} … cached"),
        StageStatus::Skipped => println!(
            "▶ [{k}/{n}] {id} … skipped: {}",
            output::safe(detail, false)
        ),
        StageStatus::Retrying => {}
        _ => {
            // The first line of the failure, then the output lines it quotes, in order.
            let mut lines = detail.lines();
            println!(
                "✗ [{k}/{n}] {id} … FAILED in {seconds:.2}s: {}",
                output::safe(lines.next().unwrap_or(""), false)
            );
            for line in lines {
                println!("    │ {}", output::safe(line, false));
            }
            println!("  log: {}", event.log.display());
            // A missing input fails any rerun of the stage alone; its detail says what helps.
            if event.code.as_deref() != Some(baton_engine::pipeline::inputs::INPUT_MISSING) {
                println!(
                    "  rerun it with: {}   (or everything unfinished: baton pipeline run {} --resume {})",
                    run_stage_command(id, &event.pipeline),
                    event.pipeline,
                    event.run_id
                );
            }
        }
    }
}

fn latest_run(settings: &Settings) -> Option<PathBuf> {
    let dir = settings.state_dir.clone().join("runs");
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok())
}

async fn logs(settings: &Settings, run: Option<&str>, follow: bool) -> CliResult {
    let path = match run {
        Some(run) => settings
            .state_dir
            .clone()
            .join("runs")
            .join(format!("{run}.jsonl")),
        None => latest_run(settings).ok_or_else(|| usage(anyhow!("no runs yet")))?,
    };
    let file =
        std::fs::File::open(&path).map_err(|e| usage(anyhow!("no log {}: {e}", path.display())))?;
    let run_id = path
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default();
    let store = baton_engine::store::open_read_only(&settings.store).map_err(runtime)?;
    let mut reader = std::io::BufReader::new(file);
    let mut line = String::new();
    // Woken by the run log's growth (file-change notification), never a fixed delay.
    let runs_dir = settings.state_dir.clone().join("runs");
    let follower = if follow {
        Some(Arc::new(std::sync::Mutex::new(
            Follower::new(&[runs_dir.as_path()], None).map_err(runtime)?,
        )))
    } else {
        None
    };
    loop {
        line.clear();
        let read = reader.read_line(&mut line).map_err(runtime)?;
        if read > 0 {
            print!("{line}");
            if follow && line.contains("\"run-finished\"") {
                return Ok(Exit::Success);
            }
            continue;
        }
        // The log ends here for good when the run's process is gone.
        if let Some(store) = &store
            && let Some(note) = interrupted(store.as_ref(), &run_id).map_err(runtime)?
        {
            eprintln!("{INFO} {}", output::safe(&note, false));
            return Ok(if follow {
                Exit::Degraded
            } else {
                Exit::Success
            });
        }
        let Some(follower) = follower.clone() else {
            return Ok(Exit::Success);
        };
        let wait = tokio::task::spawn_blocking(move || {
            if let Ok(follower) = follower.lock() {
                follower.wait(FALLBACK);
            }
        });
        tokio::select! {
            _ = wait => {}
            _ = tokio::signal::ctrl_c() => return Ok(Exit::Success),
        }
        let position = reader.stream_position().map_err(runtime)?;
        reader
            .seek(std::io::SeekFrom::Start(position))
            .map_err(runtime)?;
    }
}

/// Why run `run_id` will not go on, when it was left running by a process that is gone.
fn interrupted(
    store: &dyn baton_core::store::StoreRead,
    run_id: &str,
) -> anyhow::Result<Option<String>> {
    let Some(run) = store.run(run_id)? else {
        return Ok(None);
    };
    let Some(owner) = run
        .owner
        .filter(|_| run.state == baton_core::store::RunState::Running)
    else {
        return Ok(None);
    };
    if baton_engine::owner::dead_local_owners(std::slice::from_ref(&owner)).is_empty() {
        return Ok(None);
    }
    Ok(Some(format!(
        "run {run_id} was interrupted: its process ({owner}) is gone; resume it with `baton pipeline run {} --resume {run_id}`",
        run.pipeline
    )))
}

async fn doctor(
    settings: &Settings,
    rt: impl Fn() -> Result<Runtime, CliError>,
    format: Format,
) -> CliResult {
    let mut checks: Vec<(String, Result<String, String>)> = Vec::new();
    let (files, errors) = model::load_all(&settings.root).map_err(runtime)?;
    for error in errors {
        checks.push(("pipeline file".into(), Err(error)));
    }
    let runtime_handle = rt();
    for name in graph::names(&files) {
        match pipeline_run::load_graph(settings, &name) {
            Err(e) => checks.push((format!("pipeline {name}"), Err(e.to_string()))),
            Ok(g) => {
                checks.push((
                    format!("pipeline {name}"),
                    Ok(format!("{} stages", g.stages.len())),
                ));
                for stage in &g.stages {
                    for schema in stage.value.schemas.values() {
                        let valid = std::fs::read_to_string(settings.root.join(schema))
                            .map_err(|e| e.to_string())
                            .and_then(|t| {
                                serde_json::from_str::<serde_json::Value>(&t)
                                    .map_err(|e| e.to_string())
                            });
                        checks.push((
                            format!("schema {schema}"),
                            valid.map(|_| "valid JSON".into()),
                        ));
                    }
                    if let (Some(plugin), Ok(rt)) = (&stage.value.plugin, &runtime_handle) {
                        let loaded = match pipeline_run::stage_spec(settings, plugin, &[]) {
                            Ok(spec) => rt
                                .load(&spec)
                                .await
                                .map(|p| format!("{} {}", p.world.name(), p.description.version))
                                .map_err(|e| e.to_string()),
                            Err(e) => Err(e.to_string()),
                        };
                        checks.push((
                            format!("plugin {plugin} (stage {})", stage.value.id),
                            loaded,
                        ));
                    }
                }
            }
        }
    }
    if let Err(e) = &runtime_handle {
        checks.push(("plugin runtime".into(), Err(e.to_string())));
    }
    let probe = settings.state_dir.clone().join(".doctor-probe");
    let writable = std::fs::create_dir_all(settings.state_dir.clone())
        .and_then(|_| std::fs::write(&probe, b"ok"))
        .and_then(|_| std::fs::remove_file(&probe));
    checks.push((
        "disk".into(),
        writable
            .map(|_| format!("{} is writable", settings.state_dir.clone().display()))
            .map_err(|e| e.to_string()),
    ));
    checks.push((
        "store".into(),
        baton_engine::store::open(&settings.store)
            .map(|_| "reachable".to_string())
            .map_err(|e| format!("{e:#}")),
    ));
    let failed = checks.iter().filter(|(_, r)| r.is_err()).count();
    if format == Format::Json {
        output::json(&json!({
            "ok": failed == 0,
            "checks": checks.iter().map(|(what, r)| match r {
                Ok(detail) => json!({"check": what, "ok": true, "detail": detail}),
                Err(error) => json!({"check": what, "ok": false, "error": error}),
            }).collect::<Vec<_>>(),
        }));
    } else {
        for (what, result) in &checks {
            match result {
                Ok(detail) => println!("{OK} {what}: {detail}"),
                Err(error) => println!("{FAIL} {what}: {error}"),
            }
        }
    }
    Ok(if failed == 0 {
        Exit::Success
    } else {
        Exit::Degraded
    })
}
