//! Time as the providers write it: Go-style durations (`6m0s`, `20ms`) in OpenAI's
//! `x-ratelimit-reset-*`, RFC 3339 in Anthropic's `anthropic-ratelimit-*-reset`, HTTP-dates
//! in `retry-after`, epoch seconds in claude's "usage limit reached|T".
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

/// A duration as Go's `time.Duration.String` writes it, to the millisecond: `20ms`, `1.5s`,
/// `6m0s`, `1h2m3.004s`, `0s`.
pub fn go_duration(ms: u64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let hours = ms / 3_600_000;
    let minutes = ms / 60_000 % 60;
    let seconds = ms / 1000 % 60;
    let millis = ms % 1000;
    let mut text = String::new();
    if hours > 0 {
        text.push_str(&format!("{hours}h"));
    }
    if hours > 0 || minutes > 0 {
        text.push_str(&format!("{minutes}m"));
    }
    if millis == 0 {
        text.push_str(&format!("{seconds}s"));
    } else {
        let fraction = format!("{millis:03}");
        text.push_str(&format!("{seconds}.{}s", fraction.trim_end_matches('0')));
    }
    text
}

/// `at_ms` (milliseconds since the epoch) as RFC 3339 in UTC, to the second:
/// `2026-12-01T05:50:00Z`.
pub fn rfc3339(at_ms: u64) -> String {
    let seconds = at_ms / 1000;
    let (year, month, day) = civil_from_days((seconds / 86_400) as i64);
    let of_day = seconds % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60
    )
}

/// `at_ms` as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub fn http_date(at_ms: u64) -> String {
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_millis(at_ms))
}

/// `at_ms` as `H:MM AM` in UTC, as codex writes "try again at 3:28 PM".
pub fn clock_12h(at_ms: u64) -> String {
    let minutes_of_day = at_ms / 60_000 % 1440;
    let (hour, minute) = (minutes_of_day / 60, minutes_of_day % 60);
    let suffix = if hour < 12 { "AM" } else { "PM" };
    let hour = match hour % 12 {
        0 => 12,
        h => h,
    };
    format!("{hour}:{minute:02} {suffix}")
}

/// Year, month (1-12) and day (1-31) of a day counted from 1970-01-01 (proleptic Gregorian).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(20), "20ms");
        assert_eq!(go_duration(1000), "1s");
        assert_eq!(go_duration(1500), "1.5s");
        assert_eq!(go_duration(360_000), "6m0s");
        assert_eq!(go_duration(3_723_004), "1h2m3.004s");
        assert_eq!(go_duration(3_600_000), "1h0m0s");
    }

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_753_077_600_000), "2025-07-21T06:00:00Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(http_date(784_111_777_000), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(clock_12h(0), "12:00 AM");
        assert_eq!(clock_12h(15 * 3_600_000 + 28 * 60_000), "3:28 PM");
    }
}
