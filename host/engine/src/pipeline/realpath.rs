//! Where project paths really are, resolved as `realpath(3)` resolves them but with each
//! directory on the way resolved once. Planning a 500-stage pipeline asks where a thousand
//! paths really are; they share a handful of directories, and `realpath` reads every
//! component of every one of them again (one `readlink` each, for the project's own
//! ancestors too).
//!
//! A resolver serves one pass (a validation, a plan, a fingerprint): it remembers each
//! directory, and each answer (and each input's digest), as it was when first seen, so it
//! must not outlive that pass.

use baton_core::digest_cache::DigestCache;
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
    /// Project path (as asked) → what [`RealPaths::canonicalize`] answered: validation and
    /// a plan ask for the same inputs and outputs several times.
    answers: RefCell<HashMap<String, Result<PathBuf, io::ErrorKind>>>,
    /// Project path → whether it is a symlink that does not resolve.
    dangling: RefCell<HashMap<String, bool>>,
    /// Project path (as written) → whether it is a file, symlinks followed.
    files: RefCell<HashMap<String, bool>>,
    /// Canonical path → its content digest: a file several stages read is looked at once.
    digests: RefCell<HashMap<PathBuf, String>>,
}

impl RealPaths {
    /// A resolver for the project at `root` (resolved once, here).
    pub fn new(root: &Path) -> RealPaths {
        RealPaths {
            root: root.to_path_buf(),
            real_root: root.canonicalize().map_err(|e| e.kind()),
            dirs: RefCell::new(HashMap::new()),
            answers: RefCell::new(HashMap::new()),
            dangling: RefCell::new(HashMap::new()),
            files: RefCell::new(HashMap::new()),
            digests: RefCell::new(HashMap::new()),
        }
    }

    /// Whether `root/relative` is a file once symlinks are followed (`Path::is_file`),
    /// remembered for the rest of the pass.
    pub fn is_file(&self, relative: &str) -> bool {
        if let Some(&known) = self.files.borrow().get(relative) {
            return known;
        }
        let answer = self.root.join(relative).is_file();
        self.files.borrow_mut().insert(relative.to_string(), answer);
        answer
    }

    /// The content digest of the file at canonical path `real`, through `digests` (which
    /// hashes only files whose metadata changed), remembered for the rest of the pass.
    pub fn digest(&self, digests: &DigestCache, real: &Path) -> anyhow::Result<String> {
        if let Some(known) = self.digests.borrow().get(real) {
            return Ok(known.clone());
        }
        let digest = digests.digest(real)?;
        self.digests
            .borrow_mut()
            .insert(real.to_path_buf(), digest.clone());
        Ok(digest)
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

    /// The project path (`/`-separated, relative to the root) of canonical path `real`;
    /// `None` when it is outside the project (or the root does not resolve).
    pub fn project_path(&self, real: &Path) -> Option<String> {
        let real_root = self.real_root().ok()?;
        real.strip_prefix(real_root).ok().map(slash_path)
    }

    /// What `Path::canonicalize` gives for `root/relative` (`relative` is `/`-separated),
    /// with the same errors: not found, not a directory on the way, a symlink loop. A path
    /// with `..` or an absolute one goes to `canonicalize` as it is.
    pub fn canonicalize(&self, relative: &str) -> io::Result<PathBuf> {
        if let Some(known) = self.answers.borrow().get(relative) {
            return known.clone().map_err(io::Error::from);
        }
        let answer = self.resolve(relative);
        self.answers.borrow_mut().insert(
            relative.to_string(),
            answer.as_ref().map(Clone::clone).map_err(io::Error::kind),
        );
        answer
    }

    /// [`RealPaths::canonicalize`] without the remembered answers.
    fn resolve(&self, relative: &str) -> io::Result<PathBuf> {
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

    /// Whether the entry at project path `parts` is a symlink that does not resolve:
    /// dangling, or a loop. `false` when it or its directory does not exist. Remembered for
    /// the rest of the pass: every stage of a plan asks it of the same few directories.
    pub fn dangling(&self, parts: &[&str]) -> bool {
        let Some((name, parents)) = parts.split_last() else {
            return false;
        };
        let key = parts.join("/");
        if let Some(&known) = self.dangling.borrow().get(&key) {
            return known;
        }
        let parent = if parents.iter().all(|part| *part != "." && *part != "..") {
            self.dir(parents)
        } else {
            self.canonicalize(&parents.join("/"))
        };
        let answer = parent.is_ok_and(|parent| {
            let path = parent.join(name);
            std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink())
                && std::fs::metadata(&path).is_err()
        });
        self.dangling.borrow_mut().insert(key, answer);
        answer
    }

    /// The canonical path of the directory at project path `parts` (segments without `.`,
    /// `..` or empty ones), remembered for the rest of the pass: errors as `canonicalize`
    /// gives them, and `NotADirectory` when it (or a part on the way) is not a directory.
    pub fn dir(&self, parts: &[&str]) -> io::Result<PathBuf> {
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

/// Where a project path leads once the symlinks on its way are followed.
#[derive(Debug, Clone, PartialEq)]
pub enum Leads {
    /// To this project path (`/`-separated; the path itself when no symlink is on the way).
    /// A dangling symlink leads where its target, read as written, would be: another stage's
    /// output that does not exist yet.
    Inside(String),
    /// Out of the project, to this path.
    Outside(PathBuf),
    /// Nowhere: nothing is there, or a symlink on the way loops.
    Nowhere,
}

impl RealPaths {
    /// Where project path `relative` leads ([`Leads`]).
    pub fn leads(&self, relative: &str) -> Leads {
        let Ok(real_root) = self.real_root() else {
            return Leads::Nowhere;
        };
        if let Ok(real) = self.canonicalize(relative) {
            return match self.project_path(&real) {
                Some(inside) => Leads::Inside(inside),
                None => Leads::Outside(real),
            };
        }
        let link = self.root.join(relative);
        let Ok(target) = std::fs::read_link(&link) else {
            return Leads::Nowhere;
        };
        let written = if target.is_absolute() {
            match target
                .strip_prefix(real_root)
                .or_else(|_| target.strip_prefix(&self.root))
            {
                Ok(inside) => slash_path(inside),
                Err(_) => return Leads::Outside(target),
            }
        } else {
            let parent = relative.rsplit_once('/').map_or("", |(parent, _)| parent);
            format!("{parent}/{}", target.to_string_lossy())
        };
        match lexical(&written) {
            Some(inside) if inside != relative => Leads::Inside(inside),
            // A link to itself loops.
            Some(_) => Leads::Nowhere,
            None => Leads::Outside(link.parent().unwrap_or(&self.root).join(target)),
        }
    }
}

/// A relative path as `/`-separated project path.
fn slash_path(path: &Path) -> String {
    path.components()
        .filter_map(|c| match c {
            std::path::Component::Normal(part) => Some(part.to_string_lossy()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// `path` with `.` and empty segments dropped and each `..` taking back the segment before
/// it; `None` when a `..` would leave the project.
fn lexical(path: &str) -> Option<String> {
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            part => parts.push(part),
        }
    }
    Some(parts.join("/"))
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
    fn symlinks_lead_inside_outside_or_nowhere() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("data")).unwrap();
        std::fs::create_dir_all(root.join("out/s1")).unwrap();
        std::fs::write(root.join("out/s1/v.jsonl"), "1\n").unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("f"), "1\n").unwrap();
        let link = |name: &str, target: &Path| {
            std::os::unix::fs::symlink(target, root.join("data").join(name)).unwrap()
        };
        link("produced", Path::new("../out/s1/v.jsonl"));
        link("later", Path::new("../out/s2/v.jsonl"));
        link("away", &outside.path().join("f"));
        link("up", Path::new("../../../../../../../../../etc/passwd"));
        link("state", Path::new("../.baton/baton.db"));
        link("self", Path::new("self"));
        let paths = RealPaths::new(root);
        let inside = |p: &str| Leads::Inside(p.to_string());
        assert_eq!(paths.leads("data/produced"), inside("out/s1/v.jsonl"));
        assert_eq!(paths.leads("out/s1/v.jsonl"), inside("out/s1/v.jsonl"));
        assert_eq!(paths.leads("data/later"), inside("out/s2/v.jsonl"));
        assert_eq!(paths.leads("data/state"), inside(".baton/baton.db"));
        assert!(matches!(paths.leads("data/away"), Leads::Outside(_)));
        assert!(matches!(paths.leads("data/up"), Leads::Outside(_)));
        assert_eq!(paths.leads("data/self"), Leads::Nowhere);
        assert_eq!(paths.leads("data/missing"), Leads::Nowhere);
    }

    #[test]
    fn a_missing_root_resolves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let paths = RealPaths::new(&dir.path().join("gone"));
        assert!(paths.real_root().is_err());
        assert!(paths.canonicalize("x").is_err());
    }
}
