//! The work queue: JSON Lines import, and the resolve-then-download worker with the set-up
//! that builds it from the settings.

pub mod doi;
pub mod import;
pub mod resolve;
pub mod setup;
