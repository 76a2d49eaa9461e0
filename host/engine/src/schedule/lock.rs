//! The overlap lock of one schedule: `.baton/schedules/<name>.lock`, created exclusively
//! (`O_EXCL`) by the run that holds it and removed when it ends, holding the holder (`host`,
//! `pid`), when it started and when the lock expires (its TTL). A second run finds it and
//! does not start. A lock whose holder is gone (a process on this host that no longer
//! exists) or whose TTL has passed (a hung run, or a holder on another host) is stale: it is
//! moved aside to a name of the taker's own (one rename, so one taker wins), checked to be
//! the one judged stale, and a new lock is created.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// What a lock file holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// The holder's host name.
    pub host: String,
    /// The holder's process id.
    pub pid: u32,
    /// Unix milliseconds when it was taken.
    pub started_at: i64,
    /// Unix milliseconds after which it is stale whatever its holder.
    pub expires_at: i64,
}

impl LockInfo {
    /// Whether it no longer holds at `now`: past its TTL, or its holder on this host is gone.
    pub fn is_stale(&self, now: i64) -> bool {
        if now >= self.expires_at {
            return true;
        }
        let here = crate::owner::hostname();
        let alive = i32::try_from(self.pid).is_ok_and(|pid| {
            // SAFETY: kill with signal 0 only checks that the process exists.
            let sent = unsafe { libc::kill(pid, 0) } == 0;
            sent || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
        });
        self.host == here && !alive
    }
}

/// A held lock; removed when dropped.
#[derive(Debug)]
pub struct ScheduleLock {
    path: PathBuf,
    /// What it holds.
    pub info: LockInfo,
}

impl Drop for ScheduleLock {
    fn drop(&mut self) {
        // Only our own lock: a run that outlived its TTL may have lost it to another.
        if read(&self.path).ok().flatten().as_ref() == Some(&self.info) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// How taking the lock went.
#[derive(Debug)]
pub enum Taken {
    /// Taken; hold it while the run lasts.
    Held(ScheduleLock),
    /// Another run holds it.
    Busy(LockInfo),
}

/// The lock's contents, if there is one (an unreadable one is treated as stale by
/// [`take`] once it is older than `ttl`).
pub fn read(path: &Path) -> Result<Option<LockInfo>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(serde_json::from_str(&text).ok()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read the lock {}", path.display())),
    }
}

/// Takes the lock at `path` for `ttl_ms` at time `now` (Unix milliseconds).
///
/// Errors: the directory cannot be created, or the lock cannot be written or moved.
pub fn take(path: &Path, ttl_ms: i64, now: i64) -> Result<Taken> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let info = LockInfo {
        host: crate::owner::hostname(),
        pid: std::process::id(),
        started_at: now,
        expires_at: now.saturating_add(ttl_ms),
    };
    for _ in 0..2 {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
        {
            Ok(mut file) => {
                let text = serde_json::to_vec(&info)?;
                file.write_all(&text)
                    .and_then(|()| file.sync_data())
                    .with_context(|| format!("cannot write the lock {}", path.display()))?;
                return Ok(Taken::Held(ScheduleLock {
                    path: path.to_path_buf(),
                    info,
                }));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("cannot create the lock {}", path.display()));
            }
        }
        let held = read(path)?;
        let stale = match &held {
            Some(held) => held.is_stale(now),
            // Half-written or unreadable: stale once older than the TTL.
            None => std::fs::metadata(path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age.as_millis() as i64 >= ttl_ms),
        };
        if !stale {
            return Ok(match held {
                Some(held) => Taken::Busy(held),
                None => Taken::Busy(LockInfo {
                    host: "?".into(),
                    pid: 0,
                    started_at: now,
                    expires_at: now,
                }),
            });
        }
        let aside = path.with_extension(format!("lock.stale.{}", std::process::id()));
        match std::fs::rename(path, &aside) {
            Ok(()) => {
                let moved = read(&aside)?;
                let _ = std::fs::remove_file(&aside);
                if moved != held {
                    // Another taker replaced the stale lock first: that one is live.
                    if let Some(moved) = moved {
                        let _ = std::fs::write(path, serde_json::to_vec(&moved)?);
                        return Ok(Taken::Busy(moved));
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("cannot move the stale lock {}", path.display()));
            }
        }
    }
    match read(path)? {
        Some(held) => Ok(Taken::Busy(held)),
        None => anyhow::bail!("cannot take the lock {}: it keeps changing", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_is_busy_and_a_stale_one_is_taken() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daily.lock");
        let Taken::Held(lock) = take(&path, 60_000, 1_000).unwrap() else {
            panic!("a free lock was busy");
        };
        assert!(matches!(
            take(&path, 60_000, 2_000).unwrap(),
            Taken::Busy(_)
        ));
        // Past its TTL the lock is stale even though its holder (this process) lives.
        let Taken::Held(second) = take(&path, 60_000, 70_000).unwrap() else {
            panic!("an expired lock held");
        };
        drop(lock);
        assert!(path.exists(), "the first holder removed the second's lock");
        drop(second);
        assert!(!path.exists());
    }

    #[test]
    fn a_dead_holders_lock_is_stale() {
        let info = LockInfo {
            host: crate::owner::hostname(),
            pid: u32::MAX - 1,
            started_at: 0,
            expires_at: i64::MAX,
        };
        assert!(info.is_stale(1));
        let live = LockInfo {
            pid: std::process::id(),
            ..info
        };
        assert!(!live.is_stale(1));
    }
}
