//! RFC 3339 times as the AWS services write them (UTC), for the emulators' documents.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How the fractional part of a time is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Precision {
    /// `2023-11-14T22:13:20Z` (rounded down).
    Seconds,
    /// `2023-11-14T22:13:20.123456Z` (rounded down).
    Micros,
}

/// `t` rounded down to the whole second.
pub(crate) fn whole_seconds(t: SystemTime) -> SystemTime {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => UNIX_EPOCH + Duration::from_secs(d.as_secs()),
        Err(e) => {
            let before = e.duration();
            let secs = before.as_secs() + u64::from(before.subsec_nanos() > 0);
            UNIX_EPOCH
                .checked_sub(Duration::from_secs(secs))
                .unwrap_or(t)
        }
    }
}

/// `t` rounded down to the microsecond.
pub(crate) fn whole_micros(t: SystemTime) -> SystemTime {
    let whole = whole_seconds(t);
    let micros = t.duration_since(whole).unwrap_or_default().as_micros();
    whole + Duration::from_micros(u64::try_from(micros).unwrap_or(0))
}

/// `YYYY-MM-DDTHH:MM:SSZ` (UTC, whole seconds rounded down), clamped to years 0000..=9999.
pub(crate) fn format(t: SystemTime) -> String {
    format_with(t, Precision::Seconds)
}

/// Like [`format`], with the fractional part `precision` asks for.
pub(crate) fn format_with(t: SystemTime, precision: Precision) -> String {
    const MIN: i64 = -62_167_219_200; // 0000-01-01T00:00:00Z
    const MAX: i64 = 253_402_300_799; // 9999-12-31T23:59:59Z
    let secs: i64 = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(MAX),
        Err(e) => {
            let before = e.duration();
            let whole = i64::try_from(before.as_secs()).unwrap_or(i64::MAX);
            // Round down: 0.5 s before the epoch is 1969-12-31T23:59:59Z.
            whole
                .saturating_add(i64::from(before.subsec_nanos() > 0))
                .saturating_neg()
        }
    };
    let clamped = secs.clamp(MIN, MAX);
    let days = clamped.div_euclid(86_400);
    let of_day = clamped.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let fraction = match precision {
        Precision::Seconds => String::new(),
        Precision::Micros => {
            let micros = if clamped == secs {
                t.duration_since(whole_seconds(t))
                    .unwrap_or_default()
                    .as_micros()
            } else {
                0
            };
            format!(".{micros:06}")
        }
    };
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}{fraction}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // Shift to 0000-03-01 so that leap days fall at the end of a 400-year era's years.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn known_dates() {
        // Independently known: `date -u -d @N +%Y-%m-%dT%H:%M:%SZ`.
        assert_eq!(format(at(0)), "1970-01-01T00:00:00Z");
        assert_eq!(format(at(951_782_400)), "2000-02-29T00:00:00Z");
        assert_eq!(format(at(1_000_000_000)), "2001-09-09T01:46:40Z");
        assert_eq!(format(at(1_700_000_000)), "2023-11-14T22:13:20Z");
        assert_eq!(format(at(4_107_542_399)), "2100-02-28T23:59:59Z");
        assert_eq!(format(at(4_107_542_400)), "2100-03-01T00:00:00Z");
        assert_eq!(
            format(at(1_700_000_000) + Duration::from_millis(999)),
            "2023-11-14T22:13:20Z"
        );
        assert_eq!(
            format(UNIX_EPOCH - Duration::from_millis(500)),
            "1969-12-31T23:59:59Z"
        );
        assert_eq!(
            format(UNIX_EPOCH - Duration::from_secs(86_400 * 365)),
            "1969-01-01T00:00:00Z"
        );
    }

    #[test]
    fn microseconds() {
        let t = at(1_700_000_000) + Duration::from_nanos(123_456_789);
        assert_eq!(
            format_with(t, Precision::Micros),
            "2023-11-14T22:13:20.123456Z"
        );
        assert_eq!(
            format_with(at(1_700_000_000), Precision::Micros),
            "2023-11-14T22:13:20.000000Z"
        );
        assert_eq!(
            whole_micros(t),
            at(1_700_000_000) + Duration::from_micros(123_456)
        );
    }

    #[test]
    fn clamps_instead_of_panicking() {
        assert_eq!(format(at(u64::MAX / 4)), "9999-12-31T23:59:59Z");
        assert_eq!(
            format_with(at(u64::MAX / 4), Precision::Micros),
            "9999-12-31T23:59:59.000000Z"
        );
        if let Some(early) = UNIX_EPOCH.checked_sub(Duration::from_secs(70_000_000_000)) {
            assert_eq!(format(early), "0000-01-01T00:00:00Z");
        }
    }
}
