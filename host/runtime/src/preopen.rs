//! The one shape of a directory made visible to a plugin call: a granted directory from the
//! sandbox policy, or a stage's staged inputs and output directory.

use std::path::PathBuf;

/// A host directory preopened at a guest path for one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preopen {
    /// The host directory (absolute, or relative to the current directory).
    pub host: PathBuf,
    /// The absolute path the plugin sees, e.g. `/inputs`.
    pub guest: String,
    /// Whether the plugin may write to it.
    pub writable: bool,
}
