//! A loopback emulator of IAM Identity Center: the SSO portal's `GetRoleCredentials` and
//! SSO-OIDC's `CreateToken` (refresh-token grant) on one server, with expiring tokens, rotating
//! refresh tokens and fault injection.
//!
//! | request | answer |
//! | --- | --- |
//! | `GET /federation/credentials?account_id=…&role_name=…` with `x-amz-sso_bearer_token` a current access token | `200 {"roleCredentials": {"accessKeyId", "secretAccessKey", "sessionToken", "expiration" (ms)}}` |
//! | … without the header, or with an unknown or expired token | `401 UnauthorizedException` |
//! | … without `account_id` or `role_name` | `400 InvalidRequestException` |
//! | `POST /token` `{"clientId", "clientSecret", "grantType": "refresh_token", "refreshToken"}` with a registered client and an unused refresh token | `200 {"accessToken", "tokenType", "expiresIn", "refreshToken"}`: a new access token and a new refresh token; the one used is no longer valid |
//! | … an unknown client or wrong secret | `401 invalid_client` |
//! | … another grant type | `400 unsupported_grant_type` |
//! | … an unknown or already used refresh token | `400 invalid_grant` |
//!
//! Errors carry `x-amzn-ErrorType` and a JSON body (`{"message"}` from the portal,
//! `{"error", "error_description"}` from OIDC). Access tokens expire [`SsoEmulatorBuilder::token_lifetime`]
//! after they are issued (1 hour by default) and role credentials
//! [`SsoEmulatorBuilder::role_credentials_lifetime`] after (1 hour), on the injected clock.
//! Role credentials are numbered `ASIASSO0000000000001`, …. No token, secret or key is in any
//! `Debug` output or log line.
//!
//! Point a client at it with `AWS_ENDPOINT_URL_SSO` and `AWS_ENDPOINT_URL_SSO_OIDC` (both
//! [`SsoEmulator::endpoint`]).
//!
//! ```
//! use std::sync::Arc;
//! use std::time::{Duration, UNIX_EPOCH};
//! use sigv4_core::{ManualClock, TimeSource};
//! use sigv4_testkit::sso::SsoEmulator;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
//! let sso = SsoEmulator::builder()
//!     .time_source(Arc::new(clock.clone()))
//!     .client("client-id", "client-secret")
//!     .start()
//!     .await;
//! // What `aws sso login` would have put in the cache file.
//! let token = sso.issue_token();
//! assert_eq!(token.expires_at, clock.now() + Duration::from_secs(3600));
//! assert_eq!(sso.create_token_calls(), 0);
//! # }
//! ```

mod emulator;
mod faults;
mod records;
mod service;

pub use emulator::{SsoEmulator, SsoEmulatorBuilder, SsoHandle};
pub use faults::{Fault, FaultRule, Target};
pub use records::{IssuedToken, Operation, RequestRecord};

/// The portal's bearer header.
pub const BEARER_HEADER: &str = "x-amz-sso_bearer_token";
/// The provider name on the role credentials the accessors return.
pub const PROVIDER_NAME: &str = "sso-emulator";
/// The largest request body read: 64 KiB.
pub const MAX_BODY_SIZE: usize = 64 * 1024;
