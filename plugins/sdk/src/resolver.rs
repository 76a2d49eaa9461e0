//! The resolver world's own export, `baton:plugin/resolution`: implement [`Resolver`]
//! (and [`Metadata`](crate::Metadata)), then call [`export_resolver!`](crate::export_resolver).
wit_bindgen::generate!({
    inline: "
        package baton:sdk;
        world resolver { export baton:plugin/resolution@0.2.0; }
    ",
    path: "wit",
    with: { "baton:plugin/plugin-types@0.2.0": crate::types },
    pub_export_macro: true,
    default_bindings_module: "baton_sdk::resolver",
});

pub use self::exports::baton::plugin::resolution::Guest as Resolver;
