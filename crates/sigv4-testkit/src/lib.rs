//! Loopback servers for testing SigV4 clients without AWS: real HTTP/1.1 servers on `127.0.0.1`
//! (a port the OS picks), started inside the test, on an injected clock, shut down when dropped.
//!
//! - [`imds`]: the EC2 Instance Metadata Service (IMDSv2), with rotating instance-role credentials.
//! - [`sts`]: STS `AssumeRole` (signature checked) and `AssumeRoleWithWebIdentity`, role chains.
//! - [`sso`]: IAM Identity Center: the SSO portal (`GetRoleCredentials`) and SSO-OIDC
//!   (`CreateToken`), tokens expiring on an injected clock, refresh tokens rotating.
//! - [`signin`]: the AWS sign-in token endpoint of `aws login` sessions (DPoP-checked refresh,
//!   rotating refresh tokens).
//! - [`endpoint`]: an API-Gateway-like endpoint that verifies every signature, following the
//!   credentials the emulators issue.
//! - [`fault`]: the fault rules the emulators share (a 5xx, a hang, a delay, a closed connection,
//!   bad documents, ...), narrowed to a kind of request and to the next `n` requests.
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod endpoint;
pub mod fault;
pub mod imds;
mod issue;
mod log;
mod rfc3339;
mod server;
pub mod signin;
pub mod sso;
pub mod sts;
