//! Loopback servers for testing SigV4 clients without AWS.
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod endpoint;
pub mod imds;
