//! Sans-IO AWS Signature Version 4: byte-exact with AWS's test suite, no I/O, no async, no
//! clock read behind your back (the signing time is an input).
//!
//! ```
//! use sigv4_core::{Credentials, Payload, Signer, SigningParams, SigningSettings};
//! use std::time::{Duration, SystemTime};
//!
//! // One signer for the life of the client: it caches the derived signing keys.
//! let signer = Signer::new();
//! let creds = Credentials::builder("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
//!     .session_token("FwoGZXIvYXdzEBY...")
//!     .build();
//!
//! // Header signing (API Gateway): the body's SHA-256 is part of the signature.
//! let body = br#"{"name":"widget"}"#;
//! let mut request = http::Request::post("https://abc123.execute-api.eu-west-1.amazonaws.com/prod/items")
//!     .header("content-type", "application/json")
//!     .body(())
//!     .unwrap();
//! let params = SigningParams::new(&creds, "eu-west-1", "execute-api", SystemTime::now());
//! signer.sign_request(&mut request, Payload::Bytes(body), &params).unwrap();
//! assert!(request.headers().contains_key("authorization"));
//! assert!(request.headers().contains_key("x-amz-security-token"));
//!
//! // A presigned S3 URL, valid for an hour.
//! let mut settings = SigningSettings::s3();
//! settings.location = sigv4_core::SignatureLocation::Query { expires_in: Duration::from_secs(3600) };
//! let mut get = http::Request::get("https://bucket.s3.eu-west-1.amazonaws.com/report.csv")
//!     .body(())
//!     .unwrap();
//! let params = SigningParams::new(&creds, "eu-west-1", "s3", SystemTime::now()).with_settings(&settings);
//! signer.sign_request(&mut get, Payload::Unsigned, &params).unwrap();
//! assert!(get.uri().query().unwrap().contains("X-Amz-Signature="));
//!
//! // Debugging a SignatureDoesNotMatch: the canonical request and string to sign, on demand.
//! let fresh = http::Request::get("https://abc123.execute-api.eu-west-1.amazonaws.com/prod").body(()).unwrap();
//! let (_, inspection) = signer
//!     .inspect((&fresh).into(), Payload::Bytes(b""), &params)
//!     .unwrap();
//! assert!(inspection.canonical_request.starts_with("GET\n/prod\n"));
//! ```
//!
//! - [`Signer`]: header signing and presigned URLs ([`SigningSettings`] names every knob: path
//!   normalization and double encoding, session token signed or not, `x-amz-content-sha256`,
//!   excluded headers, signature location); [`Signer::inspect`] for the intermediate texts.
//! - [`infer`]: region and service from a well-known AWS host name.
//! - [`mismatch`]: AWS's canonical request (from a `SignatureDoesNotMatch` answer) against ours.
//! - [`chunked`]: aws-chunked uploads (a signature per chunk, checksum trailers), framing and
//!   decoding; [`checksum`]: S3's flexible checksums.
//! - [`verify`]: the server side: parse what a request claims, recompute, compare in constant time.
//! - `eventstream` (cargo feature `eventstream`): the `application/vnd.amazon.eventstream`
//!   message format and its chained per-message signing and verification (Transcribe streaming,
//!   Bedrock bidirectional streaming).
//! - [`Credentials`]: the value the signer takes; secrets redacted in `Debug`, wiped on drop.
//! - Every bad input is a typed [`SigningError`]; no input panics.
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod algorithm;
mod canonical;
pub mod checksum;
pub mod chunked;
pub mod clock;
mod credentials;
mod error;
#[cfg(feature = "eventstream")]
pub mod eventstream;
mod head;
pub mod infer;
pub mod mismatch;
mod settings;
mod sign;
pub mod time;
pub mod verify;

pub use algorithm::sigv4::derive_signing_key;
pub use algorithm::Algorithm;

/// SigV4a (`AWS4-ECDSA-P256-SHA256`, feature `sigv4a`): the public key derived from an access
/// key, and a check of a signature against a public key. Signing and verifying go through
/// [`Signer`] with [`Algorithm::SigV4a`].
#[cfg(feature = "sigv4a")]
pub mod sigv4a {
    pub use crate::algorithm::sigv4a::{public_key, verify_with_public_key};
}
pub use clock::{ManualClock, SharedTimeSource, SystemClock, TimeSource};
pub use credentials::{Credentials, CredentialsBuilder};
pub use error::SigningError;
pub use head::RequestHead;
pub use settings::{
    ContentSha256Header, ExcludedHeaders, ExpiryPastCredentials, SessionTokenMode,
    SignatureLocation, SigningSettings, DEFAULT_EXCLUDED_HEADERS, MAX_EXPIRES, MIN_EXPIRES,
};
pub use sign::{
    sha256_hex, Inspection, Payload, Signature, Signer, SigningOutput, SigningParams, ALGORITHM,
    DEFAULT_KEY_CACHE_CAPACITY, EMPTY_SHA256, UNSIGNED_PAYLOAD, X_AMZ_CONTENT_SHA256, X_AMZ_DATE,
    X_AMZ_REGION_SET, X_AMZ_SECURITY_TOKEN,
};
pub use time::{AmzDate, TimeError};
