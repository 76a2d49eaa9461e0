//! Rendering a prompt: the stage's `prompt` text or `template` file, a MiniJinja template
//! over its inputs. The template sees `inputs["PATH"]` (each input file's text: other
//! prompts' answers, data files), `data["PATH"]` (a `.json` input's document, or the list of
//! a `.jsonl` input's values), `stage` (its id) and `model`. Blocks on lines of their own
//! leave no blank line (`trim_blocks`, `lstrip_blocks`); an undefined name is an error
//! naming the template and line; inputs can be included by path. Nothing is escaped.

use anyhow::{Context, Result, anyhow};
use minijinja::syntax::SyntaxConfig;
use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// The prompt of stage `id`: `text` (inline) or the template file `template` (a project
/// path), rendered over `inputs` (project path → file on disk). Errors name the template
/// (`prompt of `id`` or its file) and the line.
pub fn render(
    id: &str,
    model: Option<&str>,
    text: Option<&str>,
    template: Option<&str>,
    inputs: &[(String, std::path::PathBuf)],
) -> Result<String> {
    let mut texts: BTreeMap<String, String> = BTreeMap::new();
    let mut data: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    for (name, path) in inputs {
        let bytes = std::fs::read(path).with_context(|| format!("input `{name}`: cannot read"))?;
        let content = String::from_utf8(bytes).map_err(|_| {
            anyhow!("input `{name}` is not UTF-8 text; a prompt can only quote text")
        })?;
        if let Some(value) = parsed(name, &content)? {
            data.insert(name.clone(), value);
        }
        texts.insert(name.clone(), content);
    }
    let (name, source) = match (text, template) {
        (Some(text), _) => (format!("prompt of `{id}`"), text.to_string()),
        (None, Some(file)) => (
            file.to_string(),
            texts
                .get(file)
                .cloned()
                .ok_or_else(|| anyhow!("template `{file}` of prompt `{id}` cannot be read"))?,
        ),
        (None, None) => return Err(anyhow!("prompt `{id}` has no text and no template")),
    };
    let mut env = environment()?;
    let loadable = texts.clone();
    let texts: Vec<(String, String)> = texts.into_iter().collect();
    env.set_loader(move |path| Ok(loadable.get(path).cloned()));
    env.add_template_owned(name.clone(), source)
        .map_err(|e| anyhow!(describe(&e)))?;
    let context = minijinja::context! {
        inputs => Value::from_pairs(texts.into_iter()),
        data => Value::from_pairs(data.into_iter().map(|(k, v)| (k, json_value(v)))),
        stage => id,
        model => model,
    };
    env.get_template(&name)
        .and_then(|t| t.render(context))
        .map_err(|e| anyhow!(describe(&e)))
}

/// The template environment every prompt renders in: blocks on their own lines leave no
/// blank line, nothing is escaped, an undefined name is an error.
fn environment() -> Result<Environment<'static>> {
    let mut env = Environment::new();
    let syntax = SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .keep_trailing_newline(true)
        .build()
        .map_err(|e| anyhow!("cannot configure the template syntax: {e}"))?;
    env.set_syntax(syntax);
    env.set_debug(true);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    Ok(env)
}

/// Whether `source` parses as a prompt template, so a syntax error is found when the
/// pipeline is validated rather than when the prompt runs. The error gives the line within
/// the template (`line 2: unexpected end of input`).
pub fn check_syntax(source: &str) -> Result<(), String> {
    let mut env = environment().map_err(|e| e.to_string())?;
    env.add_template_owned("the prompt text", source.to_string())
        .map(|_| ())
        .map_err(|e| describe(&e))
}

/// A JSON value as a template value (object keys kept in their order).
fn json_value(value: serde_json::Value) -> Value {
    use serde_json::Value as Json;
    match value {
        Json::Null => Value::from(()),
        Json::Bool(flag) => Value::from(flag),
        Json::Number(number) => match (number.as_i64(), number.as_u64()) {
            (Some(integer), _) => Value::from(integer),
            (None, Some(integer)) => Value::from(integer),
            _ => Value::from(number.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(text) => Value::from(text),
        Json::Array(items) => Value::from(items.into_iter().map(json_value).collect::<Vec<_>>()),
        Json::Object(map) => Value::from_pairs(map.into_iter().map(|(k, v)| (k, json_value(v)))),
    }
}

/// A `.json` input's document, a `.jsonl` input's values; `None` for other files.
fn parsed(name: &str, content: &str) -> Result<Option<serde_json::Value>> {
    let extension = Path::new(name).extension().and_then(|e| e.to_str());
    match extension {
        Some("json") => serde_json::from_str(content)
            .map(Some)
            .with_context(|| format!("input `{name}` is not JSON")),
        Some("jsonl") => content
            .lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(n, line)| {
                serde_json::from_str(line)
                    .with_context(|| format!("input `{name}`: line {}: not JSON", n + 1))
            })
            .collect::<Result<Vec<_>>>()
            .map(|values| Some(serde_json::Value::Array(values))),
        _ => Ok(None),
    }
}

/// `TEMPLATE: line L: what went wrong`, for the innermost template error.
fn describe(error: &minijinja::Error) -> String {
    use std::error::Error as _;
    let mut innermost = error;
    while let Some(next) = innermost
        .source()
        .and_then(|s| s.downcast_ref::<minijinja::Error>())
    {
        innermost = next;
    }
    let place = match (innermost.name(), innermost.line()) {
        (Some(name), Some(line)) => format!("{name}: line {line}: "),
        (Some(name), None) => format!("{name}: "),
        _ => String::new(),
    };
    let detail = innermost
        .detail()
        .map(|d| format!(": {d}"))
        .unwrap_or_default();
    format!("{place}{}{detail}", innermost.kind())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_quote_other_answers_and_data_and_name_their_errors() {
        let dir = tempfile::tempdir().unwrap();
        let answer = dir.path().join("a.md");
        std::fs::write(&answer, "Paris is big.\n").unwrap();
        let rows = dir.path().join("r.jsonl");
        std::fs::write(&rows, "{\"n\": 1}\n{\"n\": 2}\n").unwrap();
        let template = dir.path().join("t.j2");
        std::fs::write(
            &template,
            "Summarise: {{ inputs['out/a/a.md'] }}{% for r in data['d/r.jsonl'] %}\n- {{ r.n }}\n{% endfor %}",
        )
        .unwrap();
        let inputs = vec![
            ("out/a/a.md".to_string(), answer),
            ("d/r.jsonl".to_string(), rows),
            ("prompts/t.j2".to_string(), template.clone()),
        ];
        let text = render("s", None, None, Some("prompts/t.j2"), &inputs).unwrap();
        // A block tag's own line break is dropped (`trim_blocks`).
        assert_eq!(text, "Summarise: Paris is big.\n- 1\n- 2\n");
        std::fs::write(&template, "line one\n{{ nothing.here }}\n").unwrap();
        let error = render("s", None, None, Some("prompts/t.j2"), &inputs)
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("prompts/t.j2: line 2: "), "{error}");
        let inline = render(
            "s",
            Some("m1"),
            Some("Model {{ model }} for {{ stage }}"),
            None,
            &[],
        );
        assert_eq!(inline.unwrap(), "Model m1 for s");
    }
}
