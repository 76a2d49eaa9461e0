//! A stage's view of the file system for one call: its inputs read-only under `/inputs` and a
//! fresh output directory read-write at `/output`, nothing else. File inputs are hard-linked
//! (or copied across devices) into a private staging directory, so a stage never sees the
//! siblings of its inputs.

use super::bindings::types::StageInput;
use super::preopen::Preopen;
use anyhow::{Context, Result, bail};
use baton_core::digest::{file_digest, tree_digest};
use std::path::{Path, PathBuf};

/// Guest directory of a stage's inputs (read-only); the input named `n` is `/inputs/n`.
pub const GUEST_INPUTS: &str = "/inputs";
/// Guest path of a stage's output directory (read-write), passed as `stage-context.output-dir`.
pub const GUEST_OUTPUT: &str = "/output";

/// Inputs and output of one stage call; the staging directory goes away when dropped.
pub struct StagedIo {
    staging: tempfile::TempDir,
    inputs: Vec<StageInput>,
    directory_inputs: Vec<(PathBuf, String)>,
    output: PathBuf,
}

impl StagedIo {
    /// Stages `inputs` (name, host path) under `work_dir` and uses `output` (created if
    /// missing, and required to be empty) as the output directory.
    pub fn prepare(work_dir: &Path, inputs: &[(String, PathBuf)], output: &Path) -> Result<Self> {
        std::fs::create_dir_all(work_dir)
            .with_context(|| format!("cannot create {}", work_dir.display()))?;
        let staging = tempfile::Builder::new()
            .prefix("stage-inputs-")
            .tempdir_in(work_dir)
            .with_context(|| {
                format!(
                    "cannot create a staging directory in {}",
                    work_dir.display()
                )
            })?;
        let mut staged = Vec::new();
        let mut directory_inputs = Vec::new();
        for (name, host) in inputs {
            if name.is_empty()
                || name.starts_with('/')
                || name
                    .split('/')
                    .any(|part| part.is_empty() || part == "." || part == "..")
            {
                bail!("input name `{name}` must be a relative path without `.` or `..`");
            }
            let meta = std::fs::metadata(host)
                .with_context(|| format!("input `{name}`: cannot read {}", host.display()))?;
            let guest = format!("{GUEST_INPUTS}/{name}");
            let digest = if meta.is_dir() {
                directory_inputs.push((host.clone(), guest.clone()));
                tree_digest(host)?
            } else {
                let target = staging.path().join(name);
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                // A symlinked input is read through: the file it names is staged (the sandbox
                // would refuse to follow a link).
                let source = std::fs::canonicalize(host).with_context(|| {
                    format!("input `{name}`: cannot resolve {}", host.display())
                })?;
                if std::fs::hard_link(&source, &target).is_err() {
                    std::fs::copy(&source, &target).with_context(|| {
                        format!("input `{name}`: cannot stage {}", source.display())
                    })?;
                }
                file_digest(&source)?
            };
            staged.push(StageInput {
                name: name.clone(),
                path: guest,
                digest,
            });
        }
        std::fs::create_dir_all(output)
            .with_context(|| format!("cannot create output directory {}", output.display()))?;
        if std::fs::read_dir(output)?.next().is_some() {
            bail!("output directory {} is not empty", output.display());
        }
        Ok(StagedIo {
            staging,
            inputs: staged,
            directory_inputs,
            output: output.to_path_buf(),
        })
    }

    /// The inputs as the stage sees them: name, guest path and sha256 hex (WIT `stage-input`).
    pub fn guest_inputs(&self) -> Vec<StageInput> {
        self.inputs.clone()
    }

    /// The output directory's guest path, always [`GUEST_OUTPUT`].
    pub fn guest_output_dir(&self) -> &'static str {
        GUEST_OUTPUT
    }

    /// The output directory on the host, as given to [`StagedIo::prepare`].
    pub fn output_dir(&self) -> &Path {
        &self.output
    }

    /// The directories to preopen for the call.
    pub fn preopens(&self) -> Vec<Preopen> {
        let mut preopens = vec![
            Preopen {
                host: self.staging.path().to_path_buf(),
                guest: GUEST_INPUTS.to_string(),
                writable: false,
            },
            Preopen {
                host: self.output.clone(),
                guest: GUEST_OUTPUT.to_string(),
                writable: true,
            },
        ];
        preopens.extend(self.directory_inputs.iter().map(|(host, guest)| Preopen {
            host: host.clone(),
            guest: guest.clone(),
            writable: false,
        }));
        preopens
    }
}
