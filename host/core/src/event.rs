//! Ledger events: every state change and notable event, stored as a row of the store's
//! `events` table in the same transaction as the change and appended as one JSON line to
//! `.baton/ledger/YYYY-MM-DD.jsonl` after it commits (see [`crate::ledger`]).

use serde_json::{Map, Value, json};

/// One ledger entry.
#[derive(Debug, Clone)]
pub struct Event {
    /// When, in Unix milliseconds.
    pub at: i64,
    /// The store's id of the job it concerns, if any.
    pub job_id: Option<i64>,
    /// The job's idempotency key, if it concerns a job.
    pub key: Option<String>,
    /// `enqueued`, `running`, `done`, `skipped`, `failed`, `retry`, `snoozed`, `recovered`,
    /// `released`, `fenced`, `cancelled`, `resumed`, `import`, `run-started`, `run-finished` …
    pub event: &'static str,
    /// More fields (a JSON object) merged into the line.
    pub data: Value,
}

impl Event {
    /// An event about job `job_id` (key `key`).
    pub fn job(at: i64, job_id: i64, key: &str, event: &'static str, data: Value) -> Event {
        Event {
            at,
            job_id: Some(job_id),
            key: Some(key.to_string()),
            event,
            data,
        }
    }

    /// An event about no single job (an import, a run starting or ending).
    pub fn general(at: i64, event: &'static str, data: Value) -> Event {
        Event {
            at,
            job_id: None,
            key: None,
            event,
            data,
        }
    }

    /// The JSON line: `{"at": RFC 3339, "event": ..., "job": KEY, ...data}`.
    pub fn to_json(&self) -> Value {
        let mut line = Map::new();
        line.insert("at".into(), json!(crate::clock::format_ms(self.at)));
        line.insert("event".into(), json!(self.event));
        if let Some(key) = &self.key {
            line.insert("job".into(), json!(key));
        }
        if let Value::Object(data) = &self.data {
            for (k, v) in data {
                line.insert(k.clone(), v.clone());
            }
        }
        Value::Object(line)
    }
}
