//! `openalex`: a resolver that looks a DOI up in the OpenAlex works API
//! (`GET {base-url}/works/doi:{doi}[?mailto={mailto}]`) and offers its open-access
//! locations as download candidates: the best location's PDF, the other open locations'
//! PDFs, the work's `oa_url`, then landing pages.
//!
//! Settings: `{"base-url": "https://api.openalex.org", "mailto": "you@example.org"}` (both
//! optional; `mailto` puts the requests in OpenAlex's polite pool). The DOI is the
//! payload's `doi` field, else the artifact id.
mod candidates;
mod query;

use core::time::Duration;

use baton_sdk::api::Api;
use baton_sdk::skip;
use baton_sdk::types::{Candidate, Capabilities, Description, Failure, PluginKind, ResolveRequest};

const API: Api = Api {
    name: "openalex",
    user_agent: concat!("baton-openalex/", env!("CARGO_PKG_VERSION")),
    // A work record with thousands of authors runs to a few MiB; anything far larger is not one.
    max_response_bytes: 16 * 1024 * 1024,
    timeout: Duration::from_secs(30),
};

struct OpenAlex;

impl baton_sdk::Metadata for OpenAlex {
    fn describe() -> Description {
        Description {
            name: "openalex".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            kind: PluginKind::Resolver,
            summary: "Open-access PDFs and landing pages for a DOI, from the OpenAlex API".into(),
            capabilities: Capabilities {
                // The base URL is configurable: the operator grants the actual host.
                http: vec!["*".into()],
                ..Capabilities::default()
            },
        }
    }
}

impl baton_sdk::Resolver for OpenAlex {
    fn resolve(request: ResolveRequest) -> Result<Vec<Candidate>, Failure> {
        let query = query::Query::from_request(&request)?;
        baton_sdk::debug!("querying openalex", "doi" => query.doi, "attempt" => request.attempt);
        let work: candidates::Work = API.get_json(&query.url(), "work")?;
        let found = candidates::from_work(&work);
        if found.is_empty() {
            return Err(skip("no open-access location"));
        }
        baton_sdk::info!(
            "resolved",
            "doi" => query.doi,
            "work" => work.id.as_deref().unwrap_or("?"),
            "candidates" => found.len(),
        );
        Ok(found)
    }
}

baton_sdk::export_resolver!(OpenAlex);

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
    fn failures_name_openalex() {
        assert_eq!(
            API.check(&response(404, "")),
            Err(Failure::Skip("not found in openalex".into()))
        );
        assert_eq!(
            API.check(&response(
                400,
                "{\"error\": \"Invalid query parameters error.\"}\n"
            )),
            Err(Failure::Fatal(
                "openalex answered 400: {\"error\": \"Invalid query parameters error.\"}".into()
            ))
        );
    }
}
