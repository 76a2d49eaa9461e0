//! `stateful`: a resolver that counts its calls in the host's state store (key `calls`,
//! the count as decimal text) and answers with one candidate `counter://N`. It proves that
//! the state capability works, and that it is refused when not granted. The candidate's note
//! counts the calls this instance has served (`instance call N`), which shows whether the
//! host gave the call a fresh instance or a warm one.
use baton_sdk::types::{Candidate, Capabilities, Description, Failure, PluginKind, ResolveRequest};
use baton_sdk::{fatal, state};

use std::sync::atomic::{AtomicU64, Ordering};

const KEY: &str = "calls";

/// Calls served by this instance; lives in linear memory, so a fresh instance starts at 0.
static INSTANCE_CALLS: AtomicU64 = AtomicU64::new(0);

struct Stateful;

impl baton_sdk::Metadata for Stateful {
    fn describe() -> Description {
        Description {
            name: "stateful".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            kind: PluginKind::Resolver,
            summary: "Test plugin counting its calls in the state store".into(),
            capabilities: Capabilities {
                state: true,
                ..Capabilities::default()
            },
        }
    }
}

impl baton_sdk::Resolver for Stateful {
    fn resolve(_request: ResolveRequest) -> Result<Vec<Candidate>, Failure> {
        let calls = match state::get(KEY) {
            None => 0,
            Some(bytes) => std::str::from_utf8(&bytes)
                .ok()
                .and_then(|text| text.parse::<u64>().ok())
                .ok_or_else(|| fatal(format!("state key {KEY:?} does not hold a count")))?,
        } + 1;
        let instance_calls = INSTANCE_CALLS.fetch_add(1, Ordering::Relaxed) + 1;
        state::set(KEY, calls.to_string().as_bytes())
            .map_err(|error| fatal(format!("state set {KEY:?}: {error}")))?;
        Ok(vec![Candidate {
            url: format!("counter://{calls}"),
            content_type: None,
            score: 1,
            headers: Vec::new(),
            note: Some(format!("instance call {instance_calls}")),
        }])
    }
}

baton_sdk::export_resolver!(Stateful);
