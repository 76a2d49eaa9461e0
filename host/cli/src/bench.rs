//! `baton bench queue`: burns down N no-op jobs through the real store, scheduler and a real
//! (no-op) resolver plugin, then measures enqueue-to-start latency at a steady arrival rate,
//! and prints jobs per second, latency percentiles, peak memory and the machine it ran on.

use super::exit::{CliError, CliResult, Exit, runtime, usage};
use super::output::{self, Format, INFO};
use anyhow::anyhow;
use baton_core::clock::now_ms;
use baton_core::model::{Claimed, JobKind, NewJob};
use baton_core::store::{Durability, Offer, commit};
use baton_engine::pipeline::plan::Filters;
use baton_engine::pipeline::run as pipeline_run;
use baton_engine::queue::setup::{self, ResolveOptions};
use baton_engine::root::{self, Engine, LazyRuntime};
use baton_engine::scheduler::Shutdown;
use baton_engine::scheduler::retry::RetryPolicy;
use baton_engine::scheduler::worker::{Change, Worked, Worker};
use baton_engine::settings::{Overrides, Settings};
use clap::{Args, Subcommand};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Burn down no-op jobs through the real store and a real no-op resolver plugin.
    Queue(QueueBench),
    /// Validate, plan, run and rerun (all cached) a generated DAG of trivial stages.
    Pipeline(PipelineBench),
    /// Store time of one dashboard refresh with a million jobs in the queue.
    Dashboard(crate::bench_dashboard::DashboardBench),
    /// Agent prompts and sessions through the `openai` adapter against the provider test
    /// double: prompts per second, CPU per prompt, session open cost, memory per idle
    /// session.
    Agents(crate::bench_agents::AgentsBench),
}

#[derive(Debug, Args)]
pub struct PipelineBench {
    /// Stages in the generated DAG; each depends on one to three earlier ones.
    #[arg(long, default_value_t = 1_000)]
    pub stages: usize,
    /// Stages running at once.
    #[arg(long, default_value_t = 2)]
    pub jobs: usize,
    /// `store.sync` for the benchmark's store: `full` (the default) or `normal`.
    #[arg(long, value_name = "MODE", default_value = "full", value_parser = ["full", "normal"])]
    pub sync: String,
}

#[derive(Debug, Args)]
pub struct QueueBench {
    /// Jobs to burn down.
    #[arg(long, default_value_t = 100_000)]
    pub jobs: usize,
    #[arg(long, default_value_t = 8)]
    pub workers: usize,
    /// Jobs enqueued one by one for the latency measurement.
    #[arg(long, default_value_t = 2_000)]
    pub latency_jobs: usize,
    /// Arrival rate of those jobs, per second.
    #[arg(long, default_value_t = 1_000)]
    pub rate: u32,
    /// Measure on this store instead of a new SQLite file, e.g. an empty PostgreSQL
    /// database (`postgres://USER@HOST:PORT/DB`); it must hold no jobs.
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// `store.sync` for the benchmark's store: `full` (every commit on disk before it is
    /// acknowledged, the default) or `normal`.
    #[arg(long, value_name = "MODE", default_value = "full", value_parser = ["full", "normal"])]
    pub sync: String,
}

/// Enqueue-to-start latencies: the time each job key was enqueued, and the measured waits.
#[derive(Default)]
struct Latencies {
    enqueued: Mutex<HashMap<String, Instant>>,
    measured: Mutex<Vec<Duration>>,
}

/// A worker that records when each job starts, around the real resolve worker.
struct Timed<W> {
    inner: W,
    latencies: Arc<Latencies>,
}

impl<W: Worker> Worker for Timed<W> {
    async fn work(&self, job: &Claimed) -> Worked {
        if let Some(at) = self
            .latencies
            .enqueued
            .lock()
            .ok()
            .and_then(|mut m| m.remove(&job.key))
            && let Ok(mut measured) = self.latencies.measured.lock()
        {
            measured.push(at.elapsed());
        }
        self.inner.work(job).await
    }

    fn admit(&self, offer: &Offer<'_>) -> bool {
        self.inner.admit(offer)
    }

    fn finished(&self, job: &Claimed) {
        self.inner.finished(job);
    }

    fn upkeep(&self) -> Option<Change> {
        self.inner.upkeep()
    }

    fn retry_policy(&self, _job: &Claimed) -> &RetryPolicy {
        self.inner.retry_policy(_job)
    }
}

/// Settings for a benchmark project in `dir`, sharing the real compile cache.
fn bench_settings(
    settings: &Settings,
    dir: &std::path::Path,
    store: Option<&str>,
    sync: &str,
) -> Result<Settings, CliError> {
    let overrides = Overrides {
        db: Some(
            store
                .map(str::to_string)
                .unwrap_or_else(|| dir.join("bench.db").to_string_lossy().into_owned()),
        ),
        cache_dir: Some(settings.runtime.cache_dir.clone()),
    };
    let env = |name: &str| (name == "BATON_SYNC").then(|| sync.to_string());
    Settings::load(dir, None, &overrides, &env).map_err(runtime)
}

/// CPU time (user + system) of the whole process so far.
pub(crate) fn process_cpu() -> Duration {
    // SAFETY: an all-zero rusage is a valid value for getrusage to overwrite.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable rusage; RUSAGE_SELF is a constant.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return Duration::ZERO;
    }
    let micros = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    Duration::from_micros(micros(usage.ru_utime) + micros(usage.ru_stime))
}

pub async fn run(command: &BenchCommand, settings: &Settings, format: Format) -> CliResult {
    let args = match command {
        BenchCommand::Queue(args) => args,
        BenchCommand::Pipeline(args) => return pipeline_bench(settings, args, format).await,
        BenchCommand::Dashboard(args) => {
            return crate::bench_dashboard::run(args, settings, format);
        }
        BenchCommand::Agents(args) => {
            return crate::bench_agents::run(args, settings, format).await;
        }
    };
    if args.workers == 0 || args.jobs == 0 || args.rate == 0 {
        return Err(usage(anyhow!(
            "--jobs, --workers and --rate must be at least 1"
        )));
    }
    let dir = tempfile::tempdir().map_err(runtime)?;
    let mut bench = bench_settings(settings, dir.path(), args.store.as_deref(), &args.sync)?;
    bench.queue.resolvers = vec!["noop".to_string()];
    bench.queue.download = false;
    // The plugin runtime keeps plugin state in the benchmark's store, not the project's: a
    // benchmark run in any directory leaves no database there.
    let rt = Arc::new(baton_engine::root::runtime(&bench).map_err(runtime)?);
    let engine = Engine::start(&bench, Default::default()).map_err(runtime)?;
    let mut store = engine.store().map_err(runtime)?;
    if store.stats(now_ms()).map_err(runtime)?.total > 0 {
        return Err(usage(anyhow!(
            "the store for the benchmark must hold no jobs; give --store an empty database"
        )));
    }
    let job = |key: String| NewJob {
        key,
        kind: JobKind::Resolve,
        plugin: None,
        payload: "{}".into(),
        priority: 0,
        max_attempts: 3,
    };
    let enqueue_started = Instant::now();
    for chunk in (0..args.jobs).collect::<Vec<_>>().chunks(50_000) {
        let jobs: Vec<NewJob> = chunk.iter().map(|i| job(format!("burn-{i}"))).collect();
        commit(store.as_mut(), now_ms(), |tx| tx.enqueue(&jobs, false)).map_err(runtime)?;
    }
    let enqueue_seconds = enqueue_started.elapsed().as_secs_f64();
    let inner = setup::resolve_worker(
        &bench,
        rt,
        engine.limiter.clone(),
        store,
        ResolveOptions {
            max_per_resolver: 0,
        },
    )
    .await
    .map_err(runtime)?;
    let latencies = Arc::new(Latencies::default());
    let worker = Arc::new(Timed {
        inner,
        latencies: latencies.clone(),
    });
    let burn_started = Instant::now();
    let (cpu_before, writer_before, commits_before) = (
        process_cpu(),
        engine.writer().cpu_time(),
        engine.writer().commits(),
    );
    let options = baton_engine::scheduler::RunOptions {
        drain: true,
        ..engine.options(args.workers)
    };
    let (_keep, never) = root::never_stop();
    let counters = engine
        .run(worker.clone(), options, never)
        .await
        .map_err(runtime)?;
    let burn_seconds = burn_started.elapsed().as_secs_f64();
    let finished = counters.finished();
    let burn_cpu = process_cpu().saturating_sub(cpu_before);
    let writer_cpu = engine.writer().cpu_time().saturating_sub(writer_before);
    let commits = engine.writer().commits() - commits_before;
    let per_job_us = |cpu: Duration| cpu.as_secs_f64() * 1e6 / finished.max(1) as f64;

    let wake = Arc::new(tokio::sync::Notify::new());
    let (stop_tx, stop_rx) = root::never_stop();
    let options = baton_engine::scheduler::RunOptions {
        wake: wake.clone(),
        ..engine.options(args.workers)
    };
    let gap = Duration::from_secs_f64(1.0 / f64::from(args.rate));
    let writer = engine.writer().clone();
    let producer = async {
        let mut next = Instant::now();
        for i in 0..args.latency_jobs {
            let key = format!("latency-{i}");
            latencies
                .enqueued
                .lock()
                .map_err(|_| runtime(anyhow!("poisoned")))?
                .insert(key.clone(), Instant::now());
            let new = vec![job(key)];
            writer
                .submit(move |tx| tx.enqueue(&new, false))
                .await
                .map_err(runtime)?;
            wake.notify_one();
            next += gap;
            tokio::time::sleep_until(next.into()).await;
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while latencies.measured.lock().map(|l| l.len()).unwrap_or(0) < args.latency_jobs
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let _ = stop_tx.send(Shutdown::StopClaiming);
        Ok::<(), CliError>(())
    };
    let (ran, produced) = tokio::join!(engine.run(worker, options, stop_rx), producer);
    ran.map_err(runtime)?;
    produced?;
    drop(writer);
    engine.close().map_err(runtime)?;

    let mut measured = latencies
        .measured
        .lock()
        .map(|l| l.clone())
        .unwrap_or_default();
    measured.sort();
    let pct = |p: f64| -> f64 {
        measured
            .get(((measured.len().max(1) - 1) as f64 * p) as usize)
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
    };
    let report = json!({
        "machine": machine(),
        "build": if cfg!(debug_assertions) { "debug" } else { "release" },
        "store": match (&args.store, bench.store.durability) {
            (Some(url), Durability::Full) if url.starts_with("postgres") => "postgresql, synchronous_commit=on (store.sync = full)",
            (Some(url), Durability::Normal) if url.starts_with("postgres") => "postgresql, synchronous_commit=off (store.sync = normal)",
            (_, Durability::Full) => "sqlite, WAL, synchronous=FULL (store.sync = full)",
            (_, Durability::Normal) => "sqlite, WAL, synchronous=NORMAL (store.sync = normal)",
        },
        "sync": bench.store.durability,
        "jobs": args.jobs,
        "workers": args.workers,
        "enqueue_jobs_per_second": args.jobs as f64 / enqueue_seconds,
        "burn_down_seconds": burn_seconds,
        "jobs_per_second": finished as f64 / burn_seconds,
        "cpu_us_per_job": per_job_us(burn_cpu),
        "writer_cpu_us_per_job": per_job_us(writer_cpu),
        "writer_cpu_share": writer_cpu.as_secs_f64() / burn_cpu.as_secs_f64().max(1e-9),
        "commits": commits,
        "jobs_per_commit": finished as f64 / commits.max(1) as f64,
        "latency_jobs": measured.len(),
        "arrival_rate": args.rate,
        "enqueue_to_start_ms": {"p50": pct(0.5), "p90": pct(0.9), "p99": pct(0.99), "max": pct(1.0)},
        "peak_rss_mib": peak_rss_mib(),
    });
    if format == Format::Json {
        output::json(&report);
    } else {
        println!("{INFO} machine: {}", report["machine"]);
        println!(
            "{INFO} build: {}, store: {}",
            report["build"], report["store"]
        );
        println!(
            "burn-down: {} no-op jobs, {} workers: {:.2}s, {:.0} jobs/s (enqueue {:.0} jobs/s)",
            args.jobs,
            args.workers,
            burn_seconds,
            report["jobs_per_second"].as_f64().unwrap_or(0.0),
            report["enqueue_jobs_per_second"].as_f64().unwrap_or(0.0)
        );
        println!(
            "CPU per job: {:.1} µs, of which the writer thread {:.1} µs ({:.0}%); {} commits, {:.1} jobs each",
            per_job_us(burn_cpu),
            per_job_us(writer_cpu),
            report["writer_cpu_share"].as_f64().unwrap_or(0.0) * 100.0,
            commits,
            report["jobs_per_commit"].as_f64().unwrap_or(0.0)
        );
        println!(
            "enqueue-to-start at {}/s: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} jobs)",
            args.rate,
            pct(0.5),
            pct(0.9),
            pct(0.99),
            pct(1.0),
            measured.len()
        );
        println!(
            "peak memory: {:.1} MiB",
            report["peak_rss_mib"].as_f64().unwrap_or(0.0)
        );
    }
    Ok(Exit::Success)
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{} cores, {cpu}, {} {}",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        std::env::consts::OS,
        kernel.trim()
    )
}

/// Peak resident memory of this process (VmHWM).
pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Writes a project with a `bench` pipeline of `stages` trivial stages: stage 0 reads a seed
/// file, stage i reads the outputs of one to three earlier stages.
pub fn generate_dag(dir: &std::path::Path, stages: usize, cache_dir: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(dir.join("data"))?;
    std::fs::create_dir_all(dir.join("pipelines"))?;
    std::fs::write(dir.join("data/seed.jsonl"), "{\"n\": 1}\n")?;
    std::fs::write(
        dir.join("baton.toml"),
        format!("[runtime]\ncache-dir = {cache_dir:?}\n"),
    )?;
    let mut text = String::new();
    for i in 0..stages {
        // One to three earlier stages, spread out so that many stages share a wave.
        let mut deps: Vec<usize> = match i {
            0 => vec![],
            _ => [
                Some(i / 2),
                (i % 2 == 0).then(|| i * 3 / 4),
                (i % 3 == 0).then(|| i.saturating_sub(3 + i % 5)),
            ]
            .into_iter()
            .flatten()
            .collect(),
        };
        deps.sort();
        deps.dedup();
        deps.retain(|&d| d < i);
        let inputs: Vec<String> = if deps.is_empty() {
            vec!["\"data/seed.jsonl\"".into()]
        } else {
            deps.iter()
                .map(|d| format!("\"out/s{d}/v.jsonl\""))
                .collect()
        };
        text.push_str(&format!(
            "[[stage]]\nid = \"s{i}\"\nplugin = \"jsonl-transform\"\ninputs = [{}]\noutputs = [\"v.jsonl\"]\nparams = {{ filter = \"length\", mode = \"slurp\", output = \"v.jsonl\" }}\n\n",
            inputs.join(", ")
        ));
    }
    std::fs::write(dir.join("pipelines/bench.toml"), text)
}

async fn pipeline_bench(settings: &Settings, args: &PipelineBench, format: Format) -> CliResult {
    let dir = tempfile::tempdir().map_err(runtime)?;
    let cache = settings.runtime.cache_dir.to_string_lossy().into_owned();
    generate_dag(dir.path(), args.stages, &cache).map_err(runtime)?;
    let env = |name: &str| (name == "BATON_SYNC").then(|| args.sync.clone());
    let bench_config =
        Settings::load(dir.path(), None, &Overrides::default(), &env).map_err(runtime)?;
    let started = Instant::now();
    let graph = pipeline_run::load_graph(&bench_config, "bench").map_err(runtime)?;
    let load_seconds = started.elapsed().as_secs_f64();
    let plan = pipeline_run::dry_plan(&bench_config, &graph, &Filters::default(), false, None)
        .map_err(runtime)?;
    let plan_seconds = started.elapsed().as_secs_f64();
    // Each run makes its runtime when it first needs one, as `pipeline run` does: the
    // cached rerun makes none.
    let rt = || LazyRuntime::new(&bench_config);
    let request = || pipeline_run::RunRequest {
        filters: Filters::default(),
        force: false,
        force_wave: None,
        continue_on_error: false,
        jobs: args.jobs,
        resume: None,
        env: Default::default(),
        events: Arc::new(|_: &baton_engine::pipeline::events::StageEvent| {}),
    };
    let started = Instant::now();
    let cpu_started = process_cpu();
    let (_keep, never) = root::never_stop();
    let first = pipeline_run::run(&bench_config, rt(), graph.clone(), request(), never.clone())
        .await
        .map_err(runtime)?;
    let run_seconds = started.elapsed().as_secs_f64();
    let run_cpu = process_cpu().saturating_sub(cpu_started).as_secs_f64();
    let started = Instant::now();
    let cpu_started = process_cpu();
    let second = pipeline_run::run(&bench_config, rt(), graph, request(), never)
        .await
        .map_err(runtime)?;
    let rerun_seconds = started.elapsed().as_secs_f64();
    let rerun_cpu = process_cpu().saturating_sub(cpu_started).as_secs_f64();
    let cached = second
        .stages
        .iter()
        .filter(|s| s.state == baton_engine::pipeline::events::StageStatus::Cached)
        .count();
    let report = json!({
        "machine": machine(),
        "build": if cfg!(debug_assertions) { "debug" } else { "release" },
        "stages": args.stages,
        "waves": plan.waves,
        "jobs": args.jobs,
        "validate_and_plan_ms": plan_seconds * 1000.0,
        "of_which_parse_and_validate_ms": load_seconds * 1000.0,
        "sync": args.sync,
        "run_seconds": run_seconds,
        "run_cpu_seconds": run_cpu,
        "run_degraded": first.degraded,
        "cached_rerun_seconds": rerun_seconds,
        "cached_rerun_cpu_seconds": rerun_cpu,
        "cached_stages": cached,
    });
    if format == Format::Json {
        output::json(&report);
    } else {
        println!(
            "{INFO} machine: {}, build: {}",
            report["machine"], report["build"]
        );
        println!(
            "{} stages in {} waves, {} at once, store.sync = {}",
            args.stages, plan.waves, args.jobs, args.sync
        );
        println!(
            "validate + plan: {:.1} ms (parse + validate {:.1} ms)",
            plan_seconds * 1000.0,
            load_seconds * 1000.0
        );
        println!(
            "full run: {run_seconds:.2} s (CPU {run_cpu:.2} s){}",
            if first.degraded { " (DEGRADED)" } else { "" }
        );
        println!(
            "rerun, everything cached: {:.1} ms (CPU {:.1} ms; {cached}/{} cached)",
            rerun_seconds * 1000.0,
            rerun_cpu * 1000.0,
            args.stages
        );
    }
    Ok(if first.degraded {
        Exit::Degraded
    } else {
        Exit::Success
    })
}
