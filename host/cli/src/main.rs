//! The `baton` binary: global options, one module per command group, and the mapping of
//! failures to Baton's documented exit codes. This layer parses and prints; the work happens
//! in the engine, which reports through return values and events.

mod agent;
mod attach;
mod audited;
mod bench;
mod bench_agents;
mod bench_dashboard;
mod config_cmd;
mod dashboard;
mod exit;
mod hosts;
mod job;
mod maintenance;
mod open;
mod output;
mod pipeline;
mod plugin;
mod plugin_add;
mod progress;
mod queue;
mod recover;
mod registry;
mod scaffold;
mod schedule;
mod serve;
mod store_cmd;

use anyhow::anyhow;
use baton_engine::settings::{Overrides, Settings};
use clap::{CommandFactory, Parser, Subcommand};
use exit::{CliResult, Exit, runtime, usage};
use output::{FAIL, Format};
use std::path::PathBuf;

const AFTER_HELP: &str = "\
Exit codes: 0 success, 10 finished with failures, 20 usage or configuration error,
30 runtime error (including a plugin that failed).

Configuration: flags > baton.toml (found in this directory or a parent) > BATON_*
environment > defaults. See `baton config show`.";

#[derive(Debug, Parser)]
#[command(
    name = "baton",
    version,
    about = "A durable orchestrator whose resolvers, stages and agent adapters are sandboxed WebAssembly plugins",
    after_help = AFTER_HELP
)]
struct Cli {
    /// Use this config file instead of looking for baton.toml.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The database: a SQLite path or a postgres:// URL (setting store.db).
    #[arg(long, global = true, value_name = "PATH|URL")]
    db: Option<String>,
    /// Where compiled plugins are cached (setting runtime.cache-dir).
    #[arg(long, global = true, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Output for humans (table) or scripts (json).
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "table",
        env = "BATON_FORMAT"
    )]
    format: Format,
    /// More logging (-v info, -vv debug, -vvv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Quiet: no progress lines and no per-stage or per-line status lines, only results
    /// and errors; log lines of errors only.
    #[arg(short, long, global = true)]
    quiet: bool,
    /// Log lines as text or JSON (on stderr).
    #[arg(long, global = true, value_parser = ["text", "json"], default_value = "text")]
    log_format: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Inspect, call, scaffold and configure plugins.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
    /// The work queue: enqueue, import, run, stats, list, retry, cancel.
    #[command(subcommand)]
    Queue(queue::QueueCommand),
    /// Pipelines: stage graphs run as sandboxed stage jobs.
    #[command(subcommand)]
    Pipeline(pipeline::PipelineCommand),
    /// Inspect, follow, retry and recover jobs (and follow pipeline runs).
    #[command(subcommand)]
    Job(job::JobCommand),
    /// Create, show, validate and query the configuration.
    #[command(subcommand)]
    Config(config_cmd::ConfigCommand),
    /// Move the queue to another store (e.g. from SQLite to a PostgreSQL server).
    #[command(subcommand)]
    Store(store_cmd::StoreCommand),
    /// The processes working on the store (every `queue run` and `pipeline run`, on any host)
    /// with their last heartbeat, and the leader that runs maintenance.
    Hosts,
    /// Agents: run prompts through an adapter, list agent sessions, check and import prompt
    /// registries.
    #[command(subcommand)]
    Agent(agent::AgentCommand),
    /// Remove finished jobs, runs, run logs, ledger files, unreferenced artifacts and
    /// compile-cache entries older than N days; report counts and bytes per kind.
    #[command(
        after_help = "Never removes what a queued, running or blocked job or the last \
successful run of a stage needs, nor anything Baton did not create.\n\nExamples:\n  \
baton cleanup --keep-days 30 --dry-run\n  baton cleanup --keep-days 30 --format json"
    )]
    Cleanup {
        /// Keep what ended within this many days.
        #[arg(long, value_name = "N")]
        keep_days: u32,
        /// Report what would be removed; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Compare two pipeline runs' outputs (or two directories) by SHA-256: missing, extra,
    /// different. Exit 0 when the same, 10 when they differ.
    #[command(
        after_help = "Examples:\n  baton compare quickstart-20261201T101500123 quickstart-20261202T101500456\n  \
baton compare out/ /srv/previous/out/ --format json"
    )]
    Compare {
        /// A pipeline run id or a directory.
        a: String,
        /// A pipeline run id or a directory.
        b: String,
    },
    /// Scheduled pipeline runs: systemd user timers, launchd agents or crontab lines.
    #[command(subcommand)]
    Schedule(schedule::ScheduleCommand),
    /// A live terminal view: jobs by state, running, waiting and why, failures, workers,
    /// limits.
    #[command(after_help = dashboard::AFTER_HELP)]
    Dashboard(dashboard::DashboardArgs),
    /// The web dashboard (read-only unless given an admin token) and Prometheus metrics.
    #[command(after_help = serve::AFTER_HELP)]
    Serve(serve::ServeArgs),
    /// Benchmarks through the real store, scheduler and plugins.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Print a shell completion script, e.g. `baton completions bash > /etc/bash_completion.d/baton`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

fn init_logging(cli: &Cli) {
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        (false, _) => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("BATON_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("{level},cranelift=warn,wasmtime=warn"))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if cli.log_format == "json" {
        builder.json().init();
    } else {
        builder.with_target(false).init();
    }
}

/// Parses the command line, runs the command and returns the process exit code.
fn run_cli() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            // Help and version go to stdout and succeed; every other parse failure is a
            // usage error with Baton's documented code (20), not clap's 2.
            let _ = error.print();
            return match error.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    Exit::Success as i32
                }
                _ => Exit::Usage as i32,
            };
        }
    };
    init_logging(&cli);
    output::set_quiet(cli.quiet);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("{FAIL} cannot start the async runtime: {e}");
            return Exit::Runtime as i32;
        }
    };
    let format = cli.format;
    match runtime.block_on(run(cli)) {
        Ok(exit) => exit as i32,
        Err(error) => {
            if format == Format::Json {
                output::json(&serde_json::json!({
                    "ok": false,
                    "error": {"code": if error.exit == Exit::Usage { "usage" } else { "runtime" }, "message": error.to_string()}
                }));
            } else {
                eprintln!("{FAIL} {}", output::safe(&error.to_string(), true));
            }
            error.exit as i32
        }
    }
}

async fn run(cli: Cli) -> CliResult {
    if let Command::Completions { shell } = &cli.command {
        clap_complete::generate(*shell, &mut Cli::command(), "baton", &mut std::io::stdout());
        return Ok(Exit::Success);
    }
    let cwd = std::env::current_dir().map_err(|e| runtime(anyhow!("no current directory: {e}")))?;
    let overrides = Overrides {
        db: cli.db.clone(),
        cache_dir: cli.cache_dir.as_ref().map(|dir| cwd.join(dir)),
    };
    let settings = Settings::load(&cwd, cli.config.as_deref(), &overrides, &|name| {
        std::env::var(name).ok()
    })
    .map_err(usage)?;
    let settings = &settings;
    match &cli.command {
        Command::Plugin(command) => {
            plugin::run(command, settings, || open::runtime(settings), cli.format).await
        }
        Command::Config(command) => config_cmd::run(command, settings, &cwd, cli.format),
        Command::Queue(command) => {
            queue::run(command, settings, || open::runtime(settings), cli.format).await
        }
        Command::Job(command) => job::run(command, settings, cli.format).await,
        Command::Hosts => hosts::run(settings, cli.format),
        Command::Dashboard(args) => dashboard::run(args, settings, cli.format),
        Command::Serve(args) => serve::run(args, settings, cli.format).await,
        Command::Store(command) => store_cmd::run(command, settings, cli.format),
        Command::Pipeline(command) => {
            pipeline::run(command, settings, || open::runtime(settings), cli.format).await
        }
        Command::Agent(command) => {
            agent::run(command, settings, || open::runtime(settings), cli.format).await
        }
        Command::Cleanup { keep_days, dry_run } => {
            maintenance::cleanup(settings, *keep_days, *dry_run, cli.format)
        }
        Command::Compare { a, b } => maintenance::compare(settings, a, b, cli.format),
        Command::Schedule(command) => schedule::run(command, settings, cli.format).await,
        Command::Bench(command) => bench::run(command, settings, cli.format).await,
        Command::Completions { .. } => Ok(Exit::Success),
    }
}

fn main() {
    // Writing into a closed pipe (`baton queue list | head -1`) ends the process quietly, as
    // Unix tools do, instead of panicking on EPIPE: restore the default SIGPIPE action.
    // SAFETY: no other thread exists yet; SIG_DFL is a valid disposition for SIGPIPE.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    // Errors inside the WebAssembly runtime capture a host backtrace when RUST_BACKTRACE is
    // set, and some of them reach the guest as text (e.g. a failed HTTP body stream): keep
    // host internals out of plugins, and the cost out of every error, unless asked for.
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        // SAFETY: no other thread exists yet.
        unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") };
    }
    std::process::exit(run_cli());
}
