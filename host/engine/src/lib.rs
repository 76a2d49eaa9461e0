//! Baton's engine: typed settings, the limiter, the downloader, the scheduler with its
//! worker seam and its workers (resolve-and-download, pipeline stages, agent prompts),
//! pipelines, and the
//! composition root that wires them to a store and the plugin runtime. It reports through
//! return values and events; it never prints (the CLI does).

pub mod agent;
pub mod agents;
pub mod attach;
pub mod audit;
pub mod cleanup;
pub mod compare;
pub mod dashboard;
pub mod environment;
pub mod fetch;
pub mod follow;
pub mod limiter;
pub mod logfile;
pub mod owner;
pub mod pipeline;
pub mod plugins;
pub mod queue;
pub mod recover;
pub mod root;
pub mod schedule;
pub mod scheduler;
pub mod settings;
pub mod store;

#[cfg(test)]
mod properties;
