//! A private PostgreSQL server for tests, started once per test process and stopped when it
//! exits. [`server`] starts it on first use: it finds Debian's server programs under
//! `/usr/lib/postgresql/VERSION/bin` (the newest version), installing the `postgresql`
//! package with apt-get when they are missing (as root; otherwise it panics saying what to
//! install), runs `initdb` into a fresh temporary directory (as the `postgres` system user,
//! or `nobody`, when the tests run as root), and starts `postgres` listening on 127.0.0.1
//! on a free port and on a unix socket in that directory, with trust authentication,
//! `max_connections = 200` and PostgreSQL's default durability (`fsync` on).
//!
//! Nothing outlives the test process: an `atexit` handler stops the server (immediate
//! shutdown, waiting for it) and removes its directory, the server is started with a
//! parent-death signal in case the process is killed, and servers left by killed test
//! processes are stopped and removed by the next start. Each test takes its own database
//! with [`PgServer::url_for_new_database`].

use postgres::{Client, NoTls};
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The superuser `initdb` creates (trust authentication: no password).
pub const SUPERUSER: &str = "postgres";
/// The server's `max_connections`.
pub const MAX_CONNECTIONS: u32 = 200;
/// How long the server may take to accept connections before the start fails.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Temporary directories of the servers are named `PREFIX-PID-...` under the temp dir.
const PREFIX: &str = "baton-test-pg";

/// A running private server.
pub struct PgServer {
    root: PathBuf,
    port: u16,
    admin: Mutex<Client>,
    databases: AtomicUsize,
}

static SERVER: OnceLock<PgServer> = OnceLock::new();
/// The postmaster's pid (0: none), for the exit handler.
static POSTMASTER: AtomicI32 = AtomicI32::new(0);
/// The server's directory, for the exit handler.
static ROOT: OnceLock<PathBuf> = OnceLock::new();

/// The test process's server, started on first use.
pub fn server() -> &'static PgServer {
    SERVER.get_or_init(start)
}

impl PgServer {
    /// The TCP port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory holding its unix socket (`.s.PGSQL.PORT`).
    pub fn socket_dir(&self) -> &Path {
        &self.root
    }

    /// The URL of database `name` over TCP.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{name}", self.port)
    }

    /// Runs `sql` as the superuser and returns how many rows it gave (e.g. how many
    /// backends `pg_terminate_backend` ended).
    pub fn query(&self, sql: &str) -> usize {
        let mut admin = self.admin.lock().unwrap_or_else(|p| p.into_inner());
        match admin.query(sql, &[]) {
            Ok(rows) => rows.len(),
            Err(e) => panic!("{sql}: {e:?}"),
        }
    }

    /// Creates a database no other test uses and returns its URL.
    pub fn url_for_new_database(&self) -> String {
        let n = self.databases.fetch_add(1, Ordering::Relaxed);
        let name = format!("baton_test_{}_{n}", std::process::id());
        let mut admin = self.admin.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = admin.batch_execute(&format!("CREATE DATABASE {name}")) {
            panic!("cannot create the test database {name}: {e:?}");
        }
        self.url(&name)
    }
}

/// Where the programs are, and who runs them.
struct Setup {
    bin: PathBuf,
    /// `(uid, gid)` to run as when the tests run as root.
    user: Option<(u32, u32)>,
}

fn start() -> PgServer {
    let bin = match find_bin() {
        Some(bin) => bin,
        None => {
            install();
            find_bin().unwrap_or_else(|| {
                panic!("apt-get installed postgresql, but no /usr/lib/postgresql/*/bin/initdb")
            })
        }
    };
    sweep_stale();
    let setup = Setup {
        bin,
        user: run_as(),
    };
    let root = std::env::temp_dir().join(format!(
        "{PREFIX}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    std::fs::create_dir_all(&root)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", root.display()));
    std::fs::write(root.join("owner.pid"), std::process::id().to_string())
        .unwrap_or_else(|e| panic!("cannot write in {}: {e}", root.display()));
    let _ = ROOT.set(root.clone());
    // SAFETY: registering a plain `extern "C" fn` with libc's atexit.
    unsafe {
        libc::atexit(stop_at_exit);
    }
    if let Some((uid, gid)) = setup.user {
        std::os::unix::fs::chown(&root, Some(uid), Some(gid))
            .unwrap_or_else(|e| panic!("cannot hand {} to uid {uid}: {e}", root.display()));
    }
    initdb(&setup, &root);
    let mut last_log = String::new();
    for _ in 0..3 {
        let port = free_port();
        match launch(&setup, &root, port) {
            Ok(admin) => {
                return PgServer {
                    root,
                    port,
                    admin: Mutex::new(admin),
                    databases: AtomicUsize::new(0),
                };
            }
            // Most likely the port was taken meanwhile: try another.
            Err(log) => last_log = log,
        }
    }
    panic!("the test PostgreSQL server did not start; its log:\n{last_log}");
}

/// The newest `/usr/lib/postgresql/VERSION/bin` holding `initdb`, `pg_ctl` and `postgres`.
fn find_bin() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            ["initdb", "pg_ctl", "postgres"]
                .iter()
                .all(|p| bin.join(p).is_file())
                .then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Installs Debian's `postgresql` package (as root), one test process at a time, and stops
/// the clusters the package's scripts started.
fn install() {
    if !is_root() {
        panic!(
            "the tests need PostgreSQL's server programs (/usr/lib/postgresql/*/bin/initdb) and \
             are not running as root to install them: run `sudo apt-get install -y postgresql`"
        );
    }
    let lock_path = std::env::temp_dir().join(format!("{PREFIX}-install.lock"));
    let lock = File::create(&lock_path)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", lock_path.display()));
    lock.lock()
        .unwrap_or_else(|e| panic!("cannot lock {}: {e}", lock_path.display()));
    if find_bin().is_some() {
        return;
    }
    for args in [
        &["update", "-qq"][..],
        &["install", "-y", "-qq", "postgresql"][..],
    ] {
        let output = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run apt-get to install postgresql: {e}"));
        if !output.status.success() {
            panic!(
                "`apt-get {}` failed ({}); install postgresql by hand:\n{}{}",
                args.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
    // The package may have started its default cluster: the tests use their own server.
    if let Ok(output) = Command::new("pg_lsclusters").arg("--no-header").output() {
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() >= 4 && fields[3] == "online" {
                let _ = Command::new("pg_ctlcluster")
                    .args([fields[0], fields[1], "stop"])
                    .status();
            }
        }
    }
}

/// The unprivileged user to run the server as when the tests run as root.
fn run_as() -> Option<(u32, u32)> {
    if !is_root() {
        return None;
    }
    for name in [c"postgres", c"nobody"] {
        // SAFETY: getpwnam with a valid C string; the record is copied out at once.
        let entry = unsafe { libc::getpwnam(name.as_ptr()) };
        if !entry.is_null() {
            // SAFETY: non-null records returned by getpwnam are valid.
            let (uid, gid) = unsafe { ((*entry).pw_uid, (*entry).pw_gid) };
            return Some((uid, gid));
        }
    }
    panic!(
        "the tests run as root and there is neither a `postgres` nor a `nobody` user to run PostgreSQL as"
    );
}

/// A command that runs as `setup.user` (when set) in `root`.
fn command(setup: &Setup, program: &str, root: &Path, parent_death: bool) -> Command {
    let mut command = Command::new(setup.bin.join(program));
    command.current_dir(root).stdin(Stdio::null());
    let user = setup.user;
    // SAFETY: the closure only makes async-signal-safe system calls.
    unsafe {
        command.pre_exec(move || {
            if let Some((uid, gid)) = user
                && (libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setgid(gid) != 0
                    || libc::setuid(uid) != 0)
            {
                return Err(std::io::Error::last_os_error());
            }
            // After the setuid, which clears it: the server dies with the thread that
            // started it (a thread kept for the process's lifetime).
            if parent_death && libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGQUIT) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command
}

fn initdb(setup: &Setup, root: &Path) {
    let data = root.join("data");
    let output = command(setup, "initdb", root, false)
        .arg("-D")
        .arg(&data)
        .args([
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ])
        .output()
        .unwrap_or_else(|e| panic!("cannot run initdb from {}: {e}", setup.bin.display()));
    if !output.status.success() {
        panic!(
            "initdb failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("cannot find a free port on 127.0.0.1: {e}"))
}

/// Starts the server on `port` and waits until it accepts a connection; returns that
/// connection, or the server's log when it did not come up.
fn launch(setup: &Setup, root: &Path, port: u16) -> Result<Client, String> {
    let log_path = root.join(format!("server-{port}.log"));
    let log = File::create(&log_path)
        .map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
    let log_err = log
        .try_clone()
        .map_err(|e| format!("cannot open {}: {e}", log_path.display()))?;
    let mut command = command(setup, "postgres", root, true);
    command
        .arg("-D")
        .arg(root.join("data"))
        .args(["-c", &format!("port={port}")])
        .args(["-c", "listen_addresses=127.0.0.1"])
        .arg("-c")
        .arg(format!("unix_socket_directories={}", root.display()))
        .args(["-c", &format!("max_connections={MAX_CONNECTIONS}")])
        .args(["-c", "logging_collector=off"])
        .stdout(log)
        .stderr(log_err);
    // The parent-death signal fires when the spawning *thread* ends: spawn from a thread
    // that lives as long as the process.
    let (sent, received) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("test-postgres".into())
        .spawn(move || {
            let child = command.spawn();
            let failed = child.is_err();
            let _ = sent.send(child.map(|c| c.id()));
            if !failed {
                loop {
                    std::thread::park();
                }
            }
        })
        .map_err(|e| format!("cannot start a thread: {e}"))?;
    let pid = received
        .recv()
        .map_err(|e| format!("the server's thread ended: {e}"))?
        .map_err(|e| format!("cannot run {}: {e}", setup.bin.join("postgres").display()))?;
    let pid = pid as i32;
    POSTMASTER.store(pid, Ordering::SeqCst);
    let url = format!("postgres://{SUPERUSER}@127.0.0.1:{port}/postgres");
    let deadline = Instant::now() + START_TIMEOUT;
    let read_log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    loop {
        if let Ok(client) = Client::connect(&url, NoTls) {
            return Ok(client);
        }
        if exited(pid) {
            POSTMASTER.store(0, Ordering::SeqCst);
            return Err(read_log());
        }
        if Instant::now() > deadline {
            stop(pid);
            return Err(format!(
                "not accepting connections after {START_TIMEOUT:?}\n{}",
                read_log()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether our child `pid` has exited (reaping it).
fn exited(pid: i32) -> bool {
    let mut status = 0;
    // SAFETY: waitpid on our own child with a valid out pointer.
    let reaped = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
    reaped == pid || reaped == -1
}

/// Stops our child postmaster `pid` (immediate shutdown; its backends go with it) and waits.
fn stop(pid: i32) {
    // SAFETY: signalling our own child.
    unsafe {
        libc::kill(pid, libc::SIGQUIT);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !exited(pid) {
        if Instant::now() > deadline {
            // SAFETY: as above.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
            let mut status = 0;
            // SAFETY: waitpid on our own child with a valid out pointer.
            unsafe {
                libc::waitpid(pid, &mut status, 0);
            }
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

extern "C" fn stop_at_exit() {
    let pid = POSTMASTER.swap(0, Ordering::SeqCst);
    if pid > 0 {
        stop(pid);
    }
    if let Some(root) = ROOT.get() {
        let _ = std::fs::remove_dir_all(root);
    }
}

/// Whether process `pid` exists.
fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    pid > 0 && unsafe { libc::kill(pid, 0) } == 0
}

/// Stops and removes the servers of test processes that no longer run (killed before their
/// exit handler).
fn sweep_stale() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let dir = entry.path();
        if !name.starts_with(&format!("{PREFIX}-")) || !dir.is_dir() {
            continue;
        }
        let owner: i32 = std::fs::read_to_string(dir.join("owner.pid"))
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0);
        if owner == 0 || alive(owner) {
            continue;
        }
        let postmaster: i32 = std::fs::read_to_string(dir.join("data/postmaster.pid"))
            .ok()
            .and_then(|t| t.lines().next().and_then(|l| l.trim().parse().ok()))
            .unwrap_or(0);
        if alive(postmaster) {
            // SAFETY: signalling a leftover postmaster (not our child: polled, not waited).
            unsafe {
                libc::kill(postmaster, libc::SIGQUIT);
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            while alive(postmaster) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
