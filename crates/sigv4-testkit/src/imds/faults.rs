//! What can go wrong on purpose, and on which requests.

use std::time::Duration;

use http::StatusCode;

use super::service::Endpoint;

/// Something going wrong on purpose. Switch one on with
/// [`ImdsHandle::set_fault`](super::ImdsHandle::set_fault).
///
/// Each fault has a default [`Target`] (the requests it applies to), see [`Fault::default_target`];
/// wrap it in a [`FaultRule`] to choose another target or to limit it to the next `n` requests.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer with this status code (e.g. `500`, `503`) and its reason phrase as the body.
    /// Default target: [`Target::Any`].
    Status(StatusCode),
    /// Never answer: the request is held open until
    /// [`ImdsHandle::clear_faults`](super::ImdsHandle::clear_faults) is called (it is then answered
    /// normally) or the emulator is dropped (the connection is closed). Default target:
    /// [`Target::Any`].
    Hang,
    /// Wait this long (with `tokio::time`, so paused time skips it), then answer normally, or with
    /// the next matching fault. Delays of several matching rules add up. Default target:
    /// [`Target::Any`].
    Delay(Duration),
    /// Close the connection without answering. Default target: [`Target::Any`].
    CloseConnection,
    /// `403 Forbidden` on the token request, which is what EC2 does when IMDS is disabled on the
    /// instance (SDKs treat it as a hard "IMDS disabled" error). Default target: [`Target::Token`].
    Forbidden,
    /// The instance has no role: `404` on the role listing and on the role's credentials. Default
    /// target: [`Target::Metadata`] (applies only to those two kinds of request).
    NoRole,
    /// `200` with a truncated, unparseable JSON body on the role's credentials. Default target:
    /// [`Target::Credentials`] (applies only there).
    MalformedJson,
    /// `200` with a JSON body whose `Code` is [`NOT_SUCCESS_CODE`](super::NOT_SUCCESS_CODE) and
    /// that has a `Message` but no keys, as EC2 serves when it cannot assume the role. Default
    /// target: [`Target::Credentials`] (applies only there).
    CodeNotSuccess,
    /// The current credentials, but with `Expiration` = now minus
    /// [`EXPIRED_CREDENTIALS_AGE`](super::EXPIRED_CREDENTIALS_AGE) (and `LastUpdated` one lifetime
    /// before that), as IMDS does during some outages. Default target: [`Target::Credentials`]
    /// (applies only there).
    ExpiredCredentials,
}

impl Fault {
    /// The requests this fault applies to when set on its own (not through a [`FaultRule`] that
    /// names a target).
    pub fn default_target(&self) -> Target {
        match self {
            Fault::Status(_) | Fault::Hang | Fault::Delay(_) | Fault::CloseConnection => {
                Target::Any
            }
            Fault::Forbidden => Target::Token,
            Fault::NoRole => Target::Metadata,
            Fault::MalformedJson | Fault::CodeNotSuccess | Fault::ExpiredCredentials => {
                Target::Credentials
            }
        }
    }

    /// Whether the fault means anything for this kind of request (a body fault does not apply to
    /// the token request, for instance).
    pub(super) fn applies_to(&self, endpoint: &Endpoint, role_name: &str) -> bool {
        match self {
            Fault::Status(_)
            | Fault::Hang
            | Fault::Delay(_)
            | Fault::CloseConnection
            | Fault::Forbidden => true,
            Fault::NoRole => matches!(endpoint, Endpoint::RoleList | Endpoint::Credentials(_)),
            Fault::MalformedJson | Fault::CodeNotSuccess | Fault::ExpiredCredentials => {
                matches!(endpoint, Endpoint::Credentials(role) if role == role_name)
            }
        }
    }
}

/// Which requests a [`FaultRule`] applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Target {
    /// Every request.
    Any,
    /// The token request ([`TOKEN_PATH`](super::TOKEN_PATH), any method).
    Token,
    /// Every request except the token request.
    Metadata,
    /// The role listing ([`SECURITY_CREDENTIALS_PATH`](super::SECURITY_CREDENTIALS_PATH)).
    RoleList,
    /// A role's credentials ([`SECURITY_CREDENTIALS_PATH`](super::SECURITY_CREDENTIALS_PATH)
    /// followed by a name).
    Credentials,
}

impl Target {
    pub(super) fn matches(self, endpoint: &Endpoint) -> bool {
        match self {
            Target::Any => true,
            Target::Token => matches!(endpoint, Endpoint::Token),
            Target::Metadata => !matches!(endpoint, Endpoint::Token),
            Target::RoleList => matches!(endpoint, Endpoint::RoleList),
            Target::Credentials => matches!(endpoint, Endpoint::Credentials(_)),
        }
    }
}

crate::fault::impl_fault_kind!(Fault, Target);

/// A [`Fault`] of the IMDS emulator with the requests it applies to and how many times.
///
/// A plain `Fault` converts into a rule with its [default target](Fault::default_target) that lasts
/// until [`ImdsHandle::clear_faults`](super::ImdsHandle::clear_faults).
///
/// ```
/// use http::StatusCode;
/// use sigv4_testkit::imds::{Fault, FaultRule, Target};
///
/// // The next 3 credential requests fail with 500; everything else is normal.
/// let rule = FaultRule::new(Fault::Status(StatusCode::INTERNAL_SERVER_ERROR))
///     .on(Target::Credentials)
///     .times(3);
/// assert_eq!(rule.remaining(), Some(3));
/// ```
pub type FaultRule = crate::fault::FaultRule<Fault>;
