//! `v0-1-resolver`: a resolver built against the frozen `baton:plugin@0.1.0` (`wit/0.1.0/`),
//! without the SDK (which follows the current version). It proves that the host keeps serving
//! 0.1.0 plugins beside 0.2.0 ones: it offers the payload's `url` as its only candidate, logs
//! through the 0.1.0 `log` import, and skips artifacts without a `url`.
wit_bindgen::generate!({
    path: "../../../wit/0.1.0",
    world: "baton:plugin/resolver@0.1.0",
    generate_all,
});

use baton::plugin::log::{emit, Level};
use baton::plugin::types::{
    Candidate, Capabilities, Description, Failure, Field, PluginKind, ResolveRequest,
};

struct V01Resolver;

impl exports::baton::plugin::metadata::Guest for V01Resolver {
    fn describe() -> Description {
        Description {
            name: "v0-1-resolver".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            kind: PluginKind::Resolver,
            summary: "Offers the payload's `url` (a baton:plugin@0.1.0 plugin)".into(),
            capabilities: Capabilities {
                http: Vec::new(),
                files: Vec::new(),
                exec: Vec::new(),
                env: Vec::new(),
                state: false,
            },
        }
    }
}

impl exports::baton::plugin::resolution::Guest for V01Resolver {
    fn resolve(request: ResolveRequest) -> Result<Vec<Candidate>, Failure> {
        let payload: serde_json::Value = serde_json::from_str(&request.artifact.payload)
            .map_err(|e| Failure::Fatal(format!("payload is not JSON: {e}")))?;
        let Some(url) = payload.get("url").and_then(|u| u.as_str()) else {
            return Err(Failure::Skip("the payload has no `url`".into()));
        };
        emit(
            Level::Info,
            "resolved",
            &[Field {
                key: "contract".into(),
                value: "baton:plugin@0.1.0".into(),
            }],
        );
        Ok(vec![Candidate {
            url: url.to_string(),
            content_type: None,
            score: 1,
            headers: Vec::new(),
            note: Some("baton:plugin@0.1.0".into()),
        }])
    }
}

export!(V01Resolver);
