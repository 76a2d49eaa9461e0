//! Agents: sessions of agent adapters ([`sessions`]), their events in the ledger
//! ([`StoreSink`]) and the listing of every process's sessions read back from it
//! ([`session_log`]).
pub mod session_log;
pub mod sessions;

use std::sync::{Arc, Mutex};

use baton_core::event::Event;
use baton_core::store::{Store, commit};

use sessions::{SessionEvent, SessionSink};

/// Writes session events to the store, which journals them to `.baton/ledger/` (events
/// `session-opened`, `session-turn`, `session-idle-warning`, `session-expired`,
/// `session-closed`, with the fields of [`SessionEvent::data`]).
pub struct StoreSink {
    store: Arc<Mutex<Box<dyn Store>>>,
}

impl StoreSink {
    /// A sink over a shared store.
    pub fn new(store: Arc<Mutex<Box<dyn Store>>>) -> StoreSink {
        StoreSink { store }
    }
}

impl SessionSink for StoreSink {
    fn record(&self, event: SessionEvent) {
        let line = Event::general(event.at_ms, event.kind.ledger_name(), event.data());
        let mut store = self
            .store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let recorded = commit(&mut **store, event.at_ms, |tx| {
            tx.record_events(vec![line]);
            Ok(())
        });
        if let Err(error) = recorded {
            tracing::warn!(session = %event.session, "cannot record {}: {error:#}", event.kind.ledger_name());
        }
    }
}
