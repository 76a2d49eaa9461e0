//! The agent CLIs `cli-agent` knows by name: how each is run non-interactively (its
//! arguments; the prompt always goes on standard input, so no grant pattern has to admit
//! arbitrary text) and what its exit code and output mean.
//!
//! | tool | arguments | answer |
//! | --- | --- | --- |
//! | `gemini` | `--output-format json [-m MODEL]` | stdout `{"response", "stats"}`; errors on stderr |
//! | `claude` | `-p --output-format json [--model MODEL]` | stdout `{"type": "result", "is_error", "result", "usage"}` |
//! | `codex` | `exec --json --skip-git-repo-check [-m MODEL] -` | JSON lines; `turn.failed` is the failure |
pub mod claude;
pub mod codex;
pub mod gemini;

use baton_agent_support::excerpt;
use baton_agent_support::failure::{quota_exhausted, rate_limited, AgentError, Answer, Scope};
use baton_agent_support::reset;
use jiff::tz::TimeZone;

/// How much of a CLI's words a classification quotes.
pub const MESSAGE_BYTES: usize = 400;

/// A known CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// Google's `gemini`.
    Gemini,
    /// Anthropic's `claude`.
    Claude,
    /// OpenAI's `codex`.
    Codex,
}

impl Tool {
    /// The tool a `tool` setting names.
    pub fn parse(name: &str) -> Option<Tool> {
        match name {
            "gemini" => Some(Tool::Gemini),
            "claude" => Some(Tool::Claude),
            "codex" => Some(Tool::Codex),
            _ => None,
        }
    }

    /// The tool's name.
    pub fn name(self) -> &'static str {
        match self {
            Tool::Gemini => "gemini",
            Tool::Claude => "claude",
            Tool::Codex => "codex",
        }
    }

    /// The arguments of one non-interactive run (the prompt goes on stdin).
    pub fn args(self, model: Option<&str>) -> Vec<String> {
        let mut args: Vec<String> = match self {
            Tool::Gemini => vec!["--output-format".into(), "json".into()],
            Tool::Claude => vec!["-p".into(), "--output-format".into(), "json".into()],
            Tool::Codex => vec![
                "exec".into(),
                "--json".into(),
                "--skip-git-repo-check".into(),
            ],
        };
        if let Some(model) = model {
            args.push(
                match self {
                    Tool::Claude => "--model",
                    Tool::Gemini | Tool::Codex => "-m",
                }
                .into(),
            );
            args.push(model.into());
        }
        if self == Tool::Codex {
            args.push("-".into());
        }
        args
    }

    /// What the login that fixes an authentication failure is.
    fn login_hint(self) -> &'static str {
        match self {
            Tool::Gemini => {
                "log in by running `gemini` once as the user Baton runs as (the CLI runs with a cleared environment, so GEMINI_API_KEY must be set by a granted wrapper script)"
            }
            Tool::Claude => {
                "run `claude /login` as the user Baton runs as (or grant a wrapper script that sets ANTHROPIC_API_KEY)"
            }
            Tool::Codex => {
                "run `codex login` as the user Baton runs as (or grant a wrapper script that sets OPENAI_API_KEY)"
            }
        }
    }

    /// The answer of a run, or its one classification.
    pub fn classify(self, ran: &Ran, now_ms: u64, zone: &TimeZone) -> Result<Answer, AgentError> {
        if ran.timed_out {
            return Err(AgentError::Timeout(format!(
                "{} did not answer in time and was killed",
                self.name()
            )));
        }
        match self {
            Tool::Gemini => gemini::classify(ran, now_ms),
            Tool::Claude => claude::classify(ran, now_ms, zone),
            Tool::Codex => codex::classify(ran, now_ms, zone),
        }
    }
}

/// One finished run of a CLI.
#[derive(Debug, Clone, Copy)]
pub struct Ran<'a> {
    /// The exit code; -1 when killed by a signal or the timeout.
    pub status: i32,
    /// Standard output.
    pub stdout: &'a [u8],
    /// Standard error.
    pub stderr: &'a [u8],
    /// Whether the host killed it for running past its timeout.
    pub timed_out: bool,
}

impl Ran<'_> {
    /// Standard error as text, bounded.
    pub fn stderr_excerpt(&self) -> String {
        excerpt(&String::from_utf8_lossy(self.stderr), MESSAGE_BYTES, None)
    }
}

/// A run that ended without an answer and without saying why: killed by a signal (cut
/// short) or an empty answer with exit 0.
pub fn no_answer(tool: Tool, ran: &Ran) -> AgentError {
    let reason = if ran.status == -1 {
        format!("{} was killed before it answered", tool.name())
    } else {
        format!(
            "{} exited with status {} without an answer{}",
            tool.name(),
            ran.status,
            match ran.stderr_excerpt() {
                text if text.is_empty() => String::new(),
                text => format!(": {text}"),
            }
        )
    };
    AgentError::Overloaded {
        reason,
        after_ms: None,
    }
}

/// Classifies what a CLI said when it failed, from the words providers and CLIs use.
/// `reset_at` is the reset the tool-specific reading found in the message, if any.
pub fn classify_words(tool: Tool, message: &str, reset_at: Option<u64>) -> AgentError {
    let lower = message.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|word| lower.contains(word));
    let said = excerpt(message, MESSAGE_BYTES, None);
    let name = tool.name();
    if has(&[
        "usage limit",
        "hit your limit",
        "limit reached ∙",
        "limit reached ·",
        "weekly limit",
        "5-hour limit",
        "daily quota",
        "insufficient_quota",
    ]) {
        return quota_exhausted(format!("{name}: {said}"), reset_at);
    }
    if has(&[
        "rate limit",
        "429 ",
        "too many requests",
        "resource_exhausted",
        "rate_limit",
    ]) {
        let scope = if has(&["token"]) {
            Scope::Tokens
        } else {
            Scope::Requests
        };
        return rate_limited(scope, format!("{name}: {said}"), reset_at);
    }
    if has(&[
        "invalid api key",
        "/login",
        "401 ",
        "unauthorized",
        "authentication",
        "403 ",
        "permission_denied",
        "unauthenticated",
        "oauth token",
        "api key not valid",
    ]) {
        return AgentError::AuthFailed(format!("{name}: {said}; {}", tool.login_hint()));
    }
    if has(&[
        "invalid_argument",
        "invalid_request",
        "too long",
        "context window",
        "exceeds the maximum",
    ]) {
        return AgentError::BadRequest(format!("{name}: {said}"));
    }
    if has(&[
        "overloaded",
        "529 ",
        "503 ",
        "502 ",
        "500 ",
        "unavailable",
        "connection error",
        "stream disconnected",
        "timed out",
    ]) {
        return AgentError::Overloaded {
            reason: format!("{name}: {said}"),
            after_ms: None,
        };
    }
    if has(&["400 ", "bad request"]) {
        return AgentError::BadRequest(format!("{name}: {said}"));
    }
    AgentError::Fatal(format!("{name}: {said}"))
}

/// "resets 7pm (Asia/Shanghai)", "resets 5am", "try again at 3:28 PM": the next such wall
/// clock time, in the zone the message names or else `zone`.
pub fn wall_clock_reset(message: &str, marker: &str, zone: &TimeZone, now_ms: u64) -> Option<u64> {
    let lower = message.to_ascii_lowercase();
    let rest = &message[lower.find(marker)? + marker.len()..];
    let (hour, minute) = reset::clock_time(rest)?;
    let named = rest
        .find('(')
        .zip(rest.find(')'))
        .filter(|(open, close)| open < close)
        .and_then(|(open, close)| reset::zone(&rest[open + 1..close]));
    reset::next_wall_clock(hour, minute, named.as_ref().unwrap_or(zone), now_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_764_568_800_000; // 2025-12-01T06:00:00Z

    #[test]
    fn arguments() {
        assert_eq!(
            Tool::Gemini.args(Some("gemini-2.5-flash")),
            ["--output-format", "json", "-m", "gemini-2.5-flash"]
        );
        assert_eq!(Tool::Claude.args(None), ["-p", "--output-format", "json"]);
        assert_eq!(
            Tool::Codex.args(Some("o4")),
            ["exec", "--json", "--skip-git-repo-check", "-m", "o4", "-"]
        );
    }

    #[test]
    fn wall_clock_messages() {
        let utc = TimeZone::UTC;
        assert_eq!(
            wall_clock_reset(
                "You've hit your limit · resets 7pm (Asia/Shanghai)",
                "resets ",
                &utc,
                NOW
            ),
            Some(NOW + 5 * 3_600_000)
        );
        assert_eq!(
            wall_clock_reset("5-hour limit reached ∙ resets 5am", "resets ", &utc, NOW),
            Some(NOW + 23 * 3_600_000)
        );
        assert_eq!(
            wall_clock_reset("or try again at 3:28 PM.", "try again at ", &utc, NOW),
            Some(NOW + 9 * 3_600_000 + 28 * 60_000)
        );
        assert_eq!(wall_clock_reset("no time here", "resets ", &utc, NOW), None);
    }

    #[test]
    fn words() {
        assert!(matches!(
            classify_words(Tool::Claude, "API Error: Rate limit reached", None),
            AgentError::RateLimited(_)
        ));
        assert!(
            matches!(classify_words(Tool::Claude, "Invalid API key · Please run /login", None), AgentError::AuthFailed(m) if m.contains("claude /login"))
        );
        assert!(matches!(
            classify_words(
                Tool::Codex,
                "exceeded retry limit, last status: 503 Service Unavailable",
                None
            ),
            AgentError::Overloaded { .. }
        ));
        assert!(
            matches!(classify_words(Tool::Codex, "You've hit your usage limit.", Some(5)), AgentError::QuotaExhausted(hit) if hit.reset_at_ms == Some(5))
        );
        assert!(matches!(
            classify_words(Tool::Gemini, "something odd", None),
            AgentError::Fatal(_)
        ));
    }
}
