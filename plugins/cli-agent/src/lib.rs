//! `cli-agent`: an agent adapter that runs a command-line agent (e.g. `claude --print`)
//! through the host's `exec` import, once per prompt, and returns its standard output.
//!
//! Settings: `{"program": "claude", "args": ["--print"], "prompt-via": "stdin" | "arg",
//! "model-flag": "--model", "timeout-ms": 600000}`; only `program` is required. The
//! prompt goes on standard input (default) or as the last argument. When the session is
//! opened with a model and `model-flag` is set, `[model-flag, model]` follow the args.
//! The CLI keeps no conversation between runs; the session counts the turns.
mod settings;

use core::cell::Cell;

use baton_sdk::agent::{GuestSession, Session};
use baton_sdk::exec::{self, Command};
use baton_sdk::types::{
    AgentFailure, AgentReply, AgentRequest, Capabilities, Description, PluginKind, SessionConfig,
};

use settings::{PromptVia, Settings};

/// How much of the program's standard error a failure quotes.
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
            summary: "Runs a granted agent CLI once per prompt and returns its output".into(),
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
        let stdin = match settings.prompt_via {
            PromptVia::Stdin => Some(request.prompt.into_bytes()),
            PromptVia::Arg => {
                args.push(request.prompt);
                None
            }
        };
        let output = exec::run(&Command {
            program: settings.program.clone(),
            args,
            stdin,
            timeout_ms: settings.timeout_ms,
        })
        .map_err(|error| AgentFailure::Fatal(format!("cannot run {}: {error}", settings.program)))?;
        if output.timed_out {
            return Err(AgentFailure::Timeout(format!(
                "{} timed out",
                settings.program
            )));
        }
        if output.status != 0 {
            let end = output.stderr.len().min(STDERR_EXCERPT_BYTES);
            let stderr = String::from_utf8_lossy(&output.stderr[..end]);
            return Err(AgentFailure::Fatal(format!(
                "{} exited with status {}: {}",
                settings.program,
                output.status,
                stderr.trim_end()
            )));
        }
        let turn = self.turns.get() + 1;
        self.turns.set(turn);
        Ok(AgentReply {
            text: String::from_utf8_lossy(&output.stdout).into_owned(),
            usage: None,
            model: None,
            finish_reason: None,
            data: serde_json::json!({ "turn": turn }).to_string(),
        })
    }
}

baton_sdk::export_agent!(CliAgent);
