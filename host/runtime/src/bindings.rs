//! Host-side bindings generated from `wit/`, one set per served version of `baton:plugin`:
//! the current `0.2.0` (`wit/baton.wit`) at this module's root and the frozen `0.1.0`
//! (`wit/0.1.0/baton.wit`) in [`v0_1`]. Each set has the imports every plugin sees (world
//! `host`) and one module per plugin world, sharing the import types through `with`.
//!
//! The rest of the host sees one version-neutral API: [`types`] (the 0.2.0 records) and the
//! dispatch in [`crate::versions`]; the 0.1.0 imports delegate to the 0.2.0 ones
//! ([`crate::legacy`]).

/// Generates the `host` world and the three plugin worlds of one WIT version.
macro_rules! contract {
    ($wit:tt, $types:tt, $types_module:ident) => {
        /// The imports (`log`, `progress`, `state`, `exec`) and shared types. Generated code:
        /// its items are documented in the WIT file.
        #[allow(missing_docs)]
        pub mod host {
            wasmtime::component::bindgen!({
                path: $wit,
                world: "baton:plugin/host",
                // `state` traps when used without the capability.
                imports: { "baton:plugin/state": async | trappable, default: async },
                with: {
                    "wasi:http": wasmtime_wasi_http::p2::bindings::http,
                    "wasi:io": wasmtime_wasi::p2::bindings::io,
                    "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
                    "wasi:filesystem": wasmtime_wasi::p2::bindings::filesystem,
                    "wasi:random": wasmtime_wasi::p2::bindings::random,
                    "wasi:cli": wasmtime_wasi::p2::bindings::cli,
                },
            });
        }

        contract!(@world $wit, $types, $types_module, resolver, "baton:plugin/resolver");
        contract!(@world $wit, $types, $types_module, stage, "baton:plugin/stage");
        contract!(@world $wit, $types, $types_module, agent, "baton:plugin/agent");
    };
    (@world $wit:tt, $types:tt, $types_module:ident, $module:ident, $world:tt) => {
        /// The bindings of one plugin world (generated; documented in the WIT file).
        #[allow(missing_docs)]
        pub mod $module {
            wasmtime::component::bindgen!({
                path: $wit,
                world: $world,
                imports: { default: async },
                exports: { default: async },
                with: {
                    $types: super::host::baton::plugin::$types_module,
                    "baton:plugin/log": super::host::baton::plugin::log,
                    "baton:plugin/progress": super::host::baton::plugin::progress,
                    "baton:plugin/state": super::host::baton::plugin::state,
                    "baton:plugin/exec": super::host::baton::plugin::exec,
                    "wasi:http": wasmtime_wasi_http::p2::bindings::http,
                    "wasi:io": wasmtime_wasi::p2::bindings::io,
                    "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
                    "wasi:filesystem": wasmtime_wasi::p2::bindings::filesystem,
                    "wasi:random": wasmtime_wasi::p2::bindings::random,
                    "wasi:cli": wasmtime_wasi::p2::bindings::cli,
                },
            });
        }
    };
}

contract!("../../wit", "baton:plugin/plugin-types", plugin_types);

/// The frozen `baton:plugin@0.1.0` (`wit/0.1.0/`), served beside the current version.
pub mod v0_1 {
    contract!("../../wit/0.1.0", "baton:plugin/types", types);
}

/// The version-neutral types the rest of the host uses: the records of the current version
/// (`baton:plugin/plugin-types@0.2.0`). Calls into 0.1.0 plugins convert to and from them.
pub use host::baton::plugin::plugin_types as types;
