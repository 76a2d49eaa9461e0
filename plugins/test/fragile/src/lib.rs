//! `fragile`: a resolver with the bugs a plugin author makes, for the host's tests of guest
//! errors and of `baton plugin test`:
//! - it parses the payload with `unwrap`, so a malformed payload panics (a trap, not a
//!   failure);
//! - a payload `{"panic": MESSAGE}` panics with MESSAGE, after logging one line and printing
//!   one line to stdout;
//! - it counts its calls in a static, and answers with the count, so a warm instance answers
//!   differently from a fresh one.
use baton_sdk::types::{Candidate, Capabilities, Description, Failure, PluginKind, ResolveRequest};
use std::sync::atomic::{AtomicU64, Ordering};

static CALLS: AtomicU64 = AtomicU64::new(0);

struct Fragile;

impl baton_sdk::Metadata for Fragile {
    fn describe() -> Description {
        Description {
            name: "fragile".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            kind: PluginKind::Resolver,
            summary: "Test plugin that panics on bad payloads and keeps state between calls".into(),
            capabilities: Capabilities::default(),
        }
    }
}

impl baton_sdk::Resolver for Fragile {
    fn resolve(request: ResolveRequest) -> Result<Vec<Candidate>, Failure> {
        let payload: serde_json::Value = serde_json::from_str(&request.artifact.payload).unwrap();
        if let Some(message) = payload.get("panic").and_then(|m| m.as_str()) {
            baton_sdk::info!("about to panic", "id" => &request.artifact.id);
            println!("fragile: stdout before the panic");
            panic!("{message}");
        }
        let calls = CALLS.fetch_add(1, Ordering::Relaxed) + 1;
        Ok(vec![Candidate {
            url: format!("https://example.org/call-{calls}"),
            content_type: None,
            score: 1,
            headers: Vec::new(),
            note: None,
        }])
    }
}

baton_sdk::export_resolver!(Fragile);
