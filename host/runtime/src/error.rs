//! Typed plugin errors: every way loading or calling a plugin can go wrong, each naming the
//! plugin, the call and the reason. The host survives all of them.

use crate::sandbox::LogRecord;
use std::fmt;
use std::time::Duration;

/// Lines of guest stderr shown with an error (the job's log has all of it).
pub const STDERR_TAIL_LINES: usize = 40;

/// The code of [`ErrorKind::GuestPanic`]: a guest panic or uncaught exception.
pub const GUEST_PANIC: &str = "guest-panic";

/// The two digests of a pin that does not match, and the command that re-pins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinMismatch {
    /// The sha256 the config pins, as lowercase hex.
    pub expected: String,
    /// The sha256 of the file, as lowercase hex.
    pub actual: String,
    /// The command that re-pins the entry to the file, e.g. `baton plugin add
    /// plugins/x.wasm --update --name x`.
    pub repin: String,
}

/// What went wrong, without the plugin and call context (see [`PluginError`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// The file is missing, unreadable or not a WebAssembly component.
    InvalidComponent {
        /// Why: the read error, the missing `\0asm` header, or wasmtime's compile error.
        reason: String,
    },
    /// A sha256 pin in the config does not match the file.
    DigestMismatch(Box<PinMismatch>),
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
    /// The guest trapped (`unreachable`, a stack overflow, ...) without saying why on stderr.
    Trap {
        /// The trap (or the root error); the guest's backtrace is in
        /// [`PluginError::backtrace`].
        message: String,
    },
    /// The guest panicked or raised an uncaught exception: it printed its own error to
    /// stderr (a Rust panic message, Python's `ValueError: …`, JavaScript's `Error: …`) and
    /// then trapped. Retried only when the plugin's `retry-on-panic` is set.
    GuestPanic {
        /// The guest's own error, in one line (see [`crate::guest_error::extract`]).
        message: String,
        /// The trap that ended the call, e.g. `wasm trap: wasm unreachable instruction executed`.
        trap: String,
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
            ErrorKind::DigestMismatch(_) => "digest-mismatch",
            ErrorKind::WrongWorld { .. } => "wrong-world",
            ErrorKind::WitVersion { .. } => "wit-version",
            ErrorKind::Link { .. } => "link",
            ErrorKind::CapabilityRefused { .. } => "capability-refused",
            ErrorKind::KindMismatch { .. } => "kind-mismatch",
            ErrorKind::Trap { .. } => "trap",
            ErrorKind::GuestPanic { .. } => GUEST_PANIC,
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
            ErrorKind::DigestMismatch(pin) => write!(
                f,
                "sha256 mismatch: baton.toml pins {} but the file is {}; if you rebuilt it on purpose, re-pin it with `{}`",
                pin.expected, pin.actual, pin.repin
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
            ErrorKind::GuestPanic { message, trap } => {
                write!(f, "guest panic: {message} ({trap})")
            }
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
    /// What the failed call left behind, for the job's log (empty for load errors).
    pub guest: Box<GuestOutput>,
}

/// What a failed call left behind: its backtrace, logs and output up to the failure.
#[derive(Debug, Clone, Default)]
pub struct GuestOutput {
    /// The guest's wasm backtrace when it trapped (empty otherwise): for the job's log,
    /// never the one-line message.
    pub backtrace: String,
    /// What the guest emitted through `log` before it failed, at most 1000 records.
    pub logs: Vec<LogRecord>,
    /// Everything the guest wrote to stdout before it failed (lossy UTF-8, capped).
    pub stdout: String,
    /// Everything the guest wrote to stderr before it failed (lossy UTF-8, capped).
    pub stderr: String,
}

impl PluginError {
    /// An error of `plugin`'s `call`, with no stderr tail (callers attach one after a run).
    pub fn new(plugin: impl Into<String>, call: &'static str, kind: ErrorKind) -> Self {
        PluginError {
            plugin: plugin.into(),
            call,
            kind,
            guest: Box::default(),
        }
    }

    /// The last [`STDERR_TAIL_LINES`] lines the guest wrote to stderr before it failed.
    pub fn stderr_tail(&self) -> String {
        let lines: Vec<&str> = self.guest.stderr.lines().collect();
        lines[lines.len().saturating_sub(STDERR_TAIL_LINES)..].join("\n")
    }

    /// The error in one line, without the guest's stderr: `plugin `x` resolve: guest panic:
    /// ValueError: … (wasm trap: …)`. For job and stage failures; the rest goes to the log.
    pub fn summary(&self) -> String {
        format!("plugin `{}` {}: {}", self.plugin, self.call, self.kind)
    }
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.summary())?;
        let tail = self.stderr_tail();
        if !tail.is_empty() {
            write!(f, "\n--- plugin stderr (last lines) ---\n{}", tail)?;
        }
        Ok(())
    }
}

impl std::error::Error for PluginError {}
