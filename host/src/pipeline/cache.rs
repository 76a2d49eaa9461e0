//! Stage caching: a stage's fingerprint is its definition, its plugin's digest and the digest
//! of every input file; it is skipped as cached when the fingerprint matches its last success
//! and its promoted outputs are still what that success produced. Otherwise the plan says why
//! it runs.

use super::glob;
use super::model::StageDef;
use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

/// What a stage's result depends on.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Fingerprint {
    pub definition: String,
    pub plugin: String,
    /// Input path → sha256.
    pub inputs: BTreeMap<String, String>,
}

impl Fingerprint {
    pub fn key(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(self.definition.as_bytes());
        hasher.update(self.plugin.as_bytes());
        for (path, digest) in &self.inputs {
            hasher.update(path.as_bytes());
            hasher.update(digest.as_bytes());
        }
        hex::encode(hasher.finalize())
    }
}

/// Why a stage runs, or that it is cached.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", content = "reason", rename_all = "kebab-case")]
pub enum Decision {
    Cached,
    Run(String),
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The input files of a stage (expanded globs), as project-relative paths.
pub fn input_files(stage: &StageDef, root: &Path) -> Vec<String> {
    let mut files: Vec<String> = stage
        .inputs
        .iter()
        .flat_map(|pattern| glob::expand(root, pattern))
        .collect();
    files.sort();
    files.dedup();
    files
}

pub fn fingerprint(stage: &StageDef, root: &Path, plugin_digest: &str) -> Result<Fingerprint> {
    let definition = sha256_hex(serde_json::to_string(stage)?.as_bytes());
    let mut inputs = BTreeMap::new();
    for path in input_files(stage, root) {
        let digest = crate::runtime::stage_io::file_digest(&root.join(&path))?;
        inputs.insert(path, digest);
    }
    Ok(Fingerprint {
        definition,
        plugin: plugin_digest.to_string(),
        inputs,
    })
}

/// The last success of a stage.
#[derive(Debug, Clone)]
pub struct LastSuccess {
    pub fingerprint: Fingerprint,
    /// Promoted output path (project-relative) → sha256.
    pub outputs: BTreeMap<String, String>,
    pub run_id: String,
}

pub fn last_success(conn: &Connection, pipeline: &str, stage: &str) -> Result<Option<LastSuccess>> {
    let row: Option<(String, String, String, String, String)> = conn
        .query_row(
            "SELECT definition, plugin, inputs, outputs, run_id FROM stage_cache
             WHERE pipeline = ?1 AND stage = ?2",
            params![pipeline, stage],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .optional()?;
    let Some((definition, plugin, inputs, outputs, run_id)) = row else {
        return Ok(None);
    };
    Ok(Some(LastSuccess {
        fingerprint: Fingerprint {
            definition,
            plugin,
            inputs: serde_json::from_str(&inputs).context("corrupt stage cache")?,
        },
        outputs: serde_json::from_str(&outputs).context("corrupt stage cache")?,
        run_id,
    }))
}

pub fn record_success(
    conn: &Connection,
    pipeline: &str,
    stage: &str,
    fingerprint: &Fingerprint,
    outputs: &BTreeMap<String, String>,
    run_id: &str,
) -> Result<()> {
    conn.execute(
        "INSERT INTO stage_cache (pipeline, stage, key, definition, plugin, inputs, outputs, run_id, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (pipeline, stage) DO UPDATE SET key = excluded.key,
             definition = excluded.definition, plugin = excluded.plugin, inputs = excluded.inputs,
             outputs = excluded.outputs, run_id = excluded.run_id, at = excluded.at",
        params![
            pipeline,
            stage,
            fingerprint.key(),
            fingerprint.definition,
            fingerprint.plugin,
            serde_json::to_string(&fingerprint.inputs)?,
            serde_json::to_string(outputs)?,
            run_id,
            crate::queue::model::now_ms()
        ],
    )?;
    Ok(())
}

/// Whether the stage can be skipped, or why it must run.
pub fn decide(current: &Fingerprint, last: Option<&LastSuccess>, root: &Path) -> Decision {
    let Some(last) = last else {
        return Decision::Run("never run".into());
    };
    let previous = &last.fingerprint;
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
    for (path, digest) in &last.outputs {
        let now = crate::runtime::stage_io::file_digest(&root.join(path)).ok();
        if now.as_deref() != Some(digest) {
            return Decision::Run(format!("output missing or changed: {path}"));
        }
    }
    Decision::Cached
}
