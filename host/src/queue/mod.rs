//! The work queue: the job model, JSON Lines import, and the resolve-then-download work a
//! worker does for each job.

pub mod import;
pub mod model;
pub mod setup;
pub mod work;
