//! Why a request could not be signed.

use std::time::Duration;

/// A request that cannot be signed, and why. No input makes the signer panic; it returns one of
/// these instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SigningError {
    /// The URI has no authority (host) and the request has no `Host` header.
    #[error("the request URI has no host and there is no Host header: use an absolute URI such as https://host/path")]
    MissingHost,
    /// A header value holds bytes that are neither visible ASCII nor UTF-8.
    #[error(
        "header {name} has a value that is neither visible ASCII nor UTF-8; AWS cannot sign it"
    )]
    InvalidHeaderValue {
        /// The header's name.
        name: String,
    },
    /// The presigned URL expiry is outside 1 second to 7 days (whole seconds).
    #[error("presigned URL expiry of {} s is out of range: use 1 s to 7 days (604800 s), in whole seconds", expires_in.as_secs_f64())]
    ExpiresOutOfRange {
        /// The expiry that was asked for.
        expires_in: Duration,
    },
    /// A presigned URL would outlive the credentials that sign it (see
    /// [`ExpiryPastCredentials`](crate::ExpiryPastCredentials)).
    #[error(
        "presigned URL expiry of {} s reaches past the credentials' expiry ({} s left): ask for \
         at most {} s, sign with longer-lived credentials, or cap the expiry \
         (ExpiryPastCredentials::Cap)",
        expires_in.as_secs(),
        credentials_left.as_secs(),
        credentials_left.as_secs()
    )]
    ExpiresAfterCredentials {
        /// The expiry that was asked for.
        expires_in: Duration,
        /// What the credentials have left at the signing time, in whole seconds.
        credentials_left: Duration,
    },
    /// The access key id or the secret key is empty.
    #[error("credentials are empty: an access key id and a secret access key are both required")]
    EmptyCredentials,
    /// A field that goes into the credential scope holds forbidden characters, so the signature
    /// could not be read back: `/` separates the scope's parts, `,` the `Authorization` header's
    /// parts, and only visible ASCII fits in a header.
    #[error("{field} {value:?} is invalid: it {reason}; use non-empty visible ASCII without '/', ',' or spaces")]
    InvalidField {
        /// Which field (`access key id`, `region`, `service`).
        field: &'static str,
        /// The offending value, shortened.
        value: String,
        /// What is wrong with it, as a phrase (`"is empty"`, `"holds ','"`, ...).
        reason: &'static str,
    },
    /// The session token is not a valid header value.
    #[error("the session token holds characters that cannot be sent in a header")]
    InvalidSessionToken,
    /// A precomputed payload hash is not visible ASCII.
    #[error("payload hash {0:?} is invalid: give 64 hex digits, UNSIGNED-PAYLOAD or another visible-ASCII token")]
    InvalidPayloadHash(String),
    /// The signing time is before 1970 or after 9999.
    #[error("signing time is out of range (1970 to 9999)")]
    TimeOutOfRange,
    /// The presigned URL could not be built (the result is not a valid URI).
    #[error("could not build the presigned URI: {0}")]
    InvalidUri(String),
}

pub(crate) fn shorten(value: &str) -> String {
    let mut s: String = value.chars().take(40).collect();
    if value.chars().count() > 40 {
        s.push('…');
    }
    s
}
