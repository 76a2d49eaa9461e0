//! `csv-to-jsonl`: a stage that converts each CSV input file into
//! `{output-dir}/{file stem}.jsonl`, one JSON object per row with the column names as keys
//! (in column order) and the fields as strings.
//!
//! Reading (the `csv` crate): fields split by the delimiter; a field in double quotes may
//! hold delimiters, line breaks and `""` for a quote; lines end with `\n`, `\r\n` or `\r`;
//! blank lines are skipped; a UTF-8 byte-order mark at the start is ignored (also before a
//! quoted header). Quotes inside an unquoted field are kept as they are.
//!
//! Params (all optional):
//! - `delimiter`: one ASCII character other than a quote or a line break (default `,`),
//!   e.g. `";"` or `"\t"`.
//! - `has-header`: whether the first row holds the column names (default `true`).
//! - `columns`: the column names, e.g. `["name", "age"]`; with a header row they replace
//!   its names (the header must have as many fields). Without a header row and without
//!   `columns`, the keys are `column1`, `column2`, ... for as many fields as the first row
//!   has.
//!
//! Every row must have as many fields as there are columns. A row that does not, a quote
//! that is never closed, a duplicate column name or a field that is not UTF-8 fails the
//! stage, naming the input, the line (where the row starts, or where the quote opens) and
//! the cause, e.g. ``input `data/people.csv` (/inputs/data/people.csv): line 7: 4 fields,
//! the header has 3``.
mod convert;
mod lines;

use std::fs::File;
use std::path::Path;

use baton_sdk::json::Object;
use baton_sdk::types::{
    Capabilities, Description, Failure, PluginKind, StageContext, StageOutcome,
};
use baton_sdk::{fatal, progress};

use convert::Options;

struct CsvToJsonl;

impl baton_sdk::Metadata for CsvToJsonl {
    fn describe() -> Description {
        Description {
            name: "csv-to-jsonl".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            kind: PluginKind::Stage,
            summary: "Converts CSV files into JSON Lines, one object per row".into(),
            capabilities: Capabilities::default(),
        }
    }
}

impl baton_sdk::Stage for CsvToJsonl {
    fn run(context: StageContext) -> Result<StageOutcome, Failure> {
        let options = options(&Object::parse("params", &context.params)?)?;
        let total = u64::try_from(context.inputs.len()).unwrap_or(u64::MAX);
        let mut outputs: Vec<String> = Vec::new();
        let mut rows = 0;
        for (done, input) in (1..).zip(&context.inputs) {
            let named = format!("input `{}` ({})", input.name, input.path);
            let stem = Path::new(&input.path)
                .file_stem()
                .and_then(|stem| stem.to_str())
                .ok_or_else(|| fatal(format!("{named}: the path has no file name")))?;
            let output = format!("{stem}.jsonl");
            if outputs.contains(&output) {
                return Err(fatal(format!(
                    "{named}: another input already wrote {output}"
                )));
            }
            let source = File::open(&input.path)
                .map_err(|error| fatal(format!("{named}: cannot open: {error}")))?;
            let target_path = Path::new(&context.output_dir).join(&output);
            let target = File::create(&target_path).map_err(|error| {
                fatal(format!("cannot create {}: {error}", target_path.display()))
            })?;
            rows += convert::convert(source, target, &options)
                .map_err(|error| fatal(format!("{named}: {error}")))?;
            progress::report(done, Some(total), &output);
            outputs.push(output);
        }
        let files = if outputs.len() == 1 { "file" } else { "files" };
        let summary = format!("{} {files}, {rows} rows", outputs.len());
        Ok(StageOutcome { summary, outputs })
    }
}

fn options(params: &Object) -> Result<Options, Failure> {
    Ok(Options {
        delimiter: delimiter(params)?,
        has_header: params.bool("has-header")?.unwrap_or(true),
        columns: columns(params)?,
    })
}

fn delimiter(params: &Object) -> Result<u8, Failure> {
    let Some(text) = params.str("delimiter")? else {
        return Ok(b',');
    };
    match text.as_bytes() {
        [byte] if byte.is_ascii() && !matches!(byte, b'"' | b'\r' | b'\n') => Ok(*byte),
        _ => Err(fatal(format!(
            "params.delimiter must be one ASCII character other than a quote or a line break, found {text:?}"
        ))),
    }
}

/// `params.columns`: at least one name, none twice.
fn columns(params: &Object) -> Result<Option<Vec<String>>, Failure> {
    let Some(columns) = params.strings("columns")? else {
        return Ok(None);
    };
    if columns.is_empty() {
        return Err(fatal("params.columns must name at least one column"));
    }
    for (index, name) in columns.iter().enumerate() {
        if columns[..index].contains(name) {
            return Err(fatal(format!("params.columns names {name:?} twice")));
        }
    }
    Ok(Some(columns))
}

baton_sdk::export_stage!(CsvToJsonl);

#[cfg(test)]
mod tests {
    use super::*;

    fn options_of(params: &str) -> Result<Options, Failure> {
        options(&Object::parse("params", params).unwrap())
    }

    #[test]
    fn params_have_defaults_and_are_checked() {
        let defaults = options_of("{}").unwrap();
        assert_eq!(
            (defaults.delimiter, defaults.has_header, defaults.columns),
            (b',', true, None)
        );
        let given =
            options_of(r#"{"delimiter": "\t", "has-header": false, "columns": ["a", "b"]}"#)
                .unwrap();
        assert_eq!(
            (given.delimiter, given.has_header, given.columns),
            (b'\t', false, Some(vec!["a".to_string(), "b".to_string()]))
        );
        for (params, problem) in [
            (
                r#"{"delimiter": ";;"}"#,
                "params.delimiter must be one ASCII character",
            ),
            (
                r#"{"delimiter": "\""}"#,
                "params.delimiter must be one ASCII character",
            ),
            (
                r#"{"columns": []}"#,
                "params.columns must name at least one column",
            ),
            (
                r#"{"columns": ["a", "b", "a"]}"#,
                "params.columns names \"a\" twice",
            ),
            (
                r#"{"has-header": "no"}"#,
                "params.has-header must be a boolean",
            ),
        ] {
            let Err(Failure::Fatal(reason)) = options_of(params) else {
                panic!("{params} was accepted");
            };
            assert!(reason.starts_with(problem), "{params}: {reason}");
        }
    }
}
