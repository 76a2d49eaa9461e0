//! The `exec` import: runs a program the operator granted, with arguments checked against the
//! granted patterns, a clean environment, no stdin unless given, capped output and a timeout.

use super::grants::ExecGrant;
use super::policy::glob_matches;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Most bytes kept of a program's stdout and of its stderr.
const OUTPUT_CAP: usize = 16 << 20;

/// The only variable a granted program sees.
const CLEAN_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// One granted program, resolved to an executable.
#[derive(Debug, Clone)]
pub struct Program {
    /// The name the plugin passes as `command.program` (the grant's `program`).
    pub name: String,
    /// Absolute path of the executable.
    pub path: PathBuf,
    /// Patterns every argument must match one of (`*` matches any run of characters); empty
    /// allows no arguments.
    pub args: Vec<String>,
    /// Upper bound on one run: the grant's `timeout`, else the default given to
    /// [`Program::resolve`]; a guest's `timeout-ms` can only shorten it.
    pub timeout: Duration,
}

impl Program {
    /// Resolves a grant: an explicit absolute path, or the name looked up on PATH.
    pub fn resolve(grant: &ExecGrant, default_timeout: Duration) -> Result<Program, String> {
        let path = match &grant.path {
            Some(path) => PathBuf::from(path),
            None => find_on_path(&grant.program).ok_or_else(|| {
                format!(
                    "exec grant `{}`: no such program on PATH (give `path = \"/abs/path\"`)",
                    grant.program
                )
            })?,
        };
        if !path.is_absolute() || !path.is_file() {
            return Err(format!(
                "exec grant `{}`: `{}` is not an executable file",
                grant.program,
                path.display()
            ));
        }
        let timeout = match &grant.timeout {
            Some(text) => baton_core::units::parse_duration(text)?,
            None => default_timeout,
        };
        Ok(Program {
            name: grant.program.clone(),
            path,
            args: grant.args.clone(),
            timeout,
        })
    }
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        return Some(PathBuf::from(name));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// The result of one run.
pub struct RunOutput {
    /// The exit code; -1 when the program was killed by a signal or the timeout
    /// (WIT `exec.output.status`).
    pub status: i32,
    /// What the program wrote to stdout, truncated to 16 MiB; empty after a timeout.
    pub stdout: Vec<u8>,
    /// What it wrote to stderr, truncated to 16 MiB; after a timeout, `killed after <timeout>`.
    pub stderr: Vec<u8>,
    /// Whether the program was killed for running past its timeout.
    pub timed_out: bool,
}

/// Checks the request against the grants and runs the program.
pub async fn run(
    programs: &[Program],
    name: &str,
    args: &[String],
    stdin: Option<Vec<u8>>,
    requested_timeout: Option<Duration>,
) -> Result<RunOutput, String> {
    let program = programs.iter().find(|p| p.name == name).ok_or_else(|| {
        format!("exec of `{name}` refused: the program is not granted to this plugin")
    })?;
    if let Some(arg) = args.iter().find(|arg| {
        !program
            .args
            .iter()
            .any(|pattern| glob_matches(pattern, arg))
    }) {
        return Err(format!(
            "exec of `{name}` refused: argument `{arg}` matches none of the granted patterns {:?}",
            program.args
        ));
    }
    let timeout = requested_timeout.map_or(program.timeout, |t| t.min(program.timeout));
    spawn_and_wait(&program.path, args, stdin, timeout)
        .await
        .map_err(|e| format!("exec of `{name}` failed: {e}"))
}

async fn spawn_and_wait(
    path: &Path,
    args: &[String],
    stdin: Option<Vec<u8>>,
    timeout: Duration,
) -> std::io::Result<RunOutput> {
    let mut child = tokio::process::Command::new(path)
        .args(args)
        .env_clear()
        .env("PATH", CLEAN_PATH)
        .current_dir("/")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut child_stdin = child.stdin.take();
    let mut stdout = child.stdout.take().map(|s| s.take(OUTPUT_CAP as u64));
    let mut stderr = child.stderr.take().map(|s| s.take(OUTPUT_CAP as u64));
    let work = async {
        let feed = async {
            if let (Some(pipe), Some(bytes)) = (child_stdin.as_mut(), stdin) {
                // A program that exits without reading its input is not an error.
                let _ = pipe.write_all(&bytes).await;
            }
            drop(child_stdin.take());
        };
        let mut out = Vec::new();
        let mut err = Vec::new();
        let read_out = async {
            if let Some(s) = stdout.as_mut() {
                s.read_to_end(&mut out).await?;
            }
            Ok::<_, std::io::Error>(())
        };
        let read_err = async {
            if let Some(s) = stderr.as_mut() {
                s.read_to_end(&mut err).await?;
            }
            Ok::<_, std::io::Error>(())
        };
        let ((), read_out, read_err, status) = tokio::join!(feed, read_out, read_err, child.wait());
        read_out?;
        read_err?;
        Ok::<_, std::io::Error>((status?, out, err))
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(result) => {
            let (status, stdout, stderr) = result?;
            Ok(RunOutput {
                status: status.code().unwrap_or(-1),
                stdout,
                stderr,
                timed_out: false,
            })
        }
        Err(_) => Ok(RunOutput {
            status: -1,
            stdout: Vec::new(),
            stderr: format!("killed after {}", humantime::format_duration(timeout)).into_bytes(),
            timed_out: true,
        }),
    }
}
