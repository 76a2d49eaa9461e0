//! `baton bench agents`: the host's cost of agent prompts and sessions, measured through the
//! real `openai` adapter against the provider test double (`baton-double serve`, zero
//! latency, on loopback): prompts per second with each prompt in a conversation of its own
//! (open, send, close, as a prompt stage without a `session` does), CPU per prompt of this
//! process (the double's CPU is its own), the cost of opening a session, and the resident
//! memory of N idle open sessions held by the session manager.

use super::exit::{CliError, CliResult, Exit, runtime, usage};
use super::output::{self, Format, INFO};
use crate::bench::process_cpu;
use anyhow::{Context, anyhow};
use baton_engine::agent::sessions::{SessionEvent, SessionManager, SessionSettings, SessionSink};
use baton_engine::plugins as spec;
use baton_engine::settings::{Overrides, Settings};
use baton_runtime::bindings::types;
use baton_runtime::call::AgentSession;
use baton_runtime::inspect::World;
use clap::Args;
use serde_json::json;
use std::io::BufRead;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `baton bench agents`.
#[derive(Debug, Args)]
pub struct AgentsBench {
    /// Prompts sent for the throughput measurement, each in a conversation of its own.
    #[arg(long, default_value_t = 5_000)]
    pub prompts: usize,
    /// Conversations in flight at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Sessions opened one after another for the open-cost measurement.
    #[arg(long, default_value_t = 500)]
    pub opens: usize,
    /// Sessions held open and idle at once for the memory measurement.
    #[arg(long, default_value_t = 1_000)]
    pub sessions: usize,
    /// Base URL of a running `baton-double serve` (e.g. `http://127.0.0.1:40123`); by
    /// default the benchmark starts the `baton-double` built beside this binary.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
}

/// A `baton-double serve` this benchmark started; killed when dropped.
struct Double(std::process::Child);

impl Drop for Double {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `baton-double serve` from the directory of this executable and reads its URL.
fn start_double() -> Result<(Double, String), CliError> {
    let exe = std::env::current_exe().map_err(runtime)?;
    let double = exe.with_file_name("baton-double");
    if !double.is_file() {
        return Err(usage(anyhow!(
            "{} is missing: build it with `cargo build --release --bin baton-double`, or give --url of a running `baton-double serve`",
            double.display()
        )));
    }
    let mut child = std::process::Command::new(&double)
        .args(["serve", "--key", KEY])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .with_context(|| format!("cannot start {}", double.display()))
        .map_err(runtime)?;
    let stdout = child.stdout.take();
    let child = Double(child);
    let mut line = String::new();
    if let Some(stdout) = stdout {
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(runtime)?;
    }
    let url = line.trim().to_string();
    if !url.starts_with("http://127.") {
        return Err(runtime(anyhow!(
            "{} did not print its loopback URL (it said {url:?})",
            double.display()
        )));
    }
    Ok((child, url))
}

/// The API key the benchmark's double accepts and the adapter is granted.
const KEY: &str = "sk-bench";

/// Settings of a project in `dir` whose `openai` adapter talks to the double at `url`.
fn bench_settings(
    settings: &Settings,
    dir: &std::path::Path,
    url: &str,
    instances: usize,
) -> Result<Settings, CliError> {
    let path = baton_bundled::plugin("openai").ok_or_else(|| {
        usage(anyhow!(
            "the bundled `openai` adapter is missing (a `baton` copied away from its build has none)"
        ))
    })?;
    let config = format!(
        "[runtime]\nmax-instances = {instances}\n\n[plugins.openai]\npath = {path}\nkind = \"agent\"\nsettings = {{ base-url = {base}, model = \"bench-model\" }}\n[plugins.openai.grants]\nhttp = [\"http://127.0.0.1:*\"]\nenv = [\"OPENAI_API_KEY={KEY}\"]\n",
        path = toml_string(&path.to_string_lossy()),
        base = toml_string(&format!("{}/v1", url.trim_end_matches('/'))),
    );
    std::fs::write(dir.join("baton.toml"), config).map_err(runtime)?;
    let overrides = Overrides {
        db: Some(dir.join("bench.db").to_string_lossy().into_owned()),
        cache_dir: Some(settings.runtime.cache_dir.clone()),
    };
    Settings::load(dir, None, &overrides, &|_| None).map_err(runtime)
}

/// `text` as a TOML basic string.
fn toml_string(text: &str) -> String {
    serde_json::Value::String(text.to_string()).to_string()
}

/// One prompt in `session`; an error unless the adapter answered.
async fn ask(session: &mut AgentSession, prompt: &str) -> anyhow::Result<()> {
    let report = session
        .send(types::AgentRequest {
            prompt: prompt.to_string(),
            options: "{}".to_string(),
        })
        .await?;
    match report.value {
        Ok(_) => Ok(()),
        Err(failure) => Err(anyhow!(
            "the adapter refused: {}",
            baton_runtime::json::agent_failure(&failure)
        )),
    }
}

/// Microseconds at quantile `q` of sorted `values`.
fn quantile(values: &[Duration], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values[((values.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e6
}

/// Session events go nowhere: the benchmark measures the sessions, not the ledger.
struct Discard;

impl SessionSink for Discard {
    fn record(&self, _event: SessionEvent) {}
}

pub async fn run(args: &AgentsBench, settings: &Settings, format: Format) -> CliResult {
    if args.prompts == 0 || args.concurrency == 0 || args.opens == 0 || args.sessions == 0 {
        return Err(usage(anyhow!(
            "--prompts, --concurrency, --opens and --sessions must be at least 1"
        )));
    }
    let (_double, url) = match &args.url {
        Some(url) => (None, url.clone()),
        None => {
            let (double, url) = start_double()?;
            (Some(double), url)
        }
    };
    let dir = tempfile::tempdir().map_err(runtime)?;
    // Room for every held session and the conversations in flight.
    let instances = (args.sessions + args.concurrency + 64).max(1024);
    let bench = bench_settings(settings, dir.path(), &url, instances)?;
    let rt = Arc::new(crate::open::runtime(&bench)?);
    let spec = spec::spec(&bench, "openai", World::Agent).map_err(usage)?;
    let plugin = Arc::new(rt.load(&spec).await.map_err(|e| runtime(anyhow!("{e}")))?);

    // Warm up: the compiled component, the connection pool, the double.
    for _ in 0..20 {
        let mut session = rt
            .open_session(&plugin, None)
            .await
            .map_err(|e| runtime(anyhow!("{e}")))?;
        ask(&mut session, "warm-up").await.map_err(runtime)?;
    }

    // Throughput: each prompt in a conversation of its own.
    let cpu_before = process_cpu();
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..args.concurrency {
        let (rt, plugin) = (rt.clone(), plugin.clone());
        let count =
            args.prompts / args.concurrency + usize::from(worker < args.prompts % args.concurrency);
        tasks.spawn(async move {
            let mut latencies = Vec::with_capacity(count);
            for i in 0..count {
                let at = Instant::now();
                let mut session = rt.open_session(&plugin, None).await?;
                ask(&mut session, &format!("prompt {worker}-{i}")).await?;
                drop(session);
                latencies.push(at.elapsed());
            }
            anyhow::Ok(latencies)
        });
    }
    let mut latencies = Vec::with_capacity(args.prompts);
    while let Some(done) = tasks.join_next().await {
        latencies.extend(done.map_err(runtime)?.map_err(runtime)?);
    }
    let elapsed = started.elapsed();
    let cpu = process_cpu().saturating_sub(cpu_before);
    latencies.sort();
    let prompts_per_second = args.prompts as f64 / elapsed.as_secs_f64();
    let cpu_per_prompt_us = cpu.as_secs_f64() * 1e6 / args.prompts as f64;

    // The cost of opening a session (a fresh instance and the adapter's `open`).
    let mut opens = Vec::with_capacity(args.opens);
    for _ in 0..args.opens {
        let at = Instant::now();
        let session = rt
            .open_session(&plugin, None)
            .await
            .map_err(|e| runtime(anyhow!("{e}")))?;
        opens.push(at.elapsed());
        drop(session);
    }
    opens.sort();

    // Idle open sessions, each after one prompt, held by the session manager as a run holds
    // them (idle timers included).
    let manager: SessionManager<AgentSession> = SessionManager::new(
        SessionSettings {
            idle_timeout: Duration::from_secs(3600),
            max_lifetime: Duration::from_secs(7200),
            ..bench.sessions
        },
        Arc::new(Discard),
    );
    let rss_before = crate::agent::rss_bytes();
    let held_started = Instant::now();
    for i in 0..args.sessions {
        let name = format!("idle-{i}");
        manager
            .open(&name, "openai", None, rt.open_session(&plugin, None))
            .await
            .map_err(|e| runtime(anyhow!("{e:?}")))?;
        let mut lease = manager
            .lease(&name)
            .await
            .map_err(|e| runtime(anyhow!("{e}")))?;
        ask(&mut lease, "hello").await.map_err(runtime)?;
    }
    let open_seconds = held_started.elapsed().as_secs_f64();
    let rss_held = crate::agent::rss_bytes();
    let live_held = manager.live_instances();
    // Every held session still answers.
    let answered_started = Instant::now();
    for i in 0..args.sessions {
        let mut lease = manager
            .lease(&format!("idle-{i}"))
            .await
            .map_err(|e| runtime(anyhow!("{e}")))?;
        ask(&mut lease, "still there?").await.map_err(runtime)?;
    }
    let answered_seconds = answered_started.elapsed().as_secs_f64();
    manager.close_all();
    let live_after = manager.live_instances();
    let rss_closed = crate::agent::rss_bytes();
    // A second round reuses the pool's slots: memory that stays after closing is the
    // pool's resident cache, not a leak, if this round adds nothing.
    for i in 0..args.sessions {
        let name = format!("again-{i}");
        manager
            .open(&name, "openai", None, rt.open_session(&plugin, None))
            .await
            .map_err(|e| runtime(anyhow!("{e:?}")))?;
        let mut lease = manager
            .lease(&name)
            .await
            .map_err(|e| runtime(anyhow!("{e}")))?;
        ask(&mut lease, "hello").await.map_err(runtime)?;
    }
    manager.close_all();
    let rss_second_round = crate::agent::rss_bytes();
    let live_after = live_after.max(manager.live_instances());
    let per_session_mib =
        rss_held.saturating_sub(rss_before) as f64 / args.sessions as f64 / (1024.0 * 1024.0);

    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if format == Format::Json {
        output::json(&json!({
            "adapter": "openai",
            "provider": url,
            "cpus": cpus,
            "prompts": args.prompts,
            "concurrency": args.concurrency,
            "prompts_per_second": prompts_per_second,
            "cpu_per_prompt_us": cpu_per_prompt_us,
            "prompt_latency_us": {"p50": quantile(&latencies, 0.5), "p99": quantile(&latencies, 0.99)},
            "session_open_us": {"p50": quantile(&opens, 0.5), "p99": quantile(&opens, 0.99)},
            "idle_sessions": {
                "sessions": args.sessions,
                "live_instances": live_held,
                "open_seconds": open_seconds,
                "answered_again_seconds": answered_seconds,
                "rss_before_bytes": rss_before,
                "rss_held_bytes": rss_held,
                "rss_closed_bytes": rss_closed,
                "rss_after_second_round_bytes": rss_second_round,
                "per_session_mib": per_session_mib,
                "live_instances_after_close": live_after,
            },
        }));
    } else {
        println!(
            "{INFO} {} prompts through `openai` against the double ({url}), {} at once, {cpus} CPUs",
            args.prompts, args.concurrency
        );
        println!(
            "{INFO} {prompts_per_second:.0} prompts/s · {cpu_per_prompt_us:.0} µs CPU per prompt in baton · latency p50 {:.0} µs, p99 {:.0} µs",
            quantile(&latencies, 0.5),
            quantile(&latencies, 0.99)
        );
        println!(
            "{INFO} session open: p50 {:.0} µs, p99 {:.0} µs ({} opens)",
            quantile(&opens, 0.5),
            quantile(&opens, 0.99),
            args.opens
        );
        println!(
            "{INFO} {} idle open sessions: {:.3} MiB resident each ({:.1} MiB → {:.1} MiB), opened in {open_seconds:.2}s, each answered again in {answered_seconds:.2}s",
            args.sessions,
            per_session_mib,
            rss_before as f64 / 1048576.0,
            rss_held as f64 / 1048576.0,
        );
        println!(
            "{INFO} after closing them: {live_after} instances, {:.1} MiB resident; after a second round of {} opened and closed: {:.1} MiB",
            rss_closed as f64 / 1048576.0,
            args.sessions,
            rss_second_round as f64 / 1048576.0,
        );
    }
    Ok(if live_after == 0 {
        Exit::Success
    } else {
        Exit::Degraded
    })
}
