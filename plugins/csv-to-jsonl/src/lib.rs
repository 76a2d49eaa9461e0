//! `csv-to-jsonl`: a stage that converts each CSV input file (RFC 4180, header row) into
//! `{output-dir}/{file stem}.jsonl`, one JSON object per row with the header's names as
//! keys and the fields as strings.
//!
//! Params: `{"delimiter": ","}` (optional; one ASCII character other than a quote or a
//! line break). A malformed row fails the stage, naming the input and the line.
mod convert;
mod csv;

use std::fs::File;
use std::path::Path;

use baton_sdk::json::Object;
use baton_sdk::types::{
    Capabilities, Description, Failure, PluginKind, StageContext, StageOutcome,
};
use baton_sdk::{fatal, progress};

struct CsvToJsonl;

impl baton_sdk::Metadata for CsvToJsonl {
    fn describe() -> Description {
        Description {
            name: "csv-to-jsonl".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            kind: PluginKind::Stage,
            summary: "Converts CSV files (header row) into JSON Lines, one object per row".into(),
            capabilities: Capabilities::default(),
        }
    }
}

impl baton_sdk::Stage for CsvToJsonl {
    fn run(context: StageContext) -> Result<StageOutcome, Failure> {
        let delimiter = delimiter(&Object::parse("params", &context.params)?)?;
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
            rows += convert::convert(source, target, delimiter)
                .map_err(|error| fatal(format!("{named}: {error}")))?;
            progress::report(done, Some(total), &output);
            outputs.push(output);
        }
        let files = if outputs.len() == 1 { "file" } else { "files" };
        let summary = format!("{} {files}, {rows} rows", outputs.len());
        Ok(StageOutcome { summary, outputs })
    }
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

baton_sdk::export_stage!(CsvToJsonl);
