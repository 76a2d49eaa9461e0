//! The files and lines a schedule installs, as text: a systemd user service and timer, a
//! launchd agent plist, a crontab line. Each carries a marker naming the project and the
//! schedule, so Baton recognises (and only ever replaces or removes) what it wrote.

use super::{Registry, When};
use anyhow::{Result, bail};
use std::path::{Path, PathBuf};

/// The first line of every file Baton writes for a schedule.
pub const MARKER: &str = "Written by `baton schedule install`";

/// What a schedule runs and where.
#[derive(Debug, Clone)]
pub struct Job<'a> {
    /// The schedule's name.
    pub name: &'a str,
    /// The pipeline.
    pub pipeline: &'a str,
    /// When.
    pub when: &'a When,
    /// The `baton` binary (absolute).
    pub baton: &'a Path,
    /// The project root (absolute), the working directory of each run.
    pub root: &'a Path,
    /// The project's schedules.
    pub registry: &'a Registry,
}

/// Refuses a path the unit syntaxes cannot carry safely (quotes, backslashes, line
/// breaks, control characters).
fn plain_path(path: &Path) -> Result<String> {
    let text = path.to_string_lossy().into_owned();
    if text
        .chars()
        .any(|c| c.is_control() || c == '"' || c == '\\' || c == '\'')
    {
        bail!(
            "{} has a quote, backslash or control character; move it to a plainer path to schedule it",
            path.display()
        );
    }
    Ok(text)
}

/// The unit name: `baton-<name>`.
pub fn unit_name(name: &str) -> String {
    format!("baton-{name}")
}

/// The header line of a file for `job`.
fn header(job: &Job<'_>) -> String {
    format!(
        "{MARKER} for {}: schedule {}. Remove with `baton schedule remove {}`.",
        job.root.display(),
        job.name,
        job.name
    )
}

/// The systemd service and timer: `(file name, text)` each.
pub fn systemd(job: &Job<'_>) -> Result<Vec<(String, String)>> {
    let root = plain_path(job.root)?.replace('%', "%%");
    let baton = plain_path(job.baton)?.replace('%', "%%");
    let unit = unit_name(job.name);
    let calendar = job.when.systemd_calendar()?;
    let header = header(job).replace('%', "%%");
    let service = format!(
        "# {header}\n[Unit]\nDescription=Baton schedule {name}: pipeline {pipeline}\n\n[Service]\nType=oneshot\nWorkingDirectory=\"{root}\"\nExecStart=\"{baton}\" schedule run {name}\n",
        name = job.name,
        pipeline = job.pipeline,
    );
    let timer = format!(
        "# {header}\n[Unit]\nDescription=Baton schedule {name} ({when})\n\n[Timer]\nOnCalendar={calendar}\nPersistent=true\nUnit={unit}.service\n\n[Install]\nWantedBy=timers.target\n",
        name = job.name,
        when = job.when.describe(),
    );
    Ok(vec![
        (format!("{unit}.service"), service),
        (format!("{unit}.timer"), timer),
    ])
}

/// The launchd agent's label: `org.baton.<name>`.
pub fn launchd_label(name: &str) -> String {
    format!("org.baton.{name}")
}

fn xml(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The launchd agent plist: `(file name, text)`.
pub fn launchd(job: &Job<'_>) -> Result<(String, String)> {
    let label = launchd_label(job.name);
    let output = job.registry.output_log(job.name);
    let intervals: Vec<String> = job
        .when
        .launchd_intervals()?
        .iter()
        .map(|entry| {
            let keys: Vec<String> = entry
                .iter()
                .map(|(key, value)| format!("      <key>{key}</key><integer>{value}</integer>"))
                .collect();
            format!("    <dict>\n{}\n    </dict>", keys.join("\n"))
        })
        .collect();
    let text = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!-- {header} -->
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>Label</key><string>{label}</string>
  <key>ProgramArguments</key>
  <array>
    <string>{baton}</string>
    <string>schedule</string>
    <string>run</string>
    <string>{name}</string>
  </array>
  <key>WorkingDirectory</key><string>{root}</string>
  <key>StartCalendarInterval</key>
  <array>
{intervals}
  </array>
  <key>StandardOutPath</key><string>{output}</string>
  <key>StandardErrorPath</key><string>{output}</string>
</dict>
</plist>
"#,
        header = xml(&header(job)).replace("--", "- -"),
        baton = xml(&plain_path(job.baton)?),
        name = job.name,
        root = xml(&plain_path(job.root)?),
        intervals = intervals.join("\n"),
        output = xml(&plain_path(&output)?),
    );
    Ok((format!("{label}.plist"), text))
}

/// The marker ending a schedule's crontab line: names the schedule and the project.
pub fn crontab_marker(job_name: &str, root: &Path) -> String {
    format!("# baton-schedule {job_name} {}", root.display())
}

/// The crontab line (without a newline).
pub fn crontab_line(job: &Job<'_>) -> Result<String> {
    let quote = |path: &Path| -> Result<String> {
        Ok(format!("'{}'", plain_path(path)?.replace('%', "\\%")))
    };
    Ok(format!(
        "{} cd {} && {} schedule run {} >> {} 2>&1 {}",
        job.when.cron_fields().join(" "),
        quote(job.root)?,
        quote(job.baton)?,
        job.name,
        quote(&job.registry.output_log(job.name))?,
        crontab_marker(job.name, job.root),
    ))
}

/// `crontab` with the schedule's line for `marker` replaced by `line` (or removed when
/// `line` is `None`); other lines are kept as they are.
pub fn edit_crontab(current: &str, marker: &str, line: Option<&str>) -> String {
    let mut lines: Vec<&str> = current
        .lines()
        .filter(|l| !l.trim_end().ends_with(marker))
        .collect();
    if let Some(line) = line {
        lines.push(line);
    }
    let mut text = lines.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    text
}

/// Whether the file at `path` is absent or was written by Baton for the project at
/// `root`: only then may it be replaced or removed.
pub fn ours(path: &PathBuf, root: &Path) -> Result<bool> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text
            .lines()
            .take(3)
            .any(|l| l.contains(MARKER) && l.contains(&format!("for {}:", root.display())))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crontab_lines_of_other_schedules_are_kept() {
        let current = "MAILTO=me\n0 1 * * * backup.sh\n5 6 * * * x # baton-schedule a /p\n";
        let edited = edit_crontab(
            current,
            "# baton-schedule a /p",
            Some("1 2 * * * y # baton-schedule a /p"),
        );
        assert_eq!(
            edited,
            "MAILTO=me\n0 1 * * * backup.sh\n1 2 * * * y # baton-schedule a /p\n"
        );
        assert_eq!(
            edit_crontab(&edited, "# baton-schedule a /p", None),
            "MAILTO=me\n0 1 * * * backup.sh\n"
        );
    }
}
