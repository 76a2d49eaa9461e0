//! Reading a stage input as JSON values. A file whose name ends in `.json` holds one JSON
//! document; any other file is read as JSON Lines: one value per line, blank lines
//! skipped. A leading UTF-8 byte-order mark is ignored. Every value comes with the line it
//! is on (JSON Lines only), and a malformed line does not end the iteration, so a caller
//! may report it and go on.
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

use serde_json::Value;

use crate::fatal;
use crate::types::{Failure, StageInput};

/// How a file holds its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON document (`.json`).
    Document,
    /// One JSON value per line (anything else, e.g. `.jsonl`).
    Lines,
}

impl Format {
    /// `.json` names a document; any other name is read as JSON Lines.
    pub fn of(name: &str) -> Self {
        if has_extension(name, "json") {
            Format::Document
        } else {
            Format::Lines
        }
    }
}

/// Whether `name` ends in `.json` or `.jsonl` (ASCII case ignored).
pub fn is_json(name: &str) -> bool {
    has_extension(name, "json") || has_extension(name, "jsonl")
}

fn has_extension(name: &str, wanted: &str) -> bool {
    Path::new(name)
        .extension()
        .and_then(|extension| extension.to_str())
        .is_some_and(|extension| extension.eq_ignore_ascii_case(wanted))
}

/// One value, with its line for JSON Lines (`None` for a whole document).
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub line: Option<u64>,
    pub value: Value,
}

/// Why a value could not be read.
#[derive(Debug)]
pub enum Error {
    /// Reading failed; the iteration ends.
    Io(io::Error),
    /// The text is not JSON. For JSON Lines, `line` is the file's line and `column` counts
    /// within it; the iteration goes on with the next line.
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

/// The values of one file, in order.
pub struct Values<R> {
    reader: R,
    format: Format,
    /// Physical lines consumed so far (JSON Lines).
    line: u64,
    buffer: Vec<u8>,
    done: bool,
}

/// Opens the file at `path` (a directory is refused).
pub fn open(path: &str, format: Format) -> io::Result<Values<BufReader<File>>> {
    let file = File::open(path)?;
    if file.metadata()?.is_dir() {
        return Err(io::Error::other("it is a directory, not a file"));
    }
    Ok(Values::new(BufReader::new(file), format))
}

/// Opens a stage input, failing the stage with ``input `NAME` (PATH): cannot open: ...``.
pub fn open_input(input: &StageInput, format: Format) -> Result<Values<BufReader<File>>, Failure> {
    open(&input.path, format).map_err(|error| {
        fatal(format!(
            "input `{}` ({}): cannot open: {error}",
            input.name, input.path
        ))
    })
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
        serde_json::from_slice(text)
            .map(|value| Item { line: None, value })
            .map_err(|error| json_error(&error, error.line() as u64))
    }

    fn next_line(&mut self) -> Option<Result<Item, Error>> {
        loop {
            self.buffer.clear();
            match self.reader.read_until(b'\n', &mut self.buffer) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(error) => {
                    self.done = true;
                    return Some(Err(Error::Io(error)));
                }
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
            return Some(
                serde_json::from_slice(text)
                    .map(|value| Item {
                        line: Some(self.line),
                        value,
                    })
                    .map_err(|error| json_error(&error, self.line)),
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
        match self.format {
            Format::Document => {
                self.done = true;
                Some(self.document())
            }
            Format::Lines => self.next_line(),
        }
    }
}

fn without_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

/// serde's message without its own ` at line L column C` (the caller knows the line).
fn json_error(error: &serde_json::Error, line: u64) -> Error {
    let text = error.to_string();
    let position = format!(" at line {} column {}", error.line(), error.column());
    Error::Json {
        line,
        column: error.column(),
        message: text.strip_suffix(&position).unwrap_or(&text).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(text: &str, format: Format) -> Vec<Result<Item, String>> {
        Values::new(text.as_bytes(), format)
            .map(|result| result.map_err(|error| error.to_string()))
            .collect()
    }

    #[test]
    fn formats_follow_the_name() {
        assert_eq!(Format::of("data/people.json"), Format::Document);
        assert_eq!(Format::of("people.JSON"), Format::Document);
        assert_eq!(Format::of("people.jsonl"), Format::Lines);
        assert_eq!(Format::of("people.ndjson"), Format::Lines);
        assert!(is_json("a.jsonl") && is_json("b.json") && !is_json("c.csv"));
        assert!(!is_json("json"));
        assert_eq!(Format::of("json"), Format::Lines);
    }

    #[test]
    fn lines_skip_blanks_and_go_on_after_a_bad_line() {
        let items = read("\u{feff}{\"a\":1}\n\n  \n[2,\n3\r\n", Format::Lines);
        assert_eq!(
            items,
            vec![
                Ok(Item {
                    line: Some(1),
                    value: json!({"a": 1})
                }),
                Err("line 4, column 3: not valid JSON: EOF while parsing a value".into()),
                Ok(Item {
                    line: Some(5),
                    value: json!(3)
                }),
            ]
        );
    }

    #[test]
    fn a_stage_input_that_cannot_open_is_named() {
        let input = StageInput {
            name: "people.jsonl".into(),
            path: "/nonexistent/people.jsonl".into(),
            digest: String::new(),
        };
        let Err(Failure::Fatal(reason)) = open_input(&input, Format::Lines) else {
            panic!("opened a missing file");
        };
        assert!(
            reason.starts_with("input `people.jsonl` (/nonexistent/people.jsonl): cannot open: "),
            "{reason}"
        );
    }

    #[test]
    fn a_document_is_one_value() {
        assert_eq!(
            read("\u{feff}{\"a\":\n [1, 2]}\n", Format::Document),
            vec![Ok(Item {
                line: None,
                value: json!({"a": [1, 2]})
            })]
        );
        assert_eq!(
            read("{\"a\":\n ]", Format::Document),
            vec![Err(
                "line 2, column 2: not valid JSON: expected value".to_string()
            )]
        );
    }
}
