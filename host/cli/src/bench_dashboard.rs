//! `baton bench dashboard`: fills a store with N queued jobs (plus running, failed, done and
//! snoozed ones) and measures the store time of one dashboard refresh (the reads behind
//! `baton dashboard` and `baton serve`), against `queue stats`, which scans.

use super::exit::{CliResult, Exit, runtime, usage};
use super::output::{self, Format, INFO};
use anyhow::anyhow;
use baton_core::clock::now_ms;
use baton_core::model::{Failure, JobKind, NewJob, Outcome};
use baton_core::store::{Claim, commit};
use baton_engine::dashboard;
use baton_engine::settings::{Overrides, Settings};
use clap::Args;
use serde_json::json;
use std::time::Instant;

#[derive(Debug, Args)]
pub struct DashboardBench {
    /// Jobs in the queue.
    #[arg(long, default_value_t = 1_000_000)]
    pub jobs: usize,
    /// Refreshes measured.
    #[arg(long, default_value_t = 50)]
    pub refreshes: usize,
    /// Measure on this store instead of a new SQLite file, e.g. an empty PostgreSQL
    /// database (`postgres://USER@HOST:PORT/DB`); it must hold no jobs.
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
}

/// Milliseconds at quantile `q` of sorted `values`.
fn quantile(values: &[f64], q: f64) -> f64 {
    values[((values.len() - 1) as f64 * q).round() as usize]
}

pub fn run(args: &DashboardBench, settings: &Settings, format: Format) -> CliResult {
    if args.jobs < 1_000 || args.refreshes == 0 {
        return Err(usage(anyhow!(
            "--jobs must be at least 1000 and --refreshes at least 1"
        )));
    }
    let dir = tempfile::tempdir().map_err(runtime)?;
    let overrides = Overrides {
        db: Some(
            args.store
                .clone()
                .unwrap_or_else(|| dir.path().join("bench.db").to_string_lossy().into_owned()),
        ),
        cache_dir: Some(settings.runtime.cache_dir.clone()),
    };
    let bench = Settings::load(dir.path(), None, &overrides, &|_| None).map_err(runtime)?;
    let mut store = crate::open::store(&bench)?;
    if store.stats(now_ms()).map_err(runtime)?.total > 0 {
        return Err(usage(anyhow!(
            "the store for the benchmark must hold no jobs; give --store an empty database"
        )));
    }
    let fill_started = Instant::now();
    let keys: Vec<usize> = (0..args.jobs).collect();
    for chunk in keys.chunks(50_000) {
        let jobs: Vec<NewJob> = chunk
            .iter()
            .map(|i| NewJob {
                key: format!("dash-{i}"),
                kind: JobKind::Resolve,
                plugin: None,
                payload: "{}".into(),
                priority: 0,
                max_attempts: 1,
            })
            .collect();
        commit(store.as_mut(), now_ms(), |tx| tx.enqueue(&jobs, false)).map_err(runtime)?;
    }
    // Some of every kind of row the views list: 1% of the jobs end (done, failed, snoozed),
    // 100 stay running.
    let now = now_ms();
    let claim = Claim {
        run: None,
        any_run: false,
        owner: "bench:1:1".into(),
        limit: args.jobs / 100 + 100,
        lease_until: now + 3_600_000,
    };
    let mut held =
        commit(store.as_mut(), now, |tx| tx.claim(&claim, &mut |_| true)).map_err(runtime)?;
    let running = held.split_off(held.len() - 100);
    drop(running);
    let outcomes: Vec<_> = held
        .into_iter()
        .enumerate()
        .map(|(i, job)| {
            let outcome = match i % 3 {
                0 => Outcome::Done { result: json!({}) },
                1 => Outcome::Failed {
                    failure: Failure::coded("bench", "a failure for the benchmark"),
                },
                _ => Outcome::Retry {
                    failure: Failure::new("busy"),
                    at: now + 600_000,
                    snooze: true,
                    wait_reason: "rate host:bench.example until later".into(),
                },
            };
            (job, outcome)
        })
        .collect();
    commit(store.as_mut(), now_ms(), |tx| tx.finish(&outcomes)).map_err(runtime)?;
    let fill_seconds = fill_started.elapsed().as_secs_f64();
    let mut refresh = Vec::with_capacity(args.refreshes);
    for _ in 0..args.refreshes {
        let snap = dashboard::snapshot(&*store, &bench, now_ms()).map_err(runtime)?;
        refresh.push(snap.store_ms);
    }
    refresh.sort_by(f64::total_cmp);
    let stats_started = Instant::now();
    store.stats(now_ms()).map_err(runtime)?;
    let stats_ms = stats_started.elapsed().as_secs_f64() * 1000.0;
    let store_kind = if args.store.is_some() {
        "postgresql"
    } else {
        "sqlite"
    };
    let (median, p95, max) = (
        quantile(&refresh, 0.5),
        quantile(&refresh, 0.95),
        quantile(&refresh, 1.0),
    );
    if format == Format::Json {
        output::json(&json!({
            "store": store_kind, "jobs": args.jobs, "refreshes": args.refreshes,
            "fill_seconds": fill_seconds,
            "refresh_ms": {"median": median, "p95": p95, "max": max},
            "queue_stats_ms": stats_ms,
        }));
    } else {
        println!(
            "{INFO} {store_kind}, {} jobs (filled in {fill_seconds:.1} s)",
            args.jobs
        );
        println!(
            "dashboard refresh, store time over {} refreshes: median {median:.2} ms · p95 {p95:.2} ms · max {max:.2} ms",
            args.refreshes
        );
        println!("queue stats (scans every job), once: {stats_ms:.1} ms");
    }
    Ok(Exit::Success)
}
