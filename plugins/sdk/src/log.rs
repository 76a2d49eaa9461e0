//! Structured logging through the host's `log` import, into the job's log and the host's
//! tracing output. Use the macros, which take `"key" => value` fields whose values are
//! anything `Display`:
//!
//! ```ignore
//! baton_sdk::info!("resolved", "doi" => doi, "candidates" => list.len());
//! ```
use core::fmt::Display;

pub use crate::bindings::baton::plugin::log::Level;
use crate::types::Field;

/// Emits one log line; the macros below call this.
pub fn emit(level: Level, message: &str, fields: &[(&str, &dyn Display)]) {
    let fields: Vec<Field> = fields
        .iter()
        .map(|(key, value)| Field {
            key: (*key).to_string(),
            value: value.to_string(),
        })
        .collect();
    crate::bindings::baton::plugin::log::emit(level, message, &fields);
}

/// Logs at `trace` level: `trace!(message, "key" => value, ...)`.
#[macro_export]
macro_rules! trace {
    ($message:expr $(, $key:literal => $value:expr)* $(,)?) => {
        $crate::log::emit($crate::log::Level::Trace, &$message, &[$(($key, &$value as &dyn ::core::fmt::Display)),*])
    };
}

/// Logs at `debug` level: `debug!(message, "key" => value, ...)`.
#[macro_export]
macro_rules! debug {
    ($message:expr $(, $key:literal => $value:expr)* $(,)?) => {
        $crate::log::emit($crate::log::Level::Debug, &$message, &[$(($key, &$value as &dyn ::core::fmt::Display)),*])
    };
}

/// Logs at `info` level: `info!(message, "key" => value, ...)`.
#[macro_export]
macro_rules! info {
    ($message:expr $(, $key:literal => $value:expr)* $(,)?) => {
        $crate::log::emit($crate::log::Level::Info, &$message, &[$(($key, &$value as &dyn ::core::fmt::Display)),*])
    };
}

/// Logs at `warn` level: `warn!(message, "key" => value, ...)`.
#[macro_export]
macro_rules! warn {
    ($message:expr $(, $key:literal => $value:expr)* $(,)?) => {
        $crate::log::emit($crate::log::Level::Warn, &$message, &[$(($key, &$value as &dyn ::core::fmt::Display)),*])
    };
}

/// Logs at `error` level: `error!(message, "key" => value, ...)`.
#[macro_export]
macro_rules! error {
    ($message:expr $(, $key:literal => $value:expr)* $(,)?) => {
        $crate::log::emit($crate::log::Level::Error, &$message, &[$(($key, &$value as &dyn ::core::fmt::Display)),*])
    };
}
