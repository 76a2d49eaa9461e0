//! The data a template renders against:
//! `{"inputs": {"<input name>": value}, "items": [...], "params": {...}}`, where a `.json`
//! input's value is its document and any other input's value is the array of its JSON
//! Lines, and `items` is every JSON Lines value of every data input, in input order.
use serde_json::{Map, Value};

use baton_sdk::input::Format;

/// One data input, read.
pub struct Data {
    pub name: String,
    pub format: Format,
    pub values: Vec<Value>,
}

pub fn build(data: Vec<Data>, params: Value) -> Value {
    let mut inputs = Map::new();
    let mut items = Vec::new();
    for Data {
        name,
        format,
        mut values,
    } in data
    {
        let value = match format {
            Format::Document => values.pop().unwrap_or(Value::Null),
            Format::Lines => {
                items.extend(values.iter().cloned());
                Value::Array(values)
            }
        };
        inputs.insert(name, value);
    }
    let mut context = Map::new();
    context.insert("inputs".into(), Value::Object(inputs));
    context.insert("items".into(), Value::Array(items));
    context.insert("params".into(), params);
    Value::Object(context)
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
                values: vec![json!({"k": "v"})],
            },
            Data {
                name: "data/b.jsonl".into(),
                format: Format::Lines,
                values: vec![json!(3)],
            },
        ];
        assert_eq!(
            build(data, json!({"output": "x.md"})),
            json!({
                "inputs": {"a.jsonl": [1, 2], "meta.json": {"k": "v"}, "data/b.jsonl": [3]},
                "items": [1, 2, 3],
                "params": {"output": "x.md"}
            })
        );
    }
}
