//! `store::open`: the one way every command opens the store named by `store.db` — the
//! embedded SQLite file, or a PostgreSQL server shared by several hosts; either journals
//! its commits to `.baton/ledger/`.

use crate::settings::{StoreLocation, StoreSettings};
use anyhow::{Context, Result};
use baton_core::store::{Store, StoreRead};
use baton_store_postgres::PgStore;
use baton_store_sqlite::SqliteStore;

/// Opens (creating and migrating when needed) the configured store.
pub fn open(settings: &StoreSettings) -> Result<Box<dyn Store>> {
    match &settings.location {
        StoreLocation::Sqlite(path) => Ok(Box::new(
            SqliteStore::open_with(path, &settings.ledger_dir, settings.durability)
                .context("cannot open the queue store")?,
        )),
        StoreLocation::Postgres(url) => Ok(Box::new(
            PgStore::open_with(url, &settings.ledger_dir, settings.durability)
                .context("cannot open the queue store")?,
        )),
    }
}

/// Opens the configured store to read only, creating nothing (plans and dry runs); `None`
/// when it does not exist yet.
pub fn open_read_only(settings: &StoreSettings) -> Result<Option<Box<dyn StoreRead>>> {
    match &settings.location {
        StoreLocation::Sqlite(path) => {
            Ok(SqliteStore::open_read_only(path)?
                .map(|store| Box::new(store) as Box<dyn StoreRead>))
        }
        StoreLocation::Postgres(url) => {
            Ok(PgStore::open_read_only(url)?.map(|store| Box::new(store) as Box<dyn StoreRead>))
        }
    }
}
