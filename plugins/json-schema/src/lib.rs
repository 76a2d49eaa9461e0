//! `json-schema`: a stage that validates JSON and JSON Lines inputs against a JSON Schema
//! (a draft 2020-12 subset) and writes `{output-dir}/report.json`.
//!
//! Params:
//! - `schema`: the schema inline (an object, or a boolean), or
//! - `schema-input`: the name of the input that holds it (exactly one of the two).
//! - `targets`: the names of the inputs to validate (default: every input whose name ends
//!   in `.json` or `.jsonl`, except the schema input).
//!
//! A `.json` target is one document; any other target is read as JSON Lines, each line
//! validated on its own (blank lines skipped, a line that is not JSON is an error).
//!
//! The report: `{"valid": bool, "checked": N, "errors": [{"file": NAME, "line": N,
//! "pointer": "/items/3/age", "message": "..."}]}` (`line` for JSON Lines only; `checked`
//! counts the values looked at). It is always written; when there are errors the stage
//! then fails with `FILE[:LINE] at POINTER: MESSAGE; N errors in total (see report.json)`,
//! the pointer of the whole value shown as `(root)`.
//!
//! # Keywords
//!
//! Validated: `type` (a name or an array of names; `integer` is any number without a
//! fraction), `enum`, `const`, `properties`, `required`, `additionalProperties` (a boolean
//! or a schema), `items` (a schema, for the elements after `prefixItems`), `prefixItems`,
//! `minItems`, `maxItems`, `uniqueItems`, `minLength`, `maxLength` (in Unicode code
//! points), `minimum`, `maximum`, `exclusiveMinimum`, `exclusiveMaximum`, `multipleOf`,
//! `allOf`, `anyOf`, `oneOf`, `not`, and `$ref` to a JSON Pointer within the schema (`#`,
//! `#/$defs/name`, `#/definitions/name`, any `#/...`), with `$defs` and `definitions`.
//!
//! Ignored, as annotations: `$schema`, `$id`, `$anchor`, `$dynamicAnchor`, `$comment`,
//! `$vocabulary`, `title`, `description`, `default`, `examples`, `deprecated`, `readOnly`,
//! `writeOnly`, `format`, `contentEncoding`, `contentMediaType`, `contentSchema`, and
//! any keyword starting with `x-`.
//!
//! Anything else fails the stage when the schema is loaded, naming the keyword and its
//! place (e.g. ``params.schema at #/properties/name: unsupported keyword `pattern` ``), so
//! a schema never quietly passes data it was meant to reject. So do `$ref`s to other
//! documents or to anchors, and references that loop without going deeper into the data.
//!
//! The validation core is [`schema::Schema`] with [`schema::Schema::validate`].
mod pointer;
mod report;
pub mod schema;
pub mod validate;

use std::fs;
use std::path::Path;

use baton_sdk::input::{self, Format};
use baton_sdk::json::Object;
use baton_sdk::params::{inline_or_input, inputs_or_json, Source};
use baton_sdk::types::{
    Capabilities, Description, Failure, PluginKind, StageContext, StageInput, StageOutcome,
};
use baton_sdk::{fatal, progress, skip};
use serde_json::Value;

use report::Report;
use schema::Schema;

const REPORT: &str = "report.json";

struct JsonSchema;

impl baton_sdk::Metadata for JsonSchema {
    fn describe() -> Description {
        Description {
            name: "json-schema".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            kind: PluginKind::Stage,
            summary: "Validates JSON and JSON Lines against a JSON Schema, writing report.json"
                .into(),
            capabilities: Capabilities::default(),
        }
    }
}

impl baton_sdk::Stage for JsonSchema {
    fn run(context: StageContext) -> Result<StageOutcome, Failure> {
        let params = Object::parse("params", &context.params)?;
        let (source, document, schema_input) = schema_document(&params, &context.inputs)?;
        let schema =
            Schema::compile(&document).map_err(|error| fatal(format!("{source} {error}")))?;
        let targets = inputs_or_json(&params, "targets", &context.inputs, schema_input)?;
        if targets.is_empty() {
            return Err(skip("no .json or .jsonl inputs to validate"));
        }
        let total = u64::try_from(targets.len()).unwrap_or(u64::MAX);
        let mut report = Report::default();
        for (done, target) in (1..).zip(&targets) {
            let values = input::open_input(target, Format::of(&target.name))?;
            report.check(&schema, &target.name, values).map_err(fatal)?;
            progress::report(done, Some(total), &target.name);
        }
        let report_path = Path::new(&context.output_dir).join(REPORT);
        let mut text = serde_json::to_string_pretty(&report)
            .map_err(|error| fatal(format!("cannot encode the report: {error}")))?;
        text.push('\n');
        fs::write(&report_path, text)
            .map_err(|error| fatal(format!("cannot write {}: {error}", report_path.display())))?;
        baton_sdk::info!(
            "validated",
            "files" => total,
            "checked" => report.checked,
            "errors" => report.errors.len()
        );
        if let Some(reason) = report.failure() {
            return Err(fatal(reason));
        }
        let files = if total == 1 { "file" } else { "files" };
        Ok(StageOutcome {
            summary: format!(
                "{total} {files}, {} values checked, all valid",
                report.checked
            ),
            outputs: vec![REPORT.into()],
        })
    }
}

/// Where the schema comes from (for messages), the schema, and the input holding it.
fn schema_document<'i>(
    params: &Object,
    inputs: &'i [StageInput],
) -> Result<(String, Value, Option<&'i StageInput>), Failure> {
    match inline_or_input(params, "schema", params.get("schema"), inputs)? {
        Source::Inline(schema) => Ok(("params.schema".into(), schema.clone(), None)),
        Source::Input(input) => {
            let named = format!("input `{}` ({})", input.name, input.path);
            let document = input::open_input(input, Format::Document)?
                .next()
                .ok_or_else(|| fatal(format!("{named}: empty")))?
                .map_err(|error| fatal(format!("{named}: {error}")))?;
            Ok((
                format!("schema input `{}`", input.name),
                document.value,
                Some(input),
            ))
        }
    }
}

baton_sdk::export_stage!(JsonSchema);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_one_schema_source() {
        let inline = Object::parse("params", r#"{"schema": {"type": "object"}}"#).unwrap();
        let (source, document, input) = schema_document(&inline, &[]).unwrap();
        assert_eq!(source, "params.schema");
        assert_eq!(document, serde_json::json!({"type": "object"}));
        assert!(input.is_none());
        let both =
            Object::parse("params", r#"{"schema": true, "schema-input": "s.json"}"#).unwrap();
        assert_eq!(
            schema_document(&both, &[]).unwrap_err(),
            fatal("give params.schema or params.schema-input, not both")
        );
        let neither = Object::parse("params", "{}").unwrap();
        assert_eq!(
            schema_document(&neither, &[]).unwrap_err(),
            fatal("params.schema or params.schema-input is missing")
        );
    }
}
