//! Builds what `queue run` needs from the configuration: the resolver plugins (configured, or
//! bundled with Baton when a chain names one that is not configured), the limiter with its
//! per-key limits, the downloader and the lease owner id of this process.

use super::work::{Backoff, WorkContext};
use crate::config::Config;
use crate::fetch::store::ContentStore;
use crate::fetch::{FetchSettings, Fetcher};
use crate::limiter::{LimitSpec, Limiter};
use crate::runtime::inspect::World;
use crate::runtime::plugin::PluginSpec;
use crate::runtime::{Runtime, spec};
use crate::store::ops::QueueStore;
use crate::store::sqlite_queue::SqliteQueue;
use anyhow::{Context, Result, anyhow};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Where the plugins built with this binary live, if they are still there.
pub fn bundled_plugin(name: &str) -> Option<PathBuf> {
    let path =
        PathBuf::from(env!("BATON_PLUGIN_DIR")).join(format!("{}.wasm", name.replace('-', "_")));
    path.is_file().then_some(path)
}

/// The spec of resolver `name`: its config entry, or the bundled plugin with no grants.
pub fn resolver_spec(config: &Config, name: &str) -> Result<PluginSpec> {
    if config.plugins.contains_key(name) {
        let mut spec = spec::from_config(config, name)?;
        spec.expected = Some(World::Resolver);
        return Ok(spec);
    }
    let path = bundled_plugin(name).ok_or_else(|| {
        anyhow!(
            "resolver `{name}` is not configured: add [plugins.{name}] with its path to baton.toml (`baton plugin add FILE`)"
        )
    })?;
    Ok(PluginSpec {
        name: Some(name.to_string()),
        path,
        sha256: None,
        expected: Some(World::Resolver),
        settings: serde_json::json!({}),
        grants: Default::default(),
        limits: spec::limits(config, None)?,
    })
}

/// The limits of a limiter key: `[limits."KEY"]`, else the `--max-per-host` default.
pub fn limit_specs(
    config: &Config,
    max_per_host: u32,
) -> impl Fn(&str) -> LimitSpec + Send + Sync + 'static {
    let limits = config.limits.clone();
    move |key: &str| {
        let mut spec = limits.get(key).cloned().unwrap_or_default();
        if key.starts_with("host:") && spec.concurrency.is_none() && max_per_host > 0 {
            spec.concurrency = Some(max_per_host);
        }
        spec
    }
}

/// This process's lease owner id: `host:pid:start-ms`.
pub fn owner_id() -> String {
    format!(
        "{}:{}:{}",
        hostname(),
        std::process::id(),
        super::model::now_ms()
    )
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// Owners of running leases that were processes on this host which no longer exist.
pub fn dead_local_owners(owners: &[String]) -> Vec<String> {
    let me = hostname();
    owners
        .iter()
        .filter(|owner| {
            let mut parts = owner.split(':');
            let (Some(host), Some(pid)) = (parts.next(), parts.next()) else {
                return false;
            };
            let Ok(pid) = pid.parse::<i32>() else {
                return false;
            };
            host == me && pid != std::process::id() as i32 && !alive(pid)
        })
        .cloned()
        .collect()
}

fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    let result = unsafe { libc::kill(pid, 0) };
    result == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// Everything a run needs, from config.
pub struct RunSetup {
    pub context: WorkContext,
    pub chain: Vec<String>,
}

pub async fn work_context(
    config: &Config,
    runtime: Arc<Runtime>,
    max_per_host: u32,
) -> Result<RunSetup> {
    let chain = config.list("queue.resolvers");
    let mut names: Vec<String> = chain.clone();
    for (name, entry) in &config.plugins {
        if entry.kind.as_deref().is_none_or(|k| k == "resolver") && !names.contains(name) {
            names.push(name.clone());
        }
    }
    let mut plugins = HashMap::new();
    for name in &names {
        let spec = resolver_spec(config, name)?;
        match runtime.load(&spec).await {
            Ok(plugin) => {
                plugins.insert(name.clone(), Arc::new(plugin));
            }
            // Only the chain must load; other configured plugins may be of other kinds.
            Err(error) if !chain.contains(name) => {
                tracing::debug!("not using plugin `{name}` as a resolver: {error}");
            }
            Err(error) => return Err(anyhow!("{error}")),
        }
    }
    let store_path = config.path("store.db");
    let reader = Mutex::new(SqliteQueue::open(&store_path)?);
    let quota_reader = Mutex::new(SqliteQueue::open(&store_path)?);
    let limiter = Limiter::new(
        limit_specs(config, max_per_host),
        Box::new(move |key, day| {
            quota_reader
                .lock()
                .map(|store| store.quota_used(key, day).unwrap_or(0))
                .unwrap_or(0)
        }),
    );
    let fetcher = Fetcher {
        settings: FetchSettings {
            connect_timeout: config.duration("queue.connect-timeout"),
            read_timeout: config.duration("queue.read-timeout"),
            max_size: config.size("queue.max-size"),
            accept: config.list("queue.accept"),
            max_redirects: 5,
            patience: Duration::from_millis(250),
            user_agent: format!("baton/{}", env!("CARGO_PKG_VERSION")),
        },
        limiter: limiter.clone(),
        store: ContentStore::new(config.state_dir().join("artifacts")),
    };
    let context = WorkContext {
        runtime,
        plugins,
        chain: chain.clone(),
        fetcher,
        limiter,
        backoff: Backoff {
            base: config.duration("queue.backoff"),
            max: config.duration("queue.backoff-max"),
        },
        download: config.flag("queue.download"),
        manifest: Box::new(move |key| {
            reader
                .lock()
                .ok()
                .and_then(|store| store.manifest(key).ok().flatten())
        }),
        on_start: None,
        stages: None,
    };
    Ok(RunSetup { context, chain })
}

/// Opens the queue store named by `store.db`.
pub fn open_store(config: &Config) -> Result<SqliteQueue> {
    let db = config
        .get("store.db")
        .map(|v| v.value.clone())
        .unwrap_or_default();
    if db.starts_with("postgres://") || db.starts_with("postgresql://") {
        return Err(anyhow!(
            "PostgreSQL stores are not supported by this build yet; use a SQLite path for store.db"
        ));
    }
    SqliteQueue::open(&config.path("store.db")).context("cannot open the queue store")
}
