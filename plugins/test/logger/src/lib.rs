//! `logger`: a resolver that logs one line at every level (with fields), reports progress
//! 1/3, 2/3, 3/3 and answers with one candidate `https://example.org/logged`. The host's
//! tests check that each import call arrives in the job's log.
use baton_sdk::progress;
use baton_sdk::types::{Candidate, Capabilities, Description, Failure, PluginKind, ResolveRequest};

struct Logger;

impl baton_sdk::Metadata for Logger {
    fn describe() -> Description {
        Description {
            name: "logger".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            kind: PluginKind::Resolver,
            summary: "Test plugin that logs at every level and reports progress".into(),
            capabilities: Capabilities::default(),
        }
    }
}

impl baton_sdk::Resolver for Logger {
    fn resolve(request: ResolveRequest) -> Result<Vec<Candidate>, Failure> {
        let id = &request.artifact.id;
        baton_sdk::trace!("trace line", "level" => "trace", "id" => id);
        baton_sdk::debug!("debug line", "level" => "debug", "id" => id);
        baton_sdk::info!("info line", "level" => "info", "id" => id);
        baton_sdk::warn!("warn line", "level" => "warn", "id" => id);
        baton_sdk::error!("error line", "level" => "error", "id" => id);
        for step in 1..=3 {
            progress::report(step, Some(3), &format!("step {step} of 3"));
        }
        Ok(vec![Candidate {
            url: "https://example.org/logged".into(),
            content_type: None,
            score: 1,
            headers: Vec::new(),
            note: None,
        }])
    }
}

baton_sdk::export_resolver!(Logger);
