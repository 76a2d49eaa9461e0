//! Before a stage runs: every literal (non-glob) input it declares must be a file. A glob
//! that matches nothing is not an error here: the stage gets what matched and its plugin
//! decides (`jsonl-transform` skips without inputs). A missing literal input fails the stage
//! before its plugin or command runs, with the path and the stage of the pipeline that
//! declares it as an output (left out of the run by a filter, or one that did not make it).

use super::glob;
use super::graph::Graph;
use super::model::StageDef;
use super::realpath::{Leads, RealPaths};

/// The code of the failure of a stage whose literal input is missing: another attempt
/// cannot fix it, so it fails at once.
pub const INPUT_MISSING: &str = "input-missing";

/// Why `stage` cannot run because a literal input of it is not a file, or `None` when
/// every one is. `in_run` says whether a stage (by id) has a job in this run. The message
/// names the first missing input, the stage that makes it and the other missing inputs:
/// ``input `out/people/people.jsonl` does not exist; stage `people` makes it: run it too,
/// or drop the --only, --skip or --from that leaves it out``.
pub fn missing(
    graph: &Graph,
    stage: &StageDef,
    paths: &RealPaths,
    in_run: &dyn Fn(&str) -> bool,
) -> Option<String> {
    let absent: Vec<&String> = stage
        .inputs
        .iter()
        .filter(|input| !glob::is_glob(input) && !paths.is_file(input))
        .collect();
    let (first, others) = absent.split_first()?;
    // Where a symlink leads (it may dangle: the file another stage makes is not there yet).
    let target = match paths.leads(first) {
        Leads::Inside(target) if target != **first => Some(target),
        _ => None,
    };
    let mut message = if paths.root().join(first).exists() {
        format!("input `{first}` is not a file")
    } else if let Some(target) = &target {
        format!("input `{first}` is a symlink to `{target}`, which does not exist")
    } else {
        format!("input `{first}` does not exist")
    };
    let maker = graph
        .stages
        .iter()
        .map(|located| &located.value)
        .filter(|other| other.id != stage.id)
        .find(|other| makes(other, first) || target.as_deref().is_some_and(|t| makes(other, t)));
    if let Some(maker) = maker {
        let id = &maker.id;
        if in_run(id) {
            message.push_str(&format!(
                "; stage `{id}` makes it but has not made it in this run"
            ));
        } else {
            message.push_str(&format!(
                "; stage `{id}` makes it: run it too, or drop the --only, --skip or --from that leaves it out"
            ));
        }
    }
    if !others.is_empty() {
        let names: Vec<String> = others.iter().map(|path| format!("`{path}`")).collect();
        message.push_str(&format!(" (also missing: {})", names.join(", ")));
    }
    Some(message)
}

/// Whether `stage` declares project path `path` as one of its outputs.
fn makes(stage: &StageDef, path: &str) -> bool {
    let dir = stage.output_dir();
    stage
        .outputs
        .iter()
        .any(|output| glob::matches(&format!("{dir}/{output}"), path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::graph::{self, Checks};
    use crate::pipeline::model;

    const PIPELINE: &str = r#"
[[stage]]
id = "make"
plugin = "jsonl-transform"
outputs = ["o.jsonl", "*.log"]

[[stage]]
id = "count"
plugin = "jsonl-transform"
outputs = ["v.jsonl"]

[[stage]]
id = "read"
plugin = "jsonl-transform"
inputs = ["out/make/o.jsonl", "data/latest.jsonl", "out/make/*.log"]
outputs = ["r.jsonl"]
"#;

    #[test]
    fn missing_literal_inputs_name_the_stage_that_makes_them_and_globs_may_match_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("data")).unwrap();
        std::os::unix::fs::symlink("../out/count/v.jsonl", root.join("data/latest.jsonl")).unwrap();
        let file = model::parse(PIPELINE, std::path::Path::new("pipelines/p.toml")).unwrap();
        let exists = |_: &str| true;
        let checks = Checks {
            root,
            plugin_exists: &exists,
            allow_commands: false,
        };
        let graph = graph::build(&file, "p", None, &checks).unwrap();
        let read = &graph.stage("read").unwrap().value;
        let check =
            |in_run: &dyn Fn(&str) -> bool| missing(&graph, read, &RealPaths::new(root), in_run);
        assert_eq!(
            check(&|_| false).unwrap(),
            "input `out/make/o.jsonl` does not exist; stage `make` makes it: run it too, or drop the --only, --skip or --from that leaves it out (also missing: `data/latest.jsonl`)"
        );
        assert_eq!(
            check(&|id| id == "make").unwrap(),
            "input `out/make/o.jsonl` does not exist; stage `make` makes it but has not made it in this run (also missing: `data/latest.jsonl`)"
        );
        std::fs::create_dir_all(root.join("out/make")).unwrap();
        std::fs::write(root.join("out/make/o.jsonl"), "{}\n").unwrap();
        assert_eq!(
            check(&|_| false).unwrap(),
            "input `data/latest.jsonl` is a symlink to `out/count/v.jsonl`, which does not exist; stage `count` makes it: run it too, or drop the --only, --skip or --from that leaves it out"
        );
        std::fs::create_dir_all(root.join("out/count/v.jsonl")).unwrap();
        assert!(
            check(&|_| false)
                .unwrap()
                .starts_with("input `data/latest.jsonl` is not a file; stage `count` makes it"),
        );
        std::fs::remove_dir(root.join("out/count/v.jsonl")).unwrap();
        std::fs::write(root.join("out/count/v.jsonl"), "{}\n").unwrap();
        // The glob matches nothing: the stage runs, and its plugin decides.
        assert_eq!(check(&|_| false), None);
    }
}
