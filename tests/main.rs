//! Baton's end-to-end tests, as one test binary so the suite links once: the real `baton`
//! binary and the real plugins, against fixture servers on loopback (127.0.0.0/8), in
//! isolated project directories. Each module is one area; `common` holds the harness.

mod common;

mod agents;
mod cli;
mod compile_cache;
mod egress;
mod first_party;
mod jq_language;
mod json_schema_suite;
mod kill_campaign;
mod operations;
mod other_languages;
mod pipeline;
mod queue;
mod runtime_survives;
mod safety;
mod sandbox;
mod scaffold;
mod scale_out;
mod shared_limits;
mod templates_and_csv;
mod wit_versions;
