//! Operating Baton unattended, through the real binary: following a run with `job attach`
//! (and resuming after a killed terminal without repeating a line), `cleanup` (a dry run
//! changes nothing; what live work needs and what Baton did not create stay), `compare`,
//! scheduled runs (unit files, a crontab line, the overlap lock), the progress line, and
//! the audit log.

use crate::common::Project;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// A chain of `n` trusted command stages, each sleeping `pause` seconds.
fn chain(project: &Project, n: usize, pause: &str) {
    project.write("baton.toml", "[pipeline]\nallow-commands = \"true\"\n");
    project.write("data/seed.txt", "seed\n");
    let mut stages = String::new();
    for i in 0..n {
        let input = if i == 0 {
            "data/seed.txt".to_string()
        } else {
            format!("out/s{}/v.txt", i - 1)
        };
        stages.push_str(&format!(
            "[[stage]]\nid = \"s{i}\"\ncommand = [\"sh\", \"-c\", \"sleep {pause} && cat {input} > $BATON_OUTPUT_DIR/v.txt && echo {i} >> $BATON_OUTPUT_DIR/v.txt\"]\ninputs = [\"{input}\"]\noutputs = [\"v.txt\"]\n\n"
        ));
    }
    project.write("pipelines/chain.toml", &stages);
}

/// The `seq` of each `#SEQ …` line of attach's output.
fn seqs(text: &str) -> Vec<i64> {
    text.lines()
        .filter_map(|l| l.strip_prefix('#'))
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

/// Every file under `dir` with its content (Baton's and the test's alike).
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(at) = stack.pop() {
        for entry in std::fs::read_dir(&at).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let name = path.strip_prefix(dir).unwrap().display().to_string();
                // SQLite's WAL and shared-memory files change on every open.
                if !name.contains("baton.db") {
                    files.insert(name, std::fs::read(&path).unwrap_or_default());
                }
            }
        }
    }
    files
}

fn audit_lines(project: &Project) -> Vec<serde_json::Value> {
    let mut lines = Vec::new();
    for entry in std::fs::read_dir(project.path().join(".baton/audit"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let text = std::fs::read_to_string(entry.path()).unwrap();
        lines.extend(text.lines().map(|l| serde_json::from_str(l).unwrap()));
    }
    lines
}

#[test]
fn attach_after_a_killed_terminal_resumes_from_the_printed_seq_without_repeating_a_line() {
    let project = Project::new();
    chain(&project, 4, "0.6");
    let mut run = project
        .command(&["pipeline", "run", "chain"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let run_id = loop {
        if let Some(id) = crate::common::run_ids(&project).pop() {
            break id;
        }
        assert!(Instant::now() < deadline, "the run never started");
        std::thread::sleep(Duration::from_millis(50));
    };
    // The first terminal: read until two events arrived, then kill it (no goodbye).
    let mut first = project
        .command(&["job", "attach", &run_id])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(first.stdout.take().unwrap());
    let mut seen = String::new();
    while seqs(&seen).len() < 2 {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "attach ended early: {seen}"
        );
        seen.push_str(&line);
    }
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(run.wait().unwrap().success(), "the run failed");
    let last = *seqs(&seen).last().unwrap();
    // The second terminal resumes after the last seq the first one showed.
    let second = project
        .baton(&["job", "attach", &run_id, "--from", &last.to_string()])
        .expect(0);
    let resumed = seqs(&second.stdout());
    assert!(!resumed.is_empty(), "{}", second.stdout());
    assert!(
        resumed.iter().all(|seq| *seq > last),
        "a line was repeated: {last} then {resumed:?}"
    );
    assert!(
        second.stdout().contains("ended: done"),
        "{}",
        second.stdout()
    );
    // Together they are exactly what a full replay shows, each line once.
    let full = project.baton(&["job", "attach", &run_id]).expect(0);
    let mut both = seqs(&seen);
    both.extend(&resumed);
    assert_eq!(both, seqs(&full.stdout()));
    assert!(full.stdout().contains("4/4 stages ended, 0 failed"));
    // JSON: one object per line, the end saying where to resume.
    let json = project
        .baton(&["job", "attach", &run_id, "--format", "json"])
        .expect(0);
    let end: serde_json::Value =
        serde_json::from_str(json.stdout().lines().last().unwrap()).unwrap();
    assert_eq!(end["ended"], true);
    assert_eq!(end["exit"], 0);
    assert_eq!(end["resume_from"].as_i64(), both.last().copied());
}

#[test]
fn attach_exits_with_the_jobs_code_and_names_an_unknown_id() {
    let project = Project::new();
    project.write("baton.toml", "[pipeline]\nallow-commands = \"true\"\n");
    project.write(
        "pipelines/bad.toml",
        "[[stage]]\nid = \"boom\"\ncommand = [\"sh\", \"-c\", \"exit 3\"]\noutputs = [\"x\"]\n",
    );
    project.baton(&["pipeline", "run", "bad"]).expect(10);
    let run_id = crate::common::run_ids(&project).pop().unwrap();
    let attach = project.baton(&["job", "attach", &run_id]).expect(10);
    assert!(attach.stdout().contains("failed"), "{}", attach.stdout());
    project
        .baton(&["job", "attach", &format!("{run_id}/boom")])
        .expect(10);
    let unknown = project.baton(&["job", "attach", "nope"]).expect(20);
    assert!(unknown.stderr().contains("no job or pipeline run `nope`"));
}

#[test]
fn cleanup_dry_run_changes_nothing_and_cleanup_keeps_what_live_work_needs() {
    let project = Project::new();
    chain(&project, 2, "0");
    project.baton(&["pipeline", "run", "chain"]).expect(0);
    project
        .baton(&["pipeline", "run", "chain", "--force"])
        .expect(0);
    let [old_run, last_run] = <[String; 2]>::try_from(crate::common::run_ids(&project)).unwrap();
    project.baton(&["queue", "enqueue", "live-job"]).expect(0);
    project.baton(&["queue", "enqueue", "gone-job"]).expect(0);
    project.baton(&["queue", "cancel", "gone-job"]).expect(0);
    // What cleanup may consider, beside what it must leave alone.
    let cache = project.path().join("cache");
    std::fs::create_dir_all(&cache).unwrap();
    let entry = format!("{}-{}.cwasm", "a".repeat(64), "b".repeat(16));
    std::fs::write(cache.join(&entry), b"compiled").unwrap();
    std::fs::write(cache.join("notes.txt"), b"mine").unwrap();
    let digest = format!("abcd{}", "0".repeat(60));
    project.write(&format!(".baton/artifacts/sha256/ab/cd/{digest}"), "orphan");
    project.write(".baton/artifacts/sha256/ab/cd/README", "not Baton's");
    let live_line = "{\"seq\":1,\"at\":\"2020-01-01T00:00:00.000Z\",\"event\":\"enqueued\",\"job\":\"live-job\"}\n";
    project.write(".baton/ledger/2020-01-01.jsonl", live_line);
    project.write(
        ".baton/ledger/2020-01-02.jsonl",
        "{\"seq\":2,\"at\":\"2020-01-02T00:00:00.000Z\",\"event\":\"done\",\"job\":\"gone-job\"}\n",
    );
    project.write(".baton/ledger/notes.jsonl", "{}\n");
    let cache_arg = cache.display().to_string();
    let before_files = tree(project.path());
    let before_jobs = project
        .baton(&["queue", "list", "--format", "json"])
        .stdout();
    let dry = project
        .baton(&[
            "cleanup",
            "--keep-days",
            "0",
            "--dry-run",
            "--format",
            "json",
            "--cache-dir",
            &cache_arg,
        ])
        .expect(0)
        .json();
    assert_eq!(
        tree(project.path()),
        before_files,
        "a dry run changed files"
    );
    assert_eq!(
        project
            .baton(&["queue", "list", "--format", "json"])
            .stdout(),
        before_jobs,
        "a dry run changed the store"
    );
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["runs"]["count"], 1, "{dry}");
    // The old run's log and its working directory.
    assert_eq!(dry["run_logs"]["count"], 2, "{dry}");
    assert_eq!(dry["ledger_files"]["count"], 1, "{dry}");
    assert_eq!(dry["artifacts"]["count"], 1, "{dry}");
    assert_eq!(dry["artifacts"]["bytes"], 6);
    assert_eq!(dry["compile_cache"]["count"], 1);
    let done = project
        .baton(&[
            "cleanup",
            "--keep-days",
            "0",
            "--format",
            "json",
            "--cache-dir",
            &cache_arg,
        ])
        .expect(0)
        .json();
    for kind in [
        "jobs",
        "runs",
        "run_logs",
        "ledger_files",
        "artifacts",
        "compile_cache",
    ] {
        assert_eq!(
            done[kind], dry[kind],
            "{kind}: the run did other than its dry run said"
        );
    }
    let root = project.path();
    assert!(!root.join(format!(".baton/runs/{old_run}.jsonl")).exists());
    assert!(!root.join(format!(".baton/runs/{old_run}")).exists());
    assert!(
        root.join(format!(".baton/runs/{last_run}.jsonl")).exists(),
        "the stage cache's run log went"
    );
    assert!(
        root.join(".baton/ledger/2020-01-01.jsonl").exists(),
        "a live job's ledger file went"
    );
    assert!(!root.join(".baton/ledger/2020-01-02.jsonl").exists());
    assert!(root.join(".baton/ledger/notes.jsonl").exists());
    assert!(root.join(".baton/artifacts/sha256/ab/cd/README").exists());
    assert!(!cache.join(&entry).exists());
    assert!(cache.join("notes.txt").exists());
    assert!(root.join("out/s1/v.txt").exists());
    project.baton(&["job", "show", "live-job"]).expect(0);
    project.baton(&["job", "show", "gone-job"]).expect(20);
    // The stage cache still holds: nothing reruns.
    let plan = project
        .baton(&["pipeline", "run", "chain", "--dry-run", "--format", "json"])
        .expect(0)
        .json();
    assert!(
        plan["stages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["action"] == "cached"),
        "{plan}"
    );
    let audit = audit_lines(&project);
    let cleanup = audit
        .iter()
        .find(|l| l["what"] == "cleanup")
        .expect("no audit line");
    assert_eq!(cleanup["args"]["keep_days"], 0);
    assert_eq!(cleanup["result"]["runs"]["count"], 1);
    assert!(
        audit
            .iter()
            .any(|l| l["what"] == "queue.cancel" && l["args"]["id"] == "gone-job")
    );
    assert_eq!(
        audit.iter().filter(|l| l["what"] == "cleanup").count(),
        1,
        "a dry run was audited"
    );
}

#[test]
fn compare_tells_runs_and_directories_apart_by_sha256() {
    let project = Project::new();
    chain(&project, 2, "0");
    project.baton(&["pipeline", "run", "chain"]).expect(0);
    // Reprocess a past selection with --force: same inputs, same outputs.
    project
        .baton(&["pipeline", "run", "chain", "--only", "s1", "--force"])
        .expect(0);
    project.write("data/seed.txt", "changed\n");
    project.baton(&["pipeline", "run", "chain"]).expect(0);
    let [first, second, third] = <[String; 3]>::try_from(crate::common::run_ids(&project)).unwrap();
    let same = project
        .baton(&["compare", &first, &second, "--format", "json"])
        .expect(0)
        .json();
    assert_eq!(same["same"], true, "{same}");
    assert_eq!(same["unchanged"], 1);
    assert_eq!(same["not_compared"], serde_json::json!(["s0"]));
    let differ = project
        .baton(&["compare", &first, &third, "--format", "json"])
        .expect(10)
        .json();
    let paths: Vec<&str> = differ["different"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["out/s0/v.txt", "out/s1/v.txt"]);
    // Directories: a copy is the same; a removed and an added file are told.
    project.write("a/x.txt", "1");
    project.write("a/y.txt", "2");
    project.write("b/x.txt", "1");
    project.write("b/z.txt", "3");
    let dirs = project.baton(&["compare", "a", "b"]).expect(10);
    assert!(
        dirs.stdout().contains("missing    y.txt"),
        "{}",
        dirs.stdout()
    );
    assert!(
        dirs.stdout().contains("extra      z.txt"),
        "{}",
        dirs.stdout()
    );
    project.baton(&["compare", "a", "a"]).expect(0);
    let unknown = project.baton(&["compare", "nope", "a"]).expect(20);
    assert!(unknown.stderr().contains("nope"), "{}", unknown.stderr());
}

#[test]
fn schedule_install_writes_units_and_crontab_lines_and_dry_run_changes_nothing() {
    let project = Project::new();
    chain(&project, 1, "0");
    let before = tree(project.path());
    let dry = project
        .baton(&[
            "schedule",
            "install",
            "nightly",
            "--pipeline",
            "chain",
            "--daily",
            "02:30",
            "--backend",
            "systemd",
            "--unit-dir",
            "units",
            "--dry-run",
        ])
        .expect(0);
    assert!(dry.stdout().contains("Persistent=true"), "{}", dry.stdout());
    assert_eq!(tree(project.path()), before, "a dry run wrote files");
    project
        .baton(&[
            "schedule",
            "install",
            "nightly",
            "--pipeline",
            "chain",
            "--daily",
            "02:30",
            "--backend",
            "systemd",
            "--unit-dir",
            "units",
        ])
        .expect(0);
    let timer = std::fs::read_to_string(project.path().join("units/baton-nightly.timer")).unwrap();
    assert!(timer.contains("OnCalendar=*-*-* 2:30:00"), "{timer}");
    assert!(timer.contains("Persistent=true"));
    let service =
        std::fs::read_to_string(project.path().join("units/baton-nightly.service")).unwrap();
    assert!(
        service.contains(&format!(
            "ExecStart=\"{}\" schedule run nightly",
            Path::new(env!("CARGO_BIN_EXE_baton"))
                .canonicalize()
                .unwrap()
                .display()
        )),
        "{service}"
    );
    assert!(service.contains(&format!(
        "WorkingDirectory=\"{}\"",
        project.path().canonicalize().unwrap().display()
    )));
    // A file Baton did not write is never replaced.
    project.write("units2/baton-other.timer", "[Timer]\n");
    let refused = project
        .baton(&[
            "schedule",
            "install",
            "other",
            "--pipeline",
            "chain",
            "--daily",
            "01:00",
            "--backend",
            "systemd",
            "--unit-dir",
            "units2",
        ])
        .expect(20);
    assert!(
        refused.stderr().contains("not written by Baton"),
        "{}",
        refused.stderr()
    );
    assert_eq!(
        std::fs::read_to_string(project.path().join("units2/baton-other.timer")).unwrap(),
        "[Timer]\n"
    );
    // launchd.
    project
        .baton(&[
            "schedule",
            "install",
            "mac",
            "--pipeline",
            "chain",
            "--cron",
            "30 6 * * 1-5",
            "--backend",
            "launchd",
            "--unit-dir",
            "agents",
        ])
        .expect(0);
    let plist = std::fs::read_to_string(project.path().join("agents/org.baton.mac.plist")).unwrap();
    assert!(
        plist.contains("<key>Weekday</key><integer>5</integer>"),
        "{plist}"
    );
    assert_eq!(
        plist.matches("<key>Hour</key><integer>6</integer>").count(),
        5
    );
    // crontab, through a stand-in that keeps the table in a file; other lines survive.
    let table = project.path().join("crontab.txt");
    std::fs::write(&table, "MAILTO=me\n0 1 * * * backup.sh\n").unwrap();
    let fake = project.write(
        "fake-crontab",
        &format!(
            "#!/bin/sh\nif [ \"$1\" = -l ]; then cat '{0}'; else cat > '{0}'; fi\n",
            table.display()
        ),
    );
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&fake)
        .status()
        .unwrap();
    let cron = |args: &[&str]| {
        let mut command = project.command(args);
        command.env("BATON_CRONTAB", &fake);
        crate::common::Run(command.output().unwrap())
    };
    cron(&[
        "schedule",
        "install",
        "cronly",
        "--pipeline",
        "chain",
        "--cron",
        "*/15 * * * *",
        "--backend",
        "crontab",
    ])
    .expect(0);
    let text = std::fs::read_to_string(&table).unwrap();
    assert!(
        text.starts_with("MAILTO=me\n0 1 * * * backup.sh\n*/15 * * * * cd '"),
        "{text}"
    );
    assert!(text.contains("schedule run cronly"));
    let status = project
        .baton(&["schedule", "status", "--format", "json"])
        .expect(0)
        .json();
    let names: Vec<&str> = status["schedules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["cronly", "mac", "nightly"]);
    assert!(
        status["schedules"][2]["next_run"]
            .as_str()
            .unwrap()
            .contains("T"),
        "{status}"
    );
    cron(&["schedule", "remove", "cronly"]).expect(0);
    assert_eq!(
        std::fs::read_to_string(&table).unwrap(),
        "MAILTO=me\n0 1 * * * backup.sh\n"
    );
    project.baton(&["schedule", "remove", "nightly"]).expect(0);
    assert!(!project.path().join("units/baton-nightly.timer").exists());
    project.baton(&["schedule", "remove", "nightly"]).expect(20);
    let audit = audit_lines(&project);
    let whats: Vec<&str> = audit.iter().map(|l| l["what"].as_str().unwrap()).collect();
    assert_eq!(
        whats,
        [
            "schedule.install",
            "schedule.install",
            "schedule.install",
            "schedule.remove",
            "schedule.remove"
        ]
    );
    assert!(audit.iter().all(|l| !l["who"].as_str().unwrap().is_empty()));
}

#[test]
fn two_runs_of_one_schedule_do_not_overlap() {
    let project = Project::new();
    chain(&project, 1, "2");
    project
        .baton(&[
            "schedule",
            "install",
            "nightly",
            "--pipeline",
            "chain",
            "--daily",
            "02:30",
            "--backend",
            "systemd",
            "--unit-dir",
            "units",
        ])
        .expect(0);
    let spawn = || {
        project
            .command(&["schedule", "run", "nightly"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let first = spawn();
    let lock = project.path().join(".baton/schedules/nightly.lock");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !lock.exists() {
        assert!(
            Instant::now() < deadline,
            "the first run never took the lock"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let second = spawn().wait_with_output().unwrap();
    assert_eq!(second.status.code(), Some(0));
    let said = String::from_utf8_lossy(&second.stdout);
    assert!(said.contains("is in progress"), "{said}");
    let status = project
        .baton(&["schedule", "status", "nightly", "--format", "json"])
        .expect(0)
        .json();
    assert!(
        status["schedules"][0]["running"]["pid"].as_u64().is_some(),
        "{status}"
    );
    let first = first.wait_with_output().unwrap();
    assert_eq!(
        first.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(!lock.exists(), "the lock outlived its run");
    assert_eq!(
        crate::common::run_ids(&project).len(),
        1,
        "the pipeline ran twice"
    );
    let status = project
        .baton(&["schedule", "status", "--format", "json"])
        .expect(0)
        .json();
    let nightly = &status["schedules"][0];
    assert_eq!(nightly["last_run"]["result"], "done", "{status}");
    assert_eq!(nightly["running"], serde_json::Value::Null);
    assert_eq!(nightly["missed"], 0);
    let history = std::fs::read_to_string(
        project
            .path()
            .join(".baton/schedules/nightly.history.jsonl"),
    )
    .unwrap();
    let results: Vec<String> = history
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["result"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(results, ["skipped", "done"]);
}

#[test]
fn progress_is_a_live_line_on_a_terminal_and_plain_lines_otherwise() {
    let project = Project::new();
    chain(&project, 3, "0.2");
    let plain = project.baton(&["pipeline", "run", "chain"]).expect(0);
    assert!(
        plain.stderr().contains("progress: 3/3 stages ended (100%)"),
        "{}",
        plain.stderr()
    );
    assert!(!plain.stderr().contains('\r'), "a plain log got redraws");
    // On a terminal: `script` gives the run a pty.
    let command = format!(
        "{} pipeline run chain --force",
        Path::new(env!("CARGO_BIN_EXE_baton")).display()
    );
    let mut script = std::process::Command::new("script");
    script.args(["-q", "-e", "-c", &command, "/dev/null"]);
    script.current_dir(project.path());
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("BATON_")) {
        script.env_remove(key);
    }
    script.env("BATON_CACHE_DIR", crate::common::shared_cache());
    let out = script.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("stages · "), "{text}");
    assert!(text.contains("ETA"), "{text}");
    assert!(
        !text.contains("progress: "),
        "a terminal got plain lines: {text}"
    );
}

#[test]
fn retry_failed_and_cancel_write_audit_lines() {
    let project = Project::new();
    project.baton(&["queue", "enqueue", "a"]).expect(0);
    project.baton(&["queue", "cancel", "a"]).expect(0);
    project
        .baton(&["queue", "retry-failed", "--dry-run"])
        .expect(0);
    project.baton(&["queue", "retry-failed"]).expect(0);
    let audit = audit_lines(&project);
    let whats: Vec<&str> = audit.iter().map(|l| l["what"].as_str().unwrap()).collect();
    assert_eq!(whats, ["queue.cancel", "queue.retry-failed"]);
    assert_eq!(audit[0]["result"]["was"], "queued");
    assert_eq!(audit[1]["result"]["retried"], 0);
    assert!(audit[0]["at"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn the_quickstart_reprocesses_a_past_selection_and_compares_it_with_the_run_before() {
    let project = crate::pipeline::quickstart();
    project.baton(&["pipeline", "run", "quickstart"]).expect(0);
    project
        .baton(&[
            "pipeline",
            "run",
            "quickstart",
            "--only",
            "adults,report",
            "--force",
        ])
        .expect(0);
    let [before, rerun] = <[String; 2]>::try_from(crate::common::run_ids(&project)).unwrap();
    let same = project
        .baton(&["compare", &before, &rerun, "--format", "json"])
        .expect(0)
        .json();
    assert_eq!(same["unchanged"], 2, "{same}");
    assert_eq!(
        same["not_compared"],
        serde_json::json!(["cities", "people"])
    );
    let csv = project.path().join("data/people.csv");
    let mut text = std::fs::read_to_string(&csv).unwrap();
    text.push_str("Zoe,70,Oslo\n");
    std::fs::write(&csv, text).unwrap();
    project.baton(&["pipeline", "run", "quickstart"]).expect(0);
    let changed = crate::common::run_ids(&project).pop().unwrap();
    let differ = project
        .baton(&["compare", &before, &changed, "--format", "json"])
        .expect(10)
        .json();
    assert!(
        differ["different"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["path"] == "out/people/people.jsonl"),
        "{differ}"
    );
}

#[test]
fn pipeline_logs_follow_prints_lines_as_they_come_and_ends_with_the_run() {
    let project = Project::new();
    chain(&project, 3, "0.5");
    let mut run = project
        .command(&["pipeline", "run", "chain"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let run_id = loop {
        if let Some(id) = crate::common::run_ids(&project).pop() {
            break id;
        }
        assert!(Instant::now() < deadline, "the run never started");
        std::thread::sleep(Duration::from_millis(20));
    };
    let follow = project
        .baton(&["pipeline", "logs", &run_id, "--follow"])
        .expect(0);
    let ended = Instant::now();
    assert!(run.wait().unwrap().success());
    assert!(
        ended.elapsed() < Duration::from_secs(2),
        "follow outlived the run"
    );
    let text = follow.stdout();
    assert_eq!(text.matches("\"event\":\"stage\"").count(), 3, "{text}");
    assert!(
        text.lines().last().unwrap().contains("run-finished"),
        "{text}"
    );
}
