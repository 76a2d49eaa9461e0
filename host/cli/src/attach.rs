//! `baton job attach ID [--from SEQ]`: prints a job's (or a run's) ledger events with their
//! `seq`, its log lines and its progress as they come, until it ends; exits with its code.
//! Waiting is [`baton_engine::follow`]'s: file-change notification on the ledger and log
//! directories and the store's wake-ups, with a bounded fallback, never a fixed delay.

use crate::exit::{CliResult, Exit, runtime, usage};
use crate::output::{self, Format, INFO};
use anyhow::anyhow;
use baton_engine::attach::{Attach, LogTail, Status, Target};
use baton_engine::follow::{FALLBACK, Follower};
use baton_engine::settings::Settings;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

/// Follows `id` from after `from`; see the module header.
pub async fn run(settings: &Settings, id: &str, from: i64, format: Format) -> CliResult {
    let store = crate::open::store(settings)?;
    let key = baton_engine::queue::doi::idempotency_key(id);
    let attach = match Attach::resolve(store.as_ref(), &key).map_err(runtime)? {
        Some(attach) => attach,
        None => Attach::resolve(store.as_ref(), id)
            .map_err(runtime)?
            .ok_or_else(|| {
                usage(anyhow!(
                    "no job or pipeline run `{id}` (see `baton queue list` or `baton queue stats`)"
                ))
            })?,
    };
    // The last seq printed, locked while a line is printed so a detach never reports a
    // seq whose line it had not finished printing.
    let cursor = Arc::new(Mutex::new(from));
    let follow_cursor = cursor.clone();
    let state_dir = settings.state_dir.clone();
    let ledger_dir = settings.store.ledger_dir.clone();
    let follow = tokio::task::spawn_blocking(move || {
        follow(
            store,
            &attach,
            &state_dir,
            &ledger_dir,
            &follow_cursor,
            format,
        )
    });
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(runtime)?;
    let mut hangup =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).map_err(runtime)?;
    tokio::select! {
        ended = follow => ended.map_err(|e| runtime(anyhow!("the follower stopped: {e}")))?,
        _ = tokio::signal::ctrl_c() => Ok(detached(id, &cursor, format)),
        _ = terminate.recv() => Ok(detached(id, &cursor, format)),
        _ = hangup.recv() => Ok(detached(id, &cursor, format)),
    }
}

/// Says where to resume after a detach; exit 0 (following stopped, the job goes on).
fn detached(id: &str, cursor: &Mutex<i64>, format: Format) -> Exit {
    let seq = cursor
        .lock()
        .map(|seq| *seq)
        .unwrap_or_else(|e| *e.into_inner());
    if format == Format::Json {
        line(&json!({"detached": true, "resume_from": seq}));
    } else {
        eprintln!(
            "{INFO} detached; resume with: baton job attach {} --from {seq}",
            output::safe(id, false)
        );
    }
    Exit::Success
}

fn line(value: &Value) {
    println!("{value}");
}

fn follow(
    store: Box<dyn baton_core::store::Store>,
    attach: &Attach,
    state_dir: &std::path::Path,
    ledger_dir: &std::path::Path,
    cursor: &Mutex<i64>,
    format: Format,
) -> CliResult {
    let logs_dir = state_dir.join("logs");
    let runs_dir = state_dir.join("runs");
    let follower = Follower::new(
        &[ledger_dir, logs_dir.as_path(), runs_dir.as_path()],
        Some(store.as_ref()),
    )
    .map_err(runtime)?;
    let from = *cursor
        .lock()
        .map_err(|_| runtime(anyhow!("cursor poisoned")))?;
    // Log lines up to the event attach resumes after were shown before.
    let shown_until = if from > 0 {
        attach
            .events_after(store.as_ref(), from - 1)
            .map_err(runtime)?
            .first()
            .filter(|event| event["seq"].as_i64() == Some(from))
            .and_then(|event| event["at"].as_str().map(String::from))
    } else {
        None
    };
    let mut tails: Vec<(String, LogTail)> = attach
        .log_files(state_dir)
        .into_iter()
        .map(|(label, path)| (label, LogTail::new(path, shown_until.clone())))
        .collect();
    let mut last_progress = None;
    loop {
        let status = attach.status(store.as_ref()).map_err(runtime)?;
        loop {
            let seq = *cursor
                .lock()
                .map_err(|_| runtime(anyhow!("cursor poisoned")))?;
            let events = attach.events_after(store.as_ref(), seq).map_err(runtime)?;
            for event in &events {
                let mut seq = cursor
                    .lock()
                    .map_err(|_| runtime(anyhow!("cursor poisoned")))?;
                print_event(event, format);
                *seq = event["seq"].as_i64().unwrap_or(*seq);
            }
            if events.len() < baton_engine::attach::BATCH {
                break;
            }
        }
        for (label, tail) in &mut tails {
            for text in tail.read().map_err(runtime)? {
                if format == Format::Json {
                    line(&json!({"log": label, "line": text}));
                } else {
                    println!(
                        "  {} │ {}",
                        output::safe(label, false),
                        output::safe(&text, false)
                    );
                }
            }
        }
        let progress = (status.done, status.total, status.failed);
        if matches!(attach.target, Target::Run(_)) && last_progress != Some(progress) {
            last_progress = Some(progress);
            if format == Format::Json {
                line(
                    &json!({"progress": {"ended": status.done, "total": status.total, "failed": status.failed}}),
                );
            } else {
                println!(
                    "{INFO} {}/{} stages ended, {} failed",
                    status.done, status.total, status.failed
                );
            }
        }
        if status.ended {
            return Ok(ended(&status, cursor, format));
        }
        follower.wait(FALLBACK);
    }
}

/// Prints how it ended and returns its exit code.
fn ended(status: &Status, cursor: &Mutex<i64>, format: Format) -> Exit {
    let seq = cursor
        .lock()
        .map(|seq| *seq)
        .unwrap_or_else(|e| *e.into_inner());
    let code = status.exit_code();
    if format == Format::Json {
        line(
            &json!({"ended": true, "state": status.state, "exit": code, "resume_from": seq, "note": status.note}),
        );
    } else {
        if let Some(note) = &status.note {
            eprintln!("{INFO} {}", output::safe(note, false));
        }
        println!("{INFO} ended: {} (last seq {seq})", status.state);
    }
    if code == 0 {
        Exit::Success
    } else {
        Exit::Degraded
    }
}

/// One ledger event: `#SEQ TIME EVENT JOB key=value …` (JSON: the ledger line itself).
fn print_event(event: &Value, format: Format) {
    if format == Format::Json {
        line(event);
        return;
    }
    let text = |name: &str| event[name].as_str().unwrap_or_default().to_string();
    let mut fields = Vec::new();
    if let Value::Object(map) = event {
        for (name, value) in map {
            if matches!(name.as_str(), "seq" | "at" | "event" | "job") {
                continue;
            }
            let value = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            fields.push(format!("{name}={value}"));
        }
    }
    println!(
        "#{} {} {} {} {}",
        event["seq"],
        text("at"),
        output::safe(&text("event"), false),
        output::safe(&text("job"), false),
        output::safe(&fields.join(" "), false),
    );
}
