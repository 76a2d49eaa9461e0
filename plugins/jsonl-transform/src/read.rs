//! Reading a stage input as jaq values, which keep the order of object keys and the digits
//! of numbers. A file named `*.json` holds one JSON document; any other file is read as
//! JSON Lines: one value per line, blank lines skipped. A leading UTF-8 byte-order mark is
//! ignored. Values are parsed as jaq parses JSON (which also takes `NaN`, `Infinity` and
//! `#` comments); every value comes with its line (JSON Lines only).
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader};

use baton_sdk::fatal;
use baton_sdk::input::Format;
use baton_sdk::types::{Failure, StageInput};
use jaq_json::Val;

/// One value, with its line for JSON Lines (`None` for a whole document).
#[derive(Debug, Clone)]
pub struct Item {
    pub line: Option<u64>,
    pub value: Val,
}

/// Why a value could not be read.
#[derive(Debug)]
pub enum Error {
    Io(io::Error),
    /// Not JSON, at a 1-based line and column (in characters) of the file.
    Json {
        line: u64,
        column: usize,
        message: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(error) => write!(f, "read failed: {error}"),
            Error::Json {
                line,
                column,
                message,
            } => write!(f, "line {line}, column {column}: not valid JSON: {message}"),
        }
    }
}

/// The values of one file, in order; the iteration ends after the first error.
pub struct Values<R> {
    reader: R,
    format: Format,
    /// Physical lines consumed so far (JSON Lines).
    line: u64,
    buffer: Vec<u8>,
    done: bool,
}

/// Opens a stage input, failing the stage with ``input `NAME` (PATH): cannot open: ...``.
pub fn open(input: &StageInput) -> Result<Values<BufReader<File>>, Failure> {
    let cannot = |error: io::Error| {
        fatal(format!(
            "input `{}` ({}): cannot open: {error}",
            input.name, input.path
        ))
    };
    let file = File::open(&input.path).map_err(cannot)?;
    if file.metadata().map_err(cannot)?.is_dir() {
        return Err(cannot(io::Error::other("it is a directory, not a file")));
    }
    Ok(Values::new(BufReader::new(file), Format::of(&input.name)))
}

impl<R: BufRead> Values<R> {
    pub fn new(reader: R, format: Format) -> Self {
        Self {
            reader,
            format,
            line: 0,
            buffer: Vec::new(),
            done: false,
        }
    }

    fn document(&mut self) -> Result<Item, Error> {
        self.buffer.clear();
        self.reader
            .read_to_end(&mut self.buffer)
            .map_err(Error::Io)?;
        let text = without_bom(&self.buffer);
        jaq_json::read::parse_single(text)
            .map(|value| Item { line: None, value })
            .map_err(|error| {
                let (at, message) = split_error(&error);
                let before = &text[..at.min(text.len())];
                let line_start = before
                    .iter()
                    .rposition(|&byte| byte == b'\n')
                    .map_or(0, |newline| newline + 1);
                let lines = before.iter().filter(|&&byte| byte == b'\n').count();
                Error::Json {
                    line: 1 + lines as u64,
                    column: column(&before[line_start..]),
                    message,
                }
            })
    }

    fn next_line(&mut self) -> Option<Result<Item, Error>> {
        loop {
            self.buffer.clear();
            match self.reader.read_until(b'\n', &mut self.buffer) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(error) => return Some(Err(Error::Io(error))),
            }
            self.line += 1;
            let mut text: &[u8] = &self.buffer;
            if self.line == 1 {
                text = without_bom(text);
            }
            text = text.strip_suffix(b"\n").unwrap_or(text);
            text = text.strip_suffix(b"\r").unwrap_or(text);
            if text.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let line = self.line;
            return Some(
                jaq_json::read::parse_single(text)
                    .map(|value| Item {
                        line: Some(line),
                        value,
                    })
                    .map_err(|error| {
                        let (at, message) = split_error(&error);
                        Error::Json {
                            line,
                            column: column(&text[..at.min(text.len())]),
                            message,
                        }
                    }),
            );
        }
    }
}

impl<R: BufRead> Iterator for Values<R> {
    type Item = Result<Item, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let next = match self.format {
            Format::Document => {
                self.done = true;
                Some(self.document())
            }
            Format::Lines => self.next_line(),
        };
        if matches!(next, Some(Err(_))) {
            self.done = true;
        }
        next
    }
}

fn without_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

/// The 1-based column after `before` (the text of the line before the error), in characters.
fn column(before: &[u8]) -> usize {
    1 + String::from_utf8_lossy(before).chars().count()
}

/// jaq's parse error reads `byte offset N: MESSAGE`; its parts (offset 0 and the whole
/// text if it ever reads otherwise).
fn split_error(error: &jaq_json::read::Error) -> (usize, String) {
    let text = error.to_string();
    text.strip_prefix("byte offset ")
        .and_then(|rest| rest.split_once(": "))
        .and_then(|(at, message)| Some((at.parse().ok()?, message.to_string())))
        .unwrap_or((0, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str, format: Format) -> Vec<Result<(Option<u64>, String), String>> {
        Values::new(text.as_bytes(), format)
            .map(|item| {
                item.map(|item| (item.line, item.value.to_string()))
                    .map_err(|error| error.to_string())
            })
            .collect()
    }

    #[test]
    fn lines_keep_key_order_skip_blanks_and_stop_at_a_bad_line() {
        assert_eq!(
            read(
                "\u{feff}{\"b\":1,\"a\":2}\n\n  \n1.50\r\n{\"x\": é}\n3\n",
                Format::Lines
            ),
            vec![
                Ok((Some(1), "{\"b\":1,\"a\":2}".into())),
                Ok((Some(4), "1.50".into())),
                Err("line 5, column 7: not valid JSON: value expected".into()),
            ]
        );
    }

    #[test]
    fn a_document_is_one_value() {
        assert_eq!(
            read("\u{feff}{\"z\":\n [1, 2], \"a\": null}\n", Format::Document),
            vec![Ok((None, "{\"z\":[1,2],\"a\":null}".into()))]
        );
        assert_eq!(
            read("{\"a\":\n ]", Format::Document),
            vec![Err(
                "line 2, column 2: not valid JSON: value expected".into()
            )]
        );
    }

    #[test]
    fn a_stage_input_that_cannot_open_is_named() {
        let input = StageInput {
            name: "people.jsonl".into(),
            path: "/nonexistent/people.jsonl".into(),
            digest: String::new(),
        };
        let Err(Failure::Fatal(reason)) = open(&input) else {
            panic!("opened a missing file");
        };
        assert!(
            reason.starts_with("input `people.jsonl` (/nonexistent/people.jsonl): cannot open: "),
            "{reason}"
        );
    }
}
