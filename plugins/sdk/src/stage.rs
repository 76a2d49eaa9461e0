//! The stage world's own export, `baton:plugin/stage-runner`: implement [`Stage`]
//! (and [`Metadata`](crate::Metadata)), then call [`export_stage!`](crate::export_stage).
wit_bindgen::generate!({
    inline: "
        package baton:sdk;
        world stage { export baton:plugin/stage-runner@0.2.0; }
    ",
    path: "wit",
    with: { "baton:plugin/plugin-types@0.2.0": crate::types },
    pub_export_macro: true,
    default_bindings_module: "baton_sdk::stage",
});

pub use self::exports::baton::plugin::stage_runner::Guest as Stage;
