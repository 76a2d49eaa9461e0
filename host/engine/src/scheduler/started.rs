//! The start log: which claimed jobs this process actually started. A dispatcher claims
//! ahead of its workers, so a process killed with `kill -9` holds leases on jobs it never ran;
//! the next process reads the dead holder's log, and only the jobs listed there count as lost
//! by a worker (toward the poison-pill limit). One file per process,
//! `.baton/started/<owner>.log`, one `id fence` line appended (unbuffered) as each job
//! starts; removed once the process ends or its leases were recovered.

use anyhow::{Context, Result};
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The log of one owner's started jobs.
pub struct StartLog {
    path: PathBuf,
    file: Mutex<std::fs::File>,
}

/// The file of `owner` (`host:pid:start-ms`) under `dir`.
fn path_of(dir: &Path, owner: &str) -> PathBuf {
    let name: String = owner
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    dir.join(format!("{name}.log"))
}

impl StartLog {
    /// Creates (or reopens) the log of `owner` under `dir`.
    pub fn open(dir: &Path, owner: &str) -> Result<StartLog> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let path = path_of(dir, owner);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot open the start log {}", path.display()))?;
        Ok(StartLog {
            path,
            file: Mutex::new(file),
        })
    }

    /// Records that job `id` (leased under `fence`) starts now. A failure to write is
    /// reported and the job still runs (it then counts as started if its holder is lost).
    pub fn record(&self, id: i64, fence: i64) {
        // One `write` per line (`writeln!` on a `File` writes each piece on its own).
        let line = format!("{id} {fence}\n");
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = file.write_all(line.as_bytes()) {
            tracing::warn!("start log {}: {e}", self.path.display());
        }
    }

    /// Empties the log, keeping the file: the jobs this process held count as never
    /// started, so their recovery charges them nothing. For a process whose outcomes the
    /// store would not take (truncating frees space, so it works on a full disk too).
    pub fn give_back(self) {
        let file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = file.set_len(0) {
            tracing::warn!("start log {}: {e}", self.path.display());
        }
    }

    /// Removes this log (every job it lists is finished or released).
    pub fn remove(self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The jobs `owner` started, as `(id, fence)`; `None` when it left no log (then every job it
/// held counts as started).
pub fn read(dir: &Path, owner: &str) -> Option<HashSet<(i64, i64)>> {
    let text = std::fs::read_to_string(path_of(dir, owner)).ok()?;
    Some(
        text.lines()
            .filter_map(|line| {
                let (id, fence) = line.split_once(' ')?;
                Some((id.parse().ok()?, fence.parse().ok()?))
            })
            .collect(),
    )
}

/// Removes the log of `owner`, once its leases were recovered.
pub fn remove(dir: &Path, owner: &str) {
    let _ = std::fs::remove_file(path_of(dir, owner));
}

/// Removes the logs of processes on this host that are gone (their leases, if any, were
/// recovered just before): `<host>_<pid>_<start-ms>.log` whose pid no process has.
pub fn sweep(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let host = crate::owner::owner_id();
    let host = host.split(':').next().unwrap_or_default();
    let prefix: String = path_of(Path::new(""), host)
        .to_string_lossy()
        .trim_end_matches(".log")
        .to_string();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name
            .strip_prefix(&prefix)
            .and_then(|r| r.strip_prefix('_'))
            .and_then(|r| r.strip_suffix(".log"))
        else {
            continue;
        };
        let Some(pid) = rest.split('_').next().and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        if pid != std::process::id() as i32 && !crate::owner::alive(pid) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}
