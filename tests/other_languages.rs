//! Nothing in the contract assumes Rust: a Python resolver built with componentize-py (its
//! own toolchain, CPython inside the component) loads and runs through the real binary.

use crate::common::Project;
use std::process::Command;

#[test]
fn a_python_component_implements_the_resolver_world() {
    let project = Project::new();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../plugins/python-resolver/build.sh"
    );
    let wasm = project.path().join("py-arxiv.wasm");
    let build = Command::new("bash")
        .arg(script)
        .arg(&wasm)
        .output()
        .expect("run build.sh");
    assert!(
        build.status.success(),
        "componentize-py build failed:\n{}",
        String::from_utf8_lossy(&build.stderr)
    );
    let inspect = project
        .baton(&[
            "plugin",
            "inspect",
            wasm.to_str().unwrap(),
            "--format",
            "json",
        ])
        .expect(0)
        .json();
    assert_eq!(inspect["world"], "resolver");
    assert_eq!(inspect["describe"]["name"], "py-arxiv");
    let run = project
        .baton(&[
            "plugin",
            "call",
            wasm.to_str().unwrap(),
            "--format",
            "json",
            "--input",
            r#"{"id": "2101.00001v2"}"#,
        ])
        .expect(0);
    let doc = run.json();
    assert_eq!(
        doc["result"][0]["url"], "https://arxiv.org/pdf/2101.00001v2",
        "{doc}"
    );
    assert_eq!(doc["logs"][0]["level"], "info", "{doc}");
    let refused = project
        .baton(&[
            "plugin",
            "call",
            wasm.to_str().unwrap(),
            "--format",
            "json",
            "--input",
            r#"{"id": "10.1000/not-arxiv"}"#,
        ])
        .expect(30);
    assert_eq!(refused.json()["failure"]["kind"], "fatal");
}
