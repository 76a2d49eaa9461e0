//! What a finished prompt leaves behind: a completion marker next to its answer
//! (`<output>.done.json`: the cache key, the sha256 of the prompt and of the answer, model,
//! tokens, seconds), which a rerun checks before calling anything, and the day's manifest
//! (`.baton/manifests/YYYY-MM-DD.json`, the day in the machine's time zone), which lists
//! every prompt that ended that day with its status and hashes.

use anyhow::{Context, Result};
use baton_core::digest::file_digest;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The marker of a finished prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Marker {
    /// The prompt (stage) id.
    pub prompt: String,
    /// The pipeline.
    pub pipeline: String,
    /// The run that produced the answer.
    pub run: String,
    /// The cache key: rendered prompt, adapter, model, parameters and input digests.
    pub key: String,
    /// sha256 of the rendered prompt.
    pub prompt_sha256: String,
    /// The answer's file, relative to the output directory.
    pub output: String,
    /// sha256 of the answer's file.
    pub output_sha256: String,
    /// The adapter.
    pub adapter: String,
    /// The model asked for (or the one that answered, when the adapter says).
    pub model: Option<String>,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Answer tokens.
    pub output_tokens: u64,
    /// Why the answer ended, as the provider said (`length` or `max_tokens`: cut at the
    /// token limit); absent when the adapter does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    /// Seconds the call took.
    pub seconds: f64,
    /// When it finished, RFC 3339 (UTC).
    pub finished_at: String,
}

/// The marker's file name for answer file `output`.
pub fn marker_name(output: &str) -> String {
    format!("{output}.done.json")
}

/// Writes `marker` next to the answer in `dir` (the staged output directory).
pub fn write(dir: &Path, marker: &Marker) -> Result<()> {
    let path = dir.join(marker_name(&marker.output));
    let text = serde_json::to_string_pretty(marker)?;
    std::fs::write(&path, text + "\n").with_context(|| format!("cannot write {}", path.display()))
}

/// The marker in promoted output directory `dir` when it matches `key` and its answer is
/// still the file it hashed; `None` otherwise (missing, another key, an edited answer).
pub fn matching(dir: &Path, output: &str, key: &str) -> Option<Marker> {
    let marker = read(dir, output)?;
    let digest = file_digest(&dir.join(output)).ok()?;
    (marker.key == key && marker.output_sha256 == digest).then_some(marker)
}

/// The marker of answer `output` in `dir`, if there is a readable one.
pub fn read(dir: &Path, output: &str) -> Option<Marker> {
    let text = std::fs::read_to_string(dir.join(marker_name(output))).ok()?;
    serde_json::from_str(&text).ok()
}

/// One prompt's line in the day's manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The pipeline.
    pub pipeline: String,
    /// The prompt id.
    pub prompt: String,
    /// The last run that ended it.
    pub run: String,
    /// `done`, `cached`, `failed`.
    pub status: String,
    /// The answer's project path (when there is one).
    #[serde(default)]
    pub output: Option<String>,
    /// sha256 of the rendered prompt (when it was rendered).
    #[serde(default)]
    pub prompt_sha256: Option<String>,
    /// sha256 of the answer.
    #[serde(default)]
    pub output_sha256: Option<String>,
    /// Tokens in and out.
    #[serde(default)]
    pub tokens: u64,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// When, RFC 3339 (UTC).
    pub at: String,
}

/// The manifests of a project: `.baton/manifests/`, one file per day, rewritten atomically
/// as prompts end.
pub struct Manifests {
    dir: PathBuf,
    lock: Mutex<()>,
}

/// The manifest document.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Document {
    day: String,
    prompts: BTreeMap<String, Entry>,
}

impl Manifests {
    /// The manifests under `state_dir/manifests`.
    pub fn new(state_dir: &Path) -> Manifests {
        Manifests {
            dir: state_dir.join("manifests"),
            lock: Mutex::new(()),
        }
    }

    /// Today's manifest file (the machine's time zone).
    pub fn today_path(&self) -> PathBuf {
        self.dir.join(format!("{}.json", jiff::Zoned::now().date()))
    }

    /// Records `entry` in today's manifest (replacing the prompt's earlier line of the day).
    pub fn record(&self, entry: Entry) -> Result<()> {
        let _held = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("cannot create {}", self.dir.display()))?;
        let path = self.today_path();
        let mut document: Document = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        document.day = jiff::Zoned::now().date().to_string();
        document
            .prompts
            .insert(format!("{}/{}", entry.pipeline, entry.prompt), entry);
        let temporary = path.with_extension("json.tmp");
        std::fs::write(&temporary, serde_json::to_string_pretty(&document)? + "\n")
            .with_context(|| format!("cannot write {}", temporary.display()))?;
        std::fs::rename(&temporary, &path)
            .with_context(|| format!("cannot replace {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_matches_only_its_key_and_its_unchanged_answer() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.md"), "answer").unwrap();
        let marker = Marker {
            prompt: "a".into(),
            pipeline: "p".into(),
            run: "r".into(),
            key: "k1".into(),
            prompt_sha256: "x".into(),
            output: "a.md".into(),
            output_sha256: file_digest(&dir.path().join("a.md")).unwrap(),
            adapter: "echo".into(),
            model: None,
            input_tokens: 1,
            output_tokens: 2,
            finish_reason: Some("stop".into()),
            seconds: 0.5,
            finished_at: "2026-01-01T00:00:00Z".into(),
        };
        write(dir.path(), &marker).unwrap();
        assert_eq!(matching(dir.path(), "a.md", "k1"), Some(marker));
        assert_eq!(matching(dir.path(), "a.md", "k2"), None);
        std::fs::write(dir.path().join("a.md"), "edited").unwrap();
        assert_eq!(matching(dir.path(), "a.md", "k1"), None);
    }

    #[test]
    fn the_manifest_keeps_one_line_per_prompt() {
        let dir = tempfile::tempdir().unwrap();
        let manifests = Manifests::new(dir.path());
        let entry = |status: &str| Entry {
            pipeline: "p".into(),
            prompt: "a".into(),
            run: "r".into(),
            status: status.into(),
            output: None,
            prompt_sha256: None,
            output_sha256: None,
            tokens: 0,
            detail: String::new(),
            at: "t".into(),
        };
        manifests.record(entry("failed")).unwrap();
        manifests.record(entry("done")).unwrap();
        let text = std::fs::read_to_string(manifests.today_path()).unwrap();
        let document: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(document["prompts"]["p/a"]["status"], "done");
        assert_eq!(document["prompts"].as_object().unwrap().len(), 1);
    }
}
