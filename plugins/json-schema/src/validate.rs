//! Validates a value against a compiled [`Schema`], collecting every violation with the
//! JSON Pointer of the offending value. Keywords apply only to the type they are about
//! (`minimum` to numbers, `required` to objects, ...), numbers compare by value (`1` equals
//! `1.0`), an integer is any number without a fractional part, and string lengths count
//! Unicode code points.
use std::collections::HashMap;

use serde_json::{Map, Number, Value};

use crate::pointer;
use crate::schema::{Check, Limit, Schema, Type};

/// How many schemas may apply inside one another (through properties, items, `$ref`s and
/// combinators) before validation stops descending, which bounds the recursion.
const MAX_DEPTH: usize = 512;

/// One way the value breaks the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// JSON Pointer to the offending value (`""` for the whole value).
    pub pointer: String,
    pub message: String,
}

impl Schema {
    /// Every violation of the schema by `instance`, in schema order; empty when valid.
    pub fn validate(&self, instance: &Value) -> Vec<Violation> {
        let mut violations = Vec::new();
        let mut walk = Walk {
            at: String::new(),
            depth: 0,
        };
        self.node(0, instance, &mut walk, &mut violations);
        violations
    }

    fn node(&self, node: usize, value: &Value, walk: &mut Walk, out: &mut Vec<Violation>) {
        if walk.depth == MAX_DEPTH {
            out.push(walk.violation(format!(
                "cannot be validated: more than {MAX_DEPTH} schemas apply inside one another here"
            )));
            return;
        }
        walk.depth += 1;
        for check in &self.nodes[node].checks {
            self.check(check, value, walk, out);
        }
        walk.depth -= 1;
    }

    /// Validates `value` at the current pointer extended by `token`.
    fn child(
        &self,
        node: usize,
        value: &Value,
        walk: &mut Walk,
        token: &str,
        out: &mut Vec<Violation>,
    ) {
        let length = walk.at.len();
        pointer::push(&mut walk.at, token);
        self.node(node, value, walk, out);
        walk.at.truncate(length);
    }

    /// The violations of one subschema, kept apart (for `anyOf`, `oneOf`, `not`).
    fn apart(&self, node: usize, value: &Value, walk: &mut Walk) -> Vec<Violation> {
        let mut violations = Vec::new();
        self.node(node, value, walk, &mut violations);
        violations
    }

    /// One check. Only the keywords that apply subschemas are handled here, so the frames
    /// on the recursive path stay small; the rest go to [`leaf`].
    fn check(&self, check: &Check, value: &Value, walk: &mut Walk, out: &mut Vec<Violation>) {
        match (check, value) {
            (Check::Properties(properties), Value::Object(map)) => {
                for (name, node) in properties {
                    if let Some(property) = map.get(name) {
                        self.child(*node, property, walk, name, out);
                    }
                }
            }
            (Check::Additional { known, schema }, Value::Object(map)) => {
                self.additional(known, *schema, map, walk, out);
            }
            (Check::PrefixItems(nodes), Value::Array(items)) => {
                for (index, (node, item)) in nodes.iter().zip(items).enumerate() {
                    self.child(*node, item, walk, &index.to_string(), out);
                }
            }
            (Check::Items { from, schema }, Value::Array(items)) => {
                for (index, item) in items.iter().enumerate().skip(*from) {
                    self.child(*schema, item, walk, &index.to_string(), out);
                }
            }
            (Check::AllOf(nodes), _) => {
                for node in nodes {
                    self.node(*node, value, walk, out);
                }
            }
            (Check::AnyOf(nodes), _) => {
                let mut failures = Vec::new();
                for node in nodes {
                    let violations = self.apart(*node, value, walk);
                    if violations.is_empty() {
                        return;
                    }
                    failures.push(violations);
                }
                out.push(walk.violation(none_matched("anyOf", &failures)));
            }
            (Check::OneOf(nodes), _) => {
                let mut failures = Vec::new();
                let mut matched = Vec::new();
                for (index, node) in nodes.iter().enumerate() {
                    let violations = self.apart(*node, value, walk);
                    if violations.is_empty() {
                        matched.push(index);
                    } else {
                        failures.push(violations);
                    }
                }
                match matched.len() {
                    1 => {}
                    0 => out.push(walk.violation(none_matched("oneOf", &failures))),
                    _ => out.push(walk.violation(several_matched(&matched))),
                }
            }
            (Check::Not(node), _) => {
                if self.apart(*node, value, walk).is_empty() {
                    out.push(walk.violation("must not match the `not` schema".into()));
                }
            }
            (Check::Ref(node), _) => self.node(*node, value, walk, out),
            _ => leaf(check, value, &walk.at, out),
        }
    }

    fn additional(
        &self,
        known: &[String],
        schema: Option<usize>,
        map: &Map<String, Value>,
        walk: &mut Walk,
        out: &mut Vec<Violation>,
    ) {
        for (name, property) in map {
            if known.contains(name) {
                continue;
            }
            match schema {
                Some(node) => self.child(node, property, walk, name, out),
                None => out.push(Violation {
                    pointer: pointer::child(&walk.at, name),
                    message: format!("property `{name}` is not allowed"),
                }),
            }
        }
    }
}

/// The checks that apply no subschema; keywords about another type than the value's pass.
#[inline(never)]
fn leaf(check: &Check, value: &Value, at: &str, out: &mut Vec<Violation>) {
    let mut fail = |message: String| {
        out.push(Violation {
            pointer: at.to_string(),
            message,
        })
    };
    match (check, value) {
        (Check::Never, _) => fail("no value is allowed here (the schema is `false`)".into()),
        (Check::Type(types), _) if !types.iter().any(|&wanted| has_type(value, wanted)) => {
            let names: Vec<&str> = types.iter().map(|t| t.name()).collect();
            fail(format!(
                "expected {}, found {}",
                names.join(" or "),
                found(value)
            ));
        }
        (Check::Enum(allowed), _) if !allowed.iter().any(|candidate| equal(candidate, value)) => {
            fail(format!(
                "{} is not one of {}",
                short(value),
                short(&Value::Array(allowed.clone()))
            ));
        }
        (Check::Const(expected), _) if !equal(expected, value) => {
            fail(format!(
                "must be {}, found {}",
                short(expected),
                short(value)
            ));
        }
        (Check::Required(names), Value::Object(map)) => {
            for name in names.iter().filter(|name| !map.contains_key(*name)) {
                fail(format!("missing required property `{name}`"));
            }
        }
        (Check::MinItems(min), Value::Array(items)) if (items.len() as u64) < *min => {
            fail(format!(
                "must have at least {min} items, has {}",
                items.len()
            ));
        }
        (Check::MaxItems(max), Value::Array(items)) if items.len() as u64 > *max => {
            fail(format!(
                "must have at most {max} items, has {}",
                items.len()
            ));
        }
        (Check::UniqueItems, Value::Array(items)) => {
            if let Some((first, second)) = duplicate(items) {
                fail(format!("items {first} and {second} are equal"));
            }
        }
        (Check::MinLength(min), Value::String(text)) => {
            let length = text.chars().count() as u64;
            if length < *min {
                fail(format!(
                    "must be at least {min} characters long, has {length}"
                ));
            }
        }
        (Check::MaxLength(max), Value::String(text)) => {
            let length = text.chars().count() as u64;
            if length > *max {
                fail(format!(
                    "must be at most {max} characters long, has {length}"
                ));
            }
        }
        (Check::Minimum(limit), Value::Number(n)) if float(n) < limit.value => {
            fail(format!("must be >= {}, is {n}", limit.text));
        }
        (Check::Maximum(limit), Value::Number(n)) if float(n) > limit.value => {
            fail(format!("must be <= {}, is {n}", limit.text));
        }
        (Check::ExclusiveMinimum(limit), Value::Number(n)) if float(n) <= limit.value => {
            fail(format!("must be > {}, is {n}", limit.text));
        }
        (Check::ExclusiveMaximum(limit), Value::Number(n)) if float(n) >= limit.value => {
            fail(format!("must be < {}, is {n}", limit.text));
        }
        (Check::MultipleOf(limit), Value::Number(n)) if !multiple_of(n, limit) => {
            fail(format!("must be a multiple of {}, is {n}", limit.text));
        }
        _ => {}
    }
}

/// `matches none of the 2 anyOf schemas: [0] at /a: ...; [1] at (root): ...`, with the
/// first violation of each branch (cut to 200 characters, as branches nest).
#[inline(never)]
fn none_matched(keyword: &str, failures: &[Vec<Violation>]) -> String {
    let branches: Vec<String> = failures
        .iter()
        .enumerate()
        .map(|(index, violations)| {
            let first = &violations[0];
            let mut message: String = first.message.chars().take(200).collect();
            if message.len() < first.message.len() {
                message.push_str("...");
            }
            format!("[{index}] at {}: {message}", shown(&first.pointer))
        })
        .collect();
    format!(
        "matches none of the {} {keyword} schemas: {}",
        failures.len(),
        branches.join("; ")
    )
}

#[inline(never)]
fn several_matched(matched: &[usize]) -> String {
    let matched: Vec<String> = matched.iter().map(|index| format!("[{index}]")).collect();
    format!(
        "matches {} of the oneOf schemas ({}); exactly one must match",
        matched.len(),
        matched.join(", ")
    )
}

/// Where validation is: the pointer to the current value and how many schemas apply
/// inside one another there.
struct Walk {
    at: String,
    depth: usize,
}

impl Walk {
    fn violation(&self, message: String) -> Violation {
        Violation {
            pointer: self.at.clone(),
            message,
        }
    }
}

/// A pointer for people: the whole value is `(root)`.
pub fn shown(pointer: &str) -> &str {
    if pointer.is_empty() {
        "(root)"
    } else {
        pointer
    }
}

fn float(n: &Number) -> f64 {
    n.as_f64().unwrap_or(0.0)
}

fn is_integer(n: &Number) -> bool {
    n.is_i64()
        || n.is_u64()
        || n.as_f64()
            .is_some_and(|f| f.is_finite() && f.fract() == 0.0)
}

fn has_type(value: &Value, wanted: Type) -> bool {
    match (wanted, value) {
        (Type::Null, Value::Null)
        | (Type::Boolean, Value::Bool(_))
        | (Type::Object, Value::Object(_))
        | (Type::Array, Value::Array(_))
        | (Type::Number, Value::Number(_))
        | (Type::String, Value::String(_)) => true,
        (Type::Integer, Value::Number(n)) => is_integer(n),
        _ => false,
    }
}

/// `integer 3`, `number 1.5`, `string "x"`, `object`.
fn found(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(_) => format!("boolean {value}"),
        Value::Number(n) if is_integer(n) => format!("integer {n}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(_) => format!("string {}", short(value)),
        Value::Array(_) => "array".into(),
        Value::Object(_) => "object".into(),
    }
}

/// The value as JSON, cut to 60 characters.
fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= 60 {
        return text;
    }
    let cut: String = text.chars().take(57).collect();
    format!("{cut}...")
}

/// JSON equality with numbers compared by value.
pub fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => match (x.as_u64(), y.as_u64()) {
                (Some(x), Some(y)) => x == y,
                _ => float(x) == float(y),
            },
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| equal(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(key, value)| y.get(key).is_some_and(|other| equal(value, other)))
        }
        _ => a == b,
    }
}

fn multiple_of(n: &Number, limit: &Limit) -> bool {
    if let (Some(value), Ok(divisor)) = (n.as_i64(), limit.text.parse::<i64>()) {
        return value.checked_rem(divisor).is_none_or(|rest| rest == 0);
    }
    let quotient = float(n) / limit.value;
    quotient.is_finite() && (quotient - quotient.round()).abs() <= 1e-9 * quotient.abs().max(1.0)
}

/// The first pair of equal items, by position.
fn duplicate(items: &[Value]) -> Option<(usize, usize)> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (index, item) in items.iter().enumerate() {
        let mut key = String::new();
        canonical(item, &mut key);
        if let Some(&first) = seen.get(&key) {
            return Some((first, index));
        }
        seen.insert(key, index);
    }
    None
}

/// A text that is the same for values [`equal`] treats as equal: integral numbers are
/// written as integers, object keys are already sorted.
fn canonical(value: &Value, out: &mut String) {
    match value {
        Value::Number(n) => {
            let f = float(n);
            if let Some(i) = n.as_i64() {
                out.push_str(&i.to_string());
            } else if let Some(u) = n.as_u64() {
                out.push_str(&u.to_string());
            } else if f.fract() == 0.0 && f.abs() < 1e18 {
                out.push_str(&(f as i64).to_string());
            } else {
                out.push_str(&format!("{f:e}"));
            }
        }
        Value::Array(items) => {
            out.push('[');
            for item in items {
                canonical(item, out);
                out.push(',');
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (key, item) in map {
                out.push_str(&Value::from(key.as_str()).to_string());
                out.push(':');
                canonical(item, out);
                out.push(',');
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn violations(schema: Value, instance: Value) -> Vec<(String, String)> {
        Schema::compile(&schema)
            .unwrap()
            .validate(&instance)
            .into_iter()
            .map(|violation| (violation.pointer, violation.message))
            .collect()
    }

    fn one(pointer: &str, message: &str) -> Vec<(String, String)> {
        vec![(pointer.to_string(), message.to_string())]
    }

    #[test]
    fn nested_pointers_escape_tilde_and_slash() {
        let schema = json!({
            "properties": {
                "items": {"items": {"properties": {"age": {"type": "integer"}}}},
                "a/b": {"properties": {"c~d": {"type": "string"}}}
            }
        });
        let instance = json!({
            "items": [{"age": 1}, {"age": 2}, {"age": 3}, {"age": "x"}],
            "a/b": {"c~d": 5}
        });
        assert_eq!(
            violations(schema, instance),
            vec![
                (
                    "/a~1b/c~0d".into(),
                    "expected string, found integer 5".into()
                ),
                (
                    "/items/3/age".into(),
                    "expected integer, found string \"x\"".into()
                ),
            ]
        );
    }

    #[test]
    fn refs_to_defs_definitions_and_the_root() {
        let schema = json!({
            "$defs": {"name": {"type": "string", "minLength": 2}},
            "definitions": {"age": {"type": "integer", "minimum": 0}},
            "type": "object",
            "properties": {
                "name": {"$ref": "#/$defs/name"},
                "age": {"$ref": "#/definitions/age"},
                "children": {"type": "array", "items": {"$ref": "#"}}
            },
            "required": ["name"]
        });
        let instance = json!({
            "name": "Ada",
            "age": 36,
            "children": [{"name": "B", "children": [{"age": -1, "name": "Cy"}]}]
        });
        assert_eq!(
            violations(schema, instance),
            vec![
                (
                    "/children/0/children/0/age".into(),
                    "must be >= 0, is -1".into()
                ),
                (
                    "/children/0/name".into(),
                    "must be at least 2 characters long, has 1".into()
                ),
            ]
        );
    }

    #[test]
    fn one_of_needs_exactly_one() {
        let schema = json!({"oneOf": [{"type": "integer"}, {"type": "number", "minimum": 10}]});
        assert_eq!(violations(schema.clone(), json!(3)), vec![]);
        assert_eq!(violations(schema.clone(), json!(10.5)), vec![]);
        assert_eq!(
            violations(schema.clone(), json!(12)),
            one(
                "",
                "matches 2 of the oneOf schemas ([0], [1]); exactly one must match"
            )
        );
        assert_eq!(
            violations(schema, json!("x")),
            one(
                "",
                "matches none of the 2 oneOf schemas: [0] at (root): expected integer, found string \"x\"; [1] at (root): expected number, found string \"x\""
            )
        );
    }

    #[test]
    fn integer_versus_number() {
        let integer = json!({"type": "integer"});
        assert_eq!(violations(integer.clone(), json!(3)), vec![]);
        assert_eq!(violations(integer.clone(), json!(3.0)), vec![]);
        assert_eq!(
            violations(integer.clone(), json!(-9007199254740993_i64)),
            vec![]
        );
        assert_eq!(
            violations(integer.clone(), json!(3.5)),
            one("", "expected integer, found number 3.5")
        );
        assert_eq!(
            violations(integer, json!("3")),
            one("", "expected integer, found string \"3\"")
        );
        let number = json!({"type": ["number", "null"]});
        assert_eq!(violations(number.clone(), json!(3)), vec![]);
        assert_eq!(violations(number.clone(), json!(null)), vec![]);
        assert_eq!(
            violations(number, json!(true)),
            one("", "expected number or null, found boolean true")
        );
    }

    #[test]
    fn additional_properties_false_names_each_extra() {
        let schema = json!({
            "properties": {"name": {}},
            "additionalProperties": false
        });
        assert_eq!(violations(schema.clone(), json!({"name": 1})), vec![]);
        assert_eq!(
            violations(schema, json!({"name": 1, "x/y": 2, "z": 3})),
            vec![
                ("/x~1y".into(), "property `x/y` is not allowed".into()),
                ("/z".into(), "property `z` is not allowed".into()),
            ]
        );
        let typed = json!({"properties": {"a": {}}, "additionalProperties": {"type": "string"}});
        assert_eq!(
            violations(typed, json!({"a": 1, "b": "ok", "c": 2})),
            one("/c", "expected string, found integer 2")
        );
    }

    #[test]
    fn validation_stops_descending_at_a_depth() {
        let mut defs = serde_json::Map::new();
        for index in 0..300 {
            defs.insert(
                format!("d{index}"),
                json!({"$ref": format!("#/$defs/d{}", index + 1)}),
            );
        }
        defs.insert("d300".into(), json!({"items": {"$ref": "#/$defs/d0"}}));
        let schema = json!({"$defs": defs, "$ref": "#/$defs/d0"});
        let found = violations(schema, json!([[[1]]]));
        assert_eq!(
            found,
            one(
                "/0",
                "cannot be validated: more than 512 schemas apply inside one another here"
            )
        );
    }

    #[test]
    fn the_other_keywords() {
        let check = |schema: Value, instance: Value| violations(schema, instance);
        assert_eq!(check(json!({"enum": ["a", 1]}), json!(1.0)), vec![]);
        assert_eq!(
            check(json!({"enum": ["a", 1]}), json!("b")),
            one("", "\"b\" is not one of [\"a\",1]")
        );
        assert_eq!(
            check(json!({"const": {"a": [1]}}), json!({"a": [1.0]})),
            vec![]
        );
        assert_eq!(
            check(json!({"const": 2}), json!(3)),
            one("", "must be 2, found 3")
        );
        assert_eq!(
            check(json!({"required": ["a", "b"]}), json!({"a": 1})),
            one("", "missing required property `b`")
        );
        assert_eq!(check(json!({"required": ["a"]}), json!([1])), vec![]);
        assert_eq!(
            check(
                json!({"prefixItems": [{"type": "string"}], "items": {"type": "integer"}}),
                json!(["a", 1, "x"])
            ),
            one("/2", "expected integer, found string \"x\"")
        );
        assert_eq!(
            check(json!({"prefixItems": [{"type": "string"}]}), json!([1])),
            one("/0", "expected string, found integer 1")
        );
        assert_eq!(
            check(json!({"minItems": 2, "maxItems": 3}), json!([1])),
            one("", "must have at least 2 items, has 1")
        );
        assert_eq!(
            check(json!({"maxItems": 1}), json!([1, 2])),
            one("", "must have at most 1 items, has 2")
        );
        assert_eq!(
            check(
                json!({"uniqueItems": true}),
                json!([1, {"a": 2}, 3, {"a": 2.0}])
            ),
            one("", "items 1 and 3 are equal")
        );
        assert_eq!(
            check(json!({"uniqueItems": true}), json!([1, "1", [1]])),
            vec![]
        );
        assert_eq!(check(json!({"minLength": 3}), json!("héé")), vec![]);
        assert_eq!(
            check(json!({"maxLength": 2}), json!("héé")),
            one("", "must be at most 2 characters long, has 3")
        );
        assert_eq!(
            check(json!({"maximum": 5}), json!(6)),
            one("", "must be <= 5, is 6")
        );
        assert_eq!(
            check(json!({"exclusiveMinimum": 5}), json!(5)),
            one("", "must be > 5, is 5")
        );
        assert_eq!(
            check(json!({"exclusiveMaximum": 5.5}), json!(5.5)),
            one("", "must be < 5.5, is 5.5")
        );
        assert_eq!(check(json!({"multipleOf": 0.1}), json!(0.3)), vec![]);
        assert_eq!(
            check(json!({"multipleOf": 3}), json!(10)),
            one("", "must be a multiple of 3, is 10")
        );
        assert_eq!(check(json!({"minimum": 1}), json!("text")), vec![]);
        assert_eq!(
            check(json!({"allOf": [{"minimum": 1}, {"maximum": 0}]}), json!(5)),
            one("", "must be <= 0, is 5")
        );
        assert_eq!(
            check(json!({"anyOf": [{"type": "string"}, {"required": ["a"]}]}), json!({})),
            one("", "matches none of the 2 anyOf schemas: [0] at (root): expected string, found object; [1] at (root): missing required property `a`")
        );
        assert_eq!(
            check(
                json!({"anyOf": [{"type": "string"}, {"type": "object"}]}),
                json!({})
            ),
            vec![]
        );
        assert_eq!(
            check(json!({"not": {"type": "null"}}), json!(null)),
            one("", "must not match the `not` schema")
        );
        assert_eq!(
            check(json!({"items": false}), json!([1])),
            one("/0", "no value is allowed here (the schema is `false`)")
        );
        assert_eq!(check(json!(true), json!({"anything": 1})), vec![]);
    }
}
