//! `with-headers`: a resolver that offers the payload's `url` as its only candidate, with the
//! payload's `headers` object (name → value) as the candidate's request headers — what a
//! resolver sends for a token-protected download. The host's egress tests check which of
//! them reach which origin after redirects.
use baton_sdk::types::{
    Candidate, Capabilities, Description, Failure, Field, PluginKind, ResolveRequest,
};
use std::collections::BTreeMap;

struct WithHeaders;

#[derive(serde::Deserialize)]
struct Payload {
    url: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

impl baton_sdk::Metadata for WithHeaders {
    fn describe() -> Description {
        Description {
            name: "with-headers".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            kind: PluginKind::Resolver,
            summary: "Test plugin whose candidate carries the payload's headers".into(),
            capabilities: Capabilities::default(),
        }
    }
}

impl baton_sdk::Resolver for WithHeaders {
    fn resolve(request: ResolveRequest) -> Result<Vec<Candidate>, Failure> {
        let payload: Payload = baton_sdk::json::parse("payload", &request.artifact.payload)?;
        Ok(vec![Candidate {
            url: payload.url,
            content_type: None,
            score: 1,
            headers: payload
                .headers
                .into_iter()
                .map(|(key, value)| Field { key, value })
                .collect(),
            note: None,
        }])
    }
}

baton_sdk::export_resolver!(WithHeaders);
