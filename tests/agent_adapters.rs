//! The agent adapters (`openai`, `anthropic`, `cli-agent`) and agent sessions through the
//! real binary (`baton agent run`, `baton agent sessions`) against the test double: answers
//! and token usage, conversations, one classification per failure with the reset the
//! provider named, keys never echoed, and sessions that warn, expire and leave nothing.
use crate::common::double::{Double, double_clis};
use crate::common::{Project, ledger, plugin};
use serde_json::Value;

const KEY: &str = "sk-test-secret-0123456789";

/// A project with `openai` and `anthropic` pointed at `double`, keys granted as values.
fn http_project(double: &Double, extra: &str) -> Project {
    let project = Project::new();
    std::fs::copy(plugin("openai"), project.path().join("openai.wasm")).unwrap();
    std::fs::copy(plugin("anthropic"), project.path().join("anthropic.wasm")).unwrap();
    project.write(
        "baton.toml",
        &format!(
            r#"{extra}
[plugins.openai]
path = "openai.wasm"
kind = "agent"
settings = {{ base-url = "{url}/v1", model = "gpt-4o-mini" }}
[plugins.openai.grants]
http = ["http://127.0.0.1:*"]
env = ["OPENAI_API_KEY={KEY}"]

[plugins.anthropic]
path = "anthropic.wasm"
kind = "agent"
settings = {{ base-url = "{url}", model = "claude-sonnet-4-5", max-tokens = 200 }}
[plugins.anthropic.grants]
http = ["http://127.0.0.1:*"]
env = ["ANTHROPIC_API_KEY={KEY}"]
"#,
            url = double.url
        ),
    );
    project
}

fn agent_run(
    project: &Project,
    adapter: &str,
    prompts: &[&str],
    extra: &[&str],
) -> (i32, Value, String) {
    let mut args = vec!["agent", "run", adapter, "--format", "json"];
    for prompt in prompts {
        args.extend(["--prompt", prompt]);
    }
    args.extend(extra);
    let run = project.baton(&args);
    let stderr = run.stderr();
    (run.code(), run.json(), stderr)
}

fn failure(output: &Value, index: usize) -> &Value {
    &output["replies"][index]["failure"]
}

/// Milliseconds since the Unix epoch.
fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as u64)
}

/// [`agent_run`], with the wall-clock window (ms since the Unix epoch) it ran in.
fn timed_run(project: &Project, adapter: &str, prompts: &[&str]) -> (i32, Value, (u64, u64)) {
    let before = unix_ms();
    let (code, output, _) = agent_run(project, adapter, prompts, &[]);
    (code, output, (before, unix_ms()))
}

/// Asserts that `failure` is the 0.2 classification `kind` for a limit of `scope`, and
/// returns its `reset_at_ms`.
fn limit(failure: &Value, kind: &str, scope: &str) -> Option<u64> {
    assert_eq!(failure["kind"], kind, "{failure}");
    assert_eq!(failure["scope"], scope, "{failure}");
    failure["reset_at_ms"].as_u64()
}

/// Asserts that a reset at `reset_at_ms` is between `min_ms` and `max_ms` after the moment
/// the provider answered, somewhere in `window`.
fn resets_in(reset_at_ms: Option<u64>, window: (u64, u64), min_ms: u64, max_ms: u64) {
    let at = reset_at_ms.expect("the provider named a reset");
    assert!(
        (window.0 + min_ms..=window.1 + max_ms).contains(&at),
        "reset at {at} not {min_ms}..={max_ms} ms after the run ({window:?})"
    );
}

#[test]
fn openai_answers_in_a_conversation() {
    let double = Double::start(&["--key", KEY]);
    let project = http_project(&double, "");
    let (code, output, stderr) = agent_run(&project, "openai", &["hello", "and again"], &[]);
    assert_eq!(code, 0, "{output}\n{stderr}");
    let second = &output["replies"][1]["reply"];
    assert_eq!(
        second["text"], "double answer #2: and again",
        "the conversation is resent"
    );
    assert_eq!(second["usage"]["input_tokens"], 3);
    assert_eq!(second["model"], "gpt-4o-mini");
    assert_eq!(second["finish_reason"], "stop");
    assert_eq!(second["data"]["turn"], 2);
    let requests = double.requests();
    assert_eq!(requests.len(), 2);
    assert!(
        requests
            .iter()
            .all(|r| r["key"] == KEY && r["model"] == "gpt-4o-mini")
    );
    assert_eq!(requests[1]["turn"], 2);
}

#[test]
fn openai_classifies_limits_quota_and_auth_without_echoing_the_key() {
    let double = Double::start(&[]);
    let project = http_project(&double, "");
    let (code, output, window) = timed_run(
        &project,
        "openai",
        &[
            "[double:rpm:360000]",
            "[double:tpm:20]",
            "[double:quota]",
            "[double:rpm-date:5000]",
            "[double:overloaded:2000]",
            "[double:bad-request]",
            "[double:auth]",
        ],
    );
    assert_eq!(code, 10, "{output}");
    let rpm = limit(failure(&output, 0), "rate-limited", "requests");
    resets_in(rpm, window, 360_000, 360_000);
    let tpm = limit(failure(&output, 1), "rate-limited", "tokens");
    resets_in(tpm, window, 0, 1_000);
    assert_eq!(
        limit(failure(&output, 2), "quota-exhausted", "quota"),
        None,
        "OpenAI names no reset for a spent quota"
    );
    let date = limit(failure(&output, 3), "rate-limited", "requests");
    resets_in(date, window, 4_000, 5_000);
    let overloaded = failure(&output, 4);
    assert_eq!(overloaded["kind"], "overloaded", "{overloaded}");
    assert_eq!(overloaded["after_ms"], 2000, "{overloaded}");
    assert_eq!(failure(&output, 5)["kind"], "bad-request", "{output}");
    let auth = failure(&output, 6);
    assert_eq!(auth["kind"], "auth-failed", "{auth}");
    let reason = auth["reason"].as_str().unwrap();
    assert!(reason.contains("OPENAI_API_KEY"), "{reason}");
    let everything = format!("{output}{:?}", ledger(&project));
    assert!(!everything.contains(KEY), "the key leaked: {everything}");
    let table = project.baton(&["agent", "run", "openai", "--prompt", "[double:rpm:360000]"]);
    assert_eq!(table.code(), 10, "{}", table.stderr());
    let said = table.stdout();
    assert!(
        said.contains("rate-limited (resets at 20") && said.contains("requests per min"),
        "{said}"
    );
}

#[test]
fn anthropic_answers_and_classifies() {
    let double = Double::start(&[]);
    let project = http_project(&double, "");
    let (code, output, window) = timed_run(
        &project,
        "anthropic",
        &[
            "hi",
            "[double:overloaded:3000]",
            "[double:tpm:1500]",
            "[double:quota:7200000]",
            "[double:length]",
        ],
    );
    assert_eq!(code, 10, "{output}");
    let first = &output["replies"][0]["reply"];
    assert_eq!(first["text"], "double answer #1: hi");
    assert_eq!(first["model"], "claude-sonnet-4-5");
    assert_eq!(first["finish_reason"], "end_turn");
    let overloaded = failure(&output, 1);
    assert_eq!(overloaded["kind"], "overloaded", "{overloaded}");
    assert_eq!(overloaded["after_ms"], 3000, "{overloaded}");
    let tokens = limit(failure(&output, 2), "rate-limited", "tokens");
    // retry-after says 2 s, the reset header 1.5 s.
    resets_in(tokens, window, 1_000, 2_000);
    let quota = limit(failure(&output, 3), "quota-exhausted", "quota");
    // "regain access on …" in 2 h.
    resets_in(quota, window, 7_100_000, 7_200_000);
    assert_eq!(output["replies"][4]["reply"]["finish_reason"], "max_tokens");
    let requests = double.requests();
    assert_eq!(requests[0]["api"], "anthropic");
    assert_eq!(
        requests[4]["turn"], 2,
        "failed prompts are not kept in the conversation"
    );
    // No answer within the prompt's `timeout-ms`: a timeout that names the option to raise.
    let (code, output, _) = agent_run(
        &project,
        "anthropic",
        &["[double:hang:5000]"],
        &["--options", r#"{"timeout-ms": 300}"#],
    );
    assert_eq!(code, 10, "{output}");
    let hang = failure(&output, 0);
    assert_eq!(hang["kind"], "timeout", "{hang}");
    let reason = hang["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("within 300 ms") && reason.contains("`timeout-ms`"),
        "{hang}"
    );
}

#[test]
fn missing_key_names_the_variable() {
    let double = Double::start(&[]);
    let project = Project::new();
    std::fs::copy(plugin("openai"), project.path().join("openai.wasm")).unwrap();
    project.write(
        "baton.toml",
        &format!(
            "[plugins.openai]\npath = \"openai.wasm\"\nsettings = {{ base-url = \"{}/v1\", model = \"m\" }}\n[plugins.openai.grants]\nhttp = [\"http://127.0.0.1:*\"]\nenv = [\"OPENAI_API_KEY=\"]\n",
            double.url
        ),
    );
    // A configuration error: it fails at once (no authentication retries, no breaker) and
    // names the variable.
    let started = std::time::Instant::now();
    let (code, output, stderr) = agent_run(&project, "openai", &["hi", "again"], &[]);
    assert_eq!(code, 10, "{stderr}");
    for index in 0..2 {
        let missing = failure(&output, index);
        assert_eq!(missing["kind"], "fatal", "{output}");
        let reason = missing["reason"].as_str().unwrap_or_default();
        assert!(
            reason.contains("no API key") && reason.contains("OPENAI_API_KEY"),
            "{output}"
        );
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert!(double.requests().is_empty());
}

/// A project with `cli-agent` as gemini, claude and codex, each granted its double script.
fn cli_project(mode: &str) -> (Project, std::path::PathBuf) {
    let project = Project::new();
    let record = project.path().join("cli.jsonl");
    let bin = double_clis(&project.path().join("bin"), mode, Some(&record));
    std::fs::copy(plugin("cli-agent"), project.path().join("cli_agent.wasm")).unwrap();
    let mut toml = String::new();
    for tool in ["gemini", "claude", "codex"] {
        toml.push_str(&format!(
            "[plugins.{tool}]\npath = \"cli_agent.wasm\"\nkind = \"agent\"\nsettings = {{ tool = \"{tool}\" }}\n[plugins.{tool}.grants]\nexec = [{{ program = \"{tool}\", path = \"{}\", args = [\"*\"], timeout = \"5s\" }}]\n\n",
            bin.join(tool).display()
        ));
    }
    project.write("baton.toml", &toml);
    (project, record)
}

#[test]
fn cli_agents_answer_with_usage() {
    let (project, record) = cli_project("ok");
    for tool in ["gemini", "claude", "codex"] {
        let (code, output, stderr) =
            agent_run(&project, tool, &["what is 2+2"], &["--model", "m1"]);
        assert_eq!(code, 0, "{tool}: {output}\n{stderr}");
        let reply = &output["replies"][0]["reply"];
        assert_eq!(
            reply["text"].as_str().unwrap().trim(),
            "double answer #1: what is 2+2",
            "{tool}"
        );
        assert_eq!(reply["usage"]["input_tokens"], 3, "{tool}: {reply}");
    }
    let lines = std::fs::read_to_string(record).unwrap();
    let runs: Vec<Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(runs.len(), 3);
    assert!(
        runs.iter()
            .all(|r| r["model"] == "m1" && r["prompt"] == "what is 2+2"),
        "{runs:?}"
    );
}

#[test]
fn cli_agents_classify_failures() {
    let (project, _) = cli_project("ok");
    // claude: a rate limit is `is_error` with exit 0; a subscription limit names its reset.
    let (code, output, window) = timed_run(
        &project,
        "claude",
        &[
            "[double:rpm]",
            "[double:quota:5400000]",
            "[double:auth]",
            "[double:truncated]",
        ],
    );
    assert_eq!(code, 10);
    assert_eq!(failure(&output, 0)["kind"], "rate-limited", "{output}");
    let quota = limit(failure(&output, 1), "quota-exhausted", "quota");
    // usage limit reached|EPOCH (whole seconds).
    resets_in(quota, window, 5_399_000, 5_400_000);
    let auth = failure(&output, 2);
    assert_eq!(auth["kind"], "auth-failed", "{auth}");
    assert!(
        auth["reason"].as_str().unwrap().contains("claude /login"),
        "{auth}"
    );
    let killed = failure(&output, 3);
    assert_eq!(killed["kind"], "overloaded", "{killed}");
    assert!(
        killed["reason"]
            .as_str()
            .unwrap()
            .contains("killed before it answered"),
        "{killed}"
    );
    // gemini: the per-minute quota with its retry delay; codex: an empty answer with exit 0.
    let (_, output, window) =
        timed_run(&project, "gemini", &["[double:rpm:36500]", "[double:auth]"]);
    let rpm = limit(failure(&output, 0), "rate-limited", "requests");
    resets_in(rpm, window, 36_000, 37_000);
    let auth = failure(&output, 1);
    assert_eq!(auth["kind"], "auth-failed", "{auth}");
    let (_, output, window) = timed_run(
        &project,
        "codex",
        &[
            "[double:lie]",
            "[double:quota:1800000]",
            "[double:hang:20000]",
        ],
    );
    let lie = failure(&output, 0);
    assert_eq!(lie["kind"], "overloaded", "{lie}");
    assert!(
        lie["reason"]
            .as_str()
            .unwrap()
            .contains("without an answer"),
        "{lie}"
    );
    // "try again at H:MM PM": a wall-clock minute, read back within a minute of 30 min.
    let quota = limit(failure(&output, 1), "quota-exhausted", "quota");
    resets_in(quota, window, 1_740_000, 1_800_000);
    let hang = failure(&output, 2);
    assert_eq!(hang["kind"], "timeout", "{hang}");
    assert!(
        hang["reason"]
            .as_str()
            .unwrap()
            .contains("did not answer in time"),
        "{hang}"
    );
}

#[test]
fn sessions_warn_reset_on_activity_and_expire() {
    let double = Double::start(&[]);
    let project = http_project(
        &double,
        "[agent]\nsession-idle-timeout = \"2s\"\nsession-warning = \"1s\"\n",
    );
    let (code, output, stderr) = agent_run(
        &project,
        "openai",
        &["first", "second"],
        &[
            "--session",
            "talk",
            "--pause-between",
            "1500ms",
            "--linger",
            "3s",
        ],
    );
    assert_eq!(code, 0, "{output}\n{stderr}");
    let events: Vec<(&str, i64)> = output["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let at = humantime::parse_rfc3339(e["at"].as_str().unwrap()).unwrap();
            let ms = at
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as i64;
            (e["event"].as_str().unwrap(), ms)
        })
        .collect();
    let names: Vec<&str> = events.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        names,
        [
            "session-opened",
            "session-turn",
            "session-idle-warning",
            "session-turn",
            "session-idle-warning",
            "session-expired"
        ],
        "{events:?}"
    );
    let (turn2, warning2, expired) = (events[3].1, events[4].1, events[5].1);
    assert!(
        warning2 - turn2 >= 900 && warning2 - turn2 < 1_600,
        "warning 1 s before the idle timeout"
    );
    assert!(
        expired - turn2 >= 1_900,
        "activity restarted the idle timer: {}",
        expired - turn2
    );
    assert!(
        expired - events[0].1 > 3_000,
        "not expired 2 s after opening: the second prompt was activity"
    );
    assert_eq!(
        output["live_instances"], 0,
        "the expired instance was dropped"
    );
    assert_eq!(output["events"][5]["reason"], "idle");
    // The ledger has them, and `agent sessions` reads them back.
    let ledger_events = ledger(&project)
        .into_iter()
        .filter(|l| l["session"] == "talk")
        .count();
    assert_eq!(ledger_events, 6);
    let listed = project
        .baton(&["agent", "sessions", "--format", "json"])
        .expect(0)
        .json();
    let session = &listed["sessions"][0];
    assert_eq!(
        (
            session["session"].as_str(),
            session["state"].as_str(),
            session["reason"].as_str()
        ),
        (Some("talk"), Some("expired"), Some("idle"))
    );
    assert_eq!(session["turns"], 2);
    let table = project.baton(&["agent", "sessions"]).expect(0).stdout();
    assert!(table.contains("expired (idle)"), "{table}");
}

#[test]
fn a_hundred_sessions_leave_no_instances_files_or_memory() {
    let double = Double::start(&[]);
    let project = http_project(&double, "");
    let (code, output, stderr) = agent_run(
        &project,
        "openai",
        &["hi"],
        &["--repeat", "100", "--session", "many"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(output["prompts"], 100);
    assert_eq!(output["live_instances"], 0);
    let rss = &output["rss_bytes"];
    let growth = rss["after"].as_i64().unwrap() - rss["after_first"].as_i64().unwrap();
    assert!(
        growth < 16 << 20,
        "99 more sessions grew RSS by {growth} bytes"
    );
    let tmp = project.path().join(".baton/tmp");
    let leftovers = std::fs::read_dir(&tmp).map(|d| d.count()).unwrap_or(0);
    assert_eq!(leftovers, 0, "files left in {}", tmp.display());
    let listed = project
        .baton(&["agent", "sessions", "--format", "json"])
        .expect(0)
        .json();
    let sessions = listed["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 100);
    assert!(
        sessions
            .iter()
            .all(|s| s["state"] == "closed" && s["turns"] == 1)
    );
}

#[test]
fn agent_run_usage_errors() {
    let project = Project::new();
    let run = project.baton(&["agent", "run", "nope", "--prompt", "x"]);
    assert_eq!(run.code(), 20);
    assert!(
        run.stderr().contains("is not configured"),
        "{}",
        run.stderr()
    );
    let run = project.baton(&[
        "agent",
        "run",
        "openai",
        "--prompt",
        "x",
        "--options",
        "[1]",
    ]);
    assert_eq!(run.code(), 20);
    assert!(
        run.stderr().contains("--options must be a JSON object"),
        "{}",
        run.stderr()
    );
    // What a pipeline would refuse is refused here too, before anything is sent.
    for (options, says) in [
        (
            r#"{"temperature": 9}"#,
            "`temperature` is 9; it must be a number from 0 to 2",
        ),
        (r#"{"temprature": 0.5}"#, "unknown key `temprature`"),
        (
            r#"{"max-tokens": 0}"#,
            "`max-tokens` is 0; it must be a whole number of at least 1",
        ),
    ] {
        let run = project.baton(&[
            "agent",
            "run",
            "openai",
            "--prompt",
            "x",
            "--options",
            options,
        ]);
        assert_eq!(run.code(), 20, "{options}");
        assert!(run.stderr().contains(says), "{options}: {}", run.stderr());
    }
    let run = project.baton(&["agent", "run", "openai", "--prompt", " "]);
    assert_eq!(run.code(), 20);
    assert!(
        run.stderr().contains("--prompt number 1 is empty"),
        "{}",
        run.stderr()
    );
    let run = project.baton(&["agent", "sessions"]).expect(0);
    assert!(
        run.stdout().contains("no agent sessions"),
        "{}",
        run.stdout()
    );
}

#[test]
fn sessions_of_other_processes_are_listed_live_then_lost() {
    let double = Double::start(&[]);
    let project = http_project(&double, "");
    let mut holder = project
        .command(&[
            "agent",
            "run",
            "openai",
            "--prompt",
            "hi",
            "--session",
            "held",
            "--linger",
            "60s",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let live = loop {
        let listed = project
            .baton(&["agent", "sessions", "--format", "json"])
            .expect(0)
            .json();
        let session = listed["sessions"][0].clone();
        if session["turns"] == 1 {
            break session;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "never listed: {listed}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert_eq!(live["state"], "open");
    assert_eq!(live["pid"], holder.id());
    let expires_in = live["expires_in_ms"].as_u64().unwrap();
    assert!(
        expires_in > 290_000 && expires_in <= 300_000,
        "idle timeout 5 min: {expires_in}"
    );
    // Killed without closing its session: the listing says so instead of showing it open.
    holder.kill().unwrap();
    holder.wait().unwrap();
    let listed = project
        .baton(&["agent", "sessions", "--format", "json"])
        .expect(0)
        .json();
    assert_eq!(listed["sessions"][0]["state"], "lost", "{listed}");
    assert_eq!(listed["sessions"][0]["expires_in_ms"], Value::Null);
}
