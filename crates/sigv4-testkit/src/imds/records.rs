//! The request log.

use std::time::SystemTime;

use http::{Method, StatusCode};

use super::faults::Fault;
use super::service::{classify, Endpoint};
use super::TOKEN_PATH;

/// One request the emulator received, for assertions. Recorded when the request arrives; `status`
/// is filled in when it is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestRecord {
    /// The HTTP method.
    pub method: Method,
    /// The path (without the query).
    pub path: String,
    /// Whether an `x-aws-ec2-metadata-token` header was sent (valid or not).
    pub token_present: bool,
    /// The raw value of the `x-aws-ec2-metadata-token-ttl-seconds` header, if sent.
    pub token_ttl: Option<String>,
    /// Whether an `X-Forwarded-For` header was sent.
    pub forwarded_for: bool,
    /// The `User-Agent` header, if sent and valid UTF-8.
    pub user_agent: Option<String>,
    /// When it arrived, by the emulator's clock.
    pub at: SystemTime,
    /// The faults applied to it, in order (delays first).
    pub faults: Vec<Fault>,
    /// The status it was answered with; `None` while it is held (hang) or when the connection was
    /// closed without an answer.
    pub status: Option<StatusCode>,
}

impl RequestRecord {
    /// True for a request to the token path ([`TOKEN_PATH`](super::TOKEN_PATH)).
    pub fn is_token_request(&self) -> bool {
        self.path == TOKEN_PATH
    }

    /// True for a request for a role's credentials.
    pub fn is_credentials_request(&self) -> bool {
        matches!(classify(&self.path), Endpoint::Credentials(_))
    }
}
