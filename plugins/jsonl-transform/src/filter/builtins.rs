//! The built-in functions (the crate docs list them). Arguments arrive unevaluated: as in
//! jq, each one is a filter run against the call's own input, and a call with an argument
//! that has several outputs runs once per output.
use serde_json::{Map, Value};

use super::eval::{eval, eval_all};
use super::parser::Ast;
use super::value::{self, compare, describe, number, truthy, type_name};
use super::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    Select,
    Map,
    Length,
    Keys,
    Has,
    ToString,
    ToNumber,
    Type,
    Add,
    Empty,
    Not,
    Sort,
    SortBy,
    GroupBy,
    Unique,
    Min,
    Max,
    First,
    FirstOf,
    Last,
    LastOf,
    ToEntries,
    FromEntries,
    AsciiDowncase,
    AsciiUpcase,
    Split,
    Join,
}

/// Name, number of arguments, builtin.
const TABLE: &[(&str, usize, Builtin)] = &[
    ("select", 1, Builtin::Select),
    ("map", 1, Builtin::Map),
    ("length", 0, Builtin::Length),
    ("keys", 0, Builtin::Keys),
    ("has", 1, Builtin::Has),
    ("tostring", 0, Builtin::ToString),
    ("tonumber", 0, Builtin::ToNumber),
    ("type", 0, Builtin::Type),
    ("add", 0, Builtin::Add),
    ("empty", 0, Builtin::Empty),
    ("not", 0, Builtin::Not),
    ("sort", 0, Builtin::Sort),
    ("sort_by", 1, Builtin::SortBy),
    ("group_by", 1, Builtin::GroupBy),
    ("unique", 0, Builtin::Unique),
    ("min", 0, Builtin::Min),
    ("max", 0, Builtin::Max),
    ("first", 0, Builtin::First),
    ("first", 1, Builtin::FirstOf),
    ("last", 0, Builtin::Last),
    ("last", 1, Builtin::LastOf),
    ("to_entries", 0, Builtin::ToEntries),
    ("from_entries", 0, Builtin::FromEntries),
    ("ascii_downcase", 0, Builtin::AsciiDowncase),
    ("ascii_upcase", 0, Builtin::AsciiUpcase),
    ("split", 1, Builtin::Split),
    ("join", 1, Builtin::Join),
];

impl Builtin {
    pub fn lookup(name: &str, arity: usize) -> Option<Self> {
        TABLE
            .iter()
            .find(|(known, args, _)| *known == name && *args == arity)
            .map(|(_, _, builtin)| *builtin)
    }
}

/// Runs `builtin` on `input`, appending its outputs to `out`.
pub fn call(
    builtin: Builtin,
    args: &[Ast],
    input: &Value,
    out: &mut Vec<Value>,
) -> Result<(), Error> {
    let arg = || &args[0];
    match builtin {
        Builtin::Select => {
            for condition in eval_all(arg(), input)? {
                if truthy(&condition) {
                    out.push(input.clone());
                }
            }
        }
        Builtin::Map => {
            let mut mapped = Vec::new();
            for item in value::iterate(input)? {
                eval(arg(), &item, &mut mapped)?;
            }
            out.push(Value::Array(mapped));
        }
        Builtin::Length => out.push(length(input)?),
        Builtin::Keys => out.push(keys(input)?),
        Builtin::Has => {
            for key in eval_all(arg(), input)? {
                out.push(Value::Bool(has(input, &key)?));
            }
        }
        Builtin::ToString => out.push(match input {
            Value::String(_) => input.clone(),
            other => Value::String(other.to_string()),
        }),
        Builtin::ToNumber => out.push(to_number(input)?),
        Builtin::Type => out.push(Value::from(type_name(input))),
        Builtin::Add => {
            let mut sum = Value::Null;
            for item in value::iterate(input)? {
                sum = value::add(&sum, &item)?;
            }
            out.push(sum);
        }
        Builtin::Empty => {}
        Builtin::Not => out.push(Value::Bool(!truthy(input))),
        Builtin::Sort => {
            let mut items = array(input, "sorted")?.to_vec();
            items.sort_by(compare);
            out.push(Value::Array(items));
        }
        Builtin::SortBy => {
            let keyed = keyed(input, arg(), "sorted")?;
            out.push(keyed.into_iter().map(|(_, item)| item).collect());
        }
        Builtin::GroupBy => {
            let mut groups: Vec<(Value, Vec<Value>)> = Vec::new();
            for (key, item) in keyed(input, arg(), "grouped")? {
                match groups.last_mut() {
                    Some((last, group)) if compare(last, &key).is_eq() => group.push(item),
                    _ => groups.push((key, vec![item])),
                }
            }
            out.push(
                groups
                    .into_iter()
                    .map(|(_, group)| Value::Array(group))
                    .collect(),
            );
        }
        Builtin::Unique => {
            let mut items = array(input, "sorted")?.to_vec();
            items.sort_by(compare);
            items.dedup_by(|a, b| compare(a, b).is_eq());
            out.push(Value::Array(items));
        }
        Builtin::Min => out.push(
            array(input, "compared")?
                .iter()
                .min_by(|a, b| compare(a, b))
                .cloned()
                .unwrap_or(Value::Null),
        ),
        Builtin::Max => out.push(
            array(input, "compared")?
                .iter()
                .max_by(|a, b| compare(a, b))
                .cloned()
                .unwrap_or(Value::Null),
        ),
        Builtin::First => out.push(value::index(input, &Value::from(0))?),
        Builtin::Last => out.push(value::index(input, &Value::from(-1))?),
        Builtin::FirstOf => out.extend(eval_all(arg(), input)?.into_iter().next()),
        Builtin::LastOf => out.extend(eval_all(arg(), input)?.pop()),
        Builtin::ToEntries => out.push(to_entries(input)?),
        Builtin::FromEntries => out.push(from_entries(input)?),
        Builtin::AsciiDowncase => out.push(Value::String(
            string(input, "ascii_downcase")?.to_ascii_lowercase(),
        )),
        Builtin::AsciiUpcase => out.push(Value::String(
            string(input, "ascii_upcase")?.to_ascii_uppercase(),
        )),
        Builtin::Split => {
            for separator in eval_all(arg(), input)? {
                match (input, &separator) {
                    (Value::String(text), Value::String(separator)) => {
                        out.push(value::split(text, separator));
                    }
                    _ => return Err(Error("split input and separator must be strings".into())),
                }
            }
        }
        Builtin::Join => {
            for separator in eval_all(arg(), input)? {
                out.push(join(input, &separator)?);
            }
        }
    }
    Ok(())
}

fn array<'v>(value: &'v Value, done: &str) -> Result<&'v [Value], Error> {
    match value {
        Value::Array(items) => Ok(items),
        other => Err(Error(format!(
            "{} cannot be {done}, as it is not an array",
            describe(other)
        ))),
    }
}

fn string<'v>(value: &'v Value, function: &str) -> Result<&'v str, Error> {
    match value {
        Value::String(text) => Ok(text),
        other => Err(Error(format!(
            "{function} input must be a string, found {}",
            describe(other)
        ))),
    }
}

/// The array's items with `[f]` of each as its key, stably sorted by key.
fn keyed(input: &Value, f: &Ast, done: &str) -> Result<Vec<(Value, Value)>, Error> {
    let mut keyed = array(input, done)?
        .iter()
        .map(|item| Ok((Value::Array(eval_all(f, item)?), item.clone())))
        .collect::<Result<Vec<_>, Error>>()?;
    keyed.sort_by(|a, b| compare(&a.0, &b.0));
    Ok(keyed)
}

fn length(value: &Value) -> Result<Value, Error> {
    Ok(match value {
        Value::Null => Value::from(0),
        Value::Bool(_) => return Err(Error(format!("{} has no length", describe(value)))),
        Value::Number(n) => number(n.as_f64().unwrap_or(0.0).abs()),
        Value::String(text) => Value::from(text.chars().count()),
        Value::Array(items) => Value::from(items.len()),
        Value::Object(map) => Value::from(map.len()),
    })
}

fn keys(value: &Value) -> Result<Value, Error> {
    match value {
        Value::Object(map) => Ok(map.keys().map(|key| Value::from(key.as_str())).collect()),
        Value::Array(items) => Ok((0..items.len()).map(Value::from).collect()),
        other => Err(Error(format!("{} has no keys", describe(other)))),
    }
}

fn has(value: &Value, key: &Value) -> Result<bool, Error> {
    match (value, key) {
        (Value::Object(map), Value::String(key)) => Ok(map.contains_key(key)),
        (Value::Array(items), Value::Number(position)) => {
            let position = position.as_f64().unwrap_or(-1.0);
            Ok(position >= 0.0 && position < items.len() as f64)
        }
        _ => Err(Error(format!(
            "Cannot check whether {} has a {} key",
            type_name(value),
            type_name(key)
        ))),
    }
}

fn to_number(value: &Value) -> Result<Value, Error> {
    match value {
        Value::Number(_) => Ok(value.clone()),
        Value::String(text) => match serde_json::from_str(text) {
            Ok(Value::Number(n)) => Ok(Value::Number(n)),
            _ => Err(Error(format!("Cannot parse {value} as a number"))),
        },
        other => Err(Error(format!(
            "{} cannot be parsed as a number",
            describe(other)
        ))),
    }
}

fn to_entries(value: &Value) -> Result<Value, Error> {
    let Value::Object(map) = value else {
        return Err(Error(format!("{} has no keys", describe(value))));
    };
    Ok(map
        .iter()
        .map(|(key, value)| {
            let mut entry = Map::new();
            entry.insert("key".into(), Value::from(key.as_str()));
            entry.insert("value".into(), value.clone());
            Value::Object(entry)
        })
        .collect())
}

/// Entries name their key `key`, `k`, `name`, `Name`, `K` or `Key` (the first one that is
/// not null or false) and their value `value` or `v`.
fn from_entries(value: &Value) -> Result<Value, Error> {
    let mut object = Map::new();
    for entry in array(value, "turned into an object")? {
        let Value::Object(fields) = entry else {
            return Err(Error(format!(
                "from_entries needs objects with a key and a value, found {}",
                describe(entry)
            )));
        };
        let key = ["key", "k", "name", "Name", "K", "Key"]
            .iter()
            .filter_map(|name| fields.get(*name))
            .find(|key| truthy(key));
        let key = match key {
            Some(Value::String(key)) => key.clone(),
            Some(key @ (Value::Number(_) | Value::Bool(_))) => key.to_string(),
            Some(other) => {
                return Err(Error(format!(
                    "Cannot use {} as an object key",
                    describe(other)
                )))
            }
            None => {
                return Err(Error(format!(
                    "from_entries: {} has no key",
                    describe(entry)
                )))
            }
        };
        let value = fields
            .get("value")
            .or_else(|| fields.get("v"))
            .cloned()
            .unwrap_or(Value::Null);
        object.insert(key, value);
    }
    Ok(Value::Object(object))
}

fn join(value: &Value, separator: &Value) -> Result<Value, Error> {
    let Value::String(separator) = separator else {
        return Err(Error(format!(
            "join separator must be a string, found {}",
            describe(separator)
        )));
    };
    let mut joined = String::new();
    for (position, item) in array(value, "joined")?.iter().enumerate() {
        if position > 0 {
            joined.push_str(separator);
        }
        match item {
            Value::Null => {}
            Value::String(text) => joined.push_str(text),
            Value::Number(_) | Value::Bool(_) => joined.push_str(&item.to_string()),
            other => return Err(Error(format!("Cannot join with {}", type_name(other)))),
        }
    }
    Ok(Value::String(joined))
}
