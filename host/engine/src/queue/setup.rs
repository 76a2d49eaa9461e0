//! Builds the resolve worker from the settings: the resolver plugins (configured, or bundled
//! with Baton when the chain names one that is not configured), the downloader, and the
//! per-resolver caps.

use super::resolve::ResolveWorker;
use crate::fetch::store::ContentStore;
use crate::fetch::{FetchSettings, Fetcher};
use crate::limiter::Limiter;
use crate::plugins;
use crate::scheduler::retry::{Backoff, RetryPolicy};
use crate::settings::{DownloadSettings, Settings};
use anyhow::{Result, anyhow};
use baton_core::store::StoreRead;
use baton_runtime::Runtime;
use baton_runtime::inspect::World;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What `queue run` may override.
#[derive(Debug, Clone, Copy)]
pub struct ResolveOptions {
    /// Jobs running per resolver at once (0: no cap).
    pub max_per_resolver: u32,
}

/// The retry policy of `[queue]`: `queue.backoff` doubling up to `queue.backoff-max`.
pub fn retry_policy(settings: &Settings) -> RetryPolicy {
    RetryPolicy {
        backoff: Backoff {
            base: settings.queue.backoff,
            max: settings.queue.backoff_max,
        },
    }
}

/// Downloads as configured in `[queue]`, with 5 redirect hops, 250 ms of patience for the
/// host limiter and `baton/VERSION` as the user agent.
pub fn fetch_settings(download: &DownloadSettings) -> FetchSettings {
    FetchSettings {
        connect_timeout: download.connect_timeout,
        read_timeout: download.read_timeout,
        max_size: download.max_size,
        accept: download.accept.clone(),
        max_redirects: 5,
        patience: Duration::from_millis(250),
        user_agent: format!("baton/{}", env!("CARGO_PKG_VERSION")),
        egress: download.egress.clone(),
    }
}

/// Loads the resolvers and builds the worker; `manifest` reads stored artifacts.
pub async fn resolve_worker(
    settings: &Settings,
    runtime: Arc<Runtime>,
    limiter: Arc<Limiter>,
    manifest: Box<dyn StoreRead + Send>,
    options: ResolveOptions,
) -> Result<ResolveWorker> {
    let chain = settings.queue.resolvers.clone();
    let mut names: Vec<String> = chain.clone();
    for (name, entry) in &settings.plugins {
        if entry.world().is_none_or(|w| w == World::Resolver) && !names.contains(name) {
            names.push(name.clone());
        }
    }
    let mut loaded = HashMap::new();
    for name in &names {
        let spec = plugins::spec(settings, name, World::Resolver)?;
        match runtime.load(&spec).await {
            Ok(plugin) => {
                loaded.insert(name.clone(), Arc::new(plugin));
            }
            // Only the chain must load; other configured plugins may be of other kinds.
            Err(error) if !chain.contains(name) => {
                tracing::debug!("not using plugin `{name}` as a resolver: {error}");
            }
            Err(error) => return Err(anyhow!("{error}")),
        }
    }
    let store = ContentStore::new(settings.state_dir.join("artifacts"));
    match store.sweep_dead() {
        Ok(0) => {}
        Ok(swept) => tracing::info!("swept {swept} partial download(s) of stopped processes"),
        Err(e) => tracing::warn!("{e:#}"),
    }
    let fetcher = Fetcher::new(fetch_settings(&settings.download), limiter.clone(), store);
    Ok(ResolveWorker {
        runtime,
        plugins: loaded,
        chain,
        fetcher,
        limiter,
        download: settings.queue.download,
        manifest: Mutex::new(manifest),
        max_per_resolver: (options.max_per_resolver > 0).then_some(options.max_per_resolver),
        retry: retry_policy(settings),
        running: Mutex::default(),
        logs: crate::logfile::JobLogs {
            state_dir: settings.state_dir.clone(),
            cap: settings.runtime.log_cap,
        },
        retry_on_panic: settings
            .plugins
            .iter()
            .filter(|(_, entry)| entry.retries_panics())
            .map(|(name, _)| name.clone())
            .collect(),
    })
}
