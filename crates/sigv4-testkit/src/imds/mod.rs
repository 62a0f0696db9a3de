//! A loopback emulator of the EC2 Instance Metadata Service (IMDSv2), with rotating credentials and
//! fault injection.
//!
//! [`ImdsEmulator`] is a real HTTP/1.1 server on `127.0.0.1`, on a port the OS picks. It speaks the
//! part of IMDS that credential providers use, as strictly as EC2 does:
//!
//! | request | answer |
//! | --- | --- |
//! | `PUT /latest/api/token` with `x-aws-ec2-metadata-token-ttl-seconds: 1..=21600` | `200`, body = an opaque session token, the TTL header repeated |
//! | the same without the TTL header, or with a TTL out of range | `400` |
//! | the same with an `X-Forwarded-For` header | `403` |
//! | `GET /latest/api/token` (or any method but `PUT`) | `405` |
//! | any other request without a valid, unexpired `x-aws-ec2-metadata-token` | `401` (unless IMDSv1 is allowed) |
//! | `GET /latest/meta-data/iam/security-credentials/` | `200`, the role name |
//! | `GET /latest/meta-data/iam/security-credentials/<role>` | `200`, the credentials JSON |
//! | an unknown role, any other path | `404` |
//! | a method other than `GET` on a metadata path | `405` |
//!
//! The credentials JSON has the fields EC2 serves:
//!
//! ```text
//! {
//!   "Code": "Success",
//!   "LastUpdated": "2023-11-14T22:13:20Z",
//!   "Type": "AWS-HMAC",
//!   "AccessKeyId": "ASIAEMU0000000000001",
//!   "SecretAccessKey": "…",
//!   "Token": "…",
//!   "Expiration": "2023-11-15T04:13:20Z"
//! }
//! ```
//!
//! # Time, rotation and tokens
//!
//! All wall-clock decisions use the [`SharedTimeSource`](sigv4_core::SharedTimeSource) given to
//! [`ImdsEmulatorBuilder::time_source`] (the system clock by default): the `LastUpdated` and
//! `Expiration` fields, when a new generation of credentials becomes current, and when a session
//! token expires. With a [`ManualClock`](sigv4_credentials::ManualClock) a test decides all of it
//! by moving the clock; nothing in the emulator sleeps on the wall clock. Only the [`Fault::Delay`]
//! fault waits, and it waits with `tokio::time`, so paused-time tests (`#[tokio::test(start_paused
//! = true)]`) run it instantly.
//!
//! Generation 1 is issued at the moment the emulator starts. Generation `n` has the access key id
//! `ASIAEMU` followed by `n` in 13 digits (`ASIAEMU0000000000001`, `ASIAEMU0000000000002`, ...),
//! its own secret and session token, `LastUpdated` = the time it was issued and `Expiration` = that
//! time plus the credential lifetime (6 hours by default), rounded down to the whole second exactly
//! as served. A new generation becomes current every `rotate_every` (by default the lifetime minus
//! 15 minutes, so the next generation is available well before the previous one expires, as on
//! EC2). Rotation is evaluated lazily from the clock whenever the emulator is asked (a request or
//! an accessor): when the clock jumps across several rotation periods at once, one new generation
//! is issued, dated at the start of the period the clock is in. [`ImdsHandle::rotate_now`] forces a
//! rotation.
//!
//! # Faults
//!
//! [`ImdsHandle::set_fault`] switches a [`Fault`] on, at any time, also while requests are in
//! flight; [`ImdsHandle::clear_faults`] switches them all off. A [`FaultRule`] narrows a fault to a
//! [`Target`] (the token path, the role listing, the role's credentials, ...) and to the next `n`
//! matching requests. For a server that is not there at all, see [`closed_port_endpoint`].
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use std::time::{Duration, UNIX_EPOCH};
//!
//! use http::StatusCode;
//! use sigv4_credentials::ManualClock;
//! use sigv4_testkit::imds::{Fault, FaultRule, ImdsEmulator, Target};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
//! let imds = ImdsEmulator::builder()
//!     .time_source(Arc::new(clock.clone()))
//!     .role_name("web-server")
//!     .start()
//!     .await;
//!
//! // Point the code under test at `imds.endpoint()`, e.g. "http://127.0.0.1:41234".
//! assert!(imds.endpoint().starts_with("http://127.0.0.1:"));
//!
//! // What the code under test should end up with:
//! let first = imds.current_credentials();
//! assert_eq!(first.access_key_id(), "ASIAEMU0000000000001");
//! assert_eq!(first.expiry(), Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000 + 6 * 3600)));
//!
//! // Six hours later the emulator serves generation 2 (it rotated at 5 h 45 min).
//! clock.advance(Duration::from_secs(6 * 3600));
//! assert_eq!(imds.current_credentials().access_key_id(), "ASIAEMU0000000000002");
//! // A verifying server can still look the old secret up.
//! assert!(imds.lookup("ASIAEMU0000000000001").is_some());
//!
//! // The next two token requests fail with 503, then IMDS recovers.
//! imds.set_fault(
//!     FaultRule::new(Fault::Status(StatusCode::SERVICE_UNAVAILABLE))
//!         .on(Target::Token)
//!         .times(2),
//! );
//! // Every credentials request answers with broken JSON until cleared.
//! imds.set_fault(Fault::MalformedJson);
//! imds.clear_faults();
//!
//! // After the code under test ran: what did it ask?
//! assert_eq!(imds.credential_fetches(), 0);
//! assert!(imds.requests().is_empty());
//! # }
//! ```
//!
//! The emulator shuts down when the [`ImdsEmulator`] is dropped: it stops accepting and closes
//! every open connection (including requests held by [`Fault::Hang`]). An [`ImdsHandle`] (from
//! [`ImdsEmulator::handle`]) can outlive it, for assertions.

use std::net::SocketAddr;
use std::time::Duration;

mod credentials;
mod emulator;
mod faults;
mod records;
mod service;
mod tokens;

pub use emulator::{ImdsEmulator, ImdsEmulatorBuilder, ImdsHandle};
pub use faults::{Fault, FaultRule, Target};
pub use records::RequestRecord;

/// The path of the session-token endpoint.
pub const TOKEN_PATH: &str = "/latest/api/token";
/// The path of the role listing; a role's credentials live at this path followed by the role name.
pub const SECURITY_CREDENTIALS_PATH: &str = "/latest/meta-data/iam/security-credentials/";
/// The request header that carries the session token on metadata requests.
pub const TOKEN_HEADER: &str = "x-aws-ec2-metadata-token";
/// The header that asks for (on the request) and repeats (on the answer) a token's TTL in seconds.
pub const TOKEN_TTL_HEADER: &str = "x-aws-ec2-metadata-token-ttl-seconds";
/// The longest token TTL IMDS grants, in seconds (6 hours). The shortest is 1.
pub const MAX_TOKEN_TTL_SECONDS: u64 = 21_600;
/// The role name served unless [`ImdsEmulatorBuilder::role_name`] says otherwise.
pub const DEFAULT_ROLE_NAME: &str = "sigv4-testkit-role";
/// How long each generation of credentials is valid unless
/// [`ImdsEmulatorBuilder::credential_lifetime`] says otherwise: 6 hours.
pub const DEFAULT_CREDENTIAL_LIFETIME: Duration = Duration::from_secs(6 * 3600);
/// The provider name on the [`Credentials`](sigv4_core::Credentials) the emulator's accessors
/// return.
pub const PROVIDER_NAME: &str = "imds-emulator";
/// How far in the past `Expiration` is under [`Fault::ExpiredCredentials`]: 1 hour before "now".
pub const EXPIRED_CREDENTIALS_AGE: Duration = Duration::from_secs(3600);
/// The `Code` served under [`Fault::CodeNotSuccess`].
pub const NOT_SUCCESS_CODE: &str = "AssumeRoleUnauthorizedAccess";

/// A `127.0.0.1` address where nothing listens (a port bound and released at once), to test a
/// client against "no IMDS here": connecting is refused.
///
/// Another process could take the port in between; on loopback in a test this is very unlikely.
pub fn closed_port() -> std::io::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    listener.local_addr()
}

/// [`closed_port`] as a base URL: `http://127.0.0.1:PORT`.
pub fn closed_port_endpoint() -> std::io::Result<String> {
    closed_port().map(|addr| format!("http://{addr}"))
}
