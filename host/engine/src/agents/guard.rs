//! Provider limits, parks and authentication breakers around each agent call, shared by
//! every process on the store:
//!
//! - limit keys `agent:ADAPTER` and `agent:ADAPTER/MODEL` go through the limiter
//!   (`[limits."agent:..."]`: requests and tokens per minute in exact sliding windows,
//!   requests per day in the key's time zone, counts in the store);
//! - a provider's rate limit or spent quota parks the key until the reset it named (or the
//!   end of the key's day for a quota), so no process calls it before then;
//! - an authentication failure parks the credential (`auth:ADAPTER`) for 1 s, then 2 s; the
//!   third opens its breaker for a cool-down, after which one probe call goes through
//!   (half-open): success closes it, failure opens it again for twice as long (at most
//!   [`BREAKER_COOLDOWN_MAX`]).
//!
//! What waits is told until when and why; it never spins.

use crate::limiter::{Limiter, Permit};
use crate::scheduler::writer::Writer;
use baton_core::clock::{format_ms, now_ms};
use baton_core::event::Event;
use baton_core::store::{Park, StoreRead};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Authentication attempts before a credential's breaker opens.
pub const AUTH_ATTEMPTS: u32 = 3;
/// The first authentication retry's delay; it doubles (1 s, 2 s, ...).
pub const AUTH_BACKOFF: Duration = Duration::from_secs(1);
/// The longest a breaker stays open.
pub const BREAKER_COOLDOWN_MAX: Duration = Duration::from_secs(3600);
/// How long a half-open breaker's probe holds the credential before another may try.
pub const PROBE_HOLD: Duration = Duration::from_secs(300);
/// The reason of a credential's park while one call probes its half-open breaker.
const PROBE_REASON: &str = "auth breaker half-open: one probe call running";
/// How soon a call that found another call probing the breaker looks again.
pub const PROBE_RECHECK: Duration = Duration::from_secs(1);
/// How long a call waits in the limiter before its job steps aside (snoozes).
pub const LIMITER_PATIENCE: Duration = Duration::from_secs(2);
/// The wait after a rate limit whose reset the provider did not name.
pub const RATE_WAIT_DEFAULT: Duration = Duration::from_secs(30);

/// The credential key of adapter `adapter` (one credential per configured adapter).
pub fn credential_key(adapter: &str) -> String {
    format!("auth:{adapter}")
}

/// The limiter keys of a call: the adapter's, and the adapter-and-model's when a model is
/// named.
pub fn limit_keys(adapter: &str, model: Option<&str>) -> Vec<String> {
    let mut keys = vec![format!("agent:{adapter}")];
    if let Some(model) = model {
        keys.push(format!("agent:{adapter}/{model}"));
    }
    keys
}

/// Why a call may not go now, and until when (Unix milliseconds; never earlier).
#[derive(Debug, Clone, PartialEq)]
pub struct Hold {
    /// Unix milliseconds.
    pub until: i64,
    /// `auth breaker open until T [auth:claude]`, `quota exhausted: ... until T [...]`.
    pub reason: String,
}

/// A call that may go: the limiter permits it holds, and whether it is a half-open
/// breaker's probe.
pub struct Admitted {
    /// Held until the call ends.
    pub permits: Vec<Permit>,
    /// Whether this call probes a half-open breaker.
    pub probe: bool,
}

/// What an authentication failure leads to.
#[derive(Debug, Clone, PartialEq)]
pub enum AuthStep {
    /// Try again at this time (Unix milliseconds); `attempt` of [`AUTH_ATTEMPTS`] failed.
    Retry {
        /// When.
        at: i64,
        /// Attempts failed so far.
        attempt: u32,
    },
    /// The breaker is open until this time (Unix milliseconds).
    Open {
        /// When it half-opens.
        until: i64,
    },
}

/// The guard of a process's agent calls.
pub struct Guard {
    limiter: Arc<Limiter>,
    writer: Writer,
    reader: Mutex<Box<dyn StoreRead + Send>>,
    cooldown: Duration,
    /// Serializes this process's authentication failures: each reads the strikes the last
    /// one wrote, so calls failing together count one strike each.
    strikes: tokio::sync::Mutex<()>,
}

/// A positive jitter for a wait of `wait_ms`: uniform in [0, a fifth of the wait], at
/// least 250 ms and at most 30 s of spread, so jobs released by one reset do not all come
/// back at the same instant (and none before it).
pub fn jitter_ms(wait_ms: i64) -> i64 {
    use std::hash::{BuildHasher, Hasher};
    let spread = (wait_ms / 5).clamp(250, 30_000);
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    (random % (spread as u64 + 1)) as i64
}

impl Guard {
    /// A guard over `limiter`, recording parks through `writer` and reading them with
    /// `reader`; open breakers cool down for `cooldown` first.
    pub fn new(
        limiter: Arc<Limiter>,
        writer: Writer,
        reader: Box<dyn StoreRead + Send>,
        cooldown: Duration,
    ) -> Guard {
        Guard {
            limiter,
            writer,
            reader: Mutex::new(reader),
            cooldown,
            strikes: tokio::sync::Mutex::new(()),
        }
    }

    fn park_of(&self, key: &str) -> Option<Park> {
        self.reader
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .park(key)
            .ok()
            .flatten()
    }

    /// A hold for `park` of `key`.
    fn hold(park: &Park) -> Hold {
        Hold {
            until: park.until,
            reason: format!(
                "{} until {} [{}]",
                park.reason,
                format_ms(park.until),
                park.key
            ),
        }
    }

    /// The parks of `keys` that hold now, the latest first. A half-open breaker's probe
    /// holds its credential for up to [`PROBE_HOLD`], but its verdict may come any moment:
    /// the wait for it is at most [`PROBE_RECHECK`], then the caller looks again.
    pub fn parked(&self, keys: &[String]) -> Option<Hold> {
        let now = now_ms();
        keys.iter()
            .filter_map(|key| self.park_of(key))
            .filter(|park| park.until > now)
            .map(|mut park| {
                if park.reason == PROBE_REASON {
                    park.until = park.until.min(now + PROBE_RECHECK.as_millis() as i64);
                }
                park
            })
            .max_by_key(|park| park.until)
            .map(|park| Guard::hold(&park))
    }

    /// Whether a call of `credential` through `keys` may go now: not parked, the breaker
    /// closed (or this call its half-open probe), the limiter's rates and quotas allow it.
    pub async fn admit(&self, keys: &[String], credential: &str) -> Result<Admitted, Hold> {
        let mut all = keys.to_vec();
        all.push(credential.to_string());
        if let Some(hold) = self.parked(&all) {
            return Err(hold);
        }
        let mut probe = false;
        if let Some(park) = self.park_of(credential)
            && park.strikes >= AUTH_ATTEMPTS
        {
            // The breaker's cool-down is over: one call probes it.
            let until = now_ms() + PROBE_HOLD.as_millis() as i64;
            let key = credential.to_string();
            let won = self
                .writer
                .submit(move |tx| tx.probe_park(&key, until, PROBE_REASON))
                .await
                .ok()
                .flatten();
            match won {
                Some(_) => probe = true,
                None => {
                    // Another call probes the breaker: [`Guard::parked`] holds this one
                    // for at most [`PROBE_RECHECK`].
                    return Err(self.parked(&all).unwrap_or(Hold {
                        until: now_ms() + PROBE_RECHECK.as_millis() as i64,
                        reason: format!("auth breaker half-open [{credential}]"),
                    }));
                }
            }
        }
        let mut permits = Vec::with_capacity(keys.len());
        for key in keys {
            match self.limiter.acquire(key, LIMITER_PATIENCE).await {
                Ok(permit) => permits.push(permit),
                Err(wait) => {
                    if probe {
                        self.release_probe(credential).await;
                    }
                    let now = now_ms();
                    let until = wait
                        .until
                        .map(baton_core::clock::instant_to_ms)
                        .unwrap_or(now + 1000)
                        .max(now);
                    return Err(Hold {
                        until,
                        reason: format!("{} until {}", wait.reason, format_ms(until)),
                    });
                }
            }
        }
        Ok(Admitted { permits, probe })
    }

    /// Gives a probe back without a verdict (the call did not happen): the breaker is open
    /// again at once for the next caller.
    async fn release_probe(&self, credential: &str) {
        if let Some(mut park) = self.park_of(credential) {
            park.until = now_ms();
            park.reason = "auth breaker open".into();
            let _ = self.writer.submit(move |tx| tx.park(&park)).await;
        }
    }

    /// Parks `key` until `until` (Unix milliseconds) with `reason`, and records a ledger
    /// event.
    pub async fn park(&self, key: &str, until: i64, reason: &str, strikes: u32) {
        let park = Park {
            key: key.to_string(),
            until,
            reason: reason.to_string(),
            strikes,
        };
        let event = Event::general(
            now_ms(),
            "agent-parked",
            serde_json::json!({"key": key, "until": format_ms(until), "reason": reason, "strikes": strikes}),
        );
        let _ = self
            .writer
            .submit(move |tx| {
                tx.park(&park)?;
                tx.record_events(vec![event]);
                Ok(())
            })
            .await;
    }

    /// Records an authentication failure of `credential`: a short park before the next
    /// attempt, or, at the [`AUTH_ATTEMPTS`]th failure in a row (or a failed `probe`), the
    /// breaker open for the cool-down (doubling each time it reopens). A failure of a call
    /// that set out before the breaker opened leaves the open breaker as it is.
    pub async fn auth_failed(&self, credential: &str, message: &str, probe: bool) -> AuthStep {
        let _serial = self.strikes.lock().await;
        let park = self.park_of(credential);
        let now = now_ms();
        if let Some(open) = park
            .as_ref()
            .filter(|p| !probe && p.strikes >= AUTH_ATTEMPTS && p.until > now)
        {
            // The breaker opened while this call was on its way: it stays as it is.
            return AuthStep::Open { until: open.until };
        }
        let strikes = park.map_or(0, |p| p.strikes) + 1;
        if strikes < AUTH_ATTEMPTS {
            let at = now + (AUTH_BACKOFF * (1 << (strikes - 1))).as_millis() as i64;
            self.park(
                credential,
                at,
                &format!("authentication failed ({strikes} of {AUTH_ATTEMPTS}): {message}"),
                strikes,
            )
            .await;
            return AuthStep::Retry {
                at,
                attempt: strikes,
            };
        }
        let doublings = (strikes - AUTH_ATTEMPTS).min(16);
        let cooldown = (self.cooldown * (1 << doublings)).min(BREAKER_COOLDOWN_MAX);
        let until = now + cooldown.as_millis() as i64;
        self.park(credential, until, "auth breaker open", strikes)
            .await;
        AuthStep::Open { until }
    }

    /// A call of `credential` answered: its authentication failures are forgotten and a
    /// half-open breaker closes.
    pub async fn auth_ok(&self, credential: &str) {
        if self.park_of(credential).is_some_and(|p| p.strikes > 0) {
            let key = credential.to_string();
            let event = Event::general(
                now_ms(),
                "agent-breaker-closed",
                serde_json::json!({"key": key}),
            );
            let _ = self
                .writer
                .submit(move |tx| {
                    tx.unpark(&key)?;
                    tx.record_events(vec![event]);
                    Ok(())
                })
                .await;
        }
    }

    /// When the day of limit key `key` ends (its `time-zone`), Unix milliseconds: a spent
    /// quota without a named reset waits until then.
    pub fn day_ends(&self, key: &str) -> i64 {
        let spec = self.limiter.spec(key);
        crate::limiter::day_in(spec.time_zone.as_deref(), now_ms()).1
    }

    /// Charges the tokens of a reply to every limit key of the call.
    pub fn charge(&self, keys: &[String], tokens: u64) {
        for key in keys {
            self.limiter.charge_tokens(key, tokens);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_is_positive_and_spread() {
        let values: std::collections::BTreeSet<i64> = (0..50).map(|_| jitter_ms(2_000)).collect();
        assert!(values.iter().all(|v| (0..=400).contains(v)), "{values:?}");
        assert!(
            values.len() > 10,
            "20 waiters must not come back together: {values:?}"
        );
        assert!((0..=30_000).contains(&jitter_ms(86_400_000)));
    }

    #[test]
    fn keys_name_the_adapter_and_model() {
        assert_eq!(
            limit_keys("gemini", Some("flash")),
            ["agent:gemini", "agent:gemini/flash"]
        );
        assert_eq!(credential_key("claude"), "auth:claude");
    }
}
