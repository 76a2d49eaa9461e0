//! The `baton:plugin/metadata` export that every plugin kind shares: the [`Metadata`] trait
//! with `describe`.
//!
//! wit-bindgen names an interface's export macro after the interface alone, so generating
//! the `resolver`, `stage` and `agent` worlds in one crate would define the macro for
//! `metadata` three times. Each export interface is therefore generated once, from a small
//! inline world, and the `export_*!` macros of this crate combine them per plugin kind.
wit_bindgen::generate!({
    inline: "
        package baton:sdk;
        world metadata { export baton:plugin/metadata@0.2.0; }
    ",
    path: "wit",
    with: { "baton:plugin/plugin-types@0.2.0": crate::types },
    pub_export_macro: true,
    default_bindings_module: "baton_sdk::metadata",
});

pub use self::exports::baton::plugin::metadata::Guest as Metadata;
