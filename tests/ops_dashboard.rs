//! `baton dashboard` end to end: in a real terminal (a detached tmux session, keys sent with
//! `send-keys`, the screen read with `capture-pane -p`) it shows counts, a running job with
//! its holder, failures with their rerun command and the worker; `/` filters, `p` pauses,
//! Enter opens a job, `q` quits. `--refresh 0` prints once (tables or JSON) and exits.

use crate::common::fixture::{Reply, Server};
use crate::common::{Project, shared_cache};
use crate::ops_serve::Reaper;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Installs tmux with apt-get when it is missing (the test machines run as root).
fn ensure_tmux() {
    if Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        return;
    }
    let status = Command::new("sh")
        .args(["-c", "apt-get update -q && apt-get install -y -q tmux"])
        .status()
        .expect("run apt-get");
    assert!(
        status.success(),
        "tmux is missing and apt-get could not install it"
    );
}

/// A private tmux server (its own socket), killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn new(name: &str) -> Tmux {
        ensure_tmux();
        Tmux {
            socket: format!("baton-{name}-{}", std::process::id()),
        }
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("run tmux")
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "dash"]).stdout)
            .into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "dash"];
        args.extend_from_slice(keys);
        assert!(self.run(&args).status.success());
    }

    /// Waits until the screen satisfies `ok`; panics with the screen after 30 s.
    fn wait(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let screen = self.screen();
            if ok(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "the dashboard never showed {what}; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

/// A project with two failed jobs and one job a background `queue run` holds.
fn busy_project() -> (Project, Server, Reaper) {
    let server = Server::start("127.0.0.43", |path| {
        if path.starts_with("/slow") {
            let mut reply = Reply::content("application/pdf", b"%PDF-1.7\n%%EOF\n".to_vec());
            reply.delay = Some(Duration::from_secs(60));
            reply
        } else {
            Reply::json(404, "{}")
        }
    });
    let project = Project::new();
    project.write(
        "baton.toml",
        "[queue]\nresolvers = \"direct\"\naccept = \"application/pdf\"\n",
    );
    project.import_urls([
        ("gone-1".to_string(), server.url("/gone/1.pdf")),
        ("gone-2".to_string(), server.url("/gone/2.pdf")),
    ]);
    project.baton(&["queue", "run", "--drain"]).expect(10);
    project.import_urls([("slow".to_string(), server.url("/slow.pdf"))]);
    let child = Reaper(
        project
            .command(&["queue", "run", "--workers", "1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let show = project.baton(&["job", "show", "slow", "--format", "json"]);
        if show.json()["job"]["state"] == "running" {
            break;
        }
        assert!(Instant::now() < deadline, "the run never claimed slow");
        std::thread::sleep(Duration::from_millis(50));
    }
    (project, server, child)
}

#[test]
fn the_live_dashboard_shows_filters_pauses_and_opens_jobs_in_a_terminal() {
    let (project, _server, child) = busy_project();
    let tmux = Tmux::new("dash");
    let command = format!("{} dashboard --refresh 0.5", env!("CARGO_BIN_EXE_baton"));
    let cache = format!("BATON_CACHE_DIR={}", shared_cache().display());
    let started = tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "dash",
        "-x",
        "180",
        "-y",
        "50",
        "-c",
        project.path().to_str().unwrap(),
        "-e",
        &cache,
        &command,
    ]);
    assert!(started.status.success(), "{:?}", started);

    let screen = tmux.wait("the running job and the failures", |s| {
        s.contains("slow") && s.contains("baton job retry gone-1") && s.contains("working")
    });
    assert!(screen.contains("failed 2"), "{screen}");
    assert!(screen.contains("running 1"), "{screen}");
    assert!(
        screen.contains(&format!(":{}:", child.0.id())),
        "the holder: {screen}"
    );
    assert!(screen.contains("baton job retry gone-2"), "{screen}");

    // `/` filters the lists.
    tmux.keys(&["/"]);
    tmux.keys(&["-l", "gone-1"]);
    tmux.keys(&["Enter"]);
    let filtered = tmux.wait("the filter applied", |s| s.contains("filter: gone-1 "));
    assert!(filtered.contains("baton job retry gone-1"), "{filtered}");
    assert!(!filtered.contains("gone-2"), "{filtered}");

    // `p` pauses: the view stops refreshing.
    tmux.keys(&["p"]);
    tmux.wait("the pause", |s| s.contains("PAUSED"));
    project.baton(&["job", "retry", "gone-1"]).expect(0);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        tmux.screen().contains("baton job retry gone-1"),
        "a paused view refreshed"
    );
    tmux.keys(&["p"]);
    tmux.wait("the refresh after resuming", |s| {
        !s.contains("PAUSED") && !s.contains("baton job retry gone-1")
    });

    // Enter opens the selected job: Tab to the failures, clear the filter, open gone-2.
    tmux.keys(&["Escape"]);
    tmux.wait("the filter cleared", |s| s.contains("filter: (none)"));
    tmux.keys(&["Tab", "Tab"]);
    tmux.wait("the failures focused", |s| s.contains("▶ recent failures"));
    tmux.keys(&["Enter"]);
    let opened = tmux.wait("the job opened", |s| s.contains("job (Esc closes)"));
    assert!(opened.contains("id        gone-2"), "{opened}");
    assert!(opened.contains("state     failed"), "{opened}");
    tmux.keys(&["Escape"]);
    tmux.wait("the job closed", |s| !s.contains("job (Esc closes)"));

    tmux.keys(&["q"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while tmux.run(&["has-session", "-t", "dash"]).status.success() {
        assert!(
            Instant::now() < deadline,
            "q did not quit: {}",
            tmux.screen()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(child);
}

#[test]
fn refresh_zero_prints_one_snapshot_as_tables_or_json() {
    let (project, _server, child) = busy_project();
    let table = project
        .baton(&["dashboard", "--refresh", "0"])
        .expect(0)
        .stdout();
    for part in [
        "failed 2",
        "running",
        "slow",
        "baton job retry gone-1",
        "workers",
    ] {
        assert!(table.contains(part), "{part} missing:\n{table}");
    }
    let json = project
        .baton(&["dashboard", "--refresh", "0", "--format", "json"])
        .expect(0)
        .json();
    assert_eq!(json["counts"]["states"]["failed"], 2);
    assert_eq!(json["counts"]["kinds"]["resolve"]["running"], 1);
    assert_eq!(json["running"][0]["key"], "slow");
    assert!(
        json["running"][0]["holder"]
            .as_str()
            .unwrap()
            .contains(&format!(":{}:", child.0.id()))
    );
    assert_eq!(json["failures"].as_array().unwrap().len(), 2);
    assert_eq!(json["workers"][0]["state"], "working");
    assert!(json["store_ms"].as_f64().unwrap() >= 0.0);
    let filtered = project
        .baton(&[
            "dashboard",
            "--refresh",
            "0",
            "--filter",
            "gone-2",
            "--format",
            "json",
        ])
        .expect(0)
        .json();
    assert_eq!(filtered["failures"].as_array().unwrap().len(), 1);
    assert_eq!(filtered["running"].as_array().unwrap().len(), 0);
    let compact = project
        .baton(&["dashboard", "--refresh", "0", "--compact"])
        .expect(0)
        .stdout();
    assert!(!compact.contains("workers"), "{compact}");
    let bad = project.baton(&["dashboard", "--refresh=-1"]).expect(20);
    assert!(bad.stderr().contains("--refresh"), "{}", bad.stderr());
    let live_json = project.baton(&["dashboard", "--format", "json"]).expect(20);
    assert!(
        live_json.stdout().contains("--refresh 0"),
        "{}",
        live_json.stdout()
    );
    drop(child);
}
