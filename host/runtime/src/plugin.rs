//! A loaded plugin: its component, the world it targets, what it described, the policy it
//! runs under (the intersection of what it asked for and what the operator granted) and the
//! pre-linked instance every call starts from.

use super::bindings::{agent::AgentPre, resolver::ResolverPre, stage::StagePre, types};
use super::cache::CacheOutcome;
use super::exec::Program;
use super::grants::Grants;
use super::inspect::{ComponentInfo, World};
use super::policy::{Asks, HttpPolicy};
use super::preopen::Preopen;
use super::sandbox::Sandbox;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Resource bounds of one plugin's calls.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Limits {
    pub memory: u64,
    /// CPU deadline (epoch interruption).
    pub timeout: Duration,
    /// Wall-clock bound, host I/O included.
    pub wall_timeout: Duration,
    /// Cap on stdout and on stderr.
    pub output_cap: u64,
    pub http_response_cap: u64,
    pub exec_timeout: Duration,
    /// Opt-in: one instance serves up to this many calls (resolvers only).
    pub warm: Option<u32>,
}

/// Everything needed to load one plugin.
#[derive(Debug, Clone)]
pub struct PluginSpec {
    /// The configured name; `None` names the plugin after its file.
    pub name: Option<String>,
    pub path: PathBuf,
    pub sha256: Option<String>,
    pub expected: Option<World>,
    /// Handed to every call as JSON.
    pub settings: serde_json::Value,
    /// Host paths in `grants.files` must already be absolute or relative to the cwd.
    pub grants: Grants,
    pub limits: Limits,
}

impl PluginSpec {
    /// The name used in messages before `describe` has answered.
    pub fn display_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| {
            self.path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| self.path.display().to_string())
        })
    }
}

/// What the plugin said about itself.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Description {
    pub name: String,
    pub version: String,
    pub kind: World,
    pub summary: String,
    pub asks: Asks,
}

impl Description {
    pub fn from_guest(d: types::Description) -> Description {
        let kind = match d.kind {
            types::PluginKind::Resolver => World::Resolver,
            types::PluginKind::Stage => World::Stage,
            types::PluginKind::Agent => World::Agent,
        };
        let c = d.capabilities;
        Description {
            name: d.name,
            version: d.version,
            kind,
            summary: d.summary,
            asks: Asks {
                http: c.http,
                files: c.files.into_iter().map(|f| (f.path, f.writable)).collect(),
                exec: c.exec,
                env: c.env,
                state: c.state,
            },
        }
    }
}

/// What a call may use: what was asked for and granted, nothing more.
#[derive(Debug)]
pub struct SandboxPolicy {
    pub http: Arc<HttpPolicy>,
    /// Granted directories the plugin asked for.
    pub files: Vec<Preopen>,
    pub env: Vec<(String, String)>,
    pub programs: Arc<Vec<Program>>,
    pub state: bool,
}

/// The world-specific pre-linked instance.
#[derive(Clone)]
pub enum Pre {
    Resolver(ResolverPre<Sandbox>),
    Stage(StagePre<Sandbox>),
    Agent(AgentPre<Sandbox>),
}

/// A resolver instance kept for the warm policy.
pub struct WarmResolver {
    pub store: wasmtime::Store<Sandbox>,
    pub bindings: super::bindings::resolver::Resolver,
    pub calls: u32,
}

pub struct Plugin {
    pub name: String,
    pub path: PathBuf,
    pub digest: String,
    pub world: World,
    pub description: Description,
    pub info: ComponentInfo,
    pub cache: CacheOutcome,
    pub limits: Limits,
    pub settings: String,
    pub(crate) pre: Pre,
    pub(crate) policy: SandboxPolicy,
    pub(crate) warm: Mutex<Vec<WarmResolver>>,
}
