//! Prometheus metrics for `baton serve` (`GET /metrics`, text exposition format), through
//! prometheus-client: jobs by state and kind (from the store's summary at each scrape), and
//! from following the ledger since the server started — jobs finished by outcome, queue wait
//! and run duration histograms, limiter waits by key and plugin failures by kind.

use anyhow::Result;
use baton_core::model::JobState;
use baton_core::store::StoreRead;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use serde_json::Value;
use std::collections::HashMap;

/// Ledger events read per follow step.
const FOLLOW_BATCH: usize = 10_000;
/// Claims remembered to time their runs (the oldest are dropped past this).
const MAX_IN_FLIGHT: usize = 200_000;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    state: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KeyLabels {
    key: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabels {
    code: String,
}

/// The registry and the ledger follower's position.
pub struct Metrics {
    registry: Registry,
    jobs: Family<JobLabels, Gauge>,
    finished: Family<OutcomeLabels, Counter>,
    queue_wait: Histogram,
    run_duration: Family<OutcomeLabels, Histogram>,
    limiter_waits: Family<KeyLabels, Counter>,
    plugin_failures: Family<CodeLabels, Counter>,
    /// The last ledger `seq` followed.
    seq: i64,
    /// Job key → when its current attempt was claimed (Unix ms).
    claimed: HashMap<String, i64>,
}

fn seconds_buckets() -> impl Iterator<Item = f64> {
    // 1 ms to about 9 hours.
    exponential_buckets(0.001, 2.0, 25)
}

impl Metrics {
    /// Metrics that follow the ledger from `seq` on (the newest event when the server
    /// starts: counters count from then, as Prometheus counters do from a process start).
    pub fn new(seq: i64) -> Metrics {
        let mut registry = Registry::with_prefix("baton");
        let jobs = Family::<JobLabels, Gauge>::default();
        registry.register("jobs", "Jobs in the store by state and kind", jobs.clone());
        let finished = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "jobs_finished",
            "Jobs that ended (done, skipped, failed) since the server started",
            finished.clone(),
        );
        let queue_wait = Histogram::new(seconds_buckets());
        registry.register(
            "queue_wait_seconds",
            "Time from a job being due to its claim by a worker",
            queue_wait.clone(),
        );
        let run_duration = Family::<OutcomeLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(seconds_buckets())
        });
        registry.register(
            "run_duration_seconds",
            "Time from a claim to the attempt's outcome, by outcome",
            run_duration.clone(),
        );
        let limiter_waits = Family::<KeyLabels, Counter>::default();
        registry.register(
            "limiter_waits",
            "Jobs that stepped aside for a limiter key (rate, quota, concurrency)",
            limiter_waits.clone(),
        );
        let plugin_failures = Family::<CodeLabels, Counter>::default();
        registry.register(
            "plugin_failures",
            "Failed attempts with a plugin error code (trap, deadline-exceeded, ...)",
            plugin_failures.clone(),
        );
        Metrics {
            registry,
            jobs,
            finished,
            queue_wait,
            run_duration,
            limiter_waits,
            plugin_failures,
            seq,
            claimed: HashMap::new(),
        }
    }

    /// Reads the store's counts and the ledger since the last call, then renders the text
    /// exposition. Errors: the store cannot be read.
    pub fn render(&mut self, store: &dyn StoreRead, now: i64) -> Result<String> {
        let overview = store.overview(now, &baton_core::clock::day_of(now), 0)?;
        let mut kinds: Vec<String> = overview.counts.iter().map(|c| c.kind.clone()).collect();
        kinds.sort();
        kinds.dedup();
        for kind in &kinds {
            for state in JobState::ALL {
                let n = overview
                    .counts
                    .iter()
                    .find(|c| &c.kind == kind && c.state == state.as_str())
                    .map_or(0, |c| c.jobs);
                self.jobs
                    .get_or_create(&JobLabels {
                        state: state.as_str().into(),
                        kind: kind.clone(),
                    })
                    .set(n);
            }
        }
        loop {
            let events = store.events_since(self.seq, FOLLOW_BATCH)?;
            let full = events.len() == FOLLOW_BATCH;
            for (seq, event) in events {
                self.seq = seq;
                self.observe(&event);
            }
            if !full {
                break;
            }
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }

    fn observe(&mut self, event: &Value) {
        let name = event["event"].as_str().unwrap_or_default();
        let key = event["job"].as_str().unwrap_or_default().to_string();
        let at = event["at"]
            .as_str()
            .and_then(|t| humantime::parse_rfc3339(t).ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_millis() as i64);
        if let Some(code) = event["code"].as_str() {
            self.plugin_failures
                .get_or_create(&CodeLabels { code: code.into() })
                .inc();
        }
        match name {
            "running" => {
                if let Some(waited) = event["waited_ms"].as_i64() {
                    self.queue_wait.observe(waited as f64 / 1000.0);
                }
                if let Some(at) = at {
                    if self.claimed.len() >= MAX_IN_FLIGHT {
                        self.claimed.clear();
                    }
                    self.claimed.insert(key, at);
                }
            }
            "done" | "skipped" | "failed" | "retry" | "snoozed" => {
                if matches!(name, "done" | "skipped" | "failed") {
                    self.finished
                        .get_or_create(&OutcomeLabels {
                            outcome: name.into(),
                        })
                        .inc();
                }
                if name == "snoozed"
                    && let Some(wait) = event["wait"].as_str()
                    && let Some(limit_key) = limiter_key(wait)
                {
                    self.limiter_waits
                        .get_or_create(&KeyLabels { key: limit_key })
                        .inc();
                }
                if let (Some(start), Some(end)) = (self.claimed.remove(&key), at) {
                    self.run_duration
                        .get_or_create(&OutcomeLabels {
                            outcome: name.into(),
                        })
                        .observe((end - start).max(0) as f64 / 1000.0);
                }
            }
            "recovered" | "released" | "fenced" | "cancelled" => {
                self.claimed.remove(&key);
            }
            _ => {}
        }
    }
}

/// The limiter key in a wait reason (`rate host:x until …`, `concurrency host:x (2/2) …`,
/// `quota host:x (…) …`, or an agent's park `… until T [agent:openai]`).
fn limiter_key(wait: &str) -> Option<String> {
    baton_engine::dashboard::wait_key(wait)
}
