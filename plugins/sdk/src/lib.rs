//! Guest SDK for Baton plugins: WebAssembly components built for `wasm32-wasip2` against
//! the `baton:plugin@0.2.0` WIT contract (carried in this crate's `wit/` directory).
//!
//! A plugin is a `cdylib` crate. It implements [`Metadata`] plus the trait of its kind
//! ([`Resolver`], [`Stage`] or [`Agent`] with [`agent::GuestSession`]) on a unit struct
//! and exports it with [`export_resolver!`], [`export_stage!`] or [`export_agent!`]:
//!
//! ```ignore
//! use baton_sdk::types::{Candidate, Capabilities, Description, Failure, PluginKind, ResolveRequest};
//!
//! struct Echo;
//!
//! impl baton_sdk::Metadata for Echo {
//!     fn describe() -> Description {
//!         Description {
//!             name: "echo".into(),
//!             version: env!("CARGO_PKG_VERSION").into(),
//!             kind: PluginKind::Resolver,
//!             summary: "Offers the artifact id as its URL".into(),
//!             capabilities: Capabilities::default(),
//!         }
//!     }
//! }
//!
//! impl baton_sdk::Resolver for Echo {
//!     fn resolve(request: ResolveRequest) -> Result<Vec<Candidate>, Failure> {
//!         baton_sdk::info!("resolving", "id" => request.artifact.id);
//!         Ok(vec![Candidate { url: request.artifact.id, content_type: None, score: 1, headers: vec![], note: None }])
//!     }
//! }
//!
//! baton_sdk::export_resolver!(Echo);
//! ```
//!
//! Build with `cargo build --release --target wasm32-wasip2`: rustc links the `cdylib`
//! straight into a component.
//!
//! Modules: [`types`] (the WIT records), [`http`] (client over wasi:http), [`json`]
//! (reading settings, params and payloads), [`failure`] (building `failure` values),
//! [`log`] (with the `trace!` .. `error!` macros), the raw imports [`progress`],
//! [`state`] and [`exec`], and [`wasi`] for the WASI 0.2 interfaces the host offers.
//!
//! For resolvers: [`api`] (asking a JSON web API, with its statuses mapped to `failure`)
//! and [`doi`] (DOIs from an artifact). For stages: [`input`] (reading JSON and JSON Lines
//! inputs) and [`params`] (params that name inputs or the output).
mod bindings;

pub mod agent;
pub mod api;
pub mod candidates;
pub mod doi;
pub mod failure;
pub mod http;
pub mod input;
pub mod json;
pub mod log;
pub mod metadata;
pub mod params;
pub mod resolver;
pub mod stage;

pub use agent::Agent;
pub use bindings::baton::plugin::{exec, plugin_types as types, progress, state};
pub use bindings::wasi;
pub use failure::{fatal, retry, retry_after, skip};
pub use metadata::Metadata;
pub use resolver::Resolver;
pub use stage::Stage;

/// Exports a type implementing [`Metadata`] and [`Resolver`] as a resolver component.
#[macro_export]
macro_rules! export_resolver {
    ($plugin:ident) => {
        $crate::metadata::export!($plugin with_types_in $crate::metadata);
        $crate::resolver::export!($plugin with_types_in $crate::resolver);
    };
}

/// Exports a type implementing [`Metadata`] and [`Stage`] as a stage component.
#[macro_export]
macro_rules! export_stage {
    ($plugin:ident) => {
        $crate::metadata::export!($plugin with_types_in $crate::metadata);
        $crate::stage::export!($plugin with_types_in $crate::stage);
    };
}

/// Exports a type implementing [`Metadata`] and [`Agent`] as an agent component.
#[macro_export]
macro_rules! export_agent {
    ($plugin:ident) => {
        $crate::metadata::export!($plugin with_types_in $crate::metadata);
        $crate::agent::export!($plugin with_types_in $crate::agent);
    };
}
