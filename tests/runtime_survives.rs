//! One runtime, in one process, meets every hostile plugin in turn and still serves a good
//! call after each: the host never crashes and no call sees another's state.

use baton_runtime::engine::EngineSettings;
use baton_runtime::error::ErrorKind;
use baton_runtime::grants::Grants;
use baton_runtime::plugin::{Limits, PluginSpec};
use baton_runtime::stage_io::StagedIo;
use baton_runtime::{Runtime, RuntimeOptions};
use std::time::Duration;

fn limits() -> Limits {
    Limits {
        memory: 64 << 20,
        timeout: Duration::from_millis(500),
        wall_timeout: Duration::from_secs(20),
        output_cap: 1 << 20,
        http_response_cap: 1 << 20,
        exec_timeout: Duration::from_secs(5),
        warm: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_attack_is_stopped_and_the_next_call_succeeds() {
    let runtime = Runtime::new(RuntimeOptions {
        cache_dir: crate::common::shared_cache(),
        cache_max_size: 1 << 30,
        engine: EngineSettings {
            max_instances: 16,
            max_memory: 64 << 20,
        },
        state: None,
    })
    .unwrap();
    let spec = PluginSpec {
        name: None,
        path: crate::common::plugin("hostile"),
        sha256: None,
        expected: None,
        settings: serde_json::json!({}),
        grants: Grants {
            http: vec!["http://127.0.0.1:1".into()],
            ..Grants::default()
        },
        limits: limits(),
    };
    let plugin = runtime.load(&spec).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let attacks = [
        (r#"{"attack": "loop"}"#, "deadline-exceeded"),
        (r#"{"attack": "memory"}"#, "memory-limit"),
        (r#"{"attack": "flood", "bytes": 10485760}"#, "output-limit"),
        (r#"{"attack": "panic"}"#, "guest-panic"),
    ];
    for (round, (params, expected)) in attacks.iter().enumerate() {
        let params: serde_json::Value = serde_json::from_str(params).unwrap();
        let out = work.path().join(format!("bad-{round}"));
        let io = StagedIo::prepare(work.path(), &[], &out).unwrap();
        let error = runtime
            .run_stage(&plugin, &io, "r", "s", &params, 1)
            .await
            .expect_err("the attack must fail");
        assert_eq!(error.kind.code(), *expected, "{params}: {error}");
        if let ErrorKind::Deadline { limit } = error.kind {
            assert_eq!(limit, Duration::from_millis(500));
        }
        let out = work.path().join(format!("good-{round}"));
        let io = StagedIo::prepare(work.path(), &[], &out).unwrap();
        let echo = serde_json::json!({"attack": "echo", "round": round});
        let report = runtime
            .run_stage(&plugin, &io, "r", "s", &echo, 1)
            .await
            .expect("a good call after an attack");
        let outcome = report.value.expect("echo succeeds");
        assert!(
            outcome.summary.contains(&format!("\"round\":{round}")),
            "{}",
            outcome.summary
        );
        assert!(
            report.stdout.is_empty(),
            "a fresh instance must not see the flood"
        );
    }
}
