//! The limiter: per-key concurrency caps and token buckets (per second, minute and day) for
//! keys such as `resolver:unpaywall` and `host:example.org`. Daily quotas are loaded from and
//! flushed to the store, so they survive restarts. With a store ([`SharedSlots`]) every limit
//! holds across every process on it, on any host: a capped key takes a leased slot in the
//! store, which the holder's heartbeat extends and a crashed holder's expiry frees, and rates
//! and daily quotas are token buckets and counts in the store, taken once per request. A caller that would wait too long is told until when (or that it waits for a
//! holder), so its job can step aside (snooze) instead of holding a worker: that keeps one
//! busy key from starving the others.

use crate::scheduler::writer::Writer;
use baton_core::store::{RateLimits, WindowLimit, WindowUnit};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// The limits of one key. Absent fields are unlimited.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LimitSpec {
    /// Holders at once.
    pub concurrency: Option<u32>,
    /// Requests per second (a token bucket; fractions allowed).
    pub per_second: Option<f64>,
    /// Requests per minute (a token bucket).
    pub per_minute: Option<u32>,
    /// Requests per day (the day of `time-zone`, UTC by default); counted in the store, so it
    /// survives restarts.
    pub per_day: Option<u64>,
    /// Tokens per minute (`agent:` keys): charged after each reply with what the provider
    /// reports; a request waits while the window is spent.
    pub tokens_per_minute: Option<u64>,
    /// The length of the "minute" of `per-minute` and `tokens-per-minute` on `agent:` keys
    /// (default `1m`), counted as a sliding window: no span of this length ever holds more.
    pub window: Option<String>,
    /// The IANA time zone whose midnight starts `per-day`'s day (default `UTC`; Gemini
    /// counts in `America/Los_Angeles`).
    pub time_zone: Option<String>,
}

impl LimitSpec {
    /// The sliding-window length of an `agent:` key, milliseconds (`window`, else a minute).
    pub fn window_ms(&self) -> i64 {
        self.window
            .as_deref()
            .and_then(|w| baton_core::units::parse_duration(w).ok())
            .map_or(60_000, |d| d.as_millis().max(1) as i64)
    }
}

/// Whether `key` counts its per-minute limits in exact sliding windows in the store
/// (provider limits: `agent:` keys) rather than token buckets.
pub fn windowed(key: &str) -> bool {
    key.starts_with("agent:")
}

/// The day (`YYYY-MM-DD`) in IANA zone `zone` (UTC when `None` or unknown) at `now_ms`,
/// and when it ends, Unix milliseconds.
pub fn day_in(zone: Option<&str>, now_ms: i64) -> (String, i64) {
    let utc = || {
        let day = 86_400_000;
        (
            baton_core::clock::day_of(now_ms),
            now_ms - now_ms.rem_euclid(day) + day,
        )
    };
    let Some(zone) = zone else {
        return utc();
    };
    let Ok(tz) = jiff::tz::TimeZone::get(zone) else {
        return utc();
    };
    let Ok(at) = jiff::Timestamp::from_millisecond(now_ms) else {
        return utc();
    };
    let date = at.to_zoned(tz.clone()).date();
    match date.tomorrow().and_then(|next| next.to_zoned(tz)) {
        Ok(next) => (date.to_string(), next.timestamp().as_millisecond()),
        Err(_) => utc(),
    }
}

/// Why a caller may not proceed now.
#[derive(Debug, Clone, PartialEq)]
pub struct Wait {
    /// `concurrency host:x (2/2)`, `rate host:x`, `quota host:x (1000/1000 today)`.
    pub reason: String,
    /// When a token will be available; `None` for concurrency (when a holder finishes).
    pub until: Option<Instant>,
}

struct Bucket {
    capacity: f64,
    tokens: f64,
    per_ms: f64,
    last: Instant,
}

impl Bucket {
    fn new(capacity: f64, per_ms: f64, now: Instant) -> Bucket {
        Bucket {
            capacity,
            tokens: capacity,
            per_ms,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64() * 1000.0;
        self.tokens = (self.tokens + elapsed * self.per_ms).min(self.capacity);
        self.last = now;
    }

    /// When one token will be there.
    fn ready_at(&self, now: Instant) -> Instant {
        let missing = (1.0 - self.tokens).max(0.0);
        now + Duration::from_secs_f64(missing / self.per_ms / 1000.0)
    }
}

struct KeyState {
    spec: LimitSpec,
    in_use: u32,
    buckets: Vec<Bucket>,
    day: String,
    day_used: u64,
    /// Used today but not yet flushed to the store.
    unflushed: u64,
    notify: Arc<Notify>,
}

/// Loads how much of a key's daily quota was used on a day (from the store).
pub type QuotaLoader = Box<dyn Fn(&str, &str) -> u64 + Send + Sync>;

/// The first wait between looks at a key whose slots other processes hold (nothing in this
/// process is told when they free one); it doubles up to [`SHARED_POLL_MAX`].
const SHARED_POLL_MIN: Duration = Duration::from_millis(10);
/// The longest wait between looks at a key held by other processes.
const SHARED_POLL_MAX: Duration = Duration::from_millis(200);

/// Concurrency slots kept in the store (`QueueTx::take_slot`), so a key's cap holds across
/// every process on it. A slot is leased to this process until `lease` from when it is
/// taken; the scheduler's heartbeat extends it, and a crashed holder's slots free
/// themselves when the lease runs out.
pub struct SharedSlots {
    /// Takes and frees slots in the writer's group commits.
    pub writer: Writer,
    /// This process's lease owner id: the holder of its slots.
    pub holder: String,
    /// How long a slot is held without a heartbeat.
    pub lease: Duration,
}

impl SharedSlots {
    /// Takes one of `cap` slots of `key`; `None` when other holders have them all.
    async fn take(&self, key: &str, cap: u32) -> anyhow::Result<Option<i64>> {
        let key = key.to_string();
        let holder = self.holder.clone();
        let lease = self.lease.as_millis() as i64;
        self.writer
            .submit(move |tx| {
                let expires = tx.now() + lease;
                tx.take_slot(&key, cap, &holder, expires)
            })
            .await
    }

    /// Takes one request's worth of `key`'s rates and quota; `Some(until)` (Unix ms) when
    /// one says wait.
    async fn take_rate(&self, key: &str, limits: RateLimits) -> anyhow::Result<Option<i64>> {
        let key = key.to_string();
        self.writer
            .submit(move |tx| tx.take_rate(&key, &limits))
            .await
    }

    /// Frees a slot (in the next group commit).
    fn free(&self, slot: i64) {
        self.writer.send(move |tx| tx.free_slot(slot));
    }
}

/// Per-key concurrency caps, token buckets and daily quotas, shared by every task of a
/// process (and, for concurrency, with every process on the store through [`SharedSlots`]).
pub struct Limiter {
    specs: Box<dyn Fn(&str) -> LimitSpec + Send + Sync>,
    load_quota: QuotaLoader,
    shared: Option<SharedSlots>,
    keys: Mutex<HashMap<String, KeyState>>,
    denials: AtomicU64,
}

/// Holds one unit of a key's concurrency until dropped.
pub struct Permit {
    limiter: Arc<Limiter>,
    key: String,
    /// The store slot held with it, if the key is capped and slots are shared.
    slot: Option<i64>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let (Some(slot), Some(shared)) = (self.slot, &self.limiter.shared) {
            shared.free(slot);
        }
        let mut keys = self.limiter.lock();
        if let Some(state) = keys.get_mut(&self.key) {
            state.in_use = state.in_use.saturating_sub(1);
            state.notify.notify_one();
        }
    }
}

impl Limiter {
    /// A limiter whose key limits come from `specs`, whose daily counts start from
    /// `load_quota` (the store's count for a key and day), and whose concurrency caps hold
    /// across processes through `shared` (`None`: within this process only).
    pub fn new(
        specs: impl Fn(&str) -> LimitSpec + Send + Sync + 'static,
        load_quota: QuotaLoader,
        shared: Option<SharedSlots>,
    ) -> Arc<Limiter> {
        Arc::new(Limiter {
            specs: Box::new(specs),
            load_quota,
            shared,
            keys: Mutex::new(HashMap::new()),
            denials: AtomicU64::new(0),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, KeyState>> {
        self.keys.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn state<'a>(&self, keys: &'a mut HashMap<String, KeyState>, key: &str) -> &'a mut KeyState {
        let now = Instant::now();
        let spec = match keys.get(key) {
            Some(state) => state.spec.clone(),
            None => (self.specs)(key),
        };
        let today = day_in(spec.time_zone.as_deref(), baton_core::clock::now_ms()).0;
        let state = keys.entry(key.to_string()).or_insert_with(|| {
            let mut buckets = Vec::new();
            if let Some(rate) = spec.per_second.filter(|r| *r > 0.0) {
                buckets.push(Bucket::new(rate.max(1.0), rate / 1000.0, now));
            }
            if let Some(rate) = spec.per_minute.filter(|r| *r > 0 && !windowed(key)) {
                buckets.push(Bucket::new(
                    f64::from(rate),
                    f64::from(rate) / 60_000.0,
                    now,
                ));
            }
            let day_used = if spec.per_day.is_some() {
                (self.load_quota)(key, &today)
            } else {
                0
            };
            KeyState {
                spec,
                in_use: 0,
                buckets,
                day: today.clone(),
                day_used,
                unflushed: 0,
                notify: Arc::new(Notify::new()),
            }
        });
        if state.day != today {
            state.day = today;
            state.day_used = 0;
            state.unflushed = 0;
        }
        state
    }

    /// Takes a unit of `key` now, or says why not.
    pub fn try_acquire(self: &Arc<Self>, key: &str) -> Result<Permit, Wait> {
        let mut keys = self.lock();
        let state = self.state(&mut keys, key);
        let now = Instant::now();
        if let Some(cap) = state.spec.concurrency
            && state.in_use >= cap
        {
            return Err(Wait {
                reason: format!("concurrency {key} ({}/{cap})", state.in_use),
                until: None,
            });
        }
        // With a store the daily quota is counted there (see `share`), not here.
        if let Some(limit) = state.spec.per_day.filter(|_| self.shared.is_none())
            && state.day_used >= limit
        {
            return Err(Wait {
                reason: format!("quota {key} ({}/{limit} today)", state.day_used),
                until: Some(now + until_day_ends(state.spec.time_zone.as_deref())),
            });
        }
        for bucket in &mut state.buckets {
            bucket.refill(now);
        }
        if let Some(ready) = state
            .buckets
            .iter()
            .filter(|b| b.tokens < 1.0)
            .map(|b| b.ready_at(now))
            .max()
        {
            return Err(Wait {
                reason: format!("rate {key}"),
                until: Some(ready),
            });
        }
        for bucket in &mut state.buckets {
            bucket.tokens -= 1.0;
        }
        state.in_use += 1;
        if state.spec.per_day.is_some() && self.shared.is_none() {
            state.day_used += 1;
            state.unflushed += 1;
        }
        Ok(Permit {
            limiter: self.clone(),
            key: key.to_string(),
            slot: None,
        })
    }

    /// Gives back the rate tokens and the quota unit a permit took (its store slot was
    /// refused, so it never ran).
    fn refund(&self, key: &str) {
        let mut keys = self.lock();
        let Some(state) = keys.get_mut(key) else {
            return;
        };
        for bucket in &mut state.buckets {
            bucket.tokens = (bucket.tokens + 1.0).min(bucket.capacity);
        }
        if state.spec.per_day.is_some() && self.shared.is_none() {
            state.day_used = state.day_used.saturating_sub(1);
            state.unflushed = state.unflushed.saturating_sub(1);
        }
    }

    /// Adds the store slot of a capped key to a local permit; the wait when other processes
    /// hold every slot (or the store cannot be asked).
    async fn share(self: &Arc<Self>, mut permit: Permit) -> Result<Permit, Wait> {
        let Some(shared) = &self.shared else {
            return Ok(permit);
        };
        let spec = {
            let mut keys = self.lock();
            self.state(&mut keys, &permit.key).spec.clone()
        };
        // The slot first: a request that cannot run now must not spend a rate token or a
        // unit of the day's quota.
        if let Some(cap) = spec.concurrency {
            let refused = match shared.take(&permit.key, cap).await {
                Ok(Some(slot)) => {
                    permit.slot = Some(slot);
                    None
                }
                Ok(None) => Some(format!(
                    "concurrency {} ({cap}/{cap} across processes)",
                    permit.key
                )),
                Err(e) => Some(format!(
                    "concurrency {} (the store did not answer: {e:#})",
                    permit.key
                )),
            };
            if let Some(reason) = refused {
                self.refund(&permit.key);
                return Err(Wait {
                    reason,
                    until: None,
                });
            }
        }
        if spec.per_second.is_some()
            || spec.per_minute.is_some()
            || spec.per_day.is_some()
            || spec.tokens_per_minute.is_some()
        {
            let now = baton_core::clock::now_ms();
            let (day, day_ends) = day_in(spec.time_zone.as_deref(), now);
            let windowed = windowed(&permit.key);
            let mut windows = Vec::new();
            if windowed {
                let window_ms = spec.window_ms();
                if let Some(limit) = spec.per_minute {
                    windows.push(WindowLimit {
                        window_ms,
                        limit: u64::from(limit),
                        unit: WindowUnit::Requests,
                    });
                }
                if let Some(limit) = spec.tokens_per_minute {
                    windows.push(WindowLimit {
                        window_ms,
                        limit,
                        unit: WindowUnit::Tokens,
                    });
                }
            }
            let limits = RateLimits {
                per_second: spec.per_second,
                per_minute: spec.per_minute.filter(|_| !windowed),
                per_day: spec.per_day,
                day,
                day_ends,
                windows,
            };
            let wait = match shared.take_rate(&permit.key, limits).await {
                Ok(None) => None,
                Ok(Some(until)) => Some(Wait {
                    reason: if spec.per_day.is_some() && until >= day_ends {
                        format!("quota {} (all processes, today)", permit.key)
                    } else {
                        format!("rate {} (all processes)", permit.key)
                    },
                    until: Some(
                        Instant::now()
                            + Duration::from_millis(until.saturating_sub(now).max(0) as u64),
                    ),
                }),
                Err(e) => Some(Wait {
                    reason: format!("rate {} (the store did not answer: {e:#})", permit.key),
                    until: None,
                }),
            };
            if let Some(wait) = wait {
                // Dropping the permit frees its slot.
                self.refund(&permit.key);
                return Err(wait);
            }
        }
        Ok(permit)
    }

    /// Takes a unit of `key`, waiting up to `patience`; past that, returns the wait so the
    /// caller can step aside until `until`.
    pub async fn acquire(self: &Arc<Self>, key: &str, patience: Duration) -> Result<Permit, Wait> {
        let deadline = Instant::now() + patience;
        let mut poll = SHARED_POLL_MIN;
        loop {
            let wait = match self.try_acquire(key) {
                Ok(permit) => match self.share(permit).await {
                    Ok(permit) => return Ok(permit),
                    Err(wait) => {
                        self.denials.fetch_add(1, Ordering::Relaxed);
                        let now = Instant::now();
                        match wait.until {
                            // A shared rate says when: wait if that is soon enough.
                            Some(until) if until <= deadline => {
                                tokio::time::sleep(until.saturating_duration_since(now)).await;
                            }
                            Some(_) => return Err(wait),
                            // Held by other processes, which cannot wake us: look again
                            // shortly.
                            None if now >= deadline => return Err(wait),
                            None => {
                                tokio::time::sleep(poll.min(deadline - now)).await;
                                poll = (poll * 2).min(SHARED_POLL_MAX);
                            }
                        }
                        continue;
                    }
                },
                Err(wait) => wait,
            };
            self.denials.fetch_add(1, Ordering::Relaxed);
            let now = Instant::now();
            match wait.until {
                Some(until) if until <= deadline => {
                    tokio::time::sleep(until.saturating_duration_since(now)).await;
                }
                Some(_) => return Err(wait),
                None => {
                    if now >= deadline {
                        return Err(wait);
                    }
                    let notify = {
                        let mut keys = self.lock();
                        self.state(&mut keys, key).notify.clone()
                    };
                    let _ = tokio::time::timeout(deadline - now, notify.notified()).await;
                }
            }
        }
    }

    /// Daily-quota use not yet written to the store, per key; resets the counts.
    pub fn take_quota_use(&self) -> Vec<(String, String, u64)> {
        let mut keys = self.lock();
        keys.iter_mut()
            .filter(|(_, s)| s.unflushed > 0)
            .map(|(key, s)| (key.clone(), s.day.clone(), std::mem::take(&mut s.unflushed)))
            .collect()
    }

    /// Charges `tokens` a reply used to `key`'s tokens-per-minute window, in the store (in
    /// the next group commit); nothing when the key has no such limit or no store.
    pub fn charge_tokens(&self, key: &str, tokens: u64) {
        let limited = {
            let mut keys = self.lock();
            self.state(&mut keys, key).spec.tokens_per_minute.is_some()
        };
        if let (true, Some(shared)) = (limited && tokens > 0, &self.shared) {
            let key = key.to_string();
            shared.writer.send(move |tx| tx.charge_tokens(&key, tokens));
        }
    }

    /// The limits of `key`.
    pub fn spec(&self, key: &str) -> LimitSpec {
        let mut keys = self.lock();
        self.state(&mut keys, key).spec.clone()
    }

    /// Denials since the last call.
    pub fn take_denials(&self) -> u64 {
        self.denials.swap(0, Ordering::Relaxed)
    }

    /// The change that records the daily-quota use and denials gathered since the last
    /// flush (`None` when there is nothing to record). The counts are taken now: a change
    /// that is not committed loses them.
    pub fn flush(&self) -> Option<crate::scheduler::worker::Change> {
        let quota = self.take_quota_use();
        let denials = self.take_denials();
        if quota.is_empty() && denials == 0 {
            return None;
        }
        Some(Box::new(move |tx| {
            for (key, day, used) in &quota {
                tx.add_quota(key, day, *used)?;
            }
            if denials > 0 {
                tx.bump_counter("limiter_denials", denials as i64)?;
            }
            Ok(())
        }))
    }
}

/// How long until the day of `zone` ends.
fn until_day_ends(zone: Option<&str>) -> Duration {
    let now = baton_core::clock::now_ms();
    Duration::from_millis((day_in(zone, now).1 - now).max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(spec: LimitSpec, used_today: u64) -> Arc<Limiter> {
        Limiter::new(
            move |_| spec.clone(),
            Box::new(move |_, _| used_today),
            None,
        )
    }

    #[test]
    fn concurrency_caps_hold_until_permits_drop() {
        let l = limiter(
            LimitSpec {
                concurrency: Some(2),
                ..Default::default()
            },
            0,
        );
        let a = l.try_acquire("host:x").unwrap();
        let _b = l.try_acquire("host:x").unwrap();
        let wait = l.try_acquire("host:x").err().unwrap();
        assert_eq!(wait.reason, "concurrency host:x (2/2)");
        // Other keys are independent.
        let _other = l.try_acquire("host:y").unwrap();
        drop(a);
        assert!(l.try_acquire("host:x").is_ok());
    }

    #[test]
    fn token_buckets_refuse_bursts_and_say_until_when() {
        let l = limiter(
            LimitSpec {
                per_second: Some(2.0),
                ..Default::default()
            },
            0,
        );
        drop(l.try_acquire("k").unwrap());
        drop(l.try_acquire("k").unwrap());
        let wait = l.try_acquire("k").err().unwrap();
        assert_eq!(wait.reason, "rate k");
        let until = wait.until.unwrap();
        assert!(until > Instant::now() && until <= Instant::now() + Duration::from_millis(510));
    }

    #[test]
    fn days_start_at_midnight_in_the_key_time_zone() {
        // 2026-12-01T07:00:00Z is still 30 November in Los Angeles (UTC-8), whose day ends
        // at 08:00 UTC.
        let at = 1_796_108_400_000;
        assert_eq!(day_in(None, at), ("2026-12-01".into(), 1_796_169_600_000));
        assert_eq!(
            day_in(Some("America/Los_Angeles"), at),
            ("2026-11-30".into(), at + 3_600_000)
        );
        assert_eq!(day_in(Some("Not/AZone"), at).0, "2026-12-01");
    }

    #[test]
    fn daily_quotas_start_from_the_stored_use_and_are_flushed() {
        let l = limiter(
            LimitSpec {
                per_day: Some(3),
                ..Default::default()
            },
            2,
        );
        drop(l.try_acquire("k").unwrap());
        let wait = l.try_acquire("k").err().unwrap();
        assert!(wait.reason.starts_with("quota k (3/3"), "{}", wait.reason);
        let flushed = l.take_quota_use();
        assert_eq!(flushed.len(), 1);
        assert_eq!(flushed[0].2, 1);
        assert!(l.take_quota_use().is_empty());
    }

    #[tokio::test]
    async fn acquire_waits_for_a_short_rate_wait_and_steps_aside_for_a_long_one() {
        let l = limiter(
            LimitSpec {
                per_second: Some(20.0),
                ..Default::default()
            },
            0,
        );
        for _ in 0..20 {
            drop(l.try_acquire("k").unwrap());
        }
        assert!(l.acquire("k", Duration::from_millis(500)).await.is_ok());
        let slow = limiter(
            LimitSpec {
                per_minute: Some(1),
                ..Default::default()
            },
            0,
        );
        drop(slow.try_acquire("k").unwrap());
        let wait = slow
            .acquire("k", Duration::from_millis(50))
            .await
            .err()
            .unwrap();
        assert!(wait.until.unwrap() > Instant::now() + Duration::from_secs(30));
        assert!(slow.take_denials() >= 1);
    }
}
