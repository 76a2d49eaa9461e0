//! Shared test support: the real `baton` binary in an isolated project directory, the built
//! plugins, and a small HTTP fixture server on loopback addresses.
#![allow(dead_code)]

pub mod double;
pub mod fixture;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The directory the build script compiled the plugins into.
pub fn plugin(name: &str) -> PathBuf {
    // Libraries are named with `_`, binaries keep their `-`.
    let dir = Path::new(baton_bundled::PLUGIN_DIR);
    [name.replace('-', "_"), name.to_string()]
        .iter()
        .map(|stem| dir.join(format!("{stem}.wasm")))
        .find(|path| path.is_file())
        .unwrap_or_else(|| panic!("plugin {name} was not built in {}", dir.display()))
}

/// Compiled plugins are cached here across tests, so each is compiled once per run.
pub fn shared_cache() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("plugin-cache")
}

/// What the harness grants the downloader: the fixture servers live on loopback, which the
/// default egress policy refuses, so every project but a [`Project::strict`] one runs with
/// `BATON_ALLOW_ADDRESSES` set to this (a project's `baton.toml` still beats it).
pub const FIXTURE_ADDRESSES: &str = "127.0.0.0/8";

/// A project directory with its own `.baton/`.
pub struct Project {
    pub dir: tempfile::TempDir,
    /// Whether `baton` runs with the loopback grant ([`FIXTURE_ADDRESSES`]).
    grant_loopback: bool,
}

impl Project {
    /// A project whose downloads may reach the fixture servers on 127.0.0.0/8.
    pub fn new() -> Project {
        Project {
            dir: tempfile::tempdir().expect("temp dir"),
            grant_loopback: true,
        }
    }

    /// A project with Baton's default egress policy: public addresses only.
    pub fn strict() -> Project {
        Project {
            grant_loopback: false,
            ..Project::new()
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, text).unwrap();
        path
    }

    /// `baton ARGS` in this project, with a clean BATON_* environment, the shared compile
    /// cache and, unless [`Project::strict`], the loopback grant; to spawn or adjust.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_baton"));
        command.current_dir(self.path()).args(args);
        for (key, _) in std::env::vars() {
            if key.starts_with("BATON_") {
                command.env_remove(key);
            }
        }
        command.env("BATON_CACHE_DIR", shared_cache());
        if self.grant_loopback {
            command.env("BATON_ALLOW_ADDRESSES", FIXTURE_ADDRESSES);
        }
        command
    }

    /// Imports one job per `(id, url)` into the queue, through `baton queue import`.
    pub fn import_urls(&self, jobs: impl IntoIterator<Item = (String, String)>) {
        let lines: String = jobs
            .into_iter()
            .map(|(id, url)| format!("{}\n", serde_json::json!({"id": id, "url": url})))
            .collect();
        self.write("artifacts.jsonl", &lines);
        self.baton(&["queue", "import", "artifacts.jsonl"])
            .expect(0);
    }

    /// `baton ARGS` in this project (see [`Project::command`]), run to its end.
    pub fn baton(&self, args: &[&str]) -> Run {
        Run(self.command(args).output().expect("run baton"))
    }
}

/// The output of one run of the binary.
pub struct Run(pub Output);

impl Run {
    pub fn code(&self) -> i32 {
        self.0.status.code().unwrap_or(-1)
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout()).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout(),
                self.stderr()
            )
        })
    }

    /// Asserts the exit code, showing the output when it differs.
    pub fn expect(self, code: i32) -> Run {
        assert_eq!(
            self.code(),
            code,
            "unexpected exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout(),
            self.stderr()
        );
        self
    }
}

/// Every ledger line of a project (`.baton/ledger/*.jsonl`, oldest day first): the journal
/// users read, written by the store as each change commits.
pub fn ledger(project: &Project) -> Vec<serde_json::Value> {
    let dir = project.path().join(".baton/ledger");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files
        .iter()
        .flat_map(|file| {
            std::fs::read_to_string(file)
                .unwrap_or_default()
                .lines()
                .map(|line| {
                    serde_json::from_str(line).unwrap_or_else(|e| {
                        panic!("bad ledger line in {}: {e}: {line}", file.display())
                    })
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// How many ledger lines of `event` each job key has.
pub fn ledger_counts(project: &Project, event: &str) -> std::collections::HashMap<String, usize> {
    let mut counts = std::collections::HashMap::new();
    for line in ledger(project) {
        if line["event"] == event
            && let Some(key) = line["job"].as_str()
        {
            *counts.entry(key.to_string()).or_insert(0) += 1;
        }
    }
    counts
}

/// Every job of a project, as `baton queue list --format json` reports it.
pub fn jobs(project: &Project) -> Vec<serde_json::Value> {
    let run = project.baton(&["queue", "list", "--limit", "10000000", "--format", "json"]);
    assert_eq!(run.code(), 0, "queue list failed: {}", run.stderr());
    run.json()["jobs"].as_array().cloned().unwrap_or_default()
}

/// The ids of the project's pipeline runs (`.baton/runs/<id>.jsonl`), oldest first.
pub fn run_ids(project: &Project) -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_dir(project.path().join(".baton/runs"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_string_lossy()
                .strip_suffix(".jsonl")
                .map(String::from)
        })
        .collect();
    ids.sort();
    ids
}
