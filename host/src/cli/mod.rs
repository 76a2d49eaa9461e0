//! The command line: global options, one module per command group, and the mapping of
//! failures to Baton's documented exit codes. This layer parses and prints; the work happens
//! in the library.

pub mod bench;
pub mod config_cmd;
pub mod exit;
pub mod job;
pub mod output;
pub mod pipeline;
pub mod plugin;
pub mod queue;

use crate::config::Config;
use crate::runtime::engine::EngineSettings;
use crate::runtime::{Runtime, RuntimeOptions};
use crate::store::plugin_state::PluginState;
use anyhow::anyhow;
use clap::{CommandFactory, Parser, Subcommand};
use exit::{CliError, CliResult, Exit, runtime, usage};
use output::{FAIL, Format};
use std::path::PathBuf;
use std::sync::Arc;

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
pub struct Cli {
    /// Use this config file instead of looking for baton.toml.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The database: a SQLite path or a postgres:// URL (setting store.db).
    #[arg(long, global = true, value_name = "PATH|URL")]
    pub db: Option<String>,
    /// Where compiled plugins are cached (setting runtime.cache-dir).
    #[arg(long, global = true, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Output for humans (table) or scripts (json).
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "table",
        env = "BATON_FORMAT"
    )]
    pub format: Format,
    /// More logging (-v info, -vv debug, -vvv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Log lines as text or JSON (on stderr).
    #[arg(long, global = true, value_parser = ["text", "json"], default_value = "text")]
    pub log_format: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Inspect, call, scaffold and configure plugins.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
    /// The work queue: enqueue, import, run, stats, list, retry, cancel.
    #[command(subcommand)]
    Queue(queue::QueueCommand),
    /// Pipelines: stage graphs run as sandboxed stage jobs.
    #[command(subcommand)]
    Pipeline(pipeline::PipelineCommand),
    /// Inspect one job.
    #[command(subcommand)]
    Job(job::JobCommand),
    /// Create, show, validate and query the configuration.
    #[command(subcommand)]
    Config(config_cmd::ConfigCommand),
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
pub fn main() -> i32 {
    let cli = Cli::parse();
    init_logging(&cli);
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
                eprintln!("{FAIL} {error}");
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
    let mut flags = Vec::new();
    if let Some(db) = &cli.db {
        flags.push(("store.db", db.clone()));
    }
    if let Some(dir) = &cli.cache_dir {
        flags.push((
            "runtime.cache-dir",
            cwd.join(dir).to_string_lossy().into_owned(),
        ));
    }
    let config = Config::load(&cwd, cli.config.as_deref(), &flags, &|name| {
        std::env::var(name).ok()
    })
    .map_err(usage)?;
    match &cli.command {
        Command::Plugin(command) => {
            plugin::run(command, &config, || open_runtime(&config), cli.format).await
        }
        Command::Config(command) => config_cmd::run(command, &config, &cwd, cli.format),
        Command::Queue(command) => {
            queue::run(command, &config, || open_runtime(&config), cli.format).await
        }
        Command::Job(command) => job::run(command, &config, cli.format),
        Command::Pipeline(command) => {
            pipeline::run(command, &config, || open_runtime(&config), cli.format).await
        }
        Command::Bench(command) => {
            bench::run(command, &config, || open_runtime(&config), cli.format).await
        }
        Command::Completions { .. } => Ok(Exit::Success),
    }
}

/// The plugin runtime for this configuration, with the plugin state store opened lazily.
fn open_runtime(config: &Config) -> Result<Runtime, CliError> {
    let max_memory = config
        .plugins
        .values()
        .filter_map(|p| p.memory.as_deref())
        .filter_map(|m| crate::config::units::parse_size(m).ok())
        .fold(config.size("defaults.memory"), u64::max)
        // `plugin call --memory` may ask for more than configured: leave room up to 4 GiB.
        .max(4 << 30);
    let state = open_state(config)?;
    Runtime::new(RuntimeOptions {
        cache_dir: config.path("runtime.cache-dir"),
        engine: EngineSettings {
            max_instances: config.count("runtime.max-instances"),
            max_memory,
        },
        state: Some(state),
    })
    .map_err(runtime)
}

fn open_state(config: &Config) -> Result<Arc<PluginState>, CliError> {
    let db = config
        .get("store.db")
        .map(|v| v.value.clone())
        .unwrap_or_default();
    if db.starts_with("postgres://") || db.starts_with("postgresql://") {
        return Err(usage(anyhow!(
            "PostgreSQL stores are not supported by this build yet; use a SQLite path for store.db"
        )));
    }
    let conn = crate::store::open_sqlite(&config.path("store.db")).map_err(runtime)?;
    Ok(Arc::new(PluginState::new(conn)))
}
