//! `jsonl-transform`: a stage that runs a jq filter over JSON and JSON Lines inputs and
//! writes every result as one line of `{output-dir}/{output}` (JSON Lines).
//!
//! Params:
//! - `filter` (required): the filter, in the jq language as [jaq] implements it, e.g.
//!   `.[] | select(.age >= 30) | {name, city: .address.city}`.
//! - `output`: the file to write, a relative path inside the output directory (default:
//!   `<file stem of the first input>.jsonl`).
//! - `mode`: `"lines"` (default) runs the filter once per input value: on each line of a
//!   JSON Lines input, or on the one document of a `.json` input. `"slurp"` runs it once,
//!   on one array of every value of every input, in input order.
//!
//! An input named `*.json` holds one JSON document; any other input is read as JSON Lines
//! (blank lines skipped). Values are read as jaq reads JSON: object keys keep their order
//! and numbers their digits (`1.50` stays `1.50`, big integers stay exact). A filter that
//! does not compile fails the stage naming the line and column in the filter, e.g.
//! ``params.filter: line 2, column 3: unknown function `foo/0` ``; a runtime error fails it
//! naming the input, the line and the error, e.g.
//! ``input `people.jsonl`: line 3: cannot index 1 with "city"`` (in slurp mode:
//! ``slurped inputs `a.jsonl`, `b.jsonl`: …``). Error messages are cut after 300
//! characters (jaq's quote whole values).
//!
//! # Filter language
//!
//! The jq language as jaq (the `jaq-core` 3, `jaq-std` 3 and `jaq-json` 2 crates)
//! implements it: paths, slices and `..`; `as $x` with destructuring; `def`; `reduce`,
//! `foreach`, `if`/`elif`, `try`/`catch`, `?`, `//`, `label`/`break`; string interpolation
//! and the formats `@text @json @csv @tsv @html @uri @sh @base64 @base64d`; the update
//! operators `|= = += -= *= /= %= //=`; regexes (`test`, `match`, `capture`, `scan`,
//! `split/2`, `splits`, `sub`, `gsub`); `path`, `paths`, `getpath`, `setpath`, `delpaths`,
//! `pick`; `to_entries`, `from_entries`, `with_entries`; `limit`, `first`, `nth`, `until`,
//! `range`, `group_by`, `unique_by`, `min_by`; `tojson`/`fromjson`; dates (`todate`,
//! `fromdate`, `strftime`, `mktime`, ...) and libm's math. jaq's manual documents the
//! language, <https://gedenkt.at/jaq/manual/>, and its "Compatibility" notes say where jaq
//! and jq part. Objects keep their keys in insertion order, in results too (`keys` sorts,
//! `keys_unsorted` does not).
//!
//! The plugin adds `@csv` and `@tsv` (jq's, which jaq keeps in its command-line crate),
//! `input_filename` (the input's name; `null` in slurp mode), `$ENV` (like `env`, the
//! sandbox's environment, empty since the plugin asks for no variables) and jq 1.8's
//! `from_entries`: the key from `key`, `Key`, `name` or `Name`, the value from `value` or
//! else `Value` (jaq's reads only `key` and `value`).
//!
//! Differences from jq that matter here:
//! - Integers and floats are distinct: `4 / 2` is `2.0` and `1.0 + 1` is `2.0` (jq writes
//!   `2`); integers are exact at any size, but an index or slice bound beyond ±2³¹ fails
//!   (the plugin is 32-bit WebAssembly).
//! - `del` moves an object's last key into the deleted key's place (jq keeps the order;
//!   `with_entries(select(.key != "a"))` keeps it here too).
//! - `limit(n; f)` with `n < 0` yields nothing (jq fails); `delpaths` (and so
//!   `del(.[0, 2])`) deletes its paths one after the other, each relative to the value
//!   left by the previous one (delete from the end first: `del(.[2, 0])`); `pick`
//!   takes paths into objects only; `ltrimstr` and `rtrimstr` fail on a value that is not
//!   a string (jq passes it through).
//! - jaq lets object keys be any value (`{(1): 2}`) and strings be byte strings
//!   (`tobytes`): a result holding one is not JSON, and the stage fails naming the input
//!   and line. NaN is written as `null` and the infinities as ±1.7976931348623157e+308,
//!   as jq writes them.
//! - Not available (a filter using one does not compile): `input`, `inputs`,
//!   `input_line_number`, `$__loc__`, `$__prog_args`, `import`/`include` (the stage
//!   reads nothing but its inputs), `@base32`, `@base32d`, `format/1`, `tostream`,
//!   `fromstream`, `truncate_stream`, `toarray`, `trimstr`, `ascii`, `builtins`,
//!   `have_decnum`, `have_literal_numbers`, `get_search_list`, `modulemeta` and the
//!   SQL-style `IN`, `INDEX`, `JOIN`.
//! - `debug` and `stderr` write to the plugin's log; `halt` stops the stage successfully
//!   with the results written so far; `halt_error` fails it with its message.
//! - Thousands of levels of nesting or recursion exhaust the sandbox's call stack: the
//!   stage fails (trapped), without naming the line.
//! - Error messages are jaq's (`cannot index 1 with "a"`), not jq's
//!   (`Cannot index number with "a"`); `error(v)` with a non-string `v` reads
//!   `{"a":1} (not a string)`.
//!
//! [jaq]: https://github.com/01mf02/jaq
mod jq;
mod read;
mod transform;

use std::fs::{self, File};
use std::io::BufWriter;
use std::path::Path;

use baton_sdk::json::Object;
use baton_sdk::types::{
    Capabilities, Description, Failure, PluginKind, StageContext, StageInput, StageOutcome,
};
use baton_sdk::{fatal, progress, skip};

use jq::{Flow, Program};
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
            summary: "Runs a jq filter (jaq) over JSON and JSON Lines, writing JSON Lines".into(),
            capabilities: Capabilities::default(),
        }
    }
}

impl baton_sdk::Stage for JsonlTransform {
    fn run(context: StageContext) -> Result<StageOutcome, Failure> {
        let params = Object::parse("params", &context.params)?;
        let program = Program::compile(params.required_str("filter")?)
            .map_err(|error| fatal(format!("params.filter: {error}")))?;
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
        let mut flow = Flow::Done;
        for (done, input) in (1..).zip(&context.inputs) {
            let values = read::open(input)?;
            match mode {
                Mode::Lines => {
                    let (read, ended) =
                        transform::each_value(&input.name, values, &program, &mut sink)
                            .map_err(fatal)?;
                    values_in += read;
                    flow = ended;
                }
                Mode::Slurp => {
                    let values = transform::collect(&input.name, values).map_err(fatal)?;
                    values_in += values.len() as u64;
                    slurped.extend(values);
                }
            }
            progress::report(done, Some(total), &input.name);
            if flow == Flow::Halted {
                break;
            }
        }
        if mode == Mode::Slurp {
            let names: Vec<String> = context.inputs.iter().map(|i| i.name.clone()).collect();
            flow = transform::slurp(&names, slurped, &program, &mut sink).map_err(fatal)?;
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
        let halted = if flow == Flow::Halted {
            " (the filter halted)"
        } else {
            ""
        };
        let summary = format!("{total} {inputs}, {values_in} values in, {values_out} out{halted}");
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
