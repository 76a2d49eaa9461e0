//! The ledger file: appends events as JSON lines to `.baton/ledger/YYYY-MM-DD.jsonl` (UTC
//! day of each event). A store owns one and appends after each commit, so committing a
//! change and journaling it are one step no caller can skip.

use crate::event::Event;
use anyhow::{Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Appends events to the day's JSON Lines file.
pub struct LedgerFile {
    dir: PathBuf,
    day: String,
    file: Option<std::io::BufWriter<std::fs::File>>,
}

impl LedgerFile {
    /// A ledger writing into `dir` (created on the first append).
    pub fn new(dir: &Path) -> LedgerFile {
        LedgerFile {
            dir: dir.to_path_buf(),
            day: String::new(),
            file: None,
        }
    }

    /// Writes and flushes the lines of `events`; the error names the file.
    pub fn append(&mut self, events: &[Event]) -> Result<()> {
        for event in events {
            let day = crate::clock::day_of(event.at);
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
