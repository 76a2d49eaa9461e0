//! The filter language (documented in the crate docs): a filter is parsed once, then run on
//! each value. Parse errors carry the line and column in the filter text; runtime errors
//! carry jq-style messages such as `Cannot index number with "a"`.
mod builtins;
mod eval;
mod lexer;
mod parser;
mod value;

use std::fmt;

use serde_json::Value;

/// A parsed filter.
#[derive(Debug, Clone)]
pub struct Filter {
    ast: parser::Ast,
}

/// A syntax error at a character offset of the filter.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    pub at: usize,
    pub message: String,
}

/// A syntax error placed at a line and column (both 1-based, columns in characters).
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 1 {
            write!(f, "column {}: {}", self.column, self.message)
        } else {
            write!(
                f,
                "line {}, column {}: {}",
                self.line, self.column, self.message
            )
        }
    }
}

/// A runtime error.
#[derive(Debug, Clone, PartialEq)]
pub struct Error(pub String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Filter {
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let place = |error: SyntaxError| {
            let before: Vec<char> = text.chars().take(error.at).collect();
            let line_start = before
                .iter()
                .rposition(|&c| c == '\n')
                .map_or(0, |newline| newline + 1);
            ParseError {
                line: 1 + before.iter().filter(|&&c| c == '\n').count(),
                column: 1 + before.len() - line_start,
                message: error.message,
            }
        };
        let tokens = lexer::tokenize(text).map_err(place)?;
        let ast = parser::parse(&tokens).map_err(place)?;
        Ok(Self { ast })
    }

    /// Every output of the filter on `input`, in order.
    pub fn run(&self, input: &Value) -> Result<Vec<Value>, Error> {
        eval::eval_all(&self.ast, input)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(filter: &str, input: Value) -> Vec<Value> {
        Filter::parse(filter)
            .unwrap_or_else(|error| panic!("{filter}: {error}"))
            .run(&input)
            .unwrap_or_else(|error| panic!("{filter}: {error}"))
    }

    fn one(filter: &str, input: Value) -> Value {
        let mut outputs = run(filter, input);
        assert_eq!(outputs.len(), 1, "{filter}: {outputs:?}");
        outputs.remove(0)
    }

    fn failure(filter: &str, input: Value) -> String {
        Filter::parse(filter).unwrap().run(&input).unwrap_err().0
    }

    #[test]
    fn the_example_from_the_docs() {
        let people = json!([
            {"name": "Ada", "age": 36, "address": {"city": "London"}},
            {"name": "Alan", "age": 29, "address": {"city": "Wilmslow"}},
            {"name": "Grace", "age": 85}
        ]);
        assert_eq!(
            run(
                ".[] | select(.age >= 30) | {name, city: .address.city}",
                people
            ),
            vec![
                json!({"name": "Ada", "city": "London"}),
                json!({"name": "Grace", "city": null}),
            ]
        );
    }

    #[test]
    fn paths() {
        let input = json!({"a": {"b": [1, 2, 3]}, "k y": true, "n": null});
        assert_eq!(one(".", input.clone()), input);
        assert_eq!(one(".a.b[-1]", input.clone()), json!(3));
        assert_eq!(one(r#"."k y""#, input.clone()), json!(true));
        assert_eq!(one(r#".["k y"]"#, input.clone()), json!(true));
        assert_eq!(one(".n.deeper[0]", input.clone()), json!(null));
        assert_eq!(
            run(".a.b[]", input.clone()),
            vec![json!(1), json!(2), json!(3)]
        );
        assert_eq!(run(".a.b[0].x?", input.clone()), Vec::<Value>::new());
        assert_eq!(run("(1, .a.b.x, 2)?", input.clone()), vec![json!(1)]);
        assert_eq!(run(".[]?", json!(3)), Vec::<Value>::new());
        assert_eq!(failure(".a.b.x", input), "Cannot index array with \"x\"");
    }

    #[test]
    fn generators_and_construction() {
        assert_eq!(one("[.[] | . * 2]", json!([1, 2])), json!([2, 4]));
        assert_eq!(
            run("(1, 2) + (10, 20)", json!(null)),
            vec![json!(11), json!(12), json!(21), json!(22)]
        );
        assert_eq!(
            run(r#"{a: (1, 2), "b": 3}"#, json!(null)),
            vec![json!({"a": 1, "b": 3}), json!({"a": 2, "b": 3})]
        );
        assert_eq!(
            one(
                r#"{(.k): .v, "x\ty": [], if: 1}"#,
                json!({"k": "key", "v": 7})
            ),
            json!({"key": 7, "x\ty": [], "if": 1})
        );
        assert_eq!(
            failure("{(.a): 1}", json!({"a": 1})),
            "Cannot use number (1) as an object key"
        );
        assert_eq!(one("[]", json!(null)), json!([]));
        assert_eq!(
            one("[-1.5, 1e3, \"s\", true, false, null]", json!(null)),
            json!([-1.5, 1000, "s", true, false, null])
        );
    }

    #[test]
    fn logic_and_conditionals() {
        assert_eq!(
            run("(true, false) and (true, false)", json!(null)),
            vec![json!(true), json!(false), json!(false)]
        );
        assert_eq!(one("false or 1", json!(null)), json!(true));
        assert_eq!(one(".a // \"d\"", json!({"a": false})), json!("d"));
        assert_eq!(one(".a // \"d\"", json!({"a": 0})), json!(0));
        assert_eq!(one("(.a.b.c // 5)", json!({"a": 3})), json!(5));
        assert_eq!(one(". | not", json!(null)), json!(true));
        let grade = "if . >= 90 then \"A\" elif . >= 80 then \"B\" else \"C\" end";
        assert_eq!(one(grade, json!(95)), json!("A"));
        assert_eq!(one(grade, json!(85)), json!("B"));
        assert_eq!(one(grade, json!(10)), json!("C"));
        assert_eq!(one("if . then 1 end", json!(false)), json!(false));
        assert_eq!(
            one("[1, \"a\", null] | sort", json!(null)),
            json!([null, 1, "a"])
        );
        assert_eq!(one("{} < []", json!(null)), json!(false));
        assert_eq!(one("1 == 1.0", json!(null)), json!(true));
        assert_eq!(one("\"abc\" != \"abd\"", json!(null)), json!(true));
    }

    #[test]
    fn builtins() {
        let people = json!([
            {"name": "b", "team": "x", "n": 2},
            {"name": "a", "team": "y", "n": 1},
            {"name": "c", "team": "x", "n": 3}
        ]);
        assert_eq!(one("map(.n) | add", people.clone()), json!(6));
        assert_eq!(
            one("sort_by(.name) | map(.name) | join(\",\")", people.clone()),
            json!("a,b,c")
        );
        assert_eq!(
            one("group_by(.team) | map(map(.name))", people.clone()),
            json!([["b", "c"], ["a"]])
        );
        assert_eq!(
            one("map(.team) | unique", people.clone()),
            json!(["x", "y"])
        );
        assert_eq!(
            one("map(.n) | [min, max, first, last]", people.clone()),
            json!([1, 3, 2, 3])
        );
        assert_eq!(
            one("[first(.[].n), last(.[].n)]", people.clone()),
            json!([2, 3])
        );
        assert_eq!(
            one("[] | [min, max, first, add]", json!(null)),
            json!([null, null, null, null])
        );
        assert_eq!(
            one(
                "[length, (.[0] | keys), (.[0] | has(\"n\")), has(5)]",
                people
            ),
            json!([3, ["n", "name", "team"], true, false])
        );
        assert_eq!(
            one("[.[] | length]", json!(["héllo", null, -4, {"a": 1}])),
            json!([5, 0, 4, 1])
        );
        assert_eq!(
            one("[.[] | type]", json!([null, true, 1, "s", [], {}])),
            json!(["null", "boolean", "number", "string", "array", "object"])
        );
        assert_eq!(
            one("[.[] | tostring]", json!([1, "s", [1]])),
            json!(["1", "s", "[1]"])
        );
        assert_eq!(
            one("[.[] | tonumber]", json!(["12", 3, "-1.5"])),
            json!([12, 3, -1.5])
        );
        assert_eq!(
            failure("tonumber", json!("x1")),
            "Cannot parse \"x1\" as a number"
        );
        assert_eq!(
            one("to_entries", json!({"a": 1, "b": 2})),
            json!([{"key": "a", "value": 1}, {"key": "b", "value": 2}])
        );
        assert_eq!(
            one(
                "from_entries",
                json!([{"key": "a", "value": 1}, {"name": "b", "v": 2}, {"k": 3}])
            ),
            json!({"a": 1, "b": 2, "3": null})
        );
        assert_eq!(
            one("to_entries | from_entries", json!({"x": [1]})),
            json!({"x": [1]})
        );
        assert_eq!(
            one("[ascii_downcase, ascii_upcase]", json!("ÄbC")),
            json!(["Äbc", "ÄBC"])
        );
        assert_eq!(
            one("split(\", \")", json!("a, b, c")),
            json!(["a", "b", "c"])
        );
        assert_eq!(
            one("[.[] | split(\"\")]", json!(["ab", ""])),
            json!([["a", "b"], []])
        );
        assert_eq!(
            one("join(\"-\")", json!(["a", 1, null, true])),
            json!("a-1--true")
        );
        assert_eq!(run("empty, 1", json!(null)), vec![json!(1)]);
        assert_eq!(
            run(".[] | select(. > 1)", json!([1, 2, 3])),
            vec![json!(2), json!(3)]
        );
        assert_eq!(
            failure("join(\",\")", json!([[1]])),
            "Cannot join with array"
        );
        assert_eq!(
            failure("length", json!(true)),
            "boolean (true) has no length"
        );
        assert_eq!(
            failure("sort", json!({})),
            "object ({}) cannot be sorted, as it is not an array"
        );
        assert_eq!(failure("keys", json!(1)), "number (1) has no keys");
    }

    #[test]
    fn parse_errors_name_line_and_column() {
        let error = Filter::parse(".a |\n  foo").unwrap_err();
        assert_eq!(
            error.to_string(),
            "line 2, column 3: unknown function `foo/0`"
        );
        let error = Filter::parse(".[] | test(\"x\")").unwrap_err();
        assert_eq!(error.to_string(), "column 7: unknown function `test/1`");
    }
}
