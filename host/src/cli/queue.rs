//! `baton queue enqueue | import | run | stats | list | retry-failed | cancel`.

use super::exit::{CliError, CliResult, Exit, runtime, usage};
use super::output::{self, FAIL, Format, INFO, OK};
use crate::config::Config;
use crate::ledger::{Event, LedgerFile};
use crate::queue::import::{BadLine, read_lines};
use crate::queue::model::{JobState, NewJob, format_ms, now_ms};
use crate::queue::setup;
use crate::runtime::Runtime;
use crate::scheduler::writer::Writer;
use crate::scheduler::{self, Counters, RunOptions};
use crate::store::ops::{Op, OpResult, QueueStore};
use anyhow::anyhow;
use clap::Subcommand;
use serde_json::{Value, json};
use std::io::{BufReader, IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Jobs per import transaction.
const IMPORT_BATCH: usize = 50_000;

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
    },
    /// Counts per state, resolver and host, throughput, oldest ready job, recoveries.
    Stats {
        /// Refresh every 2 seconds until interrupted.
        #[arg(long)]
        watch: bool,
    },
    /// List jobs, most recently changed first.
    List {
        #[arg(long, value_enum)]
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
    config: &Config,
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
            config,
            id,
            payload.as_deref(),
            resolver.clone(),
            *priority,
            format,
        ),
        QueueCommand::Import { file, limit } => import(config, file, *limit, format),
        QueueCommand::Run {
            workers,
            max_per_resolver,
            max_per_host,
            drain,
        } => {
            let options = RunFlags {
                workers: workers.unwrap_or(config.count("queue.workers") as usize),
                max_per_resolver: max_per_resolver
                    .unwrap_or(config.count("queue.max-per-resolver")),
                max_per_host: max_per_host.unwrap_or(config.count("queue.max-per-host")),
                drain: *drain,
            };
            run_queue(config, Arc::new(rt()?), options, format).await
        }
        QueueCommand::Stats { watch } => stats(config, *watch, format).await,
        QueueCommand::List { state, limit } => list(config, *state, *limit, format),
        QueueCommand::RetryFailed {
            dry_run,
            max_attempts,
        } => retry_failed(config, *dry_run, *max_attempts, format),
        QueueCommand::Cancel { id } => cancel(config, id, format),
    }
}

fn store(config: &Config) -> Result<crate::store::sqlite_queue::SqliteQueue, CliError> {
    setup::open_store(config).map_err(runtime)
}

fn ledger(config: &Config) -> LedgerFile {
    LedgerFile::new(&config.state_dir().join("ledger"))
}

fn append_ledger(config: &Config, events: &[Event]) {
    if let Err(e) = ledger(config).append(events) {
        eprintln!("{FAIL} cannot write the ledger file: {e:#}");
    }
}

fn enqueue(
    config: &Config,
    id: &str,
    payload: Option<&str>,
    resolver: Option<String>,
    priority: i64,
    format: Format,
) -> CliResult {
    if id.trim().is_empty() {
        return Err(usage(anyhow!("the id must not be empty")));
    }
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
    let job = NewJob {
        key: id.to_string(),
        kind: "resolve",
        plugin: resolver,
        payload: Value::Object(object).to_string(),
        priority,
        max_attempts: config.count("queue.max-attempts"),
    };
    let mut store = store(config)?;
    let (results, events) = store
        .commit(
            vec![Op::Enqueue {
                jobs: vec![job],
                ledger: true,
            }],
            now_ms(),
        )
        .map_err(runtime)?;
    append_ledger(config, &events);
    let new = matches!(results.first(), Some(OpResult::Enqueued(v)) if v.first() == Some(&true));
    let state = store
        .job(id)
        .map_err(runtime)?
        .map(|j| j.state.as_str())
        .unwrap_or("unknown");
    if format == Format::Json {
        output::json(&json!({"id": id, "new": new, "duplicate": !new, "state": state}));
    } else if new {
        println!("{OK} enqueued {id}");
    } else {
        println!("{INFO} {id} is already in the queue ({state}); nothing changed");
    }
    Ok(Exit::Success)
}

fn import(config: &Config, file: &str, limit: Option<u64>, format: Format) -> CliResult {
    let reader: Box<dyn std::io::BufRead> = if file == "-" {
        Box::new(BufReader::with_capacity(1 << 20, std::io::stdin()))
    } else {
        let path = config.cwd.join(file);
        let handle = std::fs::File::open(&path)
            .map_err(|e| usage(anyhow!("cannot open {}: {e}", path.display())))?;
        Box::new(BufReader::with_capacity(1 << 20, handle))
    };
    let total_bytes = (file != "-")
        .then(|| {
            std::fs::metadata(config.cwd.join(file))
                .ok()
                .map(|m| m.len())
        })
        .flatten();
    let mut store = store(config)?;
    let started = Instant::now();
    let (mut new, mut duplicates) = (0u64, Vec::<BadLine>::new());
    let show_progress = format == Format::Table && std::io::stderr().is_terminal();
    let max_attempts = config.count("queue.max-attempts");
    let bad = read_lines(
        reader,
        limit,
        max_attempts,
        IMPORT_BATCH,
        |batch| {
            let lines: Vec<u64> = batch.iter().map(|(line, _)| *line).collect();
            let jobs: Vec<NewJob> = batch.into_iter().map(|(_, job)| job).collect();
            let keys: Vec<String> = jobs.iter().map(|j| j.key.clone()).collect();
            let (results, _) = store.commit(
                vec![Op::Enqueue {
                    jobs,
                    ledger: false,
                }],
                now_ms(),
            )?;
            if let Some(OpResult::Enqueued(inserted)) = results.first() {
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
            }
            Ok(())
        },
        |line| {
            if show_progress {
                let rate = line as f64 / started.elapsed().as_secs_f64().max(0.001);
                eprint!(
                    "\r▶ {line} lines read ({rate:.0}/s){}",
                    total_bytes
                        .map(|b| format!(" of a {} file", crate::config::units::format_size(b)))
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
    let summary = Event {
        at: now_ms(),
        job_id: None,
        key: None,
        event: "import",
        data: json!({"file": file, "new": new, "duplicate": duplicates.len(), "bad": bad.len()}),
    };
    let (_, events) = store
        .commit(vec![Op::Events(vec![summary])], now_ms())
        .map_err(runtime)?;
    append_ledger(config, &events);
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
        for line in rejected.iter().take(100) {
            eprintln!("{FAIL} line {}: {}", line.line, line.reason);
        }
        if rejected.len() > 100 {
            eprintln!(
                "{INFO} … and {} more (use --format json for all)",
                rejected.len() - 100
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
}

async fn run_queue(
    config: &Config,
    rt: Arc<Runtime>,
    flags: RunFlags,
    format: Format,
) -> CliResult {
    if flags.workers == 0 {
        return Err(usage(anyhow!("--workers must be at least 1")));
    }
    let setup::RunSetup { context, chain } = setup::work_context(config, rt, flags.max_per_host)
        .await
        .map_err(usage)?;
    let store = store(config)?;
    let dead_owners = setup::dead_local_owners(&store.lease_owners().map_err(runtime)?);
    let (writer, writer_thread) =
        Writer::start(Box::new(store), ledger(config)).map_err(runtime)?;
    let options = RunOptions {
        max_per_resolver: (flags.max_per_resolver > 0).then_some(flags.max_per_resolver),
        first_resolver: chain.first().cloned().unwrap_or_default(),
        drain: flags.drain,
        dead_owners,
        ..RunOptions::from_config(config, flags.workers)
    };
    let (signal_tx, signal_rx) = tokio::sync::watch::channel(scheduler::RUNNING);
    tokio::spawn(forward_signals(signal_tx));
    let counters = Arc::new(Counters::default());
    let started = Instant::now();
    let show_progress = format == Format::Table && std::io::stderr().is_terminal();
    let progress = show_progress.then(|| tokio::spawn(progress_line(counters.clone(), started)));
    let result = scheduler::run(
        Arc::new(context),
        writer,
        options,
        signal_rx,
        counters.clone(),
    )
    .await;
    if let Some(progress) = progress {
        progress.abort();
        eprintln!();
    }
    let _ = writer_thread.join();
    result.map_err(runtime)?;
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
    Ok(if get(&counters.failed) > 0 {
        Exit::Degraded
    } else {
        Exit::Success
    })
}

/// First SIGINT/SIGTERM: stop claiming; second: release leases and stop.
async fn forward_signals(levels: tokio::sync::watch::Sender<u8>) {
    let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    else {
        return;
    };
    for level in [scheduler::STOP_CLAIMING, scheduler::ABORT] {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        if level == scheduler::STOP_CLAIMING {
            eprintln!(
                "\n{INFO} stopping: finishing the jobs in flight (signal again to release them and exit now)"
            );
        } else {
            eprintln!("\n{INFO} releasing the jobs in flight and exiting");
        }
        let _ = levels.send(level);
    }
}

async fn progress_line(counters: Arc<Counters>, started: Instant) {
    let get = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let rate = counters.finished() as f64 / started.elapsed().as_secs_f64().max(0.001);
        eprint!(
            "\r▶ done {} · skipped {} · failed {} · retrying {} · running {} · {rate:.0} jobs/s   ",
            get(&counters.done),
            get(&counters.skipped),
            get(&counters.failed),
            get(&counters.retried) + get(&counters.snoozed),
            get(&counters.running)
        );
        let _ = std::io::stderr().flush();
    }
}

async fn stats(config: &Config, watch: bool, format: Format) -> CliResult {
    let store = store(config)?;
    loop {
        let stats = store.stats(now_ms()).map_err(runtime)?;
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
                        crate::config::units::format_size(h.bytes as u64),
                    ]
                })
                .collect();
            if !rows.is_empty() {
                output::table(&["host", "downloads", "bytes"], &rows);
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

fn list(config: &Config, state: Option<JobState>, limit: usize, format: Format) -> CliResult {
    let jobs = store(config)?.list(state, limit).map_err(runtime)?;
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
    config: &Config,
    dry_run: bool,
    max_attempts: Option<u32>,
    format: Format,
) -> CliResult {
    let mut store = store(config)?;
    let (keys, events) = store
        .retry_failed(max_attempts, dry_run, now_ms())
        .map_err(runtime)?;
    append_ledger(config, &events);
    if format == Format::Json {
        output::json(&json!({"dry_run": dry_run, "count": keys.len(), "jobs": keys}));
    } else {
        for key in keys.iter().take(50) {
            println!("  {key}");
        }
        let verb = if dry_run { "would retry" } else { "retried" };
        println!("{OK} {verb} {} failed job(s)", keys.len());
    }
    Ok(Exit::Success)
}

fn cancel(config: &Config, id: &str, format: Format) -> CliResult {
    let mut store = store(config)?;
    let (state, events) = store.cancel(id, now_ms()).map_err(runtime)?;
    append_ledger(config, &events);
    let Some(state) = state else {
        return Err(usage(anyhow!("no job `{id}` in the queue")));
    };
    if format == Format::Json {
        output::json(&json!({"id": id, "was": state, "cancelled": !state.is_final()}));
    } else if state.is_final() {
        println!("{INFO} {id} already ended ({state}); nothing changed");
    } else {
        println!("{OK} cancelled {id} (was {state})");
    }
    Ok(Exit::Success)
}
