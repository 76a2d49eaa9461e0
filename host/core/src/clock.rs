//! Wall-clock helpers: Baton stores and compares times as Unix milliseconds (`i64`) and shows
//! them as RFC 3339 UTC.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Formats Unix milliseconds as RFC 3339 UTC with milliseconds, e.g.
/// `2026-12-01T08:00:00.000Z`; negative values clamp to the epoch.
pub fn format_ms(ms: i64) -> String {
    let time = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(time).to_string()
}

/// The UTC day (`YYYY-MM-DD`) of Unix milliseconds.
pub fn day_of(ms: i64) -> String {
    format_ms(ms)[..10].to_string()
}

/// The Unix milliseconds of a monotonic instant (now plus what is left until it; an instant
/// in the past maps to now).
pub fn instant_to_ms(until: Instant) -> i64 {
    now_ms() + until.saturating_duration_since(Instant::now()).as_millis() as i64
}
