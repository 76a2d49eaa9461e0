//! Scheduled pipeline runs (`baton schedule`): a schedule is a name, a pipeline and a time
//! ([`When`]), installed into the machine's scheduler — a systemd user timer and service
//! (`Persistent=true`: a firing missed while the machine was off runs at the next boot) on
//! Linux, a launchd agent on macOS, a crontab line elsewhere — that runs
//! `baton schedule run NAME` in the project. Baton keeps what it installed in
//! `.baton/schedules/<name>.json` (so `remove` deletes only its own files), each run's
//! result in `<name>.history.jsonl`, and the overlap lock in `<name>.lock` ([`lock`]).
//! This module plans and reads; the CLI writes, runs and prints.

pub mod lock;
pub mod render;
pub mod when;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
pub use when::When;

/// The default lock TTL: a run holding the lock longer than this (6 hours) no longer stops
/// the next one.
pub const DEFAULT_LOCK_TTL_MS: i64 = 6 * 3600 * 1000;

/// A firing this recent (60 s) is not counted as missed: the scheduler may still start it.
const MISSED_GRACE_MS: i64 = 60_000;

/// The machine's scheduler a schedule is installed into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Backend {
    /// A systemd user timer and service.
    Systemd,
    /// A launchd agent (macOS).
    Launchd,
    /// A line in the user's crontab.
    Crontab,
}

impl Backend {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Systemd => "systemd",
            Backend::Launchd => "launchd",
            Backend::Crontab => "crontab",
        }
    }

    /// The backend named `text`.
    pub fn parse(text: &str) -> Result<Backend> {
        match text {
            "systemd" => Ok(Backend::Systemd),
            "launchd" => Ok(Backend::Launchd),
            "crontab" => Ok(Backend::Crontab),
            other => bail!("unknown scheduler `{other}`: use systemd, launchd or crontab"),
        }
    }

    /// This machine's: launchd on macOS, systemd where `systemctl` is on `PATH`, else
    /// crontab.
    pub fn detect(path_var: Option<&str>) -> Backend {
        if cfg!(target_os = "macos") {
            return Backend::Launchd;
        }
        let has_systemctl = path_var
            .unwrap_or_default()
            .split(':')
            .any(|dir| Path::new(dir).join("systemctl").is_file());
        if cfg!(target_os = "linux") && has_systemctl {
            Backend::Systemd
        } else {
            Backend::Crontab
        }
    }
}

/// An installed schedule, as `.baton/schedules/<name>.json` records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// Letters, digits, `-` and `_`.
    pub name: String,
    /// The pipeline it runs.
    pub pipeline: String,
    /// When.
    pub when: When,
    /// Where it is installed.
    pub backend: Backend,
    /// The files Baton wrote for it (unit files, a plist); empty for crontab.
    pub files: Vec<PathBuf>,
    /// The crontab line's marker, for crontab.
    pub crontab_marker: Option<String>,
    /// The crontab command used (for crontab).
    pub crontab_command: Option<String>,
    /// Whether Baton activated it (`systemctl --user enable --now`, `launchctl load`); a
    /// schedule written into a directory given with `--unit-dir` is not.
    pub activated: bool,
    /// Unix milliseconds.
    pub installed_at: i64,
    /// The overlap lock's TTL, in milliseconds.
    pub lock_ttl_ms: i64,
}

/// One run of a schedule, as `<name>.history.jsonl` records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Unix milliseconds.
    pub started_at: i64,
    /// Unix milliseconds.
    pub finished_at: i64,
    /// `done`, `failed` (the run's exit code was not 0) or `skipped` (another run held the
    /// lock).
    pub result: String,
    /// The exit code of the run (0, 10, 20, 30).
    pub exit: i32,
    /// Why, for a skipped or failed run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// How a schedule stands (`schedule status`).
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// The schedule.
    pub schedule: Schedule,
    /// `daily 06:30` or `cron …`.
    pub when: String,
    /// The last run that was not skipped.
    pub last_run: Option<RunRecord>,
    /// Unix milliseconds of the next firing.
    pub next_run: Option<i64>,
    /// Firings since the last run (or the install) at which no run started.
    pub missed: usize,
    /// The lock of a run in progress, if one is.
    pub running: Option<lock::LockInfo>,
}

/// Where a project keeps its schedules.
#[derive(Debug, Clone)]
pub struct Registry {
    dir: PathBuf,
}

/// Checks a schedule name: letters, digits, `-`, `_`, at most 64.
pub fn check_name(name: &str) -> Result<()> {
    let plain = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !plain {
        bail!("schedule name `{name}`: use 1 to 64 letters, digits, - and _");
    }
    Ok(())
}

impl Registry {
    /// The registry under `state_dir` (`.baton/schedules`).
    pub fn new(state_dir: &Path) -> Registry {
        Registry {
            dir: state_dir.join("schedules"),
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn record(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }

    /// The overlap lock's path.
    pub fn lock_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.lock"))
    }

    /// Where the scheduler's runs write their output (launchd and crontab).
    pub fn output_log(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.out.log"))
    }

    fn history_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.history.jsonl"))
    }

    /// The installed schedule `name`, if any. Errors: its record cannot be read or parsed.
    pub fn get(&self, name: &str) -> Result<Option<Schedule>> {
        let path = self.record(name);
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .with_context(|| format!("cannot read the schedule {}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// Every installed schedule, by name.
    pub fn all(&self) -> Result<Vec<Schedule>> {
        let mut names: Vec<String> = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries
                .flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    name.strip_suffix(".json")
                        .filter(|stem| check_name(stem).is_ok())
                        .map(String::from)
                })
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e).with_context(|| format!("cannot list {}", self.dir.display())),
        };
        names.sort();
        let mut all = Vec::new();
        for name in names {
            all.extend(self.get(&name)?);
        }
        Ok(all)
    }

    /// Records `schedule` (replacing an earlier record of the same name).
    pub fn save(&self, schedule: &Schedule) -> Result<()> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("cannot create {}", self.dir.display()))?;
        let path = self.record(&schedule.name);
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(schedule)?)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .with_context(|| format!("cannot write {}", path.display()))
    }

    /// Forgets schedule `name` (its history stays).
    pub fn forget(&self, name: &str) -> Result<()> {
        let path = self.record(name);
        std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))
    }

    /// Appends one run's record.
    pub fn append_history(&self, name: &str, record: &RunRecord) -> Result<()> {
        use std::io::Write;
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("cannot create {}", self.dir.display()))?;
        let path = self.history_path(name);
        let mut line = serde_json::to_vec(record)?;
        line.push(b'\n');
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(&line))
            .with_context(|| format!("cannot write {}", path.display()))
    }

    /// Every recorded run, oldest first (unreadable lines are left out).
    pub fn history(&self, name: &str) -> Result<Vec<RunRecord>> {
        let path = self.history_path(name);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(text
                .lines()
                .filter_map(|line| serde_json::from_str(line).ok())
                .collect()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// How `schedule` stands at `now` (Unix milliseconds).
    pub fn status(&self, schedule: &Schedule, now: i64) -> Result<Status> {
        let history = self.history(&schedule.name)?;
        let last_run = history
            .iter()
            .rev()
            .find(|r| r.result != "skipped")
            .cloned();
        let last_start = history
            .last()
            .map(|r| r.started_at)
            .unwrap_or(schedule.installed_at)
            .max(schedule.installed_at);
        let next_run = schedule
            .when
            .next_after(when::local(now))
            .ok()
            .map(|at| at.timestamp_millis());
        let running = lock::read(&self.lock_path(&schedule.name))?.filter(|l| !l.is_stale(now));
        let missed = if now - MISSED_GRACE_MS > last_start {
            schedule
                .when
                .firings_between(when::local(last_start), when::local(now - MISSED_GRACE_MS))?
                .len()
        } else {
            0
        };
        Ok(Status {
            when: schedule.when.describe(),
            schedule: schedule.clone(),
            last_run,
            next_run,
            missed: if running.is_some() {
                missed.saturating_sub(1)
            } else {
                missed
            },
            running,
        })
    }
}
