//! Verifying a signed request, the way an AWS front end does.
//!
//! Two steps, so the secret can be looked up (maybe asynchronously) in between:
//! [`SignedRequest::parse`] reads the claimed identity and signature from the request head
//! (`Authorization` header or presigned query), then [`Signer::verify`] recomputes the signature
//! with the secret and compares in constant time.
//!
//! The work per request is bounded before anything is hashed: `SignedHeaders` must be sorted,
//! each name once, at most [`MAX_SIGNED_HEADERS`] names, and the listed headers may take at most
//! [`MAX_SIGNED_HEADER_BYTES`] in the canonical request ([`SignedHeadersError`] says which rule
//! a request broke). Time checks use differences only, so no setting (a `max_skew` of
//! `Duration::MAX`) or clock reading can overflow.
//!
//! ```
//! use sigv4_core::{Credentials, Payload, RequestHead, Signer, SigningParams};
//! use sigv4_core::verify::{SignedRequest, VerifyParams, VerifySettings};
//! use std::time::{Duration, UNIX_EPOCH};
//!
//! let signer = Signer::new();
//! let creds = Credentials::new("AKIDEXAMPLE", "secret");
//! let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
//! let mut request = http::Request::post("https://api.example.com/items").body(()).unwrap();
//! signer.sign_request(&mut request, Payload::Bytes(b"{}"),
//!     &SigningParams::new(&creds, "eu-west-1", "execute-api", now)).unwrap();
//!
//! // On the server:
//! let claimed = SignedRequest::parse(request.uri(), request.headers()).unwrap();
//! assert_eq!(claimed.access_key_id(), "AKIDEXAMPLE");
//! let settings = VerifySettings::default();
//! let params = VerifyParams::new(&creds, now, &settings);
//! let head = RequestHead::from(&request);
//! let verified = signer.verify(head, &claimed, Payload::Bytes(b"{}"), &params).unwrap();
//! assert_eq!(verified.region(), "eu-west-1");
//!
//! // A changed body no longer verifies.
//! let err = signer.verify(head, &claimed, Payload::Bytes(b"{\"x\":1}"), &params).unwrap_err();
//! assert_eq!(err.code(), "SignatureDoesNotMatch");
//! ```

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use http::Uri;
use percent_encoding::percent_decode_str;
use subtle::ConstantTimeEq;

use crate::algorithm::{Algorithm, Scope, StringToSign};
use crate::head::RequestHead;

use crate::canonical::{
    byte_order, find_byte, has_host_header, split_ascii, write_listed_headers, write_request_lines,
    ExtraHeader, ListedError, UriHost,
};
use crate::settings::{MAX_EXPIRES, MIN_EXPIRES};
use crate::sign::{
    canonical_hash, payload_hash, with_scratch, Payload, Signer, X_AMZ_DATE, X_AMZ_REGION_SET,
    X_AMZ_SECURITY_TOKEN,
};
use crate::time::AmzDate;
use crate::{Credentials, SigningError, SigningSettings};

/// How a request is checked.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct VerifySettings {
    /// The canonicalization rules the clients use (path normalization, double encoding).
    pub signing: SigningSettings,
    /// How far the request's time may be from the server's (both ways). Default 5 minutes.
    pub max_skew: Duration,
    /// When set, the credential scope must name this region.
    pub region: Option<String>,
    /// When set, the credential scope must name this service.
    pub service: Option<String>,
}

impl Default for VerifySettings {
    fn default() -> Self {
        Self {
            signing: SigningSettings::default(),
            max_skew: Duration::from_secs(300),
            region: None,
            service: None,
        }
    }
}

/// What a verification needs besides the request: the credentials its access key id names, the
/// server's time and the settings.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct VerifyParams<'a> {
    /// The credentials of the access key id the request claims (looked up by the caller):
    /// the secret recomputes the signature, the session token must be the one sent.
    pub credentials: &'a Credentials,
    /// The server's time, for the skew and expiry checks.
    pub now: SystemTime,
    /// How requests are checked.
    pub settings: &'a VerifySettings,
}

impl<'a> VerifyParams<'a> {
    /// Parameters from their three parts.
    pub fn new(
        credentials: &'a Credentials,
        now: SystemTime,
        settings: &'a VerifySettings,
    ) -> Self {
        Self {
            credentials,
            now,
            settings,
        }
    }
}

/// The most header names a request may list in `SignedHeaders` (AWS's clients sign fewer than
/// 20). A longer list is refused while parsing.
pub const MAX_SIGNED_HEADERS: usize = 64;

/// The most bytes the signed headers of a request may take in its canonical request (names,
/// `:`, the values as sent, a separator each), 32 KiB: room for a session token of several KiB
/// beside the usual headers. Checked header by header before the value is copied, so neither
/// the copy nor the hash of the canonical request can be made larger.
pub const MAX_SIGNED_HEADER_BYTES: usize = 32 * 1024;

/// What is wrong with a request's `SignedHeaders` list. Each is refused with
/// `IncompleteSignature` before the secret is looked up (or, for
/// [`SignedHeadersError::TooLarge`], before anything is hashed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignedHeadersError {
    /// The list is empty or holds something that is not a lower-case header name.
    #[error("SignedHeaders must be a ';'-separated list of lower-case header names.")]
    Malformed,
    /// `host` is not in the list.
    #[error("'Host' must be a 'SignedHeader' in the AWS Authorization.")]
    MissingHost,
    /// A name is not after the one before it in byte order (a repeat or a shuffled list); every
    /// signer writes the list sorted, each name once.
    #[error("SignedHeaders must be sorted, each name once: name {position} (from 1) is out of order or repeated.")]
    NotSortedOrRepeated {
        /// The position of the offending name in the list, counting from 1.
        position: usize,
    },
    /// More names than [`MAX_SIGNED_HEADERS`].
    #[error("SignedHeaders lists {count} names, more than the {max} this endpoint accepts.")]
    TooMany {
        /// How many names the list holds.
        count: usize,
        /// The bound, [`MAX_SIGNED_HEADERS`].
        max: usize,
    },
    /// The listed headers take more than [`MAX_SIGNED_HEADER_BYTES`].
    #[error("the signed headers are larger than the {max} bytes this endpoint accepts.")]
    TooLarge {
        /// The bound, [`MAX_SIGNED_HEADER_BYTES`].
        max: usize,
    },
}

/// The bytes a `SignedHeaders` list may hold: visible ASCII but upper-case letters (the names)
/// and `;` (between them).
fn signed_list_byte(b: u8) -> bool {
    b.is_ascii_graphic() && !b.is_ascii_uppercase()
}

/// Checks a `SignedHeaders` list: lower-case names, sorted, each once, at most
/// [`MAX_SIGNED_HEADERS`], `host` among them. Branch-free passes count the names and test
/// every byte (the compiler vectorizes both), then one walk over the names (found eight bytes
/// at a time) checks their order;
/// a name's bytes are tested one by one only when the list holds a bad byte (to report the
/// first broken rule, name by name). Allocates nothing.
fn check_signed_headers(list: &str) -> Result<(), SignedHeadersError> {
    let bytes = list.as_bytes();
    let count = bytes.iter().filter(|&&b| b == b';').count() + 1;
    if count > MAX_SIGNED_HEADERS {
        return Err(SignedHeadersError::TooMany {
            count,
            max: MAX_SIGNED_HEADERS,
        });
    }
    let all_valid = bytes.iter().fold(true, |ok, &b| ok & signed_list_byte(b));
    let mut previous: &[u8] = &[];
    let mut host = false;
    for (i, name) in split_ascii(list, b';').map(str::as_bytes).enumerate() {
        if name.is_empty() || (!all_valid && !name.iter().all(|&b| signed_list_byte(b))) {
            return Err(SignedHeadersError::Malformed);
        }
        if i > 0 && byte_order(previous, name).is_ge() {
            return Err(SignedHeadersError::NotSortedOrRepeated { position: i + 1 });
        }
        host |= name == b"host";
        previous = name;
    }
    if !host {
        return Err(SignedHeadersError::MissingHost);
    }
    Ok(())
}

/// Why a request was refused. [`VerifyError::code`] gives the AWS error code to answer with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// Neither an `Authorization` header nor presigned query parameters.
    #[error("Missing Authentication Token")]
    MissingAuthentication,
    /// The authorization is malformed or incomplete.
    #[error("{0}")]
    Incomplete(Cow<'static, str>),
    /// The access key id is unknown, or the session token does not match it.
    #[error("The security token included in the request is invalid.")]
    InvalidClientTokenId,
    /// The request's time is outside the allowed skew, or a presigned URL has expired.
    #[error("Signature expired: {0}")]
    Expired(Cow<'static, str>),
    /// The credential scope does not fit the request or this endpoint.
    #[error("Credential should be scoped to a valid region and service: {0}")]
    BadScope(Cow<'static, str>),
    /// The recomputed signature differs from the one sent.
    #[error("The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.")]
    SignatureDoesNotMatch,
    /// The request could not be canonicalized (an invalid header value, say).
    #[error("the request cannot be canonicalized: {0}")]
    Canonicalization(SigningError),
    /// The `SignedHeaders` list is malformed, unsorted, repeats a name or is too large.
    #[error("{0}")]
    SignedHeaders(SignedHeadersError),
}

impl VerifyError {
    /// The AWS error code for the response (`SignatureDoesNotMatch`, `IncompleteSignature`, ...).
    pub fn code(&self) -> &'static str {
        match self {
            VerifyError::MissingAuthentication => "MissingAuthenticationToken",
            VerifyError::Incomplete(_) => "IncompleteSignature",
            VerifyError::InvalidClientTokenId => "InvalidClientTokenId",
            VerifyError::Expired(_) => "InvalidSignatureException",
            VerifyError::BadScope(_) => "InvalidSignatureException",
            VerifyError::SignatureDoesNotMatch => "SignatureDoesNotMatch",
            VerifyError::Canonicalization(_) => "IncompleteSignature",
            VerifyError::SignedHeaders(_) => "IncompleteSignature",
        }
    }
}

/// Header auth or presigned query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthLocation {
    /// `Authorization` header.
    Header,
    /// Presigned URL, valid for this many seconds from its date.
    Query {
        /// `X-Amz-Expires`.
        expires_in: u64,
    },
}

/// What a request claims: who signed it, when, for which scope, and the signature.
///
/// Held in one shared buffer (one heap allocation): the access key id, scope date, region (the
/// region set for SigV4a), service, signed headers and signature (lower-cased), one after the
/// other; the [`Verified`] identity of the request shares it. A session token sent in its
/// header is kept as that header's value (shared, not copied); one from a presigned URL, in a
/// string of its own.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedRequest {
    algorithm: Algorithm,
    location: AuthLocation,
    date: AmzDate,
    text: Arc<str>,
    /// Where each part ends in `text` (see `Part`).
    ends: [u32; PARTS],
    token: Option<TokenSource>,
}

/// A session token as parsed, before it is kept in a [`SignedRequest`].
enum ClaimedToken<'a> {
    Text(Cow<'a, str>),
    Header(HeaderValue),
}

/// Where a [`SignedRequest`]'s session token is held.
#[derive(Clone, PartialEq, Eq)]
enum TokenSource {
    /// Decoded from a presigned URL, or made valid UTF-8.
    Text(String),
    /// The `x-amz-security-token` header's value, checked to be UTF-8 when parsed.
    Header(HeaderValue),
}

/// The parts of [`SignedRequest::text`], in order.
#[derive(Clone, Copy)]
enum Part {
    AccessKeyId,
    ScopeDate,
    Region,
    Service,
    SignedHeaders,
    Signature,
}

const PARTS: usize = 6;

impl std::fmt::Debug for SignedRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedRequest")
            .field("algorithm", &self.algorithm)
            .field("location", &self.location)
            .field("access_key_id", &self.access_key_id())
            .field("region", &self.region())
            .field("service", &self.service())
            .field("signed_headers", &self.signed_headers())
            .field("date", &self.date)
            .field(
                "session_token",
                &self.session_token().map(|_| "** redacted **"),
            )
            .finish_non_exhaustive()
    }
}

fn incomplete(msg: &'static str) -> VerifyError {
    VerifyError::Incomplete(Cow::Borrowed(msg))
}

impl SignedRequest {
    /// Reads the claimed signature from the `Authorization` header or the presigned query.
    pub fn parse(uri: &Uri, headers: &HeaderMap) -> Result<Self, VerifyError> {
        if let Some(auth) = headers.get(AUTHORIZATION) {
            return Self::parse_header(auth.as_bytes(), headers);
        }
        if let Some(query) = uri.query() {
            if query_param(query, "X-Amz-Algorithm").is_some()
                || query_param(query, "X-Amz-Signature").is_some()
            {
                return Self::parse_query(query);
            }
        }
        Err(VerifyError::MissingAuthentication)
    }

    fn parse_header(auth: &[u8], headers: &HeaderMap) -> Result<Self, VerifyError> {
        let auth = std::str::from_utf8(auth)
            .map_err(|_| incomplete("Authorization header is not valid text"))?;
        let sigv4 = auth
            .strip_prefix(Algorithm::SigV4.name())
            .and_then(|rest| rest.strip_prefix(' '));
        let (algorithm, rest) = match sigv4 {
            Some(rest) => (Algorithm::SigV4, rest),
            None => auth
                .split_once(' ')
                .and_then(|(name, rest)| Some((Algorithm::from_name(name)?, rest)))
                .ok_or_else(|| {
                    if auth.trim().is_empty() {
                        VerifyError::MissingAuthentication
                    } else {
                        incomplete(UNKNOWN_ALGORITHM_HEADER)
                    }
                })?,
        };
        let (credential, signed, signature) = match sdk_fields(rest) {
            Some(fields) => fields,
            None => {
                let (credential, signed, signature) = any_fields(rest);
                (
                    credential.ok_or_else(|| {
                        incomplete("Authorization header requires 'Credential' parameter.")
                    })?,
                    signed.ok_or_else(|| {
                        incomplete("Authorization header requires 'SignedHeaders' parameter.")
                    })?,
                    signature.ok_or_else(|| {
                        incomplete("Authorization header requires 'Signature' parameter.")
                    })?,
                )
            }
        };
        let date = headers
            .get(&X_AMZ_DATE)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                incomplete("Authorization header requires existence of a 'X-Amz-Date' header.")
            })?;
        let date = AmzDate::parse(date.trim_ascii())
            .map_err(|_| incomplete("X-Amz-Date must be in the form YYYYMMDD'T'HHMMSS'Z'."))?;
        // A token is kept as its header's value when it is UTF-8: tested as ASCII first (about
        // half the instructions of `from_utf8` on a 1 KiB token), then with `from_utf8` for the
        // rare token that is not ASCII; the lossy decoder only for an invalid one.
        let session_token = headers.get(&X_AMZ_SECURITY_TOKEN).map(|v| {
            let bytes = v.as_bytes();
            if bytes.is_ascii() || std::str::from_utf8(bytes).is_ok() {
                ClaimedToken::Header(v.clone())
            } else {
                ClaimedToken::Text(String::from_utf8_lossy(bytes))
            }
        });
        let region_set = if algorithm.uses_region_set() {
            let set = headers
                .get(&X_AMZ_REGION_SET)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| incomplete("SigV4a requires the X-Amz-Region-Set header."))?;
            Some(Cow::Borrowed(set.trim()))
        } else {
            None
        };
        Self::build(
            algorithm,
            AuthLocation::Header,
            credential,
            region_set,
            signed,
            signature,
            date,
            session_token,
        )
    }

    fn parse_query(query: &str) -> Result<Self, VerifyError> {
        let get = |name: &'static str, msg: &'static str| {
            query_param(query, name).ok_or_else(|| incomplete(msg))
        };
        let algorithm = get(
            "X-Amz-Algorithm",
            "Query-string authentication requires the X-Amz-Algorithm parameter.",
        )?;
        let algorithm =
            Algorithm::from_name(&algorithm).ok_or_else(|| incomplete(UNKNOWN_ALGORITHM_QUERY))?;
        let credential = get(
            "X-Amz-Credential",
            "Query-string authentication requires the X-Amz-Credential parameter.",
        )?;
        let date = get(
            "X-Amz-Date",
            "Query-string authentication requires the X-Amz-Date parameter.",
        )?;
        let expires = get(
            "X-Amz-Expires",
            "Query-string authentication requires the X-Amz-Expires parameter.",
        )?;
        let signed = get(
            "X-Amz-SignedHeaders",
            "Query-string authentication requires the X-Amz-SignedHeaders parameter.",
        )?;
        let signature = get(
            "X-Amz-Signature",
            "Query-string authentication requires the X-Amz-Signature parameter.",
        )?;
        let expires_in: u64 = expires
            .parse()
            .ok()
            .filter(|e| (MIN_EXPIRES.as_secs()..=MAX_EXPIRES.as_secs()).contains(e))
            .ok_or_else(|| {
                incomplete("X-Amz-Expires must be a number of seconds from 1 to 604800.")
            })?;
        let date = AmzDate::parse(&date)
            .map_err(|_| incomplete("X-Amz-Date must be in the form YYYYMMDD'T'HHMMSS'Z'."))?;
        let session_token = query_param(query, "X-Amz-Security-Token").map(ClaimedToken::Text);
        let region_set = if algorithm.uses_region_set() {
            Some(get(
                "X-Amz-Region-Set",
                "SigV4a query-string authentication requires the X-Amz-Region-Set parameter.",
            )?)
        } else {
            None
        };
        Self::build(
            algorithm,
            AuthLocation::Query { expires_in },
            &credential,
            region_set,
            &signed,
            &signature,
            date,
            session_token,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn build(
        algorithm: Algorithm,
        location: AuthLocation,
        credential: &str,
        region_set: Option<Cow<'_, str>>,
        signed: &str,
        signature: &str,
        date: AmzDate,
        session_token: Option<ClaimedToken<'_>>,
    ) -> Result<Self, VerifyError> {
        let mut parts = split_ascii(credential, b'/');
        let akid = parts.next().unwrap_or("");
        let scope_date = parts.next().unwrap_or("");
        // SigV4a's scope has no region: the region set is sent on its own.
        let region = match &region_set {
            Some(set) => set.as_ref(),
            None => parts.next().unwrap_or(""),
        };
        let (service, terminator) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        if parts.next().is_some()
            || akid.is_empty()
            || scope_date.is_empty()
            || region.is_empty()
            || service.is_empty()
            || terminator != "aws4_request"
        {
            return Err(incomplete(if algorithm.uses_region_set() {
                "Credential must have the form <access key id>/<date>/<service>/aws4_request."
            } else {
                "Credential must have the form <access key id>/<date>/<region>/<service>/aws4_request."
            }));
        }
        check_signed_headers(signed).map_err(VerifyError::SignedHeaders)?;
        if !signature_text_ok(algorithm, signature) {
            return Err(incomplete(if algorithm.uses_region_set() {
                "Signature must be a DER-encoded ECDSA signature in hexadecimal."
            } else {
                "Signature must be 64 hexadecimal digits."
            }));
        }
        let parts: [&str; PARTS] = [akid, scope_date, region, service, signed, signature];
        let total: usize = parts.iter().map(|p| p.len()).sum();
        if total > u32::MAX as usize {
            return Err(incomplete("The authorization data is too long."));
        }
        // Written on the stack (a longer claim in a `Vec`), the signature lower-cased there,
        // then copied once into the shared buffer.
        let mut stack = [0u8; 256];
        let mut heap = Vec::new();
        let buffer = match stack.get_mut(..total) {
            Some(buffer) => buffer,
            None => {
                heap.resize(total, 0);
                &mut heap[..]
            }
        };
        let mut ends = [0u32; PARTS];
        let mut at = 0;
        for (end, part) in ends.iter_mut().zip(parts) {
            buffer[at..at + part.len()].copy_from_slice(part.as_bytes());
            at += part.len();
            *end = at as u32;
        }
        let sig = Part::Signature as usize;
        buffer[ends[sig - 1] as usize..].make_ascii_lowercase();
        // Whole `str`s one after the other, and ASCII lower-cased: always UTF-8.
        let text = Arc::from(std::str::from_utf8(buffer).unwrap_or_default());
        Ok(SignedRequest {
            algorithm,
            location,
            date,
            text,
            ends,
            token: session_token.map(|token| match token {
                ClaimedToken::Header(value) => TokenSource::Header(value),
                ClaimedToken::Text(text) => TokenSource::Text(text.into_owned()),
            }),
        })
    }

    fn part(&self, part: Part) -> &str {
        let i = part as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        self.text.get(start..self.ends[i] as usize).unwrap_or("")
    }

    /// The access key id the request claims.
    pub fn access_key_id(&self) -> &str {
        self.part(Part::AccessKeyId)
    }

    /// The session token sent with the request, if any.
    pub fn session_token(&self) -> Option<&str> {
        // Text, or a header value checked to be UTF-8 when parsed.
        self.session_token_bytes()
            .map(|bytes| std::str::from_utf8(bytes).unwrap_or(""))
    }

    /// The session token's bytes (what [`SignedRequest::session_token`] gives, unchecked).
    fn session_token_bytes(&self) -> Option<&[u8]> {
        match self.token.as_ref()? {
            TokenSource::Text(text) => Some(text.as_bytes()),
            TokenSource::Header(value) => Some(value.as_bytes()),
        }
    }

    fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// The algorithm the request was signed with.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The region of the credential scope; for SigV4a, the region set (`X-Amz-Region-Set`).
    pub fn region(&self) -> &str {
        self.part(Part::Region)
    }

    /// The service of the credential scope.
    pub fn service(&self) -> &str {
        self.part(Part::Service)
    }

    /// The date of the credential scope, `YYYYMMDD` as sent.
    pub fn scope_date(&self) -> &str {
        self.part(Part::ScopeDate)
    }

    /// The signing time the request claims.
    pub fn date(&self) -> AmzDate {
        self.date
    }

    /// The signed headers, `;`-separated.
    pub fn signed_headers(&self) -> &str {
        self.part(Part::SignedHeaders)
    }

    /// The signature sent (hex, lower-cased: 64 digits for SigV4, a DER-encoded ECDSA
    /// signature for SigV4a).
    pub fn signature(&self) -> &str {
        self.part(Part::Signature)
    }

    /// Header auth or presigned query.
    pub fn location(&self) -> AuthLocation {
        self.location
    }

    /// True for a presigned URL.
    pub fn is_presigned(&self) -> bool {
        matches!(self.location, AuthLocation::Query { .. })
    }
}

/// The credential, signed headers and signature of an `Authorization` value (after the
/// algorithm) written exactly as every SDK writes it, `Credential=C, SignedHeaders=S,
/// Signature=G`, with no field ending in white space: then they are what [`any_fields`] reads,
/// found with three byte searches. `None` for any other form.
fn sdk_fields(rest: &str) -> Option<(&str, &str, &str)> {
    fn split(text: &str) -> Option<(&str, &str)> {
        let at = find_byte(text.as_bytes(), b',')?;
        Some((text.get(..at)?, text.get(at..)?))
    }
    let (credential, rest) = split(rest.strip_prefix("Credential=")?)?;
    let (signed, rest) = split(rest.strip_prefix(", SignedHeaders=")?)?;
    let signature = rest.strip_prefix(", Signature=")?;
    let clean = |field: &str| !field.as_bytes().last().is_some_and(u8::is_ascii_whitespace);
    let one_part = find_byte(signature.as_bytes(), b',').is_none();
    (one_part && clean(credential) && clean(signed) && clean(signature))
        .then_some((credential, signed, signature))
}

/// The credential, signed headers and signature of an `Authorization` value (after the
/// algorithm) in any form AWS accepts: `,`-separated parts in any order, white space around
/// them, the last of a repeated name winning, other parts ignored.
fn any_fields(rest: &str) -> (Option<&str>, Option<&str>, Option<&str>) {
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in split_ascii(rest, b',') {
        let part = part.trim_ascii();
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    (credential, signed, signature)
}

const UNKNOWN_ALGORITHM_HEADER: &str = if cfg!(feature = "sigv4a") {
    "Authorization header must start with AWS4-HMAC-SHA256 or AWS4-ECDSA-P256-SHA256"
} else {
    "Authorization header must start with AWS4-HMAC-SHA256"
};

const UNKNOWN_ALGORITHM_QUERY: &str = if cfg!(feature = "sigv4a") {
    "X-Amz-Algorithm only supports AWS4-HMAC-SHA256 and AWS4-ECDSA-P256-SHA256."
} else {
    "X-Amz-Algorithm only supports AWS4-HMAC-SHA256."
};

/// The signature's text fits the algorithm: 64 hex digits (SigV4), or an even number of hex
/// digits no longer than a DER-encoded P-256 signature (SigV4a; its DER form is checked when
/// verifying).
fn signature_text_ok(algorithm: Algorithm, signature: &str) -> bool {
    let hex = signature
        .bytes()
        .fold(true, |ok, b| ok & b.is_ascii_hexdigit());
    if algorithm.uses_region_set() {
        hex && signature.len() % 2 == 0 && (16..=144).contains(&signature.len())
    } else {
        hex && signature.len() == 64
    }
}

/// A decoded query parameter (first occurrence).
fn query_param<'a>(query: &'a str, name: &str) -> Option<Cow<'a, str>> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode_str(k).decode_utf8().ok()? == name)
            .then(|| percent_decode_str(v).decode_utf8_lossy())
    })
}

/// A request that passed verification: who signed it and for what.
///
/// The access key id, region and service are read from the buffer the parsed
/// [`SignedRequest`] holds, shared: building the identity allocates nothing, and neither does
/// a clone (into request extensions, say). Two identities are equal when their fields are.
#[derive(Clone)]
#[non_exhaustive]
pub struct Verified {
    /// The claim's text (see `Part`): the access key id first.
    text: Arc<str>,
    /// Where the access key id ends and the region and the service start and end in `text`.
    akid_end: u32,
    region_start: u32,
    service_start: u32,
    service_end: u32,
    /// When the request was signed.
    pub signed_at: AmzDate,
    /// True for a presigned URL.
    pub presigned: bool,
    /// True when the request carried a (matching) session token.
    pub session_token: bool,
}

impl Verified {
    /// The identity of a verified claim.
    fn of(claimed: &SignedRequest) -> Self {
        let end = |part: Part| claimed.ends[part as usize];
        Verified {
            text: Arc::clone(&claimed.text),
            akid_end: end(Part::AccessKeyId),
            region_start: end(Part::ScopeDate),
            service_start: end(Part::Region),
            service_end: end(Part::Service),
            signed_at: claimed.date,
            presigned: claimed.is_presigned(),
            session_token: claimed.has_token(),
        }
    }

    /// The signer's access key id.
    pub fn access_key_id(&self) -> &str {
        self.text.get(..self.akid_end as usize).unwrap_or("")
    }

    /// The region of the credential scope (for SigV4a, the region set).
    pub fn region(&self) -> &str {
        let range = self.region_start as usize..self.service_start as usize;
        self.text.get(range).unwrap_or("")
    }

    /// The service of the credential scope.
    pub fn service(&self) -> &str {
        let range = self.service_start as usize..self.service_end as usize;
        self.text.get(range).unwrap_or("")
    }
}

impl PartialEq for Verified {
    fn eq(&self, other: &Self) -> bool {
        self.access_key_id() == other.access_key_id()
            && self.region() == other.region()
            && self.service() == other.service()
            && self.signed_at == other.signed_at
            && self.presigned == other.presigned
            && self.session_token == other.session_token
    }
}

impl Eq for Verified {}

impl std::fmt::Debug for Verified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verified")
            .field("access_key_id", &self.access_key_id())
            .field("region", &self.region())
            .field("service", &self.service())
            .field("signed_at", &self.signed_at)
            .field("presigned", &self.presigned)
            .field("session_token", &self.session_token)
            .finish()
    }
}

impl Signer {
    /// Recomputes the signature of a parsed request with `credentials` (the secret looked up for
    /// its access key id) and compares in constant time. `payload` is what the server takes as
    /// the payload hash: the body's bytes, or the request's `x-amz-content-sha256` when the
    /// service trusts it (after checking the body against it).
    ///
    /// Runs [`Signer::verify_signature`], then builds the [`Verified`] identity (which shares
    /// the claim's buffer: no allocation).
    pub fn verify(
        &self,
        head: RequestHead<'_>,
        claimed: &SignedRequest,
        payload: Payload<'_>,
        params: &VerifyParams<'_>,
    ) -> Result<Verified, VerifyError> {
        self.verify_signature(head, claimed, payload, params)?;
        Ok(Verified::of(claimed))
    }

    /// Every check of [`Signer::verify`] (identity, session token, time, scope, signature),
    /// without building the [`Verified`] identity: once the signing key is cached, it makes no
    /// heap allocation (the canonical request is written into a per-thread buffer).
    pub fn verify_signature(
        &self,
        head: RequestHead<'_>,
        claimed: &SignedRequest,
        payload: Payload<'_>,
        params: &VerifyParams<'_>,
    ) -> Result<(), VerifyError> {
        let RequestHead {
            method,
            uri,
            headers,
        } = head;
        let (credentials, settings) = (params.credentials, params.settings);
        if credentials.access_key_id() != claimed.access_key_id() {
            return Err(VerifyError::InvalidClientTokenId);
        }
        let token_ok = match (credentials.session_token(), claimed.session_token_bytes()) {
            (None, None) => true,
            (Some(want), Some(got)) => constant_time_eq(want.as_bytes(), got),
            _ => false,
        };
        if !token_ok {
            return Err(VerifyError::InvalidClientTokenId);
        }
        check_time(claimed, params.now, settings.max_skew)?;
        check_scope(claimed, settings)?;

        let payload = payload.for_location(claimed.is_presigned(), &settings.signing);
        let hash = payload_hash(&payload).map_err(VerifyError::Canonicalization)?;
        let host = if has_host_header(headers) {
            None
        } else {
            Some(UriHost::from_uri(uri).map_err(VerifyError::Canonicalization)?)
        };
        let extras = [ExtraHeader::new(
            "host",
            host.as_ref().map_or(&[], UriHost::as_bytes),
            true,
        )];
        let extras: &[ExtraHeader<'_>] = if host.is_some() { &extras } else { &[] };
        // The session token the request sent, checked above to be the credentials' own: when
        // that is already canonical, its header value is copied rather than scanned. The bytes
        // given are the request's own (the header value the claim keeps), so the writer finds
        // them by address without comparing them again.
        let known_token = claimed
            .session_token_bytes()
            .filter(|_| credentials.session_token_is_canonical())
            .map(|t| ("x-amz-security-token", t));
        let algorithm = claimed.algorithm;
        let scope = Scope {
            date: claimed.scope_date(),
            region: claimed.region(),
            service: claimed.service(),
        };
        let expected = claimed.signature().as_bytes();
        let matches = |buf: &mut Vec<u8>, skip: &[&str]| -> Result<bool, VerifyError> {
            buf.clear();
            write_request_lines(buf, method, uri, &settings.signing, &[], skip);
            let mut hole = None;
            write_listed_headers(
                buf,
                headers,
                extras,
                known_token,
                claimed.signed_headers(),
                MAX_SIGNED_HEADER_BYTES,
                &mut hole,
            )
            .map_err(|e| match e {
                ListedError::Value(e) => VerifyError::Canonicalization(e),
                ListedError::TooLarge => VerifyError::SignedHeaders(SignedHeadersError::TooLarge {
                    max: MAX_SIGNED_HEADER_BYTES,
                }),
            })?;
            buf.extend_from_slice(hash.as_bytes());
            let canonical_hash = canonical_hash(buf, hole);
            let string_to_sign = StringToSign {
                date: &claimed.date,
                canonical_hash: &canonical_hash,
            };
            Ok(self.keys().check(
                algorithm,
                credentials,
                &scope,
                string_to_sign,
                buf,
                expected,
            ))
        };
        let ok = with_scratch(|buf| {
            if claimed.is_presigned() {
                // A presigned URL's token is usually signed, but some clients add it after
                // signing (SessionTokenMode::AddedAfterSigning): accept both forms.
                Ok(matches(buf, &["X-Amz-Signature"])?
                    || (claimed.has_token()
                        && matches(buf, &["X-Amz-Signature", "X-Amz-Security-Token"])?))
            } else {
                matches(buf, &[])
            }
        })?;
        if !ok {
            return Err(VerifyError::SignatureDoesNotMatch);
        }
        Ok(())
    }
}

/// Compares two byte strings in time that depends only on their lengths: the differences of
/// every byte pair folded together, one comparison at the end.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    // An OR of the XORs of every byte pair: no branch on the data, and the compiler does it 32
    // bytes at a time.
    let diff = a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y));
    bool::from(diff.ct_eq(&0))
}

/// The credential scope must name the request's date, and this endpoint's region and service
/// when it has them.
fn check_scope(claimed: &SignedRequest, settings: &VerifySettings) -> Result<(), VerifyError> {
    if claimed.scope_date() != claimed.date.date() {
        return Err(VerifyError::BadScope(Cow::Owned(format!(
            "the credential date {} does not match the request date {}",
            crate::error::shorten(claimed.scope_date()),
            claimed.date.date()
        ))));
    }
    if let Some(region) = &settings.region {
        // A SigV4a region set covers this endpoint's region when it lists it or is `*`.
        let covered = if claimed.algorithm.uses_region_set() {
            claimed
                .region()
                .split(',')
                .any(|r| r.trim() == "*" || r.trim() == region)
        } else {
            region == claimed.region()
        };
        if !covered {
            return Err(VerifyError::BadScope(Cow::Owned(format!(
                "expected region {region}, got {}",
                crate::error::shorten(claimed.region())
            ))));
        }
    }
    if let Some(service) = &settings.service {
        if service != claimed.service() {
            return Err(VerifyError::BadScope(Cow::Owned(format!(
                "expected service {service}, got {}",
                crate::error::shorten(claimed.service())
            ))));
        }
    }
    Ok(())
}

fn check_time(
    claimed: &SignedRequest,
    now: SystemTime,
    max_skew: Duration,
) -> Result<(), VerifyError> {
    let signed = claimed.date.to_system_time();
    match claimed.location {
        AuthLocation::Header => {
            let off = match now.duration_since(signed) {
                Ok(d) => d,
                Err(e) => e.duration(),
            };
            if off > max_skew {
                return Err(VerifyError::Expired(Cow::Owned(format!(
                    "the request was signed at {} and the server time is {}, more than {} s apart",
                    claimed.date,
                    now.duration_since(SystemTime::UNIX_EPOCH)
                        .map(|d| AmzDate::from_unix_seconds(d.as_secs()).to_string())
                        .unwrap_or_default(),
                    max_skew.as_secs()
                ))));
            }
        }
        AuthLocation::Query { expires_in } => {
            // Differences, never sums: `max_skew` is a setting that may be near `Duration::MAX`
            // and `now` comes from a clock, so `now + max_skew` could overflow.
            if signed
                .duration_since(now)
                .is_ok_and(|ahead| ahead > max_skew)
            {
                return Err(VerifyError::Expired(Cow::Borrowed(
                    "the presigned URL is dated in the future",
                )));
            }
            if now
                .duration_since(signed)
                .is_ok_and(|age| age > Duration::from_secs(expires_in))
            {
                return Err(VerifyError::Expired(Cow::Owned(format!(
                    "the presigned URL expired at {}",
                    AmzDate::from_unix_seconds(
                        claimed.date.unix_seconds().saturating_add(expires_in)
                    )
                ))));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SigningParams;
    use std::time::UNIX_EPOCH;

    /// The `SignedHeaders` rules as written: names split with `str::split`, each checked on its
    /// own, in the order a reader applies them.
    fn signed_headers_reference(list: &str) -> Result<(), SignedHeadersError> {
        let names: Vec<&str> = list.split(';').collect();
        if names.len() > MAX_SIGNED_HEADERS {
            return Err(SignedHeadersError::TooMany {
                count: names.len(),
                max: MAX_SIGNED_HEADERS,
            });
        }
        for (i, name) in names.iter().enumerate() {
            let lower_visible = |c: char| c.is_ascii_graphic() && !c.is_ascii_uppercase();
            if name.is_empty() || !name.chars().all(lower_visible) {
                return Err(SignedHeadersError::Malformed);
            }
            if i > 0 && names[i - 1] >= *name {
                return Err(SignedHeadersError::NotSortedOrRepeated { position: i + 1 });
            }
        }
        if !names.contains(&"host") {
            return Err(SignedHeadersError::MissingHost);
        }
        Ok(())
    }

    #[test]
    fn signed_headers_check_follows_the_rules_as_written() {
        let mut rng = fastrand::Rng::with_seed(7);
        let pieces = [
            "host",
            "x-amz-date",
            "a",
            "b",
            "content-type",
            "content-md5",
            "x-amz-security-token",
            "x-amz-date-x",
            "Host",
            "",
            "x y",
            "é",
            "x\tz",
            "zz",
            ";",
        ];
        let mut outcomes = std::collections::BTreeSet::new();
        for round in 0..20_000 {
            let n = if round % 500 == 0 {
                70
            } else {
                rng.usize(1..6)
            };
            let mut names: Vec<&str> = (0..n).map(|_| pieces[rng.usize(..pieces.len())]).collect();
            if rng.bool() {
                names.sort_unstable();
            }
            let list = names.join(";");
            let want = signed_headers_reference(&list);
            assert_eq!(check_signed_headers(&list), want, "{list:?}");
            outcomes.insert(format!("{want:?}").chars().take(12).collect::<String>());
        }
        // Every outcome was reached: accepted, and each kind of refusal.
        assert_eq!(outcomes.len(), 5, "{outcomes:?}");
    }

    #[test]
    fn sdk_form_reads_as_any_form_does() {
        let mut rng = fastrand::Rng::with_seed(4);
        let pieces = [
            "Credential=",
            "SignedHeaders=",
            "Signature=",
            ", ",
            ",",
            " ",
            "\t",
            "AKID/d/r/s/aws4_request",
            "host;x-amz-date",
            "0123abcd",
            "Other=1",
            "=",
            "\n",
        ];
        let mut fast = 0;
        for round in 0..50_000 {
            let rest = if round % 2 == 0 {
                // The SDK form, with a piece inserted somewhere now and then.
                let mut parts = vec![
                    "Credential=",
                    pieces[7],
                    ", SignedHeaders=",
                    pieces[8],
                    ", Signature=",
                    pieces[9],
                ];
                if rng.bool() {
                    let at = rng.usize(..=parts.len());
                    parts.insert(at, pieces[rng.usize(..pieces.len())]);
                }
                parts.concat()
            } else {
                (0..rng.usize(1..10))
                    .map(|_| pieces[rng.usize(..pieces.len())])
                    .collect()
            };
            if let Some((credential, signed, signature)) = sdk_fields(&rest) {
                fast += 1;
                let want = any_fields(&rest);
                assert_eq!(
                    (Some(credential), Some(signed), Some(signature)),
                    want,
                    "{rest:?}"
                );
            }
        }
        // The SDK form itself, and most of its variants, take the fast reading.
        assert!(fast > 15_000, "{fast}");
    }

    #[test]
    fn constant_time_eq_finds_every_difference() {
        let a: Vec<u8> = (0..100u8).collect();
        assert!(constant_time_eq(&a, &a.clone()));
        assert!(constant_time_eq(b"", b""));
        assert!(!constant_time_eq(&a, &a[..99]));
        for i in 0..a.len() {
            for bit in 0..8 {
                let mut b = a.clone();
                b[i] ^= 1 << bit;
                assert!(!constant_time_eq(&a, &b), "byte {i} bit {bit}");
            }
        }
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn signed(
        settings: &SigningSettings,
        time: SystemTime,
        creds: &Credentials,
    ) -> http::Request<()> {
        let mut req = http::Request::get("https://h.example.com/a/b?x=1&y=%2B")
            .header("x-custom", "  v  ")
            .body(())
            .unwrap();
        Signer::new()
            .sign_request(
                &mut req,
                Payload::Bytes(b""),
                &SigningParams::new(creds, "us-east-1", "svc", time).with_settings(settings),
            )
            .unwrap();
        req
    }

    fn check(
        req: &http::Request<()>,
        creds: &Credentials,
        now: SystemTime,
    ) -> Result<Verified, VerifyError> {
        let claimed = SignedRequest::parse(req.uri(), req.headers())?;
        let settings = VerifySettings::default();
        Signer::new().verify(
            req.into(),
            &claimed,
            Payload::Bytes(b""),
            &VerifyParams::new(creds, now, &settings),
        )
    }

    #[test]
    fn header_and_query_round_trip() {
        let creds = Credentials::builder("AKID", "SECRET")
            .session_token("TOK")
            .build();
        let t = at(1_700_000_000);
        let req = signed(&SigningSettings::default(), t, &creds);
        assert!(check(&req, &creds, t + Duration::from_secs(299)).is_ok());
        let e = check(&req, &creds, t + Duration::from_secs(301)).unwrap_err();
        assert!(matches!(e, VerifyError::Expired(_)), "{e:?}");

        let req = signed(
            &SigningSettings::presigned(Duration::from_secs(60)),
            t,
            &creds,
        );
        let ok = check(&req, &creds, t + Duration::from_secs(60)).unwrap();
        assert!(ok.presigned && ok.session_token);
        assert!(matches!(
            check(&req, &creds, t + Duration::from_secs(61)).unwrap_err(),
            VerifyError::Expired(_)
        ));
    }

    #[test]
    fn the_identity_names_the_claim_short_or_long() {
        let t = at(1_700_000_000);
        // 12 + 9 + 3 bytes fit the stack buffer; a 300-byte access key id does not.
        for akid in ["AKIDEXAMPLE1".to_owned(), "A".repeat(300)] {
            let creds = Credentials::new(&akid, "SECRET");
            let req = signed(&SigningSettings::default(), t, &creds);
            let verified = check(&req, &creds, t).unwrap();
            assert_eq!(verified.access_key_id(), akid);
            assert_eq!(verified.region(), "us-east-1");
            assert_eq!(verified.service(), "svc");
            assert!(!verified.presigned && !verified.session_token);
            let debug = format!("{verified:?}");
            assert!(
                debug.contains("us-east-1") && debug.contains(&akid[..12]),
                "{debug}"
            );
            // Another request (another query, so another signature) by the same signer at
            // the same time: the identity compares its fields, not the claim it came from.
            let mut other = http::Request::get("https://h.example.com/a/b?x=2")
                .body(())
                .unwrap();
            let params = SigningParams::new(&creds, "us-east-1", "svc", t);
            Signer::new()
                .sign_request(&mut other, Payload::Bytes(b""), &params)
                .unwrap();
            assert_ne!(
                other.headers()["authorization"],
                req.headers()["authorization"]
            );
            assert_eq!(check(&other, &creds, t).unwrap(), verified);
            let later = at(1_700_000_001);
            let again = check(
                &signed(&SigningSettings::default(), later, &creds),
                &creds,
                later,
            );
            assert_ne!(again.unwrap(), verified, "signed at another time");
        }
    }

    #[test]
    fn presigned_token_added_after_signing_is_accepted() {
        let creds = Credentials::builder("AKID", "SECRET")
            .session_token("TOK")
            .build();
        let t = at(1_700_000_000);
        let mut settings = SigningSettings::presigned(Duration::from_secs(60));
        settings.session_token_mode = crate::SessionTokenMode::AddedAfterSigning;
        let req = signed(&settings, t, &creds);
        assert!(req
            .uri()
            .query()
            .unwrap()
            .contains("X-Amz-Security-Token=TOK"));
        assert!(check(&req, &creds, t).is_ok());
    }

    #[test]
    fn wrong_secret_or_token() {
        let creds = Credentials::builder("AKID", "SECRET")
            .session_token("TOK")
            .build();
        let t = at(1_700_000_000);
        let req = signed(&SigningSettings::default(), t, &creds);
        let other = Credentials::builder("AKID", "OTHER")
            .session_token("TOK")
            .build();
        assert_eq!(
            check(&req, &other, t).unwrap_err(),
            VerifyError::SignatureDoesNotMatch
        );
        let other = Credentials::builder("AKID", "SECRET")
            .session_token("NOPE")
            .build();
        assert_eq!(
            check(&req, &other, t).unwrap_err(),
            VerifyError::InvalidClientTokenId
        );
    }

    #[test]
    fn missing_and_incomplete() {
        let req = http::Request::get("https://h/").body(()).unwrap();
        assert_eq!(
            SignedRequest::parse(req.uri(), req.headers()).unwrap_err(),
            VerifyError::MissingAuthentication
        );
        let req = http::Request::get("https://h/")
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=A/20200101/r/s/aws4_request",
            )
            .header("x-amz-date", "20200101T000000Z")
            .body(())
            .unwrap();
        assert_eq!(
            SignedRequest::parse(req.uri(), req.headers())
                .unwrap_err()
                .code(),
            "IncompleteSignature"
        );
    }
}
