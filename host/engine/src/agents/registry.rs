//! Prompt registries: a TSV file with a header row and one prompt per row, as teams keep
//! them in spreadsheets, read with the `csv` crate (tab-delimited, quoted fields allowed).
//! Columns (header names are case-insensitive; `-` and `_` are the same): `id` (or
//! `prompt_id`), `agent`, `prompt` or `template`, and optionally `model`, `temperature`,
//! `max-tokens`, `retries`, `session`, `wave`, `concurrency`, `output`, `inputs` and `needs`
//! (comma-separated), `description`, `timeout`. `validate` checks every row as a pipeline
//! stage and reports every problem with its file, line and column; `import` writes the
//! prompts as a pipeline file.

use crate::pipeline::model::{Located, PipelineFile, StageDef};
use std::collections::BTreeMap;
use std::path::Path;

/// The columns a registry may have, by canonical name.
pub const COLUMNS: &[&str] = &[
    "id",
    "agent",
    "prompt",
    "template",
    "model",
    "temperature",
    "max-tokens",
    "retries",
    "session",
    "wave",
    "concurrency",
    "output",
    "inputs",
    "needs",
    "description",
    "timeout",
];

/// A registry read into pipeline stages, each located at its row.
#[derive(Debug)]
pub struct Registry {
    /// The prompts, in row order.
    pub stages: Vec<Located<StageDef>>,
}

fn canonical(header: &str) -> String {
    let name = header.trim().to_ascii_lowercase().replace('_', "-");
    match name.as_str() {
        "prompt-id" | "prompt id" => "id".into(),
        _ => name,
    }
}

/// Reads registry `text` (shown as `shown` in messages); every problem (unknown or
/// missing columns, a row with too many or too few fields, a value that does not parse)
/// with its line, column and what to do.
pub fn read(text: &str, shown: &Path) -> Result<Registry, Vec<String>> {
    let file = shown.display().to_string();
    let mut problems = Vec::new();
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(b'\t')
        .has_headers(true)
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(canonical).collect(),
        Err(e) => return Err(vec![format!("{file}:1: cannot read the header row: {e}")]),
    };
    for (n, name) in headers.iter().enumerate() {
        if !COLUMNS.contains(&name.as_str()) {
            problems.push(format!(
                "{file}:1: column {} `{name}` is not a registry column; use: {}",
                n + 1,
                COLUMNS.join(", ")
            ));
        }
        if headers[..n].contains(name) {
            problems.push(format!("{file}:1: column {} `{name}` appears twice", n + 1));
        }
    }
    for required in ["id", "agent"] {
        if !headers.iter().any(|h| h == required) {
            problems.push(format!(
                "{file}:1: the header has no `{required}` column (tab-separated; the first row names the columns)"
            ));
        }
    }
    if !headers.iter().any(|h| h == "prompt" || h == "template") {
        problems.push(format!(
            "{file}:1: the header has neither a `prompt` nor a `template` column"
        ));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut stages = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(record) => record,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                problems.push(format!("{file}:{line}: cannot read the row: {e}"));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line()) as usize;
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        if record.len() != headers.len() {
            problems.push(format!(
                "{file}:{line}: {} fields where the header has {} columns; separate fields with one tab each (a tab inside a prompt needs quotes)",
                record.len(),
                headers.len()
            ));
            continue;
        }
        let mut fields: BTreeMap<&str, (usize, &str)> = BTreeMap::new();
        for (n, value) in record.iter().enumerate() {
            if !value.trim().is_empty() {
                fields.insert(headers[n].as_str(), (n + 1, value));
            }
        }
        match stage_of(&fields) {
            Ok(stage) => stages.push(Located {
                value: stage,
                file: shown.to_path_buf(),
                line,
            }),
            Err(errors) => {
                problems.extend(errors.into_iter().map(|e| format!("{file}:{line}: {e}")))
            }
        }
    }
    if problems.is_empty() {
        Ok(Registry { stages })
    } else {
        Err(problems)
    }
}

/// One row as a stage; errors name the column.
fn stage_of(fields: &BTreeMap<&str, (usize, &str)>) -> Result<StageDef, Vec<String>> {
    let mut errors = Vec::new();
    let text = |name: &str| fields.get(name).map(|(_, v)| v.trim().to_string());
    let list = |name: &str| {
        text(name)
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    fn number<T: std::str::FromStr>(
        fields: &BTreeMap<&str, (usize, &str)>,
        name: &str,
        what: &str,
        errors: &mut Vec<String>,
    ) -> Option<T> {
        let (column, value) = fields.get(name)?;
        match value.trim().parse() {
            Ok(v) => Some(v),
            Err(_) => {
                errors.push(format!(
                    "column {column} `{name}`: `{}` is not {what}",
                    value.trim()
                ));
                None
            }
        }
    }
    let temperature = number::<f64>(fields, "temperature", "a number (e.g. 0.2)", &mut errors);
    let max_tokens = number::<u64>(fields, "max-tokens", "a whole number", &mut errors);
    let retries = number::<u32>(fields, "retries", "a whole number", &mut errors);
    let wave = number::<u32>(fields, "wave", "a whole number", &mut errors);
    let Some(id) = text("id") else {
        errors.push("the `id` column is empty; every prompt needs an id".into());
        return Err(errors);
    };
    if text("agent").is_none() {
        errors.push(format!(
            "prompt `{id}`: the `agent` column is empty; name a configured agent adapter"
        ));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(StageDef {
        id,
        description: text("description"),
        plugin: None,
        command: None,
        inputs: list("inputs"),
        outputs: Vec::new(),
        output_dir: None,
        needs: list("needs"),
        params: toml::Table::new(),
        retries: retries.unwrap_or(0),
        timeout: text("timeout"),
        limits: Vec::new(),
        schemas: BTreeMap::new(),
        env: Vec::new(),
        agent: text("agent"),
        prompt: fields.get("prompt").map(|(_, v)| v.to_string()),
        template: text("template"),
        model: text("model"),
        temperature,
        max_tokens,
        session: text("session"),
        wave,
        concurrency: text("concurrency"),
        output: text("output"),
    })
}

/// The registry as an in-memory pipeline file (its stages keep their rows' places, so
/// validation names the registry's lines).
pub fn as_pipeline(registry: &Registry, shown: &Path) -> PipelineFile {
    PipelineFile {
        path: shown.to_path_buf(),
        stages: registry.stages.clone(),
        pipelines: BTreeMap::new(),
    }
}

/// The first line of every pipeline file `import` writes: Baton replaces a file only when
/// it starts with it.
pub const GENERATED: &str = "# Generated by `baton agent registry import`";

/// The pipeline file text of `registry` (imported from `source`).
pub fn to_toml(registry: &Registry, source: &str) -> anyhow::Result<String> {
    #[derive(serde::Serialize)]
    struct File<'a> {
        stage: Vec<&'a StageDef>,
    }
    let body = toml::to_string(&File {
        stage: registry.stages.iter().map(|s| &s.value).collect(),
    })?;
    Ok(format!(
        "{GENERATED} from {source}; edit the registry and import again, or remove this line to keep edits.\n\n{body}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_become_prompts_and_errors_name_line_and_column() {
        let text = "prompt_id\tagent\tprompt\twave\ttemperature\tinputs\n\
                    a\tgemini\t\"Say\thi\"\t1\t0.2\t\n\
                    b\tgemini\tUse {{ inputs['out/a/a.md'] }}\t2\t\tout/a/a.md\n";
        let registry = read(text, Path::new("prompts.tsv")).unwrap();
        assert_eq!(registry.stages.len(), 2);
        assert_eq!(registry.stages[0].value.prompt.as_deref(), Some("Say\thi"));
        assert_eq!(registry.stages[1].line, 3);
        assert_eq!(registry.stages[1].value.inputs, ["out/a/a.md"]);
        let toml = to_toml(&registry, "prompts.tsv").unwrap();
        assert!(toml.starts_with(GENERATED));
        let back = crate::pipeline::model::parse(&toml, Path::new("pipelines/p.toml")).unwrap();
        assert_eq!(back.stages[1].value, registry.stages[1].value);

        let bad = "id\tagent\tprompt\twave\n x\tgemini\thi\tlater\ny\tgemini\n";
        let errors = read(bad, Path::new("prompts.tsv")).unwrap_err();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors[0].starts_with("prompts.tsv:2: column 4 `wave`: `later`"),
            "{}",
            errors[0]
        );
        assert!(
            errors[1].starts_with("prompts.tsv:3: 2 fields where the header has 4"),
            "{}",
            errors[1]
        );
        let errors = read("name\tprompt\n", Path::new("r.tsv")).unwrap_err();
        assert!(
            errors[0].contains("column 1 `name` is not a registry column"),
            "{errors:?}"
        );
    }
}
