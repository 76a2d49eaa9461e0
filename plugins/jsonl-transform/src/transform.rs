//! Runs the program over input values in either mode and writes every result as one line of
//! JSON Lines. Errors are complete messages naming the input and, for JSON Lines, the line.
use std::io::{self, BufRead, Write};

use jaq_json::{Num, Val};

use crate::jq::{Failed, Flow, Program};
use crate::read::{Item, Values};

/// Where the results go: one compact JSON value per line, object keys in their order.
pub struct Sink<W> {
    writer: W,
    /// The output's name, for errors.
    name: String,
    pub written: u64,
    line: Vec<u8>,
}

/// Why a result was not written.
#[derive(Debug)]
pub enum SinkError {
    /// The result has no JSON form (a byte string or a non-string object key).
    NotJson(String),
    /// Writing failed: the complete message.
    Io(String),
}

impl<W: Write> Sink<W> {
    pub fn new(writer: W, name: &str) -> Self {
        Self {
            writer,
            name: name.to_string(),
            written: 0,
            line: Vec::new(),
        }
    }

    fn write(&mut self, value: &Val) -> Result<(), SinkError> {
        self.line.clear();
        json(&mut self.line, value).map_err(SinkError::NotJson)?;
        self.line.push(b'\n');
        self.writer
            .write_all(&self.line)
            .map_err(|error| SinkError::Io(self.failed(error)))?;
        self.written += 1;
        Ok(())
    }

    /// Flushes and hands back the writer.
    pub fn finish(mut self) -> Result<W, String> {
        self.writer.flush().map_err(|error| self.failed(error))?;
        Ok(self.writer)
    }

    fn failed(&self, error: io::Error) -> String {
        format!("cannot write {}: {error}", self.name)
    }
}

/// Writes `value` as compact JSON. Numbers keep jaq's digits; NaN is written as `null` and
/// the infinities as ±1.7976931348623157e+308, as jq writes them; invalid UTF-8 in strings
/// becomes U+FFFD.
fn json(out: &mut Vec<u8>, value: &Val) -> Result<(), String> {
    match value {
        Val::Null => out.extend_from_slice(b"null"),
        Val::Bool(true) => out.extend_from_slice(b"true"),
        Val::Bool(false) => out.extend_from_slice(b"false"),
        Val::Num(number) => number_json(out, number),
        Val::TStr(text) => string_json(out, text),
        Val::BStr(_) => return Err(format!("the result holds a byte string ({value})")),
        Val::Arr(items) => {
            out.push(b'[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                json(out, item)?;
            }
            out.push(b']');
        }
        Val::Obj(fields) => {
            out.push(b'{');
            for (index, (key, item)) in fields.iter().enumerate() {
                let Val::TStr(key) = key else {
                    return Err(format!(
                        "the result has an object key that is not a string ({key})"
                    ));
                };
                if index > 0 {
                    out.push(b',');
                }
                string_json(out, key);
                out.push(b':');
                json(out, item)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

fn number_json(out: &mut Vec<u8>, number: &Num) {
    const MAX: &str = "1.7976931348623157e+308";
    let float = |out: &mut Vec<u8>, x: f64| {
        if x.is_nan() {
            out.extend_from_slice(b"null");
        } else if x.is_infinite() {
            if x < 0.0 {
                out.push(b'-');
            }
            out.extend_from_slice(MAX.as_bytes());
        } else {
            out.extend_from_slice(Num::Float(x).to_string().as_bytes());
        }
    };
    match number {
        Num::Float(x) => float(out, *x),
        // A decimal keeps the digits it was read with, when they are a JSON number.
        Num::Dec(digits) if digits.parse::<serde_json::Number>().is_ok() => {
            out.extend_from_slice(digits.as_bytes());
        }
        Num::Dec(digits) => float(out, digits.parse().unwrap_or(f64::NAN)),
        Num::Int(_) | Num::BigInt(_) => out.extend_from_slice(number.to_string().as_bytes()),
    }
}

fn string_json(out: &mut Vec<u8>, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    out.push(b'"');
    for c in text.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            c if c < ' ' || c == '\u{7f}' => {
                out.extend_from_slice(format!("\\u{:04x}", u32::from(c)).as_bytes());
            }
            c => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
    out.push(b'"');
}

/// Runs the program on one value; errors are prefixed with `at` (the input, and the line).
fn run_one<W: Write>(
    at: &str,
    program: &Program,
    value: Val,
    input_filename: &Val,
    sink: &mut Sink<W>,
) -> Result<Flow, String> {
    program
        .run(value, input_filename, |result| sink.write(&result))
        .map_err(|failed| match failed {
            Failed::Program(message) | Failed::Sink(SinkError::NotJson(message)) => {
                format!("{at}: {message}")
            }
            Failed::Sink(SinkError::Io(message)) => message,
        })
}

/// Lines mode for one input: the program runs on each value. Returns how many values were
/// read, and whether the program halted (then the stage stops).
pub fn each_value<R: BufRead, W: Write>(
    name: &str,
    values: Values<R>,
    program: &Program,
    sink: &mut Sink<W>,
) -> Result<(u64, Flow), String> {
    let mut read = 0;
    let input_filename = Val::from(name.to_string());
    for item in values {
        let Item { line, value } = item.map_err(|error| format!("input `{name}`: {error}"))?;
        read += 1;
        let at = match line {
            Some(line) => format!("input `{name}`: line {line}"),
            None => format!("input `{name}`"),
        };
        if run_one(&at, program, value, &input_filename, sink)? == Flow::Halted {
            return Ok((read, Flow::Halted));
        }
    }
    Ok((read, Flow::Done))
}

/// Every value of one input, for slurp mode.
pub fn collect<R: BufRead>(name: &str, values: Values<R>) -> Result<Vec<Val>, String> {
    values
        .map(|item| {
            item.map(|item| item.value)
                .map_err(|error| format!("input `{name}`: {error}"))
        })
        .collect()
}

/// Slurp mode: the program runs once on the array of all values; `names` are the inputs
/// they came from, for errors.
pub fn slurp<W: Write>(
    names: &[String],
    all: Vec<Val>,
    program: &Program,
    sink: &mut Sink<W>,
) -> Result<Flow, String> {
    let names: Vec<String> = names.iter().map(|name| format!("`{name}`")).collect();
    let at = format!("slurped inputs {}", names.join(", "));
    run_one(&at, program, Val::from_iter(all), &Val::Null, sink)
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_sdk::input::Format;

    fn program(text: &str) -> Program {
        Program::compile(text).unwrap()
    }

    fn text(sink: Sink<Vec<u8>>) -> String {
        String::from_utf8(sink.finish().unwrap()).unwrap()
    }

    fn lines(input: &str) -> Values<&[u8]> {
        Values::new(input.as_bytes(), Format::Lines)
    }

    #[test]
    fn lines_mode_writes_every_result_in_key_order() {
        let mut sink = Sink::new(Vec::new(), "out.jsonl");
        let input = "{\"z\": [1, 2], \"a\": 0}\n\n{\"z\": [], \"a\": 1}\n{\"z\": [3], \"a\": 2}\n";
        let read = each_value(
            "in.jsonl",
            lines(input),
            &program(".z[] as $v | {v: $v, a, input: input_filename}"),
            &mut sink,
        )
        .unwrap();
        assert_eq!(read, (3, Flow::Done));
        assert_eq!(sink.written, 3);
        assert_eq!(
            text(sink),
            "{\"v\":1,\"a\":0,\"input\":\"in.jsonl\"}\n\
             {\"v\":2,\"a\":0,\"input\":\"in.jsonl\"}\n\
             {\"v\":3,\"a\":2,\"input\":\"in.jsonl\"}\n"
        );
    }

    #[test]
    fn values_are_written_as_json() {
        let mut sink = Sink::new(Vec::new(), "out.jsonl");
        let input = "[1.50, 100000000000000000000001, \"é\\n\\u0001\"]\n";
        let filter = ".[], (.[0] * 2), nan, infinite, -infinite, (1 / 3), {\"k\\\"\": null}";
        each_value("in.jsonl", lines(input), &program(filter), &mut sink).unwrap();
        assert_eq!(
            text(sink),
            "1.50\n100000000000000000000001\n\"é\\n\\u0001\"\n3.0\nnull\n\
             1.7976931348623157e+308\n-1.7976931348623157e+308\n0.3333333333333333\n\
             {\"k\\\"\":null}\n"
        );
        for (filter, error) in [
            ("{(1): 2}", "has an object key that is not a string (1)"),
            ("tobytes", "holds a byte string (b\"ab\")"),
        ] {
            let mut sink = Sink::new(Vec::new(), "out.jsonl");
            let failed = each_value("in.jsonl", lines("\"ab\""), &program(filter), &mut sink);
            assert_eq!(
                failed.unwrap_err(),
                format!("input `in.jsonl`: line 1: the result {error}")
            );
        }
    }

    #[test]
    fn errors_name_the_input_and_line() {
        let mut sink = Sink::new(Vec::new(), "out.jsonl");
        let input = "{\"a\": {}}\n\n{\"a\": 3}\n";
        let error =
            each_value("data/in.jsonl", lines(input), &program(".a.b"), &mut sink).unwrap_err();
        assert_eq!(
            error,
            "input `data/in.jsonl`: line 3: cannot index 3 with \"b\""
        );
        let document = Values::new("[1]".as_bytes(), Format::Document);
        let error = each_value("doc.json", document, &program(".a"), &mut sink).unwrap_err();
        assert_eq!(error, "input `doc.json`: cannot index [1] with \"a\"");
        let error = each_value("bad.jsonl", lines("1\n{\n"), &program("."), &mut sink).unwrap_err();
        assert_eq!(
            error,
            "input `bad.jsonl`: line 2, column 2: not valid JSON: value or end of sequence expected"
        );
    }

    #[test]
    fn halt_stops_the_stage() {
        let mut sink = Sink::new(Vec::new(), "out.jsonl");
        let filter = "if . == 2 then halt else . end";
        let read = each_value("in.jsonl", lines("1\n2\n3\n"), &program(filter), &mut sink);
        assert_eq!(read.unwrap(), (2, Flow::Halted));
        assert_eq!(text(sink), "1\n");
    }

    #[test]
    fn slurp_sees_one_array() {
        let mut all = collect("a.jsonl", lines("1\n2\n")).unwrap();
        all.extend(
            collect(
                "b.json",
                Values::new("{\"x\": 3}".as_bytes(), Format::Document),
            )
            .unwrap(),
        );
        let mut sink = Sink::new(Vec::new(), "out.jsonl");
        let names = vec!["a.jsonl".to_string(), "b.json".to_string()];
        let flow = slurp(&names, all.clone(), &program("length, .[2].x"), &mut sink);
        assert_eq!(flow.unwrap(), Flow::Done);
        assert_eq!(text(sink), "3\n3\n");
        let mut sink = Sink::new(Vec::new(), "out.jsonl");
        assert_eq!(
            slurp(&names, all, &program(".[] + 1"), &mut sink).unwrap_err(),
            "slurped inputs `a.jsonl`, `b.json`: cannot calculate {\"x\":3} + 1"
        );
    }
}
