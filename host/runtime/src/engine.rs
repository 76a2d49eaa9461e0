//! The one wasmtime Engine: Cranelift, async, epoch interruption driven by a ticker thread,
//! and the pooling allocator sized for Baton's plugins, falling back to on-demand allocation
//! where the address space is too small to reserve the pool.

use anyhow::{Context, Result};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances; CPU deadlines are counted in ticks of this length.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Sizing of the engine, from configuration.
#[derive(Debug, Clone, Copy)]
pub struct EngineSettings {
    /// Instances alive at once.
    pub max_instances: u32,
    /// The largest linear memory any plugin may have.
    pub max_memory: u64,
}

/// The engine and the thread that ticks its epoch.
pub struct EngineHandle {
    /// The wasmtime engine: Cranelift, component model, epoch interruption.
    pub engine: Engine,
    /// Whether the pooling allocator is in use; `false` after falling back to on-demand allocation.
    pub pooling: bool,
    stop: Arc<AtomicBool>,
}

impl Drop for EngineHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn base_config() -> Config {
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.wasm_component_model(true);
    config
}

fn pooling_config(settings: EngineSettings) -> PoolingAllocationConfig {
    let instances = settings.max_instances;
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(instances)
        // A Rust component has a few core instances (the program, WASI adapters, shims).
        .total_core_instances(instances.saturating_mul(8))
        .total_memories(instances.saturating_mul(2))
        .total_tables(instances.saturating_mul(4))
        .total_stacks(instances)
        .max_memory_size(settings.max_memory.min(u64::from(u32::MAX)) as usize)
        // Reset a slot by scanning for the pages the guest dirtied and zeroing only those
        // (Linux 6.7+, PAGEMAP_SCAN) instead of madvise: no page faults on reuse and no
        // TLB shootdowns across cores. Elsewhere this falls back to madvise.
        .pagemap_scan(Enabled::Auto)
        .linear_memory_keep_resident(2 << 20)
        .table_keep_resident(64 << 10);
    pool
}

impl EngineHandle {
    /// Creates the engine with a pool sized by `settings` (or, if the pool cannot be reserved,
    /// on-demand allocation with no memory reservation and a 64 KiB guard) and starts the
    /// `baton-epoch` thread that advances the epoch every [`EPOCH_TICK`] until the handle drops.
    /// Fails when the engine cannot be created or the thread cannot be spawned.
    pub fn new(settings: EngineSettings) -> Result<EngineHandle> {
        let mut config = base_config();
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling_config(
            settings,
        )));
        let (engine, pooling) = match Engine::new(&config) {
            Ok(engine) => (engine, true),
            Err(e) => {
                tracing::warn!(
                    "pooling allocator unavailable ({e}); falling back to on-demand allocation"
                );
                // Without the pool, also reserve no address space ahead for linear memories:
                // this path exists for hosts whose address space is limited.
                let mut fallback = base_config();
                fallback.memory_reservation(0).memory_guard_size(64 << 10);
                let engine = Engine::new(&fallback)
                    .map_err(|e| anyhow::anyhow!("{e}"))
                    .context("cannot create the WebAssembly engine")?;
                (engine, false)
            }
        };
        let stop = Arc::new(AtomicBool::new(false));
        let ticker_engine = engine.weak();
        let ticker_stop = stop.clone();
        std::thread::Builder::new()
            .name("baton-epoch".into())
            .spawn(move || {
                while !ticker_stop.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    match ticker_engine.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })
            .context("cannot start the epoch ticker")?;
        Ok(EngineHandle {
            engine,
            pooling,
            stop,
        })
    }
}

/// Epoch ticks for a CPU deadline (at least one).
pub fn deadline_ticks(deadline: Duration) -> u64 {
    (deadline.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64 + 1
}
