//! `arxiv`: a resolver that maps an arXiv id to its PDF on arXiv (`{base-url}/pdf/{id}`)
//! without calling any API. The id is the payload's `arxiv` field, else the artifact id,
//! written bare (`2101.00001v2`, `hep-th/9901001`), with an `arXiv:` prefix or as an
//! arxiv.org `abs/` or `pdf/` URL; anything else is skipped.
//!
//! Settings: `{"base-url": "https://arxiv.org"}` (optional; e.g. a mirror).
mod id;
mod query;

use baton_sdk::types::{Candidate, Capabilities, Description, Failure, PluginKind, ResolveRequest};

const PDF: &str = "application/pdf";
const SCORE: u32 = 100;

struct Arxiv;

impl baton_sdk::Metadata for Arxiv {
    fn describe() -> Description {
        Description {
            name: "arxiv".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            kind: PluginKind::Resolver,
            summary: "arXiv ids to their PDFs on arXiv, without an API call".into(),
            capabilities: Capabilities::default(),
        }
    }
}

impl baton_sdk::Resolver for Arxiv {
    fn resolve(request: ResolveRequest) -> Result<Vec<Candidate>, Failure> {
        let query = query::Query::from_request(&request)?;
        baton_sdk::info!("resolved", "arxiv" => query.id);
        Ok(vec![Candidate {
            url: query.url(),
            content_type: Some(PDF.into()),
            score: SCORE,
            headers: Vec::new(),
            note: Some("arxiv id".into()),
        }])
    }
}

baton_sdk::export_resolver!(Arxiv);
