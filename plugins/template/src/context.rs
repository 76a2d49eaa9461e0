//! The data a template renders against:
//! `{"inputs": {"<input name>": value}, "items": [...], "params": {...}}`, where a `.json`
//! input's value is its document and any other input's value is the array of its JSON
//! Lines, and `items` is every JSON Lines value of every data input, in input order.
//! Values are shared, not copied, between `inputs` and `items`.
use minijinja::Value;

use baton_sdk::input::Format;

/// One data input, read.
pub struct Data {
    pub name: String,
    pub format: Format,
    pub values: Vec<serde_json::Value>,
}

pub fn build(data: Vec<Data>, params: serde_json::Value) -> Value {
    let mut inputs = Vec::with_capacity(data.len());
    let mut items = Vec::new();
    for Data {
        name,
        format,
        mut values,
    } in data
    {
        let value = match format {
            Format::Document => values.pop().map_or(Value::from(()), convert),
            Format::Lines => {
                let lines: Vec<Value> = values.into_iter().map(convert).collect();
                items.extend(lines.iter().cloned());
                Value::from(lines)
            }
        };
        inputs.push((name, value));
    }
    Value::from_pairs([
        ("inputs", Value::from_pairs(inputs)),
        ("items", Value::from(items)),
        ("params", convert(params)),
    ])
}

/// A JSON value as a template value: `null` is `none`, integers stay integers, objects are
/// maps (keys in sorted order, as `serde_json` keeps them).
pub fn convert(value: serde_json::Value) -> Value {
    use serde_json::Value as Json;
    match value {
        Json::Null => Value::from(()),
        Json::Bool(flag) => Value::from(flag),
        Json::Number(number) => {
            if let Some(integer) = number.as_i64() {
                Value::from(integer)
            } else if let Some(integer) = number.as_u64() {
                Value::from(integer)
            } else {
                Value::from(number.as_f64().unwrap_or(f64::NAN))
            }
        }
        Json::String(text) => Value::from(text),
        Json::Array(values) => Value::from(values.into_iter().map(convert).collect::<Vec<_>>()),
        Json::Object(map) => {
            Value::from_pairs(map.into_iter().map(|(key, value)| (key, convert(value))))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn documents_lines_and_items() {
        let data = vec![
            Data {
                name: "a.jsonl".into(),
                format: Format::Lines,
                values: vec![json!(1), json!(2)],
            },
            Data {
                name: "meta.json".into(),
                format: Format::Document,
                values: vec![json!({"k": "v", "n": null})],
            },
            Data {
                name: "data/b.jsonl".into(),
                format: Format::Lines,
                values: vec![json!(3.5)],
            },
        ];
        let root = build(data, json!({"output": "x.md"}));
        let env = minijinja::Environment::new();
        let rendered = env
            .render_str(
                "{{ inputs['a.jsonl'] }} {{ inputs['meta.json'].k }} {{ inputs['meta.json'].n }} \
                 {{ inputs['data/b.jsonl'][0] }} {{ items }} {{ params.output }}",
                root,
            )
            .unwrap();
        assert_eq!(rendered, "[1, 2] v None 3.5 [1, 2, 3.5] x.md");
    }

    #[test]
    fn large_integers_stay_exact() {
        assert_eq!(convert(json!(u64::MAX)).to_string(), u64::MAX.to_string());
        assert_eq!(convert(json!(-7)).to_string(), "-7");
    }
}
