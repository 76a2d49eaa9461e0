//! Host-side bindings generated from `wit/`: the imports every plugin sees (world `host`) and
//! one module per plugin world, sharing the import types through `with`.

/// The imports (`log`, `progress`, `state`, `exec`) and shared types. Generated code: its
/// items are documented in `wit/baton.wit`.
#[allow(missing_docs)]
pub mod host {
    wasmtime::component::bindgen!({
        path: "../../wit",
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

macro_rules! plugin_world {
    ($module:ident, $world:literal) => {
        /// The bindings of one plugin world (generated; documented in `wit/baton.wit`).
        #[allow(missing_docs)]
        pub mod $module {
            wasmtime::component::bindgen!({
                path: "../../wit",
                world: $world,
                imports: { default: async },
                exports: { default: async },
                with: {
                    "baton:plugin/types": super::host::baton::plugin::types,
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

plugin_world!(resolver, "baton:plugin/resolver");
plugin_world!(stage, "baton:plugin/stage");
plugin_world!(agent, "baton:plugin/agent");

pub use host::baton::plugin::types;
