//! What a worker does with one job: ask the resolver chain for candidates and download the
//! best one that works. Turns every result into an [`Outcome`]: done (with the manifest row),
//! skipped, failed, a retry with capped exponential backoff and jitter, or a snooze (a rate
//! limit or a plugin's requested delay, which does not use up an attempt).

use super::model::{Claimed, Outcome, format_ms, now_ms};
use crate::fetch::{FetchError, Fetcher};
use crate::limiter::Limiter;
use crate::runtime::Runtime;
use crate::runtime::bindings::types::{Artifact, Failure};
use crate::runtime::plugin::Plugin;
use crate::store::artifacts::ManifestRow;
use serde_json::json;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Retry timing.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Backoff {
    /// Delay before attempt `attempt + 1`: base·2^(attempt-1), capped, ±20% jitter.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
            .min(self.max);
        let random = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        let jitter = 0.8 + (random % 4001) as f64 / 10_000.0;
        exp.mul_f64(jitter)
    }
}

/// Finds the stored manifest row of an artifact.
pub type ManifestLookup = Box<dyn Fn(&str) -> Option<ManifestRow> + Send + Sync>;

/// Called with each job as it starts.
pub type StartHook = Box<dyn Fn(&Claimed) + Send + Sync>;

/// Everything workers share.
pub struct WorkContext {
    pub runtime: Arc<Runtime>,
    /// Loaded resolvers by configured name.
    pub plugins: HashMap<String, Arc<Plugin>>,
    /// The configured resolver order, for jobs that name none.
    pub chain: Vec<String>,
    pub fetcher: Fetcher,
    pub limiter: Arc<Limiter>,
    pub backoff: Backoff,
    /// `false`: a resolved job is done with its candidates, nothing is downloaded.
    pub download: bool,
    /// Stored manifest row of an artifact, if its content is already here.
    pub manifest: ManifestLookup,
    /// Called as each job starts (benchmarks measure enqueue-to-start latency with it).
    pub on_start: Option<StartHook>,
    /// Runs pipeline stage jobs; `None` in `queue run`, which only claims work-queue jobs.
    pub stages: Option<Arc<crate::pipeline::exec::StageExecutor>>,
}

/// A job's outcome and, when it stored content, the manifest row to record with it.
pub struct Worked {
    pub outcome: Outcome,
    pub manifest: Option<ManifestRow>,
}

fn until_ms(until: Instant) -> i64 {
    now_ms() + until.saturating_duration_since(Instant::now()).as_millis() as i64
}

/// The most promising thing to do next, collected over the chain.
#[derive(Default)]
struct Verdict {
    snooze: Option<(i64, String)>,
    retry: Option<(Option<i64>, String)>,
    fatal: Vec<String>,
    skipped: Vec<String>,
}

impl Verdict {
    fn snooze(&mut self, at: i64, reason: String) {
        if self.snooze.as_ref().is_none_or(|(t, _)| at < *t) {
            self.snooze = Some((at, reason));
        }
    }
}

impl WorkContext {
    pub async fn work(&self, job: &Claimed) -> Worked {
        if let Some(on_start) = &self.on_start {
            on_start(job);
        }
        if job.kind == "stage" {
            return match &self.stages {
                Some(stages) => stages.run(job).await,
                None => Worked {
                    outcome: Outcome::Failed {
                        reason: "a pipeline stage job outside a pipeline run".into(),
                    },
                    manifest: None,
                },
            };
        }
        if self.download
            && let Some(row) = (self.manifest)(&job.key)
            && self.fetcher.store.contains(&row.sha256)
        {
            return Worked {
                outcome: Outcome::Done {
                    result: json!({"sha256": row.sha256, "size": row.size, "url": row.url, "already_stored": true}),
                },
                manifest: None,
            };
        }
        let chain: Vec<&str> = match &job.plugin {
            Some(name) => vec![name.as_str()],
            None => self.chain.iter().map(String::as_str).collect(),
        };
        let mut verdict = Verdict::default();
        for name in chain {
            let Some(plugin) = self.plugins.get(name) else {
                verdict
                    .fatal
                    .push(format!("resolver `{name}` is not configured"));
                continue;
            };
            if let Some(worked) = self.try_resolver(name, plugin, job, &mut verdict).await {
                return worked;
            }
        }
        Worked {
            outcome: self.decide(job, verdict),
            manifest: None,
        }
    }

    async fn try_resolver(
        &self,
        name: &str,
        plugin: &Plugin,
        job: &Claimed,
        verdict: &mut Verdict,
    ) -> Option<Worked> {
        let key = format!("resolver:{name}");
        let _permit = match self
            .limiter
            .acquire(&key, self.fetcher.settings.patience)
            .await
        {
            Ok(permit) => permit,
            Err(wait) => {
                let at = wait.until.map_or(now_ms() + 500, until_ms);
                verdict.snooze(at, format!("{} until {}", wait.reason, format_ms(at)));
                return None;
            }
        };
        let artifact = Artifact {
            id: job.key.clone(),
            payload: job.payload.clone(),
        };
        let report = match self.runtime.resolve(plugin, artifact, job.attempt).await {
            Ok(report) => report,
            Err(error) => {
                verdict.fatal.push(error.to_string());
                return None;
            }
        };
        let mut candidates = match report.value {
            Ok(candidates) => candidates,
            Err(Failure::Retry(retry)) => {
                let after = retry.after_ms.map(|ms| now_ms() + ms as i64);
                verdict.retry = Some((after, format!("{name}: {}", retry.reason)));
                return None;
            }
            Err(Failure::Skip(reason)) => {
                verdict.skipped.push(format!("{name}: {reason}"));
                return None;
            }
            Err(Failure::Fatal(reason)) => {
                verdict.fatal.push(format!("{name}: {reason}"));
                return None;
            }
        };
        if candidates.is_empty() {
            verdict.skipped.push(format!("{name}: no candidates"));
            return None;
        }
        candidates.sort_by_key(|c| std::cmp::Reverse(c.score));
        if !self.download {
            let list: Vec<_> = candidates
                .iter()
                .map(crate::runtime::json::candidate)
                .collect();
            return Some(Worked {
                outcome: Outcome::Done {
                    result: json!({"resolver": name, "candidates": list}),
                },
                manifest: None,
            });
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
                    return Some(Worked {
                        outcome: Outcome::Done {
                            result: json!({
                                "sha256": stored.sha256, "size": stored.size, "url": stored.url,
                                "resolver": name, "content_type": stored.content_type,
                            }),
                        },
                        manifest: Some(row),
                    });
                }
                Err(FetchError::RateLimited { until, reason }) => {
                    let at = until_ms(until);
                    verdict.snooze(at, format!("{reason} until {}", format_ms(at)));
                }
                Err(FetchError::Transient(reason)) => {
                    verdict.retry.get_or_insert((None, reason));
                }
                Err(FetchError::Permanent(reason)) => verdict.fatal.push(reason),
            }
        }
        None
    }

    fn decide(&self, job: &Claimed, verdict: Verdict) -> Outcome {
        if let Some((at, reason)) = verdict.snooze {
            return Outcome::Retry {
                wait_reason: reason.clone(),
                reason,
                at,
                snooze: true,
            };
        }
        if let Some((after, reason)) = verdict.retry {
            let (at, snooze) = match after {
                Some(at) => (at, true),
                None => (
                    now_ms() + self.backoff.delay(job.attempt).as_millis() as i64,
                    false,
                ),
            };
            if !snooze && job.attempt >= job.max_attempts {
                return Outcome::Failed {
                    reason: format!("gave up after {} attempts: {reason}", job.attempt),
                };
            }
            let wait = if snooze { "snoozed" } else { "backoff" };
            return Outcome::Retry {
                wait_reason: format!("{wait} until {}", format_ms(at)),
                reason,
                at,
                snooze,
            };
        }
        if verdict.fatal.is_empty() {
            let reason = if verdict.skipped.is_empty() {
                "no resolver in the chain".to_string()
            } else {
                verdict.skipped.join("; ")
            };
            return Outcome::Skipped { reason };
        }
        let mut reasons = verdict.fatal;
        reasons.extend(verdict.skipped);
        Outcome::Failed {
            reason: reasons.join("; "),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let backoff = Backoff {
            base: Duration::from_secs(1),
            max: Duration::from_secs(60),
        };
        let first = backoff.delay(1);
        assert!(first >= Duration::from_millis(800) && first <= Duration::from_millis(1200));
        let third = backoff.delay(3);
        assert!(third >= Duration::from_millis(3200) && third <= Duration::from_millis(4800));
        assert!(backoff.delay(30) <= Duration::from_secs(72));
    }
}
