//! Opening what a command needs from the settings: the store (`store::open`) and the plugin
//! runtime, with failures mapped to exit codes.

use crate::exit::{self, CliError};
use baton_engine::settings::Settings;
use baton_runtime::Runtime;

/// The plugin runtime for these settings, with plugin state kept in the store.
pub fn runtime(settings: &Settings) -> Result<Runtime, CliError> {
    baton_engine::root::runtime(settings).map_err(exit::runtime)
}

/// The configured store (`store::open`); a store that cannot be opened (damaged, a server
/// that does not answer) is a runtime error, exit 30.
pub fn store(settings: &Settings) -> Result<Box<dyn baton_core::store::Store>, CliError> {
    baton_engine::store::open(&settings.store).map_err(exit::runtime)
}
