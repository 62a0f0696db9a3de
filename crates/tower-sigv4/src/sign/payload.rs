//! How the payload hash is settled, and the per-request overrides.

use std::borrow::Cow;

use sigv4_core::chunked::{ChunkedPayload, DEFAULT_CHUNK_SIZE};

/// The default cap on a body buffered to be hashed: 10 MiB.
pub const DEFAULT_MAX_BODY_SIZE: usize = 10 * 1024 * 1024;

/// How the layer settles the payload hash that goes into the signature.
///
/// Set it for a layer with [`SigV4LayerBuilder::payload_policy`](crate::SigV4LayerBuilder::payload_policy),
/// or for one request with [`SigningOverride::with_payload_policy`].
///
/// ```
/// use tower_sigv4::{PayloadPolicy, SigV4Layer};
/// use tower_sigv4::sigv4_core::{Credentials, SigningSettings};
///
/// // S3: stream bodies without reading them, sign `UNSIGNED-PAYLOAD`.
/// let s3 = SigV4Layer::builder(Credentials::new("AKID", "SECRET"), "eu-west-1", "s3")
///     .settings(SigningSettings::s3())
///     .payload_policy(PayloadPolicy::Unsigned)
///     .build();
/// # let _ = s3;
/// ```
///
/// Streaming a large upload to S3, signed chunk by chunk:
///
/// ```
/// use tower_sigv4::{PayloadPolicy, SigV4Layer};
/// use tower_sigv4::sigv4_core::chunked::ChunkedPayload;
/// use tower_sigv4::sigv4_core::checksum::ChecksumAlgorithm;
/// use tower_sigv4::sigv4_core::{Credentials, SigningSettings};
///
/// let s3 = SigV4Layer::builder(Credentials::new("AKID", "SECRET"), "eu-west-1", "s3")
///     .settings(SigningSettings::s3())
///     .payload_policy(PayloadPolicy::aws_chunked(ChunkedPayload::SignedWithTrailer(
///         ChecksumAlgorithm::Crc32c,
///     )))
///     .build();
/// # let _ = s3;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PayloadPolicy {
    /// Read the whole body (up to [`max_body_size`](crate::SigV4LayerBuilder::max_body_size),
    /// 10 MiB by default), hash it, and hand the same bytes on. What API Gateway and most services
    /// need. A `Content-Length` over the limit is refused before reading; a body that turns out
    /// longer is refused once the limit is crossed; an empty body is not buffered at all.
    #[default]
    BufferAndHash,
    /// Use the request's own `x-amz-content-sha256` header as the payload hash (the caller
    /// computed it); the body is not read. A request without the header is an error
    /// ([`SigV4Error::MissingPayloadHash`](crate::SigV4Error::MissingPayloadHash)).
    CallerProvided,
    /// Sign `UNSIGNED-PAYLOAD` and do not read the body (S3). With the default settings the
    /// signer also sends `x-amz-content-sha256: UNSIGNED-PAYLOAD`.
    Unsigned,
    /// Stream the body as `aws-chunked` (S3): the head is signed with the streaming payload hash
    /// (its signature is the seed), then the body is cut into chunks of `chunk_size` bytes, each
    /// signed as the inner service reads it (constant memory: about one chunk; backpressure
    /// kept), and ended with the final chunk and, for the trailer forms, the data's checksum.
    ///
    /// The body's length must be known up front (a `Content-Length` header or an exact
    /// `size_hint`), or the request fails with
    /// [`SigV4Error::UnknownBodyLength`](crate::SigV4Error::UnknownBodyLength); a body that then
    /// holds another number of bytes fails mid-stream with
    /// [`SigV4Error::BodyLengthMismatch`](crate::SigV4Error::BodyLengthMismatch). The layer sets
    /// `Content-Encoding: aws-chunked`, `x-amz-decoded-content-length`, `x-amz-trailer` and the
    /// framed `Content-Length`. S3 wants chunks of at least 8 KiB (all but the last).
    AwsChunked {
        /// The form: signed chunks, with or without a checksum trailer, or unsigned chunks with one.
        payload: ChunkedPayload,
        /// The data bytes per chunk (all but the last); 0 is refused when signing.
        chunk_size: usize,
    },
    /// An `application/vnd.amazon.eventstream` body (Transcribe streaming, Bedrock
    /// bidirectional streaming): the head is signed with `STREAMING-AWS4-HMAC-SHA256-EVENTS`
    /// (also sent as `x-amz-content-sha256`), then each event-stream message the caller's body
    /// yields is wrapped in a signed message chained to the head's signature, as the inner
    /// service reads it, and the stream ends with the signed empty message. The caller's body
    /// yields encoded messages ([`Message::encode`](sigv4_core::eventstream::Message::encode)),
    /// cut anywhere; `Content-Length` is removed (the length is not known up front). See
    /// [`EventStreamBody`](crate::eventstream::EventStreamBody) for the framing.
    #[cfg(feature = "eventstream")]
    EventStream,
}

impl PayloadPolicy {
    /// [`PayloadPolicy::AwsChunked`] in `payload`'s form with 64 KiB chunks (what the SDKs use).
    pub const fn aws_chunked(payload: ChunkedPayload) -> Self {
        PayloadPolicy::AwsChunked {
            payload,
            chunk_size: DEFAULT_CHUNK_SIZE,
        }
    }
}

/// A request extension that changes how one request is signed: another region or service, another
/// payload policy, or a payload hash the caller already has.
///
/// ```
/// use http::Request;
/// use tower_sigv4::{PayloadPolicy, SigningOverride};
///
/// let mut request = Request::get("https://sqs.eu-central-1.amazonaws.com/").body(()).unwrap();
/// request.extensions_mut().insert(
///     SigningOverride::new()
///         .with_region("eu-central-1")
///         .with_service("sqs")
///         .with_payload_policy(PayloadPolicy::Unsigned),
/// );
/// ```
///
/// Every field left unset falls back to the layer's configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SigningOverride {
    region: Option<Cow<'static, str>>,
    service: Option<Cow<'static, str>>,
    payload_policy: Option<PayloadPolicy>,
    payload_hash: Option<String>,
}

impl SigningOverride {
    /// An override that changes nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Signs for this region instead of the layer's.
    pub fn with_region(mut self, region: impl Into<Cow<'static, str>>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Signs for this service (signing name, such as `execute-api`, `s3`, `lambda`) instead of the
    /// layer's.
    pub fn with_service(mut self, service: impl Into<Cow<'static, str>>) -> Self {
        self.service = Some(service.into());
        self
    }

    /// Uses this payload policy instead of the layer's.
    pub fn with_payload_policy(mut self, policy: PayloadPolicy) -> Self {
        self.payload_policy = Some(policy);
        self
    }

    /// Signs with this payload hash (64 lower-case hex digits, or a token the service accepts such
    /// as `UNSIGNED-PAYLOAD`), whatever the payload policy; the body is not read.
    pub fn with_payload_hash(mut self, hash: impl Into<String>) -> Self {
        self.payload_hash = Some(hash.into());
        self
    }

    /// The region override, if any.
    pub fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }

    /// The service override, if any.
    pub fn service(&self) -> Option<&str> {
        self.service.as_deref()
    }

    /// The payload policy override, if any.
    pub fn payload_policy(&self) -> Option<PayloadPolicy> {
        self.payload_policy
    }

    /// The precomputed payload hash, if any.
    pub fn payload_hash(&self) -> Option<&str> {
        self.payload_hash.as_deref()
    }

    pub(crate) fn region_cow(&self) -> Option<&Cow<'static, str>> {
        self.region.as_ref()
    }

    pub(crate) fn service_cow(&self) -> Option<&Cow<'static, str>> {
        self.service.as_ref()
    }
}

/// A request extension that sends the request on unsigned (a health check, a presigned URL that
/// already carries its signature).
///
/// ```
/// use http::Request;
/// use tower_sigv4::SkipSigning;
///
/// let mut request = Request::get("https://example.com/health").body(()).unwrap();
/// request.extensions_mut().insert(SkipSigning);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SkipSigning;
