//! `baton job recover` and `baton job retry` end to end: a holder killed with `kill -9` is
//! judged dead and its job recovered (a dry run first, changing nothing); a holder stopped
//! with SIGSTOP looks alive and keeps its job until `--force`, after which its late
//! completion (once SIGCONT wakes it) is fenced and the job runs once more under its new
//! lease; every change is in the audit log.

use crate::common::fixture::{Reply, Server};
use crate::common::{Project, ledger_counts};
use serde_json::Value;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// A project whose one job `slow` downloads a PDF the fixture sends after `delay`.
fn slow_project(delay: Duration) -> (Project, Server) {
    let server = Server::start("127.0.0.41", move |_| {
        let mut reply = Reply::content("application/pdf", b"%PDF-1.7\nslow\n%%EOF\n".to_vec());
        reply.delay = Some(delay);
        reply
    });
    let project = Project::new();
    project.write(
        "baton.toml",
        "[queue]\nresolvers = \"direct\"\naccept = \"application/pdf\"\n",
    );
    project.import_urls([("slow".to_string(), server.url("/slow.pdf"))]);
    (project, server)
}

fn job(project: &Project, key: &str) -> Value {
    project
        .baton(&["job", "show", key, "--format", "json"])
        .expect(0)
        .json()["job"]
        .clone()
}

/// Starts `queue run --workers 1 --drain` and waits until it holds job `key`.
fn run_until_running(project: &Project, key: &str) -> Child {
    let child = project
        .command(&[
            "queue",
            "run",
            "--workers",
            "1",
            "--drain",
            "--format",
            "json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while job(project, key)["state"] != "running" {
        assert!(Instant::now() < deadline, "the run never claimed {key}");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

fn audit_lines(project: &Project) -> Vec<Value> {
    let dir = project.path().join(".baton/audit");
    let mut lines = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        for line in std::fs::read_to_string(entry.path()).unwrap().lines() {
            lines.push(serde_json::from_str(line).unwrap());
        }
    }
    lines
}

#[test]
fn a_killed_holders_job_is_recovered_after_a_dry_run_that_changes_nothing() {
    let (project, _server) = slow_project(Duration::from_secs(30));
    let mut child = run_until_running(&project, "slow");
    let pid = child.id();
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let dry = project
        .baton(&["job", "recover", "--all", "--dry-run", "--format", "json"])
        .expect(0)
        .json();
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["jobs"][0]["key"], "slow");
    assert_eq!(dry["jobs"][0]["holder"]["kind"], "process-gone");
    assert_eq!(dry["jobs"][0]["holder"]["pid"], pid);
    assert_eq!(dry["jobs"][0]["recover"], true);
    assert_eq!(
        job(&project, "slow")["state"],
        "running",
        "a dry run changed the job"
    );
    assert!(
        !project.path().join(".baton/audit").exists(),
        "a dry run was audited"
    );

    let table = project.baton(&["job", "recover", "--all"]).expect(0);
    assert!(
        table
            .stdout()
            .contains(&format!("process {pid} is gone on this host")),
        "{}",
        table.stdout()
    );
    assert!(table.stdout().contains("1 recovered"), "{}", table.stdout());
    let after = job(&project, "slow");
    assert_eq!(after["state"], "queued");
    assert_eq!(after["attempts"], 0, "the attempt was not given back");
    assert!(
        after["wait_reason"]
            .as_str()
            .unwrap()
            .starts_with("recovered by hand from"),
        "{after}"
    );
    let audit = audit_lines(&project);
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0]["what"], "job.recover");
    assert_eq!(audit[0]["result"]["recovered"][0]["key"], "slow");

    // Nothing left to recover; a job that is not running is reported, an unknown one refused.
    let again = project
        .baton(&["job", "recover", "--all", "--format", "json"])
        .expect(0)
        .json();
    assert_eq!(again["jobs"].as_array().unwrap().len(), 0);
    let idle = project.baton(&["job", "recover", "slow"]).expect(10);
    assert!(
        idle.stdout().contains("is queued, not running"),
        "{}",
        idle.stdout()
    );
    let unknown = project.baton(&["job", "recover", "nope"]).expect(20);
    assert!(
        unknown.stderr().contains("no job `nope`"),
        "{}",
        unknown.stderr()
    );
    project.baton(&["job", "recover"]).expect(20);
}

#[test]
fn a_forced_recovery_fences_out_a_stopped_holders_late_completion() {
    let (project, _server) = slow_project(Duration::from_secs(4));
    let child = run_until_running(&project, "slow");
    let pid = child.id() as i32;
    // SAFETY: signalling our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);

    let refused = project
        .baton(&["job", "recover", "slow", "--format", "json"])
        .expect(10)
        .json();
    assert_eq!(refused["jobs"][0]["holder"]["kind"], "alive");
    assert!(
        refused["jobs"][0]["why"]
            .as_str()
            .unwrap()
            .contains(&format!("process {pid} runs on this host")),
        "{refused}"
    );
    assert_eq!(refused["recovered"], 0);
    assert_eq!(job(&project, "slow")["state"], "running");
    let fence = job(&project, "slow")["fence"].as_i64().unwrap();

    let forced = project
        .baton(&["job", "recover", "slow", "--force", "--format", "json"])
        .expect(0)
        .json();
    assert_eq!(forced["recovered"], 1);
    assert_eq!(forced["jobs"][0]["applied"], true);
    let requeued = job(&project, "slow");
    assert_eq!(requeued["state"], "queued");
    assert!(
        requeued["wait_reason"].as_str().unwrap().contains("forced"),
        "{requeued}"
    );

    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGCONT) }, 0);
    let output = child.wait_with_output().unwrap();
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    // The stopped holder's completion came late and was refused: a `fenced` event for its
    // lease, and the job was done once, under the new lease the same run took afterwards.
    let fenced = ledger_counts(&project, "fenced");
    assert_eq!(fenced.get("slow"), Some(&1), "no fenced event: {summary}");
    assert_eq!(ledger_counts(&project, "done").get("slow"), Some(&1));
    let done = job(&project, "slow");
    assert_eq!(done["state"], "done");
    assert!(done["fence"].as_i64().unwrap() > fence, "{done}");
    let recovered = ledger_counts(&project, "recovered");
    assert_eq!(recovered.get("slow"), Some(&1));
    let audit = audit_lines(&project);
    // Both attempts are audited: the refused one with nothing recovered.
    assert_eq!(audit.len(), 2, "{audit:?}");
    assert_eq!(audit[0]["args"]["force"], false);
    assert_eq!(audit[0]["result"]["recovered"], serde_json::json!([]));
    assert_eq!(audit[1]["args"]["force"], true);
    assert_eq!(audit[1]["result"]["recovered"][0]["key"], "slow");
}

#[test]
fn one_failed_job_is_retried_by_hand_and_audited() {
    let server = Server::start("127.0.0.42", |_| Reply::json(404, "{}"));
    let project = Project::new();
    project.write(
        "baton.toml",
        "[queue]\nresolvers = \"direct\"\naccept = \"application/pdf\"\n",
    );
    project.import_urls([("gone".to_string(), server.url("/gone.pdf"))]);
    project.baton(&["queue", "run", "--drain"]).expect(10);
    assert_eq!(job(&project, "gone")["state"], "failed");
    let retried = project
        .baton(&["job", "retry", "gone", "--format", "json"])
        .expect(0)
        .json();
    assert_eq!(retried["was"], "failed");
    let queued = job(&project, "gone");
    assert_eq!(queued["state"], "queued");
    assert_eq!(queued["wait_reason"], "retried by hand");
    let twice = project.baton(&["job", "retry", "gone"]).expect(10);
    assert!(twice.stdout().contains("is queued"), "{}", twice.stdout());
    project.baton(&["job", "retry", "nope"]).expect(20);
    let audit = audit_lines(&project);
    assert_eq!(audit.len(), 2);
    assert_eq!(audit[0]["what"], "job.retry");
    assert_eq!(audit[0]["result"]["retried"], true);
}
