//! Agent sessions: a session is one adapter instance kept alive across the prompts of one
//! conversation, with an idle timeout (default 300 s), a maximum lifetime (default 3600 s)
//! and a warning event shortly before the idle timeout (default 30 s before). Using a
//! session (a [`Lease`]) is activity: it resets the idle timer. When a session times out
//! its instance is dropped at once and the session is recorded as expired.
//!
//! [`SessionManager<S>`] is generic over what a session holds (`baton_runtime`'s
//! `AgentSession` in Baton; anything whose drop releases it). It needs a tokio runtime: a
//! reaper task sleeps until the next deadline. Every change is reported to a
//! [`SessionSink`] as a [`SessionEvent`] (the engine's [`StoreSink`] writes them to the
//! ledger, which `baton agent sessions` reads back, see [`super::session_log`]).
//!
//! ```ignore
//! let sessions = SessionManager::new(SessionSettings::default(), sink);
//! sessions.open("review", "openai", Some("gpt-4o-mini"), rt.open_session(&plugin, model)).await?;
//! let mut lease = sessions.lease("review").await?;   // waits for the previous prompt
//! let report = lease.send(request).await;            // the instance, via DerefMut
//! drop(lease);                                      // one turn; the idle timer restarts
//! sessions.close("review");                          // drops the instance
//! ```
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::{Notify, OwnedMutexGuard};

/// How many ended sessions [`SessionManager::list`] still shows.
const RECENT_KEPT: usize = 100;

/// Session timeouts (config keys `agent.session-idle-timeout`,
/// `agent.session-max-lifetime`, `agent.session-warning`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionSettings {
    /// A session unused this long expires. Default 300 s.
    pub idle_timeout: Duration,
    /// A session expires this long after it opened, used or not. Default 3600 s.
    pub max_lifetime: Duration,
    /// The warning event comes this long before the idle timeout. Default 30 s; a warning
    /// longer than the idle timeout comes as the session opens or is used.
    pub warning_before: Duration,
}

impl Default for SessionSettings {
    fn default() -> Self {
        SessionSettings {
            idle_timeout: Duration::from_secs(300),
            max_lifetime: Duration::from_secs(3600),
            warning_before: Duration::from_secs(30),
        }
    }
}

/// Why a session expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// Unused for the idle timeout.
    Idle,
    /// Open for the maximum lifetime.
    Lifetime,
}

impl Expiry {
    /// `idle` or `lifetime`.
    pub fn name(self) -> &'static str {
        match self {
            Expiry::Idle => "idle",
            Expiry::Lifetime => "lifetime",
        }
    }
}

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// Open; its instance is alive.
    Open,
    /// Timed out; its instance was dropped.
    Expired(Expiry),
    /// Closed by its user; its instance was dropped.
    Closed,
}

impl SessionState {
    /// `open`, `expired` or `closed`.
    pub fn name(self) -> &'static str {
        match self {
            SessionState::Open => "open",
            SessionState::Expired(_) => "expired",
            SessionState::Closed => "closed",
        }
    }
}

/// What happened to a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEventKind {
    /// Its instance was opened.
    Opened,
    /// A prompt was answered (or failed) in it.
    Turn,
    /// It will expire for idleness soon (`warning_before` ahead).
    Warning,
    /// It timed out; the instance was dropped.
    Expired(Expiry),
    /// It was closed; the instance was dropped.
    Closed,
}

impl SessionEventKind {
    /// The ledger event name: `session-opened`, `session-turn`, `session-idle-warning`,
    /// `session-expired`, `session-closed`.
    pub fn ledger_name(self) -> &'static str {
        match self {
            SessionEventKind::Opened => "session-opened",
            SessionEventKind::Turn => "session-turn",
            SessionEventKind::Warning => "session-idle-warning",
            SessionEventKind::Expired(_) => "session-expired",
            SessionEventKind::Closed => "session-closed",
        }
    }
}

/// One event of one session, with what `baton agent sessions` needs to show it.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionEvent {
    /// What happened.
    pub kind: SessionEventKind,
    /// When, Unix milliseconds.
    pub at_ms: i64,
    /// The session's name.
    pub session: String,
    /// The adapter (plugin name).
    pub adapter: String,
    /// The model, if one was asked for.
    pub model: Option<String>,
    /// Prompts answered so far.
    pub turns: u64,
    /// When it expires for idleness if unused (Unix ms); `None` once ended.
    pub idle_deadline_ms: Option<i64>,
    /// When it expires for its lifetime (Unix ms).
    pub lifetime_deadline_ms: i64,
    /// The process holding it.
    pub pid: u32,
}

impl SessionEvent {
    /// The ledger line's fields besides `at` and `event`: `session`, `adapter`, `model`,
    /// `turns`, `pid`, `idle_deadline` and `expires_at` (RFC 3339), `reason` for expiries.
    pub fn data(&self) -> Value {
        let mut data = json!({
            "session": self.session,
            "adapter": self.adapter,
            "model": self.model,
            "turns": self.turns,
            "pid": self.pid,
            "expires_at": baton_core::clock::format_ms(self.lifetime_deadline_ms),
        });
        if let Some(idle) = self.idle_deadline_ms {
            data["idle_deadline"] = json!(baton_core::clock::format_ms(idle));
        }
        if let SessionEventKind::Expired(reason) = self.kind {
            data["reason"] = json!(reason.name());
        }
        data
    }
}

/// Where session events go (the ledger, a test's list).
pub trait SessionSink: Send + Sync {
    /// Records one event; must not block for long (it runs on the reaper's task).
    fn record(&self, event: SessionEvent);
}

/// A session as [`SessionManager::list`] shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionInfo {
    /// The session's name.
    pub session: String,
    /// The adapter.
    pub adapter: String,
    /// The model, if any.
    pub model: Option<String>,
    /// Open, expired or closed.
    pub state: SessionState,
    /// Prompts answered.
    pub turns: u64,
    /// When it opened, Unix ms.
    pub opened_at_ms: i64,
    /// Since the last activity (for an ended session: since it ended).
    pub idle_for: Duration,
    /// Until it expires (the earlier of its idle and lifetime deadlines); `None` once ended.
    pub expires_in: Option<Duration>,
}

/// Why a session could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionError {
    /// No session of that name is open.
    Unknown(String),
    /// It timed out (its instance is gone); open a new one.
    Expired(String, Expiry),
    /// It is open with another adapter.
    OtherAdapter {
        /// The session.
        session: String,
        /// The adapter it is open with.
        open_with: String,
        /// The adapter asked for.
        asked: String,
    },
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::Unknown(name) => write!(f, "no open session `{name}`"),
            SessionError::Expired(name, reason) => write!(
                f,
                "session `{name}` expired ({} timeout) and its instance was dropped; open it again",
                reason.name()
            ),
            SessionError::OtherAdapter {
                session,
                open_with,
                asked,
            } => write!(
                f,
                "session `{session}` is open with adapter `{open_with}`, not `{asked}`: give the prompt another session name"
            ),
        }
    }
}

impl std::error::Error for SessionError {}

/// Why [`SessionManager::open`] failed.
#[derive(Debug)]
pub enum OpenError<E> {
    /// The session exists with another adapter.
    Session(SessionError),
    /// Opening the instance failed.
    Open(E),
}

/// Keeps sessions, their timers and their instances. Cheap to clone (shared).
pub struct SessionManager<S: Send + 'static> {
    inner: Arc<Inner<S>>,
}

impl<S: Send + 'static> Clone for SessionManager<S> {
    fn clone(&self) -> Self {
        SessionManager {
            inner: Arc::clone(&self.inner),
        }
    }
}

struct Inner<S> {
    settings: SessionSettings,
    sink: Arc<dyn SessionSink>,
    state: Mutex<Table<S>>,
    /// Wakes the reaper when a deadline may have moved (or the manager is gone).
    wake: Arc<Notify>,
    /// Instances alive (opened and not yet dropped).
    live: Arc<AtomicUsize>,
}

struct Table<S> {
    open: HashMap<String, Slot<S>>,
    recent: VecDeque<SessionInfo>,
}

struct Slot<S> {
    adapter: String,
    model: Option<String>,
    opened: Instant,
    opened_at_ms: i64,
    last_activity: Instant,
    turns: u64,
    warned: bool,
    instance: Arc<tokio::sync::Mutex<Option<Counted<S>>>>,
}

/// An instance, counted in `live` until dropped.
struct Counted<S> {
    instance: S,
    live: Arc<AtomicUsize>,
}

impl<S> Drop for Counted<S> {
    fn drop(&mut self) {
        self.live.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A session in use: one prompt's exclusive access to the instance (prompts of one session
/// run in order). Dropping it counts a turn and restarts the idle timer.
pub struct Lease<S: Send + 'static> {
    /// Always `Some` until the lease drops (then released before the turn is counted, so the
    /// reaper never sees the session busy after its last wake-up).
    guard: Option<OwnedMutexGuard<Option<Counted<S>>>>,
    session: String,
    manager: Weak<Inner<S>>,
}

impl<S: Send + 'static> Deref for Lease<S> {
    type Target = S;
    fn deref(&self) -> &S {
        match self.guard.as_ref().and_then(|guard| guard.as_ref()) {
            Some(counted) => &counted.instance,
            None => unreachable!("a lease is only made over a live instance"),
        }
    }
}

impl<S: Send + 'static> DerefMut for Lease<S> {
    fn deref_mut(&mut self) -> &mut S {
        match self.guard.as_mut().and_then(|guard| guard.as_mut()) {
            Some(counted) => &mut counted.instance,
            None => unreachable!("a lease is only made over a live instance"),
        }
    }
}

impl<S: Send + 'static> Drop for Lease<S> {
    fn drop(&mut self) {
        drop(self.guard.take());
        if let Some(inner) = self.manager.upgrade() {
            inner.turn(&self.session);
        }
    }
}

impl<S: Send + 'static> SessionManager<S> {
    /// A manager with these timeouts, reporting to `sink`; starts its reaper task (call it
    /// within a tokio runtime). The reaper ends when the last clone of the manager is dropped.
    pub fn new(settings: SessionSettings, sink: Arc<dyn SessionSink>) -> SessionManager<S> {
        let inner = Arc::new(Inner {
            settings,
            sink,
            state: Mutex::new(Table {
                open: HashMap::new(),
                recent: VecDeque::new(),
            }),
            wake: Arc::new(Notify::new()),
            live: Arc::new(AtomicUsize::new(0)),
        });
        tokio::spawn(reap(Arc::downgrade(&inner), Arc::clone(&inner.wake)));
        SessionManager { inner }
    }

    /// The timeouts in force.
    pub fn settings(&self) -> SessionSettings {
        self.inner.settings
    }

    /// Opens session `name` with `adapter` by awaiting `open` (the instance), unless it is
    /// already open with that adapter: then `open` is not awaited and `Ok(false)` comes back.
    /// A session open with another adapter is an error.
    pub async fn open<E>(
        &self,
        name: &str,
        adapter: &str,
        model: Option<&str>,
        open: impl Future<Output = Result<S, E>>,
    ) -> Result<bool, OpenError<E>> {
        if let Some(open_with) = self.inner.adapter_of(name) {
            if open_with != adapter {
                return Err(OpenError::Session(SessionError::OtherAdapter {
                    session: name.into(),
                    open_with,
                    asked: adapter.into(),
                }));
            }
            return Ok(false);
        }
        let instance = open.await.map_err(OpenError::Open)?;
        self.inner.live.fetch_add(1, Ordering::SeqCst);
        let counted = Counted {
            instance,
            live: Arc::clone(&self.inner.live),
        };
        let now = Instant::now();
        let slot = Slot {
            adapter: adapter.into(),
            model: model.map(str::to_string),
            opened: now,
            opened_at_ms: baton_core::clock::now_ms(),
            last_activity: now,
            turns: 0,
            warned: false,
            instance: Arc::new(tokio::sync::Mutex::new(Some(counted))),
        };
        let event = self.inner.event(SessionEventKind::Opened, name, &slot);
        let replaced = self.inner.table().open.insert(name.to_string(), slot);
        // Two opens raced: the later instance wins, the earlier one is dropped.
        drop(replaced);
        self.inner.sink.record(event);
        self.inner.wake.notify_one();
        Ok(true)
    }

    /// Exclusive use of session `name` for one prompt; waits while another prompt of the
    /// session runs. Using it is activity: the idle timer restarts.
    pub async fn lease(&self, name: &str) -> Result<Lease<S>, SessionError> {
        let instance = {
            let table = self.inner.table();
            match table.open.get(name) {
                Some(slot) => Arc::clone(&slot.instance),
                None => return Err(self.inner.gone(&table, name)),
            }
        };
        let guard = instance.lock_owned().await;
        if guard.is_none() {
            let table = self.inner.table();
            return Err(self.inner.gone(&table, name));
        }
        self.inner.touch(name);
        Ok(Lease {
            guard: Some(guard),
            session: name.into(),
            manager: Arc::downgrade(&self.inner),
        })
    }

    /// Closes session `name` and drops its instance (after a prompt in progress ends);
    /// `false` when no such session is open.
    pub fn close(&self, name: &str) -> bool {
        self.inner.end(name, SessionState::Closed)
    }

    /// Closes every open session.
    pub fn close_all(&self) {
        let names: Vec<String> = self.inner.table().open.keys().cloned().collect();
        for name in names {
            self.close(&name);
        }
    }

    /// Open sessions, then the most recently ended ones (newest first).
    pub fn list(&self) -> Vec<SessionInfo> {
        let now = Instant::now();
        let settings = self.inner.settings;
        let table = self.inner.table();
        let mut open: Vec<SessionInfo> = table
            .open
            .iter()
            .map(|(name, slot)| {
                let idle_deadline = slot.last_activity + settings.idle_timeout;
                let lifetime_deadline = slot.opened + settings.max_lifetime;
                SessionInfo {
                    session: name.clone(),
                    adapter: slot.adapter.clone(),
                    model: slot.model.clone(),
                    state: SessionState::Open,
                    turns: slot.turns,
                    opened_at_ms: slot.opened_at_ms,
                    idle_for: now.saturating_duration_since(slot.last_activity),
                    expires_in: Some(
                        idle_deadline
                            .min(lifetime_deadline)
                            .saturating_duration_since(now),
                    ),
                }
            })
            .collect();
        open.sort_by(|a, b| a.session.cmp(&b.session));
        open.extend(table.recent.iter().rev().cloned());
        open
    }

    /// Instances alive right now (open sessions, plus closed ones whose prompt is still
    /// running).
    pub fn live_instances(&self) -> usize {
        self.inner.live.load(Ordering::SeqCst)
    }
}

impl<S> Inner<S> {
    fn table(&self) -> std::sync::MutexGuard<'_, Table<S>> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn adapter_of(&self, name: &str) -> Option<String> {
        self.table().open.get(name).map(|slot| slot.adapter.clone())
    }

    /// Why `name` cannot be leased: it expired recently, or is unknown.
    fn gone(&self, table: &Table<S>, name: &str) -> SessionError {
        let expired = table
            .recent
            .iter()
            .rev()
            .find(|info| info.session == name)
            .and_then(|info| match info.state {
                SessionState::Expired(reason) => Some(reason),
                _ => None,
            });
        match expired {
            Some(reason) => SessionError::Expired(name.into(), reason),
            None => SessionError::Unknown(name.into()),
        }
    }

    fn event(&self, kind: SessionEventKind, name: &str, slot: &Slot<S>) -> SessionEvent {
        let now_ms = baton_core::clock::now_ms();
        let now = Instant::now();
        let until = |deadline: Instant| {
            let ahead = deadline.saturating_duration_since(now).as_millis() as i64;
            now_ms + ahead
        };
        let ended = matches!(
            kind,
            SessionEventKind::Expired(_) | SessionEventKind::Closed
        );
        SessionEvent {
            kind,
            at_ms: now_ms,
            session: name.into(),
            adapter: slot.adapter.clone(),
            model: slot.model.clone(),
            turns: slot.turns,
            idle_deadline_ms: (!ended)
                .then(|| until(slot.last_activity + self.settings.idle_timeout)),
            lifetime_deadline_ms: until(slot.opened + self.settings.max_lifetime),
            pid: std::process::id(),
        }
    }

    /// Activity: the idle timer restarts.
    fn touch(&self, name: &str) {
        if let Some(slot) = self.table().open.get_mut(name) {
            slot.last_activity = Instant::now();
            slot.warned = false;
        }
        self.wake.notify_one();
    }

    /// A prompt ended: one more turn, and activity.
    fn turn(&self, name: &str) {
        let event = {
            let mut table = self.table();
            let Some(slot) = table.open.get_mut(name) else {
                return;
            };
            slot.turns += 1;
            slot.last_activity = Instant::now();
            slot.warned = false;
            let slot = &table.open[name];
            self.event(SessionEventKind::Turn, name, slot)
        };
        self.sink.record(event);
        self.wake.notify_one();
    }

    /// Ends session `name` (closed or expired): removes it, drops its instance (at once, or
    /// when a running prompt ends) and records the event.
    fn end(&self, name: &str, state: SessionState) -> bool {
        let (event, instance) = {
            let mut table = self.table();
            let Some(slot) = table.open.remove(name) else {
                return false;
            };
            let kind = match state {
                SessionState::Expired(reason) => SessionEventKind::Expired(reason),
                _ => SessionEventKind::Closed,
            };
            let event = self.event(kind, name, &slot);
            table.recent.push_back(SessionInfo {
                session: name.into(),
                adapter: slot.adapter.clone(),
                model: slot.model.clone(),
                state,
                turns: slot.turns,
                opened_at_ms: slot.opened_at_ms,
                idle_for: Duration::ZERO,
                expires_in: None,
            });
            while table.recent.len() > RECENT_KEPT {
                table.recent.pop_front();
            }
            (event, slot.instance)
        };
        // Not leased: drop the instance now. Leased: the lease holds the last reference
        // to the slot's instance, which drops with it.
        if let Ok(mut guard) = instance.try_lock() {
            guard.take();
        }
        drop(instance);
        self.sink.record(event);
        true
    }
}

impl<S> Drop for Inner<S> {
    fn drop(&mut self) {
        // Lets the reaper see the manager is gone.
        self.wake.notify_one();
    }
}

/// The reaper: warns and expires sessions at their deadlines; ends with the manager.
async fn reap<S: Send + 'static>(inner: Weak<Inner<S>>, wake: Arc<Notify>) {
    loop {
        let next = {
            let Some(inner) = inner.upgrade() else { return };
            sweep(&inner)
        };
        let sleep = match next {
            Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)),
            None => tokio::time::sleep(Duration::from_secs(3600)),
        };
        // A notification sent since the sweep is kept by `Notify` as a permit.
        tokio::select! {
            () = sleep => {}
            () = wake.notified() => {}
        }
    }
}

/// One pass: warns and expires what is due; returns the next deadline.
fn sweep<S: Send + 'static>(inner: &Arc<Inner<S>>) -> Option<Instant> {
    let settings = inner.settings;
    let now = Instant::now();
    let mut warnings = Vec::new();
    let mut expired = Vec::new();
    let mut next: Option<Instant> = None;
    {
        let mut table = inner.table();
        for (name, slot) in table.open.iter_mut() {
            // A prompt in progress is activity; its lease's end restarts the timer.
            if slot.instance.try_lock().is_err() {
                continue;
            }
            let lifetime = slot.opened + settings.max_lifetime;
            let idle = slot.last_activity + settings.idle_timeout;
            let warn_at = idle
                .checked_sub(settings.warning_before)
                .unwrap_or(slot.last_activity)
                .max(slot.last_activity);
            if now >= lifetime {
                expired.push((name.clone(), Expiry::Lifetime));
                continue;
            }
            if now >= idle {
                expired.push((name.clone(), Expiry::Idle));
                continue;
            }
            if !slot.warned && now >= warn_at {
                slot.warned = true;
                warnings.push(name.clone());
            }
            let mut due = lifetime.min(idle);
            if !slot.warned {
                due = due.min(warn_at);
            }
            next = Some(next.map_or(due, |n| n.min(due)));
        }
    }
    for name in warnings {
        let event = {
            let table = inner.table();
            table
                .open
                .get(&name)
                .map(|slot| inner.event(SessionEventKind::Warning, &name, slot))
        };
        if let Some(event) = event {
            inner.sink.record(event);
        }
    }
    for (name, reason) in expired {
        inner.end(&name, SessionState::Expired(reason));
    }
    next
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records events in memory.
    #[derive(Default)]
    struct Events(Mutex<Vec<SessionEvent>>);

    impl SessionSink for Events {
        fn record(&self, event: SessionEvent) {
            self.0.lock().unwrap().push(event);
        }
    }

    impl Events {
        fn kinds(&self, session: &str) -> Vec<SessionEventKind> {
            self.0
                .lock()
                .unwrap()
                .iter()
                .filter(|e| e.session == session)
                .map(|e| e.kind)
                .collect()
        }
    }

    /// An instance that counts its drops.
    struct Instance(Arc<AtomicUsize>);

    impl Drop for Instance {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn short() -> SessionSettings {
        SessionSettings {
            idle_timeout: Duration::from_millis(400),
            max_lifetime: Duration::from_secs(60),
            warning_before: Duration::from_millis(200),
        }
    }

    async fn open(
        manager: &SessionManager<Instance>,
        name: &str,
        drops: &Arc<AtomicUsize>,
    ) -> bool {
        let instance = Instance(Arc::clone(drops));
        manager
            .open(name, "openai", Some("m"), async move {
                Ok::<_, String>(instance)
            })
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn warns_then_expires_and_drops_the_instance() {
        let events = Arc::new(Events::default());
        let manager = SessionManager::new(short(), events.clone());
        let drops = Arc::new(AtomicUsize::new(0));
        assert!(open(&manager, "s", &drops).await);
        assert_eq!(manager.live_instances(), 1);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            events.kinds("s"),
            [SessionEventKind::Opened, SessionEventKind::Warning]
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(
            events.kinds("s"),
            [
                SessionEventKind::Opened,
                SessionEventKind::Warning,
                SessionEventKind::Expired(Expiry::Idle)
            ]
        );
        assert_eq!(drops.load(Ordering::SeqCst), 1, "the instance was dropped");
        assert_eq!(manager.live_instances(), 0);
        assert_eq!(
            manager.lease("s").await.err(),
            Some(SessionError::Expired("s".into(), Expiry::Idle))
        );
        let listed = manager.list();
        assert_eq!(listed[0].state, SessionState::Expired(Expiry::Idle));
    }

    // Multi-threaded, as in the binary: the reaper runs beside the prompts.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn activity_resets_the_idle_timer() {
        let events = Arc::new(Events::default());
        let manager = SessionManager::new(short(), events.clone());
        let drops = Arc::new(AtomicUsize::new(0));
        open(&manager, "s", &drops).await;
        for _ in 0..4 {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let lease = manager.lease("s").await.unwrap();
            drop(lease);
        }
        // 1 s in, used every 250 ms: warned each time, never expired.
        let kinds = events.kinds("s");
        assert!(
            !kinds
                .iter()
                .any(|k| matches!(k, SessionEventKind::Expired(_))),
            "{kinds:?}"
        );
        assert_eq!(
            kinds
                .iter()
                .filter(|k| **k == SessionEventKind::Turn)
                .count(),
            4
        );
        assert_eq!(manager.list()[0].turns, 4);
        assert_eq!(drops.load(Ordering::SeqCst), 0);
        // A long prompt is not cut by the idle timeout; its end restarts the timer.
        let lease = manager.lease("s").await.unwrap();
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(drops.load(Ordering::SeqCst), 0, "not expired while in use");
        drop(lease);
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn lifetime_ends_even_a_busy_conversation() {
        let events = Arc::new(Events::default());
        let settings = SessionSettings {
            max_lifetime: Duration::from_millis(300),
            ..short()
        };
        let manager = SessionManager::new(settings, events.clone());
        let drops = Arc::new(AtomicUsize::new(0));
        open(&manager, "s", &drops).await;
        for _ in 0..4 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if let Ok(lease) = manager.lease("s").await {
                drop(lease);
            }
        }
        assert!(
            events
                .kinds("s")
                .contains(&SessionEventKind::Expired(Expiry::Lifetime))
        );
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn open_reuses_and_refuses_another_adapter() {
        let manager = SessionManager::new(short(), Arc::new(Events::default()));
        let drops = Arc::new(AtomicUsize::new(0));
        assert!(open(&manager, "s", &drops).await);
        assert!(!open(&manager, "s", &drops).await, "reused");
        assert_eq!(
            drops.load(Ordering::SeqCst),
            1,
            "the unused second instance dropped"
        );
        let other = manager
            .open("s", "anthropic", None, async {
                Ok::<_, String>(Instance(Arc::new(AtomicUsize::new(0))))
            })
            .await;
        assert!(matches!(
            other,
            Err(OpenError::Session(SessionError::OtherAdapter { .. }))
        ));
        let failed = manager
            .open("t", "openai", None, async {
                Err::<Instance, _>("no key".to_string())
            })
            .await;
        assert!(matches!(failed, Err(OpenError::Open(message)) if message == "no key"));
        assert_eq!(
            manager.lease("t").await.err(),
            Some(SessionError::Unknown("t".into()))
        );
    }

    #[tokio::test]
    async fn a_hundred_sessions_leave_nothing_behind() {
        let events = Arc::new(Events::default());
        let manager = SessionManager::new(SessionSettings::default(), events.clone());
        let drops = Arc::new(AtomicUsize::new(0));
        for i in 0..100 {
            let name = format!("s{i}");
            open(&manager, &name, &drops).await;
            drop(manager.lease(&name).await.unwrap());
        }
        assert_eq!(manager.live_instances(), 100);
        manager.close_all();
        assert_eq!(manager.live_instances(), 0);
        assert_eq!(drops.load(Ordering::SeqCst), 100);
        assert_eq!(
            manager.list().len(),
            100,
            "recent sessions are kept for listing"
        );
        assert!(
            manager
                .list()
                .iter()
                .all(|s| s.state == SessionState::Closed)
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn closing_during_a_prompt_drops_after_it() {
        let manager = SessionManager::new(short(), Arc::new(Events::default()));
        let drops = Arc::new(AtomicUsize::new(0));
        open(&manager, "s", &drops).await;
        let lease = manager.lease("s").await.unwrap();
        assert!(manager.close("s"));
        assert_eq!(drops.load(Ordering::SeqCst), 0, "still in use");
        drop(lease);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        assert_eq!(manager.live_instances(), 0);
    }
}
