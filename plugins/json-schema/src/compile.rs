//! Turns the schema and the schemas it refers to into a [`Validator`] of the `jsonschema`
//! crate: the draft comes from `$schema` (2020-12 without one), every schema is known by
//! a URI before validation starts, and nothing is ever fetched from the network or the
//! file system afterwards.
//!
//! URIs: an input `NAME` is the file `/inputs/NAME` in the sandbox, so its URI is
//! `file:///inputs/NAME` (percent-encoded) and a relative `$ref` between two inputs works
//! as it does between the files on disk. A schema is also known by its own `$id`, and the
//! object form of `params.ref-inputs` puts an input (or each file of a directory input)
//! under a URI of the caller's choice instead.
use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use baton_sdk::input::{self, Format};
use baton_sdk::types::StageInput;
use jsonschema::{Draft, Registry, Retrieve, Uri, ValidationError, Validator};
use serde_json::Value;

use crate::report::message;

/// The URI of an inline schema (`params.schema`): relative references resolve against
/// the inputs directory.
pub const INLINE_URI: &str = "file:///inputs/params.schema.json";

/// A schema a `$ref` may reach, with the URI it is known by.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    pub uri: String,
    /// Where it came from, for messages: ``input `NAME` ``, or ``input `DIR` (DIR/a.json)``.
    pub origin: String,
    pub document: Value,
}

/// How a validator is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Whether `format` is asserted; otherwise it is only an annotation.
    pub assert_format: bool,
}

/// Builds the validator for `document`, known by `uri`; `source` names it in messages
/// (``schema input `s.json` ``).
pub fn validator(
    source: &str,
    document: &Value,
    uri: &str,
    resources: Vec<Resource>,
    options: Options,
) -> Result<Validator, String> {
    // Schemas without `$schema` are read in the draft of the one that refers to them (2020-12
    // when that one has a custom meta-schema).
    let mut draft = Draft::default().detect(document);
    if let Some(meta) = custom_meta_schema(document) {
        draft = Draft::default();
        let known = resources.iter().any(|resource| {
            resource.uri.trim_end_matches('#') == meta
                || resource
                    .document
                    .get("$id")
                    .and_then(Value::as_str)
                    .map(|id| id.trim_end_matches('#'))
                    == Some(meta)
        });
        if !known {
            return Err(format!(
                "{source}: `$schema` is `{meta}`, which is neither a draft (2020-12, 2019-09, 7, 6, 4) nor a schema given in params.ref-inputs"
            ));
        }
    }
    let mut registry = Registry::new().draft(draft).retriever(NotGiven);
    for resource in resources {
        let Resource {
            uri,
            origin,
            document,
        } = resource;
        registry = registry
            .add(&uri, document)
            .map_err(|error| format!("{origin}: cannot use it as `{uri}`: {error}"))?;
    }
    let registry = registry
        .prepare()
        .map_err(|error| format!("{source}: a referenced schema cannot be used: {error}"))?;
    jsonschema::options()
        .with_registry(&registry)
        .with_retriever(NotGiven)
        .with_base_uri(uri)
        .should_validate_formats(options.assert_format)
        .should_ignore_unknown_formats(!options.assert_format)
        .build(document)
        .map_err(|error| schema_error(source, &error))
}

/// The `$schema` of `document` when it names no draft the library knows (without `#`).
fn custom_meta_schema(document: &Value) -> Option<&str> {
    let uri = document.get("$schema")?.as_str()?;
    match Draft::from_schema_uri(uri) {
        Draft::Draft4 | Draft::Draft6 | Draft::Draft7 | Draft::Draft201909 | Draft::Draft202012 => {
            None
        }
        _ => Some(uri.trim_end_matches('#')),
    }
}

/// `schema input `s.json` at #/properties/age/type: "x" is not valid under ...`, or
/// without a place when the problem is a reference.
fn schema_error(source: &str, error: &ValidationError) -> String {
    let place = error.instance_path().to_string();
    let message = message(error);
    if place.is_empty() {
        format!("{source}: {message}")
    } else {
        format!("{source} at #{place}: {message}")
    }
}

/// Answers every URI nothing was registered under: schemas are only ever read from the
/// stage's inputs.
struct NotGiven;

impl Retrieve for NotGiven {
    fn retrieve(
        &self,
        _uri: &Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        Err("no schema given to the stage has this URI (name its file in params.ref-inputs)".into())
    }
}

/// The URI of the stage input `input`: `file:///inputs/NAME`.
pub fn input_uri(input: &StageInput) -> String {
    let mut uri = String::from("file://");
    push_encoded(&mut uri, &input.path);
    uri
}

/// The schemas of `input`, a file or a directory (every `*.json` file in it, at any
/// depth); `uri` is the URI of the file, or the base URI of the directory's files
/// (`None`: the input's own [`input_uri`]).
pub fn resources(input: &StageInput, uri: Option<&str>) -> Result<Vec<Resource>, String> {
    let named = format!("input `{}`", input.name);
    let metadata = fs::metadata(&input.path)
        .map_err(|error| format!("{named} ({}): cannot read: {error}", input.path))?;
    let own = input_uri(input);
    let base = uri.unwrap_or(&own);
    if !metadata.is_dir() {
        let document = read_document(&named, &input.path)?;
        return Ok(vec![Resource {
            uri: base.to_string(),
            origin: named,
            document,
        }]);
    }
    let mut files = Vec::new();
    json_files(Path::new(&input.path), "", &mut files)
        .map_err(|error| format!("{named} ({}): cannot list: {error}", input.path))?;
    let mut base = base.to_string();
    if !base.ends_with('/') {
        base.push('/');
    }
    files
        .into_iter()
        .map(|relative| {
            let origin = format!("{named} ({}/{relative})", input.name);
            let path = format!("{}/{relative}", input.path);
            let mut uri = base.clone();
            push_encoded(&mut uri, &relative);
            Ok(Resource {
                uri,
                document: read_document(&origin, &path)?,
                origin,
            })
        })
        .collect()
}

fn read_document(origin: &str, path: &str) -> Result<Value, String> {
    let mut values = input::open(path, Format::Document)
        .map_err(|error| format!("{origin} ({path}): cannot open: {error}"))?;
    match values.next() {
        Some(Ok(item)) => Ok(item.value),
        Some(Err(error)) => Err(format!("{origin} ({path}): {error}")),
        None => Err(format!("{origin} ({path}): empty")),
    }
}

/// The `*.json` files under `dir`, as paths relative to it (`prefix` is the part already
/// walked), sorted.
fn json_files(dir: &Path, prefix: &str, files: &mut Vec<String>) -> std::io::Result<()> {
    let mut entries: Vec<_> = fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|entry| entry.file_name());
    for entry in entries {
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let relative = format!("{prefix}{name}");
        if entry.file_type()?.is_dir() {
            json_files(&entry.path(), &format!("{relative}/"), files)?;
        } else if input::Format::of(&name) == Format::Document {
            files.push(relative);
        }
    }
    Ok(())
}

/// Appends `path` to a URI, percent-encoding every byte a URI path cannot hold as it is.
fn push_encoded(uri: &mut String, path: &str) {
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/!$&'()*+,;=:@".contains(&byte) {
            uri.push(char::from(byte));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(uri, "%{byte:02X}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input(name: &str, path: &str) -> StageInput {
        StageInput {
            name: name.into(),
            path: path.into(),
            digest: String::new(),
        }
    }

    fn options(assert_format: bool) -> Options {
        Options { assert_format }
    }

    fn errors(validator: &Validator, instance: &Value) -> Vec<(String, String)> {
        validator
            .iter_errors(instance)
            .map(|error| (error.instance_path().to_string(), message(&error)))
            .collect()
    }

    #[test]
    fn input_uris_are_percent_encoded_file_uris() {
        assert_eq!(
            input_uri(&input("schemas/a b é.json", "/inputs/schemas/a b é.json")),
            "file:///inputs/schemas/a%20b%20%C3%A9.json"
        );
    }

    #[test]
    fn relative_refs_and_ids_reach_the_resources() {
        let address = Resource {
            uri: "file:///inputs/schemas/address.json".into(),
            origin: "input `schemas/address.json`".into(),
            document: json!({"type": "object", "required": ["street"]}),
        };
        let code = Resource {
            uri: "file:///inputs/vendor/code.json".into(),
            origin: "input `vendor/code.json`".into(),
            document: json!({"$id": "https://example.org/code", "pattern": "^[A-Z]{2}$"}),
        };
        let schema = json!({
            "properties": {
                "home": {"$ref": "address.json"},
                "country": {"$ref": "https://example.org/code"}
            }
        });
        let validator = validator(
            "schema input `schemas/person.json`",
            &schema,
            "file:///inputs/schemas/person.json",
            vec![address, code],
            options(false),
        )
        .unwrap();
        assert_eq!(
            errors(&validator, &json!({"home": {}, "country": "fr"})),
            vec![
                (
                    "/country".into(),
                    "\"fr\" does not match \"^[A-Z]{2}$\"".into()
                ),
                ("/home".into(), "\"street\" is a required property".into()),
            ]
        );
    }

    #[test]
    fn a_reference_to_nothing_given_is_refused_with_its_uri() {
        let error = validator(
            "schema input `s.json`",
            &json!({"$ref": "other.json"}),
            "file:///inputs/s.json",
            Vec::new(),
            options(false),
        )
        .unwrap_err();
        assert!(
            error.starts_with("schema input `s.json`: ")
                && error.contains("file:///inputs/other.json")
                && error.contains("params.ref-inputs"),
            "{error}"
        );
    }

    #[test]
    fn a_custom_meta_schema_must_be_given() {
        let schema = json!({"$schema": "https://example.org/meta#", "type": "string"});
        let error = validator("s", &schema, INLINE_URI, Vec::new(), options(false)).unwrap_err();
        assert_eq!(
            error,
            "s: `$schema` is `https://example.org/meta`, which is neither a draft (2020-12, 2019-09, 7, 6, 4) nor a schema given in params.ref-inputs"
        );
        let meta = Resource {
            uri: "file:///inputs/meta.json".into(),
            origin: "input `meta.json`".into(),
            document: json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "$id": "https://example.org/meta",
                "$vocabulary": {
                    "https://json-schema.org/draft/2020-12/vocab/core": true,
                    "https://json-schema.org/draft/2020-12/vocab/validation": true
                },
                "$dynamicAnchor": "meta",
                "allOf": [
                    {"$ref": "https://json-schema.org/draft/2020-12/meta/core"},
                    {"$ref": "https://json-schema.org/draft/2020-12/meta/validation"}
                ]
            }),
        };
        let custom = validator("s", &schema, INLINE_URI, vec![meta], options(false)).unwrap();
        assert!(!custom.is_valid(&json!(1)));
        assert!(custom.is_valid(&json!("text")));
    }

    #[test]
    fn an_invalid_schema_is_refused_with_its_place() {
        let error = validator(
            "params.schema",
            &json!({"properties": {"age": {"minimum": "ten"}}}),
            INLINE_URI,
            Vec::new(),
            options(false),
        )
        .unwrap_err();
        assert_eq!(
            error,
            "params.schema at #/properties/age/minimum: \"ten\" is not of type \"number\""
        );
    }

    #[test]
    fn format_is_an_annotation_unless_asserted() {
        let schema = json!({"format": "email"});
        let lenient = validator("s", &schema, INLINE_URI, Vec::new(), options(false)).unwrap();
        assert!(lenient.is_valid(&json!("not an address")));
        let strict = validator("s", &schema, INLINE_URI, Vec::new(), options(true)).unwrap();
        assert!(!strict.is_valid(&json!("not an address")));
        assert!(strict.is_valid(&json!("ada@example.org")));
        let unknown = validator(
            "s",
            &json!({"format": "shoe-size"}),
            INLINE_URI,
            Vec::new(),
            options(true),
        )
        .unwrap_err();
        assert!(unknown.contains("shoe-size"), "{unknown}");
        let draft7 =
            json!({"$schema": "http://json-schema.org/draft-07/schema#", "format": "email"});
        let annotation = validator("s", &draft7, INLINE_URI, Vec::new(), options(false)).unwrap();
        assert!(annotation.is_valid(&json!("not an address")));
    }

    #[test]
    fn directories_give_every_json_file_under_a_base_uri() {
        let dir = std::env::temp_dir().join(format!("json-schema-dir-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("nested")).unwrap();
        fs::write(dir.join("a.json"), r#"{"type": "string"}"#).unwrap();
        fs::write(dir.join("nested/b.json"), r#"{"type": "integer"}"#).unwrap();
        fs::write(dir.join("notes.txt"), "not a schema").unwrap();
        let path = dir.to_str().unwrap();
        let found = resources(&input("remotes", path), Some("http://localhost:1234")).unwrap();
        let uris: Vec<&str> = found.iter().map(|r| r.uri.as_str()).collect();
        assert_eq!(
            uris,
            [
                "http://localhost:1234/a.json",
                "http://localhost:1234/nested/b.json"
            ]
        );
        assert_eq!(found[1].origin, "input `remotes` (remotes/nested/b.json)");
        fs::write(dir.join("bad.json"), "{oops").unwrap();
        let error = resources(&input("remotes", path), None).unwrap_err();
        assert!(
            error.contains("remotes/bad.json") && error.contains("not valid JSON"),
            "{error}"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
