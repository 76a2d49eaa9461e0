//! The plugin runtime: one wasmtime engine, compiled components cached on disk, a fresh
//! sandboxed instance per call, and typed errors for everything a plugin can do wrong.

pub mod bindings;
pub mod cache;
pub mod call;
pub mod engine;
pub mod error;
pub mod exec;
pub mod grants;
pub mod http;
pub mod inspect;
pub mod json;
mod legacy;
pub mod limits;
pub mod output;
pub mod plugin;
pub mod policy;
pub mod preopen;
pub mod sandbox;
pub mod stage_io;
pub mod versions;

use baton_core::store::PluginStateStore;
use bindings::host::baton::plugin as imports;
use bindings::v0_1::host::baton::plugin as old_imports;
use cache::CompileCache;
use engine::{EngineHandle, EngineSettings};
use error::{ErrorKind, PluginError};
use inspect::ComponentInfo;
use plugin::{Description, Plugin, PluginSpec, Pre, SandboxPolicy};
use policy::{HttpPolicy, missing_grants};
use sandbox::Sandbox;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use wasmtime::component::{HasSelf, Linker};

/// A component that was verified, linked and described, but not yet checked against grants.
pub struct Examined {
    /// sha256 of the component file, as lowercase hex.
    pub digest: String,
    /// The Baton world the component targets, read from its exports.
    pub world: inspect::World,
    /// The version of `baton:plugin` the component was built against.
    pub wit_version: inspect::WitVersion,
    /// What the component's `describe` (WIT `metadata`) returned.
    pub description: Description,
    /// The component's import and export names.
    pub info: ComponentInfo,
    /// Whether the compiled component came from the compile cache or was compiled now.
    pub cache: cache::CacheOutcome,
    pre: Pre,
}

/// How the runtime is set up.
#[derive(Clone)]
pub struct RuntimeOptions {
    /// Directory of the compile cache (`runtime.cache-dir`); created with mode 0700 when
    /// the first component is stored.
    pub cache_dir: PathBuf,
    /// Sizing of the engine's pooling allocator.
    pub engine: EngineSettings,
    /// Where `state` lives; `None` refuses plugins that ask for it.
    pub state: Option<Arc<dyn PluginStateStore>>,
}

/// The engine, the linker with every host import, and the compile cache.
pub struct Runtime {
    engine: EngineHandle,
    linker: Linker<Sandbox>,
    cache: CompileCache,
    state: Option<Arc<dyn PluginStateStore>>,
}

impl Runtime {
    /// Creates the engine (see [`EngineHandle::new`]) and a linker with WASI 0.2, wasi-http and
    /// Baton's `plugin-types`, `log`, `progress`, `state` and `exec` imports of every served
    /// version (0.2.0, and 0.1.0 with `types`). Fails when the engine or its epoch ticker
    /// cannot be started or an import cannot be linked.
    pub fn new(options: RuntimeOptions) -> anyhow::Result<Runtime> {
        let engine = EngineHandle::new(options.engine)?;
        let mut linker = Linker::<Sandbox>::new(&engine.engine);
        let to_anyhow = |e: wasmtime::Error| anyhow::anyhow!("{e:?}");
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(to_anyhow)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(to_anyhow)?;
        imports::plugin_types::add_to_linker::<_, HasSelf<Sandbox>>(&mut linker, |s| s)
            .map_err(to_anyhow)?;
        imports::log::add_to_linker::<_, HasSelf<Sandbox>>(&mut linker, |s| s)
            .map_err(to_anyhow)?;
        imports::progress::add_to_linker::<_, HasSelf<Sandbox>>(&mut linker, |s| s)
            .map_err(to_anyhow)?;
        imports::state::add_to_linker::<_, HasSelf<Sandbox>>(&mut linker, |s| s)
            .map_err(to_anyhow)?;
        imports::exec::add_to_linker::<_, HasSelf<Sandbox>>(&mut linker, |s| s)
            .map_err(to_anyhow)?;
        old_imports::types::add_to_linker::<_, HasSelf<Sandbox>>(&mut linker, |s| s)
            .map_err(to_anyhow)?;
        old_imports::log::add_to_linker::<_, HasSelf<Sandbox>>(&mut linker, |s| s)
            .map_err(to_anyhow)?;
        old_imports::progress::add_to_linker::<_, HasSelf<Sandbox>>(&mut linker, |s| s)
            .map_err(to_anyhow)?;
        old_imports::state::add_to_linker::<_, HasSelf<Sandbox>>(&mut linker, |s| s)
            .map_err(to_anyhow)?;
        old_imports::exec::add_to_linker::<_, HasSelf<Sandbox>>(&mut linker, |s| s)
            .map_err(to_anyhow)?;
        let cache = CompileCache::new(options.cache_dir, &engine.engine);
        Ok(Runtime {
            engine,
            linker,
            cache,
            state: options.state,
        })
    }

    /// The one wasmtime engine every component is compiled for and run on.
    pub fn engine(&self) -> &wasmtime::Engine {
        &self.engine.engine
    }

    /// Whether the pooling allocator is in use (false after a fallback).
    pub fn pooling(&self) -> bool {
        self.engine.pooling
    }

    /// Reads, verifies, compiles (or loads from cache) and inspects a component, without
    /// checking its world or asking it anything. Used by `plugin inspect`.
    pub fn inspect(
        &self,
        spec: &PluginSpec,
    ) -> Result<(wasmtime::component::Component, String, cache::CacheOutcome), PluginError> {
        let name = spec.display_name();
        let fail = |kind| PluginError::new(&name, "load", kind);
        let bytes = std::fs::read(&spec.path).map_err(|e| {
            fail(ErrorKind::InvalidComponent {
                reason: format!("cannot read {}: {e}", spec.path.display()),
            })
        })?;
        check_magic(&bytes).map_err(|reason| fail(ErrorKind::InvalidComponent { reason }))?;
        let digest = baton_core::digest::sha256_hex(&bytes);
        if let Some(expected) = &spec.sha256
            && !expected.eq_ignore_ascii_case(&digest)
        {
            return Err(fail(ErrorKind::DigestMismatch {
                expected: expected.to_ascii_lowercase(),
                actual: digest,
            }));
        }
        let (component, outcome) =
            self.cache
                .load(self.engine(), &digest, &bytes)
                .map_err(|e| {
                    fail(ErrorKind::InvalidComponent {
                        reason: format!("{e:#}"),
                    })
                })?;
        Ok((component, digest, outcome))
    }

    /// Verifies the file, checks its world and WIT version, links it and asks it to
    /// describe itself, without checking grants. Used by `plugin inspect` and `load`.
    pub async fn examine(&self, spec: &PluginSpec) -> Result<Examined, PluginError> {
        let name = spec.display_name();
        let fail = |kind| PluginError::new(&name, "load", kind);
        let (component, digest, cache) = self.inspect(spec)?;
        let info = ComponentInfo::read(self.engine(), &component);
        let (world, wit_version) = info.world(spec.expected).map_err(fail)?;
        let instance_pre = self.linker.instantiate_pre(&component).map_err(|e| {
            fail(ErrorKind::Link {
                reason: format!("{e:#}"),
            })
        })?;
        let pre = Pre::new(world, wit_version, instance_pre).map_err(|e| {
            fail(ErrorKind::WrongWorld {
                expected: world.qualified_at(wit_version),
                found: format!("exports whose types do not match: {e:#}"),
            })
        })?;
        let description = call::describe(&self.calls(), &name, &pre, &spec.limits).await?;
        let description = Description::from_guest(description);
        if description.kind != world {
            return Err(fail(ErrorKind::KindMismatch {
                world: world.name().into(),
                described: description.kind.name().into(),
            }));
        }
        Ok(Examined {
            digest,
            world,
            wit_version,
            description,
            info,
            cache,
            pre,
        })
    }

    /// Loads a plugin: `examine`, then checks that everything it asks for is granted.
    pub async fn load(&self, spec: &PluginSpec) -> Result<Plugin, PluginError> {
        let Examined {
            digest,
            world,
            wit_version,
            description,
            info,
            cache: cache_outcome,
            pre,
        } = self.examine(spec).await?;
        let name = spec.name.clone().unwrap_or(description.name.clone());
        let missing = missing_grants(&name, &description.asks, &spec.grants);
        if !missing.is_empty() {
            return Err(PluginError::new(
                &name,
                "load",
                ErrorKind::CapabilityRefused { missing },
            ));
        }
        let policy = self
            .policy(&name, &description, spec)
            .map_err(|reason| PluginError::new(&name, "load", ErrorKind::Host { reason }))?;
        Ok(Plugin {
            name,
            path: spec.path.clone(),
            digest,
            world,
            wit_version,
            description,
            info,
            cache: cache_outcome,
            limits: spec.limits.clone(),
            settings: spec.settings.to_string(),
            pre,
            policy,
            warm: Mutex::new(Vec::new()),
        })
    }

    /// The intersection of asks and grants, resolved for the sandbox.
    fn policy(
        &self,
        name: &str,
        description: &Description,
        spec: &PluginSpec,
    ) -> Result<SandboxPolicy, String> {
        let asks = &description.asks;
        let grants = &spec.grants;
        let http = HttpPolicy::new(&grants.http, &asks.http)?;
        let files = grants
            .files
            .iter()
            .filter(|f| asks.files.iter().any(|(path, _)| *path == f.guest))
            .map(|f| {
                let writable = f.writable
                    && asks
                        .files
                        .iter()
                        .any(|(path, writable)| *path == f.guest && *writable);
                preopen::Preopen {
                    host: PathBuf::from(&f.host),
                    guest: f.guest.clone(),
                    writable,
                }
            })
            .collect();
        let mut env = Vec::new();
        for grant in &grants.env {
            let (key, value) = match grant.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (grant.clone(), std::env::var(grant).unwrap_or_default()),
            };
            if asks.env.contains(&key) {
                env.push((key, value));
            }
        }
        let wants_any_program = asks.exec.iter().any(|p| p == "*");
        let programs = grants
            .exec
            .iter()
            .filter(|g| wants_any_program || asks.exec.contains(&g.program))
            .map(|g| exec::Program::resolve(g, spec.limits.exec_timeout))
            .collect::<Result<Vec<_>, _>>()?;
        let state = asks.state && grants.state;
        if state && self.state.is_none() {
            return Err(format!(
                "plugin `{name}` uses state, but no state store is open"
            ));
        }
        Ok(SandboxPolicy {
            http: Arc::new(http),
            files,
            env,
            programs: Arc::new(programs),
            state,
        })
    }

    /// What each call takes from the runtime.
    fn calls(&self) -> call::CallHost<'_> {
        call::CallHost {
            engine: self.engine(),
            state: self.state.clone(),
        }
    }

    /// Calls a resolver for one artifact, in a fresh instance (or a warm one under the
    /// plugin's `warm` policy). `Err` is the host's typed error (trap, deadline, limits …);
    /// `Ok` carries the plugin's own answer, its logs and captured output.
    pub async fn resolve(
        &self,
        plugin: &Plugin,
        artifact: bindings::types::Artifact,
        attempt: u32,
    ) -> Result<call::CallReport<call::ResolveResult>, PluginError> {
        self.calls().resolve(plugin, artifact, attempt).await
    }

    /// Runs a stage over staged inputs (read-only under `/inputs`), writing into the staged
    /// output directory, in a fresh instance.
    pub async fn run_stage(
        &self,
        plugin: &Plugin,
        io: &stage_io::StagedIo,
        run_id: &str,
        stage_id: &str,
        params: &serde_json::Value,
        attempt: u32,
    ) -> Result<
        call::CallReport<Result<bindings::types::StageOutcome, bindings::types::Failure>>,
        PluginError,
    > {
        self.calls()
            .run_stage(plugin, io, run_id, stage_id, params, attempt)
            .await
    }

    /// Opens an agent session: an instance that lives until the session is dropped.
    pub async fn open_session(
        &self,
        plugin: &Plugin,
        model: Option<String>,
    ) -> Result<call::AgentSession, PluginError> {
        self.calls().open_session(plugin, model).await
    }

    /// Keeps `count` resolver instances alive, each after one call, and returns the growth of
    /// `measure()` (e.g. heap bytes, resident bytes) per instance. For benchmarks.
    pub async fn live_instance_footprint(
        &self,
        plugin: &Plugin,
        count: usize,
        measure: impl Fn() -> (usize, usize),
    ) -> Result<(usize, usize), PluginError> {
        self.calls()
            .live_instance_footprint(plugin, count, measure)
            .await
    }
}

/// Tells apart garbage, core modules and components before the compiler does.
fn check_magic(bytes: &[u8]) -> Result<(), String> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err("not a WebAssembly file (no `\\0asm` header)".into());
    }
    if bytes[4..8] == [1, 0, 0, 0] {
        return Err(
            "a core WebAssembly module, not a component: build for `wasm32-wasip2` (or wrap it with `wasm-tools component new`)"
                .into(),
        );
    }
    Ok(())
}
