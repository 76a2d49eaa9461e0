//! `jsonl-transform`: a stage that runs a jq-like filter over JSON and JSON Lines inputs
//! and writes every result as one line of `{output-dir}/{output}` (JSON Lines).
//!
//! Params:
//! - `filter` (required): the filter, e.g.
//!   `.[] | select(.age >= 30) | {name, city: .address.city}`.
//! - `output`: the file to write, a relative path inside the output directory (default:
//!   `<file stem of the first input>.jsonl`).
//! - `mode`: `"lines"` (default) runs the filter once per input value: on each line of a
//!   JSON Lines input, or on the one document of a `.json` input. `"slurp"` runs it once,
//!   on one array of every value of every input, in input order.
//!
//! An input named `*.json` holds one JSON document; any other input is read as JSON Lines
//! (blank lines skipped). A filter that does not parse fails the stage naming the line
//! and column in the filter; a runtime error fails it naming the input, the line and the
//! error, e.g. ``input `people.jsonl`: line 3: Cannot index number with "city"``.
//!
//! # Filter language
//!
//! A subset of jq. A filter takes one value and produces zero or more:
//!
//! | Form | Meaning |
//! |------|---------|
//! | `.` | the input |
//! | `.a`, `.a.b`, `."any key"`, `.["key"]` | object field; `null` for a missing key or on `null` |
//! | `.[0]`, `.[-1]` | array element, negative from the end; `null` out of range |
//! | `.[]` | every element of an array, or value of an object |
//! | `f?` (e.g. `.a?`, `.[]?`) | `f` with its errors dropped (outputs before an error stay) |
//! | `f \| g` | `g` run on every output of `f` |
//! | `f, g` | the outputs of `f`, then of `g` |
//! | `( f )` | grouping |
//! | `1`, `-2.5e3`, `"text\n\u00e9"`, `true`, `false`, `null` | literals (strings take JSON's escapes) |
//! | `[f]`, `[]` | an array of all outputs of `f` |
//! | `{a, b: f, "c d": f, (f): g}` | an object; `{a}` is `{a: .a}`; several outputs give every combination |
//! | `==` `!=` `<` `<=` `>` `>=` | comparison in jq's order: `null < false < true < numbers < strings < arrays < objects` |
//! | `and`, `or`, `not` | logic; only `false` and `null` are false |
//! | `+ - * / %` | arithmetic; `+` also joins strings and arrays and merges objects, `null + x` is `x`, `-` removes array elements, `*` repeats a string or deep-merges objects, `/` splits a string, `%` works on integers |
//! | `f // g` | the true outputs of `f` (its errors dropped), or else the outputs of `g` |
//! | `if c then f elif c2 then g else h end` | conditional; without `else` the input passes through |
//! | `# comment` | to the end of the line |
//!
//! Functions: `select(f)`, `map(f)`, `length`, `keys`, `has(k)`, `tostring`, `tonumber`,
//! `type`, `add`, `empty`, `not`, `sort`, `sort_by(f)`, `group_by(f)`, `unique`, `min`,
//! `max`, `first`, `last`, `first(f)`, `last(f)`, `to_entries`, `from_entries`,
//! `ascii_downcase`, `ascii_upcase`, `split(s)`, `join(s)`.
//!
//! Precedence, loosest first: `|`, `,`, `//`, `or`, `and`, comparisons (which do not
//! chain), `+ -`, `* / %`, unary `-`, postfix. Object values may be any expression
//! without a top-level `,` (jq allows only terms there).
//!
//! Not supported, and refused at parse time: variables and `as`, `def`, `reduce`,
//! `foreach`, `try`/`catch`, `..`, slices `.[1:2]`, string interpolation, `@formats`,
//! assignment operators, and any function not listed (including the regex functions
//! `test`, `match` and `capture`). Objects keep their keys sorted, so results are written
//! as `jq -S` writes them.
mod filter;
mod transform;

use std::fs::{self, File};
use std::io::BufWriter;
use std::path::Path;

use baton_sdk::input::{self, Format};
use baton_sdk::json::Object;
use baton_sdk::types::{
    Capabilities, Description, Failure, PluginKind, StageContext, StageInput, StageOutcome,
};
use baton_sdk::{fatal, progress, skip};

use filter::Filter;
use transform::Sink;

struct JsonlTransform;

/// How the filter meets the input values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Lines,
    Slurp,
}

impl baton_sdk::Metadata for JsonlTransform {
    fn describe() -> Description {
        Description {
            name: "jsonl-transform".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            kind: PluginKind::Stage,
            summary: "Runs a jq-like filter over JSON and JSON Lines, writing JSON Lines".into(),
            capabilities: Capabilities::default(),
        }
    }
}

impl baton_sdk::Stage for JsonlTransform {
    fn run(context: StageContext) -> Result<StageOutcome, Failure> {
        let params = Object::parse("params", &context.params)?;
        let filter = Filter::parse(params.required_str("filter")?)
            .map_err(|error| fatal(format!("params.filter: parse error at {error}")))?;
        let mode = mode(&params)?;
        let first = context
            .inputs
            .first()
            .ok_or_else(|| skip("no inputs to transform"))?;
        let output = output_name(&params, first)?;
        let target_path = Path::new(&context.output_dir).join(&output);
        if let Some(parent) = target_path.parent() {
            fs::create_dir_all(parent)
                .map_err(|error| fatal(format!("cannot create {}: {error}", parent.display())))?;
        }
        let target = File::create(&target_path)
            .map_err(|error| fatal(format!("cannot create {}: {error}", target_path.display())))?;
        let mut sink = Sink::new(BufWriter::new(target), &output);
        let total = u64::try_from(context.inputs.len()).unwrap_or(u64::MAX);
        let mut values_in = 0;
        let mut slurped = Vec::new();
        for (done, input) in (1..).zip(&context.inputs) {
            let values = input::open_input(input, Format::of(&input.name))?;
            values_in += match mode {
                Mode::Lines => transform::each_value(&input.name, values, &filter, &mut sink),
                Mode::Slurp => transform::collect(&input.name, values).map(|values| {
                    let count = values.len() as u64;
                    slurped.extend(values);
                    count
                }),
            }
            .map_err(fatal)?;
            progress::report(done, Some(total), &input.name);
        }
        if mode == Mode::Slurp {
            let names: Vec<String> = context.inputs.iter().map(|i| i.name.clone()).collect();
            transform::slurp(&names, slurped, &filter, &mut sink).map_err(fatal)?;
        }
        let values_out = sink.written;
        sink.finish().map_err(fatal)?;
        baton_sdk::info!(
            "transformed",
            "inputs" => total,
            "values_in" => values_in,
            "values_out" => values_out,
            "output" => output
        );
        let inputs = if total == 1 { "input" } else { "inputs" };
        let summary = format!("{total} {inputs}, {values_in} values in, {values_out} out");
        Ok(StageOutcome {
            summary,
            outputs: vec![output],
        })
    }
}

fn mode(params: &Object) -> Result<Mode, Failure> {
    match params.str("mode")? {
        None | Some("lines") => Ok(Mode::Lines),
        Some("slurp") => Ok(Mode::Slurp),
        Some(other) => Err(fatal(format!(
            "params.mode must be \"lines\" or \"slurp\", found {other:?}"
        ))),
    }
}

/// `params.output` (a relative path with no `..`), or `<first input's stem>.jsonl`.
fn output_name(params: &Object, first: &StageInput) -> Result<String, Failure> {
    if let Some(output) = baton_sdk::params::output(params, "output")? {
        return Ok(output);
    }
    let stem = Path::new(&first.path)
        .file_stem()
        .and_then(|stem| stem.to_str())
        .ok_or_else(|| {
            fatal(format!(
                "input `{}` ({}): the path has no file name to name the output after; set params.output",
                first.name, first.path
            ))
        })?;
    Ok(format!("{stem}.jsonl"))
}

baton_sdk::export_stage!(JsonlTransform);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        let params = |text| Object::parse("params", text).unwrap();
        assert_eq!(mode(&params("{}")).unwrap(), Mode::Lines);
        assert_eq!(mode(&params(r#"{"mode": "slurp"}"#)).unwrap(), Mode::Slurp);
        assert_eq!(
            mode(&params(r#"{"mode": "all"}"#)).unwrap_err(),
            fatal("params.mode must be \"lines\" or \"slurp\", found \"all\"")
        );
    }
}
