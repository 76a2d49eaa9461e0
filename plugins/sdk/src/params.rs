//! A stage's params that name its inputs or its output, with the stage plugins' shared
//! conventions and messages:
//!
//! - a document given inline as `params.X` or as the input `params.X-input` names, exactly
//!   one of the two ([`inline_or_input`]);
//! - a list of input names, by default every `.json`/`.jsonl` input ([`inputs_or_json`]);
//! - an output file, a relative path that stays inside the output directory ([`output`],
//!   [`required_output`]).
use std::path::{Component, Path, PathBuf};

use crate::fatal;
use crate::input::is_json;
use crate::json::Object;
use crate::types::{Failure, StageInput};

/// Where a document comes from.
#[derive(Debug, Clone)]
pub enum Source<'i, T> {
    /// Given in `params.X`.
    Inline(T),
    /// In the input `params.X-input` names.
    Input(&'i StageInput),
}

/// `inline` (the caller's reading of `params.{key}`) or the input `params.{key}-input`
/// names; fatal when both or neither are given, or when the name is not an input.
pub fn inline_or_input<'i, T>(
    params: &Object,
    key: &str,
    inline: Option<T>,
    inputs: &'i [StageInput],
) -> Result<Source<'i, T>, Failure> {
    let input_key = format!("{key}-input");
    match (inline, params.str(&input_key)?) {
        (Some(value), None) => Ok(Source::Inline(value)),
        (None, Some(name)) => {
            find_input(inputs, name, &params.field(&input_key)).map(Source::Input)
        }
        (Some(_), Some(_)) => Err(fatal(format!(
            "give {} or {}, not both",
            params.field(key),
            params.field(&input_key)
        ))),
        (None, None) => Err(fatal(format!(
            "{} or {} is missing",
            params.field(key),
            params.field(&input_key)
        ))),
    }
}

/// The inputs `params.{key}` names, in its order, or else every `.json`/`.jsonl` input
/// but `except` (e.g. the one holding the schema).
pub fn inputs_or_json<'i>(
    params: &Object,
    key: &str,
    inputs: &'i [StageInput],
    except: Option<&StageInput>,
) -> Result<Vec<&'i StageInput>, Failure> {
    match params.strings(key)? {
        Some(names) => {
            let field = params.field(key);
            names
                .iter()
                .map(|name| find_input(inputs, name, &field))
                .collect()
        }
        None => Ok(inputs
            .iter()
            .filter(|input| is_json(&input.name))
            .filter(|input| except.is_none_or(|except| except.name != input.name))
            .collect()),
    }
}

/// The input called `name`; `field` (e.g. `params.data`) names where the name came from.
pub fn find_input<'i>(
    inputs: &'i [StageInput],
    name: &str,
    field: &str,
) -> Result<&'i StageInput, Failure> {
    inputs
        .iter()
        .find(|input| input.name == name)
        .ok_or_else(|| {
            let known: Vec<String> = inputs
                .iter()
                .map(|input| format!("`{}`", input.name))
                .collect();
            fatal(format!(
                "{field} names `{name}`, which is not an input (inputs: {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ))
        })
}

/// `params.{key}` as a file to write, normalised (see [`relative_path`]); `Ok(None)` when
/// absent, fatal when it would leave the output directory.
pub fn output(params: &Object, key: &str) -> Result<Option<String>, Failure> {
    params
        .str(key)?
        .map(|name| inside(params, key, name))
        .transpose()
}

/// [`output`] for a `params.{key}` that must be given.
pub fn required_output(params: &Object, key: &str) -> Result<String, Failure> {
    inside(params, key, params.required_str(key)?)
}

fn inside(params: &Object, key: &str, name: &str) -> Result<String, Failure> {
    relative_path(name).ok_or_else(|| {
        fatal(format!(
            "{} must be a relative path inside the output directory, found {name:?}",
            params.field(key)
        ))
    })
}

/// `name` normalised (`a//b` is `a/b`), if it is a relative path that stays inside.
pub fn relative_path(name: &str) -> Option<String> {
    let path = Path::new(name);
    let inside = path
        .components()
        .all(|component| matches!(component, Component::Normal(_) | Component::CurDir));
    let normal: PathBuf = path
        .components()
        .filter(|component| matches!(component, Component::Normal(_)))
        .collect();
    let normal = normal.to_str()?.to_string();
    (inside && !normal.is_empty()).then_some(normal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(name: &str) -> StageInput {
        StageInput {
            name: name.into(),
            path: format!("/inputs/{name}"),
            digest: String::new(),
        }
    }

    fn params(text: &str) -> Object {
        Object::parse("params", text).unwrap()
    }

    fn names(inputs: Vec<&StageInput>) -> Vec<&str> {
        inputs.iter().map(|input| input.name.as_str()).collect()
    }

    #[test]
    fn named_inputs_or_every_json_input_but_one() {
        let inputs = vec![
            input("a.jsonl"),
            input("page.md"),
            input("meta.json"),
            input("t.json"),
        ];
        assert_eq!(
            names(inputs_or_json(&params("{}"), "data", &inputs, Some(&inputs[3])).unwrap()),
            vec!["a.jsonl", "meta.json"]
        );
        assert_eq!(
            names(inputs_or_json(&params("{}"), "data", &inputs, None).unwrap()),
            vec!["a.jsonl", "meta.json", "t.json"]
        );
        assert_eq!(
            names(
                inputs_or_json(&params(r#"{"data": ["page.md"]}"#), "data", &inputs, None).unwrap()
            ),
            vec!["page.md"]
        );
        assert_eq!(
            inputs_or_json(&params(r#"{"data": ["nope.json"]}"#), "data", &inputs, None)
                .unwrap_err(),
            fatal("params.data names `nope.json`, which is not an input (inputs: `a.jsonl`, `page.md`, `meta.json`, `t.json`)")
        );
        assert_eq!(
            inputs_or_json(&params(r#"{"targets": ["x.json"]}"#), "targets", &[], None)
                .unwrap_err(),
            fatal("params.targets names `x.json`, which is not an input (inputs: none)")
        );
    }

    #[test]
    fn exactly_one_source() {
        let inputs = vec![input("s.json")];
        let both = params(r#"{"schema": true, "schema-input": "s.json"}"#);
        assert_eq!(
            inline_or_input(&both, "schema", both.get("schema"), &inputs).unwrap_err(),
            fatal("give params.schema or params.schema-input, not both")
        );
        let neither = params("{}");
        assert_eq!(
            inline_or_input(&neither, "schema", neither.get("schema"), &inputs).unwrap_err(),
            fatal("params.schema or params.schema-input is missing")
        );
        let inline = params(r#"{"template": "hi"}"#);
        assert!(matches!(
            inline_or_input(
                &inline,
                "template",
                inline.str("template").unwrap(),
                &inputs
            ),
            Ok(Source::Inline("hi"))
        ));
        let named = params(r#"{"template-input": "s.json"}"#);
        assert!(matches!(
            inline_or_input(&named, "template", named.str("template").unwrap(), &inputs),
            Ok(Source::Input(input)) if input.name == "s.json"
        ));
        let unknown = params(r#"{"template-input": "t.md"}"#);
        assert_eq!(
            inline_or_input(
                &unknown,
                "template",
                unknown.str("template").unwrap(),
                &inputs
            )
            .unwrap_err(),
            fatal("params.template-input names `t.md`, which is not an input (inputs: `s.json`)")
        );
    }

    #[test]
    fn output_names_stay_inside() {
        assert_eq!(relative_path("out.jsonl").as_deref(), Some("out.jsonl"));
        assert_eq!(relative_path("./a//b.jsonl").as_deref(), Some("a/b.jsonl"));
        assert_eq!(relative_path("report.md").as_deref(), Some("report.md"));
        assert_eq!(relative_path("docs/./r.md").as_deref(), Some("docs/r.md"));
        assert_eq!(relative_path("../x"), None);
        assert_eq!(relative_path("../r.md"), None);
        assert_eq!(relative_path("/etc/x"), None);
        assert_eq!(relative_path("/r.md"), None);
        assert_eq!(relative_path(""), None);
        assert_eq!(relative_path("."), None);

        let output_of = |text| output(&params(text), "output");
        assert_eq!(output_of("{}"), Ok(None));
        assert_eq!(
            output_of(r#"{"output": "./a//b.md"}"#),
            Ok(Some("a/b.md".into()))
        );
        assert_eq!(
            output_of(r#"{"output": "../x"}"#),
            Err(fatal(
                "params.output must be a relative path inside the output directory, found \"../x\""
            ))
        );
        assert_eq!(
            required_output(&params("{}"), "output"),
            Err(fatal("params.output is missing"))
        );
        assert_eq!(
            required_output(&params(r#"{"output": "/r.md"}"#), "output"),
            Err(fatal(
                "params.output must be a relative path inside the output directory, found \"/r.md\""
            ))
        );
    }
}
