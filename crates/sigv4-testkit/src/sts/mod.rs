//! A loopback emulator of AWS STS (the Query protocol) for `AssumeRole` and
//! `AssumeRoleWithWebIdentity`, with role chains, expiring credentials and fault injection.
//!
//! [`StsEmulator`] is a real HTTP/1.1 server on `127.0.0.1`, on a port the OS picks. It answers
//! `POST /` with a form body (`Content-Type: application/x-www-form-urlencoded`), as the SDKs
//! send, and also reads the parameters from the query string (a `GET` works too):
//!
//! | request | answer |
//! | --- | --- |
//! | `Action=AssumeRole&Version=2011-06-15&RoleArn=…&RoleSessionName=…[&ExternalId=…][&DurationSeconds=…]`, SigV4-signed for service `sts` by a known key | `200`, `<AssumeRoleResponse>` |
//! | `Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=…&RoleSessionName=…&WebIdentityToken=…[&DurationSeconds=…]`, unsigned, with an accepted token | `200`, `<AssumeRoleWithWebIdentityResponse>` |
//! | `AssumeRole` unsigned | `403 MissingAuthenticationToken` |
//! | … signed with an unknown key, or a session token that does not belong to it | `403 InvalidClientTokenId` |
//! | … signed with credentials the emulator issued that have expired | `403 ExpiredToken` |
//! | … with a wrong signature, body hash, date (±5 min) or region | `403 SignatureDoesNotMatch` |
//! | a web identity token that is not accepted | `400 InvalidIdentityToken` |
//! | a missing or malformed `RoleArn`, `RoleSessionName` (2–64 of `[\w+=,.@-]`), `WebIdentityToken`, or `DurationSeconds` outside `900..=43200` | `400 ValidationError` |
//! | a wrong `ExternalId` for a role registered with one; a role not registered under [`only_registered_roles`](StsEmulatorBuilder::only_registered_roles) | `403 AccessDenied` |
//! | no `Action` / an unknown one / no `Version` | `400 MissingAction` / `InvalidAction` / `MissingParameter` |
//!
//! Errors carry STS's XML body and an `x-amzn-RequestId` header:
//!
//! ```text
//! <ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
//!   <Error>
//!     <Type>Sender</Type>
//!     <Code>InvalidIdentityToken</Code>
//!     <Message>…</Message>
//!   </Error>
//!   <RequestId>00000000-0000-4000-8000-000000000001</RequestId>
//! </ErrorResponse>
//! ```
//!
//! and successes the documents STS sends, element for element (`AssumedRoleUser` with
//! `AssumedRoleId` and `Arn`, `Credentials` with `AccessKeyId`, `SecretAccessKey`, `SessionToken`
//! and `Expiration`; for web identity also `Audience`, `Provider` and
//! `SubjectFromWebIdentityToken`; then `ResponseMetadata/RequestId`).
//!
//! # Callers, tokens, roles
//!
//! - `AssumeRole` is checked with our own verifier ([`tower_sigv4::verify`], on
//!   [`sigv4_core::verify`]): the body's SHA-256 (or a signed `x-amz-content-sha256`, after
//!   checking the body against it), the service `sts`, a region among those accepted
//!   ([`DEFAULT_REGION`] plus [`StsEmulatorBuilder::region`], or any), the time on the emulator's
//!   clock. The key is a caller the test registered ([`StsHandle::allow_caller`]) or credentials
//!   the emulator issued earlier, with their session token in `x-amz-security-token`: so chains
//!   A → B → C work, each hop signed with the previous hop's credentials. A chained hop may ask
//!   for 1 hour at most, as in AWS.
//! - `AssumeRoleWithWebIdentity` needs a token the test registered
//!   ([`StsHandle::allow_web_identity_token`]); [`StsHandle::set_web_identity_token`] rotates it.
//!   When the token is a JWT, the answer takes `SubjectFromWebIdentityToken`, `Audience` and the
//!   OIDC `Provider` from its `sub`, `aud` and `iss` claims (the signature is not checked), as an
//!   EKS service account token would give them; otherwise [`DEFAULT_WEB_IDENTITY_SUBJECT`],
//!   [`DEFAULT_WEB_IDENTITY_AUDIENCE`] and [`OIDC_PROVIDER_HOST`], the provider in the role's
//!   account.
//! - Any well-formed role ARN (`arn:<partition>:iam::<account>:role/[<path>/]<name>`, the account
//!   made of 1 to 12 digits since the SDKs' test vectors use short ones) can be assumed, unless the
//!   emulator was built with [`only_registered_roles`](StsEmulatorBuilder::only_registered_roles).
//!   A [`Role`] registered with [`StsHandle::add_role`] can require an `ExternalId` and cap
//!   `DurationSeconds`.
//!
//! # Issued credentials and time
//!
//! The `n`-th credentials issued have the access key id `ASIASTS` followed by `n` in 13 digits
//! (`ASIASTS0000000000001`, ...), their own secret and session token, and expire `DurationSeconds`
//! (1 hour by default) after the request, on the [`SharedTimeSource`](sigv4_core::SharedTimeSource)
//! given to [`StsEmulatorBuilder::time_source`] (the system clock by default): with a
//! [`ManualClock`](sigv4_core::ManualClock) a test moves time past their expiry and sees them
//! refused with `ExpiredToken` ([`StsHandle::expire_issued`] does it without moving the clock, as a
//! revoked session). `Expiration` is written in whole seconds, or with microseconds
//! ([`ExpirationFormat::Microseconds`]) as some emulators do. [`StsHandle::issued`] lists what was
//! issued, to whom, for which role and session; [`StsHandle::requests`] logs every request (action,
//! role, session, the signing access key id, status, error code) and
//! [`StsHandle::assume_role_calls`] / [`StsHandle::web_identity_calls`] count them. No secret,
//! session token or web identity token is ever in a `Debug` output or a log line.
//!
//! # Faults
//!
//! As on the IMDS emulator: [`StsHandle::set_fault`] switches a [`Fault`] on (a 5xx with an STS
//! error body, `Throttling`, `IDPCommunicationError`, any error code, a hang, a delay on
//! `tokio::time`, a closed connection, malformed XML, credentials issued already expired), a
//! [`FaultRule`] narrows it to one action ([`Target`]) and to the next `n` requests, and
//! [`StsHandle::clear_faults`] switches them all off.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use std::time::{Duration, UNIX_EPOCH};
//!
//! use bytes::Bytes;
//! use http::{Request, StatusCode};
//! use http_body_util::{BodyExt, Full};
//! use hyper_util::client::legacy::Client;
//! use hyper_util::rt::TokioExecutor;
//! use sigv4_core::{Credentials, ManualClock, Payload, Signer, SigningParams, TimeSource};
//! use sigv4_testkit::sts::{Fault, FaultRule, StsEmulator, Target};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
//! let caller = Credentials::new("AKIDCALLER", "caller-secret");
//! let sts = StsEmulator::builder()
//!     .time_source(Arc::new(clock.clone()))
//!     .caller(caller.clone())
//!     .web_identity_token("eyJhbGciOiJSUzI1NiJ9.e30.sig")
//!     .start()
//!     .await;
//! let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
//!
//! // AssumeRole, signed by our own signer with the caller's key.
//! let form = "Action=AssumeRole&Version=2011-06-15\
//!     &RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fdeploy&RoleSessionName=ci";
//! let mut request = Request::post(format!("{}/", sts.endpoint()))
//!     .header("content-type", "application/x-www-form-urlencoded")
//!     .body(Full::from(form))
//!     .unwrap();
//! let params = SigningParams::new(&caller, "us-east-1", "sts", clock.now());
//! Signer::new().sign_request(&mut request, Payload::Bytes(form.as_bytes()), &params).unwrap();
//! let response = client.request(request).await.unwrap();
//! assert_eq!(response.status(), StatusCode::OK);
//! let xml = String::from_utf8(response.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
//! assert!(xml.contains("<AccessKeyId>ASIASTS0000000000001</AccessKeyId>"));
//! assert!(xml.contains("<Expiration>2023-11-14T23:13:20Z</Expiration>"));
//! assert!(xml.contains("<Arn>arn:aws:sts::123456789012:assumed-role/deploy/ci</Arn>"));
//!
//! // What the emulator issued, for assertions.
//! let issued = sts.last_issued().unwrap();
//! assert_eq!(issued.caller.access_key_id(), Some("AKIDCALLER"));
//! assert_eq!(issued.role_session_name, "ci");
//!
//! // Web identity (unsigned); the next call is throttled.
//! sts.set_fault(FaultRule::new(Fault::Throttling).on(Target::AssumeRoleWithWebIdentity).once());
//! let form = "Action=AssumeRoleWithWebIdentity&Version=2011-06-15\
//!     &RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fpod&RoleSessionName=pod-1\
//!     &WebIdentityToken=eyJhbGciOiJSUzI1NiJ9.e30.sig";
//! let send = || {
//!     client.request(
//!         Request::post(format!("{}/", sts.endpoint()))
//!             .header("content-type", "application/x-www-form-urlencoded")
//!             .body(Full::from(form))
//!             .unwrap(),
//!     )
//! };
//! assert_eq!(send().await.unwrap().status(), StatusCode::BAD_REQUEST);
//! assert_eq!(send().await.unwrap().status(), StatusCode::OK);
//! assert_eq!((sts.assume_role_calls(), sts.web_identity_calls()), (1, 2));
//! assert_eq!(sts.requests()[1].error_code.as_deref(), Some("Throttling"));
//! # }
//! ```
//!
//! The emulator shuts down when the [`StsEmulator`] is dropped: it stops accepting and closes
//! every open connection (including requests held by [`Fault::Hang`]). An [`StsHandle`] (from
//! [`StsEmulator::handle`]) can outlive it, for assertions.

use std::time::Duration;

mod emulator;
mod faults;
mod protocol;
mod records;
mod service;

pub use emulator::{StsEmulator, StsEmulatorBuilder, StsHandle};
pub use faults::{Fault, FaultRule, Target};
pub use records::{Action, Caller, ExpirationFormat, IssuedCredentials, RequestRecord, Role};

/// The region `AssumeRole` signatures may always be scoped to.
pub const DEFAULT_REGION: &str = "us-east-1";
/// The service `AssumeRole` signatures must be scoped to.
pub const SERVICE: &str = "sts";
/// The API version every request must name (`Version=2011-06-15`).
pub const API_VERSION: &str = "2011-06-15";
/// The XML namespace of STS's documents.
pub const XMLNS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
/// The lifetime of issued credentials when `DurationSeconds` is absent: 1 hour.
pub const DEFAULT_DURATION_SECONDS: u64 = 3600;
/// The smallest `DurationSeconds` STS accepts: 15 minutes.
pub const MIN_DURATION_SECONDS: u64 = 900;
/// The largest `DurationSeconds` STS accepts: 12 hours.
pub const MAX_DURATION_SECONDS: u64 = 43_200;
/// The largest `DurationSeconds` of a chained `AssumeRole` (signed with assumed-role
/// credentials): 1 hour.
pub const CHAINED_MAX_DURATION_SECONDS: u64 = 3600;
/// The provider name on the [`Credentials`](sigv4_core::Credentials) the emulator's accessors
/// return.
pub const PROVIDER_NAME: &str = "sts-emulator";
/// How far in the past `Expiration` is under [`Fault::ExpiredCredentials`]: 1 hour before "now".
pub const EXPIRED_CREDENTIALS_AGE: Duration = Duration::from_secs(3600);
/// `SubjectFromWebIdentityToken` in web identity answers when the token is not a JWT with a `sub`
/// claim (an EKS service account).
pub const DEFAULT_WEB_IDENTITY_SUBJECT: &str = "system:serviceaccount:default:sigv4-testkit";
/// `Audience` in web identity answers when the token is not a JWT with an `aud` claim.
pub const DEFAULT_WEB_IDENTITY_AUDIENCE: &str = "sts.amazonaws.com";
/// The OIDC issuer in `Provider` (`arn:aws:iam::<account>:oidc-provider/<issuer>`) when the token
/// is not a JWT with an `iss` claim.
pub const OIDC_PROVIDER_HOST: &str = "oidc.eks.us-east-1.amazonaws.com/id/SIGV4TESTKIT";
/// The largest request body read (web identity tokens can be 20,000 characters): 1 MiB.
pub const MAX_BODY_SIZE: usize = 1 << 20;
