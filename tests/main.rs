//! Baton's end-to-end tests, as one test binary so the suite links once: the real `baton`
//! binary and the real plugins, against fixture servers on loopback (127.0.0.0/8), in
//! isolated project directories. Each module is one area; `common` holds the harness.

mod common;

mod agent_adapters;
mod agents;
mod cli;
mod compile_cache;
mod double;
mod egress;
mod first_party;
mod guest_errors;
mod jq_language;
mod json_schema_suite;
mod kill_campaign;
mod logs;
mod operations;
mod ops_dashboard;
mod ops_recover;
mod ops_serve;
mod other_languages;
mod pipeline;
mod plugin_conformance;
mod plugin_rebuild;
mod prompt_limits;
mod prompt_sessions;
mod publish;
mod queue;
mod runtime_survives;
mod safety;
mod sandbox;
mod scaffold;
mod scale_out;
mod shared_limits;
mod starters;
mod templates_and_csv;
mod wit_versions;
