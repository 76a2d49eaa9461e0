//! The on-disk compile cache: a component is compiled once per engine configuration and kept
//! as `<sha256>-<engine hash>.cwasm`, its modification time renewed at each use (its last use,
//! for the size bound and for `baton cleanup`). Deserializing runs native code, so only files this cache
//! wrote are ever loaded: regular files (no symlinks) owned by this user, in a directory
//! private to this user, written atomically (temp file + rename).
//!
//! It stays small: `index.json` remembers which entry each component file (by path) was
//! compiled to, so a rebuilt plugin's older entry is removed as the new one is stored; and the
//! entries together stay under a size bound, the least recently used going first. Only files
//! named as this cache names them (entries, its index, its temp files) are ever removed.

use anyhow::{Context, Result, anyhow};
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

/// The compile cache in one directory, keyed by the component's sha256 and a hash of the
/// engine's precompile compatibility (so another wasmtime version or config never matches).
pub struct CompileCache {
    dir: PathBuf,
    engine_key: String,
    max_size: u64,
}

/// The index of which entry each component file was last compiled to.
const INDEX: &str = "index.json";

/// The prefix of this cache's temp files (an entry being written).
const TEMP_PREFIX: &str = ".baton-cache-";

/// What [`CompileCache::prune`] removed (or, in a dry run, would remove).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PruneReport {
    /// The cache directory.
    pub dir: PathBuf,
    /// Compiled entries (`.cwasm`).
    pub entries: u64,
    /// Other files of the cache: its index and leftover temp files.
    pub other_files: u64,
    /// Bytes of everything removed.
    pub bytes: u64,
    /// Files in the directory this cache did not write, left alone.
    pub kept_foreign: u64,
}

/// Whether `name` is a cache entry's name: 64 hex digits, `-`, 16 hex digits, `.cwasm`.
fn is_entry_name(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(".cwasm") else {
        return false;
    };
    let bytes = stem.as_bytes();
    bytes.len() == 81
        && bytes[64] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 64 || matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Whether the cache wrote the file `name` (an entry, its index or one of its temp files).
fn is_cache_file(name: &str) -> bool {
    is_entry_name(name) || name == INDEX || name.starts_with(TEMP_PREFIX)
}

/// How a component was obtained, for reports and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CacheOutcome {
    /// Deserialized from a trusted `.cwasm` entry written for this engine.
    Hit,
    /// Compiled with Cranelift now (no usable entry) and stored, if the cache is writable.
    Compiled,
}

impl CompileCache {
    /// A cache in `dir` for components compiled by `engine`, its entries kept under
    /// `max_size` bytes in all; `dir` is created on the first store.
    pub fn new(dir: PathBuf, engine: &Engine, max_size: u64) -> CompileCache {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        CompileCache {
            dir,
            engine_key: format!("{:016x}", hasher.finish()),
            max_size,
        }
    }

    /// The cache's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn entry(&self, digest: &str) -> PathBuf {
        self.dir.join(format!("{digest}-{}.cwasm", self.engine_key))
    }

    /// The compiled component for `bytes` (whose sha256 is `digest`, read from the file
    /// `source`), from the cache or freshly compiled and stored. A new entry replaces the one
    /// `source` was compiled to before (a rebuilt plugin) unless another file still uses it,
    /// and the least recently used entries go until the cache fits its size bound. A cache
    /// that cannot be written only costs a recompile.
    pub fn load(
        &self,
        engine: &Engine,
        digest: &str,
        bytes: &[u8],
        source: &Path,
    ) -> Result<(Component, CacheOutcome), wasmtime::Error> {
        let path = self.entry(digest);
        if trusted_cache_file(&path) {
            // SAFETY: the file was written by `store` below from `Component::serialize`
            // (see `trusted_cache_file`), and wasmtime checks it matches this engine.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(component) => {
                    // An entry's modification time is its last use: the size bound removes
                    // it last, `baton cleanup` once unused for its retention.
                    let used = std::fs::File::options()
                        .write(true)
                        .open(&path)
                        .and_then(|file| file.set_modified(std::time::SystemTime::now()));
                    if let Err(e) = used {
                        tracing::debug!(path = %path.display(), "cannot mark the cache entry used: {e}");
                    }
                    return Ok((component, CacheOutcome::Hit));
                }
                Err(e) => tracing::warn!(path = %path.display(), "ignoring cache entry: {e}"),
            }
        }
        let component = Component::new(engine, bytes)?;
        match self.store(&path, &component) {
            Ok(()) => {
                if let Err(e) = self.tidy(source, &path) {
                    tracing::warn!(dir = %self.dir.display(), "cannot tidy the compile cache: {e:#}");
                }
            }
            Err(e) => {
                tracing::warn!(dir = %self.dir.display(), "cannot cache compiled plugin: {e:#}")
            }
        }
        Ok((component, CacheOutcome::Compiled))
    }

    /// After `stored` was written for `source`: records it in the index, removes the entry
    /// `source` had before (when no other file uses it), then the least recently used entries
    /// until the cache fits `max_size` (never `stored` itself).
    fn tidy(&self, source: &Path, stored: &Path) -> Result<()> {
        let source = std::fs::canonicalize(source)
            .unwrap_or_else(|_| source.to_path_buf())
            .to_string_lossy()
            .into_owned();
        let name = stored
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut index = self.read_index();
        let previous = index.insert(source, name.clone());
        if let Some(previous) = previous
            && previous != name
            && is_entry_name(&previous)
            && !index.values().any(|entry| *entry == previous)
        {
            remove_own(&self.dir.join(&previous));
        }
        let mut entries = self.entries();
        entries.sort_by_key(|(_, _, modified)| *modified);
        let mut total: u64 = entries.iter().map(|(_, size, _)| size).sum();
        for (path, size, _) in &entries {
            if total <= self.max_size {
                break;
            }
            if path == stored {
                continue;
            }
            if remove_own(path) {
                total = total.saturating_sub(*size);
            }
        }
        let present: std::collections::HashSet<String> = self
            .entries()
            .iter()
            .filter_map(|(p, _, _)| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        index.retain(|_, entry| present.contains(entry));
        self.write_index(&index)
    }

    /// The entries this cache wrote: path, size in bytes, last use.
    fn entries(&self) -> Vec<(PathBuf, u64, std::time::SystemTime)> {
        let Ok(read) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        read.flatten()
            .filter(|e| is_entry_name(&e.file_name().to_string_lossy()))
            .filter_map(|e| {
                let meta = std::fs::symlink_metadata(e.path()).ok()?;
                let modified = meta.modified().ok()?;
                meta.file_type()
                    .is_file()
                    .then(|| (e.path(), meta.len(), modified))
            })
            .collect()
    }

    fn read_index(&self) -> std::collections::BTreeMap<String, String> {
        std::fs::read(self.dir.join(INDEX))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    fn write_index(&self, index: &std::collections::BTreeMap<String, String>) -> Result<()> {
        let mut temp = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .tempfile_in(&self.dir)?;
        serde_json::to_writer(&mut temp, index)?;
        temp.persist(self.dir.join(INDEX))?;
        Ok(())
    }

    fn store(&self, path: &Path, component: &Component) -> Result<()> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("cannot create {}", self.dir.display()))?;
        std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700))?;
        let bytes = component.serialize().map_err(|e| anyhow!("{e}"))?;
        let mut temp = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .tempfile_in(&self.dir)?;
        temp.write_all(&bytes)?;
        temp.as_file().sync_all()?;
        temp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))?;
        temp.persist(path)?;
        Ok(())
    }
}

/// Removes every file the compile cache in `dir` wrote (entries of any engine, its index,
/// leftover temp files) and nothing else: other files, symlinks and files of other users
/// are counted in [`PruneReport::kept_foreign`] and left alone. With `dry_run`, only counts.
/// A missing directory is an empty cache.
pub fn prune(dir: &Path, dry_run: bool) -> Result<PruneReport> {
    let mut report = PruneReport {
        dir: dir.to_path_buf(),
        ..PruneReport::default()
    };
    let read = match std::fs::read_dir(dir) {
        Ok(read) => read,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(report),
        Err(e) => return Err(anyhow!("cannot read {}: {e}", dir.display())),
    };
    let uid = unsafe { libc::geteuid() };
    for entry in read.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(meta) = std::fs::symlink_metadata(entry.path()) else {
            continue;
        };
        if !is_cache_file(&name) || !meta.file_type().is_file() || meta.uid() != uid {
            report.kept_foreign += 1;
            continue;
        }
        if !dry_run {
            std::fs::remove_file(entry.path())
                .with_context(|| format!("cannot remove {}", entry.path().display()))?;
        }
        if is_entry_name(&name) {
            report.entries += 1;
        } else {
            report.other_files += 1;
        }
        report.bytes += meta.len();
    }
    Ok(report)
}

/// Removes `path` when it is a regular file owned by us; whether it was removed.
fn remove_own(path: &Path) -> bool {
    let uid = unsafe { libc::geteuid() };
    let own = std::fs::symlink_metadata(path)
        .is_ok_and(|meta| meta.file_type().is_file() && meta.uid() == uid);
    own && std::fs::remove_file(path).is_ok()
}

/// A regular file owned by us, not writable by others, in a directory only we can write.
fn trusted_cache_file(path: &Path) -> bool {
    let uid = unsafe { libc::geteuid() };
    let private = |meta: &std::fs::Metadata| meta.uid() == uid && meta.mode() & 0o022 == 0;
    let Ok(file) = std::fs::symlink_metadata(path) else {
        return false;
    };
    let Some(dir) = path
        .parent()
        .and_then(|d| std::fs::symlink_metadata(d).ok())
    else {
        return false;
    };
    file.file_type().is_file() && private(&file) && dir.is_dir() && private(&dir)
}
