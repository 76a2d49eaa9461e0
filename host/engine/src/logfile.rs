//! The log files of jobs (`.baton/logs/<job>.log`) and pipeline stages
//! (`.baton/runs/<run>/<stage>.log`): what a plugin emitted through `log` at its own level,
//! what it (or a command stage) wrote to stdout and stderr, and Baton's own notes (attempts,
//! failures, a trap's backtrace). Size-capped: the entry that would pass the cap is replaced by
//! one note saying so, and nothing is written after it.
//!
//! The format is stable (`job attach` and operators' scripts read it): one entry per line,
//! five fields separated by a tab:
//!
//! ```text
//! TIME \t LEVEL \t SOURCE \t MESSAGE \t FIELDS
//! ```
//!
//! - TIME: RFC 3339 UTC with milliseconds, e.g. `2026-12-01T08:00:00.000Z`;
//! - LEVEL: `trace`, `debug`, `info`, `warn` or `error`;
//! - SOURCE: `baton` (Baton's notes), `plugin:NAME` (the `log` import), `stdout:NAME` and
//!   `stderr:NAME` (captured output, one entry per line; NAME is `command` for a command
//!   stage), `backtrace:NAME` (a trap's wasm backtrace, one entry per frame);
//! - MESSAGE: the text with `\` `\t` `\n` `\r` escaped as `\\` `\t` `\n` `\r` and any other
//!   control character as `\u{XX}` (so an entry is always one line);
//! - FIELDS: the `log` record's key-value pairs as a JSON array of `[key, value]` pairs, `[]`
//!   when there are none.
//!
//! It does not know jobs or stages: callers give it paths and entries.

use anyhow::{Context, Result};
use baton_core::clock::format_ms;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The directory of job logs under `.baton/`.
pub const JOB_LOG_DIR: &str = "logs";

/// The text of the note that ends a capped log; a log ending in it takes no more entries.
const CAP_NOTE: &str = "log cap reached";

/// Longest part of an id kept readable in a file name, in bytes.
const MAX_NAME_BYTES: usize = 64;

/// A file name (without extension) for an arbitrary id: the id itself when it is short and
/// plain (ASCII letters, digits, `.`, `_`, `-`; not starting with `.`), else its plain
/// characters (others become `_`, at most 64 bytes) then `-` and the first 16 hex digits of
/// its sha256, so hostile ids (`../x`, 10,000 characters, odd characters) cannot escape the
/// directory, collide or exceed the file system's name limit.
pub fn safe_name(id: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if !id.is_empty() && id.len() <= MAX_NAME_BYTES && !id.starts_with('.') && id.chars().all(plain)
    {
        // Plain names never end in `-` + 16 hex digits, which only hashed names do.
        let hashed_like = id.len() > 17
            && id.as_bytes()[id.len() - 17] == b'-'
            && id[id.len() - 16..].bytes().all(|b| b.is_ascii_hexdigit());
        if !hashed_like {
            return id.to_string();
        }
    }
    let readable: String = id
        .chars()
        .map(|c| if plain(c) { c } else { '_' })
        .take(MAX_NAME_BYTES)
        .collect();
    let digest = baton_core::digest::sha256_hex(id.as_bytes());
    format!("{}-{}", readable.trim_start_matches('.'), &digest[..16])
}

/// The log file of the job with idempotency key `key`: `STATE_DIR/logs/<safe name>.log`.
pub fn job_log_path(state_dir: &Path, key: &str) -> PathBuf {
    state_dir
        .join(JOB_LOG_DIR)
        .join(format!("{}.log", safe_name(key)))
}

/// The log file of a job of any kind: a pipeline stage's job (key `<run>/<stage>`) logs to
/// its run's stage log ([`stage_log_path`]), any other job to [`job_log_path`].
pub fn log_path_of(state_dir: &Path, job: &baton_core::model::Job) -> PathBuf {
    match (&job.kind, &job.run_id) {
        (baton_core::model::JobKind::Stage, Some(run)) => {
            let stage = job.key.rsplit('/').next().unwrap_or_default();
            stage_log_path(&state_dir.join("runs").join(run), stage)
        }
        _ => job_log_path(state_dir, &job.key),
    }
}

/// The log file of stage `stage` in the run directory `run_dir` (`.baton/runs/<run>/`).
pub fn stage_log_path(run_dir: &Path, stage: &str) -> PathBuf {
    run_dir.join(format!("{}.log", safe_name(stage)))
}

/// Where the jobs' logs go: `STATE_DIR/logs/`, each capped at `cap` bytes.
#[derive(Debug, Clone)]
pub struct JobLogs {
    /// The project's `.baton/`.
    pub state_dir: PathBuf,
    /// Most bytes one job's log holds (`runtime.log-cap`).
    pub cap: u64,
}

impl JobLogs {
    /// The log of the job with idempotency key `key`.
    pub fn file(&self, key: &str) -> LogFile {
        LogFile::new(job_log_path(&self.state_dir, key), self.cap)
    }
}

/// One log entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Entry {
    /// When it happened, in Unix milliseconds.
    pub at_ms: i64,
    /// `trace`, `debug`, `info`, `warn` or `error`.
    pub level: String,
    /// Who said it: `baton`, `plugin:NAME`, `stdout:NAME`, `stderr:NAME`, `backtrace:NAME`.
    pub source: String,
    /// The text.
    pub message: String,
    /// Key-value pairs, in order.
    pub fields: Vec<(String, String)>,
}

impl Entry {
    /// An entry without fields.
    pub fn new(at_ms: i64, level: &str, source: String, message: impl Into<String>) -> Entry {
        Entry {
            at_ms,
            level: level.to_string(),
            source,
            message: message.into(),
            fields: Vec::new(),
        }
    }

    /// The entry as one line of the file, without the newline.
    pub fn line(&self) -> String {
        let fields = serde_json::to_string(&self.fields).unwrap_or_else(|_| "[]".into());
        format!(
            "{}\t{}\t{}\t{}\t{fields}",
            format_ms(self.at_ms),
            escape(&self.level),
            escape(&self.source),
            escape(&self.message)
        )
    }

    /// Parses one line of a log file; `None` when it is not one.
    pub fn parse(line: &str) -> Option<Entry> {
        let mut parts = line.splitn(5, '\t');
        let time = parts.next()?;
        let level = unescape(parts.next()?);
        let source = unescape(parts.next()?);
        let message = unescape(parts.next()?);
        let fields = serde_json::from_str(parts.next()?).ok()?;
        let at = humantime::parse_rfc3339(time).ok()?;
        let at_ms = at
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        Some(Entry {
            at_ms,
            level,
            source,
            message,
            fields,
        })
    }
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('u') => {
                let code: String = chars
                    .by_ref()
                    .skip_while(|c| *c == '{')
                    .take_while(|c| *c != '}')
                    .collect();
                if let Some(c) = u32::from_str_radix(&code, 16).ok().and_then(char::from_u32) {
                    out.push(c);
                }
            }
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// A size-capped log file that entries are appended to (created with its directory on the
/// first entry). The file stays open from the first append until the `LogFile` is dropped,
/// so a job's or a stage's entries cost one `write` each (`clone` gives a handle of its own,
/// opened on its first append).
///
/// Routine notes can be held back ([`LogFile::hold`], [`LogFile::append_routine`]): they reach
/// the file only when it has, or gets, something else, so a job that went well silently
/// creates no file (the ledger records its attempts either way).
#[derive(Debug)]
pub struct LogFile {
    /// Where it lives.
    pub path: PathBuf,
    /// Most bytes it holds (the closing note may pass it by one line).
    pub cap: u64,
    state: std::sync::Mutex<State>,
}

/// The open file, once opened, and the routine notes held back until something else comes.
#[derive(Debug, Default)]
struct State {
    open: Option<Open>,
    held: Vec<Entry>,
}

/// The open file, the bytes it holds, and whether it ends in the cap note.
#[derive(Debug)]
struct Open {
    file: std::fs::File,
    size: u64,
    capped: bool,
}

impl Clone for LogFile {
    fn clone(&self) -> LogFile {
        LogFile::new(self.path.clone(), self.cap)
    }
}

impl LogFile {
    /// The log at `path`, capped at `cap` bytes.
    pub fn new(path: PathBuf, cap: u64) -> LogFile {
        LogFile {
            path,
            cap,
            state: std::sync::Mutex::default(),
        }
    }

    /// Opens the file for appending, creating its directory when it is missing (tried only
    /// then: an append to an existing directory costs no `mkdir`).
    fn open(&self) -> Result<Open> {
        let options = || {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .read(true)
                .open(&self.path)
        };
        let file = match options() {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(dir) = self.path.parent() {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("cannot create {}", dir.display()))?;
                }
                options()
            }
            opened => opened,
        }
        .with_context(|| format!("cannot open the log {}", self.path.display()))?;
        Ok(Open::of(file))
    }

    /// Opens the file for appending only if it exists already; `None` when it does not.
    fn open_existing(&self) -> Result<Option<Open>> {
        match std::fs::OpenOptions::new()
            .append(true)
            .read(true)
            .open(&self.path)
        {
            Ok(file) => Ok(Some(Open::of(file))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => {
                Err(e).with_context(|| format!("cannot open the log {}", self.path.display()))
            }
        }
    }

    /// Holds routine notes (e.g. "attempt 1 of 3 started") back: they are written ahead of
    /// the next [`LogFile::append`], or by [`LogFile::append_routine`] when the file exists,
    /// and dropped with the `LogFile` otherwise.
    pub fn hold(&self, entries: &[Entry]) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.held.extend_from_slice(entries);
    }

    /// Appends routine notes, with those held, only when the file already exists (this
    /// attempt or an earlier one wrote to it); otherwise drops them and creates nothing.
    /// Errors name the file.
    pub fn append_routine(&self, entries: &[Entry]) -> Result<()> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.open.is_none() {
            match self.open_existing()? {
                Some(open) => state.open = Some(open),
                None => {
                    state.held.clear();
                    return Ok(());
                }
            }
        }
        self.write_locked(&mut state, entries)
    }

    /// Appends `entries` in order. The first entry that would take the file past its cap is
    /// replaced by a `warn` note naming the cap, and nothing is appended after that note,
    /// now or later. Errors name the file.
    pub fn append(&self, entries: &[Entry]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.open.is_none() {
            state.open = Some(self.open()?);
        }
        self.write_locked(&mut state, entries)
    }

    /// Writes the held notes, then `entries`, to the open file in one `write`, within the
    /// cap (see [`LogFile::append`]).
    fn write_locked(&self, state: &mut State, entries: &[Entry]) -> Result<()> {
        let held = std::mem::take(&mut state.held);
        let Some(open) = state.open.as_mut() else {
            return Ok(());
        };
        if open.capped {
            return Ok(());
        }
        let mut text = String::new();
        let mut size = open.size;
        for entry in held.iter().chain(entries) {
            let line = entry.line();
            if size + line.len() as u64 + 1 > self.cap {
                let note = Entry::new(
                    entry.at_ms,
                    "warn",
                    "baton".into(),
                    format!(
                        "{CAP_NOTE}: this log keeps at most {} bytes (setting runtime.log-cap); later entries are dropped",
                        self.cap
                    ),
                );
                text.push_str(&note.line());
                text.push('\n');
                open.capped = true;
                break;
            }
            size += line.len() as u64 + 1;
            text.push_str(&line);
            text.push('\n');
        }
        open.size += text.len() as u64;
        open.file
            .write_all(text.as_bytes())
            .with_context(|| format!("cannot write the log {}", self.path.display()))
    }

    /// Appends `entries`, reporting a failure as a warning instead of failing the job: a
    /// log that cannot be written must not change the work's outcome.
    pub fn append_or_warn(&self, entries: &[Entry]) {
        if let Err(e) = self.append(entries) {
            tracing::warn!("{e:#}");
        }
    }

    /// [`LogFile::append_routine`], reporting a failure as a warning.
    pub fn append_routine_or_warn(&self, entries: &[Entry]) {
        if let Err(e) = self.append_routine(entries) {
            tracing::warn!("{e:#}");
        }
    }
}

impl Open {
    /// The file opened for appending, with its size and whether it ends in the cap note.
    fn of(mut file: std::fs::File) -> Open {
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        let capped = size > 0 && ends_with_cap_note(&mut file);
        Open { file, size, capped }
    }
}

/// Whether the file's last line is the cap note.
fn ends_with_cap_note(file: &mut std::fs::File) -> bool {
    let Ok(len) = file.seek(SeekFrom::End(0)) else {
        return false;
    };
    let start = len.saturating_sub(512);
    let mut tail = Vec::new();
    if file.seek(SeekFrom::Start(start)).is_err() || file.read_to_end(&mut tail).is_err() {
        return false;
    }
    let text = String::from_utf8_lossy(&tail);
    text.trim_end_matches('\n')
        .rsplit('\n')
        .next()
        .and_then(Entry::parse)
        .is_some_and(|entry| entry.source == "baton" && entry.message.starts_with(CAP_NOTE))
}

/// The last `count` lines of the log at `path`, in order (reads at most its last 256 KiB).
pub fn tail(path: &Path, count: usize) -> Result<Vec<String>> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let len = file.seek(SeekFrom::End(0))?;
    let start = len.saturating_sub(256 * 1024);
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let text = String::from_utf8_lossy(&bytes);
    let mut lines: Vec<&str> = text.lines().collect();
    if start > 0 && !lines.is_empty() {
        lines.remove(0);
    }
    let skip = lines.len().saturating_sub(count);
    Ok(lines[skip..].iter().map(|l| l.to_string()).collect())
}

/// The entries of one plugin call's report: [`call_entries`], then a `warn` entry per HTTP
/// request the sandbox refused.
pub fn report_entries<T>(plugin: &str, report: &baton_runtime::call::CallReport<T>) -> Vec<Entry> {
    let now = baton_core::clock::now_ms();
    let mut entries = call_entries(
        plugin,
        &report.logs,
        report.dropped_logs,
        &report.stdout,
        &report.stderr,
        now,
    );
    entries.extend(report.refused_http.iter().map(|refused| {
        Entry::new(
            now,
            "warn",
            "baton".into(),
            format!("HTTP refused: {refused}"),
        )
    }));
    entries
}

/// The entries of one plugin call: its `log` records at their own level and time, then what
/// it wrote to stdout and stderr (one `info` entry per line, at `at_ms`).
pub fn call_entries(
    plugin: &str,
    logs: &[baton_runtime::sandbox::LogRecord],
    dropped: u64,
    stdout: &str,
    stderr: &str,
    at_ms: i64,
) -> Vec<Entry> {
    let mut entries: Vec<Entry> = logs
        .iter()
        .map(|record| Entry {
            at_ms: record.at_ms,
            level: record.level.to_string(),
            source: format!("plugin:{plugin}"),
            message: record.message.clone(),
            fields: record.fields.clone(),
        })
        .collect();
    if dropped > 0 {
        entries.push(Entry::new(
            at_ms,
            "warn",
            "baton".into(),
            format!("{dropped} more log records were dropped (a call keeps 1000)"),
        ));
    }
    entries.extend(output_entries(&format!("stdout:{plugin}"), stdout, at_ms));
    entries.extend(output_entries(&format!("stderr:{plugin}"), stderr, at_ms));
    entries
}

/// One `info` entry per line of captured output.
pub fn output_entries(source: &str, text: &str, at_ms: i64) -> Vec<Entry> {
    text.lines()
        .map(|line| Entry::new(at_ms, "info", source.to_string(), line))
        .collect()
}

/// The entries of a failed plugin call: what it logged and printed before it failed, the
/// error itself, then the wasm backtrace one frame per entry.
pub fn error_entries(error: &baton_runtime::error::PluginError, at_ms: i64) -> Vec<Entry> {
    let guest = &error.guest;
    let mut entries = call_entries(
        &error.plugin,
        &guest.logs,
        0,
        &guest.stdout,
        &guest.stderr,
        at_ms,
    );
    let mut failure = Entry::new(at_ms, "error", "baton".into(), error.summary());
    failure
        .fields
        .push(("code".into(), error.kind.code().to_string()));
    entries.push(failure);
    entries.extend(
        guest
            .backtrace
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| {
                Entry::new(
                    at_ms,
                    "error",
                    format!("backtrace:{}", error.plugin),
                    line.trim_end(),
                )
            }),
    );
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_ids_become_safe_distinct_file_names() {
        assert_eq!(safe_name("job-1.a_b"), "job-1.a_b");
        let names: Vec<String> = [
            "../../etc/passwd",
            "..",
            ".hidden",
            "10.1234/abc",
            "10.1234_abc",
            &"x".repeat(10_000),
            "tab\there\u{7}",
            "a-0123456789abcdef",
        ]
        .iter()
        .map(|id| safe_name(id))
        .collect();
        for name in &names {
            assert!(!name.contains('/') && !name.starts_with('.') && !name.is_empty());
            assert!(name.len() <= MAX_NAME_BYTES + 17, "{name}");
            assert!(name.chars().all(|c| c.is_ascii_graphic()), "{name}");
        }
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        assert_eq!(
            job_log_path(Path::new("/p/.baton"), "../x").parent(),
            Some(Path::new("/p/.baton/logs"))
        );
    }

    #[test]
    fn lines_round_trip_whatever_the_text() {
        let entry = Entry {
            at_ms: 1_764_576_000_123,
            level: "warn".into(),
            source: "plugin:py".into(),
            message: "two\nlines\twith a tab \\ and \u{1b}[31m".into(),
            fields: vec![("id".into(), "a\tb".into()), ("id".into(), "c".into())],
        };
        let line = entry.line();
        assert!(!line.contains('\n'));
        assert_eq!(line.matches('\t').count(), 4, "{line}");
        assert!(line.starts_with("2025-12-01T08:00:00.123Z\twarn\tplugin:py\ttwo\\nlines"));
        assert_eq!(Entry::parse(&line), Some(entry));
        assert_eq!(Entry::parse("not a log line"), None);
    }

    #[test]
    fn the_cap_is_noted_once_and_nothing_follows() {
        let dir = tempfile::tempdir().unwrap();
        let log = LogFile::new(dir.path().join("sub/j.log"), 300);
        let entry = |n: usize| Entry::new(0, "info", "baton".into(), format!("entry {n}"));
        log.append(&(0..3).map(entry).collect::<Vec<_>>()).unwrap();
        log.append(&(3..20).map(entry).collect::<Vec<_>>()).unwrap();
        log.append(&[entry(99)]).unwrap();
        let text = std::fs::read_to_string(&log.path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].ends_with("entry 0\t[]"));
        assert!(lines.last().unwrap().contains("log cap reached"), "{text}");
        assert_eq!(text.matches("log cap reached").count(), 1);
        assert!(!text.contains("entry 99"));
        assert!(text.len() < 300 + 200, "{}", text.len());
        assert_eq!(tail(&log.path, 2).unwrap().len(), 2);
        assert_eq!(tail(&log.path, 2).unwrap()[1], *lines.last().unwrap());
    }

    #[test]
    fn routine_notes_create_no_file_but_join_one_that_exists() {
        let dir = tempfile::tempdir().unwrap();
        let note = |text: &str| Entry::new(0, "info", "baton".into(), text);
        // A silent attempt that went well: nothing on disk.
        let path = dir.path().join("logs/j.log");
        let log = LogFile::new(path.clone(), 10_000);
        log.hold(&[note("attempt 1 of 3 started")]);
        log.append_routine(&[note("attempt ended: done")]).unwrap();
        assert!(!path.exists() && !dir.path().join("logs").exists());
        // An attempt with something to say: the held note comes first, in one file.
        let log = LogFile::new(path.clone(), 10_000);
        log.hold(&[note("attempt 1 of 3 started")]);
        log.append(&[note("plugin line")]).unwrap();
        log.append_routine(&[note("attempt ended: failed")])
            .unwrap();
        // A later silent attempt joins the file an earlier one made.
        let log = LogFile::new(path.clone(), 10_000);
        log.hold(&[note("attempt 2 of 3 started")]);
        log.append_routine(&[note("attempt ended: done")]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let messages: Vec<String> = text
            .lines()
            .map(|line| Entry::parse(line).unwrap().message)
            .collect();
        assert_eq!(
            messages,
            [
                "attempt 1 of 3 started",
                "plugin line",
                "attempt ended: failed",
                "attempt 2 of 3 started",
                "attempt ended: done"
            ]
        );
    }
}
