//! Converts one CSV input into a JSON Lines file with the `csv` crate: RFC 4180 quoting
//! (delimiters, line breaks and `""` inside quoted fields), `\n`, `\r\n` or `\r` line
//! ends, blank lines skipped, a leading UTF-8 byte-order mark ignored. The keys come from
//! the header row, from `params.columns`, or are `column1`, `column2`, ...; every record
//! becomes one object whose values are the fields as strings, keys in column order.
use std::fmt;
use std::fs::File;
use std::io::{BufWriter, Read, Write};

use csv::{ByteRecord, ReaderBuilder};

use crate::lines::{self, Lines};

/// How to read the input.
pub struct Options {
    pub delimiter: u8,
    /// Whether the first record is a header row.
    pub has_header: bool,
    /// The keys, given in `params.columns` (they replace the header's names).
    pub columns: Option<Vec<String>>,
}

/// Why a conversion stopped.
pub enum Error {
    Read(std::io::Error),
    Csv(csv::Error),
    /// The input is wrong at this line.
    Line {
        line: u64,
        problem: String,
    },
    Output(std::io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Read(error) => write!(f, "read failed: {error}"),
            Error::Csv(error) => write!(f, "read failed: {error}"),
            Error::Line { line, problem } => write!(f, "line {line}: {problem}"),
            Error::Output(error) => write!(f, "write failed: {error}"),
        }
    }
}

/// The keys, JSON-encoded once, and where they came from (for messages).
struct Keys {
    encoded: Vec<String>,
    origin: &'static str,
}

impl Keys {
    /// The header's names, at `line`; a name given twice is an error.
    fn header(names: &[&str], line: u64) -> Result<Keys, Error> {
        let mut encoded: Vec<String> = Vec::with_capacity(names.len());
        for name in names {
            let key = encode(name);
            if encoded.contains(&key) {
                return Err(Error::Line {
                    line,
                    problem: format!("duplicate column name {key}"),
                });
            }
            encoded.push(key);
        }
        Ok(Keys {
            encoded,
            origin: "the header has",
        })
    }

    /// `params.columns`, checked by the caller.
    fn given(columns: &[String]) -> Keys {
        Keys {
            encoded: columns.iter().map(|name| encode(name)).collect(),
            origin: "params.columns names",
        }
    }

    /// `column1` to `column{count}`, for input without names.
    fn numbered(count: usize) -> Keys {
        Keys {
            encoded: (1..=count)
                .map(|column| encode(&format!("column{column}")))
                .collect(),
            origin: "the first row has",
        }
    }
}

fn encode(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

/// Converts `input` into `output`; returns the number of rows written.
pub fn convert(input: impl Read, output: File, options: &Options) -> Result<u64, Error> {
    let source = Lines::new(
        lines::without_bom(input).map_err(Error::Read)?,
        options.delimiter,
    );
    let mut reader = ReaderBuilder::new()
        .delimiter(options.delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(source);
    let mut writer = BufWriter::new(output);
    let mut record = ByteRecord::new();
    let mut keys = options.columns.as_deref().map(Keys::given);
    if options.has_header {
        if !reader.read_byte_record(&mut record).map_err(Error::Csv)? {
            return finish(writer, 0);
        }
        let line = line_of(&mut reader, &record)?;
        let header = strings(&record, line)?;
        match &keys {
            Some(keys) if keys.encoded.len() != header.len() => {
                return Err(Error::Line {
                    line,
                    problem: format!(
                        "the header has {}, params.columns names {}",
                        fields(header.len()),
                        keys.encoded.len()
                    ),
                });
            }
            Some(_) => {}
            None => keys = Some(Keys::header(&header, line)?),
        }
    }
    let mut rows = 0;
    let mut text = String::new();
    while reader.read_byte_record(&mut record).map_err(Error::Csv)? {
        let line = line_of(&mut reader, &record)?;
        let values = strings(&record, line)?;
        let keys = keys.get_or_insert_with(|| Keys::numbered(values.len()));
        if values.len() != keys.encoded.len() {
            return Err(Error::Line {
                line,
                problem: format!(
                    "{}, {} {}",
                    fields(values.len()),
                    keys.origin,
                    keys.encoded.len()
                ),
            });
        }
        text.clear();
        text.push('{');
        for (index, (key, value)) in keys.encoded.iter().zip(&values).enumerate() {
            if index > 0 {
                text.push(',');
            }
            text.push_str(key);
            text.push(':');
            text.push_str(&encode(value));
        }
        text.push_str("}\n");
        writer.write_all(text.as_bytes()).map_err(Error::Output)?;
        rows += 1;
    }
    finish(writer, rows)
}

/// The line `record`, just read, starts on; an error when it holds a quote that is never
/// closed.
fn line_of<R: Read>(reader: &mut csv::Reader<Lines<R>>, record: &ByteRecord) -> Result<u64, Error> {
    let end = reader.position().byte();
    let start = record.position().map_or(end, csv::Position::byte);
    let line = reader.get_mut().line_of(start);
    match reader.get_ref().unclosed_quote() {
        Some(opened) if (start..end).contains(&opened) => Err(Error::Line {
            line: reader.get_ref().line_at(opened),
            problem: format!(
                "the quote that opens field {} is never closed",
                record.len()
            ),
        }),
        _ => Ok(line),
    }
}

/// The record's fields as text.
fn strings(record: &ByteRecord, line: u64) -> Result<Vec<&str>, Error> {
    record
        .iter()
        .enumerate()
        .map(|(index, field)| {
            std::str::from_utf8(field).map_err(|_| Error::Line {
                line,
                problem: format!("field {} is not valid UTF-8", index + 1),
            })
        })
        .collect()
}

fn fields(count: usize) -> String {
    if count == 1 {
        "1 field".to_string()
    } else {
        format!("{count} fields")
    }
}

fn finish(writer: BufWriter<File>, rows: u64) -> Result<u64, Error> {
    writer
        .into_inner()
        .map_err(|error| Error::Output(error.into_error()))?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The JSON Lines `input` converts into, or the error.
    fn run(input: &[u8], has_header: bool, columns: Option<&[&str]>) -> Result<String, String> {
        let path = std::env::temp_dir().join(format!(
            "csv-to-jsonl-{}-{:?}.jsonl",
            std::process::id(),
            std::thread::current().id()
        ));
        let options = Options {
            delimiter: b',',
            has_header,
            columns: columns.map(|names| names.iter().map(|name| name.to_string()).collect()),
        };
        let result = convert(input, File::create(&path).unwrap(), &options)
            .map_err(|error| error.to_string())
            .map(|_| std::fs::read_to_string(&path).unwrap());
        std::fs::remove_file(&path).unwrap();
        result
    }

    #[test]
    fn keys_come_from_the_header_the_params_or_are_numbered() {
        assert_eq!(
            run(b"b,a\n1,2\n", true, None).unwrap(),
            "{\"b\":\"1\",\"a\":\"2\"}\n"
        );
        assert_eq!(
            run(b"b,a\n1,2\n", true, Some(&["x", "y"])).unwrap(),
            "{\"x\":\"1\",\"y\":\"2\"}\n"
        );
        assert_eq!(
            run(b"1,2\n3,4\n", false, Some(&["x", "y"])).unwrap(),
            "{\"x\":\"1\",\"y\":\"2\"}\n{\"x\":\"3\",\"y\":\"4\"}\n"
        );
        assert_eq!(
            run(b"1,2\n", false, None).unwrap(),
            "{\"column1\":\"1\",\"column2\":\"2\"}\n"
        );
        assert_eq!(run(b"", true, None).unwrap(), "");
        assert_eq!(run(b"a,b\r\n", true, None).unwrap(), "");
    }

    #[test]
    fn errors_name_the_line_and_the_cause() {
        assert_eq!(
            run(b"a,b\n1,2\n\n3\n", true, None).unwrap_err(),
            "line 4: 1 field, the header has 2"
        );
        assert_eq!(
            run(b"a,b\r\n1,2,3\r\n", true, Some(&["x", "y"])).unwrap_err(),
            "line 2: 3 fields, params.columns names 2"
        );
        assert_eq!(
            run(b"1,2\r3,4,5\r", false, None).unwrap_err(),
            "line 2: 3 fields, the first row has 2"
        );
        assert_eq!(
            run(b"a,b\n1,2\n\"open,3\n4,5\n", true, None).unwrap_err(),
            "line 3: the quote that opens field 1 is never closed"
        );
        assert_eq!(
            run(b"a,\"b\n1,2\n", true, None).unwrap_err(),
            "line 1: the quote that opens field 2 is never closed"
        );
        assert_eq!(
            run(b"a,b,c\n1,2,3\n", true, Some(&["x", "y"])).unwrap_err(),
            "line 1: the header has 3 fields, params.columns names 2"
        );
        assert_eq!(
            run(b"a,b,a\n", true, None).unwrap_err(),
            "line 1: duplicate column name \"a\""
        );
        assert_eq!(
            run(b"a,b\n\"x\ny\",\xff\n", true, None).unwrap_err(),
            "line 2: field 2 is not valid UTF-8"
        );
    }
}
