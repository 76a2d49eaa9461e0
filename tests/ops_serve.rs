//! `baton serve` end to end in a real headless Chromium (Debian's chromium and
//! chromium-driver, installed when missing), driven through WebDriver's HTTP protocol on
//! loopback: the page loads and shows a running job, a click on Retry takes effect (checked
//! through the CLI), the job page shows the job; `/metrics` parses under a strict check of
//! the exposition format; a read-only server, a wrong token, a loose token file and a foreign
//! `Host` are refused.

use crate::common::Project;
use crate::common::fixture::{Reply, Server};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const TOKEN: &str = "0123456789abcdef-test-token";

/// One HTTP/1.1 request on loopback; returns the status and the body.
fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).unwrap();
    // Read the head, then exactly the body (servers may keep the connection open).
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let lower = head.to_ascii_lowercase();
    let length = lower
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    let body = if let Some(length) = length {
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        String::from_utf8_lossy(&body).into_owned()
    } else if lower.contains("transfer-encoding: chunked") {
        let mut body = String::new();
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).unwrap();
            let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if size == 0 {
                break;
            }
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).unwrap();
            body.push_str(&String::from_utf8_lossy(&chunk[..size]));
        }
        body
    } else {
        let mut body = String::new();
        reader.read_to_string(&mut body).unwrap();
        body
    };
    (status, body)
}

/// A child process killed when dropped (a failing test leaves nothing running).
pub struct Reaper(pub Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Installs Debian's chromium and chromium-driver when missing (the machines run as root).
fn ensure_chromium() {
    if std::path::Path::new("/usr/bin/chromedriver").exists()
        && std::path::Path::new("/usr/bin/chromium").exists()
    {
        return;
    }
    let status = Command::new("sh")
        .args([
            "-c",
            "apt-get update -q && apt-get install -y -q chromium chromium-driver",
        ])
        .status()
        .expect("run apt-get");
    assert!(
        status.success(),
        "chromium is missing and apt-get could not install it"
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A chromedriver process and one headless Chromium session, ended when dropped.
struct Browser {
    driver: Child,
    port: u16,
    session: String,
}

impl Browser {
    fn start() -> Browser {
        ensure_chromium();
        let port = free_port();
        let driver = Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let mut browser = Browser {
            driver,
            port,
            session: String::new(),
        };
        let created = browser.call(
            "POST",
            "/session",
            json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": "/usr/bin/chromium",
                    "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                             "--disable-dev-shm-usage", "--window-size=1400,1000"]
                }
            }}}),
        );
        browser.session = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"))
            .to_string();
        browser
    }

    /// A WebDriver command; returns its `value`.
    fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let body = if method == "GET" {
            String::new()
        } else {
            body.to_string()
        };
        let (status, text) = http(
            self.port,
            method,
            path,
            &[("Content-Type", "application/json")],
            &body,
        );
        let reply: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}: {status} {text}"));
        assert_eq!(status, 200, "{method} {path}: {reply}");
        reply["value"].clone()
    }

    fn session(&self, method: &str, path: &str, body: Value) -> Value {
        self.call(method, &format!("/session/{}{path}", self.session), body)
    }

    fn open(&self, url: &str) {
        self.session("POST", "/url", json!({"url": url}));
    }

    fn script(&self, script: &str) -> Value {
        self.session(
            "POST",
            "/execute/sync",
            json!({"script": script, "args": []}),
        )
    }

    /// The text of the first element matching `css` (empty when none).
    fn text(&self, css: &str) -> String {
        let script = format!(
            "const e = document.querySelector({}); return e ? e.innerText : '';",
            json!(css)
        );
        self.script(&script)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Waits until the text of `css` satisfies `ok`.
    fn wait(&self, css: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = self.text(css);
            if ok(&text) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "{css} never showed what was expected; it shows:\n{text}\nthe page:\n{}",
                self.text("body")
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn click(&self, css: &str) {
        let found = self.session(
            "POST",
            "/element",
            json!({"using": "css selector", "value": css}),
        );
        let id = found["element-6066-11e4-a52e-4f735466cecf"]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {found}"))
            .to_string();
        self.session("POST", &format!("/element/{id}/click"), json!({}));
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = http(
                self.port,
                "DELETE",
                &format!("/session/{}", self.session),
                &[],
                "",
            );
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// `baton serve` on a free loopback port; returns the process and its port.
fn serve(project: &Project, extra: &[&str]) -> (Reaper, u16) {
    let mut args = vec!["serve", "--listen", "127.0.0.1:0", "--format", "json"];
    args.extend_from_slice(extra);
    let mut child = project
        .command(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    // The first document on stdout (pretty JSON) says where it listens.
    let mut line = String::new();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    while !line.ends_with("}\n") {
        assert!(out.read_line(&mut line).unwrap() > 0, "serve ended: {line}");
    }
    let started: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    let port = started["listening"]
        .as_str()
        .and_then(|a| a.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .expect("a port");
    (Reaper(child), port)
}

fn job_state(project: &Project, key: &str) -> String {
    project
        .baton(&["job", "show", key, "--format", "json"])
        .expect(0)
        .json()["job"]["state"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Checks the exposition text strictly: HELP and TYPE lines, samples of declared families
/// with well-formed names, labels and values, histogram buckets that grow up to `+Inf` equal
/// to `_count`, and `# EOF` last. Returns sample name with labels → value.
fn parse_metrics(text: &str) -> std::collections::BTreeMap<String, f64> {
    let mut types = std::collections::BTreeMap::new();
    let mut samples = std::collections::BTreeMap::new();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.last(), Some(&"# EOF"), "the text must end with # EOF");
    let name_ok = |name: &str| {
        !name.is_empty()
            && name.chars().enumerate().all(|(i, c)| {
                c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
            })
    };
    for line in &lines[..lines.len() - 1] {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap();
            assert!(name_ok(name), "bad HELP line: {line}");
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            let (name, kind) = (parts.next().unwrap(), parts.next().unwrap_or(""));
            assert!(name_ok(name), "bad TYPE line: {line}");
            assert!(
                [
                    "counter",
                    "gauge",
                    "histogram",
                    "summary",
                    "unknown",
                    "info",
                    "stateset",
                    "gaugehistogram"
                ]
                .contains(&kind),
                "bad type: {line}"
            );
            types.insert(name.to_string(), kind.to_string());
        } else {
            assert!(!line.starts_with('#'), "unexpected comment: {line}");
            let (series, value) = line
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("no value: {line}"));
            let value: f64 = match value {
                "+Inf" => f64::INFINITY,
                v => v.parse().unwrap_or_else(|_| panic!("bad value: {line}")),
            };
            let name = series.split('{').next().unwrap();
            assert!(name_ok(name), "bad metric name: {line}");
            if let Some(labels) = series.strip_prefix(name).filter(|l| !l.is_empty()) {
                let inner = labels
                    .strip_prefix('{')
                    .and_then(|l| l.strip_suffix('}'))
                    .unwrap_or_else(|| panic!("bad labels: {line}"));
                for pair in inner.split("\",").filter(|p| !p.is_empty()) {
                    let (key, quoted) = pair
                        .split_once("=\"")
                        .unwrap_or_else(|| panic!("bad label: {line}"));
                    assert!(name_ok(key), "bad label name: {line}");
                    assert!(
                        !quoted.trim_end_matches('"').contains('"'),
                        "unescaped quote: {line}"
                    );
                }
            }
            let family = ["_bucket", "_count", "_sum", "_total", "_created"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix).filter(|f| types.contains_key(*f)))
                .unwrap_or(name);
            assert!(
                types.contains_key(family),
                "a sample of an undeclared family: {line}"
            );
            samples.insert(series.to_string(), value);
        }
    }
    // Histograms: buckets never shrink and +Inf equals _count, per label set.
    let parsed: Vec<(String, std::collections::BTreeMap<String, String>, f64)> = samples
        .iter()
        .map(|(series, value)| {
            let (name, labels) = series.split_once('{').unwrap_or((series, "}"));
            let labels = labels
                .trim_end_matches('}')
                .split("\",")
                .filter(|p| !p.is_empty())
                .map(|pair| {
                    let (k, v) = pair.split_once("=\"").unwrap();
                    (k.to_string(), v.trim_end_matches('"').to_string())
                })
                .collect();
            (name.to_string(), labels, *value)
        })
        .collect();
    for (family, kind) in &types {
        if kind != "histogram" {
            continue;
        }
        let mut by_labels: std::collections::BTreeMap<String, Vec<(f64, f64)>> = Default::default();
        for (name, labels, value) in &parsed {
            if name == &format!("{family}_bucket") {
                let mut others = labels.clone();
                let le = others.remove("le").expect("a bucket without le");
                let le = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().unwrap()
                };
                by_labels
                    .entry(format!("{others:?}"))
                    .or_default()
                    .push((le, *value));
            }
        }
        for (others, mut buckets) in by_labels {
            buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
            assert!(
                buckets.windows(2).all(|w| w[0].1 <= w[1].1),
                "{family} buckets shrink"
            );
            let inf = buckets.last().unwrap();
            assert!(inf.0.is_infinite(), "{family} has no +Inf bucket");
            let count = parsed
                .iter()
                .find(|(name, labels, _)| {
                    name == &format!("{family}_count") && format!("{labels:?}") == others
                })
                .map(|(_, _, v)| *v);
            assert_eq!(count, Some(inf.1), "{family} {others}: +Inf != _count");
        }
    }
    samples
}

#[test]
fn the_web_dashboard_shows_a_running_job_and_a_retry_click_takes_effect() {
    let slow_requests = Arc::new(AtomicUsize::new(0));
    let counter = slow_requests.clone();
    let server = Server::start("127.0.0.44", move |path| {
        if path.starts_with("/slow") {
            let mut reply = Reply::content("application/pdf", b"%PDF-1.7\n%%EOF\n".to_vec());
            // The first fetch hangs (its worker is killed); a later one answers at once.
            if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                reply.delay = Some(Duration::from_secs(600));
            }
            reply
        } else {
            Reply::json(404, "{}")
        }
    });
    let project = Project::new();
    // The hanging fetch must outlast starting the server and the browser on a loaded
    // machine (the default read timeout, 30 s, would retry it and finish the job early).
    // It answers after 600 s, within the 900 s read timeout set here.
    project.write(
        "baton.toml",
        "[queue]\nresolvers = \"direct\"\naccept = \"application/pdf\"\nread-timeout = \"900s\"\n",
    );
    project.import_urls([("gone-1".to_string(), server.url("/gone/1.pdf"))]);
    project.baton(&["queue", "run", "--drain"]).expect(10);
    project.import_urls([("slow".to_string(), server.url("/slow.pdf"))]);
    let holder = Reaper(
        project
            .command(&["queue", "run", "--workers", "1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let token = project.write("admin.token", &format!("{TOKEN}\n"));
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (served, port) = serve(
        &project,
        &[
            "--admin-token-file",
            "admin.token",
            "--admin-token-name",
            "ops",
        ],
    );

    let browser = Browser::start();
    browser.open(&format!("http://127.0.0.1:{port}/"));
    let running = browser.wait("#running", |t| t.contains("slow"));
    assert!(
        running.contains(&format!(":{}:", holder.0.id())),
        "the holder: {running}"
    );
    assert!(browser.text("#mode").contains("admin actions enabled"));
    let failures = browser.wait("#failures", |t| t.contains("gone-1"));
    assert!(failures.contains("baton job retry gone-1"), "{failures}");

    // The token goes in this tab's sessionStorage (as the page's prompt would put it).
    browser.script(&format!(
        "sessionStorage.setItem('baton-admin-token', {});",
        json!(TOKEN)
    ));
    browser.click("#failures button");
    let result = browser.wait("#result", |t| !t.is_empty());
    assert!(result.contains("retry: 1 of 1 changed"), "{result}");
    assert_eq!(
        job_state(&project, "gone-1"),
        "queued",
        "the click did not retry the job"
    );
    browser.wait("#failures", |t| !t.contains("gone-1"));

    // The job page: fields, payload, attempts and ledger events.
    browser.open(&format!("http://127.0.0.1:{port}/job?key=gone-1"));
    let fields = browser.wait("#fields", |t| t.contains("queued"));
    assert!(fields.contains("retried by hand"), "{fields}");
    assert!(browser.text("#payload").contains("/gone/1.pdf"));
    assert!(
        browser
            .wait("#events", |t| t.contains("\"retry\""))
            .contains("\"failed\"")
    );
    assert!(browser.text("#attempts").contains("failed"));
    // Its log file, as `baton job show` names it: the fetch that failed is in it.
    let log = browser.text("#log");
    assert!(!log.contains("no log for this job"), "{log}");
    assert!(log.contains("gone/1.pdf") || log.contains("404"), "{log}");

    // Some work after the server started, for the metrics: the holder dies, a new run
    // recovers its job (done on the second fetch) and fails gone-1 again.
    drop(holder);
    project.baton(&["queue", "run", "--drain"]).expect(10);
    let (status, text) = http(port, "GET", "/metrics", &[], "");
    assert_eq!(status, 200);
    let samples = parse_metrics(&text);
    assert_eq!(
        samples.get("baton_jobs{state=\"done\",kind=\"resolve\"}"),
        Some(&1.0),
        "{text}"
    );
    assert_eq!(
        samples.get("baton_jobs{state=\"failed\",kind=\"resolve\"}"),
        Some(&1.0)
    );
    assert_eq!(
        samples.get("baton_jobs_finished_total{outcome=\"done\"}"),
        Some(&1.0),
        "{text}"
    );
    assert_eq!(
        samples.get("baton_jobs_finished_total{outcome=\"failed\"}"),
        Some(&1.0)
    );
    // The two claims of the final drain, and the holder's own when it claimed after the
    // server started.
    let waits = samples["baton_queue_wait_seconds_count"];
    assert!((2.0..=3.0).contains(&waits), "{text}");
    assert_eq!(
        samples.get("baton_run_duration_seconds_count{outcome=\"done\"}"),
        Some(&1.0),
        "{text}"
    );

    let audit = std::fs::read_dir(project.path().join(".baton/audit"))
        .unwrap()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect::<String>();
    let line: Value = serde_json::from_str(audit.lines().next().unwrap()).unwrap();
    assert_eq!(line["who"], "token:ops");
    assert_eq!(line["what"], "dashboard.retry");
    assert_eq!(line["result"]["changed"], 1);
    drop(browser);
    drop(served);
}

#[test]
fn actions_need_the_admin_token_and_foreign_hosts_are_refused() {
    let project = Project::new();
    project.baton(&["queue", "enqueue", "a"]).expect(0);
    let (read_only, port) = serve(&project, &[]);
    let (status, body) = http(
        port,
        "POST",
        "/api/action",
        &[],
        r#"{"action":"cancel","keys":["a"]}"#,
    );
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("read-only"), "{body}");
    let (status, body) = http(port, "GET", "/api/snapshot", &[], "");
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["admin"],
        false
    );
    drop(read_only);

    let token = project.write("admin.token", TOKEN);
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).unwrap();
    let loose = project
        .baton(&[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin-token-file",
            "admin.token",
        ])
        .expect(20);
    assert!(loose.stderr().contains("chmod 600"), "{}", loose.stderr());
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (admin, port) = serve(&project, &["--admin-token-file", "admin.token"]);
    let cancel = r#"{"action":"cancel","keys":["a"]}"#;
    let (status, _) = http(
        port,
        "POST",
        "/api/action",
        &[("Authorization", "Bearer wrong-token-000000")],
        cancel,
    );
    assert_eq!(status, 401);
    let (status, _) = http(
        port,
        "POST",
        "/api/action",
        &[("Cookie", &format!("token={TOKEN}"))],
        cancel,
    );
    assert_eq!(status, 401, "a cookie is not a token");
    let bearer = format!("Bearer {TOKEN}");
    let (status, body) = http(
        port,
        "POST",
        "/api/action",
        &[("Authorization", &bearer)],
        r#"{"action":"explode","keys":["a"]}"#,
    );
    assert_eq!(status, 400);
    assert!(body.contains("unknown action"), "{body}");
    let (status, body) = http(
        port,
        "POST",
        "/api/action",
        &[("Authorization", &bearer)],
        cancel,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(job_state(&project, "a"), "cancelled");
    let (status, body) = http(
        port,
        "POST",
        "/api/action",
        &[("Authorization", &bearer)],
        r#"{"action":"retry","filter":""}"#,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["changed"], 1);
    assert_eq!(job_state(&project, "a"), "queued");

    // A page on another name that resolves here (DNS rebinding) gets nothing.
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .write_all(b"GET /api/snapshot HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 421"), "{reply}");
    drop(admin);
}
