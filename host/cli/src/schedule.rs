//! `baton schedule install | status | remove | run`: scheduled pipeline runs through the
//! machine's own scheduler (systemd user timers, launchd agents, crontab); the engine's
//! `schedule` module plans and keeps the records, this module writes, activates and prints.

use crate::exit::{CliError, CliResult, Exit, runtime, usage};
use crate::output::{self, Format, INFO, OK};
use anyhow::anyhow;
use baton_core::clock::{format_ms, now_ms};
use baton_engine::schedule::lock::{self, Taken};
use baton_engine::schedule::render::{self, Job};
use baton_engine::schedule::{self, Backend, Registry, RunRecord, Schedule, When};
use baton_engine::settings::Settings;
use clap::{Args, Subcommand};
use serde_json::json;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

const INSTALL_HELP: &str = "\
Examples:
  baton schedule install nightly --pipeline quickstart --daily 02:30
  baton schedule install weekdays --pipeline report --cron '30 6 * * 1-5'
  baton schedule install nightly --pipeline quickstart --daily 02:30 --dry-run   # print the files
  baton schedule install nightly --pipeline quickstart --daily 02:30 --unit-dir ./units  # write, do not activate

On Linux with systemd: ~/.config/systemd/user/baton-NAME.service and .timer (Persistent=true:
a run missed while the machine was off happens at the next start), enabled with
`systemctl --user enable --now baton-NAME.timer`. On macOS: ~/Library/LaunchAgents/
org.baton.NAME.plist, loaded with `launchctl load -w`. Elsewhere: a line in your crontab
(cron does not catch up missed runs; `schedule status` counts them).";

#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// Install a schedule that runs a pipeline daily or on a cron expression.
    #[command(after_help = INSTALL_HELP)]
    Install(InstallArgs),
    /// Each schedule: last run and its result, next run, missed runs, whether one is running.
    Status {
        /// Only this schedule.
        name: Option<String>,
    },
    /// Deactivate a schedule and remove the files Baton wrote for it.
    Remove {
        name: String,
        /// Print what would be removed; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// The crontab command (tests point it at a stand-in).
        #[arg(long, env = "BATON_CRONTAB", default_value = "crontab", hide = true)]
        crontab_command: String,
    },
    /// Run a schedule's pipeline now under its overlap lock (what the timer executes).
    Run { name: String },
}

#[derive(Debug, Args)]
pub struct InstallArgs {
    /// The schedule's name: letters, digits, - and _.
    pub name: String,
    /// The pipeline it runs.
    #[arg(long)]
    pub pipeline: String,
    /// Every day at HH:MM (local time).
    #[arg(
        long,
        value_name = "HH:MM",
        conflicts_with = "cron",
        required_unless_present = "cron"
    )]
    pub daily: Option<String>,
    /// A five-field cron expression (local time), e.g. "30 6 * * 1-5".
    #[arg(long, value_name = "EXPR")]
    pub cron: Option<String>,
    /// The scheduler: systemd, launchd or crontab (default: this machine's).
    #[arg(long, value_parser = ["systemd", "launchd", "crontab"])]
    pub backend: Option<String>,
    /// Write the unit files (or plist) here and do not activate them.
    #[arg(long, value_name = "DIR")]
    pub unit_dir: Option<PathBuf>,
    /// How long a run may hold the overlap lock before the next run may start anyway.
    #[arg(long, value_name = "DURATION", default_value = "6h")]
    pub lock_ttl: String,
    /// Print the files and the crontab line; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The crontab command (tests point it at a stand-in).
    #[arg(long, env = "BATON_CRONTAB", default_value = "crontab", hide = true)]
    pub crontab_command: String,
}

pub async fn run(command: &ScheduleCommand, settings: &Settings, format: Format) -> CliResult {
    let registry = Registry::new(&settings.state_dir);
    match command {
        ScheduleCommand::Install(args) => install(settings, &registry, args, format),
        ScheduleCommand::Status { name } => status(&registry, name.as_deref(), format),
        ScheduleCommand::Remove {
            name,
            dry_run,
            crontab_command,
        } => remove(settings, &registry, name, *dry_run, crontab_command, format),
        ScheduleCommand::Run { name } => run_now(settings, &registry, name, format).await,
    }
}

/// What an install writes.
struct Plan {
    schedule: Schedule,
    files: Vec<(PathBuf, String)>,
    crontab_line: Option<String>,
    activate: Vec<Vec<String>>,
}

fn home() -> Result<PathBuf, CliError> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .ok_or_else(|| usage(anyhow!("HOME is not set: give --unit-dir")))
}

fn plan(settings: &Settings, registry: &Registry, args: &InstallArgs) -> Result<Plan, CliError> {
    schedule::check_name(&args.name).map_err(usage)?;
    baton_engine::pipeline::run::load_graph(settings, &args.pipeline).map_err(usage)?;
    let when = match (&args.daily, &args.cron) {
        (Some(daily), None) => When::daily(daily),
        (None, Some(cron)) => When::cron(cron),
        _ => Err(anyhow!("give one of --daily HH:MM or --cron EXPR")),
    }
    .map_err(usage)?;
    let ttl = baton_core::units::parse_duration(&args.lock_ttl)
        .map_err(|e| usage(anyhow!("--lock-ttl `{}`: {e}", args.lock_ttl)))?;
    let backend = match &args.backend {
        Some(name) => Backend::parse(name).map_err(usage)?,
        None => Backend::detect(std::env::var("PATH").ok().as_deref()),
    };
    let baton = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .map_err(|e| runtime(anyhow!("cannot find the baton binary: {e}")))?;
    let root = settings.root.canonicalize().map_err(runtime)?;
    let job = Job {
        name: &args.name,
        pipeline: &args.pipeline,
        when: &when,
        baton: &baton,
        root: &root,
        registry,
    };
    let activated = args.unit_dir.is_none();
    let mut files = Vec::new();
    let mut crontab_line = None;
    let mut activate = Vec::new();
    match backend {
        Backend::Systemd => {
            let dir = match &args.unit_dir {
                Some(dir) => settings.cwd.join(dir),
                None => match std::env::var_os("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
                    Some(config) => PathBuf::from(config).join("systemd/user"),
                    None => home()?.join(".config/systemd/user"),
                },
            };
            for (name, text) in render::systemd(&job).map_err(usage)? {
                files.push((dir.join(name), text));
            }
            let timer = format!("{}.timer", render::unit_name(&args.name));
            activate.push(vec![
                "systemctl".into(),
                "--user".into(),
                "daemon-reload".into(),
            ]);
            activate.push(vec![
                "systemctl".into(),
                "--user".into(),
                "enable".into(),
                "--now".into(),
                timer,
            ]);
        }
        Backend::Launchd => {
            let dir = match &args.unit_dir {
                Some(dir) => settings.cwd.join(dir),
                None => home()?.join("Library/LaunchAgents"),
            };
            let (name, text) = render::launchd(&job).map_err(usage)?;
            let path = dir.join(name);
            activate.push(vec![
                "launchctl".into(),
                "load".into(),
                "-w".into(),
                path.display().to_string(),
            ]);
            files.push((path, text));
        }
        Backend::Crontab => {
            crontab_line = Some(render::crontab_line(&job).map_err(usage)?);
        }
    }
    for (path, _) in &files {
        if !render::ours(path, &root).map_err(runtime)? {
            return Err(usage(anyhow!(
                "{} exists and was not written by Baton for this project; Baton will not replace it (remove it or choose another schedule name)",
                path.display()
            )));
        }
    }
    let schedule = Schedule {
        name: args.name.clone(),
        pipeline: args.pipeline.clone(),
        when,
        backend,
        files: files.iter().map(|(p, _)| p.clone()).collect(),
        crontab_marker: crontab_line
            .as_ref()
            .map(|_| render::crontab_marker(&args.name, &root)),
        crontab_command: crontab_line.as_ref().map(|_| args.crontab_command.clone()),
        activated: activated && backend != Backend::Crontab,
        installed_at: now_ms(),
        lock_ttl_ms: i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX),
    };
    Ok(Plan {
        schedule,
        files,
        crontab_line,
        activate: if activated { activate } else { Vec::new() },
    })
}

fn install(
    settings: &Settings,
    registry: &Registry,
    args: &InstallArgs,
    format: Format,
) -> CliResult {
    let plan = plan(settings, registry, args)?;
    let manual: Vec<String> = if plan.schedule.activated
        || plan.schedule.backend == Backend::Crontab
    {
        Vec::new()
    } else {
        match plan.schedule.backend {
            Backend::Systemd => vec![format!(
                "link the files into ~/.config/systemd/user, then: systemctl --user daemon-reload && systemctl --user enable --now {}.timer",
                render::unit_name(&plan.schedule.name)
            )],
            _ => vec![format!(
                "copy the plist into ~/Library/LaunchAgents, then: launchctl load -w ~/Library/LaunchAgents/{}.plist",
                render::launchd_label(&plan.schedule.name)
            )],
        }
    };
    if args.dry_run {
        if format == Format::Json {
            output::json(&json!({
                "dry_run": true,
                "schedule": plan.schedule,
                "files": plan.files.iter().map(|(p, t)| json!({"path": p, "content": t})).collect::<Vec<_>>(),
                "crontab_line": plan.crontab_line,
                "activate": plan.activate,
            }));
        } else {
            for (path, text) in &plan.files {
                println!("── {} ──", path.display());
                print!("{text}");
            }
            if let Some(line) = &plan.crontab_line {
                println!("── crontab line ──\n{line}");
            }
            for command in &plan.activate {
                println!("{INFO} would run: {}", command.join(" "));
            }
            println!("{INFO} dry run: nothing was written");
        }
        return Ok(Exit::Success);
    }
    // A schedule of the same name installed before: its files that this one does not
    // rewrite go (they are Baton's).
    if let Some(old) = registry.get(&plan.schedule.name).map_err(runtime)? {
        for path in old
            .files
            .iter()
            .filter(|p| !plan.schedule.files.contains(p))
        {
            if render::ours(path, &settings.root.canonicalize().map_err(runtime)?)
                .map_err(runtime)?
            {
                let _ = std::fs::remove_file(path);
            }
        }
        if old.backend == Backend::Crontab
            && plan.crontab_line.is_none()
            && let Some(marker) = &old.crontab_marker
        {
            edit_crontab(
                old.crontab_command.as_deref().unwrap_or("crontab"),
                marker,
                None,
            )?;
        }
    }
    for (path, text) in &plan.files {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| runtime(anyhow!("cannot create {}: {e}", dir.display())))?;
        }
        std::fs::write(path, text)
            .map_err(|e| runtime(anyhow!("cannot write {}: {e}", path.display())))?;
    }
    if let (Some(line), Some(marker)) = (&plan.crontab_line, &plan.schedule.crontab_marker) {
        edit_crontab(&args.crontab_command, marker, Some(line))?;
    }
    registry.save(&plan.schedule).map_err(runtime)?;
    for command in &plan.activate {
        run_command(command)?;
    }
    let next = plan
        .schedule
        .when
        .next_after(schedule::when::local(now_ms()))
        .ok()
        .map(|at| at.timestamp_millis());
    if format == Format::Json {
        output::json(&json!({
            "schedule": plan.schedule, "next_run": next.map(format_ms),
            "activated": plan.schedule.activated, "to_activate": manual,
        }));
    } else {
        for (path, _) in &plan.files {
            println!("{OK} wrote {}", path.display());
        }
        if plan.crontab_line.is_some() {
            println!(
                "{OK} added the crontab line (marked `{}`)",
                plan.schedule.crontab_marker.as_deref().unwrap_or_default()
            );
        }
        for step in &manual {
            println!("{INFO} not activated (--unit-dir): {step}");
        }
        println!(
            "{OK} schedule {} runs pipeline {} {}; next run {}",
            plan.schedule.name,
            plan.schedule.pipeline,
            plan.schedule.when.describe(),
            next.map(format_ms).unwrap_or_else(|| "never".into())
        );
    }
    crate::audited::record(
        settings,
        "schedule.install",
        json!({"name": args.name, "pipeline": args.pipeline, "when": plan.schedule.when.describe(),
               "backend": plan.schedule.backend.as_str()}),
        json!({"files": plan.schedule.files, "crontab": plan.crontab_line.is_some(), "activated": plan.schedule.activated}),
    )?;
    Ok(Exit::Success)
}

/// Runs an activation command; a failure names it and what to do (the files are written).
fn run_command(command: &[String]) -> Result<(), CliError> {
    let Some((program, args)) = command.split_first() else {
        return Ok(());
    };
    let status = Command::new(program).args(args).status().map_err(|e| {
        runtime(anyhow!(
            "cannot run `{}`: {e} (the files are written; run it yourself)",
            command.join(" ")
        ))
    })?;
    if !status.success() {
        return Err(runtime(anyhow!(
            "`{}` failed ({status}); the files are written: fix the cause and run it yourself",
            command.join(" ")
        )));
    }
    Ok(())
}

/// Replaces (or removes, with `line: None`) the schedule's line in the user's crontab,
/// keeping every other line.
fn edit_crontab(command: &str, marker: &str, line: Option<&str>) -> Result<(), CliError> {
    let listed = Command::new(command)
        .arg("-l")
        .output()
        .map_err(|e| runtime(anyhow!("cannot run `{command} -l`: {e}")))?;
    let current = if listed.status.success() {
        String::from_utf8_lossy(&listed.stdout).into_owned()
    } else if String::from_utf8_lossy(&listed.stderr).contains("no crontab") {
        String::new()
    } else {
        return Err(runtime(anyhow!(
            "`{command} -l` failed: {}",
            String::from_utf8_lossy(&listed.stderr).trim()
        )));
    };
    let edited = render::edit_crontab(&current, marker, line);
    let mut child = Command::new(command)
        .arg("-")
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|e| runtime(anyhow!("cannot run `{command} -`: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(edited.as_bytes())
            .map_err(|e| runtime(anyhow!("cannot write to `{command} -`: {e}")))?;
    }
    let status = child.wait().map_err(runtime)?;
    if !status.success() {
        return Err(runtime(anyhow!(
            "`{command} -` failed ({status}); your crontab is unchanged"
        )));
    }
    Ok(())
}

fn status(registry: &Registry, name: Option<&str>, format: Format) -> CliResult {
    let schedules = match name {
        Some(name) => vec![registry.get(name).map_err(runtime)?.ok_or_else(|| {
            usage(anyhow!(
                "no schedule `{name}` (see `baton schedule status`)"
            ))
        })?],
        None => registry.all().map_err(runtime)?,
    };
    let now = now_ms();
    let mut statuses = Vec::new();
    for schedule in &schedules {
        statuses.push(registry.status(schedule, now).map_err(runtime)?);
    }
    if format == Format::Json {
        output::json(&json!({"schedules": statuses.iter().map(|s| json!({
            "name": s.schedule.name, "pipeline": s.schedule.pipeline, "when": s.when,
            "backend": s.schedule.backend.as_str(), "files": s.schedule.files,
            "activated": s.schedule.activated,
            "last_run": s.last_run, "next_run": s.next_run.map(format_ms),
            "missed": s.missed, "running": s.running,
        })).collect::<Vec<_>>()}));
        return Ok(Exit::Success);
    }
    if statuses.is_empty() {
        println!("{INFO} no schedules (install one with `baton schedule install`)");
        return Ok(Exit::Success);
    }
    let rows: Vec<Vec<String>> = statuses
        .iter()
        .map(|s| {
            vec![
                s.schedule.name.clone(),
                s.schedule.pipeline.clone(),
                s.when.clone(),
                s.schedule.backend.as_str().into(),
                s.last_run
                    .as_ref()
                    .map(|r| format!("{} {} (exit {})", format_ms(r.started_at), r.result, r.exit))
                    .unwrap_or_else(|| "never".into()),
                s.next_run.map(format_ms).unwrap_or_else(|| "-".into()),
                s.missed.to_string(),
                s.running
                    .as_ref()
                    .map(|l| {
                        format!(
                            "since {} (pid {} on {})",
                            format_ms(l.started_at),
                            l.pid,
                            l.host
                        )
                    })
                    .unwrap_or_else(|| "no".into()),
            ]
        })
        .collect();
    output::table(
        &[
            "name",
            "pipeline",
            "when",
            "scheduler",
            "last run",
            "next run",
            "missed",
            "running",
        ],
        &rows,
    );
    Ok(Exit::Success)
}

fn remove(
    settings: &Settings,
    registry: &Registry,
    name: &str,
    dry_run: bool,
    crontab_command: &str,
    format: Format,
) -> CliResult {
    let schedule = registry.get(name).map_err(runtime)?.ok_or_else(|| {
        usage(anyhow!(
            "no schedule `{name}` (see `baton schedule status`)"
        ))
    })?;
    let root = settings.root.canonicalize().map_err(runtime)?;
    let mut deactivate = Vec::new();
    if schedule.activated {
        match schedule.backend {
            Backend::Systemd => deactivate.push(vec![
                "systemctl".to_string(),
                "--user".into(),
                "disable".into(),
                "--now".into(),
                format!("{}.timer", render::unit_name(name)),
            ]),
            Backend::Launchd => {
                for path in &schedule.files {
                    deactivate.push(vec![
                        "launchctl".to_string(),
                        "unload".into(),
                        "-w".into(),
                        path.display().to_string(),
                    ]);
                }
            }
            Backend::Crontab => {}
        }
    }
    let mut removable = Vec::new();
    let mut foreign = Vec::new();
    for path in &schedule.files {
        if !path.exists() {
            continue;
        }
        if render::ours(path, &root).map_err(runtime)? {
            removable.push(path.clone());
        } else {
            foreign.push(path.clone());
        }
    }
    if dry_run {
        if format == Format::Json {
            output::json(
                &json!({"dry_run": true, "remove": removable, "kept_not_ours": foreign,
                                 "crontab_line": schedule.crontab_marker, "deactivate": deactivate}),
            );
        } else {
            for command in &deactivate {
                println!("{INFO} would run: {}", command.join(" "));
            }
            for path in &removable {
                println!("{INFO} would remove {}", path.display());
            }
            if let Some(marker) = &schedule.crontab_marker {
                println!("{INFO} would remove the crontab line marked `{marker}`");
            }
            println!("{INFO} dry run: nothing was changed");
        }
        return Ok(Exit::Success);
    }
    for command in &deactivate {
        run_command(command)?;
    }
    for path in &removable {
        std::fs::remove_file(path)
            .map_err(|e| runtime(anyhow!("cannot remove {}: {e}", path.display())))?;
    }
    if let Some(marker) = &schedule.crontab_marker {
        let command = schedule
            .crontab_command
            .as_deref()
            .unwrap_or(crontab_command);
        edit_crontab(command, marker, None)?;
    }
    registry.forget(name).map_err(runtime)?;
    if format == Format::Json {
        output::json(
            &json!({"removed": removable, "kept_not_ours": foreign, "crontab": schedule.crontab_marker.is_some()}),
        );
    } else {
        for path in &removable {
            println!("{OK} removed {}", path.display());
        }
        for path in &foreign {
            println!(
                "{INFO} kept {}: it was not written by Baton",
                path.display()
            );
        }
        println!("{OK} schedule {name} removed");
    }
    crate::audited::record(
        settings,
        "schedule.remove",
        json!({"name": name}),
        json!({"removed": removable, "kept_not_ours": foreign}),
    )?;
    Ok(Exit::Success)
}

async fn run_now(
    settings: &Settings,
    registry: &Registry,
    name: &str,
    format: Format,
) -> CliResult {
    let schedule = registry.get(name).map_err(runtime)?.ok_or_else(|| {
        usage(anyhow!(
            "no schedule `{name}` (see `baton schedule status`)"
        ))
    })?;
    let started = now_ms();
    let held = match lock::take(&registry.lock_path(name), schedule.lock_ttl_ms, started)
        .map_err(runtime)?
    {
        Taken::Held(held) => held,
        Taken::Busy(holder) => {
            let detail = format!(
                "a run of schedule {name} is in progress (pid {} on {}, since {}); this one is skipped",
                holder.pid,
                holder.host,
                format_ms(holder.started_at)
            );
            registry
                .append_history(
                    name,
                    &RunRecord {
                        started_at: started,
                        finished_at: now_ms(),
                        result: "skipped".into(),
                        exit: 0,
                        detail: Some(detail.clone()),
                    },
                )
                .map_err(runtime)?;
            if format == Format::Json {
                output::json(&json!({"schedule": name, "skipped": true, "reason": detail}));
            } else {
                println!("{INFO} {detail}");
            }
            return Ok(Exit::Success);
        }
    };
    let args = crate::pipeline::RunArgs {
        id: schedule.pipeline.clone(),
        only: Vec::new(),
        skip: Vec::new(),
        from: None,
        to: None,
        dry_run: false,
        force: false,
        force_wave: None,
        continue_on_error: false,
        env_file: None,
        resume: None,
        jobs: 2,
    };
    let outcome = crate::pipeline::run_pipeline(settings, &args, format).await;
    let (exit, detail) = match &outcome {
        Ok(exit) => (*exit as i32, None),
        Err(error) => (error.exit as i32, Some(error.to_string())),
    };
    registry
        .append_history(
            name,
            &RunRecord {
                started_at: started,
                finished_at: now_ms(),
                result: if exit == 0 {
                    "done".into()
                } else {
                    "failed".into()
                },
                exit,
                detail,
            },
        )
        .map_err(runtime)?;
    drop(held);
    outcome
}
