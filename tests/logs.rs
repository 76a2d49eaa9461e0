//! Plugin logs where the operator looks: each job's log file (`.baton/logs/`) and each
//! stage's (`.baton/runs/<run>/<stage>.log`) hold the plugin's `log` lines at their own level,
//! captured output and Baton's notes, capped; `job show` and a failed stage point at them.

use crate::common::{Project, plugin};

fn logger_project(extra: &str) -> Project {
    let project = Project::new();
    std::fs::copy(plugin("logger"), project.path().join("logger.wasm")).unwrap();
    project.write(
        "baton.toml",
        &format!(
            "[queue]\nresolvers = \"logger\"\ndownload = \"false\"\n{extra}\n[plugins.logger]\npath = \"logger.wasm\"\n"
        ),
    );
    project
}

fn import(project: &Project, ids: &[&str]) {
    let lines: String = ids
        .iter()
        .map(|id| format!("{}\n", serde_json::json!({ "id": id })))
        .collect();
    project.write("jobs.jsonl", &lines);
    project.baton(&["queue", "import", "jobs.jsonl"]).expect(0);
}

fn log_of(project: &Project, id: &str) -> (std::path::PathBuf, serde_json::Value) {
    let shown = project
        .baton(&["job", "show", id, "--format", "json"])
        .expect(0)
        .json();
    (
        std::path::PathBuf::from(shown["log"]["path"].as_str().unwrap()),
        shown,
    )
}

#[test]
fn a_jobs_plugin_log_lines_are_in_its_log_file_at_their_level_and_in_job_show() {
    let project = logger_project("");
    import(&project, &["doc-1"]);
    project.baton(&["queue", "run", "--drain"]).expect(0);
    let (path, shown) = log_of(&project, "doc-1");
    assert_eq!(path, project.path().join(".baton/logs/doc-1.log"));
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    for level in ["trace", "debug", "info", "warn", "error"] {
        let needle = format!(
            "\t{level}\tplugin:logger\t{level} line\t[[\"level\",\"{level}\"],[\"id\",\"doc-1\"]]"
        );
        assert!(
            lines.iter().any(|l| l.ends_with(&needle)),
            "no {needle:?} in:\n{text}"
        );
    }
    assert!(lines[0].contains("\tinfo\tbaton\tattempt 1 of "), "{text}");
    assert!(
        lines
            .last()
            .unwrap()
            .contains("\tbaton\tattempt ended: done"),
        "{text}"
    );
    // Every line is five tab-separated fields starting with an RFC 3339 time.
    for line in &lines {
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(fields.len(), 5, "{line}");
        assert!(
            fields[0].ends_with('Z') && fields[0].contains('T'),
            "{line}"
        );
        let _: serde_json::Value = serde_json::from_str(fields[4]).unwrap();
    }
    // `job show --format json` parses the last lines; the table form shows them with the path.
    let last = shown["log"]["last"].as_array().unwrap();
    assert!(
        last.iter().any(|e| e["level"] == "warn"
            && e["source"] == "plugin:logger"
            && e["message"] == "warn line"),
        "{shown}"
    );
    let human = project.baton(&["job", "show", "doc-1"]).expect(0).stdout();
    assert!(
        human.contains(&format!("log       {}", path.display())),
        "{human}"
    );
    assert!(
        human.contains(" error plugin:logger error line  level=error id=doc-1"),
        "{human}"
    );
}

#[test]
fn a_job_that_went_well_silently_leaves_no_log_file_and_its_attempt_in_the_ledger() {
    let project = Project::new();
    std::fs::copy(plugin("noop"), project.path().join("noop.wasm")).unwrap();
    project.write(
        "baton.toml",
        "[queue]\nresolvers = \"noop\"\ndownload = \"false\"\n[plugins.noop]\npath = \"noop.wasm\"\n",
    );
    // With a URL, `noop` offers one candidate; `download = false` makes that the result.
    project.write(
        "jobs.jsonl",
        "{\"id\": \"quiet-1\", \"url\": \"https://example.org/quiet-1.pdf\"}\n",
    );
    project.baton(&["queue", "import", "jobs.jsonl"]).expect(0);
    project.baton(&["queue", "run", "--drain"]).expect(0);
    let (path, shown) = log_of(&project, "quiet-1");
    assert_eq!(shown["job"]["state"], "done", "{shown}");
    assert!(!path.exists(), "{} was written", path.display());
    assert_eq!(shown["log"]["exists"], false, "{shown}");
    let ledger = crate::common::ledger(&project);
    assert!(
        ledger
            .iter()
            .any(|e| e["event"] == "done" && e["job"] == "quiet-1"),
        "{ledger:?}"
    );
    let table = project
        .baton(&["job", "show", "quiet-1"])
        .expect(0)
        .stdout();
    assert!(table.contains("done"), "{table}");
}

#[test]
fn hostile_job_ids_get_safe_log_file_names() {
    let project = logger_project("");
    let long = "x".repeat(2000);
    let ids = [
        "../../escaped",
        "..",
        "10.1234/a b",
        "10.1234_a_b",
        long.as_str(),
        "odd:*?\"<>|\\name",
        "trailing-0123456789abcdef",
    ];
    import(&project, &ids);
    project.baton(&["queue", "run", "--drain"]).expect(0);
    let logs = project.path().join(".baton/logs");
    let mut paths = Vec::new();
    for id in ids {
        let (path, shown) = log_of(&project, id);
        assert_eq!(shown["job"]["state"], "done", "{shown}");
        assert_eq!(path.parent(), Some(logs.as_path()), "{}", path.display());
        let name = path.file_name().unwrap().to_str().unwrap();
        assert!(name.len() <= 90 && !name.starts_with('.'), "{name}");
        let text = std::fs::read_to_string(&path).unwrap();
        let expected_id = format!(
            "[\"id\",{}]",
            serde_json::to_string(shown["job"]["key"].as_str().unwrap()).unwrap()
        );
        assert!(
            text.contains(&expected_id),
            "{name} is another job's log:\n{text}"
        );
        paths.push(path);
    }
    paths.sort();
    paths.dedup();
    assert_eq!(paths.len(), ids.len(), "two jobs share a log: {paths:?}");
    assert_eq!(std::fs::read_dir(&logs).unwrap().count(), ids.len());
    assert!(!project.path().join("escaped.log").exists());
    assert!(!project.path().join(".baton/escaped.log").exists());
}

#[test]
fn a_full_log_notes_its_cap_and_stops() {
    let project = logger_project("\n[runtime]\nlog-cap = \"400\"\n");
    import(&project, &["capped"]);
    project.baton(&["queue", "run", "--drain"]).expect(0);
    let (path, _) = log_of(&project, "capped");
    let text = std::fs::read_to_string(&path).unwrap();
    let last = text.lines().last().unwrap();
    assert!(
        last.contains("\twarn\tbaton\tlog cap reached: this log keeps at most 400 bytes (setting runtime.log-cap); later entries are dropped"),
        "{text}"
    );
    assert_eq!(text.matches("log cap reached").count(), 1);
    assert!(text.len() < 400 + 200, "{}", text.len());
}

fn command_stage_project() -> Project {
    let project = Project::new();
    project.write("baton.toml", "[pipeline]\nallow-commands = \"true\"\n");
    project.write(
        "pipelines/p.toml",
        r#"
[[stage]]
id = "convert"
command = ["sh", "-c", "echo reading; for i in 1 2 3 4 5 6 7; do echo \"err $i\" >&2; done; exit 3"]
outputs = ["out.txt"]
"#,
    );
    project
}

#[test]
fn a_failed_command_stage_prints_its_last_lines_in_order_with_its_log_and_rerun() {
    let project = command_stage_project();
    let run = project.baton(&["pipeline", "run", "p"]).expect(10);
    let out = run.stdout();
    let lines: Vec<&str> = out.lines().collect();
    let failed = lines
        .iter()
        .position(|l| l.contains("convert … FAILED in"))
        .unwrap_or_else(|| panic!("no failure line in:\n{out}"));
    assert!(
        lines[failed].ends_with("exited with exit status: 3; last lines of stderr:"),
        "{out}"
    );
    let quoted: Vec<&str> = lines[failed + 1..failed + 6].to_vec();
    assert_eq!(
        quoted,
        [
            "    │ err 3",
            "    │ err 4",
            "    │ err 5",
            "    │ err 6",
            "    │ err 7"
        ],
        "{out}"
    );
    let log = lines[failed + 6].trim_start();
    assert!(
        log.starts_with("log: ") && log.ends_with("/convert.log"),
        "{out}"
    );
    assert!(
        lines[failed + 7].contains("rerun it with: baton pipeline run-stage convert --pipeline p"),
        "{out}"
    );
    let path = std::path::PathBuf::from(log.trim_start_matches("log: "));
    assert!(
        path.starts_with(project.path().join(".baton/runs")),
        "{}",
        path.display()
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let order: Vec<usize> = [
        "\tbaton\trun ",
        "\tstdout:command\treading\t",
        "\tstderr:command\terr 1\t",
        "\tstderr:command\terr 7\t",
        "\terror\tbaton\tfailed in ",
    ]
    .iter()
    .map(|needle| {
        text.find(needle)
            .unwrap_or_else(|| panic!("no {needle:?} in:\n{text}"))
    })
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
}

#[test]
fn pipeline_describe_takes_a_stage_id() {
    let project = command_stage_project();
    project.baton(&["pipeline", "run", "p"]).expect(10);
    let doc = project
        .baton(&["pipeline", "describe", "convert", "--format", "json"])
        .expect(0)
        .json();
    assert_eq!(doc["stage"], "convert", "{doc}");
    assert_eq!(doc["in"][0]["pipeline"], "p", "{doc}");
    let log = doc["in"][0]["latest_log"].as_str().unwrap();
    assert!(
        log.ends_with("/convert.log") && std::path::Path::new(log).is_file(),
        "{doc}"
    );
    let human = project
        .baton(&["pipeline", "describe", "convert"])
        .expect(0)
        .stdout();
    assert!(human.contains("stage      convert (pipeline p,"), "{human}");
    assert!(human.contains("runner     command sh, -c,"), "{human}");
    assert!(human.contains(&format!("log        {log}")), "{human}");
    // The pipeline itself is still described as before, and an unknown id names both.
    project.baton(&["pipeline", "describe", "p"]).expect(0);
    let unknown = project.baton(&["pipeline", "describe", "nope"]).expect(20);
    assert!(
        unknown.stderr().contains("no pipeline or stage `nope`"),
        "{}",
        unknown.stderr()
    );
}
