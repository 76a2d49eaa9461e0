//! `unpaywall`: a resolver that looks a DOI up in the Unpaywall API
//! (`GET {base-url}/v2/{doi}?email={email}`) and offers its open-access locations as
//! download candidates: PDFs first, landing pages last.
//!
//! Settings: `{"email": "you@example.org", "base-url": "https://api.unpaywall.org"}`
//! (`base-url` optional). The DOI is the payload's `doi` field, else the artifact id.
mod candidates;
mod query;
mod status;

use core::time::Duration;

use baton_sdk::http::Request;
use baton_sdk::types::{Candidate, Capabilities, Description, Failure, PluginKind, ResolveRequest};
use baton_sdk::{fatal, retry, skip};

/// Unpaywall records are a few KiB; anything far larger is not one.
const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;
const TIMEOUT: Duration = Duration::from_secs(30);

struct Unpaywall;

impl baton_sdk::Metadata for Unpaywall {
    fn describe() -> Description {
        Description {
            name: "unpaywall".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            kind: PluginKind::Resolver,
            summary: "Open-access PDFs and landing pages for a DOI, from the Unpaywall API".into(),
            capabilities: Capabilities {
                // The base URL is configurable: the operator grants the actual host.
                http: vec!["*".into()],
                ..Capabilities::default()
            },
        }
    }
}

impl baton_sdk::Resolver for Unpaywall {
    fn resolve(request: ResolveRequest) -> Result<Vec<Candidate>, Failure> {
        let query = query::Query::from_request(&request)?;
        baton_sdk::debug!("querying unpaywall", "doi" => query.doi, "attempt" => request.attempt);
        let response = Request::get(query.url())
            .header("accept", "application/json")
            .header(
                "user-agent",
                concat!("baton-unpaywall/", env!("CARGO_PKG_VERSION")),
            )
            .max_response_bytes(MAX_RESPONSE_BYTES)
            .timeout(TIMEOUT)
            .send()
            .map_err(|error| {
                if error.is_transient() {
                    retry(error.to_string())
                } else {
                    fatal(error.to_string())
                }
            })?;
        status::check(&response)?;
        let record: candidates::Record = serde_json::from_slice(&response.body)
            .map_err(|error| retry(format!("unpaywall sent an unreadable record: {error}")))?;
        let found = candidates::from_record(&record);
        if found.is_empty() {
            return Err(skip("no open-access location"));
        }
        baton_sdk::info!("resolved", "doi" => query.doi, "candidates" => found.len());
        Ok(found)
    }
}

baton_sdk::export_resolver!(Unpaywall);
