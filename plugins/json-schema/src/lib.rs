//! `json-schema`: a stage that validates JSON and JSON Lines inputs against a JSON Schema
//! and writes `{output-dir}/report.json`. The validation is the [`jsonschema`] crate's
//! (0.61, without its network and file features): nothing is fetched, every schema comes
//! from the params or the stage's inputs.
//!
//! Params:
//! - `schema`: the schema inline (an object, or a boolean), or
//! - `schema-input`: the name of the input that holds it (exactly one of the two).
//! - `ref-inputs`: the inputs holding further schemas that `$ref`s reach (default: none),
//!   each a file or a directory (then every `*.json` file under it). An array of input
//!   names knows each file by its URI in the sandbox, `file:///inputs/NAME`, so a
//!   relative `$ref` between two inputs works as it does between the files on disk
//!   (`{"$ref": "address.schema.json"}` in `schemas/person.schema.json` reaches the input
//!   `schemas/address.schema.json`). An object from input names to URIs knows the input
//!   (or a directory's files, below that base) by that URI instead, for local copies of
//!   published schemas. Either way a schema is also known by its own `$id`.
//! - `targets`: the names of the inputs to validate (default: every input whose name ends
//!   in `.json` or `.jsonl`, except the schema input and the ref inputs).
//! - `assert-format`: `true` to fail values whose `format` is wrong (default `false`:
//!   `format` is an annotation, as the 2020-12 and 2019-09 specifications say).
//!
//! A `.json` target is one document; any other target is read as JSON Lines, each line
//! validated on its own (blank lines skipped, a line that is not JSON is an error).
//!
//! The report: `{"valid": bool, "checked": N, "errors": [{"file": NAME, "line": N,
//! "pointer": "/items/3/age", "message": "..."}]}` (`line` for JSON Lines only; `checked`
//! counts the values looked at; `message` is the library's, with a value longer than 80
//! characters of JSON summarised, e.g. `an object of 12 properties`). It is always
//! written; when there are errors the stage then fails with
//! `FILE[:LINE] at POINTER: MESSAGE; N errors in total (see report.json)`, the pointer of
//! the whole value shown as `(root)`.
//!
//! # What is supported
//!
//! - Drafts 2020-12 (without `$schema`), 2019-09 and 7, chosen by `$schema`; drafts 6 and 4
//!   are recognised the same way. A referenced schema without `$schema` is read in the
//!   draft of the schema given in `schema`/`schema-input`. A custom meta-schema (a
//!   `$schema` naming no draft) must be one of the `ref-inputs`; its `$vocabulary` says
//!   which keywords apply.
//! - Every validation keyword of those drafts, applicators and `unevaluatedProperties` /
//!   `unevaluatedItems` included: `type`, `enum`, `const`, the numeric, string, array and
//!   object limits, `pattern` and `patternProperties` (ECMA-262 regular expressions),
//!   `properties`, `additionalProperties`, `propertyNames`, `required`,
//!   `dependentRequired`, `dependentSchemas` (and draft 7's `dependencies`), `items`,
//!   `prefixItems` (draft 7's array `items` and `additionalItems`), `contains`,
//!   `minContains`, `maxContains`, `allOf`, `anyOf`, `oneOf`, `not`, `if`/`then`/`else`.
//! - Identification and references: `$id` (a nested `$id` changes the base URI of what is
//!   under it), `$anchor`, `$ref`, `$defs` and `definitions`, `$dynamicRef` /
//!   `$dynamicAnchor` (2020-12), `$recursiveRef` / `$recursiveAnchor` (2019-09), and
//!   references to other schemas given in `ref-inputs`. A reference to anything else is an
//!   error when the schema is loaded, naming the URI.
//! - `format` is an annotation unless `assert-format` is `true`; then the formats each
//!   draft defines are checked (`date-time`, `date`, `time`, `duration`, `email`, `idn-email`,
//!   `hostname`, `idn-hostname`, `ipv4`, `ipv6`, `uri`, `uri-reference`, `iri`,
//!   `iri-reference`, `uri-template`, `uuid`, `json-pointer`, `relative-json-pointer`,
//!   `regex`) and an unknown format is an error when the schema is loaded.
//! - Unknown keywords are ignored, as the specifications say; so are the annotations
//!   (`title`, `description`, `default`, `examples`, `deprecated`, `readOnly`,
//!   `writeOnly`, `$comment`). `contentEncoding`, `contentMediaType` and `contentSchema`
//!   are annotations in 2020-12 and 2019-09; in drafts 7 and 6 the library checks
//!   `contentEncoding: base64` and `contentMediaType: application/json`.
//!
//! The schema itself is checked against its draft's meta-schema first: a schema that is
//! not valid fails the stage, naming the place, e.g.
//! ``schema input `s.json` at #/properties/age/minimum: "ten" is not of type "number"``.
mod compile;
#[cfg(test)]
mod conformance;
mod report;

use std::fs;
use std::path::Path;

use baton_sdk::input::{self, Format};
use baton_sdk::json::Object;
use baton_sdk::params::{find_input, inline_or_input, inputs_or_json, Source};
use baton_sdk::types::{
    Capabilities, Description, Failure, PluginKind, StageContext, StageInput, StageOutcome,
};
use baton_sdk::{fatal, progress, skip};
use serde_json::Value;

use compile::Options;
use report::Report;

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
        let refs = ref_inputs(&params, &context.inputs)?;
        let mut resources = Vec::new();
        for (input, uri) in &refs {
            resources.extend(compile::resources(input, uri.as_deref()).map_err(fatal)?);
        }
        let uri = schema_input.map_or_else(|| compile::INLINE_URI.to_string(), compile::input_uri);
        let options = Options {
            assert_format: params.bool("assert-format")?.unwrap_or(false),
        };
        let validator =
            compile::validator(&source, &document, &uri, resources, options).map_err(fatal)?;
        let mut targets = inputs_or_json(&params, "targets", &context.inputs, schema_input)?;
        if params.get("targets").is_none() {
            targets.retain(|target| refs.iter().all(|(input, _)| input.name != target.name));
        }
        if targets.is_empty() {
            return Err(skip("no .json or .jsonl inputs to validate"));
        }
        let total = u64::try_from(targets.len()).unwrap_or(u64::MAX);
        let mut report = Report::default();
        for (done, target) in (1..).zip(&targets) {
            let values = input::open_input(target, Format::of(&target.name))?;
            report
                .check(&validator, &target.name, values)
                .map_err(fatal)?;
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

/// The inputs `params.ref-inputs` names, each with the URI it was given, if any.
fn ref_inputs<'i>(
    params: &Object,
    inputs: &'i [StageInput],
) -> Result<Vec<(&'i StageInput, Option<String>)>, Failure> {
    let field = params.field("ref-inputs");
    match params.get("ref-inputs") {
        None => Ok(Vec::new()),
        Some(Value::Array(names)) => names
            .iter()
            .enumerate()
            .map(|(index, name)| match name {
                Value::String(name) => Ok((find_input(inputs, name, &field)?, None)),
                _ => Err(fatal(format!(
                    "{field}[{index}] must be an input name (a string)"
                ))),
            })
            .collect(),
        Some(Value::Object(uris)) => uris
            .iter()
            .map(|(name, uri)| match uri {
                Value::String(uri) => Ok((find_input(inputs, name, &field)?, Some(uri.clone()))),
                _ => Err(fatal(format!(
                    "{field}.{name} must be the URI the input is known by (a string)"
                ))),
            })
            .collect(),
        Some(_) => Err(fatal(format!(
            "{field} must be an array of input names or an object from input names to URIs"
        ))),
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
