//! Opening what a command needs from the settings: the store (`store::open`) and the plugin
//! runtime, with failures mapped to exit codes.

use crate::exit::{self, CliError, usage};
use baton_engine::settings::Settings;
use baton_runtime::Runtime;

/// The plugin runtime for these settings, with plugin state kept in the store.
pub fn runtime(settings: &Settings) -> Result<Runtime, CliError> {
    let store = store(settings)?;
    baton_engine::root::runtime(settings, store.as_ref()).map_err(exit::runtime)
}

/// The configured store (`store::open`); a store that cannot be used is a usage error when
/// the configuration names one this build cannot open.
pub fn store(settings: &Settings) -> Result<Box<dyn baton_core::store::Store>, CliError> {
    baton_engine::store::open(&settings.store).map_err(|e| {
        if matches!(
            settings.store.location,
            baton_engine::settings::StoreLocation::Postgres(_)
        ) {
            usage(e)
        } else {
            exit::runtime(e)
        }
    })
}
