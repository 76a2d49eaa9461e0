//! `template`: a stage that renders one text file (Markdown, a report, ...) from JSON and
//! JSON Lines data with a [Jinja](https://jinja.palletsprojects.com/) template, the
//! language of Airflow, dbt and Ansible templates, as implemented by
//! [MiniJinja](https://docs.rs/minijinja), into `{output-dir}/{output}`.
//!
//! Params:
//! - `template`: the template text, or
//! - `template-input`: the name of the input that holds it (exactly one of the two).
//! - `output` (required): the file to write, a relative path inside the output directory.
//! - `data`: the names of the inputs that are data (default: every input whose name ends
//!   in `.json` or `.jsonl`, except the template input).
//! - `strict`: `true` (the default) makes every use of an undefined value an error (a
//!   mistyped name fails the stage, naming the template and the line); `false` renders an
//!   undefined value, and any attribute of it, as nothing.
//!
//! The template sees three variables:
//! - `inputs`: one entry per data input, by input name, e.g. `inputs["out/people.jsonl"]`.
//!   A `.json` input's value is its document; any other data input is read as JSON Lines
//!   and its value is the list of its lines.
//! - `items`: every JSON Lines value of every data input, concatenated in input order.
//! - `params`: the stage's params, e.g. `params.title`.
//!
//! JSON values keep their kind and print as Jinja prints them: `null` is `none` (printed
//! `None`), booleans print `True` and `False`, an integer prints as `36` and a float as
//! `36.0`; objects are maps with their keys in sorted order.
//!
//! # Template language
//!
//! Jinja as documented for Jinja2, with the differences MiniJinja documents (its
//! `COMPATIBILITY.md`). In short:
//!
//! | Syntax | Meaning |
//! |--------|---------|
//! | `{{ expr }}` | the value, written as it is: nothing is escaped (use `\| escape` for HTML); lists and maps print as Python would, `tojson` prints JSON |
//! | `{{ expr \| filter(args) }}` | filters: `default`, `join`, `length`, `upper`, `lower`, `title`, `trim`, `replace`, `round`, `int`, `float`, `string`, `sort`, `unique`, `reverse`, `first`, `last`, `min`, `max`, `sum`, `map`, `select`, `reject`, `selectattr`, `rejectattr`, `groupby`, `batch`, `slice`, `dictsort`, `items`, `indent`, `format`, `abs`, `bool`, `list`, `escape`, `safe`, `tojson`, ... |
//! | `{% if expr %}...{% elif expr %}...{% else %}...{% endif %}` | conditions; expressions compare (`==`, `!=`, `<`, `<=`, `>`, `>=`), combine (`and`, `or`, `not`), test membership (`in`), compute (`+ - * / // % **`, `~` joins as text) and test (`is defined`, `is none`, `is number`, `is even`, ...) |
//! | `{% for x in expr %}...{% else %}...{% endfor %}` | a loop, with `loop.index` (from 1), `loop.index0`, `loop.first`, `loop.last`, `loop.length`, `loop.previtem`, `loop.nextitem`, `loop.cycle(...)`; `for k, v in map \| items`; `for x in xs if cond`; the `else` part when there is nothing |
//! | `{% set name = expr %}` | a variable |
//! | `{% macro name(args) %}...{% endmacro %}` | a macro, called as `{{ name(args) }}` |
//! | `{% include "NAME" %}` | another template, rendered in place with the same variables |
//! | `{% import "NAME" as lib %}`, `{% from "NAME" import m %}` | macros of another template |
//! | `{% extends "NAME" %}` with `{% block b %}...{% endblock %}` | template inheritance |
//! | `{# comment #}` | nothing |
//! | `{%- ... -%}`, `{{- ... -}}` | strip the white space before or after the tag |
//!
//! `NAME` is the name of another input of the stage, as the stage sees it (in a pipeline,
//! its project path, e.g. `"templates/header.md.tmpl"`); any input can be included, a
//! plain text file too. The main template is called by its input's name, or
//! `params.template` when it is given inline.
//!
//! A block tag or comment (`{% ... %}`, `{# ... #}`) takes the white space before it on its
//! line and the line break after it (Jinja's `lstrip_blocks` and `trim_blocks`), so blocks
//! on lines of their own leave no blank lines behind. A block tag that ends a line of text
//! takes that line break too: write `{% endif +%}` to keep it. The template's last line
//! break is kept.
//!
//! Undefined values: with `strict` (the default), printing, iterating, testing (`{% if %}`)
//! or reading an attribute of an undefined value is an error; check with
//! `{% if x is defined %}` or fall back with `x | default("text")`. The `default` filter
//! replaces only undefined values; `default("text", true)` also replaces `none`, `false`,
//! `""`, `[]` and `{}`.
//!
//! Errors (a syntax error, an undefined value, an unknown filter, a missing include, ...)
//! fail the stage with the template's name, the line and column, and the templates that
//! included it: ``template `inc.tmpl`: line 2, column 4: undefined value: `nmae` is
//! undefined (from template `report.md.tmpl`: line 7, column 4)``.
mod context;
mod render;

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
use render::{Loadable, Renderer};

struct Template;

impl baton_sdk::Metadata for Template {
    fn describe() -> Description {
        Description {
            name: "template".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            kind: PluginKind::Stage,
            summary: "Renders text (e.g. Markdown) from JSON data with a Jinja template".into(),
            capabilities: Capabilities::default(),
        }
    }
}

impl baton_sdk::Stage for Template {
    fn run(context: StageContext) -> Result<StageOutcome, Failure> {
        let params = Object::parse("params", &context.params)?;
        let raw_params: Value = baton_sdk::json::parse("params", &context.params)?;
        let output = required_output(&params, "output")?;
        let strict = params.bool("strict")?.unwrap_or(true);
        let (name, text, template_input) = template_text(&params, &context.inputs)?;
        let loadable = context
            .inputs
            .iter()
            .filter(|input| template_input.is_none_or(|main| main.name != input.name))
            .map(|input| Loadable {
                name: input.name.clone(),
                path: input.path.clone(),
            })
            .collect();
        let renderer = Renderer::new(&name, text, strict, loadable).map_err(fatal)?;
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
        let rendered = renderer
            .render(context::build(data, raw_params))
            .map_err(fatal)?;
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

/// The template's name (`params.template` when inline, else its input's name), its text,
/// and the input holding it.
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
            Ok((input.name.clone(), text, Some(input)))
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
