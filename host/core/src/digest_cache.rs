//! A stat-then-hash cache of file digests, as git's index keeps one: a file whose device,
//! inode, size, modification and change times are what they were when it was hashed has
//! the digest it had then, so a rerun that changed nothing reads no file content.
//!
//! Racy entries (git's "racily clean" problem): a file written again within the timestamp
//! granularity of the moment it was hashed can look unchanged. An entry is trusted only when
//! the file's modification time lies at least [`RACY_MARGIN_FINE`] (or, on a filesystem with
//! whole-second timestamps, [`RACY_MARGIN_COARSE`]) before the moment its hashing began;
//! otherwise the file is hashed again. [`DigestCache::save`] re-hashes small racy entries
//! that have become old enough, so the next run can trust them.
//!
//! The cache is a JSON file (`.baton/digests.json`), written whole to a temporary file and
//! renamed into place: a crash leaves the old or the new file, and a damaged or unreadable
//! file is an empty cache (it is only ever an optimisation; two processes saving at once
//! lose at most each other's new entries).

use crate::digest::file_digest;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long before its hashing a file must have last changed to be trusted, on filesystems
/// with sub-second timestamps (Linux stamps files from a clock that ticks every few
/// milliseconds).
pub const RACY_MARGIN_FINE: Duration = Duration::from_millis(100);

/// The same on filesystems with whole-second timestamps (FAT keeps two seconds).
pub const RACY_MARGIN_COARSE: Duration = Duration::from_secs(3);

/// Racy entries up to this size are re-hashed by [`DigestCache::save`]; larger ones wait
/// for their next lookup.
const REHASH_ON_SAVE_BYTES: u64 = 1 << 20;

/// What a file looked like when it was hashed, and its digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Entry {
    dev: u64,
    ino: u64,
    size: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    mtime: i128,
    /// Status change time, nanoseconds since the Unix epoch.
    ctime: i128,
    /// When hashing began, nanoseconds since the Unix epoch.
    hashed_at: i128,
    digest: String,
}

impl Entry {
    fn stat(meta: &std::fs::Metadata) -> (u64, u64, u64, i128, i128) {
        let ns = |secs: i64, nanos: i64| i128::from(secs) * 1_000_000_000 + i128::from(nanos);
        (
            meta.dev(),
            meta.ino(),
            meta.size(),
            ns(meta.mtime(), meta.mtime_nsec()),
            ns(meta.ctime(), meta.ctime_nsec()),
        )
    }

    fn matches(&self, meta: &std::fs::Metadata) -> bool {
        Entry::stat(meta) == (self.dev, self.ino, self.size, self.mtime, self.ctime)
    }

    /// Whether the file last changed early enough before its hashing to be trusted.
    fn settled(&self, hashed_at: i128) -> bool {
        let margin = if self.mtime % 1_000_000_000 == 0 {
            RACY_MARGIN_COARSE
        } else {
            RACY_MARGIN_FINE
        };
        hashed_at - self.mtime >= margin.as_nanos() as i128
    }
}

fn now_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

/// Digests of files, keyed by the path they were asked for; safe to share between threads.
#[derive(Debug)]
pub struct DigestCache {
    file: Option<PathBuf>,
    entries: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    by_path: HashMap<PathBuf, Entry>,
    changed: bool,
}

impl DigestCache {
    /// The cache kept in `file` (read now; missing, unreadable or damaged: empty).
    pub fn open(file: &Path) -> DigestCache {
        let by_path = std::fs::read(file)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        DigestCache {
            file: Some(file.to_path_buf()),
            entries: Mutex::new(Entries {
                by_path,
                changed: false,
            }),
        }
    }

    /// A cache read from `file` that [`DigestCache::save`] never writes (dry runs).
    pub fn read_only(file: &Path) -> DigestCache {
        DigestCache {
            file: None,
            ..DigestCache::open(file)
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The SHA-256 of `path`'s content, lowercase hex: from the cache when the file's
    /// metadata is unchanged and its entry settled, else read and hashed (and remembered).
    ///
    /// Errors: the file cannot be read (the message names it).
    pub fn digest(&self, path: &Path) -> Result<String> {
        let meta =
            std::fs::metadata(path).with_context(|| format!("cannot open {}", path.display()))?;
        if let Some(entry) = self.lock().by_path.get(path)
            && entry.matches(&meta)
            && entry.settled(entry.hashed_at)
        {
            return Ok(entry.digest.clone());
        }
        self.hash(path, &meta)
    }

    fn hash(&self, path: &Path, meta: &std::fs::Metadata) -> Result<String> {
        let hashed_at = now_ns();
        let digest = file_digest(path)?;
        let (dev, ino, size, mtime, ctime) = Entry::stat(meta);
        let entry = Entry {
            dev,
            ino,
            size,
            mtime,
            ctime,
            hashed_at,
            digest: digest.clone(),
        };
        // The file changed while it was read: remember nothing.
        let after = std::fs::metadata(path).ok();
        if after.is_some_and(|after| entry.matches(&after)) {
            let mut entries = self.lock();
            entries.by_path.insert(path.to_path_buf(), entry);
            entries.changed = true;
        }
        Ok(digest)
    }

    /// Writes the cache to its file if anything changed, first re-hashing racy entries of
    /// files up to 1 MiB that are now old enough to be trusted, and dropping entries of
    /// files that are gone. A read-only cache writes nothing.
    ///
    /// Errors: the file cannot be written or renamed into place (the message names it).
    pub fn save(&self) -> Result<()> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        let racy: Vec<PathBuf> = {
            let now = now_ns();
            self.lock()
                .by_path
                .iter()
                .filter(|(_, e)| !e.settled(e.hashed_at) && e.settled(now))
                .filter(|(_, e)| e.size <= REHASH_ON_SAVE_BYTES)
                .map(|(path, _)| path.clone())
                .collect()
        };
        for path in racy {
            match std::fs::metadata(&path) {
                Ok(meta) => {
                    let _ = self.hash(&path, &meta);
                }
                Err(_) => {
                    let mut entries = self.lock();
                    entries.by_path.remove(&path);
                    entries.changed = true;
                }
            }
        }
        let mut entries = self.lock();
        if !entries.changed {
            return Ok(());
        }
        let bytes = serde_json::to_vec(&entries.by_path).context("cannot encode the digests")?;
        let temporary = file.with_extension("json.tmp");
        std::fs::write(&temporary, bytes)
            .and_then(|()| std::fs::rename(&temporary, file))
            .with_context(|| format!("cannot write the digest cache {}", file.display()))?;
        entries.changed = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;

    fn age(path: &Path, by: Duration) {
        let file = File::options().write(true).open(path).unwrap();
        file.set_modified(SystemTime::now() - by).unwrap();
    }

    #[test]
    fn an_unchanged_settled_file_is_not_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        std::fs::write(&path, "one").unwrap();
        age(&path, Duration::from_secs(10));
        let cache = DigestCache::open(&dir.path().join("digests.json"));
        let first = cache.digest(&path).unwrap();
        assert_eq!(first, crate::digest::sha256_hex(b"one"));
        // Swap the stored digest: a lookup that does not read the file returns it.
        cache.lock().by_path.get_mut(&path).unwrap().digest = "cached".into();
        assert_eq!(cache.digest(&path).unwrap(), "cached");
        // Saved and opened again, the entry still holds.
        cache.save().unwrap();
        let reopened = DigestCache::open(&dir.path().join("digests.json"));
        assert_eq!(reopened.digest(&path).unwrap(), "cached");
    }

    #[test]
    fn a_changed_file_is_hashed_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        std::fs::write(&path, "one").unwrap();
        age(&path, Duration::from_secs(10));
        let cache = DigestCache::open(&dir.path().join("digests.json"));
        cache.digest(&path).unwrap();
        // Same size, different content and time.
        std::fs::write(&path, "two").unwrap();
        age(&path, Duration::from_secs(5));
        assert_eq!(
            cache.digest(&path).unwrap(),
            crate::digest::sha256_hex(b"two")
        );
        // Replaced by another file (a new inode) with the old time.
        let other = dir.path().join("b.txt");
        std::fs::write(&other, "three").unwrap();
        std::fs::rename(&other, &path).unwrap();
        age(&path, Duration::from_secs(10));
        assert_eq!(
            cache.digest(&path).unwrap(),
            crate::digest::sha256_hex(b"three")
        );
    }

    #[test]
    fn a_racy_entry_is_not_trusted_until_save_settles_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        std::fs::write(&path, "one").unwrap();
        let cache = DigestCache::open(&dir.path().join("digests.json"));
        cache.digest(&path).unwrap();
        // Just written: racy, so a lookup reads the file again.
        cache.lock().by_path.get_mut(&path).unwrap().digest = "stale".into();
        assert_eq!(
            cache.digest(&path).unwrap(),
            crate::digest::sha256_hex(b"one")
        );
        // Once old enough, save re-hashes it and it is trusted from then on.
        std::thread::sleep(RACY_MARGIN_FINE + Duration::from_millis(20));
        cache.save().unwrap();
        let entry = cache.lock().by_path.get(&path).cloned().unwrap();
        assert!(entry.settled(entry.hashed_at), "{entry:?}");
    }

    #[test]
    fn a_damaged_cache_file_is_an_empty_cache_and_read_only_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("digests.json");
        std::fs::write(&file, "{not json").unwrap();
        let path = dir.path().join("a.txt");
        std::fs::write(&path, "one").unwrap();
        let cache = DigestCache::read_only(&file);
        assert_eq!(
            cache.digest(&path).unwrap(),
            crate::digest::sha256_hex(b"one")
        );
        cache.save().unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "{not json");
        let error = DigestCache::open(&file)
            .digest(&dir.path().join("missing"))
            .unwrap_err();
        assert!(format!("{error:#}").contains("missing"), "{error:#}");
    }
}
