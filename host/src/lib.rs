//! Baton: a durable orchestrator whose resolvers, stages and agent adapters are sandboxed
//! WebAssembly components. This crate is the `baton` binary's library: configuration, the
//! plugin runtime and the command line.

pub mod cli;
pub mod config;
pub mod fetch;
pub mod ledger;
pub mod limiter;
pub mod pipeline;
pub mod queue;
pub mod runtime;
pub mod scaffold;
pub mod scheduler;
pub mod store;
