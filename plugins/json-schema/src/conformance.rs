//! The `jsonschema` crate on its own against the official JSON Schema Test Suite (draft
//! 2020-12), the way the suite's harnesses run it: every document of `remotes/` known as
//! `http://localhost:1234/...`, one validator per case group. This is the library's rate
//! that `docs/benchmarks.md` compares with the rate through the plugin. Ignored by
//! default: `plugins/json-schema/conformance.sh` downloads the suite and runs it with
//! JSON_SCHEMA_TEST_SUITE set to the suite's directory.
use std::fs;
use std::path::{Path, PathBuf};

use jsonschema::Registry;
use serde_json::Value;

/// Every remote document but the other drafts' (the plugin's run leaves them out too).
fn remotes(dir: &Path, base: &str, top: bool, found: &mut Vec<(String, Value)>) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if path.is_dir() {
            if !(top && name.starts_with("draft") && name != "draft2020-12") {
                remotes(&path, &format!("{base}{name}/"), false, found);
            }
        } else {
            let document = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
            found.push((format!("{base}{name}"), document));
        }
    }
}

#[test]
#[ignore = "needs the official suite: run plugins/json-schema/conformance.sh"]
fn the_library_passes_the_official_suite() {
    let suite = PathBuf::from(std::env::var("JSON_SCHEMA_TEST_SUITE").expect(
        "JSON_SCHEMA_TEST_SUITE names the suite's directory; plugins/json-schema/conformance.sh sets it",
    ));
    let mut documents = Vec::new();
    remotes(
        &suite.join("remotes"),
        "http://localhost:1234/",
        true,
        &mut documents,
    );
    let registry = Registry::new()
        .extend(documents)
        .unwrap()
        .prepare()
        .unwrap();
    let dir = suite.join("tests/draft2020-12");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let (mut passed, mut total) = (0usize, 0usize);
    let mut failures = Vec::new();
    for file in &files {
        let stem = file.file_stem().unwrap().to_string_lossy().into_owned();
        let groups: Vec<Value> = serde_json::from_str(&fs::read_to_string(file).unwrap()).unwrap();
        for group in &groups {
            let validator = jsonschema::options()
                .with_registry(&registry)
                .build(&group["schema"]);
            for test in group["tests"].as_array().unwrap() {
                total += 1;
                let expected = test["valid"].as_bool().unwrap();
                match &validator {
                    Ok(validator) if validator.is_valid(&test["data"]) == expected => passed += 1,
                    outcome => failures.push(format!(
                        "{stem}: {} / {}{}",
                        group["description"],
                        test["description"],
                        outcome
                            .as_ref()
                            .err()
                            .map(|error| format!(": {error}"))
                            .unwrap_or_default()
                    )),
                }
            }
        }
    }
    for failure in &failures {
        println!("FAILED {failure}");
    }
    println!(
        "draft 2020-12 with the jsonschema crate alone: {passed}/{total} cases passed ({:.2}%), {} files",
        100.0 * passed as f64 / total as f64,
        files.len()
    );
    assert!(
        total > 1000,
        "only {total} cases found in {}",
        dir.display()
    );
    assert!(failures.is_empty(), "{} cases failed", failures.len());
}
