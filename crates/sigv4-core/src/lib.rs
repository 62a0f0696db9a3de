//! Sans-IO AWS Signature Version 4.
//!
//! Time is an input, nothing here does I/O or waits.
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod canonical;
mod credentials;
mod error;
mod key;
mod settings;
mod sign;
mod time;
pub mod verify;

pub use credentials::{Credentials, CredentialsBuilder};
pub use error::SigningError;
pub use key::derive_signing_key;
pub use settings::{
    ContentSha256Header, ExcludedHeaders, SessionTokenMode, SignatureLocation, SigningSettings,
    DEFAULT_EXCLUDED_HEADERS, MAX_EXPIRES, MIN_EXPIRES,
};
pub use sign::{
    sha256_hex, Inspection, Payload, Signature, Signer, SigningOutput, SigningParams, ALGORITHM,
    DEFAULT_KEY_CACHE_CAPACITY, EMPTY_SHA256, UNSIGNED_PAYLOAD, X_AMZ_CONTENT_SHA256, X_AMZ_DATE,
    X_AMZ_SECURITY_TOKEN,
};
pub use time::{AmzDate, TimeError};
