//! Waiting for something to change, without a fixed polling delay: file-change notification
//! on directories (inotify on Linux, FSEvents on macOS, through the `notify` crate) and, on a
//! store shared by several hosts, the store's wake-ups ([`Store::wakeups`]), with a bounded
//! fallback ([`FALLBACK`]) for what neither reports (another host's commits on a store
//! without notifications). `job attach` and `pipeline logs --follow` wait here.

use anyhow::{Context, Result};
use baton_core::store::Store;
use notify::{RecursiveMode, Watcher};
use std::path::Path;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::Duration;

/// The longest a [`Follower::wait`] sleeps without a notification (1 s): covers changes no
/// notification reports (a directory created after the watch began, another host's commit).
pub const FALLBACK: Duration = Duration::from_secs(1);

/// Wakes its owner when a watched directory changes or the store signals new work.
pub struct Follower {
    _watcher: Option<notify::RecommendedWatcher>,
    changes: Receiver<()>,
    _sender: Sender<()>,
}

impl Follower {
    /// Watches each of `dirs` that exists (recursively: a run's stage logs live in a
    /// subdirectory), and `store`'s wake-ups when it has them. A directory that cannot be
    /// watched (too many inotify watches) only means waits end at [`FALLBACK`].
    ///
    /// Errors: the store's listener cannot be opened.
    pub fn new(dirs: &[&Path], store: Option<&dyn Store>) -> Result<Follower> {
        let (sender, changes) = channel();
        let notify_sender = sender.clone();
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if event.is_ok() {
                let _ = notify_sender.send(());
            }
        })
        .ok()
        .map(|mut watcher| {
            for dir in dirs.iter().filter(|dir| dir.is_dir()) {
                if let Err(error) = watcher.watch(dir, RecursiveMode::Recursive) {
                    tracing::debug!(dir = %dir.display(), "cannot watch: {error}");
                }
            }
            watcher
        });
        if let Some(store) = store
            && let Some(mut wakeups) = store.wakeups().context("cannot listen to the store")?
        {
            let store_sender = sender.clone();
            std::thread::Builder::new()
                .name("baton-follow-wakeups".into())
                .spawn(move || {
                    loop {
                        let woken = wakeups.wait(FALLBACK).unwrap_or(false);
                        if woken && store_sender.send(()).is_err() {
                            return;
                        }
                    }
                })
                .context("cannot start the store listener")?;
        }
        Ok(Follower {
            _watcher: watcher,
            changes,
            _sender: sender,
        })
    }

    /// Waits until something changed or `timeout` (at most [`FALLBACK`]) passed; returns
    /// whether a change was reported. Changes reported meanwhile are folded into one.
    pub fn wait(&self, timeout: Duration) -> bool {
        let changed = match self.changes.recv_timeout(timeout.min(FALLBACK)) {
            Ok(()) => true,
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => false,
        };
        while self.changes.try_recv().is_ok() {}
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_write_wakes_the_follower_before_the_fallback() {
        let dir = tempfile::tempdir().unwrap();
        let follower = Follower::new(&[dir.path()], None).unwrap();
        let path = dir.path().join("a.log");
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            std::fs::write(path, b"x\n").unwrap();
        });
        let started = Instant::now();
        assert!(follower.wait(FALLBACK), "no notification for a write");
        assert!(started.elapsed() < FALLBACK, "{:?}", started.elapsed());
        writer.join().unwrap();
        // One write is several notifications (create, modify, close): let the burst pass.
        for _ in 0..10 {
            if !follower.wait(Duration::from_millis(20)) {
                break;
            }
        }
        let quiet = Instant::now();
        assert!(!follower.wait(Duration::from_millis(50)));
        assert!(quiet.elapsed() >= Duration::from_millis(50));
    }
}
