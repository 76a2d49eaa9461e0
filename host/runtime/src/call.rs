//! Running plugin calls: builds a fresh sandboxed Store per call (or reuses a warm resolver
//! instance), bounds the call by its CPU deadline and wall clock, and turns whatever went wrong
//! into a typed [`PluginError`]. A store that failed is always dropped.

use super::bindings::types;
use super::engine::deadline_ticks;
use super::error::{ErrorKind, PluginError};
use super::http::HttpGate;
use super::limits::MemoryLimiter;
use super::output::CapturedOutput;
use super::plugin::{Limits, Plugin, Pre, WarmResolver};
use super::policy::HttpPolicy;
use super::preopen::Preopen;
use super::sandbox::{LogRecord, Progress, Sandbox};
use super::stage_io::StagedIo;
use super::versions::Agent;
use baton_core::store::PluginStateStore;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::Store;
use wasmtime::component::ResourceAny;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};
use wasmtime_wasi_http::WasiHttpCtx;

/// The outcome of a call that ran to completion, with what the plugin said on the way.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CallReport<T> {
    /// What the export returned; for `resolve`, `run` and `send`, the WIT `result` (the value
    /// or a `failure`).
    pub value: T,
    /// Records the plugin emitted through the `log` import during the call, at most 1000.
    pub logs: Vec<LogRecord>,
    /// Records emitted past those 1000, counted but not kept.
    pub dropped_logs: u64,
    /// The last `progress.report` of the call, if any.
    pub progress: Option<Progress>,
    /// What the guest wrote to stdout (lossy UTF-8), at most [`Limits::output_cap`] bytes.
    pub stdout: String,
    /// What the guest wrote to stderr (lossy UTF-8), at most [`Limits::output_cap`] bytes.
    pub stderr: String,
    /// Outbound requests the HTTP lock refused, each with its remedy.
    pub refused_http: Vec<String>,
    /// Wall-clock duration of the call, store setup and instantiation included when the call
    /// made a fresh instance.
    pub elapsed: Duration,
}

/// What a call needs from the runtime: its engine and the plugins' state store.
pub(crate) struct CallHost<'a> {
    /// The runtime's engine.
    pub engine: &'a wasmtime::Engine,
    /// Where `state` lives; `None` when no store is open.
    pub state: Option<Arc<dyn PluginStateStore>>,
}

struct StoreParts<'a> {
    plugin: &'a str,
    limits: &'a Limits,
    http: Arc<HttpPolicy>,
    env: &'a [(String, String)],
    preopens: Vec<Preopen>,
    /// Whether the guest's file operations run on the calling thread rather than a
    /// `spawn_blocking` hop each (wasmtime-wasi's `allow_blocking_current_thread`). Only for
    /// preopens Baton made and has read through itself (staged inputs, a fresh output
    /// directory): nothing there can block for long (no FIFO it has not already read), so the
    /// hop, two thread wake-ups per read or write, buys nothing.
    on_thread_io: bool,
    state: Option<Arc<dyn baton_core::store::PluginStateStore>>,
    programs: Arc<Vec<super::exec::Program>>,
}

fn new_store(runtime: &CallHost<'_>, parts: StoreParts<'_>) -> Result<Store<Sandbox>, PluginError> {
    let stdout = CapturedOutput::new("stdout", parts.limits.output_cap as usize);
    let stderr = CapturedOutput::new("stderr", parts.limits.output_cap as usize);
    let mut wasi = WasiCtxBuilder::new();
    wasi.stdout(stdout.clone())
        .stderr(stderr.clone())
        .allow_blocking_current_thread(parts.on_thread_io);
    for (key, value) in parts.env {
        wasi.env(key, value);
    }
    for preopen in &parts.preopens {
        let perms = if preopen.writable {
            FsPerms::ReadWrite
        } else {
            FsPerms::ReadOnly
        };
        wasi.preopened_dir(&preopen.host, &preopen.guest, perms)
            .map_err(|e| {
                PluginError::new(
                    parts.plugin,
                    "preopen",
                    ErrorKind::Host {
                        reason: format!("cannot open {}: {e}", preopen.host.display()),
                    },
                )
            })?;
    }
    let sandbox = Sandbox {
        plugin: parts.plugin.to_string(),
        wasi: wasi.build(),
        http: WasiHttpCtx::new(),
        table: wasmtime::component::ResourceTable::new(),
        gate: HttpGate::new(
            parts.plugin.to_string(),
            parts.http,
            parts.limits.http_response_cap,
        ),
        limiter: MemoryLimiter::new(parts.limits.memory),
        stdout,
        stderr,
        logs: Vec::new(),
        dropped_logs: 0,
        progress: None,
        state: parts.state,
        programs: parts.programs,
    };
    let mut store = Store::new(runtime.engine, sandbox);
    store.limiter(|s| &mut s.limiter);
    store.set_epoch_deadline(deadline_ticks(parts.limits.timeout));
    Ok(store)
}

fn plugin_store(
    runtime: &CallHost<'_>,
    plugin: &Plugin,
    extra: Vec<Preopen>,
) -> Result<Store<Sandbox>, PluginError> {
    // A plugin granted project files (`files`) may be handed a FIFO or a slow mount: its file
    // operations keep their own threads, so a timeout can still end the call.
    let on_thread_io = plugin.policy.files.is_empty();
    let mut preopens: Vec<Preopen> = plugin.policy.files.clone();
    preopens.extend(extra);
    new_store(
        runtime,
        StoreParts {
            plugin: &plugin.name,
            limits: &plugin.limits,
            http: plugin.policy.http.clone(),
            env: &plugin.policy.env,
            preopens,
            on_thread_io,
            state: if plugin.policy.state {
                runtime.state.clone()
            } else {
                None
            },
            programs: plugin.policy.programs.clone(),
        },
    )
}

/// Turns a wasmtime error into the typed reason, using what the store recorded, and the
/// guest's wasm backtrace (empty when wasmtime has none).
fn classify(error: &wasmtime::Error, sandbox: &Sandbox, limits: &Limits) -> (ErrorKind, String) {
    if let Some(requested) = sandbox.limiter.refused {
        let kind = ErrorKind::MemoryLimit {
            limit: sandbox.limiter.cap(),
            requested,
        };
        return (kind, String::new());
    }
    for stream in [&sandbox.stdout, &sandbox.stderr] {
        if stream.overflowed() {
            let kind = ErrorKind::OutputLimit {
                stream: stream.name(),
                limit: stream.cap() as u64,
            };
            return (kind, String::new());
        }
    }
    if matches!(
        error.downcast_ref::<wasmtime::Trap>(),
        Some(wasmtime::Trap::Interrupt)
    ) {
        let kind = ErrorKind::Deadline {
            limit: limits.timeout,
        };
        return (kind, String::new());
    }
    // Every slot of the instance pool is taken (a host limit, not the guest's doing).
    if let Some(full) = error
        .downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
        .or_else(|| {
            error
                .root_cause()
                .downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
        })
    {
        let kind = ErrorKind::Host {
            reason: format!(
                "{full}: every plugin instance slot is in use (open agent sessions hold one each); raise `runtime.max-instances` in baton.toml (or BATON_MAX_INSTANCES)"
            ),
        };
        return (kind, String::new());
    }
    // The top context of a trap is its backtrace; say what happened first.
    let trap = match error.downcast_ref::<wasmtime::Trap>() {
        Some(trap) => trap.to_string(),
        None => error.root_cause().to_string(),
    };
    let backtrace = error
        .downcast_ref::<wasmtime::WasmBacktrace>()
        .map(|trace| trace.to_string())
        .unwrap_or_default();
    let kind = match crate::guest_error::extract(&sandbox.stderr.text()) {
        Some(message) => ErrorKind::GuestPanic { message, trap },
        None => ErrorKind::Trap { message: trap },
    };
    (kind, backtrace)
}

/// Runs `work` on the store within the wall-clock bound and types any failure.
async fn guarded<T, F>(
    plugin: &str,
    call: &'static str,
    limits: &Limits,
    store: &mut Store<Sandbox>,
    work: F,
) -> Result<T, PluginError>
where
    F: AsyncFnOnce(&mut Store<Sandbox>) -> wasmtime::Result<T>,
{
    let outcome = tokio::time::timeout(limits.wall_timeout, work(store)).await;
    let (kind, backtrace) = match outcome {
        Ok(Ok(value)) => return Ok(value),
        Ok(Err(error)) => classify(&error, store.data(), limits),
        Err(_) => {
            let kind = ErrorKind::WallTimeout {
                limit: limits.wall_timeout,
            };
            (kind, String::new())
        }
    };
    let sandbox = store.data_mut();
    let mut error = PluginError::new(plugin, call, kind);
    error.guest = Box::new(super::error::GuestOutput {
        backtrace,
        logs: std::mem::take(&mut sandbox.logs),
        stdout: String::from_utf8_lossy(&sandbox.stdout.take()).into_owned(),
        stderr: String::from_utf8_lossy(&sandbox.stderr.take()).into_owned(),
    });
    Err(error)
}

fn report<T>(store: &mut Store<Sandbox>, value: T, started: Instant) -> CallReport<T> {
    let sandbox = store.data_mut();
    CallReport {
        value,
        logs: std::mem::take(&mut sandbox.logs),
        dropped_logs: std::mem::take(&mut sandbox.dropped_logs),
        progress: sandbox.progress.take(),
        stdout: String::from_utf8_lossy(&sandbox.stdout.take()).into_owned(),
        stderr: String::from_utf8_lossy(&sandbox.stderr.take()).into_owned(),
        refused_http: std::mem::take(&mut sandbox.gate.refused),
        elapsed: started.elapsed(),
    }
}

/// Asks a freshly linked component to describe itself, in a sandbox with no capabilities.
pub(crate) async fn describe(
    runtime: &CallHost<'_>,
    name: &str,
    pre: &Pre,
    limits: &Limits,
) -> Result<types::Description, PluginError> {
    let mut store = new_store(
        runtime,
        StoreParts {
            plugin: name,
            limits,
            http: Arc::new(HttpPolicy::default()),
            env: &[],
            preopens: Vec::new(),
            on_thread_io: true,
            state: None,
            programs: Arc::default(),
        },
    )?;
    let pre = pre.clone();
    guarded(name, "describe", limits, &mut store, async move |store| {
        pre.describe(store).await
    })
    .await
}

fn wrong_world(plugin: &Plugin, call: &'static str, wanted: &str) -> PluginError {
    PluginError::new(
        &plugin.name,
        call,
        ErrorKind::WrongWorld {
            expected: format!("a {wanted} plugin"),
            found: format!("a {} plugin", plugin.world.name()),
        },
    )
}

/// What `resolution.resolve` returns (WIT `result<list<candidate>, failure>`).
pub type ResolveResult = Result<Vec<types::Candidate>, types::Failure>;

impl CallHost<'_> {
    /// Calls a resolver for one artifact.
    pub(crate) async fn resolve(
        &self,
        plugin: &Plugin,
        artifact: types::Artifact,
        attempt: u32,
    ) -> Result<CallReport<ResolveResult>, PluginError> {
        let Pre::Resolver(pre) = &plugin.pre else {
            return Err(wrong_world(plugin, "resolve", "resolver"));
        };
        let request = types::ResolveRequest {
            artifact,
            settings: plugin.settings.clone(),
            attempt,
        };
        let started = Instant::now();
        let warm = plugin
            .limits
            .warm
            .and_then(|_| plugin.warm.lock().unwrap_or_else(|p| p.into_inner()).pop());
        let (mut store, bindings, calls) = match warm {
            Some(warm) => (warm.store, Some(warm.bindings), warm.calls),
            None => (plugin_store(self, plugin, Vec::new())?, None, 0),
        };
        store.set_epoch_deadline(deadline_ticks(plugin.limits.timeout));
        let pre = pre.clone();
        let (bindings, value) = guarded(
            &plugin.name,
            "resolve",
            &plugin.limits,
            &mut store,
            async move |store| {
                let bindings = match bindings {
                    Some(bindings) => bindings,
                    None => pre.instantiate_async(&mut *store).await?,
                };
                let value = bindings.resolve(&mut *store, &request).await?;
                Ok((bindings, value))
            },
        )
        .await?;
        let report = report(&mut store, value, started);
        if let Some(max_calls) = plugin.limits.warm
            && calls + 1 < max_calls
        {
            plugin
                .warm
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(WarmResolver {
                    store,
                    bindings,
                    calls: calls + 1,
                });
        }
        Ok(report)
    }

    /// Runs a stage over staged inputs, writing into the staged output directory.
    pub(crate) async fn run_stage(
        &self,
        plugin: &Plugin,
        io: &StagedIo,
        run_id: &str,
        stage_id: &str,
        params: String,
        attempt: u32,
    ) -> Result<CallReport<Result<types::StageOutcome, types::Failure>>, PluginError> {
        let Pre::Stage(pre) = &plugin.pre else {
            return Err(wrong_world(plugin, "run", "stage"));
        };
        let context = types::StageContext {
            run_id: run_id.to_string(),
            stage_id: stage_id.to_string(),
            params,
            settings: plugin.settings.clone(),
            inputs: io.guest_inputs(),
            output_dir: io.guest_output_dir().to_string(),
            attempt,
        };
        let started = Instant::now();
        let mut store = plugin_store(self, plugin, io.preopens())?;
        let pre = pre.clone();
        let value = guarded(
            &plugin.name,
            "run",
            &plugin.limits,
            &mut store,
            async move |store| {
                let bindings = pre.instantiate_async(&mut *store).await?;
                bindings.run(&mut *store, &context).await
            },
        )
        .await?;
        Ok(report(&mut store, value, started))
    }

    /// Opens an agent session: an instance that lives until the session is dropped.
    pub(crate) async fn open_session(
        &self,
        plugin: &Plugin,
        model: Option<String>,
    ) -> Result<AgentSession, PluginError> {
        let Pre::Agent(pre) = &plugin.pre else {
            return Err(wrong_world(plugin, "session.open", "agent"));
        };
        let config = types::SessionConfig {
            settings: plugin.settings.clone(),
            model,
        };
        let mut store = plugin_store(self, plugin, Vec::new())?;
        let pre = pre.clone();
        let (bindings, opened) = guarded(
            &plugin.name,
            "session.open",
            &plugin.limits,
            &mut store,
            async move |store| {
                let bindings = pre.instantiate_async(&mut *store).await?;
                let opened = bindings.open(&mut *store, &config).await?;
                Ok((bindings, opened))
            },
        )
        .await?;
        Ok(AgentSession {
            plugin: plugin.name.clone(),
            limits: plugin.limits.clone(),
            store,
            bindings,
            session: opened,
        })
    }
}

/// A live agent session of a plugin built against any served `baton:plugin` version. Its
/// failures are the version-neutral [`types::AgentFailure`] (a 0.1.0 adapter's `failure` is
/// mapped: retry → `overloaded`, skip and fatal → `fatal`).
pub struct AgentSession {
    plugin: String,
    limits: Limits,
    store: Store<Sandbox>,
    bindings: Agent,
    /// The guest's `session` resource, or why opening it failed.
    session: Result<ResourceAny, types::AgentFailure>,
}

impl AgentSession {
    /// Why `session.open` failed, if it did; every `send` then answers with this failure.
    pub fn open_failure(&self) -> Option<&types::AgentFailure> {
        self.session.as_ref().err()
    }

    /// Sends one prompt. `Ok` carries the adapter's own answer: the reply or an
    /// [`types::AgentFailure`] (the open failure, when opening failed). `Err` is the host's
    /// typed error (trap, deadline, limits …), after which the session must be dropped.
    pub async fn send(
        &mut self,
        request: types::AgentRequest,
    ) -> Result<CallReport<Result<types::AgentReply, types::AgentFailure>>, PluginError> {
        let session = match &self.session {
            Ok(session) => *session,
            Err(failure) => {
                return Ok(report(
                    &mut self.store,
                    Err(failure.clone()),
                    Instant::now(),
                ));
            }
        };
        let started = Instant::now();
        self.store
            .set_epoch_deadline(deadline_ticks(self.limits.timeout));
        let bindings = &self.bindings;
        let value = guarded(
            &self.plugin,
            "session.send",
            &self.limits,
            &mut self.store,
            async move |store| bindings.send(&mut *store, session, &request).await,
        )
        .await?;
        Ok(report(&mut self.store, value, started))
    }
}

impl CallHost<'_> {
    /// Keeps `count` resolver instances alive, each after one call, and returns the growth of
    /// `measure()` (e.g. heap bytes, resident bytes) per instance. For benchmarks.
    pub(crate) async fn live_instance_footprint(
        &self,
        plugin: &Plugin,
        count: usize,
        measure: impl Fn() -> (usize, usize),
    ) -> Result<(usize, usize), PluginError> {
        let Pre::Resolver(pre) = &plugin.pre else {
            return Err(wrong_world(plugin, "resolve", "resolver"));
        };
        let request = types::ResolveRequest {
            artifact: types::Artifact {
                id: "footprint".into(),
                payload: "{}".into(),
            },
            settings: plugin.settings.clone(),
            attempt: 1,
        };
        let (heap_before, rss_before) = measure();
        let mut alive = Vec::with_capacity(count);
        for _ in 0..count {
            let mut store = plugin_store(self, plugin, Vec::new())?;
            let pre = pre.clone();
            let request = &request;
            let bindings = guarded(
                &plugin.name,
                "resolve",
                &plugin.limits,
                &mut store,
                async move |store| {
                    let bindings = pre.instantiate_async(&mut *store).await?;
                    let result = bindings.resolve(&mut *store, request).await?;
                    match result {
                        Ok(_) => Ok(bindings),
                        Err(failure) => Err(wasmtime::format_err!(
                            "the plugin failed: {}",
                            super::json::failure_line(&failure)
                        )),
                    }
                },
            )
            .await?;
            alive.push((store, bindings));
        }
        let (heap_after, rss_after) = measure();
        drop(alive);
        Ok((
            heap_after.saturating_sub(heap_before) / count.max(1),
            rss_after.saturating_sub(rss_before) / count.max(1),
        ))
    }
}
