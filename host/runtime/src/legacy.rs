//! `baton:plugin@0.1.0` served by the current host: its imports (`log`, `progress`, `state`,
//! `exec`) delegate to the 0.2.0 implementations on [`Sandbox`], and its records convert to
//! and from the version-neutral [`types`] (the 0.2.0 records). The two versions differ only in
//! the name of the shared interface (`types` → `plugin-types`) and in agent sessions: 0.1.0
//! fails them with the generic `failure`, mapped here as retry → `overloaded`, skip and fatal
//! → `fatal`; its reply has no `model` or `finish-reason`.

use super::bindings::host::baton::plugin as current;
use super::bindings::types;
use super::bindings::v0_1::host::baton::plugin as old;
use super::sandbox::Sandbox;

impl old::types::Host for Sandbox {}

impl old::log::Host for Sandbox {
    async fn emit(
        &mut self,
        level: old::log::Level,
        message: String,
        fields: Vec<old::types::Field>,
    ) {
        let level = match level {
            old::log::Level::Trace => current::log::Level::Trace,
            old::log::Level::Debug => current::log::Level::Debug,
            old::log::Level::Info => current::log::Level::Info,
            old::log::Level::Warn => current::log::Level::Warn,
            old::log::Level::Error => current::log::Level::Error,
        };
        let fields = fields.into_iter().map(types::Field::from).collect();
        current::log::Host::emit(self, level, message, fields).await
    }
}

impl old::progress::Host for Sandbox {
    async fn report(&mut self, done: u64, total: Option<u64>, message: String) {
        current::progress::Host::report(self, done, total, message).await
    }
}

impl old::state::Host for Sandbox {
    async fn get(&mut self, key: String) -> wasmtime::Result<Option<Vec<u8>>> {
        current::state::Host::get(self, key).await
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<Result<(), String>> {
        current::state::Host::set(self, key, value).await
    }

    async fn remove(&mut self, key: String) -> wasmtime::Result<()> {
        current::state::Host::remove(self, key).await
    }

    async fn keys(&mut self, prefix: String) -> wasmtime::Result<Vec<String>> {
        current::state::Host::keys(self, prefix).await
    }
}

impl old::exec::Host for Sandbox {
    async fn run(&mut self, command: old::exec::Command) -> Result<old::exec::Output, String> {
        let command = current::exec::Command {
            program: command.program,
            args: command.args,
            stdin: command.stdin,
            timeout_ms: command.timeout_ms,
        };
        current::exec::Host::run(self, command)
            .await
            .map(|out| old::exec::Output {
                status: out.status,
                stdout: out.stdout,
                stderr: out.stderr,
                timed_out: out.timed_out,
            })
    }
}

impl From<old::types::Field> for types::Field {
    fn from(f: old::types::Field) -> types::Field {
        types::Field {
            key: f.key,
            value: f.value,
        }
    }
}

impl From<&types::ResolveRequest> for old::types::ResolveRequest {
    fn from(r: &types::ResolveRequest) -> old::types::ResolveRequest {
        old::types::ResolveRequest {
            artifact: old::types::Artifact {
                id: r.artifact.id.clone(),
                payload: r.artifact.payload.clone(),
            },
            settings: r.settings.clone(),
            attempt: r.attempt,
        }
    }
}

impl From<&types::StageContext> for old::types::StageContext {
    fn from(c: &types::StageContext) -> old::types::StageContext {
        old::types::StageContext {
            run_id: c.run_id.clone(),
            stage_id: c.stage_id.clone(),
            params: c.params.clone(),
            settings: c.settings.clone(),
            inputs: c
                .inputs
                .iter()
                .map(|i| old::types::StageInput {
                    name: i.name.clone(),
                    path: i.path.clone(),
                    digest: i.digest.clone(),
                })
                .collect(),
            output_dir: c.output_dir.clone(),
            attempt: c.attempt,
        }
    }
}

impl From<&types::SessionConfig> for old::types::SessionConfig {
    fn from(c: &types::SessionConfig) -> old::types::SessionConfig {
        old::types::SessionConfig {
            settings: c.settings.clone(),
            model: c.model.clone(),
        }
    }
}

impl From<&types::AgentRequest> for old::types::AgentRequest {
    fn from(r: &types::AgentRequest) -> old::types::AgentRequest {
        old::types::AgentRequest {
            prompt: r.prompt.clone(),
            options: r.options.clone(),
        }
    }
}

impl From<old::types::Candidate> for types::Candidate {
    fn from(c: old::types::Candidate) -> types::Candidate {
        types::Candidate {
            url: c.url,
            content_type: c.content_type,
            score: c.score,
            headers: c.headers.into_iter().map(types::Field::from).collect(),
            note: c.note,
        }
    }
}

impl From<old::types::Retry> for types::Retry {
    fn from(r: old::types::Retry) -> types::Retry {
        types::Retry {
            reason: r.reason,
            after_ms: r.after_ms,
        }
    }
}

impl From<old::types::Failure> for types::Failure {
    fn from(f: old::types::Failure) -> types::Failure {
        match f {
            old::types::Failure::Retry(retry) => types::Failure::Retry(retry.into()),
            old::types::Failure::Skip(reason) => types::Failure::Skip(reason),
            old::types::Failure::Fatal(reason) => types::Failure::Fatal(reason),
        }
    }
}

/// 0.1.0 agents fail with the generic `failure`: a retry is the provider being `overloaded`
/// (its `after-ms` kept), skip and fatal end the prompt as `fatal`.
impl From<old::types::Failure> for types::AgentFailure {
    fn from(f: old::types::Failure) -> types::AgentFailure {
        match f {
            old::types::Failure::Retry(retry) => types::AgentFailure::Overloaded(retry.into()),
            old::types::Failure::Skip(reason) | old::types::Failure::Fatal(reason) => {
                types::AgentFailure::Fatal(reason)
            }
        }
    }
}

impl From<old::types::StageOutcome> for types::StageOutcome {
    fn from(o: old::types::StageOutcome) -> types::StageOutcome {
        types::StageOutcome {
            summary: o.summary,
            outputs: o.outputs,
        }
    }
}

/// A 0.1.0 reply has no `model` or `finish-reason`: both are `none`.
impl From<old::types::AgentReply> for types::AgentReply {
    fn from(r: old::types::AgentReply) -> types::AgentReply {
        types::AgentReply {
            text: r.text,
            usage: r.usage.map(|u| types::Usage {
                input_tokens: u.input_tokens,
                output_tokens: u.output_tokens,
            }),
            model: None,
            finish_reason: None,
            data: r.data,
        }
    }
}

impl From<old::types::Description> for types::Description {
    fn from(d: old::types::Description) -> types::Description {
        let c = d.capabilities;
        types::Description {
            name: d.name,
            version: d.version,
            kind: match d.kind {
                old::types::PluginKind::Resolver => types::PluginKind::Resolver,
                old::types::PluginKind::Stage => types::PluginKind::Stage,
                old::types::PluginKind::Agent => types::PluginKind::Agent,
            },
            summary: d.summary,
            capabilities: types::Capabilities {
                http: c.http,
                files: c
                    .files
                    .into_iter()
                    .map(|f| types::FileAccess {
                        path: f.path,
                        writable: f.writable,
                    })
                    .collect(),
                exec: c.exec,
                env: c.env,
                state: c.state,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_agent_failures_map_onto_agent_failure() {
        let retry = old::types::Failure::Retry(old::types::Retry {
            reason: "busy".into(),
            after_ms: Some(1500),
        });
        match types::AgentFailure::from(retry) {
            types::AgentFailure::Overloaded(r) => {
                assert_eq!((r.reason.as_str(), r.after_ms), ("busy", Some(1500)))
            }
            other => panic!("retry became {other:?}"),
        }
        for failure in [
            old::types::Failure::Skip("nothing".into()),
            old::types::Failure::Fatal("nothing".into()),
        ] {
            assert!(matches!(
                types::AgentFailure::from(failure),
                types::AgentFailure::Fatal(reason) if reason == "nothing"
            ));
        }
    }
}
