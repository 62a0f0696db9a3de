//! What can go wrong on purpose, and on which requests.

use std::time::Duration;

use http::StatusCode;

use super::records::Operation;

/// Something going wrong on purpose. Switch one on with
/// [`SsoHandle::set_fault`](super::SsoHandle::set_fault); wrap it in a [`FaultRule`] to choose
/// the requests ([`Target`]) and how many.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer with this status and a JSON error body (`InternalServerException` for a 5xx,
    /// otherwise the reason phrase without spaces). Default target: [`Target::Any`].
    Status(StatusCode),
    /// Answer with any status and error code (the `x-amzn-ErrorType` header and the body), e.g.
    /// `401 UnauthorizedException` or `400 InvalidGrantException`. Default target:
    /// [`Target::Any`].
    Error {
        /// The HTTP status.
        status: StatusCode,
        /// The error code.
        code: String,
    },
    /// `429 TooManyRequestsException` (retryable). Default target: [`Target::Any`].
    Throttling,
    /// Never answer until the faults are cleared (then answer normally) or the emulator is
    /// dropped. Default target: [`Target::Any`].
    Hang,
    /// Wait this long (with `tokio::time`), then answer. Default target: [`Target::Any`].
    Delay(Duration),
    /// Close the connection without answering. Default target: [`Target::Any`].
    CloseConnection,
    /// `200` with a truncated JSON body where the request would have succeeded (nothing is issued
    /// and no refresh token is used up). Default target: [`Target::Any`].
    MalformedJson,
}

impl Fault {
    /// The requests this fault applies to when set on its own.
    pub fn default_target(&self) -> Target {
        Target::Any
    }
}

crate::fault::impl_fault_kind!(Fault, Target);

/// Which requests a [`FaultRule`] applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Target {
    /// Every request.
    Any,
    /// The portal's `GetRoleCredentials` (`GET /federation/credentials`).
    GetRoleCredentials,
    /// SSO-OIDC `CreateToken` (`POST /token`).
    CreateToken,
}

impl Target {
    pub(super) fn matches(self, operation: Option<Operation>) -> bool {
        match self {
            Target::Any => true,
            Target::GetRoleCredentials => operation == Some(Operation::GetRoleCredentials),
            Target::CreateToken => operation == Some(Operation::CreateToken),
        }
    }
}

/// A [`Fault`] of the SSO emulator with the requests it applies to and how many times.
///
/// ```
/// use sigv4_testkit::sso::{Fault, FaultRule, Target};
///
/// // The next token refresh fails with a 500.
/// let rule = FaultRule::new(Fault::Status(http::StatusCode::INTERNAL_SERVER_ERROR))
///     .on(Target::CreateToken)
///     .once();
/// assert_eq!(rule.remaining(), Some(1));
/// ```
pub type FaultRule = crate::fault::FaultRule<Fault>;
