//! The sandbox through the real binary: hostile plugins are stopped with the right typed error
//! and a non-zero exit; files, HTTP, worlds, WIT versions and capabilities are enforced.

use crate::common::fixture::{Reply, Server};
use crate::common::{Project, plugin};

fn hostile(project: &Project, params: &str, extra: &[&str]) -> crate::common::Run {
    let path = plugin("hostile");
    let mut args = vec![
        "plugin",
        "call",
        path.to_str().unwrap(),
        "--format",
        "json",
        "--input",
        params,
        // hostile asks for HTTP to whatever is granted; grant a port nothing listens on.
        "--allow-host",
        "http://127.0.0.1:1",
    ];
    args.extend_from_slice(extra);
    project.baton(&args)
}

fn error_code(run: &crate::common::Run) -> String {
    run.json()["error"]["code"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

#[test]
fn an_endless_loop_hits_the_cpu_deadline() {
    let project = Project::new();
    let run = hostile(&project, r#"{"attack": "loop"}"#, &["--timeout", "300ms"]).expect(30);
    assert_eq!(error_code(&run), "deadline-exceeded", "{}", run.stdout());
    assert!(
        run.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("300ms")
    );
}

#[test]
fn a_memory_bomb_hits_the_memory_cap() {
    let project = Project::new();
    let run = hostile(&project, r#"{"attack": "memory"}"#, &["--memory", "32MiB"]).expect(30);
    assert_eq!(error_code(&run), "memory-limit", "{}", run.stdout());
}

#[test]
fn a_stdout_flood_hits_the_output_cap() {
    let project = Project::new();
    let run = hostile(&project, r#"{"attack": "flood", "bytes": 52428800}"#, &[]).expect(30);
    assert_eq!(error_code(&run), "output-limit", "{}", run.stdout());
    assert!(
        run.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("stdout")
    );
}

#[test]
fn a_panic_is_a_trap_with_the_guest_stderr() {
    let project = Project::new();
    let run = hostile(&project, r#"{"attack": "panic"}"#, &[]).expect(30);
    assert_eq!(error_code(&run), "trap", "{}", run.stdout());
    assert!(
        run.json()["error"]["stderr"]
            .as_str()
            .unwrap()
            .contains("panicked on purpose"),
        "{}",
        run.stdout()
    );
    let human = project.baton(&[
        "plugin",
        "call",
        plugin("hostile").to_str().unwrap(),
        "--input",
        r#"{"attack": "panic"}"#,
        "--allow-host",
        "http://127.0.0.1:1",
    ]);
    assert_eq!(human.code(), 30);
    assert!(
        human.stderr().contains("plugin `hostile` run: trapped"),
        "{}",
        human.stderr()
    );
}

#[test]
fn the_same_process_serves_good_calls_after_a_trap() {
    let project = Project::new();
    // --repeat runs the same call several times in one process with fresh instances.
    let run = hostile(&project, r#"{"attack": "echo"}"#, &["--repeat", "3"]).expect(0);
    assert!(run.stdout().contains("echo"));
}

#[test]
fn a_stage_cannot_read_outside_its_preopens() {
    let project = Project::new();
    let input = project.write("data/input.txt", "hello");
    std::os::unix::fs::symlink("/etc/passwd", project.path().join("data/link")).unwrap();
    let input_arg = format!("in.txt={}", input.display());
    let dir_arg = format!("data={}", project.path().join("data").display());
    for path in [
        "/inputs/../../etc/passwd",
        "/etc/passwd",
        "/inputs/data/link",
        "/inputs/data/../../../etc/hostname",
    ] {
        let params = format!(r#"{{"attack": "read-escape", "path": "{path}"}}"#);
        let run = hostile(
            &project,
            &params,
            &["--stage-input", &input_arg, "--stage-input", &dir_arg],
        );
        assert_eq!(
            run.code(),
            30,
            "read of {path} was not refused: {}",
            run.stdout()
        );
        let doc = run.json();
        assert_eq!(doc["failure"]["kind"], "fatal", "{path}: {doc}");
        assert!(!run.stdout().contains("READ"), "{path}: {doc}");
    }
    // The declared input itself is readable.
    let run = hostile(
        &project,
        r#"{"attack": "read-escape", "path": "/inputs/in.txt"}"#,
        &["--stage-input", &input_arg],
    )
    .expect(0);
    assert!(run.stdout().contains("READ"), "{}", run.stdout());
}

#[test]
fn a_stage_cannot_write_its_inputs_but_can_write_its_output() {
    let project = Project::new();
    let input = project.write("data/input.txt", "hello");
    let input_arg = format!("in.txt={}", input.display());
    for path in ["/inputs/in.txt", "/inputs/new.txt"] {
        let params = format!(r#"{{"attack": "write", "path": "{path}"}}"#);
        let run = hostile(&project, &params, &["--stage-input", &input_arg]).expect(30);
        assert_eq!(run.json()["failure"]["kind"], "fatal", "{}", run.stdout());
    }
    assert_eq!(std::fs::read_to_string(&input).unwrap(), "hello");
    let out = project.path().join("out");
    let run = hostile(
        &project,
        r#"{"attack": "write", "path": "/output/result.txt"}"#,
        &[
            "--stage-input",
            &input_arg,
            "--output-dir",
            out.to_str().unwrap(),
        ],
    )
    .expect(0);
    assert!(run.stdout().contains("WROTE"), "{}", run.stdout());
    assert!(out.join("result.txt").is_file());
}

#[test]
fn http_to_a_granted_loopback_server_works_and_others_are_refused() {
    let project = Project::new();
    let allowed = Server::start("127.0.0.1", |_| Reply::json(200, "{\"ok\":true}"));
    let other = Server::start("127.0.0.2", |_| Reply::json(200, "secret"));
    let grant = allowed.origin();
    let ok = hostile(
        &project,
        &format!(
            r#"{{"attack": "http", "url": "{}"}}"#,
            allowed.url("/hello")
        ),
        &["--allow-host", &grant],
    )
    .expect(0);
    assert!(ok.stdout().contains("status 200"), "{}", ok.stdout());
    let refused = hostile(
        &project,
        &format!(r#"{{"attack": "http", "url": "{}"}}"#, other.url("/steal")),
        &["--allow-host", &grant],
    )
    .expect(30);
    let doc = refused.json();
    assert!(
        doc["failure"]["reason"]
            .as_str()
            .unwrap()
            .contains("HttpRequestDenied"),
        "{doc}"
    );
    assert!(
        doc["refused_http"][0]
            .as_str()
            .unwrap()
            .contains(&other.origin()),
        "{doc}"
    );
    assert!(
        other.requests().is_empty(),
        "the ungranted server was reached"
    );
}

#[test]
fn a_redirect_to_an_ungranted_host_is_refused() {
    let project = Project::new();
    let target = Server::start("127.0.0.3", |_| Reply::json(200, "secret"));
    let target_url = target.url("/loot");
    let bouncer = Server::start("127.0.0.1", move |_| Reply::redirect(&target_url));
    let run = hostile(
        &project,
        &format!(
            r#"{{"attack": "http", "url": "{}", "follow-redirects": true}}"#,
            bouncer.url("/go")
        ),
        &["--allow-host", &bouncer.origin()],
    )
    .expect(30);
    assert!(
        run.stdout().contains("HttpRequestDenied"),
        "{}",
        run.stdout()
    );
    assert_eq!(bouncer.requests(), vec!["/go"]);
    assert!(
        target.requests().is_empty(),
        "the redirect target was reached"
    );
}

#[test]
fn other_worlds_and_wit_versions_are_refused_naming_both() {
    let project = Project::new();
    let future = project
        .baton(&[
            "plugin",
            "call",
            plugin("future-version").to_str().unwrap(),
            "--input",
            r#"{"id":"x"}"#,
        ])
        .expect(30);
    assert!(
        future.stderr().contains("baton:plugin@0.3.0")
            && future.stderr().contains("baton:plugin@0.2.0")
            && future.stderr().contains("baton:plugin@0.1.0"),
        "{}",
        future.stderr()
    );
    let stage_as_resolver = project
        .baton(&[
            "plugin",
            "call",
            plugin("csv-to-jsonl").to_str().unwrap(),
            "--world",
            "resolver",
            "--input",
            r#"{"id":"x"}"#,
        ])
        .expect(30);
    let message = stage_as_resolver.stderr();
    assert!(
        message.contains("wrong world")
            && message.contains("resolver")
            && message.contains("stage"),
        "{message}"
    );
    let command = project
        .baton(&[
            "plugin",
            "call",
            plugin("not-a-plugin").to_str().unwrap(),
            "--format",
            "json",
        ])
        .expect(30);
    assert_eq!(command.json()["error"]["code"], "wrong-world");
    assert!(
        command.stdout().contains("wasi:cli/run"),
        "{}",
        command.stdout()
    );
}

#[test]
fn a_file_that_is_not_a_component_is_refused() {
    let project = Project::new();
    let garbage = project.write("garbage.wasm", "not wasm at all");
    let run = project
        .baton(&[
            "plugin",
            "call",
            garbage.to_str().unwrap(),
            "--format",
            "json",
        ])
        .expect(30);
    assert_eq!(run.json()["error"]["code"], "invalid-component");
    let module = project.path().join("module.wasm");
    std::fs::write(&module, b"\0asm\x01\0\0\0").unwrap();
    let run = project
        .baton(&["plugin", "call", module.to_str().unwrap()])
        .expect(30);
    assert!(
        run.stderr().contains("core WebAssembly module"),
        "{}",
        run.stderr()
    );
}

#[test]
fn a_plugin_asking_for_ungranted_capabilities_is_refused_at_load() {
    let project = Project::new();
    let run = project
        .baton(&[
            "plugin",
            "call",
            plugin("asks-too-much").to_str().unwrap(),
            "--input",
            r#"{"id":"x"}"#,
            "--format",
            "json",
        ])
        .expect(30);
    let doc = run.json();
    assert_eq!(doc["error"]["code"], "capability-refused");
    let message = doc["error"]["message"].as_str().unwrap();
    for needle in [
        "https://api.example.org:443",
        "SECRET_TOKEN",
        "curl",
        "/data",
        "state",
    ] {
        assert!(message.contains(needle), "missing {needle}: {message}");
    }
}

#[test]
fn state_needs_its_grant_and_persists_between_calls() {
    let project = Project::new();
    let path = plugin("stateful");
    let refused = project
        .baton(&[
            "plugin",
            "call",
            path.to_str().unwrap(),
            "--input",
            r#"{"id":"x"}"#,
        ])
        .expect(30);
    assert!(
        refused.stderr().contains("state = true"),
        "{}",
        refused.stderr()
    );
    for expected in ["counter://1", "counter://2"] {
        let run = project
            .baton(&[
                "plugin",
                "call",
                path.to_str().unwrap(),
                "--allow-state",
                "--input",
                r#"{"id":"x"}"#,
            ])
            .expect(0);
        assert!(run.stdout().contains(expected), "{}", run.stdout());
    }
}

#[test]
fn logs_and_progress_reach_the_host() {
    let project = Project::new();
    let run = project
        .baton(&[
            "plugin",
            "call",
            plugin("logger").to_str().unwrap(),
            "--input",
            r#"{"id":"x"}"#,
            "--format",
            "json",
        ])
        .expect(0);
    let doc = run.json();
    let levels: Vec<&str> = doc["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["level"].as_str().unwrap())
        .collect();
    for level in ["debug", "info", "warn", "error"] {
        assert!(levels.contains(&level), "{doc}");
    }
    assert_eq!(doc["progress"]["done"], 3, "{doc}");
}

#[test]
fn environment_is_empty_unless_granted() {
    let project = Project::new();
    let unset = hostile(&project, r#"{"attack": "env", "name": "HOME"}"#, &[]).expect(0);
    assert!(unset.stdout().contains("unset"), "{}", unset.stdout());
}

/// The notes of every call of `plugin call --repeat N --format json` (one document each).
fn instance_notes(run: &crate::common::Run) -> Vec<String> {
    serde_json::Deserializer::from_str(&run.stdout())
        .into_iter::<serde_json::Value>()
        .map(|doc| {
            doc.unwrap()["result"][0]["note"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[test]
fn calls_get_fresh_instances_unless_a_warm_policy_is_configured() {
    let project = Project::new();
    std::fs::copy(plugin("stateful"), project.path().join("stateful.wasm")).unwrap();
    project.write(
        "baton.toml",
        r#"
[plugins.fresh]
path = "stateful.wasm"
[plugins.fresh.grants]
state = true

[plugins.warm]
path = "stateful.wasm"
warm = 2
[plugins.warm.grants]
state = true
"#,
    );
    let input = r#"{"id": "x"}"#;
    let fresh = project
        .baton(&[
            "plugin", "call", "fresh", "--repeat", "3", "--format", "json", "--input", input,
        ])
        .expect(0);
    assert_eq!(instance_notes(&fresh), ["instance call 1"; 3]);
    // An instance serves two calls, then retires.
    let warm = project
        .baton(&[
            "plugin", "call", "warm", "--repeat", "3", "--format", "json", "--input", input,
        ])
        .expect(0);
    assert_eq!(
        instance_notes(&warm),
        ["instance call 1", "instance call 2", "instance call 1"]
    );
}

#[test]
fn a_call_stuck_in_host_io_hits_the_wall_clock_bound() {
    let project = Project::new();
    let slow = Server::start("127.0.0.1", |_| {
        std::thread::sleep(std::time::Duration::from_secs(10));
        Reply::json(200, "{}")
    });
    let run = hostile(
        &project,
        &format!(r#"{{"attack": "http", "url": "{}"}}"#, slow.url("/slow")),
        &["--allow-host", &slow.origin(), "--wall-timeout", "500ms"],
    )
    .expect(30);
    assert_eq!(error_code(&run), "wall-timeout", "{}", run.stdout());
}

#[test]
fn response_bodies_are_capped() {
    let project = Project::new();
    project.write("baton.toml", "[defaults]\nhttp-response-cap = \"1KiB\"\n");
    let big = Server::start("127.0.0.1", |_| Reply::json(200, &"x".repeat(64 << 10)));
    let run = hostile(
        &project,
        &format!(r#"{{"attack": "http", "url": "{}"}}"#, big.url("/big")),
        &["--allow-host", &big.origin()],
    )
    .expect(30);
    let reason = run.json()["failure"]["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        reason.contains("response body size exceeds limit: 1024"),
        "{reason}"
    );
    assert!(
        !reason.contains("backtrace"),
        "host internals reached the guest: {reason}"
    );
}
