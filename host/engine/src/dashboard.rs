//! The dashboards' model (`baton dashboard`, `baton serve`): one [`Snapshot`] built from the
//! store's [`Overview`], its members and the configured limits — jobs by state and rate,
//! running jobs with age and holder, waiting jobs with a structured [`Reason`], recent
//! failures with the command that reruns them, workers with their last heartbeat, and
//! limiter keys with usage and quota left. The JSON form is documented in
//! docs/operations.md.

use crate::settings::Settings;
use anyhow::Result;
use baton_core::clock::{day_of, format_ms};
use baton_core::model::{Job, JobState};
use baton_core::store::{Overview, StoreRead};
use serde::Serialize;
use std::collections::BTreeMap;

/// Jobs listed per view.
pub const ROWS: usize = 50;

/// Why a job waits, as the dashboards show it. New causes (an agent's circuit breaker open
/// until T) are new variants; consumers show [`Reason::text`] for any they do not know.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Reason {
    /// Due now, waiting for a worker.
    Ready,
    /// Blocked on dependencies that have not succeeded.
    Dependency {
        /// Their keys (at most 20).
        on: Vec<String>,
    },
    /// A limiter key's concurrency cap was full.
    Limit {
        /// The key, e.g. `host:example.org`.
        key: String,
        /// Slots held now across processes.
        held: i64,
        /// Its cap, when configured.
        cap: Option<u32>,
        /// When the job is due again (Unix ms).
        until: i64,
    },
    /// A limiter key's rate (token bucket) was empty.
    Rate {
        /// The key.
        key: String,
        /// When the job is due again (Unix ms).
        until: i64,
    },
    /// A limiter key's daily quota was used up.
    Quota {
        /// The key.
        key: String,
        /// When the job is due again (Unix ms).
        until: i64,
    },
    /// A transient failure; retried at `until`.
    Backoff {
        /// Unix ms.
        until: i64,
    },
    /// The resolver or server asked to wait (e.g. `Retry-After`).
    Snoozed {
        /// Unix ms.
        until: i64,
    },
    /// An agent credential's circuit breaker is open (or retrying a refused credential).
    Breaker {
        /// The credential key, e.g. `auth:openai`.
        key: String,
        /// When the job is due again (Unix ms).
        until: i64,
    },
    /// Anything else the job says (recovered, released, retried by hand …).
    Other {
        /// The job's own words.
        text: String,
    },
}

impl Reason {
    /// In words, e.g. `rate host:x until 2026-12-01T08:00:00.000Z`.
    pub fn text(&self) -> String {
        match self {
            Reason::Ready => "ready: waiting for a worker".into(),
            Reason::Dependency { on } => format!("dependency: {}", on.join(", ")),
            Reason::Limit {
                key,
                held,
                cap,
                until,
            } => {
                let cap = cap.map_or("?".to_string(), |c| c.to_string());
                format!(
                    "limit {key} ({held}/{cap} held) until {}",
                    format_ms(*until)
                )
            }
            Reason::Rate { key, until } => format!("rate {key} until {}", format_ms(*until)),
            Reason::Quota { key, until } => format!("quota {key} until {}", format_ms(*until)),
            Reason::Breaker { key, until } => {
                format!("breaker {key} open until {}", format_ms(*until))
            }
            Reason::Backoff { until } => format!("backoff until {}", format_ms(*until)),
            Reason::Snoozed { until } => format!("snoozed until {}", format_ms(*until)),
            Reason::Other { text } => text.clone(),
        }
    }

    /// The reason of a waiting job, from its state, due time, wait text and dependencies;
    /// `held` and `caps` give a limit key's use and cap.
    pub fn of(
        job: &Job,
        deps: &[String],
        now: i64,
        held: &BTreeMap<String, i64>,
        caps: &dyn Fn(&str) -> Option<u32>,
    ) -> Reason {
        if job.state == JobState::Blocked {
            return Reason::Dependency { on: deps.to_vec() };
        }
        let text = job.wait_reason.clone().unwrap_or_default();
        if job.run_after <= now {
            return match job.wait_reason {
                None => Reason::Ready,
                Some(_) => Reason::Other { text },
            };
        }
        let until = job.run_after;
        // An agent's park or breaker: `quota exhausted: … until T [KEY]`, `rate-limited
        // (requests): … until T [KEY]`, `auth breaker open until T [KEY]`, `authentication
        // failed (attempt 1 of 3), next at T [KEY]: …`.
        if let Some(key) = wait_key(&text).filter(|_| !text.starts_with("rate ")) {
            if text.starts_with("quota exhausted") {
                return Reason::Quota { key, until };
            }
            if text.starts_with("rate-limited") {
                return Reason::Rate { key, until };
            }
            if key.starts_with("auth:") {
                return Reason::Breaker { key, until };
            }
        }
        // The limiter's words: `concurrency KEY (…) until T`, `rate KEY … until T`,
        // `quota KEY (…) until T`; the scheduler's: `backoff until T …`, `snoozed until T`.
        let key = || wait_key(&text).unwrap_or_default();
        if text.starts_with("concurrency ") {
            let key = key();
            Reason::Limit {
                held: held.get(&key).copied().unwrap_or(0),
                cap: caps(&key),
                key,
                until,
            }
        } else if text.starts_with("rate ") {
            Reason::Rate { key: key(), until }
        } else if text.starts_with("quota ") {
            Reason::Quota { key: key(), until }
        } else if text.starts_with("backoff ") {
            Reason::Backoff { until }
        } else if text.starts_with("snoozed ") || text.is_empty() {
            Reason::Snoozed { until }
        } else {
            Reason::Other { text }
        }
    }
}

/// Jobs per state (every state), per kind, and the rate.
#[derive(Debug, Clone, Serialize)]
pub struct Counts {
    /// Every state, zero included.
    pub states: BTreeMap<&'static str, i64>,
    /// Kind → state → jobs (states with jobs only).
    pub kinds: BTreeMap<String, BTreeMap<String, i64>>,
    /// Jobs in the store.
    pub total: i64,
    /// Jobs that ended (done, skipped, failed) per second over the last minute.
    pub jobs_per_second: f64,
}

/// A running job.
#[derive(Debug, Clone, Serialize)]
pub struct Running {
    /// The job's key.
    pub key: String,
    /// Its kind.
    pub kind: String,
    /// Its lease holder (`host:pid:start-ms`).
    pub holder: String,
    /// Milliseconds since it was claimed.
    pub age_ms: i64,
    /// Its attempt (1 = first).
    pub attempt: u32,
}

/// A waiting job.
#[derive(Debug, Clone, Serialize)]
pub struct Waiting {
    /// The job's key.
    pub key: String,
    /// Its state (`queued` or `blocked`).
    pub state: JobState,
    /// Why it waits.
    pub reason: Reason,
    /// [`Reason::text`].
    pub reason_text: String,
}

/// A failed job and how to run it again.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    /// The job's key.
    pub key: String,
    /// The failure's message.
    pub error: String,
    /// The failure's stable code, when it has one.
    pub code: Option<String>,
    /// When it failed (Unix ms).
    pub at: i64,
    /// The command that runs it again.
    pub rerun: String,
}

/// A process working on the store.
#[derive(Debug, Clone, Serialize)]
pub struct Worker {
    /// Its lease owner id.
    pub owner: String,
    /// Its host.
    pub host: String,
    /// What it runs (`queue`, `run RUN`).
    pub role: String,
    /// Its last heartbeat (Unix ms).
    pub last_beat: i64,
    /// `working`, or `silent` after two leases without a heartbeat.
    pub state: &'static str,
}

/// A limiter key's use now.
#[derive(Debug, Clone, Serialize)]
pub struct LimitKey {
    /// The key.
    pub key: String,
    /// Concurrency slots held across processes.
    pub held: i64,
    /// The concurrency cap, when one applies.
    pub cap: Option<u32>,
    /// Requests today.
    pub used_today: u64,
    /// The daily quota, when configured.
    pub quota: Option<u64>,
    /// Requests left today, when a quota is configured.
    pub left_today: Option<u64>,
    /// When the key is parked now (a provider's spent quota or rate-limit reset, an open
    /// breaker): why, and until when (Unix ms).
    pub parked: Option<ParkedKey>,
}

/// Why and until when a key is parked.
#[derive(Debug, Clone, Serialize)]
pub struct ParkedKey {
    /// The provider's or the breaker's words.
    pub reason: String,
    /// Unix ms.
    pub until: i64,
}

/// What the dashboards show, at one moment.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    /// When it was taken (Unix ms).
    pub at: i64,
    /// Jobs by state, kind and rate.
    pub counts: Counts,
    /// Running jobs, longest running first.
    pub running: Vec<Running>,
    /// Waiting jobs with their reasons.
    pub waiting: Vec<Waiting>,
    /// Recent failures, newest first.
    pub failures: Vec<Failure>,
    /// Processes working on the store.
    pub workers: Vec<Worker>,
    /// Limiter keys configured or in use.
    pub limits: Vec<LimitKey>,
    /// Milliseconds the store reads took.
    pub store_ms: f64,
}

impl Snapshot {
    /// Keeps the jobs whose key (or holder, reason, error) contains `filter`
    /// (case-insensitive); counts, workers and limits are kept whole.
    pub fn filtered(mut self, filter: &str) -> Snapshot {
        if filter.is_empty() {
            return self;
        }
        let needle = filter.to_lowercase();
        let hit = |texts: &[&str]| texts.iter().any(|t| t.to_lowercase().contains(&needle));
        self.running.retain(|r| hit(&[&r.key, &r.holder, &r.kind]));
        self.waiting.retain(|w| hit(&[&w.key, &w.reason_text]));
        self.failures.retain(|f| hit(&[&f.key, &f.error]));
        self
    }
}

/// The limiter, park or breaker key a wait reason names: the bracketed key an agent's park
/// ends with (`… until T [agent:openai]`, `… [auth:openai]: message`), or the word after
/// the limiter's `rate`, `concurrency` or `quota` (`rate host:x until …`).
pub fn wait_key(text: &str) -> Option<String> {
    if let Some(open) = text.rfind(" [") {
        let rest = &text[open + 2..];
        if let Some(close) = rest.find(']') {
            let key = &rest[..close];
            if key.contains(':') && !key.contains(' ') {
                return Some(key.to_string());
            }
        }
    }
    let mut words = text.split_whitespace();
    match words.next()? {
        "rate" | "concurrency" | "quota" => words.next().map(String::from),
        _ => None,
    }
}

/// The command that reruns a failed job.
pub fn rerun_command(job: &Job) -> String {
    let quote = |text: &str| {
        if text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._:-".contains(c))
        {
            text.to_string()
        } else {
            format!("'{}'", text.replace('\'', "'\\''"))
        }
    };
    format!("baton job retry {}", quote(&job.key))
}

/// The effective concurrency cap of a limiter key under `settings`.
pub fn cap_of(settings: &Settings, key: &str) -> Option<u32> {
    if let Some(cap) = settings.limits.get(key).and_then(|s| s.concurrency) {
        return Some(cap);
    }
    if key.starts_with("host:") {
        Some(settings.queue.max_per_host)
    } else if key.starts_with("resolver:") {
        Some(settings.queue.max_per_resolver)
    } else {
        None
    }
}

/// Takes a snapshot at `now` (Unix ms). Errors: the store cannot be read.
pub fn snapshot(store: &dyn StoreRead, settings: &Settings, now: i64) -> Result<Snapshot> {
    let started = std::time::Instant::now();
    let overview: Overview = store.overview(now, &day_of(now), ROWS)?;
    let members = store.members()?;
    let store_ms = started.elapsed().as_secs_f64() * 1000.0;
    let mut states: BTreeMap<&'static str, i64> =
        JobState::ALL.iter().map(|s| (s.as_str(), 0)).collect();
    let mut kinds: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    let mut total = 0;
    for count in &overview.counts {
        if let Some(state) = JobState::parse(&count.state) {
            *states.entry(state.as_str()).or_default() += count.jobs;
        }
        kinds
            .entry(count.kind.clone())
            .or_default()
            .insert(count.state.clone(), count.jobs);
        total += count.jobs;
    }
    let caps = |key: &str| cap_of(settings, key);
    let running = overview
        .running
        .iter()
        .map(|job| Running {
            key: job.key.clone(),
            kind: job.kind.as_str().into(),
            holder: job.lease_owner.clone().unwrap_or_default(),
            age_ms: (now - job.updated_at).max(0),
            attempt: job.attempts,
        })
        .collect();
    let waiting = overview
        .waiting
        .iter()
        .map(|w| {
            let reason = Reason::of(&w.job, &w.deps, now, &overview.slots, &caps);
            Waiting {
                key: w.job.key.clone(),
                state: w.job.state,
                reason_text: reason.text(),
                reason,
            }
        })
        .collect();
    let failures = overview
        .failures
        .iter()
        .map(|job| Failure {
            key: job.key.clone(),
            error: job.last_error.clone().unwrap_or_default(),
            code: job.error_code.clone(),
            at: job.updated_at,
            rerun: rerun_command(job),
        })
        .collect();
    let silent_before = now - 2 * settings.queue.lease.as_millis() as i64;
    let workers = members
        .iter()
        .map(|m| Worker {
            owner: m.owner.clone(),
            host: m.host.clone(),
            role: m.role.clone(),
            last_beat: m.last_beat,
            state: if m.last_beat < silent_before {
                "silent"
            } else {
                "working"
            },
        })
        .collect();
    let mut keys: Vec<&String> = settings.limits.keys().collect();
    keys.extend(overview.slots.keys());
    keys.extend(overview.quotas.keys());
    keys.extend(overview.parked.iter().map(|park| &park.key));
    keys.sort();
    keys.dedup();
    let limits = keys
        .into_iter()
        .map(|key| {
            let quota = settings.limits.get(key).and_then(|s| s.per_day);
            let used_today = overview.quotas.get(key).copied().unwrap_or(0);
            LimitKey {
                key: key.clone(),
                held: overview.slots.get(key).copied().unwrap_or(0),
                cap: caps(key),
                used_today,
                quota,
                left_today: quota.map(|q| q.saturating_sub(used_today)),
                parked: overview
                    .parked
                    .iter()
                    .find(|park| &park.key == key)
                    .map(|park| ParkedKey {
                        reason: park.reason.clone(),
                        until: park.until,
                    }),
            }
        })
        .collect();
    Ok(Snapshot {
        at: now,
        counts: Counts {
            states,
            kinds,
            total,
            jobs_per_second: overview.finished_last_minute as f64 / 60.0,
        },
        running,
        waiting,
        failures,
        workers,
        limits,
        store_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_core::model::JobKind;

    fn job(state: JobState, run_after: i64, reason: Option<&str>) -> Job {
        Job {
            id: 1,
            key: "k".into(),
            kind: JobKind::Resolve,
            plugin: None,
            payload: serde_json::json!({}),
            priority: 0,
            state,
            attempts: 0,
            max_attempts: 3,
            run_after,
            wait_reason: reason.map(String::from),
            lease_owner: None,
            lease_expires: None,
            fence: 0,
            recoveries: 0,
            last_error: None,
            error_code: None,
            result: None,
            run_id: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn wait_texts_become_structured_reasons() {
        let held = BTreeMap::from([("host:a".to_string(), 2)]);
        let caps = |_: &str| Some(2);
        let of = |job: Job| Reason::of(&job, &["dep".into()], 100, &held, &caps);
        assert_eq!(of(job(JobState::Queued, 0, None)), Reason::Ready);
        assert_eq!(
            of(job(JobState::Blocked, 0, None)),
            Reason::Dependency {
                on: vec!["dep".into()]
            }
        );
        assert_eq!(
            of(job(
                JobState::Queued,
                500,
                Some("concurrency host:a (2/2) until x")
            )),
            Reason::Limit {
                key: "host:a".into(),
                held: 2,
                cap: Some(2),
                until: 500
            }
        );
        assert_eq!(
            of(job(JobState::Queued, 500, Some("rate host:a until x"))),
            Reason::Rate {
                key: "host:a".into(),
                until: 500
            }
        );
        assert_eq!(
            of(job(
                JobState::Queued,
                500,
                Some("quota host:a (9/9 today) until x")
            )),
            Reason::Quota {
                key: "host:a".into(),
                until: 500
            }
        );
        assert_eq!(
            of(job(
                JobState::Queued,
                500,
                Some("backoff until x (attempt 2 of 3 next)")
            )),
            Reason::Backoff { until: 500 }
        );
        assert_eq!(
            of(job(JobState::Queued, 0, Some("retried by hand"))).text(),
            "retried by hand"
        );
        // An agent's parks and breakers name their key in brackets.
        let key = |key: &str| key.to_string();
        assert_eq!(
            of(job(
                JobState::Queued,
                500,
                Some("quota exhausted: daily quota used up until x [agent:gemini/flash]")
            )),
            Reason::Quota {
                key: key("agent:gemini/flash"),
                until: 500
            }
        );
        assert_eq!(
            of(job(
                JobState::Queued,
                500,
                Some("rate-limited (requests): 429 [sic] until x [agent:openai]")
            )),
            Reason::Rate {
                key: key("agent:openai"),
                until: 500
            }
        );
        assert_eq!(
            of(job(
                JobState::Queued,
                500,
                Some("auth breaker open until x [auth:openai]")
            )),
            Reason::Breaker {
                key: key("auth:openai"),
                until: 500
            }
        );
        assert_eq!(
            of(job(
                JobState::Queued,
                500,
                Some("quota agent:openai (all processes, today) until x")
            )),
            Reason::Quota {
                key: key("agent:openai"),
                until: 500
            }
        );
    }

    #[test]
    fn a_rerun_command_quotes_what_a_shell_would_split() {
        let mut failed = job(JobState::Failed, 0, None);
        failed.key = "10.1234/a b'c".into();
        assert_eq!(
            rerun_command(&failed),
            "baton job retry '10.1234/a b'\\''c'"
        );
        failed.key = "10.1234/x".into();
        assert_eq!(rerun_command(&failed), "baton job retry 10.1234/x");
    }
}
