//! The validation report written as `report.json`:
//! `{"valid": bool, "checked": N, "errors": [{"file", "line"?, "pointer", "message"}]}`,
//! where `line` is there for JSON Lines files only, and the one-line reason a failed
//! stage gives: `FILE[:LINE] at POINTER: MESSAGE; N errors in total (see report.json)`.
use std::io::{self, BufRead, Write};

use jsonschema::{ValidationError, Validator};
use serde::Serialize;
use serde_json::Value;

use baton_sdk::input::{self, Values};

/// Values longer than this (as JSON) are not quoted whole in a message.
const QUOTED: usize = 80;
/// Messages are cut to this many characters.
const MESSAGE: usize = 400;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// The input's name.
    pub file: String,
    /// The line, for JSON Lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// JSON Pointer into the value (`""` for the whole value).
    pub pointer: String,
    pub message: String,
}

impl Entry {
    /// `people.jsonl:3 at /age: "x" is not of type "integer"`.
    pub fn headline(&self) -> String {
        let line = self.line.map(|line| format!(":{line}")).unwrap_or_default();
        format!(
            "{}{line} at {}: {}",
            self.file,
            pointer_shown(&self.pointer),
            self.message
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub valid: bool,
    /// Values checked: documents and JSON Lines, including ones that were not JSON.
    pub checked: u64,
    pub errors: Vec<Entry>,
}

impl Default for Report {
    fn default() -> Self {
        Self {
            valid: true,
            checked: 0,
            errors: Vec::new(),
        }
    }
}

impl Report {
    /// Validates every value of one file (named `file`). A value that is not JSON is
    /// recorded as an error; only a failed read stops, with its message.
    pub fn check<R: BufRead>(
        &mut self,
        validator: &Validator,
        file: &str,
        values: Values<R>,
    ) -> Result<(), String> {
        for item in values {
            match item {
                Ok(item) => {
                    self.checked += 1;
                    for error in validator.iter_errors(&item.value) {
                        self.add(Entry {
                            file: file.to_string(),
                            line: item.line,
                            pointer: error.instance_path().to_string(),
                            message: message(&error),
                        });
                    }
                }
                Err(input::Error::Json {
                    line,
                    column,
                    message,
                }) => {
                    self.checked += 1;
                    let lines = values_are_lines(file);
                    self.add(Entry {
                        file: file.to_string(),
                        line: lines.then_some(line),
                        pointer: String::new(),
                        message: if lines {
                            format!("not valid JSON (column {column}): {message}")
                        } else {
                            format!("not valid JSON (line {line}, column {column}): {message}")
                        },
                    });
                }
                Err(error @ input::Error::Io(_)) => return Err(format!("input `{file}`: {error}")),
            }
        }
        Ok(())
    }

    fn add(&mut self, entry: Entry) {
        self.valid = false;
        self.errors.push(entry);
    }

    /// Why the stage fails, when it does.
    pub fn failure(&self) -> Option<String> {
        let first = self.errors.first()?;
        let count = self.errors.len();
        let errors = if count == 1 { "error" } else { "errors" };
        Some(format!(
            "{}; {count} {errors} in total (see report.json)",
            first.headline()
        ))
    }
}

fn values_are_lines(file: &str) -> bool {
    input::Format::of(file) == input::Format::Lines
}

/// A pointer for people: the whole value is `(root)`.
pub fn pointer_shown(pointer: &str) -> &str {
    if pointer.is_empty() {
        "(root)"
    } else {
        pointer
    }
}

/// The library's message, with a long value shown in short (`an object`, `"abc..."`)
/// and the whole cut to [`MESSAGE`] characters.
pub fn message(error: &ValidationError) -> String {
    let instance: &Value = error.instance();
    let text = if longer_than(instance, QUOTED) {
        error.masked_with(summary(instance)).to_string()
    } else {
        error.to_string()
    };
    if text.chars().count() <= MESSAGE {
        return text;
    }
    let mut cut: String = text.chars().take(MESSAGE - 3).collect();
    cut.push_str("...");
    cut
}

/// What a long value is, in a few words.
fn summary(value: &Value) -> String {
    match value {
        Value::Object(map) => format!("an object of {} properties", map.len()),
        Value::Array(items) => format!("an array of {} items", items.len()),
        Value::String(text) => {
            let start: String = text.chars().take(40).collect();
            format!("{}...", Value::String(start))
        }
        other => other.to_string(),
    }
}

/// Whether `value` as JSON is longer than `limit` bytes, without writing more than that.
fn longer_than(value: &Value, limit: usize) -> bool {
    struct Counter {
        written: usize,
        limit: usize,
    }
    impl Write for Counter {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.written += bytes.len();
            if self.written > self.limit {
                return Err(io::Error::other("long enough"));
            }
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    serde_json::to_writer(&mut Counter { written: 0, limit }, value).is_err()
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_sdk::input::Format;
    use serde_json::json;

    fn validator() -> Validator {
        jsonschema::validator_for(&json!({
            "type": "object",
            "properties": {"age": {"type": "integer"}},
            "required": ["name"]
        }))
        .unwrap()
    }

    #[test]
    fn json_lines_errors_carry_their_line() {
        let mut report = Report::default();
        let text = "{\"name\": \"a\", \"age\": 1}\n\n{\"name\": \"b\", \"age\": \"x\"}\n{oops\n{\"age\": 2}\n";
        report
            .check(
                &validator(),
                "data/people.jsonl",
                Values::new(text.as_bytes(), Format::Lines),
            )
            .unwrap();
        assert_eq!(report.checked, 4);
        assert!(!report.valid);
        assert_eq!(
            serde_json::to_value(&report).unwrap(),
            json!({
                "valid": false,
                "checked": 4,
                "errors": [
                    {"file": "data/people.jsonl", "line": 3, "pointer": "/age", "message": "\"x\" is not of type \"integer\""},
                    {"file": "data/people.jsonl", "line": 4, "pointer": "", "message": "not valid JSON (column 2): key must be a string"},
                    {"file": "data/people.jsonl", "line": 5, "pointer": "", "message": "\"name\" is a required property"}
                ]
            })
        );
        assert_eq!(
            report.failure().unwrap(),
            "data/people.jsonl:3 at /age: \"x\" is not of type \"integer\"; 3 errors in total (see report.json)"
        );
    }

    #[test]
    fn documents_have_no_line() {
        let mut report = Report::default();
        report
            .check(
                &validator(),
                "one.json",
                Values::new("[1]".as_bytes(), Format::Document),
            )
            .unwrap();
        assert_eq!(
            report.failure().unwrap(),
            "one.json at (root): [1] is not of type \"object\"; 1 error in total (see report.json)"
        );
        let text = serde_json::to_string(&report).unwrap();
        assert_eq!(
            text,
            r#"{"valid":false,"checked":1,"errors":[{"file":"one.json","pointer":"","message":"[1] is not of type \"object\""}]}"#
        );
        let mut valid = Report::default();
        valid
            .check(
                &validator(),
                "ok.json",
                Values::new("{\"name\": 1}".as_bytes(), Format::Document),
            )
            .unwrap();
        assert_eq!(
            (valid.valid, valid.checked, valid.failure()),
            (true, 1, None)
        );
    }

    #[test]
    fn long_values_are_summarised_and_pointers_escaped() {
        let schema = json!({
            "properties": {"a/b": {"properties": {"c~d": {"type": "array"}}}},
            "items": {"maxLength": 3}
        });
        let validator = jsonschema::validator_for(&schema).unwrap();
        let big: serde_json::Map<String, Value> =
            (0..50).map(|i| (format!("key{i}"), json!(i))).collect();
        let instance = json!({"a/b": {"c~d": big}});
        let errors: Vec<(String, String)> = validator
            .iter_errors(&instance)
            .map(|error| (error.instance_path().to_string(), message(&error)))
            .collect();
        assert_eq!(
            errors,
            [(
                "/a~1b/c~0d".to_string(),
                "an object of 50 properties is not of type \"array\"".to_string()
            )]
        );
        let long = json!(["x".repeat(500)]);
        let error = validator.iter_errors(&long).next().unwrap();
        assert_eq!(error.instance_path().to_string(), "/0");
        assert_eq!(
            message(&error),
            format!("\"{}\"... is longer than 3 characters", "x".repeat(40))
        );
        assert!(!longer_than(&json!("short"), QUOTED));
    }
}
