//! What an operator grants a plugin (`[plugins.NAME.grants]` in `baton.toml`): HTTP targets,
//! preopened directories, programs for `exec`, environment variables and `state`. Default:
//! nothing. The runtime intersects these with what the plugin asks for (see `policy`).

use serde::{Deserialize, Serialize};

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
    /// Whether the plugin may write there (default `false`); it must also ask for write access.
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
