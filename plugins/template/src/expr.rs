//! The expression inside a tag: a path, then filters.
//!
//! Paths: `.` (the current item), `@index` `@key` `@first` `@last` (inside `#each`),
//! `name.other.0` (looked up in the current item, then in each enclosing one out to the
//! data root), `.name` (in the current item only), and `["any key"]` / `[0]` segments for
//! keys that are not plain names, e.g. `inputs["people.json"]`. Filters: `| length`,
//! `| upper`, `| lower`, `| json`, `| default:"text"`.
use std::borrow::Cow;

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// The path as written, for messages.
    pub text: String,
    pub path: Path,
    pub filters: Vec<Filter>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Path {
    /// `.`
    Current,
    Special(Special),
    /// `a.b[0]`; `local` for `.a.b`, which looks only at the current item.
    Keys {
        local: bool,
        segments: Vec<String>,
    },
}

/// The `@` names an `#each` defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    Index,
    Key,
    First,
    Last,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Length,
    Upper,
    Lower,
    Json,
    Default(String),
}

impl Expr {
    /// Whether the expression uses an `@` name, which needs an enclosing `#each`.
    pub fn uses_special(&self) -> bool {
        matches!(self.path, Path::Special(_))
    }
}

/// Parses `path | filter | filter:"arg"`.
pub fn parse(text: &str) -> Result<Expr, String> {
    let mut parts = split_outside_strings(text, '|').into_iter();
    let path_text = parts.next().unwrap_or_default().trim();
    let path = path(path_text)?;
    let filters = parts.map(filter).collect::<Result<_, _>>()?;
    Ok(Expr {
        text: path_text.to_string(),
        path,
        filters,
    })
}

/// `text` cut at every `separator` that is not inside a `"…"` string.
fn split_outside_strings(text: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut in_string = false;
    let mut escaped = false;
    for (at, c) in text.char_indices() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
        } else if c == '"' {
            in_string = true;
        } else if c == separator {
            parts.push(&text[start..at]);
            start = at + c.len_utf8();
        }
    }
    parts.push(&text[start..]);
    parts
}

fn path(text: &str) -> Result<Path, String> {
    if text.is_empty() {
        return Err("missing path".into());
    }
    if text == "." {
        return Ok(Path::Current);
    }
    if let Some(name) = text.strip_prefix('@') {
        return Ok(Path::Special(match name {
            "index" => Special::Index,
            "key" => Special::Key,
            "first" => Special::First,
            "last" => Special::Last,
            _ => {
                return Err(format!(
                    "unknown `@{name}` (known: @index, @key, @first, @last)"
                ))
            }
        }));
    }
    let invalid = |why: &str| format!("invalid path `{text}`: {why}");
    let chars: Vec<char> = text.chars().collect();
    let local = chars[0] == '.';
    let mut at = usize::from(local);
    let mut segments = Vec::new();
    loop {
        if chars.get(at) == Some(&'[') {
            let (segment, next) = bracket(&chars, at).map_err(|why| invalid(&why))?;
            segments.push(segment);
            at = next;
        } else {
            let start = at;
            while chars.get(at).is_some_and(|&c| is_name_char(c)) {
                at += 1;
            }
            if at == start {
                return Err(invalid(match chars.get(at) {
                    None => "it ends with `.`",
                    Some(_) => "expected a name or `[`",
                }));
            }
            segments.push(chars[start..at].iter().collect());
        }
        match chars.get(at) {
            None => return Ok(Path::Keys { local, segments }),
            Some('.') => at += 1,
            Some('[') => {}
            Some(c) => return Err(invalid(&format!("unexpected `{c}`"))),
        }
    }
}

fn is_name_char(c: char) -> bool {
    !(c.is_whitespace() || matches!(c, '.' | '[' | ']' | '"' | '|' | '{' | '}' | '@'))
}

/// `["key"]` or `[0]` starting at `at`; returns the key and the position after `]`.
fn bracket(chars: &[char], at: usize) -> Result<(String, usize), String> {
    let mut end = at + 1;
    let key = if chars.get(end) == Some(&'"') {
        let start = end;
        end += 1;
        let mut escaped = false;
        loop {
            match chars.get(end) {
                None => return Err("unterminated string".into()),
                Some(_) if escaped => escaped = false,
                Some('\\') => escaped = true,
                Some('"') => break,
                Some(_) => {}
            }
            end += 1;
        }
        end += 1;
        let literal: String = chars[start..end].iter().collect();
        serde_json::from_str(&literal).map_err(|_| format!("invalid string {literal}"))?
    } else {
        let start = end;
        while chars.get(end).is_some_and(char::is_ascii_digit) {
            end += 1;
        }
        if start == end {
            return Err("`[` must hold a quoted key or an index".into());
        }
        chars[start..end].iter().collect()
    };
    if chars.get(end) != Some(&']') {
        return Err("expected `]`".into());
    }
    Ok((key, end + 1))
}

fn filter(text: &str) -> Result<Filter, String> {
    let text = text.trim();
    let (name, argument) = match text.split_once(':') {
        Some((name, argument)) => (name.trim(), Some(argument.trim())),
        None => (text, None),
    };
    let plain = |filter: Filter| match argument {
        None => Ok(filter),
        Some(_) => Err(format!("the filter `{name}` takes no argument")),
    };
    match name {
        "length" => plain(Filter::Length),
        "upper" => plain(Filter::Upper),
        "lower" => plain(Filter::Lower),
        "json" => plain(Filter::Json),
        "default" => argument
            .and_then(|argument| serde_json::from_str(argument).ok())
            .map(Filter::Default)
            .ok_or_else(|| {
                "the filter `default` needs a quoted string, e.g. default:\"n/a\"".into()
            }),
        "" => Err("missing filter name after `|`".into()),
        _ => Err(format!(
            "unknown filter `{name}` (known: length, upper, lower, json, default)"
        )),
    }
}

/// Not `null`, `false`, `""`, `[]` or `{}`.
pub fn truthy(value: &Value) -> bool {
    match value {
        Value::Null | Value::Bool(false) => false,
        Value::String(text) => !text.is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Object(map) => !map.is_empty(),
        _ => true,
    }
}

/// How a value is written: strings as they are, `null` as nothing, arrays and objects as
/// compact JSON.
pub fn text(value: &Value) -> Cow<'_, str> {
    match value {
        Value::String(text) => Cow::Borrowed(text),
        Value::Null => Cow::Borrowed(""),
        other => Cow::Owned(other.to_string()),
    }
}

/// Applies one filter; `None` is a missing value, which only `default` replaces.
pub fn apply<'v>(
    filter: &Filter,
    value: Option<Cow<'v, Value>>,
) -> Result<Option<Cow<'v, Value>>, String> {
    if let Filter::Default(fallback) = filter {
        return Ok(match value {
            Some(value) if truthy(&value) => Some(value),
            _ => Some(Cow::Owned(Value::String(fallback.clone()))),
        });
    }
    let Some(value) = value else {
        return Ok(None);
    };
    let result = match filter {
        Filter::Length => Value::from(match value.as_ref() {
            Value::Null => 0,
            Value::String(text) => text.chars().count(),
            Value::Array(items) => items.len(),
            Value::Object(map) => map.len(),
            other => {
                return Err(format!(
                    "the filter `length` needs a string, an array or an object, found {}",
                    if other.is_number() {
                        "a number"
                    } else {
                        "a boolean"
                    }
                ))
            }
        }),
        Filter::Upper => Value::String(text(&value).to_uppercase()),
        Filter::Lower => Value::String(text(&value).to_lowercase()),
        Filter::Json => Value::String(value.to_string()),
        Filter::Default(_) => unreachable!("handled above"),
    };
    Ok(Some(Cow::Owned(result)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn keys(local: bool, segments: &[&str]) -> Path {
        Path::Keys {
            local,
            segments: segments.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn paths() {
        assert_eq!(path(".").unwrap(), Path::Current);
        assert_eq!(path("@index").unwrap(), Path::Special(Special::Index));
        assert_eq!(path("a.b.0").unwrap(), keys(false, &["a", "b", "0"]));
        assert_eq!(path(".name").unwrap(), keys(true, &["name"]));
        assert_eq!(
            path(r#"inputs["data/people.json"][2].first-name"#).unwrap(),
            keys(false, &["inputs", "data/people.json", "2", "first-name"])
        );
        assert_eq!(path(r#"a["x\"]y"]"#).unwrap(), keys(false, &["a", "x\"]y"]));
        assert_eq!(
            path("a.").unwrap_err(),
            "invalid path `a.`: it ends with `.`"
        );
        assert_eq!(
            path("a..b").unwrap_err(),
            "invalid path `a..b`: expected a name or `[`"
        );
        assert_eq!(
            path("@idx").unwrap_err(),
            "unknown `@idx` (known: @index, @key, @first, @last)"
        );
        assert_eq!(
            path("a[x]").unwrap_err(),
            "invalid path `a[x]`: `[` must hold a quoted key or an index"
        );
    }

    #[test]
    fn filters() {
        let expr = parse(r#" title | default:"a | b" | upper "#).unwrap();
        assert_eq!(expr.text, "title");
        assert_eq!(
            expr.filters,
            vec![Filter::Default("a | b".into()), Filter::Upper]
        );
        assert_eq!(
            parse("x | uper").unwrap_err(),
            "unknown filter `uper` (known: length, upper, lower, json, default)"
        );
        assert_eq!(
            parse("x | default:n/a").unwrap_err(),
            "the filter `default` needs a quoted string, e.g. default:\"n/a\""
        );
        assert_eq!(
            parse("x | json:1").unwrap_err(),
            "the filter `json` takes no argument"
        );
        assert_eq!(parse(" | upper").unwrap_err(), "missing path");
    }

    #[test]
    fn applying_filters() {
        let run = |filter: Filter, value: Option<Value>| {
            apply(&filter, value.map(Cow::Owned)).map(|value| value.map(Cow::into_owned))
        };
        assert_eq!(
            run(Filter::Length, Some(json!("héllo"))),
            Ok(Some(json!(5)))
        );
        assert_eq!(run(Filter::Length, Some(json!([1, 2]))), Ok(Some(json!(2))));
        assert_eq!(run(Filter::Length, None), Ok(None));
        assert_eq!(
            run(Filter::Length, Some(json!(3))),
            Err("the filter `length` needs a string, an array or an object, found a number".into())
        );
        assert_eq!(
            run(Filter::Upper, Some(json!("straße"))),
            Ok(Some(json!("STRASSE")))
        );
        assert_eq!(
            run(Filter::Lower, Some(json!(true))),
            Ok(Some(json!("true")))
        );
        assert_eq!(
            run(Filter::Json, Some(json!({"a": [1, "x"]}))),
            Ok(Some(json!("{\"a\":[1,\"x\"]}")))
        );
        let fallback = || Filter::Default("n/a".into());
        assert_eq!(run(fallback(), None), Ok(Some(json!("n/a"))));
        assert_eq!(run(fallback(), Some(json!(""))), Ok(Some(json!("n/a"))));
        assert_eq!(run(fallback(), Some(json!(0))), Ok(Some(json!(0))));
    }
}
