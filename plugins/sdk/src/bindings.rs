//! Bindings for everything the host offers a plugin: the `baton:plugin/host@0.2.0` world
//! (Baton's own imports and the WASI 0.2.12 interfaces it names), generated once from the
//! WIT copied into this crate's `wit/` directory. The export-side modules (`metadata`,
//! `resolver`, `stage`, `agent`) reuse these types through `with:`. The extra derives let
//! plugins build settings with `..Capabilities::default()` and compare results in tests.
wit_bindgen::generate!({
    world: "baton:plugin/host@0.2.0",
    path: "wit",
    generate_all,
    additional_type_attributes: {
        "baton:plugin/plugin-types@0.2.0/capabilities": [#[derive(Default)]],
        "baton:plugin/plugin-types@0.2.0/failure": [#[derive(PartialEq, Eq)]],
        "baton:plugin/plugin-types@0.2.0/retry": [#[derive(PartialEq, Eq)]],
        "baton:plugin/plugin-types@0.2.0/candidate": [#[derive(PartialEq, Eq)]],
        "baton:plugin/plugin-types@0.2.0/field": [#[derive(PartialEq, Eq)]],
        "baton:plugin/plugin-types@0.2.0/agent-failure": [#[derive(PartialEq, Eq)]],
        "baton:plugin/plugin-types@0.2.0/limit-hit": [#[derive(PartialEq, Eq)]],
    },
});
