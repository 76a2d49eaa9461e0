//! Pipelines: stage graphs in `pipelines/*.toml`, validated with every error at once, planned
//! (order, waves, filters, cache) and run as sandboxed stage jobs.

pub mod assist;
pub mod cache;
mod command;
pub mod events;
mod exchange;
pub mod exec;
pub mod glob;
pub mod graph;
pub mod inputs;
pub mod model;
pub mod outdir;
pub mod plan;
pub mod realpath;
pub mod run;
