//! `baton cleanup --keep-days N`: removes history older than the retention — finished jobs
//! and runs with their ledger and manifest rows (the store's `purge`, which keeps whatever
//! unfinished work or a stage's last success needs), the removed runs' logs, ledger day
//! files that hold no event of an unfinished job (never the newest), stored artifacts no
//! manifest row references, and compile-cache entries unused for N days — and reports
//! counts and bytes per kind. Only files named as Baton names them, in Baton's directories,
//! are considered: anything else there is left alone. A dry run counts the same and changes
//! nothing.

use anyhow::{Context, Result};
use baton_core::clock;
use baton_core::store::{Purge, Store, commit};
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Where the files it may remove live.
#[derive(Debug, Clone)]
pub struct Places {
    /// `.baton/` (runs, artifacts).
    pub state_dir: PathBuf,
    /// The ledger's day files.
    pub ledger_dir: PathBuf,
    /// The compile cache (`runtime.cache-dir`).
    pub cache_dir: PathBuf,
}

/// Files (or rows) of one kind, and their bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// How many.
    pub count: u64,
    /// Their size in bytes (0 for store rows).
    pub bytes: u64,
}

impl Tally {
    fn add(&mut self, bytes: u64) {
        self.count += 1;
        self.bytes += bytes;
    }
}

/// What a cleanup removed (or would remove).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Nothing was changed.
    pub dry_run: bool,
    /// The retention in days.
    pub keep_days: u32,
    /// Unix milliseconds: what ended before this went.
    pub before: i64,
    /// Finished jobs (store rows).
    pub jobs: Tally,
    /// Their ledger rows in the store.
    pub ledger_rows: Tally,
    /// Finished runs (store rows).
    pub runs: Tally,
    /// Manifest rows of removed jobs.
    pub manifest_rows: Tally,
    /// Run logs (`.baton/runs/<run>.jsonl` and `.baton/runs/<run>/`).
    pub run_logs: Tally,
    /// Ledger day files.
    pub ledger_files: Tally,
    /// Stored artifacts no manifest row references.
    pub artifacts: Tally,
    /// Compile-cache entries.
    pub compile_cache: Tally,
}

/// Removes (or with `dry_run` counts) what is older than `keep_days` at `now` (Unix ms).
///
/// Errors: the store refuses the purge, or a file cannot be read or removed (the message
/// names it; what was removed before stays removed and the store's purge is committed).
pub fn run(
    store: &mut dyn Store,
    places: &Places,
    keep_days: u32,
    dry_run: bool,
    now: i64,
) -> Result<Report> {
    let before = now - i64::from(keep_days) * 86_400_000;
    let cutoff = SystemTime::UNIX_EPOCH + Duration::from_millis(u64::try_from(before).unwrap_or(0));
    let purged = commit(store, now, |tx| tx.purge(&Purge { before, dry_run }))?;
    let mut report = Report {
        dry_run,
        keep_days,
        before,
        jobs: Tally {
            count: purged.jobs,
            bytes: 0,
        },
        ledger_rows: Tally {
            count: purged.events,
            bytes: 0,
        },
        runs: Tally {
            count: purged.runs.len() as u64,
            bytes: 0,
        },
        manifest_rows: Tally {
            count: purged.manifest_rows,
            bytes: 0,
        },
        ..Report::default()
    };
    let runs_dir = places.state_dir.join("runs");
    for run in purged.runs.iter().filter(|id| plain(id)) {
        for path in [runs_dir.join(format!("{run}.jsonl")), runs_dir.join(run)] {
            if let Some(bytes) = size(&path)? {
                report.run_logs.add(bytes);
                if !dry_run {
                    remove(&path)?;
                }
            }
        }
    }
    ledger_files(
        store,
        &places.ledger_dir,
        before,
        dry_run,
        &mut report.ledger_files,
    )?;
    artifacts(
        store,
        &places.state_dir.join("artifacts").join("sha256"),
        &purged.manifest_digests,
        cutoff,
        dry_run,
        &mut report.artifacts,
    )?;
    compile_cache(
        &places.cache_dir,
        cutoff,
        dry_run,
        &mut report.compile_cache,
    )?;
    Ok(report)
}

/// Letters, digits, `.`, `-`, `_` only (a run id as a file name).
fn plain(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

/// The bytes of a file or a directory tree, or `None` when there is nothing there.
fn size(path: &Path) -> Result<Option<u64>> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    if !meta.is_dir() {
        return Ok(Some(meta.len()));
    }
    let mut total = 0;
    for entry in walkdir::WalkDir::new(path) {
        let entry = entry.with_context(|| format!("cannot read {}", path.display()))?;
        if entry.file_type().is_file() {
            total += entry.metadata().map(|m| m.len()).unwrap_or(0);
        }
    }
    Ok(Some(total))
}

fn remove(path: &Path) -> Result<()> {
    let removed = if std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
    removed.with_context(|| format!("cannot remove {}", path.display()))
}

/// Day files (`YYYY-MM-DD.jsonl`) of days before the cutoff's, except the newest file and
/// any file holding an event of a job that has not ended.
fn ledger_files(
    store: &dyn Store,
    dir: &Path,
    before: i64,
    dry_run: bool,
    tally: &mut Tally,
) -> Result<()> {
    let cutoff_day = clock::day_of(before);
    let mut days: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(is_day_file)
            })
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("cannot list {}", dir.display())),
    };
    days.sort();
    days.pop(); // The newest file is where the ledger's catch-up looks.
    let mut live: HashMap<String, bool> = HashMap::new();
    for path in days {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        if stem >= cutoff_day.as_str() {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read the ledger {}", path.display()))?;
        let mut needed = false;
        for line in text.lines() {
            let Some(key) = serde_json::from_str::<serde_json::Value>(line)
                .ok()
                .and_then(|v| v["job"].as_str().map(String::from))
            else {
                continue;
            };
            let is_live = match live.get(&key) {
                Some(known) => *known,
                None => {
                    let state = store.job(&key)?.map(|job| job.state);
                    let is_live = state.is_some_and(|s| !s.is_final());
                    live.insert(key, is_live);
                    is_live
                }
            };
            if is_live {
                needed = true;
                break;
            }
        }
        if needed {
            continue;
        }
        tally.add(text.len() as u64);
        if !dry_run {
            remove(&path)?;
        }
    }
    Ok(())
}

fn is_day_file(name: &str) -> bool {
    let Some(day) = name.strip_suffix(".jsonl") else {
        return false;
    };
    let bytes = day.as_bytes();
    bytes.len() == 10
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            _ => b.is_ascii_digit(),
        })
}

fn is_hex(text: &str, len: usize) -> bool {
    text.len() == len
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn older(path: &Path, cutoff: SystemTime) -> Result<Option<u64>> {
    let meta = std::fs::symlink_metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let modified = meta
        .modified()
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok((meta.is_file() && modified < cutoff).then_some(meta.len()))
}

/// Stored content (`sha256/ab/cd/<sha256>`) older than the cutoff that no manifest row
/// references once the purge's rows are gone.
fn artifacts(
    store: &dyn Store,
    dir: &Path,
    removed_rows: &[String],
    cutoff: SystemTime,
    dry_run: bool,
    tally: &mut Tally,
) -> Result<()> {
    if !dir.is_dir() {
        return Ok(());
    }
    let mut referenced: HashMap<String, i64> = HashMap::new();
    store.export("artifacts", &mut |row| {
        if let Some(digest) = row.get("sha256").and_then(|v| v.as_str()) {
            *referenced.entry(digest.to_string()).or_default() += 1;
        }
        Ok(())
    })?;
    if dry_run {
        // The rows a real run would have removed by now.
        for digest in removed_rows {
            if let Some(count) = referenced.get_mut(digest) {
                *count -= 1;
            }
        }
    }
    for entry in walkdir::WalkDir::new(dir).min_depth(3).max_depth(3) {
        let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
        let name = entry.file_name().to_string_lossy();
        let path = entry.path();
        let placed = path
            .strip_prefix(dir)
            .ok()
            .map(|rel| {
                rel.components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
            })
            .is_some_and(|parts| {
                parts.len() == 3 && parts[0] == name[..2] && parts[1] == name[2..4]
            });
        if !is_hex(&name, 64) || !placed {
            continue;
        }
        if referenced
            .get(name.as_ref())
            .is_some_and(|count| *count > 0)
        {
            continue;
        }
        if let Some(bytes) = older(path, cutoff)? {
            tally.add(bytes);
            if !dry_run {
                remove(path)?;
            }
        }
    }
    Ok(())
}

/// Compile-cache entries (`<sha256>-<engine hash>.cwasm`) unused since the cutoff.
fn compile_cache(dir: &Path, cutoff: SystemTime, dry_run: bool, tally: &mut Tally) -> Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("cannot list {}", dir.display())),
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let ours = name
            .strip_suffix(".cwasm")
            .and_then(|stem| stem.split_once('-'))
            .is_some_and(|(digest, engine)| is_hex(digest, 64) && is_hex(engine, 16));
        if !ours {
            continue;
        }
        if let Some(bytes) = older(&entry.path(), cutoff)? {
            tally.add(bytes);
            if !dry_run {
                remove(&entry.path())?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_baton_names_are_recognised() {
        assert!(is_day_file("2026-12-01.jsonl"));
        assert!(!is_day_file("notes.jsonl"));
        assert!(!is_day_file("2026-12-01.jsonl.bak"));
        assert!(is_hex(&"a".repeat(64), 64));
        assert!(!is_hex(&"A".repeat(64), 64));
        assert!(plain("p-20261201T101500123"));
        assert!(!plain("../x"));
    }
}
