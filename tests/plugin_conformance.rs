//! The conformance kit: `baton plugin test FILE` passes every first-party plugin (Rust and
//! the componentize-py example) and fails plugins with the bugs it looks for, naming each.

use crate::common::{Project, plugin};
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

const CHECKS: [&str; 6] = [
    "loads",
    "describe",
    "capabilities",
    "empty-input",
    "malformed-input",
    "fresh-and-warm-agree",
];

fn test_report(project: &Project, file: &str, code: i32) -> serde_json::Value {
    let report = project
        .baton(&["plugin", "test", file, "--format", "json"])
        .expect(code)
        .json();
    let names: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    if report["checks"][0]["ok"] == true {
        assert_eq!(names, CHECKS, "{report}");
    }
    report
}

fn check<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {report}"))
}

/// plugins/python-resolver built with its script, once per test run.
fn py_arxiv() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("py-arxiv");
            std::fs::create_dir_all(&dir).unwrap();
            let wasm = dir.join("py-arxiv.wasm");
            let script = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../plugins/python-resolver/build.sh"
            );
            let build = Command::new("bash")
                .arg(script)
                .arg(&wasm)
                .output()
                .expect("run build.sh");
            assert!(
                build.status.success(),
                "{}",
                String::from_utf8_lossy(&build.stderr)
            );
            wasm
        })
        .clone()
}

#[test]
fn every_first_party_plugin_passes_the_conformance_kit() {
    let project = Project::new();
    let mut files: Vec<PathBuf> = [
        "unpaywall",
        "direct",
        "arxiv",
        "openalex",
        "crossref",
        "noop",
        "csv-to-jsonl",
        "jsonl-transform",
        "template",
        "json-schema",
        "cli-agent",
    ]
    .iter()
    .map(|name| plugin(name))
    .collect();
    files.push(py_arxiv());
    for file in files {
        let report = test_report(&project, file.to_str().unwrap(), 0);
        assert_eq!(report["passed"], true, "{}: {report:#}", file.display());
    }
    let human = project
        .baton(&["plugin", "test", plugin("noop").to_str().unwrap()])
        .expect(0)
        .stdout();
    assert!(human.contains("✓ fresh-and-warm-agree"), "{human}");
    assert!(human.contains("all 6 checks passed"), "{human}");
}

#[test]
fn a_fragile_plugin_fails_the_kit_naming_each_problem() {
    let project = Project::new();
    let fragile = plugin("fragile");
    let report = test_report(&project, fragile.to_str().unwrap(), 10);
    assert_eq!(report["passed"], false);
    for passing in ["loads", "describe", "capabilities"] {
        assert_eq!(check(&report, passing)["ok"], true, "{report:#}");
    }
    let malformed = check(&report, "malformed-input");
    assert_eq!(malformed["ok"], false);
    let detail = malformed["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("a malformed (not JSON) input made the plugin fail instead of returning a WIT failure: plugin `plugin-test:fragile` resolve: guest panic: called `Result::unwrap()` on an `Err` value"),
        "{detail}"
    );
    let agree = check(&report, "fresh-and-warm-agree");
    assert_eq!(agree["ok"], false);
    let detail = agree["detail"].as_str().unwrap();
    assert!(
        detail.contains("call-1")
            && detail.contains("call-2")
            && detail.contains("keep state between calls"),
        "{detail}"
    );
    let human = project
        .baton(&["plugin", "test", fragile.to_str().unwrap()])
        .expect(10)
        .stdout();
    assert!(human.contains("✗ malformed-input"), "{human}");
    assert!(human.contains("of 6 checks failed"), "{human}");
    // A Python plugin that lets json.loads raise fails the same way, with Python's words.
    let py = crate::guest_errors::py_crash();
    let report = test_report(&project, py.to_str().unwrap(), 10);
    let detail = check(&report, "malformed-input")["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        detail.contains("guest panic: json.decoder.JSONDecodeError: "),
        "{detail}"
    );
    assert_eq!(check(&report, "empty-input")["ok"], false, "{report:#}");
    // Not a component at all.
    let broken = project.write("broken.wasm", "not wasm");
    let report = test_report(&project, broken.to_str().unwrap(), 10);
    assert_eq!(report["checks"].as_array().unwrap().len(), 1, "{report}");
    assert!(
        check(&report, "loads")["detail"]
            .as_str()
            .unwrap()
            .contains("not a WebAssembly file"),
        "{report}"
    );
}
