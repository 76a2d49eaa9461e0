//! `baton plugin new --lang python|js`: a starter of every kind builds with its one command
//! (`build.sh`, through the real componentize-py and componentize-js), passes its own test
//! (which calls it through `baton plugin call`) and answers `baton plugin call` here; the
//! Python helper module calls an API over wasi:http against a loopback server; a misplaced
//! session class is refused with the remedy. Tool installs are cached under target/.

use crate::common::fixture::{Reply, Server};
use crate::common::{Project, shared_cache};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Where build.sh installs componentize-js (and componentize-py, when it is not on PATH) once
/// for every run of these tests.
fn tools_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("starter-tools")
}

fn new_starter(project: &Project, kind: &str, name: &str, lang: &str) -> PathBuf {
    let made = project
        .baton(&[
            "plugin", "new", kind, name, "--lang", lang, "--dir", "plugins", "--format", "json",
        ])
        .expect(0)
        .json();
    assert_eq!(made["build"], "./build.sh", "{made}");
    let dir = project.path().join("plugins").join(name);
    assert_eq!(
        made["component"],
        dir.join(format!("{name}.wasm")).to_str().unwrap()
    );
    dir
}

fn in_starter(dir: &Path, program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("BATON_TOOLS_DIR", tools_dir())
        .env("BATON", env!("CARGO_BIN_EXE_baton"))
        .env("BATON_CACHE_DIR", shared_cache())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
}

fn build(dir: &Path) -> PathBuf {
    let built = in_starter(dir, "./build.sh", &[]);
    assert!(
        built.status.success(),
        "{} did not build:\n{}",
        dir.display(),
        String::from_utf8_lossy(&built.stderr)
    );
    let name = dir.file_name().unwrap().to_str().unwrap();
    dir.join(format!("{name}.wasm"))
}

fn own_test(dir: &Path, lang: &str) {
    let run = match lang {
        "python" => in_starter(dir, "python3", &["test_plugin.py"]),
        _ => in_starter(dir, "node", &["--test", "test.mjs"]),
    };
    assert!(
        run.status.success(),
        "the starter's own test failed in {}:\n{}\n{}",
        dir.display(),
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
}

/// Builds a starter of each kind, runs its own test and calls it through the binary here.
fn every_kind(lang: &str) {
    let project = Project::new();
    let notes = project.write("notes.txt", "one\ntwo\nthree\n");
    let out = project.path().join("out");
    for kind in ["resolver", "stage", "agent"] {
        let name = format!("{lang}-{kind}");
        let dir = new_starter(&project, kind, &name, lang);
        let wasm = build(&dir);
        own_test(&dir, lang);
        let wasm = wasm.to_str().unwrap();
        let inspect = project
            .baton(&["plugin", "inspect", wasm, "--format", "json"])
            .expect(0)
            .json();
        assert_eq!(inspect["world"], kind, "{inspect}");
        assert_eq!(inspect["wit"], "baton:plugin@0.2.0", "{inspect}");
        assert_eq!(inspect["describe"]["name"], name.as_str(), "{inspect}");
        let call = match kind {
            "resolver" => project.baton(&[
                "plugin",
                "call",
                wasm,
                "--format",
                "json",
                "--input",
                r#"{"id": "https://example.org/a.pdf"}"#,
            ]),
            "stage" => project.baton(&[
                "plugin",
                "call",
                wasm,
                "--format",
                "json",
                "--stage-input",
                notes.to_str().unwrap(),
                "--output-dir",
                out.to_str().unwrap(),
            ]),
            _ => project.baton(&[
                "plugin",
                "call",
                wasm,
                "--format",
                "json",
                "--input",
                r#"{"prompt": "hello", "options": {"temperature": 0}}"#,
            ]),
        }
        .expect(0)
        .json();
        assert_eq!(call["ok"], true, "{call}");
        match kind {
            "resolver" => {
                assert_eq!(
                    call["result"][0]["url"], "https://example.org/a.pdf",
                    "{call}"
                );
                assert_eq!(call["logs"][0]["message"], "resolved", "{call}");
            }
            "stage" => {
                assert_eq!(call["result"]["summary"], "counted 1 input(s)", "{call}");
                let counted = std::fs::read_to_string(out.join("notes.txt.count")).unwrap();
                assert_eq!(counted, "3\n");
                std::fs::remove_dir_all(&out).unwrap();
            }
            _ => {
                assert_eq!(call["result"]["text"], "turn 1: hello", "{call}");
                assert_eq!(call["result"]["finish_reason"], "stop", "{call}");
            }
        }
    }
}

#[test]
fn python_starters_of_every_kind_build_test_and_answer() {
    every_kind("python");
}

#[test]
fn js_starters_of_every_kind_build_test_and_answer() {
    every_kind("js");
}

#[test]
fn the_python_helper_calls_an_api_over_wasi_http() {
    let project = Project::new();
    let api = Server::start("127.0.0.7", |path| match path {
        "/lookup/10.1234/ok" => Reply::json(200, r#"{"pdf": "https://example.org/ok.pdf"}"#),
        "/lookup/10.1234/busy" => {
            let mut reply = Reply::json(429, "{}");
            reply.headers.push(("retry-after".into(), "7".into()));
            reply
        }
        _ => Reply::json(404, "{}"),
    });
    let dir = new_starter(&project, "resolver", "example-api", "python");
    // The worked example of docs/plugins.md, on the starter's helper module.
    std::fs::write(
        dir.join("app.py"),
        r#"from wit_world import exports
from wit_world.imports.plugin_types import Candidate, Capabilities, Description, PluginKind

import baton_helpers as baton


class Metadata(exports.Metadata):
    def describe(self):
        return Description(name="example-api", version="0.1.0", kind=PluginKind.RESOLVER,
                           summary="DOI to PDF through the Example API",
                           capabilities=Capabilities(http=["*"], files=[], exec=[], env=[], state=False))


class Resolution(exports.Resolution):
    def resolve(self, request):
        base = baton.required_str(baton.settings(request.settings), "base-url")
        found = baton.get_json(f"{base}/lookup/{request.artifact.id}")
        if not found.get("pdf"):
            raise baton.skip("no PDF known")
        baton.info("found", id=request.artifact.id)
        return [Candidate(url=found["pdf"], content_type="application/pdf", score=10, headers=[], note="example-api")]
"#,
    )
    .unwrap();
    let wasm = build(&dir);
    let wasm = wasm.to_str().unwrap();
    let settings = format!(r#"{{"base-url": "{}"}}"#, api.url(""));
    let call = |id: &str, grant: bool| {
        let input = format!(r#"{{"id": "{id}"}}"#);
        let origin = api.origin();
        let mut args = vec![
            "plugin",
            "call",
            wasm,
            "--format",
            "json",
            "--input",
            &input,
            "--settings",
            &settings,
        ];
        if grant {
            args.extend(["--allow-host", &origin]);
        }
        project.command(&args).output().unwrap()
    };
    let ok = call("10.1234/ok", true);
    let doc: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(
        doc["result"][0]["url"], "https://example.org/ok.pdf",
        "{doc}"
    );
    assert_eq!(doc["logs"][0]["fields"][0][1], "10.1234/ok", "{doc}");
    assert!(
        api.requests()
            .iter()
            .any(|r| r.contains("/lookup/10.1234/ok")),
        "{:?}",
        api.requests()
    );
    let busy: serde_json::Value =
        serde_json::from_slice(&call("10.1234/busy", true).stdout).unwrap();
    assert_eq!(busy["failure"]["kind"], "retry", "{busy}");
    assert_eq!(busy["failure"]["after_ms"], 7000, "{busy}");
    let unknown: serde_json::Value =
        serde_json::from_slice(&call("10.1234/unknown", true).stdout).unwrap();
    assert_eq!(unknown["failure"]["kind"], "skip", "{unknown}");
    // Without the grant the plugin is refused at load, naming the grant to add.
    let refused = call("10.1234/ok", false);
    assert_eq!(refused.status.code(), Some(30));
    let refused: serde_json::Value = serde_json::from_slice(&refused.stdout).unwrap();
    assert_eq!(refused["error"]["code"], "capability-refused", "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("grant at least one with `http"),
        "{refused}"
    );
}

#[test]
fn a_misplaced_python_session_class_is_named_with_its_remedy() {
    let project = Project::new();
    let dir = new_starter(&project, "agent", "misplaced", "python");
    let session = std::fs::read_to_string(dir.join("agent_sessions.py")).unwrap();
    std::fs::remove_file(dir.join("agent_sessions.py")).unwrap();
    let app = std::fs::read_to_string(dir.join("app.py")).unwrap();
    std::fs::write(dir.join("app.py"), format!("{app}\n{session}")).unwrap();
    let built = in_starter(&dir, "./build.sh", &[]);
    assert!(!built.status.success());
    let stderr = String::from_utf8_lossy(&built.stderr);
    assert!(
        stderr.contains("class Session is in app.py") && stderr.contains("agent_sessions.py"),
        "{stderr}"
    );
}
