//! Timestamps as the Kubernetes API writes them: [`Time`] (`metav1.Time`, RFC 3339 to the
//! second, `2024-05-01T12:00:00Z`) and [`MicroTime`] (`metav1.MicroTime`, six fraction
//! digits, `2024-05-01T12:00:00.123456Z`).
//!
//! Both are integers underneath (Unix seconds, Unix microseconds), which is also what the
//! bus carries. JSON is always written in UTC with a `Z`; input may carry any offset
//! (`+02:00`) and any number of fraction digits, which are truncated to the type's
//! precision. The calendar arithmetic (proleptic Gregorian) is done here rather than
//! pulling in a date crate. Years outside 0000–9999 cannot be written, as in Go.

use std::fmt;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::schema::{Shape, TypeDef};

/// Why a string is not an RFC 3339 timestamp.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid RFC 3339 time {input:?}: {reason}")]
pub struct TimeError {
    /// The rejected input.
    pub input: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// A point in time with second precision (`metav1.Time`), as Unix seconds.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    bincode::Encode,
    bincode::Decode,
)]
pub struct Time(pub i64);

/// A point in time with microsecond precision (`metav1.MicroTime`), as Unix microseconds.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    bincode::Encode,
    bincode::Decode,
)]
pub struct MicroTime(pub i64);

const MICROS_PER_SECOND: i64 = 1_000_000;
const SECONDS_PER_DAY: i64 = 86_400;

/// (seconds, nanoseconds) since the Unix epoch, whatever side of it the clock is on.
fn system_now() -> (i64, u32) {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => (
            i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            d.subsec_nanos(),
        ),
        Err(e) => {
            let d = e.duration();
            let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            if d.subsec_nanos() == 0 {
                (-secs, 0)
            } else {
                (-secs - 1, 1_000_000_000 - d.subsec_nanos())
            }
        }
    }
}

crate::schema::named_type!(
    Time,
    TypeDef::scalar(
        "io.k8s.apimachinery.pkg.apis.meta.v1.Time",
        "A time with second precision, written in RFC 3339 form (UTC).",
        Shape::FormattedString("date-time"),
    )
);

crate::schema::named_type!(
    MicroTime,
    TypeDef::scalar(
        "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime",
        "A time with microsecond precision, written in RFC 3339 form (UTC).",
        Shape::FormattedString("date-time"),
    )
);

impl Time {
    /// The current time, truncated to the second.
    pub fn now() -> Self {
        Time(system_now().0)
    }

    /// The time `secs` seconds after the Unix epoch.
    pub const fn from_unix(secs: i64) -> Self {
        Time(secs)
    }

    /// Seconds since the Unix epoch.
    pub const fn unix(self) -> i64 {
        self.0
    }

    /// Parses an RFC 3339 timestamp; fraction digits are dropped.
    pub fn parse(s: &str) -> Result<Self, TimeError> {
        parse_rfc3339(s).map(|(secs, _)| Time(secs))
    }
}

impl MicroTime {
    /// The current time, truncated to the microsecond.
    pub fn now() -> Self {
        let (secs, nanos) = system_now();
        MicroTime(
            secs.saturating_mul(MICROS_PER_SECOND)
                .saturating_add(i64::from(nanos / 1000)),
        )
    }

    /// The time `micros` microseconds after the Unix epoch.
    pub const fn from_unix_micros(micros: i64) -> Self {
        MicroTime(micros)
    }

    /// Microseconds since the Unix epoch.
    pub const fn unix_micros(self) -> i64 {
        self.0
    }

    /// Parses an RFC 3339 timestamp; digits past the microsecond are dropped.
    pub fn parse(s: &str) -> Result<Self, TimeError> {
        let (secs, nanos) = parse_rfc3339(s)?;
        secs.checked_mul(MICROS_PER_SECOND)
            .and_then(|m| m.checked_add(i64::from(nanos / 1000)))
            .map(MicroTime)
            .ok_or_else(|| error(s, "out of range"))
    }
}

impl From<Time> for MicroTime {
    fn from(t: Time) -> Self {
        MicroTime(t.0.saturating_mul(MICROS_PER_SECOND))
    }
}

impl From<MicroTime> for Time {
    /// Truncates to the second.
    fn from(t: MicroTime) -> Self {
        Time(t.0.div_euclid(MICROS_PER_SECOND))
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_rfc3339(f, self.0, None)
    }
}

impl fmt::Display for MicroTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.div_euclid(MICROS_PER_SECOND);
        let micros = self.0.rem_euclid(MICROS_PER_SECOND);
        write_rfc3339(f, secs, Some(micros))
    }
}

impl FromStr for Time {
    type Err = TimeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Time::parse(s)
    }
}

impl FromStr for MicroTime {
    type Err = TimeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MicroTime::parse(s)
    }
}

/// The year of a Unix second, to refuse what RFC 3339 cannot write.
fn year_of(secs: i64) -> i64 {
    civil_from_days(secs.div_euclid(SECONDS_PER_DAY)).0
}

impl Serialize for Time {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if !(0..=9999).contains(&year_of(self.0)) {
            return Err(serde::ser::Error::custom(
                "Time year outside of range [0,9999]",
            ));
        }
        serializer.collect_str(self)
    }
}

impl Serialize for MicroTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if !(0..=9999).contains(&year_of(self.0.div_euclid(MICROS_PER_SECOND))) {
            return Err(serde::ser::Error::custom(
                "MicroTime year outside of range [0,9999]",
            ));
        }
        serializer.collect_str(self)
    }
}

/// Deserializes either timestamp type from its string form.
struct TimeVisitor<T>(std::marker::PhantomData<T>);

impl<T: FromStr<Err = TimeError>> Visitor<'_> for TimeVisitor<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an RFC 3339 timestamp such as \"2024-05-01T12:00:00Z\"")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        v.parse().map_err(E::custom)
    }
}

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(TimeVisitor(std::marker::PhantomData))
    }
}

impl<'de> Deserialize<'de> for MicroTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(TimeVisitor(std::marker::PhantomData))
    }
}

// ---------------------------------------------------------------------------------------
// Calendar arithmetic
// ---------------------------------------------------------------------------------------

fn is_leap_year(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(y) => 29,
        _ => 28,
    }
}

/// Days from 1970-01-01 to the given date (proleptic Gregorian; month 1–12).
///
/// Counting years from March makes the leap day the last day of the year, so the day of
/// the year is a linear function of the month; 400-year eras repeat exactly (146097 days).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let month_from_march = i64::from((month + 9) % 12);
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    // 719468 days lie between 0000-03-01 (the start of era 0) and 1970-01-01.
    era * 146_097 + day_of_era - 719_468
}

/// The date (year, month 1–12, day 1–31) of a day counted from 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn write_rfc3339(f: &mut fmt::Formatter<'_>, secs: i64, micros: Option<i64>) -> fmt::Result {
    let days = secs.div_euclid(SECONDS_PER_DAY);
    let of_day = secs.rem_euclid(SECONDS_PER_DAY);
    let (y, mo, d) = civil_from_days(days);
    let (h, mi, s) = (of_day / 3600, of_day / 60 % 60, of_day % 60);
    write!(f, "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}")?;
    if let Some(us) = micros {
        write!(f, ".{us:06}")?;
    }
    f.write_str("Z")
}

fn error(input: &str, reason: &'static str) -> TimeError {
    TimeError {
        input: input.to_owned(),
        reason,
    }
}

/// Reads exactly `n` ASCII digits at `*pos`.
fn digits(b: &[u8], pos: &mut usize, n: usize) -> Option<u32> {
    let field = b.get(*pos..*pos + n)?;
    let mut v = 0u32;
    for c in field {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    *pos += n;
    Some(v)
}

fn eat(b: &[u8], pos: &mut usize, allowed: &[u8]) -> bool {
    match b.get(*pos) {
        Some(c) if allowed.contains(c) => {
            *pos += 1;
            true
        }
        _ => false,
    }
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` into Unix seconds and nanoseconds.
fn parse_rfc3339(s: &str) -> Result<(i64, u32), TimeError> {
    let b = s.as_bytes();
    let mut pos = 0;
    let bad = |reason| error(s, reason);
    let year = digits(b, &mut pos, 4).ok_or_else(|| bad("expected a four-digit year"))?;
    if !eat(b, &mut pos, b"-") {
        return Err(bad("expected '-' after the year"));
    }
    let month = digits(b, &mut pos, 2).ok_or_else(|| bad("expected a two-digit month"))?;
    if !eat(b, &mut pos, b"-") {
        return Err(bad("expected '-' after the month"));
    }
    let day = digits(b, &mut pos, 2).ok_or_else(|| bad("expected a two-digit day"))?;
    if !eat(b, &mut pos, b"Tt") {
        return Err(bad("expected 'T' between date and time"));
    }
    let hour = digits(b, &mut pos, 2).ok_or_else(|| bad("expected a two-digit hour"))?;
    if !eat(b, &mut pos, b":") {
        return Err(bad("expected ':' after the hour"));
    }
    let minute = digits(b, &mut pos, 2).ok_or_else(|| bad("expected two-digit minutes"))?;
    if !eat(b, &mut pos, b":") {
        return Err(bad("expected ':' after the minutes"));
    }
    let second = digits(b, &mut pos, 2).ok_or_else(|| bad("expected two-digit seconds"))?;

    let mut nanos = 0u32;
    if eat(b, &mut pos, b".") {
        let start = pos;
        while pos < b.len() && b[pos].is_ascii_digit() {
            if pos - start < 9 {
                nanos = nanos * 10 + u32::from(b[pos] - b'0');
            }
            pos += 1;
        }
        let n = pos - start;
        if n == 0 {
            return Err(bad("expected digits after the decimal point"));
        }
        if n < 9 {
            nanos *= 10u32.pow((9 - n) as u32);
        }
    }

    let offset_seconds: i64 = match b.get(pos) {
        Some(b'Z' | b'z') => {
            pos += 1;
            0
        }
        Some(&sign @ (b'+' | b'-')) => {
            pos += 1;
            let oh = digits(b, &mut pos, 2).ok_or_else(|| bad("expected an offset hour"))?;
            if !eat(b, &mut pos, b":") {
                return Err(bad("expected ':' in the offset"));
            }
            let om = digits(b, &mut pos, 2).ok_or_else(|| bad("expected offset minutes"))?;
            if oh > 23 || om > 59 {
                return Err(bad("offset out of range"));
            }
            let v = i64::from(oh * 3600 + om * 60);
            if sign == b'-' {
                -v
            } else {
                v
            }
        }
        _ => return Err(bad("expected 'Z' or an offset such as +02:00")),
    };
    if pos != b.len() {
        return Err(bad("unexpected text after the offset"));
    }

    let year = i64::from(year);
    if !(1..=12).contains(&month) {
        return Err(bad("month out of range"));
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err(bad("day out of range"));
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err(bad("time of day out of range"));
    }
    let local = days_from_civil(year, month, day) * SECONDS_PER_DAY
        + i64::from(hour * 3600 + minute * 60 + second);
    Ok((local - offset_seconds, nanos))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn time_format_and_parse_table() {
        // (name, unix seconds, canonical form)
        let table: &[(&str, i64, &str)] = &[
            ("epoch", 0, "1970-01-01T00:00:00Z"),
            ("typical", 1_714_564_800, "2024-05-01T12:00:00Z"),
            ("leap day 2024", 1_709_164_800, "2024-02-29T00:00:00Z"),
            ("day after leap day", 1_709_251_200, "2024-03-01T00:00:00Z"),
            ("leap day 2000", 951_782_400, "2000-02-29T00:00:00Z"),
            ("end of 1999", 946_684_799, "1999-12-31T23:59:59Z"),
            ("2038 boundary", 2_147_483_647, "2038-01-19T03:14:07Z"),
            ("2100 not leap", 4_107_542_400, "2100-03-01T00:00:00Z"),
            (
                "last second of 9999",
                253_402_300_799,
                "9999-12-31T23:59:59Z",
            ),
            ("end of 2023", 1_704_067_199, "2023-12-31T23:59:59Z"),
        ];
        for &(name, secs, text) in table {
            assert_eq!(Time(secs).to_string(), text, "{name}: format");
            assert_eq!(Time::parse(text).unwrap(), Time(secs), "{name}: parse");
            let json = serde_json::to_string(&Time(secs)).unwrap();
            assert_eq!(json, format!("\"{text}\""), "{name}: json");
        }
    }

    #[test]
    fn time_accepts_offsets_and_fractions() {
        let noon = Time(1_714_564_800);
        let table: &[(&str, &str)] = &[
            ("plus offset", "2024-05-01T14:00:00+02:00"),
            ("minus offset", "2024-05-01T07:30:00-04:30"),
            ("fraction dropped", "2024-05-01T12:00:00.999999999Z"),
            ("fraction with offset", "2024-05-01T13:00:00.5+01:00"),
            ("lowercase", "2024-05-01t12:00:00z"),
            ("zero offset", "2024-05-01T12:00:00+00:00"),
        ];
        for &(name, text) in table {
            assert_eq!(Time::parse(text).unwrap(), noon, "{name}");
        }
        // Crossing midnight and a month boundary through the offset.
        assert_eq!(
            Time::parse("2024-03-01T01:00:00+02:00")
                .unwrap()
                .to_string(),
            "2024-02-29T23:00:00Z"
        );
    }

    #[test]
    fn time_rejects_malformed() {
        let table: &[(&str, &str)] = &[
            ("empty", ""),
            ("date only", "2024-05-01"),
            ("no zone", "2024-05-01T12:00:00"),
            ("not a leap year", "2023-02-29T00:00:00Z"),
            ("1900 not leap", "1900-02-29T00:00:00Z"),
            ("month 13", "2024-13-01T00:00:00Z"),
            ("day 0", "2024-01-00T00:00:00Z"),
            ("April 31", "2024-04-31T00:00:00Z"),
            ("hour 24", "2024-05-01T24:00:00Z"),
            ("leap second", "2024-05-01T23:59:60Z"),
            ("space separator", "2024-05-01 12:00:00Z"),
            ("short year", "24-05-01T12:00:00Z"),
            ("empty fraction", "2024-05-01T12:00:00.Z"),
            ("bad offset", "2024-05-01T12:00:00+2:00"),
            ("offset hour 24", "2024-05-01T12:00:00+24:00"),
            ("trailing text", "2024-05-01T12:00:00Zx"),
            ("unicode digits", "２024-05-01T12:00:00Z"),
        ];
        for &(name, text) in table {
            assert!(Time::parse(text).is_err(), "{name}: {text:?} parsed");
        }
        assert!(serde_json::from_str::<Time>("12").is_err());
    }

    #[test]
    fn micro_time_table() {
        let table: &[(&str, i64, &str)] = &[
            (
                "typical",
                1_714_564_800_123_456,
                "2024-05-01T12:00:00.123456Z",
            ),
            (
                "whole second",
                1_714_564_800_000_000,
                "2024-05-01T12:00:00.000000Z",
            ),
            ("one micro", 1, "1970-01-01T00:00:00.000001Z"),
            (
                "leap day",
                1_709_164_800_000_010,
                "2024-02-29T00:00:00.000010Z",
            ),
        ];
        for &(name, micros, text) in table {
            assert_eq!(MicroTime(micros).to_string(), text, "{name}: format");
            assert_eq!(MicroTime::parse(text).unwrap(), MicroTime(micros), "{name}");
        }
        let inputs: &[(&str, i64)] = &[
            ("2024-05-01T12:00:00Z", 1_714_564_800_000_000),
            ("2024-05-01T12:00:00.1Z", 1_714_564_800_100_000),
            ("2024-05-01T12:00:00.123456789Z", 1_714_564_800_123_456),
            ("2024-05-01T14:00:00.5+02:00", 1_714_564_800_500_000),
        ];
        for &(text, micros) in inputs {
            assert_eq!(MicroTime::parse(text).unwrap(), MicroTime(micros), "{text}");
        }
        assert_eq!(
            Time::from(MicroTime(1_714_564_800_999_999)),
            Time(1_714_564_800)
        );
        assert_eq!(MicroTime::from(Time(2)), MicroTime(2_000_000));
    }

    #[test]
    fn civil_round_trip_over_four_centuries() {
        // Every day from 1970 to 2370 maps to a valid date and back.
        let mut expected = (1970i64, 1u32, 1u32);
        for days in 0..146_097i64 {
            let got = civil_from_days(days);
            assert_eq!(got, expected, "day {days}");
            assert_eq!(days_from_civil(got.0, got.1, got.2), days);
            let (y, m, d) = expected;
            expected = if d < days_in_month(y, m) {
                (y, m, d + 1)
            } else if m < 12 {
                (y, m + 1, 1)
            } else {
                (y + 1, 1, 1)
            };
        }
    }

    #[test]
    fn now_is_recent_and_serializable() {
        let now = Time::now();
        assert!(now.0 > 1_700_000_000);
        let micro = MicroTime::now();
        assert!(micro.0 / MICROS_PER_SECOND >= now.0);
        let back: Time = serde_json::from_str(&serde_json::to_string(&now).unwrap()).unwrap();
        assert_eq!(back, now);
        assert!(serde_json::to_string(&Time(i64::MAX / 2)).is_err());
    }

    #[test]
    fn bincode_carries_the_integer() {
        let t = MicroTime(1_714_564_800_123_456);
        let bytes = crate::codec::encode(&t).unwrap();
        assert_eq!(crate::codec::decode::<MicroTime>(&bytes).unwrap(), t);
        assert_eq!(bytes, crate::codec::encode(&t.0).unwrap());
    }
}
