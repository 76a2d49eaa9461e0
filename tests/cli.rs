//! Usage errors, configuration commands and the documented exit codes, through the binary.

use crate::common::{Project, plugin};
use sha2::Digest as _;

#[test]
fn bad_usage_exits_20_with_a_clear_message() {
    let project = Project::new();
    let noop = plugin("noop");
    let bad_json = project
        .baton(&[
            "plugin",
            "call",
            noop.to_str().unwrap(),
            "--input",
            "{not json",
        ])
        .expect(20);
    assert!(
        bad_json.stderr().contains("--input is not valid JSON"),
        "{}",
        bad_json.stderr()
    );
    let missing = project
        .baton(&["plugin", "call", "nowhere.wasm"])
        .expect(20);
    assert!(
        missing.stderr().contains("no such file"),
        "{}",
        missing.stderr()
    );
    let no_id = project
        .baton(&["plugin", "call", noop.to_str().unwrap(), "--input", "{}"])
        .expect(20);
    assert!(
        no_id.stderr().contains("needs a string `id`"),
        "{}",
        no_id.stderr()
    );
    let bad_grant = project
        .baton(&[
            "plugin",
            "call",
            noop.to_str().unwrap(),
            "--allow-host",
            "example.org",
            "--input",
            r#"{"id":"x"}"#,
        ])
        .expect(20);
    assert!(
        bad_grant.stderr().contains("scheme://host:port"),
        "{}",
        bad_grant.stderr()
    );
    // Every usage error the argument parser finds exits 20 too, as documented.
    for args in [
        &["plugin", "frobnicate"][..],
        &["bogus"][..],
        &["queue", "list", "--state", "bogus"][..],
        &["queue", "list", "--limit", "-1"][..],
        &["queue", "run", "--workers", "abc"][..],
        &["--format", "yaml", "queue", "stats"][..],
        &["pipeline", "run", "x", "--jobs", "0"][..],
        &[][..],
    ] {
        let run = project.baton(args).expect(20);
        assert!(!run.stderr().is_empty(), "{args:?} said nothing");
    }
}

#[test]
fn a_mistyped_key_and_a_zero_lease_are_refused_with_the_fix() {
    let project = Project::new();
    project.write("baton.toml", "[queue]\nwrokers = 4\nlease = \"0s\"\n");
    let run = project.baton(&["config", "validate"]).expect(20);
    assert!(
        run.stderr()
            .contains("unknown key `queue.wrokers` (did you mean `queue.workers`?)"),
        "{}",
        run.stderr()
    );
    assert!(run.stderr().contains("at least 1s"), "{}", run.stderr());
}

#[cfg(unix)]
#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    let project = Project::new();
    let lines: String = (0..3000)
        .map(|i| format!("{{\"id\": \"a{i}\"}}\n"))
        .collect();
    project.write("a.jsonl", &lines);
    project.baton(&["queue", "import", "a.jsonl"]).expect(0);
    // `baton queue list --limit 3000 | head -1`, with the reader gone before the writer ends.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_baton"))
        .current_dir(project.path())
        .args(["queue", "list", "--limit", "3000"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 16];
    std::io::Read::read_exact(&mut stdout, &mut first).unwrap();
    drop(stdout);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_ne!(output.status.code(), Some(101), "{stderr}");
}

#[test]
fn an_invalid_config_is_reported_whole_with_exit_20() {
    let project = Project::new();
    project.write(
        "baton.toml",
        "[defaults]\nmemory = \"lots\"\ntimeout = \"soon\"\n[plugins.x]\npath = \"x.wasm\"\nkind = \"printer\"\n",
    );
    let run = project.baton(&["config", "validate"]).expect(20);
    for needle in ["defaults.memory", "defaults.timeout", "plugins.x: `kind`"] {
        assert!(
            run.stderr().contains(needle),
            "missing {needle}: {}",
            run.stderr()
        );
    }
}

#[test]
fn settings_that_cannot_work_are_refused_by_validate_and_at_start() {
    let project = Project::new();
    std::fs::create_dir_all(project.path().join("state.db")).unwrap();
    project.write(
        "baton.toml",
        "[store]\ndb = \"state.db\"\n[queue]\nworkers = 100000000\nresolvers = \"direct,nonexistent\"\nbackoff = \"10m\"\nbackoff-max = \"1s\"\nallow-addresses = [\"10.0.0.1/8\"]\n[limits.\"host:a\"]\nper-second = -1\nconcurrency = 0\n",
    );
    let run = project.baton(&["config", "validate"]).expect(20);
    for needle in [
        "more than the 4096",
        "`nonexistent` is neither configured",
        "longer than queue.backoff-max",
        "host bits set: write the network `10.0.0.0/8` or the one address `10.0.0.1`",
        "per-second: must be a number above 0",
        "concurrency: 0 would never",
        "is a directory, not a SQLite file",
    ] {
        assert!(
            run.stderr().contains(needle),
            "missing {needle}: {}",
            run.stderr()
        );
    }
    let start = project.baton(&["queue", "run", "--drain"]).expect(20);
    assert!(
        start.stderr().contains("more than the 4096"),
        "{}",
        start.stderr()
    );
    project.write("baton.toml", "");
    let flag = project
        .baton(&["queue", "run", "--drain", "--workers", "5000"])
        .expect(20);
    assert!(
        flag.stderr().contains("from 1 to 4096"),
        "{}",
        flag.stderr()
    );
}

#[test]
fn config_init_show_get_and_precedence() {
    let project = Project::new();
    project.baton(&["config", "init"]).expect(0);
    project.baton(&["config", "init"]).expect(20);
    project.baton(&["config", "validate"]).expect(0);
    let shown = project
        .baton(&["config", "show", "--format", "json"])
        .expect(0)
        .json();
    assert_eq!(shown["settings"]["defaults.memory"]["source"], "default");
    std::fs::write(
        project.path().join("baton.toml"),
        "[defaults]\nmemory = \"64MiB\"\n",
    )
    .unwrap();
    let get = project
        .baton(&["config", "get", "defaults.memory"])
        .expect(0);
    assert_eq!(get.stdout().trim(), "64MiB");
    project.baton(&["config", "get", "no.such.key"]).expect(20);
    let nested = project.path().join("sub/dir");
    std::fs::create_dir_all(&nested).unwrap();
    let from_child = std::process::Command::new(env!("CARGO_BIN_EXE_baton"))
        .current_dir(&nested)
        .args(["config", "get", "defaults.memory"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&from_child.stdout).trim(), "64MiB");
    let env_loses_to_file = std::process::Command::new(env!("CARGO_BIN_EXE_baton"))
        .current_dir(project.path())
        .env("BATON_MEMORY", "8MiB")
        .env("BATON_TIMEOUT", "3s")
        .args(["config", "show", "--format", "json"])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&env_loses_to_file.stdout).unwrap();
    assert_eq!(doc["settings"]["defaults.memory"]["value"], "64MiB");
    assert_eq!(doc["settings"]["defaults.timeout"]["value"], "3s");
    assert_eq!(doc["settings"]["defaults.timeout"]["source"], "env");
}

#[test]
fn version_help_and_completions() {
    let project = Project::new();
    let version = project.baton(&["--version"]).expect(0);
    assert!(version.stdout().starts_with("baton "));
    let help = project.baton(&["plugin", "call", "--help"]).expect(0);
    assert!(help.stdout().contains("--allow-host"));
    let bash = project.baton(&["completions", "bash"]).expect(0);
    assert!(bash.stdout().contains("_baton"));
}

#[test]
fn a_small_address_space_falls_back_from_the_pooling_allocator() {
    let project = Project::new();
    let noop = plugin("noop");
    // 8 GiB of address space cannot hold the pool's reservations.
    let script = format!(
        "ulimit -v 8388608 && exec {} plugin call {} --input '{{\"id\":\"x\",\"url\":\"https://example.org/a.pdf\"}}'",
        env!("CARGO_BIN_EXE_baton"),
        noop.display()
    );
    let run = std::process::Command::new("bash")
        .args(["-c", &script])
        .current_dir(project.path())
        .env("BATON_CACHE_DIR", crate::common::shared_cache())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(
        stderr.contains("falling back to on-demand allocation"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&run.stdout).contains("https://example.org/a.pdf"));
}

#[test]
fn the_papers_example_is_a_valid_configuration_whose_plugins_load() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/papers");
    for args in [&["config", "validate"][..], &["plugin", "list"][..]] {
        let run = std::process::Command::new(env!("CARGO_BIN_EXE_baton"))
            .current_dir(example)
            .env("BATON_CACHE_DIR", crate::common::shared_cache())
            .args(args)
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
    }
    let _ = std::fs::remove_dir_all(std::path::Path::new(example).join(".baton"));
}

#[test]
fn config_validate_checks_plugin_files_and_their_pins() {
    let project = Project::new();
    std::fs::copy(plugin("noop"), project.path().join("noop.wasm")).unwrap();
    project.write(
        "baton.toml",
        &format!(
            "[plugins.gone]\npath = \"missing.wasm\"\n[plugins.pinned]\npath = \"noop.wasm\"\nsha256 = \"{}\"\n",
            "0".repeat(64)
        ),
    );
    let run = project.baton(&["config", "validate"]).expect(20);
    let stderr = run.stderr();
    assert!(
        stderr.contains("plugins.gone: component")
            && stderr.contains("missing.wasm does not exist"),
        "{stderr}"
    );
    assert!(
        stderr.contains("plugins.pinned:") && stderr.contains("but the pin is 0000"),
        "{stderr}"
    );
    let digest = hex::encode(sha2::Sha256::digest(std::fs::read(plugin("noop")).unwrap()));
    project.write(
        "baton.toml",
        &format!("[plugins.pinned]\npath = \"noop.wasm\"\nsha256 = \"{digest}\"\n"),
    );
    project.baton(&["config", "validate"]).expect(0);
}

#[test]
fn untrusted_text_reaches_the_terminal_escaped() {
    let project = Project::new();
    let id = "evil\u{1b}[2J\u{202e}gpj.exe";
    project
        .baton(&[
            "queue",
            "enqueue",
            id,
            r#"{"note": "\u001b]0;pwned\u0007"}"#,
        ])
        .expect(0);
    for args in [
        &["queue", "list"][..],
        &["job", "show", id][..],
        &["queue", "cancel", id][..],
    ] {
        let run = project.baton(args).expect(0);
        let out = run.stdout();
        assert!(
            !out.contains('\u{1b}') && !out.contains('\u{202e}') && !out.contains('\u{7}'),
            "{args:?} wrote control characters: {out:?}"
        );
        assert!(
            out.contains("evil\\u{1b}[2J\\u{202e}gpj.exe"),
            "{args:?}: {out}"
        );
    }
    // JSON output keeps the exact text (JSON escapes it).
    let doc = project
        .baton(&["job", "show", id, "--format", "json"])
        .expect(0)
        .json();
    assert_eq!(doc["job"]["key"], id);
}

/// `-q` leaves out progress and the lines of what went well, and keeps failures, results
/// and the summary; a re-import names no duplicate line as an error.
#[test]
fn quiet_keeps_failures_and_results_only() {
    let project = Project::new();
    project.write("baton.toml", "[pipeline]\nallow-commands = \"true\"\n");
    project.write("data/a.txt", "a\n");
    project.write(
        "pipelines/q.toml",
        "[[stage]]\nid = \"fine\"\ncommand = [\"sh\", \"-c\", \"cp data/a.txt \\\"$BATON_OUTPUT_DIR/a.txt\\\"\"]\ninputs = [\"data/a.txt\"]\noutputs = [\"a.txt\"]\n\n[[stage]]\nid = \"broken\"\ncommand = [\"sh\", \"-c\", \"echo nope >&2; exit 3\"]\ninputs = [\"data/a.txt\"]\noutputs = [\"b.txt\"]\n",
    );
    let loud = project.baton(&["pipeline", "run", "q", "--continue-on-error"]);
    assert!(loud.stdout().contains("fine … done"), "{}", loud.stdout());
    let quiet = project.baton(&["-q", "pipeline", "run", "q", "--continue-on-error"]);
    assert_eq!(quiet.code(), loud.code());
    let (out, err) = (quiet.stdout(), quiet.stderr());
    assert!(
        !out.contains("fine …"),
        "a stage that went well was shown: {out}"
    );
    assert!(out.contains("broken"), "the failure was left out: {out}");
    assert!(!err.contains("progress:"), "{err}");
    let lines: String = (0..5).map(|i| format!("{{\"id\": \"k{i}\"}}\n")).collect();
    project.write("jobs.jsonl", &format!("{lines}[1]\n"));
    project.baton(&["queue", "import", "jobs.jsonl"]).expect(10);
    let again = project.baton(&["queue", "import", "jobs.jsonl"]).expect(10);
    let err = again.stderr();
    assert!(err.contains("line 6: not a JSON object"), "{err}");
    assert!(
        !err.contains("✗ line 1"),
        "a duplicate was shown as an error: {err}"
    );
    assert!(
        err.contains("5 line(s) name an id already in the queue"),
        "{err}"
    );
    assert!(
        again
            .stdout()
            .contains("imported 0 new, 5 duplicate, 1 bad"),
        "{}",
        again.stdout()
    );
}

#[test]
fn bench_queue_measures_on_a_store_of_its_own_and_leaves_none_in_the_project() {
    let project = Project::new();
    let report = project
        .baton(&[
            "bench",
            "queue",
            "--jobs",
            "300",
            "--workers",
            "2",
            "--latency-jobs",
            "20",
            "--sync",
            "normal",
            "--format",
            "json",
        ])
        .expect(0)
        .json();
    assert_eq!(report["jobs"], 300, "{report}");
    assert_eq!(report["latency_jobs"], 20, "{report}");
    assert!(
        report["jobs_per_second"].as_f64().unwrap() > 0.0,
        "{report}"
    );
    let db = project.path().join(".baton/baton.db");
    assert!(!db.exists(), "the benchmark wrote {}", db.display());
}
