//! Signing: the [`Signer`] and what it takes and gives.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use http::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION};
use http::uri::PathAndQuery;
use http::{Method, Request, Uri};
use sha2::{Digest, Sha256};

use crate::canonical::{
    encode_into, has_host_header, name_is_one_of, write_canonical_headers, write_request_lines,
    ExtraHeader, ExtraParam, UriHost, SIGNING_QUERY_PARAMS,
};
use crate::credentials::Credentials;
use crate::error::{shorten, SigningError};
use crate::key::{hex, KeyCache, SigningKey};
use crate::settings::{ContentSha256Header, SessionTokenMode, SignatureLocation, SigningSettings};
use crate::time::AmzDate;

/// The SigV4 algorithm name.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The payload hash that says "the body is not signed".
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// `hex(sha256(""))`, the payload hash of an empty body.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// `x-amz-date`.
pub static X_AMZ_DATE: HeaderName = HeaderName::from_static("x-amz-date");
/// `x-amz-security-token`.
pub static X_AMZ_SECURITY_TOKEN: HeaderName = HeaderName::from_static("x-amz-security-token");
/// `x-amz-content-sha256`.
pub static X_AMZ_CONTENT_SHA256: HeaderName = HeaderName::from_static("x-amz-content-sha256");

/// The payload, as the signer needs it: the bytes to hash, a hash already computed, or unsigned.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Payload<'a> {
    /// The body's bytes (hashed with SHA-256).
    Bytes(&'a [u8]),
    /// A precomputed payload hash: 64 lower-case hex digits, or another token a service accepts
    /// (such as `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`).
    Precomputed(&'a str),
    /// `UNSIGNED-PAYLOAD` (S3, presigned URLs).
    Unsigned,
}

/// `hex(sha256(bytes))`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest: [u8; 32] = Sha256::digest(bytes).into();
    String::from_utf8_lossy(&hex(&digest)).into_owned()
}

pub(crate) enum PayloadHash<'a> {
    Hex([u8; 64]),
    Text(&'a str),
}

impl PayloadHash<'_> {
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            PayloadHash::Hex(h) => h,
            PayloadHash::Text(t) => t.as_bytes(),
        }
    }
}

pub(crate) fn payload_hash<'a>(payload: &Payload<'a>) -> Result<PayloadHash<'a>, SigningError> {
    match *payload {
        Payload::Bytes([]) => Ok(PayloadHash::Text(EMPTY_SHA256)),
        Payload::Bytes(bytes) => {
            let digest: [u8; 32] = Sha256::digest(bytes).into();
            Ok(PayloadHash::Hex(hex(&digest)))
        }
        Payload::Precomputed(text) => {
            if text.is_empty() || !text.bytes().all(|b| b.is_ascii_graphic()) {
                Err(SigningError::InvalidPayloadHash(shorten(text)))
            } else {
                Ok(PayloadHash::Text(text))
            }
        }
        Payload::Unsigned => Ok(PayloadHash::Text(UNSIGNED_PAYLOAD)),
    }
}

/// What one signing needs besides the request: credentials, scope, time and settings.
///
/// ```
/// use sigv4_core::{Credentials, SigningParams};
/// use std::time::SystemTime;
///
/// let creds = Credentials::new("AKIDEXAMPLE", "secret");
/// let params = SigningParams::new(&creds, "eu-west-1", "execute-api", SystemTime::now());
/// assert_eq!(params.region, "eu-west-1");
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct SigningParams<'a> {
    /// The credentials to sign with.
    pub credentials: &'a Credentials,
    /// The AWS region (`us-east-1`).
    pub region: &'a str,
    /// The service's signing name (`execute-api`, `s3`, `lambda`).
    pub service: &'a str,
    /// The signing time (the signer never reads a clock).
    pub time: SystemTime,
    /// The settings.
    pub settings: &'a SigningSettings,
}

static DEFAULT_SETTINGS: SigningSettings = SigningSettings::DEFAULT;

impl<'a> SigningParams<'a> {
    /// Parameters with the default settings.
    pub fn new(
        credentials: &'a Credentials,
        region: &'a str,
        service: &'a str,
        time: SystemTime,
    ) -> Self {
        Self {
            credentials,
            region,
            service,
            time,
            settings: &DEFAULT_SETTINGS,
        }
    }

    /// The same parameters with other settings.
    pub fn with_settings(mut self, settings: &'a SigningSettings) -> Self {
        self.settings = settings;
        self
    }
}

/// A hex-encoded signature, held on the stack.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature([u8; 64]);

impl Signature {
    /// The 64 lower-case hex digits.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("")
    }

    /// Reads 64 hex digits (as an aws-chunked seed, say); `None` for anything else. Upper-case
    /// digits are lower-cased.
    pub fn from_hex(text: &str) -> Option<Self> {
        let bytes: [u8; 64] = text.as_bytes().try_into().ok()?;
        if !bytes.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        Some(Self(bytes.map(|b| b.to_ascii_lowercase())))
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", self.as_str())
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a signing produced: the headers to set (header signing) or the query to append
/// (presigning), and what is left of an earlier signing to remove. Apply it with
/// [`SigningOutput::apply_to_request`] or read it.
///
/// A request can be signed again (a retry with fresh credentials, a presigned URL presigned
/// anew, a header-signed request turned into a URL): applying the output first removes every
/// trace of the earlier signing, so the verifier reads only the new one. Header signing removes
/// a stale `x-amz-security-token` when the credentials have no token; presigning removes the
/// `authorization`, `x-amz-date` and `x-amz-security-token` headers; both remove the presign
/// query parameters (`X-Amz-Algorithm`, `-Credential`, `-Date`, `-Expires`, `-SignedHeaders`,
/// `-Signature`, `-Security-Token`, compared decoded), which are not signed either.
#[derive(Clone)]
pub struct SigningOutput {
    signature: Signature,
    date: AmzDate,
    headers: OutputHeaders,
    presigned: Option<PresignedTarget>,
    remove_headers: &'static [HeaderName],
    strip_query: bool,
}

/// The presigned request's whole path and query (old signing parameters left out, new ones
/// appended), and where the new parameters start.
#[derive(Clone)]
struct PresignedTarget {
    path_and_query: String,
    params_start: usize,
}

/// Headers a presigning removes: the header-signing artifacts of an earlier signing.
static PRESIGN_REMOVES: [HeaderName; 3] = [
    AUTHORIZATION,
    HeaderName::from_static("x-amz-date"),
    HeaderName::from_static("x-amz-security-token"),
];
/// Header signing without a session token removes a stale one.
static HEADER_REMOVES_TOKEN: [HeaderName; 1] = [HeaderName::from_static("x-amz-security-token")];

impl fmt::Debug for SigningOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningOutput")
            .field("signature", &self.signature)
            .field("date", &self.date)
            .field(
                "headers",
                &self.headers().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .field("presigned", &self.presigned.is_some())
            .finish()
    }
}

impl SigningOutput {
    /// The signature.
    pub fn signature(&self) -> Signature {
        self.signature
    }

    /// The signing time as written into the request.
    pub fn date(&self) -> AmzDate {
        self.date
    }

    /// The headers to set, replacing any of the same name (header signing).
    pub fn headers(&self) -> impl Iterator<Item = (&HeaderName, &HeaderValue)> {
        self.headers.0.iter().flatten().map(|(n, v)| (n, v))
    }

    /// The encoded parameters to append to the query, `X-Amz-Signature` last (presigning).
    pub fn query(&self) -> Option<&str> {
        self.presigned
            .as_ref()
            .and_then(|p| p.path_and_query.get(p.params_start..))
    }

    /// The headers of an earlier signing to remove before setting [`SigningOutput::headers`]
    /// (they were not signed; see the type's documentation).
    pub fn headers_to_remove(&self) -> impl Iterator<Item = &HeaderName> {
        self.remove_headers.iter()
    }

    /// True when the request's query holds signing parameters of an earlier signing
    /// (`X-Amz-Signature`, ...), which were not signed and must be removed from it.
    pub fn strips_query_params(&self) -> bool {
        self.strip_query
    }

    /// Applies the output to a request's head.
    pub fn apply(self, uri: &mut Uri, headers: &mut HeaderMap) -> Result<(), SigningError> {
        let strip = self.strip_query;
        match self.apply_headers(headers) {
            Some(target) => {
                let params = target.path_and_query.get(target.params_start..);
                *uri = rewrite_query(uri, strip, params)?;
            }
            None if strip => *uri = rewrite_query(uri, true, None)?,
            None => {}
        }
        Ok(())
    }

    /// Removes and sets the headers; returns the presigned path and query, if any.
    fn apply_headers(self, headers: &mut HeaderMap) -> Option<PresignedTarget> {
        for name in self.remove_headers {
            headers.remove(name);
        }
        for (name, value) in self.headers.0.into_iter().flatten() {
            headers.insert(name, value);
        }
        self.presigned
    }

    /// Applies the output to the very request head it was computed from: a presigned URL's path
    /// and query were written whole when signing, so they are not copied again here.
    fn apply_to_signed<B>(self, request: &mut Request<B>) -> Result<(), SigningError> {
        let strip = self.strip_query;
        match self.apply_headers(request.headers_mut()) {
            Some(target) => {
                let path_and_query = target.path_and_query.into_bytes();
                *request.uri_mut() = with_path_and_query(request.uri(), path_and_query)?;
            }
            None if strip => *request.uri_mut() = rewrite_query(request.uri(), true, None)?,
            None => {}
        }
        Ok(())
    }

    /// Applies the output to a request.
    pub fn apply_to_request<B>(self, request: &mut Request<B>) -> Result<(), SigningError> {
        let (mut uri, headers) = (std::mem::take(request.uri_mut()), request.headers_mut());
        let result = self.apply(&mut uri, headers);
        *request.uri_mut() = uri;
        result
    }
}

/// Writes the URI's path (`/` when empty) and query, leaving out the old signing parameters
/// when `strip`; returns whether a query was written (so more parameters follow an `&`).
fn write_path_and_query(out: &mut Vec<u8>, uri: &Uri, strip: bool) -> bool {
    let path = uri.path();
    out.extend_from_slice(if path.is_empty() { "/" } else { path }.as_bytes());
    let mut any = false;
    let mut push = |pair: &str| {
        out.push(if any { b'&' } else { b'?' });
        out.extend_from_slice(pair.as_bytes());
        any = true;
    };
    match uri.query() {
        Some(existing) if strip => {
            for pair in existing.split('&').filter(|p| !p.is_empty()) {
                let name = pair.split_once('=').map_or(pair, |(name, _)| name);
                if !name_is_one_of(name.as_bytes(), &SIGNING_QUERY_PARAMS) {
                    push(pair);
                }
            }
        }
        Some(existing) if !existing.is_empty() => push(existing),
        _ => {}
    }
    any
}

/// `uri` with another path and query.
fn with_path_and_query(uri: &Uri, path_and_query: Vec<u8>) -> Result<Uri, SigningError> {
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(
        PathAndQuery::from_maybe_shared(bytes::Bytes::from(path_and_query))
            .map_err(|e| SigningError::InvalidUri(e.to_string()))?,
    );
    Uri::from_parts(parts).map_err(|e| SigningError::InvalidUri(e.to_string()))
}

/// The URI with its query's old signing parameters removed (when `strip`) and `append` added.
fn rewrite_query(uri: &Uri, strip: bool, append: Option<&str>) -> Result<Uri, SigningError> {
    let mut new = Vec::with_capacity(
        uri.path().len() + uri.query().map_or(0, str::len) + append.map_or(0, str::len) + 2,
    );
    let any = write_path_and_query(&mut new, uri, strip);
    if let Some(query) = append {
        new.push(if any { b'&' } else { b'?' });
        new.extend_from_slice(query.as_bytes());
    }
    with_path_and_query(uri, new)
}

/// The intermediate texts of a signing, for debugging `SignatureDoesNotMatch`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Inspection {
    /// The canonical request.
    pub canonical_request: String,
    /// The string to sign.
    pub string_to_sign: String,
    /// The signed headers, `;`-separated.
    pub signed_headers: String,
    /// The credential scope, `date/region/service/aws4_request`.
    pub credential_scope: String,
    /// The payload hash used.
    pub payload_hash: String,
    /// The signature.
    pub signature: String,
}

/// Signs requests, reusing derived signing keys from a small bounded cache.
///
/// One `Signer` is meant to live as long as the client (clone it freely: the cache is shared).
///
/// ```
/// use sigv4_core::{Credentials, Payload, Signer, SigningParams};
/// use std::time::{Duration, UNIX_EPOCH};
///
/// let signer = Signer::new();
/// let creds = Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
/// let time = UNIX_EPOCH + Duration::from_secs(1_440_938_160); // 2015-08-30T12:36:00Z
/// let mut request = http::Request::get("https://example.amazonaws.com/").body(()).unwrap();
/// let params = SigningParams::new(&creds, "us-east-1", "service", time);
/// signer.sign_request(&mut request, Payload::Bytes(b""), &params).unwrap();
/// assert!(request.headers()["authorization"].to_str().unwrap().ends_with(
///     "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"));
/// ```
#[derive(Clone)]
pub struct Signer {
    cache: Arc<KeyCache>,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("cache", &self.cache)
            .finish()
    }
}

impl Default for Signer {
    fn default() -> Self {
        Self::new()
    }
}

/// The default number of signing keys kept.
pub const DEFAULT_KEY_CACHE_CAPACITY: usize = 8;

impl Signer {
    /// A signer with a cache of [`DEFAULT_KEY_CACHE_CAPACITY`] keys.
    pub fn new() -> Self {
        Self::with_cache_capacity(DEFAULT_KEY_CACHE_CAPACITY)
    }

    /// A signer keeping up to `capacity` derived keys (0 disables the cache).
    pub fn with_cache_capacity(capacity: usize) -> Self {
        Self {
            cache: Arc::new(KeyCache::new(capacity)),
        }
    }

    /// How many derived keys the cache holds now.
    pub fn cached_keys(&self) -> usize {
        self.cache.len()
    }

    /// Signs `request` in place: sets `authorization`, `x-amz-date` (and the token and payload
    /// headers), or rewrites the URI into a presigned URL.
    pub fn sign_request<B>(
        &self,
        request: &mut Request<B>,
        payload: Payload<'_>,
        params: &SigningParams<'_>,
    ) -> Result<Signature, SigningError> {
        let output = self.sign(
            request.method(),
            request.uri(),
            request.headers(),
            payload,
            params,
        )?;
        let signature = output.signature;
        output.apply_to_signed(request)?;
        Ok(signature)
    }

    /// Computes the signature of a request head and what to add to it, without changing it.
    pub fn sign(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        payload: Payload<'_>,
        params: &SigningParams<'_>,
    ) -> Result<SigningOutput, SigningError> {
        self.run(method, uri, headers, payload, params, None)
    }

    /// Signs like [`Signer::sign`] and also returns the canonical request, string to sign and
    /// signed headers (for debugging a `SignatureDoesNotMatch`).
    pub fn inspect(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        payload: Payload<'_>,
        params: &SigningParams<'_>,
    ) -> Result<(SigningOutput, Inspection), SigningError> {
        let mut inspection = Inspection {
            canonical_request: String::new(),
            string_to_sign: String::new(),
            signed_headers: String::new(),
            credential_scope: String::new(),
            payload_hash: String::new(),
            signature: String::new(),
        };
        let output = self.run(method, uri, headers, payload, params, Some(&mut inspection))?;
        Ok((output, inspection))
    }

    pub(crate) fn key(
        &self,
        secret: &str,
        date: &str,
        region: &str,
        service: &str,
    ) -> Arc<SigningKey> {
        self.cache.get(secret, date, region, service)
    }

    fn run(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        payload: Payload<'_>,
        params: &SigningParams<'_>,
        inspection: Option<&mut Inspection>,
    ) -> Result<SigningOutput, SigningError> {
        with_scratch(|buf| self.run_in(buf, method, uri, headers, payload, params, inspection))
    }

    #[allow(clippy::too_many_arguments)]
    fn run_in(
        &self,
        buf: &mut Vec<u8>,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        payload: Payload<'_>,
        params: &SigningParams<'_>,
        inspection: Option<&mut Inspection>,
    ) -> Result<SigningOutput, SigningError> {
        let creds = params.credentials;
        let settings = params.settings;
        check_credentials(creds)?;
        check_field("region", params.region)?;
        check_field("service", params.service)?;
        let (date, date_value) = amz_date(params.time)?;
        let expires = settings.checked_expiry()?;
        let hash = payload_hash(&payload)?;
        let token = match creds.session_token() {
            Some(_) => Some(
                creds
                    .session_token_header()
                    .ok_or(SigningError::InvalidSessionToken)?,
            ),
            None => None,
        };
        let sign_token = token.filter(|_| settings.session_token_mode == SessionTokenMode::Signed);

        // `host` from the URI when the request has no Host header.
        let host_from_uri = !has_host_header(headers);
        let host_buf = if host_from_uri {
            Some(UriHost::from_uri(uri)?)
        } else {
            None
        };
        let host_value: &[u8] = host_buf.as_ref().map_or(&[], UriHost::as_bytes);

        let scope_len = 8 + 1 + params.region.len() + 1 + params.service.len() + 13;
        // A first guess for a cold scratch buffer; it grows as needed and is then kept.
        let capacity = 1024
            + uri.path().len()
            + uri.query().map_or(0, str::len)
            + token.map_or(0, |t| t.len())
            + scope_len * 2;
        buf.reserve(capacity);

        let is_query = matches!(settings.location, SignatureLocation::Query { .. });
        let add_content_sha = !is_query
            && match settings.content_sha256_header {
                ContentSha256Header::Always => true,
                ContentSha256Header::WhenUnsigned => matches!(payload, Payload::Unsigned),
                ContentSha256Header::Never => false,
            };

        // Set by this signing (or, for a stale token, removed): never signed from the request.
        let mut replaced: [&'static str; 3] = ["x-amz-date", "x-amz-security-token", ""];
        if add_content_sha {
            replaced[2] = "x-amz-content-sha256";
        }

        let signed_range;
        let canonical_end;
        let strip_query;
        if !is_query {
            let mut extras_list: [ExtraHeader<'_>; 4] = [ExtraHeader::EMPTY; 4];
            let mut n = 0;
            if host_from_uri {
                extras_list[n] = ExtraHeader::new("host", host_value, true);
                n += 1;
            }
            extras_list[n] = ExtraHeader::new("x-amz-date", date.as_bytes(), true);
            n += 1;
            if let Some(token) = sign_token {
                extras_list[n] = ExtraHeader::new(
                    "x-amz-security-token",
                    token.as_bytes(),
                    creds.session_token_is_canonical(),
                );
                n += 1;
            }
            if add_content_sha {
                extras_list[n] = ExtraHeader::new("x-amz-content-sha256", hash.as_bytes(), true);
                n += 1;
            }
            strip_query =
                write_request_lines(buf, method, uri, settings, &[], &SIGNING_QUERY_PARAMS) > 0;
            signed_range =
                write_canonical_headers(buf, headers, &extras_list[..n], settings, &replaced)?;
            buf.extend_from_slice(hash.as_bytes());
            canonical_end = buf.len();
        } else {
            // Presigning: the signed-headers list goes into the query, which comes first in the
            // canonical request, so render the header block on its own first.
            let mut header_block = Vec::with_capacity(128 + host_value.len());
            let host_extra = [ExtraHeader::new("host", host_value, true)];
            let (sb, se) = write_canonical_headers(
                &mut header_block,
                headers,
                if host_from_uri { &host_extra } else { &[] },
                settings,
                &replaced,
            )?;
            let signed = &header_block[sb..se];
            // Each value encoded once, for the canonical query and the URL alike.
            let mut credential =
                Vec::with_capacity(3 * (creds.access_key_id().len() + scope_len) + 8);
            encode_into(&mut credential, creds.access_key_id().as_bytes());
            credential.extend_from_slice(b"%2F");
            credential.extend_from_slice(date.date().as_bytes());
            credential.extend_from_slice(b"%2F");
            encode_into(&mut credential, params.region.as_bytes());
            credential.extend_from_slice(b"%2F");
            encode_into(&mut credential, params.service.as_bytes());
            credential.extend_from_slice(b"%2Faws4_request");
            let mut signed_encoded = Vec::with_capacity(3 * signed.len());
            encode_into(&mut signed_encoded, signed);
            let expires_buf = itoa_buf(expires.unwrap_or(0));
            // The algorithm, the date and the expiry have nothing to encode.
            let param = |name, value| ExtraParam { name, value };
            let mut params_list = [
                param("X-Amz-Algorithm", ALGORITHM.as_bytes()),
                param("X-Amz-Credential", &credential),
                param("X-Amz-Date", date.as_bytes()),
                param("X-Amz-Expires", expires_buf.as_bytes()),
                param("X-Amz-SignedHeaders", &signed_encoded),
                param("X-Amz-Security-Token", b""),
            ];
            let mut n_params = 5;
            let token_encoded = token.and(creds.session_token_encoded());
            if let (Some(_), Some(encoded)) = (sign_token, token_encoded) {
                params_list[5].value = encoded;
                n_params = 6;
            }
            strip_query = write_request_lines(
                buf,
                method,
                uri,
                settings,
                &params_list[..n_params],
                &SIGNING_QUERY_PARAMS,
            ) > 0;
            let offset = buf.len();
            buf.extend_from_slice(&header_block);
            signed_range = (offset + sb, offset + se);
            buf.extend_from_slice(hash.as_bytes());
            canonical_end = buf.len();
            // The query to append: every X-Amz parameter, the token unsigned when asked, then
            // the signature (added below).
            let mut query = Vec::with_capacity(
                uri.path().len()
                    + uri.query().map_or(0, str::len)
                    + 256
                    + token_encoded.map_or(0, <[u8]>::len),
            );
            let any = write_path_and_query(&mut query, uri, strip_query);
            query.push(if any { b'&' } else { b'?' });
            let params_start = query.len();
            let order: [&ExtraParam<'_>; 5] = [
                &params_list[0],
                &params_list[1],
                &params_list[2],
                &params_list[4],
                &params_list[3],
            ];
            for (i, p) in order.into_iter().enumerate() {
                if i > 0 {
                    query.push(b'&');
                }
                push_param(&mut query, p.name, p.value);
            }
            if let Some(encoded) = token_encoded {
                query.push(b'&');
                push_param(&mut query, "X-Amz-Security-Token", encoded);
            }
            let signature = self.signature_of(
                buf,
                canonical_end,
                signed_range,
                &date,
                params,
                &hash,
                inspection,
            );
            query.push(b'&');
            push_param(&mut query, "X-Amz-Signature", &signature.0);
            let path_and_query =
                String::from_utf8(query).map_err(|e| SigningError::InvalidUri(e.to_string()))?;
            return Ok(SigningOutput {
                signature,
                date,
                headers: OutputHeaders::default(),
                presigned: Some(PresignedTarget {
                    path_and_query,
                    params_start,
                }),
                remove_headers: &PRESIGN_REMOVES,
                strip_query,
            });
        }

        let signature = self.signature_of(
            buf,
            canonical_end,
            signed_range,
            &date,
            params,
            &hash,
            inspection,
        );
        // Authorization, written after the string to sign and turned into a header value.
        let auth_start = buf.len();
        buf.extend_from_slice(ALGORITHM.as_bytes());
        buf.extend_from_slice(b" Credential=");
        buf.extend_from_slice(creds.access_key_id().as_bytes());
        buf.push(b'/');
        write_scope(buf, &date, params.region, params.service);
        buf.extend_from_slice(b", SignedHeaders=");
        buf.extend_from_within(signed_range.0..signed_range.1);
        buf.extend_from_slice(b", Signature=");
        buf.extend_from_slice(&signature.0);
        let mut authorization = HeaderValue::from_bytes(&buf[auth_start..]).map_err(|_| {
            SigningError::InvalidField {
                field: "access key id",
                value: shorten(creds.access_key_id()),
                reason: "cannot be sent in a header",
            }
        })?;
        authorization.set_sensitive(true);

        let mut out_headers = OutputHeaders::default();
        out_headers.push(AUTHORIZATION, authorization);
        out_headers.push(X_AMZ_DATE.clone(), date_value);
        if let Some(token) = token {
            out_headers.push(X_AMZ_SECURITY_TOKEN.clone(), token.clone());
        }
        if add_content_sha {
            let value = match &hash {
                PayloadHash::Text(text) if *text == EMPTY_SHA256 => {
                    HeaderValue::from_static(EMPTY_SHA256)
                }
                PayloadHash::Text(text) if *text == UNSIGNED_PAYLOAD => {
                    HeaderValue::from_static(UNSIGNED_PAYLOAD)
                }
                other => HeaderValue::from_bytes(other.as_bytes())
                    .map_err(|_| SigningError::InvalidPayloadHash(String::new()))?,
            };
            out_headers.push(X_AMZ_CONTENT_SHA256.clone(), value);
        }
        Ok(SigningOutput {
            signature,
            date,
            headers: out_headers,
            presigned: None,
            remove_headers: if token.is_none() {
                &HEADER_REMOVES_TOKEN
            } else {
                &[]
            },
            strip_query,
        })
    }

    /// Hashes the canonical request (`buf[..canonical_end]`), writes the string to sign after it,
    /// signs it with the cached key, and fills `inspection` when asked.
    #[allow(clippy::too_many_arguments)]
    fn signature_of(
        &self,
        buf: &mut Vec<u8>,
        canonical_end: usize,
        signed_range: (usize, usize),
        date: &AmzDate,
        params: &SigningParams<'_>,
        hash: &PayloadHash<'_>,
        inspection: Option<&mut Inspection>,
    ) -> Signature {
        let key = self.key(
            params.credentials.secret_access_key(),
            date.date(),
            params.region,
            params.service,
        );
        let canonical_hash: [u8; 32] = Sha256::digest(&buf[..canonical_end]).into();
        let sts_start = buf.len();
        write_string_to_sign(buf, date, params.region, params.service, &canonical_hash);
        let signature = Signature(key.sign(&buf[sts_start..]));
        if let Some(inspection) = inspection {
            fill_inspection(
                inspection,
                buf,
                canonical_end,
                sts_start,
                signed_range,
                date,
                params,
                hash,
                &signature,
            );
        }
        signature
    }
}

thread_local! {
    // The canonical request, string to sign and Authorization value of a signing are written
    // into one buffer; each thread keeps its buffer, so a warm signing does not allocate it.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

thread_local! {
    // The last signing time of this thread, formatted, and as a header value: a busy client signs
    // many requests within the same second.
    static LAST_DATE: std::cell::RefCell<Option<(u64, AmzDate, HeaderValue)>> =
        const { std::cell::RefCell::new(None) };
}

/// The signing time as an `AmzDate` and an `x-amz-date` value, reused within the same second.
fn amz_date(time: SystemTime) -> Result<(AmzDate, HeaderValue), SigningError> {
    let secs = time
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| SigningError::TimeOutOfRange)?
        .as_secs();
    LAST_DATE.with(|cell| {
        if let Ok(slot) = cell.try_borrow() {
            if let Some((cached, date, value)) = &*slot {
                if *cached == secs {
                    return Ok((*date, value.clone()));
                }
            }
        }
        let date = AmzDate::from_system_time(time).map_err(|_| SigningError::TimeOutOfRange)?;
        let value =
            HeaderValue::from_bytes(date.as_bytes()).map_err(|_| SigningError::TimeOutOfRange)?;
        if let Ok(mut slot) = cell.try_borrow_mut() {
            *slot = Some((secs, date, value.clone()));
        }
        Ok((date, value))
    })
}

/// Largest buffer kept between signings (a rare huge request does not pin its memory).
const SCRATCH_KEEP: usize = 16 * 1024;

/// Runs `f` with this thread's scratch buffer (empty), then wipes what was written: the buffer
/// held the session token and the signed headers.
pub(crate) fn with_scratch<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            buf.clear();
            let result = f(&mut buf);
            // A plain fill: the buffer stays alive in the thread-local (so the writes cannot be
            // elided as dead stores) and it vectorizes, unlike a byte-wise volatile wipe.
            buf.fill(0);
            buf.clear();
            if buf.capacity() > SCRATCH_KEEP {
                *buf = Vec::new();
            }
            result
        }
        Err(_) => {
            let mut buf = Vec::new();
            let result = f(&mut buf);
            zeroize::Zeroize::zeroize(&mut buf);
            result
        }
    })
}

/// The (at most four) headers a signing sets, without a heap allocation.
#[derive(Clone, Default)]
struct OutputHeaders([Option<(HeaderName, HeaderValue)>; 4]);

impl OutputHeaders {
    fn push(&mut self, name: HeaderName, value: HeaderValue) {
        if let Some(slot) = self.0.iter_mut().find(|s| s.is_none()) {
            *slot = Some((name, value));
        }
    }
}

/// Appends `name=value`, both already encoded (the `X-Amz-*` constants, encoded values).
fn push_param(query: &mut Vec<u8>, name: &str, value: &[u8]) {
    query.extend_from_slice(name.as_bytes());
    query.push(b'=');
    query.extend_from_slice(value);
}

#[allow(clippy::too_many_arguments)]
fn fill_inspection(
    inspection: &mut Inspection,
    buf: &[u8],
    canonical_end: usize,
    sts_start: usize,
    signed_range: (usize, usize),
    date: &AmzDate,
    params: &SigningParams<'_>,
    hash: &PayloadHash<'_>,
    signature: &Signature,
) {
    let text = |range: std::ops::Range<usize>| String::from_utf8_lossy(&buf[range]).into_owned();
    inspection.canonical_request = text(0..canonical_end);
    inspection.string_to_sign = text(sts_start..buf.len());
    inspection.signed_headers = text(signed_range.0..signed_range.1);
    let mut scope = Vec::new();
    write_scope(&mut scope, date, params.region, params.service);
    inspection.credential_scope = String::from_utf8_lossy(&scope).into_owned();
    inspection.payload_hash = String::from_utf8_lossy(hash.as_bytes()).into_owned();
    inspection.signature = signature.as_str().to_owned();
}

pub(crate) fn write_scope(out: &mut Vec<u8>, date: &AmzDate, region: &str, service: &str) {
    out.extend_from_slice(date.date().as_bytes());
    out.push(b'/');
    out.extend_from_slice(region.as_bytes());
    out.push(b'/');
    out.extend_from_slice(service.as_bytes());
    out.extend_from_slice(b"/aws4_request");
}

pub(crate) fn write_string_to_sign(
    out: &mut Vec<u8>,
    date: &AmzDate,
    region: &str,
    service: &str,
    canonical_hash: &[u8; 32],
) {
    out.extend_from_slice(ALGORITHM.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(date.as_bytes());
    out.push(b'\n');
    write_scope(out, date, region, service);
    out.push(b'\n');
    out.extend_from_slice(&hex(canonical_hash));
}

fn check_credentials(creds: &Credentials) -> Result<(), SigningError> {
    if creds.access_key_id().is_empty() || creds.secret_access_key().is_empty() {
        return Err(SigningError::EmptyCredentials);
    }
    check_field("access key id", creds.access_key_id())
}

/// Refuses a scope field the verifier could not read back: empty, or holding `/` (the scope's
/// separator), `,` (the `Authorization` header's separator), a space, a control character or
/// non-ASCII (not valid in a header).
pub(crate) fn check_field(field: &'static str, value: &str) -> Result<(), SigningError> {
    let reason = if value.is_empty() {
        "is empty"
    } else if value
        .bytes()
        .all(|b| b.is_ascii_graphic() && b != b'/' && b != b',')
    {
        return Ok(());
    } else if value.contains('/') {
        "holds '/', which separates the parts of the credential scope"
    } else if value.contains(',') {
        "holds ',', which separates the parts of the Authorization header"
    } else {
        "holds a space, a control character or a non-ASCII character"
    };
    Err(SigningError::InvalidField {
        field,
        value: shorten(value),
        reason,
    })
}

struct ItoaBuf {
    buf: [u8; 20],
    start: usize,
}

impl ItoaBuf {
    fn as_bytes(&self) -> &[u8] {
        &self.buf[self.start..]
    }
}

fn itoa_buf(mut v: u64) -> ItoaBuf {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    ItoaBuf { buf, start: i }
}
