//! The work queue's worker: asks the resolver chain (or the job's named resolver) for
//! candidates and downloads the best one that works, within the per-resolver caps it admits
//! jobs by. Its verdicts: done (with the manifest row recorded alongside), skipped, fatal,
//! transient (retried with backoff by the retry policy), a snooze (a rate limit or a
//! plugin's requested delay, which does not use up an attempt), or a halt (Baton's own
//! artifact store cannot be written: the job keeps its attempt and the run stops).

use crate::fetch::{FetchError, Fetcher};
use crate::limiter::Limiter;
use crate::logfile::{self, Entry, JobLogs, LogFile};
use crate::scheduler::retry::RetryPolicy;
use crate::scheduler::verdict::Verdict;
use crate::scheduler::worker::{Change, Worked, Worker};
use baton_core::clock::{format_ms, instant_to_ms, now_ms};
use baton_core::model::{Claimed, Failure, JobKind};
use baton_core::store::{ManifestRow, Offer, StoreRead};
use baton_runtime::Runtime;
use baton_runtime::bindings::types::{Artifact, Failure as PluginFailure};
use baton_runtime::error::ErrorKind;
use baton_runtime::plugin::Plugin;
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// Everything the resolve worker needs.
pub struct ResolveWorker {
    /// The plugin runtime.
    pub runtime: Arc<Runtime>,
    /// Loaded resolvers by configured name.
    pub plugins: HashMap<String, Arc<Plugin>>,
    /// The configured resolver order, for jobs that name none.
    pub chain: Vec<String>,
    /// The downloader.
    pub fetcher: Fetcher,
    /// Per-key limits (`resolver:NAME`, `host:NAME`).
    pub limiter: Arc<Limiter>,
    /// `false`: a resolved job is done with its candidates, nothing is downloaded.
    pub download: bool,
    /// Reads stored manifest rows (content already here is not fetched again).
    pub manifest: Mutex<Box<dyn StoreRead + Send>>,
    /// Jobs running per resolver at once (the job's named resolver, or the chain's first);
    /// `None`: no cap.
    pub max_per_resolver: Option<u32>,
    /// Retries of transient failures.
    pub retry: RetryPolicy,
    /// Jobs admitted and not finished, per resolver.
    pub running: Mutex<HashMap<String, u32>>,
    /// Each job's log file (`.baton/logs/`).
    pub logs: JobLogs,
    /// Resolvers whose guest panics are retried (`retry-on-panic = true`).
    pub retry_on_panic: HashSet<String>,
}

/// The most promising thing to do next, collected over the chain.
#[derive(Default)]
struct Collected {
    snooze: Option<(i64, String)>,
    retry: Option<(Option<i64>, Failure)>,
    fatal: Vec<Failure>,
    skipped: Vec<String>,
}

impl Collected {
    fn snooze(&mut self, at: i64, reason: String) {
        if self.snooze.as_ref().is_none_or(|(t, _)| at < *t) {
            self.snooze = Some((at, reason));
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ResolveWorker {
    /// The resolver a job counts against for `max_per_resolver`.
    fn resolver_of<'a>(&'a self, plugin: Option<&'a str>) -> &'a str {
        plugin
            .or(self.chain.first().map(String::as_str))
            .unwrap_or("")
    }

    fn stored(&self, key: &str) -> Option<ManifestRow> {
        lock(&self.manifest).manifest(key).ok().flatten()
    }

    async fn try_resolver(
        &self,
        name: &str,
        plugin: &Plugin,
        job: &Claimed,
        collected: &mut Collected,
        log: &LogFile,
    ) -> Option<Worked> {
        let key = format!("resolver:{name}");
        let _permit = match self
            .limiter
            .acquire(&key, self.fetcher.settings.patience)
            .await
        {
            Ok(permit) => permit,
            Err(wait) => {
                let at = wait.until.map_or(now_ms() + 500, instant_to_ms);
                collected.snooze(at, format!("{} until {}", wait.reason, format_ms(at)));
                return None;
            }
        };
        let artifact = Artifact {
            id: job.key.clone(),
            payload: job.payload.clone(),
        };
        let report = match self.runtime.resolve(plugin, artifact, job.attempt).await {
            Ok(report) => {
                log.append_or_warn(&logfile::report_entries(name, &report));
                report
            }
            Err(error) => {
                log.append_or_warn(&logfile::error_entries(&error, now_ms()));
                let failure = Failure::coded(error.kind.code(), error.summary());
                let panicked = matches!(error.kind, ErrorKind::GuestPanic { .. });
                if panicked && self.retry_on_panic.contains(name) {
                    collected.retry.get_or_insert((None, failure));
                } else {
                    collected.fatal.push(failure);
                }
                return None;
            }
        };
        let mut candidates = match report.value {
            Ok(candidates) => candidates,
            Err(PluginFailure::Retry(retry)) => {
                let after = retry.after_ms.map(|ms| now_ms() + ms as i64);
                collected.retry = Some((after, Failure::new(format!("{name}: {}", retry.reason))));
                return None;
            }
            Err(PluginFailure::Skip(reason)) => {
                collected.skipped.push(format!("{name}: {reason}"));
                return None;
            }
            Err(PluginFailure::Fatal(reason)) => {
                collected
                    .fatal
                    .push(Failure::new(format!("{name}: {reason}")));
                return None;
            }
        };
        if candidates.is_empty() {
            collected.skipped.push(format!("{name}: no candidates"));
            return None;
        }
        candidates.sort_by_key(|c| std::cmp::Reverse(c.score));
        if !self.download {
            let list: Vec<_> = candidates
                .iter()
                .map(baton_runtime::json::candidate)
                .collect();
            return Some(Worked::verdict(Verdict::Done(
                json!({"resolver": name, "candidates": list}),
            )));
        }
        for candidate in &candidates {
            let headers: Vec<(String, String)> = candidate
                .headers
                .iter()
                .map(|f| (f.key.clone(), f.value.clone()))
                .collect();
            match self
                .fetcher
                .fetch(&candidate.url, &headers, candidate.content_type.as_deref())
                .await
            {
                Ok(stored) => {
                    let row = ManifestRow {
                        key: job.key.clone(),
                        sha256: stored.sha256.clone(),
                        size: stored.size as i64,
                        url: stored.url.clone(),
                        host: stored.host.clone(),
                        resolver: name.to_string(),
                        content_type: stored.content_type.clone(),
                        fetched_at: now_ms(),
                    };
                    let record: Change = Box::new(move |tx| tx.record_manifest(&row));
                    return Some(Worked {
                        verdict: Verdict::Done(json!({
                            "sha256": stored.sha256, "size": stored.size, "url": stored.url,
                            "resolver": name, "content_type": stored.content_type,
                        })),
                        record: Some(record),
                    });
                }
                Err(FetchError::RateLimited { until, reason }) => {
                    let at = instant_to_ms(until);
                    collected.snooze(at, format!("{reason} until {}", format_ms(at)));
                }
                Err(FetchError::Transient(reason)) => {
                    collected.retry.get_or_insert((None, Failure::new(reason)));
                }
                Err(FetchError::Permanent(reason)) => collected.fatal.push(Failure::new(reason)),
                Err(FetchError::Environment(reason)) => {
                    return Some(Worked::verdict(Verdict::Halt(crate::environment::failure(
                        reason,
                    ))));
                }
            }
        }
        None
    }

    /// One attempt at `job`, its plugin calls logged to `log`.
    async fn work_logged(&self, job: &Claimed, log: &LogFile) -> Worked {
        if self.download
            && let Some(row) = self.stored(&job.key)
            && self.fetcher.store.contains(&row.sha256)
        {
            return Worked::verdict(Verdict::Done(
                json!({"sha256": row.sha256, "size": row.size, "url": row.url, "already_stored": true}),
            ));
        }
        let chain: Vec<&str> = match &job.plugin {
            Some(name) => vec![name.as_str()],
            None => self.chain.iter().map(String::as_str).collect(),
        };
        let mut collected = Collected::default();
        for name in chain {
            let Some(plugin) = self.plugins.get(name) else {
                collected
                    .fatal
                    .push(Failure::new(format!("resolver `{name}` is not configured")));
                continue;
            };
            if let Some(worked) = self
                .try_resolver(name, plugin, job, &mut collected, log)
                .await
            {
                return worked;
            }
        }
        Worked::verdict(Self::verdict(collected))
    }

    /// The verdict of a chain that produced nothing: a snooze beats a retry beats a failure;
    /// only skips make a skip.
    fn verdict(collected: Collected) -> Verdict {
        if let Some((until, reason)) = collected.snooze {
            return Verdict::Snooze {
                until,
                wait: reason.clone(),
                failure: Failure::new(reason),
            };
        }
        if let Some((after, failure)) = collected.retry {
            return match after {
                Some(until) => Verdict::Snooze {
                    until,
                    wait: format!("snoozed until {}", format_ms(until)),
                    failure,
                },
                None => Verdict::Transient(failure),
            };
        }
        if collected.fatal.is_empty() {
            let reason = if collected.skipped.is_empty() {
                "no resolver in the chain".to_string()
            } else {
                collected.skipped.join("; ")
            };
            return Verdict::Skipped(reason);
        }
        let code = collected.fatal.iter().find_map(|f| f.code.clone());
        let mut reasons: Vec<String> = collected.fatal.into_iter().map(|f| f.message).collect();
        reasons.extend(collected.skipped);
        Verdict::Fatal(Failure {
            code,
            message: reasons.join("; "),
        })
    }
}

/// What a verdict says in the job's log.
fn verdict_entry(verdict: &Verdict) -> Entry {
    let (level, text) = match verdict {
        Verdict::Done(_) => ("info", "done".to_string()),
        Verdict::Skipped(reason) => ("info", format!("skipped: {reason}")),
        Verdict::Fatal(failure) => ("error", format!("failed: {}", failure.message)),
        Verdict::Transient(failure) => (
            "warn",
            format!(
                "failed (retried with backoff while attempts remain): {}",
                failure.message
            ),
        ),
        Verdict::Snooze { wait, .. } => ("info", format!("waits: {wait}")),
        Verdict::Halt(failure) => ("error", format!("put back: {}", failure.message)),
    };
    Entry::new(
        now_ms(),
        level,
        "baton".into(),
        format!("attempt ended: {text}"),
    )
}

impl Worker for ResolveWorker {
    async fn work(&self, job: &Claimed) -> Worked {
        let log = self.logs.file(&job.key);
        // Baton's own notes reach the file only with something else (what the plugin logged
        // or printed, a failure) or when earlier attempts made it: a job that went well
        // silently costs no file; its attempts are in the ledger either way.
        log.hold(&[Entry::new(
            now_ms(),
            "info",
            "baton".into(),
            format!("attempt {} of {} started", job.attempt, job.max_attempts),
        )]);
        let worked = self.work_logged(job, &log).await;
        let ending = verdict_entry(&worked.verdict);
        match &worked.verdict {
            Verdict::Done(_) | Verdict::Skipped(_) | Verdict::Snooze { .. } => {
                log.append_routine_or_warn(&[ending]);
            }
            Verdict::Fatal(_) | Verdict::Transient(_) | Verdict::Halt(_) => {
                log.append_or_warn(&[ending]);
            }
        }
        worked
    }

    fn admit(&self, offer: &Offer<'_>) -> bool {
        if offer.kind != JobKind::Resolve {
            return false;
        }
        let name = self.resolver_of(offer.plugin).to_string();
        let mut running = lock(&self.running);
        let count = running.entry(name).or_default();
        if self.max_per_resolver.is_some_and(|cap| *count >= cap) {
            return false;
        }
        *count += 1;
        true
    }

    fn finished(&self, job: &Claimed) {
        let name = self.resolver_of(job.plugin.as_deref());
        if let Some(count) = lock(&self.running).get_mut(name) {
            *count = count.saturating_sub(1);
        }
    }

    fn upkeep(&self) -> Option<Change> {
        self.limiter.flush()
    }

    fn retry_policy(&self, _job: &Claimed) -> &RetryPolicy {
        &self.retry
    }
}
