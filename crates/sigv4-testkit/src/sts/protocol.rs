//! The STS Query protocol: form parameters in, XML documents out, and the checks STS makes on
//! the parameters.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Response, StatusCode};
use http_body_util::Full;

use super::records::Action;
use super::{
    API_VERSION, CHAINED_MAX_DURATION_SECONDS, DEFAULT_DURATION_SECONDS,
    DEFAULT_WEB_IDENTITY_AUDIENCE, DEFAULT_WEB_IDENTITY_SUBJECT, MAX_DURATION_SECONDS,
    MIN_DURATION_SECONDS, OIDC_PROVIDER_HOST, XMLNS,
};

/// The request id header STS answers with.
pub(super) const REQUEST_ID_HEADER: &str = "x-amzn-requestid";

/// The request's parameters: the query string's, then the form body's (a later one wins).
#[derive(Default)]
pub(super) struct Params(Vec<(String, String)>);

impl Params {
    pub(super) fn parse(query: Option<&str>, form: Option<&[u8]>) -> Params {
        let mut pairs = Vec::new();
        if let Some(query) = query {
            pairs.extend(form_urlencoded::parse(query.as_bytes()).into_owned());
        }
        if let Some(form) = form {
            pairs.extend(form_urlencoded::parse(form).into_owned());
        }
        Params(pairs)
    }

    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An error answer: status, STS error code, message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct StsError {
    pub(super) status: StatusCode,
    pub(super) code: Cow<'static, str>,
    pub(super) message: String,
}

impl StsError {
    pub(super) fn new(
        status: StatusCode,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
        }
    }

    pub(super) fn validation(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "ValidationError", message)
    }

    pub(super) fn access_denied(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "AccessDenied", message)
    }

    /// The error STS answers with a bare status: `InternalFailure` for 500, `ServiceUnavailable`
    /// for 503, otherwise the reason phrase without spaces.
    pub(super) fn for_status(status: StatusCode) -> Self {
        let reason = status.canonical_reason().unwrap_or("Error");
        let code: Cow<'static, str> = match status.as_u16() {
            500 => "InternalFailure".into(),
            503 => "ServiceUnavailable".into(),
            _ => reason.replace(' ', "").into(),
        };
        let message = match status.as_u16() {
            500 => "An internal error occurred (emulated).".to_owned(),
            _ => format!("{reason} (emulated)."),
        };
        Self::new(status, code, message)
    }

    pub(super) fn missing(parameter: &str) -> Self {
        Self::validation(format!(
            "1 validation error detected: Value null at '{}' failed to satisfy constraint: \
             Member must not be null",
            lower_first(parameter)
        ))
    }

    /// The XML body STS answers with.
    pub(super) fn to_xml(&self, request_id: &str) -> String {
        let kind = if self.status.is_server_error() {
            "Receiver"
        } else {
            "Sender"
        };
        format!(
            "<ErrorResponse xmlns=\"{XMLNS}\">\n  <Error>\n    <Type>{kind}</Type>\n    \
             <Code>{}</Code>\n    <Message>{}</Message>\n  </Error>\n  \
             <RequestId>{request_id}</RequestId>\n</ErrorResponse>\n",
            escape(&self.code),
            escape(&self.message),
        )
    }

    pub(super) fn to_response(&self, request_id: &str) -> Response<Full<Bytes>> {
        xml_response(self.status, self.to_xml(request_id), request_id)
    }
}

fn lower_first(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_ascii_lowercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

pub(super) fn xml_response(
    status: StatusCode,
    body: String,
    request_id: &str,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert(REQUEST_ID_HEADER, id);
    }
    response
}

/// Text escaped for an XML element's content (quotes need no escaping there).
pub(super) fn escape(text: &str) -> Cow<'_, str> {
    if !text.contains(['&', '<', '>']) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// The version every request must name.
pub(super) fn check_version(params: &Params, action: &str) -> Result<(), StsError> {
    match params.get("Version") {
        None => Err(StsError::new(
            StatusCode::BAD_REQUEST,
            "MissingParameter",
            "The request must contain the parameter Version",
        )),
        Some(API_VERSION) => Ok(()),
        Some(other) => Err(StsError::new(
            StatusCode::BAD_REQUEST,
            "InvalidAction",
            format!("Could not find operation {action} for version {other}"),
        )),
    }
}

/// A role ARN taken apart: `arn:<partition>:iam::<account>:role/<path/><name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RoleArn<'a> {
    pub(super) partition: &'a str,
    pub(super) account: &'a str,
    pub(super) name: &'a str,
}

/// Parses a role ARN. The account must be digits (AWS's have 12; the SDKs' test vectors use
/// shorter ones, so any length from 1 to 12 is accepted); the name and path use IAM's characters.
pub(super) fn parse_role_arn(arn: &str) -> Result<RoleArn<'_>, StsError> {
    let invalid = || StsError::validation(format!("{arn} is invalid"));
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(partition), Some("iam"), Some(""), Some(account), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(invalid());
    };
    let partition_ok = partition
        .strip_prefix("aws")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('-'))
        && partition
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'-');
    let account_ok =
        (1..=12).contains(&account.len()) && account.bytes().all(|b| b.is_ascii_digit());
    let Some(path_and_name) = resource.strip_prefix("role/") else {
        return Err(invalid());
    };
    let name = path_and_name.rsplit('/').next().unwrap_or_default();
    let name_ok = (1..=64).contains(&name.len()) && name.bytes().all(is_iam_name_byte);
    let path_ok = path_and_name
        .bytes()
        .all(|b| b == b'/' || is_iam_name_byte(b));
    if !(partition_ok && account_ok && name_ok && path_ok) {
        return Err(invalid());
    }
    Ok(RoleArn {
        partition,
        account,
        name,
    })
}

fn is_iam_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b)
}

/// `RoleSessionName`: 2 to 64 of `[\w+=,.@-]`.
pub(super) fn check_session_name(name: Option<&str>) -> Result<&str, StsError> {
    let name = name.ok_or_else(|| StsError::missing("RoleSessionName"))?;
    if !(2..=64).contains(&name.len()) || !name.bytes().all(is_iam_name_byte) {
        return Err(StsError::validation(format!(
            "1 validation error detected: Value '{name}' at 'roleSessionName' failed to satisfy \
             constraint: Member must have length between 2 and 64 and match the pattern \
             [\\w+=,.@-]*"
        )));
    }
    Ok(name)
}

/// `DurationSeconds`: digits, 900..=43200; 1 hour when absent. A chained `AssumeRole` (signed
/// with credentials the emulator issued) may ask for 1 hour at most, as in AWS.
pub(super) fn parse_duration(
    value: Option<&str>,
    role_max: Option<Duration>,
    chained: bool,
) -> Result<Duration, StsError> {
    let Some(text) = value else {
        return Ok(Duration::from_secs(DEFAULT_DURATION_SECONDS));
    };
    let secs = (!text.is_empty() && text.len() <= 10 && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse::<u64>().ok())
        .flatten()
        .ok_or_else(|| {
            StsError::validation(format!(
                "1 validation error detected: Value '{text}' at 'durationSeconds' failed to \
                 satisfy constraint: Member must be a number"
            ))
        })?;
    if secs < MIN_DURATION_SECONDS {
        return Err(StsError::validation(format!(
            "1 validation error detected: Value '{secs}' at 'durationSeconds' failed to satisfy \
             constraint: Member must have value greater than or equal to {MIN_DURATION_SECONDS}"
        )));
    }
    if secs > MAX_DURATION_SECONDS {
        return Err(StsError::validation(format!(
            "1 validation error detected: Value '{secs}' at 'durationSeconds' failed to satisfy \
             constraint: Member must have value less than or equal to {MAX_DURATION_SECONDS}"
        )));
    }
    if chained && secs > CHAINED_MAX_DURATION_SECONDS {
        return Err(StsError::validation(
            "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by \
             role chaining.",
        ));
    }
    if role_max.is_some_and(|max| secs > max.as_secs()) {
        return Err(StsError::validation(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
        ));
    }
    Ok(Duration::from_secs(secs))
}

/// A stable, role-specific unique id: `AROA` and 17 characters of IAM's alphabet.
pub(super) fn role_id(arn: &str) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let fnv = |seed: u64| {
        arn.bytes().fold(seed, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    };
    let (mut a, mut b) = (fnv(0xcbf2_9ce4_8422_2325), fnv(0x8422_2325_cbf2_9ce4));
    let mut id = String::from("AROA");
    for i in 0..17 {
        let word = if i < 12 { &mut a } else { &mut b };
        id.push(char::from(ALPHABET[(*word & 31) as usize]));
        *word >>= 5;
    }
    id
}

/// What a web identity answer says about the token: `SubjectFromWebIdentityToken`, `Audience`
/// and `Provider`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct WebIdentity {
    pub(super) subject: String,
    pub(super) audience: String,
    pub(super) provider: String,
}

impl WebIdentity {
    /// From the token's claims when it is a JWT (`sub`; `aud`, a string or the first of a list;
    /// `iss`, whose host and path name the OIDC provider in the role's account), else the
    /// defaults ([`DEFAULT_WEB_IDENTITY_SUBJECT`], [`DEFAULT_WEB_IDENTITY_AUDIENCE`],
    /// [`OIDC_PROVIDER_HOST`]). The signature is not checked: the emulator trusts the tokens the
    /// test registered.
    pub(super) fn from_token(token: &str, role: &RoleArn<'_>) -> WebIdentity {
        let claims = jwt_claims(token);
        let claim = |name: &str| -> Option<String> {
            let value = claims.as_ref()?.get(name)?;
            match value {
                serde_json::Value::String(text) => Some(text.clone()),
                serde_json::Value::Array(items) => items.first()?.as_str().map(str::to_owned),
                _ => None,
            }
        };
        let issuer = claim("iss")
            .map(|iss| {
                let host = iss
                    .strip_prefix("https://")
                    .or_else(|| iss.strip_prefix("http://"))
                    .unwrap_or(&iss);
                host.trim_end_matches('/').to_owned()
            })
            .filter(|host| !host.is_empty())
            .unwrap_or_else(|| OIDC_PROVIDER_HOST.to_owned());
        WebIdentity {
            subject: claim("sub").unwrap_or_else(|| DEFAULT_WEB_IDENTITY_SUBJECT.to_owned()),
            audience: claim("aud").unwrap_or_else(|| DEFAULT_WEB_IDENTITY_AUDIENCE.to_owned()),
            provider: format!(
                "arn:{}:iam::{}:oidc-provider/{issuer}",
                role.partition, role.account
            ),
        }
    }
}

/// The claims (the middle part) of a JWT, when `token` is one.
fn jwt_claims(token: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    let mut parts = token.split('.');
    let (Some(_header), Some(claims), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    serde_json::from_slice(&base64url_decode(claims)?).ok()
}

/// Base64url without padding (RFC 7515 §2), as JWTs use it; trailing `=` tolerated.
fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for byte in text.bytes() {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // 1 leftover character (6 bits) cannot end a valid encoding.
    (bits < 6).then_some(out)
}

/// What goes into a success document.
pub(super) struct Success<'a> {
    pub(super) action: Action,
    pub(super) assumed_role_id: &'a str,
    pub(super) assumed_role_arn: &'a str,
    pub(super) access_key_id: &'a str,
    pub(super) secret_access_key: &'a str,
    pub(super) session_token: &'a str,
    pub(super) expiration: &'a str,
    pub(super) web_identity: Option<&'a WebIdentity>,
    pub(super) request_id: &'a str,
}

impl Success<'_> {
    /// The document STS answers with, element for element in the order STS writes them.
    pub(super) fn to_xml(&self) -> String {
        let action = self.action.as_str();
        let mut xml = String::with_capacity(1024);
        let _ = write!(
            xml,
            "<{action}Response xmlns=\"{XMLNS}\">\n  <{action}Result>\n"
        );
        if let Some(identity) = self.web_identity {
            let _ = writeln!(
                xml,
                "    <Audience>{}</Audience>",
                escape(&identity.audience)
            );
        }
        let _ = write!(
            xml,
            "    <AssumedRoleUser>\n      <AssumedRoleId>{}</AssumedRoleId>\n      \
             <Arn>{}</Arn>\n    </AssumedRoleUser>\n",
            escape(self.assumed_role_id),
            escape(self.assumed_role_arn)
        );
        if let Some(identity) = self.web_identity {
            let _ = writeln!(
                xml,
                "    <Provider>{}</Provider>",
                escape(&identity.provider)
            );
        }
        let _ = write!(
            xml,
            "    <Credentials>\n      <AccessKeyId>{}</AccessKeyId>\n      \
             <SecretAccessKey>{}</SecretAccessKey>\n      <SessionToken>{}</SessionToken>\n      \
             <Expiration>{}</Expiration>\n    </Credentials>\n",
            escape(self.access_key_id),
            escape(self.secret_access_key),
            escape(self.session_token),
            self.expiration
        );
        if let Some(identity) = self.web_identity {
            let _ = writeln!(
                xml,
                "    <SubjectFromWebIdentityToken>{}</SubjectFromWebIdentityToken>",
                escape(&identity.subject)
            );
        }
        let _ = write!(
            xml,
            "  </{action}Result>\n  <ResponseMetadata>\n    <RequestId>{}</RequestId>\n  \
             </ResponseMetadata>\n</{action}Response>\n",
            self.request_id
        );
        xml
    }
}

/// A success document cut short, for [`Fault::MalformedXml`](super::Fault::MalformedXml).
pub(super) fn malformed_xml(action: Action) -> String {
    let action = action.as_str();
    format!(
        "<{action}Response xmlns=\"{XMLNS}\">\n  <{action}Result>\n    <Credentials>\n      \
         <AccessKeyId>ASIASTS"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_from_query_and_form() {
        let params = Params::parse(
            Some("Action=AssumeRole&Version=2011-06-15"),
            Some(b"RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fr&RoleSessionName=a+b&Action=X"),
        );
        assert_eq!(params.get("Action"), Some("X"));
        assert_eq!(params.get("Version"), Some("2011-06-15"));
        assert_eq!(
            params.get("RoleArn"),
            Some("arn:aws:iam::123456789012:role/r")
        );
        assert_eq!(params.get("RoleSessionName"), Some("a b"));
        assert_eq!(params.get("ExternalId"), None);
    }

    #[test]
    fn role_arns() {
        let arn = parse_role_arn("arn:aws:iam::123456789012:role/integration-test").unwrap();
        assert_eq!(
            (arn.partition, arn.account, arn.name),
            ("aws", "123456789012", "integration-test")
        );
        let arn = parse_role_arn("arn:aws-cn:iam::123456789012:role/path/to/Name_1+=,.@-").unwrap();
        assert_eq!((arn.partition, arn.name), ("aws-cn", "Name_1+=,.@-"));
        assert!(parse_role_arn("arn:aws:iam::123456789:role/short-account").is_ok());
        for bad in [
            "",
            "arn:aws:iam::123456789012:user/bob",
            "arn:aws:sts::123456789012:role/r",
            "arn:aws:iam:us-east-1:123456789012:role/r",
            "arn:aws:iam::12345678901a:role/r",
            "arn:aws:iam::1234567890123:role/r",
            "arn:gcp:iam::123456789012:role/r",
            "arn:aws:iam::123456789012:role/",
            "arn:aws:iam::123456789012:role/has space",
            "arn:aws:iam::123456789012:role/<x>",
        ] {
            assert!(parse_role_arn(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration(None, None, false),
            Ok(Duration::from_secs(3600))
        );
        assert_eq!(
            parse_duration(Some("900"), None, false),
            Ok(Duration::from_secs(900))
        );
        assert_eq!(
            parse_duration(Some("43200"), None, false),
            Ok(Duration::from_secs(43200))
        );
        for bad in [
            "899",
            "43201",
            "",
            "-1",
            "1e3",
            "3600.0",
            "99999999999999999999",
        ] {
            let err = parse_duration(Some(bad), None, false).unwrap_err();
            assert_eq!(err.code, "ValidationError", "{bad}");
            assert_eq!(err.status, StatusCode::BAD_REQUEST);
        }
        assert!(parse_duration(Some("3600"), None, true).is_ok());
        assert!(parse_duration(Some("3601"), None, true).is_err());
        let max = Some(Duration::from_secs(7200));
        assert!(parse_duration(Some("7200"), max, false).is_ok());
        assert!(parse_duration(Some("7201"), max, false).is_err());
    }

    #[test]
    fn session_names() {
        assert_eq!(check_session_name(Some("ab")), Ok("ab"));
        assert!(check_session_name(Some("a")).is_err());
        assert!(check_session_name(Some(&"a".repeat(65))).is_err());
        assert!(check_session_name(Some("a b")).is_err());
        assert_eq!(
            check_session_name(None).unwrap_err().message,
            "1 validation error detected: Value null at 'roleSessionName' failed to satisfy \
             constraint: Member must not be null"
        );
    }

    #[test]
    fn role_ids_are_stable_and_distinct() {
        let a = role_id("arn:aws:iam::123456789012:role/a");
        assert_eq!(a.len(), 21);
        assert!(a.starts_with("AROA"));
        assert_eq!(a, role_id("arn:aws:iam::123456789012:role/a"));
        assert_ne!(a, role_id("arn:aws:iam::123456789012:role/b"));
    }

    #[test]
    fn base64url() {
        // RFC 4648 §10 test vectors, in the URL-safe alphabet without padding.
        for (encoded, plain) in [
            ("", ""),
            ("Zg", "f"),
            ("Zm8", "fo"),
            ("Zm9v", "foo"),
            ("Zm9vYg", "foob"),
            ("Zm9vYmE", "fooba"),
            ("Zm9vYmFy", "foobar"),
            ("Zm9vYg==", "foob"),
        ] {
            assert_eq!(
                base64url_decode(encoded).as_deref(),
                Some(plain.as_bytes()),
                "{encoded}"
            );
        }
        assert_eq!(base64url_decode("-_8").as_deref(), Some(&[0xfb, 0xff][..]));
        assert_eq!(base64url_decode("Zm9vY"), None);
        assert_eq!(base64url_decode("Zm9+"), None);
    }

    #[test]
    fn web_identity_from_jwt_claims() {
        let role = parse_role_arn("arn:aws:iam::123456789012:role/pod").unwrap();
        // {"iss":"https://oidc.eks.eu-west-1.amazonaws.com/id/ABC","sub":"system:serviceaccount:ns:sa","aud":["sts.amazonaws.com"]}
        let token = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwczovL29pZGMuZWtzLmV1LXdlc3QtMS5hbWF6b25hd3MuY29tL2lkL0FCQyIsInN1YiI6InN5c3RlbTpzZXJ2aWNlYWNjb3VudDpuczpzYSIsImF1ZCI6WyJzdHMuYW1hem9uYXdzLmNvbSJdfQ.c2ln";
        let identity = WebIdentity::from_token(token, &role);
        assert_eq!(identity.subject, "system:serviceaccount:ns:sa");
        assert_eq!(identity.audience, "sts.amazonaws.com");
        assert_eq!(
            identity.provider,
            "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC"
        );
        let opaque = WebIdentity::from_token("not-a-jwt", &role);
        assert_eq!(opaque.subject, DEFAULT_WEB_IDENTITY_SUBJECT);
        assert_eq!(opaque.audience, DEFAULT_WEB_IDENTITY_AUDIENCE);
        assert_eq!(
            opaque.provider,
            format!("arn:aws:iam::123456789012:oidc-provider/{OIDC_PROVIDER_HOST}")
        );
    }

    #[test]
    fn xml_escaping() {
        assert_eq!(escape("plain"), "plain");
        assert_eq!(escape("a<b>&\"c'"), "a&lt;b&gt;&amp;\"c'");
    }

    #[test]
    fn status_codes() {
        assert_eq!(
            StsError::for_status(StatusCode::INTERNAL_SERVER_ERROR).code,
            "InternalFailure"
        );
        assert_eq!(
            StsError::for_status(StatusCode::SERVICE_UNAVAILABLE).code,
            "ServiceUnavailable"
        );
        assert_eq!(
            StsError::for_status(StatusCode::GATEWAY_TIMEOUT).code,
            "GatewayTimeout"
        );
    }
}
