//! Building this crate builds Baton's plugins: its build script compiles the `plugins/`
//! workspace for wasm32-wasip2 into `target/plugins/` (adding the rustup target when it is
//! missing). Only the binary depends on it, so a change to a plugin rebuilds the plugins and
//! relinks `baton`, not the engine. It also embeds the guest SDK that `baton plugin new`
//! vendors.

/// The guest SDK crate's files, the plugin workspace's manifest and lock file.
pub mod sdk {
    include!(concat!(env!("OUT_DIR"), "/sdk_files.rs"));
}
