//! `baton queue enqueue | import | run | stats | list | retry-failed | cancel`.

use super::exit::{CliError, CliResult, Exit, runtime, usage};
use super::output::{self, FAIL, Format, INFO, OK};
use crate::progress::Progress;
use anyhow::anyhow;
use baton_core::clock::{format_ms, now_ms};
use baton_core::event::Event;
use baton_core::model::{JobKind, JobState, NewJob};
use baton_core::store::{Store, commit};
use baton_core::units::format_size;
use baton_engine::pipeline::assist::{Assist, WithPipelines};
use baton_engine::pipeline::events::{EventSink, StageEvent};
use baton_engine::pipeline::run::StageContext;
use baton_engine::queue::import::{BadLine, read_lines};
use baton_engine::queue::setup::{self, ResolveOptions};
use baton_engine::root::{self, Engine, LazyRuntime};
use baton_engine::scheduler::{Counters, Shutdown};
use baton_engine::settings::Settings;
use baton_runtime::Runtime;
use clap::Subcommand;
use serde_json::{Value, json};
use std::io::{BufReader, IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Jobs per import transaction. Larger transactions outgrow SQLite's page cache (2 MiB by
/// default) and spill: at 50,000 a 1,000,000-line import wrote 5 WAL frames per job and
/// took 12.6 s (6.4 s of it in the kernel); at 5,000 it takes 7.1 s.
const IMPORT_BATCH: usize = 5_000;

#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// Add one artifact. Enqueueing an id twice changes nothing.
    Enqueue {
        /// The artifact id (the idempotency key), e.g. a DOI, an arXiv id or a URL.
        id: String,
        /// Payload fields as a JSON object, e.g. '{"doi": "10.1234/x"}'.
        payload: Option<String>,
        /// Use this resolver instead of the configured chain.
        #[arg(long)]
        resolver: Option<String>,
        /// Higher runs first.
        #[arg(long, default_value_t = 0)]
        priority: i64,
    },
    /// Import JSON Lines, one artifact per line ({"id": ..., ...payload}); `-` reads stdin.
    Import {
        file: String,
        /// Import at most this many good lines.
        #[arg(long)]
        limit: Option<u64>,
    },
    /// Run the queue: resolve and download with workers, within the limits.
    Run {
        /// Concurrent jobs (setting queue.workers).
        #[arg(long)]
        workers: Option<usize>,
        /// Jobs running per resolver at once (setting queue.max-per-resolver; 0: no cap).
        #[arg(long)]
        max_per_resolver: Option<u32>,
        /// Downloads running per host at once (setting queue.max-per-host; 0: no cap).
        #[arg(long)]
        max_per_host: Option<u32>,
        /// Exit when no job is left.
        #[arg(long)]
        drain: bool,
        /// Also run the stages of pipeline runs other processes started (on this host or
        /// another sharing the store), from this project's pipeline files: every process
        /// must run the same checkout. `--drain` still waits for the work queue only.
        #[arg(long)]
        pipelines: bool,
        /// With --pipelines: the variables stages may ask for (`env` in a stage).
        #[arg(long, value_name = "FILE", requires = "pipelines")]
        env_file: Option<std::path::PathBuf>,
    },
    /// Counts per state, resolver and host, throughput, oldest ready job, recoveries.
    Stats {
        /// Refresh every 2 seconds until interrupted.
        #[arg(long)]
        watch: bool,
    },
    /// List jobs, most recently changed first.
    List {
        /// Only jobs in this state: blocked, queued, running, done, skipped, failed, cancelled.
        #[arg(long)]
        state: Option<JobState>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Put failed jobs back in the queue.
    RetryFailed {
        /// Show what would be retried, change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Only jobs that made fewer attempts than this; they may make up to this many.
        #[arg(long)]
        max_attempts: Option<u32>,
    },
    /// Cancel a job that has not ended.
    Cancel { id: String },
}

pub async fn run(
    command: &QueueCommand,
    settings: &Settings,
    rt: impl Fn() -> Result<Runtime, CliError>,
    format: Format,
) -> CliResult {
    match command {
        QueueCommand::Enqueue {
            id,
            payload,
            resolver,
            priority,
        } => enqueue(
            settings,
            id,
            payload.as_deref(),
            resolver.clone(),
            *priority,
            format,
        ),
        QueueCommand::Import { file, limit } => import(settings, file, *limit, format),
        QueueCommand::Run {
            workers,
            max_per_resolver,
            max_per_host,
            drain,
            pipelines,
            env_file,
        } => {
            let env = match env_file {
                Some(path) => baton_engine::pipeline::run::read_env_file(&settings.cwd.join(path))
                    .map_err(usage)?,
                None => Default::default(),
            };
            let options = RunFlags {
                workers: workers.unwrap_or(settings.queue.workers),
                max_per_resolver: max_per_resolver.unwrap_or(settings.queue.max_per_resolver),
                max_per_host: max_per_host.unwrap_or(settings.queue.max_per_host),
                drain: *drain,
                pipelines: pipelines.then_some(env),
            };
            run_queue(settings, Arc::new(rt()?), options, format).await
        }
        QueueCommand::Stats { watch } => stats(settings, *watch, format).await,
        QueueCommand::List { state, limit } => list(settings, *state, *limit, format),
        QueueCommand::RetryFailed {
            dry_run,
            max_attempts,
        } => retry_failed(settings, *dry_run, *max_attempts, format),
        QueueCommand::Cancel { id } => cancel(settings, id, format),
    }
}

fn store(settings: &Settings) -> Result<Box<dyn Store>, CliError> {
    crate::open::store(settings)
}

fn enqueue(
    settings: &Settings,
    id: &str,
    payload: Option<&str>,
    resolver: Option<String>,
    priority: i64,
    format: Format,
) -> CliResult {
    if id.trim().is_empty() {
        return Err(usage(anyhow!("the id must not be empty")));
    }
    baton_engine::queue::import::check_id(id).map_err(|e| usage(anyhow!(e)))?;
    let mut object = match payload {
        None => serde_json::Map::new(),
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => map,
            Ok(_) => {
                return Err(usage(anyhow!(
                    "PAYLOAD_JSON must be a JSON object, e.g. '{{\"doi\": \"10.1/x\"}}'"
                )));
            }
            Err(e) => return Err(usage(anyhow!("PAYLOAD_JSON is not valid JSON: {e}"))),
        },
    };
    object.insert("id".into(), json!(id));
    let key = baton_engine::queue::doi::idempotency_key(id);
    let job = NewJob {
        key: key.clone(),
        kind: JobKind::Resolve,
        plugin: resolver,
        payload: Value::Object(object).to_string(),
        priority,
        max_attempts: settings.queue.max_attempts,
    };
    let mut store = store(settings)?;
    let inserted = commit(store.as_mut(), now_ms(), |tx| {
        tx.enqueue(std::slice::from_ref(&job), true)
    })
    .map_err(runtime)?;
    let new = inserted.first() == Some(&true);
    let state = store
        .job(&key)
        .map_err(runtime)?
        .map(|j| j.state.as_str())
        .unwrap_or("unknown");
    if format == Format::Json {
        output::json(&json!({"id": id, "key": key, "new": new, "duplicate": !new, "state": state}));
    } else if new {
        println!("{OK} enqueued {}", output::safe(id, false));
    } else {
        println!(
            "{INFO} {} is already in the queue ({state}); nothing changed",
            output::safe(id, false)
        );
    }
    Ok(Exit::Success)
}

fn import(settings: &Settings, file: &str, limit: Option<u64>, format: Format) -> CliResult {
    let reader: Box<dyn std::io::BufRead> = if file == "-" {
        Box::new(BufReader::with_capacity(1 << 20, std::io::stdin()))
    } else {
        let path = settings.cwd.join(file);
        if path.is_dir() {
            return Err(usage(anyhow!(
                "{} is a directory: give a JSON Lines file (or `-` for standard input)",
                path.display()
            )));
        }
        let handle = std::fs::File::open(&path)
            .map_err(|e| usage(anyhow!("cannot open {}: {e}", path.display())))?;
        Box::new(BufReader::with_capacity(1 << 20, handle))
    };
    let total_bytes = (file != "-")
        .then(|| {
            std::fs::metadata(settings.cwd.join(file))
                .ok()
                .map(|m| m.len())
        })
        .flatten();
    let mut store = store(settings)?;
    let started = Instant::now();
    let (mut new, mut duplicates) = (0u64, Vec::<BadLine>::new());
    let show_progress =
        format == Format::Table && std::io::stderr().is_terminal() && !output::quiet();
    let max_attempts = settings.queue.max_attempts;
    let bad = read_lines(
        reader,
        limit,
        max_attempts,
        IMPORT_BATCH,
        |batch| {
            let lines: Vec<u64> = batch.iter().map(|(line, _)| *line).collect();
            let jobs: Vec<NewJob> = batch.into_iter().map(|(_, job)| job).collect();
            let keys: Vec<String> = jobs.iter().map(|j| j.key.clone()).collect();
            // Each batch's commit carries an event of what it added, so the ledger accounts
            // for every job even when the import is killed before its summary.
            let at = now_ms();
            let inserted = commit(store.as_mut(), at, |tx| {
                let inserted = tx.enqueue(&jobs, false)?;
                let new = inserted.iter().filter(|i| **i).count();
                tx.record_events(vec![Event::general(
                    at,
                    "imported",
                    json!({
                        "file": file,
                        "lines": [lines.first(), lines.last()],
                        "new": new,
                        "duplicate": inserted.len() - new,
                    }),
                )]);
                Ok(inserted)
            })?;
            for ((inserted, line), key) in inserted.iter().zip(lines).zip(keys) {
                if *inserted {
                    new += 1;
                } else {
                    duplicates.push(BadLine {
                        line,
                        reason: format!("duplicate id `{key}`: already in the queue"),
                    });
                }
            }
            Ok(())
        },
        |line| {
            if show_progress {
                let rate = line as f64 / started.elapsed().as_secs_f64().max(0.001);
                eprint!(
                    "\r▶ {line} lines read ({rate:.0}/s){}",
                    total_bytes
                        .map(|b| format!(" of a {} file", format_size(b)))
                        .unwrap_or_default()
                );
                let _ = std::io::stderr().flush();
            }
        },
    )
    .map_err(runtime)?;
    if show_progress {
        eprintln!();
    }
    let elapsed = started.elapsed();
    let summary = Event::general(
        now_ms(),
        "import",
        json!({"file": file, "new": new, "duplicate": duplicates.len(), "bad": bad.len()}),
    );
    commit(store.as_mut(), now_ms(), |tx| {
        tx.record_events(vec![summary]);
        Ok(())
    })
    .map_err(runtime)?;
    let mut rejected: Vec<BadLine> = bad.clone();
    rejected.extend(duplicates.iter().cloned());
    rejected.sort_by_key(|b| b.line);
    if format == Format::Json {
        output::json(&json!({
            "new": new,
            "duplicate": duplicates.len(),
            "bad": bad.len(),
            "rejected": rejected,
            "seconds": elapsed.as_secs_f64(),
        }));
    } else {
        // Bad lines are errors; a duplicate id is what makes a re-import idempotent, so it is
        // counted, and listed only in the JSON document.
        for line in bad.iter().take(100) {
            eprintln!(
                "{FAIL} line {}: {}",
                line.line,
                output::safe(&line.reason, false)
            );
        }
        if bad.len() > 100 {
            eprintln!(
                "{INFO} … and {} more bad lines (use --format json for all)",
                bad.len() - 100
            );
        }
        if let Some(first) = duplicates.first()
            && !output::quiet()
        {
            eprintln!(
                "{INFO} {} line(s) name an id already in the queue (first: line {}), left as they were; --format json lists them",
                duplicates.len(),
                first.line
            );
        }
        println!(
            "{OK} imported {new} new, {} duplicate, {} bad in {:.2}s",
            duplicates.len(),
            bad.len(),
            elapsed.as_secs_f64()
        );
    }
    Ok(if bad.is_empty() {
        Exit::Success
    } else {
        Exit::Degraded
    })
}

struct RunFlags {
    workers: usize,
    max_per_resolver: u32,
    max_per_host: u32,
    drain: bool,
    /// `--pipelines`, with the `--env-file` variables.
    pipelines: Option<std::collections::HashMap<String, String>>,
}

async fn run_queue(
    settings: &Settings,
    rt: Arc<Runtime>,
    flags: RunFlags,
    format: Format,
) -> CliResult {
    let most = baton_engine::settings::MAX_WORKERS as usize;
    if flags.workers == 0 || flags.workers > most {
        return Err(usage(anyhow!("--workers must be from 1 to {most}")));
    }
    let caps = root::KeyCaps {
        per_host: flags.max_per_host,
        per_resolver: flags.max_per_resolver,
    };
    let engine = Engine::start(settings, caps).map_err(runtime)?;
    let worker = setup::resolve_worker(
        settings,
        rt.clone(),
        engine.limiter.clone(),
        engine.store().map_err(runtime)?,
        ResolveOptions {
            max_per_resolver: flags.max_per_resolver,
        },
    )
    .await
    .map_err(usage)?;
    let options = baton_engine::scheduler::RunOptions {
        drain: flags.drain,
        any_run: flags.pipelines.is_some(),
        ..engine.options(flags.workers)
    };
    let worker = WithPipelines {
        inner: worker,
        assist: match flags.pipelines {
            Some(env) => {
                let events: EventSink = if format == Format::Table {
                    Arc::new(crate::pipeline::print_stage)
                } else {
                    Arc::new(|_: &StageEvent| {})
                };
                Some(Assist::new(
                    StageContext::new(
                        settings,
                        LazyRuntime::ready(settings, rt),
                        &engine,
                        env,
                        events,
                    )
                    .map_err(runtime)?,
                ))
            }
            None => None,
        },
    };
    let shutdown = root::signals(announce_shutdown);
    let counters = Arc::new(Counters::default());
    let started = Instant::now();
    // The work waiting as the run starts; work added meanwhile raises it.
    let backlog = engine
        .store()
        .and_then(|store| store.stats(now_ms()))
        .map(|stats| {
            ["queued", "running"]
                .iter()
                .filter_map(|state| stats.states.get(state))
                .sum::<i64>()
        })
        .map_err(runtime)?;
    let progress = Arc::new(Progress::new(
        u64::try_from(backlog).unwrap_or(0),
        "jobs",
        format,
    ));
    let ticker = tokio::spawn(follow_counters(progress.clone(), counters.clone()));
    let stopped = shutdown.clone();
    let result = engine
        .run_counting(Arc::new(worker), options, shutdown, counters.clone())
        .await;
    // A drain a signal cut short did not drain: scripts chaining `--drain && next` must know.
    let interrupted = flags.drain && *stopped.borrow() != Shutdown::Running;
    ticker.abort();
    report_counters(&progress, &counters);
    progress.finish();
    let closed = engine.close();
    result.map_err(runtime)?;
    closed.map_err(runtime)?;
    let elapsed = started.elapsed().as_secs_f64();
    let get = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    let summary = json!({
        "done": get(&counters.done),
        "skipped": get(&counters.skipped),
        "failed": get(&counters.failed),
        "retried": get(&counters.retried),
        "snoozed": get(&counters.snoozed),
        "recovered": get(&counters.recovered),
        "released": get(&counters.released),
        "fenced": get(&counters.fenced),
        "seconds": elapsed,
        "jobs_per_second": counters.finished() as f64 / elapsed.max(0.001),
        "interrupted": interrupted,
    });
    if format == Format::Json {
        output::json(&summary);
    } else {
        println!(
            "{} done {} · skipped {} · failed {} · retried {} · snoozed {} · recovered {} · released {} in {:.1}s ({:.0} jobs/s)",
            if get(&counters.failed) > 0 { FAIL } else { OK },
            summary["done"],
            summary["skipped"],
            summary["failed"],
            summary["retried"],
            summary["snoozed"],
            summary["recovered"],
            summary["released"],
            elapsed,
            summary["jobs_per_second"].as_f64().unwrap_or(0.0)
        );
        if get(&counters.failed) > 0 {
            println!(
                "{INFO} see `baton queue list --state failed`, then `baton queue retry-failed`"
            );
        }
    }
    if interrupted && format != Format::Json {
        println!("{INFO} interrupted before the queue drained: `baton queue run --drain` goes on");
    }
    Ok(if get(&counters.failed) > 0 || interrupted {
        Exit::Degraded
    } else {
        Exit::Success
    })
}

/// Tells the operator what a signal did (the engine installs the handlers).
pub fn announce_shutdown(level: Shutdown) {
    match level {
        Shutdown::StopClaiming => eprintln!(
            "\n{INFO} stopping: finishing the jobs in flight (signal again to release them and exit now)"
        ),
        Shutdown::Abort => eprintln!("\n{INFO} releasing the jobs in flight and exiting"),
        Shutdown::Running => {}
    }
}

/// Feeds the run's counters to its progress line until aborted.
async fn follow_counters(progress: Arc<Progress>, counters: Arc<Counters>) {
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        report_counters(&progress, &counters);
    }
}

fn report_counters(progress: &Progress, counters: &Counters) {
    progress.update(counters.finished(), counters.failed.load(Ordering::Relaxed));
}

async fn stats(settings: &Settings, watch: bool, format: Format) -> CliResult {
    let store = store(settings)?;
    loop {
        let mut stats = store.stats(now_ms()).map_err(runtime)?;
        baton_engine::owner::judge_runs(&mut stats.runs);
        if format == Format::Json {
            output::json(&stats);
        } else {
            if watch {
                print!("\x1b[2J\x1b[H");
            }
            let rows: Vec<Vec<String>> = stats
                .states
                .iter()
                .map(|(state, count)| vec![state.to_string(), count.to_string()])
                .collect();
            output::table(&["state", "jobs"], &rows);
            println!();
            let rows: Vec<Vec<String>> = stats
                .resolvers
                .iter()
                .map(|(name, states)| {
                    let parts: Vec<String> =
                        states.iter().map(|(s, n)| format!("{s} {n}")).collect();
                    vec![name.clone(), parts.join(", ")]
                })
                .collect();
            if !rows.is_empty() {
                output::table(&["resolver", "jobs"], &rows);
                println!();
            }
            let rows: Vec<Vec<String>> = stats
                .hosts
                .iter()
                .map(|(host, h)| {
                    vec![
                        host.clone(),
                        h.downloads.to_string(),
                        format_size(h.bytes as u64),
                    ]
                })
                .collect();
            if !rows.is_empty() {
                output::table(&["host", "downloads", "bytes"], &rows);
                println!();
            }
            for run in &stats.runs {
                let who = match (run.state, &run.owner) {
                    ("interrupted", _) => format!(
                        "interrupted: its process is gone; resume it with `baton pipeline run {} --resume {}`",
                        run.pipeline, run.id
                    ),
                    (_, Some(owner)) => format!("running in {owner}"),
                    (_, None) => "running".to_string(),
                };
                println!(
                    "run {} ({}): {} jobs unfinished, {}",
                    output::safe(&run.id, false),
                    output::safe(&run.pipeline, false),
                    run.unfinished,
                    output::safe(&who, false)
                );
            }
            if !stats.runs.is_empty() {
                println!();
            }
            let rows: Vec<Vec<String>> = stats
                .parked
                .iter()
                .map(|park| {
                    vec![
                        output::safe(&park.key, false),
                        baton_core::clock::format_ms(park.until),
                        output::safe(&park.reason, false),
                    ]
                })
                .collect();
            if !rows.is_empty() {
                output::table(&["parked", "until", "why"], &rows);
                println!();
            }
            println!(
                "{} jobs · {:.1} jobs/s over the last minute · oldest ready job waiting {} · {} recoveries · {} limiter denials",
                stats.total,
                stats.jobs_per_second,
                stats
                    .oldest_ready_ms
                    .map(|ms| humantime::format_duration(Duration::from_millis(
                        ms as u64 / 1000 * 1000
                    ))
                    .to_string())
                    .unwrap_or_else(|| "-".into()),
                stats.recoveries,
                stats.limiter_denials
            );
        }
        if !watch {
            return Ok(Exit::Success);
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = tokio::signal::ctrl_c() => return Ok(Exit::Success),
        }
    }
}

fn list(settings: &Settings, state: Option<JobState>, limit: usize, format: Format) -> CliResult {
    let jobs = store(settings)?.list(state, limit).map_err(runtime)?;
    if format == Format::Json {
        output::json(&json!({"jobs": jobs}));
        return Ok(Exit::Success);
    }
    let rows: Vec<Vec<String>> = jobs
        .iter()
        .map(|job| {
            vec![
                job.key.clone(),
                job.state.to_string(),
                format!("{}/{}", job.attempts, job.max_attempts),
                format_ms(job.updated_at),
                job.wait_reason
                    .clone()
                    .or_else(|| job.last_error.clone())
                    .unwrap_or_default(),
            ]
        })
        .collect();
    output::table(&["id", "state", "attempts", "updated", "reason"], &rows);
    Ok(Exit::Success)
}

fn retry_failed(
    settings: &Settings,
    dry_run: bool,
    max_attempts: Option<u32>,
    format: Format,
) -> CliResult {
    let mut store = store(settings)?;
    let keys = commit(store.as_mut(), now_ms(), |tx| {
        tx.retry_failed(max_attempts, dry_run)
    })
    .map_err(runtime)?;
    if format == Format::Json {
        output::json(&json!({"dry_run": dry_run, "count": keys.len(), "jobs": keys}));
    } else {
        for key in keys.iter().take(50) {
            println!("  {}", output::safe(key, false));
        }
        let verb = if dry_run { "would retry" } else { "retried" };
        println!("{OK} {verb} {} failed job(s)", keys.len());
    }
    if !dry_run {
        crate::audited::record(
            settings,
            "queue.retry-failed",
            json!({"max_attempts": max_attempts}),
            json!({"retried": keys.len(), "jobs": keys.iter().take(1000).collect::<Vec<_>>()}),
        )?;
    }
    Ok(Exit::Success)
}

fn cancel(settings: &Settings, id: &str, format: Format) -> CliResult {
    let mut store = store(settings)?;
    let key = baton_engine::queue::doi::idempotency_key(id);
    let state = commit(store.as_mut(), now_ms(), |tx| tx.cancel(&key)).map_err(runtime)?;
    let Some(state) = state else {
        return Err(usage(anyhow!("no job `{id}` in the queue")));
    };
    if format == Format::Json {
        output::json(&json!({"id": id, "was": state, "cancelled": !state.is_final()}));
    } else if state.is_final() {
        println!(
            "{INFO} {} already ended ({state}); nothing changed",
            output::safe(id, false)
        );
    } else {
        println!("{OK} cancelled {} (was {state})", output::safe(id, false));
    }
    crate::audited::record(
        settings,
        "queue.cancel",
        json!({"id": id}),
        json!({"was": state, "cancelled": !state.is_final()}),
    )?;
    Ok(Exit::Success)
}
