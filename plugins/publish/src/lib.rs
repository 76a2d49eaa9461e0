//! `publish`: a stage that uploads its input files to a deploy endpoint over HTTP, one
//! request per file, and writes a receipt of what it sent as its output — the last step of
//! a pipeline, usually run on its own with `baton pipeline run-stage publish`.
//!
//! Each file goes to the base URL plus its path relative to a root directory, every path
//! segment percent-encoded (RFC 3986 §2: everything but `A-Z a-z 0-9 - . _ ~`), e.g.
//! `out/site/docs/read me.txt` with root `out/site` to `https://deploy.example.org/site/docs/read%20me.txt`.
//! Requests carry `Content-Length`, `Content-Type` (by extension), `Content-Digest`
//! (RFC 9530, `sha-256=:BASE64:`) and, when the granted variable `PUBLISH_TOKEN` is set,
//! `Authorization: Bearer …` (never logged). 2xx is success; 429 and 5xx are tried again
//! after the server's `Retry-After` (seconds or an HTTP-date) or a doubling backoff; any
//! other answer fails the stage with its status and the start of its body. Files are sent
//! one after another in path order; a failure stops the run there (files before it stay
//! published; publishing again sends every file again).
//!
//! Keys, each read from the stage's params or else the plugin's settings:
//! - `url` (required): the base URL, `http` or `https`, without query or credentials; a
//!   missing trailing `/` is added.
//! - `method`: `"PUT"` (default) or `"POST"`.
//! - `root`: the project directory (or a list of them) the published paths are relative
//!   to; a file is published relative to the first one that holds it (`"."` is the
//!   project root). Default: the inputs' longest common directory.
//! - `output`: the receipt's file name (default `receipt.json`).
//! - `attempts`: requests per file at most (default 4).
//! - `max-wait`: the longest wait before a retry, in seconds, that the plugin sits out
//!   itself (default 10); a longer `Retry-After`, or running out of attempts, fails the
//!   call as `retry` with the wait, and the stage's `retries` decide. Waiting counts
//!   against the plugin's `timeout` and `wall-timeout`.
//! - `timeout`: the connect, first-byte and between-bytes timeout of each request, in
//!   seconds (default 30).
//! - `content-types`: content types by extension over the built-in table, e.g.
//!   `{ jsonl = "application/jsonl" }`; unknown extensions are `application/octet-stream`.
//!
//! Grants: the plugin asks for any HTTP destination the operator grants (`*`) and for the
//! variable `PUBLISH_TOKEN`; grant exactly the endpoint's origin and the variable:
//!
//! ```toml
//! [plugins.publish]
//! path = "…/publish.wasm"
//! kind = "stage"
//! settings = { url = "https://deploy.example.org/site/" }
//! [plugins.publish.grants]
//! http = ["https://deploy.example.org:443"]
//! env = ["PUBLISH_TOKEN"]     # from Baton's environment; unset or empty: no token
//! ```
//!
//! A URL whose origin is not granted fails at its first request, sending nothing, with
//! the grant that would allow it. The receipt (`{"url", "method", "files", "bytes",
//! "published": [{"path", "input", "url", "bytes", "sha256", "content_type", "status"}]}`)
//! is the stage's declared output, so the stage is cached like any other: it runs again
//! when an input, its definition or the plugin changes.
mod config;
mod files;
mod receipt;
mod upload;

use std::fs;
use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use baton_sdk::types::{
    Capabilities, Description, Failure, PluginKind, StageContext, StageOutcome,
};
use baton_sdk::{fatal, progress};
use sha2::{Digest, Sha256};

use config::{Config, TOKEN_VARIABLE};
use receipt::{Published, Receipt};

struct Publish;

impl baton_sdk::Metadata for Publish {
    fn describe() -> Description {
        Description {
            name: "publish".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            kind: PluginKind::Stage,
            summary: "Uploads the stage's input files to a deploy endpoint over HTTP and writes a receipt".into(),
            capabilities: Capabilities {
                http: vec!["*".into()],
                env: vec![TOKEN_VARIABLE.into()],
                ..Capabilities::default()
            },
        }
    }
}

impl baton_sdk::Stage for Publish {
    fn run(context: StageContext) -> Result<StageOutcome, Failure> {
        let config = Config::read(&context.params, &context.settings)?;
        let planned = files::plan(&context.inputs, &config.roots)?;
        let total = u64::try_from(planned.len()).unwrap_or(u64::MAX);
        let mut published = Vec::with_capacity(planned.len());
        for (done, file) in (1..).zip(&planned) {
            published.push(publish_one(&config, file)?);
            progress::report(done, Some(total), &file.path);
        }
        let bytes = published.iter().map(|file| file.bytes).sum();
        let receipt = Receipt {
            url: config.base.to_string(),
            method: config.method.name().into(),
            files: published.len(),
            bytes,
            published,
        };
        let target = Path::new(&context.output_dir).join(&config.output);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent)
                .map_err(|error| fatal(format!("cannot create {}: {error}", parent.display())))?;
        }
        fs::write(&target, receipt.to_text())
            .map_err(|error| fatal(format!("cannot write {}: {error}", target.display())))?;
        let noun = if receipt.files == 1 { "file" } else { "files" };
        Ok(StageOutcome {
            summary: format!(
                "published {} {noun} ({bytes} bytes) to {}",
                receipt.files, receipt.url
            ),
            outputs: vec![config.output],
        })
    }
}

/// Reads one file, sends it, and describes it for the receipt.
fn publish_one(config: &Config, file: &files::Planned) -> Result<Published, Failure> {
    let bytes = fs::read(&file.source).map_err(|error| {
        fatal(format!(
            "input `{}` ({}): cannot read: {error}",
            file.name, file.source
        ))
    })?;
    let digest = Sha256::digest(&bytes);
    let sha256_base64 = STANDARD.encode(digest);
    let sha256: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    let url = files::url_of(&config.base, &file.path)?;
    let content_type = files::content_type(&file.path, &config.content_types);
    let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    let accepted = upload::send(
        config,
        upload::Body {
            url: &url,
            bytes,
            content_type: &content_type,
            sha256_base64: &sha256_base64,
        },
    )?;
    baton_sdk::info!(
        "published",
        "path" => file.path,
        "status" => accepted.status,
        "bytes" => size,
        "attempts" => accepted.attempts
    );
    Ok(Published {
        path: file.path.clone(),
        input: file.name.clone(),
        url: url.to_string(),
        bytes: size,
        sha256,
        content_type,
        status: accepted.status,
    })
}

baton_sdk::export_stage!(Publish);
