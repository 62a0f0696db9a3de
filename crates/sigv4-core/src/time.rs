//! Time as AWS writes it: the SigV4 timestamp (`YYYYMMDDTHHMMSSZ`) and RFC 3339 (credential documents),
//! formatted and parsed without a date crate.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A UTC timestamp in the SigV4 basic format, `YYYYMMDDTHHMMSSZ`, held on the stack.
///
/// ```
/// use sigv4_core::AmzDate;
/// use std::time::{Duration, UNIX_EPOCH};
///
/// let t = AmzDate::from_system_time(UNIX_EPOCH + Duration::from_secs(1_440_938_160)).unwrap();
/// assert_eq!(t.as_str(), "20150830T123600Z");
/// assert_eq!(t.date(), "20150830");
/// assert_eq!(AmzDate::parse("20150830T123600Z").unwrap(), t);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AmzDate {
    text: [u8; 16],
    unix: u64,
}

/// The time could not be expressed or parsed as a SigV4 timestamp.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimeError {
    /// The time is before 1970 or after 9999.
    #[error("time is out of the range SigV4 can express (1970 to 9999)")]
    OutOfRange,
    /// The text is not `YYYYMMDDTHHMMSSZ`.
    #[error("timestamp {0:?} is not in the form YYYYMMDDTHHMMSSZ")]
    Malformed(String),
}

const MAX_UNIX: u64 = 253_402_300_799; // 9999-12-31T23:59:59Z

impl AmzDate {
    /// The Unix epoch, `19700101T000000Z` (a placeholder until a signing sets its time).
    pub(crate) const EPOCH: AmzDate = AmzDate {
        text: *b"19700101T000000Z",
        unix: 0,
    };

    /// Formats a `SystemTime` (sub-second part dropped).
    pub fn from_system_time(time: SystemTime) -> Result<Self, TimeError> {
        let secs = time
            .duration_since(UNIX_EPOCH)
            .map_err(|_| TimeError::OutOfRange)?
            .as_secs();
        if secs > MAX_UNIX {
            return Err(TimeError::OutOfRange);
        }
        Ok(Self::from_unix_seconds(secs))
    }

    /// Formats seconds since the Unix epoch; values past 9999-12-31 are clamped to it.
    pub fn from_unix_seconds(secs: u64) -> Self {
        let secs = secs.min(MAX_UNIX);
        let days = (secs / 86_400) as i64;
        let rem = secs % 86_400;
        let (y, m, d) = civil_from_days(days);
        let (hh, mm, ss) = (rem / 3600, (rem % 3600) / 60, rem % 60);
        let mut text = *b"00000000T000000Z";
        put(&mut text[0..4], y as u64);
        put(&mut text[4..6], m as u64);
        put(&mut text[6..8], d as u64);
        put(&mut text[9..11], hh);
        put(&mut text[11..13], mm);
        put(&mut text[13..15], ss);
        AmzDate { text, unix: secs }
    }

    /// Parses `YYYYMMDDTHHMMSSZ`.
    pub fn parse(s: &str) -> Result<Self, TimeError> {
        let malformed = || TimeError::Malformed(s.chars().take(32).collect());
        let b = s.as_bytes();
        if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
            return Err(malformed());
        }
        let num = |r: std::ops::Range<usize>| -> Option<u64> {
            let mut v = 0u64;
            for &c in &b[r] {
                if !c.is_ascii_digit() {
                    return None;
                }
                v = v * 10 + u64::from(c - b'0');
            }
            Some(v)
        };
        let (y, m, d) = (
            num(0..4).ok_or_else(malformed)?,
            num(4..6).ok_or_else(malformed)?,
            num(6..8).ok_or_else(malformed)?,
        );
        let (hh, mm, ss) = (
            num(9..11).ok_or_else(malformed)?,
            num(11..13).ok_or_else(malformed)?,
            num(13..15).ok_or_else(malformed)?,
        );
        if y < 1970 || !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
            return Err(malformed());
        }
        // No leap second: `SystemTime` cannot hold one, and AWS never sends one.
        if hh > 23 || mm > 59 || ss > 59 {
            return Err(malformed());
        }
        let days = days_from_civil(y as i64, m as u32, d as u32);
        let unix = days as u64 * 86_400 + hh * 3600 + mm * 60 + ss;
        let mut text = [0u8; 16];
        text.copy_from_slice(b);
        Ok(AmzDate { text, unix })
    }

    /// The full timestamp, `YYYYMMDDTHHMMSSZ`.
    pub fn as_str(&self) -> &str {
        // The buffer only ever holds ASCII digits, `T` and `Z`.
        std::str::from_utf8(&self.text).unwrap_or("")
    }

    /// The full timestamp as bytes (no UTF-8 check).
    pub(crate) fn as_bytes(&self) -> &[u8; 16] {
        &self.text
    }

    /// The date part, `YYYYMMDD` (the credential scope's date).
    pub fn date(&self) -> &str {
        &self.as_str()[..8]
    }

    /// Seconds since the Unix epoch.
    pub fn unix_seconds(&self) -> u64 {
        self.unix
    }

    /// The same instant as a `SystemTime`.
    pub fn to_system_time(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.unix)
    }
}

impl fmt::Debug for AmzDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AmzDate({})", self.as_str())
    }
}

impl fmt::Display for AmzDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parses an RFC 3339 timestamp, strictly: `YYYY-MM-DDTHH:MM:SS`, an optional fraction (one or
/// more digits after a `.`; digits past nanoseconds are dropped), then `Z` or a `±HH:MM` offset.
/// `T`/`t` and `Z`/`z` in either case, as RFC 3339 allows. This is the one parser for every time
/// a credential source reads (IMDS and container documents, `credential_process` output, STS,
/// SSO and sign-in answers).
///
/// Refused: a leap second (`:60`, which `SystemTime` cannot hold), an empty fraction (`00.Z`),
/// anything after the zone (`ZZ`), a missing zone, surrounding whitespace, a date that does not
/// exist, and a time before 1970 or after 9999.
///
/// ```
/// use sigv4_core::time::parse_rfc3339;
/// use std::time::{Duration, UNIX_EPOCH};
///
/// let t = UNIX_EPOCH + Duration::from_secs(1_651_516_560);
/// assert_eq!(parse_rfc3339("2022-05-02T18:36:00Z"), Ok(t));
/// assert_eq!(parse_rfc3339("2022-05-02T20:36:00+02:00"), Ok(t));
/// assert_eq!(parse_rfc3339("2022-05-02T18:36:00.250000Z"), Ok(t + Duration::from_millis(250)));
/// assert!(parse_rfc3339("2022-05-02T18:36:60Z").is_err());
/// assert!(parse_rfc3339("2022-05-02T18:36:00.Z").is_err());
/// assert!(parse_rfc3339("2022-05-02T18:36:00ZZ").is_err());
/// ```
pub fn parse_rfc3339(text: &str) -> Result<SystemTime, TimeError> {
    let malformed = || TimeError::Malformed(text.chars().take(40).collect());
    let b = text.as_bytes();
    if b.len() < 20 {
        return Err(malformed());
    }
    let digits = |r: std::ops::Range<usize>| -> Result<u64, TimeError> {
        let mut v = 0u64;
        for &c in &b[r] {
            if !c.is_ascii_digit() {
                return Err(malformed());
            }
            v = v * 10 + u64::from(c - b'0');
        }
        Ok(v)
    };
    let separators = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if separators.iter().any(|&(i, c)| b[i] != c) || !matches!(b[10], b'T' | b't') {
        return Err(malformed());
    }
    let (y, m, d) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hh, mm, ss) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return Err(malformed());
    }
    if hh > 23 || mm > 59 || ss > 59 {
        return Err(malformed());
    }
    let (at, nanos) = fraction(b, 19).ok_or_else(malformed)?;
    // The zone: `Z`, or `+HH:MM` / `-HH:MM`; then nothing.
    let offset: i64 = match b.get(at) {
        Some(b'Z' | b'z') if b.len() == at + 1 => 0,
        Some(&sign @ (b'+' | b'-')) if b.len() == at + 6 && b[at + 3] == b':' => {
            let (oh, om) = (digits(at + 1..at + 3)?, digits(at + 4..at + 6)?);
            if oh > 23 || om > 59 {
                return Err(malformed());
            }
            let secs = (oh * 3600 + om * 60) as i64;
            if sign == b'+' {
                secs
            } else {
                -secs
            }
        }
        _ => return Err(malformed()),
    };
    let days = days_from_civil(y as i64, m as u32, d as u32);
    let local = days * 86_400 + (hh * 3600 + mm * 60 + ss) as i64;
    let unix = local - offset;
    if unix < 0 || unix as u64 > MAX_UNIX {
        return Err(TimeError::OutOfRange);
    }
    Ok(UNIX_EPOCH + Duration::new(unix as u64, nanos))
}

/// Parses an HTTP date in the IMF-fixdate form servers send in `Date` headers
/// (`Thu, 01 Jan 2026 00:05:01 GMT`, RFC 9110 §5.6.7), with an optional fraction of a second
/// (`…01.5 GMT`, which Smithy's date format allows). The day name must match the date.
///
/// ```
/// use sigv4_core::time::parse_http_date;
/// use std::time::{Duration, UNIX_EPOCH};
///
/// assert_eq!(
///     parse_http_date("Thu, 01 Jan 2026 00:05:01 GMT"),
///     Ok(UNIX_EPOCH + Duration::from_secs(1_767_225_901))
/// );
/// assert!(parse_http_date("Fri, 01 Jan 2026 00:05:01 GMT").is_err()); // not a Friday
/// assert!(parse_http_date("2026-01-01T00:05:01Z").is_err());
/// ```
pub fn parse_http_date(text: &str) -> Result<SystemTime, TimeError> {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let malformed = || TimeError::Malformed(text.chars().take(40).collect());
    let b = text.as_bytes();
    // "Thu, 01 Jan 2026 00:05:01" then optional ".f+" then " GMT"
    if b.len() < 29
        || !text.is_ascii()
        || &b[3..5] != b", "
        || b[7] != b' '
        || b[11] != b' '
        || b[16] != b' '
        || b[19] != b':'
        || b[22] != b':'
    {
        return Err(malformed());
    }
    let digits = |r: std::ops::Range<usize>| -> Result<u64, TimeError> {
        let mut v = 0u64;
        for &c in &b[r] {
            if !c.is_ascii_digit() {
                return Err(malformed());
            }
            v = v * 10 + u64::from(c - b'0');
        }
        Ok(v)
    };
    let day_name = &text[0..3];
    let d = digits(5..7)?;
    let m = MONTHS
        .iter()
        .position(|name| *name == &text[8..11])
        .ok_or_else(malformed)? as u64
        + 1;
    let y = digits(12..16)?;
    let (hh, mm, ss) = (digits(17..19)?, digits(20..22)?, digits(23..25)?);
    if d < 1 || d > days_in_month(y, m) || hh > 23 || mm > 59 || ss > 59 {
        return Err(malformed());
    }
    let (at, nanos) = fraction(b, 25).ok_or_else(malformed)?;
    if &text[at..] != " GMT" {
        return Err(malformed());
    }
    let days = days_from_civil(y as i64, m as u32, d as u32);
    if DAYS[days.rem_euclid(7) as usize] != day_name {
        return Err(malformed());
    }
    let unix = days * 86_400 + (hh * 3600 + mm * 60 + ss) as i64;
    if unix < 0 || unix as u64 > MAX_UNIX {
        return Err(TimeError::OutOfRange);
    }
    Ok(UNIX_EPOCH + Duration::new(unix as u64, nanos))
}

/// Formats a time as an IMF-fixdate HTTP date (`Thu, 01 Jan 2026 00:05:01 GMT`), whole seconds;
/// times outside 1970 to 9999 are clamped to that range.
///
/// ```
/// use sigv4_core::time::{format_http_date, parse_http_date};
/// use std::time::{Duration, UNIX_EPOCH};
///
/// let t = UNIX_EPOCH + Duration::from_secs(1_767_225_901);
/// assert_eq!(format_http_date(t), "Thu, 01 Jan 2026 00:05:01 GMT");
/// assert_eq!(parse_http_date(&format_http_date(t)), Ok(t));
/// ```
pub fn format_http_date(time: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        .min(MAX_UNIX);
    let days = (secs / 86_400) as i64;
    let (y, m, d) = civil_from_days(days);
    let rem = secs % 86_400;
    format!(
        "{}, {d:02} {} {y:04} {:02}:{:02}:{:02} GMT",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[m as usize - 1],
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Formats a time as RFC 3339 in UTC with whole seconds (`2022-05-02T18:36:00Z`); times outside
/// 1970 to 9999 are clamped to that range.
///
/// ```
/// use sigv4_core::time::format_rfc3339;
/// use std::time::{Duration, UNIX_EPOCH};
///
/// assert_eq!(format_rfc3339(UNIX_EPOCH + Duration::from_secs(1_651_516_560)), "2022-05-02T18:36:00Z");
/// ```
pub fn format_rfc3339(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let t = AmzDate::from_unix_seconds(secs);
    let s = t.as_str();
    format!(
        "{}-{}-{}T{}:{}:{}Z",
        &s[0..4],
        &s[4..6],
        &s[6..8],
        &s[9..11],
        &s[11..13],
        &s[13..15]
    )
}

/// An optional fraction of a second at `at` (`.` then one or more digits; digits past
/// nanoseconds are dropped): where the text goes on, and the nanoseconds. `None` for a `.`
/// without digits.
fn fraction(b: &[u8], mut at: usize) -> Option<(usize, u32)> {
    if b.get(at) != Some(&b'.') {
        return Some((at, 0));
    }
    at += 1;
    let start = at;
    let mut nanos = 0u32;
    while at < b.len() && b[at].is_ascii_digit() {
        if at - start < 9 {
            nanos = nanos * 10 + u32::from(b[at] - b'0');
        }
        at += 1;
    }
    let count = at - start;
    if count == 0 {
        return None;
    }
    for _ in count.min(9)..9 {
        nanos *= 10;
    }
    Some((at, nanos))
}

fn put(out: &mut [u8], mut v: u64) {
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

fn is_leap(y: u64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: u64, m: u64) -> u64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

// Days since 1970-01-01 to a proleptic Gregorian date (the well-known era-based algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from(if m > 2 { m - 3 } else { m + 9 });
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(AmzDate::from_unix_seconds(0).as_str(), "19700101T000000Z");
        // 2000-02-29 (leap day of a century leap year)
        assert_eq!(
            AmzDate::from_unix_seconds(951_782_400).as_str(),
            "20000229T000000Z"
        );
        assert_eq!(
            AmzDate::from_unix_seconds(MAX_UNIX + 10).as_str(),
            "99991231T235959Z"
        );
    }

    #[test]
    fn round_trip_many_days() {
        for day in (0..2_932_896u64).step_by(9_973) {
            let secs = day * 86_400 + (day % 86_400);
            let t = AmzDate::from_unix_seconds(secs);
            assert_eq!(AmzDate::parse(t.as_str()).unwrap().unix_seconds(), secs);
        }
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "20150830T123600",
            "20150230T123600Z",
            "20151330T123600Z",
            "2015083OT123600Z",
            "20150830T243600Z",
            "19691231T235959Z",
            "２0150830T123600Z",
        ] {
            assert!(AmzDate::parse(bad).is_err(), "{bad}");
        }
    }
    #[test]
    fn rfc3339_accepts_zones_and_fractions() {
        let base = UNIX_EPOCH + Duration::from_secs(1_651_516_560);
        for (text, want) in [
            ("2022-05-02T18:36:00Z", base),
            ("2022-05-02t18:36:00z", base),
            ("2022-05-02T18:36:00+00:00", base),
            ("2022-05-02T18:36:00-00:00", base),
            ("2022-05-02T13:06:00-05:30", base),
            ("2022-05-03T03:36:00+09:00", base),
            ("2022-05-02T18:36:00.5Z", base + Duration::from_millis(500)),
            (
                "2022-05-02T18:36:00.123456Z",
                base + Duration::from_micros(123_456),
            ),
            (
                "2022-05-02T18:36:00.1234567891234Z",
                base + Duration::from_nanos(123_456_789),
            ),
            ("1970-01-01T00:00:00Z", UNIX_EPOCH),
            (
                "2000-02-29T00:00:00Z",
                UNIX_EPOCH + Duration::from_secs(951_782_400),
            ),
        ] {
            assert_eq!(parse_rfc3339(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn rfc3339_is_strict() {
        for bad in [
            "",
            "2022-05-02",
            "2022-05-02T18:36:00",
            "2022-05-02T18:36:60Z",
            "2022-05-02T18:36:00.Z",
            "2022-05-02T18:36:00ZZ",
            "2022-05-02T18:36:00Z ",
            " 2022-05-02T18:36:00Z",
            "2022-05-02 18:36:00Z",
            "2022-02-30T18:36:00Z",
            "2022-13-02T18:36:00Z",
            "2022-05-02T24:00:00Z",
            "2022-05-02T18:36:00+0000",
            "2022-05-02T18:36:00+24:00",
            "2022-05-02T18:36:00+00:00Z",
            "1969-12-31T23:59:59Z",
            "1970-01-01T00:59:59+01:00",
            "２022-05-02T18:36:00Z",
            "2022-05-02T18:36:0aZ",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn rfc3339_round_trips_through_the_formatter() {
        for secs in (0..MAX_UNIX).step_by(7_919_993_117) {
            let t = UNIX_EPOCH + Duration::from_secs(secs);
            assert_eq!(parse_rfc3339(&format_rfc3339(t)), Ok(t));
        }
    }

    #[test]
    fn amz_date_refuses_a_leap_second() {
        assert!(AmzDate::parse("20161231T235960Z").is_err());
    }
}
