//! Plugin runtime benchmark: first compile, cached load, per-call cost with a fresh instance,
//! calls per second on every core, and host memory per live instance. Run with
//! `cargo bench -p baton-runtime --bench runtime`; results go in docs/benchmarks.md.

use baton_runtime::bindings::types::Artifact;
use baton_runtime::engine::EngineSettings;
use baton_runtime::grants::Grants;
use baton_runtime::plugin::{Limits, Plugin, PluginSpec};
use baton_runtime::{Runtime, RuntimeOptions};
use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Counts live heap bytes, to measure host memory per live instance.
struct Counting;

static LIVE_HEAP: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_HEAP.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_HEAP.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const FRESH_CALLS: usize = 20_000;
const THROUGHPUT_WINDOW: Duration = Duration::from_secs(5);
const LIVE_INSTANCES: usize = 200;

fn spec(path: &Path) -> PluginSpec {
    PluginSpec {
        name: None,
        path: path.to_path_buf(),
        sha256: None,
        expected: None,
        settings: serde_json::json!({}),
        grants: Grants::default(),
        limits: Limits {
            memory: 64 << 20,
            timeout: Duration::from_secs(10),
            wall_timeout: Duration::from_secs(30),
            output_cap: 1 << 20,
            http_response_cap: 1 << 20,
            exec_timeout: Duration::from_secs(10),
            warm: None,
        },
    }
}

fn runtime(cache: &Path) -> Runtime {
    Runtime::new(RuntimeOptions {
        cache_dir: cache.to_path_buf(),
        cache_max_size: 1 << 30,
        engine: EngineSettings {
            max_instances: 1000,
            max_memory: 64 << 20,
        },
        state: None,
    })
    .expect("runtime")
}

fn artifact() -> Artifact {
    Artifact {
        id: "bench".into(),
        payload: "{}".into(),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

async fn fresh_call(rt: &Runtime, plugin: &Plugin) {
    let report = rt.resolve(plugin, artifact(), 1).await.expect("call");
    assert!(report.value.is_ok());
}

fn main() {
    let wasm = Path::new(baton_bundled::PLUGIN_DIR).join("noop.wasm");
    let cache = tempfile::tempdir().expect("temp dir");
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("machine: {} cores, {}", cores, std::env::consts::ARCH);
    println!(
        "plugin: noop.wasm, {} bytes",
        std::fs::metadata(&wasm).unwrap().len()
    );

    let rt = Arc::new(runtime(cache.path()));
    println!("pooling allocator: {}", rt.pooling());
    let started = Instant::now();
    rt.inspect(&spec(&wasm)).expect("compile");
    println!(
        "first compile (read + sha256 + Cranelift + cache write): {:.1} ms",
        started.elapsed().as_secs_f64() * 1e3
    );

    let mut loads: Vec<Duration> = (0..50)
        .map(|_| {
            let started = Instant::now();
            let (_, _, outcome) = rt.inspect(&spec(&wasm)).expect("cached load");
            assert_eq!(outcome, baton_runtime::cache::CacheOutcome::Hit);
            started.elapsed()
        })
        .collect();
    loads.sort();
    println!(
        "cached load (read + sha256 + deserialize): p50 {:.3} ms, p99 {:.3} ms",
        loads[loads.len() / 2].as_secs_f64() * 1e3,
        percentile(&loads, 0.99).as_secs_f64() * 1e3
    );

    let plugin = Arc::new(tokio.block_on(rt.load(&spec(&wasm))).expect("load"));
    let latencies = tokio.block_on(async {
        for _ in 0..1000 {
            fresh_call(&rt, &plugin).await;
        }
        let mut latencies = Vec::with_capacity(FRESH_CALLS);
        for _ in 0..FRESH_CALLS {
            let started = Instant::now();
            fresh_call(&rt, &plugin).await;
            latencies.push(started.elapsed());
        }
        latencies
    });
    let mut sorted = latencies.clone();
    sorted.sort();
    println!(
        "fresh instance + trivial call, one task: p50 {:.1} µs, p90 {:.1} µs, p99 {:.1} µs ({} calls)",
        micros(percentile(&sorted, 0.5)),
        micros(percentile(&sorted, 0.9)),
        micros(percentile(&sorted, 0.99)),
        FRESH_CALLS
    );

    let total: usize = tokio.block_on(async {
        let deadline = Instant::now() + THROUGHPUT_WINDOW;
        let tasks: Vec<_> = (0..cores)
            .map(|_| {
                let rt = rt.clone();
                let plugin = plugin.clone();
                tokio::spawn(async move {
                    let mut calls = 0usize;
                    while Instant::now() < deadline {
                        fresh_call(&rt, &plugin).await;
                        calls += 1;
                    }
                    calls
                })
            })
            .collect();
        let mut total = 0;
        for task in tasks {
            total += task.await.expect("task");
        }
        total
    });
    println!(
        "fresh-instance calls per second, {cores} tasks on {cores} cores: {:.0}",
        total as f64 / THROUGHPUT_WINDOW.as_secs_f64()
    );

    let (heap, rss) = tokio
        .block_on(rt.live_instance_footprint(&plugin, LIVE_INSTANCES, || {
            (LIVE_HEAP.load(Ordering::Relaxed), rss_bytes())
        }))
        .expect("live instances");
    println!(
        "per live instance ({LIVE_INSTANCES} alive): host heap {:.1} KiB, resident memory {:.1} KiB (linear memory included)",
        heap as f64 / 1024.0,
        rss as f64 / 1024.0
    );
}
