//! `asks-too-much`: a resolver whose `describe` asks for one of every capability (HTTP,
//! env, exec, a writable directory, state), for the host's tests that an ungranted
//! request refuses the plugin at load. `resolve` returns no candidates.
use baton_sdk::types::{
    Candidate, Capabilities, Description, Failure, FileAccess, PluginKind, ResolveRequest,
};

struct AsksTooMuch;

impl baton_sdk::Metadata for AsksTooMuch {
    fn describe() -> Description {
        Description {
            name: "asks-too-much".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            kind: PluginKind::Resolver,
            summary: "Test plugin asking for every capability".into(),
            capabilities: Capabilities {
                http: vec!["https://api.example.org:443".into()],
                files: vec![FileAccess {
                    path: "/data".into(),
                    writable: true,
                }],
                exec: vec!["curl".into()],
                env: vec!["SECRET_TOKEN".into()],
                state: true,
            },
        }
    }
}

impl baton_sdk::Resolver for AsksTooMuch {
    fn resolve(_request: ResolveRequest) -> Result<Vec<Candidate>, Failure> {
        Ok(Vec::new())
    }
}

baton_sdk::export_resolver!(AsksTooMuch);
