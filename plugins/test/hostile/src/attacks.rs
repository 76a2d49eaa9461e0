//! The attacks. Each returns the stage outcome on success or a fatal failure carrying the
//! error the sandbox produced, so the host's tests can assert on both.
//!
//! - `loop`: spins forever without calling the host.
//! - `memory`: allocates and touches 1 MiB blocks until the host stops it.
//! - `read-escape` (`path`): reads a file; on success copies its first bytes into the
//!   output dir as `escaped.bin` and reports `READ n bytes from path`.
//! - `write` (`path`): creates or overwrites a file; reports `WROTE path`.
//! - `http` (`url`, `follow-redirects`): GETs through the SDK client; reports
//!   `status N body-bytes M`, or fails with the client's error (the host's error code).
//! - `flood` (`bytes`, default 50 MiB): prints that many bytes of lines to stdout.
//! - `panic`: panics.
//! - `env` (`name`): reports the variable's value, or `unset`.
//! - `echo`: reports the params text.
use std::hint::black_box;
use std::io::Write;
use std::path::Path;

use baton_sdk::fatal;
use baton_sdk::json::Object;
use baton_sdk::types::{Failure, StageContext, StageOutcome};

const BLOCK_BYTES: usize = 1024 * 1024;
const PAGE_BYTES: usize = 64 * 1024;
const READ_PREFIX_BYTES: usize = 64;
const DEFAULT_FLOOD_BYTES: u64 = 50 * 1024 * 1024;
const MAX_REDIRECTS: u32 = 5;

const COPY_NAME: &str = "escaped.bin";

pub fn run(attack: &str, params: &Object, context: &StageContext) -> Result<StageOutcome, Failure> {
    if attack == "read-escape" {
        let summary = read(params.required_str("path")?, &context.output_dir)?;
        return Ok(StageOutcome {
            summary,
            outputs: vec![COPY_NAME.into()],
        });
    }
    let summary = match attack {
        "loop" => spin(),
        "memory" => exhaust_memory(),
        "write" => write(params.required_str("path")?),
        "http" => http(
            params.required_str("url")?,
            params.bool("follow-redirects")?.unwrap_or(false),
        ),
        "flood" => flood(params.u64("bytes")?.unwrap_or(DEFAULT_FLOOD_BYTES)),
        "panic" => panic!("hostile plugin panicked on purpose"),
        "env" => Ok(std::env::var(params.required_str("name")?).unwrap_or_else(|_| "unset".into())),
        "echo" => Ok(context.params.clone()),
        other => Err(fatal(format!("unknown attack {other:?}"))),
    }?;
    Ok(StageOutcome {
        summary,
        outputs: Vec::new(),
    })
}

fn spin() -> ! {
    let mut counter: u64 = 0;
    loop {
        counter = black_box(counter.wrapping_add(1));
    }
}

fn exhaust_memory() -> ! {
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut block = vec![0u8; BLOCK_BYTES];
        for offset in (0..BLOCK_BYTES).step_by(PAGE_BYTES) {
            block[offset] = 1;
        }
        blocks.push(black_box(block));
    }
}

fn read(path: &str, output_dir: &str) -> Result<String, Failure> {
    let bytes = std::fs::read(path).map_err(|error| fatal(format!("read {path}: {error}")))?;
    let prefix = &bytes[..bytes.len().min(READ_PREFIX_BYTES)];
    let copy = Path::new(output_dir).join(COPY_NAME);
    std::fs::write(&copy, prefix)
        .map_err(|error| fatal(format!("write {}: {error}", copy.display())))?;
    Ok(format!("READ {} bytes from {path}", bytes.len()))
}

fn write(path: &str) -> Result<String, Failure> {
    std::fs::write(path, b"written by the hostile plugin\n")
        .map_err(|error| fatal(format!("write {path}: {error}")))?;
    Ok(format!("WROTE {path}"))
}

fn http(url: &str, follow_redirects: bool) -> Result<String, Failure> {
    let response = if follow_redirects {
        baton_sdk::http::get_following_redirects(url, MAX_REDIRECTS)
    } else {
        baton_sdk::http::get(url)
    }
    .map_err(|error| fatal(error.to_string()))?;
    Ok(format!(
        "status {} body-bytes {}",
        response.status,
        response.body.len()
    ))
}

fn flood(total: u64) -> Result<String, Failure> {
    let line = format!("{}\n", "flood ".repeat(16));
    let mut stdout = std::io::stdout().lock();
    let mut written: u64 = 0;
    while written < total {
        stdout
            .write_all(line.as_bytes())
            .map_err(|error| fatal(format!("stdout: {error}")))?;
        written += line.len() as u64;
    }
    stdout
        .flush()
        .map_err(|error| fatal(format!("stdout: {error}")))?;
    Ok(format!("flooded {written} bytes"))
}
