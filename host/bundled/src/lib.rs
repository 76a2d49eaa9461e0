//! The plugins that ship with Baton: `build.rs` builds the `plugins/` workspace for
//! wasm32-wasip2 (adding the rustup target when it is missing), and this crate says where the
//! built components are and embeds the guest SDK that `baton plugin new` vendors. It depends
//! on nothing else of Baton's.

use std::path::{Path, PathBuf};

/// The directory holding the built first-party plugins (`<name>.wasm`, dashes as
/// underscores), inside this build's target directory.
pub const PLUGIN_DIR: &str = env!("BATON_PLUGIN_DIR");

/// The path of bundled plugin `name` (e.g. `json-schema`), if it is still where the build
/// put it (a binary copied elsewhere has no bundled plugins).
pub fn plugin(name: &str) -> Option<PathBuf> {
    let path = Path::new(PLUGIN_DIR).join(format!("{}.wasm", name.replace('-', "_")));
    path.is_file().then_some(path)
}

/// The guest SDK crate's files, the plugin workspace's manifest and lock file.
pub mod sdk {
    include!(concat!(env!("OUT_DIR"), "/sdk_files.rs"));
}
