//! The LLM provider test double itself, through its binary: the HTTP shapes with their
//! headers and error bodies, enforced limits, the control endpoints and the request record,
//! and the CLI stand-ins run through their wrapper scripts with a cleared environment, as
//! Baton's `exec` runs them.
use crate::common::double::{Double, double_clis, header, http};
use serde_json::{Value, json};
use std::process::Command;

fn openai(double: &Double, key: &str, prompt: &str) -> (u16, Vec<(String, String)>, Value) {
    let body = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": prompt}]});
    let auth = format!("Bearer {key}");
    let (status, headers, body) = http(
        double.addr(),
        "POST",
        "/v1/chat/completions",
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        body.to_string().as_bytes(),
    );
    (
        status,
        headers,
        serde_json::from_slice(&body).unwrap_or(Value::Null),
    )
}

fn anthropic(double: &Double, prompt: &str) -> (u16, Vec<(String, String)>, Value) {
    let body = json!({"model": "claude-sonnet-4-5", "max_tokens": 64,
        "messages": [{"role": "user", "content": prompt}]});
    let (status, headers, body) = http(
        double.addr(),
        "POST",
        "/v1/messages",
        &[
            ("x-api-key", "sk-good"),
            ("anthropic-version", "2023-06-01"),
        ],
        body.to_string().as_bytes(),
    );
    (
        status,
        headers,
        serde_json::from_slice(&body).unwrap_or(Value::Null),
    )
}

#[test]
fn http_shapes_modes_and_record() {
    let double = Double::start(&["--key", "sk-good"]);
    let (status, headers, body) = openai(&double, "sk-good", "hello");
    assert_eq!(status, 200);
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "double answer #1: hello"
    );
    assert!(header(&headers, "x-request-id").is_some());
    assert_eq!(header(&headers, "x-ratelimit-limit-requests"), Some("500"));

    let (status, _, body) = openai(&double, "sk-bad", "hello");
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("invalid_api_key"))
    );

    let (status, headers, body) = openai(&double, "sk-good", "go [double:rpm:360000]");
    assert_eq!(status, 429);
    assert_eq!(body["error"]["type"], "requests");
    assert_eq!(header(&headers, "x-ratelimit-reset-requests"), Some("6m0s"));
    assert_eq!(header(&headers, "retry-after"), Some("360"));

    let (status, _, body) = openai(&double, "sk-good", "[double:quota]");
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("insufficient_quota"))
    );

    double.control(json!({"script": ["overloaded:3000", "tpm:20"]}));
    let (status, headers, body) = anthropic(&double, "hi");
    assert_eq!(
        (status, body["error"]["type"].as_str()),
        (529, Some("overloaded_error"))
    );
    assert_eq!(header(&headers, "retry-after"), Some("3"));
    let (status, headers, _) = anthropic(&double, "hi");
    assert_eq!(status, 429);
    let reset = header(&headers, "anthropic-ratelimit-tokens-reset").unwrap();
    assert!(reset.ends_with('Z'), "{reset}");
    let (status, _, body) = anthropic(&double, "hi again");
    assert_eq!(
        (status, body["content"][0]["text"].as_str()),
        (200, Some("double answer #1: hi again"))
    );

    // A cut answer: the body is shorter than its content-length.
    let (status, headers, _) = http(
        double.addr(),
        "POST",
        "/v1/messages",
        &[("x-api-key", "sk-good"), ("anthropic-version", "2023-06-01")],
        json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "[double:truncated]"}]})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(status, 200);
    assert!(header(&headers, "content-length").is_some());

    let records = double.requests();
    let modes: Vec<&str> = records
        .iter()
        .map(|r| r["mode"].as_str().unwrap())
        .collect();
    assert_eq!(
        modes,
        [
            "ok",
            "auth",
            "rpm:360000",
            "quota:3600000",
            "overloaded:3000",
            "tpm:20",
            "ok",
            "truncated"
        ]
    );
    assert_eq!(records[1]["key"], "sk-bad");
    assert_eq!(records[0]["model"], "gpt-4o-mini");
    assert!(records[0]["at_ms"].as_u64().unwrap() > 1_700_000_000_000);
}

#[test]
fn enforces_requests_per_minute_like_a_provider() {
    let double = Double::start(&["--rpm", "3"]);
    let statuses: Vec<u16> = (0..5)
        .map(|i| openai(&double, "k", &format!("p{i}")).0)
        .collect();
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
    let (_, headers, body) = openai(&double, "k", "p5");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Limit 3")
    );
    let reset = header(&headers, "x-ratelimit-reset-requests").unwrap();
    assert!(reset.ends_with('s') && reset != "0s", "{reset}");
}

#[test]
fn refuses_other_than_loopback_and_bad_options() {
    let output = Command::new(crate::common::double::DOUBLE)
        .args(["serve", "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("loopback addresses only"));
    let output = Command::new(crate::common::double::DOUBLE)
        .args(["serve", "--mode", "nap"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown mode `nap`"));
    for command in ["serve", "install"] {
        let output = Command::new(crate::common::double::DOUBLE)
            .args([command, "--help"])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0), "{command} --help");
        assert!(String::from_utf8_lossy(&output.stdout).contains("Usage:"));
    }
}

/// Runs a wrapper script as Baton's exec does: empty environment, cwd `/`, stdin closed.
fn run_cli(path: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(path)
        .args(args)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .current_dir("/")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn cli_stand_ins() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("record.jsonl");
    let bin = double_clis(&dir.path().join("bin"), "ok", Some(&record));

    let gemini = run_cli(
        &bin.join("gemini"),
        &["-p", "hi", "--output-format", "json"],
    );
    assert_eq!(gemini.status.code(), Some(0));
    let body: Value = serde_json::from_slice(&gemini.stdout).unwrap();
    assert_eq!(body["response"], "double answer #1: hi");
    let limited = run_cli(
        &bin.join("gemini"),
        &["-p", "[double:rpm:36500]", "-o", "json"],
    );
    assert_eq!(limited.status.code(), Some(1));
    let error: Value = serde_json::from_slice(&limited.stderr).unwrap();
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Please retry in 36.5s.")
    );
    assert_eq!(
        run_cli(&bin.join("gemini"), &["-p", "[double:auth]"])
            .status
            .code(),
        Some(41)
    );

    let claude = run_cli(
        &bin.join("claude"),
        &["-p", "--output-format", "json", "[double:rpm]"],
    );
    assert_eq!(claude.status.code(), Some(0), "a rate limit exits 0");
    let body: Value = serde_json::from_slice(&claude.stdout).unwrap();
    assert_eq!(
        (body["is_error"].as_bool(), body["subtype"].as_str()),
        (Some(true), Some("success"))
    );
    let killed = run_cli(
        &bin.join("claude"),
        &["-p", "--output-format", "json", "[double:truncated]"],
    );
    assert_eq!(killed.status.code(), None, "killed by a signal");
    assert!(killed.stdout.is_empty());

    let outside = run_cli(&bin.join("codex"), &["exec", "--json", "hi"]);
    assert_eq!(outside.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&outside.stderr).contains("--skip-git-repo-check"));
    let codex = run_cli(
        &bin.join("codex"),
        &["exec", "--json", "--skip-git-repo-check", "hi"],
    );
    assert_eq!(codex.status.code(), Some(0));
    let last: Value = serde_json::from_str(
        String::from_utf8_lossy(&codex.stdout)
            .lines()
            .last()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(last["type"], "turn.completed");

    let lines = std::fs::read_to_string(&record).unwrap();
    let apis: Vec<String> = lines
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["api"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        apis,
        ["gemini", "gemini", "gemini", "claude", "claude", "codex"]
    );
}

#[test]
fn cli_hang_is_ended_by_the_caller() {
    let dir = tempfile::tempdir().unwrap();
    let bin = double_clis(&dir.path().join("bin"), "hang:60000", None);
    let mut child = Command::new(bin.join("claude"))
        .args(["-p", "hi"])
        .env_clear()
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(child.try_wait().unwrap().is_none(), "still hanging");
    child.kill().unwrap();
    child.wait().unwrap();
}
