//! `baton job show ID`: one job, its attempts, why it waits, and its ledger events.
//! `baton job attach ID`: follows a job or a pipeline run live (see `attach`).

use super::exit::{CliResult, Exit, runtime, usage};
use super::output::{self, Format};
use anyhow::anyhow;
use baton_core::clock::{format_ms, now_ms};
use baton_core::model::{Job, JobState};
use baton_engine::settings::Settings;
use clap::Subcommand;
use serde_json::json;

/// Ledger events shown per job.
const EVENTS_SHOWN: usize = 200;

#[derive(Debug, Subcommand)]
pub enum JobCommand {
    /// Show a job: state, attempts, wait reason, result or error, ledger events.
    Show { id: String },
    /// Follow a job or a pipeline run live: state changes, log lines, progress.
    #[command(
        long_about = "Follow a job (by its id) or a pipeline run (by its run id) live: every \
ledger event with its sequence number (seq), the lines its log files gain, and for a run how \
many stages have ended. When it has already ended, prints what happened and exits. The exit \
code is the job's: 0 done or skipped, 10 failed, cancelled, degraded or interrupted.\n\n\
Each event line starts with #SEQ. After a closed terminal or Ctrl-C, attach again with \
--from the last SEQ you saw (Ctrl-C prints it) to see only what came after it.",
        after_help = "Examples:\n  baton job attach 10.1234/x\n  baton job attach quickstart-20261201T101500123\n  baton job attach quickstart-20261201T101500123 --from 4711\n  baton job attach 10.1234/x --format json   # one JSON object per line"
    )]
    Attach {
        /// A job id, or a pipeline run id.
        id: String,
        /// Show only what came after this ledger sequence number.
        #[arg(long, value_name = "SEQ", default_value_t = 0)]
        from: i64,
    },
}

/// Why a job that is not running waits, in words.
pub fn wait_reason(job: &Job, now: i64) -> Option<String> {
    match job.state {
        JobState::Queued if job.run_after > now => Some(
            job.wait_reason
                .clone()
                .unwrap_or_else(|| format!("scheduled until {}", format_ms(job.run_after))),
        ),
        JobState::Queued => Some(
            job.wait_reason
                .clone()
                .map(|r| format!("ready ({r})"))
                .unwrap_or_else(|| "ready: waiting for a worker".into()),
        ),
        JobState::Blocked => Some(job.wait_reason.clone().unwrap_or_else(|| "deps".into())),
        _ => None,
    }
}

pub async fn run(command: &JobCommand, settings: &Settings, format: Format) -> CliResult {
    match command {
        JobCommand::Show { id } => show(settings, id, format),
        JobCommand::Attach { id, from } => crate::attach::run(settings, id, *from, format).await,
    }
}

fn show(settings: &Settings, id: &str, format: Format) -> CliResult {
    let store = crate::open::store(settings)?;
    let job = store
        .job(&baton_engine::queue::doi::idempotency_key(id))
        .map_err(runtime)?
        .ok_or_else(|| usage(anyhow!("no job `{id}` in the queue")))?;
    let attempts = store.attempts(job.id).map_err(runtime)?;
    let events = store.job_events(job.id, EVENTS_SHOWN).map_err(runtime)?;
    let wait = wait_reason(&job, now_ms());
    let manifest = store.manifest(&job.key).map_err(runtime)?;
    if format == Format::Json {
        output::json(&json!({
            "job": job, "wait_reason": wait, "attempts": attempts,
            "artifact": manifest, "events": events,
        }));
        return Ok(Exit::Success);
    }
    println!("id        {}", output::safe(&job.key, false));
    println!("state     {}", job.state);
    if let Some(wait) = &wait {
        println!("waiting   {}", output::safe(wait, false));
    }
    println!(
        "resolver  {}",
        job.plugin.as_deref().unwrap_or("(configured chain)")
    );
    println!(
        "attempts  {}/{} · recoveries {}",
        job.attempts, job.max_attempts, job.recoveries
    );
    println!(
        "payload   {}",
        output::safe(&job.payload.to_string(), false)
    );
    if let Some(error) = &job.last_error {
        match &job.error_code {
            Some(code) => println!("error     [{code}] {}", output::safe(error, false)),
            None => println!("error     {}", output::safe(error, false)),
        }
    }
    if let Some(result) = &job.result {
        println!("result    {}", output::safe(&result.to_string(), false));
    }
    if let Some(row) = &manifest {
        println!(
            "stored    sha256 {} · {} bytes · {}",
            row.sha256, row.size, row.url
        );
    }
    if !attempts.is_empty() {
        println!();
        let rows: Vec<Vec<String>> = attempts
            .iter()
            .map(|a| {
                vec![
                    a.attempt.to_string(),
                    format_ms(a.started_at),
                    a.finished_at.map(format_ms).unwrap_or_else(|| "-".into()),
                    a.outcome.clone().unwrap_or_else(|| "running".into()),
                    a.detail.clone().unwrap_or_default(),
                ]
            })
            .collect();
        output::table(
            &["attempt", "started", "finished", "outcome", "detail"],
            &rows,
        );
    }
    if !events.is_empty() {
        println!();
        for event in &events {
            println!("{}", output::safe(&event.to_string(), false));
        }
    }
    Ok(Exit::Success)
}
