//! A pipeline as a graph: the selected stages, who produces which input, the edges
//! (`needs` plus producer → consumer), every validation problem at once with its file and
//! line, topological order and waves.

use super::cache;
use super::glob;
use super::model::{Located, PipelineFile, StageDef};
use super::outdir;
use super::realpath::{Leads, RealPaths};
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

/// Output directories that a stage of `file` shares with a stage of another pipeline file
/// (the same directory, or one inside the other): each run of one would replace what the
/// other promoted. One problem per stage of `file`, naming both stages and where they are.
/// Each directory is taken both as written and where its symlinks lead (`root`: the project).
pub fn shared_output_dirs(root: &Path, files: &[PipelineFile], file: &PipelineFile) -> Vec<String> {
    let paths = RealPaths::new(root);
    let forms = |stage: &StageDef| {
        let written = outdir::normalize(&stage.output_dir());
        let real = outdir::resolve(&paths, &written).unwrap_or_else(|_| written.clone());
        if real == written {
            vec![written]
        } else {
            vec![written, real]
        }
    };
    let mut others: BTreeMap<String, &Located<StageDef>> = BTreeMap::new();
    for other in files.iter().filter(|f| !std::ptr::eq(*f, file)) {
        for stage in &other.stages {
            for dir in forms(&stage.value) {
                others.entry(dir).or_insert(stage);
            }
        }
    }
    let mut problems = Vec::new();
    for stage in &file.stages {
        let clash = forms(&stage.value).into_iter().find_map(|dir| {
            clash_of(&others, &dir).map(|(other_dir, other)| (dir, other_dir.clone(), *other))
        });
        if let Some((dir, other_dir, other)) = clash {
            problems.push(format!(
                "{}: stage `{}` promotes its outputs to `{dir}`, and stage `{}` of another pipeline ({}) to `{other_dir}`: each run of one would replace what the other promoted; give one of them its own `output-dir`",
                stage.at(),
                stage.value.id,
                other.value.id,
                other.at()
            ));
        }
    }
    problems
}

/// The directory of `others` that is `dir`, holds it or is inside it.
fn clash_of<'a, T>(others: &'a BTreeMap<String, T>, dir: &str) -> Option<(&'a String, &'a T)> {
    let ancestors = dir
        .match_indices('/')
        .map(|(at, _)| &dir[..at])
        .chain(std::iter::once(dir));
    let below = format!("{dir}/");
    ancestors
        .filter_map(|prefix| others.get_key_value(prefix))
        .chain(
            others
                .range(below.clone()..)
                .next()
                .filter(|(other, _)| other.starts_with(&below)),
        )
        .next()
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

/// Why a relative path (already known to have no `..` and no leading `/`) is not in normal
/// form, with the form to write instead; `None` when it is (no `.` or empty segment, no
/// trailing `/`). Staging and caching know a path by one spelling only.
fn abnormal(path: &str) -> Option<String> {
    if !path.split('/').any(|part| part.is_empty() || part == ".") {
        return None;
    }
    Some(match outdir::normalize(path) {
        normal if normal.is_empty() => {
            "names the project root itself: name files, or a glob such as `data/**`".into()
        }
        normal => format!("is not in normal form: write `{normal}`"),
    })
}

/// Builds and validates the graph of pipeline `name`; returns every problem found.
pub fn build(
    file: &PipelineFile,
    name: &str,
    selection: Option<&[String]>,
    checks: &Checks<'_>,
) -> Result<Graph, Vec<String>> {
    let mut problems = Vec::new();
    let paths = RealPaths::new(checks.root);
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
    let mut stages = stages;
    for stage in &mut stages {
        crate::agents::stage::normalize(&mut stage.value);
    }
    problems.extend(crate::agents::stage::check_sessions(&stages));
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
        problems.extend(crate::agents::stage::check(s, &at));
        match (&s.plugin, &s.command) {
            (None, None) => match &s.agent {
                Some(agent) if !(checks.plugin_exists)(agent) => problems.push(format!(
                    "{at}: prompt `{}` uses agent `{agent}`, which is not configured (add [plugins.{agent}] with `kind = \"agent\"` to baton.toml)", s.id
                )),
                Some(_) => {}
                None => problems.push(format!("{at}: stage `{}` needs `plugin = NAME`, `command = [...]` or `agent = NAME`", s.id)),
            },
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
        for input in &s.inputs {
            if input.starts_with('/') || input.split('/').any(|p| p == "..") {
                problems.push(format!(
                    "{at}: stage `{}` input `{input}` must be a path inside the project (no absolute path, no `..`)",
                    s.id
                ));
            } else if let Some(normal) = abnormal(input) {
                problems.push(format!("{at}: stage `{}` input `{input}` {normal}", s.id));
            }
        }
        for output in &s.outputs {
            if output.starts_with('/') || output.split('/').any(|p| p == "..") {
                problems.push(format!(
                    "{at}: stage `{}` output `{output}` must stay inside its output directory",
                    s.id
                ));
            } else if let Some(normal) = abnormal(output) {
                problems.push(format!("{at}: stage `{}` output `{output}` {normal}", s.id));
            }
            if output.rsplit('/').next() == Some(outdir::MARKER) {
                problems.push(format!(
                    "{at}: stage `{}` output `{output}`: `{}` is the name of the marker Baton writes into each output directory",
                    s.id,
                    outdir::MARKER
                ));
            }
        }
        for input in &s.inputs {
            if glob::hidden(&glob::base(input)) {
                problems.push(format!(
                    "{at}: stage `{}` reads `{input}`: Baton's state (`.baton/`), Git's (`.git/`) and promotion markers are never inputs",
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
    // Output directories: each stage's own, inside the project, clear of Baton's files and
    // of every other stage's (promotion replaces the whole directory).
    let dirs: Vec<Option<(String, String)>> = stages
        .iter()
        .map(|stage| {
            let written = stage.value.output_dir();
            match outdir::check_resolved(&paths, &written) {
                Ok(real) => Some((written, real)),
                Err(e) => {
                    let shown = stage.value.output_dir.as_deref().unwrap_or(&written);
                    problems.push(format!(
                        "{}: stage `{}` output-dir `{shown}` {e}",
                        stage.at(),
                        stage.value.id
                    ));
                    None
                }
            }
        })
        .collect();
    // Each directory against the earlier ones by sorted prefix ([`clash_of`]), both as
    // written and where its symlinks lead.
    let mut earlier_written: BTreeMap<String, usize> = BTreeMap::new();
    let mut earlier_real: BTreeMap<String, usize> = BTreeMap::new();
    for (j, dir) in dirs.iter().enumerate() {
        let Some((written, real)) = dir else { continue };
        let clash = clash_of(&earlier_written, written)
            .or_else(|| clash_of(&earlier_real, real))
            .map(|(_, &i)| i);
        if let Some((i, Some((other_written, _)))) = clash.map(|i| (i, &dirs[i])) {
            problems.push(format!(
                "{}: stage `{}` output-dir `{written}` overlaps the output-dir `{other_written}` of stage `{}` ({}); each stage needs a directory of its own, neither inside the other",
                stages[j].at(),
                stages[j].value.id,
                stages[i].value.id,
                stages[i].at()
            ));
        }
        earlier_written.entry(written.clone()).or_insert(j);
        earlier_real.entry(real.clone()).or_insert(j);
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
    let globbed_matchers: Vec<glob::Matcher> =
        globbed.iter().map(|(_, p)| glob::Matcher::new(p)).collect();
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
            let overlaps =
                pattern == path || (!glob::is_glob(path) && globbed_matchers[n].is_match(path));
            if j != i && !later_glob && overlaps {
                claimed_twice(*i, *j, pattern);
            }
        }
    }
    // Output directories by form (as written and where their symlinks lead) → the stages
    // promoting there: an input finds the directories holding it by its ancestors.
    let mut dirs_at: HashMap<&str, Vec<usize>> = HashMap::new();
    for (k, dir) in dirs.iter().enumerate() {
        if let Some((written, real)) = dir {
            dirs_at.entry(written.as_str()).or_default().push(k);
            if real != written {
                dirs_at.entry(real.as_str()).or_default().push(k);
            }
        }
    }
    // Inputs: produced by a stage of the pipeline, or present on disk.
    for (i, stage) in stages.iter().enumerate() {
        for input in &stage.value.inputs {
            let mut producers: BTreeSet<usize> = BTreeSet::new();
            let mut reported = false;
            let produced_by = |path: &str| -> Vec<usize> {
                let globs = globbed
                    .iter()
                    .zip(&globbed_matchers)
                    .filter(|((j, _), matcher)| *j != i && matcher.is_match(path))
                    .map(|((j, _), _)| *j);
                literal
                    .get(path)
                    .copied()
                    .filter(|&j| j != i)
                    .into_iter()
                    .chain(globs)
                    .collect()
            };
            // Written as validation above accepts it (else that problem says enough).
            let plain = !input.starts_with('/')
                && !input.split('/').any(|p| p == "..")
                && abnormal(input).is_none();
            if glob::is_glob(input) {
                let matcher = glob::Matcher::new(input);
                producers.extend(
                    outputs
                        .iter()
                        .filter(|(j, path)| *j != i && (path == input || matcher.is_match(path)))
                        .map(|(j, _)| *j),
                );
                // A match that links to another stage's output: that stage runs first.
                for matched in cache::input_matches(&stage.value, &paths, input) {
                    if let Leads::Inside(target) = paths.leads(&matched)
                        && target != matched
                    {
                        producers.extend(produced_by(&target));
                    }
                }
            } else {
                producers.extend(produced_by(input));
                // A symlink is judged where it leads: out of the project, or into Baton's or
                // Git's state, it is refused; to another stage's output, that stage produces
                // it (and runs first).
                if producers.is_empty() && plain {
                    match paths.leads(input) {
                        Leads::Outside(target) => problems.push(format!(
                            "{}: stage `{}` reads `{input}`, a symlink to {}, outside the project: copy the file into the project, or point the link inside it",
                            stage.at(),
                            stage.value.id,
                            target.display()
                        )),
                        Leads::Inside(target) if target != *input && glob::hidden(&target) => problems.push(format!(
                            "{}: stage `{}` reads `{input}`, a symlink to `{target}`: Baton's state (`.baton/`), Git's (`.git/`) and promotion markers are never inputs",
                            stage.at(),
                            stage.value.id
                        )),
                        Leads::Inside(target) if target != *input => {
                            producers.extend(produced_by(&target));
                            if producers.is_empty()
                                && !paths.root().join(&target).is_file()
                            {
                                problems.push(format!(
                                    "{}: stage `{}` reads `{input}`, a symlink to `{target}`, which no stage produces and no file matches",
                                    stage.at(),
                                    stage.value.id
                                ));
                                reported = true;
                            }
                        }
                        _ => {}
                    }
                }
            }
            // An input inside a stage's output directory must be that stage's output: its
            // own (a cycle), or one another stage declares (promotion replaces the rest).
            let base = glob::base(input);
            let mut reads_itself = false;
            let holders: BTreeSet<usize> = base
                .match_indices('/')
                .map(|(at, _)| &base[..at])
                .chain(std::iter::once(base.as_str()))
                .filter_map(|ancestor| dirs_at.get(ancestor))
                .flatten()
                .copied()
                .collect();
            for k in holders {
                let Some((written, _)) = &dirs[k] else {
                    continue;
                };
                if k == i {
                    reads_itself = true;
                    problems.push(format!(
                        "{}: stage `{}` reads `{input}`, inside its own output-dir `{written}`: the stages form a cycle: {} → {}",
                        stage.at(),
                        stage.value.id,
                        stage.value.id,
                        stage.value.id
                    ));
                } else if producers.contains(&k) {
                    continue;
                } else if glob::is_glob(input)
                    && stages[k].value.outputs.iter().any(|o| glob::is_glob(o))
                {
                    // Two globs: they may meet; order the reader after the writer.
                    producers.insert(k);
                } else {
                    problems.push(format!(
                        "{}: stage `{}` reads `{input}`, inside the output-dir `{written}` of stage `{}` ({}), which declares no output it matches; each run of `{}` replaces that directory",
                        stage.at(),
                        stage.value.id,
                        stages[k].value.id,
                        stages[k].at(),
                        stages[k].value.id
                    ));
                }
            }
            if producers.is_empty() {
                if !reads_itself
                    && !reported
                    && cache::input_matches(&stage.value, &paths, input).is_empty()
                {
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
    for (i, j) in crate::agents::stage::order_edges(&stages) {
        deps[i].insert(j);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::model;

    /// Validates `text` as `pipelines/p.toml` in `root`; the problems, or none.
    fn problems(root: &Path, text: &str) -> Vec<String> {
        let file = model::parse(text, Path::new("pipelines/p.toml")).unwrap();
        let exists = |_: &str| true;
        let checks = Checks {
            root,
            plugin_exists: &exists,
            allow_commands: true,
        };
        build(&file, "p", None, &checks).err().unwrap_or_default()
    }

    fn stage(id: &str, extra: &str) -> String {
        format!(
            "[[stage]]\nid = \"{id}\"\nplugin = \"jsonl-transform\"\ninputs = [\"in.jsonl\"]\noutputs = [\"o.jsonl\"]\n{extra}\n"
        )
    }

    fn project() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("in.jsonl"), "{}\n").unwrap();
        std::fs::write(dir.path().join("baton.toml"), "").unwrap();
        std::fs::create_dir_all(dir.path().join("pipelines")).unwrap();
        dir
    }

    #[test]
    fn output_dirs_outside_the_stages_own_are_refused_with_the_line() {
        let dir = project();
        for (output_dir, needle) in [
            ("../victim", "no `..`"),
            ("/tmp/victim", "absolute"),
            (".", "project root"),
            ("./", "project root"),
            ("", "project root"),
            ("pipelines", "`pipelines/`"),
            (".baton", "`.baton/`"),
            (".baton/out", "`.baton/`"),
            ("baton.toml", "`baton.toml`"),
            (".git", "`.git/`"),
        ] {
            let text = stage("s", &format!("output-dir = \"{output_dir}\""));
            let found = problems(dir.path(), &format!("\n{text}"));
            assert!(
                found.iter().any(
                    |p| p.starts_with("pipelines/p.toml:2: stage `s` output-dir")
                        && p.contains(needle)
                ),
                "{output_dir}: {found:?}"
            );
        }
        assert!(problems(dir.path(), &stage("s", "output-dir = \"out/s/\"")).is_empty());
        assert!(problems(dir.path(), &stage("s", "")).is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn output_dirs_through_a_symlink_out_of_the_project_are_refused() {
        let dir = project();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("link")).unwrap();
        for output_dir in ["link", "link/sub"] {
            let found = problems(
                dir.path(),
                &stage("s", &format!("output-dir = \"{output_dir}\"")),
            );
            assert!(
                found
                    .iter()
                    .any(|p| p.contains("resolves outside the project through a symlink")),
                "{found:?}"
            );
        }
        // The default `out/<id>` is checked too.
        std::os::unix::fs::symlink(outside.path(), dir.path().join("out")).unwrap();
        let found = problems(dir.path(), &stage("s", ""));
        assert!(
            found.iter().any(|p| p.contains("output-dir `out/s`")),
            "{found:?}"
        );
    }

    #[test]
    fn output_dirs_overlapping_inputs_or_each_other_are_refused() {
        let dir = project();
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        std::fs::write(dir.path().join("data/in.jsonl"), "{}\n").unwrap();
        // Another stage's source input inside the directory.
        let text = format!(
            "{}{}",
            stage("a", "output-dir = \"data\""),
            "[[stage]]\nid = \"b\"\nplugin = \"x\"\ninputs = [\"data/in.jsonl\"]\noutputs = [\"b.jsonl\"]\n"
        );
        let found = problems(dir.path(), &text);
        assert!(
            found.iter().any(|p| p.contains(
                "stage `b` reads `data/in.jsonl`, inside the output-dir `data` of stage `a`"
            )),
            "{found:?}"
        );
        // Its own input inside the directory: a cycle.
        let text = "[[stage]]\nid = \"s\"\nplugin = \"x\"\ninputs = [\"data/in.jsonl\"]\noutputs = [\"o.jsonl\"]\noutput-dir = \"data\"\n";
        let found = problems(dir.path(), text);
        assert!(
            found
                .iter()
                .any(|p| p
                    .contains("inside its own output-dir `data`: the stages form a cycle: s → s")),
            "{found:?}"
        );
        let text = "[[stage]]\nid = \"s\"\nplugin = \"x\"\ninputs = [\"out/s/*.jsonl\"]\noutputs = [\"o.jsonl\"]\n";
        let found = problems(dir.path(), text);
        assert!(
            found.iter().any(|p| p.contains("cycle: s → s")),
            "{found:?}"
        );
        assert_eq!(found.len(), 1, "{found:?}");
        // The problems of stages `a` and `b` promoting to `a_dir` and `b_dir`.
        let two_dirs = |a_dir: &str, b_dir: &str| {
            let text = format!(
                "{}{}",
                stage("a", &format!("output-dir = \"{a_dir}\"")),
                stage("b", &format!("output-dir = \"{b_dir}\"")).replace("o.jsonl", "p.jsonl")
            );
            problems(dir.path(), &text)
        };
        // Nested either way, and equal.
        for (a, b) in [
            ("out/x", "out/x/sub"),
            ("out/x/sub", "out/x"),
            ("out/x", "out/x/"),
        ] {
            let found = two_dirs(a, b);
            assert!(
                found.iter().any(
                    |p| p.starts_with("pipelines/p.toml:7: stage `b` output-dir")
                        && p.contains("overlaps the output-dir")
                        && p.contains("of stage `a` (pipelines/p.toml:1)")
                ),
                "{a} {b}: {found:?}"
            );
        }
        // A shared prefix that is not a whole segment is no overlap, in either order.
        for (a, b) in [
            ("out/x", "out/xy"),
            ("out/xy", "out/x"),
            ("out/x-1", "out/x"),
        ] {
            let found = two_dirs(a, b);
            assert!(
                !found.iter().any(|p| p.contains("overlaps")),
                "{a} {b}: {found:?}"
            );
        }
        assert!(
            problems(
                dir.path(),
                &format!(
                    "{}{}",
                    stage("a", "output-dir = \"out/x\""),
                    stage("b", "output-dir = \"out/xy\"")
                )
            )
            .is_empty()
        );
        // Reading another stage's declared output is a dependency, not an overlap.
        let text = format!(
            "{}[[stage]]\nid = \"b\"\nplugin = \"x\"\ninputs = [\"out/a/o.jsonl\"]\noutputs = [\"b.jsonl\"]\n",
            stage("a", "")
        );
        assert!(problems(dir.path(), &text).is_empty());
    }

    #[test]
    fn baton_state_and_markers_are_never_inputs_or_outputs() {
        let dir = project();
        std::fs::create_dir_all(dir.path().join(".baton")).unwrap();
        std::fs::write(dir.path().join(".baton/baton.db"), "").unwrap();
        let text = "[[stage]]\nid = \"s\"\nplugin = \"x\"\ninputs = [\".baton/baton.db\", \".baton/ledger/*.jsonl\"]\noutputs = [\".baton-output\"]\n";
        let found = problems(dir.path(), text);
        assert_eq!(
            found
                .iter()
                .filter(|p| p.contains("are never inputs"))
                .count(),
            2,
            "{found:?}"
        );
        assert!(
            found.iter().any(|p| p.contains("name of the marker")),
            "{found:?}"
        );
    }

    #[test]
    fn a_wide_glob_does_not_read_the_stages_own_outputs() {
        let dir = project();
        std::fs::create_dir_all(dir.path().join("out/s")).unwrap();
        std::fs::write(dir.path().join("out/s/o.jsonl"), "{}\n").unwrap();
        let text = "[[stage]]\nid = \"s\"\nplugin = \"x\"\ninputs = [\"**/*.jsonl\"]\noutputs = [\"o.jsonl\"]\n";
        assert!(problems(dir.path(), text).is_empty());
        let file = model::parse(text, Path::new("pipelines/p.toml")).unwrap();
        assert_eq!(
            cache::input_files(&file.stages[0].value, &RealPaths::new(dir.path())),
            ["in.jsonl"]
        );
        // Also where a symlinked output directory really is.
        #[cfg(unix)]
        {
            std::fs::create_dir_all(dir.path().join("real")).unwrap();
            std::fs::write(dir.path().join("real/o.jsonl"), "{}\n").unwrap();
            std::os::unix::fs::symlink(dir.path().join("real"), dir.path().join("link")).unwrap();
            let text = format!("{text}output-dir = \"link\"\n");
            assert!(problems(dir.path(), &text).is_empty());
            let file = model::parse(&text, Path::new("pipelines/p.toml")).unwrap();
            assert_eq!(
                cache::input_files(&file.stages[0].value, &RealPaths::new(dir.path())),
                ["in.jsonl", "out/s/o.jsonl"]
            );
        }
    }
}
