//! `baton cleanup --keep-days N [--dry-run]` and `baton compare A B`: keeping disk use
//! bounded, and checking a rerun against what came before.

use crate::exit::{CliResult, Exit, runtime, usage};
use crate::output::{self, Format, INFO, OK};
use baton_core::clock::{format_ms, now_ms};
use baton_engine::cleanup::{self, Places, Report, Tally};
use baton_engine::compare::{self, Outputs};
use baton_engine::settings::Settings;
use serde_json::json;
use std::path::Path;

/// `baton cleanup`.
pub fn cleanup(settings: &Settings, keep_days: u32, dry_run: bool, format: Format) -> CliResult {
    let mut store = crate::open::store(settings)?;
    let places = Places {
        state_dir: settings.state_dir.clone(),
        ledger_dir: settings.store.ledger_dir.clone(),
        cache_dir: settings.runtime.cache_dir.clone(),
    };
    let report =
        cleanup::run(store.as_mut(), &places, keep_days, dry_run, now_ms()).map_err(runtime)?;
    if format == Format::Json {
        output::json(&report);
    } else {
        print_report(&report);
    }
    if !dry_run {
        crate::audited::record(
            settings,
            "cleanup",
            json!({"keep_days": keep_days}),
            serde_json::to_value(&report).map_err(runtime)?,
        )?;
    }
    Ok(Exit::Success)
}

fn print_report(report: &Report) {
    let rows: Vec<Vec<String>> = [
        ("jobs", report.jobs),
        ("ledger rows", report.ledger_rows),
        ("runs", report.runs),
        ("manifest rows", report.manifest_rows),
        ("run logs", report.run_logs),
        ("ledger files", report.ledger_files),
        ("artifacts", report.artifacts),
        ("compile cache", report.compile_cache),
    ]
    .iter()
    .map(|(kind, Tally { count, bytes })| {
        vec![kind.to_string(), count.to_string(), bytes.to_string()]
    })
    .collect();
    output::table(&["kind", "count", "bytes"], &rows);
    let total: u64 = [
        report.run_logs,
        report.ledger_files,
        report.artifacts,
        report.compile_cache,
    ]
    .iter()
    .map(|t| t.bytes)
    .sum();
    let verb = if report.dry_run {
        "would free"
    } else {
        "freed"
    };
    let marker = if report.dry_run { INFO } else { OK };
    println!(
        "{marker} {verb} {total} bytes of what ended before {} (kept: anything a queued, running or blocked job or a stage's last success needs)",
        format_ms(report.before)
    );
}

/// `baton compare A B`: each side a run id or a directory.
pub fn compare(settings: &Settings, a: &str, b: &str, format: Format) -> CliResult {
    let left = side(settings, a)?;
    let right = side(settings, b)?;
    let comparison = compare::compare(&left, &right);
    if format == Format::Json {
        output::json(&json!({
            "a": a, "b": b, "same": comparison.is_same(),
            "missing": comparison.missing, "extra": comparison.extra,
            "different": comparison.different, "unchanged": comparison.same,
            "not_compared": comparison.not_compared,
        }));
    } else {
        for path in &comparison.missing {
            println!("missing    {}", output::safe(path, false));
        }
        for path in &comparison.extra {
            println!("extra      {}", output::safe(path, false));
        }
        for changed in &comparison.different {
            println!(
                "different  {}  {} → {}",
                output::safe(&changed.path, false),
                &changed.a[..12.min(changed.a.len())],
                &changed.b[..12.min(changed.b.len())]
            );
        }
        if !comparison.not_compared.is_empty() {
            println!(
                "{INFO} not compared (only one run included them): {}",
                output::safe(&comparison.not_compared.join(", "), false)
            );
        }
        let marker = if comparison.is_same() { OK } else { INFO };
        println!(
            "{marker} {} unchanged, {} missing, {} extra, {} different",
            comparison.same,
            comparison.missing.len(),
            comparison.extra.len(),
            comparison.different.len()
        );
    }
    Ok(if comparison.is_same() {
        Exit::Success
    } else {
        Exit::Degraded
    })
}

/// A side of a comparison: a directory when `text` names one (relative to where Baton was
/// started), else a pipeline run id.
fn side(settings: &Settings, text: &str) -> Result<Outputs, crate::exit::CliError> {
    let path = settings.cwd.join(text);
    if path.is_dir() {
        return compare::of_dir(&path).map_err(runtime);
    }
    if Path::new(text).components().count() > 1 || path.exists() {
        return Err(usage(anyhow::anyhow!(
            "`{text}` is neither a directory nor a pipeline run id"
        )));
    }
    let store = crate::open::store(settings)?;
    compare::of_run(store.as_ref(), text).map_err(usage)
}
