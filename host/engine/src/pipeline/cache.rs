//! Stage caching: a stage's fingerprint is its definition, its plugin's digest and the digest
//! of every input file; it is skipped as cached when the fingerprint matches its last success
//! and its promoted outputs are still what that success produced. Otherwise the plan says why
//! it runs.

use super::glob;
use super::model::StageDef;
use super::outdir;
use super::realpath::RealPaths;
use anyhow::{Context, Result, bail};
use baton_core::digest::{Hasher, sha256_hex};
use baton_core::digest_cache::DigestCache;
use baton_core::store::StageRecord;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// What a stage's result depends on.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Fingerprint {
    /// SHA-256 of the stage's definition.
    pub definition: String,
    /// Digest of its runner (plugin component, or command line).
    pub plugin: String,
    /// Input path → sha256.
    pub inputs: BTreeMap<String, String>,
}

impl Fingerprint {
    /// The cache key: SHA-256 over the definition, runner and inputs.
    pub fn key(&self) -> String {
        let mut hasher = Hasher::new();
        hasher.update(self.definition.as_bytes());
        hasher.update(self.plugin.as_bytes());
        for (path, digest) in &self.inputs {
            hasher.update(path.as_bytes());
            hasher.update(digest.as_bytes());
        }
        hasher.finish()
    }
}

/// Why a stage runs, or that it is cached.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", content = "reason", rename_all = "kebab-case")]
pub enum Decision {
    /// Its outputs are what its last success produced from the same fingerprint.
    Cached,
    /// It runs, for this reason (`never run`, `input changed: PATH` …).
    Run(String),
}

/// The files input `pattern` of `stage` names now ([`glob::expand`]), except those in the
/// stage's own output directory: a stage never reads what it promoted (a glob such as
/// `**/*.jsonl` would otherwise feed it its previous outputs). The directory is left out
/// both as written and where its symlinks lead.
pub fn input_matches(stage: &StageDef, paths: &RealPaths, pattern: &str) -> Vec<String> {
    let written = stage.output_dir();
    let real = outdir::resolve(paths, &written).unwrap_or_else(|_| written.clone());
    let own = |path: &str| {
        [&written, &real]
            .iter()
            .any(|dir| !dir.is_empty() && outdir::within(path, dir))
    };
    if !glob::is_glob(pattern) {
        // A literal path, as `glob::expand` takes it, through what `paths` remembers.
        return (!glob::hidden(pattern) && paths.is_file(pattern) && !own(pattern))
            .then(|| pattern.to_string())
            .into_iter()
            .collect();
    }
    glob::expand(paths.root(), pattern)
        .into_iter()
        .filter(|path| !own(path))
        .collect()
}

/// The input files of a stage (expanded globs, see [`input_matches`]), as project-relative
/// paths.
pub fn input_files(stage: &StageDef, paths: &RealPaths) -> Vec<String> {
    let mut files: Vec<String> = stage
        .inputs
        .iter()
        .flat_map(|pattern| input_matches(stage, paths, pattern))
        .collect();
    files.sort();
    files.dedup();
    files
}

/// The fingerprint of `stage` now: its definition, its runner's digest, every input's
/// digest (through `digests`, which reads only files whose metadata changed); `paths`
/// resolves the inputs inside the project.
pub fn fingerprint(
    stage: &StageDef,
    paths: &RealPaths,
    plugin_digest: &str,
    digests: &DigestCache,
) -> Result<Fingerprint> {
    let definition = sha256_hex(serde_json::to_string(stage)?.as_bytes());
    let mut inputs = BTreeMap::new();
    paths
        .real_root()
        .with_context(|| format!("cannot resolve the project root {}", paths.root().display()))?;
    for path in input_files(stage, paths) {
        let resolved = paths
            .canonicalize(&path)
            .with_context(|| format!("input `{path}`: cannot resolve it"))?;
        let Some(within) = paths.project_path(&resolved) else {
            bail!(
                "input `{path}` is a symlink to {}, outside the project: copy the file into the project, or point the link inside it",
                resolved.display()
            );
        };
        if glob::hidden(&within) {
            bail!(
                "input `{path}` is a symlink to `{within}`: Baton's state (`.baton/`), Git's (`.git/`) and promotion markers are never inputs"
            );
        }
        let digest = paths.digest(digests, &resolved)?;
        inputs.insert(path, digest);
    }
    Ok(Fingerprint {
        definition,
        plugin: plugin_digest.to_string(),
        inputs,
    })
}

impl Fingerprint {
    /// The stage-cache record of a success with this fingerprint.
    pub fn record(
        &self,
        pipeline: &str,
        stage: &str,
        outputs: BTreeMap<String, String>,
        run_id: &str,
    ) -> StageRecord {
        StageRecord {
            pipeline: pipeline.to_string(),
            stage: stage.to_string(),
            key: self.key(),
            definition: self.definition.clone(),
            plugin: self.plugin.clone(),
            inputs: self.inputs.clone(),
            outputs,
            run_id: run_id.to_string(),
        }
    }
}

/// Whether the stage can be skipped, or why it must run (outputs checked through `digests`).
pub fn decide(
    current: &Fingerprint,
    last: Option<&StageRecord>,
    root: &Path,
    digests: &DigestCache,
) -> Decision {
    let Some(previous) = last else {
        return Decision::Run("never run".into());
    };
    if previous.definition != current.definition {
        return Decision::Run("definition changed".into());
    }
    if previous.plugin != current.plugin {
        return Decision::Run("plugin changed".into());
    }
    for (path, digest) in &current.inputs {
        match previous.inputs.get(path) {
            None => return Decision::Run(format!("input added: {path}")),
            Some(old) if old != digest => return Decision::Run(format!("input changed: {path}")),
            _ => {}
        }
    }
    if let Some(path) = previous
        .inputs
        .keys()
        .find(|p| !current.inputs.contains_key(*p))
    {
        return Decision::Run(format!("input removed: {path}"));
    }
    for (path, digest) in &previous.outputs {
        let now = digests.digest(&root.join(path)).ok();
        if now.as_deref() != Some(digest) {
            return Decision::Run(format!("output missing or changed: {path}"));
        }
    }
    Decision::Cached
}
