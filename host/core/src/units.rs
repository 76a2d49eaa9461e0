//! Parsing of human-friendly sizes (`64MiB`, `512k`, `1000`) and durations (`30s`, `1m 30s`,
//! `250ms`) as they appear in `baton.toml`, `BATON_*` variables and flags.

use std::time::Duration;

/// Parses a byte size: a number with an optional unit (B, K/KB/KiB, M/MB/MiB, G/GB/GiB;
/// all binary multiples, case-insensitive).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (digits, unit) = trimmed.split_at(split);
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a size (try `64MiB`, `512KiB` or `1048576`)"))?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        other => {
            return Err(format!(
                "`{text}` has an unknown size unit `{other}` (use B, KiB, MiB or GiB)"
            ));
        }
    };
    number
        .checked_mul(multiplier)
        .ok_or_else(|| format!("`{text}` is too large"))
}

/// Parses a duration such as `30s`, `1m 30s`, `250ms` or `2h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("`{text}` is not a duration ({e}; try `30s`, `250ms` or `2m`)"))
}

/// Formats a byte count the way `parse_size` reads it back, e.g. `64MiB`.
pub fn format_size(bytes: u64) -> String {
    for (unit, shift) in [("GiB", 30), ("MiB", 20), ("KiB", 10)] {
        if bytes >= 1 << shift && bytes.is_multiple_of(1 << shift) {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    format!("{bytes}B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_and_without_units() {
        assert_eq!(parse_size("1000").unwrap(), 1000);
        assert_eq!(parse_size("64MiB").unwrap(), 64 << 20);
        assert_eq!(parse_size("512 k").unwrap(), 512 << 10);
        assert_eq!(parse_size("2GB").unwrap(), 2 << 30);
        assert!(parse_size("lots").unwrap_err().contains("not a size"));
        assert!(
            parse_size("5 parsecs")
                .unwrap_err()
                .contains("unknown size unit")
        );
    }

    #[test]
    fn sizes_round_trip_through_format() {
        for bytes in [1, 1023, 1024, 64 << 20, 3 << 30, (1 << 20) + 1] {
            assert_eq!(parse_size(&format_size(bytes)).unwrap(), bytes);
        }
    }

    #[test]
    fn durations_parse_humantime() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("1m 30s").unwrap(), Duration::from_secs(90));
        assert!(parse_duration("soon").is_err());
    }
}
