//! Where the plugins that ship with Baton are: `target/plugins/wasm32-wasip2/release/`,
//! named to this crate by `.cargo/config.toml` and built by `baton-plugins-build` (which only
//! the binary depends on, so the engine does not rebuild when a plugin changes). It depends
//! on nothing else of Baton's.

use std::path::{Path, PathBuf};

/// The directory holding the built first-party plugins (`<name>.wasm`, dashes as
/// underscores), inside this checkout's target directory.
pub const PLUGIN_DIR: &str = env!("BATON_PLUGIN_DIR");

/// The path of bundled plugin `name` (e.g. `json-schema`), if it is still where the build
/// put it (a binary copied elsewhere has no bundled plugins).
pub fn plugin(name: &str) -> Option<PathBuf> {
    let path = Path::new(PLUGIN_DIR).join(format!("{}.wasm", name.replace('-', "_")));
    path.is_file().then_some(path)
}
