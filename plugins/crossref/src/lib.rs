//! `crossref`: a resolver that looks a DOI up in the Crossref works API
//! (`GET {base-url}/works/{doi}[?mailto={mailto}]`) and offers the work's full-text links
//! as download candidates: links typed `application/pdf` (the version of record and
//! text-mining links first), then links whose content type is `unspecified`.
//!
//! Settings: `{"base-url": "https://api.crossref.org", "mailto": "you@example.org"}` (both
//! optional; `mailto` puts the requests in Crossref's polite pool). The DOI is the
//! payload's `doi` field, else the artifact id.
mod candidates;
mod query;

use core::time::Duration;

use baton_sdk::api::Api;
use baton_sdk::skip;
use baton_sdk::types::{Candidate, Capabilities, Description, Failure, PluginKind, ResolveRequest};

const API: Api = Api {
    name: "crossref",
    user_agent: concat!("baton-crossref/", env!("CARGO_PKG_VERSION")),
    // A work with thousands of references runs to a few MiB; anything far larger is not one.
    max_response_bytes: 16 * 1024 * 1024,
    timeout: Duration::from_secs(30),
};

struct Crossref;

impl baton_sdk::Metadata for Crossref {
    fn describe() -> Description {
        Description {
            name: "crossref".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            kind: PluginKind::Resolver,
            summary: "Publisher PDF links for a DOI, from the Crossref API".into(),
            capabilities: Capabilities {
                // The base URL is configurable: the operator grants the actual host.
                http: vec!["*".into()],
                ..Capabilities::default()
            },
        }
    }
}

impl baton_sdk::Resolver for Crossref {
    fn resolve(request: ResolveRequest) -> Result<Vec<Candidate>, Failure> {
        let query = query::Query::from_request(&request)?;
        baton_sdk::debug!("querying crossref", "doi" => query.doi, "attempt" => request.attempt);
        let body = API.get(&query.url())?;
        let work = candidates::Work::from_body(&body)?;
        let found = candidates::from_work(&work);
        if found.is_empty() {
            return Err(skip("no PDF link in crossref"));
        }
        baton_sdk::info!("resolved", "doi" => query.doi, "candidates" => found.len());
        Ok(found)
    }
}

baton_sdk::export_resolver!(Crossref);

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
    fn failures_name_crossref() {
        assert_eq!(
            API.check(&response(404, "")),
            Err(Failure::Skip("not found in crossref".into()))
        );
        assert_eq!(
            API.check(&response(400, "{\"status\": \"failed\", \"message-type\": \"validation-failure\"}")),
            Err(Failure::Fatal(
                "crossref answered 400: {\"status\": \"failed\", \"message-type\": \"validation-failure\"}".into()
            ))
        );
    }
}
