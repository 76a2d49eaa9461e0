//! Prompts as pipeline stages, through the real binary and the `cli-agent` adapter running a
//! stand-in CLI (a shell script that logs every call with its time): waves in order under an
//! exact sliding-window limit, completion markers and the day's manifest, a second run that
//! calls nothing, `--force-wave`, and prompt registries in TSV.

use crate::common::{Project, plugin};
use std::path::Path;

/// The stand-in: reads the prompt on stdin, logs `MILLIS PROMPT` to `calls.log` in the
/// project, and answers `answer: PROMPT`.
fn script(log: &Path) -> String {
    format!(
        "p=$(cat); printf '%s %s\\n' \"$(date +%s%3N)\" \"$(printf %s \"$p\" | tr '\\n' ' ')\" >> {}; printf 'answer: %s\\n' \"$p\"",
        log.display()
    )
}

/// A project with the `echo` agent (cli-agent over the stand-in), limited to `per_minute`
/// calls per `window`.
fn project(per_minute: u32, window: &str) -> Project {
    let project = Project::new();
    std::fs::copy(plugin("cli-agent"), project.path().join("agent.wasm")).unwrap();
    let script = script(&project.path().join("calls.log"));
    let quoted = toml::Value::String(script).to_string();
    project.write(
        "baton.toml",
        &format!(
            r#"
[plugins.echo]
path = "agent.wasm"
kind = "agent"
settings = {{ program = "sh", args = ["-c", {quoted}], prompt-via = "stdin" }}
[plugins.echo.grants]
exec = [{{ program = "sh", args = ["-c", {quoted}] }}]

[limits."agent:echo"]
per-minute = {per_minute}
window = "{window}"
"#
        ),
    );
    project
}

/// `(millis, prompt)` of every call the stand-in answered, by time.
fn calls(project: &Project) -> Vec<(i64, String)> {
    let mut calls: Vec<(i64, String)> = std::fs::read_to_string(project.path().join("calls.log"))
        .unwrap_or_default()
        .lines()
        .map(|line| {
            let (at, prompt) = line.split_once(' ').unwrap();
            (at.parse().unwrap(), prompt.trim().to_string())
        })
        .collect();
    calls.sort();
    calls
}

/// Two prompts per wave in three waves; wave 2 quotes wave 1's answers.
const WAVES: &str = r#"
[[stage]]
id = "w1a"
agent = "echo"
prompt = "one-a"
wave = 1
concurrency = "high"

[[stage]]
id = "w1b"
agent = "echo"
prompt = "one-b"
wave = 1

[[stage]]
id = "w2a"
agent = "echo"
prompt = "two-a after {{ inputs['out/w1a/w1a.md'] | trim }}"
inputs = ["out/w1a/w1a.md"]
wave = 2

[[stage]]
id = "w2b"
agent = "echo"
model = "small"
temperature = 0.2
prompt = "two-b"
wave = 2

[[stage]]
id = "w3a"
agent = "echo"
prompt = "three-a"
wave = 3
output = "final.txt"

[[stage]]
id = "w3b"
agent = "echo"
prompt = "three-b"
wave = 3
"#;

#[test]
fn prompt_waves_run_in_order_under_an_exact_window_and_rerun_only_what_is_forced() {
    let project = project(2, "2s");
    project.write("pipelines/daily.toml", WAVES);
    let run = project.baton(&["pipeline", "run", "daily"]).expect(0);
    let out = run.stdout();
    assert!(out.contains("w3a … done in"), "{out}");
    assert!(out.contains("tokens"), "{out}");
    let log = calls(&project);
    assert_eq!(log.len(), 6, "{log:?}");
    // The limiter admits the third call of any 2 s only after the first leaves the window;
    // the log's times are when each stand-in process started, a few milliseconds after its
    // admission, so they are compared with that much slack.
    let mut log = log;
    log.sort();
    for pair in log.windows(3) {
        assert!(
            pair[2].0 - pair[0].0 >= 2000 - 150,
            "3 calls within 2 s: {log:?}"
        );
    }
    // Every prompt of a wave starts after every prompt of the wave before it.
    let wave = |prompt: &str| prompt.split('-').next().unwrap_or("").to_string();
    let order: Vec<String> = log.iter().map(|(_, p)| wave(p)).collect();
    let mut sorted = order.clone();
    sorted.sort_by_key(|w| ["one", "two", "three"].iter().position(|x| x == w));
    assert_eq!(order, sorted, "{log:?}");
    // Wave 2 quoted wave 1's answer; answers carry their completion markers.
    assert!(
        log.iter().any(|(_, p)| p == "two-a after answer: one-a"),
        "{log:?}"
    );
    let answer = std::fs::read_to_string(project.path().join("out/w3a/final.txt")).unwrap();
    assert_eq!(answer, "answer: three-a\n");
    let marker: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(project.path().join("out/w3a/final.txt.done.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(marker["adapter"], "echo");
    assert_eq!(marker["output_sha256"].as_str().unwrap().len(), 64);
    assert_eq!(
        marker["prompt_sha256"],
        baton_core::digest::sha256_hex(b"three-a")
    );
    let manifests: Vec<_> = std::fs::read_dir(project.path().join(".baton/manifests"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(manifests.len(), 1);
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(manifests[0].path()).unwrap()).unwrap();
    let prompts = manifest["prompts"].as_object().unwrap();
    assert_eq!(prompts.len(), 6);
    assert!(
        prompts.values().all(|p| p["status"] == "done"),
        "{manifest}"
    );

    // A second run calls nothing.
    let again = project
        .baton(&["pipeline", "run", "daily", "--format", "json"])
        .expect(0);
    let stages = again.json()["stages"].as_array().unwrap().clone();
    assert!(stages.iter().all(|s| s["state"] == "cached"), "{stages:?}");
    assert_eq!(calls(&project).len(), 6);

    // --force-wave 2 reruns wave 2 and what depends on it (wave 3), nothing else.
    let forced = project
        .baton(&[
            "pipeline",
            "run",
            "daily",
            "--force-wave",
            "2",
            "--format",
            "json",
        ])
        .expect(0);
    let state = |id: &str| {
        forced.json()["stages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["stage"] == id)
            .unwrap()["state"]
            .clone()
    };
    assert_eq!(state("w1a"), "cached");
    assert_eq!(state("w1b"), "cached");
    for id in ["w2a", "w2b", "w3a", "w3b"] {
        assert_eq!(state(id), "done", "{id}");
    }
    let rerun: Vec<String> = calls(&project)[6..].iter().map(|(_, p)| wave(p)).collect();
    assert_eq!(rerun.len(), 4, "{rerun:?}");
    assert!(
        rerun.iter().all(|w| w == "two" || w == "three"),
        "{rerun:?}"
    );
    let unknown = project
        .baton(&["pipeline", "run", "daily", "--force-wave", "7"])
        .expect(20);
    let text = format!("{}{}", unknown.stdout(), unknown.stderr());
    assert!(
        text.contains("--force-wave 7: no prompt of `daily` is in wave 7 (waves: 1, 2, 3)"),
        "{text}"
    );
}

#[test]
fn prompt_stages_are_validated_with_their_place() {
    let project = project(10, "1m");
    project.write(
        "pipelines/bad.toml",
        "[[stage]]\nid = \"a\"\nagent = \"nobody\"\nprompt = \"x\"\n\n[[stage]]\nid = \"b\"\nagent = \"echo\"\nconcurrency = \"lots\"\ntemperature = 9.0\n",
    );
    let run = project.baton(&["pipeline", "run", "bad"]).expect(20);
    let text = format!("{}{}", run.stdout(), run.stderr());
    assert!(
        text.contains(
            "pipelines/bad.toml:1: prompt `a` uses agent `nobody`, which is not configured"
        ),
        "{text}"
    );
    assert!(
        text.contains("pipelines/bad.toml:6: prompt `b` needs `prompt"),
        "{text}"
    );
    assert!(text.contains("concurrency `lots` is not a class"), "{text}");
    assert!(
        text.contains("temperature 9 must be a number from 0 to 2"),
        "{text}"
    );
}

#[test]
fn a_tsv_registry_is_validated_and_imported_as_a_pipeline() {
    let project = project(10, "1m");
    project.write(
        "prompts.tsv",
        "prompt_id\tagent\tprompt\twave\tconcurrency\tinputs\n\
         first\techo\tSay one\t1\tlow\t\n\
         second\techo\tQuote {{ inputs['out/first/first.md'] }}\t2\tlow\tout/first/first.md\n",
    );
    project
        .baton(&["agent", "registry", "validate", "prompts.tsv"])
        .expect(0);
    project
        .baton(&[
            "agent",
            "registry",
            "import",
            "prompts.tsv",
            "--name",
            "daily",
        ])
        .expect(0);
    let text = std::fs::read_to_string(project.path().join("pipelines/daily.toml")).unwrap();
    assert!(
        text.starts_with("# Generated by `baton agent registry import`"),
        "{text}"
    );
    project.baton(&["pipeline", "run", "daily"]).expect(0);
    assert_eq!(calls(&project).len(), 2);
    // Bad rows name the file, line and column; a hand-written pipeline is never replaced.
    project.write(
        "bad.tsv",
        "id\tagent\tprompt\twave\nx\techo\thi\tsoon\ny\tghost\thi\t1\n",
    );
    let bad = project
        .baton(&["agent", "registry", "validate", "bad.tsv"])
        .expect(20);
    let text = format!("{}{}", bad.stdout(), bad.stderr());
    assert!(
        text.contains("bad.tsv:2: column 4 `wave`: `soon` is not a whole number"),
        "{text}"
    );
    project.write("pipelines/mine.toml", "# mine\n");
    let refused = project
        .baton(&[
            "agent",
            "registry",
            "import",
            "prompts.tsv",
            "--name",
            "mine",
        ])
        .expect(20);
    let text = format!("{}{}", refused.stdout(), refused.stderr());
    assert!(text.contains("was not generated by an import"), "{text}");
    assert_eq!(
        std::fs::read_to_string(project.path().join("pipelines/mine.toml")).unwrap(),
        "# mine\n"
    );
}
