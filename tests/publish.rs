//! Reprocessing and publishing as teams do them, through the real binary: a site built by
//! template and jq stages (`pipeline run site --skip publish`), published by the `publish`
//! stage run on its own with `pipeline run-stage` to a loopback receiver — exactly the files, with their
//! bytes, lengths and RFC 9530 digests, only to the granted host; a 503 or 429 with
//! `Retry-After` waited out, a 403 failing the stage with its status; and a past selection
//! rerun with `--force` and compared with `baton compare`.

use crate::common::fixture::{Received, Reply, Server};
use crate::common::{Project, plugin};
use base64::Engine;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The people the site is built from; one name needs more than ASCII.
const PEOPLE: &str = r#"{"name": "Ada", "city": "London", "age": 36}
{"name": "Grace", "city": "New York", "age": 45}
{"name": "Zoë", "city": "Zürich", "age": 29}
"#;

/// A static file whose path needs percent-encoding.
const NOTES: (&str, &str) = ("static/docs/read me é.txt", "Published by Baton.\n");

/// Where each published file lands on the receiver (under `/site/`), by published path.
const PUBLISHED: [(&str, &str, &str); 3] = [
    (
        "docs/read me é.txt",
        "/site/docs/read%20me%20%C3%A9.txt",
        "static/docs/read me é.txt",
    ),
    ("index.html", "/site/index.html", "out/page/index.html"),
    ("people.json", "/site/people.json", "out/api/people.json"),
];

/// The site project: `page` (template) and `api` (jq) build from `data/people.jsonl`,
/// `publish` sends both and a static file to `url`; the plugin is granted `granted` only.
fn site(project: &Project, url: &str, granted: &str) {
    project.write(
        "baton.toml",
        &format!(
            "[plugins.publish]\npath = {:?}\nkind = \"stage\"\nsettings = {{ url = {url:?} }}\n\n[plugins.publish.grants]\nhttp = [{granted:?}]\nenv = [\"PUBLISH_TOKEN\"]\n",
            plugin("publish").display().to_string()
        ),
    );
    project.write("data/people.jsonl", PEOPLE);
    project.write(NOTES.0, NOTES.1);
    project.write(
        "pipelines/site.toml",
        r#"[[stage]]
id = "page"
plugin = "template"
inputs = ["data/people.jsonl"]
outputs = ["index.html"]
params = { template = "<ul>\n{% for p in items %}<li>{{ p.name }} ({{ p.city }})</li>\n{% endfor %}</ul>\n", output = "index.html" }

[[stage]]
id = "api"
plugin = "jsonl-transform"
inputs = ["data/people.jsonl"]
outputs = ["people.json"]
params = { filter = "map({name, city})", mode = "slurp", output = "people.json" }

[[stage]]
id = "publish"
plugin = "publish"
inputs = ["out/page/index.html", "out/api/people.json", "static/**"]
outputs = ["receipt.json"]
params = { root = ["out/page", "out/api", "static"] }
"#,
    );
}

/// `baton pipeline run site --skip publish`: builds the site, publishes nothing.
fn build(project: &Project) {
    project
        .baton(&["pipeline", "run", "site", "--skip", "publish"])
        .expect(0);
}

/// A receiver that accepts every upload with 201.
fn receiver() -> Server {
    Server::start("127.0.0.1", |_| Reply {
        status: 201,
        headers: Vec::new(),
        body: Vec::new(),
        claimed_length: None,
        delay: None,
    })
}

/// A reply with a status, headers and a text body.
fn reply(status: u16, headers: &[(&str, String)], body: &str) -> Reply {
    Reply {
        status,
        headers: headers
            .iter()
            .map(|(name, value)| (name.to_string(), value.clone()))
            .collect(),
        body: body.as_bytes().to_vec(),
        claimed_length: None,
        delay: None,
    }
}

/// `baton pipeline run-stage publish --pipeline site`, with `PUBLISH_TOKEN` set.
fn run_publish(project: &Project, token: &str) -> crate::common::Run {
    let mut command = project.command(&["pipeline", "run-stage", "publish", "--pipeline", "site"]);
    command.env("PUBLISH_TOKEN", token);
    crate::common::Run(command.output().expect("run baton"))
}

/// What a run printed: its stage lines and summary (stdout), then its notes (stderr).
fn printed(run: &crate::common::Run) -> String {
    format!("{}{}", run.stdout(), run.stderr())
}

/// `sha-256=:BASE64:` of `bytes` (RFC 9530).
fn content_digest(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    format!(
        "sha-256=:{}:",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// Every stage log of the project's runs, concatenated.
fn stage_logs(project: &Project) -> String {
    let mut text = String::new();
    for run in std::fs::read_dir(project.path().join(".baton/runs"))
        .into_iter()
        .flatten()
        .flatten()
    {
        if run.path().is_dir() {
            for log in std::fs::read_dir(run.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                text.push_str(&std::fs::read_to_string(log.path()).unwrap_or_default());
            }
        }
    }
    text
}

#[test]
fn publishing_after_a_build_sends_exactly_the_files_with_their_bytes_and_digests() {
    let project = Project::new();
    let server = receiver();
    site(&project, &server.url("/site/"), &server.origin());
    build(&project);
    assert!(server.received().is_empty(), "the build published");

    let run = run_publish(&project, "s3cret-token").expect(0);
    assert!(
        printed(&run).contains("publish … done"),
        "{}",
        printed(&run)
    );
    let received: BTreeMap<String, Received> = server
        .received()
        .into_iter()
        .map(|request| (request.path.clone(), request))
        .collect();
    assert_eq!(
        received.keys().map(String::as_str).collect::<Vec<_>>(),
        PUBLISHED.iter().map(|(_, at, _)| *at).collect::<Vec<_>>(),
        "exactly the files, each once"
    );
    for (_, at, source) in PUBLISHED {
        let request = &received[at];
        let bytes = std::fs::read(project.path().join(source)).unwrap();
        assert_eq!(request.method, "PUT");
        assert_eq!(request.body, bytes, "{at}");
        assert_eq!(
            request.header("content-length"),
            Some(bytes.len().to_string().as_str())
        );
        assert_eq!(
            request.header("content-digest"),
            Some(content_digest(&bytes).as_str()),
            "{at}"
        );
        assert_eq!(request.header("authorization"), Some("Bearer s3cret-token"));
    }
    assert_eq!(
        received["/site/index.html"].header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(
        received["/site/people.json"].header("content-type"),
        Some("application/json")
    );

    // The receipt is the stage's output: every file, its bytes, digest, URL and status.
    let receipt: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(project.path().join("out/publish/receipt.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(receipt["url"], server.url("/site/"));
    assert_eq!(receipt["files"], 3);
    for ((path, at, source), entry) in PUBLISHED
        .iter()
        .zip(receipt["published"].as_array().unwrap())
    {
        let bytes = std::fs::read(project.path().join(source)).unwrap();
        assert_eq!(entry["path"], *path);
        assert_eq!(entry["input"], *source);
        assert_eq!(entry["url"], server.url(at));
        assert_eq!(entry["bytes"], bytes.len());
        assert_eq!(entry["sha256"], hex::encode(Sha256::digest(&bytes)));
        assert_eq!(entry["status"], 201);
    }

    // The token went to the receiver and nowhere else.
    for (what, text) in [
        ("output", printed(&run)),
        ("stage logs", stage_logs(&project)),
        ("receipt", receipt.to_string()),
    ] {
        assert!(
            !text.contains("s3cret"),
            "the token is in the {what}:\n{text}"
        );
    }

    // The whole pipeline now finds publish cached (its receipt recorded), and sends nothing.
    let plan = project
        .baton(&["pipeline", "run", "site", "--dry-run", "--format", "json"])
        .expect(0)
        .json();
    let actions: HashMap<String, String> = plan["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|stage| {
            (
                stage["id"].as_str().unwrap().to_string(),
                stage["action"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(actions["publish"], "cached", "{plan:#}");
    project.baton(&["pipeline", "run", "site"]).expect(0);
    assert_eq!(server.received().len(), 3, "a cached publish sent files");
    // run-stage runs it whatever its cache says.
    run_publish(&project, "").expect(0);
    let again = server.received();
    assert_eq!(again.len(), 6);
    assert!(
        again[3..]
            .iter()
            .all(|request| request.header("authorization").is_none()),
        "an empty token still sent a header"
    );
}

#[test]
fn a_url_whose_host_is_not_granted_fails_naming_the_grant_and_sends_nothing() {
    let granted = receiver();
    for other in [
        receiver(),
        Server::start("127.0.0.2", |_| reply(201, &[], "")),
    ] {
        let project = Project::new();
        site(&project, &other.url("/site/"), &granted.origin());
        build(&project);
        let run = run_publish(&project, "").expect(10);
        let grant = format!("`http = [\"{}\"]`", other.origin());
        let text = printed(&run);
        assert!(
            text.contains("HttpRequestDenied") && text.contains(&grant),
            "{text}"
        );
        let logs = stage_logs(&project);
        assert!(
            logs.contains(&format!("{grant} to [plugins.publish.grants]")),
            "{logs}"
        );
        assert!(
            other.received().is_empty(),
            "the ungranted host was reached"
        );
        assert!(!project.path().join("out/publish").exists());
    }
    assert!(granted.received().is_empty());
}

#[test]
fn a_503_or_429_with_retry_after_is_waited_out_and_the_publish_succeeds() {
    let project = Project::new();
    let arrivals: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let seen = arrivals.clone();
    let server = Server::start("127.0.0.1", move |path| {
        let mut seen = seen.lock().unwrap();
        let first = !seen.iter().any(|(p, _)| p == path);
        seen.push((path.to_string(), Instant::now()));
        match (path, first) {
            // delay-seconds
            ("/site/index.html", true) => reply(503, &[("retry-after", "1".into())], "busy"),
            // an HTTP-date two seconds ahead (whole seconds: a wait of one to two)
            ("/site/people.json", true) => {
                let at = std::time::SystemTime::now() + Duration::from_secs(2);
                reply(429, &[("retry-after", httpdate::fmt_http_date(at))], "")
            }
            _ => reply(201, &[], ""),
        }
    });
    site(&project, &server.url("/site/"), &server.origin());
    build(&project);
    run_publish(&project, "").expect(0);
    let arrivals = arrivals.lock().unwrap().clone();
    for (path, least) in [
        ("/site/index.html", Duration::from_millis(950)),
        ("/site/people.json", Duration::from_millis(500)),
    ] {
        let times: Vec<Instant> = arrivals
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, at)| *at)
            .collect();
        assert_eq!(times.len(), 2, "{path}: {arrivals:?}");
        assert!(times[1] - times[0] >= least, "{path} was retried too early");
    }
    let receipt = std::fs::read_to_string(project.path().join("out/publish/receipt.json")).unwrap();
    assert_eq!(receipt.matches("\"status\": 201").count(), 3, "{receipt}");
    let logs = stage_logs(&project);
    assert!(
        logs.contains("trying again") && logs.contains("answered 503"),
        "{logs}"
    );
}

#[test]
fn a_403_fails_the_stage_with_the_status_and_what_the_server_said() {
    let project = Project::new();
    let server = Server::start("127.0.0.1", |_| {
        reply(403, &[], "forbidden: this token may not deploy\n")
    });
    site(&project, &server.url("/site/"), &server.origin());
    build(&project);
    let run = run_publish(&project, "").expect(10);
    let text = printed(&run);
    assert!(
        text.contains("answered 403: forbidden: this token may not deploy"),
        "{text}"
    );
    assert!(
        text.contains("rerun it with: baton pipeline run-stage publish --pipeline site"),
        "{text}"
    );
    // Not retried: the first file (in path order) was refused and nothing came after it.
    let received = server.received();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0].path, "/site/docs/read%20me%20%C3%A9.txt");
    assert!(!project.path().join("out/publish").exists());
}

#[test]
fn reprocessing_a_past_selection_with_force_compares_same_and_an_edited_input_is_named() {
    let project = Project::new();
    let server = receiver();
    site(&project, &server.url("/site/"), &server.origin());
    build(&project);
    let forced = project
        .baton(&["pipeline", "run", "site", "--only", "page,api", "--force"])
        .expect(0);
    assert!(!printed(&forced).contains("cached"), "{}", printed(&forced));
    let [first, second] = <[String; 2]>::try_from(crate::common::run_ids(&project)).unwrap();
    let same = project
        .baton(&["compare", &first, &second])
        .expect(0)
        .stdout();
    assert!(
        same.contains("2 unchanged") && same.contains("0 different"),
        "{same}"
    );

    project.write(
        "data/people.jsonl",
        &format!("{PEOPLE}{{\"name\": \"Edsger\", \"city\": \"Austin\", \"age\": 72}}\n"),
    );
    build(&project);
    let third = crate::common::run_ids(&project).pop().unwrap();
    let differ = project.baton(&["compare", &second, &third]).expect(10);
    for path in ["out/api/people.json", "out/page/index.html"] {
        assert!(differ.stdout().contains(path), "{}", differ.stdout());
    }
    let json = project
        .baton(&["compare", &second, &third, "--format", "json"])
        .expect(10)
        .json();
    assert_eq!(json["same"], false);
    assert_eq!(json["different"].as_array().unwrap().len(), 2, "{json:#}");

    // Then the reprocessed site is published: the new bytes, where the old ones were.
    run_publish(&project, "").expect(0);
    let people = server
        .received()
        .into_iter()
        .find(|request| request.path == "/site/people.json")
        .unwrap();
    assert!(String::from_utf8_lossy(&people.body).contains("Edsger"));
}

#[test]
fn the_publish_plugin_passes_the_conformance_kit() {
    let project = Project::new();
    let report = project
        .baton(&[
            "plugin",
            "test",
            plugin("publish").to_str().unwrap(),
            "--format",
            "json",
        ])
        .expect(0)
        .json();
    assert_eq!(report["passed"], true, "{report:#}");
}
