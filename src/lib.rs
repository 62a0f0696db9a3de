//! `sigv4`: AWS Signature Version 4 for tower stacks.
//!
//! This umbrella crate re-exports the parts of the workspace:
//! - [`core`]: the sans-IO signer and verifier (`sigv4-core`).
//! - [`credentials`]: where credentials come from and how they stay fresh (`sigv4-credentials`):
//!   [`credentials::DefaultChain`] and the sources behind it.
//! - the tower layers (`tower-sigv4`): [`SigV4Layer`] signs outgoing requests, [`VerifyLayer`]
//!   checks incoming ones ([`sign`] and [`verify`] hold the details).
//!
//! Run `cargo run --example quickstart` to watch a signing client, a rotating IMDS and a verifying
//! endpoint at work on loopback.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub use sigv4_core as core;
pub use sigv4_core::Credentials;
pub use sigv4_credentials as credentials;
pub use tower_sigv4::{sign, verify};
pub use tower_sigv4::{
    BoxError, ClockSkew, ClockSkewCorrection, KeyStore, PayloadPolicy, SigV4Body, SigV4Error,
    SigV4Layer, SigV4LayerBuilder, SigV4Service, SigningOverride, SkipSigning, StaticKeyStore,
    Verify, VerifyBody, VerifyLayer,
};

#[cfg(feature = "reqwest-middleware")]
pub use tower_sigv4::reqwest;
