//! `baton plugin new` scaffolds crates that build with one cargo command, outside this
//! repository, and answer `baton plugin call` out of the box.

use crate::common::Project;
use std::process::Command;

#[test]
fn scaffolds_of_every_kind_build_and_answer_a_call() {
    let project = Project::new();
    // Shared across kinds (and runs) so the SDK's dependencies compile once.
    let target = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("scaffold-target");
    let cases = [
        (
            "resolver",
            "my-resolver",
            r#"{"id": "https://example.org/a.pdf"}"#,
            "https://example.org/a.pdf",
        ),
        ("stage", "my-stage", "{}", "counted 1 input(s)"),
        (
            "agent",
            "my-agent",
            r#"{"prompt": "hello"}"#,
            "turn 1: hello",
        ),
    ];
    let notes = project.write("notes.txt", "one\ntwo\n");
    for (kind, name, input, expected) in cases {
        project
            .baton(&["plugin", "new", kind, name, "--dir", "plugins"])
            .expect(0);
        let dir = project.path().join("plugins").join(name);
        let build = Command::new(env!("CARGO"))
            .args(["build", "--release"])
            .current_dir(&dir)
            .env("CARGO_TARGET_DIR", &target)
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .output()
            .expect("run cargo");
        assert!(
            build.status.success(),
            "{kind} scaffold did not build:\n{}",
            String::from_utf8_lossy(&build.stderr)
        );
        let wasm = target
            .join("wasm32-wasip2/release")
            .join(format!("{}.wasm", name.replace('-', "_")));
        let mut args = vec!["plugin", "call", wasm.to_str().unwrap(), "--input", input];
        let stage_input = notes.to_str().unwrap().to_string();
        if kind == "stage" {
            args.extend(["--stage-input", &stage_input]);
        }
        let run = project.baton(&args).expect(0);
        assert!(run.stdout().contains(expected), "{kind}: {}", run.stdout());
    }
    let again = project
        .baton(&[
            "plugin",
            "new",
            "resolver",
            "my-resolver",
            "--dir",
            "plugins",
        ])
        .expect(20);
    assert!(again.stderr().contains("already exists"));
    project
        .baton(&["plugin", "new", "resolver", "Bad Name"])
        .expect(20);
}
