//! `noop`: a resolver that offers the artifact payload's `url` field as its only candidate
//! (no candidate when the field is absent). It asks for nothing and does next to no work,
//! so the host's per-call benchmarks measure the host, not the plugin.
use baton_sdk::types::{Candidate, Capabilities, Description, Failure, PluginKind, ResolveRequest};

struct Noop;

#[derive(serde::Deserialize)]
struct Payload {
    url: Option<String>,
}

impl baton_sdk::Metadata for Noop {
    fn describe() -> Description {
        Description {
            name: "noop".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            kind: PluginKind::Resolver,
            summary: "Offers the payload's `url` as the only candidate (benchmarks)".into(),
            capabilities: Capabilities::default(),
        }
    }
}

impl baton_sdk::Resolver for Noop {
    fn resolve(request: ResolveRequest) -> Result<Vec<Candidate>, Failure> {
        let payload: Payload = baton_sdk::json::parse("payload", &request.artifact.payload)?;
        Ok(payload
            .url
            .map(|url| Candidate {
                url,
                content_type: None,
                score: 1,
                headers: Vec::new(),
                note: None,
            })
            .into_iter()
            .collect())
    }
}

baton_sdk::export_resolver!(Noop);
