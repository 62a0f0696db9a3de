//! The SigV4 timestamp (`YYYYMMDDTHHMMSSZ`), formatted and parsed without a date crate.

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
        if hh > 23 || mm > 59 || ss > 60 {
            return Err(malformed());
        }
        let days = days_from_civil(y as i64, m as u32, d as u32);
        let unix = days as u64 * 86_400 + hh * 3600 + mm * 60 + ss.min(59);
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
}
