//! Opening what a command needs from the settings: the store (`store::open`) and the plugin
//! runtime, with failures mapped to exit codes.

use crate::exit::{self, CliError, usage};
use baton_engine::settings::Settings;
use baton_runtime::Runtime;

/// The plugin runtime for these settings, with plugin state kept in the store.
pub fn runtime(settings: &Settings) -> Result<Runtime, CliError> {
    baton_engine::root::runtime(settings).map_err(|e| classify(settings, e))
}

/// The configured store (`store::open`); a store that cannot be used is a usage error when
/// the configuration names one this build cannot open.
pub fn store(settings: &Settings) -> Result<Box<dyn baton_core::store::Store>, CliError> {
    baton_engine::store::open(&settings.store).map_err(|e| classify(settings, e))
}

/// A store this build cannot open (a PostgreSQL URL) is a usage error; any other failure
/// to open it is a runtime error.
fn classify(settings: &Settings, error: anyhow::Error) -> CliError {
    if matches!(
        settings.store.location,
        baton_engine::settings::StoreLocation::Postgres(_)
    ) {
        usage(error)
    } else {
        exit::runtime(error)
    }
}
