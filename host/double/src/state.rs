//! What the double remembers: its default mode and script, the limits it enforces like a
//! provider would (requests and tokens per minute, requests per day), and the record of
//! every request it received (kept in memory for `GET /double/requests` and appended to a
//! JSON Lines file when asked).
use std::collections::VecDeque;
use std::io::Write;
use std::path::PathBuf;

use serde_json::{Value, json};

use crate::mode::Mode;
use crate::time::now_ms;

/// The provider's window for per-minute limits.
const MINUTE_MS: u64 = 60_000;

/// Limits the double enforces on its own, as a provider would.
#[derive(Debug, Clone, Default)]
pub struct Limits {
    /// Requests per minute (trailing 60 s window of answered requests).
    pub rpm: Option<u64>,
    /// Tokens per minute (input plus output tokens of answered requests, trailing 60 s).
    pub tpm: Option<u64>,
    /// Requests per day (every answered request since start; resets in 24 h from the first).
    pub rpd: Option<u64>,
}

/// One request the double received.
#[derive(Debug, Clone)]
pub struct Record {
    /// When it arrived, milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// `openai`, `anthropic`, `gemini`, `claude` or `codex`.
    pub api: &'static str,
    /// The credential it carried (API key), if any.
    pub key: Option<String>,
    /// The model it asked for.
    pub model: Option<String>,
    /// The mode the double answered it in.
    pub mode: Mode,
    /// The HTTP status, or the CLI's exit code.
    pub status: i64,
    /// The last user prompt.
    pub prompt: String,
    /// How many user messages the conversation held (1 for a first prompt).
    pub turn: usize,
}

impl Record {
    /// The record as one JSON object:
    /// `{"at_ms", "api", "key", "model", "mode", "status", "prompt", "turn"}`.
    pub fn to_json(&self) -> Value {
        json!({
            "at_ms": self.at_ms,
            "api": self.api,
            "key": self.key,
            "model": self.model,
            "mode": self.mode.to_string(),
            "status": self.status,
            "prompt": self.prompt,
            "turn": self.turn,
        })
    }

    /// Appends the record to a JSON Lines file (each line written whole, so concurrent
    /// stand-in processes can share one file).
    pub fn append_to(&self, path: &PathBuf) -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        file.write_all(format!("{}\n", self.to_json()).as_bytes())
    }
}

/// The double's mutable state.
#[derive(Debug)]
pub struct State {
    /// The mode when neither a marker nor the script says otherwise.
    pub default: Mode,
    /// Modes for the next requests, in order; each is used once.
    pub script: VecDeque<Mode>,
    /// The only API key accepted, when set; any other gets the auth failure.
    pub key: Option<String>,
    /// Enforced limits.
    pub limits: Limits,
    /// Every request received, oldest first.
    pub records: Vec<Record>,
    /// Where records are appended as JSON lines, when set.
    pub record_file: Option<PathBuf>,
    /// `(at_ms, tokens)` of answered requests within the last minute.
    window: VecDeque<(u64, u64)>,
    /// Answered requests since start, and when the first of them came.
    day: (u64, Option<u64>),
}

/// A limit the double's own enforcement hit: which, and when it resets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enforced {
    /// Requests per minute; resets in this many ms.
    Requests(u64),
    /// Tokens per minute; resets in this many ms.
    Tokens(u64),
    /// Requests per day; resets in this many ms.
    Day(u64),
}

impl State {
    /// A fresh state.
    pub fn new(default: Mode, script: Vec<Mode>, key: Option<String>, limits: Limits) -> State {
        State {
            default,
            script: script.into(),
            key,
            limits,
            records: Vec::new(),
            record_file: None,
            window: VecDeque::new(),
            day: (0, None),
        }
    }

    /// The mode for the next request: the prompt's marker, else the script's next, else the
    /// default.
    pub fn next_mode(&mut self, marker: Option<Mode>) -> Mode {
        if let Some(mode) = marker {
            return mode;
        }
        self.script.pop_front().unwrap_or(self.default)
    }

    /// Checks the enforced limits for a request of `tokens` tokens and, when none is hit,
    /// counts it as answered.
    pub fn admit(&mut self, tokens: u64) -> Result<(), Enforced> {
        let now = now_ms();
        while self
            .window
            .front()
            .is_some_and(|(at, _)| at + MINUTE_MS <= now)
        {
            self.window.pop_front();
        }
        let reset = |at: u64| (at + MINUTE_MS).saturating_sub(now).max(1);
        if let Some(rpd) = self.limits.rpd
            && self.day.0 >= rpd
        {
            let first = self.day.1.unwrap_or(now);
            return Err(Enforced::Day(
                (first + 86_400_000).saturating_sub(now).max(1),
            ));
        }
        if let Some(rpm) = self.limits.rpm
            && self.window.len() as u64 >= rpm
        {
            let oldest = self.window[self.window.len() - rpm as usize].0;
            return Err(Enforced::Requests(reset(oldest)));
        }
        if let Some(tpm) = self.limits.tpm {
            let used: u64 = self.window.iter().map(|(_, t)| t).sum();
            if used + tokens > tpm {
                let oldest = self.window.front().map_or(now, |(at, _)| *at);
                return Err(Enforced::Tokens(reset(oldest)));
            }
        }
        self.window.push_back((now, tokens));
        self.day.0 += 1;
        self.day.1.get_or_insert(now);
        Ok(())
    }

    /// What is left of the per-minute limits: `(requests, tokens)` remaining, when enforced.
    pub fn remaining(&self) -> (Option<u64>, Option<u64>) {
        let used_tokens: u64 = self.window.iter().map(|(_, t)| t).sum();
        (
            self.limits
                .rpm
                .map(|rpm| rpm.saturating_sub(self.window.len() as u64)),
            self.limits.tpm.map(|tpm| tpm.saturating_sub(used_tokens)),
        )
    }

    /// Keeps a record (and appends it to the record file, if any).
    pub fn record(&mut self, record: Record) {
        if let Some(path) = &self.record_file
            && let Err(error) = record.append_to(path)
        {
            eprintln!("baton-double: cannot append to {}: {error}", path.display());
        }
        self.records.push(record);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enforces_requests_per_minute() {
        let limits = Limits {
            rpm: Some(2),
            ..Limits::default()
        };
        let mut state = State::new(Mode::Ok, vec![], None, limits);
        assert_eq!(state.admit(1), Ok(()));
        assert_eq!(state.admit(1), Ok(()));
        match state.admit(1) {
            Err(Enforced::Requests(ms)) => assert!((59_000..=60_000).contains(&ms), "{ms}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(state.remaining(), (Some(0), None));
    }

    #[test]
    fn enforces_tokens_and_days() {
        let limits = Limits {
            tpm: Some(10),
            rpd: Some(3),
            ..Limits::default()
        };
        let mut state = State::new(Mode::Ok, vec![], None, limits);
        assert_eq!(state.admit(6), Ok(()));
        assert!(matches!(state.admit(6), Err(Enforced::Tokens(_))));
        assert_eq!(state.admit(4), Ok(()));
        assert!(matches!(state.admit(0), Ok(())));
        assert!(matches!(state.admit(0), Err(Enforced::Day(_))));
    }

    #[test]
    fn marker_beats_script_beats_default() {
        let mut state = State::new(Mode::Ok, vec![Mode::Auth], None, Limits::default());
        assert_eq!(state.next_mode(Some(Mode::Lie)), Mode::Lie);
        assert_eq!(state.next_mode(None), Mode::Auth);
        assert_eq!(state.next_mode(None), Mode::Ok);
    }
}
