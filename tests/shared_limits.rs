//! Limits hold across processes on one store: per-host and per-resolver caps of two
//! `queue run` processes, and a stage limit key of two `pipeline run`s on one database, never
//! exceed the cap together; a killed holder's slots come back.

use crate::common::Project;
use crate::common::fixture::{Reply, Server};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// A server answering every request with a small PDF after `delay`.
fn slow_server(ip: &str, delay: Duration) -> Server {
    Server::start(ip, move |_| {
        let mut reply = Reply::content("application/pdf", b"%PDF-1.7\nslow\n%%EOF\n".to_vec());
        reply.delay = Some(delay);
        reply
    })
}

fn import(project: &Project, server: &Server, prefix: &str, count: usize) {
    project.import_urls((0..count).map(|i| {
        (
            format!("{prefix}{i}"),
            server.url(&format!("/{prefix}/{i}.pdf")),
        )
    }));
}

fn spawn(project: &Project, args: &[&str]) -> Child {
    project
        .command(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn wait_ok(child: Child) {
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "a run failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn per_host_and_per_resolver_caps_hold_across_two_processes() {
    let project = Project::new();
    project.write(
        "baton.toml",
        "[queue]\nresolvers = \"direct\"\naccept = \"application/pdf\"\n",
    );
    let server = slow_server("127.0.0.7", Duration::from_millis(120));
    import(&project, &server, "h", 40);
    let run = [
        "queue",
        "run",
        "--drain",
        "--workers",
        "6",
        "--max-per-host",
        "2",
    ];
    let (a, b) = (spawn(&project, &run), spawn(&project, &run));
    wait_ok(a);
    wait_ok(b);
    assert_eq!(
        server.max_in_flight(),
        2,
        "two processes capped at 2 per host together made other than 2 requests at once"
    );
    // Per resolver: the direct resolver's jobs, 1 at a time across both processes.
    let second = slow_server("127.0.0.8", Duration::from_millis(60));
    import(&project, &second, "r", 16);
    let run = [
        "queue",
        "run",
        "--drain",
        "--workers",
        "4",
        "--max-per-host",
        "8",
        "--max-per-resolver",
        "1",
    ];
    let (a, b) = (spawn(&project, &run), spawn(&project, &run));
    wait_ok(a);
    wait_ok(b);
    assert_eq!(second.max_in_flight(), 1);
    let jobs = crate::common::jobs(&project);
    assert_eq!(jobs.len(), 56);
    assert!(jobs.iter().all(|job| job["state"] == "done"), "{jobs:?}");
}

#[test]
fn a_killed_holders_slots_are_free_again_for_the_next_process() {
    let project = Project::new();
    project.write(
        "baton.toml",
        "[queue]\nresolvers = \"direct\"\naccept = \"application/pdf\"\nlease = \"30s\"\n",
    );
    let server = slow_server("127.0.0.7", Duration::from_millis(400));
    import(&project, &server, "k", 12);
    let run = [
        "queue",
        "run",
        "--drain",
        "--workers",
        "2",
        "--max-per-host",
        "2",
    ];
    let mut victim = spawn(&project, &run);
    let deadline = Instant::now() + Duration::from_secs(60);
    while server.requests().len() < 2 {
        assert!(Instant::now() < deadline, "nothing was requested");
        std::thread::sleep(Duration::from_millis(10));
    }
    victim.kill().unwrap();
    victim.wait().unwrap();
    // The server still answers the dead process's requests for a moment: let it finish, so
    // what it counts at once from here on is the next run's.
    std::thread::sleep(Duration::from_millis(500));
    // The dead process held both slots of the host for 30 s; the next run sees that it is
    // gone, frees them at once and finishes well within that lease.
    let started = Instant::now();
    project.baton(&run).expect(0);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the next run waited {:?} for slots of a dead process",
        started.elapsed()
    );
    let jobs = crate::common::jobs(&project);
    assert!(jobs.iter().all(|job| job["state"] == "done"), "{jobs:?}");
    assert!(server.max_in_flight() <= 2);
}

/// A project whose three stages each hold limiter key `resolver:gpu` (1 at a time) while
/// they append their start and end to `log` (shared by every project).
fn gpu_project(db: &std::path::Path, log: &std::path::Path, name: &str) -> Project {
    let project = Project::new();
    project.write(
        "baton.toml",
        &format!(
            "[store]\ndb = \"{}\"\n[pipeline]\nallow-commands = \"true\"\n[limits.\"resolver:gpu\"]\nconcurrency = 1\n",
            db.display()
        ),
    );
    let mut stages = String::new();
    for i in 0..3 {
        stages.push_str(&format!(
            "[[stage]]\nid = \"{name}{i}\"\ncommand = [\"sh\", \"-c\", \"echo start >> {log}; sleep 0.3; echo end >> {log}; echo ok > $BATON_OUTPUT_DIR/o.txt\"]\noutputs = [\"o.txt\"]\nlimits = [\"resolver:gpu\"]\n\n",
            log = log.display()
        ));
    }
    project.write("pipelines/gpu.toml", &stages);
    project
}

#[test]
fn a_stage_limit_key_holds_across_two_pipeline_runs_on_one_database() {
    let shared = tempfile::tempdir().unwrap();
    let db = shared.path().join("baton.db");
    let log = shared.path().join("gpu.log");
    let first = gpu_project(&db, &log, "a");
    let second = gpu_project(&db, &log, "b");
    let run = ["pipeline", "run", "gpu", "--jobs", "3"];
    let (a, b) = (spawn(&first, &run), spawn(&second, &run));
    wait_ok(a);
    wait_ok(b);
    let lines: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(lines.len(), 12, "{lines:?}");
    // With one holder at a time the log alternates start, end, start, end...
    for pair in lines.chunks(2) {
        assert_eq!(
            pair,
            ["start", "end"],
            "two stages held the key at once: {lines:?}"
        );
    }
}

#[test]
fn a_rate_holds_across_two_processes() {
    let project = Project::new();
    let server = slow_server("127.0.0.8", Duration::from_millis(1));
    project.write(
        "baton.toml",
        &format!(
            "[queue]\nresolvers = \"direct\"\naccept = \"application/pdf\"\n[limits.\"host:{}\"]\nper-second = 40\n",
            server.addr.ip()
        ),
    );
    import(&project, &server, "r", 160);
    let run = [
        "queue",
        "run",
        "--drain",
        "--workers",
        "8",
        "--max-per-host",
        "8",
    ];
    let (a, b) = (spawn(&project, &run), spawn(&project, &run));
    wait_ok(a);
    wait_ok(b);
    assert_eq!(server.requests().len(), 160);
    // A bucket of 40 a second admits a burst of 40 and then 40 a second, for both processes
    // together: the 160th admission comes 3 s after the first (two buckets of their own
    // would admit all 160 within 1 s), and no second of admissions holds more than 80.
    let span = server.span();
    assert!(
        span >= Duration::from_millis(2_800),
        "160 requests arrived within {span:?}: the processes did not share the bucket"
    );
    // The server sees arrivals, not admissions: under load a request of the burst that
    // arrives late shares a window with the refill a second on, so a window of arrivals may
    // hold a few more than 80 (81–86 were seen, 86 once under the full suite).
    let busiest = server.max_in_window(Duration::from_secs(1));
    assert!(busiest <= 90, "{busiest} requests in one second");
}

#[test]
fn a_daily_quota_holds_across_processes_and_restarts() {
    let project = Project::new();
    let server = slow_server("127.0.0.8", Duration::from_millis(1));
    project.write(
        "baton.toml",
        &format!(
            "[queue]\nresolvers = \"direct\"\naccept = \"application/pdf\"\n[limits.\"host:{}\"]\nper-day = 30\n",
            server.addr.ip()
        ),
    );
    import(&project, &server, "q", 50);
    let run = ["queue", "run", "--workers", "4"];
    for _ in 0..2 {
        // Two processes at once, then again after both stopped: 30 requests in all.
        let pair = [spawn(&project, &run), spawn(&project, &run)];
        let deadline = Instant::now() + Duration::from_secs(30);
        while server.requests().len() < 30 {
            assert!(Instant::now() < deadline, "the quota was never reached");
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(500));
        for mut child in pair {
            // SAFETY: signals our own child.
            unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
            child.wait().unwrap();
        }
    }
    assert_eq!(server.requests().len(), 30, "the quota of 30 was overrun");
    let waiting = crate::common::jobs(&project)
        .into_iter()
        .filter(|j| j["state"] == "queued")
        .collect::<Vec<_>>();
    assert_eq!(waiting.len(), 20);
    let reason = waiting[0]["wait_reason"].as_str().unwrap_or("");
    assert!(reason.contains("quota"), "{reason}");
}
