//! The `json-schema` stage (the `jsonschema` crate) through the real binary: `baton plugin
//! call` with staged inputs for the keywords the old hand-written subset refused, `$id`
//! and `$ref` across files, `format` as an annotation or an assertion, draft 7 by
//! `$schema`, and the report (file, line, pointer); one pipeline whose output schema uses
//! them; and the official JSON Schema Test Suite (draft 2020-12), downloaded from PyPI at
//! test time (`plugins/json-schema/conformance.sh` also measures the library alone).

use crate::common::{Project, Run, plugin};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What one validation call gave.
struct Checked {
    run: Run,
    /// `report.json`, when the stage wrote it.
    report: Option<Value>,
}

impl Checked {
    /// Asserts the exit code, showing the output when it differs.
    fn exits(&self, code: i32) {
        assert_eq!(
            self.run.code(),
            code,
            "unexpected exit code\nstdout:\n{}\nstderr:\n{}",
            self.run.stdout(),
            self.run.stderr()
        );
    }

    fn report(&self) -> &Value {
        self.report.as_ref().unwrap_or_else(|| {
            panic!(
                "no report.json\nstdout:\n{}\nstderr:\n{}",
                self.run.stdout(),
                self.run.stderr()
            )
        })
    }

    /// `(line, pointer)` of every error, in report order.
    fn errors(&self) -> Vec<(Option<u64>, String)> {
        self.report()["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["line"].as_u64(),
                    e["pointer"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    fn messages(&self) -> Vec<String> {
        self.report()["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["message"].as_str().unwrap().to_string())
            .collect()
    }

    fn reason(&self) -> String {
        self.run.json()["failure"]["reason"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

/// Calls the json-schema plugin with `params`, staging `inputs` (name, host path).
fn call(project: &Project, params: &Value, inputs: &[(&str, PathBuf)]) -> Checked {
    let wasm = plugin("json-schema");
    let out = tempfile::tempdir_in(project.path()).unwrap();
    let params = params.to_string();
    let staged: Vec<String> = inputs
        .iter()
        .map(|(name, path)| format!("{name}={}", path.display()))
        .collect();
    let mut args = vec![
        "plugin",
        "call",
        wasm.to_str().unwrap(),
        "--format",
        "json",
        "--input",
        &params,
        "--output-dir",
        out.path().to_str().unwrap(),
    ];
    for input in &staged {
        args.extend(["--stage-input", input]);
    }
    let run = project.baton(&args);
    let report = std::fs::read_to_string(out.path().join("report.json"))
        .ok()
        .map(|text| serde_json::from_str(&text).unwrap());
    Checked { run, report }
}

/// Validates `lines` (JSON Lines, one value each) against `schema`, with `params` added.
fn check_lines(schema: Value, lines: &[Value], params: Value) -> Checked {
    let project = Project::new();
    let schema_path = project.write("schema.json", &schema.to_string());
    let text: Vec<String> = lines.iter().map(Value::to_string).collect();
    let data = project.write("data.jsonl", &(text.join("\n") + "\n"));
    let mut all = json!({"schema-input": "schema.json", "targets": ["data.jsonl"]});
    for (key, value) in params.as_object().unwrap() {
        all[key] = value.clone();
    }
    call(
        &project,
        &all,
        &[("schema.json", schema_path), ("data.jsonl", data)],
    )
}

fn at(line: u64, pointer: &str) -> (Option<u64>, String) {
    (Some(line), pointer.to_string())
}

#[test]
fn pattern_checks_strings_with_ecma_regular_expressions() {
    let schema = json!({
        "type": "object",
        "properties": {"code": {"type": "string", "pattern": "^[A-Z]{3}-\\d{2}$"}}
    });
    let checked = check_lines(
        schema,
        &[
            json!({"code": "ABC-12"}),
            json!({"code": "abc-12"}),
            json!({"code": "ABC-123"}),
            json!({"other": "no code at all"}),
        ],
        json!({}),
    );
    checked.exits(30);
    assert_eq!(checked.errors(), [at(2, "/code"), at(3, "/code")]);
    assert_eq!(checked.report()["checked"], 4);
    assert!(
        checked.messages()[0].contains("does not match"),
        "{:?}",
        checked.messages()
    );
}

#[test]
fn if_then_else_picks_the_branch_per_value() {
    let schema = json!({
        "if": {"properties": {"kind": {"const": "company"}}, "required": ["kind"]},
        "then": {"required": ["vat"]},
        "else": {"required": ["birthday"]}
    });
    let checked = check_lines(
        schema,
        &[
            json!({"kind": "company", "vat": "NO123"}),
            json!({"kind": "company", "birthday": "1990-01-01"}),
            json!({"kind": "person", "birthday": "1990-01-01"}),
            json!({"kind": "person", "vat": "NO123"}),
        ],
        json!({}),
    );
    checked.exits(30);
    assert_eq!(checked.errors(), [at(2, ""), at(4, "")]);
    assert!(
        checked.messages()[0].contains("\"vat\""),
        "{:?}",
        checked.messages()
    );
    assert!(
        checked.messages()[1].contains("\"birthday\""),
        "{:?}",
        checked.messages()
    );
}

#[test]
fn contains_counts_matching_items() {
    let schema = json!({
        "properties": {
            "tags": {"type": "array", "contains": {"const": "urgent"}, "maxContains": 1}
        }
    });
    let checked = check_lines(
        schema,
        &[
            json!({"tags": ["urgent", "billing"]}),
            json!({"tags": ["billing"]}),
            json!({"tags": ["urgent", "urgent"]}),
            json!({"tags": []}),
        ],
        json!({}),
    );
    checked.exits(30);
    assert_eq!(
        checked.errors(),
        [at(2, "/tags"), at(3, "/tags"), at(4, "/tags")]
    );
}

#[test]
fn pattern_properties_apply_by_key_name() {
    let schema = json!({
        "properties": {"id": {"type": "integer"}},
        "patternProperties": {"^x-": {"type": "string"}},
        "additionalProperties": false
    });
    let checked = check_lines(
        schema,
        &[
            json!({"id": 1, "x-note": "fine", "x-owner": "ops"}),
            json!({"id": 2, "x-note": 5}),
            json!({"id": 3, "note": "not an extension"}),
        ],
        json!({}),
    );
    checked.exits(30);
    assert_eq!(checked.errors(), [at(2, "/x-note"), at(3, "")]);
    assert!(
        checked.messages()[1].contains("'note' was unexpected"),
        "{:?}",
        checked.messages()
    );
}

#[test]
fn dependent_required_needs_the_companion_properties() {
    let schema = json!({"dependentRequired": {"card": ["billing_address", "expiry"]}});
    let checked = check_lines(
        schema,
        &[
            json!({"card": "4111", "billing_address": "Oslo", "expiry": "12/30"}),
            json!({"card": "4111", "billing_address": "Oslo"}),
            json!({"cash": true}),
        ],
        json!({}),
    );
    checked.exits(30);
    assert_eq!(checked.errors(), [at(2, "")]);
    assert!(
        checked.messages()[0].contains("\"expiry\""),
        "{:?}",
        checked.messages()
    );
}

#[test]
fn unevaluated_properties_see_through_all_of() {
    // `additionalProperties: false` here would refuse `name`, which only the `allOf`
    // branch declares; `unevaluatedProperties` sees it as evaluated.
    let schema = json!({
        "allOf": [{"properties": {"name": {"type": "string"}}}],
        "properties": {"age": {"type": "integer"}},
        "unevaluatedProperties": false
    });
    let checked = check_lines(
        schema,
        &[
            json!({"name": "Ada", "age": 36}),
            json!({"name": "Ada", "nickname": "Countess"}),
        ],
        json!({}),
    );
    checked.exits(30);
    assert_eq!(checked.errors(), [at(2, "")]);
    assert!(
        checked.messages()[0].contains("'nickname' was unexpected"),
        "{:?}",
        checked.messages()
    );
}

#[test]
fn unknown_keywords_are_ignored() {
    let schema = json!({
        "type": "object",
        "x-ui-widget": "slider",
        "owner": {"team": "data", "since": 2021},
        "required": ["a"]
    });
    let checked = check_lines(schema, &[json!({"a": 1}), json!({"b": 2})], json!({}));
    checked.exits(30);
    assert_eq!(checked.errors(), [at(2, "")]);
    assert_eq!(checked.messages(), ["\"a\" is a required property"]);
}

#[test]
fn a_ref_under_a_nested_id_resolves_against_that_id() {
    // `#/$defs/name` inside the resource `item.json` is item.json's own `name` (a string),
    // not the root's (an integer).
    let schema = json!({
        "$id": "https://example.org/schemas/root.json",
        "$defs": {
            "name": {"type": "integer"},
            "item": {
                "$id": "item.json",
                "$defs": {"name": {"type": "string"}},
                "properties": {"name": {"$ref": "#/$defs/name"}}
            }
        },
        "properties": {
            "item": {"$ref": "item.json"},
            "id": {"$ref": "#/$defs/name"}
        }
    });
    let checked = check_lines(
        schema,
        &[
            json!({"item": {"name": "widget"}, "id": 7}),
            json!({"item": {"name": 7}, "id": "widget"}),
        ],
        json!({}),
    );
    checked.exits(30);
    assert_eq!(checked.errors(), [at(2, "/id"), at(2, "/item/name")]);
}

#[test]
fn a_ref_reaches_a_second_schema_file_given_as_an_input() {
    let project = Project::new();
    let person = project.write(
        "schemas/person.schema.json",
        &json!({
            "type": "object",
            "properties": {
                "home": {"$ref": "address.schema.json"},
                "work": {"$ref": "https://example.org/address#/$defs/city"}
            }
        })
        .to_string(),
    );
    let address = project.write(
        "schemas/address.schema.json",
        &json!({
            "$id": "https://example.org/address",
            "type": "object",
            "required": ["city"],
            "properties": {"city": {"$ref": "#/$defs/city"}},
            "$defs": {"city": {"type": "string", "minLength": 2}}
        })
        .to_string(),
    );
    let data = project.write(
        "data/people.jsonl",
        "{\"home\": {\"city\": \"Oslo\"}, \"work\": \"Rome\"}\n{\"home\": {}, \"work\": \"R\"}\n",
    );
    let inputs = [
        ("schemas/person.schema.json", person),
        ("schemas/address.schema.json", address),
        ("data/people.jsonl", data),
    ];
    // Without targets, the schema input and the ref inputs are not validated themselves.
    let checked = call(
        &project,
        &json!({
            "schema-input": "schemas/person.schema.json",
            "ref-inputs": ["schemas/address.schema.json"]
        }),
        &inputs,
    );
    checked.exits(30);
    assert_eq!(checked.report()["checked"], 2);
    assert_eq!(checked.errors(), [at(2, "/home"), at(2, "/work")]);
    // Without the second file neither reference resolves, and the error names the first
    // one the library meets (in no fixed order).
    let missing = call(
        &project,
        &json!({"schema-input": "schemas/person.schema.json", "targets": ["data/people.jsonl"]}),
        &inputs,
    );
    missing.exits(30);
    assert!(missing.report.is_none());
    let reason = missing.reason();
    assert!(
        reason.contains("schema input `schemas/person.schema.json`")
            && (reason.contains("'file:///inputs/schemas/address.schema.json'")
                || reason.contains("'https://example.org/address'"))
            && reason.contains("params.ref-inputs"),
        "{reason}"
    );
}

#[test]
fn format_is_an_annotation_unless_asserted() {
    let schema = json!({
        "properties": {"email": {"format": "email"}, "day": {"format": "date"}}
    });
    let lines = [
        json!({"email": "ada@example.org", "day": "2024-02-29"}),
        json!({"email": "not an address", "day": "2023-02-29"}),
    ];
    let annotated = check_lines(schema.clone(), &lines, json!({}));
    annotated.exits(0);
    assert_eq!(annotated.report()["valid"], true);
    let asserted = check_lines(schema, &lines, json!({"assert-format": true}));
    asserted.exits(30);
    assert_eq!(asserted.errors(), [at(2, "/day"), at(2, "/email")]);
    let unknown = check_lines(
        json!({"format": "shoe-size"}),
        &[json!("42")],
        json!({"assert-format": true}),
    );
    unknown.exits(30);
    assert!(
        unknown.reason().contains("shoe-size"),
        "{}",
        unknown.reason()
    );
}

#[test]
fn a_draft_7_schema_is_read_as_draft_7() {
    // Array-form `items`, `additionalItems` and `dependencies` are draft 7's; `format`
    // stays an annotation there too unless asserted.
    let schema = json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {
            "pair": {
                "type": "array",
                "items": [{"type": "string"}, {"type": "integer"}],
                "additionalItems": false
            },
            "contact": {"format": "email"}
        },
        "dependencies": {"contact": ["pair"]}
    });
    let checked = check_lines(
        schema,
        &[
            json!({"pair": ["a", 1], "contact": "not an address"}),
            json!({"pair": ["a", "b"]}),
            json!({"pair": ["a", 1, true]}),
            json!({"contact": "ada@example.org"}),
        ],
        json!({}),
    );
    checked.exits(30);
    assert_eq!(
        checked.errors(),
        [at(2, "/pair/1"), at(3, "/pair"), at(4, "")]
    );
}

#[test]
fn dynamic_and_recursive_references_follow_the_dynamic_scope() {
    // A generic tree whose nodes an extending schema constrains, in 2020-12
    // (`$dynamicRef`) and in 2019-09 (`$recursiveRef`).
    let tree_2020 = json!({
        "$id": "https://example.org/strict-tree",
        "$dynamicAnchor": "node",
        "$ref": "tree",
        "unevaluatedProperties": false,
        "$defs": {
            "tree": {
                "$id": "tree",
                "$dynamicAnchor": "node",
                "type": "object",
                "properties": {
                    "data": true,
                    "children": {"type": "array", "items": {"$dynamicRef": "#node"}}
                }
            }
        }
    });
    let tree_2019 = json!({
        "$schema": "https://json-schema.org/draft/2019-09/schema",
        "$id": "https://example.org/strict-tree-2019",
        "$recursiveAnchor": true,
        "$ref": "tree",
        "unevaluatedProperties": false,
        "$defs": {
            "tree": {
                "$id": "tree",
                "$recursiveAnchor": true,
                "type": "object",
                "properties": {
                    "data": true,
                    "children": {"type": "array", "items": {"$recursiveRef": "#"}}
                }
            }
        }
    });
    let lines = [
        json!({"children": [{"data": 1, "children": []}]}),
        json!({"children": [{"daat": 1}]}),
    ];
    for schema in [tree_2020, tree_2019] {
        let checked = check_lines(schema, &lines, json!({}));
        checked.exits(30);
        assert_eq!(checked.errors(), [at(2, "/children/0")]);
    }
}

#[test]
fn the_report_names_file_line_and_pointer() {
    let project = Project::new();
    let schema = project.write(
        "schemas/order.schema.json",
        &json!({
            "type": "object",
            "required": ["id"],
            "properties": {
                "id": {"type": "integer"},
                "lines": {"type": "array", "items": {
                    "type": "object",
                    "properties": {"sku": {"pattern": "^SKU-"}, "a/b~c": {"type": "string"}}
                }}
            }
        })
        .to_string(),
    );
    let orders = project.write(
        "data/orders.jsonl",
        "{\"id\": 1}\n\n{\"id\": \"two\", \"lines\": [{\"sku\": \"SKU-1\"}, {\"sku\": \"X-2\", \"a/b~c\": 3}]}\n{not json\n",
    );
    let single = project.write("data/single.json", "{\n  \"lines\": []\n}\n");
    let checked = call(
        &project,
        &json!({
            "schema-input": "schemas/order.schema.json",
            "targets": ["data/orders.jsonl", "data/single.json"]
        }),
        &[
            ("schemas/order.schema.json", schema),
            ("data/orders.jsonl", orders),
            ("data/single.json", single),
        ],
    );
    checked.exits(30);
    assert_eq!(
        checked.report(),
        &json!({
            "valid": false,
            "checked": 4,
            "errors": [
                {"file": "data/orders.jsonl", "line": 3, "pointer": "/id",
                 "message": "\"two\" is not of type \"integer\""},
                {"file": "data/orders.jsonl", "line": 3, "pointer": "/lines/1/a~1b~0c",
                 "message": "3 is not of type \"string\""},
                {"file": "data/orders.jsonl", "line": 3, "pointer": "/lines/1/sku",
                 "message": "\"X-2\" does not match \"^SKU-\""},
                {"file": "data/orders.jsonl", "line": 4, "pointer": "",
                 "message": "not valid JSON (column 2): key must be a string"},
                {"file": "data/single.json", "pointer": "",
                 "message": "\"id\" is a required property"}
            ]
        })
    );
    assert_eq!(
        checked.reason(),
        "data/orders.jsonl:3 at /id: \"two\" is not of type \"integer\"; 5 errors in total (see report.json)"
    );
}

#[test]
fn an_invalid_schema_fails_naming_the_place() {
    let checked = check_lines(
        json!({"properties": {"age": {"minimum": "ten"}}}),
        &[json!({"age": 1})],
        json!({}),
    );
    checked.exits(30);
    assert!(checked.report.is_none());
    assert_eq!(
        checked.reason(),
        "schema input `schema.json` at #/properties/age/minimum: \"ten\" is not of type \"number\""
    );
}

#[test]
fn a_pipeline_validates_outputs_with_the_full_language() {
    let project = Project::new();
    project.write("baton.toml", "[defaults]\ntimeout = \"60s\"\n");
    project.write(
        "data/people.csv",
        "name,age,city\nAda,36,London\nGrace,85,new york\n",
    );
    project.write(
        "schemas/person.schema.json",
        &json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "required": ["name", "age", "city"],
            "properties": {
                "name": {"type": "string"},
                "age": {"type": "string", "pattern": "^[0-9]{1,3}$"},
                "city": {"type": "string", "pattern": "^[A-Z]"}
            },
            "unevaluatedProperties": false
        })
        .to_string(),
    );
    project.write(
        "pipelines/people.toml",
        r#"
[[stage]]
id = "people"
plugin = "csv-to-jsonl"
inputs = ["data/people.csv"]
outputs = ["people.jsonl"]
schemas = { "people.jsonl" = "schemas/person.schema.json" }
"#,
    );
    let doc = project
        .baton(&["pipeline", "run", "people", "--format", "json"])
        .expect(10)
        .json();
    let stage = &doc["stages"][0];
    assert_eq!(stage["state"], "failed", "{doc}");
    let detail = stage["detail"].as_str().unwrap();
    assert!(
        detail.contains("people.jsonl:2 at /city: \"new york\" does not match \"^[A-Z]\""),
        "{detail}"
    );
    assert!(!project.path().join("out/people").exists());
    project.write(
        "data/people.csv",
        "name,age,city\nAda,36,London\nGrace,85,New York\n",
    );
    let doc = project
        .baton(&["pipeline", "run", "people", "--format", "json"])
        .expect(0)
        .json();
    assert_eq!(doc["stages"][0]["state"], "done", "{doc}");
}

// The official JSON Schema Test Suite, draft 2020-12, through the plugin. The suite is not
// in the repository: `plugins/json-schema/conformance.sh` downloads it into a temporary
// directory and runs this test with JSON_SCHEMA_TEST_SUITE set to it.

/// The remote documents the suite's cases refer to as `http://localhost:1234/...`, less the
/// other drafts' (whose `$schema`s a 2020-12 run does not know): the harness's copy.
fn remotes_for_2020_12(suite: &Path, into: &Path) {
    fn copy(from: &Path, to: &Path, top: bool) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if path.is_dir() {
                if !(top && name.starts_with("draft") && name != "draft2020-12") {
                    copy(&path, &to.join(&name), false);
                }
            } else {
                std::fs::copy(&path, to.join(&name)).unwrap();
            }
        }
    }
    copy(&suite.join("remotes"), into, true);
}

/// The official suite: `JSON_SCHEMA_TEST_SUITE` when set (conformance.sh sets it), else
/// downloaded into `into` from the copy in PyPI's `jsonschema` 4.26.0 source distribution
/// (only the package registries are reachable where Baton is built; never committed).
fn official_suite(into: &Path) -> PathBuf {
    if let Ok(dir) = std::env::var("JSON_SCHEMA_TEST_SUITE") {
        return PathBuf::from(dir);
    }
    let download = std::process::Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--no-binary",
            ":all:",
        ])
        .args(["jsonschema==4.26.0", "-d"])
        .arg(into)
        .status()
        .expect("python3 runs");
    assert!(download.success(), "cannot download the suite from PyPI");
    let unpack = std::process::Command::new("tar")
        .arg("-xzf")
        .arg(into.join("jsonschema-4.26.0.tar.gz"))
        .arg("-C")
        .arg(into)
        .status()
        .expect("tar runs");
    assert!(unpack.success(), "cannot unpack the suite");
    into.join("jsonschema-4.26.0/json")
}

#[test]
fn official_suite_draft2020_12_through_the_plugin() {
    let download = tempfile::tempdir().unwrap();
    let suite = official_suite(download.path());
    let project = Project::new();
    let remotes = project.path().join("remotes");
    remotes_for_2020_12(&suite, &remotes);
    let dir = suite.join("tests/draft2020-12");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let (mut passed, mut total, mut calls) = (0usize, 0usize, 0usize);
    let mut failures = Vec::new();
    let mut per_file = BTreeMap::new();
    for file in &files {
        let stem = file.file_stem().unwrap().to_string_lossy().into_owned();
        let groups: Vec<Value> =
            serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        let (mut file_passed, mut file_total) = (0, 0);
        for (index, group) in groups.iter().enumerate() {
            let tests = group["tests"].as_array().unwrap();
            // One call per group: its schema, and every case's data as one JSON Lines file.
            let case = format!("cases/{stem}-{index}");
            let schema =
                project.write(&format!("{case}/schema.json"), &group["schema"].to_string());
            let lines: Vec<String> = tests.iter().map(|t| t["data"].to_string()).collect();
            let data = project.write(&format!("{case}/data.jsonl"), &(lines.join("\n") + "\n"));
            let checked = call(
                &project,
                &json!({
                    "schema-input": "schema.json",
                    "targets": ["data.jsonl"],
                    "ref-inputs": {"remotes": "http://localhost:1234/"}
                }),
                &[
                    ("schema.json", schema),
                    ("data.jsonl", data),
                    ("remotes", remotes.clone()),
                ],
            );
            calls += 1;
            // No report: the schema did not load, and no case of the group passes.
            let invalid_lines: Option<BTreeSet<u64>> = checked.report.as_ref().map(|_| {
                checked
                    .errors()
                    .iter()
                    .filter_map(|(line, _)| *line)
                    .collect()
            });
            for (line, test) in (1..).zip(tests) {
                let expected_valid = test["valid"].as_bool().unwrap();
                let ok = invalid_lines
                    .as_ref()
                    .is_some_and(|invalid| invalid.contains(&line) != expected_valid);
                total += 1;
                file_total += 1;
                if ok {
                    passed += 1;
                    file_passed += 1;
                } else {
                    failures.push(format!(
                        "{stem}: {} / {} (expected {}){}",
                        group["description"],
                        test["description"],
                        if expected_valid { "valid" } else { "invalid" },
                        if invalid_lines.is_none() {
                            format!(": {}", checked.reason())
                        } else {
                            String::new()
                        }
                    ));
                }
            }
        }
        per_file.insert(stem, (file_passed, file_total));
    }
    for (stem, (file_passed, file_total)) in &per_file {
        if file_passed != file_total {
            println!("{stem}: {file_passed}/{file_total}");
        }
    }
    for failure in &failures {
        println!("FAILED {failure}");
    }
    println!(
        "draft 2020-12 through the plugin: {passed}/{total} cases passed ({:.2}%), {} files, {calls} calls",
        100.0 * passed as f64 / total as f64,
        files.len()
    );
    assert!(
        total > 1000,
        "only {total} cases found in {}",
        dir.display()
    );
    assert!(failures.is_empty(), "{} cases failed", failures.len());
}
