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

/// Shared body of the level macros.
#[doc(hidden)]
#[macro_export]
macro_rules! __log_at {
    ($level:ident, $message:expr $(, $key:literal => $value:expr)* $(,)?) => {
        $crate::log::emit(
            $crate::log::Level::$level,
            &$message,
            &[$(($key, &$value as &dyn ::core::fmt::Display)),*],
        )
    };
}

/// Logs at `trace` level: `trace!(message, "key" => value, ...)`.
#[macro_export]
macro_rules! trace {
    ($($arguments:tt)*) => {
        $crate::__log_at!(Trace, $($arguments)*)
    };
}

/// Logs at `debug` level: `debug!(message, "key" => value, ...)`.
#[macro_export]
macro_rules! debug {
    ($($arguments:tt)*) => {
        $crate::__log_at!(Debug, $($arguments)*)
    };
}

/// Logs at `info` level: `info!(message, "key" => value, ...)`.
#[macro_export]
macro_rules! info {
    ($($arguments:tt)*) => {
        $crate::__log_at!(Info, $($arguments)*)
    };
}

/// Logs at `warn` level: `warn!(message, "key" => value, ...)`.
#[macro_export]
macro_rules! warn {
    ($($arguments:tt)*) => {
        $crate::__log_at!(Warn, $($arguments)*)
    };
}

/// Logs at `error` level: `error!(message, "key" => value, ...)`.
#[macro_export]
macro_rules! error {
    ($($arguments:tt)*) => {
        $crate::__log_at!(Error, $($arguments)*)
    };
}
