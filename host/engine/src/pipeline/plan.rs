//! Planning a run: which stages the filters select (`--only`, `--skip`, `--from`, `--to`;
//! contradictions are errors before anything runs), in which order and wave, and for each
//! whether it runs and why, or is cached, or is filtered out.

use super::cache::{self, Decision};
use super::graph::Graph;
use super::realpath::RealPaths;
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::Path;

/// The stage filters of `pipeline run`.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    /// `--only`: just these stages.
    pub only: Vec<String>,
    /// `--skip`: not these.
    pub skip: Vec<String>,
    /// `--from`: this stage and what depends on it.
    pub from: Option<String>,
    /// `--to`: this stage and what it depends on.
    pub to: Option<String>,
}

/// Selects stage indices, or says why the filters make no sense.
pub fn select(graph: &Graph, filters: &Filters) -> Result<BTreeSet<usize>, String> {
    let index = |flag: &str, id: &str| {
        graph.index.get(id).copied().ok_or_else(|| {
            let known: Vec<&str> = graph.stages.iter().map(|s| s.value.id.as_str()).collect();
            format!(
                "{flag} names unknown stage `{id}`; stages: {}",
                known.join(", ")
            )
        })
    };
    if !filters.only.is_empty() && (filters.from.is_some() || filters.to.is_some()) {
        return Err("--only cannot be combined with --from or --to: list the stages with --only, or give a range".into());
    }
    let mut selected: BTreeSet<usize> = if filters.only.is_empty() {
        (0..graph.stages.len()).collect()
    } else {
        filters
            .only
            .iter()
            .map(|id| index("--only", id))
            .collect::<Result<_, _>>()?
    };
    if let Some(from) = &filters.from {
        let downstream = graph.downstream(index("--from", from)?);
        selected.retain(|i| downstream.contains(i));
    }
    if let Some(to) = &filters.to {
        let upstream = graph.upstream(index("--to", to)?);
        selected.retain(|i| upstream.contains(i));
        if selected.is_empty() {
            return Err(format!(
                "--from {} --to {to} selects nothing: `{to}` does not depend on `{}`",
                filters.from.as_deref().unwrap_or(""),
                filters.from.as_deref().unwrap_or("")
            ));
        }
    }
    for id in &filters.skip {
        let i = index("--skip", id)?;
        if filters.only.contains(id) {
            return Err(format!("`{id}` is both in --only and --skip"));
        }
        if !selected.remove(&i) {
            return Err(format!(
                "--skip {id}: the other filters already leave it out"
            ));
        }
    }
    if selected.is_empty() {
        return Err("the filters leave no stage to run".into());
    }
    Ok(selected)
}

/// One line of a plan.
#[derive(Debug, Clone, Serialize)]
pub struct StagePlan {
    /// The stage id.
    pub id: String,
    /// Its wave (0: no dependencies).
    pub wave: usize,
    /// `run`, `cached` or `filtered-out`.
    pub action: &'static str,
    /// Why it runs, or `cached`.
    pub reason: String,
    /// Stages it depends on.
    pub needs: Vec<String>,
}

/// What a run would do, as a stable document.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// The pipeline's name.
    pub pipeline: String,
    /// Waves in the plan.
    pub waves: usize,
    /// The selected stages, in topological order.
    pub stages: Vec<StagePlan>,
}

/// Plans a run. `digest_of` gives a stage's plugin (or command) digest; `last` its last
/// success; `digests` the content digests of files.
pub fn plan(
    graph: &Graph,
    selected: &BTreeSet<usize>,
    root: &Path,
    forced: &dyn Fn(usize) -> bool,
    digest_of: &dyn Fn(usize) -> String,
    last: &dyn Fn(usize) -> Option<baton_core::store::StageRecord>,
    digests: &baton_core::digest_cache::DigestCache,
) -> anyhow::Result<Plan> {
    let paths = RealPaths::new(root);
    let mut runs = vec![false; graph.stages.len()];
    let mut stages = Vec::with_capacity(graph.stages.len());
    for &i in &graph.order {
        let stage = &graph.stages[i].value;
        let needs: Vec<String> = graph.deps[i]
            .iter()
            .map(|&d| graph.stages[d].value.id.clone())
            .collect();
        let (action, reason) = if !selected.contains(&i) {
            ("filtered-out", "not selected by the filters".to_string())
        } else if forced(i) {
            runs[i] = true;
            ("run", "forced".to_string())
        } else if let Some(upstream) = graph.deps[i].iter().find(|&&d| runs[d]) {
            runs[i] = true;
            (
                "run",
                format!(
                    "upstream `{}` runs first (cached afterwards if its outputs do not change)",
                    graph.stages[*upstream].value.id
                ),
            )
        } else {
            let fingerprint = cache::fingerprint(stage, &paths, &digest_of(i), digests)?;
            match cache::decide(&fingerprint, last(i).as_ref(), root, digests) {
                Decision::Cached => (
                    "cached",
                    "nothing changed since the last success".to_string(),
                ),
                Decision::Run(reason) => {
                    runs[i] = true;
                    ("run", reason)
                }
            }
        };
        stages.push(StagePlan {
            id: stage.id.clone(),
            wave: graph.wave[i],
            action,
            reason,
            needs,
        });
    }
    Ok(Plan {
        pipeline: graph.name.clone(),
        waves: graph.wave.iter().max().map_or(0, |w| w + 1),
        stages,
    })
}
