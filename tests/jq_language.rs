//! The jq language of the `jsonl-transform` stage (jaq inside the sandbox), through the real
//! binary: one pipeline per case in a temp project. Then jq's own test file, `tests/jq.test`
//! from jq's sources (downloaded at test time from PyPI, where the `jq` package vendors
//! them), run through the plugin, and, when `JQ_CONFORMANCE_JAQ` names a `jaq` binary,
//! through jaq itself: the pass rates are in docs/benchmarks.md ("jq conformance").

use crate::common::Project;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A TOML string holding `text`.
fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

/// One `jsonl-transform` stage over `inputs` (name, text) with `filter` (and `mode`, when
/// given): the output file's text, or the failed stage's detail.
fn transform(inputs: &[(&str, &str)], filter: &str, mode: Option<&str>) -> Result<String, String> {
    let project = Project::new();
    project.write("baton.toml", "[defaults]\ntimeout = \"30s\"\n");
    let mut paths = Vec::new();
    for (name, text) in inputs {
        project.write(&format!("data/{name}"), text);
        paths.push(toml_string(&format!("data/{name}")));
    }
    let mode = mode.map_or(String::new(), |mode| {
        format!(", mode = {}", toml_string(mode))
    });
    project.write(
        "pipelines/p.toml",
        &format!(
            "[[stage]]\nid = \"t\"\nplugin = \"jsonl-transform\"\ninputs = [{}]\n\
             outputs = [\"out.jsonl\"]\nparams = {{ filter = {}, output = \"out.jsonl\"{mode} }}\n",
            paths.join(", "),
            toml_string(filter)
        ),
    );
    let run = project.baton(&["pipeline", "run", "p", "--format", "json"]);
    let doc = run.json();
    let stage = &doc["stages"][0];
    match stage["state"].as_str() {
        Some("done") => Ok(
            std::fs::read_to_string(project.path().join("out/t/out.jsonl"))
                .expect("the output was promoted"),
        ),
        _ => Err(stage["detail"].as_str().unwrap_or_default().to_string()),
    }
}

/// `filter` over one JSON Lines input `data/in.jsonl`, which must succeed.
fn lines(input: &str, filter: &str) -> String {
    transform(&[("in.jsonl", input)], filter, None)
        .unwrap_or_else(|detail| panic!("`{filter}` failed: {detail}"))
}

#[test]
fn objects_keep_their_key_order() {
    // As jaq does: results keep the input's order and construction's order; `del` moves the
    // last key into the deleted one's place (jq keeps the others in order, as
    // `with_entries(select(...))` does here).
    let input = "{\"zebra\": 1, \"apple\": {\"y\": 2, \"b\": 3}, \"mango\": [4]}\n";
    let filter = ". , {mango, zebra}, (.apple | keys_unsorted, keys), \
                  (to_entries | map(.key)), (.apple + {a: 0}), \
                  with_entries(select(.key != \"zebra\")), del(.zebra)";
    assert_eq!(
        lines(input, filter),
        "{\"zebra\":1,\"apple\":{\"y\":2,\"b\":3},\"mango\":[4]}\n\
         {\"mango\":[4],\"zebra\":1}\n\
         [\"y\",\"b\"]\n\
         [\"b\",\"y\"]\n\
         [\"zebra\",\"apple\",\"mango\"]\n\
         {\"y\":2,\"b\":3,\"a\":0}\n\
         {\"apple\":{\"y\":2,\"b\":3},\"mango\":[4]}\n\
         {\"mango\":[4],\"apple\":{\"y\":2,\"b\":3}}\n"
    );
}

#[test]
fn variables_reduce_and_try_catch() {
    let input =
        "{\"items\": [{\"n\": 2, \"tag\": \"a\"}, {\"n\": 5, \"tag\": \"b\"}], \"k\": 10}\n";
    let filter = ".k as $k | .items | map(.n * $k), \
                  (reduce .[] as {n: $n, tag: $t} ({}; .[$t] = $n)), \
                  (. as [$first] | $first.tag), \
                  (try error(\"boom\") catch \"caught: \\(.)\"), \
                  [.[] | try (if .n > 3 then error({too: .n}) else .n end) catch .too], \
                  (try (\"x\" | tonumber) catch \"not a number\"), \
                  [.[].n | select(. > 1)?]";
    assert_eq!(
        lines(input, filter),
        "[20,50]\n{\"a\":2,\"b\":5}\n\"a\"\n\"caught: boom\"\n[2,5]\n\"not a number\"\n[2,5]\n"
    );
}

#[test]
fn string_interpolation_csv_tsv_and_regexes() {
    let input = "{\"name\": \"Ada \\\"L\\\"\", \"age\": 36, \"tags\": [\"x\\ty\", null, true], \
                 \"email\": \"ada@example.org\"}\n";
    let filter = "\"\\(.name) is \\(.age) (\\(.tags | length) tags)\", \
                  ([.name, .age, .tags[1], .tags[2]] | @csv), \
                  ([.tags[0], .age] | @tsv), \
                  @csv \"row: \\([.age, .name])\", \
                  (.email | test(\"@EXAMPLE\\\\.org$\"; \"i\"), test(\"^bob\")), \
                  (.email | capture(\"^(?<user>[^@]+)@(?<host>.+)$\")), \
                  (.email | sub(\"@.*\"; \"@…\")), \
                  [.email | scan(\"[aeiou]\")]";
    assert_eq!(
        lines(input, filter),
        "\"Ada \\\"L\\\" is 36 (3 tags)\"\n\
         \"\\\"Ada \\\"\\\"L\\\"\\\"\\\",36,,true\"\n\
         \"x\\\\ty\\t36\"\n\
         \"row: 36,\\\"Ada \\\"\\\"L\\\"\\\"\\\"\"\n\
         true\nfalse\n\
         {\"user\":\"ada\",\"host\":\"example.org\"}\n\
         \"ada@…\"\n\
         [\"a\",\"a\",\"e\",\"a\",\"e\",\"o\"]\n"
    );
}

#[test]
fn updates_paths_and_limit() {
    let input = "{\"a\": {\"b\": [1, 2, 3]}, \"c\": \"x\"}\n";
    let filter = "(.a.b |= map(. * 10)), (.a.b[] |= . + 1), (.c |= ascii_upcase), \
                  (.a.b += [4] | .a.b), (.d //= \"new\" | .d), \
                  [path(..)], [paths(type == \"number\")], path(.a.b[1]), \
                  [limit(2; .a.b[])], [limit(0; .a.b[])], [first(range(10; 0; -3))], \
                  (getpath([\"a\", \"b\", 2])), (setpath([\"c\"]; 1) | .c), \
                  del(.a.b[2, 0]), (try del(.a.b[0, 2]) catch .)";
    assert_eq!(
        lines(input, filter),
        "{\"a\":{\"b\":[10,20,30]},\"c\":\"x\"}\n\
         {\"a\":{\"b\":[2,3,4]},\"c\":\"x\"}\n\
         {\"a\":{\"b\":[1,2,3]},\"c\":\"X\"}\n\
         [1,2,3,4]\n\
         \"new\"\n\
         [[],[\"a\"],[\"a\",\"b\"],[\"a\",\"b\",0],[\"a\",\"b\",1],[\"a\",\"b\",2],[\"c\"]]\n\
         [[\"a\",\"b\",0],[\"a\",\"b\",1],[\"a\",\"b\",2]]\n\
         [\"a\",\"b\",1]\n\
         [1,2]\n\
         []\n\
         [10]\n\
         3\n\
         1\n\
         {\"a\":{\"b\":[2]},\"c\":\"x\"}\n\
         \"index 2 out of bounds\"\n"
    );
}

#[test]
fn from_entries_reads_value_and_capitalised_value() {
    let input = "[{\"key\": \"a\", \"value\": 1}, {\"Key\": \"b\", \"Value\": 2}, \
                 {\"name\": \"c\", \"value\": false, \"Value\": 3}, {\"Name\": \"d\"}]\n\
                 {\"x\": 1, \"y\": 2}\n";
    let filter = "if type == \"array\" then from_entries \
                  else with_entries(select(.value > 1) | .key |= ascii_upcase) end";
    assert_eq!(
        lines(input, filter),
        "{\"a\":1,\"b\":2,\"c\":false,\"d\":null}\n{\"Y\":2}\n"
    );
}

#[test]
fn errors_name_the_input_file_and_line() {
    let input = "{\"a\": {\"b\": 1}}\n\n{\"a\": 7}\n";
    let detail = transform(&[("people.jsonl", input)], ".a.b", None).unwrap_err();
    assert!(
        detail.ends_with("input `data/people.jsonl`: line 3: cannot index 7 with \"b\""),
        "{detail}"
    );
    let detail = transform(&[("people.jsonl", input)], "error(\"bad \\(.a)\")", None).unwrap_err();
    assert!(
        detail.ends_with("input `data/people.jsonl`: line 1: bad {\"b\":1}"),
        "{detail}"
    );
    let detail = transform(&[("doc.json", "{\"a\": 1}")], ".a[0]", None).unwrap_err();
    assert!(
        detail.ends_with("input `data/doc.json`: cannot index 1 with 0"),
        "{detail}"
    );
    let detail = transform(&[("bad.jsonl", "1\n{\"a\" 1}\n")], ".", None).unwrap_err();
    assert!(
        detail.contains("input `data/bad.jsonl`: line 2, column 6: not valid JSON"),
        "{detail}"
    );
    let detail =
        transform(&[("in.jsonl", "1\n")], ".a |\n  map(. + 1) | foo(1)", None).unwrap_err();
    assert!(
        detail.ends_with("params.filter: line 2, column 16: unknown function `foo/1`"),
        "{detail}"
    );
    let detail = transform(&[("in.jsonl", "1\n")], "[.[] | {a: }]", None).unwrap_err();
    assert!(
        detail.ends_with("params.filter: column 12: expected term, found `}`"),
        "{detail}"
    );
    let detail = transform(&[("in.jsonl", "1\n")], "{(1): 2}", None).unwrap_err();
    assert!(
        detail.ends_with(
            "input `data/in.jsonl`: line 1: the result has an object key that is not a string (1)"
        ),
        "{detail}"
    );
}

#[test]
fn slurp_mode_runs_once_over_every_input() {
    let inputs = [
        (
            "a.jsonl",
            "{\"team\": \"x\", \"n\": 2}\n{\"team\": \"y\", \"n\": 1}\n",
        ),
        ("b.json", "{\"team\": \"x\", \"n\": 3}"),
    ];
    let filter = "length, (group_by(.team) | map({team: .[0].team, total: map(.n) | add})), \
                  input_filename";
    assert_eq!(
        transform(&inputs, filter, Some("slurp")).unwrap(),
        "3\n[{\"team\":\"x\",\"total\":5},{\"team\":\"y\",\"total\":1}]\nnull\n"
    );
    let detail = transform(&inputs, ".[] | .n + .team", Some("slurp")).unwrap_err();
    assert!(
        detail
            .ends_with("slurped inputs `data/a.jsonl`, `data/b.json`: cannot calculate 2 + \"x\""),
        "{detail}"
    );
    let detail = transform(&inputs, "map(.n) | add", Some("lines")).unwrap_err();
    assert!(
        detail.ends_with("input `data/a.jsonl`: line 1: cannot index \"x\" with \"n\""),
        "{detail}"
    );
}

/// The PyPI release of the `jq` bindings whose source distribution vendors jq's sources,
/// and the jq release inside it.
const JQ_PYPI: &str = "jq==1.13.0";
const JQ_SOURCES: &str = "jq-1.13.0/deps/jq-1.8.2.tar.gz";
const JQ_TESTS: &str = "jq-1.8.2/tests";

/// The plugin passes at least this many cases of jq 1.8.2's `tests/jq.test` (measured:
/// see docs/benchmarks.md); fewer is a regression.
const PLUGIN_PASSES_AT_LEAST: usize = 368;

/// One case of `jq.test`: a program, an input and the expected outputs, or (`must_fail`)
/// a program that must not compile.
struct Case {
    line: usize,
    program: String,
    input: String,
    expected: Vec<String>,
    must_fail: bool,
}

/// Parses a jq test file as jq's test runner does: blank and `#` lines separate cases;
/// `%%FAIL` (or `%%FAIL IGNORE MSG`) before a program means it must fail to compile (the
/// error text that follows is not compared here: jaq's messages are not jq's).
fn cases(text: &str) -> Vec<Case> {
    let skip = |line: &str| {
        let line = line.trim_start_matches([' ', '\t']);
        line.is_empty() || line.starts_with('#')
    };
    let mut lines = text.lines().enumerate().map(|(i, line)| (i + 1, line));
    let mut all = Vec::new();
    let mut must_fail = false;
    while let Some((line, program)) = lines.next() {
        if skip(program) {
            continue;
        }
        if program == "%%FAIL" || program == "%%FAIL IGNORE MSG" {
            must_fail = true;
            continue;
        }
        let mut case = Case {
            line,
            program: program.to_string(),
            input: String::new(),
            expected: Vec::new(),
            must_fail,
        };
        if !must_fail {
            case.input = lines
                .next()
                .map_or(String::new(), |(_, input)| input.to_string());
        }
        for (_, next) in lines.by_ref() {
            if skip(next) {
                break;
            }
            case.expected.push(next.to_string());
        }
        must_fail = false;
        all.push(case);
    }
    all
}

/// jq's equality: numbers by value, objects by key whatever their order.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same(a, b))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// Whether `outputs` (JSON texts, one per value) are exactly the case's expected values.
fn outputs_match(case: &Case, outputs: &[&str]) -> bool {
    let parse = |text: &str| serde_json::from_str::<Value>(text).ok();
    outputs.len() == case.expected.len()
        && outputs
            .iter()
            .zip(&case.expected)
            .all(|(got, want)| match (parse(got), parse(want)) {
                (Some(got), Some(want)) => same(&got, &want),
                _ => false,
            })
}

/// Downloads jq's sources from PyPI into `dir` and returns their `tests/` directory.
fn jq_tests(dir: &Path) -> PathBuf {
    let run = |program: &str, args: &[&str]| {
        let output = Command::new(program)
            .args(args)
            .current_dir(dir)
            .env("PIP_ROOT_USER_ACTION", "ignore")
            .output()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
        assert!(
            output.status.success(),
            "{program} {args:?} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    run(
        "python3",
        &[
            "-m",
            "pip",
            "download",
            "--quiet",
            "--disable-pip-version-check",
            "--no-binary",
            ":all:",
            "--no-deps",
            JQ_PYPI,
            "-d",
            ".",
        ],
    );
    let sdist = format!("{}.tar.gz", JQ_PYPI.replace("==", "-"));
    run("tar", &["-xzf", &sdist, JQ_SOURCES]);
    run("tar", &["-xzf", JQ_SOURCES, JQ_TESTS]);
    dir.join(JQ_TESTS)
}

/// Runs every case through the plugin: one stage per case in one pipeline. Returns, per
/// case, whether it passed.
fn through_plugin(cases: &[Case]) -> Vec<bool> {
    let project = Project::new();
    project.write("baton.toml", "[defaults]\ntimeout = \"20s\"\n");
    let mut pipeline = String::new();
    for (i, case) in cases.iter().enumerate() {
        project.write(
            &format!("cases/c{i:04}.jsonl"),
            &format!("{}\n", case.input),
        );
        pipeline.push_str(&format!(
            "[[stage]]\nid = \"c{i:04}\"\nplugin = \"jsonl-transform\"\n\
             inputs = [\"cases/c{i:04}.jsonl\"]\noutputs = [\"out.jsonl\"]\n\
             params = {{ filter = {}, output = \"out.jsonl\" }}\n\n",
            toml_string(&case.program)
        ));
    }
    project.write("pipelines/jq.toml", &pipeline);
    let run = project.baton(&[
        "pipeline",
        "run",
        "jq",
        "--continue-on-error",
        "--jobs",
        "2",
        "--format",
        "json",
    ]);
    let doc = run.json();
    let stages: BTreeMap<String, (String, String)> = doc["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .map(|stage| {
            let text = |key: &str| stage[key].as_str().unwrap_or_default().to_string();
            (text("stage"), (text("state"), text("detail")))
        })
        .collect();
    cases
        .iter()
        .enumerate()
        .map(|(i, case)| {
            let (state, detail) = &stages[&format!("c{i:04}")];
            if case.must_fail {
                return state == "failed" && detail.contains("params.filter: ");
            }
            let out = project.path().join(format!("out/c{i:04}/out.jsonl"));
            state == "done"
                && std::fs::read_to_string(out)
                    .is_ok_and(|text| outputs_match(case, &text.lines().collect::<Vec<_>>()))
        })
        .collect()
}

/// Runs every case through a `jaq` binary (`-c`, the input on stdin, jq's test modules on
/// the library path, the program after `--`). Returns, per case, (passed as jq's test runner counts it, which
/// ignores an error after all expected outputs; passed with no error at all, as a stage
/// must).
fn through_jaq(jaq: &str, cases: &[Case], modules: &Path) -> Vec<(bool, bool)> {
    cases
        .iter()
        .map(|case| {
            let mut child = Command::new(jaq)
                .arg("-c")
                .arg("-L")
                .arg(modules)
                .arg("--")
                .arg(&case.program)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {jaq}: {e}"));
            if let Some(mut stdin) = child.stdin.take() {
                let _ = writeln!(stdin, "{}", case.input);
            }
            let output = child.wait_with_output().expect("jaq ran");
            // jaq exits with 3 when the filter does not compile.
            let compiled = output.status.code() != Some(3);
            if case.must_fail {
                return (!compiled, !compiled);
            }
            let stdout = String::from_utf8_lossy(&output.stdout);
            let matched = compiled && outputs_match(case, &stdout.lines().collect::<Vec<_>>());
            (matched, matched && output.status.success())
        })
        .collect()
}

#[test]
fn jq_test_conformance() {
    let dir = tempfile::tempdir().expect("temp dir");
    let tests = jq_tests(dir.path());
    let text = std::fs::read_to_string(tests.join("jq.test")).expect("jq.test");
    let cases = cases(&text);
    assert!(cases.len() > 400, "only {} cases parsed", cases.len());
    let total = cases.len();
    let plugin = through_plugin(&cases);
    let passed = plugin.iter().filter(|passed| **passed).count();
    println!(
        "jq 1.8.2 tests/jq.test through jsonl-transform: {passed} of {total} passed ({:.1}%)",
        100.0 * passed as f64 / total as f64
    );
    if let Ok(jaq) = std::env::var("JQ_CONFORMANCE_JAQ") {
        let results = through_jaq(&jaq, &cases, &tests.join("modules"));
        let lenient = results.iter().filter(|(passed, _)| *passed).count();
        let strict = results.iter().filter(|(_, passed)| *passed).count();
        println!(
            "jq 1.8.2 tests/jq.test through {jaq}: {lenient} of {total} passed ({:.1}%) as jq's \
             runner counts; {strict} ({:.1}%) with no error at all",
            100.0 * lenient as f64 / total as f64,
            100.0 * strict as f64 / total as f64
        );
        for (case, (result, jaq)) in cases.iter().zip(plugin.iter().zip(&results)) {
            if jaq.1 != *result {
                let (who, what) = if *result {
                    ("plugin", "passes")
                } else {
                    ("jaq", "passes")
                };
                println!("  line {}: only {who} {what}: {}", case.line, case.program);
            }
        }
    }
    assert!(
        passed >= PLUGIN_PASSES_AT_LEAST,
        "{passed} of {total} jq.test cases pass through the plugin; at least {PLUGIN_PASSES_AT_LEAST} did"
    );
}
