//! Plugin entries of `baton.toml`: where each plugin's component lives, its optional sha256
//! pin, its settings, its limits and the capabilities the operator grants it.

use baton_runtime::grants::Grants;
use baton_runtime::inspect::World;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

impl PluginEntry {
    /// The world its `kind` names (`None` when absent; validated at load).
    pub fn world(&self) -> Option<World> {
        self.kind.as_deref().and_then(World::parse)
    }

    /// `retry-on-panic`, default `false`.
    pub fn retries_panics(&self) -> bool {
        self.retry_on_panic.unwrap_or(false)
    }
}

/// `[plugins.NAME]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PluginEntry {
    /// Path of the `.wasm` component, relative to the project root.
    pub path: String,
    /// Refuse to load unless the file's sha256 (lowercase hex) matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// `resolver`, `stage` or `agent`: refuse a component of another world.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Handed to the plugin as JSON on every call.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub settings: BTreeMap<String, toml::Value>,
    /// Linear memory cap, e.g. `64MiB` (default: `defaults.memory`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// CPU deadline per call, e.g. `10s` (default: `defaults.timeout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Wall-clock bound per call including host I/O (default: `defaults.wall-timeout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wall_timeout: Option<String>,
    /// Cap on stdout and stderr each (default: `defaults.output-cap`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_cap: Option<String>,
    /// Opt-in warm policy: one instance serves up to this many calls (resolvers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm: Option<u32>,
    /// Whether a guest panic or uncaught exception (error code `guest-panic`) is retried
    /// like a transient failure, with backoff while attempts remain. Default `false`: a panic
    /// is a bug that another attempt usually repeats, so the job fails at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_on_panic: Option<bool>,
    #[serde(default)]
    /// What the operator grants it (default: nothing).
    pub grants: Grants,
}
