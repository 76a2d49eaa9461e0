//! Properties of pipeline files, through `pipeline::run::load_graph` (files, parse, graph,
//! validation) and `plan::plan`: arbitrary TOML-ish bytes never panic and every problem names
//! the file and a line; arbitrary stage graphs (ids, runners, needs, inputs, outputs, output
//! directories) are accepted or refused with every problem naming the line of the stage it is
//! about; a generated acyclic graph is accepted with the edges written, each stage at its
//! line, and a plan in topological order with consistent waves; a cycle injected into it is
//! refused, naming the cycle at the line of its first stage.

use super::{cases, check, file_like, line_count};
use crate::pipeline::graph::Graph;
use crate::pipeline::plan::{self, Filters};
use crate::pipeline::run::load_graph;
use crate::settings::{Overrides, Settings};
use proptest::prelude::*;
use std::collections::{BTreeSet, HashMap};

/// The file every property writes, as messages name it.
const FILE: &str = "pipelines/p.toml";

/// A project with plugin `p` configured, `data/in.jsonl` on disk and `text` as
/// `pipelines/p.toml`; loads pipeline `p`.
fn load(text: &[u8], allow_commands: bool) -> (tempfile::TempDir, anyhow::Result<Graph>) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let root = dir.path();
    std::fs::write(
        root.join("baton.toml"),
        format!(
            "[pipeline]\nallow-commands = \"{allow_commands}\"\n\n[plugins.p]\npath = \"p.wasm\"\n"
        ),
    )
    .expect("write baton.toml");
    std::fs::create_dir_all(root.join("data")).expect("create data/");
    std::fs::write(root.join("data/in.jsonl"), "{}\n").expect("write an input");
    std::fs::create_dir_all(root.join("pipelines")).expect("create pipelines/");
    std::fs::write(root.join(FILE), text).expect("write the pipeline file");
    let settings = Settings::load(root, None, &Overrides::default(), &|_| None).expect("settings");
    let graph = load_graph(&settings, "p");
    (dir, graph)
}

/// The problems of a refusal, one a line.
fn problems(error: &anyhow::Error) -> Vec<String> {
    error.to_string().lines().map(String::from).collect()
}

/// The line a problem starts with (`pipelines/p.toml:N: …`), and the rest.
fn located(problem: &str) -> Option<(usize, &str)> {
    let rest = problem.strip_prefix(FILE)?.strip_prefix(':')?;
    let (line, rest) = rest.split_once(": ")?;
    Some((line.parse().ok()?, rest))
}

/// The stage a located problem is about: the first stage it names.
fn subject(rest: &str) -> Option<&str> {
    if let Some(cycle) = rest.strip_prefix("the stages form a cycle: ") {
        return cycle.split(" → ").next();
    }
    let after = match ["duplicate stage id `", "stage id `"]
        .iter()
        .find_map(|p| rest.strip_prefix(p))
    {
        Some(after) => after,
        None => rest.split_once("stage `")?.1,
    };
    after.split_once('`').map(|(id, _)| id)
}

/// A TOML string.
fn quote(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

/// A TOML array of strings.
fn array(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| quote(i)).collect();
    format!("[{}]", quoted.join(", "))
}

/// How a stage runs.
#[derive(Debug, Clone)]
enum Runner {
    Plugin(&'static str),
    Command(Vec<String>),
    Both,
    Neither,
}

/// One generated `[[stage]]` table.
#[derive(Debug, Clone)]
struct Stage {
    id: String,
    runner: Runner,
    needs: Vec<String>,
    inputs: Vec<String>,
    outputs: Vec<String>,
    output_dir: Option<String>,
    timeout: Option<&'static str>,
    /// Blank lines and comments before the table, so line numbers vary.
    before: &'static str,
}

/// Renders stages as a pipeline file; the line of each `[[stage]]`.
fn render(stages: &[Stage]) -> (String, Vec<usize>) {
    let mut text = String::from("# generated\n");
    let mut lines = Vec::new();
    for stage in stages {
        text.push_str(stage.before);
        lines.push(text.matches('\n').count() + 1);
        text.push_str(&format!("[[stage]]\nid = {}\n", quote(&stage.id)));
        match &stage.runner {
            Runner::Plugin(name) => text.push_str(&format!("plugin = {}\n", quote(name))),
            Runner::Command(command) => text.push_str(&format!("command = {}\n", array(command))),
            Runner::Both => text.push_str("plugin = \"p\"\ncommand = [\"true\"]\n"),
            Runner::Neither => {}
        }
        for (field, items) in [
            ("needs", &stage.needs),
            ("inputs", &stage.inputs),
            ("outputs", &stage.outputs),
        ] {
            if !items.is_empty() {
                text.push_str(&format!("{field} = {}\n", array(items)));
            }
        }
        if let Some(dir) = &stage.output_dir {
            text.push_str(&format!("output-dir = {}\n", quote(dir)));
        }
        if let Some(timeout) = stage.timeout {
            text.push_str(&format!("timeout = {}\n", quote(timeout)));
        }
    }
    (text, lines)
}

const BEFORE: &[&str] = &["", "\n", "# a comment\n", "\n\n# two\n"];

/// Ids of the arbitrary graphs: few, so needs and inputs meet and ids repeat.
const IDS: &[&str] = &["a", "b", "c", "d", "e"];

fn arbitrary_stage() -> impl Strategy<Value = Stage> {
    let id = prop_oneof![
        8 => proptest::sample::select(IDS).prop_map(String::from),
        1 => proptest::sample::select(&["bad id", "", "x/y", "é"][..]).prop_map(String::from),
    ];
    let runner = prop_oneof![
        6 => Just(Runner::Plugin("p")),
        1 => Just(Runner::Plugin("missing")),
        2 => Just(Runner::Command(vec!["true".into()])),
        1 => Just(Runner::Command(Vec::new())),
        1 => Just(Runner::Both),
        1 => Just(Runner::Neither),
    ];
    let need = prop_oneof![
        6 => proptest::sample::select(IDS).prop_map(String::from),
        1 => Just("ghost".to_string()),
    ];
    let input = prop_oneof![
        3 => Just("data/in.jsonl".to_string()),
        4 => (proptest::sample::select(IDS), 0..3usize)
            .prop_map(|(id, k)| format!("out/{id}/o{k}.jsonl")),
        1 => proptest::sample::select(IDS).prop_map(|id| format!("out/{id}/*.jsonl")),
        1 => proptest::sample::select(
            &["missing.jsonl", "../escape", "/abs", "data/*.jsonl", ".baton/baton.db"][..]
        )
            .prop_map(String::from),
    ];
    let output = prop_oneof![
        6 => (0..3usize).prop_map(|k| format!("o{k}.jsonl")),
        1 => proptest::sample::select(&["*.jsonl", "../x", ".baton-output", "sub/o0.jsonl"][..])
            .prop_map(String::from),
    ];
    (
        id,
        runner,
        proptest::collection::vec(need, 0..3),
        proptest::collection::vec(input, 0..3),
        proptest::collection::vec(output, 0..3),
        proptest::option::weighted(
            0.15,
            proptest::sample::select(&["out/shared", "../victim", ".baton", "data", "out/x/"][..]),
        ),
        proptest::option::weighted(0.2, proptest::sample::select(&["10m", "soon"][..])),
        proptest::sample::select(BEFORE),
    )
        .prop_map(
            |(id, runner, needs, inputs, outputs, output_dir, timeout, before)| Stage {
                id,
                runner,
                needs,
                inputs,
                outputs,
                output_dir: output_dir.map(String::from),
                timeout,
                before,
            },
        )
}

/// A generated acyclic graph: stage `s{i}` only depends on stages `s{j}`, `j < i`, through
/// `needs` or by reading their output (literally or by glob); the file lists the stages
/// in a shuffled order.
#[derive(Debug, Clone)]
struct Dag {
    /// By rank: stage `i` is `s{i}`.
    stages: Vec<Stage>,
    /// The file's order (ranks).
    order: Vec<usize>,
    /// The dependencies of each stage (ranks).
    deps: Vec<BTreeSet<usize>>,
}

/// One dependency of a generated stage: by `needs`, by reading its output, or by a glob.
#[derive(Debug, Clone, Copy)]
enum Edge {
    Needs,
    Reads,
    Globs,
}

impl Dag {
    fn add(&mut self, from: usize, on: usize, edge: Edge) {
        let stage = &mut self.stages[from];
        match edge {
            Edge::Needs => stage.needs.push(format!("s{on}")),
            Edge::Reads => stage.inputs.push(format!("out/s{on}/o{on}.jsonl")),
            Edge::Globs => stage.inputs.push(format!("out/s{on}/*.jsonl")),
        }
        self.deps[from].insert(on);
    }

    /// The stages in the file's order.
    fn file_stages(&self) -> Vec<Stage> {
        self.order.iter().map(|&i| self.stages[i].clone()).collect()
    }
}

fn edge() -> impl Strategy<Value = Edge> {
    prop_oneof![Just(Edge::Needs), Just(Edge::Reads), Just(Edge::Globs)]
}

fn dag(max: usize) -> impl Strategy<Value = Dag> {
    (1..max)
        .prop_flat_map(|n| {
            (
                Just(n),
                // Per stage: which earlier stages it depends on, and how.
                proptest::collection::vec(
                    proptest::collection::vec((any::<prop::sample::Index>(), edge()), 0..3),
                    n,
                ),
                Just((0..n).collect::<Vec<usize>>()).prop_shuffle(),
                proptest::collection::vec(
                    (
                        any::<bool>(),
                        any::<bool>(),
                        proptest::sample::select(BEFORE),
                    ),
                    n,
                ),
            )
        })
        .prop_map(|(n, edges, order, extras)| {
            let stages = (0..n)
                .map(|i| Stage {
                    id: format!("s{i}"),
                    runner: if extras[i].0 {
                        Runner::Plugin("p")
                    } else {
                        Runner::Command(vec!["true".into()])
                    },
                    needs: Vec::new(),
                    inputs: if extras[i].1 {
                        vec!["data/in.jsonl".into()]
                    } else {
                        Vec::new()
                    },
                    outputs: vec![format!("o{i}.jsonl")],
                    output_dir: None,
                    timeout: None,
                    before: extras[i].2,
                })
                .collect();
            let mut dag = Dag {
                stages,
                order,
                deps: vec![BTreeSet::new(); n],
            };
            for (i, edges) in edges.into_iter().enumerate() {
                for (on, edge) in edges {
                    if i > 0 {
                        dag.add(i, on.index(i), edge);
                    }
                }
            }
            dag
        })
}

/// Checks a graph built from `dag`: every edge written and no other, each stage at its line,
/// the order and the plan topological, the waves consistent.
fn check_accepted(
    dag: &Dag,
    lines: &[usize],
    graph: &Graph,
    root: &std::path::Path,
) -> Result<(), TestCaseError> {
    let n = dag.stages.len();
    prop_assert_eq!(graph.stages.len(), n);
    // Graph index → rank.
    let rank: Vec<usize> = graph
        .stages
        .iter()
        .map(|s| s.value.id[1..].parse().expect("generated ids are s{rank}"))
        .collect();
    for (i, stage) in graph.stages.iter().enumerate() {
        let position = dag
            .order
            .iter()
            .position(|&r| r == rank[i])
            .expect("listed");
        prop_assert_eq!(stage.line, lines[position], "{}", stage.value.id);
        prop_assert_eq!(stage.at(), format!("{FILE}:{}", lines[position]));
        let deps: BTreeSet<usize> = graph.deps[i].iter().map(|&d| rank[d]).collect();
        prop_assert_eq!(
            &deps,
            &dag.deps[rank[i]],
            "dependencies of {}",
            stage.value.id
        );
    }
    let mut sorted = graph.order.clone();
    sorted.sort_unstable();
    prop_assert_eq!(
        sorted,
        (0..n).collect::<Vec<_>>(),
        "the order lists every stage once"
    );
    let position: HashMap<usize, usize> = graph
        .order
        .iter()
        .enumerate()
        .map(|(p, &i)| (i, p))
        .collect();
    for (i, deps) in graph.deps.iter().enumerate() {
        for d in deps {
            prop_assert!(position[d] < position[&i], "{} before {}", d, i);
        }
        let wave = deps.iter().map(|&d| graph.wave[d] + 1).max().unwrap_or(0);
        prop_assert_eq!(graph.wave[i], wave);
    }
    let selected = plan::select(graph, &Filters::default()).map_err(TestCaseError::fail)?;
    let digests = baton_core::digest_cache::DigestCache::read_only(&root.join("digests.json"));
    let plan = plan::plan(
        graph,
        &selected,
        root,
        &|_| true,
        &|_| String::new(),
        &|_| None,
        &digests,
    )
    .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(plan.stages.len(), n);
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for stage in &plan.stages {
        for need in &stage.needs {
            let wave = seen.get(need.as_str()).copied();
            prop_assert!(
                wave.is_some_and(|w| w < stage.wave),
                "{} after {}",
                stage.id,
                need
            );
        }
        seen.insert(&stage.id, stage.wave);
    }
    prop_assert_eq!(plan.waves, graph.wave.iter().max().map_or(0, |w| w + 1));
    Ok(())
}

/// Pipeline-file fragments for arbitrary input.
const TOKENS: &[&str] = &[
    "[[stage]]\n",
    "[pipelines.p]\n",
    "id = ",
    "\"a\"",
    "\"b\"",
    "plugin = \"p\"\n",
    "command = [\"true\"]\n",
    "needs = [",
    "inputs = [",
    "outputs = [",
    "stages = [",
    "]",
    ", ",
    "\"out/a/o.jsonl\"",
    "\"data/in.jsonl\"",
    "\"o.jsonl\"",
    "\n",
    "'''",
    "{",
    "}",
    "output-dir = ",
    "timeout = \"1s\"",
    "retries = -1",
    "params = { x = 1 }",
    "[stage.x]",
];

/// Any bytes as a pipeline file: no panic, and a refusal names the file and a line of it
/// in every problem (except that no pipeline `p` could then be found).
#[test]
fn arbitrary_bytes_never_panic_and_every_problem_names_a_line() {
    check(
        cases(128),
        &(
            prop_oneof![
                file_like(TOKENS, 40),
                proptest::collection::vec(any::<u8>(), 0..256),
            ],
            any::<bool>(),
        ),
        |(bytes, allow_commands)| {
            let (_dir, graph) = load(&bytes, allow_commands);
            if let Err(error) = graph {
                let lines = line_count(&bytes).max(1);
                let problems = problems(&error);
                prop_assert!(problems.iter().any(|p| located(p).is_some()), "{error:#}");
                for problem in &problems {
                    if problem.starts_with("no pipeline `p`") {
                        continue;
                    }
                    let line = located(problem).map(|(line, _)| line);
                    prop_assert!(
                        line.is_some_and(|l| l >= 1 && l <= lines),
                        "{problem:?} in {:?}",
                        String::from_utf8_lossy(&bytes)
                    );
                }
            }
            Ok(())
        },
    );
}

/// Arbitrary stage graphs: accepted (and then topologically ordered), or refused with
/// every problem at the line of the stage it is about.
#[test]
fn arbitrary_graphs_are_accepted_or_refused_naming_each_stage_line() {
    check(
        cases(128),
        &(
            proptest::collection::vec(arbitrary_stage(), 1..7),
            any::<bool>(),
        ),
        |(stages, allow_commands)| {
            let (text, lines) = render(&stages);
            let (_dir, graph) = load(text.as_bytes(), allow_commands);
            let id_at: HashMap<usize, &str> = lines
                .iter()
                .copied()
                .zip(stages.iter().map(|s| s.id.as_str()))
                .collect();
            match graph {
                Ok(graph) => {
                    let position: HashMap<usize, usize> = graph
                        .order
                        .iter()
                        .enumerate()
                        .map(|(p, &i)| (i, p))
                        .collect();
                    for (i, stage) in graph.stages.iter().enumerate() {
                        prop_assert_eq!(
                            id_at.get(&stage.line).copied(),
                            Some(stage.value.id.as_str())
                        );
                        for need in &stage.value.needs {
                            prop_assert!(
                                position[&graph.index[need]] < position[&i],
                                "{} before {}",
                                need,
                                stage.value.id
                            );
                        }
                        for &d in &graph.deps[i] {
                            prop_assert!(position[&d] < position[&i]);
                        }
                    }
                }
                Err(error) => {
                    for problem in problems(&error) {
                        let located = located(&problem);
                        prop_assert!(located.is_some(), "{problem:?} names no line in\n{text}");
                        let (line, rest) = located.expect("checked");
                        prop_assert!(
                            id_at.contains_key(&line),
                            "{problem:?}: no stage at line {line} of\n{text}"
                        );
                        prop_assert_eq!(
                            subject(rest),
                            Some(id_at[&line]),
                            "{:?} in\n{}",
                            problem,
                            text
                        );
                    }
                }
            }
            Ok(())
        },
    );
}

/// An acyclic graph is accepted: the edges written, each stage at its line, a plan in
/// topological order.
#[test]
fn an_acyclic_graph_is_accepted_and_planned_in_topological_order() {
    check(cases(96), &dag(9), |dag| {
        let (text, lines) = render(&dag.file_stages());
        let (dir, graph) = load(text.as_bytes(), true);
        match graph {
            Ok(graph) => check_accepted(&dag, &lines, &graph, dir.path())?,
            Err(error) => prop_assert!(false, "{error:#} for\n{text}"),
        }
        Ok(())
    });
}

/// A cycle injected into an acyclic graph is refused, and the cycle named at the line of
/// its first stage is one of the graph's: each stage in it depends on the one before.
#[test]
fn an_injected_cycle_is_refused_and_named() {
    check(
        cases(96),
        &(
            dag(9),
            proptest::collection::vec(any::<prop::sample::Index>(), 1..5),
            edge(),
            proptest::collection::vec(edge(), 4),
        ),
        |(dag, members, closing, links)| {
            let mut dag = dag;
            let n = dag.stages.len();
            let cycle: Vec<usize> = members
                .iter()
                .map(|m| m.index(n))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            for (m, pair) in cycle.windows(2).enumerate() {
                if !dag.deps[pair[1]].contains(&pair[0]) {
                    dag.add(pair[1], pair[0], links[m]);
                }
            }
            // The first stage depends on the last: a cycle (a stage that needs itself for one).
            let (first, last) = (cycle[0], cycle[cycle.len() - 1]);
            dag.add(
                first,
                last,
                if cycle.len() == 1 {
                    Edge::Needs
                } else {
                    closing
                },
            );
            let (text, lines) = render(&dag.file_stages());
            let (_dir, graph) = load(text.as_bytes(), true);
            let line_of =
                |rank: usize| lines[dag.order.iter().position(|&r| r == rank).expect("listed")];
            let Err(error) = graph else {
                return Err(TestCaseError::fail(format!(
                    "a cycle through {cycle:?} was accepted:\n{text}"
                )));
            };
            let problems = problems(&error);
            prop_assert_eq!(problems.len(), 1, "{:?}", problems);
            let (line, rest) =
                located(&problems[0]).ok_or_else(|| TestCaseError::fail(problems[0].clone()))?;
            if cycle.len() == 1 {
                prop_assert_eq!(line, line_of(first));
                prop_assert_eq!(rest, format!("stage `s{first}` needs itself"));
                return Ok(());
            }
            let named = rest
                .strip_prefix("the stages form a cycle: ")
                .ok_or_else(|| TestCaseError::fail(problems[0].clone()))?;
            let named: Vec<usize> = named
                .split(" → ")
                .map(|id| {
                    id.strip_prefix('s')
                        .and_then(|r| r.parse().ok())
                        .ok_or_else(|| TestCaseError::fail(id.to_string()))
                })
                .collect::<Result<_, _>>()?;
            prop_assert!(
                named.len() >= 3 && named[0] == named[named.len() - 1],
                "{:?}",
                named
            );
            prop_assert_eq!(
                named[..named.len() - 1]
                    .iter()
                    .collect::<BTreeSet<_>>()
                    .len(),
                named.len() - 1,
                "each stage once"
            );
            for pair in named.windows(2) {
                prop_assert!(
                    dag.deps[pair[1]].contains(&pair[0]),
                    "s{} does not depend on s{}",
                    pair[1],
                    pair[0]
                );
            }
            prop_assert_eq!(line, line_of(named[0]));
            Ok(())
        },
    );
}
