//! The ledger: every state change and notable event as one JSON line in
//! `.baton/ledger/YYYY-MM-DD.jsonl` and as a row of the store's `events` table, so `job show`,
//! `logs` and the dashboard read the same truth. The store writes the rows in the same
//! transaction as the change; the file lines follow the commit.

use anyhow::{Context, Result};
use serde_json::{Map, Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};

/// One ledger entry.
#[derive(Debug, Clone)]
pub struct Event {
    /// Unix milliseconds.
    pub at: i64,
    pub job_id: Option<i64>,
    pub key: Option<String>,
    /// `enqueued`, `running`, `done`, `skipped`, `failed`, `retry`, `recovered`, `released`,
    /// `cancelled`, `downloaded`, `import`, ...
    pub event: &'static str,
    pub data: Value,
}

impl Event {
    pub fn job(at: i64, job_id: i64, key: &str, event: &'static str, data: Value) -> Event {
        Event {
            at,
            job_id: Some(job_id),
            key: Some(key.to_string()),
            event,
            data,
        }
    }

    /// The JSON line: `{"at": ..., "event": ..., "job": ..., ...data}`.
    pub fn to_json(&self) -> Value {
        let mut line = Map::new();
        line.insert("at".into(), json!(crate::queue::model::format_ms(self.at)));
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

/// Appends events to the day's JSON Lines file.
pub struct LedgerFile {
    dir: PathBuf,
    day: String,
    file: Option<std::io::BufWriter<std::fs::File>>,
}

impl LedgerFile {
    pub fn new(dir: &Path) -> LedgerFile {
        LedgerFile {
            dir: dir.to_path_buf(),
            day: String::new(),
            file: None,
        }
    }

    /// Writes and flushes the lines of `events`.
    pub fn append(&mut self, events: &[Event]) -> Result<()> {
        for event in events {
            let day = crate::queue::model::format_ms(event.at)[..10].to_string();
            if day != self.day || self.file.is_none() {
                self.open(&day)?;
            }
            let file = self.file.as_mut().expect("opened above");
            serde_json::to_writer(&mut *file, &event.to_json())?;
            file.write_all(b"\n")?;
        }
        if let Some(file) = self.file.as_mut() {
            file.flush().context("cannot write the ledger")?;
        }
        Ok(())
    }

    fn open(&mut self, day: &str) -> Result<()> {
        if let Some(mut file) = self.file.take() {
            file.flush()?;
        }
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("cannot create {}", self.dir.display()))?;
        let path = self.dir.join(format!("{day}.jsonl"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot open the ledger {}", path.display()))?;
        self.file = Some(std::io::BufWriter::with_capacity(1 << 16, file));
        self.day = day.to_string();
        Ok(())
    }
}
