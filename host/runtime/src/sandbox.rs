//! The data of one plugin Store: WASI and wasi-http contexts built from the plugin's policy,
//! the HTTP gate, the memory limiter, captured output, and the host side of Baton's own
//! imports (`log`, `progress`, `state`, `exec`).

use super::bindings::host::baton::plugin::{exec, log, plugin_types as types, progress, state};
use super::exec::Program;
use super::http::HttpGate;
use super::limits::MemoryLimiter;
use super::output::CapturedOutput;
use baton_core::store::PluginStateStore;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Most log records kept per call; later ones are counted, not kept.
const MAX_LOG_RECORDS: usize = 1000;

/// One structured log line a plugin emitted.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LogRecord {
    /// `trace`, `debug`, `info`, `warn` or `error` (WIT `log.level`).
    pub level: &'static str,
    /// The message as emitted.
    pub message: String,
    /// Key-value pairs (WIT `field`), in the order given.
    pub fields: Vec<(String, String)>,
}

/// The latest progress a plugin reported.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Progress {
    /// Work done so far, in the plugin's own unit (e.g. bytes processed).
    pub done: u64,
    /// Total work in the same unit, when known.
    pub total: Option<u64>,
    /// What the plugin is doing, in words.
    pub message: String,
}

/// Store data of one plugin instance.
pub struct Sandbox {
    /// The plugin's name, for logs and errors.
    pub plugin: String,
    /// WASI context: granted environment variables, preopened directories, captured output.
    pub wasi: WasiCtx,
    /// wasi-http context; outbound requests go through `gate`.
    pub http: WasiHttpCtx,
    /// Resource table shared by WASI and wasi-http.
    pub table: ResourceTable,
    /// The HTTP lock of this store and the requests it refused.
    pub gate: HttpGate,
    /// Memory and table limits of this store.
    pub limiter: MemoryLimiter,
    /// The guest's stdout, capped at `Limits::output_cap` bytes.
    pub stdout: CapturedOutput,
    /// The guest's stderr, capped at `Limits::output_cap` bytes.
    pub stderr: CapturedOutput,
    /// Records emitted through `log` in the current call, at most 1000.
    pub logs: Vec<LogRecord>,
    /// Records emitted past those 1000 in the current call.
    pub dropped_logs: u64,
    /// The latest `progress.report` of the current call.
    pub progress: Option<Progress>,
    /// `None` unless the plugin asked for and was granted `state`.
    pub state: Option<Arc<dyn PluginStateStore>>,
    /// Programs asked for and granted.
    pub programs: Arc<Vec<Program>>,
}

impl WasiView for Sandbox {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for Sandbox {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.gate,
        }
    }
}

impl types::Host for Sandbox {}

impl log::Host for Sandbox {
    async fn emit(&mut self, level: log::Level, message: String, fields: Vec<types::Field>) {
        let level = match level {
            log::Level::Trace => "trace",
            log::Level::Debug => "debug",
            log::Level::Info => "info",
            log::Level::Warn => "warn",
            log::Level::Error => "error",
        };
        let fields: Vec<(String, String)> = fields.into_iter().map(|f| (f.key, f.value)).collect();
        tracing::debug!(target: "baton::plugin", plugin = %self.plugin, level, ?fields, "{message}");
        if self.logs.len() < MAX_LOG_RECORDS {
            self.logs.push(LogRecord {
                level,
                message,
                fields,
            });
        } else {
            self.dropped_logs += 1;
        }
    }
}

impl progress::Host for Sandbox {
    async fn report(&mut self, done: u64, total: Option<u64>, message: String) {
        tracing::trace!(target: "baton::plugin", plugin = %self.plugin, done, ?total, "{message}");
        self.progress = Some(Progress {
            done,
            total,
            message,
        });
    }
}

impl Sandbox {
    /// The state store, or the trap a guest gets for using `state` without the capability.
    fn state_store(&self) -> wasmtime::Result<Arc<dyn PluginStateStore>> {
        self.state.clone().ok_or_else(|| {
            wasmtime::format_err!(
                "plugin `{}` used `state` without the capability: declare state = true in describe() and grant `state = true`",
                self.plugin
            )
        })
    }
}

fn host_failure(e: anyhow::Error) -> wasmtime::Error {
    wasmtime::Error::from_anyhow(e.context("plugin state store failed"))
}

impl state::Host for Sandbox {
    async fn get(&mut self, key: String) -> wasmtime::Result<Option<Vec<u8>>> {
        self.state_store()?
            .get(&self.plugin, &key)
            .map_err(host_failure)
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<Result<(), String>> {
        self.state_store()?
            .set(&self.plugin, &key, &value)
            .map_err(host_failure)
    }

    async fn remove(&mut self, key: String) -> wasmtime::Result<()> {
        self.state_store()?
            .remove(&self.plugin, &key)
            .map_err(host_failure)
    }

    async fn keys(&mut self, prefix: String) -> wasmtime::Result<Vec<String>> {
        self.state_store()?
            .keys(&self.plugin, &prefix)
            .map_err(host_failure)
    }
}

impl exec::Host for Sandbox {
    async fn run(&mut self, command: exec::Command) -> Result<exec::Output, String> {
        let programs = self.programs.clone();
        let result = super::exec::run(
            &programs,
            &command.program,
            &command.args,
            command.stdin,
            command.timeout_ms.map(Duration::from_millis),
        )
        .await;
        if let Err(reason) = &result {
            tracing::warn!(plugin = %self.plugin, program = %command.program, "{reason}");
        }
        result.map(|out| exec::Output {
            status: out.status,
            stdout: out.stdout,
            stderr: out.stderr,
            timed_out: out.timed_out,
        })
    }
}
