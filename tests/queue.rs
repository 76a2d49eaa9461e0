//! The work queue end to end: import, run, limits, retries, crash safety, bad input and the
//! stats document, through the real binary against fixture servers on 127.0.0.2–9.

use crate::common::Project;
use crate::common::fixture::{Reply, Server};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The PDF a fixture serves for artifact `i`.
fn pdf(i: usize) -> Vec<u8> {
    format!("%PDF-1.7\nartifact {i}\n%%EOF\n").into_bytes()
}

/// What a fixture path does: `/{behaviour}/{i}.pdf`.
fn behaviour_for(i: usize) -> &'static str {
    match i % 50 {
        0 => "rate-once",
        1 => "unavailable-once",
        2 => "slow",
        3 => "truncated",
        4 => "html",
        5 => "missing",
        _ => "ok",
    }
}

fn expected_state(behaviour: &str) -> &'static str {
    match behaviour {
        "truncated" | "html" | "missing" => "failed",
        _ => "done",
    }
}

/// A fixture host serving every behaviour; "once" behaviours fail only the first time.
fn pdf_server(ip: &str) -> Server {
    let seen: Arc<Mutex<HashSet<String>>> = Arc::default();
    Server::start(ip, move |path| {
        let first = seen.lock().unwrap().insert(path.to_string());
        let mut parts = path.trim_start_matches('/').split('/');
        let behaviour = parts.next().unwrap_or("");
        let i: usize = parts
            .next()
            .and_then(|f| f.trim_end_matches(".pdf").parse().ok())
            .unwrap_or(0);
        match behaviour {
            "rate-once" if first => {
                let mut reply = Reply::json(429, "{}");
                reply.headers.push(("retry-after".into(), "1".into()));
                reply
            }
            "unavailable-once" if first => Reply::json(503, "{}"),
            "slow" => {
                let mut reply = Reply::content("application/pdf", pdf(i));
                reply.delay = Some(Duration::from_millis(150));
                reply
            }
            "truncated" => {
                let mut reply = Reply::content("application/pdf", pdf(i));
                reply.claimed_length = Some(pdf(i).len() + 100);
                reply
            }
            "html" => Reply::content("text/html", b"<html>not a pdf</html>".to_vec()),
            "missing" => Reply::json(404, "{}"),
            _ => Reply::content("application/pdf", pdf(i)),
        }
    })
}

const RATE_PER_SECOND: usize = 150;

fn queue_config(project: &Project, hosts: &[Server]) {
    let mut config = String::from(
        "[queue]\nresolvers = \"direct\"\nmax-attempts = 2\nbackoff = \"50ms\"\nbackoff-max = \"100ms\"\naccept = \"application/pdf\"\nread-timeout = \"5s\"\n",
    );
    for host in hosts {
        config.push_str(&format!(
            "[limits.\"host:{}\"]\nper-second = {RATE_PER_SECOND}\n",
            host.addr.ip()
        ));
    }
    project.write("baton.toml", &config);
}

fn artifacts(
    project: &Project,
    hosts: &[Server],
    count: usize,
) -> HashMap<String, (String, usize)> {
    let mut lines = String::new();
    let mut expected = HashMap::new();
    for i in 0..count {
        let host = &hosts[i % hosts.len()];
        let behaviour = behaviour_for(i);
        let key = format!("art-{i}");
        let url = host.url(&format!("/{behaviour}/{i}.pdf"));
        lines.push_str(&format!("{{\"id\": \"{key}\", \"url\": \"{url}\"}}\n"));
        expected.insert(key, (expected_state(behaviour).to_string(), i));
    }
    project.write("artifacts.jsonl", &lines);
    expected
}

fn job_states(project: &Project) -> HashMap<String, String> {
    crate::common::jobs(project)
        .into_iter()
        .map(|job| {
            (
                job["key"].as_str().unwrap().to_string(),
                job["state"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn hosts() -> Vec<Server> {
    (2..=9)
        .map(|n| pdf_server(&format!("127.0.0.{n}")))
        .collect()
}

#[test]
fn ten_thousand_artifacts_end_as_the_fixture_dictates_within_the_limits() {
    let project = Project::new();
    let hosts = hosts();
    queue_config(&project, &hosts);
    let expected = artifacts(&project, &hosts, 10_000);
    let import = project
        .baton(&["queue", "import", "artifacts.jsonl", "--format", "json"])
        .expect(0);
    assert_eq!(import.json()["new"], 10_000);
    // Some fail (truncated, HTML, 404): exit 10, degraded.
    let run = project
        .baton(&[
            "queue",
            "run",
            "--workers",
            "8",
            "--max-per-host",
            "2",
            "--drain",
            "--format",
            "json",
        ])
        .expect(10);
    let summary = run.json();
    let states = job_states(&project);
    for (key, (state, _)) in &expected {
        assert_eq!(states.get(key), Some(state), "{key}: {summary}");
    }
    for host in &hosts {
        assert!(
            host.max_in_flight() <= 2,
            "{} saw {} concurrent requests",
            host.addr,
            host.max_in_flight()
        );
        // A token bucket of RATE per second admits at most one burst of RATE plus RATE per second.
        let busiest = host.max_in_window(Duration::from_secs(1));
        assert!(
            busiest <= 2 * RATE_PER_SECOND,
            "{} saw {busiest} requests in one second",
            host.addr
        );
    }
    // What each done job stored, as `queue list` reports it.
    let rows: Vec<(String, String, i64)> = crate::common::jobs(&project)
        .into_iter()
        .filter(|job| job["state"] == "done")
        .map(|job| {
            (
                job["key"].as_str().unwrap().to_string(),
                job["result"]["sha256"].as_str().unwrap().to_string(),
                job["result"]["size"].as_i64().unwrap(),
            )
        })
        .collect();
    let done = expected.values().filter(|(s, _)| s == "done").count();
    assert_eq!(rows.len(), done);
    for (key, sha256, size) in rows {
        let (_, i) = expected[&key];
        let body = pdf(i);
        assert_eq!(sha256, hex::encode(Sha256::digest(&body)), "{key}");
        assert_eq!(size as usize, body.len());
        let stored = project
            .path()
            .join(".baton/artifacts/sha256")
            .join(&sha256[..2])
            .join(&sha256[2..4])
            .join(&sha256);
        assert_eq!(
            hex::encode(Sha256::digest(std::fs::read(&stored).unwrap())),
            sha256
        );
    }
    let stats = project
        .baton(&["queue", "stats", "--format", "json"])
        .expect(0)
        .json();
    assert_eq!(stats["states"]["done"], done);
    assert_eq!(stats["total"], 10_000);
    // Every failure says why.
    let failed = project
        .baton(&[
            "queue", "list", "--state", "failed", "--limit", "1", "--format", "json",
        ])
        .expect(0)
        .json();
    assert!(
        failed["jobs"][0]["last_error"]
            .as_str()
            .is_some_and(|e| !e.is_empty())
    );
}

fn ledger_counts(project: &Project, event: &str) -> HashMap<String, usize> {
    crate::common::ledger_counts(project, event)
}

#[test]
fn kill_9_mid_drain_then_drain_again_ends_every_job_exactly_once() {
    let project = Project::new();
    let slow = Server::start("127.0.0.2", |path| {
        let i: usize = path
            .trim_start_matches("/slow/")
            .trim_end_matches(".pdf")
            .parse()
            .unwrap_or(0);
        let mut reply = Reply::content("application/pdf", pdf(i));
        reply.delay = Some(Duration::from_millis(40));
        reply
    });
    project.write(
        "baton.toml",
        "[queue]\nresolvers = \"direct\"\naccept = \"application/pdf\"\n",
    );
    let mut lines = String::new();
    for i in 0..600 {
        lines.push_str(&format!(
            "{{\"id\": \"k{i}\", \"url\": \"{}\"}}\n",
            slow.url(&format!("/slow/{i}.pdf"))
        ));
    }
    project.write("artifacts.jsonl", &lines);
    project
        .baton(&["queue", "import", "artifacts.jsonl"])
        .expect(0);
    let mut child = project
        .command(&[])
        .args([
            "queue",
            "run",
            "--workers",
            "8",
            "--max-per-host",
            "8",
            "--drain",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Let it get well into the queue, then kill it without warning.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while job_states(&project)
        .values()
        .filter(|s| *s == "done")
        .count()
        < 100
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the run made no progress"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before = job_states(&project);
    let done_before: HashSet<String> = before
        .iter()
        .filter(|(_, s)| *s == "done")
        .map(|(k, _)| k.clone())
        .collect();
    assert!(
        done_before.len() < 600,
        "the run finished before it was killed"
    );
    let requests_before = slow.requests().len();
    project
        .baton(&[
            "queue",
            "run",
            "--workers",
            "8",
            "--max-per-host",
            "8",
            "--drain",
        ])
        .expect(0);
    let after = job_states(&project);
    assert_eq!(after.len(), 600, "a job was lost");
    assert!(after.values().all(|s| s == "done"), "{after:?}");
    let done_events = ledger_counts(&project, "done");
    for key in after.keys() {
        assert_eq!(
            done_events.get(key),
            Some(&1),
            "{key} did not end exactly once"
        );
    }
    let refetched: Vec<String> = slow.requests()[requests_before..]
        .iter()
        .filter(|path| {
            let i = path.trim_start_matches("/slow/").trim_end_matches(".pdf");
            done_before.contains(&format!("k{i}"))
        })
        .cloned()
        .collect();
    assert!(
        refetched.is_empty(),
        "fetched again after being done: {refetched:?}"
    );
    // Only jobs the killed process had started count as lost by a worker: the 8 running and
    // those finished whose outcome was not committed yet, not the up to 32 it had claimed
    // ahead of its workers.
    let charged = crate::common::jobs(&project)
        .into_iter()
        .filter(|job| job["recoveries"].as_u64().unwrap_or(0) > 0)
        .count();
    assert!(
        charged <= 16,
        "{charged} jobs charged a recovery for one kill of 8 workers"
    );
    // The killed process's partial downloads were swept by the next run; nothing else is left.
    let leftovers: Vec<_> = walk_files(&project.path().join(".baton/artifacts/tmp"));
    assert!(
        leftovers.is_empty(),
        "partial downloads left behind: {leftovers:?}"
    );
}

/// Every file under `dir` (none when it does not exist).
fn walk_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

#[test]
fn bad_lines_are_named_and_good_ones_imported() {
    let project = Project::new();
    let oversized = format!("{{\"id\": \"big\", \"pad\": \"{}\"}}", "x".repeat(70_000));
    let text = format!(
        "{{\"id\": \"a\"}}\n\n{{\"id\": \"b\"\n{{\"id\": \"a\"}}\n{oversized}\n[1]\n{{\"doi\": \"no id\"}}\n{{\"id\": \"c\", \"resolver\": \"arxiv\"}}\n"
    );
    project.write("mixed.jsonl", &text);
    let run = project
        .baton(&["queue", "import", "mixed.jsonl", "--format", "json"])
        .expect(10);
    let doc = run.json();
    assert_eq!(doc["new"], 2);
    assert_eq!(doc["duplicate"], 1);
    // The blank line 2 is skipped: blank lines are not bad lines.
    assert_eq!(doc["bad"], 4);
    let lines: Vec<(u64, String)> = doc["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                r["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let numbers: Vec<u64> = lines.iter().map(|(n, _)| *n).collect();
    assert_eq!(numbers, [3, 4, 5, 6, 7]);
    assert!(lines[0].1.contains("invalid JSON"));
    assert!(lines[1].1.contains("duplicate"));
    assert!(lines[2].1.contains("bytes"));
    let human = project
        .baton(&["queue", "import", "mixed.jsonl"])
        .expect(10);
    assert!(
        human.stderr().contains("line 3: invalid JSON"),
        "{}",
        human.stderr()
    );
    let missing = project.baton(&["queue", "import", "nope.jsonl"]).expect(20);
    assert!(missing.stderr().contains("cannot open"));
    let directory = project.baton(&["queue", "import", "."]).expect(20);
    assert!(
        directory.stderr().contains("is a directory"),
        "{}",
        directory.stderr()
    );
}

#[test]
fn enqueue_is_idempotent_and_jobs_can_be_cancelled_and_retried() {
    let project = Project::new();
    project.write(
        "baton.toml",
        "[queue]\nmax-attempts = 1\nconnect-timeout = \"1s\"\n",
    );
    let first = project
        .baton(&[
            "queue",
            "enqueue",
            "x1",
            r#"{"url": "http://127.0.0.1:1/x.pdf"}"#,
            "--format",
            "json",
        ])
        .expect(0);
    assert_eq!(first.json()["new"], true);
    let again = project
        .baton(&[
            "queue",
            "enqueue",
            "x1",
            r#"{"other": 1}"#,
            "--format",
            "json",
        ])
        .expect(0);
    assert_eq!(again.json()["duplicate"], true);
    let show = project
        .baton(&["job", "show", "x1", "--format", "json"])
        .expect(0)
        .json();
    assert_eq!(show["job"]["payload"]["url"], "http://127.0.0.1:1/x.pdf");
    assert!(
        show["wait_reason"]
            .as_str()
            .unwrap()
            .contains("waiting for a worker")
    );
    project
        .baton(&["queue", "enqueue", "x2", "{not json"])
        .expect(20);
    project.baton(&["queue", "enqueue", "x2", "[1]"]).expect(20);
    // x1 points at a closed port: it fails after its one attempt.
    project.baton(&["queue", "run", "--drain"]).expect(10);
    let failed = project
        .baton(&["job", "show", "x1", "--format", "json"])
        .expect(0)
        .json();
    assert_eq!(failed["job"]["state"], "failed");
    assert_eq!(failed["attempts"][0]["outcome"], "failed");
    let dry = project
        .baton(&["queue", "retry-failed", "--dry-run", "--format", "json"])
        .expect(0)
        .json();
    assert_eq!(dry["count"], 1);
    assert_eq!(
        project
            .baton(&["job", "show", "x1", "--format", "json"])
            .expect(0)
            .json()["job"]["state"],
        "failed"
    );
    project.baton(&["queue", "retry-failed"]).expect(0);
    assert_eq!(
        project
            .baton(&["job", "show", "x1", "--format", "json"])
            .expect(0)
            .json()["job"]["state"],
        "queued"
    );
    let cancelled = project
        .baton(&["queue", "cancel", "x1", "--format", "json"])
        .expect(0)
        .json();
    assert_eq!(cancelled["cancelled"], true);
    project.baton(&["queue", "cancel", "nope"]).expect(20);
    let events = project
        .baton(&["job", "show", "x1", "--format", "json"])
        .expect(0)
        .json()["events"]
        .clone();
    let names: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["enqueued", "running", "failed", "retry", "cancelled"]
    );
    let ledger_dir = project.path().join(".baton/ledger");
    let lines: usize = std::fs::read_dir(&ledger_dir)
        .unwrap()
        .map(|f| {
            std::fs::read_to_string(f.unwrap().path())
                .unwrap()
                .lines()
                .count()
        })
        .sum();
    assert!(lines >= 5, "the ledger file misses events");
}

#[test]
fn stats_json_is_the_documented_document() {
    let project = Project::new();
    project.baton(&["queue", "enqueue", "s1"]).expect(0);
    let stats = project
        .baton(&["queue", "stats", "--format", "json"])
        .expect(0)
        .json();
    let mut keys: Vec<&str> = stats
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "hosts",
            "jobs_per_second",
            "limiter_denials",
            "oldest_ready_ms",
            "parked",
            "recoveries",
            "resolvers",
            "runs",
            "states",
            "total"
        ]
    );
    let states: Vec<&str> = stats["states"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        states,
        [
            "blocked",
            "cancelled",
            "done",
            "failed",
            "queued",
            "running",
            "skipped"
        ]
    );
    assert_eq!(stats["states"]["queued"], 1);
    assert_eq!(stats["resolvers"]["chain"]["queued"], 1);
}

#[test]
fn api_resolvers_feed_downloads_through_the_queue() {
    let project = Project::new();
    let files = pdf_server("127.0.0.3");
    let pdf_url = files.url("/ok/7.pdf");
    let openalex_body = format!(
        r#"{{"id": "W1", "open_access": {{"is_oa": true, "oa_url": "{pdf_url}"}},
            "best_oa_location": {{"is_oa": true, "pdf_url": "{pdf_url}", "landing_page_url": "{pdf_url}"}},
            "primary_location": null, "locations": []}}"#
    );
    let api = Server::start("127.0.0.4", move |path| {
        if path.starts_with("/works/doi:10.1234/oa") {
            Reply::json(200, &openalex_body)
        } else {
            Reply::json(404, "{}")
        }
    });
    std::fs::copy(
        crate::common::plugin("openalex"),
        project.path().join("openalex.wasm"),
    )
    .unwrap();
    project.write(
        "baton.toml",
        &format!(
            r#"
[queue]
resolvers = "openalex"
accept = "application/pdf"
[plugins.openalex]
path = "openalex.wasm"
settings = {{ base-url = "{}" }}
[plugins.openalex.grants]
http = ["{}"]
"#,
            api.url(""),
            api.origin()
        ),
    );
    project.baton(&["queue", "enqueue", "10.1234/oa"]).expect(0);
    project
        .baton(&["queue", "enqueue", "10.1234/unknown"])
        .expect(0);
    let run = project
        .baton(&["queue", "run", "--drain", "--format", "json"])
        .expect(0);
    let summary = run.json();
    assert_eq!(summary["done"], 1, "{summary}");
    assert_eq!(summary["skipped"], 1, "{summary}");
    let show = project
        .baton(&["job", "show", "10.1234/oa", "--format", "json"])
        .expect(0)
        .json();
    assert_eq!(show["artifact"]["resolver"], "openalex");
    assert_eq!(
        show["artifact"]["sha256"],
        hex::encode(Sha256::digest(pdf(7)))
    );
}

fn count_state(project: &Project, state: &str) -> usize {
    job_states(project).values().filter(|s| *s == state).count()
}

fn slow_queue(project: &Project, server: &Server, jobs: usize) {
    project.write(
        "baton.toml",
        "[queue]\nresolvers = \"direct\"\naccept = \"application/pdf\"\n",
    );
    let mut lines = String::new();
    for i in 0..jobs {
        lines.push_str(&format!(
            "{{\"id\": \"g{i}\", \"url\": \"{}\"}}\n",
            server.url(&format!("/slow/{i}.pdf"))
        ));
    }
    project.write("artifacts.jsonl", &lines);
    project
        .baton(&["queue", "import", "artifacts.jsonl"])
        .expect(0);
}

fn spawn_run(project: &Project) -> std::process::Child {
    spawn_run_with(project, &[])
}

fn spawn_run_with(project: &Project, extra: &[&str]) -> std::process::Child {
    project
        .command(&[])
        .args([
            "queue",
            "run",
            "--workers",
            "4",
            "--max-per-host",
            "4",
            "--format",
            "json",
        ])
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn wait_until_running(project: &Project) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while count_state(project, "running") == 0 {
        assert!(std::time::Instant::now() < deadline, "nothing started");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn interrupt(child: &std::process::Child) {
    // SAFETY: sends SIGINT to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
}

#[test]
fn the_first_signal_lets_in_flight_jobs_finish_and_the_second_releases_them() {
    let server = Server::start("127.0.0.5", |path| {
        let mut reply = Reply::content("application/pdf", pdf(path.len()));
        reply.delay = Some(Duration::from_millis(700));
        reply
    });
    let gentle = Project::new();
    slow_queue(&gentle, &server, 40);
    let child = spawn_run(&gentle);
    wait_until_running(&gentle);
    interrupt(&child);
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(summary["done"].as_u64().unwrap() >= 1, "{summary}");
    assert_eq!(summary["released"], 0, "{summary}");
    assert_eq!(count_state(&gentle, "running"), 0);
    assert!(
        count_state(&gentle, "queued") > 0,
        "it kept claiming after the signal"
    );

    // A `--drain` that signals cut short did not drain: it says so and exits 10.
    let hurried = Project::new();
    slow_queue(&hurried, &server, 40);
    let child = spawn_run_with(&hurried, &["--drain"]);
    wait_until_running(&hurried);
    interrupt(&child);
    std::thread::sleep(Duration::from_millis(100));
    interrupt(&child);
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(10),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["interrupted"], true, "{summary}");
    assert!(summary["released"].as_u64().unwrap() >= 1, "{summary}");
    assert_eq!(count_state(&hurried, "running"), 0);
    let used = crate::common::jobs(&hurried)
        .into_iter()
        .filter(|job| job["state"] == "queued" && job["attempts"].as_u64() != Some(0))
        .count();
    assert_eq!(used, 0, "released jobs lost an attempt");
}

#[test]
fn downloads_follow_the_forms_real_servers_send() {
    use std::io::Write as _;
    // The content lives on a second host, compressed, behind two redirects of the forms
    // servers send: a network-path reference (`//host/path`, RFC 3986 §4.2) and a relative
    // one with dot segments, a query and a fragment.
    let content = Server::start("127.0.0.6", |path| {
        if path.starts_with("/c/d.pdf?x=1") {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            gz.write_all(&pdf(7)).unwrap();
            let mut reply = Reply::content("application/pdf", gz.finish().unwrap());
            reply
                .headers
                .push(("content-encoding".into(), "gzip".into()));
            reply
        } else if path.starts_with("/b/start") {
            Reply::redirect("../c/./d.pdf?x=1#page=2")
        } else {
            Reply::json(404, "{}")
        }
    });
    let content_authority = content.addr.to_string();
    let first_seen: Arc<Mutex<HashSet<String>>> = Arc::default();
    let entry = Server::start("127.0.0.7", move |path| {
        if path == "/moved" {
            return Reply::redirect(&format!("//{content_authority}/b/start"));
        }
        // A 429 whose Retry-After is an HTTP-date (whole seconds: at least one second
        // ahead), then the content.
        if first_seen.lock().unwrap().insert(path.to_string()) {
            let at = std::time::SystemTime::now() + Duration::from_secs(2);
            let mut reply = Reply::json(429, "{}");
            reply
                .headers
                .push(("retry-after".into(), httpdate::fmt_http_date(at)));
            return reply;
        }
        Reply::content("application/pdf", pdf(8))
    });
    let project = Project::new();
    project.write(
        "baton.toml",
        "[queue]\nresolvers = \"direct\"\naccept = \"application/pdf\"\n",
    );
    project.write(
        "artifacts.jsonl",
        &format!(
            "{{\"id\": \"moved\", \"url\": \"{}\"}}\n{{\"id\": \"dated\", \"url\": \"{}\"}}\n",
            entry.url("/moved"),
            entry.url("/dated.pdf")
        ),
    );
    project
        .baton(&["queue", "import", "artifacts.jsonl"])
        .expect(0);
    let started = std::time::Instant::now();
    let summary = project
        .baton(&["queue", "run", "--drain", "--format", "json"])
        .expect(0)
        .json();
    assert_eq!(summary["done"], 2, "{summary}");
    assert_eq!(
        summary["snoozed"], 1,
        "the HTTP-date Retry-After was not a snooze: {summary}"
    );
    assert!(started.elapsed() >= Duration::from_millis(500));
    let moved = project
        .baton(&["job", "show", "moved", "--format", "json"])
        .expect(0)
        .json();
    let result = &moved["job"]["result"];
    // What is stored is the decoded PDF: its digest and size, not the gzip stream's.
    let expected = hex::encode(Sha256::digest(pdf(7)));
    assert_eq!(result["sha256"], expected.as_str(), "{moved}");
    assert_eq!(result["size"], pdf(7).len(), "{moved}");
    assert_eq!(
        result["url"],
        content.url("/c/d.pdf?x=1").as_str(),
        "the fragment is not part of the request"
    );
    // Baton asks for the identity coding; the server sent gzip anyway, and it was decoded.
    assert!(content.requests().iter().any(|r| r.starts_with("/c/d.pdf")));
}

#[test]
fn a_doi_is_one_job_however_it_is_written() {
    let project = Project::new();
    project.write(
        "dois.jsonl",
        "\u{feff}{\"id\": \"10.1038/Nature12373\"}\r\n\
         {\"id\": \"doi:10.1038/nature12373\"}\r\n\
         \r\n\
         {\"id\": \"DOI: https://doi.org/10.1038/NATURE12373\"}\n\
         {\"id\": \"dx.doi.org/10.1038/nature12373\"}\n\
         {\"id\": \"https://doi.org/10.1038%2Fnature12373\"}\n\
         {\"id\": \"10.1000/other\"}\n",
    );
    let doc = project
        .baton(&["queue", "import", "dois.jsonl", "--format", "json"])
        .expect(0)
        .json();
    assert_eq!(doc["new"], 2, "{doc}");
    assert_eq!(doc["duplicate"], 4, "{doc}");
    assert_eq!(
        doc["bad"], 0,
        "the byte-order mark, CRLF or blank line cost a line: {doc}"
    );
    let again = project
        .baton(&[
            "queue",
            "enqueue",
            "https://DX.DOI.ORG/10.1038/nature12373",
            "--format",
            "json",
        ])
        .expect(0)
        .json();
    assert_eq!(again["duplicate"], true, "{again}");
    assert_eq!(again["key"], "10.1038/nature12373");
    let shown = project
        .baton(&["job", "show", "doi:10.1038/NATURE12373", "--format", "json"])
        .expect(0)
        .json();
    assert_eq!(shown["job"]["key"], "10.1038/nature12373");
}

/// A bulk import killed mid-file leaves the ledger accounting for every job it committed:
/// each committed batch carries an `imported` event with its line range and counts.
#[test]
fn an_import_killed_mid_file_leaves_an_event_for_every_committed_batch() {
    let project = Project::new();
    let lines: String = (0..400_000)
        .map(|i| format!("{{\"id\": \"k-{i}\"}}\n"))
        .collect();
    project.write("big.jsonl", &lines);
    let mut child = project
        .command(&["queue", "import", "big.jsonl"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once its first batch is in the ledger, well before its 80th.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while !crate::common::ledger(&project)
        .iter()
        .any(|l| l["event"] == "imported")
    {
        assert!(std::time::Instant::now() < deadline, "no batch committed");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // The next writer writes what a kill between commit and append left out of the ledger.
    project.write("empty.jsonl", "");
    project.baton(&["queue", "import", "empty.jsonl"]).expect(0);
    let stats = project
        .baton(&["queue", "stats", "--format", "json"])
        .expect(0)
        .json();
    let stored = stats["states"]["queued"].as_u64().unwrap();
    let ledger = crate::common::ledger(&project);
    assert!(
        !ledger
            .iter()
            .any(|l| l["event"] == "import" && l["file"] == "big.jsonl"),
        "the import finished before the kill: make the file larger"
    );
    let batches: Vec<&serde_json::Value> =
        ledger.iter().filter(|l| l["event"] == "imported").collect();
    let new: u64 = batches.iter().map(|b| b["new"].as_u64().unwrap()).sum();
    assert_eq!(
        new, stored,
        "jobs in the store vs. jobs the ledger accounts for"
    );
    assert!(stored > 0 && stored < 400_000, "{stored}");
    // The batches cover the file's lines in order, with no gap.
    let mut next = 1;
    for batch in &batches {
        assert_eq!(batch["file"], "big.jsonl");
        assert_eq!(batch["lines"][0].as_u64().unwrap(), next, "{batch}");
        next = batch["lines"][1].as_u64().unwrap() + 1;
        assert_eq!(batch["duplicate"], 0);
    }
}
