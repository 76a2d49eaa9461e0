//! The queue's crash-safety campaign: 10,000 downloads, the runner killed with SIGKILL ten
//! times at random points of the drain, then one run to the end. Every job must end done
//! exactly once — in the store, in the ledger and in the server's access log (nothing
//! recorded done is fetched again) — with every stored file matching its SHA-256, and no
//! partial download left behind.

use crate::common::Project;
use crate::common::fixture::{Reply, Server};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

const JOBS: usize = 10_000;
const KILLS: usize = 10;

fn body(i: usize) -> Vec<u8> {
    format!("%PDF-1.7\ncampaign {i}\n%%EOF\n").into_bytes()
}

/// Index of the artifact a request path (`/a/I.pdf`) names.
fn index(path: &str) -> usize {
    path.trim_start_matches("/a/")
        .trim_end_matches(".pdf")
        .parse()
        .unwrap_or(usize::MAX)
}

/// Keys of the jobs recorded done.
fn done_keys(project: &Project) -> HashSet<String> {
    crate::common::jobs(project)
        .into_iter()
        .filter(|job| job["state"] == "done")
        .filter_map(|job| job["key"].as_str().map(str::to_string))
        .collect()
}

fn done_count(project: &Project) -> u64 {
    let stats = project
        .baton(&["queue", "stats", "--format", "json"])
        .expect(0)
        .json();
    stats["states"]["done"].as_u64().unwrap_or(0)
}

#[test]
fn ten_kills_mid_drain_then_a_run_to_the_end_do_every_job_exactly_once() {
    let server = Server::start("127.0.0.4", |path| {
        let mut reply = Reply::content("application/pdf", body(index(path)));
        reply.delay = Some(Duration::from_millis(2));
        reply
    });
    let project = Project::new();
    project.write(
        "baton.toml",
        "[queue]\nresolvers = \"direct\"\naccept = \"application/pdf\"\n",
    );
    project.import_urls((0..JOBS).map(|i| (format!("c{i}"), server.url(&format!("/a/{i}.pdf")))));
    let run = [
        "queue",
        "run",
        "--drain",
        "--workers",
        "16",
        "--max-per-host",
        "16",
    ];
    // After each kill: what was recorded done, and how many requests the server had seen.
    let mut snapshots: Vec<(HashSet<String>, usize)> = Vec::new();
    for kill in 0..KILLS {
        let mut child = project
            .command(&run)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Kill at a different point each time: after 150 to 600 more downloads.
        let target = done_count(&project) + 150 + (kill as u64 * 53) % 450;
        let deadline = Instant::now() + Duration::from_secs(60);
        while done_count(&project) < target.min(JOBS as u64 - 1) {
            assert!(Instant::now() < deadline, "kill {kill}: no progress");
            assert!(
                child.try_wait().unwrap().is_none(),
                "kill {kill}: the run ended before it was killed"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        snapshots.push((done_keys(&project), server.requests().len()));
    }
    let (last_done, _) = snapshots.last().unwrap();
    assert!(
        last_done.len() < JOBS,
        "every job was done before the last kill"
    );
    project.baton(&run).expect(0);

    // The store: every job done.
    let jobs = crate::common::jobs(&project);
    assert_eq!(jobs.len(), JOBS, "a job was lost");
    let mut sha: HashMap<String, String> = HashMap::new();
    for job in &jobs {
        let key = job["key"].as_str().unwrap().to_string();
        assert_eq!(job["state"], "done", "{job}");
        sha.insert(
            key,
            job["result"]["sha256"].as_str().unwrap_or("").to_string(),
        );
    }
    // The ledger: exactly one `done` per job.
    let done_events = crate::common::ledger_counts(&project, "done");
    for key in sha.keys() {
        assert_eq!(
            done_events.get(key),
            Some(&1),
            "{key} did not end exactly once"
        );
    }
    // The access log: every artifact fetched, and none after its job was recorded done.
    let requests = server.requests();
    let fetched: HashSet<usize> = requests.iter().map(|path| index(path)).collect();
    assert_eq!(fetched.len(), JOBS, "some artifacts were never fetched");
    for (done, seen) in &snapshots {
        for path in &requests[*seen..] {
            let key = format!("c{}", index(path));
            assert!(
                !done.contains(&key),
                "{key} was fetched again after it was recorded done"
            );
        }
    }
    // Every stored file is complete and has the right content.
    for (key, digest) in &sha {
        let i: usize = key.trim_start_matches('c').parse().unwrap();
        assert_eq!(digest, &hex::encode(Sha256::digest(body(i))), "{key}");
        let stored = project
            .path()
            .join(".baton/artifacts/sha256")
            .join(&digest[..2])
            .join(&digest[2..4])
            .join(digest);
        assert_eq!(std::fs::read(&stored).unwrap(), body(i), "{key}");
    }
    // The killed runs' partial downloads were swept.
    let tmp = project.path().join(".baton/artifacts/tmp");
    let leftovers: Vec<_> = std::fs::read_dir(&tmp)
        .map(|dirs| {
            dirs.flatten()
                .flat_map(|d| std::fs::read_dir(d.path()).into_iter().flatten().flatten())
                .map(|f| f.path())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        leftovers.is_empty(),
        "partial downloads left: {leftovers:?}"
    );
}
