//! `baton compare A B`: two sets of outputs by SHA-256 — two pipeline runs (each stage's
//! outputs after the run, as its job recorded them; a stage only one of the runs included,
//! as with `--only`, is listed as not compared) or two directories (every file under each,
//! by relative path, without following symlinks; Baton's `.baton-output` markers and
//! `.baton/`, `.git/` directories left out) — and which paths are missing from B, extra in
//! B, or different.

use anyhow::{Context, Result, bail};
use baton_core::digest::file_digest;
use baton_core::store::StoreRead;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Path → SHA-256 (lowercase hex).
pub type Digests = BTreeMap<String, String>;

/// Outputs by stage (a directory is one group named `""`).
pub type Outputs = BTreeMap<String, Digests>;

/// A path whose content differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Changed {
    /// The path.
    pub path: String,
    /// Its SHA-256 in A.
    pub a: String,
    /// Its SHA-256 in B.
    pub b: String,
}

/// How B differs from A.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Comparison {
    /// In A, not in B.
    pub missing: Vec<String>,
    /// In B, not in A.
    pub extra: Vec<String>,
    /// In both, with different content.
    pub different: Vec<Changed>,
    /// In both, the same.
    pub same: usize,
    /// Stages only one of the runs included: their outputs were not compared.
    pub not_compared: Vec<String>,
}

impl Comparison {
    /// Whether A and B hold the same paths with the same content.
    pub fn is_same(&self) -> bool {
        self.missing.is_empty() && self.extra.is_empty() && self.different.is_empty()
    }
}

/// Compares the groups both sides have, path by path; groups only one side has are
/// listed as not compared.
pub fn compare(a: &Outputs, b: &Outputs) -> Comparison {
    let mut out = Comparison::default();
    for (group, left) in a {
        let Some(right) = b.get(group) else {
            out.not_compared.push(group.clone());
            continue;
        };
        for (path, digest) in left {
            match right.get(path) {
                None => out.missing.push(path.clone()),
                Some(other) if other != digest => out.different.push(Changed {
                    path: path.clone(),
                    a: digest.clone(),
                    b: other.clone(),
                }),
                Some(_) => out.same += 1,
            }
        }
        out.extra.extend(
            right
                .keys()
                .filter(|path| !left.contains_key(*path))
                .cloned(),
        );
    }
    out.not_compared
        .extend(b.keys().filter(|group| !a.contains_key(*group)).cloned());
    out.not_compared.sort();
    out
}

/// Every file under `dir` by relative path (`/`-separated), as one group.
///
/// Errors: `dir` is not a directory, or a file cannot be read (named).
pub fn of_dir(dir: &Path) -> Result<Outputs> {
    if !dir.is_dir() {
        bail!("{} is not a directory", dir.display());
    }
    let mut digests = Digests::new();
    let walk = walkdir::WalkDir::new(dir)
        .follow_links(false)
        .into_iter()
        .filter_entry(|e| {
            !(e.file_type().is_dir() && matches!(e.file_name().to_str(), Some(".baton" | ".git")))
        });
    for entry in walk {
        let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
        if !entry.file_type().is_file() || entry.file_name() == ".baton-output" {
            continue;
        }
        let relative = entry
            .path()
            .strip_prefix(dir)
            .unwrap_or(entry.path())
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        digests.insert(relative, file_digest(entry.path())?);
    }
    Ok([(String::new(), digests)].into())
}

/// The outputs of pipeline run `run_id` after it, by stage: each stage job's recorded
/// digests (a stage that did not end done has none).
///
/// Errors: no such run, or a job's recorded digests cannot be read.
pub fn of_run(store: &dyn StoreRead, run_id: &str) -> Result<Outputs> {
    if store.run(run_id)?.is_none() {
        bail!("no pipeline run `{run_id}` in the store (see `baton queue stats` or .baton/runs/)");
    }
    let mut outputs = Outputs::new();
    for key in store.run_job_keys(run_id)? {
        let Some(job) = store.job(&key)? else {
            continue;
        };
        let Some(recorded) = job.result.as_ref().and_then(|r| r.get("digests")) else {
            continue;
        };
        let map: Digests = serde_json::from_value(recorded.clone())
            .with_context(|| format!("job `{key}` recorded unreadable digests"))?;
        let stage = key
            .rsplit_once('/')
            .map_or(key.as_str(), |(_, stage)| stage);
        outputs.insert(stage.to_string(), map);
    }
    Ok(outputs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_extra_and_different_are_told_apart() {
        let digests = |pairs: &[(&str, &str)]| -> Digests {
            pairs
                .iter()
                .map(|(p, d)| (p.to_string(), d.to_string()))
                .collect()
        };
        let a: Outputs = [
            (
                "s".to_string(),
                digests(&[("x", "1"), ("y", "2"), ("z", "3")]),
            ),
            ("only-a".to_string(), digests(&[("q", "1")])),
        ]
        .into();
        let b: Outputs = [(
            "s".to_string(),
            digests(&[("x", "1"), ("y", "9"), ("w", "4")]),
        )]
        .into();
        let c = compare(&a, &b);
        assert_eq!(c.missing, ["z"]);
        assert_eq!(c.extra, ["w"]);
        assert_eq!(c.different[0].path, "y");
        assert_eq!(c.same, 1);
        assert_eq!(c.not_compared, ["only-a"]);
        assert!(!c.is_same());
        assert!(compare(&a, &a).is_same());
    }
}
