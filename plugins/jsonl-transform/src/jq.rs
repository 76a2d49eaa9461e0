//! The jq language, as jaq implements it (`jaq-core`, `jaq-std`, `jaq-json`): a program is
//! compiled once, then run on each value. Compile errors carry the line and column in the
//! program text; runtime errors are jaq's messages, e.g. `cannot index 1 with "a"`.
//!
//! Besides jaq's own definitions and native filters, a program here has `@csv` and `@tsv`
//! (in the CLI crate `jaq-fmts`, which is not used), `input_filename` (the input's name, or
//! `null` in slurp mode) and `$ENV` (the sandbox's environment, as `env`). `debug` and
//! `stderr` go to the plugin's log; `halt` and `halt_error` stop the stage.
use std::fmt;
use std::sync::Mutex;

use jaq_core::box_iter::box_once;
use jaq_core::load::{self, Arena, File, Loader};
use jaq_core::native::{bome, run, v, Fun};
use jaq_core::{compile, data, Ctx, DataT, Error as JaqError, Lut, Vars};
use jaq_json::Val;

/// The kind of data programs run on: jaq's JSON values, and [`Data`] for native filters.
pub struct Kind;

impl DataT for Kind {
    type V<'a> = Val;
    type Data<'a> = &'a Data<'a>;
}

/// What native filters can see while a program runs.
pub struct Data<'a> {
    lut: &'a Lut<Kind>,
    input_filename: &'a Val,
}

impl<'a> data::HasLut<'a, Kind> for &'a Data<'a> {
    fn lut(&self) -> &'a Lut<Kind> {
        self.lut
    }
}

/// A compiled program.
pub struct Program {
    filter: jaq_core::Filter<Kind>,
    env: Val,
}

/// Why a program does not compile, placed at a line and column (both 1-based, columns in
/// characters) when the error points into the program text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError {
    pub at: Option<(usize, usize)>,
    pub message: String,
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.at {
            Some((1, column)) => write!(f, "column {column}: {}", self.message),
            Some((line, column)) => write!(f, "line {line}, column {column}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// How a run ended when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Every output was produced.
    Done,
    /// The program ran `halt` (exit code 0): the stage stops here, successfully.
    Halted,
}

/// Why a run failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failed<E> {
    /// The program raised an error (or halted with a non-zero exit code): the message.
    Program(String),
    /// The caller's sink refused an output.
    Sink(E),
}

/// Longest runtime error message kept (jaq prints whole values in errors, which may be the
/// whole input); longer ones are cut and end in `…`.
const MAX_MESSAGE: usize = 300;

/// Why `import` and `include` fail: a stage reads nothing but its inputs.
const NO_FILES: &str = "modules and data files cannot be loaded in a stage";

impl Program {
    pub fn compile(code: &str) -> Result<Self, CompileError> {
        let defs = jaq_core::defs()
            .chain(jaq_std::defs())
            .chain(jaq_json::defs())
            .chain(own_defs());
        let arena = Arena::default();
        let modules = Loader::new(defs)
            .with_read(
                |_: load::Import<&str, ()>| -> Result<File<String, ()>, String> {
                    Err(NO_FILES.into())
                },
            )
            .load(&arena, File { code, path: () })
            .map_err(|errors| load_error(code, errors))?;
        load::import(&modules, |_| Err(NO_FILES.into()))
            .map_err(|errors| load_error(code, errors))?;
        let filter = compile::Compiler::default()
            .with_funs(funs())
            .with_global_vars(["$ENV"])
            .compile(modules)
            .map_err(|errors| compile_error(code, errors))?;
        let env = Val::obj(
            std::env::vars()
                .map(|(key, value)| (Val::from(key), Val::from(value)))
                .collect(),
        );
        Ok(Self { filter, env })
    }

    /// Runs the program on `input`, handing every output to `sink` in order.
    /// `input_filename` is what `input_filename` yields.
    pub fn run<E>(
        &self,
        input: Val,
        input_filename: &Val,
        mut sink: impl FnMut(Val) -> Result<(), E>,
    ) -> Result<Flow, Failed<E>> {
        install_logger();
        let data = Data {
            lut: &self.filter.lut,
            input_filename,
        };
        let context = Ctx::<Kind>::new(&data, Vars::new([self.env.clone()]));
        for output in self.filter.id.run((context, input)) {
            let exception = match output {
                Ok(value) => {
                    sink(value).map_err(Failed::Sink)?;
                    continue;
                }
                Err(exception) => exception,
            };
            return match exception.get_err() {
                Ok(error) => Err(Failed::Program(message(error))),
                Err(other) => match other.get_halt() {
                    Ok(0) => Ok(Flow::Halted),
                    Ok(code) => Err(Failed::Program(halted(code))),
                    Err(_) => Err(Failed::Program(
                        "the program stopped with an unexpected exception".into(),
                    )),
                },
            };
        }
        Ok(Flow::Done)
    }
}

/// jq's text for an error: a string payload as it is, any other value as JSON followed by
/// `(not a string)`.
fn message(error: JaqError<Val>) -> String {
    let text = match error.into_val() {
        Val::TStr(text) => String::from_utf8_lossy(&text).into_owned(),
        other => format!("{other} (not a string)"),
    };
    shorten(text)
}

/// The message of a `halt_error` (or `halt(N)`), with what it wrote to `stderr` last.
fn halted(code: i32) -> String {
    let text = match last_stderr() {
        Some(text) => format!("halted with exit code {code}: {}", text.trim_end()),
        None => format!("halted with exit code {code}"),
    };
    shorten(text)
}

fn shorten(mut text: String) -> String {
    if let Some((cut, _)) = text.char_indices().nth(MAX_MESSAGE) {
        text.truncate(cut);
        text.push('…');
    }
    text
}

/// This plugin's definitions, after jaq's: `from_entries` as jq 1.8 has it (the key from
/// `key`, `Key`, `name` or `Name`; the value from `value`, or else `Value`), where jaq's
/// reads only `key` and `value`; and `with_entries`, to use it.
const OWN_DEFS: &str = r#"
def from_entries: map({(.key // .Key // .name // .Name): (if has("value") then .value else .Value end)}) | add // {};
def with_entries(f): to_entries | map(f) | from_entries;
"#;

fn own_defs() -> impl Iterator<Item = load::parse::Def<&'static str>> {
    load::parse(OWN_DEFS, |parser| parser.defs())
        .into_iter()
        .flatten()
}

/// jaq's native filters, plus this plugin's.
fn funs() -> impl Iterator<Item = Fun<Kind>> {
    let own: [Fun<Kind>; 3] = [
        run(("@csv", v(0), |cv| bome(row(&cv.1, Table::Csv)))),
        run(("@tsv", v(0), |cv| bome(row(&cv.1, Table::Tsv)))),
        run(("input_filename", v(0), |cv| {
            box_once(Ok(cv.0.data().input_filename.clone()))
        })),
    ];
    jaq_core::funs()
        .chain(jaq_std::funs())
        .chain(jaq_json::funs())
        .chain(own)
}

#[derive(Clone, Copy)]
enum Table {
    Csv,
    Tsv,
}

/// `@csv` and `@tsv` as jq defines them: an array of scalars to one row; strings quoted with
/// `""` for `"` (CSV) or with `\t`, `\n`, `\r`, `\\` escaped (TSV); `null` is empty.
fn row(input: &Val, table: Table) -> Result<Val, JaqError<Val>> {
    let (name, separator) = match table {
        Table::Csv => ("CSV", ","),
        Table::Tsv => ("TSV", "\t"),
    };
    let Val::Arr(fields) = input else {
        return Err(JaqError::str(format_args!(
            "cannot format {input} as a {name} row: not an array"
        )));
    };
    let mut row = Vec::with_capacity(fields.len());
    for field in fields.iter() {
        row.push(match (field, table) {
            (Val::Null, _) => String::new(),
            (Val::Bool(_) | Val::Num(_), _) => field.to_string(),
            (Val::TStr(text), Table::Csv) => {
                format!("\"{}\"", String::from_utf8_lossy(text).replace('"', "\"\""))
            }
            (Val::TStr(text), Table::Tsv) => String::from_utf8_lossy(text)
                .replace('\\', "\\\\")
                .replace('\t', "\\t")
                .replace('\n', "\\n")
                .replace('\r', "\\r"),
            _ => {
                return Err(JaqError::str(format_args!(
                    "cannot format {field} as a {name} field: not null, a boolean, a number or a string"
                )));
            }
        });
    }
    Ok(Val::from(row.join(separator)))
}

/// The byte range of `part` in `code`, when `part` is a slice of it (errors point into the
/// program text, or into jaq's own definitions).
fn offset(code: &str, part: &str) -> Option<usize> {
    let start = (part.as_ptr() as usize).checked_sub(code.as_ptr() as usize)?;
    (start <= code.len()).then_some(start)
}

/// The 1-based line and column (in characters) of byte `at` of `code`.
fn line_column(code: &str, at: usize) -> (usize, usize) {
    let before = code.get(..at).unwrap_or(code);
    let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
    let line = 1 + before.matches('\n').count();
    (line, 1 + before[line_start..].chars().count())
}

fn placed(code: &str, part: &str, message: String) -> CompileError {
    CompileError {
        at: offset(code, part).map(|at| line_column(code, at)),
        message,
    }
}

/// What `found` is, for "expected X, found Y" (a token's first line, shortened).
fn found(part: &str) -> String {
    if part.is_empty() {
        return "the end of the filter".into();
    }
    let line = part.lines().next().unwrap_or_default();
    match line.char_indices().nth(20) {
        Some((cut, _)) => format!("`{}…`", &line[..cut]),
        None => format!("`{line}`"),
    }
}

/// The first lexing, parsing or import error.
fn load_error(code: &str, errors: load::Errors<&str, ()>) -> CompileError {
    let first = errors.into_iter().find_map(|(_, error)| match error {
        load::Error::Io(errors) => errors
            .into_iter()
            .next()
            .map(|(path, why)| placed(code, path, format!("cannot import {path:?}: {why}"))),
        load::Error::Lex(errors) => {
            errors
                .into_iter()
                .next()
                .map(|(expected, part)| match expected {
                    load::lex::Expect::Delim(open) => {
                        placed(code, open, format!("unclosed `{open}`"))
                    }
                    other => placed(
                        code,
                        part,
                        format!("expected {}, found {}", other.as_str(), found(part)),
                    ),
                })
        }
        load::Error::Parse(errors) => errors.into_iter().next().map(|(expected, part)| {
            placed(
                code,
                part,
                format!("expected {}, found {}", expected.as_str(), found(part)),
            )
        }),
    });
    first.unwrap_or_else(|| CompileError {
        at: None,
        message: "the filter does not parse".into(),
    })
}

/// The first undefined name (or wrong arity of `reduce`/`foreach`).
fn compile_error(code: &str, errors: compile::Errors<&str, ()>) -> CompileError {
    let first = errors.into_iter().find_map(|(_, errors)| {
        errors.into_iter().next().map(|(name, undefined)| {
            let message = match undefined {
                compile::Undefined::Filter(arity) if name == "reduce" || name == "foreach" => {
                    format!("`{name}` takes a generator and an update, found {arity} arguments")
                }
                compile::Undefined::Filter(arity) => {
                    format!("unknown function `{name}/{arity}`")
                }
                compile::Undefined::Var => format!("undefined variable `{name}`"),
                compile::Undefined::Label => format!("undefined label `{name}`"),
                compile::Undefined::Mod => format!("undefined module `{name}`"),
                other => format!("undefined {} `{name}`", other.as_str()),
            };
            placed(code, name, message)
        })
    });
    first.unwrap_or_else(|| CompileError {
        at: None,
        message: "the filter does not compile".into(),
    })
}

/// Routes jaq's `debug` and `stderr` (the `log` crate) to the plugin's log, and keeps the
/// last `stderr` text for `halt_error`.
struct Logger;

static LOGGER: Logger = Logger;
static LAST_STDERR: Mutex<Option<String>> = Mutex::new(None);

fn install_logger() {
    // Fails only when it is already installed, by an earlier run in this instance.
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Debug);
    }
}

fn last_stderr() -> Option<String> {
    LAST_STDERR.lock().ok().and_then(|mut last| last.take())
}

impl log::Log for Logger {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }

    fn log(&self, record: &log::Record) {
        let text = record.args().to_string();
        let stderr = record.level() == log::Level::Error;
        // The host's log import exists only in the component (not in native unit tests).
        if cfg!(target_family = "wasm") {
            match stderr {
                true => baton_sdk::info!("stderr", "text" => text),
                false => baton_sdk::info!("debug", "value" => text),
            }
        }
        if stderr {
            if let Ok(mut last) = LAST_STDERR.lock() {
                *last = Some(text);
            }
        }
    }

    fn flush(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outputs(code: &str, input: &str) -> Result<Vec<String>, String> {
        let program = Program::compile(code).map_err(|error| error.to_string())?;
        let input = jaq_json::read::parse_single(input.as_bytes()).map_err(|e| e.to_string())?;
        let mut all = Vec::new();
        program
            .run(input, &Val::from("in.jsonl".to_string()), |value| {
                all.push(value.to_string());
                Ok::<(), ()>(())
            })
            .map_err(|failed| match failed {
                Failed::Program(message) => message,
                Failed::Sink(()) => "sink".into(),
            })?;
        Ok(all)
    }

    #[test]
    fn runs_jq_programs() {
        assert_eq!(
            outputs("reduce .[] as $x (0; . + $x)", "[1, 2, 3]").unwrap(),
            ["6"]
        );
        assert_eq!(
            outputs(r#"{b, a} | "\(.a)-\(.b)""#, r#"{"a": 1, "b": 2}"#).unwrap(),
            ["\"1-2\""]
        );
        assert_eq!(
            outputs("input_filename, ($ENV | type)", "null").unwrap(),
            ["\"in.jsonl\"", "\"object\""]
        );
    }

    #[test]
    fn from_entries_reads_jq_names() {
        let entries = r#"[{"key": "a", "value": 1}, {"Key": "b", "Value": 2},
            {"name": "c", "value": null, "Value": 3}, {"Name": "d"}]"#;
        assert_eq!(
            outputs("from_entries", entries).unwrap(),
            [r#"{"a":1,"b":2,"c":null,"d":null}"#]
        );
        assert_eq!(
            outputs("with_entries(.value += 1)", r#"{"x": 1}"#).unwrap(),
            [r#"{"x":2}"#]
        );
        assert_eq!(outputs("from_entries", "[]").unwrap(), ["{}"]);
    }

    #[test]
    fn csv_and_tsv_rows() {
        assert_eq!(
            outputs("@csv, @tsv", r#"[1, "a \"q\"", null, true, "t\tb\\"]"#).unwrap(),
            [
                r#""1,\"a \"\"q\"\"\",,true,\"t\tb\\\"""#,
                r#""1\ta \"q\"\t\ttrue\tt\\tb\\\\""#
            ]
        );
        assert_eq!(
            outputs("@csv", r#"[[1]]"#).unwrap_err(),
            "cannot format [1] as a CSV field: not null, a boolean, a number or a string"
        );
        assert_eq!(
            outputs("@tsv", "{}").unwrap_err(),
            "cannot format {} as a TSV row: not an array"
        );
    }

    #[test]
    fn errors_are_jq_texts() {
        assert_eq!(outputs(".a", "1").unwrap_err(), "cannot index 1 with \"a\"");
        assert_eq!(outputs("error(\"boom\")", "1").unwrap_err(), "boom");
        assert_eq!(
            outputs("error({a: 1})", "1").unwrap_err(),
            "{\"a\":1} (not a string)"
        );
        let long = outputs(".[0].x", &format!("[\"{}\"]", "y".repeat(1000))).unwrap_err();
        assert_eq!(long.chars().count(), MAX_MESSAGE + 1);
        assert!(long.ends_with('…'), "{long}");
        assert_eq!(
            outputs("\"done\" | halt_error(3)", "1").unwrap_err(),
            "halted with exit code 3: done"
        );
    }

    #[test]
    fn halt_stops_without_failing() {
        let program = Program::compile("1, halt, 2").unwrap();
        let mut seen = Vec::new();
        let flow = program.run(Val::Null, &Val::Null, |value| {
            seen.push(value);
            Ok::<(), ()>(())
        });
        assert_eq!(flow, Ok(Flow::Halted));
        assert_eq!(seen, [Val::from(1isize)]);
    }

    #[test]
    fn compile_errors_name_line_and_column() {
        let error = |code: &str| Program::compile(code).err().unwrap().to_string();
        assert_eq!(
            error(".a |\n  foo"),
            "line 2, column 3: unknown function `foo/0`"
        );
        assert_eq!(error(".a | $x"), "column 6: undefined variable `$x`");
        assert_eq!(
            error(".a |"),
            "column 5: expected term, found the end of the filter"
        );
        assert_eq!(error("[1, (2"), "column 5: unclosed `(`");
        assert_eq!(
            error("if . then 1 end end"),
            "column 17: expected nothing, found `end`"
        );
        assert_eq!(
            error("reduce .[] as $x (0)"),
            "column 1: `reduce` takes a generator and an update, found 1 arguments"
        );
        assert_eq!(
            error("import \"m\" as m; m::f"),
            "column 9: cannot import \"m\": modules and data files cannot be loaded in a stage"
        );
    }
}
