//! `sigv4`: AWS Signature Version 4 for tower stacks.
//!
//! This umbrella crate re-exports the parts of the workspace:
//! - [`core`]: the sans-IO signer (`sigv4-core`).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub use sigv4_core as core;
pub use sigv4_core::Credentials;
