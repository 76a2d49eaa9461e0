//! `cli-agent`: an agent adapter that runs a command-line agent through the host's `exec`
//! import, once per prompt, in its non-interactive mode.
//!
//! With `tool` set (`gemini`, `claude`, `codex`) it runs that CLI as its docs describe
//! (see [`tools`]), parses the answer and token usage, and classifies every failure from the
//! exit code and the CLI's words: a rate limit until the reset the CLI names, a spent quota,
//! a refused login (naming the login command), an overload, a timeout, a bad request. Without
//! `tool`, any granted program: its standard output is the answer (see [`settings`]).
//!
//! The CLI keeps no conversation between runs; the session counts the turns.
mod settings;
mod tools;

use core::cell::Cell;

use baton_agent_support::failure::{AgentError, Answer};
use baton_agent_support::wit::{failure, now_ms, reply};
use baton_sdk::agent::{GuestSession, Session};
use baton_sdk::exec::{self, Command};
use baton_sdk::types::{
    AgentFailure, AgentReply, AgentRequest, Capabilities, Description, PluginKind, SessionConfig,
};

use settings::{PromptVia, Runner, Settings};
use tools::Ran;

/// How much of the program's standard error a generic failure quotes.
const STDERR_EXCERPT_BYTES: usize = 500;

struct CliAgent;

struct CliSession {
    settings: Settings,
    /// Prompts answered so far.
    turns: Cell<u64>,
}

impl baton_sdk::Metadata for CliAgent {
    fn describe() -> Description {
        Description {
            name: "cli-agent".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            kind: PluginKind::Agent,
            summary:
                "Runs a granted agent CLI (gemini, claude, codex or any program) once per prompt"
                    .into(),
            capabilities: Capabilities {
                // The program is configurable: the operator grants the actual programs.
                exec: vec!["*".into()],
                ..Capabilities::default()
            },
        }
    }
}

impl baton_sdk::Agent for CliAgent {
    type Session = CliSession;
}

impl GuestSession for CliSession {
    fn open(config: SessionConfig) -> Result<Session, AgentFailure> {
        let settings = Settings::parse(&config.settings, config.model)?;
        Ok(Session::new(CliSession {
            settings,
            turns: Cell::new(0),
        }))
    }

    fn send(&self, request: AgentRequest) -> Result<AgentReply, AgentFailure> {
        let settings = &self.settings;
        let mut args = settings.args.clone();
        let stdin = match &settings.runner {
            Runner::Generic {
                prompt_via: PromptVia::Arg,
            } => {
                args.push(request.prompt);
                None
            }
            _ => Some(request.prompt.into_bytes()),
        };
        let output = exec::run(&Command {
            program: settings.program.clone(),
            args,
            stdin,
            timeout_ms: settings.timeout_ms,
        })
        .map_err(|error| {
            AgentFailure::Fatal(format!("cannot run {}: {error}", settings.program))
        })?;
        let turn = self.turns.get() + 1;
        let answer = match &settings.runner {
            Runner::Tool { tool, zone } => {
                let ran = Ran {
                    status: output.status,
                    stdout: &output.stdout,
                    stderr: &output.stderr,
                    timed_out: output.timed_out,
                };
                tool.classify(&ran, now_ms(), zone)
            }
            Runner::Generic { .. } => generic(&settings.program, output),
        }
        .map_err(|error| failure(&error))?;
        self.turns.set(turn);
        Ok(reply(answer, serde_json::json!({ "turn": turn })))
    }
}

/// A generic program's answer: its stdout when it exits 0.
fn generic(program: &str, output: exec::Output) -> Result<Answer, AgentError> {
    if output.timed_out {
        return Err(AgentError::Timeout(format!("{program} timed out")));
    }
    if output.status != 0 {
        let end = output.stderr.len().min(STDERR_EXCERPT_BYTES);
        let stderr = String::from_utf8_lossy(&output.stderr[..end]);
        return Err(AgentError::Fatal(format!(
            "{program} exited with status {}: {}",
            output.status,
            stderr.trim_end()
        )));
    }
    Ok(Answer {
        text: String::from_utf8_lossy(&output.stdout).into_owned(),
        usage: None,
        model: None,
        finish_reason: None,
        data: serde_json::json!({}),
    })
}

baton_sdk::export_agent!(CliAgent);
