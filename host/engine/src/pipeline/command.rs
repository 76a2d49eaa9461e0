//! Trusted `command` stages: one attempt runs the command line in the project root as a
//! process group of its own, captures its stdout and stderr into the stage's log, and leaves
//! nothing running behind it.
//!
//! The command leads a new process group, and whatever it starts (a shell pipeline, a
//! subshell, a background job) stays in that group unless it leaves on purpose (`setsid`, a
//! shell's job control). The whole group is killed (SIGKILL):
//!
//! - when the command exits, whatever it left running;
//! - when the attempt is dropped: a stage timeout, the run stopping;
//! - when Baton dies, however it dies (`kill -9` included). The command itself gets a
//!   parent-death signal, which never reaches its children; for them a watchdog — a
//!   `/bin/sh` in a group of its own, reading a pipe whose only writer is Baton — kills the
//!   group as soon as the kernel closes that pipe, which it does when Baton's process ends.
//!
//! It does not own the attempt's directories: `exec` gives each attempt a fresh output
//! directory, so a process that escaped the group cannot write into what is promoted.

use crate::logfile::{self, Entry, LogFile};
use anyhow::{Context, anyhow};
use baton_core::clock::now_ms;
use std::io::{PipeReader, PipeWriter};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use tokio::io::AsyncReadExt;

/// Runs a trusted native command in the project root; it finds its inputs in `BATON_INPUTS`
/// (newline-separated project paths) and writes into `BATON_OUTPUT_DIR`. Returns the last
/// line of its stdout. Its process group is killed (SIGKILL) when this returns or is dropped.
pub(crate) async fn run(
    command: &[String],
    env: &[(String, String)],
    root: &Path,
    inputs: &[(String, PathBuf)],
    output: &Path,
    log: &LogFile,
) -> anyhow::Result<String> {
    let (program, args) = command
        .split_first()
        .ok_or_else(|| anyhow!("empty command"))?;
    let listed: Vec<&str> = inputs.iter().map(|(name, _)| name.as_str()).collect();
    let baton = std::process::id();
    let mut spawned = tokio::process::Command::new(program);
    // SAFETY: prctl and getppid are async-signal-safe. The kernel kills the command when
    // Baton dies (kill -9 included); if Baton died before prctl took effect, the command
    // does not start.
    unsafe {
        spawned.pre_exec(move || {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            if u32::try_from(libc::getppid()).ok() != Some(baton) {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
    let mut child = spawned
        .args(args)
        .current_dir(root)
        .env("BATON_INPUTS", listed.join("\n"))
        .env("BATON_OUTPUT_DIR", output)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot run {program}"))?;
    // Declared after `child`, so a dropped attempt kills the group before the command is
    // reaped: the group's id cannot have been reused by then.
    let mut group = Group::new(child.id())?;
    let watchdog = match watchdog(group.pgid) {
        Ok(watchdog) => Some(watchdog),
        Err(error) => {
            log.append_or_warn(&[Entry::new(
                now_ms(),
                "warn",
                "baton".into(),
                format!(
                    "no watchdog for this attempt ({error:#}): if Baton is killed, what the \
                     command started may outlive it"
                ),
            )]);
            None
        }
    };
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    // The group is killed as soon as the command exits: what it left running would keep the
    // pipes open, and the attempt must not end before its processes do.
    let (status, stdout, stderr) = tokio::join!(
        async {
            let status = child.wait().await;
            group.kill();
            status
        },
        read_all(stdout),
        read_all(stderr),
    );
    if let Some(mut watchdog) = watchdog {
        // Its group is gone: nothing is left to watch. Dropped, it would be killed anyway.
        let _ = watchdog.start_kill();
        let _ = watchdog.wait().await;
    }
    let status = status.with_context(|| format!("cannot wait for {program}"))?;
    let stdout =
        String::from_utf8_lossy(&stdout.context("cannot read the command's stdout")?).into_owned();
    let stderr =
        String::from_utf8_lossy(&stderr.context("cannot read the command's stderr")?).into_owned();
    let mut entries = logfile::output_entries("stdout:command", &stdout, now_ms());
    entries.extend(logfile::output_entries("stderr:command", &stderr, now_ms()));
    log.append_or_warn(&entries);
    if !status.success() {
        return Err(anyhow!(
            "command {command:?} exited with {status}{}",
            last_lines(&stderr, &stdout)
        ));
    }
    Ok(stdout.lines().last().unwrap_or("").to_string())
}

/// Everything a pipe of the command holds until it closes (none: nothing).
async fn read_all(pipe: Option<impl tokio::io::AsyncRead + Unpin>) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    if let Some(mut pipe) = pipe {
        pipe.read_to_end(&mut bytes).await?;
    }
    Ok(bytes)
}

/// An attempt's process group, led by the command: killed whole (SIGKILL) once, at the
/// latest when dropped.
struct Group {
    /// The group's id: the command's pid.
    pgid: libc::pid_t,
    /// Whether the group was killed already.
    killed: bool,
}

impl Group {
    /// The group led by the command with pid `leader` (`None`: it was reaped already).
    fn new(leader: Option<u32>) -> anyhow::Result<Group> {
        let pgid = leader
            .and_then(|pid| libc::pid_t::try_from(pid).ok())
            .ok_or_else(|| anyhow!("the command ended before Baton knew its process id"))?;
        Ok(Group {
            pgid,
            killed: false,
        })
    }

    /// Sends SIGKILL to every process of the group, the first time only: once the leader
    /// is reaped and its members are gone, the id may name another group.
    fn kill(&mut self) {
        if !self.killed {
            self.killed = true;
            // SAFETY: killpg only sends a signal; an error (no such group) means nothing is
            // left to kill.
            unsafe { libc::killpg(self.pgid, libc::SIGKILL) };
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Baton's end of the watchdogs' pipe: a reader sees end-of-file exactly when every writer
/// is closed, and the only writer is held by Baton until its process ends.
struct Lifeline {
    /// What each watchdog reads, as its stdin.
    reader: PipeReader,
    /// Never written, never closed: the kernel closes it when Baton's process ends.
    _writer: PipeWriter,
}

/// The process's lifeline, made on first use; `None` when no pipe could be made. Both ends
/// are close-on-exec, so no command inherits the writer.
fn lifeline() -> Option<&'static Lifeline> {
    static LIFELINE: OnceLock<Option<Lifeline>> = OnceLock::new();
    LIFELINE
        .get_or_init(|| {
            let (reader, writer) = std::io::pipe().ok()?;
            Some(Lifeline {
                reader,
                _writer: writer,
            })
        })
        .as_ref()
}

/// What a watchdog runs: wait for end-of-file on stdin (the lifeline), then kill the group
/// its first argument names.
const WATCHDOG: &str = r#"read -r _; kill -s KILL -- "-$1""#;

/// Starts the watchdog of group `pgid`: a `/bin/sh` in a process group of its own (so
/// neither a terminal's signals nor the command's `kill 0` reach it), killed on drop.
fn watchdog(pgid: libc::pid_t) -> anyhow::Result<tokio::process::Child> {
    let lifeline = lifeline().ok_or_else(|| anyhow!("cannot make a pipe"))?;
    let stdin = lifeline
        .reader
        .try_clone()
        .context("cannot share the lifeline pipe")?;
    tokio::process::Command::new("/bin/sh")
        .args(["-c", WATCHDOG, "baton-watchdog", &pgid.to_string()])
        .env_clear()
        .current_dir("/")
        .stdin(stdin)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .context("cannot start /bin/sh")
}

/// Lines of a failed command's output shown in its failure, in the order it wrote them.
const FAILURE_LINES: usize = 5;

/// The last [`FAILURE_LINES`] non-empty lines of `stderr` (or of `stdout` when stderr is
/// empty), in order, one per line after a heading; empty when the command printed nothing.
fn last_lines(stderr: &str, stdout: &str) -> String {
    let (name, text) = if stderr.trim().is_empty() {
        ("stdout", stdout)
    } else {
        ("stderr", stderr)
    };
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return String::new();
    }
    let shown = &lines[lines.len().saturating_sub(FAILURE_LINES)..];
    format!("; last lines of {name}:\n{}", shown.join("\n"))
}
