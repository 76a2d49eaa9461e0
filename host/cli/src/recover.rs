//! `baton job recover ID | --all [--force] [--dry-run]`: puts running jobs whose lease
//! holder is dead back in the queue and reports what was recovered and why (the judging is
//! `baton_engine::recover`); every run that changes something is recorded in the audit log.

use super::exit::{CliResult, Exit, runtime, usage};
use super::output::{self, FAIL, Format, INFO, OK};
use anyhow::anyhow;
use baton_core::clock::{format_ms, now_ms};
use baton_engine::audit::{Actor, AuditLog};
use baton_engine::recover::{self, Plan, Selection};
use baton_engine::settings::Settings;
use clap::Args;
use serde_json::json;

pub const LONG_ABOUT: &str = "\
Put running jobs whose lease holder is dead back in the queue, and report what was recovered
and why. A holder is dead when its lease expired, when it was a process on this machine that
no longer exists, or when its host has sent no heartbeat to the store for two leases (see
`baton hosts`). A job whose holder still looks alive is left alone unless --force: then it is
requeued anyway and the holder is fenced out — if it finishes later, its outcome is discarded
(a `fenced` event in the ledger) and the job runs again under its new lease.

A job recovered by hand gets its attempt back; the loss is counted in its recoveries.";

pub const AFTER_HELP: &str = "\
Examples:
  baton job recover --all --dry-run      # what would be recovered, and why; changes nothing
  baton job recover --all                # recover every job whose holder is dead
  baton job recover 10.1234/x --force    # take a job from a holder that looks alive (stuck)

Exit 0 when every job looked at was recovered (or none needed it), 10 when some were left
(their holder looks alive: use --force) or the named job is not running, 20 when there is no
such job. Changes are recorded in .baton/audit/YYYY-MM-DD.jsonl.";

/// `job recover`'s arguments.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("which").required(true).args(["id", "all"]))]
pub struct RecoverArgs {
    /// The job to recover.
    id: Option<String>,
    /// Every running job.
    #[arg(long)]
    all: bool,
    /// Also take jobs whose holder still looks alive; their late outcome is fenced.
    #[arg(long)]
    force: bool,
    /// Report what would be recovered; change nothing.
    #[arg(long)]
    dry_run: bool,
}

pub fn run(args: &RecoverArgs, settings: &Settings, format: Format) -> CliResult {
    let mut store = crate::open::store(settings)?;
    let selection = match &args.id {
        Some(id) => Selection::One(baton_engine::queue::doi::idempotency_key(id)),
        None => Selection::All,
    };
    let now = now_ms();
    let lease_ms = settings.queue.lease.as_millis() as i64;
    let mut plan = recover::plan(&*store, &selection, args.force, now, lease_ms)
        .map_err(runtime)?
        .ok_or_else(|| {
            usage(anyhow!(
                "no job `{}` in the queue",
                args.id.as_deref().unwrap_or_default()
            ))
        })?;
    let recovered = if args.dry_run {
        0
    } else {
        recover::apply(&mut *store, &mut plan, now).map_err(runtime)?
    };
    let left = plan
        .candidates
        .iter()
        .filter(|c| !c.recover || c.applied == Some(false))
        .count();
    let audit = if args.dry_run || plan.candidates.is_empty() {
        Ok(())
    } else {
        AuditLog::new(&settings.state_dir)
            .record(
                &Actor::current_user(),
                "job.recover",
                json!({"id": args.id, "all": args.all, "force": args.force}),
                json!({
                    "recovered": plan.candidates.iter().filter(|c| c.applied == Some(true))
                        .map(|c| json!({"key": c.key, "owner": c.owner, "why": c.holder.describe()}))
                        .collect::<Vec<_>>(),
                    "left": left,
                }),
            )
            .map(|_| ())
    };
    report(&plan, args.dry_run, recovered, left, format);
    audit.map_err(runtime)?;
    Ok(if left > 0 || plan.not_running.is_some() {
        Exit::Degraded
    } else {
        Exit::Success
    })
}

fn report(plan: &Plan, dry_run: bool, recovered: usize, left: usize, format: Format) {
    if format == Format::Json {
        output::json(&json!({
            "dry_run": dry_run,
            "recovered": recovered,
            "left": left,
            "jobs": plan.candidates.iter().map(|c| json!({
                "key": c.key, "owner": c.owner, "fence": c.fence, "since": c.since,
                "holder": c.holder, "why": c.holder.describe(),
                "recover": c.recover, "applied": c.applied,
            })).collect::<Vec<_>>(),
            "not_running": plan.not_running,
        }));
        return;
    }
    if let Some(job) = &plan.not_running {
        println!(
            "{FAIL} {} is {}, not running: nothing to recover",
            output::safe(&job.key, false),
            job.state
        );
        return;
    }
    if plan.candidates.is_empty() {
        println!("{OK} no job is running: nothing to recover");
        return;
    }
    let rows: Vec<Vec<String>> = plan
        .candidates
        .iter()
        .map(|c| {
            let action = match (c.recover, c.applied, dry_run) {
                (false, _, _) => "left (use --force)",
                (true, _, true) => "would recover",
                (true, Some(true), _) => "recovered",
                (true, _, false) => "ended meanwhile",
            };
            vec![
                output::safe(&c.key, false),
                output::safe(&c.owner, false),
                format_ms(c.since),
                action.to_string(),
                output::safe(&c.holder.describe(), false),
            ]
        })
        .collect();
    output::table(&["job", "holder", "since", "action", "why"], &rows);
    let would = plan.candidates.iter().filter(|c| c.recover).count();
    if dry_run {
        println!("{INFO} dry run: {would} would be recovered, {left} left; nothing changed");
    } else {
        println!("{OK} {recovered} recovered and queued again, {left} left");
    }
}
