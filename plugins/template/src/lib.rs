//! `template`: a stage that renders one text file (Markdown, a report, ...) from JSON and
//! JSON Lines data with a small mustache-like language, into `{output-dir}/{output}`.
//!
//! Params:
//! - `template`: the template text, or
//! - `template-input`: the name of the input that holds it (exactly one of the two).
//! - `output` (required): the file to write, a relative path inside the output directory.
//! - `data`: the names of the inputs that are data (default: every input whose name ends
//!   in `.json` or `.jsonl`, except the template input).
//! - `strict`: when `true`, a path that leads nowhere fails the stage (default `false`:
//!   it renders as nothing).
//!
//! The template sees one object:
//! `{"inputs": {"<input name>": value}, "items": [...], "params": {...}}`. A `.json`
//! input's value is its document; any other data input is read as JSON Lines and its
//! value is the array of its lines. `items` is every JSON Lines value of every data input,
//! concatenated in input order; `params` is the stage's params.
//!
//! # Template language
//!
//! | Tag | Meaning |
//! |-----|---------|
//! | `{{ path }}` | the value, written as it is (no escaping): strings as text, numbers and booleans as JSON, `null` as nothing, arrays and objects as compact JSON |
//! | `{{ path \| filter \| ... }}` | the value through filters: `length`, `upper`, `lower`, `json` (the value as JSON text), `default:"text"` (replaces a missing, `null`, `false`, empty string, empty array or empty object) |
//! | `{{#each path}}...{{else}}...{{/each}}` | the body once per element of an array (or value of an object); the optional `else` part when there is none |
//! | `{{#if path}}...{{else}}...{{/if}}` | the first part when the value is truthy (not missing, `null`, `false`, `""`, `[]` or `{}`), else the optional second |
//! | `{{#unless path}}...{{else}}...{{/unless}}` | the reverse of `#if` |
//! | `{{! comment }}` | nothing |
//!
//! Paths: `a.b.0` (names and array positions separated by `.`); `["key"]` and `[0]`
//! segments for keys that are not plain names, e.g. `inputs["people.jsonl"]`; `.` for the
//! current item; `.name` for a field of the current item only. A path's first name is
//! looked up in the current `#each` item, then in each enclosing one, out to the root, so
//! `{{params.title}}` works at any depth. Inside `#each`: `@index` (from 0), `@key` (when
//! iterating an object), `@first`, `@last`. Block tags may take expressions with filters
//! too, e.g. `{{#if items | length}}`.
//!
//! A block tag or comment alone on its line takes the whole line with it (mustache's
//! "standalone" rule), so blocks on lines of their own leave no blank lines behind.
//!
//! A path that leads nowhere renders as nothing unless `strict` is set; in `#if` and
//! `#unless` it counts as false even when strict. Syntax errors (an unclosed or
//! mismatched block, an unknown filter or block, a bad path) fail the stage with the line
//! and column of the tag. Not supported: `{{{ }}}` (nothing is escaped anyway), partials,
//! `{{^ }}`, delimiter changes, and a way to write a literal `{{`.
mod context;
mod expr;
mod render;
mod syntax;

use std::fs;
use std::path::Path;

use baton_sdk::input::{self, Format};
use baton_sdk::json::Object;
use baton_sdk::params::{inline_or_input, inputs_or_json, required_output, Source};
use baton_sdk::types::{
    Capabilities, Description, Failure, PluginKind, StageContext, StageInput, StageOutcome,
};
use baton_sdk::{fatal, progress};
use serde_json::Value;

use context::Data;

struct Template;

impl baton_sdk::Metadata for Template {
    fn describe() -> Description {
        Description {
            name: "template".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            kind: PluginKind::Stage,
            summary: "Renders text (e.g. Markdown) from JSON data with a mustache-like template"
                .into(),
            capabilities: Capabilities::default(),
        }
    }
}

impl baton_sdk::Stage for Template {
    fn run(context: StageContext) -> Result<StageOutcome, Failure> {
        let params = Object::parse("params", &context.params)?;
        let raw_params: Value = baton_sdk::json::parse("params", &context.params)?;
        let output = required_output(&params, "output")?;
        let strict = params.bool("strict")?.unwrap_or(false);
        let (source, text, template_input) = template_text(&params, &context.inputs)?;
        let nodes = syntax::parse(&text).map_err(|error| {
            fatal(format!(
                "{source}: line {}, column {}: {}",
                error.at.line, error.at.column, error.message
            ))
        })?;
        let data_inputs = inputs_or_json(&params, "data", &context.inputs, template_input)?;
        let total = u64::try_from(data_inputs.len()).unwrap_or(u64::MAX);
        let mut data = Vec::with_capacity(data_inputs.len());
        for (done, input) in (1..).zip(&data_inputs) {
            data.push(read(input)?);
            progress::report(done, Some(total), &input.name);
        }
        let items: usize = data
            .iter()
            .filter(|data| data.format == Format::Lines)
            .map(|data| data.values.len())
            .sum();
        let root = context::build(data, raw_params);
        let rendered = render::render(&nodes, &root, strict).map_err(|error| {
            fatal(format!(
                "{source}: line {}, column {}: {}",
                error.at.line, error.at.column, error.message
            ))
        })?;
        let target_path = Path::new(&context.output_dir).join(&output);
        if let Some(parent) = target_path.parent() {
            fs::create_dir_all(parent)
                .map_err(|error| fatal(format!("cannot create {}: {error}", parent.display())))?;
        }
        fs::write(&target_path, &rendered)
            .map_err(|error| fatal(format!("cannot write {}: {error}", target_path.display())))?;
        baton_sdk::info!(
            "rendered",
            "output" => output,
            "bytes" => rendered.len(),
            "data_inputs" => total,
            "items" => items
        );
        let inputs = if total == 1 { "input" } else { "inputs" };
        let summary = format!(
            "rendered {output} ({} bytes) from {total} data {inputs}, {items} items",
            rendered.len()
        );
        Ok(StageOutcome {
            summary,
            outputs: vec![output],
        })
    }
}

/// Where the template comes from (for messages), its text, and the input holding it.
fn template_text<'i>(
    params: &Object,
    inputs: &'i [StageInput],
) -> Result<(String, String, Option<&'i StageInput>), Failure> {
    match inline_or_input(params, "template", params.str("template")?, inputs)? {
        Source::Inline(text) => Ok(("params.template".into(), text.to_string(), None)),
        Source::Input(input) => {
            let text = fs::read_to_string(&input.path).map_err(|error| {
                fatal(format!(
                    "input `{}` ({}): cannot read the template: {error}",
                    input.name, input.path
                ))
            })?;
            Ok((format!("template `{}`", input.name), text, Some(input)))
        }
    }
}

fn read(input: &StageInput) -> Result<Data, Failure> {
    let format = Format::of(&input.name);
    let values = input::open_input(input, format)?
        .map(|item| item.map(|item| item.value))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| fatal(format!("input `{}`: {error}", input.name)))?;
    Ok(Data {
        name: input.name.clone(),
        format,
        values,
    })
}

baton_sdk::export_stage!(Template);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_one_template_source() {
        let both = Object::parse("params", r#"{"template": "x", "template-input": "t"}"#).unwrap();
        assert_eq!(
            template_text(&both, &[]).unwrap_err(),
            fatal("give params.template or params.template-input, not both")
        );
        let none = Object::parse("params", "{}").unwrap();
        assert_eq!(
            template_text(&none, &[]).unwrap_err(),
            fatal("params.template or params.template-input is missing")
        );
        let inline = Object::parse("params", r#"{"template": "hi {{x}}"}"#).unwrap();
        let (source, text, input) = template_text(&inline, &[]).unwrap();
        assert_eq!(
            (source.as_str(), text.as_str()),
            ("params.template", "hi {{x}}")
        );
        assert!(input.is_none());
    }
}
