//! [`SigV4Error`]: why the signing layer could not sign a request.

use std::error::Error as StdError;

use sigv4_core::SigningError;
use sigv4_credentials::CredentialsError;

/// tower's error convention: any error, boxed.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Why a request could not be signed. The inner service is never called when one of these is
/// returned.
///
/// [`SigV4Service`](crate::SigV4Service)'s error type is [`BoxError`] (tower's convention): errors
/// of the inner service pass through unchanged, and errors of the signing itself are a
/// `SigV4Error` inside the box. Tell them apart with `downcast_ref` (or [`SigV4Error::find`], which
/// also walks the `source()` chain of wrappers that keep it there):
///
/// ```
/// use tower_sigv4::{BoxError, SigV4Error};
///
/// fn explain(error: &BoxError) -> &'static str {
///     match error.downcast_ref::<SigV4Error>() {
///         Some(SigV4Error::Credentials(_)) => "fix the credentials",
///         Some(SigV4Error::BodyTooLarge { .. }) => "raise max_body_size or stream unsigned",
///         Some(_) => "signing failed",
///         None => "the inner service failed",
///     }
/// }
/// # let e: BoxError = Box::new(SigV4Error::MissingPayloadHash);
/// # assert_eq!(explain(&e), "signing failed");
/// ```
///
/// Messages name what to do, and never hold a secret key or a session token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SigV4Error {
    /// No credentials to sign with: the credentials source failed or found nothing.
    #[error(
        "could not get AWS credentials to sign the request: {0} \
         (check the credentials source the SigV4 layer was built with)"
    )]
    Credentials(CredentialsError),

    /// The body is larger than the buffer the layer may use to hash it
    /// ([`PayloadPolicy::BufferAndHash`](crate::PayloadPolicy::BufferAndHash)).
    #[error(
        "the request body is larger than the {limit}-byte limit for buffering it to compute its \
         SHA-256{}: raise the limit with SigV4Layer::builder(..).max_body_size(..), or avoid \
         buffering with PayloadPolicy::CallerProvided (send the hex SHA-256 of the body in an \
         x-amz-content-sha256 header) or PayloadPolicy::Unsigned where the service accepts \
         UNSIGNED-PAYLOAD (S3)",
        content_length_note(*.content_length)
    )]
    BodyTooLarge {
        /// The limit in bytes.
        limit: usize,
        /// The length the request declared (`Content-Length` or an exact size hint), if known
        /// before reading.
        content_length: Option<u64>,
    },

    /// Reading the body to hash it failed.
    #[error("could not read the request body to compute its SHA-256: {0}")]
    BodyRead(BoxError),

    /// [`PayloadPolicy::CallerProvided`](crate::PayloadPolicy::CallerProvided) was asked for but the
    /// request has no `x-amz-content-sha256` header.
    #[error(
        "PayloadPolicy::CallerProvided needs an x-amz-content-sha256 header on the request holding \
         the hex SHA-256 of the body (or UNSIGNED-PAYLOAD): add the header, or use \
         PayloadPolicy::BufferAndHash to let the layer hash the body"
    )]
    MissingPayloadHash,

    /// The body is a stream the signer cannot hash without buffering it, and buffering is not
    /// possible here (the reqwest-middleware adapter signs bodies that are already in memory).
    #[error(
        "the request body is a stream, which cannot be hashed without reading it: send a buffered \
         body (bytes, string, json), or set a precomputed hash (x-amz-content-sha256 header with \
         SigningOverride::new().with_payload_policy(PayloadPolicy::CallerProvided), or \
         SigningOverride::new().with_payload_hash(..)), or sign with PayloadPolicy::Unsigned where \
         the service accepts it (S3)"
    )]
    StreamingBody,

    /// The signer refused the request (no host, invalid region or service, a header value AWS
    /// cannot sign, ...).
    #[error("could not sign the request: {0}")]
    Signing(SigningError),

    /// [`PayloadPolicy::AwsChunked`](crate::PayloadPolicy::AwsChunked) needs the body's length
    /// before the first byte is sent (it goes into `x-amz-decoded-content-length`, and the framed
    /// length into `Content-Length`), and the request has neither a `Content-Length` header nor a
    /// body whose `size_hint` is exact.
    #[error(
        "aws-chunked signing needs the body's length up front: set a Content-Length header on the \
         request or send a body with an exact size_hint (a file's length, Full<Bytes>)"
    )]
    UnknownBodyLength,

    /// The reqwest middleware cannot frame a `reqwest::Body` as aws-chunked (reqwest gives no way
    /// to wrap its body); [`PayloadPolicy::AwsChunked`](crate::PayloadPolicy::AwsChunked) works
    /// with the tower layer ([`SigV4Service`](crate::SigV4Service)).
    #[error(
        "PayloadPolicy::AwsChunked and PayloadPolicy::EventStream are not available in the reqwest \
         middleware (it cannot wrap a reqwest body): sign the stream through the tower layer \
         (SigV4Layer), or use PayloadPolicy::Unsigned"
    )]
    AwsChunkedUnsupported,

    /// The event stream could not be set up ([`PayloadPolicy::EventStream`](crate::PayloadPolicy::EventStream)):
    /// the request was signed with SigV4a (event streams chain SigV4 signatures), or the scope
    /// cannot sign.
    #[cfg(feature = "eventstream")]
    #[error("cannot sign the event stream: {0}")]
    EventStream(sigv4_core::eventstream::EventStreamError),

    /// An aws-chunked body held more or fewer bytes than the length it declared; the request was
    /// cut off (the inner service sees this as its body's error).
    #[error(
        "the request body declared {declared} bytes (Content-Length or size_hint) but {} {actual}: \
         the aws-chunked upload was cut off",
        if *.actual > *.declared { "held at least" } else { "ended after" }
    )]
    BodyLengthMismatch {
        /// The length declared.
        declared: u64,
        /// The bytes read.
        actual: u64,
    },
}

fn content_length_note(content_length: Option<u64>) -> String {
    match content_length {
        Some(n) => format!(" (it declares {n} bytes)"),
        None => String::new(),
    }
}

impl SigV4Error {
    /// Finds a `SigV4Error` in `error` or in its chain of sources.
    ///
    /// ```
    /// use tower_sigv4::{BoxError, SigV4Error};
    ///
    /// let error: BoxError = Box::new(SigV4Error::MissingPayloadHash);
    /// assert!(matches!(SigV4Error::find(&*error), Some(SigV4Error::MissingPayloadHash)));
    /// ```
    pub fn find<'a>(error: &'a (dyn StdError + 'static)) -> Option<&'a SigV4Error> {
        let mut current: Option<&'a (dyn StdError + 'static)> = Some(error);
        while let Some(e) = current {
            if let Some(found) = e.downcast_ref::<SigV4Error>() {
                return Some(found);
            }
            current = e.source();
        }
        None
    }

    /// True for [`SigV4Error::Credentials`].
    pub fn is_credentials(&self) -> bool {
        matches!(self, Self::Credentials(_))
    }

    /// True for [`SigV4Error::BodyTooLarge`].
    pub fn is_body_too_large(&self) -> bool {
        matches!(self, Self::BodyTooLarge { .. })
    }
}

impl From<CredentialsError> for SigV4Error {
    fn from(error: CredentialsError) -> Self {
        Self::Credentials(error)
    }
}

impl From<SigningError> for SigV4Error {
    fn from(error: SigningError) -> Self {
        Self::Signing(error)
    }
}
