//! Typed plugin errors: every way loading or calling a plugin can go wrong, each naming the
//! plugin, the call and the reason. The host survives all of them.

use std::fmt;
use std::time::Duration;

/// What went wrong, without the plugin and call context (see [`PluginError`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// The file is missing, unreadable or not a WebAssembly component.
    InvalidComponent {
        /// Why: the read error, the missing `\0asm` header, or wasmtime's compile error.
        reason: String,
    },
    /// A sha256 pin in the config does not match the file.
    DigestMismatch {
        /// The sha256 the config pins, as lowercase hex.
        expected: String,
        /// The sha256 of the file, as lowercase hex.
        actual: String,
    },
    /// The component targets another Baton world than the one it is used as, or none.
    WrongWorld {
        /// What was wanted, e.g. `baton:plugin/resolver@0.1.0` or `a stage plugin`.
        expected: String,
        /// What the component is or exports, in words.
        found: String,
    },
    /// The component was built against a version of `baton:plugin` this host does not serve.
    WitVersion {
        /// The package the component was built against, e.g. `baton:plugin@0.2.0`.
        found: String,
        /// The packages this host serves, e.g. `baton:plugin@0.2.0 and baton:plugin@0.1.0`
        /// ([`WitVersion::SERVED`](crate::inspect::WitVersion::SERVED)).
        served: String,
    },
    /// The component imports something the host does not provide.
    Link {
        /// wasmtime's linking error, naming the import.
        reason: String,
    },
    /// `describe` asked for capabilities the operator did not grant.
    CapabilityRefused {
        /// One entry per ungranted ask, each with the config line that would grant it.
        missing: Vec<String>,
    },
    /// `describe` reported a kind that does not match the component's world.
    KindMismatch {
        /// The world the component's exports target: `resolver`, `stage` or `agent`.
        world: String,
        /// The `kind` its `describe` returned.
        described: String,
    },
    /// The guest trapped (a panic, `unreachable`, a stack overflow, ...).
    Trap {
        /// The trap (or the root error), then the guest's backtrace when wasmtime has one.
        message: String,
    },
    /// The guest used up its CPU deadline (epoch interruption).
    Deadline {
        /// The CPU deadline, [`Limits::timeout`](crate::plugin::Limits::timeout).
        limit: Duration,
    },
    /// The call, host I/O included, ran past its wall-clock bound.
    WallTimeout {
        /// The wall-clock bound, [`Limits::wall_timeout`](crate::plugin::Limits::wall_timeout).
        limit: Duration,
    },
    /// The guest tried to grow its memory past the cap.
    MemoryLimit {
        /// The cap on linear memory, in bytes ([`Limits::memory`](crate::plugin::Limits::memory)).
        limit: u64,
        /// The size the guest tried to grow a linear memory to, in bytes.
        requested: u64,
    },
    /// The guest wrote more than the cap to stdout or stderr.
    OutputLimit {
        /// `stdout` or `stderr`.
        stream: &'static str,
        /// The cap, in bytes ([`Limits::output_cap`](crate::plugin::Limits::output_cap)).
        limit: u64,
    },
    /// The host could not run the call (instance pool exhausted, I/O error, ...).
    Host {
        /// What failed on the host's side.
        reason: String,
    },
}

impl ErrorKind {
    /// A stable short code for JSON output and tests.
    pub fn code(&self) -> &'static str {
        match self {
            ErrorKind::InvalidComponent { .. } => "invalid-component",
            ErrorKind::DigestMismatch { .. } => "digest-mismatch",
            ErrorKind::WrongWorld { .. } => "wrong-world",
            ErrorKind::WitVersion { .. } => "wit-version",
            ErrorKind::Link { .. } => "link",
            ErrorKind::CapabilityRefused { .. } => "capability-refused",
            ErrorKind::KindMismatch { .. } => "kind-mismatch",
            ErrorKind::Trap { .. } => "trap",
            ErrorKind::Deadline { .. } => "deadline-exceeded",
            ErrorKind::WallTimeout { .. } => "wall-timeout",
            ErrorKind::MemoryLimit { .. } => "memory-limit",
            ErrorKind::OutputLimit { .. } => "output-limit",
            ErrorKind::Host { .. } => "host",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::InvalidComponent { reason } => write!(f, "not a valid component: {reason}"),
            ErrorKind::DigestMismatch { expected, actual } => write!(
                f,
                "sha256 mismatch: config pins {expected}, file is {actual}"
            ),
            ErrorKind::WrongWorld { expected, found } => write!(
                f,
                "wrong world: expected a component exporting {expected}, found {found}"
            ),
            ErrorKind::WitVersion { found, served } => write!(
                f,
                "built against {found}, but this host serves {served}; rebuild the plugin against one of them (the current one is baton:plugin@{})",
                crate::inspect::WIT_VERSION
            ),
            ErrorKind::Link { reason } => write!(f, "cannot link: {reason}"),
            ErrorKind::CapabilityRefused { missing } => write!(
                f,
                "asks for capabilities that are not granted: {}",
                missing.join("; ")
            ),
            ErrorKind::KindMismatch { world, described } => write!(
                f,
                "describe() says kind `{described}` but the component targets the `{world}` world"
            ),
            ErrorKind::Trap { message } => write!(f, "trapped: {message}"),
            ErrorKind::Deadline { limit } => write!(
                f,
                "deadline exceeded: ran longer than {}",
                humantime::format_duration(*limit)
            ),
            ErrorKind::WallTimeout { limit } => write!(
                f,
                "timed out: the call (host I/O included) took longer than {}",
                humantime::format_duration(*limit)
            ),
            ErrorKind::MemoryLimit { limit, requested } => write!(
                f,
                "memory limit: tried to grow linear memory to {requested} bytes, the cap is {limit} bytes"
            ),
            ErrorKind::OutputLimit { stream, limit } => {
                write!(f, "output limit: wrote more than {limit} bytes to {stream}")
            }
            ErrorKind::Host { reason } => write!(f, "host error: {reason}"),
        }
    }
}

/// A failed load or call of a plugin, with everything needed to tell the user what happened.
#[derive(Debug, Clone)]
pub struct PluginError {
    /// The plugin's configured name, or the file name for `plugin call FILE`.
    pub plugin: String,
    /// The operation: `load`, `describe`, `resolve`, `run`, `session.open`, `session.send`.
    pub call: &'static str,
    /// What went wrong.
    pub kind: ErrorKind,
    /// What the guest printed before it failed (capped), for traps and limits.
    pub stderr_tail: String,
}

impl PluginError {
    /// An error of `plugin`'s `call`, with no stderr tail (callers attach one after a run).
    pub fn new(plugin: impl Into<String>, call: &'static str, kind: ErrorKind) -> Self {
        PluginError {
            plugin: plugin.into(),
            call,
            kind,
            stderr_tail: String::new(),
        }
    }
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "plugin `{}` {}: {}", self.plugin, self.call, self.kind)?;
        if !self.stderr_tail.is_empty() {
            write!(
                f,
                "\n--- plugin stderr (last lines) ---\n{}",
                self.stderr_tail
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for PluginError {}
