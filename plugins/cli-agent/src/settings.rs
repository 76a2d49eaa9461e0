//! The adapter's settings, read once when a session opens.
//!
//! Either a known CLI: `{"tool": "gemini" | "claude" | "codex", "program": NAME,
//! "time-zone": "UTC", "timeout-ms": N}` (`program` defaults to the tool's name and is the
//! grant's `program`; `time-zone` is the zone the CLI writes wall-clock resets in, default
//! UTC since Baton runs it with a cleared environment), or any program:
//! `{"program": NAME, "args": [..], "prompt-via": "stdin" | "arg", "model-flag": "--model",
//! "timeout-ms": N}`, whose standard output is the answer.
use baton_sdk::fatal;
use baton_sdk::json::Object;
use baton_sdk::types::Failure;
use jiff::tz::TimeZone;

use crate::tools::Tool;

/// How a generic program gets its prompt.
pub enum PromptVia {
    /// On standard input.
    Stdin,
    /// As the last argument.
    Arg,
}

/// What the session runs.
pub enum Runner {
    /// A known CLI, its output parsed and its failures classified.
    Tool {
        /// Which CLI.
        tool: Tool,
        /// The zone wall-clock resets are read in.
        zone: TimeZone,
    },
    /// Any program; its stdout is the answer, a non-zero exit a failure.
    Generic {
        /// How the prompt is passed.
        prompt_via: PromptVia,
    },
}

/// The parsed settings.
pub struct Settings {
    /// The program's name as granted.
    pub program: String,
    /// The arguments (the model flag included).
    pub args: Vec<String>,
    /// What runs.
    pub runner: Runner,
    /// A shorter timeout than the grant's, when set.
    pub timeout_ms: Option<u64>,
}

impl Settings {
    /// Reads the settings text; `model` comes from the session.
    pub fn parse(text: &str, model: Option<String>) -> Result<Self, Failure> {
        let settings = Object::parse("settings", text)?;
        let timeout_ms = settings.u64("timeout-ms")?;
        if let Some(name) = settings.str("tool")? {
            let tool = Tool::parse(name).ok_or_else(|| {
                fatal(format!(
                    "settings.tool must be \"gemini\", \"claude\" or \"codex\", found {name:?} (leave it out and set `program` and `args` for another CLI)"
                ))
            })?;
            let zone_name = settings.str("time-zone")?.unwrap_or("UTC");
            let zone = TimeZone::get(zone_name).map_err(|_| {
                fatal(format!(
                    "settings.time-zone: {zone_name:?} is not an IANA time zone (e.g. \"UTC\", \"Europe/Berlin\")"
                ))
            })?;
            if settings.get("args").is_some() || settings.get("prompt-via").is_some() {
                return Err(fatal(format!(
                    "settings.args and settings.prompt-via do not go with settings.tool: cli-agent runs {name} as `{name} {}` with the prompt on stdin",
                    tool.args(None).join(" ")
                )));
            }
            return Ok(Self {
                program: settings.str("program")?.unwrap_or(name).to_string(),
                args: tool.args(model.as_deref()),
                runner: Runner::Tool { tool, zone },
                timeout_ms,
            });
        }
        let program = settings.required_str("program")?.to_string();
        let mut args = settings.strings("args")?.unwrap_or_default();
        let prompt_via = match settings.str("prompt-via")? {
            None | Some("stdin") => PromptVia::Stdin,
            Some("arg") => PromptVia::Arg,
            Some(other) => {
                return Err(fatal(format!(
                    "settings.prompt-via must be \"stdin\" or \"arg\", found {other:?}"
                )));
            }
        };
        match (settings.str("model-flag")?, model) {
            (Some(flag), Some(model)) => {
                args.push(flag.to_string());
                args.push(model);
            }
            (None, Some(model)) => {
                baton_sdk::warn!("model ignored: settings have no model-flag", "model" => model);
            }
            _ => {}
        }
        Ok(Self {
            program,
            args,
            runner: Runner::Generic { prompt_via },
            timeout_ms,
        })
    }
}
