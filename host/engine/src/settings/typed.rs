//! The typed settings: the layered values (flags > `baton.toml` > `BATON_*` > defaults) are
//! parsed once, here, into one struct per area. Every layer below the CLI takes these
//! structs; nothing else reads a setting by its string key, so a mistyped key is a compile
//! error, and `config show` keeps the source of every value through [`Settings::config`].

use super::Config;
use super::plugins::PluginEntry;
use crate::fetch::policy::{EgressPolicy, parse_range};
use crate::limiter::LimitSpec;
use anyhow::{Result, anyhow};
use baton_core::store::Durability;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Values given on the command line, which beat every other layer.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--db`: a SQLite path or a `postgres://` URL (setting `store.db`).
    pub db: Option<String>,
    /// `--cache-dir`, already resolved against the current directory (setting
    /// `runtime.cache-dir`).
    pub cache_dir: Option<PathBuf>,
}

/// Where the store lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// A SQLite file (absolute, resolved against the project root).
    Sqlite(PathBuf),
    /// A PostgreSQL URL (`postgres://…`).
    Postgres(String),
}

impl StoreLocation {
    /// Where `db` points: a `postgres://` (or `postgresql://`) URL, else a SQLite file,
    /// relative to `root` unless absolute.
    pub fn parse(db: &str, root: &std::path::Path) -> StoreLocation {
        if db.starts_with("postgres://") || db.starts_with("postgresql://") {
            StoreLocation::Postgres(db.to_string())
        } else {
            StoreLocation::Sqlite(root.join(db))
        }
    }
}

/// `[store]`.
#[derive(Debug, Clone)]
pub struct StoreSettings {
    /// `store.db`.
    pub location: StoreLocation,
    /// `.baton/ledger`: the day files of the ledger.
    pub ledger_dir: PathBuf,
    /// `store.sync`: when a commit is acknowledged (default: on disk).
    pub durability: Durability,
}

/// `[runtime]`.
#[derive(Debug, Clone)]
pub struct RuntimeSettings {
    /// `runtime.cache-dir`: compiled plugins (absolute).
    pub cache_dir: PathBuf,
    /// `runtime.max-instances`: instances alive at once in the pooling allocator (default
    /// 1024; each open agent session holds one, so 1,000 sessions fit).
    pub max_instances: u32,
    /// `runtime.cache-max-size`: total size of the compile cache, in bytes (default 2 GiB).
    pub cache_max_size: u64,
    /// `runtime.log-cap`: cap on one job's or one stage's log file, in bytes (default 1 MiB).
    pub log_cap: u64,
}

/// `[defaults]`: the bounds of every plugin call unless its entry says otherwise.
#[derive(Debug, Clone)]
pub struct PluginDefaults {
    /// `defaults.memory`: linear memory cap, in bytes.
    pub memory: u64,
    /// `defaults.timeout`: CPU deadline per call.
    pub timeout: Duration,
    /// `defaults.wall-timeout`: wall-clock bound per call, host I/O included.
    pub wall_timeout: Duration,
    /// `defaults.output-cap`: cap on stdout and on stderr each, in bytes.
    pub output_cap: u64,
    /// `defaults.http-response-cap`: cap on one HTTP response body, in bytes.
    pub http_response_cap: u64,
    /// `defaults.exec-timeout`: bound on one `exec` run.
    pub exec_timeout: Duration,
}

/// `[queue]`: the work queue and the scheduler.
#[derive(Debug, Clone)]
pub struct QueueSettings {
    /// `queue.resolvers`: the resolver chain for jobs that name none.
    pub resolvers: Vec<String>,
    /// `queue.workers`: jobs worked at once (at least 1).
    pub workers: usize,
    /// `queue.max-attempts`: attempts of a new job (at least 1).
    pub max_attempts: u32,
    /// `queue.lease`: how long a claim holds a job without a heartbeat.
    pub lease: Duration,
    /// `queue.max-recoveries`: times a job's worker may be lost before it fails.
    pub max_recoveries: u32,
    /// `queue.max-per-resolver`: jobs running per resolver at once (0: no cap).
    pub max_per_resolver: u32,
    /// `queue.max-per-host`: downloads running per host at once (0: no cap).
    pub max_per_host: u32,
    /// `queue.backoff`: the first retry's delay (doubles per attempt, ±20% jitter).
    pub backoff: Duration,
    /// `queue.backoff-max`: the longest retry delay.
    pub backoff_max: Duration,
    /// `queue.download`: whether resolved jobs are downloaded (`false`: done with their
    /// candidates).
    pub download: bool,
}

/// The downloader's settings (from `[queue]`).
#[derive(Debug, Clone)]
pub struct DownloadSettings {
    /// `queue.connect-timeout`: bound on resolving, connecting, TLS and the handshake.
    pub connect_timeout: Duration,
    /// `queue.read-timeout`: the longest silence while reading a response.
    pub read_timeout: Duration,
    /// `queue.max-size`: the largest download, in bytes.
    pub max_size: u64,
    /// `queue.accept`: content types accepted (empty: any that passes the magic check).
    pub accept: Vec<String>,
    /// Where downloads may go: `queue.allow-schemes` (default https and http),
    /// `queue.allow-hosts` (default any), `queue.allow-addresses` (ranges granted beyond
    /// public addresses, default none) and `queue.allow-downgrade` (default false).
    pub egress: EgressPolicy,
}

/// `[pipeline]`.
#[derive(Debug, Clone)]
pub struct PipelineSettings {
    /// `pipeline.allow-commands`: whether stages may run trusted native commands.
    pub allow_commands: bool,
    /// `pipeline.auth-cooldown`: how long an agent credential's breaker first stays open.
    pub auth_cooldown: std::time::Duration,
}

/// Everything Baton reads from its configuration, typed.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The directory Baton was started in; paths given on the command line are relative to
    /// it.
    pub cwd: PathBuf,
    /// The project root: the directory holding `baton.toml` (or the current directory).
    pub root: PathBuf,
    /// `.baton/` of the project.
    pub state_dir: PathBuf,
    /// `[store]`.
    pub store: StoreSettings,
    /// `[runtime]`.
    pub runtime: RuntimeSettings,
    /// `[defaults]`.
    pub defaults: PluginDefaults,
    /// `[queue]` (scheduler and resolvers).
    pub queue: QueueSettings,
    /// `[queue]` (downloads).
    pub download: DownloadSettings,
    /// `[pipeline]`.
    pub pipeline: PipelineSettings,
    /// `agent.session-*`: agent session timeouts.
    pub sessions: crate::agent::sessions::SessionSettings,
    /// `[limits."KEY"]`.
    pub limits: BTreeMap<String, LimitSpec>,
    /// `[plugins.NAME]`.
    pub plugins: BTreeMap<String, PluginEntry>,
    /// The layered values with their sources (for `config show` and `config get`).
    pub config: Config,
}

impl Settings {
    /// Loads the layers (`explicit` is `--config FILE`; `env` reads the process
    /// environment, passed in for tests) and resolves them; the error lists every problem.
    pub fn load(
        cwd: &Path,
        explicit: Option<&Path>,
        overrides: &Overrides,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Settings> {
        let mut flags = Vec::new();
        if let Some(db) = &overrides.db {
            flags.push(("store.db", db.clone()));
        }
        if let Some(dir) = &overrides.cache_dir {
            flags.push(("runtime.cache-dir", dir.to_string_lossy().into_owned()));
        }
        Settings::resolve(Config::load(cwd, explicit, &flags, env)?)
    }

    /// Parses the layered values (already validated by [`Config::load`]).
    pub fn resolve(config: Config) -> Result<Settings> {
        let location = StoreLocation::parse(config.text("store.db"), &config.root);
        let state_dir = config.root.join(".baton");
        let workers = config.count("queue.workers") as usize;
        if workers == 0 {
            return Err(anyhow!("queue.workers must be at least 1"));
        }
        Ok(Settings {
            cwd: config.cwd.clone(),
            root: config.root.clone(),
            store: StoreSettings {
                location,
                ledger_dir: state_dir.join("ledger"),
                durability: Durability::parse(config.text("store.sync")).map_err(|e| anyhow!(e))?,
            },
            state_dir,
            runtime: RuntimeSettings {
                cache_dir: config.path("runtime.cache-dir"),
                max_instances: config.count("runtime.max-instances"),
                cache_max_size: config.size("runtime.cache-max-size"),
                log_cap: config.size("runtime.log-cap"),
            },
            defaults: PluginDefaults {
                memory: config.size("defaults.memory"),
                timeout: config.duration("defaults.timeout"),
                wall_timeout: config.duration("defaults.wall-timeout"),
                output_cap: config.size("defaults.output-cap"),
                http_response_cap: config.size("defaults.http-response-cap"),
                exec_timeout: config.duration("defaults.exec-timeout"),
            },
            queue: QueueSettings {
                resolvers: config.list("queue.resolvers"),
                workers,
                max_attempts: config.count("queue.max-attempts"),
                lease: config.duration("queue.lease"),
                max_recoveries: config.count("queue.max-recoveries"),
                max_per_resolver: config.count("queue.max-per-resolver"),
                max_per_host: config.count("queue.max-per-host"),
                backoff: config.duration("queue.backoff"),
                backoff_max: config.duration("queue.backoff-max"),
                download: config.flag("queue.download"),
            },
            download: DownloadSettings {
                connect_timeout: config.duration("queue.connect-timeout"),
                read_timeout: config.duration("queue.read-timeout"),
                max_size: config.size("queue.max-size"),
                accept: config.list("queue.accept"),
                egress: EgressPolicy::new(
                    config.list("queue.allow-schemes"),
                    config.list("queue.allow-hosts"),
                    config
                        .list("queue.allow-addresses")
                        .iter()
                        .filter_map(|range| parse_range(range).ok())
                        .collect(),
                    config.flag("queue.allow-downgrade"),
                )
                .map_err(|e| anyhow!("queue download policy: {e}"))?,
            },
            pipeline: PipelineSettings {
                allow_commands: config.flag("pipeline.allow-commands"),
                auth_cooldown: config.duration("pipeline.auth-cooldown"),
            },
            sessions: crate::agent::sessions::SessionSettings {
                idle_timeout: config.duration("agent.session-idle-timeout"),
                max_lifetime: config.duration("agent.session-max-lifetime"),
                warning_before: config.duration("agent.session-warning"),
            },
            limits: config.limits.clone(),
            plugins: config.plugins.clone(),
            config,
        })
    }
}
