//! The validation report written as `report.json`:
//! `{"valid": bool, "checked": N, "errors": [{"file", "line"?, "pointer", "message"}]}`,
//! where `line` is there for JSON Lines files only, and the one-line reason a failed
//! stage gives: `FILE[:LINE] at POINTER: MESSAGE; N errors in total (see report.json)`.
use std::io::BufRead;

use serde::Serialize;

use crate::schema::Schema;
use crate::validate::shown;
use baton_sdk::input::{self, Values};

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
    /// `people.jsonl:3 at /age: expected integer, found string "x"`.
    pub fn headline(&self) -> String {
        let line = self.line.map(|line| format!(":{line}")).unwrap_or_default();
        format!(
            "{}{line} at {}: {}",
            self.file,
            shown(&self.pointer),
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
        schema: &Schema,
        file: &str,
        values: Values<R>,
    ) -> Result<(), String> {
        for item in values {
            match item {
                Ok(item) => {
                    self.checked += 1;
                    for violation in schema.validate(&item.value) {
                        self.add(Entry {
                            file: file.to_string(),
                            line: item.line,
                            pointer: violation.pointer,
                            message: violation.message,
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

#[cfg(test)]
mod tests {
    use super::*;
    use baton_sdk::input::Format;
    use serde_json::json;

    fn schema() -> Schema {
        Schema::compile(&json!({
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
                &schema(),
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
                    {"file": "data/people.jsonl", "line": 3, "pointer": "/age", "message": "expected integer, found string \"x\""},
                    {"file": "data/people.jsonl", "line": 4, "pointer": "", "message": "not valid JSON (column 2): key must be a string"},
                    {"file": "data/people.jsonl", "line": 5, "pointer": "", "message": "missing required property `name`"}
                ]
            })
        );
        assert_eq!(
            report.failure().unwrap(),
            "data/people.jsonl:3 at /age: expected integer, found string \"x\"; 3 errors in total (see report.json)"
        );
    }

    #[test]
    fn documents_have_no_line() {
        let mut report = Report::default();
        report
            .check(
                &schema(),
                "one.json",
                Values::new("[1]".as_bytes(), Format::Document),
            )
            .unwrap();
        assert_eq!(
            report.failure().unwrap(),
            "one.json at (root): expected object, found array; 1 error in total (see report.json)"
        );
        let text = serde_json::to_string(&report).unwrap();
        assert_eq!(
            text,
            r#"{"valid":false,"checked":1,"errors":[{"file":"one.json","pointer":"","message":"expected object, found array"}]}"#
        );
        let mut valid = Report::default();
        valid
            .check(
                &schema(),
                "ok.json",
                Values::new("{\"name\": 1}".as_bytes(), Format::Document),
            )
            .unwrap();
        assert_eq!(
            (valid.valid, valid.checked, valid.failure()),
            (true, 1, None)
        );
    }
}
