//! Every process's agent sessions, read back from the ledger (`.baton/ledger/*.jsonl`): a
//! session's events (`session-opened`, `-turn`, `-idle-warning`, `-expired`, `-closed`)
//! folded into its state, turns, idle time and expiry, for `baton agent sessions`.
//!
//! Why the ledger and not a store table: a session is an instance inside one process, so
//! nothing but that process can act on it; the ledger already receives its events (from
//! every process of the project, through the store) and is what operators read. A session
//! whose process is gone (or that is past its deadline without an event, which a live
//! process would have recorded) is shown as `lost`.
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use serde_json::Value;

/// One session as the ledger tells it.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedSession {
    /// The session's name.
    pub session: String,
    /// The adapter.
    pub adapter: String,
    /// The model, if any.
    pub model: Option<String>,
    /// The process that held it.
    pub pid: u32,
    /// `open`, `expired`, `closed`, or `lost` (its process ended without closing it).
    pub state: &'static str,
    /// Why it expired (`idle`, `lifetime`).
    pub reason: Option<String>,
    /// Prompts answered.
    pub turns: u64,
    /// When it opened, Unix ms.
    pub opened_at_ms: i64,
    /// Its last event, Unix ms.
    pub last_event_ms: i64,
    /// Whether its idle warning came since the last activity.
    pub warned: bool,
    /// When it expires if still open (the earlier of its idle and lifetime deadlines), ms.
    pub expires_at_ms: Option<i64>,
}

impl LoggedSession {
    /// Since its last event (activity, or its end).
    pub fn idle_for(&self, now_ms: i64) -> Duration {
        Duration::from_millis(now_ms.saturating_sub(self.last_event_ms).max(0) as u64)
    }

    /// Until it expires, for an open session.
    pub fn expires_in(&self, now_ms: i64) -> Option<Duration> {
        self.expires_at_ms
            .map(|at| Duration::from_millis(at.saturating_sub(now_ms).max(0) as u64))
    }
}

/// The sessions in the ledger files of `dir` with events since `since_ms`, open ones first,
/// then the most recent first. `alive(pid)` tells whether a process still runs.
pub fn read(
    dir: &Path,
    since_ms: i64,
    now_ms: i64,
    alive: &dyn Fn(u32) -> bool,
) -> anyhow::Result<Vec<LoggedSession>> {
    let mut files: Vec<_> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "jsonl"))
            .collect(),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => {
            return Err(anyhow::anyhow!(
                "cannot read the ledger directory {}: {error}",
                dir.display()
            ));
        }
    };
    files.sort();
    let since_day = baton_core::clock::day_of(since_ms);
    let mut lines = Vec::new();
    for file in files {
        let day = file
            .file_stem()
            .map(|stem| stem.to_string_lossy().into_owned())
            .unwrap_or_default();
        if day < since_day {
            continue;
        }
        let text = std::fs::read_to_string(&file)
            .map_err(|error| anyhow::anyhow!("cannot read {}: {error}", file.display()))?;
        // A torn last line (a process killed mid-append) is skipped, not an error.
        lines.extend(
            text.lines()
                .filter(|line| line.contains("\"session-"))
                .filter_map(|line| serde_json::from_str::<Value>(line).ok()),
        );
    }
    Ok(fold(&lines, since_ms, now_ms, alive))
}

/// Folds session events (in ledger order) into sessions.
pub fn fold(
    lines: &[Value],
    since_ms: i64,
    now_ms: i64,
    alive: &dyn Fn(u32) -> bool,
) -> Vec<LoggedSession> {
    let mut open: Vec<LoggedSession> = Vec::new();
    let mut ended: Vec<LoggedSession> = Vec::new();
    for line in lines {
        let Some(event) = line["event"].as_str() else {
            continue;
        };
        let (Some(session), Some(at)) = (line["session"].as_str(), time(&line["at"])) else {
            continue;
        };
        let pid = line["pid"].as_u64().unwrap_or(0) as u32;
        let turns = line["turns"].as_u64().unwrap_or(0);
        let deadline = [time(&line["idle_deadline"]), time(&line["expires_at"])]
            .into_iter()
            .flatten()
            .min();
        let position = open
            .iter()
            .position(|s| s.session == session && s.pid == pid);
        match (event, position) {
            ("session-opened", _) => {
                if let Some(index) = position {
                    // Opened again without an end event: the old one was lost.
                    let mut old = open.remove(index);
                    old.state = "lost";
                    old.expires_at_ms = None;
                    ended.push(old);
                }
                open.push(LoggedSession {
                    session: session.into(),
                    adapter: line["adapter"].as_str().unwrap_or_default().into(),
                    model: line["model"].as_str().map(str::to_string),
                    pid,
                    state: "open",
                    reason: None,
                    turns,
                    opened_at_ms: at,
                    last_event_ms: at,
                    warned: false,
                    expires_at_ms: deadline,
                });
            }
            ("session-turn" | "session-idle-warning", Some(index)) => {
                let entry = &mut open[index];
                entry.turns = turns;
                entry.warned = event == "session-idle-warning";
                if event == "session-turn" {
                    entry.last_event_ms = at;
                }
                entry.expires_at_ms = deadline;
            }
            ("session-expired" | "session-closed", Some(index)) => {
                let mut entry = open.remove(index);
                entry.turns = turns;
                entry.last_event_ms = at;
                entry.expires_at_ms = None;
                entry.state = if event == "session-expired" {
                    "expired"
                } else {
                    "closed"
                };
                entry.reason = line["reason"].as_str().map(str::to_string);
                ended.push(entry);
            }
            _ => {}
        }
    }
    for entry in &mut open {
        let overdue = entry.expires_at_ms.is_some_and(|at| at < now_ms - 5_000);
        if overdue || !alive(entry.pid) {
            entry.state = "lost";
            entry.expires_at_ms = None;
        }
    }
    ended.retain(|entry| entry.last_event_ms >= since_ms);
    ended.sort_by_key(|entry| std::cmp::Reverse(entry.last_event_ms));
    let (mut live, lost): (Vec<_>, Vec<_>) =
        open.into_iter().partition(|entry| entry.state == "open");
    live.sort_by(|a, b| a.session.cmp(&b.session));
    live.extend(lost);
    live.extend(ended);
    live
}

/// An RFC 3339 field as Unix ms.
fn time(value: &Value) -> Option<i64> {
    let at = humantime::parse_rfc3339_weak(value.as_str()?).ok()?;
    Some(at.duration_since(UNIX_EPOCH).ok()?.as_millis() as i64)
}

/// Whether process `pid` runs on this machine (signal 0 probes without sending).
pub fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill with signal 0 only checks that the process exists and may be signalled.
    let result = unsafe { libc::kill(pid, 0) };
    result == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(ms: i64) -> String {
        baton_core::clock::format_ms(ms)
    }

    fn line(event: &str, session: &str, pid: u32, ms: i64, turns: u64) -> Value {
        json!({"event": event, "session": session, "adapter": "openai", "model": "m",
            "pid": pid, "at": at(ms), "turns": turns,
            "idle_deadline": at(ms + 300_000), "expires_at": at(1_000_000 + 3_600_000)})
    }

    #[test]
    fn folds_events_into_states() {
        let lines = vec![
            line("session-opened", "a", 1, 1_000_000, 0),
            line("session-turn", "a", 1, 1_010_000, 1),
            line("session-opened", "b", 2, 1_020_000, 0),
            line("session-opened", "c", 3, 1_030_000, 0),
            line("session-turn", "c", 3, 1_040_000, 1),
            {
                let mut expired = line("session-expired", "c", 3, 1_340_000, 1);
                expired["reason"] = json!("idle");
                expired
            },
        ];
        let alive = |pid: u32| pid == 1;
        let sessions = fold(&lines, 0, 1_100_000, &alive);
        let summary: Vec<(&str, &str, u64)> = sessions
            .iter()
            .map(|s| (s.session.as_str(), s.state, s.turns))
            .collect();
        assert_eq!(
            summary,
            [("a", "open", 1), ("b", "lost", 0), ("c", "expired", 1)]
        );
        assert_eq!(sessions[0].idle_for(1_100_000), Duration::from_secs(90));
        assert_eq!(
            sessions[0].expires_in(1_100_000),
            Some(Duration::from_secs(210))
        );
        assert_eq!(sessions[2].reason.as_deref(), Some("idle"));
        assert_eq!(
            fold(&lines, 1_400_000, 1_400_000, &alive).len(),
            2,
            "old ended sessions drop out"
        );
    }

    #[test]
    fn an_overdue_open_session_is_lost() {
        let lines = vec![line("session-opened", "a", 1, 1_000_000, 0)];
        let sessions = fold(&lines, 0, 1_000_000 + 400_000, &|_| true);
        assert_eq!(sessions[0].state, "lost");
    }

    #[test]
    fn this_process_is_alive() {
        assert!(process_alive(std::process::id()));
        assert!(!process_alive(0));
    }
}
