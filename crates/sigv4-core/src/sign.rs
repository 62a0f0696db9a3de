//! Signing: the [`Signer`] and what it takes and gives.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use http::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION};
use http::uri::PathAndQuery;
use http::{Request, Uri};
use sha2::{Digest, Sha256};

use crate::algorithm::sigv4::hex;
pub use crate::algorithm::Signature;
use crate::algorithm::{Algorithm, Keys, Scope, StringToSign};
use crate::canonical::{
    encode_into, encode_within, name_is_one_of, write_canonical_headers, write_request_lines,
    ExtraHeader, ExtraParam, Hole, UriHost, SIGNING_QUERY_PARAMS,
};
use crate::credentials::Credentials;
use crate::error::{shorten, SigningError};
use crate::head::RequestHead;
use crate::settings::{ContentSha256Header, SessionTokenMode, SignatureLocation, SigningSettings};
use crate::time::AmzDate;

/// The SigV4 algorithm name (see [`Algorithm::name`] for every algorithm).
pub const ALGORITHM: &str = crate::algorithm::sigv4::NAME;
/// The payload hash that says "the body is not signed".
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// `hex(sha256(""))`, the payload hash of an empty body.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

// The names a signing sets, spelled once. Constants, so that a use copies a static name in
// (inserting under one clones nothing).
const DATE_NAME: HeaderName = HeaderName::from_static("x-amz-date");
const TOKEN_NAME: HeaderName = HeaderName::from_static("x-amz-security-token");
const CONTENT_SHA256_NAME: HeaderName = HeaderName::from_static("x-amz-content-sha256");
const REGION_SET_NAME: HeaderName = HeaderName::from_static("x-amz-region-set");

/// `x-amz-date`.
pub static X_AMZ_DATE: HeaderName = DATE_NAME;
/// `x-amz-security-token`.
pub static X_AMZ_SECURITY_TOKEN: HeaderName = TOKEN_NAME;
/// `x-amz-content-sha256`.
pub static X_AMZ_CONTENT_SHA256: HeaderName = CONTENT_SHA256_NAME;
/// `x-amz-region-set`: the regions a SigV4a signature is valid in.
pub static X_AMZ_REGION_SET: HeaderName = REGION_SET_NAME;

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

impl Payload<'_> {
    /// S3's rule: a presigned URL signs `UNSIGNED-PAYLOAD` (the body is not known when the URL
    /// is used) when the settings say so, unless the caller gave a hash of its own. Signing and
    /// verifying both apply it.
    pub(crate) fn for_location(self, presigned: bool, settings: &SigningSettings) -> Self {
        match self {
            Payload::Bytes(_) if presigned && settings.presigned_payload_unsigned => {
                Payload::Unsigned
            }
            other => other,
        }
    }
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
    /// The AWS region (`us-east-1`); with SigV4a (feature `sigv4a`), the region set instead
    /// (`*`, `us-east-1,us-west-2`), sent in `X-Amz-Region-Set`.
    pub region: &'a str,
    /// The service's signing name (`execute-api`, `s3`, `lambda`).
    pub service: &'a str,
    /// The signing time (the signer never reads a clock).
    pub time: SystemTime,
    /// The settings.
    pub settings: &'a SigningSettings,
    /// The algorithm (SigV4 unless set).
    pub algorithm: Algorithm,
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
            algorithm: Algorithm::SigV4,
        }
    }

    /// The same parameters with another algorithm. With SigV4a, [`SigningParams::region`] is
    /// read as the region set.
    pub fn with_algorithm(mut self, algorithm: Algorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// The same parameters with other settings.
    pub fn with_settings(mut self, settings: &'a SigningSettings) -> Self {
        self.settings = settings;
        self
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
    /// ASCII but for the request's own path and query (valid UTF-8, from a `Uri`).
    path_and_query: Vec<u8>,
    params_start: usize,
}

/// Headers a presigning removes: the header-signing artifacts of an earlier signing.
static PRESIGN_REMOVES: [HeaderName; 4] = [AUTHORIZATION, DATE_NAME, TOKEN_NAME, REGION_SET_NAME];
/// Header signing without a session token removes a stale one.
static HEADER_REMOVES_TOKEN: [HeaderName; 1] = [TOKEN_NAME];

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
    /// What a signing writes over (see [`Signer::sign_request`]).
    const UNSET: SigningOutput = SigningOutput {
        signature: Signature::EMPTY,
        date: AmzDate::EPOCH,
        headers: OutputHeaders([None, None, None, None, None]),
        presigned: None,
        remove_headers: &[],
        strip_query: false,
    };

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
        self.headers.iter()
    }

    /// The encoded parameters to append to the query, `X-Amz-Signature` last (presigning).
    pub fn query(&self) -> Option<&str> {
        self.presigned
            .as_ref()
            .and_then(|p| p.path_and_query.get(p.params_start..))
            .and_then(|params| std::str::from_utf8(params).ok())
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
    pub fn apply(mut self, uri: &mut Uri, headers: &mut HeaderMap) -> Result<(), SigningError> {
        let strip = self.strip_query;
        match self.apply_headers(headers) {
            Some(target) => {
                let params = target
                    .path_and_query
                    .get(target.params_start..)
                    .and_then(|params| std::str::from_utf8(params).ok());
                *uri = rewrite_query(uri, strip, params)?;
            }
            None if strip => *uri = rewrite_query(uri, true, None)?,
            None => {}
        }
        Ok(())
    }

    /// Removes and sets the headers; returns the presigned path and query, if any.
    fn apply_headers(&mut self, headers: &mut HeaderMap) -> Option<PresignedTarget> {
        for name in self.remove_headers {
            headers.remove(name);
        }
        // Each name is a constant, copied in (no clone of a shared name).
        let [authorization, date, token, content_sha256, region_set] = &mut self.headers.0;
        if let Some(value) = authorization.take() {
            headers.insert(AUTHORIZATION, value);
        }
        if let Some(value) = date.take() {
            headers.insert(DATE_NAME, value);
        }
        if let Some(value) = token.take() {
            headers.insert(TOKEN_NAME, value);
        }
        if let Some(value) = content_sha256.take() {
            headers.insert(CONTENT_SHA256_NAME, value);
        }
        if let Some(value) = region_set.take() {
            headers.insert(REGION_SET_NAME, value);
        }
        self.presigned.take()
    }

    /// Applies the output to the very request head it was computed from: a presigned URL's path
    /// and query were written whole when signing, so they are not copied again here.
    fn apply_to_signed<B>(&mut self, request: &mut Request<B>) -> Result<(), SigningError> {
        let strip = self.strip_query;
        match self.apply_headers(request.headers_mut()) {
            Some(target) => {
                set_path_and_query(request.uri_mut(), target.path_and_query)?;
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

/// Where [`write_path_and_query`] and the presigned query are written: a buffer, or a count of
/// the bytes that would be written (so the presigned URL is allocated at its exact size).
trait Sink {
    fn put(&mut self, bytes: &[u8]);
    /// How many bytes have been put so far.
    fn written(&self) -> usize;
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }

    fn written(&self) -> usize {
        self.len()
    }
}

/// Counts what is put.
struct Count(usize);

impl Sink for Count {
    fn put(&mut self, bytes: &[u8]) {
        self.0 += bytes.len();
    }

    fn written(&self) -> usize {
        self.0
    }
}

/// Writes the URI's path (`/` when empty) and query, leaving out the old signing parameters
/// when `strip`; returns whether a query was written (so more parameters follow an `&`).
fn write_path_and_query(out: &mut impl Sink, uri: &Uri, strip: bool) -> bool {
    let path = uri.path();
    out.put(if path.is_empty() { "/" } else { path }.as_bytes());
    let mut any = false;
    let mut push = |pair: &str| {
        out.put(if any { b"&" } else { b"?" });
        out.put(pair.as_bytes());
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

/// Writes a presigned URL's path and query: the request's own (old signing parameters left
/// out when `strip`), then `params` (`name=value`, encoded) and the signature last, into an
/// empty `out`. Returns where the added parameters start.
fn write_presigned_target(
    out: &mut impl Sink,
    uri: &Uri,
    strip: bool,
    params: &[(&str, &[u8])],
    signature: &Signature,
) -> usize {
    let any = write_path_and_query(out, uri, strip);
    out.put(if any { b"&" } else { b"?" });
    let params_start = out.written();
    for (name, value) in params {
        out.put(name.as_bytes());
        out.put(b"=");
        out.put(value);
        out.put(b"&");
    }
    out.put(b"X-Amz-Signature=");
    out.put(signature.as_bytes());
    params_start
}

/// `uri` with another path and query.
fn with_path_and_query(uri: &Uri, path_and_query: Vec<u8>) -> Result<Uri, SigningError> {
    let mut new = uri.clone();
    set_path_and_query(&mut new, path_and_query)?;
    Ok(new)
}

/// Replaces the path and query of `uri` in place (its scheme and authority are moved, not
/// copied). On an error `uri` is left as it was.
fn set_path_and_query(uri: &mut Uri, path_and_query: Vec<u8>) -> Result<(), SigningError> {
    let path_and_query = PathAndQuery::from_maybe_shared(bytes::Bytes::from(path_and_query))
        .map_err(|e| SigningError::InvalidUri(e.to_string()))?;
    if uri.scheme().is_some() != uri.authority().is_some() {
        // `Uri::from_parts` refuses a path with an authority but no scheme (and a scheme without
        // an authority); refuse it before taking the URI apart.
        return Err(SigningError::InvalidUri(format!(
            "{uri} has an authority without a scheme"
        )));
    }
    let mut parts = std::mem::take(uri).into_parts();
    parts.path_and_query = Some(path_and_query);
    *uri = Uri::from_parts(parts).map_err(|e| SigningError::InvalidUri(e.to_string()))?;
    Ok(())
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
    /// The credential scope, `date/region/service/aws4_request` (SigV4a:
    /// `date/service/aws4_request`).
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
    keys: Arc<Keys>,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer").field("keys", &self.keys).finish()
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
            keys: Arc::new(Keys::new(capacity)),
        }
    }

    /// How many derived keys the cache holds now.
    pub fn cached_keys(&self) -> usize {
        self.keys.len()
    }

    /// The SigV4a public key of `credentials` (SEC1 uncompressed, `04 || X || Y`), derived
    /// once per access key and kept in the signer's cache. `None` only if no key can be derived
    /// (a probability of about 2^-8000).
    #[cfg(feature = "sigv4a")]
    pub fn sigv4a_public_key(&self, credentials: &Credentials) -> Option<[u8; 65]> {
        self.keys.sigv4a(credentials).public_key()
    }

    pub(crate) fn keys(&self) -> &Keys {
        &self.keys
    }

    /// Signs `request` in place: sets `authorization`, `x-amz-date` (and the token and payload
    /// headers), or rewrites the URI into a presigned URL.
    pub fn sign_request<B>(
        &self,
        request: &mut Request<B>,
        payload: Payload<'_>,
        params: &SigningParams<'_>,
    ) -> Result<Signature, SigningError> {
        // Written in place and applied from there: the output is not moved about.
        let mut output = SigningOutput::UNSET;
        self.run(
            RequestHead::from(&*request),
            payload,
            params,
            None,
            &mut output,
        )?;
        output.apply_to_signed(request)?;
        Ok(output.signature)
    }

    /// Computes the signature of a request head and what to add to it, without changing it.
    pub fn sign(
        &self,
        head: RequestHead<'_>,
        payload: Payload<'_>,
        params: &SigningParams<'_>,
    ) -> Result<SigningOutput, SigningError> {
        let mut output = SigningOutput::UNSET;
        self.run(head, payload, params, None, &mut output)?;
        Ok(output)
    }

    /// Signs like [`Signer::sign`] and also returns the canonical request, string to sign and
    /// signed headers (for debugging a `SignatureDoesNotMatch`).
    pub fn inspect(
        &self,
        head: RequestHead<'_>,
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
        let mut output = SigningOutput::UNSET;
        self.run(head, payload, params, Some(&mut inspection), &mut output)?;
        Ok((output, inspection))
    }

    #[inline(always)]
    fn run(
        &self,
        head: RequestHead<'_>,
        payload: Payload<'_>,
        params: &SigningParams<'_>,
        inspection: Option<&mut Inspection>,
        out: &mut SigningOutput,
    ) -> Result<(), SigningError> {
        with_scratch(|buf| self.run_in(buf, head, payload, params, inspection, out))
    }

    fn run_in(
        &self,
        buf: &mut Vec<u8>,
        head: RequestHead<'_>,
        payload: Payload<'_>,
        params: &SigningParams<'_>,
        inspection: Option<&mut Inspection>,
        out: &mut SigningOutput,
    ) -> Result<(), SigningError> {
        let RequestHead {
            method,
            uri,
            headers,
        } = head;
        let creds = params.credentials;
        let settings = params.settings;
        let algorithm = params.algorithm;
        check_credentials(creds)?;
        if algorithm.uses_region_set() {
            check_region_set(params.region)?;
        } else {
            check_field("region", params.region)?;
        }
        check_field("service", params.service)?;
        let (date, date_value) = amz_date(params.time)?;
        let expires = settings.checked_expiry(creds, params.time)?;
        let is_query = matches!(settings.location, SignatureLocation::Query { .. });
        let payload = payload.for_location(is_query, settings);
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

        // `host` from the URI when the request has no Host header (the header writer finds
        // out, and fills this).
        let mut uri_host: Option<UriHost> = None;

        let scope_len = 8 + 1 + params.region.len() + 1 + params.service.len() + 13;
        // A first guess for a cold scratch buffer; it grows as needed and is then kept.
        let capacity = 1024
            + uri.path().len()
            + uri.query().map_or(0, str::len)
            + token.map_or(0, |t| t.len())
            + scope_len * 2;
        buf.reserve(capacity);

        let add_content_sha = !is_query
            && match settings.content_sha256_header {
                ContentSha256Header::Always => true,
                ContentSha256Header::WhenUnsigned => matches!(payload, Payload::Unsigned),
                ContentSha256Header::Never => false,
            };

        // Set by this signing (or, for a stale token, removed): never signed from the request.
        let mut replaced: [&'static str; 4] = ["x-amz-date", "x-amz-security-token", "", ""];
        if add_content_sha {
            replaced[2] = "x-amz-content-sha256";
        }
        let region_set = algorithm.uses_region_set();
        if region_set {
            replaced[3] = "x-amz-region-set";
        }

        let signed_range;
        let canonical_end;
        let strip_query;
        let mut hole = None;
        if !is_query {
            let mut extras_list: [ExtraHeader<'_>; 4] = [ExtraHeader::EMPTY; 4];
            let mut n = 0;
            extras_list[n] = ExtraHeader::new("x-amz-date", date.as_bytes(), true);
            n += 1;
            if let Some(token) = sign_token {
                // A canonical token is hashed where it stands (not copied into the canonical
                // request), unless the whole canonical request is wanted for inspection.
                let canonical = creds.session_token_is_canonical();
                extras_list[n] = if canonical && inspection.is_none() {
                    ExtraHeader::deferred("x-amz-security-token", token.as_bytes())
                } else {
                    ExtraHeader::new("x-amz-security-token", token.as_bytes(), canonical)
                };
                n += 1;
            }
            if add_content_sha {
                extras_list[n] = ExtraHeader::new("x-amz-content-sha256", hash.as_bytes(), true);
                n += 1;
            }
            if region_set {
                extras_list[n] =
                    ExtraHeader::new("x-amz-region-set", params.region.as_bytes(), true);
                n += 1;
            }
            strip_query =
                write_request_lines(buf, method, uri, settings, &[], &SIGNING_QUERY_PARAMS) > 0;
            signed_range = write_canonical_headers(
                buf,
                headers,
                (uri, &mut uri_host),
                &extras_list[..n],
                settings,
                &replaced,
                &mut hole,
            )?;
            buf.extend_from_slice(hash.as_bytes());
            canonical_end = buf.len();
        } else {
            // Presigning: the signed-headers list goes into the query, which comes first in the
            // canonical request, so render the header block on its own first. It and the
            // encoded values go into this thread's second scratch buffer.
            return with_side_scratch(|side| {
                let (sb, se) = write_canonical_headers(
                    side,
                    headers,
                    (uri, &mut uri_host),
                    &[],
                    settings,
                    &replaced,
                    &mut None,
                )?;
                let block_end = side.len();
                // Each value encoded once, for the canonical query and the URL alike.
                encode_into(side, creds.access_key_id().as_bytes());
                side.extend_from_slice(b"%2F");
                algorithm.write_scope_encoded(side, date.date(), params.region, params.service);
                let credential_end = side.len();
                encode_within(side, sb..se);
                let signed_end = side.len();
                if region_set {
                    encode_into(side, params.region.as_bytes());
                }
                let side: &[u8] = side;
                let header_block = &side[..block_end];
                let credential = &side[block_end..credential_end];
                let signed_encoded = &side[credential_end..signed_end];
                let region_set_encoded = &side[signed_end..];
                let expires_buf = itoa_buf(expires.unwrap_or(0));
                // The algorithm, the date and the expiry have nothing to encode.
                let param = |name, value| ExtraParam { name, value };
                // In order by name: the canonical query writes them as they are when the
                // request has no query of its own.
                let mut params_list = [
                    param("X-Amz-Algorithm", algorithm.name().as_bytes()),
                    param("X-Amz-Credential", credential),
                    param("X-Amz-Date", date.as_bytes()),
                    param("X-Amz-Expires", expires_buf.as_bytes()),
                    param("", b""),
                    param("", b""),
                    param("", b""),
                ];
                let mut n_params = 4;
                if region_set {
                    params_list[n_params] = param("X-Amz-Region-Set", region_set_encoded);
                    n_params += 1;
                }
                let token_encoded = token.and(creds.session_token_encoded());
                if let (Some(_), Some(encoded)) = (sign_token, token_encoded) {
                    params_list[n_params] = param("X-Amz-Security-Token", encoded);
                    n_params += 1;
                }
                params_list[n_params] = param("X-Amz-SignedHeaders", signed_encoded);
                n_params += 1;
                let strip_query = write_request_lines(
                    buf,
                    method,
                    uri,
                    settings,
                    &params_list[..n_params],
                    &SIGNING_QUERY_PARAMS,
                ) > 0;
                let offset = buf.len();
                buf.extend_from_slice(header_block);
                let signed_range = (offset + sb, offset + se);
                buf.extend_from_slice(hash.as_bytes());
                let canonical_end = buf.len();
                let signature = self.signature_of(
                    buf,
                    (canonical_end, None),
                    signed_range,
                    &date,
                    params,
                    &hash,
                    inspection,
                );
                // The path and query to send, allocated at its exact size: every X-Amz
                // parameter, the token (unsigned when asked), then the signature.
                let mut target_params: [(&str, &[u8]); 7] = [
                    ("X-Amz-Algorithm", params_list[0].value),
                    ("X-Amz-Credential", credential),
                    ("X-Amz-Date", params_list[2].value),
                    ("X-Amz-SignedHeaders", signed_encoded),
                    ("X-Amz-Expires", params_list[3].value),
                    ("X-Amz-Region-Set", region_set_encoded),
                    ("X-Amz-Security-Token", b""),
                ];
                let mut n_target = if region_set { 6 } else { 5 };
                if let Some(encoded) = token_encoded {
                    target_params[n_target] = ("X-Amz-Security-Token", encoded);
                    n_target += 1;
                }
                let target_params = &target_params[..n_target];
                let mut size = Count(0);
                write_presigned_target(&mut size, uri, strip_query, target_params, &signature);
                let mut path_and_query = Vec::with_capacity(size.0);
                let params_start = write_presigned_target(
                    &mut path_and_query,
                    uri,
                    strip_query,
                    target_params,
                    &signature,
                );
                *out = SigningOutput {
                    signature,
                    date,
                    headers: OutputHeaders::default(),
                    presigned: Some(PresignedTarget {
                        path_and_query,
                        params_start,
                    }),
                    remove_headers: &PRESIGN_REMOVES,
                    strip_query,
                };
                Ok(())
            });
        }

        let signature = self.signature_of(
            buf,
            (canonical_end, hole),
            signed_range,
            &date,
            params,
            &hash,
            inspection,
        );
        // Authorization, written after the string to sign and turned into a header value. The
        // scope is copied from the string to sign (`name\ndate\nscope\nhash`, at the end of
        // `buf`).
        let auth_start = buf.len();
        let scope_range =
            canonical_end + algorithm.name().len() + 2 + date.as_bytes().len()..auth_start - 65;
        buf.extend_from_slice(algorithm.name().as_bytes());
        buf.extend_from_slice(b" Credential=");
        buf.extend_from_slice(creds.access_key_id().as_bytes());
        buf.push(b'/');
        buf.extend_from_within(scope_range);
        buf.extend_from_slice(b", SignedHeaders=");
        buf.extend_from_within(signed_range.0..signed_range.1);
        buf.extend_from_slice(b", Signature=");
        buf.extend_from_slice(signature.as_bytes());
        let mut authorization = HeaderValue::from_bytes(&buf[auth_start..]).map_err(|_| {
            SigningError::InvalidField {
                field: "access key id",
                value: shorten(creds.access_key_id()),
                reason: "cannot be sent in a header",
            }
        })?;
        authorization.set_sensitive(true);

        let mut out_headers = OutputHeaders::default();
        out_headers.set(OutputHeaders::AUTHORIZATION, authorization);
        out_headers.set(OutputHeaders::DATE, date_value);
        if let Some(token) = token {
            out_headers.set(OutputHeaders::TOKEN, token.clone());
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
            out_headers.set(OutputHeaders::CONTENT_SHA256, value);
        }
        if region_set {
            let value =
                HeaderValue::from_str(params.region).map_err(|_| SigningError::InvalidField {
                    field: "region set",
                    value: shorten(params.region),
                    reason: "cannot be sent in a header",
                })?;
            out_headers.set(OutputHeaders::REGION_SET, value);
        }
        *out = SigningOutput {
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
        };
        Ok(())
    }

    /// Hashes the canonical request (`buf[..canonical_end]`, with a deferred value in its
    /// `hole`), writes the string to sign after it, signs it with the cached key, and fills
    /// `inspection` when asked.
    #[allow(clippy::too_many_arguments)]
    fn signature_of(
        &self,
        buf: &mut Vec<u8>,
        (canonical_end, hole): (usize, Option<Hole<'_>>),
        signed_range: (usize, usize),
        date: &AmzDate,
        params: &SigningParams<'_>,
        hash: &PayloadHash<'_>,
        inspection: Option<&mut Inspection>,
    ) -> Signature {
        let algorithm = params.algorithm;
        let canonical_hash = canonical_hash(&buf[..canonical_end], hole);
        let sts_start = buf.len();
        let scope = Scope {
            date: date.date(),
            region: params.region,
            service: params.service,
        };
        let string_to_sign = StringToSign {
            date,
            canonical_hash: &canonical_hash,
        };
        let signature = self
            .keys
            .sign(algorithm, params.credentials, &scope, string_to_sign, buf);
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

/// The SHA-256 of a canonical request written into `written`, with the deferred value of
/// `hole` (if any) in its place.
pub(crate) fn canonical_hash(written: &[u8], hole: Option<Hole<'_>>) -> [u8; 32] {
    match hole {
        Some(Hole { at, value }) if at <= written.len() => {
            let mut hasher = Sha256::new();
            hasher.update(&written[..at]);
            hasher.update(value);
            hasher.update(&written[at..]);
            hasher.finalize().into()
        }
        _ => Sha256::digest(written).into(),
    }
}

thread_local! {
    // The canonical request, string to sign and Authorization value of a signing are written
    // into one buffer; each thread keeps its buffer, so a warm signing does not allocate it.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    // A second one for what presigning renders before the canonical request (the header block
    // and the encoded credential and signed headers).
    static SIDE_SCRATCH: std::cell::RefCell<Vec<u8>> =
        const { std::cell::RefCell::new(Vec::new()) };
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
///
/// The buffer is taken out of the thread-local for the call and put back after it, so the
/// result is returned straight to the caller (not through the thread-local's closure), and a
/// nested signing on the same thread simply gets a buffer of its own.
#[inline(always)]
pub(crate) fn with_scratch<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    with_buffer(&SCRATCH, f)
}

/// [`with_scratch`] with this thread's second buffer (for use inside `with_scratch`).
#[inline(always)]
fn with_side_scratch<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    with_buffer(&SIDE_SCRATCH, f)
}

#[inline(always)]
fn with_buffer<R>(
    key: &'static std::thread::LocalKey<std::cell::RefCell<Vec<u8>>>,
    f: impl FnOnce(&mut Vec<u8>) -> R,
) -> R {
    let mut buf = key
        .try_with(|cell| cell.try_borrow_mut().map(|mut b| std::mem::take(&mut *b)))
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    buf.clear();
    let result = f(&mut buf);
    // A plain fill: the buffer lives on (in the thread-local, or is dropped right after being
    // zeroized below), and it vectorizes, unlike a byte-wise volatile wipe.
    buf.fill(0);
    buf.clear();
    if buf.capacity() <= SCRATCH_KEEP {
        // Whatever was put back meanwhile (a nested signing's buffer) is already wiped.
        let _ = key.try_with(|cell| {
            if let Ok(mut slot) = cell.try_borrow_mut() {
                *slot = buf;
            }
        });
    }
    result
}

/// The (at most five) headers a signing sets, without a heap allocation: one slot per name of
/// [`OUTPUT_NAMES`].
#[derive(Clone, Default)]
struct OutputHeaders([Option<HeaderValue>; 5]);

/// The names of the [`OutputHeaders`] slots, in the order they are set.
static OUTPUT_NAMES: [HeaderName; 5] = [
    AUTHORIZATION,
    DATE_NAME,
    TOKEN_NAME,
    CONTENT_SHA256_NAME,
    REGION_SET_NAME,
];

impl OutputHeaders {
    const AUTHORIZATION: usize = 0;
    const DATE: usize = 1;
    const TOKEN: usize = 2;
    const CONTENT_SHA256: usize = 3;
    const REGION_SET: usize = 4;

    fn set(&mut self, slot: usize, value: HeaderValue) {
        self.0[slot] = Some(value);
    }

    fn iter(&self) -> impl Iterator<Item = (&HeaderName, &HeaderValue)> {
        OUTPUT_NAMES
            .iter()
            .zip(&self.0)
            .filter_map(|(name, value)| Some((name, value.as_ref()?)))
    }
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
    params
        .algorithm
        .write_scope(&mut scope, date.date(), params.region, params.service);
    inspection.credential_scope = String::from_utf8_lossy(&scope).into_owned();
    inspection.payload_hash = String::from_utf8_lossy(hash.as_bytes()).into_owned();
    inspection.signature = signature.as_str().to_owned();
}

fn check_credentials(creds: &Credentials) -> Result<(), SigningError> {
    if creds.access_key_id().is_empty() || creds.secret_access_key().is_empty() {
        return Err(SigningError::EmptyCredentials);
    }
    check_field("access key id", creds.access_key_id())
}

/// Refuses a region set that cannot be sent in `X-Amz-Region-Set`: empty, or holding a space,
/// a control character or non-ASCII. (Its regions are separated by `,`.)
fn check_region_set(value: &str) -> Result<(), SigningError> {
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_graphic()) {
        return Ok(());
    }
    Err(SigningError::InvalidField {
        field: "region set",
        value: shorten(value),
        reason: if value.is_empty() {
            "is empty"
        } else {
            "holds a space, a control character or a non-ASCII character"
        },
    })
}

/// Refuses a scope field the verifier could not read back: empty, or holding `/` (the scope's
/// separator), `,` (the `Authorization` header's separator), a space, a control character or
/// non-ASCII (not valid in a header).
#[inline]
pub(crate) fn check_field(field: &'static str, value: &str) -> Result<(), SigningError> {
    // One table lookup per byte, folded without a branch (fields are checked on every signing).
    if !value.is_empty()
        && value
            .bytes()
            .fold(true, |ok, b| ok & FIELD_BYTE[b as usize])
    {
        return Ok(());
    }
    field_error(field, value)
}

/// The bytes a scope field or access key may hold: visible ASCII but `/` and `,`.
static FIELD_BYTE: [bool; 256] = crate::canonical::visible_ascii_except(b"/,");

#[cold]
fn field_error(field: &'static str, value: &str) -> Result<(), SigningError> {
    let reason = if value.is_empty() {
        "is empty"
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
