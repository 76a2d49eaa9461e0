//! `unpaywall`: a resolver that looks a DOI up in the Unpaywall API
//! (`GET {base-url}/v2/{doi}?email={email}`) and offers its open-access locations as
//! download candidates: PDFs first, landing pages last.
//!
//! Settings: `{"email": "you@example.org", "base-url": "https://api.unpaywall.org"}`
//! (`base-url` optional). The DOI is the payload's `doi` field, else the artifact id.
mod candidates;
mod query;

use core::time::Duration;

use baton_sdk::api::Api;
use baton_sdk::skip;
use baton_sdk::types::{Candidate, Capabilities, Description, Failure, PluginKind, ResolveRequest};

const API: Api = Api {
    name: "unpaywall",
    user_agent: concat!("baton-unpaywall/", env!("CARGO_PKG_VERSION")),
    // Unpaywall records are a few KiB; anything far larger is not one.
    max_response_bytes: 4 * 1024 * 1024,
    timeout: Duration::from_secs(30),
};

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
        let record: candidates::Record = API.get_json(&query.url(), "record")?;
        let found = candidates::from_record(&record);
        if found.is_empty() {
            return Err(skip("no open-access location"));
        }
        baton_sdk::info!("resolved", "doi" => query.doi, "candidates" => found.len());
        Ok(found)
    }
}

baton_sdk::export_resolver!(Unpaywall);

#[cfg(test)]
mod tests {
    use super::*;
    use baton_sdk::http::Response;

    fn response(status: u16, body: &str) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn failures_name_unpaywall() {
        assert_eq!(
            API.check(&response(404, "")),
            Err(Failure::Skip("not found in unpaywall".into()))
        );
        assert_eq!(
            API.check(&response(422, "{\"error\": \"bad email\"}\n")),
            Err(Failure::Fatal(
                "unpaywall answered 422: {\"error\": \"bad email\"}".into()
            ))
        );
    }
}
