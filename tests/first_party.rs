//! First-party plugins through the real binary: the unpaywall resolver against a loopback
//! server shaped like the real API, the CSV stage over preopened files, the CLI agent over
//! `exec`, and configured plugins with grants from baton.toml.

use crate::common::fixture::{Reply, Server};
use crate::common::{Project, plugin};

const UNPAYWALL_OA: &str = r#"{
  "doi": "10.1234/oa",
  "is_oa": true,
  "best_oa_location": {"url": "https://repo.example.org/oa.pdf", "url_for_pdf": "https://repo.example.org/oa.pdf",
    "url_for_landing_page": "https://repo.example.org/oa", "host_type": "repository", "license": "cc-by", "version": "publishedVersion"},
  "oa_locations": [
    {"url": "https://repo.example.org/oa.pdf", "url_for_pdf": "https://repo.example.org/oa.pdf", "url_for_landing_page": "https://repo.example.org/oa", "host_type": "repository"},
    {"url": "https://mirror.example.org/oa", "url_for_pdf": null, "url_for_landing_page": "https://mirror.example.org/oa", "host_type": "publisher"}
  ]
}"#;

fn unpaywall_server() -> Server {
    Server::start("127.0.0.1", |path| {
        if path.starts_with("/v2/10.1234/oa") {
            Reply::json(200, UNPAYWALL_OA)
        } else if path.starts_with("/v2/10.1234/closed") {
            Reply::json(
                200,
                r#"{"doi": "10.1234/closed", "is_oa": false, "best_oa_location": null, "oa_locations": []}"#,
            )
        } else if path.starts_with("/v2/10.1234/busy") {
            let mut reply = Reply::json(429, "{}");
            reply.headers.push(("retry-after".into(), "7".into()));
            reply
        } else {
            Reply::json(404, r#"{"error": true, "message": "not found"}"#)
        }
    })
}

fn call_unpaywall(project: &Project, server: &Server, doi: &str) -> crate::common::Run {
    let settings = format!(
        r#"{{"base-url": "{}", "email": "ops@example.org"}}"#,
        server.url("")
    );
    let input = format!(r#"{{"id": "{doi}"}}"#);
    project.baton(&[
        "plugin",
        "call",
        plugin("unpaywall").to_str().unwrap(),
        "--format",
        "json",
        "--allow-host",
        &server.origin(),
        "--settings",
        &settings,
        "--input",
        &input,
    ])
}

#[test]
fn unpaywall_resolves_a_doi_over_granted_http() {
    let project = Project::new();
    let server = unpaywall_server();
    let run = call_unpaywall(&project, &server, "10.1234/oa").expect(0);
    let doc = run.json();
    let candidates = doc["result"].as_array().unwrap();
    assert_eq!(
        candidates[0]["url"], "https://repo.example.org/oa.pdf",
        "{doc}"
    );
    assert_eq!(candidates[0]["content_type"], "application/pdf");
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert!(
        requests[0].contains("email=ops%40example.org")
            || requests[0].contains("email=ops@example.org"),
        "{requests:?}"
    );
}

#[test]
fn unpaywall_maps_answers_to_skip_retry_and_fatal() {
    let project = Project::new();
    let server = unpaywall_server();
    let closed = call_unpaywall(&project, &server, "10.1234/closed").expect(30);
    assert_eq!(closed.json()["failure"]["kind"], "skip");
    let missing = call_unpaywall(&project, &server, "10.1234/missing").expect(30);
    assert_eq!(missing.json()["failure"]["kind"], "skip");
    let busy = call_unpaywall(&project, &server, "10.1234/busy").expect(30);
    let failure = &busy.json()["failure"];
    assert_eq!(failure["kind"], "retry", "{failure}");
    assert_eq!(failure["after_ms"], 7000, "{failure}");
}

#[test]
fn unpaywall_without_a_host_grant_is_refused_at_load() {
    let project = Project::new();
    let run = project
        .baton(&[
            "plugin",
            "call",
            plugin("unpaywall").to_str().unwrap(),
            "--input",
            r#"{"id": "10.1/x"}"#,
        ])
        .expect(30);
    assert!(
        run.stderr().contains("not granted") && run.stderr().contains("http"),
        "{}",
        run.stderr()
    );
}

#[test]
fn csv_to_jsonl_converts_preopened_inputs() {
    let project = Project::new();
    let csv = project.write(
        "people.csv",
        "name,city\nAda,London\n\"Hopper, Grace\",\"New \"\"York\"\"\"\n",
    );
    let out = project.path().join("out");
    let run = project
        .baton(&[
            "plugin",
            "call",
            plugin("csv-to-jsonl").to_str().unwrap(),
            "--format",
            "json",
            "--stage-input",
            csv.to_str().unwrap(),
            "--output-dir",
            out.to_str().unwrap(),
        ])
        .expect(0);
    assert_eq!(
        run.json()["result"]["outputs"][0],
        "people.jsonl",
        "{}",
        run.stdout()
    );
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(out.join("people.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["name"], "Hopper, Grace");
    assert_eq!(lines[1]["city"], "New \"York\"");
}

#[test]
fn csv_to_jsonl_names_the_bad_line() {
    let project = Project::new();
    let csv = project.write("bad.csv", "a,b\n1,2\n\"unterminated,3\n");
    let run = project
        .baton(&[
            "plugin",
            "call",
            plugin("csv-to-jsonl").to_str().unwrap(),
            "--format",
            "json",
            "--stage-input",
            csv.to_str().unwrap(),
        ])
        .expect(30);
    let reason = run.json()["failure"]["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        reason.contains("bad.csv") && reason.contains("line 3"),
        "{reason}"
    );
}

#[test]
fn the_cli_agent_runs_only_granted_programs() {
    let project = Project::new();
    let agent = plugin("cli-agent");
    let settings = r#"{"program": "cat", "args": [], "prompt-via": "stdin"}"#;
    let run = project
        .baton(&[
            "plugin",
            "call",
            agent.to_str().unwrap(),
            "--format",
            "json",
            "--allow-exec",
            "cat",
            "--settings",
            settings,
            "--input",
            r#"{"prompt": "hello from the prompt"}"#,
        ])
        .expect(0);
    assert_eq!(
        run.json()["result"]["text"],
        "hello from the prompt",
        "{}",
        run.stdout()
    );
    let other = r#"{"program": "ls", "args": ["/"], "prompt-via": "stdin"}"#;
    let refused = project
        .baton(&[
            "plugin",
            "call",
            agent.to_str().unwrap(),
            "--format",
            "json",
            "--allow-exec",
            "cat",
            "--settings",
            other,
            "--input",
            r#"{"prompt": "x"}"#,
        ])
        .expect(30);
    assert!(
        refused.stdout().contains("not granted"),
        "{}",
        refused.stdout()
    );
}

#[test]
fn exec_arguments_must_match_the_granted_patterns() {
    let project = Project::new();
    let agent = plugin("cli-agent");
    std::fs::copy(&agent, project.path().join("agent.wasm")).unwrap();
    project.write(
        "baton.toml",
        r#"
[plugins.echo-agent]
path = "agent.wasm"
kind = "agent"
settings = { program = "echo", args = ["--safe"], prompt-via = "arg" }
[plugins.echo-agent.grants]
exec = [{ program = "echo", args = ["--safe"] }]
"#,
    );
    // The prompt becomes an argument that matches no pattern.
    let run = project
        .baton(&[
            "plugin",
            "call",
            "echo-agent",
            "--format",
            "json",
            "--input",
            r#"{"prompt": "rm -rf"}"#,
        ])
        .expect(30);
    assert!(
        run.stdout()
            .contains("matches none of the granted patterns"),
        "{}",
        run.stdout()
    );
}

#[test]
fn configured_plugins_are_listed_and_pinned() {
    let project = Project::new();
    std::fs::copy(plugin("noop"), project.path().join("noop.wasm")).unwrap();
    std::fs::copy(plugin("unpaywall"), project.path().join("unpaywall.wasm")).unwrap();
    project.write(
        "baton.toml",
        r#"
[plugins.noop]
path = "noop.wasm"
[plugins.unpaywall]
path = "unpaywall.wasm"
sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
"#,
    );
    let run = project
        .baton(&["plugin", "list", "--format", "json"])
        .expect(10);
    let doc = run.json();
    let plugins = doc["plugins"].as_array().unwrap();
    assert_eq!(plugins[0]["name"], "noop");
    assert_eq!(plugins[0]["ok"], true);
    assert_eq!(plugins[0]["kind"], "resolver");
    assert_eq!(plugins[1]["error"]["code"], "digest-mismatch", "{doc}");
    let table = project.baton(&["plugin", "list"]).expect(10);
    assert!(
        table.stdout().contains("sha256 mismatch"),
        "{}",
        table.stdout()
    );
}

#[test]
fn plugin_add_pins_the_digest_and_lists_the_asks() {
    let project = Project::new();
    std::fs::copy(plugin("stateful"), project.path().join("stateful.wasm")).unwrap();
    project.baton(&["plugin", "add", "stateful.wasm"]).expect(0);
    let config = std::fs::read_to_string(project.path().join("baton.toml")).unwrap();
    assert!(
        config.contains("[plugins.stateful]") && config.contains("sha256 = \""),
        "{config}"
    );
    assert!(config.contains("# state = true"), "{config}");
    let again = project
        .baton(&["plugin", "add", "stateful.wasm"])
        .expect(20);
    assert!(again.stderr().contains("already configured"));
    project.baton(&["plugin", "list"]).expect(10);
}

#[test]
fn inspect_shows_world_version_digest_and_imports() {
    let project = Project::new();
    let run = project
        .baton(&[
            "plugin",
            "inspect",
            plugin("unpaywall").to_str().unwrap(),
            "--format",
            "json",
        ])
        .expect(0);
    let doc = run.json();
    assert_eq!(doc["world"], "resolver");
    assert_eq!(doc["wit"], "baton:plugin@0.2.0");
    assert_eq!(doc["describe"]["name"], "unpaywall");
    assert_eq!(doc["sha256"].as_str().unwrap().len(), 64);
    assert!(
        doc["imports"].as_array().unwrap().iter().any(|i| i
            .as_str()
            .unwrap()
            .starts_with("wasi:http/outgoing-handler")),
        "{doc}"
    );
}

#[test]
fn exec_is_killed_at_the_granted_timeout() {
    let project = Project::new();
    std::fs::copy(plugin("cli-agent"), project.path().join("agent.wasm")).unwrap();
    project.write(
        "baton.toml",
        r#"
[plugins.sleeper]
path = "agent.wasm"
settings = { program = "sleep", args = ["30"], prompt-via = "stdin" }
[plugins.sleeper.grants]
exec = [{ program = "sleep", args = ["30"], timeout = "300ms" }]
"#,
    );
    let started = std::time::Instant::now();
    let run = project
        .baton(&[
            "plugin",
            "call",
            "sleeper",
            "--format",
            "json",
            "--input",
            r#"{"prompt": "zzz"}"#,
        ])
        .expect(30);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "the program was not killed"
    );
    // baton:plugin@0.2.0: an agent that ran out of time says `timeout` (agent-failure).
    assert_eq!(run.json()["failure"]["kind"], "timeout", "{}", run.stdout());
}

const CROSSREF_WORK: &str = r#"{"status": "ok", "message-type": "work", "message-version": "1.0.0",
 "message": {"DOI": "10.1234/oa", "type": "journal-article", "title": ["An open work"],
  "link": [
    {"URL": "https://publisher.example.org/article/oa/fulltext.pdf", "content-type": "application/pdf", "content-version": "vor", "intended-application": "text-mining"},
    {"URL": "https://publisher.example.org/article/oa/am.pdf", "content-type": "application/pdf", "content-version": "am", "intended-application": "syndication"},
    {"URL": "https://publisher.example.org/article/oa", "content-type": "text/html", "content-version": "vor", "intended-application": "similarity-checking"},
    {"URL": "https://publisher.example.org/article/oa/fulltext", "content-type": "unspecified", "content-version": "vor", "intended-application": "similarity-checking"}
  ]}}"#;

#[test]
fn crossref_prefers_pdf_links_of_the_version_of_record() {
    let project = Project::new();
    let server = Server::start("127.0.0.1", |path| {
        if path.starts_with("/works/10.1234/oa") {
            Reply::json(200, CROSSREF_WORK)
        } else if path.starts_with("/works/10.1234/busy") {
            let mut reply = Reply::json(429, "{}");
            reply.headers.push(("retry-after".into(), "3".into()));
            reply
        } else {
            Reply::json(404, "Resource not found.")
        }
    });
    let settings = format!(
        r#"{{"base-url": "{}", "mailto": "ops@example.org"}}"#,
        server.url("")
    );
    let call = |doi: &str| {
        project.baton(&[
            "plugin",
            "call",
            plugin("crossref").to_str().unwrap(),
            "--format",
            "json",
            "--allow-host",
            &server.origin(),
            "--settings",
            &settings,
            "--input",
            &format!(r#"{{"id": "{doi}"}}"#),
        ])
    };
    let doc = call("10.1234/oa").expect(0).json();
    let urls: Vec<&str> = doc["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["url"].as_str().unwrap())
        .collect();
    assert_eq!(
        urls,
        [
            "https://publisher.example.org/article/oa/fulltext.pdf",
            "https://publisher.example.org/article/oa/am.pdf",
            "https://publisher.example.org/article/oa/fulltext",
        ]
    );
    assert!(
        server.requests()[0].contains("mailto=ops"),
        "{:?}",
        server.requests()
    );
    assert_eq!(
        call("10.1234/missing").expect(30).json()["failure"]["kind"],
        "skip"
    );
    assert_eq!(
        call("10.1234/busy").expect(30).json()["failure"]["after_ms"],
        3000
    );
    assert_eq!(
        call("not-a-doi").expect(30).json()["failure"]["kind"],
        "skip"
    );
}

#[test]
fn arxiv_and_direct_need_no_network() {
    let project = Project::new();
    let arxiv = |input: &str| {
        project.baton(&[
            "plugin",
            "call",
            plugin("arxiv").to_str().unwrap(),
            "--format",
            "json",
            "--input",
            input,
        ])
    };
    for (id, expected) in [
        ("2101.00001v2", "https://arxiv.org/pdf/2101.00001v2"),
        (
            "arXiv:hep-th/9901001",
            "https://arxiv.org/pdf/hep-th/9901001",
        ),
        (
            "https://arxiv.org/abs/1706.03762",
            "https://arxiv.org/pdf/1706.03762",
        ),
    ] {
        let doc = arxiv(&format!(r#"{{"id": "{id}"}}"#)).expect(0).json();
        assert_eq!(doc["result"][0]["url"], expected, "{id}");
        assert_eq!(doc["result"][0]["content_type"], "application/pdf");
    }
    assert_eq!(
        arxiv(r#"{"id": "10.1234/x"}"#).expect(30).json()["failure"]["kind"],
        "skip"
    );
    let direct = |input: &str| {
        project.baton(&[
            "plugin",
            "call",
            plugin("direct").to_str().unwrap(),
            "--format",
            "json",
            "--input",
            input,
        ])
    };
    let doc = direct(r#"{"id": "https://example.org/a.pdf"}"#)
        .expect(0)
        .json();
    assert_eq!(doc["result"][0]["url"], "https://example.org/a.pdf");
    assert_eq!(
        direct(r#"{"id": "ftp://example.org/a"}"#).expect(30).json()["failure"]["kind"],
        "fatal"
    );
}
