//! Data safety when the environment fails, through the real binary: a full disk or an
//! unwritable artifact directory stops the run and costs no attempts; a damaged database
//! and an unusable state directory are refused by name with the remedy.

use crate::common::Project;
use crate::common::fixture::{Reply, Server};
use std::os::unix::process::CommandExt;

/// A PDF of `size` bytes.
fn pdf_of(size: usize) -> Vec<u8> {
    let mut body = b"%PDF-1.7\n".to_vec();
    body.resize(size, b'x');
    body
}

/// A project whose queue downloads `count` PDFs of `size` bytes from `server`.
fn download_queue(project: &Project, server: &Server, count: usize) {
    project.write(
        "baton.toml",
        "[queue]\nresolvers = \"direct\"\naccept = \"application/pdf\"\nmax-attempts = 2\nmax-size = \"256MiB\"\nbackoff = \"50ms\"\n",
    );
    project.import_urls((0..count).map(|i| (format!("f{i}"), server.url(&format!("/{i}.pdf")))));
}

/// Makes every file `command` writes fail past `limit` bytes (EFBIG), the way a full file
/// system fails a write (ENOSPC), without the process being killed for it.
fn limit_file_size(command: &mut std::process::Command, limit: u64) {
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        command.pre_exec(move || {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let limit = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Every job is queued with no attempt used, and none failed.
fn assert_untouched(project: &Project, count: usize) {
    let jobs = crate::common::jobs(project);
    assert_eq!(jobs.len(), count);
    for job in &jobs {
        assert_eq!(job["state"], "queued", "{job}");
        assert_eq!(job["attempts"], 0, "an attempt was used: {job}");
    }
}

#[test]
fn a_full_disk_stops_the_run_and_costs_no_attempts() {
    const LIMIT: u64 = 16 << 20;
    let server = Server::start("127.0.0.6", |_| {
        Reply::content("application/pdf", pdf_of(24 << 20))
    });
    let project = Project::new();
    download_queue(&project, &server, 40);
    // A file size limit stands in for a full disk: every write past it fails (EFBIG) the way
    // a full file system fails it (ENOSPC), and the process is not killed for it.
    let mut command = project.command(&["queue", "run", "--drain", "--workers", "4"]);
    limit_file_size(&mut command, LIMIT);
    let run = crate::common::Run(command.output().unwrap()).expect(30);
    let stderr = run.stderr();
    assert!(stderr.contains("File too large"), "{stderr}");
    assert!(stderr.contains(".baton/artifacts/tmp/"), "{stderr}");
    assert!(stderr.contains("without using an attempt"), "{stderr}");
    assert_eq!(
        stderr.matches("File too large").count(),
        1,
        "said more than once: {stderr}"
    );
    assert_untouched(&project, 40);
    // With room again, the same jobs finish on their first attempt.
    project
        .baton(&["queue", "run", "--drain", "--workers", "4"])
        .expect(0);
    for job in crate::common::jobs(&project) {
        assert_eq!(job["state"], "done", "{job}");
        assert_eq!(job["attempts"], 1, "{job}");
    }
}

#[test]
fn an_unwritable_artifact_directory_stops_the_run_naming_it() {
    let server = Server::start("127.0.0.6", |_| {
        Reply::content("application/pdf", pdf_of(1024))
    });
    let project = Project::new();
    download_queue(&project, &server, 20);
    // Root ignores permission bits, so make the directory impossible instead: a file where
    // the artifact directory belongs.
    project.write(".baton/artifacts", "not a directory\n");
    let run = project
        .baton(&["queue", "run", "--drain", "--workers", "4"])
        .expect(30);
    let stderr = run.stderr();
    assert!(stderr.contains(".baton/artifacts/tmp"), "{stderr}");
    assert!(stderr.contains("Not a directory"), "{stderr}");
    assert_untouched(&project, 20);
    assert_eq!(
        std::fs::read_to_string(project.path().join(".baton/artifacts")).unwrap(),
        "not a directory\n",
        "Baton changed a file it did not create"
    );
}

#[test]
fn a_damaged_database_is_refused_by_every_command_with_the_remedy() {
    let project = Project::new();
    project.write(
        "baton.toml",
        "[queue]\nresolvers = \"direct\"\n[pipeline]\nallow-commands = \"true\"\n",
    );
    project.write(
        "pipelines/p.toml",
        "[[stage]]\nid = \"s\"\ncommand = [\"true\"]\noutputs = []\n",
    );
    let lines: String = (0..3000)
        .map(|i| format!("{{\"id\": \"key-{i}\", \"url\": \"http://127.0.0.1:9/{i}\"}}\n"))
        .collect();
    project.write("artifacts.jsonl", &lines);
    project
        .baton(&["queue", "import", "artifacts.jsonl"])
        .expect(0);
    // Overwrite a page in the middle of the file, as a bad disk block would.
    let db = project.path().join(".baton/baton.db");
    let mut bytes = std::fs::read(&db).unwrap();
    let page = 4096;
    let middle = bytes.len() / page / 2 * page;
    bytes[middle..middle + page].fill(0xa5);
    std::fs::write(&db, &bytes).unwrap();
    for args in [
        &["queue", "stats"][..],
        &["queue", "list"],
        &["queue", "run", "--drain"],
        &["queue", "import", "artifacts.jsonl"],
        &["job", "show", "key-1"],
        &["queue", "retry-failed"],
        &["pipeline", "run", "p", "--dry-run"],
        &["pipeline", "run", "p"],
        &["hosts"],
    ] {
        let run = project.baton(args);
        let stderr = run.stderr();
        assert_eq!(run.code(), 30, "{args:?} was not refused: {stderr}");
        assert!(stderr.contains("is damaged"), "{args:?}: {stderr}");
        assert!(stderr.contains("baton.db"), "{args:?}: {stderr}");
        assert!(stderr.contains(".recover"), "{args:?}: {stderr}");
    }
    assert_eq!(
        std::fs::read(&db).unwrap(),
        bytes,
        "a command changed the damaged database"
    );
    // Not a database at all: refused the same way.
    std::fs::write(&db, vec![0x5a; 16384]).unwrap();
    let run = project.baton(&["queue", "stats"]).expect(30);
    assert!(run.stderr().contains("is damaged"), "{}", run.stderr());
}

#[test]
fn an_unusable_state_directory_is_named_with_its_cause() {
    let project = Project::new();
    project.write("baton.toml", "[queue]\nresolvers = \"direct\"\n");
    project.write(
        "artifacts.jsonl",
        "{\"id\": \"a\", \"url\": \"http://127.0.0.1:9/a\"}\n",
    );
    project.write(".baton", "a file where Baton's state directory belongs\n");
    for args in [
        &["queue", "import", "artifacts.jsonl"][..],
        &["queue", "stats"],
        &["queue", "run", "--drain"],
    ] {
        let run = project.baton(args);
        let stderr = run.stderr();
        assert_eq!(run.code(), 30, "{args:?}: {stderr}");
        assert!(stderr.contains(".baton"), "{args:?}: {stderr}");
        assert!(stderr.contains("not a directory"), "{args:?}: {stderr}");
    }
    // A database path that is a directory.
    let other = Project::new();
    other.write("baton.toml", "[queue]\nresolvers = \"direct\"\n");
    std::fs::create_dir_all(other.path().join(".baton/baton.db")).unwrap();
    // A setting that cannot work: refused as configuration (20) before anything runs.
    let run = other.baton(&["queue", "stats"]).expect(20);
    assert!(run.stderr().contains(".baton/baton.db"), "{}", run.stderr());
    assert!(run.stderr().contains("directory"), "{}", run.stderr());
}

#[test]
fn long_ids_fit_tables_and_over_long_ones_are_refused() {
    let project = Project::new();
    project.write("baton.toml", "[queue]\nresolvers = \"direct\"\n");
    let long = "m".repeat(2048);
    project.baton(&["queue", "enqueue", &long]).expect(0);
    let list = project.baton(&["queue", "list"]).expect(0);
    assert!(list.stdout().contains('…'), "{}", list.stdout());
    assert!(list.stdout().lines().all(|l| l.chars().count() < 400));
    project.baton(&["job", "show", &long]).expect(0);
    let json = project
        .baton(&["queue", "list", "--format", "json"])
        .expect(0)
        .json();
    assert_eq!(
        json["jobs"][0]["key"],
        long.as_str(),
        "JSON keeps the id whole"
    );
    let refused = project
        .baton(&["queue", "enqueue", &"m".repeat(2049)])
        .expect(20);
    assert!(
        refused.stderr().contains("the limit is 2048 bytes"),
        "{}",
        refused.stderr()
    );
}

#[test]
fn a_hostile_redirect_fails_once_and_leaves_every_view_usable() {
    let server = Server::start("127.0.0.6", |_| {
        Reply::redirect(&format!("http://127.0.0.6/{}", "A".repeat(70_000)))
    });
    let project = Project::new();
    project.write(
        "baton.toml",
        "[queue]\nresolvers = \"direct\"\nmax-attempts = 5\n",
    );
    project
        .baton(&["queue", "enqueue", &server.url("/start")])
        .expect(0);
    project.baton(&["queue", "run", "--drain"]).expect(10);
    let jobs = crate::common::jobs(&project);
    assert_eq!(jobs[0]["state"], "failed", "{}", jobs[0]);
    assert_eq!(jobs[0]["attempts"], 1, "a URL that cannot work was retried");
    let error = jobs[0]["last_error"].as_str().unwrap();
    assert!(
        error.len() < 5000 && error.contains("bytes in all"),
        "{}",
        error.len()
    );
    let key = jobs[0]["key"].as_str().unwrap().to_string();
    let list = project.baton(&["queue", "list"]).expect(0);
    assert!(list.stdout().lines().all(|l| l.chars().count() < 1000));
    project.baton(&["job", "show", &key]).expect(0);
}

#[test]
fn a_store_restored_from_a_backup_never_reuses_ledger_numbers() {
    let project = Project::new();
    project.write("baton.toml", "[queue]\nresolvers = \"direct\"\n");
    project
        .baton(&["queue", "enqueue", "http://127.0.0.1:9/a"])
        .expect(0);
    let db = project.path().join(".baton/baton.db");
    let backup = project.path().join("backup.db");
    std::fs::copy(&db, &backup).unwrap();
    for id in ["b", "c", "d"] {
        project
            .baton(&["queue", "enqueue", &format!("http://127.0.0.1:9/{id}")])
            .expect(0);
    }
    // Restore the backup, as docs/operations.md advises for a damaged database.
    std::fs::copy(&backup, &db).unwrap();
    let _ = std::fs::remove_file(project.path().join(".baton/baton.db-wal"));
    project
        .baton(&["queue", "enqueue", "http://127.0.0.1:9/e"])
        .expect(0);
    let ledger = crate::common::ledger(&project);
    let seqs: Vec<i64> = ledger.iter().filter_map(|l| l["seq"].as_i64()).collect();
    let unique: std::collections::HashSet<i64> = seqs.iter().copied().collect();
    assert_eq!(seqs.len(), unique.len(), "a seq was used twice: {seqs:?}");
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert!(
        ledger.iter().any(|l| l["event"] == "store-behind-ledger"),
        "{ledger:?}"
    );
}

#[test]
fn a_command_stage_dies_with_the_run_that_started_it() {
    let project = Project::new();
    project.write("baton.toml", "[pipeline]\nallow-commands = \"true\"\n");
    // A marker no other process has in its command line.
    let marker = format!("{}.{}", 40 + std::process::id() % 50, std::process::id());
    project.write(
        "pipelines/p.toml",
        &format!(
            "[[stage]]\nid = \"s\"\ncommand = [\"sleep\", \"{marker}\"]\noutputs = [\"never\"]\n"
        ),
    );
    let sleeping = || {
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
            .any(|cmd| String::from_utf8_lossy(&cmd).contains(&marker))
    };
    let mut run = project
        .command(&["pipeline", "run", "p"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !sleeping() {
        assert!(
            std::time::Instant::now() < deadline,
            "the stage never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    run.kill().unwrap();
    run.wait().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while sleeping() {
        assert!(
            std::time::Instant::now() < deadline,
            "the stage's command outlived the killed run"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn a_store_that_refuses_writes_stops_the_run_once_and_costs_no_attempts() {
    const LIMIT: u64 = 256 << 10;
    let server = Server::start("127.0.0.6", |_| {
        Reply::content("application/pdf", pdf_of(200 << 10))
    });
    let project = Project::new();
    download_queue(&project, &server, 60);
    // The database's own write-ahead log outgrows the file size limit within a few jobs.
    let mut command = project.command(&["queue", "run", "--drain", "--workers", "4"]);
    limit_file_size(&mut command, LIMIT);
    let run = crate::common::Run(command.output().unwrap()).expect(30);
    let stderr = run.stderr();
    assert!(stderr.contains("run again"), "{stderr}");
    assert!(
        stderr.lines().count() <= 8,
        "more than one message: {stderr}"
    );
    // With room again every job ends on the attempt it should have had first.
    project
        .baton(&["queue", "run", "--drain", "--workers", "4"])
        .expect(0);
    for job in crate::common::jobs(&project) {
        assert_eq!(job["state"], "done", "{job}");
        assert_eq!(job["attempts"], 1, "an attempt was charged: {job}");
        assert_eq!(job["recoveries"], 0, "a recovery was charged: {job}");
    }
}
