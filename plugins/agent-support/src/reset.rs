//! When a provider's limit resets, read from what the provider said. Every function returns
//! an absolute time in milliseconds since the Unix epoch (UTC), given `now_ms`, so the
//! caller (and its tests) decide what "now" is.
//!
//! - `retry-after`: delta-seconds or an HTTP-date (RFC 9110 §10.2.3, all three date forms);
//! - `retry-after-ms`: milliseconds (OpenAI);
//! - `x-ratelimit-reset-*`: Go durations such as `6m0s`, `1.5s`, `20ms` (OpenAI);
//! - `anthropic-ratelimit-*-reset`: RFC 3339 times;
//! - messages: "Please try again in 20s", "Please retry in 36.5s", "resets 7pm
//!   (Asia/Shanghai)", "try again at 3:28 PM", "try again in 3 days 6 hours 57 minutes",
//!   "usage limit reached|1753077600", "regain access on 2026-01-01 at 00:00 UTC".
use std::time::{Duration, UNIX_EPOCH};

use jiff::civil::Time;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan, Zoned};

/// `retry-after` as an absolute time: delta-seconds from `now_ms`, or an HTTP-date. A date
/// in the past means now.
pub fn retry_after(value: &str, now_ms: u64) -> Option<u64> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(now_ms.saturating_add(seconds.saturating_mul(1000)));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    let at_ms = at.duration_since(UNIX_EPOCH).ok()?.as_millis() as u64;
    Some(at_ms.max(now_ms))
}

/// `retry-after-ms` (a non-negative number of milliseconds, fractions allowed) from now.
pub fn retry_after_ms(value: &str, now_ms: u64) -> Option<u64> {
    let ms: f64 = value.trim().parse().ok()?;
    (ms.is_finite() && ms >= 0.0).then(|| now_ms.saturating_add(ms.ceil() as u64))
}

/// A Go-style duration (`6m0s`, `1h2m3.5s`, `20ms`, `150us`, `0s`) in milliseconds,
/// rounded up.
pub fn go_duration_ms(text: &str) -> Option<u64> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let mut rest = text;
    let mut total_ns: f64 = 0.0;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_end].parse().ok()?;
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "h" => 3.6e12,
            "m" => 6e10,
            "s" => 1e9,
            "ms" => 1e6,
            "us" | "µs" | "μs" => 1e3,
            "ns" => 1.0,
            _ => return None,
        };
        total_ns += number * scale;
        rest = &rest[unit_end..];
    }
    Some((total_ns / 1e6).ceil() as u64)
}

/// An RFC 3339 time (`2026-12-01T05:50:00Z`, offsets and fractions allowed).
pub fn rfc3339(text: &str) -> Option<u64> {
    let at: Timestamp = text.trim().parse().ok()?;
    u64::try_from(at.as_millisecond()).ok()
}

/// A wait written in a message after `marker` ("try again in", "retry in"): a Go duration
/// (`20s`, `1m30.5s`, `6ms`) or words ("3 days 6 hours 57 minutes", "45 seconds").
pub fn wait_after(message: &str, marker: &str, now_ms: u64) -> Option<u64> {
    let lower = message.to_ascii_lowercase();
    let start = lower.find(marker)? + marker.len();
    let rest = message[start..].trim_start();
    let token: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == 'µ')
        .collect();
    if let Some(ms) = go_duration_ms(token.trim_end_matches('.')) {
        return Some(now_ms.saturating_add(ms));
    }
    let words = spelled_out_ms(rest)?;
    Some(now_ms.saturating_add(words))
}

/// "3 days 6 hours 57 minutes", "45 seconds", "1 hour" in milliseconds.
fn spelled_out_ms(text: &str) -> Option<u64> {
    let mut total = 0u64;
    let mut found = false;
    let mut words = text
        .split(|c: char| c.is_whitespace() || c == ',' || c == '.')
        .filter(|w| !w.is_empty())
        .peekable();
    while let Some(word) = words.next() {
        let Ok(number) = word.parse::<u64>() else {
            if found && word != "and" {
                break;
            }
            continue;
        };
        let Some(unit) = words.next() else { break };
        let scale = match unit.to_ascii_lowercase().trim_end_matches('s') {
            "day" => 86_400_000,
            "hour" | "hr" => 3_600_000,
            "minute" | "min" => 60_000,
            "second" | "sec" => 1000,
            _ => break,
        };
        total = total.saturating_add(number.saturating_mul(scale));
        found = true;
    }
    found.then_some(total)
}

/// The next time the wall clock in `zone` shows `hour:minute` after `now_ms` (a "resets 7pm"
/// or "try again at 3:28 PM" message).
pub fn next_wall_clock(hour: i8, minute: i8, zone: &TimeZone, now_ms: u64) -> Option<u64> {
    let now = Timestamp::from_millisecond(i64::try_from(now_ms).ok()?).ok()?;
    let now = now.to_zoned(zone.clone());
    let time = Time::new(hour, minute, 0, 0).ok()?;
    let mut at: Zoned = now.with().time(time).build().ok()?;
    if at <= now {
        at = at.checked_add(1.day()).ok()?;
    }
    u64::try_from(at.timestamp().as_millisecond()).ok()
}

/// A clock time in a message: `7pm`, `5am`, `3:28 PM`, `19:00`, as `(hour, minute)`.
pub fn clock_time(text: &str) -> Option<(i8, i8)> {
    let text = text.trim();
    let digits_end = text
        .find(|c: char| !(c.is_ascii_digit() || c == ':'))
        .unwrap_or(text.len());
    let (hour, minute) = match text[..digits_end].split_once(':') {
        Some((hour, minute)) => (hour.parse::<i8>().ok()?, minute.parse::<i8>().ok()?),
        None => (text[..digits_end].parse::<i8>().ok()?, 0),
    };
    let suffix = text[digits_end..].trim_start().to_ascii_lowercase();
    let hour = if suffix.starts_with("pm") {
        if hour == 12 {
            12
        } else {
            hour + 12
        }
    } else if suffix.starts_with("am") {
        if hour == 12 {
            0
        } else {
            hour
        }
    } else {
        hour
    };
    ((0..24).contains(&hour) && (0..60).contains(&minute)).then_some((hour, minute))
}

/// A time zone by IANA name (`Asia/Shanghai`, `UTC`), from the bundled database.
pub fn zone(name: &str) -> Option<TimeZone> {
    TimeZone::get(name.trim()).ok()
}

/// The next midnight in `zone` after `now_ms` (Gemini's daily quotas reset at midnight US
/// Pacific: `zone("America/Los_Angeles")`).
pub fn next_midnight(zone: &TimeZone, now_ms: u64) -> Option<u64> {
    next_wall_clock(0, 0, zone, now_ms)
}

/// `now_ms` plus a duration, saturating.
pub fn after(now_ms: u64, wait: Duration) -> u64 {
    now_ms.saturating_add(wait.as_millis().min(u128::from(u64::MAX)) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_764_568_800_000; // 2025-12-01T06:00:00Z

    #[test]
    fn retry_after_forms() {
        assert_eq!(retry_after("20", NOW), Some(NOW + 20_000));
        assert_eq!(
            retry_after("Mon, 01 Dec 2025 06:01:00 GMT", NOW),
            Some(NOW + 60_000)
        );
        assert_eq!(
            retry_after("Monday, 01-Dec-25 06:01:00 GMT", NOW),
            Some(NOW + 60_000)
        );
        assert_eq!(
            retry_after("Mon Dec  1 06:01:00 2025", NOW),
            Some(NOW + 60_000)
        );
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:49:37 GMT", NOW),
            Some(NOW),
            "past: now"
        );
        assert_eq!(retry_after("soon", NOW), None);
        assert_eq!(retry_after("-5", NOW), None);
        assert_eq!(retry_after_ms("1500", NOW), Some(NOW + 1500));
        assert_eq!(retry_after_ms("12.2", NOW), Some(NOW + 13));
        assert_eq!(retry_after_ms("-1", NOW), None);
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration_ms("6m0s"), Some(360_000));
        assert_eq!(go_duration_ms("20ms"), Some(20));
        assert_eq!(go_duration_ms("1.5s"), Some(1500));
        assert_eq!(go_duration_ms("1h2m3.004s"), Some(3_723_004));
        assert_eq!(go_duration_ms("150us"), Some(1));
        assert_eq!(go_duration_ms("0s"), Some(0));
        assert_eq!(go_duration_ms("6 minutes"), None);
        assert_eq!(go_duration_ms(""), None);
        assert_eq!(go_duration_ms("5x"), None);
    }

    #[test]
    fn rfc3339_times() {
        assert_eq!(rfc3339("2025-12-01T06:00:30Z"), Some(NOW + 30_000));
        assert_eq!(rfc3339("2025-12-01T07:00:30+01:00"), Some(NOW + 30_000));
        assert_eq!(rfc3339("2025-12-01T06:00:00.250Z"), Some(NOW + 250));
        assert_eq!(rfc3339("tomorrow"), None);
    }

    #[test]
    fn waits_in_messages() {
        let openai = "Limit 3, Used 3, Requested 1. Please try again in 20s. Visit ...";
        assert_eq!(wait_after(openai, "try again in", NOW), Some(NOW + 20_000));
        let fraction = "Please try again in 1m30.5s.";
        assert_eq!(
            wait_after(fraction, "try again in", NOW),
            Some(NOW + 90_500)
        );
        let gemini = "quota exceeded. Please retry in 36.5s.";
        assert_eq!(wait_after(gemini, "retry in", NOW), Some(NOW + 36_500));
        let codex = "or try again in 3 days 6 hours 57 minutes.";
        assert_eq!(
            wait_after(codex, "try again in", NOW),
            Some(NOW + 3 * 86_400_000 + 6 * 3_600_000 + 57 * 60_000)
        );
        assert_eq!(wait_after("try again later", "try again in", NOW), None);
    }

    #[test]
    fn wall_clocks_and_zones() {
        assert_eq!(clock_time("7pm"), Some((19, 0)));
        assert_eq!(clock_time("5am"), Some((5, 0)));
        assert_eq!(clock_time("12am"), Some((0, 0)));
        assert_eq!(clock_time("3:28 PM."), Some((15, 28)));
        assert_eq!(clock_time("19:05"), Some((19, 5)));
        assert_eq!(clock_time("25:00"), None);
        let utc = zone("UTC").unwrap();
        // 06:00Z now: 07:00 today, 05:00 tomorrow.
        assert_eq!(next_wall_clock(7, 0, &utc, NOW), Some(NOW + 3_600_000));
        assert_eq!(next_wall_clock(5, 0, &utc, NOW), Some(NOW + 23 * 3_600_000));
        // 06:00Z is 14:00 in Shanghai (UTC+8): 19:00 there is 11:00Z.
        let shanghai = zone("Asia/Shanghai").unwrap();
        assert_eq!(
            next_wall_clock(19, 0, &shanghai, NOW),
            Some(NOW + 5 * 3_600_000)
        );
        // Midnight US Pacific in December is 08:00Z.
        let pacific = zone("America/Los_Angeles").unwrap();
        assert_eq!(next_midnight(&pacific, NOW), Some(NOW + 2 * 3_600_000));
        assert!(zone("Mars/Olympus").is_none());
    }
}
