//! Runs the filter over input values in either mode and writes every result as one line of
//! JSON Lines. Errors are complete messages naming the input and, for JSON Lines, the line.
use std::io::{BufRead, Write};

use serde_json::Value;

use crate::filter::Filter;
use baton_sdk::input::{Item, Values};

/// Where the results go: one compact JSON value per line.
pub struct Sink<W> {
    writer: W,
    /// The output's name, for errors.
    name: String,
    pub written: u64,
}

impl<W: Write> Sink<W> {
    pub fn new(writer: W, name: &str) -> Self {
        Self {
            writer,
            name: name.to_string(),
            written: 0,
        }
    }

    fn write(&mut self, value: &Value) -> Result<(), String> {
        serde_json::to_writer(&mut self.writer, value)
            .map_err(std::io::Error::from)
            .and_then(|()| self.writer.write_all(b"\n"))
            .map_err(|error| self.failed(error))?;
        self.written += 1;
        Ok(())
    }

    /// Flushes and hands back the writer.
    pub fn finish(mut self) -> Result<W, String> {
        self.writer.flush().map_err(|error| self.failed(error))?;
        Ok(self.writer)
    }

    fn failed(&self, error: std::io::Error) -> String {
        format!("cannot write {}: {error}", self.name)
    }
}

/// Lines mode for one input: the filter runs on each value. Returns how many values were
/// read.
pub fn each_value<R: BufRead, W: Write>(
    name: &str,
    values: Values<R>,
    filter: &Filter,
    sink: &mut Sink<W>,
) -> Result<u64, String> {
    let mut read = 0;
    for item in values {
        let Item { line, value } = item.map_err(|error| format!("input `{name}`: {error}"))?;
        read += 1;
        let results = filter.run(&value).map_err(|error| match line {
            Some(line) => format!("input `{name}`: line {line}: {error}"),
            None => format!("input `{name}`: {error}"),
        })?;
        for result in &results {
            sink.write(result)?;
        }
    }
    Ok(read)
}

/// Every value of one input, for slurp mode.
pub fn collect<R: BufRead>(name: &str, values: Values<R>) -> Result<Vec<Value>, String> {
    values
        .map(|item| {
            item.map(|item| item.value)
                .map_err(|error| format!("input `{name}`: {error}"))
        })
        .collect()
}

/// Slurp mode: the filter runs once on the array of all values; `names` are the inputs
/// they came from, for errors.
pub fn slurp<W: Write>(
    names: &[String],
    all: Vec<Value>,
    filter: &Filter,
    sink: &mut Sink<W>,
) -> Result<(), String> {
    let results = filter.run(&Value::Array(all)).map_err(|error| {
        let names: Vec<String> = names.iter().map(|name| format!("`{name}`")).collect();
        format!("slurped inputs {}: {error}", names.join(", "))
    })?;
    for result in &results {
        sink.write(result)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_sdk::input::Format;

    fn filter(text: &str) -> Filter {
        Filter::parse(text).unwrap()
    }

    fn text(sink: Sink<Vec<u8>>) -> String {
        String::from_utf8(sink.finish().unwrap()).unwrap()
    }

    #[test]
    fn lines_mode_writes_every_result() {
        let mut sink = Sink::new(Vec::new(), "out.jsonl");
        let input = "{\"a\": [1, 2]}\n\n{\"a\": []}\n{\"a\": [3]}\n";
        let read = each_value(
            "in.jsonl",
            Values::new(input.as_bytes(), Format::Lines),
            &filter(".a[] | {v: .}"),
            &mut sink,
        )
        .unwrap();
        assert_eq!(read, 3);
        assert_eq!(sink.written, 3);
        assert_eq!(text(sink), "{\"v\":1}\n{\"v\":2}\n{\"v\":3}\n");
    }

    #[test]
    fn errors_name_the_input_and_line() {
        let mut sink = Sink::new(Vec::new(), "out.jsonl");
        let input = "{\"a\": {}}\n\n{\"a\": 3}\n";
        let error = each_value(
            "data/in.jsonl",
            Values::new(input.as_bytes(), Format::Lines),
            &filter(".a.b"),
            &mut sink,
        )
        .unwrap_err();
        assert_eq!(
            error,
            "input `data/in.jsonl`: line 3: Cannot index number with \"b\""
        );
        let error = each_value(
            "doc.json",
            Values::new("[1]".as_bytes(), Format::Document),
            &filter(".a"),
            &mut sink,
        )
        .unwrap_err();
        assert_eq!(error, "input `doc.json`: Cannot index array with \"a\"");
        let error = each_value(
            "bad.jsonl",
            Values::new("1\n{\n".as_bytes(), Format::Lines),
            &filter("."),
            &mut sink,
        )
        .unwrap_err();
        assert_eq!(
            error,
            "input `bad.jsonl`: line 2, column 1: not valid JSON: EOF while parsing an object"
        );
    }

    #[test]
    fn slurp_sees_one_array() {
        let mut all = collect("a.jsonl", Values::new("1\n2\n".as_bytes(), Format::Lines)).unwrap();
        all.extend(
            collect(
                "b.json",
                Values::new("{\"x\": 3}".as_bytes(), Format::Document),
            )
            .unwrap(),
        );
        let mut sink = Sink::new(Vec::new(), "out.jsonl");
        let names = vec!["a.jsonl".to_string(), "b.json".to_string()];
        slurp(&names, all.clone(), &filter("length, .[2].x"), &mut sink).unwrap();
        assert_eq!(text(sink), "3\n3\n");
        let mut sink = Sink::new(Vec::new(), "out.jsonl");
        assert_eq!(
            slurp(&names, all, &filter(".[] + 1"), &mut sink).unwrap_err(),
            "slurped inputs `a.jsonl`, `b.json`: object ({\"x\":3}) and number (1) cannot be added"
        );
    }
}
