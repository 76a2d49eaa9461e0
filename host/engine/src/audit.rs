//! The audit log: one JSON line per maintenance action (cleanup, recover, retry, cancel,
//! schedule changes, dashboard actions) in `.baton/audit/YYYY-MM-DD.jsonl` (UTC day).
//!
//! Line shape: `{"at":"2026-12-01T08:00:00.000Z","who":"alice","what":"job.recover",
//! "args":{...},"result":{...}}`. `who` is the operating system user (`$USER`, else the numeric
//! uid as `uid:N`) or, for dashboard actions, `token:NAME`. Lines are appended with one
//! `write` of the whole line to a file opened with `O_APPEND`, so concurrent writers never
//! interleave within a line (POSIX `write(2)` on regular files in append mode), and synced
//! before the call returns: an action the user saw reported is in the log.

use anyhow::{Context, Result};
use baton_core::clock;
use serde_json::{Value, json};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Who performed an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// The operating system user running the command.
    User(String),
    /// A dashboard session authenticated with the admin token of this name.
    Token(String),
}

impl Actor {
    /// The user running this process: `$USER` (or `$LOGNAME`), else `uid:N`.
    pub fn current_user() -> Actor {
        let name = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .ok()
            .filter(|name| !name.is_empty());
        // SAFETY: getuid has no preconditions and cannot fail.
        Actor::User(name.unwrap_or_else(|| format!("uid:{}", unsafe { libc::getuid() })))
    }

    fn label(&self) -> String {
        match self {
            Actor::User(name) => name.clone(),
            Actor::Token(name) => format!("token:{name}"),
        }
    }
}

/// The audit log of a project, rooted at its `.baton/audit` directory.
#[derive(Debug, Clone)]
pub struct AuditLog {
    dir: PathBuf,
}

impl AuditLog {
    /// The audit log under `state_dir` (a project's `.baton/`); nothing is created until the
    /// first [`AuditLog::record`].
    pub fn new(state_dir: &Path) -> AuditLog {
        AuditLog {
            dir: state_dir.join("audit"),
        }
    }

    /// The directory holding the day files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends one line for `what` (a dotted action name such as `job.recover`) done by `who`
    /// with `args`, ending in `result`, and returns the file it went to.
    ///
    /// Errors: the directory cannot be created, or the file cannot be opened, written or
    /// synced (the message names the file). A caller reports the action's own result first
    /// and this error after it: the action is not undone because its log line failed.
    pub fn record(&self, who: &Actor, what: &str, args: Value, result: Value) -> Result<PathBuf> {
        let now = clock::now_ms();
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("cannot create the audit directory {}", self.dir.display()))?;
        let path = self.dir.join(format!("{}.jsonl", clock::day_of(now)));
        let line = json!({
            "at": clock::format_ms(now),
            "who": who.label(),
            "what": what,
            "args": args,
            "result": result,
        });
        let mut bytes = serde_json::to_vec(&line).context("cannot encode the audit line")?;
        bytes.push(b'\n');
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot open the audit log {}", path.display()))?;
        file.write_all(&bytes)
            .and_then(|()| file.sync_data())
            .with_context(|| format!("cannot write the audit log {}", path.display()))?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_appended_whole_and_parse() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::new(dir.path());
        let who = Actor::Token("ops".into());
        let first = log
            .record(
                &who,
                "job.recover",
                json!({"id": "a"}),
                json!({"recovered": 1}),
            )
            .unwrap();
        let second = log
            .record(
                &Actor::User("alice".into()),
                "cleanup",
                json!({}),
                json!({"removed": 0}),
            )
            .unwrap();
        assert_eq!(first, second);
        let text = std::fs::read_to_string(&first).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["who"], "token:ops");
        assert_eq!(lines[0]["what"], "job.recover");
        assert_eq!(lines[0]["args"]["id"], "a");
        assert_eq!(lines[1]["who"], "alice");
        assert!(lines[1]["at"].as_str().unwrap().ends_with('Z'));
        assert!(
            first
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .ends_with(".jsonl")
        );
    }

    #[test]
    fn an_unwritable_directory_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("audit"),
            b"a file where the directory belongs",
        )
        .unwrap();
        let error = AuditLog::new(dir.path())
            .record(&Actor::current_user(), "cleanup", json!({}), json!({}))
            .unwrap_err();
        assert!(format!("{error:#}").contains("audit"), "{error:#}");
    }
}
