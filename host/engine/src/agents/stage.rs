//! Prompts as pipeline stages: what an `agent = "NAME"` stage may say, its defaults (its
//! output file, its template as an implied input), and the order waves and sessions add to
//! the data dependencies. Validation errors name the stage's file and line.

use crate::pipeline::model::{Located, StageDef};
use std::collections::{BTreeMap, BTreeSet};

/// A concurrency class: how many prompts of one wave run at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    /// One at a time.
    Sequential,
    /// Two at once.
    Low,
    /// Four at once.
    Medium,
    /// Eight at once.
    High,
}

impl Class {
    /// Every class with its name, in order.
    pub const ALL: [(&'static str, Class); 4] = [
        ("sequential", Class::Sequential),
        ("low", Class::Low),
        ("medium", Class::Medium),
        ("high", Class::High),
    ];

    /// The class named `name` (`sequential`, `low`, `medium`, `high`).
    pub fn parse(name: &str) -> Option<Class> {
        Class::ALL
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.trim()))
            .map(|(_, c)| *c)
    }

    /// Prompts of a wave running at once: 1, 2, 4 or 8.
    pub fn permits(self) -> usize {
        match self {
            Class::Sequential => 1,
            Class::Low => 2,
            Class::Medium => 4,
            Class::High => 8,
        }
    }
}

/// The class of a stage: its `concurrency`, or `medium` when it gives none (or one that
/// validation refused).
pub fn class_of(stage: &StageDef) -> Class {
    stage
        .concurrency
        .as_deref()
        .and_then(Class::parse)
        .unwrap_or(Class::Medium)
}

/// The default output file of prompt `id`.
pub fn default_output(id: &str) -> String {
    format!("{id}.md")
}

/// The answer's file of an agent stage, relative to its output directory.
pub fn output_file(stage: &StageDef) -> String {
    stage
        .output
        .clone()
        .unwrap_or_else(|| default_output(&stage.id))
}

/// Fills in what an agent stage implies: its output file is its declared output, and its
/// template file is one of its inputs (so editing the template reruns it). Other stages are
/// left alone.
pub fn normalize(stage: &mut StageDef) {
    if stage.agent.is_none() {
        return;
    }
    let output = output_file(stage);
    if !stage.outputs.contains(&output) {
        stage.outputs.insert(0, output);
    }
    if let Some(template) = &stage.template
        && !stage.inputs.contains(template)
    {
        stage.inputs.insert(0, template.clone());
    }
}

/// Every problem with the agent fields of `stage` (defined at `at`): fields only prompts
/// take on other stages, a prompt without text or with two, bad numbers and classes.
pub fn check(stage: &StageDef, at: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let id = &stage.id;
    if stage.agent.is_none() {
        let given: Vec<&str> = [
            ("prompt", stage.prompt.is_some()),
            ("template", stage.template.is_some()),
            ("model", stage.model.is_some()),
            ("temperature", stage.temperature.is_some()),
            ("max-tokens", stage.max_tokens.is_some()),
            ("session", stage.session.is_some()),
            ("wave", stage.wave.is_some()),
            ("concurrency", stage.concurrency.is_some()),
            ("output", stage.output.is_some()),
        ]
        .iter()
        .filter(|(_, set)| *set)
        .map(|(name, _)| *name)
        .collect();
        if !given.is_empty() {
            problems.push(format!(
                "{at}: stage `{id}` sets {} which only prompts take: add `agent = \"NAME\"` (a configured agent adapter) or remove them",
                given.iter().map(|g| format!("`{g}`")).collect::<Vec<_>>().join(", ")
            ));
        }
        return problems;
    }
    match (&stage.prompt, &stage.template) {
        (None, None) => problems.push(format!(
            "{at}: prompt `{id}` needs `prompt = \"...\"` or `template = \"FILE\"`"
        )),
        (Some(_), Some(_)) => problems.push(format!(
            "{at}: prompt `{id}` has both `prompt` and `template`; choose one"
        )),
        (Some(text), None) if text.trim().is_empty() => {
            problems.push(format!("{at}: prompt `{id}` has an empty `prompt`"))
        }
        _ => {}
    }
    if let Some(t) = stage.temperature
        && !(t.is_finite() && (0.0..=2.0).contains(&t))
    {
        problems.push(format!(
            "{at}: prompt `{id}` temperature {t} must be a number from 0 to 2"
        ));
    }
    if stage.max_tokens == Some(0) {
        problems.push(format!(
            "{at}: prompt `{id}` max-tokens must be at least 1 (leave it out for the adapter's default)"
        ));
    }
    if let Some(class) = &stage.concurrency
        && Class::parse(class).is_none()
    {
        problems.push(format!(
            "{at}: prompt `{id}` concurrency `{class}` is not a class: use sequential (1), low (2), medium (4) or high (8)"
        ));
    }
    if let Some(output) = &stage.output
        && (output.is_empty()
            || output.starts_with('/')
            || output.split('/').any(|p| p == ".." || p.is_empty())
            || crate::pipeline::glob::is_glob(output))
    {
        problems.push(format!(
            "{at}: prompt `{id}` output `{output}` must be a file name inside its output directory (no `/` at the start, no `..`, no glob)"
        ));
    }
    if stage.plugin.is_some() || stage.command.is_some() {
        problems.push(format!(
            "{at}: prompt `{id}` has `agent` and also `plugin` or `command`; a stage has one runner"
        ));
    }
    if let Some(session) = &stage.session
        && session.trim().is_empty()
    {
        problems.push(format!("{at}: prompt `{id}` has an empty `session` name"));
    }
    if let Some(text) = &stage.prompt
        && let Err(error) = super::prompt::check_syntax(text)
    {
        problems.push(format!("{at}: prompt `{id}`: {error}"));
    }
    problems
}

/// Every prompt whose `session` another prompt opened with another adapter or model: a
/// session is one conversation with one adapter instance, so its prompts must agree on both
/// (a prompt without `model` uses the adapter's default, which differs from any named one).
pub fn check_sessions(stages: &[Located<StageDef>]) -> Vec<String> {
    let mut first: BTreeMap<&str, &Located<StageDef>> = BTreeMap::new();
    let mut problems = Vec::new();
    for stage in stages.iter().filter(|s| s.value.agent.is_some()) {
        let Some(session) = stage.value.session.as_deref() else {
            continue;
        };
        let Some(opener) = first.get(session) else {
            first.insert(session, stage);
            continue;
        };
        let (this, that) = (&stage.value, &opener.value);
        let model = |m: &Option<String>| {
            m.as_deref()
                .map_or("the adapter's default model".to_string(), |m| {
                    format!("model `{m}`")
                })
        };
        if this.agent != that.agent || this.model != that.model {
            problems.push(format!(
                "{}: prompt `{}` joins session `{session}`, which `{}` ({}) opens with agent `{}` and {}, but asks agent `{}` and {}: a session is one conversation with one adapter and model; use another session name, or the same agent and model",
                stage.at(),
                this.id,
                that.id,
                opener.at(),
                that.agent.as_deref().unwrap_or_default(),
                model(&that.model),
                this.agent.as_deref().unwrap_or_default(),
                model(&this.model),
            ));
        }
    }
    problems
}

/// The dependencies waves and sessions add, as `(stage, depends on)` index pairs: every
/// stage of wave N depends on every stage of the closest lower wave present, and the
/// prompts of one session each depend on the one before them in file order.
pub fn order_edges(stages: &[Located<StageDef>]) -> Vec<(usize, usize)> {
    let mut edges = Vec::new();
    let mut waves: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (i, stage) in stages.iter().enumerate() {
        if let Some(wave) = stage.value.wave {
            waves.entry(wave).or_default().push(i);
        }
    }
    let mut previous: Option<&Vec<usize>> = None;
    for members in waves.values() {
        if let Some(before) = previous {
            for &i in members {
                edges.extend(before.iter().map(|&j| (i, j)));
            }
        }
        previous = Some(members);
    }
    let mut last_of_session: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, stage) in stages.iter().enumerate() {
        if let Some(session) = stage.value.session.as_deref() {
            if let Some(&j) = last_of_session.get(session) {
                edges.push((i, j));
            }
            last_of_session.insert(session, i);
        }
    }
    edges
}

/// The prompts of `stage`'s session that come before it in file order (its session's
/// earlier turns); empty for a prompt without a session.
pub fn earlier_turns<'a>(stages: &'a [Located<StageDef>], stage: &StageDef) -> Vec<&'a StageDef> {
    let Some(session) = stage.session.as_deref() else {
        return Vec::new();
    };
    stages
        .iter()
        .map(|s| &s.value)
        .take_while(|s| s.id != stage.id)
        .filter(|s| s.agent.is_some() && s.session.as_deref() == Some(session))
        .collect()
}

/// The concurrency of each wave: the smallest class among its prompts (a `sequential`
/// prompt makes its whole wave run one at a time). Prompts without a wave share wave `None`.
pub fn wave_permits(stages: &[Located<StageDef>]) -> BTreeMap<Option<u32>, usize> {
    let mut permits: BTreeMap<Option<u32>, usize> = BTreeMap::new();
    for stage in stages.iter().filter(|s| s.value.agent.is_some()) {
        let class = class_of(&stage.value).permits();
        permits
            .entry(stage.value.wave)
            .and_modify(|p| *p = (*p).min(class))
            .or_insert(class);
    }
    permits
}

/// The stages of wave `wave` and every stage downstream of them (`downstream(i)` gives a
/// stage and its dependents): what `--force-wave N` reruns.
pub fn wave_and_dependents(
    stages: &[Located<StageDef>],
    wave: u32,
    downstream: impl Fn(usize) -> BTreeSet<usize>,
) -> BTreeSet<usize> {
    stages
        .iter()
        .enumerate()
        .filter(|(_, s)| s.value.wave == Some(wave))
        .flat_map(|(i, _)| downstream(i))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn prompt(id: &str, wave: Option<u32>, session: Option<&str>) -> Located<StageDef> {
        let text = format!(
            "id = \"{id}\"\nagent = \"a\"\nprompt = \"hi\"\n{}{}",
            wave.map(|w| format!("wave = {w}\n")).unwrap_or_default(),
            session
                .map(|s| format!("session = \"{s}\"\n"))
                .unwrap_or_default()
        );
        Located {
            value: toml::from_str(&text).unwrap(),
            file: PathBuf::from("pipelines/p.toml"),
            line: 1,
        }
    }

    #[test]
    fn waves_wait_for_the_closest_lower_wave_and_sessions_keep_file_order() {
        let stages = vec![
            prompt("a", Some(1), Some("s")),
            prompt("b", Some(1), None),
            prompt("c", Some(3), Some("s")),
            prompt("d", None, Some("s")),
        ];
        let mut edges = order_edges(&stages);
        edges.sort();
        assert_eq!(edges, [(2, 0), (2, 0), (2, 1), (3, 2)]);
    }

    #[test]
    fn agent_fields_are_checked_with_the_stage_place() {
        let mut stage = prompt("x", None, None).value;
        stage.temperature = Some(3.0);
        stage.concurrency = Some("huge".into());
        stage.template = Some("t.j2".into());
        let problems = check(&stage, "pipelines/p.toml:4");
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(
            problems
                .iter()
                .all(|p| p.starts_with("pipelines/p.toml:4: prompt `x`"))
        );
        let mut plain: StageDef = toml::from_str("id = \"y\"\nplugin = \"p\"\nwave = 2\n").unwrap();
        assert!(check(&plain, "f:1")[0].contains("`wave` which only prompts take"));
        plain.wave = None;
        assert!(check(&plain, "f:1").is_empty());
    }

    #[test]
    fn a_prompt_declares_its_answer_and_reads_its_template() {
        let mut stage = prompt("x", None, None).value;
        stage.prompt = None;
        stage.template = Some("prompts/x.j2".into());
        normalize(&mut stage);
        assert_eq!(stage.outputs, ["x.md"]);
        assert_eq!(stage.inputs, ["prompts/x.j2"]);
        assert_eq!(Class::parse("HIGH").map(Class::permits), Some(8));
        let stages = vec![prompt("a", Some(1), None), {
            let mut p = prompt("b", Some(1), None);
            p.value.concurrency = Some("sequential".into());
            p
        }];
        assert_eq!(wave_permits(&stages)[&Some(1)], 1);
    }
}
