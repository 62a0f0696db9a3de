//! What the emulator logs and hands out.

use std::fmt;
use std::time::SystemTime;

use http::{Method, StatusCode};

use super::faults::Fault;

/// The two operations the emulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// The portal's `GetRoleCredentials`.
    GetRoleCredentials,
    /// SSO-OIDC `CreateToken`.
    CreateToken,
}

/// One request as the emulator saw it (no token or secret is kept).
#[derive(Debug, Clone)]
pub struct RequestRecord {
    /// The method.
    pub method: Method,
    /// The path (without the query).
    pub path: String,
    /// The operation, when the path names one.
    pub operation: Option<Operation>,
    /// `account_id` of a `GetRoleCredentials`.
    pub account_id: Option<String>,
    /// `role_name` of a `GetRoleCredentials`.
    pub role_name: Option<String>,
    /// Whether the `x-amz-sso_bearer_token` header was there.
    pub bearer_present: bool,
    /// `clientId` of a `CreateToken`.
    pub client_id: Option<String>,
    /// When it arrived, by the emulator's clock.
    pub at: SystemTime,
    /// The faults applied to it.
    pub faults: Vec<Fault>,
    /// The status answered (`None` while held or when the connection was closed).
    pub status: Option<StatusCode>,
    /// The error code answered, if any.
    pub error_code: Option<String>,
}

/// A token the emulator issued (by [`SsoHandle::issue_token`](super::SsoHandle::issue_token) or a
/// `CreateToken`). `Debug` shows the expiry only.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedToken {
    /// The access token (the bearer of `GetRoleCredentials`).
    pub access_token: String,
    /// The refresh token (valid for one `CreateToken`: it rotates).
    pub refresh_token: String,
    /// When the access token expires, by the emulator's clock.
    pub expires_at: SystemTime,
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}
