//! Compiles a JSON Schema (the draft 2020-12 subset listed in the crate docs) into nodes the
//! validator walks. Every keyword is looked at: a supported one becomes a check, an
//! annotation (`title`, `format`, ...) is ignored, and anything else is refused, naming
//! the keyword and where it is, so a schema never quietly passes data it was meant to
//! reject. `$ref`s resolve to JSON Pointers into the same document; references that loop
//! without going deeper into the data are refused too, since they would never end.
use std::collections::HashMap;
use std::fmt;

use serde_json::{Map, Number, Value};

use crate::pointer;

/// A compiled schema; node 0 is the root.
#[derive(Debug)]
pub struct Schema {
    pub(crate) nodes: Vec<Node>,
}

#[derive(Debug, Default)]
pub(crate) struct Node {
    pub(crate) checks: Vec<Check>,
}

/// A number from the schema: compared as `f64`, shown as written.
#[derive(Debug, Clone)]
pub(crate) struct Limit {
    pub(crate) value: f64,
    pub(crate) text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Type {
    Null,
    Boolean,
    Object,
    Array,
    Number,
    String,
    Integer,
}

impl Type {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Type::Null => "null",
            Type::Boolean => "boolean",
            Type::Object => "object",
            Type::Array => "array",
            Type::Number => "number",
            Type::String => "string",
            Type::Integer => "integer",
        }
    }
}

/// One keyword's check; `usize`s are node indices.
#[derive(Debug)]
pub(crate) enum Check {
    /// The `false` schema.
    Never,
    Type(Vec<Type>),
    Enum(Vec<Value>),
    Const(Value),
    Properties(Vec<(String, usize)>),
    Required(Vec<String>),
    /// `additionalProperties` for the keys not in `known`; `None` forbids them.
    Additional {
        known: Vec<String>,
        schema: Option<usize>,
    },
    PrefixItems(Vec<usize>),
    /// `items`, for the elements after the `prefixItems`.
    Items {
        from: usize,
        schema: usize,
    },
    MinItems(u64),
    MaxItems(u64),
    UniqueItems,
    MinLength(u64),
    MaxLength(u64),
    Minimum(Limit),
    Maximum(Limit),
    ExclusiveMinimum(Limit),
    ExclusiveMaximum(Limit),
    MultipleOf(Limit),
    AllOf(Vec<usize>),
    AnyOf(Vec<usize>),
    OneOf(Vec<usize>),
    Not(usize),
    Ref(usize),
}

/// Why a schema cannot be used, and where in it (`#/properties/age`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError {
    pub location: String,
    pub message: String,
}

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at {}: {}", self.location, self.message)
    }
}

/// Keywords that only annotate.
const ANNOTATIONS: &[&str] = &[
    "$schema",
    "$id",
    "$anchor",
    "$dynamicAnchor",
    "$comment",
    "$vocabulary",
    "title",
    "description",
    "default",
    "examples",
    "deprecated",
    "readOnly",
    "writeOnly",
    "format",
    "contentEncoding",
    "contentMediaType",
    "contentSchema",
];

/// Keywords of JSON Schema that change validation but are not implemented.
const UNSUPPORTED: &[&str] = &[
    "pattern",
    "patternProperties",
    "propertyNames",
    "dependentSchemas",
    "dependentRequired",
    "dependencies",
    "minProperties",
    "maxProperties",
    "contains",
    "minContains",
    "maxContains",
    "if",
    "then",
    "else",
    "unevaluatedProperties",
    "unevaluatedItems",
    "additionalItems",
    "$dynamicRef",
    "$recursiveRef",
    "$recursiveAnchor",
];

impl Schema {
    /// Compiles `document` (an object or a boolean).
    pub fn compile(document: &Value) -> Result<Self, SchemaError> {
        let mut compiler = Compiler {
            root: document,
            nodes: Vec::new(),
            locations: HashMap::new(),
            pending: Vec::new(),
        };
        compiler.compile_at(document, "#".into())?;
        // Reference targets are compiled here, not where they are referred to, so a long
        // chain of references does not make the compiler recurse.
        while let Some((index, schema, location)) = compiler.pending.pop() {
            compiler.nodes[index].checks = compiler.checks(schema, &location)?;
        }
        let Compiler {
            nodes, locations, ..
        } = compiler;
        check_loops(&nodes, &locations)?;
        Ok(Self { nodes })
    }
}

struct Compiler<'r> {
    root: &'r Value,
    nodes: Vec<Node>,
    /// The node of each location compiled or about to be (`#`, `#/$defs/a`, ...).
    locations: HashMap<String, usize>,
    /// Reference targets with a node but no checks yet.
    pending: Vec<(usize, &'r Value, String)>,
}

fn error(location: &str, message: impl Into<String>) -> SchemaError {
    SchemaError {
        location: location.to_string(),
        message: message.into(),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl<'r> Compiler<'r> {
    /// The node for the schema at `location`, compiling it once.
    fn compile_at(&mut self, schema: &'r Value, location: String) -> Result<usize, SchemaError> {
        if let Some(&index) = self.locations.get(&location) {
            return Ok(index);
        }
        let index = self.reserve(location.clone());
        self.nodes[index].checks = self.checks(schema, &location)?;
        Ok(index)
    }

    /// A new, empty node for `location`.
    fn reserve(&mut self, location: String) -> usize {
        let index = self.nodes.len();
        self.nodes.push(Node::default());
        self.locations.insert(location, index);
        index
    }

    fn checks(&mut self, schema: &'r Value, location: &str) -> Result<Vec<Check>, SchemaError> {
        Ok(match schema {
            Value::Bool(true) => Vec::new(),
            Value::Bool(false) => vec![Check::Never],
            Value::Object(keywords) => self.keywords(keywords, location)?,
            other => {
                return Err(error(
                    location,
                    format!(
                        "a schema must be an object or a boolean, found {}",
                        kind(other)
                    ),
                ))
            }
        })
    }

    fn keywords(
        &mut self,
        keywords: &'r Map<String, Value>,
        location: &str,
    ) -> Result<Vec<Check>, SchemaError> {
        let mut checks = Vec::new();
        for (keyword, value) in keywords {
            let here = pointer::child(location, keyword);
            let check = match keyword.as_str() {
                "type" => Check::Type(types(value, &here)?),
                "enum" => match value {
                    Value::Array(values) => Check::Enum(values.clone()),
                    other => {
                        return Err(error(
                            &here,
                            format!("must be an array, found {}", kind(other)),
                        ))
                    }
                },
                "const" => Check::Const(value.clone()),
                "properties" => {
                    let mut properties = Vec::new();
                    for (name, schema) in object(value, &here)? {
                        let node = self.compile_at(schema, pointer::child(&here, name))?;
                        properties.push((name.clone(), node));
                    }
                    Check::Properties(properties)
                }
                "required" => Check::Required(strings(value, &here)?),
                "additionalProperties" => {
                    let known = match keywords.get("properties") {
                        Some(Value::Object(properties)) => properties.keys().cloned().collect(),
                        _ => Vec::new(),
                    };
                    match value {
                        Value::Bool(true) => continue,
                        Value::Bool(false) => Check::Additional {
                            known,
                            schema: None,
                        },
                        schema => Check::Additional {
                            known,
                            schema: Some(self.compile_at(schema, here)?),
                        },
                    }
                }
                "prefixItems" => Check::PrefixItems(self.schemas(value, &here)?),
                "items" => {
                    if value.is_array() {
                        return Err(error(
                            &here,
                            "`items` must be a schema in draft 2020-12; use `prefixItems` for tuples",
                        ));
                    }
                    let from = match keywords.get("prefixItems") {
                        Some(Value::Array(prefix)) => prefix.len(),
                        _ => 0,
                    };
                    Check::Items {
                        from,
                        schema: self.compile_at(value, here)?,
                    }
                }
                "minItems" => Check::MinItems(count(value, &here)?),
                "maxItems" => Check::MaxItems(count(value, &here)?),
                "minLength" => Check::MinLength(count(value, &here)?),
                "maxLength" => Check::MaxLength(count(value, &here)?),
                "uniqueItems" => match value {
                    Value::Bool(true) => Check::UniqueItems,
                    Value::Bool(false) => continue,
                    other => {
                        return Err(error(
                            &here,
                            format!("must be a boolean, found {}", kind(other)),
                        ))
                    }
                },
                "minimum" => Check::Minimum(limit(value, &here)?),
                "maximum" => Check::Maximum(limit(value, &here)?),
                "exclusiveMinimum" => Check::ExclusiveMinimum(limit(value, &here)?),
                "exclusiveMaximum" => Check::ExclusiveMaximum(limit(value, &here)?),
                "multipleOf" => {
                    let limit = limit(value, &here)?;
                    if limit.value <= 0.0 {
                        return Err(error(&here, "must be greater than 0"));
                    }
                    Check::MultipleOf(limit)
                }
                "allOf" => Check::AllOf(self.schemas(value, &here)?),
                "anyOf" => Check::AnyOf(self.schemas(value, &here)?),
                "oneOf" => Check::OneOf(self.schemas(value, &here)?),
                "not" => Check::Not(self.compile_at(value, here)?),
                "$ref" => match value {
                    Value::String(target) => Check::Ref(self.reference(target, &here)?),
                    other => {
                        return Err(error(
                            &here,
                            format!("must be a string, found {}", kind(other)),
                        ))
                    }
                },
                "$defs" | "definitions" => {
                    for (name, schema) in object(value, &here)? {
                        self.compile_at(schema, pointer::child(&here, name))?;
                    }
                    continue;
                }
                other if ANNOTATIONS.contains(&other) || other.starts_with("x-") => continue,
                other if UNSUPPORTED.contains(&other) => {
                    return Err(error(location, format!("unsupported keyword `{other}`")))
                }
                other => return Err(error(location, format!("unknown keyword `{other}`"))),
            };
            checks.push(check);
        }
        Ok(checks)
    }

    /// A non-empty array of schemas.
    fn schemas(&mut self, value: &'r Value, here: &str) -> Result<Vec<usize>, SchemaError> {
        match value {
            Value::Array(schemas) if !schemas.is_empty() => schemas
                .iter()
                .enumerate()
                .map(|(index, schema)| {
                    self.compile_at(schema, pointer::child(here, &index.to_string()))
                })
                .collect(),
            Value::Array(_) => Err(error(here, "must not be empty")),
            other => Err(error(
                here,
                format!("must be an array of schemas, found {}", kind(other)),
            )),
        }
    }

    /// The node `#…` points at.
    fn reference(&mut self, target: &str, here: &str) -> Result<usize, SchemaError> {
        let Some(fragment) = target.strip_prefix('#') else {
            return Err(error(
                here,
                format!("`{target}`: only references within this schema (`#`, `#/$defs/name`) are supported"),
            ));
        };
        let pointer = pointer::decode_fragment(fragment)
            .ok_or_else(|| error(here, format!("`{target}`: invalid percent-encoding")))?;
        if !pointer.is_empty() && !pointer.starts_with('/') {
            return Err(error(
                here,
                format!("`{target}`: anchors are not supported; use a JSON Pointer such as `#/$defs/name`"),
            ));
        }
        let schema = self
            .root
            .pointer(&pointer)
            .ok_or_else(|| error(here, format!("`{target}` points at nothing")))?;
        let location = format!("#{pointer}");
        if let Some(&index) = self.locations.get(&location) {
            return Ok(index);
        }
        let index = self.reserve(location.clone());
        self.pending.push((index, schema, location));
        Ok(index)
    }
}

fn types(value: &Value, here: &str) -> Result<Vec<Type>, SchemaError> {
    let one = |name: &Value| match name.as_str() {
        Some("null") => Ok(Type::Null),
        Some("boolean") => Ok(Type::Boolean),
        Some("object") => Ok(Type::Object),
        Some("array") => Ok(Type::Array),
        Some("number") => Ok(Type::Number),
        Some("string") => Ok(Type::String),
        Some("integer") => Ok(Type::Integer),
        _ => Err(error(here, format!("unknown type {name}"))),
    };
    match value {
        Value::Array(names) if !names.is_empty() => names.iter().map(one).collect(),
        Value::Array(_) => Err(error(here, "must not be empty")),
        name => Ok(vec![one(name)?]),
    }
}

fn object<'v>(value: &'v Value, here: &str) -> Result<&'v Map<String, Value>, SchemaError> {
    match value {
        Value::Object(map) => Ok(map),
        other => Err(error(
            here,
            format!("must be an object, found {}", kind(other)),
        )),
    }
}

fn strings(value: &Value, here: &str) -> Result<Vec<String>, SchemaError> {
    let invalid = || error(here, "must be an array of strings");
    value
        .as_array()
        .ok_or_else(invalid)?
        .iter()
        .map(|name| name.as_str().map(str::to_string).ok_or_else(invalid))
        .collect()
}

fn count(value: &Value, here: &str) -> Result<u64, SchemaError> {
    let invalid = || {
        error(
            here,
            format!("must be a non-negative integer, found {value}"),
        )
    };
    match value {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < 1.8e19)
                .map(|f| f as u64)
        }),
        _ => None,
    }
    .ok_or_else(invalid)
}

fn limit(value: &Value, here: &str) -> Result<Limit, SchemaError> {
    match value {
        Value::Number(n) => Ok(number_limit(n)),
        Value::Bool(_) => Err(error(
            here,
            "must be a number (the boolean form is from draft 4, not 2020-12)",
        )),
        other => Err(error(
            here,
            format!("must be a number, found {}", kind(other)),
        )),
    }
}

fn number_limit(n: &Number) -> Limit {
    Limit {
        value: n.as_f64().unwrap_or(0.0),
        text: n.to_string(),
    }
}

/// Refuses loops of in-place references and combinators (`$ref`, `allOf`, `anyOf`,
/// `oneOf`, `not`): they would make the validator go round without moving into the data.
fn check_loops(nodes: &[Node], locations: &HashMap<String, usize>) -> Result<(), SchemaError> {
    let in_place: Vec<Vec<usize>> = nodes
        .iter()
        .map(|node| {
            node.checks
                .iter()
                .flat_map(|check| match check {
                    Check::Ref(next) | Check::Not(next) => vec![*next],
                    Check::AllOf(next) | Check::AnyOf(next) | Check::OneOf(next) => next.clone(),
                    _ => Vec::new(),
                })
                .collect()
        })
        .collect();
    let location = |node: usize| {
        locations
            .iter()
            .filter(|(_, &index)| index == node)
            .map(|(location, _)| location.clone())
            .min()
            .unwrap_or_else(|| "#".into())
    };
    // Depth-first, without recursion: 0 unseen, 1 on the current path, 2 done.
    let mut state = vec![0u8; nodes.len()];
    for start in 0..nodes.len() {
        if state[start] != 0 {
            continue;
        }
        state[start] = 1;
        let mut path = vec![(start, 0usize)];
        while let Some((node, next_edge)) = path.last_mut() {
            let node = *node;
            let Some(&next) = in_place[node].get(*next_edge) else {
                state[node] = 2;
                path.pop();
                continue;
            };
            *next_edge += 1;
            match state[next] {
                0 => {
                    state[next] = 1;
                    path.push((next, 0));
                }
                1 => {
                    return Err(error(
                        &location(next),
                        "this schema refers back to itself (through `$ref` or a combinator) without going deeper into the data",
                    ))
                }
                _ => {}
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn refused(schema: Value) -> String {
        Schema::compile(&schema).unwrap_err().to_string()
    }

    #[test]
    fn unsupported_and_unknown_keywords_are_refused() {
        assert_eq!(
            refused(json!({"properties": {"name": {"type": "string", "pattern": "^A"}}})),
            "at #/properties/name: unsupported keyword `pattern`"
        );
        assert_eq!(
            refused(json!({"dependentSchemas": {}})),
            "at #: unsupported keyword `dependentSchemas`"
        );
        assert_eq!(
            refused(json!({"$defs": {"a/b": {"typo": 1}}})),
            "at #/$defs/a~1b: unknown keyword `typo`"
        );
        assert!(Schema::compile(&json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "t", "description": "d", "format": "email", "x-note": 1, "examples": []
        }))
        .is_ok());
    }

    #[test]
    fn malformed_keywords_are_refused() {
        assert_eq!(
            refused(json!({"type": "int"})),
            "at #/type: unknown type \"int\""
        );
        assert_eq!(
            refused(json!({"items": [{}]})),
            "at #/items: `items` must be a schema in draft 2020-12; use `prefixItems` for tuples"
        );
        assert_eq!(
            refused(json!({"minItems": -1})),
            "at #/minItems: must be a non-negative integer, found -1"
        );
        assert_eq!(
            refused(json!({"multipleOf": 0})),
            "at #/multipleOf: must be greater than 0"
        );
        assert_eq!(
            refused(json!({"anyOf": []})),
            "at #/anyOf: must not be empty"
        );
        assert_eq!(
            refused(json!(3)),
            "at #: a schema must be an object or a boolean, found a number"
        );
    }

    #[test]
    fn references_resolve_inside_the_document() {
        assert!(Schema::compile(&json!({
            "$defs": {"node": {"properties": {"next": {"$ref": "#/$defs/node"}}}},
            "definitions": {"x": true},
            "properties": {"a": {"$ref": "#/definitions/x"}, "b": {"$ref": "#/$defs/node"}, "c": {"items": {"$ref": "#"}}}
        }))
        .is_ok());
        assert_eq!(
            refused(json!({"$ref": "#/$defs/missing"})),
            "at #/$ref: `#/$defs/missing` points at nothing"
        );
        assert_eq!(
            refused(json!({"$ref": "other.json#/a"})),
            "at #/$ref: `other.json#/a`: only references within this schema (`#`, `#/$defs/name`) are supported"
        );
        assert_eq!(
            refused(json!({"$ref": "#node"})),
            "at #/$ref: `#node`: anchors are not supported; use a JSON Pointer such as `#/$defs/name`"
        );
    }

    #[test]
    fn loops_that_never_reach_the_data_are_refused() {
        assert_eq!(
            refused(json!({"$ref": "#"})),
            "at #: this schema refers back to itself (through `$ref` or a combinator) without going deeper into the data"
        );
        assert_eq!(
            refused(json!({"$defs": {"a": {"anyOf": [{"$ref": "#/$defs/b"}]}, "b": {"not": {"$ref": "#/$defs/a"}}}})),
            "at #/$defs/a: this schema refers back to itself (through `$ref` or a combinator) without going deeper into the data"
        );
    }
}
