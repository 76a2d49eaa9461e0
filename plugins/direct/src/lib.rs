//! `direct`: a resolver for artifacts that already are a download URL. The payload's `url`
//! field, else the artifact id, must be an absolute http(s) URL; it becomes the only
//! candidate, with the payload's `content-type` when one is given. Anything else is fatal:
//! no later try can turn it into a URL.
//!
//! Settings: none. Payload: `{"url": "https://...", "content-type": "application/pdf"}`
//! (both optional).
mod target;

use baton_sdk::types::{Candidate, Capabilities, Description, Failure, PluginKind, ResolveRequest};

const SCORE: u32 = 100;

struct Direct;

impl baton_sdk::Metadata for Direct {
    fn describe() -> Description {
        Description {
            name: "direct".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            kind: PluginKind::Resolver,
            summary: "Offers an artifact that is an http(s) URL as its only candidate".into(),
            capabilities: Capabilities::default(),
        }
    }
}

impl baton_sdk::Resolver for Direct {
    fn resolve(request: ResolveRequest) -> Result<Vec<Candidate>, Failure> {
        let target = target::Target::from_request(&request)?;
        baton_sdk::info!("resolved", "url" => target.url);
        Ok(vec![Candidate {
            url: target.url,
            content_type: target.content_type,
            score: SCORE,
            headers: Vec::new(),
            note: Some("direct".into()),
        }])
    }
}

baton_sdk::export_resolver!(Direct);
