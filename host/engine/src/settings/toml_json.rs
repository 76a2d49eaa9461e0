//! TOML values as the JSON plugins receive (pipeline `params`, plugin `settings`): strings,
//! integers, floats, booleans, arrays and tables map to their JSON forms; a date-time is its
//! RFC 3339 text as written (offset date-time, local date-time, local date or local time, per
//! TOML 1.0 §"Offset Date-Time" and the sections after it); `nan`, `inf` and `-inf`, which
//! JSON cannot hold, become the strings `"nan"`, `"inf"` and `"-inf"`.

use serde_json::{Map, Number, Value};

/// The JSON form of one TOML value.
pub fn to_json(value: &toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::Number((*i).into()),
        toml::Value::Float(f) => match Number::from_f64(*f) {
            Some(n) => Value::Number(n),
            None if f.is_nan() => Value::String("nan".into()),
            None if *f > 0.0 => Value::String("inf".into()),
            None => Value::String("-inf".into()),
        },
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(items) => Value::Array(items.iter().map(to_json).collect()),
        toml::Value::Table(table) => table_to_json(table),
    }
}

/// The JSON object of a TOML table, in the table's key order.
pub fn table_to_json<'a>(table: impl IntoIterator<Item = (&'a String, &'a toml::Value)>) -> Value {
    Value::Object(
        table
            .into_iter()
            .map(|(k, v)| (k.clone(), to_json(v)))
            .collect::<Map<String, Value>>(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_toml_type_has_a_faithful_json_form() {
        let table: toml::Table = toml::from_str(
            r#"
s = "x"
i = -7
f = 2.5
b = true
odt = 1979-05-27T07:32:00-08:00
ldt = 1979-05-27T07:32:00
ld = 1979-05-27
lt = 07:32:00.999
a = [1, "two", [3]]
n = nan
pi = inf
ni = -inf
[t]
k = { x = 1 }
"#,
        )
        .unwrap();
        assert_eq!(
            table_to_json(&table),
            json!({
                "s": "x", "i": -7, "f": 2.5, "b": true,
                "odt": "1979-05-27T07:32:00-08:00", "ldt": "1979-05-27T07:32:00",
                "ld": "1979-05-27", "lt": "07:32:00.999",
                "a": [1, "two", [3]], "n": "nan", "pi": "inf", "ni": "-inf",
                "t": {"k": {"x": 1}}
            })
        );
    }
}
