//! Guest failures an operator can read: a Rust panic or an uncaught Python exception is
//! reported by the guest's own error first (code `guest-panic`), the wasm backtrace goes to
//! the job's log, and whether it is retried follows the plugin's `retry-on-panic`.

use crate::common::{Project, plugin};
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// A componentize-py resolver that logs a line, prints a line, then parses `payload.year` with
/// `int()`: `{"year": "soon"}` raises an uncaught ValueError, a malformed payload an uncaught
/// JSONDecodeError.
pub const PY_CRASH: &str = r#"
"""py-crash: a resolver with uncaught exceptions, for Baton's tests of guest errors."""

import json

from wit_world import exports
from wit_world.imports import log
from wit_world.imports.plugin_types import (
    Candidate,
    Capabilities,
    Description,
    Field,
    PluginKind,
    ResolveRequest,
)


class Metadata(exports.Metadata):
    def describe(self) -> Description:
        return Description(
            name="py-crash",
            version="0.1.0",
            kind=PluginKind.RESOLVER,
            summary="raises ValueError for years it cannot parse",
            capabilities=Capabilities(http=[], files=[], exec=[], env=[], state=False),
        )


def parse_year(text: str) -> int:
    return int(text)


class Resolution(exports.Resolution):
    def resolve(self, request: ResolveRequest) -> list[Candidate]:
        payload = json.loads(request.artifact.payload)
        log.emit(log.Level.WARN, "parsing the year", [Field(key="year", value=str(payload.get("year")))])
        print("py-crash: about to parse", payload.get("year"))
        year = parse_year(payload["year"])
        return [
            Candidate(
                url=f"https://example.org/{year}/{request.artifact.id}",
                content_type=None,
                score=1,
                headers=[],
                note=None,
            )
        ]
"#;

/// The py-crash component, built once per test run with the Python resolver's build script.
pub fn py_crash() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("py-crash");
            std::fs::create_dir_all(&dir).unwrap();
            let source = dir.join("crash.py");
            std::fs::write(&source, PY_CRASH).unwrap();
            let wasm = dir.join("py-crash.wasm");
            let script = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../plugins/python-resolver/build.sh"
            );
            let build = Command::new("bash")
                .arg(script)
                .arg(&wasm)
                .arg(&source)
                .output()
                .expect("run build.sh");
            assert!(
                build.status.success(),
                "componentize-py build failed:\n{}",
                String::from_utf8_lossy(&build.stderr)
            );
            wasm
        })
        .clone()
}

/// A project whose queue resolves (without downloading) with `name` from `file`.
fn resolver_project(name: &str, file: &std::path::Path, extra: &str) -> Project {
    let project = Project::new();
    std::fs::copy(file, project.path().join(format!("{name}.wasm"))).unwrap();
    project.write(
        "baton.toml",
        &format!(
            "[queue]\nresolvers = \"{name}\"\ndownload = \"false\"\nmax-attempts = 3\nbackoff = \"50ms\"\nbackoff-max = \"100ms\"\n\n[plugins.{name}]\npath = \"{name}.wasm\"\n{extra}"
        ),
    );
    project
}

fn job_show(project: &Project, id: &str) -> serde_json::Value {
    project
        .baton(&["job", "show", id, "--format", "json"])
        .expect(0)
        .json()
}

#[test]
fn a_python_exception_is_reported_by_its_own_line_first() {
    let wasm = py_crash();
    let project = resolver_project("py-crash", &wasm, "");
    // The author's dev loop: the exception line first, the backtrace apart.
    let call = project
        .baton(&[
            "plugin",
            "call",
            "py-crash.wasm",
            "--input",
            r#"{"id": "a", "year": "soon"}"#,
            "--format",
            "json",
        ])
        .expect(30)
        .json();
    assert_eq!(call["error"]["code"], "guest-panic", "{call}");
    let message = call["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "guest panic: ValueError: invalid literal for int() with base 10: 'soon' ("
        ),
        "{message}"
    );
    assert!(!message.contains('\n'), "{message}");
    assert!(
        call["error"]["stderr"]
            .as_str()
            .unwrap()
            .contains("Traceback (most recent call last):"),
        "{call}"
    );
    let human = project.baton(&[
        "plugin",
        "call",
        "py-crash.wasm",
        "--input",
        r#"{"id": "a", "year": "soon"}"#,
    ]);
    let first = human.stderr().lines().next().unwrap_or("").to_string();
    assert!(
        first.contains("plugin `py-crash` resolve: guest panic: ValueError: invalid literal"),
        "{}",
        human.stderr()
    );
    // Through the queue: the job fails at once (retry-on-panic is off by default), its error
    // is the exception line, and the rest is in its log.
    project.write(
        "jobs.jsonl",
        "{\"id\": \"bad-year\", \"year\": \"soon\"}\n{\"id\": \"good-year\", \"year\": \"2024\"}\n",
    );
    project.baton(&["queue", "import", "jobs.jsonl"]).expect(0);
    project.baton(&["queue", "run", "--drain"]).expect(10);
    let bad = job_show(&project, "bad-year");
    assert_eq!(bad["job"]["state"], "failed", "{bad}");
    assert_eq!(bad["job"]["error_code"], "guest-panic", "{bad}");
    assert_eq!(bad["job"]["attempts"], 1, "{bad}");
    let error = bad["job"]["last_error"].as_str().unwrap();
    assert!(
        error.starts_with(
            "plugin `py-crash` resolve: guest panic: ValueError: invalid literal for int() with base 10: 'soon'"
        ),
        "{error}"
    );
    assert!(
        !error.contains("wasm backtrace") && !error.contains('\n'),
        "{error}"
    );
    let log = std::fs::read_to_string(bad["log"]["path"].as_str().unwrap()).unwrap();
    for needle in [
        "\twarn\tplugin:py-crash\tparsing the year\t[[\"year\",\"soon\"]]",
        "\tinfo\tstdout:py-crash\tpy-crash: about to parse soon\t",
        "\tinfo\tstderr:py-crash\tTraceback (most recent call last):\t",
        "\terror\tbaton\tplugin `py-crash` resolve: guest panic: ValueError",
        "\terror\tbacktrace:py-crash\t",
        "\terror\tbaton\tattempt ended: failed: ",
    ] {
        assert!(
            log.contains(needle),
            "no {needle:?} in the job's log:\n{log}"
        );
    }
    let good = job_show(&project, "good-year");
    assert_eq!(good["job"]["state"], "done", "{good}");
    assert_eq!(
        good["job"]["result"]["candidates"][0]["url"],
        "https://example.org/2024/good-year"
    );
}

#[test]
fn a_rust_panic_fails_the_job_with_its_message_and_logs_the_rest() {
    let project = resolver_project("fragile", &plugin("fragile"), "");
    project.write(
        "jobs.jsonl",
        "{\"id\": \"p1\", \"panic\": \"the payload names no DOI\"}\n",
    );
    project.baton(&["queue", "import", "jobs.jsonl"]).expect(0);
    project.baton(&["queue", "run", "--drain"]).expect(10);
    let shown = project.baton(&["job", "show", "p1"]).expect(0).stdout();
    let error_line = shown
        .lines()
        .find(|l| l.starts_with("error "))
        .unwrap_or_else(|| panic!("no error line in:\n{shown}"));
    assert!(
        error_line.contains(
            "[guest-panic] plugin `fragile` resolve: guest panic: the payload names no DOI (panicked at "
        ),
        "{error_line}"
    );
    // `job show` ends with the log's path and its last lines, in order.
    let log_at = shown.find("\nlog       ").expect("a log section");
    let tail = &shown[log_at..];
    let order: Vec<usize> = [
        "attempt 1 of 3 started",
        "plugin:fragile about to panic",
        "stdout:fragile fragile: stdout before the panic",
        "stderr:fragile thread",
        "guest panic: the payload names no DOI",
        "backtrace:fragile",
        "attempt ended: failed",
    ]
    .iter()
    .map(|needle| {
        tail.find(needle)
            .unwrap_or_else(|| panic!("no {needle:?} in:\n{tail}"))
    })
    .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "out of order:\n{tail}"
    );
}

#[test]
fn retry_on_panic_retries_the_job_until_its_attempts_are_used() {
    let project = resolver_project("fragile", &plugin("fragile"), "retry-on-panic = true\n");
    project.write("jobs.jsonl", "{\"id\": \"p2\", \"panic\": \"flaky\"}\n");
    project.baton(&["queue", "import", "jobs.jsonl"]).expect(0);
    project.baton(&["queue", "run", "--drain"]).expect(10);
    let job = job_show(&project, "p2");
    assert_eq!(job["job"]["attempts"], 3, "{job}");
    assert_eq!(job["job"]["error_code"], "guest-panic", "{job}");
    let error = job["job"]["last_error"].as_str().unwrap();
    assert!(
        error.starts_with("gave up after 3 attempts: plugin `fragile` resolve: guest panic: flaky"),
        "{error}"
    );
    let log = std::fs::read_to_string(job["log"]["path"].as_str().unwrap()).unwrap();
    assert_eq!(
        log.matches("resolve: guest panic: flaky").count(),
        6,
        "each attempt logs the error and its verdict:\n{log}"
    );
}

#[test]
fn a_panicking_stage_fails_at_once_with_its_message_and_its_log() {
    let project = Project::new();
    std::fs::copy(plugin("hostile"), project.path().join("hostile.wasm")).unwrap();
    project.write(
        "baton.toml",
        "[plugins.hostile]\npath = \"hostile.wasm\"\n[plugins.hostile.grants]\nhttp = [\"http://127.0.0.1:1\"]\n",
    );
    project.write(
        "pipelines/p.toml",
        "[[stage]]\nid = \"boom\"\nplugin = \"hostile\"\noutputs = [\"never.txt\"]\nretries = 2\nparams = { attack = \"panic\" }\n",
    );
    let run = project.baton(&["pipeline", "run", "p"]).expect(10);
    let out = run.stdout();
    assert!(
        out.contains("FAILED in") && out.contains(": plugin `hostile` run: guest panic: hostile plugin panicked on purpose (panicked at "),
        "{out}"
    );
    let log_line = out
        .lines()
        .find(|l| l.trim_start().starts_with("log: "))
        .unwrap_or_else(|| panic!("no log line in:\n{out}"));
    let path = project
        .path()
        .join(log_line.trim_start().trim_start_matches("log: "));
    let log = std::fs::read_to_string(&path).unwrap();
    assert!(log.contains("\terror\tbacktrace:hostile\t"), "{log}");
    // Not retried: retry-on-panic is off, whatever the stage's retries.
    assert_eq!(log.matches("attempt 1 of").count(), 1, "{log}");
    assert!(!log.contains("attempt 2 of"), "{log}");
}
