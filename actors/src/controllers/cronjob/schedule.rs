//! CronJob schedules as Kubernetes reads them (the standard parser of robfig/cron v3):
//! five fields (minute, hour, day of month, month, day of week) or a macro (`@yearly`,
//! `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight`, `@hourly`), evaluated in a
//! time zone (an IANA name from the host's zone database; UTC by default).
//!
//! Each field is a comma-separated list of `*`, `?`, `N`, `N-M`, each with an optional
//! `/STEP` (`N/STEP` runs from N to the field's maximum); months and weekdays also take
//! three-letter names. When both day fields are restricted a day matches either (cron's
//! rule); when either starts with `*` or `?`, both must match.
//!
//! [`Schedule::next_after`] finds the next run strictly after an instant. Local times a
//! daylight-saving change skips are skipped; a repeated local time runs at its first
//! occurrence.

use jiff::civil::{Date, DateTime};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::Timestamp;

/// A parsed schedule: the allowed values of each field as bit sets, and its zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
    /// Whether either day field was a wildcard (then both must match).
    day_star: bool,
    zone: TimeZone,
}

/// Why a schedule or time zone is refused, in robfig's words where it has them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// The schedule is malformed.
    #[error("{0}")]
    Unparseable(String),
    /// The time zone is unknown to this host.
    #[error("unknown time zone {0}")]
    UnknownTimeZone(String),
}

struct Bounds {
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MINUTE: Bounds = Bounds {
    min: 0,
    max: 59,
    names: &[],
};
const HOUR: Bounds = Bounds {
    min: 0,
    max: 23,
    names: &[],
};
const DAY: Bounds = Bounds {
    min: 1,
    max: 31,
    names: &[],
};
const MONTH: Bounds = Bounds {
    min: 1,
    max: 12,
    names: &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ],
};
const WEEKDAY: Bounds = Bounds {
    min: 0,
    max: 6,
    names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
};

/// The zone named `name` (`None` or empty: UTC).
pub fn time_zone(name: Option<&str>) -> Result<TimeZone, ScheduleError> {
    match name {
        None | Some("") => Ok(TimeZone::UTC),
        Some(n) => TimeZone::get(n).map_err(|_| ScheduleError::UnknownTimeZone(n.to_owned())),
    }
}

impl Schedule {
    /// Parses `spec` in the zone named `zone`.
    pub fn parse(spec: &str, zone: Option<&str>) -> Result<Schedule, ScheduleError> {
        let zone = time_zone(zone)?;
        let spec = spec.trim();
        let expanded = match spec.to_ascii_lowercase().as_str() {
            "@yearly" | "@annually" => "0 0 1 1 *".to_owned(),
            "@monthly" => "0 0 1 * *".to_owned(),
            "@weekly" => "0 0 * * 0".to_owned(),
            "@daily" | "@midnight" => "0 0 * * *".to_owned(),
            "@hourly" => "0 * * * *".to_owned(),
            s if s.starts_with('@') => {
                return Err(ScheduleError::Unparseable(format!(
                    "unrecognized descriptor: {spec}"
                )))
            }
            _ => spec.to_owned(),
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(ScheduleError::Unparseable(format!(
                "expected exactly 5 fields, found {}: [{}]",
                fields.len(),
                fields.join(" ")
            )));
        }
        let (minutes, _) = field(fields[0], &MINUTE)?;
        let (hours, _) = field(fields[1], &HOUR)?;
        let (days, dom_star) = field(fields[2], &DAY)?;
        let (months, _) = field(fields[3], &MONTH)?;
        let (weekdays, dow_star) = field(fields[4], &WEEKDAY)?;
        Ok(Schedule {
            minutes,
            hours,
            days,
            months,
            weekdays,
            day_star: dom_star || dow_star,
            zone,
        })
    }

    fn day_matches(&self, date: Date) -> bool {
        let dom = bit(self.days, date.day());
        let dow = bit(self.weekdays, date.weekday().to_sunday_zero_offset());
        if self.day_star {
            dom && dow
        } else {
            dom || dow
        }
    }

    /// The first run strictly after `after`, within the next eight years.
    pub fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        let local = after.to_zoned(self.zone.clone()).datetime();
        let mut date = local.date();
        let (mut hour, mut minute) = (local.hour(), local.minute());
        for _ in 0..366 * 8 {
            if bit(self.months, date.month()) && self.day_matches(date) {
                for h in hour..24 {
                    if !bit(self.hours, h) {
                        continue;
                    }
                    let first = if h == hour { minute } else { 0 };
                    for m in first..60 {
                        if !bit(self.minutes, m) {
                            continue;
                        }
                        let dt = DateTime::from_parts(date, jiff::civil::time(h, m, 0, 0));
                        if let Some(ts) = self.instant(dt).filter(|ts| *ts > after) {
                            return Some(ts);
                        }
                    }
                }
            }
            date = date.tomorrow().ok()?;
            hour = 0;
            minute = 0;
        }
        None
    }

    /// The instant of a local time: none in a gap, the first of a fold.
    fn instant(&self, dt: DateTime) -> Option<Timestamp> {
        let amb = self.zone.to_ambiguous_timestamp(dt);
        match amb.offset() {
            AmbiguousOffset::Unambiguous { .. } | AmbiguousOffset::Fold { .. } => {
                amb.earlier().ok()
            }
            AmbiguousOffset::Gap { .. } => None,
        }
    }

    /// The zone the schedule runs in.
    pub fn zone(&self) -> &TimeZone {
        &self.zone
    }
}

fn bit(set: u64, v: i8) -> bool {
    u32::try_from(v).is_ok_and(|v| set & (1u64 << v) != 0)
}

/// One field as a bit set, and whether it started with a wildcard.
fn field(text: &str, b: &Bounds) -> Result<(u64, bool), ScheduleError> {
    let mut bits = 0u64;
    let mut star = false;
    for (i, part) in text.split(',').enumerate() {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (
                r,
                Some(number(
                    s,
                    &Bounds {
                        min: 1,
                        max: 1 << 20,
                        names: &[],
                    },
                )?),
            ),
            None => (part, None),
        };
        let (lo, hi) = if range == "*" || range == "?" {
            if i == 0 {
                star = true;
            }
            (b.min, b.max)
        } else if let Some((a, z)) = range.split_once('-') {
            (number(a, b)?, number(z, b)?)
        } else {
            let n = number(range, b)?;
            (n, if step.is_some() { b.max } else { n })
        };
        if lo < b.min || hi > b.max || lo > hi {
            return Err(ScheduleError::Unparseable(format!(
                "end of range ({hi}) below start ({lo}) or outside {}-{}: {part}",
                b.min, b.max
            )));
        }
        let step = step.unwrap_or(1);
        if step == 0 {
            return Err(ScheduleError::Unparseable(format!(
                "step of range should be a positive number: {part}"
            )));
        }
        let mut v = lo;
        while v <= hi {
            bits |= 1u64 << v;
            v += step;
        }
    }
    Ok((bits, star))
}

fn number(s: &str, b: &Bounds) -> Result<u32, ScheduleError> {
    let lower = s.to_ascii_lowercase();
    if let Some(i) = b.names.iter().position(|n| *n == lower) {
        return Ok(b.min + u32::try_from(i).unwrap_or(0));
    }
    let n: u32 = s.parse().map_err(|_| {
        ScheduleError::Unparseable(format!("failed to parse int from {s}: invalid syntax"))
    })?;
    if n < b.min || n > b.max {
        return Err(ScheduleError::Unparseable(format!(
            "beyond end of range ({}-{}): {s}",
            b.min, b.max
        )));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    #[test]
    fn next_runs_table() {
        let table: &[(&str, &str, Option<&str>, &str, &str)] = &[
            (
                "every minute",
                "* * * * *",
                None,
                "2026-12-04T10:00:30Z",
                "2026-12-04T10:01:00Z",
            ),
            (
                "strictly after",
                "* * * * *",
                None,
                "2026-12-04T10:01:00Z",
                "2026-12-04T10:02:00Z",
            ),
            (
                "every 15",
                "*/15 * * * *",
                None,
                "2026-12-04T10:16:00Z",
                "2026-12-04T10:30:00Z",
            ),
            (
                "hourly macro",
                "@hourly",
                None,
                "2026-12-04T10:16:00Z",
                "2026-12-04T11:00:00Z",
            ),
            (
                "daily macro",
                "@daily",
                None,
                "2026-12-04T10:16:00Z",
                "2026-12-05T00:00:00Z",
            ),
            (
                "weekly is Sunday",
                "@weekly",
                None,
                "2026-12-04T10:00:00Z",
                "2026-12-06T00:00:00Z",
            ),
            (
                "yearly",
                "@yearly",
                None,
                "2026-12-04T10:00:00Z",
                "2027-01-01T00:00:00Z",
            ),
            (
                "names",
                "30 9 * JAN-MAR mon",
                None,
                "2026-12-04T10:00:00Z",
                "2027-01-04T09:30:00Z",
            ),
            (
                "either day field",
                "0 0 13 * 5",
                None,
                "2026-12-04T10:00:00Z",
                "2026-12-11T00:00:00Z",
            ),
            (
                "leap day",
                "0 0 29 2 *",
                None,
                "2026-12-04T10:00:00Z",
                "2028-02-29T00:00:00Z",
            ),
            (
                "list and range",
                "5,10-12 3 * * *",
                None,
                "2026-12-04T03:10:30Z",
                "2026-12-04T03:11:00Z",
            ),
            (
                "step from a start",
                "20/20 * * * *",
                None,
                "2026-12-04T10:41:00Z",
                "2026-12-04T11:20:00Z",
            ),
            (
                "in a zone",
                "0 9 * * *",
                Some("Asia/Tokyo"),
                "2026-12-04T10:00:00Z",
                "2026-12-05T00:00:00Z",
            ),
            // 02:30 does not exist in New York on 2027-03-14: the next day's runs.
            (
                "a skipped local time",
                "30 2 * * *",
                Some("America/New_York"),
                "2027-03-13T08:00:00Z",
                "2027-03-15T06:30:00Z",
            ),
        ];
        for (name, spec, zone, after, want) in table {
            let s = Schedule::parse(spec, *zone).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(s.next_after(at(after)), Some(at(want)), "{name}");
        }
    }

    #[test]
    fn malformed_schedules_are_refused() {
        for (name, spec, zone) in [
            ("four fields", "* * * *", None),
            ("minute 60", "60 * * * *", None),
            ("weekday 7", "* * * * 7", None),
            ("reversed range", "* 5-3 * * *", None),
            ("zero step", "*/0 * * * *", None),
            ("junk", "a * * * *", None),
            ("unknown macro", "@fortnightly", None),
            ("unknown zone", "* * * * *", Some("Mars/Olympus")),
        ] {
            assert!(Schedule::parse(spec, zone).is_err(), "{name}");
        }
        assert_eq!(
            Schedule::parse("* * *", None).map(|_| ()),
            Err(ScheduleError::Unparseable(
                "expected exactly 5 fields, found 3: [* * *]".into()
            ))
        );
    }
}
