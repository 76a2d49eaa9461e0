//! Baton's leaf layer: the job model every other layer shares (states, kinds, jobs, claims,
//! outcomes), the clock and digest helpers, ledger events and the ledger file, and the store
//! traits a store (SQLite now, PostgreSQL next) implements and the conformance suite tests.
//! It knows nothing of wasmtime, SQL, the CLI or the settings file.

pub mod clock;
pub mod conformance;
pub mod digest;
pub mod digest_cache;
pub mod event;
pub mod ledger;
pub mod model;
pub mod store;
pub mod units;
