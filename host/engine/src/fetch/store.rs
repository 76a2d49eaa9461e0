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

    /// A temporary file for a download in progress.
    pub fn temp_file(&self) -> Result<tempfile::NamedTempFile> {
        let dir = self.root.join("tmp");
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        tempfile::NamedTempFile::new_in(&dir)
            .with_context(|| format!("cannot create a temporary file in {}", dir.display()))
    }

    /// Moves a complete download into place under its digest.
    pub fn commit(&self, temp: tempfile::NamedTempFile, sha256: &str) -> Result<PathBuf> {
        let path = self.path(sha256);
        if path.is_file() {
            return Ok(path);
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
