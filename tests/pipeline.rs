//! Pipelines through the real binary: validation with every error, filters, dry runs that
//! change nothing, caching and --force, schema violations with their JSON pointer, the
//! sandbox around stages, --continue-on-error, --resume, and kill -9 then --resume; missing
//! literal inputs fail their stage before it runs; a stage its plugin skips is reported
//! skipped everywhere; command
//! stages leave no process behind them (timeouts, their own exit, kill -9 of Baton).

use crate::common::{Project, plugin};
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

const QUICKSTART: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/quickstart");

/// A copy of the quickstart project.
pub(crate) fn quickstart() -> Project {
    let project = Project::new();
    copy_dir(Path::new(QUICKSTART), project.path());
    let _ = std::fs::remove_dir_all(project.path().join("out"));
    let _ = std::fs::remove_dir_all(project.path().join(".baton"));
    project
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            if entry.file_name() != "out" && entry.file_name() != ".baton" {
                copy_dir(&entry.path(), &target);
            }
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn states(doc: &serde_json::Value) -> HashMap<String, String> {
    doc["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["stage"].as_str().unwrap().to_string(),
                s["state"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn the_quickstart_runs_then_is_all_cached_then_forced() {
    let project = quickstart();
    let first = project
        .baton(&["pipeline", "run", "quickstart", "--format", "json"])
        .expect(0)
        .json();
    assert!(states(&first).values().all(|s| s == "done"), "{first}");
    let report = std::fs::read_to_string(project.path().join("out/report/report.md")).unwrap();
    assert!(
        report.contains("Ada Lovelace") && !report.contains("Young Coder"),
        "{report}"
    );
    assert!(report.contains("London"), "{report}");
    let second = project
        .baton(&["pipeline", "run", "quickstart", "--format", "json"])
        .expect(0)
        .json();
    assert!(states(&second).values().all(|s| s == "cached"), "{second}");
    let human = project.baton(&["pipeline", "run", "quickstart"]).expect(0);
    assert!(
        human.stdout().contains("▶ [1/4] people … cached"),
        "{}",
        human.stdout()
    );
    let forced = project
        .baton(&[
            "pipeline",
            "run",
            "quickstart",
            "--force",
            "--format",
            "json",
        ])
        .expect(0)
        .json();
    assert!(states(&forced).values().all(|s| s == "done"), "{forced}");
    // A changed input reruns what depends on it, and says why in the plan.
    std::fs::write(
        project.path().join("data/people.csv"),
        "name,age,city\nNew Person,30,Oslo\n",
    )
    .unwrap();
    let plan = project
        .baton(&[
            "pipeline",
            "run",
            "quickstart",
            "--dry-run",
            "--format",
            "json",
        ])
        .expect(0)
        .json();
    assert_eq!(plan["stages"][0]["action"], "run");
    assert_eq!(
        plan["stages"][0]["reason"],
        "input changed: data/people.csv"
    );
}

#[test]
fn invalid_graphs_are_rejected_with_every_error() {
    let project = Project::new();
    project.write("data/in.txt", "x");
    project.write(
        "pipelines/broken.toml",
        r#"
[[stage]]
id = "a"
plugin = "csv-to-jsonl"
inputs = ["out/c/c.txt"]
outputs = ["a.txt"]

[[stage]]
id = "a"
plugin = "csv-to-jsonl"
outputs = ["x.txt"]

[[stage]]
id = "b"
plugin = "no-such-plugin"
needs = ["ghost"]
inputs = ["data/missing.csv"]
outputs = ["a.txt"]
output-dir = "out/a"

[[stage]]
id = "c"
plugin = "csv-to-jsonl"
inputs = ["out/a/a.txt"]
outputs = ["c.txt"]
"#,
    );
    let run = project
        .baton(&["pipeline", "run", "broken", "--dry-run"])
        .expect(20);
    let message = run.stderr();
    for needle in [
        "pipelines/broken.toml:8: duplicate stage id `a` (first defined at pipelines/broken.toml:2)",
        "needs unknown stage `ghost`",
        "uses plugin `no-such-plugin`, which is not configured",
        "reads `data/missing.csv`, which no stage produces and no file matches",
        "is also claimed by stage",
        "the stages form a cycle: ",
    ] {
        assert!(
            message.contains(needle),
            "missing `{needle}` in:\n{message}"
        );
    }
    assert!(
        !project.path().join(".baton").exists(),
        "validation wrote to the store"
    );
}

fn plan_actions(project: &Project, args: &[&str]) -> Vec<(String, String)> {
    let mut all = vec![
        "pipeline",
        "run",
        "quickstart",
        "--dry-run",
        "--format",
        "json",
    ];
    all.extend_from_slice(args);
    let doc = project.baton(&all).expect(0).json();
    doc["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_string(),
                s["action"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn selected(actions: &[(String, String)]) -> Vec<String> {
    actions
        .iter()
        .filter(|(_, a)| a != "filtered-out")
        .map(|(id, _)| id.clone())
        .collect()
}

#[test]
fn filters_select_exactly_the_right_stages_and_dry_runs_change_nothing() {
    let project = quickstart();
    assert_eq!(
        selected(&plan_actions(&project, &[])),
        ["people", "adults", "cities", "report"]
    );
    assert_eq!(
        selected(&plan_actions(&project, &["--only", "adults,cities"])),
        ["adults", "cities"]
    );
    assert_eq!(
        selected(&plan_actions(&project, &["--skip", "report"])),
        ["people", "adults", "cities"]
    );
    assert_eq!(
        selected(&plan_actions(&project, &["--from", "adults"])),
        ["adults", "report"]
    );
    assert_eq!(
        selected(&plan_actions(&project, &["--to", "cities"])),
        ["people", "cities"]
    );
    assert_eq!(
        selected(&plan_actions(
            &project,
            &["--from", "people", "--to", "adults"]
        )),
        ["people", "adults"]
    );
    let named = project
        .baton(&[
            "pipeline",
            "run",
            "people-only",
            "--dry-run",
            "--format",
            "json",
        ])
        .expect(0)
        .json();
    assert_eq!(named["stages"].as_array().unwrap().len(), 1);
    for bad in [
        &["--only", "adults", "--from", "people"][..],
        &["--only", "adults", "--skip", "adults"][..],
        &["--from", "adults", "--to", "cities"][..],
        &["--only", "nope"][..],
        &["--skip", "nope"][..],
    ] {
        let mut args = vec!["pipeline", "run", "quickstart"];
        args.extend_from_slice(bad);
        let run = project.baton(&args).expect(20);
        assert!(!run.stderr().is_empty(), "{bad:?}");
    }
    assert!(
        !project.path().join(".baton").exists(),
        "a dry run or a refused run wrote state"
    );
    assert!(
        !project.path().join("out").exists(),
        "a dry run wrote outputs"
    );
}

#[test]
fn a_schema_violation_fails_the_stage_with_the_json_pointer() {
    let project = quickstart();
    std::fs::write(
        project.path().join("data/people.csv"),
        "name,age,city\nOk Person,30,Oslo\nBad Age,12345,Rome\n",
    )
    .unwrap();
    let run = project
        .baton(&["pipeline", "run", "quickstart", "--format", "json"])
        .expect(10);
    let doc = run.json();
    let people = &doc["stages"][0];
    assert_eq!(people["state"], "failed", "{doc}");
    let detail = people["detail"].as_str().unwrap();
    assert!(
        detail.contains("people.jsonl") && detail.contains("/age"),
        "{detail}"
    );
    assert!(
        !project.path().join("out/people").exists(),
        "an invalid output was promoted"
    );
    assert_eq!(states(&doc)["adults"], "skipped");
}

/// Each stage's `detail` in a run's JSON summary.
fn details(doc: &serde_json::Value) -> HashMap<String, String> {
    doc["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["stage"].as_str().unwrap().to_string(),
                s["detail"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Whether the summary table of a human run has a row for `stage` saying `state`, then
/// `detail`.
fn table_row(stdout: &str, stage: &str, state: &str, detail: &str) -> bool {
    stdout.lines().any(|line| {
        let words: Vec<&str> = line.split_whitespace().collect();
        words.len() > 2 && words[0] == stage && words[1] == state && line.ends_with(detail)
    })
}

/// Found by a user tryout: `--only adults` after `out/people/people.jsonl` was deleted
/// handed the plugin no inputs, the plugin skipped, and the run said `done` (exit 0) over
/// the old output. A literal input that is missing fails the stage before its plugin runs,
/// naming the path and the stage that makes it; nothing is deleted.
#[test]
fn a_missing_literal_input_fails_its_stage_before_it_runs_naming_the_stage_that_makes_it() {
    let project = quickstart();
    // Attempts to spare: the failure still takes one.
    let pipeline = std::fs::read_to_string(project.path().join("pipelines/quickstart.toml"))
        .unwrap()
        .replace(
            "outputs = [\"adults.jsonl\"]",
            "outputs = [\"adults.jsonl\"]\nretries = 2",
        );
    project.write("pipelines/quickstart.toml", &pipeline);
    project.baton(&["pipeline", "run", "quickstart"]).expect(0);
    std::fs::remove_file(project.path().join("out/people/people.jsonl")).unwrap();
    let adults = std::fs::read(project.path().join("out/adults/adults.jsonl")).unwrap();
    let runs = project.path().join(".baton/runs");
    let run_dirs = || -> Vec<std::path::PathBuf> {
        let mut dirs: Vec<_> = std::fs::read_dir(&runs)
            .unwrap()
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.is_dir())
            .collect();
        dirs.sort();
        dirs
    };
    let before = run_dirs();
    let message = "input `out/people/people.jsonl` does not exist; stage `people` makes it: run it too, or drop the --only, --skip or --from that leaves it out";
    let human = project
        .baton(&["pipeline", "run", "quickstart", "--only", "adults"])
        .expect(10);
    let stdout = human.stdout();
    assert!(
        stdout.contains("✗ [1/1] adults … FAILED in ") && stdout.contains(message),
        "{stdout}"
    );
    assert!(table_row(&stdout, "adults", "failed", message), "{stdout}");
    // Rerunning the stage alone would fail the same way: no such hint.
    assert!(!stdout.contains("rerun it with"), "{stdout}");
    let doc = project
        .baton(&[
            "pipeline",
            "run",
            "quickstart",
            "--only",
            "adults",
            "--format",
            "json",
        ])
        .expect(10)
        .json();
    assert_eq!(states(&doc)["adults"], "failed", "{doc}");
    assert_eq!(details(&doc)["adults"], message, "{doc}");
    assert_eq!(doc["degraded"], true, "{doc}");
    // Failed at once, before anything was staged for it (no attempt directory), and the
    // old output is still there.
    assert!(
        crate::common::ledger_counts(&project, "retry").is_empty(),
        "a missing input was retried"
    );
    let failed: Vec<_> = run_dirs()
        .into_iter()
        .filter(|dir| !before.contains(dir))
        .collect();
    assert_eq!(failed.len(), 2, "{failed:?}");
    for run in failed {
        assert!(
            !run.join("adults").exists(),
            "an attempt of adults was staged in {}",
            run.display()
        );
    }
    assert_eq!(
        std::fs::read(project.path().join("out/adults/adults.jsonl")).unwrap(),
        adults
    );
    // Run with the stage that makes it, it works.
    let doc = project
        .baton(&[
            "pipeline",
            "run",
            "quickstart",
            "--only",
            "people,adults",
            "--format",
            "json",
        ])
        .expect(0)
        .json();
    assert_eq!(states(&doc)["adults"], "cached", "{doc}");
}

/// A stage its plugin skips is `skipped` with the plugin's reason on its line, in the
/// summary table and in the JSON summary (it said `done`), the run is degraded, nothing is
/// promoted or recorded for caching: the next run runs it again rather than calling the
/// old output cached. A glob that matches nothing does not fail the stage: the plugin
/// decides. A literal input of a stage that such a stage did not make names it.
#[test]
fn a_stage_its_plugin_skips_is_reported_skipped_everywhere_and_never_cached() {
    let project = quickstart();
    let mut pipeline =
        std::fs::read_to_string(project.path().join("pipelines/quickstart.toml")).unwrap();
    pipeline.push_str(
        r#"
[[stage]]
id = "names"
plugin = "jsonl-transform"
inputs = ["out/people/*.jsonl"]
outputs = ["names.jsonl"]
params = { filter = ".name", output = "names.jsonl" }

[[stage]]
id = "check"
plugin = "json-schema"
inputs = ["schemas/person.schema.json"]
outputs = ["report.json"]
params = { schema-input = "schemas/person.schema.json" }

[[stage]]
id = "after-check"
plugin = "jsonl-transform"
inputs = ["out/check/report.json"]
outputs = ["after.jsonl"]
params = { filter = ".", output = "after.jsonl" }
"#,
    );
    project.write("pipelines/quickstart.toml", &pipeline);
    project
        .baton(&["pipeline", "run", "quickstart", "--only", "people,names"])
        .expect(0);
    std::fs::remove_file(project.path().join("out/people/people.jsonl")).unwrap();
    let names = std::fs::read(project.path().join("out/names/names.jsonl")).unwrap();
    let reason = "no inputs to transform";
    let human = project
        .baton(&["pipeline", "run", "quickstart", "--only", "names"])
        .expect(10);
    let stdout = human.stdout();
    assert!(
        stdout.contains(&format!("▶ [1/1] names … skipped: {reason}")),
        "{stdout}"
    );
    assert!(table_row(&stdout, "names", "skipped", reason), "{stdout}");
    for _ in 0..2 {
        let doc = project
            .baton(&[
                "pipeline",
                "run",
                "quickstart",
                "--only",
                "names",
                "--format",
                "json",
            ])
            .expect(10)
            .json();
        assert_eq!(states(&doc)["names"], "skipped", "{doc}");
        assert_eq!(details(&doc)["names"], reason, "{doc}");
        assert_eq!(doc["degraded"], true, "{doc}");
    }
    assert_eq!(
        std::fs::read(project.path().join("out/names/names.jsonl")).unwrap(),
        names,
        "the old output was not left in place"
    );
    let plan = project
        .baton(&[
            "pipeline",
            "run",
            "quickstart",
            "--only",
            "names",
            "--dry-run",
            "--format",
            "json",
        ])
        .expect(0)
        .json();
    let planned = plan["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|stage| stage["id"] == "names")
        .unwrap();
    assert_eq!(planned["action"], "run", "{plan}");
    // A skipped stage in the same run as its reader: the reader's literal input names it.
    let doc = project
        .baton(&[
            "pipeline",
            "run",
            "quickstart",
            "--only",
            "check,after-check",
            "--continue-on-error",
            "--format",
            "json",
        ])
        .expect(10)
        .json();
    assert_eq!(states(&doc)["check"], "skipped", "{doc}");
    assert_eq!(
        details(&doc)["check"],
        "no .json or .jsonl inputs to validate",
        "{doc}"
    );
    assert_eq!(states(&doc)["after-check"], "failed", "{doc}");
    assert_eq!(
        details(&doc)["after-check"],
        "input `out/check/report.json` does not exist; stage `check` makes it but has not made it in this run",
        "{doc}"
    );
}

fn hostile_project(stages: &str, extra_config: &str) -> Project {
    let project = Project::new();
    std::fs::copy(plugin("hostile"), project.path().join("hostile.wasm")).unwrap();
    project.write(
        "baton.toml",
        &format!(
            "[plugins.hostile]\npath = \"hostile.wasm\"\n[plugins.hostile.grants]\nhttp = [\"http://127.0.0.1:1\"]\n{extra_config}"
        ),
    );
    project.write("data/declared.txt", "declared");
    project.write("data/secret.txt", "secret");
    project.write("pipelines/p.toml", stages);
    project
}

#[test]
fn a_stage_cannot_touch_undeclared_paths() {
    let project = hostile_project(
        r#"
[[stage]]
id = "snoop"
plugin = "hostile"
inputs = ["data/declared.txt"]
outputs = ["escaped.bin"]
params = { attack = "read-escape", path = "/inputs/data/secret.txt" }

[[stage]]
id = "reader"
plugin = "hostile"
inputs = ["data/declared.txt"]
outputs = ["escaped.bin"]
params = { attack = "read-escape", path = "/inputs/data/declared.txt" }
"#,
        "",
    );
    let run = project
        .baton(&[
            "pipeline",
            "run",
            "p",
            "--continue-on-error",
            "--format",
            "json",
        ])
        .expect(10);
    let doc = run.json();
    let states = states(&doc);
    assert_eq!(states["snoop"], "failed", "{doc}");
    assert_eq!(states["reader"], "done", "{doc}");
}

#[test]
fn continue_on_error_runs_independent_stages_and_ends_degraded() {
    let stages = r#"
[[stage]]
id = "boom"
plugin = "hostile"
outputs = ["never.txt"]
params = { attack = "panic" }

[[stage]]
id = "after-boom"
plugin = "hostile"
needs = ["boom"]
outputs = ["escaped.bin"]
params = { attack = "echo" }

[[stage]]
id = "independent"
plugin = "hostile"
inputs = ["data/declared.txt"]
outputs = ["escaped.bin"]
params = { attack = "read-escape", path = "/inputs/data/declared.txt" }
"#;
    let project = hostile_project(stages, "");
    let run = project
        .baton(&[
            "pipeline",
            "run",
            "p",
            "--continue-on-error",
            "--jobs",
            "1",
            "--format",
            "json",
        ])
        .expect(10);
    let states = states(&run.json());
    assert_eq!(states["boom"], "failed");
    assert_eq!(states["after-boom"], "skipped");
    assert_eq!(states["independent"], "done");
    let human = project
        .baton(&["pipeline", "run", "p", "--only", "boom"])
        .expect(10);
    assert!(
        human.stdout().contains("FAILED") && human.stdout().contains("run-stage boom --pipeline p"),
        "{}",
        human.stdout()
    );
}

/// `pipeline run PIPELINE --dry-run` is refused at validation (exit 20) with every needle in
/// its message.
fn assert_refused(project: &Project, pipeline: &str, needles: &[&str]) {
    let run = project
        .baton(&["pipeline", "run", pipeline, "--dry-run"])
        .expect(20);
    let stderr = run.stderr();
    for needle in needles {
        assert!(stderr.contains(needle), "no `{needle}` in:\n{stderr}");
    }
}

/// `done` lines per stage in the ledger file.
fn done_events(project: &Project) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for (key, n) in crate::common::ledger_counts(project, "done") {
        let stage = key.rsplit('/').next().unwrap().to_string();
        *counts.entry(stage).or_insert(0) += n;
    }
    counts
}

#[test]
fn resume_reruns_only_what_did_not_finish() {
    let project = quickstart();
    project.write("templates/report.md.tmpl", "{{#each broken");
    let first = project
        .baton(&["pipeline", "run", "quickstart", "--format", "json"])
        .expect(10)
        .json();
    assert_eq!(states(&first)["report"], "failed", "{first}");
    let run_id = first["run_id"].as_str().unwrap().to_string();
    std::fs::copy(
        Path::new(QUICKSTART).join("templates/report.md.tmpl"),
        project.path().join("templates/report.md.tmpl"),
    )
    .unwrap();
    let resumed = project
        .baton(&[
            "pipeline",
            "run",
            "quickstart",
            "--resume",
            &run_id,
            "--format",
            "json",
        ])
        .expect(0)
        .json();
    assert_eq!(resumed["run_id"], run_id.as_str());
    assert!(states(&resumed).values().all(|s| s == "done"), "{resumed}");
    // A run id that does not exist is a usage error naming it, and nothing runs.
    let unknown = project
        .baton(&["pipeline", "run", "quickstart", "--resume", "nosuch"])
        .expect(20);
    assert!(
        unknown
            .stderr()
            .contains("--resume nosuch: no such run of `quickstart`"),
        "{}",
        unknown.stderr()
    );
    let done = done_events(&project);
    for stage in ["people", "adults", "cities", "report"] {
        assert_eq!(
            done.get(stage),
            Some(&1),
            "{stage} ran {:?} times to success",
            done.get(stage)
        );
    }
}

#[test]
fn kill_9_mid_run_then_resume_runs_every_stage_once_to_success() {
    let project = Project::new();
    project.write("baton.toml", "[pipeline]\nallow-commands = \"true\"\n");
    project.write("data/seed.txt", "seed\n");
    let mut stages = String::new();
    for i in 0..6 {
        let input = if i == 0 {
            "data/seed.txt".to_string()
        } else {
            format!("out/s{}/v.txt", i - 1)
        };
        stages.push_str(&format!(
            "[[stage]]\nid = \"s{i}\"\ncommand = [\"sh\", \"-c\", \"sleep 0.4 && cat {input} > $BATON_OUTPUT_DIR/v.txt && echo {i} >> $BATON_OUTPUT_DIR/v.txt\"]\ninputs = [\"{input}\"]\noutputs = [\"v.txt\"]\n\n"
        ));
    }
    project.write("pipelines/chain.toml", &stages);
    let mut child = project
        .command(&[])
        .args(["pipeline", "run", "chain"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !project.path().join("out/s1/v.txt").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the run made no progress"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let run_id = crate::common::run_ids(&project)
        .pop()
        .expect("a run was recorded");
    // The dead run is shown as interrupted, with how to resume it; its jobs are not waiting
    // work-queue jobs.
    let stats = project
        .baton(&["queue", "stats", "--format", "json"])
        .expect(0)
        .json();
    let open = stats["runs"].as_array().unwrap();
    assert_eq!(open.len(), 1, "{stats}");
    assert_eq!(open[0]["id"], run_id.as_str());
    assert_eq!(open[0]["state"], "interrupted", "{stats}");
    assert!(open[0]["unfinished"].as_u64().unwrap() >= 4, "{stats}");
    assert!(stats["oldest_ready_ms"].is_null(), "{stats}");
    let resume = format!("baton pipeline run chain --resume {run_id}");
    let table = project.baton(&["queue", "stats"]).expect(0);
    assert!(table.stdout().contains("interrupted"), "{}", table.stdout());
    assert!(table.stdout().contains(&resume), "{}", table.stdout());
    let logs = project.baton(&["pipeline", "logs", &run_id]).expect(0);
    assert!(logs.stderr().contains(&resume), "{}", logs.stderr());
    // Following a dead run ends at once instead of waiting for lines that never come.
    let followed = project
        .baton(&["pipeline", "logs", &run_id, "--follow"])
        .expect(10);
    assert!(
        followed.stderr().contains("was interrupted"),
        "{}",
        followed.stderr()
    );
    let resumed = project
        .baton(&[
            "pipeline", "run", "chain", "--resume", &run_id, "--format", "json",
        ])
        .expect(0)
        .json();
    // A stage whose outputs were promoted just before the kill is recognised by its cache
    // key: it is not run a second time.
    let resumed_states = states(&resumed);
    assert!(
        resumed_states
            .values()
            .all(|s| s == "done" || s == "cached"),
        "{resumed}"
    );
    assert!(
        resumed_states.values().filter(|s| *s == "cached").count() <= 1,
        "{resumed}"
    );
    let done = done_events(&project);
    for i in 0..6 {
        assert_eq!(done.get(&format!("s{i}")), Some(&1), "s{i}: {done:?}");
    }
    let last = std::fs::read_to_string(project.path().join("out/s5/v.txt")).unwrap();
    assert_eq!(last, "seed\n0\n1\n2\n3\n4\n5\n");
    let stats = project
        .baton(&["queue", "stats", "--format", "json"])
        .expect(0)
        .json();
    assert_eq!(stats["runs"], serde_json::json!([]), "{stats}");
    // The ledger file holds the whole story: the run started, each stage enqueued once, the
    // unfinished ones resumed, the run finished.
    let ledger = crate::common::ledger(&project);
    let of_run = |event: &str| {
        ledger
            .iter()
            .filter(|l| l["event"] == event && l["run"] == run_id.as_str())
            .count()
    };
    assert_eq!(of_run("run-started"), 1, "{ledger:?}");
    assert_eq!(of_run("run-finished"), 1, "{ledger:?}");
    let finished = ledger
        .iter()
        .find(|l| l["event"] == "run-finished")
        .unwrap();
    assert_eq!(finished["state"], "done");
    let enqueued = crate::common::ledger_counts(&project, "enqueued");
    let resumed = crate::common::ledger_counts(&project, "resumed");
    for i in 0..6 {
        let key = format!("{run_id}/s{i}");
        assert_eq!(enqueued.get(&key), Some(&1), "{key}: {enqueued:?}");
    }
    assert!(
        resumed.len() >= 4 && resumed.values().all(|n| *n == 1),
        "the unfinished stages were not each resumed once: {resumed:?}"
    );
}

#[test]
fn list_describe_logs_and_doctor() {
    let project = quickstart();
    let list = project
        .baton(&["pipeline", "list", "--format", "json"])
        .expect(0)
        .json();
    let ids: Vec<&str> = list["pipelines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["people-only", "quickstart"]);
    let describe = project
        .baton(&["pipeline", "describe", "quickstart", "--format", "json"])
        .expect(0)
        .json();
    assert_eq!(
        describe["stages"][3]["needs"],
        serde_json::json!(["adults", "cities"])
    );
    project.baton(&["pipeline", "run", "quickstart"]).expect(0);
    let logs = project.baton(&["pipeline", "logs"]).expect(0);
    assert!(
        logs.stdout().contains("\"run-finished\""),
        "{}",
        logs.stdout()
    );
    let doctor = project
        .baton(&["pipeline", "doctor", "--format", "json"])
        .expect(0)
        .json();
    assert_eq!(doctor["ok"], true, "{doctor}");
    project
        .baton(&["pipeline", "run-stage", "cities"])
        .expect(0);
}

#[test]
fn env_files_reach_the_stages_that_name_them_and_timeouts_stop_stages() {
    let project = Project::new();
    project.write("baton.toml", "[pipeline]\nallow-commands = \"true\"\n");
    // The common dotenv dialect: comments, an `export` prefix, quotes.
    project.write(
        ".env",
        "# secrets\nexport API_TOKEN='s3cret # kept'\nOTHER=\"x\" # a comment\n",
    );
    project.write(
        "pipelines/env.toml",
        r#"
[[stage]]
id = "token"
command = ["sh", "-c", "echo \"$API_TOKEN\" > $BATON_OUTPUT_DIR/t.txt"]
outputs = ["t.txt"]
env = ["API_TOKEN"]

[[stage]]
id = "nosy"
command = ["sh", "-c", "echo \"[$API_TOKEN]\" > $BATON_OUTPUT_DIR/t.txt"]
outputs = ["t.txt"]

[[stage]]
id = "slow"
command = ["sleep", "5"]
outputs = ["never.txt"]
timeout = "300ms"
"#,
    );
    let run = project
        .baton(&[
            "pipeline",
            "run",
            "env",
            "--env-file",
            ".env",
            "--continue-on-error",
            "--format",
            "json",
        ])
        .expect(10);
    let doc = run.json();
    let states = states(&doc);
    assert_eq!(states["token"], "done", "{doc}");
    assert_eq!(states["slow"], "failed", "{doc}");
    let slow = doc["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == "slow")
        .unwrap();
    assert!(
        slow["detail"]
            .as_str()
            .unwrap()
            .contains("timed out after 300ms"),
        "{slow}"
    );
    assert_eq!(
        std::fs::read_to_string(project.path().join("out/token/t.txt")).unwrap(),
        "s3cret # kept\n",
        "a single-quoted value is literal, `#` included"
    );
    assert_eq!(
        std::fs::read_to_string(project.path().join("out/nosy/t.txt")).unwrap(),
        "[]\n"
    );
    // A stage naming a variable the file does not set is refused before it runs.
    project.write(".env", "OTHER=1\n");
    let missing = project
        .baton(&[
            "pipeline",
            "run",
            "env",
            "--env-file",
            ".env",
            "--only",
            "token",
            "--force",
        ])
        .expect(30);
    assert!(
        missing
            .stderr()
            .contains("needs `API_TOKEN`, which --env-file does not set"),
        "{}",
        missing.stderr()
    );
}

#[test]
fn editing_a_command_stages_script_reruns_it() {
    let project = Project::new();
    project.write("baton.toml", "[pipeline]\nallow-commands = \"true\"\n");
    project.write("scripts/make.sh", "echo one > $BATON_OUTPUT_DIR/v.txt\n");
    project.write(
        "pipelines/s.toml",
        "[[stage]]\nid = \"made\"\ncommand = [\"sh\", \"scripts/make.sh\"]\noutputs = [\"v.txt\"]\n",
    );
    let run = |project: &Project| {
        states(
            &project
                .baton(&["pipeline", "run", "s", "--format", "json"])
                .expect(0)
                .json(),
        )["made"]
            .clone()
    };
    assert_eq!(run(&project), "done");
    assert_eq!(run(&project), "cached");
    project.write("scripts/make.sh", "echo two > $BATON_OUTPUT_DIR/v.txt\n");
    assert_eq!(
        run(&project),
        "done",
        "an edited script did not rerun its stage"
    );
    let out = std::fs::read_to_string(project.path().join("out/made/v.txt")).unwrap();
    assert_eq!(out, "two\n");
}

#[cfg(unix)]
#[test]
fn globs_do_not_follow_symlinks_to_the_project_and_take_classes_and_alternation() {
    let project = Project::new();
    project.write("data/a.csv", "x\n");
    project.write("data/b.tsv", "y\n");
    project.write("data/c.json", "{}\n");
    std::os::unix::fs::symlink(project.path(), project.path().join("data/loop")).unwrap();
    std::os::unix::fs::symlink(project.path(), project.path().join("loop2")).unwrap();
    project.write("baton.toml", "[pipeline]\nallow-commands = \"true\"\n");
    project.write(
        "pipelines/g.toml",
        "[[stage]]\nid = \"all\"\ncommand = [\"sh\", \"-c\", \"echo \\\"$BATON_INPUTS\\\" > $BATON_OUTPUT_DIR/list.txt\"]\ninputs = [\"**/*.{csv,tsv}\", \"data/[c].json\"]\noutputs = [\"list.txt\"]\n",
    );
    let started = std::time::Instant::now();
    let plan = project
        .baton(&["pipeline", "run", "g", "--dry-run", "--format", "json"])
        .expect(0)
        .json();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the dry run followed the symlinks"
    );
    assert_eq!(plan["stages"][0]["id"], "all", "{plan}");
    project.baton(&["pipeline", "run", "g"]).expect(0);
    let listed = std::fs::read_to_string(project.path().join("out/all/list.txt")).unwrap();
    assert_eq!(listed, "data/a.csv\ndata/b.tsv\ndata/c.json\n");
    project.write(
        "pipelines/g.toml",
        "[[stage]]\nid = \"bad\"\ncommand = [\"true\"]\ninputs = [\"data/[a.csv\"]\noutputs = [\"o.txt\"]\n",
    );
    assert_refused(&project, "g", &["g.toml:1", "not a valid glob"]);
}

/// A project with `in.jsonl` and one jsonl-transform stage writing into `output_dir`.
fn one_stage_project(output_dir: &str) -> Project {
    let project = Project::new();
    project.write("baton.toml", "");
    project.write("in.jsonl", "{\"a\": 1}\n");
    project.write(
        "pipelines/p.toml",
        &format!(
            "[[stage]]\nid = \"s\"\nplugin = \"jsonl-transform\"\ninputs = [\"in.jsonl\"]\noutputs = [\"o.jsonl\"]\nparams = {{ filter = \".\", output = \"o.jsonl\" }}\noutput-dir = {}\n",
            toml::Value::String(output_dir.to_string())
        ),
    );
    project
}

/// Validation (`--dry-run`), `pipeline run` and `doctor` all refuse pipeline `p`, naming
/// `needle` at `pipelines/p.toml:LINE`; returns the run's message.
fn refused_everywhere(project: &Project, line: usize, needle: &str) -> String {
    let at = format!("pipelines/p.toml:{line}: ");
    let dry = project
        .baton(&["pipeline", "run", "p", "--dry-run"])
        .expect(20);
    let run = project.baton(&["pipeline", "run", "p"]).expect(20);
    let doctor = project.baton(&["pipeline", "doctor"]).expect(10);
    for message in [
        dry.stderr(),
        run.stderr(),
        doctor.stdout() + &doctor.stderr(),
    ] {
        assert!(
            message.contains(&at) && message.contains(needle),
            "missing `{at}…{needle}` in:\n{message}"
        );
    }
    run.stderr()
}

#[test]
fn output_dirs_outside_the_stages_own_are_refused_and_nothing_is_deleted() {
    let victim = tempfile::tempdir().unwrap();
    std::fs::write(victim.path().join("keep.txt"), "precious").unwrap();
    let sibling = format!(
        "../{}",
        victim.path().file_name().unwrap().to_string_lossy()
    );
    let absolute = victim.path().to_string_lossy().into_owned();
    for (output_dir, needle) in [
        (sibling.as_str(), "must stay inside the project (no `..`)"),
        (absolute.as_str(), "not an absolute path"),
        ("pipelines", "overlaps `pipelines/`"),
        (".baton", "overlaps `.baton/`"),
        (".baton/out", "overlaps `.baton/`"),
        ("baton.toml", "overlaps `baton.toml`"),
        (".", "is the project root"),
    ] {
        let project = one_stage_project(output_dir);
        // Baton's state exists already: a run that refuses must leave it alone.
        project.write(".baton/keep.txt", "state");
        let message = refused_everywhere(&project, 1, &format!("output-dir `{output_dir}`"));
        assert!(message.contains(needle), "{output_dir}: {message}");
        assert_eq!(
            std::fs::read_to_string(victim.path().join("keep.txt")).unwrap(),
            "precious",
            "{output_dir}"
        );
        for kept in [
            "pipelines/p.toml",
            "baton.toml",
            "in.jsonl",
            ".baton/keep.txt",
        ] {
            assert!(
                project.path().join(kept).is_file(),
                "{output_dir}: {kept} is gone"
            );
        }
    }
}

#[cfg(unix)]
#[test]
fn output_dirs_through_a_symlink_out_of_the_project_are_refused() {
    let victim = tempfile::tempdir().unwrap();
    std::fs::write(victim.path().join("keep.txt"), "precious").unwrap();
    for output_dir in ["link", "link/sub", "inside/link"] {
        let project = one_stage_project(output_dir);
        std::os::unix::fs::symlink(victim.path(), project.path().join("link")).unwrap();
        std::fs::create_dir_all(project.path().join("inside")).unwrap();
        std::os::unix::fs::symlink(victim.path(), project.path().join("inside/link")).unwrap();
        refused_everywhere(
            &project,
            1,
            "resolves outside the project through a symlink",
        );
        assert!(victim.path().join("keep.txt").is_file(), "{output_dir}");
    }
    // The default `out/<id>` too, when `out` leads out of the project.
    let project = one_stage_project("out/s");
    project.write(
        "pipelines/p.toml",
        "[[stage]]\nid = \"s\"\nplugin = \"jsonl-transform\"\ninputs = [\"in.jsonl\"]\noutputs = [\"o.jsonl\"]\nparams = { filter = \".\", output = \"o.jsonl\" }\n",
    );
    std::os::unix::fs::symlink(victim.path(), project.path().join("out")).unwrap();
    refused_everywhere(
        &project,
        1,
        "output-dir `out/s` resolves outside the project",
    );
    assert_eq!(std::fs::read_dir(victim.path()).unwrap().count(), 1);
}

#[test]
fn output_dirs_overlapping_inputs_or_each_other_are_refused() {
    let stage = |id: &str, input: &str, output_dir: &str| {
        format!(
            "[[stage]]\nid = \"{id}\"\nplugin = \"jsonl-transform\"\ninputs = [\"{input}\"]\noutputs = [\"{id}.jsonl\"]\nparams = {{ filter = \".\", output = \"{id}.jsonl\" }}\noutput-dir = \"{output_dir}\"\n\n"
        )
    };
    let cases = [
        // Another stage's source file inside the directory.
        (
            stage("a", "in.jsonl", "data") + &stage("b", "data/d.jsonl", "out/b"),
            9,
            "stage `b` reads `data/d.jsonl`, inside the output-dir `data` of stage `a`",
        ),
        // Its own input inside the directory: a cycle, whether a file or a glob.
        (
            stage("a", "data/d.jsonl", "data"),
            1,
            "stage `a` reads `data/d.jsonl`, inside its own output-dir `data`: the stages form a cycle: a → a",
        ),
        (
            stage("a", "out/a/*.jsonl", "out/a"),
            1,
            "inside its own output-dir `out/a`: the stages form a cycle: a → a",
        ),
        // Stage directories nested either way.
        (
            stage("a", "in.jsonl", "out/x") + &stage("b", "in.jsonl", "out/x/sub"),
            9,
            "stage `b` output-dir `out/x/sub` overlaps the output-dir `out/x` of stage `a`",
        ),
        (
            stage("a", "in.jsonl", "out/x/sub") + &stage("b", "in.jsonl", "out/x"),
            9,
            "stage `b` output-dir `out/x` overlaps the output-dir `out/x/sub` of stage `a`",
        ),
    ];
    for (text, line, needle) in cases {
        let project = one_stage_project("out/s");
        project.write("data/d.jsonl", "{}\n");
        project.write("pipelines/p.toml", &text);
        refused_everywhere(&project, line, needle);
        assert!(project.path().join("data/d.jsonl").is_file());
    }
}

#[test]
fn promotion_never_replaces_a_directory_baton_did_not_create() {
    let project = one_stage_project("reports");
    let text = std::fs::read_to_string(project.path().join("pipelines/p.toml")).unwrap();
    project.write("pipelines/p.toml", &format!("{text}retries = 2\n"));
    project.write("reports/notes.txt", "mine");
    // Nothing on disk says it is wrong until the run: validation accepts it.
    project
        .baton(&["pipeline", "run", "p", "--dry-run"])
        .expect(0);
    let doc = project
        .baton(&["pipeline", "run", "p", "--format", "json"])
        .expect(10)
        .json();
    let detail = doc["stages"][0]["detail"].as_str().unwrap();
    assert_eq!(doc["stages"][0]["state"], "failed", "{doc}");
    assert!(
        detail.contains("output directory `reports` already exists and Baton did not create it")
            && detail.contains("nothing was deleted")
            && detail.contains("Move or delete `reports`"),
        "{detail}"
    );
    assert_eq!(
        std::fs::read_to_string(project.path().join("reports/notes.txt")).unwrap(),
        "mine"
    );
    assert!(!project.path().join("reports/o.jsonl").exists());
    // Failed at once: another attempt cannot fix it.
    assert_eq!(
        crate::common::ledger_counts(&project, "running")
            .values()
            .sum::<usize>(),
        1
    );
    // Once the user moves it away, Baton's own directory is marked, then replaced freely.
    std::fs::remove_dir_all(project.path().join("reports")).unwrap();
    project.baton(&["pipeline", "run", "p"]).expect(0);
    assert!(project.path().join("reports/.baton-output").is_file());
    project.write("in.jsonl", "{\"a\": 2}\n");
    project.baton(&["pipeline", "run", "p"]).expect(0);
    assert_eq!(
        std::fs::read_to_string(project.path().join("reports/o.jsonl")).unwrap(),
        "{\"a\":2}\n"
    );
    // A directory promoted before markers existed is Baton's while it holds exactly what
    // the last success promoted...
    std::fs::remove_file(project.path().join("reports/.baton-output")).unwrap();
    project
        .baton(&["pipeline", "run", "p", "--force"])
        .expect(0);
    assert!(project.path().join("reports/.baton-output").is_file());
    // ...and not once it holds anything else.
    std::fs::remove_file(project.path().join("reports/.baton-output")).unwrap();
    project.write("reports/mine.txt", "mine");
    let run = project
        .baton(&["pipeline", "run", "p", "--force"])
        .expect(10);
    assert!(
        run.stdout().contains("reports/mine.txt"),
        "{}",
        run.stdout()
    );
    assert!(project.path().join("reports/mine.txt").is_file());
    assert!(project.path().join("reports/o.jsonl").is_file());
}

#[test]
fn double_star_globs_never_read_baton_state_git_or_the_stages_own_outputs() {
    let project = Project::new();
    project.write("baton.toml", "[pipeline]\nallow-commands = \"true\"\n");
    project.write("in.jsonl", "{}\n");
    project.write(".git/objects/x.jsonl", "{}\n");
    project.write(
        "pipelines/g.toml",
        r#"[[stage]]
id = "jsonl"
command = ["sh", "-c", "echo \"$BATON_INPUTS\" > $BATON_OUTPUT_DIR/list.txt && echo '{}' > $BATON_OUTPUT_DIR/copy.jsonl"]
inputs = ["**/*.jsonl"]
outputs = ["list.txt", "copy.jsonl"]

[[stage]]
id = "everything"
command = ["sh", "-c", "echo \"$BATON_INPUTS\" > $BATON_OUTPUT_DIR/list.txt"]
inputs = ["**"]
outputs = ["list.txt"]
"#,
    );
    // The second and third runs find the ledger, the run logs, the store and the stages'
    // own promoted outputs on disk; none of them is an input.
    for args in [
        &["pipeline", "run", "g"][..],
        &["pipeline", "run", "g", "--force"],
    ] {
        project.baton(args).expect(0);
    }
    assert!(project.path().join(".baton/baton.db").is_file());
    assert!(
        std::fs::read_dir(project.path().join(".baton/runs"))
            .unwrap()
            .count()
            > 0
    );
    let doc = project
        .baton(&["pipeline", "run", "g", "--force", "--format", "json"])
        .expect(0)
        .json();
    assert!(states(&doc).values().all(|s| s == "done"), "{doc}");
    let read = |stage: &str| {
        std::fs::read_to_string(project.path().join(format!("out/{stage}/list.txt"))).unwrap()
    };
    assert_eq!(read("jsonl"), "in.jsonl\n");
    assert_eq!(
        read("everything"),
        "baton.toml\nin.jsonl\nout/jsonl/copy.jsonl\nout/jsonl/list.txt\npipelines/g.toml\n"
    );
    // Naming Baton's state outright is refused.
    project.write(
        "pipelines/g.toml",
        "[[stage]]\nid = \"db\"\ncommand = [\"true\"]\ninputs = [\".baton/baton.db\"]\noutputs = [\"o.txt\"]\n",
    );
    let refused = project
        .baton(&["pipeline", "run", "g", "--dry-run"])
        .expect(20);
    assert!(
        refused
            .stderr()
            .contains("g.toml:1: stage `db` reads `.baton/baton.db`"),
        "{}",
        refused.stderr()
    );
}

#[cfg(unix)]
#[test]
fn symlinked_inputs_are_read_through_inside_the_project_and_refused_outside_it() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), "outside\n").unwrap();
    let project = Project::new();
    project.write("baton.toml", "[pipeline]\nallow-commands = \"true\"\n");
    project.write("data/real.jsonl", "{\"a\": 1}\n");
    std::os::unix::fs::symlink(
        project.path().join("data/real.jsonl"),
        project.path().join("data/alias.jsonl"),
    )
    .unwrap();
    project.write(
        "pipelines/p.toml",
        "[[stage]]\nid = \"through\"\nplugin = \"jsonl-transform\"\ninputs = [\"data/alias.jsonl\"]\noutputs = [\"o.jsonl\"]\nparams = { filter = \".a\", output = \"o.jsonl\" }\n",
    );
    project.baton(&["pipeline", "run", "p"]).expect(0);
    assert_eq!(
        std::fs::read_to_string(project.path().join("out/through/o.jsonl")).unwrap(),
        "1\n",
        "the stage did not see the linked file's content"
    );
    // A link out of the project is refused at validation, naming where it points; nothing
    // of it is read.
    std::os::unix::fs::symlink(
        outside.path().join("secret.txt"),
        project.path().join("data/leak.jsonl"),
    )
    .unwrap();
    project.write(
        "pipelines/p.toml",
        "[[stage]]\nid = \"leak\"\ncommand = [\"sh\", \"-c\", \"cat data/leak.jsonl > $BATON_OUTPUT_DIR/o.txt\"]\ninputs = [\"data/leak.jsonl\"]\noutputs = [\"o.txt\"]\n",
    );
    let message = refused_everywhere(&project, 1, "reads `data/leak.jsonl`, a symlink to");
    assert!(message.contains("outside the project"), "{message}");
    assert!(!project.path().join("out/leak/o.txt").exists());
    // So is a glob's match that links out: found when the stage runs, which fails with why.
    project.write(
        "pipelines/p.toml",
        "[[stage]]\nid = \"leak\"\ncommand = [\"sh\", \"-c\", \"cat data/leak.jsonl > $BATON_OUTPUT_DIR/o.txt\"]\ninputs = [\"data/l*.jsonl\"]\noutputs = [\"o.txt\"]\n",
    );
    let doc = project
        .baton(&["pipeline", "run", "p", "--format", "json"])
        .expect(10)
        .json();
    let detail = doc["stages"][0]["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("is a symlink to") && detail.contains("outside the project"),
        "{doc}"
    );
    assert!(!project.path().join("out/leak/o.txt").exists());
    // Inputs named outside the project are refused at validation with their line.
    project.write(
        "pipelines/p.toml",
        "[[stage]]\nid = \"up\"\ncommand = [\"true\"]\ninputs = [\"../x.jsonl\"]\noutputs = [\"o.txt\"]\n",
    );
    assert_refused(&project, "p", &["p.toml:1", "inside the project"]);
}

/// A symlinked input is judged where it leads: to another stage's output it waits for that
/// stage (and sees each new result); into Baton's state it is refused; a path not written in
/// normal form, and an output directory through a file, are refused at validation.
#[cfg(unix)]
#[test]
fn symlinked_inputs_follow_their_target_and_paths_are_checked_as_written_and_as_resolved() {
    let project = Project::new();
    project.write("baton.toml", "");
    project.write("data/a.jsonl", "{\"n\": 1}\n");
    // Dangling until `count` first runs.
    std::os::unix::fs::symlink(
        "../out/count/v.jsonl",
        project.path().join("data/link.jsonl"),
    )
    .unwrap();
    project.write(
        "pipelines/p.toml",
        "[[stage]]\nid = \"copy\"\nplugin = \"jsonl-transform\"\ninputs = [\"data/link.jsonl\"]\noutputs = [\"v.jsonl\"]\nparams = { filter = \".\", output = \"v.jsonl\" }\n\n[[stage]]\nid = \"count\"\nplugin = \"jsonl-transform\"\ninputs = [\"data/a.jsonl\"]\noutputs = [\"v.jsonl\"]\nparams = { filter = \"length\", mode = \"slurp\", output = \"v.jsonl\" }\n",
    );
    let copied = || std::fs::read_to_string(project.path().join("out/copy/v.jsonl")).unwrap();
    project.baton(&["pipeline", "run", "p"]).expect(0);
    assert_eq!(copied(), "1\n");
    std::fs::write(
        project.path().join("data/a.jsonl"),
        "{\"n\": 1}\n{\"n\": 2}\n",
    )
    .unwrap();
    let doc = project
        .baton(&["pipeline", "run", "p", "--format", "json"])
        .expect(0)
        .json();
    assert_eq!(states(&doc)["copy"], "done", "{doc}");
    assert_eq!(
        copied(),
        "2\n",
        "the stage read its upstream's previous output"
    );
    for (input, needle) in [
        (
            "data/state.jsonl",
            "a symlink to `.baton/store.db`: Baton's state",
        ),
        (
            "./data/a.jsonl",
            "is not in normal form: write `data/a.jsonl`",
        ),
        (
            "data//a.jsonl",
            "is not in normal form: write `data/a.jsonl`",
        ),
    ] {
        std::os::unix::fs::symlink(
            "../.baton/store.db",
            project.path().join("data/state.jsonl"),
        )
        .ok();
        project.write(
            "pipelines/p.toml",
            &format!(
                "[[stage]]\nid = \"s\"\nplugin = \"jsonl-transform\"\ninputs = [\"{input}\"]\noutputs = [\"v.jsonl\"]\nparams = {{ filter = \".\", output = \"v.jsonl\" }}\n"
            ),
        );
        refused_everywhere(&project, 1, needle);
    }
    let through_file = one_stage_project("plain/x");
    through_file.write("plain", "a file\n");
    refused_everywhere(&through_file, 1, "passes through `plain`, which is a file");
    assert_eq!(
        std::fs::read_to_string(through_file.path().join("plain")).unwrap(),
        "a file\n"
    );
}

/// A glob's match that links to another stage's output orders that stage first, so the
/// reader sees each new result; an output-dir that is a file, or that leads through a
/// symlink into another pipeline's output directory, is refused at validation.
#[cfg(unix)]
#[test]
fn links_matched_by_globs_and_output_dirs_are_judged_where_they_lead() {
    let project = Project::new();
    project.write("baton.toml", "");
    project.write("data/a.jsonl", "{\"n\": 1}\n");
    project.write("data/g/0.jsonl", "");
    project.write(
        "pipelines/p.toml",
        "[[stage]]\nid = \"copy\"\nplugin = \"jsonl-transform\"\ninputs = [\"data/g/*.jsonl\"]\noutputs = [\"v.jsonl\"]\nparams = { filter = \".\", output = \"v.jsonl\" }\n\n[[stage]]\nid = \"count\"\nplugin = \"jsonl-transform\"\ninputs = [\"data/a.jsonl\"]\noutputs = [\"v.jsonl\"]\nparams = { filter = \"length\", mode = \"slurp\", output = \"v.jsonl\" }\n",
    );
    // `count` runs alone first, then the link exists for the glob to find.
    project
        .baton(&["pipeline", "run", "p", "--only", "count"])
        .expect(0);
    std::os::unix::fs::symlink(
        "../../out/count/v.jsonl",
        project.path().join("data/g/l.jsonl"),
    )
    .unwrap();
    project.baton(&["pipeline", "run", "p"]).expect(0);
    let copied = || std::fs::read_to_string(project.path().join("out/copy/v.jsonl")).unwrap();
    assert_eq!(copied(), "1\n");
    std::fs::write(
        project.path().join("data/a.jsonl"),
        "{\"n\": 1}\n{\"n\": 2}\n",
    )
    .unwrap();
    let plan = project
        .baton(&["pipeline", "run", "p", "--dry-run", "--format", "json"])
        .expect(0)
        .json();
    assert_eq!(plan["stages"][1]["id"], "copy", "{plan}");
    assert_eq!(
        plan["stages"][1]["needs"],
        serde_json::json!(["count"]),
        "{plan}"
    );
    project.baton(&["pipeline", "run", "p"]).expect(0);
    assert_eq!(copied(), "2\n", "the glob's reader ran before its upstream");
    // An output-dir that is a file.
    let file_dir = one_stage_project("plain");
    file_dir.write("plain", "a file\n");
    refused_everywhere(
        &file_dir,
        1,
        "output-dir `plain` is a file, not a directory",
    );
    // Another pipeline's stage promoting into `out/copy` through a symlink.
    std::os::unix::fs::symlink("out/copy", project.path().join("lnk")).unwrap();
    project.write(
        "pipelines/q.toml",
        "[[stage]]\nid = \"y\"\nplugin = \"jsonl-transform\"\ninputs = [\"data/a.jsonl\"]\noutputs = [\"v.jsonl\"]\nparams = { filter = \".\", output = \"v.jsonl\" }\noutput-dir = \"lnk/b\"\n",
    );
    let refused = project.baton(&["pipeline", "run", "q"]).expect(20).stderr();
    assert!(
        refused.contains("to `out/copy/b`") && refused.contains("(pipelines/p.toml:1)"),
        "{refused}"
    );
    assert_eq!(copied(), "2\n");
}

/// The rerun command a failure prints works as printed, also for a stage id that starts
/// with `-` (it goes after `--`, where it cannot be read as an option).
#[test]
fn the_printed_rerun_command_works_for_an_id_that_starts_with_a_dash() {
    let project = Project::new();
    project.write("baton.toml", "[pipeline]\nallow-commands = \"true\"\n");
    project.write(
        "pipelines/p.toml",
        "[[stage]]\nid = \"-x\"\ncommand = [\"sh\", \"-c\", \"grep -q go flag.txt && echo ok > $BATON_OUTPUT_DIR/o.txt\"]\ninputs = [\"flag.txt\"]\noutputs = [\"o.txt\"]\n",
    );
    project.write("flag.txt", "stop\n");
    let failed = project.baton(&["pipeline", "run", "p"]).expect(10);
    let out = failed.stdout();
    let hint = out
        .lines()
        .find_map(|line| line.split("rerun it with: ").nth(1))
        .and_then(|rest| rest.split("   (").next())
        .unwrap_or_else(|| panic!("no rerun hint in:\n{out}"));
    assert_eq!(hint, "baton pipeline run-stage --pipeline p -- -x");
    project.write("flag.txt", "go\n");
    let args: Vec<&str> = hint.split(' ').skip(1).collect();
    project.baton(&args).expect(0);
    assert_eq!(
        std::fs::read_to_string(project.path().join("out/-x/o.txt")).unwrap(),
        "ok\n"
    );
}

/// Two pipeline files whose stages would promote to one directory (or one inside the
/// other) are refused before either runs, naming both stages; an `output-dir` settles it.
#[test]
fn pipelines_that_would_share_an_output_directory_are_refused() {
    let project = Project::new();
    project.write("baton.toml", "");
    project.write("in.jsonl", "{\"a\": 1}\n");
    let stage = |extra: &str| {
        format!(
            "[[stage]]\nid = \"clean\"\nplugin = \"jsonl-transform\"\ninputs = [\"in.jsonl\"]\noutputs = [\"o.jsonl\"]\nparams = {{ filter = \".\", output = \"o.jsonl\" }}\n{extra}"
        )
    };
    project.write("pipelines/a.toml", &stage(""));
    project.write("pipelines/b.toml", &stage(""));
    let refused = project.baton(&["pipeline", "run", "b"]).expect(20).stderr();
    assert!(
        refused.contains("pipelines/b.toml:1: stage `clean` promotes its outputs to `out/clean`")
            && refused.contains("stage `clean` of another pipeline (pipelines/a.toml:1)"),
        "{refused}"
    );
    assert!(!project.path().join("out").exists());
    project.write(
        "pipelines/b.toml",
        &stage("output-dir = \"out/clean/sub\"\n"),
    );
    for pipeline in ["a", "b"] {
        project.baton(&["pipeline", "run", pipeline]).expect(20);
    }
    project.write("pipelines/b.toml", &stage("output-dir = \"out/b-clean\"\n"));
    for pipeline in ["a", "b"] {
        project.baton(&["pipeline", "run", pipeline]).expect(0);
    }
    for dir in ["out/clean", "out/b-clean"] {
        assert!(project.path().join(dir).join("o.jsonl").is_file(), "{dir}");
    }
}

#[test]
fn output_schemas_follow_refs_to_other_schema_files_of_the_project() {
    let project = Project::new();
    project.write("baton.toml", "[pipeline]\nallow-commands = \"true\"\n");
    project.write(
        "schemas/order.schema.json",
        r#"{"type": "object", "required": ["ship_to"], "properties": {"ship_to": {"$ref": "common/address.schema.json"}}}"#,
    );
    project.write(
        "schemas/common/address.schema.json",
        r#"{"type": "object", "required": ["city"], "properties": {"city": {"type": "string"}, "zip": {"$ref": "../zip.schema.json"}}}"#,
    );
    project.write(
        "schemas/zip.schema.json",
        r#"{"type": "string", "pattern": "^[0-9]{5}$"}"#,
    );
    project.write(
        "pipelines/o.toml",
        "[[stage]]\nid = \"orders\"\ncommand = [\"sh\", \"-c\", \"cp data/orders.jsonl $BATON_OUTPUT_DIR/\"]\ninputs = [\"data/orders.jsonl\"]\noutputs = [\"orders.jsonl\"]\nschemas = { \"orders.jsonl\" = \"schemas/order.schema.json\" }\n",
    );
    project.write(
        "data/orders.jsonl",
        "{\"ship_to\": {\"city\": \"Lyon\", \"zip\": \"69001\"}}\n",
    );
    project.baton(&["pipeline", "run", "o"]).expect(0);
    project.write(
        "data/orders.jsonl",
        "{\"ship_to\": {\"city\": \"Lyon\", \"zip\": \"6900\"}}\n",
    );
    let doc = project
        .baton(&["pipeline", "run", "o", "--format", "json"])
        .expect(10)
        .json();
    let detail = doc["stages"][0]["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("does not match its schema") && detail.contains("/ship_to/zip"),
        "{doc}"
    );
}

/// Whether process `pid` runs (a zombie, dead but not yet reaped, does not).
fn running(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // `pid (comm) STATE …`: the name may hold spaces and parentheses, the state follows the
    // last `)`.
    let state = stat.rsplit(')').next().unwrap_or("").trim_start();
    !state.starts_with(['Z', 'X'])
}

/// The pid a stage's process wrote into `file`.
fn recorded_pid(file: &Path) -> i32 {
    let text = std::fs::read_to_string(file)
        .unwrap_or_else(|e| panic!("{} was not written: {e}", file.display()));
    text.trim().parse().unwrap()
}

/// Asserts that every process whose pid a stage wrote into `files` is gone within 5 s.
fn assert_gone(files: &[std::path::PathBuf], when: &str) {
    let pids: Vec<i32> = files.iter().map(|f| recorded_pid(f)).collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while pids.iter().any(|pid| running(*pid)) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let left: Vec<&i32> = pids.iter().filter(|pid| running(**pid)).collect();
    assert!(left.is_empty(), "{when}, processes {left:?} still run");
}

/// A command stage (`t`, stage table lines `extra` added) whose first attempt is a shell
/// pipeline for 10 s: one `sh` counts and another appends each number to
/// `$BATON_OUTPUT_DIR/out.txt` (and to `marks/progress`), both recording their pid in
/// `marks/`. Every later attempt appends `again` instead, sleeps a second (time for a stray
/// of the first attempt to write too) and succeeds. Returns `marks/`.
fn straying_stage(project: &Project, extra: &str) -> std::path::PathBuf {
    let marks = project.path().join("marks");
    std::fs::create_dir_all(&marks).unwrap();
    project.write("baton.toml", "[pipeline]\nallow-commands = \"true\"\n");
    project.write("data/a.txt", "a\n");
    let script = format!(
        r#"M='{marks}'; if [ -e "$M/again" ]; then echo again >> "$BATON_OUTPUT_DIR/out.txt"; sleep 1; exit 0; fi; touch "$M/again"; sh -c 'echo $$ > "$0/left.pid"; i=0; while [ $i -lt 100 ]; do i=$((i+1)); echo $i; sleep 0.1; done' "$M" | sh -c 'echo $$ > "$0/writer.pid"; while read l; do echo "$l" >> "$BATON_OUTPUT_DIR/out.txt"; echo "$l" > "$0/progress"; done' "$M""#,
        marks = marks.display()
    );
    project.write(
        "pipelines/t.toml",
        &format!(
            "[[stage]]\nid = \"t\"\ncommand = [\"sh\", \"-c\", '''{script}''']\ninputs = [\"data/a.txt\"]\noutputs = [\"out.txt\"]\n{extra}"
        ),
    );
    marks
}

#[test]
fn a_timed_out_attempt_is_killed_with_its_pipeline_and_cannot_write_into_the_retry() {
    let project = Project::new();
    let marks = straying_stage(&project, "timeout = \"3s\"\nretries = 1\n");
    let doc = project
        .baton(&["pipeline", "run", "t", "--format", "json"])
        .expect(0)
        .json();
    assert_eq!(states(&doc)["t"], "done", "{doc}");
    // Only the retry's line: the first attempt's writer died with it at the timeout, and
    // the retry wrote into a directory of its own.
    assert_eq!(
        std::fs::read_to_string(project.path().join("out/t/out.txt")).unwrap(),
        "again\n"
    );
    assert_gone(
        &[marks.join("left.pid"), marks.join("writer.pid")],
        "after the run",
    );
    let log = std::fs::read_to_string(
        std::fs::read_dir(project.path().join(".baton/runs"))
            .unwrap()
            .flatten()
            .find(|e| e.path().is_dir())
            .unwrap()
            .path()
            .join("t.log"),
    )
    .unwrap();
    assert!(log.contains("timed out after 3s"), "{log}");
}

#[test]
fn what_a_command_leaves_running_is_killed_when_it_exits() {
    let project = Project::new();
    project.write("baton.toml", "[pipeline]\nallow-commands = \"true\"\n");
    let marks = project.path().join("marks");
    std::fs::create_dir_all(&marks).unwrap();
    // A background job that keeps the command's stdout open and would write later.
    let script = format!(
        r#"M='{marks}'; sh -c 'echo $$ > "$0/bg.pid"; sleep 30; echo late >> "$1/out.txt"' "$M" "$BATON_OUTPUT_DIR" & echo done > "$BATON_OUTPUT_DIR/out.txt"; while [ ! -s "$M/bg.pid" ]; do sleep 0.05; done"#,
        marks = marks.display()
    );
    project.write(
        "pipelines/bg.toml",
        &format!(
            "[[stage]]\nid = \"bg\"\ncommand = [\"sh\", \"-c\", '''{script}''']\noutputs = [\"out.txt\"]\ntimeout = \"20s\"\n"
        ),
    );
    let started = std::time::Instant::now();
    let doc = project
        .baton(&["pipeline", "run", "bg", "--format", "json"])
        .expect(0)
        .json();
    assert_eq!(states(&doc)["bg"], "done", "{doc}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the stage waited for its background job"
    );
    assert_gone(&[marks.join("bg.pid")], "after the stage");
    assert_eq!(
        std::fs::read_to_string(project.path().join("out/bg/out.txt")).unwrap(),
        "done\n"
    );
}

#[test]
fn kill_9_mid_stage_kills_the_stages_pipeline_and_the_resume_promotes_only_its_own_writes() {
    let project = Project::new();
    let marks = straying_stage(&project, "");
    let mut child = project
        .command(&[])
        .args(["pipeline", "run", "t"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !marks.join("progress").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the stage wrote nothing"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // The pipeline dies with Baton, not only the command's own process.
    assert_gone(
        &[marks.join("left.pid"), marks.join("writer.pid")],
        "after kill -9 of baton",
    );
    let run_id = crate::common::run_ids(&project)
        .pop()
        .expect("a run was recorded");
    let doc = project
        .baton(&[
            "pipeline", "run", "t", "--resume", &run_id, "--format", "json",
        ])
        .expect(0)
        .json();
    assert_eq!(states(&doc)["t"], "done", "{doc}");
    assert_eq!(
        std::fs::read_to_string(project.path().join("out/t/out.txt")).unwrap(),
        "again\n"
    );
}

/// A plugin's component is digested through the digest cache (hashed again only when its
/// metadata changed), once per plugin however many stages use it: replacing the file, or
/// changing the plugin's settings, makes every stage that uses it run again, in the plan and
/// in the run.
#[test]
fn a_replaced_plugin_file_or_new_settings_make_its_stages_run_again() {
    let project = Project::new();
    std::fs::copy(plugin("jsonl-transform"), project.path().join("t.wasm")).unwrap();
    project.write("baton.toml", "[plugins.t]\npath = \"t.wasm\"\n");
    project.write("data/a.jsonl", "{\"n\": 1}\n{\"n\": 2}\n");
    let stage = |id: &str| {
        format!(
            "[[stage]]\nid = \"{id}\"\nplugin = \"t\"\ninputs = [\"data/a.jsonl\"]\noutputs = [\"v.jsonl\"]\nparams = {{ filter = \"length\", mode = \"slurp\", output = \"v.jsonl\" }}\n\n"
        )
    };
    project.write("pipelines/p.toml", &format!("{}{}", stage("a"), stage("b")));
    project.baton(&["pipeline", "run", "p"]).expect(0);
    let actions = |project: &Project| -> Vec<(String, String)> {
        let plan = project
            .baton(&["pipeline", "run", "p", "--dry-run", "--format", "json"])
            .expect(0)
            .json();
        plan["stages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["action"].as_str().unwrap().to_string(),
                    s["reason"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    assert!(
        actions(&project)
            .iter()
            .all(|(action, _)| action == "cached"),
        "{:?}",
        actions(&project)
    );
    // The same plugin, one byte longer (a custom section's worth of difference is enough for
    // a new digest; the component still loads).
    let mut bytes = std::fs::read(plugin("jsonl-transform")).unwrap();
    bytes.extend_from_slice(&[0x00, 0x02, 0x01, b'x']);
    std::fs::write(project.path().join("t.wasm"), &bytes).unwrap();
    let planned = actions(&project);
    assert!(
        planned
            .iter()
            .all(|(action, reason)| action == "run" && reason == "plugin changed"),
        "{planned:?}"
    );
    let run = project
        .baton(&["pipeline", "run", "p", "--format", "json"])
        .expect(0)
        .json();
    let states: Vec<&str> = run["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["done", "done"], "{run}");
    assert!(
        actions(&project)
            .iter()
            .all(|(action, _)| action == "cached"),
        "{:?}",
        actions(&project)
    );
    // Settings reach the plugin on every call: changing them runs its stages again too.
    project.write(
        "baton.toml",
        "[plugins.t]\npath = \"t.wasm\"\nsettings = { note = 1 }\n",
    );
    let planned = actions(&project);
    assert!(
        planned
            .iter()
            .all(|(action, reason)| action == "run" && reason == "plugin changed"),
        "{planned:?}"
    );
    project.baton(&["pipeline", "run", "p"]).expect(0);
    assert!(
        actions(&project)
            .iter()
            .all(|(action, _)| action == "cached"),
        "{:?}",
        actions(&project)
    );
}
