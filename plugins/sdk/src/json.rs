//! Reading the JSON text a call carries (`settings`, `params`, an artifact's `payload`,
//! `options`) with errors that name the offending field, e.g. `settings.email is missing`
//! or `params.delimiter must be a string, found a number`. Every [`Error`] converts into a
//! fatal [`Failure`] (and, for agent adapters, a fatal [`AgentFailure`]), so plugin code can
//! use `?`.
use core::fmt;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::types::{AgentFailure, Artifact, Failure};

/// What went wrong with which field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// Dotted name of the value, e.g. `settings` or `settings.email`.
    pub field: String,
    pub problem: Problem,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The text is not JSON, or does not match the expected shape (serde's message).
    Invalid(String),
    /// A required key is absent (or `null`).
    Missing,
    /// The value has another JSON type than expected.
    WrongType {
        expected: &'static str,
        found: &'static str,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.problem {
            Problem::Invalid(message) => write!(f, "{} is not valid: {message}", self.field),
            Problem::Missing => write!(f, "{} is missing", self.field),
            Problem::WrongType { expected, found } => {
                write!(f, "{} must be {expected}, found {found}", self.field)
            }
        }
    }
}

impl std::error::Error for Error {}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Failure::Fatal(error.to_string())
    }
}

/// Bad settings or options never get better by retrying: `fatal`.
impl From<Error> for AgentFailure {
    fn from(error: Error) -> Self {
        AgentFailure::Fatal(error.to_string())
    }
}

/// Parses `text` into a typed value; `what` names it in errors (e.g. `"settings"`).
/// Empty text counts as `{}`.
pub fn parse<T: DeserializeOwned>(what: &str, text: &str) -> Result<T, Error> {
    serde_json::from_str(non_empty(text)).map_err(|error| Error {
        field: what.to_string(),
        problem: Problem::Invalid(error.to_string()),
    })
}

/// The string `key` of the artifact's payload, else the artifact id: how a resolver takes
/// what it looks up, e.g. `payload_or_id(&request.artifact, "doi")`.
pub fn payload_or_id(artifact: &Artifact, key: &str) -> Result<String, Error> {
    let payload = Object::parse("payload", &artifact.payload)?;
    Ok(payload.str(key)?.unwrap_or(&artifact.id).to_string())
}

/// A JSON object with typed accessors; `Ok(None)` means the key is absent or `null`.
#[derive(Debug, Clone, Default)]
pub struct Object {
    what: String,
    map: Map<String, Value>,
}

impl Object {
    /// Parses `text`, which must be a JSON object; `what` names it in errors. Empty text
    /// counts as `{}`.
    pub fn parse(what: &str, text: &str) -> Result<Self, Error> {
        let value: Value = parse(what, text)?;
        Self::from_value(what, value)
    }

    /// Wraps a value that must be an object, e.g. a nested one.
    pub fn from_value(what: &str, value: Value) -> Result<Self, Error> {
        match value {
            Value::Object(map) => Ok(Self {
                what: what.to_string(),
                map,
            }),
            other => Err(Error {
                field: what.to_string(),
                problem: Problem::WrongType {
                    expected: "an object",
                    found: type_name(&other),
                },
            }),
        }
    }

    /// The raw value under `key`, if any (`null` counts as absent).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.map.get(key).filter(|value| !value.is_null())
    }

    pub fn str(&self, key: &str) -> Result<Option<&str>, Error> {
        self.typed(key, "a string", Value::as_str)
    }

    /// A string without its surrounding whitespace; a blank one counts as absent.
    pub fn non_blank_str(&self, key: &str) -> Result<Option<&str>, Error> {
        Ok(self
            .str(key)?
            .map(str::trim)
            .filter(|text| !text.is_empty()))
    }

    pub fn required_str(&self, key: &str) -> Result<&str, Error> {
        self.str(key)?
            .ok_or_else(|| self.error(key, Problem::Missing))
    }

    pub fn bool(&self, key: &str) -> Result<Option<bool>, Error> {
        self.typed(key, "a boolean", Value::as_bool)
    }

    pub fn u64(&self, key: &str) -> Result<Option<u64>, Error> {
        self.typed(key, "a non-negative integer", Value::as_u64)
    }

    /// An array whose items are all strings.
    pub fn strings(&self, key: &str) -> Result<Option<Vec<String>>, Error> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        let Value::Array(items) = value else {
            return Err(self.wrong_type(key, "an array of strings", value));
        };
        items
            .iter()
            .enumerate()
            .map(|(index, item)| match item {
                Value::String(text) => Ok(text.clone()),
                other => Err(Error {
                    field: format!("{}.{key}[{index}]", self.what),
                    problem: Problem::WrongType {
                        expected: "a string",
                        found: type_name(other),
                    },
                }),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    fn typed<'a, T>(
        &'a self,
        key: &str,
        expected: &'static str,
        convert: impl Fn(&'a Value) -> Option<T>,
    ) -> Result<Option<T>, Error> {
        match self.get(key) {
            None => Ok(None),
            Some(value) => convert(value)
                .map(Some)
                .ok_or_else(|| self.wrong_type(key, expected, value)),
        }
    }

    fn wrong_type(&self, key: &str, expected: &'static str, value: &Value) -> Error {
        self.error(
            key,
            Problem::WrongType {
                expected,
                found: type_name(value),
            },
        )
    }

    /// The dotted name of `key` for messages, e.g. `params.output`.
    pub fn field(&self, key: &str) -> String {
        format!("{}.{key}", self.what)
    }

    fn error(&self, key: &str, problem: Problem) -> Error {
        Error {
            field: self.field(key),
            problem,
        }
    }
}

fn non_empty(text: &str) -> &str {
    if text.trim().is_empty() {
        "{}"
    } else {
        text
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(number) if number.is_u64() => "a non-negative integer",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessors_name_the_field() {
        let settings = Object::parse(
            "settings",
            r#"{"email": "e@x", "port": 8, "debug": true, "args": ["a", 3], "none": null}"#,
        )
        .unwrap();
        assert_eq!(settings.required_str("email").unwrap(), "e@x");
        assert_eq!(settings.u64("port").unwrap(), Some(8));
        assert_eq!(settings.bool("debug").unwrap(), Some(true));
        assert_eq!(settings.str("none").unwrap(), None);
        let message = |error: Error| error.to_string();
        assert_eq!(
            message(settings.required_str("base").unwrap_err()),
            "settings.base is missing"
        );
        assert_eq!(
            message(settings.str("port").unwrap_err()),
            "settings.port must be a string, found a non-negative integer"
        );
        assert_eq!(
            message(settings.strings("args").unwrap_err()),
            "settings.args[1] must be a string, found a non-negative integer"
        );
        assert_eq!(settings.field("email"), "settings.email");
    }

    #[test]
    fn non_blank_strings_are_trimmed() {
        let settings = Object::parse(
            "settings",
            r#"{"mailto": " a@b.org ", "blank": "  ", "n": 1}"#,
        )
        .unwrap();
        assert_eq!(settings.non_blank_str("mailto").unwrap(), Some("a@b.org"));
        assert_eq!(settings.non_blank_str("blank").unwrap(), None);
        assert_eq!(settings.non_blank_str("absent").unwrap(), None);
        assert_eq!(
            settings.non_blank_str("n").unwrap_err().to_string(),
            "settings.n must be a string, found a non-negative integer"
        );
    }

    #[test]
    fn payload_field_else_artifact_id() {
        let artifact = |payload: &str| Artifact {
            id: "the-id".into(),
            payload: payload.into(),
        };
        assert_eq!(
            payload_or_id(&artifact(r#"{"doi": "10.1/x"}"#), "doi").unwrap(),
            "10.1/x"
        );
        assert_eq!(payload_or_id(&artifact(""), "doi").unwrap(), "the-id");
        assert_eq!(
            payload_or_id(&artifact(r#"{"doi": null}"#), "doi").unwrap(),
            "the-id"
        );
        assert_eq!(
            payload_or_id(&artifact(r#"{"doi": 5}"#), "doi")
                .unwrap_err()
                .to_string(),
            "payload.doi must be a string, found a non-negative integer"
        );
    }

    #[test]
    fn whole_document_errors() {
        assert!(Object::parse("params", "").unwrap().get("x").is_none());
        assert_eq!(
            Object::parse("params", "[1]").unwrap_err().to_string(),
            "params must be an object, found an array"
        );
        let invalid = Object::parse("payload", "{").unwrap_err();
        assert!(invalid.to_string().starts_with("payload is not valid: EOF"));
        assert_eq!(
            Failure::from(invalid.clone()),
            Failure::Fatal(invalid.to_string())
        );
    }
}
