//! The values a test registers (roles) and reads back (issued credentials, the request log).

use std::fmt;
use std::time::{Duration, SystemTime};

use http::{Method, StatusCode};
use sigv4_core::Credentials;

use super::faults::Fault;

/// The STS actions the emulator implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Action {
    /// `AssumeRole`: SigV4-signed by the caller.
    AssumeRole,
    /// `AssumeRoleWithWebIdentity`: unsigned, authenticated by the web identity token.
    AssumeRoleWithWebIdentity,
}

impl Action {
    /// The action's name on the wire (`Action=...`).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::AssumeRole => "AssumeRole",
            Action::AssumeRoleWithWebIdentity => "AssumeRoleWithWebIdentity",
        }
    }

    pub(super) fn parse(name: &str) -> Option<Action> {
        match name {
            "AssumeRole" => Some(Action::AssumeRole),
            "AssumeRoleWithWebIdentity" => Some(Action::AssumeRoleWithWebIdentity),
            _ => None,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the `Expiration` of issued credentials is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ExpirationFormat {
    /// `2021-08-05T19:58:02Z`, as STS writes it (the expiry is rounded down to the second).
    #[default]
    WholeSeconds,
    /// `2021-08-05T19:58:02.123456Z`, as some STS emulators write it (the expiry is rounded down
    /// to the microsecond). Clients must parse both.
    Microseconds,
}

/// A role the test registers to constrain it: an external id to require, a longest session.
///
/// Unregistered roles are accepted as long as their ARN is well formed, unless the emulator was
/// built with [`only_registered_roles`](super::StsEmulatorBuilder::only_registered_roles).
///
/// ```
/// use std::time::Duration;
/// use sigv4_testkit::sts::Role;
///
/// let role = Role::new("arn:aws:iam::123456789012:role/deploy")
///     .external_id("ci-4f2a")
///     .max_session_duration(Duration::from_secs(7200));
/// assert_eq!(role.arn(), "arn:aws:iam::123456789012:role/deploy");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub(super) arn: String,
    pub(super) external_id: Option<String>,
    pub(super) max_session_duration: Option<Duration>,
}

impl Role {
    /// A role with this ARN (`arn:aws:iam::<12 digits>:role/<name>`), no external id, and the
    /// largest `DurationSeconds` STS allows (12 hours).
    pub fn new(arn: impl Into<String>) -> Self {
        Self {
            arn: arn.into(),
            external_id: None,
            max_session_duration: None,
        }
    }

    /// Requires `ExternalId=<id>` on `AssumeRole` (else `403 AccessDenied`), as a trust policy
    /// with an `sts:ExternalId` condition does.
    pub fn external_id(mut self, id: impl Into<String>) -> Self {
        self.external_id = Some(id.into());
        self
    }

    /// The role's `MaxSessionDuration`: a longer `DurationSeconds` is refused with
    /// `400 ValidationError`.
    pub fn max_session_duration(mut self, max: Duration) -> Self {
        self.max_session_duration = Some(max);
        self
    }

    /// The role's ARN.
    pub fn arn(&self) -> &str {
        &self.arn
    }
}

/// Who asked for a set of issued credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Caller {
    /// An `AssumeRole` signed with this access key id (a registered caller's, or credentials the
    /// emulator issued earlier: a role chain).
    AccessKey(String),
    /// An `AssumeRoleWithWebIdentity` with an accepted token; the token's subject.
    WebIdentity {
        /// `SubjectFromWebIdentityToken`.
        subject: String,
    },
}

impl Caller {
    /// The caller's access key id, for `AssumeRole`.
    pub fn access_key_id(&self) -> Option<&str> {
        match self {
            Caller::AccessKey(id) => Some(id),
            Caller::WebIdentity { .. } => None,
        }
    }
}

/// One set of credentials the emulator issued, for assertions. `Debug` shows no secret and no
/// session token.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct IssuedCredentials {
    /// 1 for the first credentials issued, then 2, 3, ...; the access key id is `ASIASTS`
    /// followed by this number in 13 digits.
    pub number: u64,
    /// The action that issued them.
    pub action: Action,
    /// Who asked.
    pub caller: Caller,
    /// The role assumed (`RoleArn`).
    pub role_arn: String,
    /// `RoleSessionName`.
    pub role_session_name: String,
    /// The `ExternalId` sent, if any.
    pub external_id: Option<String>,
    /// `AssumedRoleUser/AssumedRoleId`: `AROA…:<session name>`.
    pub assumed_role_id: String,
    /// `AssumedRoleUser/Arn`: `arn:aws:sts::<account>:assumed-role/<role name>/<session name>`.
    pub assumed_role_arn: String,
    /// When they were issued, by the emulator's clock.
    pub issued_at: SystemTime,
    /// The credentials, with the expiry served as `Expiration`.
    pub credentials: Credentials,
}

impl IssuedCredentials {
    /// The access key id (`ASIASTS…`).
    pub fn access_key_id(&self) -> &str {
        self.credentials.access_key_id()
    }

    /// When they expire (the `Expiration` served).
    pub fn expiry(&self) -> SystemTime {
        self.credentials.expiry().unwrap_or(self.issued_at)
    }

    /// The account id of the role (from `RoleArn`).
    pub fn account_id(&self) -> &str {
        self.role_arn.split(':').nth(4).unwrap_or_default()
    }
}

/// One request the emulator received, for assertions. Recorded when the request (head and body)
/// has arrived; `status` and `error_code` are filled in when it is answered. Holds no secret, no
/// session token and no web identity token.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestRecord {
    /// The HTTP method.
    pub method: Method,
    /// The `Action` parameter as sent, if any.
    pub action: Option<String>,
    /// The `RoleArn` parameter, if any.
    pub role_arn: Option<String>,
    /// The `RoleSessionName` parameter, if any.
    pub role_session_name: Option<String>,
    /// The `DurationSeconds` parameter as sent, if any.
    pub duration_seconds: Option<String>,
    /// The access key id the request was signed with (as claimed; checked or not), if signed.
    pub access_key_id: Option<String>,
    /// Whether the request carried an `x-amz-security-token` (header or query).
    pub session_token_present: bool,
    /// The `User-Agent` header, if sent and valid UTF-8.
    pub user_agent: Option<String>,
    /// When it arrived, by the emulator's clock.
    pub at: SystemTime,
    /// The request id answered (`RequestId`, `x-amzn-RequestId`).
    pub request_id: String,
    /// The faults applied to it, in order (delays first).
    pub faults: Vec<Fault>,
    /// The status it was answered with; `None` while it is held (hang) or when the connection was
    /// closed without an answer.
    pub status: Option<StatusCode>,
    /// The STS error code answered, for an error.
    pub error_code: Option<String>,
    /// The access key id of the credentials issued, for a success.
    pub issued: Option<String>,
}

impl RequestRecord {
    /// The action, when it is one the emulator knows.
    pub fn known_action(&self) -> Option<Action> {
        self.action.as_deref().and_then(Action::parse)
    }
}
