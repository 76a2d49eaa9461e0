//! The ledger file: appends events as JSON lines to `.baton/ledger/YYYY-MM-DD.jsonl` (UTC
//! day of each event). A store owns one and appends after each commit, so committing a
//! change and journaling it are one step no caller can skip. Each line carries `seq`, the
//! event's id in the store; a process killed between a commit and its append leaves lines
//! missing (or one torn line), which the next process to open the store writes from the
//! store's copy ([`LedgerFile::last_seq`] finds where the file stops). Writers hold the
//! directory's lock (`.lock`, an advisory file lock the kernel frees with its holder) from
//! before their commit until their lines are written, so a catch-up never writes lines a
//! live writer is about to write.
//!
//! The lock file's first byte says whether its last holder finished: `1` from when a writer
//! takes the lock until [`LedgerLock::written`], `0` (or an empty file) after. A writer that
//! finds `1` knows the previous holder was killed between its commit and its append, while
//! every later writer still waited for the lock, so the lines it left out are exactly the
//! store's events after the file's highest `seq` — found at once, before any other writer
//! appends a higher one.

use anyhow::{Context, Result};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// One line to append: the event's time (Unix milliseconds, for the day file) and its JSON.
#[derive(Debug, Clone)]
pub struct LedgerLine {
    /// Unix milliseconds.
    pub at: i64,
    /// The JSON object, without the newline.
    pub text: String,
}

impl LedgerLine {
    /// The line of event `seq` whose JSON object (without `seq`) is `object`: `seq` comes
    /// first. `object` is a serialized non-empty JSON object (every event has `at` and
    /// `event`).
    pub fn new(at: i64, seq: i64, object: &str) -> LedgerLine {
        let fields = object.strip_prefix('{').unwrap_or(object);
        LedgerLine {
            at,
            text: format!("{{\"seq\":{seq},{fields}"),
        }
    }
}

/// Where a ledger directory's newest file stops (see [`LedgerFile::last_seq`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LastSeq {
    /// No ledger file yet.
    Empty,
    /// The highest `seq` among the newest file's last lines.
    At(i64),
    /// Lines without `seq` (written before lines had one): where it stops is unknown.
    Unknown,
}

/// How much of the newest file's end is read to find the highest `seq` (bytes): lines of
/// several processes may interleave, so the last line is not always the highest.
const TAIL_BYTES: u64 = 64 << 10;

/// Appends lines to the day's JSON Lines file.
pub struct LedgerFile {
    dir: PathBuf,
    day: String,
    file: Option<std::io::BufWriter<std::fs::File>>,
    lock: Option<std::fs::File>,
}

/// Holds the ledger directory's lock until dropped (see the module header).
pub struct LedgerLock {
    file: std::fs::File,
    interrupted: bool,
}

/// The lock file's first byte while a holder has not finished (see the module header).
const IN_FLIGHT: u8 = b'1';
/// The lock file's first byte once its holder's lines are written.
const FINISHED: u8 = b'0';

impl LedgerLock {
    /// Whether the previous holder stopped before [`LedgerLock::written`]: a process killed
    /// between its commit and its append, or a transaction that failed (then nothing is
    /// missing, and a catch-up finds nothing).
    pub fn interrupted(&self) -> bool {
        self.interrupted
    }

    /// Records that this holder's lines are written, or that it committed nothing. Not
    /// calling it (an append that failed) leaves the next holder to catch up.
    pub fn written(self) -> Result<()> {
        use std::os::unix::fs::FileExt;
        self.file
            .write_all_at(&[FINISHED], 0)
            .context("cannot mark the ledger's lock file finished")
    }
}

impl Drop for LedgerLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

impl LedgerFile {
    /// A ledger writing into `dir` (created on the first append).
    pub fn new(dir: &Path) -> LedgerFile {
        LedgerFile {
            dir: dir.to_path_buf(),
            day: String::new(),
            file: None,
            lock: None,
        }
    }

    /// Takes the directory's lock (waiting for another process's writer to finish its
    /// append) and marks it in flight; held until the guard drops. The guard tells whether
    /// the previous holder finished ([`LedgerLock::interrupted`]).
    pub fn lock(&mut self) -> Result<LedgerLock> {
        use std::os::unix::fs::FileExt;
        if self.lock.is_none() {
            std::fs::create_dir_all(&self.dir)
                .with_context(|| format!("cannot create {}", self.dir.display()))?;
            let path = self.dir.join(".lock");
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .read(true)
                .write(true)
                .open(&path)
                .with_context(|| format!("cannot open {}", path.display()))?;
            self.lock = Some(file);
        }
        let path = self.dir.join(".lock");
        let file = self
            .lock
            .as_ref()
            .context("the ledger lock is not open")?
            .try_clone()
            .with_context(|| format!("cannot lock {}", path.display()))?;
        file.lock()
            .with_context(|| format!("cannot lock {}", path.display()))?;
        let mut first = [FINISHED];
        let read = file
            .read_at(&mut first, 0)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let interrupted = read == 1 && first[0] == IN_FLIGHT;
        if !interrupted {
            file.write_all_at(&[IN_FLIGHT], 0)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(LedgerLock { file, interrupted })
    }

    /// Writes and flushes `lines`; the error names the file.
    pub fn append(&mut self, lines: &[LedgerLine]) -> Result<()> {
        for line in lines {
            let day = crate::clock::day_of(line.at);
            if day != self.day || self.file.is_none() {
                self.open(&day)?;
            }
            let file = self.file.as_mut().context("the ledger file is not open")?;
            file.write_all(line.text.as_bytes())?;
            file.write_all(b"\n")?;
        }
        if let Some(file) = self.file.as_mut() {
            file.flush().context("cannot write the ledger")?;
        }
        Ok(())
    }

    /// Appends the lines of a committed transaction, then marks `lock` finished. On an error
    /// the lock stays unfinished, so the next writer catches up what is missing.
    pub fn append_committed(&mut self, lock: LedgerLock, lines: &[LedgerLine]) -> Result<()> {
        self.append(lines)?;
        lock.written()
    }

    /// Where the newest file of `dir` stops. A torn last line (a process killed mid-write)
    /// is cut off first, so appends start on a line of their own.
    pub fn last_seq(dir: &Path) -> Result<LastSeq> {
        let newest = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|e| e == "jsonl"))
            .max();
        let Some(path) = newest else {
            return Ok(LastSeq::Empty);
        };
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open the ledger {}", path.display()))?;
        let len = file.metadata()?.len();
        let start = len.saturating_sub(TAIL_BYTES);
        file.seek(std::io::SeekFrom::Start(start))?;
        let mut tail = Vec::new();
        file.read_to_end(&mut tail)
            .with_context(|| format!("cannot read the ledger {}", path.display()))?;
        if let Some(last_newline) = tail.iter().rposition(|b| *b == b'\n') {
            if last_newline + 1 < tail.len() {
                file.set_len(start + last_newline as u64 + 1)
                    .with_context(|| format!("cannot repair the ledger {}", path.display()))?;
                tail.truncate(last_newline + 1);
            }
        } else if start == 0 {
            // One torn line and nothing else.
            file.set_len(0)?;
            return Ok(LastSeq::Empty);
        }
        let mut seen_lines = false;
        let mut highest = None;
        for line in tail.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            seen_lines = true;
            highest = highest.max(seq_of(line));
        }
        Ok(match (highest, seen_lines) {
            (Some(seq), _) => LastSeq::At(seq),
            (None, true) => LastSeq::Unknown,
            (None, false) => LastSeq::Empty,
        })
    }

    fn open(&mut self, day: &str) -> Result<()> {
        if let Some(mut file) = self.file.take() {
            file.flush()?;
        }
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("cannot create {}", self.dir.display()))?;
        let path = self.dir.join(format!("{day}.jsonl"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot open the ledger {}", path.display()))?;
        self.file = Some(std::io::BufWriter::with_capacity(1 << 16, file));
        self.day = day.to_string();
        Ok(())
    }
}

/// The `seq` a line starts with (`{"seq":N,`, as [`LedgerLine::new`] writes it).
fn seq_of(line: &[u8]) -> Option<i64> {
    let rest = line.strip_prefix(b"{\"seq\":")?;
    let end = rest.iter().position(|b| !b.is_ascii_digit())?;
    std::str::from_utf8(&rest[..end]).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_highest_seq_is_found_and_a_torn_line_is_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(LedgerFile::last_seq(dir.path()).unwrap(), LastSeq::Empty);
        let mut ledger = LedgerFile::new(dir.path());
        let at = 1_764_547_200_000;
        ledger
            .append(&[
                LedgerLine::new(at, 7, r#"{"at":"x","event":"done"}"#),
                LedgerLine::new(at, 5, r#"{"at":"x","event":"done"}"#),
            ])
            .unwrap();
        let path = dir.path().join("2025-12-01.jsonl");
        let mut text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with(r#"{"seq":7,"at":"x","event":"done"}"#),
            "{text}"
        );
        text.push_str(r#"{"seq":8,"at":"#);
        std::fs::write(&path, &text).unwrap();
        assert_eq!(LedgerFile::last_seq(dir.path()).unwrap(), LastSeq::At(7));
        assert!(std::fs::read_to_string(&path).unwrap().ends_with("}\n"));
        std::fs::write(&path, "{\"at\":\"x\",\"event\":\"done\"}\n").unwrap();
        assert_eq!(LedgerFile::last_seq(dir.path()).unwrap(), LastSeq::Unknown);
    }

    #[test]
    fn a_holder_that_stops_before_its_lines_are_written_leaves_the_next_one_told() {
        let dir = tempfile::tempdir().unwrap();
        let mut first = LedgerFile::new(dir.path());
        let mut second = LedgerFile::new(dir.path());
        let lock = first.lock().unwrap();
        assert!(
            !lock.interrupted(),
            "a new lock file has no unfinished holder"
        );
        lock.written().unwrap();
        assert!(!second.lock().unwrap().interrupted());
        // `second`'s guard dropped without `written`: a process killed after its commit.
        let lock = first.lock().unwrap();
        assert!(lock.interrupted());
        lock.written().unwrap();
        assert!(!second.lock().unwrap().interrupted());
    }
}
