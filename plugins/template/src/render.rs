//! Renders a parsed template against the data. Each `#each` turn opens a scope holding the
//! item (and its `@index`, `@key`, `@first`, `@last`); a path's first name is looked up in
//! the innermost scope that has it, out to the data root. A path that leads nowhere
//! renders as nothing, or fails when `strict`; in `#if`/`#unless` it is simply false,
//! since testing whether something is there is what those blocks are for.
use std::borrow::Cow;

use serde_json::Value;

use crate::expr::{self, Expr, Path, Special};
use crate::syntax::{Node, Position};

#[derive(Debug, Clone, PartialEq)]
pub struct RenderError {
    pub at: Position,
    pub message: String,
}

/// One level of lookup: the data root, or one turn of an `#each`.
struct Scope<'a> {
    value: &'a Value,
    turn: Option<Turn<'a>>,
    parent: Option<&'a Scope<'a>>,
}

/// Where an `#each` is in its sequence.
#[derive(Clone, Copy)]
struct Turn<'a> {
    index: usize,
    len: usize,
    key: Option<&'a str>,
}

/// Renders `nodes` with `data` as the root scope.
pub fn render(nodes: &[Node], data: &Value, strict: bool) -> Result<String, RenderError> {
    let mut out = String::new();
    let root = Scope {
        value: data,
        turn: None,
        parent: None,
    };
    Renderer { strict }.nodes(nodes, &root, &mut out)?;
    Ok(out)
}

struct Renderer {
    strict: bool,
}

impl Renderer {
    fn nodes(
        &self,
        nodes: &[Node],
        scope: &Scope<'_>,
        out: &mut String,
    ) -> Result<(), RenderError> {
        for node in nodes {
            match node {
                Node::Text(text) => out.push_str(text),
                Node::Value { expr, at } => {
                    let value = self.present(expr, *at, scope)?;
                    out.push_str(&expr::text(&value));
                }
                Node::If {
                    expr,
                    at,
                    negated,
                    then,
                    otherwise,
                } => {
                    let value = evaluate(expr, scope).map_err(|message| error(*at, message))?;
                    let holds = value.as_deref().is_some_and(expr::truthy) != *negated;
                    self.nodes(if holds { then } else { otherwise }, scope, out)?;
                }
                Node::Each {
                    expr,
                    at,
                    body,
                    otherwise,
                } => {
                    let value = self.present(expr, *at, scope)?;
                    let turns: Vec<(Option<&str>, &Value)> = match value.as_ref() {
                        Value::Null => Vec::new(),
                        Value::Array(items) => items.iter().map(|item| (None, item)).collect(),
                        Value::Object(map) => map
                            .iter()
                            .map(|(key, item)| (Some(key.as_str()), item))
                            .collect(),
                        other => {
                            return Err(error(
                                *at,
                                format!(
                                    "`{{{{#each {}}}}}` needs an array or an object, found {}",
                                    expr.text,
                                    kind(other)
                                ),
                            ))
                        }
                    };
                    if turns.is_empty() {
                        self.nodes(otherwise, scope, out)?;
                    }
                    let len = turns.len();
                    for (index, (key, item)) in turns.into_iter().enumerate() {
                        let inner = Scope {
                            value: item,
                            turn: Some(Turn { index, len, key }),
                            parent: Some(scope),
                        };
                        self.nodes(body, &inner, out)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The value of `expr`; a missing one is `null`, or an error when strict.
    fn present<'s>(
        &self,
        expr: &Expr,
        at: Position,
        scope: &'s Scope<'s>,
    ) -> Result<Cow<'s, Value>, RenderError> {
        match evaluate(expr, scope).map_err(|message| error(at, message))? {
            Some(value) => Ok(value),
            None if self.strict => Err(error(at, format!("unknown path `{}`", expr.text))),
            None => Ok(Cow::Owned(Value::Null)),
        }
    }
}

fn error(at: Position, message: String) -> RenderError {
    RenderError { at, message }
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

/// The path's value with the filters applied; `None` when the path leads nowhere.
fn evaluate<'s>(expr: &Expr, scope: &'s Scope<'s>) -> Result<Option<Cow<'s, Value>>, String> {
    let mut value = match &expr.path {
        Path::Current => Some(Cow::Borrowed(scope.value)),
        Path::Special(special) => special_value(*special, scope).map(Cow::Owned),
        Path::Keys { local, segments } => lookup(scope, *local, segments).map(Cow::Borrowed),
    };
    for filter in &expr.filters {
        value = expr::apply(filter, value)?;
    }
    Ok(value)
}

fn special_value(special: Special, scope: &Scope<'_>) -> Option<Value> {
    let mut current = Some(scope);
    let turn = loop {
        let scope = current?;
        if let Some(turn) = scope.turn {
            break turn;
        }
        current = scope.parent;
    };
    Some(match special {
        Special::Index => Value::from(turn.index),
        Special::Key => Value::from(turn.key?),
        Special::First => Value::Bool(turn.index == 0),
        Special::Last => Value::Bool(turn.index + 1 == turn.len),
    })
}

fn lookup<'s>(scope: &Scope<'s>, local: bool, segments: &[String]) -> Option<&'s Value> {
    let (first, rest) = segments.split_first()?;
    let mut current = Some(scope);
    while let Some(scope) = current {
        if let Some(found) = child(scope.value, first) {
            return rest
                .iter()
                .try_fold(found, |value, segment| child(value, segment));
        }
        if local {
            return None;
        }
        current = scope.parent;
    }
    None
}

fn child<'v>(value: &'v Value, segment: &str) -> Option<&'v Value> {
    match value {
        Value::Object(map) => map.get(segment),
        Value::Array(items) => segment.parse::<usize>().ok().and_then(|at| items.get(at)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::parse;
    use serde_json::json;

    fn render_text(template: &str, data: Value, strict: bool) -> Result<String, String> {
        let nodes = parse(template).map_err(|error| error.message)?;
        render(&nodes, &data, strict)
            .map_err(|error| format!("{}:{}: {}", error.at.line, error.at.column, error.message))
    }

    fn data() -> Value {
        json!({
            "inputs": {"people.jsonl": [{"name": "Ada"}, {"name": "Alan"}]},
            "items": [
                {"name": "Ada", "tags": ["math", "code"], "age": 36},
                {"name": "Alan", "tags": [], "age": null}
            ],
            "params": {"title": "People", "empty": ""}
        })
    }

    #[test]
    fn each_with_index_fields_and_outer_names() {
        let template = "# {{params.title}}\n{{#each items}}\n{{@index}}. {{name}} ({{tags | length}} tags{{#if @last}}, last{{/if}}) in {{params.title | lower}}\n{{/each}}\n";
        assert_eq!(
            render_text(template, data(), true).unwrap(),
            "# People\n0. Ada (2 tags) in people\n1. Alan (0 tags, last) in people\n"
        );
    }

    #[test]
    fn nested_each_current_item_and_else() {
        let template = "{{#each items}}{{name}}:{{#each tags}} {{.}}{{#unless @last}},{{/unless}}{{else}} none{{/each}};{{/each}}";
        assert_eq!(
            render_text(template, data(), false).unwrap(),
            "Ada: math, code;Alan: none;"
        );
    }

    #[test]
    fn objects_iterate_with_keys_and_brackets_reach_odd_names() {
        let template = r#"{{#each inputs}}{{@key}}={{. | length}}{{/each}} {{inputs["people.jsonl"].1.name | upper}}"#;
        assert_eq!(
            render_text(template, data(), true).unwrap(),
            "people.jsonl=2 ALAN"
        );
    }

    #[test]
    fn values_render_as_text() {
        let template = "{{a}}|{{b}}|{{c}}|{{d}}|{{e}}|{{e | json}}|{{f | json}}";
        let data =
            json!({"a": "x", "b": 1.5, "c": true, "d": null, "e": [1, {"k": "v"}], "f": "q\""});
        assert_eq!(
            render_text(template, data, true).unwrap(),
            "x|1.5|true||[1,{\"k\":\"v\"}]|[1,{\"k\":\"v\"}]|\"q\\\"\""
        );
    }

    #[test]
    fn missing_paths_are_empty_unless_strict() {
        let template =
            "a{{missing.path}}b {{params.empty | default:\"-\"}} {{#if nope}}yes{{else}}no{{/if}}";
        assert_eq!(render_text(template, data(), false).unwrap(), "ab - no");
        assert_eq!(
            render_text(template, data(), true).unwrap_err(),
            "1:2: unknown path `missing.path`"
        );
        assert_eq!(
            render_text("{{missing | default:\"d\"}}", data(), true).unwrap(),
            "d"
        );
        assert_eq!(
            render_text("x\n {{#each items}}{{.nope}}{{/each}}", data(), true).unwrap_err(),
            "2:17: unknown path `.nope`"
        );
        assert_eq!(
            render_text("{{#each items}}{{.params}}{{/each}}", data(), false).unwrap(),
            ""
        );
    }

    #[test]
    fn runtime_errors_name_the_tag() {
        assert_eq!(
            render_text("\n{{#each params.title}}{{/each}}", data(), false).unwrap_err(),
            "2:1: `{{#each params.title}}` needs an array or an object, found a string"
        );
        assert_eq!(
            render_text("{{items.0.age | length}}", data(), false).unwrap_err(),
            "1:1: the filter `length` needs a string, an array or an object, found a number"
        );
    }
}
