//! What can go wrong on purpose, and on which requests.

use std::time::Duration;

use http::StatusCode;

use super::records::Action;

/// Something going wrong on purpose. Switch one on with
/// [`StsHandle::set_fault`](super::StsHandle::set_fault).
///
/// Each fault has a default [`Target`] (see [`Fault::default_target`]); wrap it in a
/// [`FaultRule`] to choose another target or to limit it to the next `n` requests. Error answers
/// have STS's XML error body (`<ErrorResponse>…<Code>…</Code>…`), `Type` `Sender` for a 4xx status
/// and `Receiver` for a 5xx.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer with this status and the STS error code that goes with it: `InternalFailure` for
    /// 500, `ServiceUnavailable` for 503, otherwise the reason phrase without spaces
    /// (`BadGateway`, `GatewayTimeout`, ...). Default target: [`Target::Any`].
    Status(StatusCode),
    /// Answer with any status and error code, e.g. `403 AccessDenied` or
    /// `400 RegionDisabledException`. Default target: [`Target::Any`].
    Error {
        /// The HTTP status.
        status: StatusCode,
        /// The STS error code (`<Code>`).
        code: String,
    },
    /// `400 Throttling` ("Rate exceeded"), as STS throttles callers (retryable).
    /// Default target: [`Target::Any`].
    Throttling,
    /// `400 IDPCommunicationError`: STS could not reach the identity provider (retryable). Default
    /// target: [`Target::AssumeRoleWithWebIdentity`].
    IdpCommunicationError,
    /// Never answer: the request is held open until
    /// [`StsHandle::clear_faults`](super::StsHandle::clear_faults) is called (it is then answered
    /// normally) or the emulator is dropped (the connection is closed). Default target:
    /// [`Target::Any`].
    Hang,
    /// Wait this long (with `tokio::time`, so paused time skips it), then answer normally, or with
    /// the next matching fault. Delays of several matching rules add up. Default target:
    /// [`Target::Any`].
    Delay(Duration),
    /// Close the connection without answering. Default target: [`Target::Any`].
    CloseConnection,
    /// `200` with a truncated, unparseable XML body where the request would have succeeded (no
    /// credentials are issued). Default target: [`Target::Any`] (applies only to requests that
    /// succeed).
    MalformedXml,
    /// Issue the credentials as usual but already expired: `Expiration` is now minus
    /// [`EXPIRED_CREDENTIALS_AGE`](super::EXPIRED_CREDENTIALS_AGE), and the emulator refuses them
    /// with `ExpiredToken` if they sign a request. Default target: [`Target::Any`] (applies only
    /// to requests that succeed).
    ExpiredCredentials,
}

impl Fault {
    /// The requests this fault applies to when set on its own (not through a [`FaultRule`] that
    /// names a target).
    pub fn default_target(&self) -> Target {
        match self {
            Fault::IdpCommunicationError => Target::AssumeRoleWithWebIdentity,
            _ => Target::Any,
        }
    }
}

crate::fault::impl_fault_kind!(Fault, Target);

/// Which requests a [`FaultRule`] applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Target {
    /// Every request, whatever its action (an unknown or missing one too).
    Any,
    /// `Action=AssumeRole`.
    AssumeRole,
    /// `Action=AssumeRoleWithWebIdentity`.
    AssumeRoleWithWebIdentity,
}

impl Target {
    pub(super) fn matches(self, action: Option<Action>) -> bool {
        match self {
            Target::Any => true,
            Target::AssumeRole => action == Some(Action::AssumeRole),
            Target::AssumeRoleWithWebIdentity => action == Some(Action::AssumeRoleWithWebIdentity),
        }
    }
}

/// A [`Fault`] of the STS emulator with the requests it applies to and how many times.
///
/// A plain `Fault` converts into a rule with its [default target](Fault::default_target) that lasts
/// until [`StsHandle::clear_faults`](super::StsHandle::clear_faults).
///
/// ```
/// use http::StatusCode;
/// use sigv4_testkit::sts::{Fault, FaultRule, Target};
///
/// // The next 2 web identity calls are throttled; everything else is normal.
/// let rule = FaultRule::new(Fault::Throttling)
///     .on(Target::AssumeRoleWithWebIdentity)
///     .times(2);
/// assert_eq!(rule.remaining(), Some(2));
/// # let _ = StatusCode::OK;
/// ```
pub type FaultRule = crate::fault::FaultRule<Fault>;
