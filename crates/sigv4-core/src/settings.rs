//! Every knob of a signing, in one struct.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::header::{self, HeaderName};

use crate::credentials::Credentials;
use crate::error::SigningError;

/// Shortest presigned-URL lifetime AWS accepts.
pub const MIN_EXPIRES: Duration = Duration::from_secs(1);
/// Longest presigned-URL lifetime AWS accepts (7 days).
pub const MAX_EXPIRES: Duration = Duration::from_secs(7 * 24 * 3600);

/// Where the signature goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SignatureLocation {
    /// An `Authorization` header plus `X-Amz-Date` (and `X-Amz-Security-Token`).
    #[default]
    Headers,
    /// A presigned URL: the signature and its parameters in the query string, valid for
    /// `expires_in` (1 s to 7 days).
    Query {
        /// How long the URL stays valid (`X-Amz-Expires`).
        expires_in: Duration,
    },
}

/// Whether the session token is part of what is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SessionTokenMode {
    /// The token is added before signing and signed (what AWS services expect).
    #[default]
    Signed,
    /// The token is added after signing and not signed (a few services want this).
    AddedAfterSigning,
}

/// Whether `x-amz-content-sha256` is added (and signed) in header signing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ContentSha256Header {
    /// Added only when the payload is `UNSIGNED-PAYLOAD` (so the server can tell).
    #[default]
    WhenUnsigned,
    /// Always added (S3).
    Always,
    /// Never added.
    Never,
}

/// The headers left out of the signature.
///
/// The default leaves out `authorization, user-agent, x-amzn-trace-id, expect, transfer-encoding,
/// connection, keep-alive, proxy-authenticate, proxy-authorization, te, trailer, upgrade,
/// traceparent, tracestate, baggage`: proxies and tracing layers rewrite these after signing.
#[derive(Debug, Clone, Default)]
pub struct ExcludedHeaders(Option<Arc<[HeaderName]>>);

/// The default excluded headers (see [`ExcludedHeaders`]).
pub static DEFAULT_EXCLUDED_HEADERS: [HeaderName; 15] = [
    header::AUTHORIZATION,
    header::USER_AGENT,
    HeaderName::from_static("x-amzn-trace-id"),
    header::EXPECT,
    header::TRANSFER_ENCODING,
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::UPGRADE,
    HeaderName::from_static("traceparent"),
    HeaderName::from_static("tracestate"),
    HeaderName::from_static("baggage"),
];

impl ExcludedHeaders {
    /// Exactly these headers are left out (`authorization` is always left out as well, since the
    /// signature goes there).
    pub fn new(names: impl IntoIterator<Item = HeaderName>) -> Self {
        let mut list: Vec<HeaderName> = names.into_iter().collect();
        if !list.contains(&header::AUTHORIZATION) {
            list.push(header::AUTHORIZATION);
        }
        Self(Some(list.into()))
    }

    /// The default set plus these.
    pub fn default_with(extra: impl IntoIterator<Item = HeaderName>) -> Self {
        Self::new(DEFAULT_EXCLUDED_HEADERS.iter().cloned().chain(extra))
    }

    /// The names in the set.
    pub fn as_slice(&self) -> &[HeaderName] {
        match &self.0 {
            Some(list) => list,
            None => &DEFAULT_EXCLUDED_HEADERS,
        }
    }

    /// True when `name` is left out.
    pub fn contains(&self, name: &HeaderName) -> bool {
        match &self.0 {
            // One string match (length, then bytes) instead of fifteen comparisons.
            None => matches!(
                name.as_str(),
                "authorization"
                    | "user-agent"
                    | "x-amzn-trace-id"
                    | "expect"
                    | "transfer-encoding"
                    | "connection"
                    | "keep-alive"
                    | "proxy-authenticate"
                    | "proxy-authorization"
                    | "te"
                    | "trailer"
                    | "upgrade"
                    | "traceparent"
                    | "tracestate"
                    | "baggage"
            ),
            Some(list) => list.iter().any(|n| n == name),
        }
    }
}

/// Every setting of a signing. `Default` is right for API Gateway and most services; use
/// [`SigningSettings::s3`] for S3.
///
/// ```
/// use sigv4_core::{SigningSettings, SignatureLocation};
/// use std::time::Duration;
///
/// let mut settings = SigningSettings::s3();
/// settings.location = SignatureLocation::Query { expires_in: Duration::from_secs(900) };
/// assert!(!settings.normalize_path);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SigningSettings {
    /// Remove dot segments and collapse `//` in the path (RFC 3986). On for every service but S3.
    pub normalize_path: bool,
    /// Percent-encode the (already encoded) path once more. On for every service but S3.
    pub double_encode: bool,
    /// Whether the session token is signed.
    pub session_token_mode: SessionTokenMode,
    /// Whether `x-amz-content-sha256` is added in header signing.
    pub content_sha256_header: ContentSha256Header,
    /// Headers left out of the signature.
    pub excluded_headers: ExcludedHeaders,
    /// Headers or presigned query.
    pub location: SignatureLocation,
    /// A presigned URL signs `UNSIGNED-PAYLOAD` whatever body is given (S3's rule: the body
    /// is not known when the URL is made); a [`Payload::Precomputed`](crate::Payload) hash is
    /// still signed as given. On in [`SigningSettings::s3`]; no effect on header signing.
    pub presigned_payload_unsigned: bool,
    /// What a presigned URL does when it would outlive the credentials that sign it (a URL
    /// signed with temporary credentials stops working when they expire, whatever its
    /// `X-Amz-Expires` says). Default: [`ExpiryPastCredentials::Refuse`]. Credentials without an
    /// expiry (long-term keys) are never limited.
    pub expiry_past_credentials: ExpiryPastCredentials,
}

/// What presigning does when the URL's expiry reaches past the credentials' own expiry.
///
/// ```
/// use sigv4_core::{Credentials, ExpiryPastCredentials, Payload, Signer, SigningError,
///                  SigningParams, SigningSettings};
/// use std::time::{Duration, UNIX_EPOCH};
///
/// let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// // Temporary credentials with ten minutes left.
/// let creds = Credentials::builder("ASIAEXAMPLE", "secret")
///     .session_token("token")
///     .expiry(now + Duration::from_secs(600))
///     .build();
/// let mut settings = SigningSettings::presigned(Duration::from_secs(3600));
/// let params = SigningParams::new(&creds, "eu-west-1", "s3", now).with_settings(&settings);
/// let mut get = http::Request::get("https://bucket.s3.eu-west-1.amazonaws.com/a").body(()).unwrap();
/// let err = Signer::new().sign_request(&mut get, Payload::Unsigned, &params).unwrap_err();
/// assert!(matches!(err, SigningError::ExpiresAfterCredentials { .. }));
///
/// // Capped instead: the URL lives as long as the credentials do.
/// settings.expiry_past_credentials = ExpiryPastCredentials::Cap;
/// let params = SigningParams::new(&creds, "eu-west-1", "s3", now).with_settings(&settings);
/// Signer::new().sign_request(&mut get, Payload::Unsigned, &params).unwrap();
/// assert!(get.uri().query().unwrap().contains("X-Amz-Expires=600&"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ExpiryPastCredentials {
    /// A typed error, [`SigningError::ExpiresAfterCredentials`]: ask for a shorter expiry, or
    /// sign with credentials that live longer.
    #[default]
    Refuse,
    /// Shorten the URL's expiry to the whole seconds the credentials have left (an error when
    /// less than one second is left).
    Cap,
}

impl Default for SigningSettings {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl SigningSettings {
    /// The default settings as a constant.
    pub const DEFAULT: SigningSettings = SigningSettings {
        normalize_path: true,
        double_encode: true,
        session_token_mode: SessionTokenMode::Signed,
        content_sha256_header: ContentSha256Header::WhenUnsigned,
        excluded_headers: ExcludedHeaders(None),
        location: SignatureLocation::Headers,
        presigned_payload_unsigned: false,
        expiry_past_credentials: ExpiryPastCredentials::Refuse,
    };

    /// S3's rules: the path as given (no normalization, single encoding),
    /// `x-amz-content-sha256` always signed, and `UNSIGNED-PAYLOAD` in presigned URLs.
    pub fn s3() -> Self {
        Self {
            normalize_path: false,
            double_encode: false,
            content_sha256_header: ContentSha256Header::Always,
            presigned_payload_unsigned: true,
            ..Self::DEFAULT
        }
    }

    /// Presigned-URL settings valid for `expires_in` (checked when signing: 1 s to 7 days).
    pub fn presigned(expires_in: Duration) -> Self {
        Self {
            location: SignatureLocation::Query { expires_in },
            ..Self::DEFAULT
        }
    }

    /// The presigned expiry in whole seconds (`None` for header signing): in range, and not
    /// past the expiry of `credentials` signing at `time` (refused or capped, by
    /// [`expiry_past_credentials`](Self::expiry_past_credentials)).
    pub(crate) fn checked_expiry(
        &self,
        credentials: &Credentials,
        time: SystemTime,
    ) -> Result<Option<u64>, SigningError> {
        let SignatureLocation::Query { expires_in } = self.location else {
            return Ok(None);
        };
        if expires_in.subsec_nanos() != 0 || expires_in < MIN_EXPIRES || expires_in > MAX_EXPIRES {
            return Err(SigningError::ExpiresOutOfRange { expires_in });
        }
        let asked = expires_in.as_secs();
        let Some(expiry) = credentials.expiry() else {
            return Ok(Some(asked));
        };
        // Whole seconds left (0 when the credentials are already past their expiry).
        let left = expiry.duration_since(time).map_or(0, |d| d.as_secs());
        if asked <= left {
            return Ok(Some(asked));
        }
        match self.expiry_past_credentials {
            ExpiryPastCredentials::Cap if left >= 1 => Ok(Some(left)),
            _ => Err(SigningError::ExpiresAfterCredentials {
                expires_in,
                credentials_left: Duration::from_secs(left),
            }),
        }
    }
}

#[cfg(test)]
mod expiry_tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn creds_expiring(expiry: Option<SystemTime>) -> Credentials {
        Credentials::builder("ASIA", "secret")
            .expiry_opt(expiry)
            .build()
    }

    #[test]
    fn presigned_urls_do_not_outlive_their_credentials() {
        let now = at(1_700_000_000);
        let ten_minutes = creds_expiring(Some(now + Duration::from_secs(600)));
        let refuse = SigningSettings::presigned(Duration::from_secs(3600));
        let mut cap = refuse.clone();
        cap.expiry_past_credentials = ExpiryPastCredentials::Cap;

        // Long-term keys: never limited, up to 7 days.
        let week = SigningSettings::presigned(MAX_EXPIRES);
        assert_eq!(
            week.checked_expiry(&creds_expiring(None), now),
            Ok(Some(604_800))
        );
        // Within the credentials' life: as asked, both ways; exactly at the edge too.
        let edge = SigningSettings::presigned(Duration::from_secs(600));
        assert_eq!(edge.checked_expiry(&ten_minutes, now), Ok(Some(600)));
        // Past it: refused with what is left, or capped to it.
        assert_eq!(
            refuse.checked_expiry(&ten_minutes, now),
            Err(SigningError::ExpiresAfterCredentials {
                expires_in: Duration::from_secs(3600),
                credentials_left: Duration::from_secs(600),
            })
        );
        assert_eq!(cap.checked_expiry(&ten_minutes, now), Ok(Some(600)));
        // Fractions of a second left are not a second: 599.5 s caps to 599.
        let fraction = creds_expiring(Some(now + Duration::from_millis(599_500)));
        assert_eq!(cap.checked_expiry(&fraction, now), Ok(Some(599)));
        // Less than a second left, or already expired: an error even when capping.
        for expiry in [now + Duration::from_millis(400), now, at(1)] {
            let c = creds_expiring(Some(expiry));
            assert!(matches!(
                cap.checked_expiry(&c, now),
                Err(SigningError::ExpiresAfterCredentials { credentials_left, .. })
                    if credentials_left == Duration::ZERO
            ));
        }
        // Header signing is not limited here.
        assert_eq!(
            SigningSettings::default().checked_expiry(&creds_expiring(Some(at(1))), now),
            Ok(None)
        );
        // The range check still comes first.
        let zero = SigningSettings::presigned(Duration::ZERO);
        assert!(matches!(
            zero.checked_expiry(&ten_minutes, now),
            Err(SigningError::ExpiresOutOfRange { .. })
        ));
    }
}

#[cfg(test)]
mod excluded_tests {
    use super::*;

    /// The default set's string match says yes to exactly the names of
    /// `DEFAULT_EXCLUDED_HEADERS`, the list a custom set starts from: every one of them, and
    /// none of the other standard headers, of the names the signer adds, or of names that
    /// share a listed name's length, first and last byte.
    #[test]
    fn the_default_set_is_the_default_list() {
        let default = ExcludedHeaders::default();
        let listed = ExcludedHeaders::new(DEFAULT_EXCLUDED_HEADERS.iter().cloned());
        for name in &DEFAULT_EXCLUDED_HEADERS {
            assert!(default.contains(name), "{name}");
            // The same length, first and last byte, another byte in between.
            let text = name.as_str();
            if text.len() > 2 {
                let mut near = text.as_bytes().to_vec();
                near[1] = if near[1] == b'z' { b'y' } else { b'z' };
                let near = HeaderName::from_bytes(&near).unwrap();
                assert!(!default.contains(&near), "{near}");
                assert!(!listed.contains(&near), "{near}");
            }
        }
        let others = [
            "host",
            "accept",
            "content-type",
            "content-length",
            "content-md5",
            "date",
            "x-amz-date",
            "x-amz-security-token",
            "x-amz-content-sha256",
            "x-amz-target",
            "x-amzn-trace-ie",
            "cache-control",
            "range",
            "if-match",
            "origin",
            "referer",
            "cookie",
            "t",
            "tt",
            "ta",
            "user-agents",
            "authorizatio",
            "connections",
            "baggages",
            "upgrades",
        ];
        for name in others {
            let name = HeaderName::from_static(name);
            assert_eq!(default.contains(&name), listed.contains(&name), "{name}");
            assert!(!default.contains(&name), "{name}");
        }
    }
}
