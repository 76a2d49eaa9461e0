//! `baton agent run | sessions`: one conversation with an agent adapter for an operator or a
//! plugin author, and every process's agent sessions as the ledger tells them.
//! (Subcommands go in [`AgentCommand`]; each is a function of this module.)

use super::exit::{CliError, CliResult, Exit, runtime, usage};
use super::open;
use super::output::{self, FAIL, Format, INFO, OK};
use anyhow::anyhow;
use baton_core::clock::now_ms;
use baton_core::units::parse_duration;
use baton_engine::agent::sessions::{
    OpenError, SessionEvent, SessionManager, SessionSettings, SessionSink,
};
use baton_engine::agent::{StoreSink, session_log};
use baton_engine::plugins as spec;
use baton_engine::settings::Settings;
use baton_runtime::bindings::types;
use baton_runtime::call::AgentSession;
use baton_runtime::inspect::World;
use baton_runtime::{Runtime, json as wit_json};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const RUN_HELP: &str = "\
Examples:
  baton agent run openai --prompt 'Summarise RFC 9110 in one line'
  baton agent run claude-cli --model sonnet --prompt 'first question' --prompt 'and then?'
  baton agent run openai --session review --prompt a --pause-between 10s --prompt b --format json

Every prompt of one run goes to the same session (one adapter instance, one conversation).
Timeouts come from agent.session-idle-timeout (5m), agent.session-max-lifetime (1h) and
agent.session-warning (30s); the session's events go to the ledger, where `baton agent
sessions` finds them. --linger keeps the session open after the last prompt (to watch its
warning and expiry); --repeat opens that many sessions one after another and reports the
instances still alive and the memory growth afterwards.

Exit codes: 0 every prompt answered, 10 some prompt failed (its classification is shown),
20 usage or configuration error, 30 the adapter could not be loaded or trapped.";

const SESSIONS_HELP: &str = "\
Examples:
  baton agent sessions
  baton agent sessions --since 2h --format json

Lists the sessions of every process of this project from the ledger (.baton/ledger): open
ones (with how long they have been idle and when they expire), then recently ended ones
(closed, expired with the reason, or lost: their process ended without closing them).";

/// `baton agent ...`.
#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Send prompts to an agent adapter in one session and print the answers.
    #[command(after_help = RUN_HELP)]
    Run(RunArgs),
    /// List live and recent agent sessions (state, turns, idle for, expires in).
    #[command(after_help = SESSIONS_HELP)]
    Sessions(SessionsArgs),
    /// Prompt registries in TSV: check one, or import it as a pipeline.
    #[command(subcommand)]
    Registry(crate::registry::RegistryCommand),
}

/// `baton agent run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The adapter: a configured agent plugin (`[plugins.NAME]`) or a bundled one.
    pub adapter: String,
    /// A prompt (repeat for a conversation: each goes to the same session, in order).
    #[arg(long, required = true, value_name = "TEXT")]
    pub prompt: Vec<String>,
    /// The model to ask for (the adapter's default otherwise).
    #[arg(long, value_name = "M")]
    pub model: Option<String>,
    /// The session's name in the ledger (default: `run-PID`).
    #[arg(long, value_name = "NAME")]
    pub session: Option<String>,
    /// Options for every prompt as a JSON object, e.g. '{"temperature": 0, "max-tokens": 200}'.
    #[arg(long, value_name = "JSON", default_value = "{}")]
    pub options: String,
    /// Wait this long between prompts, e.g. 10s.
    #[arg(long, value_name = "DURATION")]
    pub pause_between: Option<String>,
    /// Keep the session open this long after the last prompt (it may warn and expire).
    #[arg(long, value_name = "DURATION")]
    pub linger: Option<String>,
    /// Run the whole conversation this many times, each in a new session closed after it.
    #[arg(long, default_value_t = 1)]
    pub repeat: u32,
}

/// `baton agent sessions`.
#[derive(Debug, Args)]
pub struct SessionsArgs {
    /// Show sessions with events this recent, e.g. 30m, 2h (default 24h).
    #[arg(long, value_name = "DURATION", default_value = "24h")]
    pub since: String,
}

/// Runs an `agent` subcommand.
pub async fn run(
    command: &AgentCommand,
    settings: &Settings,
    rt: impl Fn() -> Result<Runtime, CliError>,
    format: Format,
) -> CliResult {
    match command {
        AgentCommand::Run(args) => run_prompts(settings, &rt()?, args, format).await,
        AgentCommand::Sessions(args) => sessions(settings, args, format),
        AgentCommand::Registry(command) => crate::registry::run(command, settings, format),
    }
}

/// Records session events into the ledger and keeps a copy for the report.
struct Tee {
    store: StoreSink,
    seen: Mutex<Vec<SessionEvent>>,
}

impl SessionSink for Tee {
    fn record(&self, event: SessionEvent) {
        if let Ok(mut seen) = self.seen.lock() {
            seen.push(event.clone());
        }
        self.store.record(event);
    }
}

fn duration(flag: &str, text: &Option<String>) -> Result<Duration, CliError> {
    match text {
        None => Ok(Duration::ZERO),
        Some(text) => parse_duration(text).map_err(|e| usage(anyhow!("{flag}: {e}"))),
    }
}

async fn run_prompts(
    settings: &Settings,
    rt: &Runtime,
    args: &RunArgs,
    format: Format,
) -> CliResult {
    let options: Value = serde_json::from_str(&args.options)
        .map_err(|e| usage(anyhow!("--options is not JSON: {e}")))?;
    let Some(fields) = options.as_object() else {
        return Err(usage(anyhow!(
            "--options must be a JSON object, e.g. '{{\"temperature\": 0}}'"
        )));
    };
    check_options(fields).map_err(usage)?;
    if let Some(blank) = args.prompt.iter().position(|p| p.trim().is_empty()) {
        return Err(usage(anyhow!(
            "--prompt number {} is empty; give the text to send",
            blank + 1
        )));
    }
    let pause = duration("--pause-between", &args.pause_between)?;
    let linger = duration("--linger", &args.linger)?;
    if args.repeat == 0 {
        return Err(usage(anyhow!("--repeat must be at least 1")));
    }
    let spec = spec::spec(settings, &args.adapter, World::Agent).map_err(usage)?;
    let plugin = match rt.load(&spec).await {
        Ok(plugin) => plugin,
        Err(error) => return Err(runtime(anyhow!("{error}"))),
    };
    let store = Arc::new(Mutex::new(open::store(settings)?));
    let sink = Arc::new(Tee {
        store: StoreSink::new(store),
        seen: Mutex::new(Vec::new()),
    });
    let session_settings: SessionSettings = settings.sessions;
    let manager: SessionManager<AgentSession> = SessionManager::new(session_settings, sink.clone());
    let base = args
        .session
        .clone()
        .unwrap_or_else(|| format!("run-{}", std::process::id()));
    let rss_before = rss_bytes();
    let mut rss_after_first = rss_before;
    let started = Instant::now();
    let mut replies = Vec::new();
    let mut failed = 0usize;
    let total = args.prompt.len() * args.repeat as usize;
    for round in 0..args.repeat {
        let name = if args.repeat > 1 {
            format!("{base}-{}", round + 1)
        } else {
            base.clone()
        };
        let opened = manager
            .open(
                &name,
                &args.adapter,
                args.model.as_deref(),
                rt.open_session(&plugin, args.model.clone()),
            )
            .await;
        match opened {
            Ok(_) => {}
            Err(OpenError::Open(error)) => return Err(runtime(anyhow!("{error}"))),
            Err(OpenError::Session(error)) => return Err(usage(anyhow!("{error}"))),
        }
        for (index, prompt) in args.prompt.iter().enumerate() {
            if index > 0 && !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
            let number = round as usize * args.prompt.len() + index + 1;
            let mut lease = match manager.lease(&name).await {
                Ok(lease) => lease,
                Err(error) => {
                    failed += 1;
                    let reply = json!({"session": name, "prompt": prompt, "ok": false,
                        "failure": {"kind": "session", "reason": error.to_string()}});
                    show_reply(format, number, total, &args.adapter, &reply);
                    replies.push(reply);
                    continue;
                }
            };
            let request = types::AgentRequest {
                prompt: prompt.clone(),
                options: options.to_string(),
            };
            let report = lease
                .send(request)
                .await
                .map_err(|error| runtime(anyhow!("{error}")))?;
            drop(lease);
            let reply = match &report.value {
                Ok(answer) => json!({"session": name, "prompt": prompt, "ok": true,
                    "reply": wit_json::agent_reply(answer),
                    "elapsed_ms": report.elapsed.as_secs_f64() * 1000.0}),
                Err(failure) => {
                    failed += 1;
                    json!({"session": name, "prompt": prompt, "ok": false,
                        "failure": wit_json::agent_failure(failure),
                        "elapsed_ms": report.elapsed.as_secs_f64() * 1000.0})
                }
            };
            show_reply(format, number, total, &args.adapter, &reply);
            replies.push(reply);
        }
        if !linger.is_zero() {
            tokio::time::sleep(linger).await;
        }
        manager.close(&name);
        if round == 0 {
            rss_after_first = rss_bytes();
        }
    }
    let live_instances = manager.live_instances();
    let rss_after = rss_bytes();
    let events: Vec<Value> = sink
        .seen
        .lock()
        .map(|seen| {
            seen.iter()
                .map(|event| {
                    let mut line = event.data();
                    line["event"] = json!(event.kind.ledger_name());
                    line["at"] = json!(baton_core::clock::format_ms(event.at_ms));
                    line
                })
                .collect()
        })
        .unwrap_or_default();
    if format == Format::Json {
        output::json(&json!({
            "ok": failed == 0,
            "adapter": args.adapter,
            "prompts": total,
            "failed": failed,
            "replies": replies,
            "events": events,
            "live_instances": live_instances,
            "rss_bytes": {"before": rss_before, "after_first": rss_after_first, "after": rss_after},
            "elapsed_ms": started.elapsed().as_secs_f64() * 1000.0,
        }));
    } else {
        println!(
            "{INFO} {total} prompt(s), {failed} failed, {} session(s), {live_instances} instance(s) still alive",
            args.repeat
        );
    }
    Ok(if failed == 0 {
        Exit::Success
    } else {
        Exit::Degraded
    })
}

/// Checks the options a prompt stage could set, as a pipeline's validation does: a typo or
/// an out-of-range value is refused rather than sent (the adapters ignore unknown keys).
fn check_options(fields: &serde_json::Map<String, Value>) -> anyhow::Result<()> {
    for (key, value) in fields {
        let ok = match key.as_str() {
            "temperature" => value.as_f64().is_some_and(|t| (0.0..=2.0).contains(&t)),
            "max-tokens" | "timeout-ms" => value.as_u64().is_some_and(|n| n > 0),
            "system" => value.is_string(),
            "history" => value.is_array(),
            _ => {
                return Err(anyhow!(
                    "--options: unknown key `{key}`; the keys are temperature, max-tokens, system, timeout-ms and history"
                ));
            }
        };
        if !ok {
            let want = match key.as_str() {
                "temperature" => "a number from 0 to 2",
                "max-tokens" | "timeout-ms" => "a whole number of at least 1",
                "system" => "a string",
                _ => "a list of {\"prompt\", \"answer\"}",
            };
            return Err(anyhow!("--options: `{key}` is {value}; it must be {want}"));
        }
    }
    Ok(())
}

/// One line per prompt as it ends, then the answer (table format).
fn show_reply(format: Format, number: usize, total: usize, adapter: &str, reply: &Value) {
    if format == Format::Json {
        return;
    }
    let prompt = output::safe(reply["prompt"].as_str().unwrap_or_default(), false);
    let short: String = prompt.chars().take(40).collect();
    let elapsed = reply["elapsed_ms"].as_f64().unwrap_or(0.0) / 1000.0;
    if reply["ok"] == true {
        let usage = &reply["reply"]["usage"];
        let tokens = match (
            usage["input_tokens"].as_u64(),
            usage["output_tokens"].as_u64(),
        ) {
            (Some(input), Some(output)) => format!(" · {} tokens", input + output),
            _ => String::new(),
        };
        println!("{OK} [{number}/{total}] {adapter} {short} … done in {elapsed:.1}s{tokens}");
        println!(
            "{}",
            output::safe(reply["reply"]["text"].as_str().unwrap_or_default(), true)
        );
    } else {
        let failure = &reply["failure"];
        let reset = match failure["reset_at_ms"].as_i64() {
            Some(at) => format!(" (resets at {})", baton_core::clock::format_ms(at)),
            None => String::new(),
        };
        println!(
            "{FAIL} [{number}/{total}] {adapter} {short} … {}{reset}: {}",
            failure["kind"].as_str().unwrap_or("failed"),
            output::safe(failure["reason"].as_str().unwrap_or_default(), false)
        );
    }
}

fn sessions(settings: &Settings, args: &SessionsArgs, format: Format) -> CliResult {
    let since = parse_duration(&args.since).map_err(|e| usage(anyhow!("--since: {e}")))?;
    let now = now_ms();
    let listed = session_log::read(
        &settings.store.ledger_dir,
        now - since.as_millis() as i64,
        now,
        &session_log::process_alive,
    )
    .map_err(runtime)?;
    if format == Format::Json {
        let sessions: Vec<Value> = listed
            .iter()
            .map(|s| {
                json!({
                    "session": s.session,
                    "adapter": s.adapter,
                    "model": s.model,
                    "pid": s.pid,
                    "state": s.state,
                    "reason": s.reason,
                    "turns": s.turns,
                    "warned": s.warned,
                    "opened_at": baton_core::clock::format_ms(s.opened_at_ms),
                    "idle_for_ms": s.idle_for(now).as_millis() as u64,
                    "expires_in_ms": s.expires_in(now).map(|d| d.as_millis() as u64),
                })
            })
            .collect();
        output::json(&json!({"sessions": sessions}));
        return Ok(Exit::Success);
    }
    if listed.is_empty() {
        println!("{INFO} no agent sessions in the last {}", args.since);
        return Ok(Exit::Success);
    }
    let rows: Vec<Vec<String>> = listed
        .iter()
        .map(|s| {
            let state = match &s.reason {
                Some(reason) => format!("{} ({reason})", s.state),
                None if s.warned => format!("{} (warned)", s.state),
                None => s.state.to_string(),
            };
            vec![
                s.session.clone(),
                s.adapter.clone(),
                s.model.clone().unwrap_or_default(),
                state,
                s.turns.to_string(),
                short(s.idle_for(now)),
                s.expires_in(now).map(short).unwrap_or_else(|| "-".into()),
                s.pid.to_string(),
            ]
        })
        .collect();
    output::table(
        &[
            "SESSION",
            "ADAPTER",
            "MODEL",
            "STATE",
            "TURNS",
            "IDLE FOR",
            "EXPIRES IN",
            "PID",
        ],
        &rows,
    );
    Ok(Exit::Success)
}

/// A duration to the second, e.g. `4m 12s`.
fn short(duration: Duration) -> String {
    humantime::format_duration(Duration::from_secs(duration.as_secs())).to_string()
}

/// Resident memory of this process, bytes (0 where /proc is unavailable).
pub(crate) fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|field| field.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * u64::try_from(page).unwrap_or(4096)
}
