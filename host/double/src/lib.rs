//! `baton-double`: a faithful stand-in for LLM providers, so no test (and no plugin author)
//! needs a real one.
//!
//! - `baton-double serve [--listen 127.0.0.1:0] [--mode MODE] [--script M,M,..] [--key K]
//!   [--rpm N] [--tpm N] [--rpd N] [--record FILE]` serves the OpenAI chat-completions shape
//!   (`POST /v1/chat/completions`) and the Anthropic messages shape (`POST /v1/messages`) on
//!   loopback, printing its base URL (`http://127.0.0.1:PORT`) as the first line of stdout.
//! - `baton-double gemini|claude|codex [--double-mode MODE] [--double-record FILE] ARGS`
//!   imitates that CLI's flags, output, exit codes and messages.
//! - `baton-double install DIR [--mode MODE] [--record FILE]` writes the wrapper scripts
//!   `DIR/gemini`, `DIR/claude` and `DIR/codex` that an operator grants to `cli-agent`.
//!
//! Modes (see [`mode::Mode`]): ok, rpm, rpm-date, tpm, quota, auth, overloaded, unavailable,
//! hang, slow, truncated, length, bad-request, lie; `NAME:MS` sets the reset or delay. A
//! prompt containing `[double:MODE]` gets that mode. docs/agents.md ("The test double")
//! tells plugin authors how to use it.
pub mod anthropic;
pub mod cli;
pub mod http;
pub mod install;
pub mod mode;
pub mod openai;
pub mod server;
pub mod state;
pub mod time;

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;

use mode::Mode;
use state::{Limits, State};

/// The usage text.
pub const USAGE: &str = "\
baton-double: a test double for LLM providers (OpenAI and Anthropic HTTP APIs, and the
gemini, claude and codex CLIs). Nothing it says comes from a real model.

Usage:
  baton-double serve [--listen 127.0.0.1:0] [--mode MODE] [--script MODE,MODE,..]
                     [--key KEY] [--rpm N] [--tpm N] [--rpd N] [--record FILE]
  baton-double gemini|claude|codex [--double-mode MODE] [--double-record FILE] ARGS..
  baton-double install DIR [--mode MODE] [--record FILE]

Modes: ok, rpm, rpm-date, tpm, quota, auth, overloaded, unavailable, hang, slow, truncated,
length, bad-request, lie; NAME:MS sets the reset or delay in milliseconds (rpm:1500).
A prompt containing [double:MODE] gets that mode.

serve prints its base URL (http://127.0.0.1:PORT) as the first line of stdout. Control:
  GET  /double/requests   every request received (at_ms, api, key, model, mode, status, prompt, turn)
  POST /double/mode       {\"mode\": \"rpm:1500\", \"script\": [\"auth\", \"ok\"]}
  POST /double/reset      forget records and counts
";

/// Runs the command line `args` (without the program name); returns the exit code.
pub fn main(args: Vec<String>) -> i32 {
    let mut args = args.into_iter();
    let Some(command) = args.next() else {
        eprint!("{USAGE}");
        return 2;
    };
    let rest: Vec<String> = args.collect();
    let asks_help = |args: &[String]| args.iter().any(|a| a == "-h" || a == "--help");
    if matches!(command.as_str(), "serve" | "install") && asks_help(&rest) {
        print!("{USAGE}");
        return 0;
    }
    let result = match command.as_str() {
        "serve" => serve(rest),
        "install" => install::main(rest),
        "-h" | "--help" | "help" => {
            print!("{USAGE}");
            Ok(())
        }
        name => match cli::Tool::from_name(name) {
            Some(tool) => return cli::main(tool, rest),
            None => Err(format!("unknown command `{name}`\n\n{USAGE}")),
        },
    };
    match result {
        Ok(()) => 0,
        Err(message) => {
            eprintln!("baton-double: {message}");
            2
        }
    }
}

/// `serve`: parses the options, binds and serves until killed.
fn serve(args: Vec<String>) -> Result<(), String> {
    let mut listen: SocketAddr = ([127, 0, 0, 1], 0).into();
    let mut default = Mode::Ok;
    let mut script = Vec::new();
    let mut key = None;
    let mut limits = Limits::default();
    let mut record = None;
    let mut iter = args.into_iter();
    while let Some(flag) = iter.next() {
        let value = iter.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = || {
            value
                .parse::<u64>()
                .map_err(|_| format!("{flag}: `{value}` is not a number"))
        };
        match flag.as_str() {
            "--listen" => {
                listen = value.parse().map_err(|_| {
                    format!("--listen: `{value}` is not an address like 127.0.0.1:0")
                })?;
            }
            "--mode" => default = Mode::parse(&value)?,
            "--script" => script = Mode::parse_script(&value)?,
            "--key" => key = Some(value.clone()),
            "--rpm" => limits.rpm = Some(number()?),
            "--tpm" => limits.tpm = Some(number()?),
            "--rpd" => limits.rpd = Some(number()?),
            "--record" => record = Some(PathBuf::from(&value)),
            other => return Err(format!("unknown option `{other}`\n\n{USAGE}")),
        }
    }
    if !listen.ip().is_loopback() {
        return Err(format!(
            "--listen {listen}: the double serves on loopback addresses only (127.0.0.0/8, ::1)"
        ));
    }
    let listener =
        TcpListener::bind(listen).map_err(|error| format!("cannot listen on {listen}: {error}"))?;
    let addr = listener
        .local_addr()
        .map_err(|error| format!("cannot read the bound address: {error}"))?;
    let mut state = State::new(default, script, key, limits);
    state.record_file = record;
    println!("http://{addr}");
    use std::io::Write;
    std::io::stdout()
        .flush()
        .map_err(|error| format!("cannot write to stdout: {error}"))?;
    server::serve(listener, state);
    Ok(())
}
