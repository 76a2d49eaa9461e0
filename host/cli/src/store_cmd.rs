//! `baton store`: moving a queue to another store. `migrate --to URL` copies everything the
//! configured store holds (jobs with their ids and states, runs, the stage cache, the
//! manifest, quotas, counters, plugin state and the ledger events) into another store —
//! typically from the embedded SQLite file to a PostgreSQL server other hosts share.

use super::exit::{CliResult, Exit, runtime, usage};
use super::output::{self, Format, OK};
use anyhow::anyhow;
use baton_core::clock::now_ms;
use baton_core::store::{PORTABLE_TABLES, Row, Store, StoreRead, commit};
use baton_engine::settings::{Settings, StoreLocation};
use clap::Subcommand;
use serde_json::json;

/// Rows copied per transaction.
const BATCH: usize = 1000;

/// `baton store ...`
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Copy this project's store into another (e.g. `--to postgres://baton@db:5432/baton`),
    /// keeping ids, states and the ledger; then point store.db at it. Stop every process
    /// working on this store first (`baton hosts`). The target must hold nothing unless
    /// --force.
    Migrate {
        /// The store to copy into: a PostgreSQL URL or a SQLite file.
        #[arg(long, value_name = "URL")]
        to: String,
        /// Copy into a store that already holds something (rows with the same ids fail).
        #[arg(long)]
        force: bool,
    },
}

/// Runs a `store` subcommand.
pub fn run(command: &StoreCommand, settings: &Settings, format: Format) -> CliResult {
    match command {
        StoreCommand::Migrate { to, force } => migrate(settings, to, *force, format),
    }
}

/// Whether `table` of `store` has a row.
fn has_rows(store: &dyn StoreRead, table: &str) -> anyhow::Result<bool> {
    let mut found = false;
    let stopped = store.export(table, &mut |_| {
        found = true;
        Err(anyhow!("found one"))
    });
    match stopped {
        Ok(_) => Ok(false),
        Err(_) if found => Ok(true),
        Err(e) => Err(e),
    }
}

fn migrate(settings: &Settings, to: &str, force: bool, format: Format) -> CliResult {
    let source = crate::open::store(settings)?;
    let now = now_ms();
    let lease = settings.queue.lease.as_millis() as i64;
    let live: Vec<String> = source
        .members()
        .map_err(runtime)?
        .into_iter()
        .filter(|m| m.last_beat > now - 2 * lease)
        .map(|m| format!("{} (pid {}, {})", m.host, m.pid, m.role))
        .collect();
    if !live.is_empty() {
        return Err(usage(anyhow!(
            "processes are working on this store: {}; stop them first (see `baton hosts`)",
            live.join(", ")
        )));
    }
    let mut target_settings = settings.store.clone();
    target_settings.location = StoreLocation::parse(to, &settings.cwd);
    // The copy records no events of its own; the project's ledger already holds those it
    // copies, so the target must not compare itself with that ledger while empty.
    let scratch = tempfile::tempdir().map_err(runtime)?;
    target_settings.ledger_dir = scratch.path().to_path_buf();
    let same = match (&target_settings.location, &settings.store.location) {
        (StoreLocation::Sqlite(a), StoreLocation::Sqlite(b)) => a == b,
        (StoreLocation::Postgres(a), StoreLocation::Postgres(b)) => a == b,
        _ => false,
    };
    if same {
        return Err(usage(anyhow!(
            "--to names the store this project already uses"
        )));
    }
    let mut target = baton_engine::store::open(&target_settings).map_err(runtime)?;
    if !force {
        for table in ["jobs", "runs", "events"] {
            if has_rows(target.as_ref(), table).map_err(runtime)? {
                return Err(usage(anyhow!(
                    "the target already holds {table}; copy into an empty store, or add --force"
                )));
            }
        }
    }
    let mut copied = serde_json::Map::new();
    for table in PORTABLE_TABLES {
        let count = copy(source.as_ref(), target.as_mut(), table).map_err(runtime)?;
        copied.insert(table.to_string(), json!(count));
    }
    if format == Format::Json {
        output::json(&json!({"to": target_name(to), "copied": copied}));
    } else {
        let parts: Vec<String> = copied.iter().map(|(t, n)| format!("{n} {t}")).collect();
        println!("{OK} copied {} into {}", parts.join(", "), target_name(to));
        println!("  next: set store.db to it in baton.toml (or BATON_DB), on every host");
    }
    Ok(Exit::Success)
}

/// Copies `table` in batches; returns how many rows.
fn copy(source: &dyn StoreRead, target: &mut dyn Store, table: &str) -> anyhow::Result<u64> {
    let mut batch: Vec<Row> = Vec::with_capacity(BATCH);
    let flush = |target: &mut dyn Store, batch: &mut Vec<Row>| -> anyhow::Result<()> {
        let rows = std::mem::take(batch);
        commit(target, now_ms(), |tx| tx.import(table, &rows))?;
        Ok(())
    };
    let count = source.export(table, &mut |row| {
        batch.push(row);
        if batch.len() == BATCH {
            flush(target, &mut batch)?;
        }
        Ok(())
    })?;
    if !batch.is_empty() {
        flush(target, &mut batch)?;
    }
    Ok(count)
}

/// The target's address without a password.
fn target_name(to: &str) -> String {
    match url::Url::parse(to) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(None);
            url.to_string()
        }
        _ => to.to_string(),
    }
}
