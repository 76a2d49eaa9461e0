//! A pipeline as a graph: the selected stages, who produces which input, the edges
//! (`needs` plus producer → consumer), every validation problem at once with its file and
//! line, topological order and waves.

use super::glob;
use super::model::{Located, PipelineFile, StageDef};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

/// What validation needs to know about the world.
pub struct Checks<'a> {
    /// The project root (inputs are checked against it).
    pub root: &'a Path,
    /// Whether a plugin name resolves (configured or bundled).
    pub plugin_exists: &'a dyn Fn(&str) -> bool,
    /// Whether stages may run trusted commands (`pipeline.allow-commands`).
    pub allow_commands: bool,
}

/// A validated pipeline.
#[derive(Debug, Clone)]
pub struct Graph {
    /// The pipeline's name.
    pub name: String,
    /// Its stages, with where each is defined.
    pub stages: Vec<Located<StageDef>>,
    /// Index of each stage by id.
    pub index: HashMap<String, usize>,
    /// Stages each stage depends on (indices), sorted.
    pub deps: Vec<BTreeSet<usize>>,
    /// Topological order (indices).
    pub order: Vec<usize>,
    /// Wave of each stage: 0 for stages without dependencies.
    pub wave: Vec<usize>,
}

impl Graph {
    /// The stage with id `id`.
    pub fn stage(&self, id: &str) -> Option<&Located<StageDef>> {
        self.index.get(id).map(|&i| &self.stages[i])
    }

    /// Stages depending on stage `i`, directly or not.
    pub fn downstream(&self, i: usize) -> BTreeSet<usize> {
        let mut found = BTreeSet::new();
        let mut changed = true;
        found.insert(i);
        while changed {
            changed = false;
            for (j, deps) in self.deps.iter().enumerate() {
                if !found.contains(&j) && deps.iter().any(|d| found.contains(d)) {
                    found.insert(j);
                    changed = true;
                }
            }
        }
        found
    }

    /// Stages stage `i` depends on, directly or not, and itself.
    pub fn upstream(&self, i: usize) -> BTreeSet<usize> {
        let mut found = BTreeSet::new();
        let mut stack = vec![i];
        while let Some(j) = stack.pop() {
            if found.insert(j) {
                stack.extend(self.deps[j].iter().copied());
            }
        }
        found
    }
}

/// Finds pipeline `name` (a file's stem, or a `[pipelines.NAME]`) among the files.
pub fn select<'a>(
    files: &'a [PipelineFile],
    name: &str,
) -> Option<(&'a PipelineFile, Option<Vec<String>>)> {
    for file in files {
        if let Some(p) = file.pipelines.get(name) {
            return Some((file, Some(p.value.stages.clone())));
        }
    }
    files
        .iter()
        .find(|f| f.path.file_stem().is_some_and(|s| s == name))
        .map(|f| (f, None))
}

/// Every pipeline name: file stems and named selections.
pub fn names(files: &[PipelineFile]) -> Vec<String> {
    let mut names = BTreeSet::new();
    for file in files {
        if let Some(stem) = file.path.file_stem() {
            names.insert(stem.to_string_lossy().into_owned());
        }
        names.extend(file.pipelines.keys().cloned());
    }
    names.into_iter().collect()
}

/// Builds and validates the graph of pipeline `name`; returns every problem found.
pub fn build(
    file: &PipelineFile,
    name: &str,
    selection: Option<&[String]>,
    checks: &Checks<'_>,
) -> Result<Graph, Vec<String>> {
    let mut problems = Vec::new();
    let mut first_at: HashMap<&str, String> = HashMap::new();
    for stage in &file.stages {
        if let Some(previous) = first_at.get(stage.value.id.as_str()) {
            problems.push(format!(
                "{}: duplicate stage id `{}` (first defined at {previous})",
                stage.at(),
                stage.value.id
            ));
        } else {
            first_at.insert(&stage.value.id, stage.at());
        }
    }
    let stages: Vec<Located<StageDef>> = match selection {
        None => file.stages.clone(),
        Some(ids) => {
            let mut chosen = Vec::new();
            let at = file.pipelines.get(name).map(|p| p.at()).unwrap_or_default();
            for id in ids {
                match file.stages.iter().find(|s| &s.value.id == id) {
                    Some(stage) => chosen.push(stage.clone()),
                    None => problems.push(format!(
                        "{at}: pipeline `{name}` names unknown stage `{id}`"
                    )),
                }
            }
            chosen
        }
    };
    let index: HashMap<String, usize> = stages
        .iter()
        .enumerate()
        .map(|(i, s)| (s.value.id.clone(), i))
        .collect();
    let mut deps: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); stages.len()];
    for (i, stage) in stages.iter().enumerate() {
        let s = &stage.value;
        let at = stage.at();
        if s.id.is_empty()
            || !s
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            problems.push(format!(
                "{at}: stage id `{}` must be letters, digits, `-` and `_`",
                s.id
            ));
        }
        match (&s.plugin, &s.command) {
            (None, None) => problems.push(format!("{at}: stage `{}` needs `plugin = NAME` or `command = [...]`", s.id)),
            (Some(_), Some(_)) => problems.push(format!("{at}: stage `{}` has both `plugin` and `command`; choose one", s.id)),
            (Some(plugin), None) if !(checks.plugin_exists)(plugin) => problems.push(format!(
                "{at}: stage `{}` uses plugin `{plugin}`, which is not configured (add [plugins.{plugin}] to baton.toml)", s.id
            )),
            (None, Some(command)) if !checks.allow_commands => problems.push(format!(
                "{at}: stage `{}` runs a native command {command:?}; set `allow-commands = \"true\"` under [pipeline] in baton.toml to trust it", s.id
            )),
            (None, Some(command)) if command.is_empty() => problems.push(format!("{at}: stage `{}` has an empty command", s.id)),
            _ => {}
        }
        for need in &s.needs {
            match index.get(need) {
                Some(&j) if j != i => {
                    deps[i].insert(j);
                }
                Some(_) => problems.push(format!("{at}: stage `{}` needs itself", s.id)),
                None => problems.push(format!(
                    "{at}: stage `{}` needs unknown stage `{need}`",
                    s.id
                )),
            }
        }
        if let Some(t) = &s.timeout
            && let Err(e) = baton_core::units::parse_duration(t)
        {
            problems.push(format!("{at}: stage `{}` timeout: {e}", s.id));
        }
        for pattern in s.inputs.iter().chain(&s.outputs) {
            if let Err(e) = glob::check(pattern) {
                problems.push(format!("{at}: stage `{}`: {e}", s.id));
            }
        }
        for output in &s.outputs {
            if output.starts_with('/') || output.split('/').any(|p| p == "..") {
                problems.push(format!(
                    "{at}: stage `{}` output `{output}` must stay inside its output directory",
                    s.id
                ));
            }
        }
        for (output, schema) in &s.schemas {
            if !s.outputs.iter().any(|o| glob::overlap(o, output)) {
                problems.push(format!(
                    "{at}: stage `{}` has a schema for `{output}`, which is not one of its outputs",
                    s.id
                ));
            }
            if !checks.root.join(schema).is_file() {
                problems.push(format!(
                    "{at}: stage `{}` schema `{schema}` does not exist",
                    s.id
                ));
            }
        }
    }
    // Outputs: no path may be claimed by two stages. Literal paths go through a map; the
    // (few) glob outputs are compared with everything.
    let outputs: Vec<(usize, String)> = stages
        .iter()
        .enumerate()
        .flat_map(|(i, s)| {
            let dir = s.value.output_dir();
            s.value
                .outputs
                .iter()
                .map(move |o| (i, format!("{dir}/{o}")))
        })
        .collect();
    let mut literal: HashMap<&str, usize> = HashMap::new();
    let globbed: Vec<&(usize, String)> = outputs.iter().filter(|(_, p)| glob::is_glob(p)).collect();
    let mut claimed_twice = |a: usize, b: usize, path: &str| {
        problems.push(format!(
            "{}: output `{path}` of stage `{}` is also claimed by stage `{}` ({})",
            stages[a].at(),
            stages[a].value.id,
            stages[b].value.id,
            stages[b].at()
        ));
    };
    for (i, path) in &outputs {
        if glob::is_glob(path) {
            continue;
        }
        match literal.get(path.as_str()) {
            Some(&j) if j != *i => claimed_twice(j, *i, path),
            _ => {
                literal.insert(path, *i);
            }
        }
    }
    for (n, (i, pattern)) in globbed.iter().enumerate() {
        for (j, path) in &outputs {
            let later_glob =
                glob::is_glob(path) && globbed[..=n].iter().any(|(k, p)| k == j && p == path);
            if j != i && !later_glob && glob::overlap(pattern, path) {
                claimed_twice(*i, *j, pattern);
            }
        }
    }
    // Inputs: produced by a stage of the pipeline, or present on disk.
    for (i, stage) in stages.iter().enumerate() {
        for input in &stage.value.inputs {
            let mut producers: BTreeSet<usize> = BTreeSet::new();
            if glob::is_glob(input) {
                producers.extend(
                    outputs
                        .iter()
                        .filter(|(j, path)| {
                            *j != i && (glob::overlap(path, input) || glob::matches(input, path))
                        })
                        .map(|(j, _)| *j),
                );
            } else {
                producers.extend(literal.get(input.as_str()).filter(|&&j| j != i));
                producers.extend(
                    globbed
                        .iter()
                        .filter(|(j, p)| *j != i && glob::matches(p, input))
                        .map(|(j, _)| *j),
                );
            }
            if producers.is_empty() {
                if glob::expand(checks.root, input).is_empty() {
                    problems.push(format!(
                        "{}: stage `{}` reads `{input}`, which no stage produces and no file matches",
                        stage.at(), stage.value.id
                    ));
                }
            } else {
                deps[i].extend(producers);
            }
        }
    }
    let (order, cycle) = topological(&deps);
    if let Some(cycle) = cycle {
        let ids: Vec<&str> = cycle.iter().map(|&i| stages[i].value.id.as_str()).collect();
        problems.push(format!(
            "{}: the stages form a cycle: {}",
            stages[cycle[0]].at(),
            ids.join(" → ")
        ));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut wave = vec![0; stages.len()];
    for &i in &order {
        wave[i] = deps[i].iter().map(|&d| wave[d] + 1).max().unwrap_or(0);
    }
    Ok(Graph {
        name: name.to_string(),
        stages,
        index,
        deps,
        order,
        wave,
    })
}

/// Kahn's order; on a cycle, also one cycle (first node repeated at the end).
fn topological(deps: &[BTreeSet<usize>]) -> (Vec<usize>, Option<Vec<usize>>) {
    let n = deps.len();
    let mut remaining: Vec<usize> = deps.iter().map(BTreeSet::len).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, d) in deps.iter().enumerate() {
        for &j in d {
            dependents[j].push(i);
        }
    }
    let mut ready: BTreeMap<usize, ()> = (0..n)
        .filter(|&i| remaining[i] == 0)
        .map(|i| (i, ()))
        .collect();
    let mut order = Vec::with_capacity(n);
    while let Some((&i, _)) = ready.iter().next() {
        ready.remove(&i);
        order.push(i);
        for &k in &dependents[i] {
            remaining[k] -= 1;
            if remaining[k] == 0 {
                ready.insert(k, ());
            }
        }
    }
    if order.len() == n {
        return (order, None);
    }
    // Walk dependencies among the leftovers until a node repeats.
    let left: BTreeSet<usize> = (0..n).filter(|i| !order.contains(i)).collect();
    let start = *left.iter().next().expect("a cycle leaves nodes");
    let mut path = vec![start];
    let mut current = start;
    loop {
        let next = *deps[current]
            .iter()
            .find(|d| left.contains(d))
            .expect("a node in a cycle has a dependency in it");
        if let Some(pos) = path.iter().position(|&p| p == next) {
            let mut cycle: Vec<usize> = path[pos..].to_vec();
            cycle.reverse();
            cycle.push(cycle[0]);
            return (order, Some(cycle));
        }
        path.push(next);
        current = next;
    }
}
