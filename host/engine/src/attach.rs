//! Following one job or one pipeline run (`baton job attach`): which jobs it is, their
//! ledger rows after a `seq` (read from the store, which every host's commits reach), how
//! far it has got, whether it has ended and with which exit code, and the log files it
//! writes (`.baton/logs/<job>.log`, `.baton/runs/<run>/<stage>.log`), read line by line as
//! they grow. The CLI prints; [`crate::follow`] says when to look again.

use anyhow::Result;
use baton_core::model::JobState;
use baton_core::store::{RunState, StoreRead};
use serde::Serialize;
use serde_json::Value;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Ledger rows read per look.
pub const BATCH: usize = 1000;

/// What is followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// One job, by its idempotency key.
    Job(String),
    /// A pipeline run, by its id.
    Run(String),
}

/// How the followed job or run stands.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// `queued`, `running`, `done`, `failed`, … for a job; `running`, `done`, `degraded`,
    /// `interrupted` for a run.
    pub state: String,
    /// Whether it has ended (nothing more will happen without a new command).
    pub ended: bool,
    /// Jobs that ended, of `total` (a job: 0 or 1 of 1).
    pub done: usize,
    /// Jobs followed.
    pub total: usize,
    /// Jobs that failed or were cancelled.
    pub failed: usize,
    /// What to run next when it was interrupted (its process is gone).
    pub note: Option<String>,
}

impl Status {
    /// The exit code that matches how it ended: 0 done (or skipped), 10 failed, cancelled,
    /// degraded or interrupted.
    pub fn exit_code(&self) -> i32 {
        match self.state.as_str() {
            "done" | "skipped" => 0,
            _ => 10,
        }
    }
}

/// A job or run being followed.
#[derive(Debug, Clone)]
pub struct Attach {
    /// What it is.
    pub target: Target,
    /// The store ids of its jobs.
    job_ids: Vec<i64>,
    /// Its jobs' keys, in the order of `job_ids`.
    keys: Vec<String>,
}

impl Attach {
    /// The job whose key is `key`, else the run whose id is `key`; `None` when neither
    /// exists.
    pub fn resolve(store: &dyn StoreRead, key: &str) -> Result<Option<Attach>> {
        if let Some(job) = store.job(key)? {
            return Ok(Some(Attach {
                target: Target::Job(job.key.clone()),
                job_ids: vec![job.id],
                keys: vec![job.key],
            }));
        }
        if store.run(key)?.is_none() {
            return Ok(None);
        }
        let mut attach = Attach {
            target: Target::Run(key.to_string()),
            job_ids: Vec::new(),
            keys: Vec::new(),
        };
        for job_key in store.run_job_keys(key)? {
            if let Some(job) = store.job(&job_key)? {
                attach.job_ids.push(job.id);
                attach.keys.push(job.key);
            }
        }
        Ok(Some(attach))
    }

    /// The ledger rows after `seq` (at most [`BATCH`]), lowest first, each with its `seq`.
    pub fn events_after(&self, store: &dyn StoreRead, seq: i64) -> Result<Vec<Value>> {
        store.events_after(&self.job_ids, seq, BATCH)
    }

    /// How it stands now. Read before the rows that follow, so that once it has ended,
    /// reading the rows to the end shows everything that happened.
    pub fn status(&self, store: &dyn StoreRead) -> Result<Status> {
        let mut done = 0;
        let mut failed = 0;
        let mut job_state = None;
        for key in &self.keys {
            if let Some(job) = store.job(key)? {
                if job.state.is_final() {
                    done += 1;
                }
                if matches!(job.state, JobState::Failed | JobState::Cancelled) {
                    failed += 1;
                }
                job_state = Some(job.state);
            }
        }
        let total = self.keys.len();
        match &self.target {
            Target::Job(key) => {
                let state = job_state.ok_or_else(|| {
                    anyhow::anyhow!("job `{key}` is no longer in the queue (removed by cleanup?)")
                })?;
                Ok(Status {
                    state: state.to_string(),
                    ended: state.is_final(),
                    done,
                    total,
                    failed,
                    note: None,
                })
            }
            Target::Run(id) => {
                let run = store.run(id)?.ok_or_else(|| {
                    anyhow::anyhow!("run `{id}` is no longer in the store (removed by cleanup?)")
                })?;
                let mut status = Status {
                    state: run.state.as_str().to_string(),
                    ended: run.state != RunState::Running,
                    done,
                    total,
                    failed,
                    note: None,
                };
                if let Some(owner) = run.owner.filter(|_| run.state == RunState::Running)
                    && !crate::owner::dead_local_owners(std::slice::from_ref(&owner)).is_empty()
                {
                    status.state = "interrupted".into();
                    status.ended = true;
                    status.note = Some(format!(
                        "run {id} was interrupted: its process ({owner}) is gone; resume it with `baton pipeline run {} --resume {id}`",
                        run.pipeline
                    ));
                }
                Ok(status)
            }
        }
    }

    /// The log files its jobs write, as (label, path): a run's stage logs
    /// (`runs/<run>/<stage>.log`), or a job's log (`logs/<key>.log`) when its key is a plain
    /// file name. They may not exist (yet).
    pub fn log_files(&self, state_dir: &Path) -> Vec<(String, PathBuf)> {
        match &self.target {
            Target::Run(run) => self
                .keys
                .iter()
                .filter_map(|key| key.rsplit_once('/').map(|(_, stage)| stage))
                .filter(|stage| plain_name(stage))
                .map(|stage| {
                    (
                        stage.to_string(),
                        state_dir
                            .join("runs")
                            .join(run)
                            .join(format!("{stage}.log")),
                    )
                })
                .collect(),
            Target::Job(key) if plain_name(key) => {
                vec![(
                    key.clone(),
                    state_dir.join("logs").join(format!("{key}.log")),
                )]
            }
            Target::Job(_) => Vec::new(),
        }
    }
}

/// Whether `name` can be a file name as it is (letters, digits, `.`, `_`, `-`; not `.`/`..`).
fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Reads a growing text file line by line: each call returns the complete lines added since
/// the last (a line still being written waits for its newline).
#[derive(Debug)]
pub struct LogTail {
    path: PathBuf,
    offset: u64,
    partial: Vec<u8>,
    /// Lines whose leading RFC 3339 time is at or before this are skipped (they were shown
    /// before a reattach).
    after: Option<String>,
}

/// The most a [`LogTail::read`] returns at once (bytes); the rest comes with the next call.
const TAIL_CHUNK: u64 = 1 << 20;

impl LogTail {
    /// A tail of `path` from its start, skipping lines stamped at or before `after` (an RFC
    /// 3339 time, as each log line begins).
    pub fn new(path: PathBuf, after: Option<String>) -> LogTail {
        LogTail {
            path,
            offset: 0,
            partial: Vec::new(),
            after,
        }
    }

    /// The complete lines added since the last call; none when the file does not exist.
    /// A file that shrank (rewritten) is read again from its start.
    ///
    /// Errors: the file exists but cannot be read.
    pub fn read(&mut self) -> Result<Vec<String>> {
        let mut file = match std::fs::File::open(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(anyhow::anyhow!("cannot read {}: {e}", self.path.display()));
            }
        };
        let len = file.metadata()?.len();
        if len < self.offset {
            self.offset = 0;
            self.partial.clear();
        }
        file.seek(SeekFrom::Start(self.offset))?;
        let mut bytes = Vec::new();
        file.take(TAIL_CHUNK).read_to_end(&mut bytes)?;
        self.offset += bytes.len() as u64;
        self.partial.extend_from_slice(&bytes);
        let Some(end) = self.partial.iter().rposition(|b| *b == b'\n') else {
            return Ok(Vec::new());
        };
        let complete: Vec<u8> = self.partial.drain(..=end).collect();
        Ok(String::from_utf8_lossy(&complete)
            .lines()
            .filter(|line| match (&self.after, line.split_whitespace().next()) {
                (Some(after), Some(time)) => time > after.as_str(),
                _ => true,
            })
            .map(String::from)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_tail_returns_whole_lines_once_and_skips_what_was_shown() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.log");
        let mut tail = LogTail::new(path.clone(), Some("2026-12-01T08:00:01.000Z".into()));
        assert!(tail.read().unwrap().is_empty());
        let mut file = std::fs::File::create(&path).unwrap();
        file.write_all(b"2026-12-01T08:00:00.000Z INFO stage old\n2026-12-01T08:00:02.000Z INFO stage new\n2026-12-01T08:00:03")
            .unwrap();
        assert_eq!(
            tail.read().unwrap(),
            ["2026-12-01T08:00:02.000Z INFO stage new"]
        );
        file.write_all(b".000Z INFO stage last\n").unwrap();
        assert_eq!(
            tail.read().unwrap(),
            ["2026-12-01T08:00:03.000Z INFO stage last"]
        );
        assert!(tail.read().unwrap().is_empty());
    }

    #[test]
    fn only_plain_names_become_log_paths() {
        assert!(plain_name("people"));
        assert!(!plain_name("../x"));
        assert!(!plain_name("10.1/x"));
        assert!(!plain_name(".."));
    }
}
