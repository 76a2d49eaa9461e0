//! jq's value semantics: truthiness, the total order across types (`null < false < true <
//! numbers < strings < arrays < objects`), indexing, and arithmetic with jq's meaning of
//! `+ - * / %` for strings, arrays and objects. Integer arithmetic stays exact while it
//! fits in an `i64`; other numbers are `f64`, and integral results are written without a
//! fraction, as jq does.
use std::cmp::Ordering;

use serde_json::{Map, Number, Value};

use super::parser::BinaryOp;
use super::Error;

/// Longest repeated string `"s" * n` may build, in bytes.
const MAX_REPEAT_BYTES: usize = 64 << 20;

/// `false` and `null` are false; everything else is true.
pub fn truthy(value: &Value) -> bool {
    !matches!(value, Value::Null | Value::Bool(false))
}

pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// `number (3)`, `string ("abc")`, `null`: how errors show a value, shortened.
pub fn describe(value: &Value) -> String {
    if value.is_null() {
        return "null".into();
    }
    let text = value.to_string();
    let short = if text.chars().count() > 30 {
        let cut: String = text.chars().take(27).collect();
        format!("{cut}...")
    } else {
        text
    };
    format!("{} ({short})", type_name(value))
}

/// A computed number: integral values within `i64` are integers, non-finite values are
/// clamped to the largest finite number (as jq prints them) and NaN becomes `null`.
pub fn number(value: f64) -> Value {
    if value.is_nan() {
        return Value::Null;
    }
    if value.fract() == 0.0 && value.abs() < 9.2e18 {
        return Value::from(value as i64);
    }
    let finite = if value.is_finite() {
        value
    } else {
        f64::MAX.copysign(value)
    };
    Number::from_f64(finite).map_or(Value::Null, Value::Number)
}

fn float(number: &Number) -> f64 {
    number.as_f64().unwrap_or(0.0)
}

/// jq's total order.
pub fn compare(a: &Value, b: &Value) -> Ordering {
    fn rank(value: &Value) -> u8 {
        match value {
            Value::Null => 0,
            Value::Bool(false) => 1,
            Value::Bool(true) => 2,
            Value::Number(_) => 3,
            Value::String(_) => 4,
            Value::Array(_) => 5,
            Value::Object(_) => 6,
        }
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => compare_numbers(x, y),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => x
            .iter()
            .zip(y)
            .map(|(x, y)| compare(x, y))
            .find(|order| order.is_ne())
            .unwrap_or_else(|| x.len().cmp(&y.len())),
        // Keys first (both sorted), then the values key by key.
        (Value::Object(x), Value::Object(y)) => x.keys().cmp(y.keys()).then_with(|| {
            x.values()
                .zip(y.values())
                .map(|(x, y)| compare(x, y))
                .find(|order| order.is_ne())
                .unwrap_or(Ordering::Equal)
        }),
        _ => rank(a).cmp(&rank(b)),
    }
}

fn compare_numbers(x: &Number, y: &Number) -> Ordering {
    match (x.as_i64(), y.as_i64()) {
        (Some(x), Some(y)) => x.cmp(&y),
        _ => float(x).partial_cmp(&float(y)).unwrap_or(Ordering::Equal),
    }
}

/// `base[key]` for a string or number key; `null` in, `null` out.
pub fn index(base: &Value, key: &Value) -> Result<Value, Error> {
    match (base, key) {
        (Value::Object(map), Value::String(key)) => {
            Ok(map.get(key).cloned().unwrap_or(Value::Null))
        }
        (Value::Array(items), Value::Number(position)) => {
            let len = items.len() as f64;
            let mut position = float(position).floor();
            if position < 0.0 {
                position += len;
            }
            Ok(if position >= 0.0 && position < len {
                items[position as usize].clone()
            } else {
                Value::Null
            })
        }
        (Value::Null, Value::String(_) | Value::Number(_) | Value::Null) => Ok(Value::Null),
        (base, Value::String(_)) => Err(Error(format!(
            "Cannot index {} with {key}",
            type_name(base)
        ))),
        (base, key) => Err(Error(format!(
            "Cannot index {} with {}",
            type_name(base),
            type_name(key)
        ))),
    }
}

/// The elements of an array or the values of an object.
pub fn iterate(value: &Value) -> Result<Vec<Value>, Error> {
    match value {
        Value::Array(items) => Ok(items.clone()),
        Value::Object(map) => Ok(map.values().cloned().collect()),
        other => Err(Error(format!("Cannot iterate over {}", describe(other)))),
    }
}

pub fn negate(value: &Value) -> Result<Value, Error> {
    match value {
        Value::Number(n) => Ok(match n.as_i64().and_then(i64::checked_neg) {
            Some(negated) => Value::from(negated),
            None => number(-float(n)),
        }),
        other => Err(Error(format!("{} cannot be negated", describe(other)))),
    }
}

pub fn binary(op: BinaryOp, a: &Value, b: &Value) -> Result<Value, Error> {
    let order = || compare(a, b);
    Ok(match op {
        BinaryOp::Add => add(a, b)?,
        BinaryOp::Sub => subtract(a, b)?,
        BinaryOp::Mul => multiply(a, b)?,
        BinaryOp::Div => divide(a, b)?,
        BinaryOp::Rem => remainder(a, b)?,
        BinaryOp::Eq => Value::Bool(order().is_eq()),
        BinaryOp::Ne => Value::Bool(order().is_ne()),
        BinaryOp::Lt => Value::Bool(order().is_lt()),
        BinaryOp::Le => Value::Bool(order().is_le()),
        BinaryOp::Gt => Value::Bool(order().is_gt()),
        BinaryOp::Ge => Value::Bool(order().is_ge()),
    })
}

fn cannot(a: &Value, b: &Value, what: &str) -> Error {
    Error(format!(
        "{} and {} cannot be {what}",
        describe(a),
        describe(b)
    ))
}

/// Exact for two `i64`s that do not overflow, `f64` otherwise.
fn arithmetic(
    x: &Number,
    y: &Number,
    exact: fn(i64, i64) -> Option<i64>,
    inexact: fn(f64, f64) -> f64,
) -> Value {
    match (x.as_i64(), y.as_i64()) {
        (Some(x), Some(y)) => {
            exact(x, y).map_or_else(|| number(inexact(x as f64, y as f64)), Value::from)
        }
        _ => number(inexact(float(x), float(y))),
    }
}

pub fn add(a: &Value, b: &Value) -> Result<Value, Error> {
    Ok(match (a, b) {
        (Value::Null, other) | (other, Value::Null) => other.clone(),
        (Value::Number(x), Value::Number(y)) => arithmetic(x, y, i64::checked_add, |x, y| x + y),
        (Value::String(x), Value::String(y)) => Value::String(format!("{x}{y}")),
        (Value::Array(x), Value::Array(y)) => Value::Array(x.iter().chain(y).cloned().collect()),
        (Value::Object(x), Value::Object(y)) => {
            let mut merged = x.clone();
            merged.extend(y.iter().map(|(key, value)| (key.clone(), value.clone())));
            Value::Object(merged)
        }
        _ => return Err(cannot(a, b, "added")),
    })
}

fn subtract(a: &Value, b: &Value) -> Result<Value, Error> {
    Ok(match (a, b) {
        (Value::Number(x), Value::Number(y)) => arithmetic(x, y, i64::checked_sub, |x, y| x - y),
        (Value::Array(x), Value::Array(y)) => Value::Array(
            x.iter()
                .filter(|item| !y.iter().any(|other| compare(item, other).is_eq()))
                .cloned()
                .collect(),
        ),
        _ => return Err(cannot(a, b, "subtracted")),
    })
}

fn multiply(a: &Value, b: &Value) -> Result<Value, Error> {
    Ok(match (a, b) {
        (Value::Number(x), Value::Number(y)) => arithmetic(x, y, i64::checked_mul, |x, y| x * y),
        (Value::String(text), Value::Number(times))
        | (Value::Number(times), Value::String(text)) => repeat(text, float(times))?,
        (Value::Object(x), Value::Object(y)) => Value::Object(deep_merge(x.clone(), y)),
        _ => return Err(cannot(a, b, "multiplied")),
    })
}

/// jq's `"s" * n`: `null` for `n <= 0`, else `s` repeated `n` times (at least once).
fn repeat(text: &str, times: f64) -> Result<Value, Error> {
    if times <= 0.0 {
        return Ok(Value::Null);
    }
    let count = (times - 1.0).trunc().max(0.0) + 1.0;
    if count * text.len() as f64 > MAX_REPEAT_BYTES as f64 {
        return Err(Error(format!(
            "repeating a string of {} bytes {count} times is too large",
            text.len()
        )));
    }
    Ok(Value::String(text.repeat(count as usize)))
}

fn deep_merge(mut into: Map<String, Value>, from: &Map<String, Value>) -> Map<String, Value> {
    for (key, value) in from {
        let merged = match (into.remove(key), value) {
            (Some(Value::Object(old)), Value::Object(new)) => Value::Object(deep_merge(old, new)),
            (_, value) => value.clone(),
        };
        into.insert(key.clone(), merged);
    }
    into
}

fn divide(a: &Value, b: &Value) -> Result<Value, Error> {
    Ok(match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if float(y) == 0.0 {
                return Err(cannot(a, b, "divided because the divisor is zero"));
            }
            let exact = |x: i64, y: i64| (x.checked_rem(y) == Some(0)).then(|| x / y);
            arithmetic(x, y, exact, |x, y| x / y)
        }
        (Value::String(text), Value::String(separator)) => split(text, separator),
        _ => return Err(cannot(a, b, "divided")),
    })
}

/// jq's `%`: both sides truncated to integers; the result has the dividend's sign.
fn remainder(a: &Value, b: &Value) -> Result<Value, Error> {
    let (Value::Number(x), Value::Number(y)) = (a, b) else {
        return Err(cannot(a, b, "divided"));
    };
    let truncate = |n: &Number| n.as_i64().unwrap_or_else(|| float(n) as i64);
    let (x, y) = (truncate(x), truncate(y));
    if y == 0 {
        return Err(cannot(a, b, "divided because the divisor is zero"));
    }
    Ok(Value::from(x.checked_rem(y).unwrap_or(0)))
}

/// `"a,b" / ","` and `split(",")`: an empty string gives `[]`, an empty separator the
/// characters.
pub fn split(text: &str, separator: &str) -> Value {
    if text.is_empty() {
        return Value::Array(Vec::new());
    }
    if separator.is_empty() {
        return text.chars().map(|c| Value::String(c.to_string())).collect();
    }
    text.split(separator)
        .map(|part| Value::String(part.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn order_across_types() {
        let sorted = [
            json!(null),
            json!(false),
            json!(true),
            json!(-1),
            json!(0.5),
            json!(2),
            json!("A"),
            json!("a"),
            json!([]),
            json!([1]),
            json!([1, 0]),
            json!([2]),
            json!({}),
            json!({"a": 2}),
            json!({"a": 1, "b": 0}),
            json!({"b": 0}),
        ];
        for pair in sorted.windows(2) {
            assert_eq!(compare(&pair[0], &pair[1]), Ordering::Less, "{pair:?}");
        }
        assert_eq!(compare(&json!(1), &json!(1.0)), Ordering::Equal);
    }

    #[test]
    fn arithmetic_like_jq() {
        let op = |op, a, b| binary(op, &a, &b);
        assert_eq!(op(BinaryOp::Add, json!(1), json!(2)).unwrap(), json!(3));
        assert_eq!(op(BinaryOp::Add, json!(0.5), json!(0.5)).unwrap(), json!(1));
        assert_eq!(
            op(BinaryOp::Add, json!(9007199254740993_i64), json!(0)).unwrap(),
            json!(9007199254740993_i64)
        );
        assert_eq!(
            op(BinaryOp::Add, json!(null), json!("x")).unwrap(),
            json!("x")
        );
        assert_eq!(
            op(BinaryOp::Add, json!({"a": 1, "b": 1}), json!({"b": 2})).unwrap(),
            json!({"a": 1, "b": 2})
        );
        assert_eq!(
            op(BinaryOp::Sub, json!([1, 2, 1, 3]), json!([1])).unwrap(),
            json!([2, 3])
        );
        assert_eq!(
            op(BinaryOp::Mul, json!("ab"), json!(3)).unwrap(),
            json!("ababab")
        );
        assert_eq!(
            op(BinaryOp::Mul, json!("ab"), json!(0)).unwrap(),
            json!(null)
        );
        assert_eq!(
            op(
                BinaryOp::Mul,
                json!({"a": {"b": 1, "c": 2}}),
                json!({"a": {"c": 3}})
            )
            .unwrap(),
            json!({"a": {"b": 1, "c": 3}})
        );
        assert_eq!(op(BinaryOp::Div, json!(7), json!(2)).unwrap(), json!(3.5));
        assert_eq!(
            op(BinaryOp::Div, json!("a,b"), json!(",")).unwrap(),
            json!(["a", "b"])
        );
        assert_eq!(op(BinaryOp::Rem, json!(-7), json!(2)).unwrap(), json!(-1));
        assert_eq!(
            op(BinaryOp::Div, json!(1), json!(0)).unwrap_err().0,
            "number (1) and number (0) cannot be divided because the divisor is zero"
        );
        assert_eq!(
            op(BinaryOp::Add, json!(1), json!("a")).unwrap_err().0,
            "number (1) and string (\"a\") cannot be added"
        );
    }

    #[test]
    fn indexing() {
        let items = json!([10, 20, 30]);
        assert_eq!(index(&items, &json!(-1)).unwrap(), json!(30));
        assert_eq!(index(&items, &json!(1.7)).unwrap(), json!(20));
        assert_eq!(index(&items, &json!(5)).unwrap(), json!(null));
        assert_eq!(index(&json!(null), &json!("a")).unwrap(), json!(null));
        assert_eq!(
            index(&json!(3), &json!("a")).unwrap_err().0,
            "Cannot index number with \"a\""
        );
        assert_eq!(
            index(&items, &json!("a")).unwrap_err().0,
            "Cannot index array with \"a\""
        );
        assert_eq!(
            iterate(&json!(3)).unwrap_err().0,
            "Cannot iterate over number (3)"
        );
        assert_eq!(
            describe(&json!("x".repeat(40))).len(),
            "string ()".len() + 30
        );
    }
}
