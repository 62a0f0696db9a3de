//! Every knob of a signing, in one struct.

use std::sync::Arc;
use std::time::Duration;

use http::header::{self, HeaderName};

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

    pub(crate) fn checked_expiry(&self) -> Result<Option<u64>, SigningError> {
        match self.location {
            SignatureLocation::Headers => Ok(None),
            SignatureLocation::Query { expires_in } => {
                if expires_in.subsec_nanos() != 0
                    || expires_in < MIN_EXPIRES
                    || expires_in > MAX_EXPIRES
                {
                    Err(SigningError::ExpiresOutOfRange { expires_in })
                } else {
                    Ok(Some(expires_in.as_secs()))
                }
            }
        }
    }
}
