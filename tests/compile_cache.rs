//! The compile cache: a component is compiled once, later loads deserialize the cached
//! `.cwasm`, and a cache file this user did not write privately is never deserialized.

use baton_runtime::cache::CacheOutcome;
use baton_runtime::engine::EngineSettings;
use baton_runtime::grants::Grants;
use baton_runtime::plugin::{Limits, PluginSpec};
use baton_runtime::{Runtime, RuntimeOptions};
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

fn spec() -> PluginSpec {
    PluginSpec {
        name: None,
        path: crate::common::plugin("noop"),
        sha256: None,
        expected: None,
        settings: serde_json::json!({}),
        grants: Grants::default(),
        limits: Limits {
            memory: 16 << 20,
            timeout: Duration::from_secs(5),
            wall_timeout: Duration::from_secs(5),
            output_cap: 1 << 10,
            http_response_cap: 1 << 10,
            exec_timeout: Duration::from_secs(5),
            warm: None,
        },
    }
}

#[test]
fn compiled_once_then_loaded_and_untrusted_files_are_recompiled() {
    let cache = tempfile::tempdir().unwrap();
    let runtime = Runtime::new(RuntimeOptions {
        cache_dir: cache.path().join("wasm"),
        cache_max_size: 1 << 30,
        engine: EngineSettings {
            max_instances: 4,
            max_memory: 16 << 20,
        },
        state: None,
    })
    .unwrap();
    let outcome = |rt: &Runtime| rt.inspect(&spec()).unwrap().2;
    assert_eq!(outcome(&runtime), CacheOutcome::Compiled);
    assert_eq!(outcome(&runtime), CacheOutcome::Hit);
    let entry = std::fs::read_dir(cache.path().join("wasm"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .expect("a cache entry");
    // Writable by others: never deserialized, recompiled and replaced.
    std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(0o666)).unwrap();
    assert_eq!(outcome(&runtime), CacheOutcome::Compiled);
    assert_eq!(outcome(&runtime), CacheOutcome::Hit);
    // A symlink in place of the entry is not followed.
    let elsewhere = cache.path().join("elsewhere.cwasm");
    std::fs::rename(&entry, &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &entry).unwrap();
    assert_eq!(outcome(&runtime), CacheOutcome::Compiled);
    // A corrupt entry is recompiled, not trusted.
    std::fs::write(&entry, b"garbage").unwrap();
    std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(outcome(&runtime), CacheOutcome::Compiled);
    assert_eq!(outcome(&runtime), CacheOutcome::Hit);
}
