//! Several processes on one store: each registers itself (`baton hosts`), one leads
//! maintenance at a time, and when the leader dies another takes over under a new term.

use crate::common::Project;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

fn hosts(project: &Project) -> serde_json::Value {
    project
        .baton(&["hosts", "--format", "json"])
        .expect(0)
        .json()
}

/// Waits until `check` holds for `baton hosts`, or fails with what it last said.
fn wait_for(project: &Project, what: &str, check: impl Fn(&serde_json::Value) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let doc = hosts(project);
        if check(&doc) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {doc}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn leader_pid(doc: &serde_json::Value) -> Option<u64> {
    doc["members"]
        .as_array()?
        .iter()
        .find(|m| m["leader"] == true)
        .and_then(|m| m["pid"].as_u64())
}

fn spawn(project: &Project) -> Child {
    project
        .command(&["queue", "run", "--workers", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn processes_register_one_leads_and_another_takes_over_when_it_dies() {
    let project = Project::new();
    project.write(
        "baton.toml",
        "[queue]\nresolvers = \"direct\"\nlease = \"2s\"\n",
    );
    assert_eq!(hosts(&project)["members"], serde_json::json!([]));
    let mut first = spawn(&project);
    wait_for(&project, "the first process leads", |doc| {
        leader_pid(doc) == Some(u64::from(first.id()))
    });
    let mut second = spawn(&project);
    wait_for(&project, "both are registered", |doc| {
        doc["members"].as_array().is_some_and(|m| m.len() == 2)
    });
    let doc = hosts(&project);
    let leaders = doc["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["leader"] == true)
        .count();
    assert_eq!(leaders, 1, "{doc}");
    assert_eq!(doc["leader"]["term"], 1);
    let table = project.baton(&["hosts"]).expect(0).stdout();
    assert!(table.contains("leader (term 1)"), "{table}");
    // The leader dies without a word: within its lease (2 s) plus a heartbeat, the other
    // process leads under term 2.
    first.kill().unwrap();
    first.wait().unwrap();
    let killed = Instant::now();
    wait_for(&project, "the survivor takes over", |doc| {
        leader_pid(doc) == Some(u64::from(second.id())) && doc["leader"]["term"] == 2
    });
    assert!(
        killed.elapsed() < Duration::from_secs(5),
        "{:?}",
        killed.elapsed()
    );
    // A process that stops cleanly leaves; the dead one stays listed, silent.
    // SAFETY: signals our own child.
    unsafe { libc::kill(second.id() as i32, libc::SIGINT) };
    assert!(second.wait().unwrap().success());
    let doc = hosts(&project);
    let members = doc["members"].as_array().unwrap();
    assert_eq!(members.len(), 1, "{doc}");
    assert_eq!(members[0]["pid"], u64::from(first.id()) as i64);
    assert_eq!(members[0]["leader"], false);
}

#[test]
fn a_pipeline_run_spreads_its_stages_over_every_helping_process() {
    let project = Project::new();
    project.write(
        "baton.toml",
        "[queue]\nresolvers = \"direct\"\n[pipeline]\nallow-commands = \"true\"\n",
    );
    let mut stages = String::new();
    for i in 0..12 {
        stages.push_str(&format!(
            "[[stage]]\nid = \"s{i}\"\ncommand = [\"sh\", \"-c\", \"sleep 0.3; echo {i} > $BATON_OUTPUT_DIR/o.txt\"]\noutputs = [\"o.txt\"]\n\n"
        ));
    }
    project.write("pipelines/wide.toml", &stages);
    let helpers: Vec<Child> = (0..2)
        .map(|_| {
            project
                .command(&["queue", "run", "--pipelines", "--workers", "2"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    wait_for(&project, "the helpers are registered", |doc| {
        doc["members"].as_array().is_some_and(|m| m.len() == 2)
    });
    let run = project
        .baton(&["pipeline", "run", "wide", "--jobs", "2", "--format", "json"])
        .expect(0)
        .json();
    for mut helper in helpers {
        // SAFETY: signals our own child.
        unsafe { libc::kill(helper.id() as i32, libc::SIGINT) };
        assert!(helper.wait().unwrap().success());
    }
    let stages = run["stages"].as_array().unwrap();
    assert_eq!(stages.len(), 12, "{run}");
    assert!(stages.iter().all(|s| s["state"] == "done"), "{run}");
    // Which process ran each stage: the owner of its `running` event.
    let ledger = crate::common::ledger(&project);
    let owners: std::collections::HashSet<&str> = ledger
        .iter()
        .filter(|l| l["event"] == "running")
        .filter_map(|l| l["owner"].as_str())
        .collect();
    assert_eq!(owners.len(), 3, "stages ran in {owners:?}");
    let done = crate::common::ledger_counts(&project, "done");
    assert_eq!(done.len(), 12);
    assert!(done.values().all(|n| *n == 1), "{done:?}");
    for i in 0..12 {
        let out = std::fs::read_to_string(project.path().join(format!("out/s{i}/o.txt"))).unwrap();
        assert_eq!(out.trim(), i.to_string());
    }
}
