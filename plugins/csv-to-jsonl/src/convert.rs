//! Converts one CSV input into a JSON Lines file: the header row gives the keys, every
//! further record becomes one object whose values are the fields as strings, keys in
//! header order.
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};

use crate::csv::{self, Reader};

/// Why a conversion stopped.
pub enum Error {
    Input(csv::Error),
    Header(String),
    Row {
        line: u64,
        fields: usize,
        columns: usize,
    },
    Output(std::io::Error),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Input(error) => write!(f, "{error}"),
            Error::Header(problem) => write!(f, "line 1: {problem}"),
            Error::Row {
                line,
                fields,
                columns,
            } => write!(f, "line {line}: {fields} fields, the header has {columns}"),
            Error::Output(error) => write!(f, "write failed: {error}"),
        }
    }
}

/// Converts `input` into `output`; returns the number of rows written.
pub fn convert(input: impl Read, output: File, delimiter: u8) -> Result<u64, Error> {
    let mut reader = Reader::new(BufReader::new(input), delimiter);
    let mut writer = BufWriter::new(output);
    let mut fields = Vec::new();
    if reader
        .next_record(&mut fields)
        .map_err(Error::Input)?
        .is_none()
    {
        return finish(writer, 0);
    }
    let keys = keys(&fields)?;
    let mut rows = 0;
    let mut line = String::new();
    while let Some(start) = reader.next_record(&mut fields).map_err(Error::Input)? {
        if fields.len() != keys.len() {
            return Err(Error::Row {
                line: start,
                fields: fields.len(),
                columns: keys.len(),
            });
        }
        line.clear();
        line.push('{');
        for (index, (key, value)) in keys.iter().zip(&fields).enumerate() {
            if index > 0 {
                line.push(',');
            }
            line.push_str(key);
            line.push(':');
            line.push_str(&serde_json::Value::from(value.as_str()).to_string());
        }
        line.push_str("}\n");
        writer.write_all(line.as_bytes()).map_err(Error::Output)?;
        rows += 1;
    }
    finish(writer, rows)
}

/// The header's names, JSON-encoded once (with a leading byte-order mark removed).
fn keys(header: &[String]) -> Result<Vec<String>, Error> {
    let mut keys: Vec<String> = Vec::with_capacity(header.len());
    for (index, name) in header.iter().enumerate() {
        let name = if index == 0 {
            name.trim_start_matches('\u{feff}')
        } else {
            name
        };
        let key = serde_json::Value::from(name).to_string();
        if keys.contains(&key) {
            return Err(Error::Header(format!("duplicate column name {key}")));
        }
        keys.push(key);
    }
    Ok(keys)
}

fn finish(writer: BufWriter<File>, rows: u64) -> Result<u64, Error> {
    writer
        .into_inner()
        .map_err(|error| Error::Output(error.into_error()))?;
    Ok(rows)
}
