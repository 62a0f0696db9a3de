//! The instance role's credentials: generations, rotation on the clock, the JSON document.

use std::time::{Duration, SystemTime};

use sigv4_core::Credentials;

use super::service::{Shared, State};
use super::{NOT_SUCCESS_CODE, PROVIDER_NAME};
use crate::issue::numbered_credentials;

const DEFAULT_ROTATION_MARGIN: Duration = Duration::from_secs(15 * 60);

/// The body served under [`Fault::MalformedJson`](super::Fault::MalformedJson).
pub(super) const MALFORMED_JSON: &str =
    "{\n  \"Code\" : \"Success\",\n  \"LastUpdated\" : \"2024-01-01T00:00:00Z\",\n  \"Type\" : \"AWS-HM";

/// One generation of the instance role's credentials.
pub(super) struct Generation {
    pub(super) issued_at: SystemTime,
    pub(super) credentials: Credentials,
}

impl Generation {
    pub(super) fn issue(number: u64, issued_at: SystemTime, lifetime: Duration) -> Self {
        let expiry =
            crate::rfc3339::whole_seconds(issued_at.checked_add(lifetime).unwrap_or(issued_at));
        let credentials = numbered_credentials("EMU", number, expiry, PROVIDER_NAME);
        Self {
            issued_at,
            credentials,
        }
    }
}

impl Shared {
    pub(super) fn rotate_if_due(&self, state: &mut State, now: SystemTime) {
        let Some(due) = state.next_rotation_at else {
            return;
        };
        if now < due || self.rotate_every.is_zero() {
            return;
        }
        // The start of the rotation period `now` falls in.
        let behind = now.duration_since(due).unwrap_or_default();
        let periods = behind.as_nanos() / self.rotate_every.as_nanos();
        let offset = u32::try_from(periods)
            .ok()
            .and_then(|p| self.rotate_every.checked_mul(p))
            .unwrap_or(behind);
        let slot_start = due.checked_add(offset).unwrap_or(now);
        self.issue_generation(state, slot_start);
    }

    pub(super) fn issue_generation(&self, state: &mut State, at: SystemTime) {
        let number = state.generation_number() + 1;
        let next = Generation::issue(number, at, self.lifetime);
        let previous = std::mem::replace(&mut state.current, next);
        state.previous.push(previous);
        state.next_rotation_at = if self.rotate_every.is_zero() {
            None
        } else {
            at.checked_add(self.rotate_every)
        };
    }
}

/// The default rotation period: the lifetime minus 15 minutes, or half the lifetime when that
/// leaves less than 30 minutes.
pub(super) fn default_rotate_every(lifetime: Duration) -> Duration {
    let with_margin = lifetime.saturating_sub(DEFAULT_ROTATION_MARGIN);
    if with_margin >= DEFAULT_ROTATION_MARGIN * 2 {
        with_margin
    } else {
        lifetime / 2
    }
}

pub(super) fn credentials_json(
    creds: &Credentials,
    last_updated: SystemTime,
    expiration: SystemTime,
) -> String {
    let value = serde_json::json!({
        "Code": "Success",
        "LastUpdated": crate::rfc3339::format(last_updated),
        "Type": "AWS-HMAC",
        "AccessKeyId": creds.access_key_id(),
        "SecretAccessKey": creds.secret_access_key(),
        "Token": creds.session_token().unwrap_or_default(),
        "Expiration": crate::rfc3339::format(expiration),
    });
    to_pretty(&value)
}

pub(super) fn not_success_json(now: SystemTime) -> String {
    let value = serde_json::json!({
        "Code": NOT_SUCCESS_CODE,
        "Message": "EC2 cannot assume the role of this instance (emulated failure).",
        "LastUpdated": crate::rfc3339::format(now),
    });
    to_pretty(&value)
}

fn to_pretty(value: &serde_json::Value) -> String {
    // Serialising a `Value` built from strings cannot fail; keep a valid fallback anyway.
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_rotation_leaves_a_margin() {
        assert_eq!(
            default_rotate_every(Duration::from_secs(6 * 3600)),
            Duration::from_secs(6 * 3600 - 900)
        );
        assert_eq!(
            default_rotate_every(Duration::from_secs(600)),
            Duration::from_secs(300)
        );
        assert_eq!(default_rotate_every(Duration::ZERO), Duration::ZERO);
    }
}
