//! Loopback servers for testing SigV4 clients without AWS.
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod endpoint;
pub mod fault;
pub mod imds;
mod issue;
mod log;
mod rfc3339;
mod server;
pub mod sts;
