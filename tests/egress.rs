//! The downloader's egress policy through the real binary: by default only public addresses
//! (checked on the resolved address, so a name for loopback is refused too), grants by
//! range, host patterns and schemes, redirect hops judged like candidates, resolver headers
//! kept to the candidate's origin, and bad policy values named by `config validate`. The
//! fixture servers are on loopback, so every refusal here is of a server that would have
//! answered. The https→http downgrade needs a trusted https server, which the binary has no
//! way to trust; it is tested on the fetcher (`host/engine/src/fetch/https_tests.rs`).

use crate::common::Project;
use crate::common::fixture::{Reply, Server};

fn pdf() -> Vec<u8> {
    b"%PDF-1.7\negress\n%%EOF\n".to_vec()
}

/// A server answering `/redirect?to=URL` with a 302 to `URL` and anything else with a PDF.
fn server(ip: &str) -> Server {
    Server::start(ip, |path| match path.strip_prefix("/redirect?to=") {
        Some(to) => Reply::redirect(to),
        None => Reply::content("application/pdf", pdf()),
    })
}

/// Writes `baton.toml` (`[queue]` lines after the direct chain, one attempt cheap to retry),
/// enqueues `url` as job `key` and drains the queue, expecting `code`.
fn run_one(project: &Project, queue: &str, key: &str, url: &str, code: i32) {
    project.write(
        "baton.toml",
        &format!(
            "[queue]\nresolvers = \"direct\"\nmax-attempts = 3\nbackoff = \"50ms\"\nbackoff-max = \"50ms\"\n{queue}\n"
        ),
    );
    project
        .baton(&["queue", "enqueue", key, &format!(r#"{{"url": "{url}"}}"#)])
        .expect(0);
    project.baton(&["queue", "run", "--drain"]).expect(code);
}

/// The job's JSON from `job show`.
fn job(project: &Project, key: &str) -> serde_json::Value {
    project
        .baton(&["job", "show", key, "--format", "json"])
        .expect(0)
        .json()
}

/// Asserts the job failed after one attempt (a refusal is not retried) with `error`.
fn assert_refused(project: &Project, key: &str, error: &str) {
    let shown = job(project, key);
    assert_eq!(shown["job"]["state"], "failed", "{shown}");
    assert_eq!(
        shown["attempts"].as_array().map(Vec::len),
        Some(1),
        "a refusal was retried: {shown}"
    );
    assert_eq!(shown["job"]["last_error"], error, "{shown}");
}

#[test]
fn by_default_a_loopback_candidate_is_refused_naming_the_grant_and_not_retried() {
    let project = Project::strict();
    let files = server("127.0.0.2");
    let url = files.url("/x.pdf");
    run_one(&project, "", "local", &url, 10);
    assert_refused(
        &project,
        "local",
        &format!(
            "refused {url}: 127.0.0.2 is a loopback address (grant it with queue.allow-addresses = [\"127.0.0.2/32\"])"
        ),
    );
    assert!(files.requests().is_empty(), "the refused server was asked");
    // The message's remedy works.
    project.write(
        "baton.toml",
        "[queue]\nresolvers = \"direct\"\nallow-addresses = [\"127.0.0.2/32\"]\n",
    );
    project.baton(&["queue", "retry-failed"]).expect(0);
    project.baton(&["queue", "run", "--drain"]).expect(0);
    assert_eq!(job(&project, "local")["job"]["state"], "done");
    assert_eq!(files.requests(), ["/x.pdf"]);
}

#[test]
fn a_name_that_resolves_to_loopback_is_refused_on_its_address() {
    let project = Project::strict();
    let files = server("127.0.0.1");
    let url = format!("http://localhost:{}/x.pdf", files.addr.port());
    run_one(&project, "", "named", &url, 10);
    let shown = job(&project, "named");
    let error = shown["job"]["last_error"].as_str().unwrap_or_default();
    // `localhost` may also resolve to ::1; whichever address is judged first is named.
    assert!(
        error.starts_with(&format!("refused {url}: "))
            && error.contains(" is a loopback address (grant it with queue.allow-addresses = [\""),
        "{error}"
    );
    assert_eq!(shown["attempts"].as_array().map(Vec::len), Some(1));
    assert!(files.requests().is_empty(), "the refused server was asked");
    // Granting loopback (both families) lets the name through.
    let granted = Project::strict();
    run_one(
        &granted,
        "allow-addresses = [\"127.0.0.0/8\", \"::1\"]",
        "named",
        &url,
        0,
    );
    assert_eq!(files.requests(), ["/x.pdf"]);
}

#[test]
fn a_granted_address_is_reached_but_a_redirect_from_it_to_another_is_refused() {
    let project = Project::strict();
    let granted = server("127.0.0.2");
    let other = server("127.0.0.3");
    let away = other.url("/y.pdf");
    let start = granted.url(&format!("/redirect?to={away}"));
    project.write(
        "baton.toml",
        "[queue]\nresolvers = \"direct\"\nmax-attempts = 3\nallow-addresses = [\"127.0.0.2/32\"]\n",
    );
    project
        .baton(&[
            "queue",
            "enqueue",
            "near",
            &format!(r#"{{"url": "{}"}}"#, granted.url("/x.pdf")),
        ])
        .expect(0);
    project
        .baton(&[
            "queue",
            "enqueue",
            "away",
            &format!(r#"{{"url": "{start}"}}"#),
        ])
        .expect(0);
    project.baton(&["queue", "run", "--drain"]).expect(10);
    assert_eq!(job(&project, "near")["job"]["state"], "done");
    assert_refused(
        &project,
        "away",
        &format!(
            "refused {away} (redirected from {start}): 127.0.0.3 is a loopback address (grant it with queue.allow-addresses = [\"127.0.0.3/32\"])"
        ),
    );
    assert!(other.requests().is_empty(), "the redirect was followed");
}

#[test]
fn hosts_outside_the_patterns_and_schemes_not_allowed_are_refused_on_candidates_and_hops() {
    // The harness grants loopback: only the host and scheme rules refuse here.
    let files = server("127.0.0.2");
    let other = server("127.0.0.3");
    let url = files.url("/x.pdf");

    let patterns = Project::new();
    run_one(
        &patterns,
        "allow-hosts = [\"*.example.org\", \"files.test\"]",
        "host",
        &url,
        10,
    );
    assert_refused(
        &patterns,
        "host",
        &format!(
            "refused {url}: host 127.0.0.2 matches none of queue.allow-hosts = [\"*.example.org\", \"files.test\"] (add a pattern for it there to allow it)"
        ),
    );

    // A hop to a host outside the patterns is refused like a candidate would be.
    let hop = Project::new();
    let away = other.url("/y.pdf");
    let start = files.url(&format!("/redirect?to={away}"));
    run_one(&hop, "allow-hosts = [\"127.0.0.2\"]", "hop", &start, 10);
    assert_refused(
        &hop,
        "hop",
        &format!(
            "refused redirect from {start} to {away}: host 127.0.0.3 matches none of queue.allow-hosts = [\"127.0.0.2\"] (add a pattern for it there to allow it)"
        ),
    );

    let schemes = Project::new();
    run_one(&schemes, "allow-schemes = [\"https\"]", "scheme", &url, 10);
    assert_refused(
        &schemes,
        "scheme",
        &format!(
            "refused {url}: scheme http is not in queue.allow-schemes = [\"https\"] (add \"http\" there to allow it)"
        ),
    );
    assert!(files.requests().iter().all(|p| p.starts_with("/redirect")));
    assert!(other.requests().is_empty());

    // A matching pattern (a glob over the whole name) lets the same download through.
    let matching = Project::new();
    run_one(&matching, "allow-hosts = [\"127.0.0.*\"]", "ok", &url, 0);
}

#[test]
fn resolver_headers_reach_the_candidates_origin_only_and_host_never_carries_userinfo() {
    let origin = server("127.0.0.2");
    let same_ip_other_port = server("127.0.0.2");
    let other = server("127.0.0.3");
    let project = Project::new();
    std::fs::copy(
        crate::common::plugin("with-headers"),
        project.path().join("with-headers.wasm"),
    )
    .unwrap();
    project.write(
        "baton.toml",
        "[queue]\nresolvers = \"with-headers\"\nmax-attempts = 1\n[plugins.with-headers]\npath = \"with-headers.wasm\"\n",
    );
    let secret = r#"{"authorization": "Bearer secret", "cookie": "session=1", "x-token": "t0k", "host": "evil.example"}"#;
    let jobs = [
        ("same", origin.url("/redirect?to=/same.pdf")),
        (
            "cross",
            origin.url(&format!("/redirect?to={}", other.url("/cross.pdf"))),
        ),
        (
            "port",
            origin.url(&format!(
                "/redirect?to={}",
                same_ip_other_port.url("/port.pdf")
            )),
        ),
        (
            "userinfo",
            format!("http://user:pw@{}/userinfo.pdf", origin.addr),
        ),
    ];
    for (key, url) in &jobs {
        project
            .baton(&[
                "queue",
                "enqueue",
                key,
                &format!(r#"{{"url": "{url}", "headers": {secret}}}"#),
            ])
            .expect(0);
    }
    project.baton(&["queue", "run", "--drain"]).expect(0);
    let authority = |server: &Server| server.addr.to_string();
    // Every request to the candidate's origin, redirects within it included, carries the
    // resolver's headers; `Host` is always the URL's authority, never the resolver's or
    // one with userinfo.
    let at_origin = origin.received();
    assert_eq!(at_origin.len(), 5, "{at_origin:?}");
    for request in &at_origin {
        assert_eq!(
            request.header("authorization"),
            Some("Bearer secret"),
            "{request:?}"
        );
        assert_eq!(request.header("cookie"), Some("session=1"), "{request:?}");
        assert_eq!(request.header("x-token"), Some("t0k"), "{request:?}");
        let hosts: Vec<_> = request
            .headers
            .iter()
            .filter(|(n, _)| n == "host")
            .collect();
        assert_eq!(hosts.len(), 1, "{request:?}");
        assert_eq!(hosts[0].1, authority(&origin), "{request:?}");
    }
    assert!(at_origin.iter().any(|r| r.path == "/same.pdf"));
    assert!(at_origin.iter().any(|r| r.path == "/userinfo.pdf"));
    // Another host, or the same address on another port, is another origin (RFC 6454):
    // none of the resolver's headers follow the redirect there.
    for (server, path) in [(&other, "/cross.pdf"), (&same_ip_other_port, "/port.pdf")] {
        let received = server.received();
        assert_eq!(received.len(), 1, "{received:?}");
        let request = &received[0];
        assert_eq!(request.path, path);
        for name in ["authorization", "cookie", "x-token"] {
            assert_eq!(
                request.header(name),
                None,
                "{name} went to {path}: {request:?}"
            );
        }
        assert_eq!(request.header("host"), Some(authority(server).as_str()));
        assert!(
            request
                .header("user-agent")
                .is_some_and(|ua| ua.starts_with("baton/"))
        );
    }
}

#[test]
fn bad_policy_values_are_named_by_config_validate_and_good_ones_read_in_either_list_form() {
    let project = Project::strict();
    project.write(
        "baton.toml",
        "[queue]\nallow-schemes = [\"https\", \"ftp\"]\nallow-hosts = [\"ok.example\", \"a[\"]\nallow-addresses = [\"10.0.0.0/33\"]\nallow-downgrade = \"maybe\"\n",
    );
    let run = project.baton(&["config", "validate"]).expect(20);
    for needle in [
        "queue.allow-schemes (from file): `ftp` is not a scheme Baton downloads (https, http)",
        "queue.allow-hosts (from file): `a[` is not a host pattern",
        "queue.allow-addresses (from file): `10.0.0.0/33` is not an address range",
        "queue.allow-downgrade (from file): `maybe` is not true or false",
    ] {
        assert!(
            run.stderr().contains(needle),
            "missing {needle}:\n{}",
            run.stderr()
        );
    }
    project.write("baton.toml", "[queue]\nallow-hosts = []\n");
    let empty = project.baton(&["config", "validate"]).expect(20);
    assert!(
        empty
            .stderr()
            .contains("queue.allow-hosts (from file): must name at least one pattern"),
        "{}",
        empty.stderr()
    );
    // The defaults, shown with their source.
    project.write("baton.toml", "");
    let shown = project
        .baton(&["config", "show", "--format", "json"])
        .expect(0)
        .json();
    let settings = &shown["settings"];
    assert_eq!(
        settings["queue.allow-schemes"]["value"],
        r#"["https", "http"]"#
    );
    assert_eq!(settings["queue.allow-hosts"]["value"], r#"["*"]"#);
    assert_eq!(settings["queue.allow-addresses"]["value"], "[]");
    assert_eq!(settings["queue.allow-downgrade"]["value"], "false");
    assert_eq!(settings["queue.allow-addresses"]["source"], "default");
    // A bad value from the environment is named with its source; a comma-separated one is
    // good.
    let from_env = project
        .command(&[])
        .env("BATON_ALLOW_ADDRESSES", "127.0.0.1/32, 10.0.0.0/8, nope")
        .args(["config", "validate"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&from_env.stderr);
    assert_eq!(from_env.status.code(), Some(20), "{stderr}");
    assert!(
        stderr.contains("queue.allow-addresses (from env): `nope` is not an address range"),
        "{stderr}"
    );
    let good = project
        .command(&[])
        .env("BATON_ALLOW_ADDRESSES", "127.0.0.1/32, fd00::/8")
        .args(["config", "validate"])
        .output()
        .unwrap();
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
}
