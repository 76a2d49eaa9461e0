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
    wait_for(&project, "the dead process shows as silent", |doc| {
        doc["members"][0]["state"] == "silent"
    });
}

#[test]
fn helpers_leave_an_interrupted_run_alone_until_it_is_resumed() {
    let project = Project::new();
    project.write(
        "baton.toml",
        "[queue]\nresolvers = \"direct\"\nlease = \"2s\"\n[pipeline]\nallow-commands = \"true\"\n",
    );
    let mut stages = String::new();
    for i in 0..4 {
        stages.push_str(&format!(
            "[[stage]]\nid = \"s{i}\"\ncommand = [\"sh\", \"-c\", \"sleep 1; echo {i} > $BATON_OUTPUT_DIR/o.txt\"]\noutputs = [\"o.txt\"]\n\n"
        ));
    }
    project.write("pipelines/p.toml", &stages);
    let mut run = project
        .command(&["pipeline", "run", "p", "--jobs", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !project.path().join("out/s0/o.txt").exists() {
        assert!(Instant::now() < deadline, "the run made no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    run.kill().unwrap();
    run.wait().unwrap();
    let mut helper = project
        .command(&["queue", "run", "--pipelines", "--workers", "2"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Past the dead run's lease and a few heartbeats: the helper ran none of its stages.
    std::thread::sleep(Duration::from_secs(5));
    let done = crate::common::ledger_counts(&project, "done");
    assert!(
        done.len() <= 1,
        "stages of an interrupted run were run: {done:?}"
    );
    let run_id = crate::common::run_ids(&project)
        .pop()
        .expect("a run was recorded");
    project
        .baton(&["pipeline", "run", "p", "--resume", &run_id])
        .expect(0);
    // SAFETY: signals our own child.
    unsafe { libc::kill(helper.id() as i32, libc::SIGINT) };
    assert!(helper.wait().unwrap().success());
    for i in 0..4 {
        assert!(project.path().join(format!("out/s{i}/o.txt")).exists());
    }
}

#[test]
fn an_unreachable_server_is_a_runtime_error_without_the_password() {
    let project = Project::new();
    let run = project
        .baton(&[
            "--db",
            "postgres://baton:s3cretPW@127.0.0.1:1/none",
            "queue",
            "stats",
        ])
        .expect(30);
    assert!(run.stderr().contains("127.0.0.1:1"), "{}", run.stderr());
    assert!(!run.stderr().contains("s3cretPW"), "{}", run.stderr());
    let shown = project
        .baton(&[
            "--db",
            "postgres://baton:s3cretPW@127.0.0.1:1/none",
            "config",
            "show",
        ])
        .expect(0);
    assert!(!shown.stdout().contains("s3cretPW"), "{}", shown.stdout());
    let got = project
        .baton(&[
            "--db",
            "postgres://baton:s3cretPW@127.0.0.1:1/none",
            "config",
            "get",
            "store.db",
        ])
        .expect(0);
    assert!(!got.stdout().contains("s3cretPW"), "{}", got.stdout());
}

#[test]
fn a_pipeline_run_spreads_its_stages_over_every_helping_process() {
    spread_a_pipeline_run("");
}

#[test]
fn a_pipeline_run_on_postgres_spreads_its_stages_over_three_processes() {
    let url = baton_test_postgres::server().url_for_new_database();
    spread_a_pipeline_run(&format!("[store]\ndb = \"{url}\"\n"));
}

/// A pipeline run of 12 stages with two `queue run --pipelines` helpers: every stage done
/// once, and all three processes ran some.
fn spread_a_pipeline_run(store: &str) {
    let project = Project::new();
    project.write(
        "baton.toml",
        &format!("{store}[queue]\nresolvers = \"direct\"\n[pipeline]\nallow-commands = \"true\"\n"),
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

/// A project whose store is a fresh database on the test PostgreSQL server.
fn on_postgres(extra: &str) -> (Project, String) {
    let url = baton_test_postgres::server().url_for_new_database();
    let project = Project::new();
    project.write(
        "baton.toml",
        &format!("[store]\ndb = \"{url}\"\n[queue]\nresolvers = \"direct\"\n{extra}"),
    );
    (project, url)
}

/// Milliseconds of the day of a ledger timestamp (`...THH:MM:SS.mmmZ`).
fn day_ms(at: &str) -> i64 {
    let time = &at[11..23];
    let h: i64 = time[0..2].parse().unwrap();
    let m: i64 = time[3..5].parse().unwrap();
    let s: i64 = time[6..8].parse().unwrap();
    let ms: i64 = time[9..12].parse().unwrap();
    ((h * 60 + m) * 60 + s) * 1000 + ms
}

/// Milliseconds from each key's `enqueued` to its first `running` line.
fn start_delays(project: &Project, keys: &[String]) -> Vec<i64> {
    let ledger = crate::common::ledger(project);
    let at = |key: &str, event: &str| {
        ledger
            .iter()
            .find(|l| l["job"] == key && l["event"] == event)
            .and_then(|l| l["at"].as_str().map(day_ms))
            .unwrap_or_else(|| panic!("no {event} line for {key}"))
    };
    let mut delays: Vec<i64> = keys
        .iter()
        .map(|k| at(k, "running") - at(k, "enqueued"))
        .collect();
    delays.sort_unstable();
    delays
}

fn wait_running(project: &Project, key: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let show = project.baton(&["job", "show", key, "--format", "json"]);
        if show.code() == 0 && show.json()["job"]["state"] != "queued" {
            return;
        }
        assert!(Instant::now() < deadline, "{key} never started");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn an_enqueue_starts_on_an_idle_process_within_milliseconds_even_after_its_listener_is_cut() {
    let (project, _) = on_postgres("download = false\n");
    let mut idle = project
        .command(&["queue", "run", "--workers", "2"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(&project, "the idle process is registered", |doc| {
        doc["members"].as_array().is_some_and(|m| m.len() == 1)
    });
    let enqueue_all = |prefix: &str| -> Vec<String> {
        (0..12)
            .map(|i| {
                let key = format!("http://127.0.0.1:9/{prefix}{i}");
                project.baton(&["queue", "enqueue", &key]).expect(0);
                wait_running(&project, &key);
                key
            })
            .collect()
    };
    let notified = start_delays(&project, &enqueue_all("n"));
    assert!(notified[notified.len() / 2] <= 50, "p50 {notified:?}");
    // Cut the listener's connection, as a proxy or a failover would, without a word.
    let cut = baton_test_postgres::server()
        .query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%'");
    assert_eq!(cut, 1, "no listener to cut");
    let after = start_delays(&project, &enqueue_all("c"));
    assert!(after[after.len() / 2] <= 100, "p50 after the cut {after:?}");
    // SAFETY: signals our own child.
    unsafe { libc::kill(idle.id() as i32, libc::SIGINT) };
    assert!(idle.wait().unwrap().success());
}

#[test]
fn three_processes_on_postgres_drain_ten_thousand_downloads_through_a_kill() {
    const JOBS: usize = 10_000;
    let servers: Vec<crate::common::fixture::Server> = ["127.0.0.2", "127.0.0.3"]
        .iter()
        .map(|ip| {
            crate::common::fixture::Server::start(ip, |path| {
                let mut reply = crate::common::fixture::Reply::content(
                    "application/pdf",
                    format!("%PDF-1.7\n{path}\n").into_bytes(),
                );
                reply.delay = Some(Duration::from_millis(3));
                reply
            })
        })
        .collect();
    let (project, _) = on_postgres("accept = \"application/pdf\"\nlease = \"3s\"\n");
    project
        .import_urls((0..JOBS).map(|i| (format!("p{i}"), servers[i % 2].url(&format!("/a/{i}")))));
    let run = [
        "queue",
        "run",
        "--drain",
        "--workers",
        "6",
        "--max-per-host",
        "4",
    ];
    let mut processes: Vec<Child> = (0..3)
        .map(|_| {
            project
                .command(&run)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let done = |project: &Project| {
        project
            .baton(&["queue", "stats", "--format", "json"])
            .expect(0)
            .json()["states"]["done"]
            .as_u64()
            .unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while done(&project) < 2000 {
        assert!(Instant::now() < deadline, "no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut victim = processes.remove(1);
    victim.kill().unwrap();
    victim.wait().unwrap();
    let killed = Instant::now();
    // What was done when it died, then how many requests the servers had seen.
    let done_then: std::collections::HashSet<String> = crate::common::jobs(&project)
        .into_iter()
        .filter(|j| j["state"] == "done")
        .filter_map(|j| j["key"].as_str().map(str::to_string))
        .collect();
    let seen: Vec<usize> = servers.iter().map(|s| s.requests().len()).collect();
    // The dead process's leases are recovered within the lease (3 s) and one heartbeat.
    let dead = format!(":{}:", victim.id());
    let recovering = Instant::now() + Duration::from_secs(30);
    loop {
        let running = project
            .baton(&["queue", "list", "--state", "running", "--format", "json"])
            .expect(0)
            .json();
        let held = running["jobs"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|j| j["lease_owner"].as_str().is_some_and(|o| o.contains(&dead)));
        if !held {
            break;
        }
        assert!(
            Instant::now() < recovering,
            "the dead process's jobs were never recovered"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Lease 3 s, heartbeat 1 s; the margin is for the polling above.
    assert!(
        killed.elapsed() <= Duration::from_millis(4500),
        "recovered after {:?}",
        killed.elapsed()
    );
    for process in processes {
        let output = process.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let jobs = crate::common::jobs(&project);
    assert_eq!(jobs.len(), JOBS);
    assert!(jobs.iter().all(|j| j["state"] == "done"), "not all done");
    // A process killed between a commit and its ledger append leaves this host's ledger
    // short until the next process on the host writes: its first transaction appends the
    // missing lines from the store (see store-postgres/src/journal.rs). That next process:
    project.baton(&["queue", "run", "--drain"]).expect(0);
    let done_lines = crate::common::ledger_counts(&project, "done");
    assert_eq!(done_lines.len(), JOBS);
    assert!(done_lines.values().all(|n| *n == 1), "a job ended twice");
    for (server, from) in servers.iter().zip(seen) {
        assert!(
            server.max_in_flight() <= 4,
            "{} at once",
            server.max_in_flight()
        );
        for path in &server.requests()[from..] {
            let key = format!("p{}", path.trim_start_matches("/a/"));
            assert!(!done_then.contains(&key), "{key} fetched after it was done");
        }
    }
}

#[test]
fn a_sqlite_queue_moves_to_postgres_and_carries_on_there() {
    let project = Project::new();
    let config = "[queue]\nresolvers = \"direct\"\ndownload = false\n[pipeline]\nallow-commands = \"true\"\n";
    project.write("baton.toml", config);
    project.write(
        "pipelines/p.toml",
        "[[stage]]\nid = \"s\"\ncommand = [\"sh\", \"-c\", \"echo x > $BATON_OUTPUT_DIR/o.txt\"]\noutputs = [\"o.txt\"]\n",
    );
    project.baton(&["pipeline", "run", "p"]).expect(0);
    for i in 0..30 {
        project
            .baton(&["queue", "enqueue", &format!("http://127.0.0.1:9/{i}")])
            .expect(0);
    }
    let before = project
        .baton(&["queue", "stats", "--format", "json"])
        .expect(0)
        .json();
    let url = baton_test_postgres::server().url_for_new_database();
    let moved = project
        .baton(&["store", "migrate", "--to", &url, "--format", "json"])
        .expect(0)
        .json();
    assert_eq!(moved["copied"]["jobs"], 31, "{moved}");
    assert_eq!(moved["copied"]["stage_cache"], 1, "{moved}");
    // A second copy into the now non-empty target is refused.
    let again = project
        .baton(&["store", "migrate", "--to", &url])
        .expect(20);
    assert!(
        again.stderr().contains("already holds"),
        "{}",
        again.stderr()
    );
    project.write("baton.toml", &format!("[store]\ndb = \"{url}\"\n{config}"));
    let after = project
        .baton(&["queue", "stats", "--format", "json"])
        .expect(0)
        .json();
    assert_eq!(after["states"], before["states"]);
    // The stage cache came along: the stage is not run again.
    let rerun = project
        .baton(&["pipeline", "run", "p", "--format", "json"])
        .expect(0)
        .json();
    assert_eq!(rerun["stages"][0]["state"], "cached", "{rerun}");
    project.baton(&["queue", "run", "--drain"]).expect(0);
    let jobs = crate::common::jobs(&project);
    // The rerun found its stage cached when it planned, so it made no job for it.
    assert_eq!(
        jobs.len(),
        31,
        "30 downloads and the first run's stage job: {jobs:?}"
    );
    assert!(jobs.iter().all(|j| j["state"] == "done"), "{jobs:?}");
    // One ledger, no number used twice across the move.
    let seqs: Vec<i64> = crate::common::ledger(&project)
        .iter()
        .filter_map(|l| l["seq"].as_i64())
        .collect();
    let unique: std::collections::HashSet<i64> = seqs.iter().copied().collect();
    assert_eq!(unique.len(), seqs.len(), "{seqs:?}");
    let ledger = crate::common::ledger(&project);
    assert!(
        !ledger.iter().any(|l| l["event"] == "store-behind-ledger"),
        "the move was taken for a restore"
    );
}
