//! A loaded plugin: its component, the world it targets, what it described, the policy it
//! runs under (the intersection of what it asked for and what the operator granted) and the
//! pre-linked instance every call starts from.

use super::bindings::types;
use super::cache::CacheOutcome;
use super::exec::Program;
use super::grants::Grants;
use super::inspect::{ComponentInfo, WitVersion, World};
use super::policy::{Asks, HttpPolicy};
use super::preopen::Preopen;
use super::sandbox::Sandbox;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Resource bounds of one plugin's calls.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Limits {
    /// Cap on each linear memory, in bytes (default: `defaults.memory`, 256 MiB).
    pub memory: u64,
    /// CPU deadline (epoch interruption).
    pub timeout: Duration,
    /// Wall-clock bound, host I/O included.
    pub wall_timeout: Duration,
    /// Cap on stdout and on stderr.
    pub output_cap: u64,
    /// Cap on one HTTP response body, in bytes (`defaults.http-response-cap`, default 64 MiB).
    pub http_response_cap: u64,
    /// Bound on one `exec` run for grants without a `timeout` (`defaults.exec-timeout`,
    /// default 60 s).
    pub exec_timeout: Duration,
    /// Opt-in: one instance serves up to this many calls (resolvers only).
    pub warm: Option<u32>,
}

/// Everything needed to load one plugin.
#[derive(Debug, Clone)]
pub struct PluginSpec {
    /// The configured name; `None` names the plugin after its file.
    pub name: Option<String>,
    /// The component file (`.wasm`).
    pub path: PathBuf,
    /// A sha256 pin (hex, any case); loading fails with `DigestMismatch` if the file differs.
    pub sha256: Option<String>,
    /// The world the caller needs; `None` accepts any Baton world.
    pub expected: Option<World>,
    /// Handed to every call as JSON.
    pub settings: serde_json::Value,
    /// Host paths in `grants.files` must already be absolute or relative to the cwd.
    pub grants: Grants,
    /// Bounds of every call of this plugin.
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
    /// Short machine name, e.g. `unpaywall`.
    pub name: String,
    /// The plugin's own version (semver).
    pub version: String,
    /// The world the plugin says it targets; loading checks it against the exports.
    pub kind: World,
    /// One line for `baton plugin list`.
    pub summary: String,
    /// The capabilities the plugin asks for.
    pub asks: Asks,
}

impl Description {
    /// Converts the WIT `description` a guest's `describe` returned.
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
    /// The HTTP lock: a request must match a granted pattern and an asked one.
    pub http: Arc<HttpPolicy>,
    /// Granted directories the plugin asked for.
    pub files: Vec<Preopen>,
    /// Environment variables asked for and granted, as (name, value); a grant without `=value`
    /// takes Baton's own value (empty if unset).
    pub env: Vec<(String, String)>,
    /// Programs asked for (by name or `*`) and granted, resolved to executables.
    pub programs: Arc<Vec<Program>>,
    /// Whether calls may use the `state` import (asked for and granted).
    pub state: bool,
}

pub use super::versions::Pre;

/// A resolver instance kept for the warm policy.
pub struct WarmResolver {
    /// The store the instance lives in, with its sandbox.
    pub store: wasmtime::Store<Sandbox>,
    /// The instantiated resolver's exports.
    pub bindings: super::versions::Resolver,
    /// Calls served so far; the instance is dropped once this reaches [`Limits::warm`].
    pub calls: u32,
}

/// A loaded plugin, ready to call; made by [`Runtime::load`](crate::Runtime::load).
pub struct Plugin {
    /// The configured name, or else the name `describe` gave.
    pub name: String,
    /// The component file it was loaded from.
    pub path: PathBuf,
    /// sha256 of the file, as lowercase hex.
    pub digest: String,
    /// The world it targets (its exports and `describe` agree).
    pub world: World,
    /// The version of `baton:plugin` it was built against.
    pub wit_version: WitVersion,
    /// What it said about itself in `describe`.
    pub description: Description,
    /// Its import and export names.
    pub info: ComponentInfo,
    /// Whether loading found it in the compile cache or compiled it.
    pub cache: CacheOutcome,
    /// Bounds of every call.
    pub limits: Limits,
    /// The operator's settings as JSON text, handed to every call as WIT `settings`.
    pub settings: String,
    pub(crate) pre: Pre,
    pub(crate) policy: SandboxPolicy,
    pub(crate) warm: Mutex<Vec<WarmResolver>>,
}
