//! The content-addressed artifact store: `.baton/artifacts/sha256/ab/cd/<sha256>`. Downloads
//! stream into a temporary file in the same file system and are renamed into place, so a
//! file under `sha256/` is always complete; content already there is not written again.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// Artifacts by SHA-256 under `ROOT/sha256/ab/cd/<sha256>` (see the module header).
pub struct ContentStore {
    root: PathBuf,
}

impl ContentStore {
    /// A store rooted at `root` (created on the first write).
    pub fn new(root: PathBuf) -> ContentStore {
        ContentStore { root }
    }

    /// Where content with this digest lives.
    pub fn path(&self, sha256: &str) -> PathBuf {
        self.root
            .join("sha256")
            .join(&sha256[..2])
            .join(&sha256[2..4])
            .join(sha256)
    }

    /// Whether content with this SHA-256 is stored.
    pub fn contains(&self, sha256: &str) -> bool {
        sha256.len() == 64 && self.path(sha256).is_file()
    }

    /// This process's directory of downloads in progress: `tmp/<pid>/`.
    fn temp_dir(&self) -> PathBuf {
        self.root.join("tmp").join(std::process::id().to_string())
    }

    /// A temporary file for a download in progress.
    pub fn temp_file(&self) -> Result<tempfile::NamedTempFile> {
        let dir = self.temp_dir();
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        tempfile::NamedTempFile::new_in(&dir)
            .with_context(|| format!("cannot create a temporary file in {}", dir.display()))
    }

    /// Removes the partial downloads of processes that are gone (killed mid-download): each
    /// process keeps them in `tmp/<pid>/`, and only those directories, of pids no process on
    /// this host has, are removed. Returns how many files were swept.
    pub fn sweep_dead(&self) -> Result<usize> {
        let tmp = self.root.join("tmp");
        let Ok(entries) = std::fs::read_dir(&tmp) else {
            return Ok(0);
        };
        let mut swept = 0;
        for entry in entries.flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            if pid == std::process::id() as i32
                || crate::owner::alive(pid)
                || !entry.file_type().is_ok_and(|t| t.is_dir())
            {
                continue;
            }
            let dir = entry.path();
            swept += std::fs::read_dir(&dir).map_or(0, |files| files.count());
            std::fs::remove_dir_all(&dir)
                .with_context(|| format!("cannot sweep partial downloads in {}", dir.display()))?;
        }
        Ok(swept)
    }

    /// Moves a complete download into place under its digest. Content already there is kept
    /// when it still hashes to its name; a file there that does not (damaged since it was
    /// stored: a bad disk block, another program) is replaced by the download, which does.
    pub fn commit(&self, temp: tempfile::NamedTempFile, sha256: &str) -> Result<PathBuf> {
        let path = self.path(sha256);
        if path.is_file() {
            match baton_core::digest::file_digest(&path) {
                Ok(found) if found == sha256 => return Ok(path),
                Ok(found) => tracing::warn!(
                    "{} is damaged (its content hashes to {found}): replacing it with the new \
                     download",
                    path.display()
                ),
                Err(error) => {
                    tracing::warn!("{error:#}: replacing it with the new download")
                }
            }
        }
        let parent = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
        temp.as_file()
            .sync_all()
            .context("cannot flush a download to disk")?;
        temp.persist(&path)
            .with_context(|| format!("cannot store {}", path.display()))?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::ContentStore;
    use std::io::Write;

    fn download(store: &ContentStore, bytes: &[u8]) -> tempfile::NamedTempFile {
        let mut temp = store.temp_file().unwrap();
        temp.write_all(bytes).unwrap();
        temp
    }

    /// Stored content found damaged is replaced by a new download of it; whole content is
    /// kept as it is.
    #[test]
    fn a_damaged_file_is_replaced_by_a_new_download_of_its_content() {
        let dir = tempfile::tempdir().unwrap();
        let store = ContentStore::new(dir.path().to_path_buf());
        let bytes = b"%PDF-1.4\nhello\n";
        let sha = baton_core::digest::sha256_hex(bytes);
        let path = store.commit(download(&store, bytes), &sha).unwrap();
        std::fs::write(&path, b"CORRUPT\n").unwrap();
        assert_eq!(store.commit(download(&store, bytes), &sha).unwrap(), path);
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
        let inode = |p: &std::path::Path| {
            std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(p).unwrap())
        };
        let before = inode(&path);
        store.commit(download(&store, bytes), &sha).unwrap();
        assert_eq!(inode(&path), before, "whole content was written again");
    }

    #[test]
    fn only_the_partial_downloads_of_dead_processes_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        let store = ContentStore::new(dir.path().to_path_buf());
        let mine = store.temp_file().unwrap();
        // A pid no process has (above the kernel's pid_max), and a directory Baton did not
        // name after a pid.
        let dead = dir.path().join("tmp/2147483646");
        std::fs::create_dir_all(&dead).unwrap();
        std::fs::write(dead.join(".tmpAbC"), b"partial").unwrap();
        let other = dir.path().join("tmp/notes");
        std::fs::create_dir_all(&other).unwrap();
        assert_eq!(store.sweep_dead().unwrap(), 1);
        assert!(!dead.exists());
        assert!(
            other.exists(),
            "a directory Baton did not create was removed"
        );
        assert!(
            mine.path().exists(),
            "a live process's download was removed"
        );
    }
}
