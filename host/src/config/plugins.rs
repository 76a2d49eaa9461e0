//! Plugin entries of `baton.toml`: where each plugin's component lives, its optional sha256
//! pin, its settings, its limits and the capabilities the operator grants it.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
    #[serde(default)]
    pub grants: Grants,
}

/// `[plugins.NAME.grants]`: what the operator allows. Default: nothing.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Grants {
    /// Outbound HTTP targets, `scheme://host:port` patterns (`*` wildcards).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http: Vec<String>,
    /// Directories to preopen.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileGrant>,
    /// Programs the `exec` import may run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exec: Vec<ExecGrant>,
    /// Environment variables: `NAME` (taken from Baton's environment) or `NAME=value`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    /// Whether the plugin may use its key-value `state`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub state: bool,
}

/// One preopened directory.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FileGrant {
    /// Host directory, relative to the project root.
    pub host: String,
    /// Absolute path the plugin sees, e.g. `/data`.
    pub guest: String,
    #[serde(default)]
    pub writable: bool,
}

/// One program the `exec` import may run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ExecGrant {
    /// The name the plugin uses, e.g. `claude`.
    pub program: String,
    /// Absolute path of the executable; default: `program` looked up on PATH at load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Patterns every argument must match one of (`*` matches any run of characters).
    /// Empty: no arguments allowed.
    #[serde(default)]
    pub args: Vec<String>,
    /// Upper bound on one run, e.g. `5m` (default: `defaults.exec-timeout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}
