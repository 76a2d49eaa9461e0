//! Pipeline files: `pipelines/*.toml` in the project, each a set of `[[stage]]` tables and
//! optional `[pipelines.NAME]` selections. Keeps the file and line of every stage so errors can
//! point at them.

use super::outdir;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The directory Baton reads pipeline files from, relative to the project root.
pub const PIPELINE_DIR: &str = "pipelines";

/// One `[[stage]]` table.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct StageDef {
    /// Unique within the pipeline file.
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// What the stage does, for `pipeline describe`.
    pub description: Option<String>,
    /// A stage plugin, by configured (or bundled) name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<String>,
    /// A trusted native command instead of a plugin (needs `pipeline.allow-commands`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Project paths or globs this stage reads.
    #[serde(default)]
    pub inputs: Vec<String>,
    /// Files (or globs) the stage writes, relative to its output directory.
    #[serde(default)]
    pub outputs: Vec<String>,
    /// Where its outputs are promoted, relative to the project (default `out/<id>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_dir: Option<String>,
    /// Stages that must succeed first (besides those whose outputs it reads).
    #[serde(default)]
    pub needs: Vec<String>,
    #[serde(default)]
    /// Handed to the plugin as JSON.
    pub params: toml::Table,
    /// Extra attempts after a failure.
    #[serde(default)]
    pub retries: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Wall-clock bound on one attempt, e.g. `10m`.
    pub timeout: Option<String>,
    /// Limiter keys this stage holds while it runs, e.g. `resolver:gpu`.
    #[serde(default)]
    pub limits: Vec<String>,
    /// JSON Schema per output: output file → schema path (project-relative).
    #[serde(default)]
    pub schemas: BTreeMap<String, String>,
    /// Variables from `--env-file` this stage receives (the plugin must ask for them).
    #[serde(default)]
    pub env: Vec<String>,
    /// An agent adapter (a configured plugin of the agent world) runs this stage as a
    /// prompt; see [`crate::agents`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// The prompt text, a MiniJinja template over the stage's inputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// A project file holding the prompt template (instead of `prompt`); an implied input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// The model the adapter is asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Sampling temperature handed to the adapter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Longest answer, in tokens, handed to the adapter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    /// Prompts naming the same session run in file order in one conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// Every prompt of wave N waits for every prompt of the wave before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wave: Option<u32>,
    /// How many prompts of its wave run at once: `sequential` (1), `low` (2), `medium` (4),
    /// `high` (8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<String>,
    /// The file the answer is written to, in the output directory (default `<id>.md`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

impl StageDef {
    /// Where its outputs are promoted: `output-dir`, or `out/<id>`, normalized (no `.` or
    /// empty segments, no trailing `/`; see [`outdir::normalize`]). Validation refuses
    /// directories that are not the stage's to replace ([`outdir::check`]).
    pub fn output_dir(&self) -> String {
        match &self.output_dir {
            Some(dir) => outdir::normalize(dir),
            None => format!("out/{}", self.id),
        }
    }
}

/// `[pipelines.NAME]`: a named selection of the file's stages.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PipelineDef {
    #[serde(default)]
    /// What the selection is for.
    pub description: Option<String>,
    /// The stage ids it runs (with what they need).
    pub stages: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileModel {
    #[serde(default)]
    stage: Vec<toml::Spanned<StageDef>>,
    #[serde(default)]
    pipelines: BTreeMap<String, toml::Spanned<PipelineDef>>,
}

/// A stage with where it was defined.
#[derive(Debug, Clone)]
pub struct Located<T> {
    /// The parsed value.
    pub value: T,
    /// The file it came from.
    pub file: PathBuf,
    /// Its 1-based line.
    pub line: usize,
}

impl<T> Located<T> {
    /// `pipelines/x.toml:12`
    pub fn at(&self) -> String {
        format!("{}:{}", self.file.display(), self.line)
    }
}

/// One pipeline file.
#[derive(Debug, Clone)]
pub struct PipelineFile {
    /// The file.
    pub path: PathBuf,
    /// Its `[[stage]]` tables.
    pub stages: Vec<Located<StageDef>>,
    /// Its `[pipelines.NAME]` selections.
    pub pipelines: BTreeMap<String, Located<PipelineDef>>,
}

/// Line numbers of byte offsets, from the positions of the newlines (found once), and the
/// number of the last line.
struct Lines(Vec<usize>, usize);

impl Lines {
    fn new(text: &str) -> Lines {
        let newlines: Vec<usize> = text.match_indices('\n').map(|(i, _)| i).collect();
        let last = newlines.len() + usize::from(!text.is_empty() && !text.ends_with('\n'));
        Lines(newlines, last.max(1))
    }

    /// The line of `offset`; the end of a text ending in a newline is on its last line.
    fn of(&self, offset: usize) -> usize {
        (self.0.partition_point(|&newline| newline < offset) + 1).min(self.1)
    }
}

/// Parses one file; `shown` is the path used in messages.
pub fn parse(text: &str, shown: &Path) -> Result<PipelineFile, String> {
    let lines = Lines::new(text);
    let model: FileModel = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| lines.of(s.start)).unwrap_or(0);
        format!("{}:{line}: {}", shown.display(), e.message())
    })?;
    let located = |span: std::ops::Range<usize>| lines.of(span.start);
    Ok(PipelineFile {
        path: shown.to_path_buf(),
        stages: model
            .stage
            .into_iter()
            .map(|s| {
                let line = located(s.span());
                Located {
                    value: s.into_inner(),
                    file: shown.to_path_buf(),
                    line,
                }
            })
            .collect(),
        pipelines: model
            .pipelines
            .into_iter()
            .map(|(name, p)| {
                let line = located(p.span());
                (
                    name,
                    Located {
                        value: p.into_inner(),
                        file: shown.to_path_buf(),
                        line,
                    },
                )
            })
            .collect(),
    })
}

/// Every pipeline file of the project, sorted by name; parse errors (and text that is not
/// UTF-8, by its first line that is not) are collected.
pub fn load_all(root: &Path) -> Result<(Vec<PipelineFile>, Vec<String>)> {
    let dir = root.join(PIPELINE_DIR);
    let mut files = Vec::new();
    let mut errors = Vec::new();
    if !dir.is_dir() {
        return Ok((files, errors));
    }
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    for path in paths {
        let shown = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
        let bytes =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        match String::from_utf8(bytes) {
            Ok(text) => match parse(&text, &shown) {
                Ok(file) => files.push(file),
                Err(e) => errors.push(e),
            },
            Err(e) => {
                let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
                let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
                errors.push(format!("{}:{line}: not UTF-8 text", shown.display()));
            }
        }
    }
    Ok((files, errors))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by `properties::pipeline`: an error at the end of a file ending in a newline
    /// named the line after the last, and a file that was not UTF-8 stopped the loading of
    /// every file without naming a line.
    #[test]
    fn errors_name_a_line_of_the_file() {
        let error = parse("'''\n", Path::new("pipelines/p.toml")).unwrap_err();
        assert!(error.starts_with("pipelines/p.toml:1: "), "{error}");
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(PIPELINE_DIR)).unwrap();
        std::fs::write(dir.path().join("pipelines/a.toml"), b"# ok\n# \xff\n").unwrap();
        std::fs::write(
            dir.path().join("pipelines/b.toml"),
            "[[stage]]\nid = \"s\"\n",
        )
        .unwrap();
        let (files, errors) = load_all(dir.path()).unwrap();
        assert_eq!(errors, ["pipelines/a.toml:2: not UTF-8 text"]);
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].stages[0].line, 1);
    }
}
