//! Stand-ins for the agent CLIs (`gemini`, `claude`, `codex`): each reads the real tool's
//! flags, and answers, fails, hangs or dies as the tool does in the chosen mode.
//!
//! The stand-in is `baton-double TOOL [--double-mode MODE] [--double-record FILE] TOOL-ARGS`.
//! Baton runs programs with a cleared environment, so the mode travels as an argument: the
//! operator grants a wrapper script (see `baton-double install`) that adds the `--double-*`
//! options. A prompt containing `[double:MODE]` overrides the mode for that run.
mod claude;
mod codex;
mod gemini;

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use crate::mode::Mode;
use crate::state::Record;
use crate::time::now_ms;

/// Which CLI to imitate.
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
    /// The tool of a name (`gemini`, `claude`, `codex`).
    pub fn from_name(name: &str) -> Option<Tool> {
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
}

/// The double's own options, taken from the front of the arguments.
#[derive(Debug, Clone)]
pub struct Options {
    /// The mode when the prompt has no marker.
    pub mode: Mode,
    /// Where to append a record of the run.
    pub record: Option<PathBuf>,
}

/// What one run produces: bytes for stdout and stderr, and how it ends.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Written to standard output.
    pub stdout: String,
    /// Written to standard error.
    pub stderr: String,
    /// The exit code.
    pub code: i32,
    /// Wait this long before writing anything (slow, hang).
    pub delay: Option<Duration>,
    /// After writing, kill the process with SIGKILL (a run cut short).
    pub killed: bool,
}

impl Outcome {
    /// Exit `code` with `stdout`.
    pub fn out(code: i32, stdout: String) -> Outcome {
        Outcome {
            stdout,
            code,
            ..Outcome::default()
        }
    }

    /// Exit `code` with `stderr`.
    pub fn err(code: i32, stderr: String) -> Outcome {
        Outcome {
            stderr,
            code,
            ..Outcome::default()
        }
    }
}

/// What a parsed command line asks for.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The prompt, from the arguments and/or standard input.
    pub prompt: String,
    /// The model asked for.
    pub model: Option<String>,
}

/// How a stand-in answers in a mode.
pub type Respond = Box<dyn Fn(Mode) -> Outcome>;

/// A parsed command line and its responder, or what the tool says about bad arguments.
pub type Parsed = Result<(Invocation, Respond), Outcome>;

/// Runs the stand-in for `tool` with `args` (the double's options first) and exits.
pub fn main(tool: Tool, args: Vec<String>) -> i32 {
    let (options, args) = match split_options(args) {
        Ok(split) => split,
        Err(message) => {
            eprintln!("baton-double {}: {message}", tool.name());
            return 2;
        }
    };
    let stdin = read_stdin();
    let parsed = match tool {
        Tool::Gemini => gemini::parse(&args, stdin),
        Tool::Claude => claude::parse(&args, stdin),
        Tool::Codex => codex::parse(&args, stdin),
    };
    let (invocation, respond): (Invocation, Respond) = match parsed {
        Ok(parsed) => parsed,
        Err(outcome) => return finish(outcome),
    };
    let mode = match Mode::from_marker(&invocation.prompt) {
        Ok(marker) => marker.unwrap_or(options.mode),
        Err(message) => return finish(Outcome::err(1, format!("{message}\n"))),
    };
    let outcome = respond(mode);
    if let Some(path) = &options.record {
        let record = Record {
            at_ms: now_ms(),
            api: tool.name(),
            key: None,
            model: invocation.model.clone(),
            mode,
            status: if outcome.killed {
                -9
            } else {
                i64::from(outcome.code)
            },
            prompt: invocation.prompt.clone(),
            turn: 1,
        };
        if let Err(error) = record.append_to(path) {
            eprintln!("baton-double: cannot append to {}: {error}", path.display());
        }
    }
    finish(outcome)
}

/// Splits `--double-mode MODE` and `--double-record FILE` off the front of the arguments.
fn split_options(args: Vec<String>) -> Result<(Options, Vec<String>), String> {
    let mut options = Options {
        mode: Mode::Ok,
        record: None,
    };
    let mut rest = args.into_iter().peekable();
    while let Some(flag) = rest.next_if(|arg| arg.starts_with("--double-")) {
        let value = rest.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--double-mode" => options.mode = Mode::parse(&value)?,
            "--double-record" => options.record = Some(PathBuf::from(value)),
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok((options, rest.collect()))
}

/// Standard input when it is not a terminal (Baton's `exec` gives a pipe or /dev/null).
fn read_stdin() -> Option<String> {
    let mut stdin = std::io::stdin();
    if stdin.is_terminal() {
        return None;
    }
    let mut text = String::new();
    stdin.read_to_string(&mut text).ok()?;
    Some(text)
}

/// Writes the outcome and returns its exit code (or dies by SIGKILL).
fn finish(outcome: Outcome) -> i32 {
    if let Some(delay) = outcome.delay {
        std::thread::sleep(delay);
    }
    let mut stdout = std::io::stdout();
    let mut stderr = std::io::stderr();
    // A reader that went away is the caller's business, not the stand-in's.
    let _ = stdout.write_all(outcome.stdout.as_bytes());
    let _ = stdout.flush();
    let _ = stderr.write_all(outcome.stderr.as_bytes());
    let _ = stderr.flush();
    if outcome.killed {
        // SAFETY: sending a signal to this very process; no memory is involved.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
    outcome.code
}

/// The value after a flag, or the tool's complaint.
fn value(tool: &str, flag: &str, next: Option<&String>) -> Result<String, Outcome> {
    next.cloned()
        .ok_or_else(|| Outcome::err(1, format!("{tool}: option {flag} needs an argument\n")))
}

/// `ms` from now as a delay.
fn delay(ms: u64) -> Option<Duration> {
    Some(Duration::from_millis(ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn double_options_come_first() {
        let args = [
            "--double-mode",
            "rpm:10",
            "--double-record",
            "/tmp/r",
            "-p",
            "x",
        ]
        .map(String::from)
        .to_vec();
        let (options, rest) = split_options(args).unwrap();
        assert_eq!(options.mode, Mode::Rpm { reset_ms: 10 });
        assert_eq!(options.record, Some(PathBuf::from("/tmp/r")));
        assert_eq!(rest, vec!["-p", "x"]);
        assert!(split_options(vec!["--double-mode".into()]).is_err());
        assert!(split_options(vec!["--double-x".into(), "1".into()]).is_err());
    }
}
