//! Where project paths really are, resolved as `realpath(3)` resolves them but with each
//! directory on the way resolved once. Planning a 500-stage pipeline asks where a thousand
//! paths really are; they share a handful of directories, and `realpath` reads every
//! component of every one of them again (one `readlink` each, for the project's own
//! ancestors too).
//!
//! A resolver serves one pass (a validation, a plan, a fingerprint): it remembers each
//! directory as it was when first seen, so it must not outlive that pass.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

/// Resolves paths inside the project at `root`, remembering the directories it resolved.
pub struct RealPaths {
    root: PathBuf,
    /// The canonical project root, or why it has none.
    real_root: Result<PathBuf, io::ErrorKind>,
    /// Project-relative directory (`/`-separated) → its canonical path, or the error its
    /// resolution met.
    dirs: RefCell<HashMap<String, Result<PathBuf, io::ErrorKind>>>,
}

impl RealPaths {
    /// A resolver for the project at `root` (resolved once, here).
    pub fn new(root: &Path) -> RealPaths {
        RealPaths {
            root: root.to_path_buf(),
            real_root: root.canonicalize().map_err(|e| e.kind()),
            dirs: RefCell::new(HashMap::new()),
        }
    }

    /// The project root as given.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The canonical project root; an error when the root does not resolve (it does not
    /// exist, or is not reachable).
    pub fn real_root(&self) -> io::Result<&Path> {
        self.real_root
            .as_deref()
            .map_err(|&kind| io::Error::from(kind))
    }

    /// What `Path::canonicalize` gives for `root/relative` (`relative` is `/`-separated),
    /// with the same errors: not found, not a directory on the way, a symlink loop. A path
    /// with `..` or an absolute one goes to `canonicalize` as it is.
    pub fn canonicalize(&self, relative: &str) -> io::Result<PathBuf> {
        let parts: Vec<&str> = relative
            .split('/')
            .filter(|part| !part.is_empty() && *part != ".")
            .collect();
        if relative.starts_with('/') || parts.contains(&"..") || self.real_root.is_err() {
            return self.root.join(relative).canonicalize();
        }
        match parts.split_last() {
            None => self.real_root().map(Path::to_path_buf),
            Some((name, dirs)) => step(&self.dir(dirs)?, name).map(|(path, _)| path),
        }
    }

    /// The canonical path of the directory `parts` (relative to the root), remembered.
    fn dir(&self, parts: &[&str]) -> io::Result<PathBuf> {
        let Some((name, parents)) = parts.split_last() else {
            return self.real_root().map(Path::to_path_buf);
        };
        let key = parts.join("/");
        if let Some(known) = self.dirs.borrow().get(&key) {
            return known.clone().map_err(io::Error::from);
        }
        let resolved = self
            .dir(parents)
            .and_then(|parent| match step(&parent, name)? {
                (path, true) => Ok(path),
                (_, false) => Err(io::Error::from(io::ErrorKind::NotADirectory)),
            });
        self.dirs.borrow_mut().insert(
            key,
            resolved.as_ref().map(Clone::clone).map_err(io::Error::kind),
        );
        resolved
    }
}

/// `name` inside the canonical directory `parent`: its canonical path and whether it is a
/// directory. One `lstat`, and a full resolution only when it is a symlink.
fn step(parent: &Path, name: &str) -> io::Result<(PathBuf, bool)> {
    let path = parent.join(name);
    let meta = std::fs::symlink_metadata(&path)?;
    if meta.file_type().is_symlink() {
        let real = path.canonicalize()?;
        let is_dir = real.is_dir();
        Ok((real, is_dir))
    } else {
        Ok((path, meta.is_dir()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every form a project path can take resolves as `canonicalize` resolves it, errors
    /// included, asked twice (the second time from what the resolver remembered).
    #[test]
    fn resolves_as_canonicalize_does() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("out/a")).unwrap();
        std::fs::create_dir_all(root.join("real/dir")).unwrap();
        std::fs::write(root.join("out/a/v.jsonl"), "1\n").unwrap();
        std::fs::write(root.join("real/dir/f"), "1\n").unwrap();
        std::fs::write(root.join("file"), "1\n").unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(root.join("real"), root.join("link")).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("away")).unwrap();
        std::os::unix::fs::symlink("nowhere", root.join("dangling")).unwrap();
        std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();
        std::os::unix::fs::symlink("real/dir/f", root.join("filelink")).unwrap();
        let paths = RealPaths::new(root);
        for relative in [
            "",
            "out",
            "out/a",
            "out/a/v.jsonl",
            "./out//a/v.jsonl",
            "out/missing",
            "out/missing/deeper",
            "file",
            "file/below",
            "link",
            "link/dir/f",
            "link/dir/missing",
            "away",
            "dangling",
            "dangling/x",
            "loop",
            "loop/x",
            "filelink",
            "filelink/x",
            "out/../real/dir/f",
            "link/../file",
        ] {
            for _ in 0..2 {
                let ours = paths.canonicalize(relative).map_err(|e| e.kind());
                let std = root.join(relative).canonicalize().map_err(|e| e.kind());
                assert_eq!(ours, std, "{relative:?}");
            }
        }
    }

    #[test]
    fn a_missing_root_resolves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let paths = RealPaths::new(&dir.path().join("gone"));
        assert!(paths.real_root().is_err());
        assert!(paths.canonicalize("x").is_err());
    }
}
