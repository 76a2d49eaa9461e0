//! When a schedule fires: `--daily HH:MM` or a five-field cron expression (minute hour
//! day-of-month month day-of-week, parsed by the `croner` crate), in local time; the next
//! firing and the firings missed since a time; and the same moments in each scheduler's
//! own terms (a systemd `OnCalendar=`, launchd `StartCalendarInterval` entries, a crontab
//! line's fields).

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Local, TimeZone};
use croner::Cron;
use std::str::FromStr;

/// When a schedule fires, in local time.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum When {
    /// Every day at this hour (0–23) and minute (0–59).
    Daily {
        /// 0–23.
        hour: u32,
        /// 0–59.
        minute: u32,
    },
    /// A five-field cron expression.
    Cron(String),
}

/// The most firings [`When::missed`] counts.
pub const MISSED_CAP: usize = 1000;

impl When {
    /// `HH:MM` (24-hour) as a daily time. Errors name the value and the expected form.
    pub fn daily(text: &str) -> Result<When> {
        let parsed = text.split_once(':').and_then(|(h, m)| {
            let hour: u32 = h.parse().ok()?;
            let minute: u32 = m.parse().ok()?;
            (h.len() <= 2 && m.len() == 2 && hour < 24 && minute < 60).then_some((hour, minute))
        });
        match parsed {
            Some((hour, minute)) => Ok(When::Daily { hour, minute }),
            None => bail!("--daily `{text}` is not a time HH:MM (00:00 to 23:59), e.g. 06:30"),
        }
    }

    /// A five-field cron expression, checked. Errors say what is wrong with it.
    pub fn cron(text: &str) -> Result<When> {
        let fields = text.split_whitespace().count();
        if fields != 5 {
            bail!(
                "--cron `{text}` has {fields} fields; give five: minute hour day-of-month month day-of-week, e.g. \"30 6 * * 1-5\""
            );
        }
        Cron::from_str(text)
            .with_context(|| format!("--cron `{text}` is not a cron expression"))?;
        Ok(When::Cron(
            text.split_whitespace().collect::<Vec<_>>().join(" "),
        ))
    }

    /// The five cron fields of this schedule.
    pub fn cron_fields(&self) -> [String; 5] {
        match self {
            When::Daily { hour, minute } => [
                minute.to_string(),
                hour.to_string(),
                "*".into(),
                "*".into(),
                "*".into(),
            ],
            When::Cron(text) => {
                let mut fields = text.split_whitespace().map(String::from);
                std::array::from_fn(|_| fields.next().unwrap_or_else(|| "*".into()))
            }
        }
    }

    fn parsed(&self) -> Result<Cron> {
        let text = self.cron_fields().join(" ");
        Cron::from_str(&text).with_context(|| format!("`{text}` is not a cron expression"))
    }

    /// The first firing after `after`.
    pub fn next_after(&self, after: DateTime<Local>) -> Result<DateTime<Local>> {
        self.parsed()?
            .find_next_occurrence(&after, false)
            .context("the schedule never fires")
    }

    /// Firings after `since` and at or before `until` (at most [`MISSED_CAP`]).
    pub fn firings_between(
        &self,
        since: DateTime<Local>,
        until: DateTime<Local>,
    ) -> Result<Vec<DateTime<Local>>> {
        let cron = self.parsed()?;
        Ok(cron
            .iter_after(since)
            .take_while(|at| *at <= until)
            .take(MISSED_CAP)
            .collect())
    }

    /// The text shown for it: `daily 06:30` or `cron 30 6 * * 1-5`.
    pub fn describe(&self) -> String {
        match self {
            When::Daily { hour, minute } => format!("daily {hour:02}:{minute:02}"),
            When::Cron(text) => format!("cron {text}"),
        }
    }

    /// The systemd `OnCalendar=` value (systemd.time(7)): `*-*-* 06:30:00`, or a cron
    /// expression translated field by field (`a-b` → `a..b`, `*/n` → `0/n`, day names).
    /// Errors: cron features systemd cannot say (`L`, `W`, `#`, `?`), or both day fields
    /// restricted (cron fires on either, systemd only on both).
    pub fn systemd_calendar(&self) -> Result<String> {
        let [minute, hour, dom, month, dow] = self.cron_fields();
        for field in [&minute, &hour, &dom, &month, &dow] {
            if field.contains(['L', 'W', '#', '?']) {
                bail!(
                    "cron field `{field}` has no systemd equivalent; use --backend crontab, or plain numbers, ranges, lists and steps"
                );
            }
        }
        if dom != "*" && dow != "*" {
            bail!(
                "the cron expression restricts both the day of the month and the day of the week: cron runs on either, systemd only on both; split it into two schedules"
            );
        }
        let day_names = if dow == "*" {
            String::new()
        } else {
            format!("{} ", systemd_weekdays(&dow)?)
        };
        Ok(format!(
            "{day_names}*-{}-{} {}:{}:00",
            systemd_field(&month, 1)?,
            systemd_field(&dom, 1)?,
            systemd_field(&hour, 0)?,
            systemd_field(&minute, 0)?
        ))
    }

    /// launchd `StartCalendarInterval` entries: one dict per combination of fixed minute,
    /// hour, day, month and weekday values (`*` leaves a key out). Errors: an expression
    /// that needs more than 256 entries.
    pub fn launchd_intervals(&self) -> Result<Vec<Vec<(&'static str, u32)>>> {
        let [minute, hour, dom, month, dow] = self.cron_fields();
        let keys = [
            ("Minute", minute, 0, 59),
            ("Hour", hour, 0, 23),
            ("Day", dom, 1, 31),
            ("Month", month, 1, 12),
            ("Weekday", dow, 0, 7),
        ];
        let mut entries: Vec<Vec<(&'static str, u32)>> = vec![Vec::new()];
        for (key, field, low, high) in keys {
            if field == "*" {
                continue;
            }
            let values = expand(&field, low, high)?;
            entries = entries
                .into_iter()
                .flat_map(|entry| {
                    values.iter().map(move |v| {
                        let mut entry = entry.clone();
                        entry.push((key, *v));
                        entry
                    })
                })
                .collect();
            if entries.len() > 256 {
                bail!(
                    "the cron expression needs more than 256 launchd calendar entries; use fewer values"
                );
            }
        }
        Ok(entries)
    }
}

/// One cron field (numbers, `*`, `a-b`, `*/n`, `a-b/n`, lists) in systemd's terms.
fn systemd_field(field: &str, first: u32) -> Result<String> {
    let parts: Result<Vec<String>> = field
        .split(',')
        .map(|part| {
            let (range, step) = match part.split_once('/') {
                Some((range, step)) => (range, Some(step)),
                None => (part, None),
            };
            let range = match (range, step) {
                ("*", Some(_)) => first.to_string(),
                ("*", None) => "*".to_string(),
                (r, _) => r.replacen('-', "..", 1),
            };
            if !range
                .chars()
                .all(|c| c.is_ascii_digit() || c == '.' || c == '*')
            {
                bail!("cron field `{field}`: use numbers for systemd (not names)");
            }
            Ok(match step {
                Some(step) => format!("{range}/{step}"),
                None => range,
            })
        })
        .collect();
    Ok(parts?.join(","))
}

/// A cron day-of-week field as systemd day names (`1-5` → `Mon..Fri`).
fn systemd_weekdays(field: &str) -> Result<String> {
    const NAMES: [&str; 8] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    let days = expand(field, 0, 7)?;
    let mut names: Vec<&str> = Vec::new();
    for day in days {
        let name = NAMES[day as usize];
        if !names.contains(&name) {
            names.push(name);
        }
    }
    Ok(names.join(","))
}

/// The values a cron field names, between `low` and `high`. Three-letter day and month
/// names are not expanded (give numbers).
fn expand(field: &str, low: u32, high: u32) -> Result<Vec<u32>> {
    let mut values = Vec::new();
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => (range, step.parse::<u32>().ok().filter(|s| *s > 0)),
            None => (part, Some(1)),
        };
        let step = step.with_context(|| format!("cron field `{field}`: bad step"))?;
        let (from, to) = match range {
            "*" => (low, high),
            r => match r.split_once('-') {
                Some((a, b)) => (number(a, field)?, number(b, field)?),
                None => {
                    let n = number(r, field)?;
                    (n, if part.contains('/') { high } else { n })
                }
            },
        };
        if from < low || to > high || from > to {
            bail!("cron field `{field}`: values must be within {low}-{high}");
        }
        values.extend((from..=to).step_by(step as usize));
    }
    values.sort_unstable();
    values.dedup();
    Ok(values)
}

fn number(text: &str, field: &str) -> Result<u32> {
    text.parse().with_context(|| {
        format!("cron field `{field}`: `{text}` is not a number (give numbers, not names)")
    })
}

/// `at` (Unix milliseconds) in local time.
pub fn local(at_ms: i64) -> DateTime<Local> {
    Local
        .timestamp_millis_opt(at_ms)
        .single()
        .unwrap_or_else(Local::now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daily_times_and_cron_expressions_are_checked() {
        assert_eq!(
            When::daily("06:30").unwrap(),
            When::Daily {
                hour: 6,
                minute: 30
            }
        );
        for bad in ["6", "24:00", "06:60", "06:3", "x:10"] {
            assert!(When::daily(bad).is_err(), "{bad}");
        }
        assert!(When::cron("30 6 * *").is_err());
        assert!(When::cron("61 6 * * *").is_err());
        assert!(When::cron("30 6 * * 1-5").is_ok());
    }

    #[test]
    fn schedules_translate_to_each_scheduler() {
        let daily = When::daily("06:30").unwrap();
        assert_eq!(daily.systemd_calendar().unwrap(), "*-*-* 6:30:00");
        assert_eq!(
            daily.launchd_intervals().unwrap(),
            vec![vec![("Minute", 30), ("Hour", 6)]]
        );
        let weekdays = When::cron("*/15 8-17 * * 1-5").unwrap();
        assert_eq!(
            weekdays.systemd_calendar().unwrap(),
            "Mon,Tue,Wed,Thu,Fri *-*-* 8..17:0/15:00"
        );
        assert_eq!(weekdays.launchd_intervals().unwrap().len(), 4 * 10 * 5);
        assert!(When::cron("0 0 1 * 1").unwrap().systemd_calendar().is_err());
    }

    #[test]
    fn next_and_missed_firings_follow_the_expression() {
        let daily = When::daily("06:30").unwrap();
        let start = Local.with_ymd_and_hms(2026, 12, 1, 7, 0, 0).unwrap();
        let next = daily.next_after(start).unwrap();
        assert_eq!(next, Local.with_ymd_and_hms(2026, 12, 2, 6, 30, 0).unwrap());
        let later = Local.with_ymd_and_hms(2026, 12, 4, 7, 0, 0).unwrap();
        assert_eq!(daily.firings_between(start, later).unwrap().len(), 3);
    }
}
