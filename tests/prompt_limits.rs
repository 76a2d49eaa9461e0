//! Issue 9's acceptance, through the real binary, the `openai` and `anthropic` adapters and
//! the provider test double (`baton-double serve`), whose record of every request (its
//! arrival time, key, prompt and status) is what the provider saw:
//!
//! - 22 prompts in 3 waves under a requests-per-window limit, a `kill -9` mid-wave and a
//!   rerun that finishes every prompt exactly once, a second run that calls nothing, and
//!   `--force-wave 2`;
//! - a daily quota counted in the store, continued by the next process;
//! - a 429 whose reset holds every call to the key until then, and twenty jobs that come
//!   back spread rather than at one instant;
//! - an authentication failure tried three times with growing delays, then the breaker,
//!   with the other adapter unaffected.

use crate::common::double::Double;
use crate::common::{Project, jobs, ledger, plugin};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

pub(crate) const KEY: &str = "sk-acceptance-0123456789";

/// A project with `openai` (granted `openai_key`) and `anthropic` (granted the double's key)
/// pointed at `double`; `extra` goes first in `baton.toml`.
pub(crate) fn project(double: &Double, openai_key: &str, extra: &str) -> Project {
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
env = ["OPENAI_API_KEY={openai_key}"]

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

/// A pipeline of `waves` (the number of prompts in each), every prompt asking `openai`
/// `p<wave>-<n>`; the first prompt of each wave after the first quotes an answer of the wave
/// before it.
fn waves_pipeline(waves: &[usize], concurrency: &str, extra: &str) -> String {
    let mut text = String::new();
    for (w, count) in waves.iter().enumerate() {
        let wave = w + 1;
        for n in 1..=*count {
            let id = format!("p{wave}-{n}");
            let (prompt, inputs) = if wave > 1 && n == 1 {
                let input = format!("out/p{}-1/p{}-1.md", wave - 1, wave - 1);
                (
                    format!("{id} after {{{{ inputs['{input}'] | trim }}}}"),
                    format!("inputs = [\"{input}\"]\n"),
                )
            } else {
                (id.clone(), String::new())
            };
            text.push_str(&format!(
                "[[stage]]\nid = \"{id}\"\nagent = \"openai\"\nprompt = \"{prompt}\"\n{inputs}wave = {wave}\nconcurrency = \"{concurrency}\"\n{extra}\n"
            ));
        }
    }
    text
}

/// The stage id a prompt the double received belongs to (`p2-1 after ...` → `p2-1`).
fn stage_of(request: &Value) -> String {
    request["prompt"]
        .as_str()
        .unwrap_or_default()
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The wave of a stage id `p<wave>-<n>`.
fn wave_of(stage: &str) -> u32 {
    stage
        .trim_start_matches('p')
        .split('-')
        .next()
        .and_then(|w| w.parse().ok())
        .unwrap_or(0)
}

/// Arrival times (ms) of `requests`.
fn arrivals(requests: &[Value]) -> Vec<i64> {
    let mut at: Vec<i64> = requests
        .iter()
        .map(|r| r["at_ms"].as_i64().expect("at_ms"))
        .collect();
    at.sort();
    at
}

/// The most requests that arrived within any span of `window_ms`, counting arrivals that
/// follow an earlier one by at least `window_ms - slack_ms` as outside its window (the
/// double stamps a request as it arrives, a little after the limiter admitted it).
fn most_in_window(at: &[i64], window_ms: i64, slack_ms: i64) -> usize {
    (0..at.len())
        .map(|i| {
            at[i..]
                .iter()
                .take_while(|&&t| t - at[i] < window_ms - slack_ms)
                .count()
        })
        .max()
        .unwrap_or(0)
}

/// The completion markers under `out/`: stage id → marker.
fn markers(project: &Project) -> BTreeMap<String, Value> {
    let mut found = BTreeMap::new();
    let Ok(stages) = std::fs::read_dir(project.path().join("out")) else {
        return found;
    };
    for stage in stages.flatten() {
        let id = stage.file_name().to_string_lossy().into_owned();
        let marker = stage.path().join(format!("{id}.md.done.json"));
        if let Ok(text) = std::fs::read_to_string(&marker) {
            found.insert(id, serde_json::from_str(&text).expect("a marker is JSON"));
        }
    }
    found
}

#[test]
fn twenty_two_prompts_in_waves_hold_a_window_survive_kill_9_and_rerun_exactly_once() {
    // 50 requests a minute, scaled down in time so that 22 prompts meet the limit: 5 in any
    // 2 s. Every call is slow (250 ms), so a kill lands with calls in flight.
    let double = Double::start(&["--key", KEY, "--mode", "slow:250"]);
    let project = project(
        &double,
        KEY,
        "[limits.\"agent:openai\"]\nper-minute = 5\nwindow = \"2s\"\n",
    );
    project.write(
        "pipelines/daily.toml",
        &waves_pipeline(&[8, 8, 6], "high", ""),
    );

    // Run, and kill -9 once wave 2 has started.
    let mut child = project
        .command(&["pipeline", "run", "daily"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let started_wave_2 = double
            .requests()
            .iter()
            .filter(|r| wave_of(&stage_of(r)) == 2)
            .count();
        if started_wave_2 >= 2 {
            break;
        }
        assert!(Instant::now() < deadline, "wave 2 never started");
        assert!(child.try_wait().unwrap().is_none(), "the run ended early");
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY-free: kill(2) through the shell's `kill -9`, as an operator would.
    let killed = std::process::Command::new("kill")
        .args(["-9", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let _ = child.wait();
    let finished_before_kill: BTreeSet<String> = markers(&project).into_keys().collect();
    let called_before_kill = double.requests().len();
    assert!(
        finished_before_kill.len() >= 8 && finished_before_kill.len() < 22,
        "{finished_before_kill:?}"
    );

    // The rerun finishes the rest.
    let rerun = project
        .baton(&["pipeline", "run", "daily", "--format", "json"])
        .expect(0);
    let result = rerun.json();
    let requests = double.requests();
    let marked = markers(&project);
    assert_eq!(marked.len(), 22, "{marked:?}");
    // Nothing finished before the kill was asked again; nothing was asked more than twice
    // (once in flight at the kill, once in the rerun); every answer is the last one asked.
    let mut asked: BTreeMap<String, usize> = BTreeMap::new();
    for request in &requests {
        *asked.entry(stage_of(request)).or_default() += 1;
    }
    assert_eq!(asked.len(), 22, "{asked:?}");
    for (stage, count) in &asked {
        if finished_before_kill.contains(stage) {
            assert_eq!(
                *count, 1,
                "{stage} finished before the kill and was asked again"
            );
        } else {
            assert!(*count <= 2, "{stage} asked {count} times");
        }
    }
    for stage in result["stages"].as_array().unwrap() {
        let id = stage["stage"].as_str().unwrap();
        let expected = if finished_before_kill.contains(id) {
            "cached"
        } else {
            "done"
        };
        assert_eq!(stage["state"], expected, "{stage}");
    }
    // The ledger records each job done at most once, and across both runs each prompt was
    // answered (done, not from its marker) by exactly one job.
    let mut done: BTreeMap<String, usize> = BTreeMap::new();
    for line in ledger(&project) {
        if line["event"] == "done"
            && let Some(key) = line["job"].as_str()
        {
            *done.entry(key.to_string()).or_default() += 1;
        }
    }
    assert!(done.values().all(|&n| n == 1), "{done:?}");
    let mut answered: BTreeMap<String, usize> = BTreeMap::new();
    for job in jobs(&project) {
        if job["state"] == "done" && job["result"]["cached"] != true {
            let stage = job["payload"]["stage"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            assert!(
                done.contains_key(job["key"].as_str().unwrap_or_default()),
                "{job}"
            );
            *answered.entry(stage).or_default() += 1;
        }
    }
    assert_eq!(answered.len(), 22, "{answered:?}");
    assert!(answered.values().all(|&n| n == 1), "{answered:?}");
    // The window held across both processes, and the provider never said 429.
    assert!(requests.iter().all(|r| r["status"] == 200), "{requests:?}");
    let at = arrivals(&requests);
    assert!(
        most_in_window(&at, 2_000, 150) <= 5,
        "more than 5 calls in 2 s: {at:?}"
    );
    // In the rerun, every wave started after the wave below it ended.
    let rerun_requests = &requests[called_before_kill..];
    for pair in rerun_requests.windows(2) {
        assert!(
            wave_of(&stage_of(&pair[0])) <= wave_of(&stage_of(&pair[1])),
            "{} before {}",
            stage_of(&pair[0]),
            stage_of(&pair[1])
        );
    }
    // The day's manifest lists all 22, done.
    let manifests: Vec<_> = std::fs::read_dir(project.path().join(".baton/manifests"))
        .unwrap()
        .flatten()
        .collect();
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(manifests[0].path()).unwrap()).unwrap();
    let listed = manifest["prompts"].as_object().unwrap();
    assert_eq!(listed.len(), 22, "{manifest}");

    // A second run calls nothing.
    let again = project
        .baton(&["pipeline", "run", "daily", "--format", "json"])
        .expect(0);
    assert!(
        again.json()["stages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["state"] == "cached"),
        "{}",
        again.stdout()
    );
    assert_eq!(double.requests().len(), requests.len());

    // --force-wave 2 asks wave 2 and wave 3 (which waits for it) again, nothing of wave 1.
    project
        .baton(&["pipeline", "run", "daily", "--force-wave", "2"])
        .expect(0);
    let forced: Vec<String> = double.requests()[requests.len()..]
        .iter()
        .map(stage_of)
        .collect();
    let expected: BTreeSet<String> = (1..=8)
        .map(|n| format!("p2-{n}"))
        .chain((1..=6).map(|n| format!("p3-{n}")))
        .collect();
    assert_eq!(forced.len(), 14, "{forced:?}");
    assert_eq!(forced.iter().cloned().collect::<BTreeSet<_>>(), expected);
}

#[test]
fn a_daily_quota_is_counted_in_the_store_and_continued_by_the_next_process() {
    let double = Double::start(&["--key", KEY]);
    let quota = |per_day: u32| {
        format!("[limits.\"agent:openai\"]\nper-day = {per_day}\ntime-zone = \"UTC\"\n")
    };
    let project = project(&double, KEY, &quota(1000));
    project.write("pipelines/first.toml", &waves_pipeline(&[6], "high", ""));
    project.baton(&["pipeline", "run", "first"]).expect(0);
    let used = |project: &Project| -> Value {
        let snapshot = project
            .baton(&["dashboard", "--refresh", "0", "--format", "json"])
            .expect(0)
            .json();
        snapshot["limits"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["key"] == "agent:openai")
            .cloned()
            .unwrap_or_else(|| panic!("no agent:openai in {snapshot}"))
    };
    let key = used(&project);
    assert_eq!(key["used_today"], 6, "{key}");
    assert_eq!(key["left_today"], 994, "{key}");

    // A new process continues the count.
    project.write(
        "pipelines/second.toml",
        &waves_pipeline(&[5], "high", "").replace("\"p1-", "\"q1-"),
    );
    project.baton(&["pipeline", "run", "second"]).expect(0);
    let key = used(&project);
    assert_eq!(key["used_today"], 11, "{key}");
    assert_eq!(key["left_today"], 989, "{key}");

    // With the quota lowered to 12, a third process may call once more: of three prompts
    // one is asked, two wait for tomorrow, say so, and are left for the next run.
    project.write(
        "baton.toml",
        &std::fs::read_to_string(project.path().join("baton.toml"))
            .unwrap()
            .replace("per-day = 1000", "per-day = 12"),
    );
    project.write(
        "pipelines/third.toml",
        &waves_pipeline(&[3], "high", "").replace("\"p1-", "\"r1-"),
    );
    let before = double.requests().len();
    let mut child = project
        .command(&["pipeline", "run", "third"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let waiting = loop {
        let jobs = project
            .baton(&["queue", "list", "--format", "json"])
            .expect(0)
            .json();
        let waiting: Vec<Value> = jobs["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|j| {
                j["key"].as_str().unwrap_or_default().contains("r1-")
                    && j["state"] == "queued"
                    && j["wait_reason"]
                        .as_str()
                        .is_some_and(|r| r.starts_with("quota agent:openai"))
            })
            .cloned()
            .collect();
        if waiting.len() == 2 {
            break waiting;
        }
        assert!(Instant::now() < deadline, "two jobs never waited: {jobs}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(double.requests().len(), before + 1);
    let key = used(&project);
    assert_eq!(key["used_today"], 12, "{key}");
    assert_eq!(key["left_today"], 0, "{key}");
    let shown = project
        .baton(&["job", "show", waiting[0]["key"].as_str().unwrap()])
        .expect(0)
        .stdout();
    assert!(
        shown.contains("quota agent:openai (all processes, today)"),
        "{shown}"
    );
    // Interrupted, the run stops and leaves the waiting prompts queued for `--resume`.
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let status = wait_for(&mut child, Duration::from_secs(20));
    assert_ne!(status, Some(0), "an interrupted run is not a success");
    assert_eq!(double.requests().len(), before + 1);
    // While they waited, the run said why, once each.
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    for id in ["r1-2", "r1-3"] {
        let said = out
            .lines()
            .filter(|l| l.starts_with(&format!("⏸ {id} … quota agent:openai")))
            .count();
        assert_eq!(said, 1, "{out}");
    }
}

/// Waits up to `limit` for `child`; kills it after that. Its exit code, if it exited.
fn wait_for(child: &mut std::process::Child, limit: Duration) -> Option<i32> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the run did not stop within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_rate_limit_holds_every_call_until_the_reset_and_spreads_twenty_retries() {
    let double = Double::start(&["--key", KEY]);
    // The first eight calls (as many as run at once) hear a 429 with a 3 s reset.
    double.control(serde_json::json!({"script": vec!["rpm:3000"; 8]}));
    let project = project(&double, KEY, "");
    // No retries allowed: waiting out a rate limit must not spend an attempt.
    project.write(
        "pipelines/burst.toml",
        &waves_pipeline(&[20], "high", "retries = 0"),
    );
    let run = project
        .baton(&["pipeline", "run", "burst", "--format", "json"])
        .expect(0);
    let result = run.json();
    let requests = double.requests();
    let limited: Vec<&Value> = requests.iter().filter(|r| r["status"] == 429).collect();
    let answered: Vec<&Value> = requests.iter().filter(|r| r["status"] == 200).collect();
    assert_eq!(limited.len(), 8, "{requests:?}");
    assert_eq!(answered.len(), 20, "{requests:?}");
    // The reset the provider named holds every later call to the key.
    let first_reset =
        arrivals(&limited.iter().map(|r| (*r).clone()).collect::<Vec<_>>())[0] + 3_000;
    let at = arrivals(&answered.iter().map(|r| (*r).clone()).collect::<Vec<_>>());
    assert!(
        at[0] >= first_reset,
        "a call {} ms before the reset",
        first_reset - at[0]
    );
    // Twenty jobs came back spread over the jitter, not at one instant.
    let spread = at[at.len() - 1] - at[0];
    assert!(spread >= 250, "20 retries within {spread} ms: {at:?}");
    let distinct: BTreeSet<i64> = at.iter().map(|t| t / 20).collect();
    assert!(distinct.len() >= 5, "{at:?}");
    // The summary tells the limit that was hit; no prompt failed.
    assert!(
        result["agents"]["limits_hit"]
            .as_object()
            .is_some_and(|hit| hit.keys().any(|k| k.starts_with("agent:openai"))),
        "{result}"
    );
    assert!(
        result["stages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["state"] == "done"),
        "{result}"
    );
}

#[test]
fn an_auth_failure_tries_three_times_then_opens_the_breaker_and_spares_other_adapters() {
    let double = Double::start(&["--key", KEY]);
    let project = project(
        &double,
        "sk-wrong-key",
        "[pipeline]\nauth-cooldown = \"4s\"\n",
    );
    let mut pipeline = String::from(
        "[[stage]]\nid = \"o1\"\nagent = \"openai\"\nprompt = \"o1\"\nretries = 5\n\n",
    );
    for n in 1..=4 {
        pipeline.push_str(&format!(
            "[[stage]]\nid = \"a{n}\"\nagent = \"anthropic\"\nprompt = \"a{n}\"\n\n"
        ));
    }
    project.write("pipelines/mixed.toml", &pipeline);
    let run = project.baton(&["pipeline", "run", "mixed"]).expect(10);
    let out = format!("{}{}", run.stdout(), run.stderr());
    let requests = double.requests();
    let openai: Vec<i64> = arrivals(
        &requests
            .iter()
            .filter(|r| r["api"] == "openai")
            .cloned()
            .collect::<Vec<_>>(),
    );
    // Three attempts, 1 s then 2 s apart (retries = 5 does not buy more), then the breaker.
    assert_eq!(openai.len(), 3, "{requests:?}");
    assert!(openai[1] - openai[0] >= 1_000, "{openai:?}");
    assert!(openai[2] - openai[1] >= 2_000, "{openai:?}");
    assert!(
        requests
            .iter()
            .filter(|r| r["api"] == "openai")
            .all(|r| r["status"] == 401)
    );
    assert!(
        out.contains("OPENAI_API_KEY"),
        "the message names the variable: {out}"
    );
    assert!(out.contains("breaker"), "{out}");
    assert!(!out.contains("sk-wrong-key"), "the key was echoed: {out}");
    // The other adapter carried on at once: its four prompts were answered before the
    // openai credential's second attempt.
    let anthropic: Vec<i64> = arrivals(
        &requests
            .iter()
            .filter(|r| r["api"] == "anthropic")
            .cloned()
            .collect::<Vec<_>>(),
    );
    assert_eq!(anthropic.len(), 4, "{requests:?}");
    assert!(anthropic[3] < openai[1], "{anthropic:?} vs {openai:?}");
    for n in 1..=4 {
        assert!(
            project
                .path()
                .join(format!("out/a{n}/a{n}.md.done.json"))
                .is_file()
        );
    }

    // Run again at once: the breaker is open (4 s from the third failure), so the prompt
    // waits for the cool-down, probes once, fails, and the breaker opens again. Never a loop.
    let again = project.baton(&["pipeline", "run", "mixed"]).expect(10);
    let text = format!("{}{}", again.stdout(), again.stderr());
    let openai_after: Vec<i64> = arrivals(
        &double
            .requests()
            .iter()
            .filter(|r| r["api"] == "openai")
            .cloned()
            .collect::<Vec<_>>(),
    );
    assert_eq!(openai_after.len(), 4, "{openai_after:?}\n{text}");
    assert!(
        openai_after[3] - openai_after[2] >= 4_000,
        "the probe came before the cool-down ended: {openai_after:?}"
    );
    assert!(text.contains("OPENAI_API_KEY"), "{text}");
}

/// Copies `examples/prompt-waves` into `project` as a user would run it, with the double's
/// real port and the plugins where this build put them.
fn example_project(double: &Double) -> Project {
    let project = Project::new();
    let example =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/prompt-waves");
    for file in ["prompts.tsv", "prompts/summary.j2", "data/topics.json"] {
        project.write(file, &std::fs::read_to_string(example.join(file)).unwrap());
    }
    let port = double.url.rsplit(':').next().unwrap();
    let config = std::fs::read_to_string(example.join("baton.toml"))
        .unwrap()
        .replace("127.0.0.1:8791", &format!("127.0.0.1:{port}"))
        .replace(
            "../../target/plugins/wasm32-wasip2/release/cli_agent.wasm",
            &plugin("cli-agent").to_string_lossy(),
        )
        .replace(
            "../../target/plugins/wasm32-wasip2/release/openai.wasm",
            &plugin("openai").to_string_lossy(),
        );
    project.write("baton.toml", &config);
    crate::common::double::double_clis(&project.path().join("bin"), "ok", None);
    project
}

#[test]
fn the_prompt_waves_example_runs_against_the_double_as_its_readme_says() {
    let double = Double::start(&["--key", "sk-example", "--rpm", "50"]);
    let project = example_project(&double);
    let baton = |args: &[&str]| {
        crate::common::Run(
            project
                .command(args)
                .env("OPENAI_API_KEY", "sk-example")
                .output()
                .unwrap(),
        )
    };
    baton(&["agent", "registry", "validate", "prompts.tsv"]).expect(0);
    baton(&[
        "agent",
        "registry",
        "import",
        "prompts.tsv",
        "--name",
        "daily",
    ])
    .expect(0);
    let run = baton(&["pipeline", "run", "daily"]).expect(0);
    assert!(
        run.stdout()
            .contains("prompts: 5 · done 5 · cached 0 · failed 0"),
        "{}",
        run.stdout()
    );
    // Three prompts went to the API; `summary` and `shorter` in one conversation.
    let requests = double.requests();
    assert_eq!(requests.len(), 3, "{requests:?}");
    let headline =
        std::fs::read_to_string(project.path().join("out/headline/headline.txt")).unwrap();
    assert!(
        headline.contains("double answer #2: Now say it in two sentences."),
        "{headline}"
    );
    let again = baton(&["pipeline", "run", "daily"]).expect(0);
    assert!(again.stdout().contains("calls 0"), "{}", again.stdout());
    // Refused keys: three attempts, the breaker, the gemini prompt unaffected.
    double.control(serde_json::json!({"mode": "auth"}));
    let refused = baton(&["pipeline", "run", "daily", "--force"]).expect(10);
    let out = refused.stdout();
    assert!(out.contains("topics … done"), "{out}");
    assert!(out.contains("failed 1 · skipped 3"), "{out}");
    assert!(out.contains("OPENAI_API_KEY"), "{out}");
}

#[test]
fn a_spent_provider_quota_shows_as_a_park_in_the_dashboard_and_stats() {
    let double = Double::start(&["--key", KEY, "--mode", "quota"]);
    let project = project(&double, KEY, "");
    project.write(
        "pipelines/spent.toml",
        "[[stage]]\nid = \"q\"\nagent = \"openai\"\nprompt = \"q\"\n",
    );
    let mut child = project
        .command(&["pipeline", "run", "spent"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The run compiles the adapter first (a debug build's compiler, sharing two cores with
    // the rest of the suite): allow for that; the loop ends as soon as the park shows.
    let deadline = Instant::now() + Duration::from_secs(120);
    let snapshot = loop {
        let snapshot = project
            .baton(&["dashboard", "--refresh", "0", "--format", "json"])
            .expect(0)
            .json();
        if snapshot["waiting"]
            .as_array()
            .is_some_and(|w| w.iter().any(|w| w["reason"]["kind"] == "quota"))
        {
            break snapshot;
        }
        assert!(Instant::now() < deadline, "never waited: {snapshot}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let waiting = &snapshot["waiting"][0];
    assert_eq!(waiting["reason"]["key"], "agent:openai", "{snapshot}");
    let key = snapshot["limits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["key"] == "agent:openai")
        .unwrap_or_else(|| panic!("the parked key is not listed: {snapshot}"));
    assert!(
        key["parked"]["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("quota exhausted")),
        "{key}"
    );
    let stats = project.baton(&["queue", "stats"]).expect(0).stdout();
    assert!(
        stats.contains("PARKED") && stats.contains("agent:openai"),
        "{stats}"
    );
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(double.requests().len(), 1, "asked once, then parked");
}
