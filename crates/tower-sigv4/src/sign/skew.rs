//! Clock-skew correction: the layer learns how far the service's clock is from ours, signs with
//! the corrected time, and retries a request the service refused for its time, once.
//!
//! A signature carries its time, and AWS refuses one more than 5 minutes off. A host whose clock
//! drifts (a laptop after sleep, a VM without NTP, a container with a frozen clock in tests) then
//! gets `RequestTimeTooSkewed`, `InvalidSignatureException` "Signature expired" and friends on
//! every request. The SDKs correct it from the answers' `Date` header; so does this layer, by the
//! same rules (the cross-SDK cases in `clock-skew-test-cases.json`):
//!
//! - every answer with a `Date` header updates the offset: `Date` minus the middle of the round
//!   trip, in whole seconds; answers with an `Age` header (a cache's) and answers that took more
//!   than 15 minutes are not believed; offsets past ±24 hours are not believed either;
//! - the offset is shared by every clone of the service (and of the layer), and each signature
//!   uses `now + offset`;
//! - an error answer whose code says the time may be wrong (`RequestTimeTooSkewed`,
//!   `RequestExpired`, `RequestInTheFuture`, `InvalidSignatureException`,
//!   `SignatureDoesNotMatch`, `AuthFailure`, `AccessDeniedException`, read from
//!   `x-amzn-ErrorType` or `x-amzn-query-error`) is retried once with a fresh signature when the
//!   offset it taught moved by 4 minutes or more and the body is at hand (buffered, or empty); a
//!   smaller move is not a clock problem, and the answer goes back to the caller;
//! - the first correction of 4 minutes or more is logged at `warn`, once per layer.
//!
//! On by default; [`SigV4LayerBuilder::clock_skew_correction`](super::SigV4LayerBuilder::clock_skew_correction)
//! turns it off, or keeps the learning and turns off the retry.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, SystemTime};

use http::header::{AGE, DATE};
use http::{HeaderMap, StatusCode};

use super::refusal::error_codes;

/// How far the offset must move for an error answer to be retried as a clock problem.
pub const DETECTION_THRESHOLD: Duration = Duration::from_secs(240);
/// Answers that took longer than this do not teach an offset.
pub const MAX_ROUND_TRIP: Duration = Duration::from_secs(15 * 60);
/// Offsets past this, either way, are not believed.
pub const MAX_OFFSET: Duration = Duration::from_secs(24 * 3600);

/// Error codes that may mean "your clock is off".
pub const SKEW_ERROR_CODES: [&str; 7] = [
    "RequestTimeTooSkewed",
    "RequestExpired",
    "RequestInTheFuture",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "AuthFailure",
    "AccessDeniedException",
];

/// How the layer handles a clock that differs from the service's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ClockSkewCorrection {
    /// Learn the offset from every answer, sign with it, and retry a request refused for its time
    /// once (the default).
    #[default]
    LearnAndRetry,
    /// Learn the offset and sign with it; never retry.
    Learn,
    /// Sign with the local clock as it is.
    Off,
}

/// The offset between the service's clock and ours, shared by every clone of a layer.
#[derive(Debug, Default)]
pub struct ClockSkew {
    /// Service minus local, in whole seconds.
    offset_secs: AtomicI64,
    warned: AtomicBool,
}

impl ClockSkew {
    /// The current offset in seconds (positive: the service's clock is ahead of ours).
    pub fn offset_seconds(&self) -> i64 {
        self.offset_secs.load(Ordering::Relaxed)
    }

    /// Sets the offset (to start from a known one, or in tests).
    pub fn set_offset_seconds(&self, secs: i64) {
        self.offset_secs.store(secs, Ordering::Relaxed);
    }

    /// Learns from one answer: `sent` and `received` are local times. Returns the new offset when
    /// the answer could teach one.
    pub(crate) fn observe(
        &self,
        sent: SystemTime,
        received: SystemTime,
        headers: &HeaderMap,
    ) -> Option<i64> {
        if headers.contains_key(AGE) {
            return None;
        }
        let date = headers.get(DATE)?.to_str().ok()?;
        let server = sigv4_core::time::parse_http_date(date.trim()).ok()?;
        let round_trip = received.duration_since(sent).ok()?;
        if round_trip > MAX_ROUND_TRIP {
            return None;
        }
        let middle = sent.checked_add(round_trip / 2)?;
        let offset_ms: i128 = match server.duration_since(middle) {
            Ok(ahead) => ahead.as_millis() as i128,
            Err(behind) => -(behind.duration().as_millis() as i128),
        };
        // Whole seconds, to the nearest.
        let offset = ((offset_ms + offset_ms.signum() * 500) / 1000) as i64;
        if offset.unsigned_abs() > MAX_OFFSET.as_secs() {
            tracing::debug!(
                offset,
                "an answer's Date is more than a day off; not believed"
            );
            return None;
        }
        self.set_offset_seconds(offset);
        if offset.unsigned_abs() >= DETECTION_THRESHOLD.as_secs()
            && !self.warned.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(
                offset_seconds = offset,
                "this host's clock differs from the service's; signing with the service's time \
                 from now on (fix the clock: NTP)"
            );
        }
        Some(offset)
    }
}

/// `time` moved by `secs` (saturating at what `SystemTime` can hold).
pub(crate) fn shift(time: SystemTime, secs: i64) -> SystemTime {
    let by = Duration::from_secs(secs.unsigned_abs());
    let shifted = if secs >= 0 {
        time.checked_add(by)
    } else {
        time.checked_sub(by)
    };
    shifted.unwrap_or(time)
}

/// Whether an answer is a refusal for the request's time, worth one retry: an error status, a
/// code from [`SKEW_ERROR_CODES`], and an offset that moved by the threshold or more since the
/// request was signed.
pub(crate) fn worth_retrying(
    status: StatusCode,
    headers: &HeaderMap,
    used: i64,
    learned: Option<i64>,
) -> bool {
    let Some(learned) = learned else {
        return false;
    };
    if !(status.is_client_error() || status.is_server_error()) {
        return false;
    }
    learned.abs_diff(used) >= DETECTION_THRESHOLD.as_secs()
        && error_codes(headers).any(|code| SKEW_ERROR_CODES.contains(&code))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn dated(date: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(DATE, date.parse().unwrap());
        headers
    }

    #[test]
    fn the_offset_is_taken_at_the_middle_of_the_round_trip() {
        let skew = ClockSkew::default();
        // 2026-01-01T00:00:00Z = 1767225600
        let learned = skew.observe(
            at(1_767_225_600),
            at(1_767_225_602),
            &dated("Thu, 01 Jan 2026 00:05:01 GMT"),
        );
        assert_eq!(learned, Some(300));
        assert_eq!(
            shift(at(1_767_225_602), skew.offset_seconds()),
            at(1_767_225_902)
        );
    }

    #[test]
    fn cached_slow_and_absurd_answers_teach_nothing() {
        let skew = ClockSkew::default();
        let mut cached = dated("Thu, 01 Jan 2026 00:05:01 GMT");
        cached.insert(AGE, "17280".parse().unwrap());
        assert_eq!(
            skew.observe(at(1_767_225_600), at(1_767_225_602), &cached),
            None
        );
        assert_eq!(
            skew.observe(
                at(1_767_225_600),
                at(1_767_225_600 + 16 * 60),
                &dated("Thu, 01 Jan 2026 00:10:00 GMT")
            ),
            None
        );
        assert_eq!(
            skew.observe(
                at(1_767_225_600),
                at(1_767_225_602),
                &dated("Sun, 04 Jan 2026 00:00:00 GMT")
            ),
            None
        );
        assert_eq!(
            skew.observe(at(1_767_225_600), at(1_767_225_602), &HeaderMap::new()),
            None
        );
        assert_eq!(skew.offset_seconds(), 0);
    }

    #[test]
    fn shifting_saturates() {
        assert_eq!(shift(at(100), -10), at(90));
        assert_eq!(shift(at(100), 10), at(110));
        let far = UNIX_EPOCH + Duration::from_secs(u64::MAX / 4);
        assert_eq!(
            shift(far, i64::MAX),
            far,
            "an unrepresentable time keeps the local one"
        );
    }
}
