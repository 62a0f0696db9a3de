//! Calls to AWS STS (Security Token Service): `AssumeRole`, signed with SigV4 by our own core
//! using the previous hop's credentials, and `AssumeRoleWithWebIdentity`, unsigned. The sources
//! built on it are [`WebIdentity`](crate::WebIdentity), [`AssumeRole`](crate::AssumeRole) and the
//! role chains of [`Profile`](crate::Profile).
//!
//! Every call goes through the crate's one transport ([`TransportOptions`]: 3 attempts by default)
//! and is retried on transport failures, 5xx answers, throttling and `IDPCommunicationError`.
//! `AccessDenied` and `InvalidIdentityToken` are [`CredentialsError::NonRecoverable`]: retrying
//! cannot help, so a cache surfaces them at once. Where the calls go is decided by [`endpoint`].

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE, HOST};
use http::{Method, StatusCode};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sigv4_core::time::parse_rfc3339;
use sigv4_core::{Payload, Signer, SigningParams};
use zeroize::Zeroizing;

use crate::profile::ProfileSet;
use crate::transport::{retry, transport_failure, Attempt, HttpClient, TransportOptions};
use crate::{Credentials, CredentialsError, Env, SharedTimeSource};

pub mod endpoint;
mod xml;

pub use endpoint::StsEndpoint;

/// The Query-protocol version STS speaks.
const VERSION: &str = "2011-06-15";

/// Default timeouts for STS calls (a regional endpoint on the internet).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_millis(3100);
/// Default read timeout for STS calls.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// The transport options STS sources start from: 3.1 s connect, 5 s read, 3 attempts.
pub fn default_transport() -> TransportOptions {
    TransportOptions::new(DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT).max_attempts(3)
}

/// `application/x-www-form-urlencoded` as STS reads it: everything but `A-Z a-z 0-9 - _ . ~`
/// percent-encoded.
const FORM: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// What to ask STS for when assuming a role.
#[derive(Clone, PartialEq, Eq)]
pub struct RoleRequest {
    /// The role to assume (`arn:aws:iam::123456789012:role/name`).
    pub role_arn: String,
    /// The session name (default: `sigv4-rs-<unix milliseconds>`).
    pub session_name: Option<String>,
    /// `ExternalId`, for roles whose trust policy asks for one.
    pub external_id: Option<String>,
    /// `DurationSeconds` (900 to 43,200; STS's default, 1 hour, when unset).
    pub duration: Option<Duration>,
}

impl fmt::Debug for RoleRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoleRequest")
            .field("role_arn", &self.role_arn)
            .field("session_name", &self.session_name)
            .field(
                "external_id",
                &self.external_id.as_ref().map(|_| "** set **"),
            )
            .field("duration", &self.duration)
            .finish()
    }
}

impl RoleRequest {
    /// A request for `role_arn` with every option at its default.
    pub fn new(role_arn: impl Into<String>) -> Self {
        Self {
            role_arn: role_arn.into(),
            session_name: None,
            external_id: None,
            duration: None,
        }
    }

    fn session_name(&self, now: SystemTime) -> String {
        match &self.session_name {
            Some(name) => name.clone(),
            None => format!(
                "sigv4-rs-{}",
                now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis())
            ),
        }
    }
}

/// Where an STS source's calls go: a fixed endpoint, a region's regional endpoint, or whatever
/// the environment and the profile files say at the time of each call.
#[derive(Clone, Debug)]
pub(crate) enum EndpointSource {
    Fixed(StsEndpoint),
    Region(String),
    FromEnv(Env),
}

impl EndpointSource {
    pub(crate) fn resolve(&self) -> Result<StsEndpoint, CredentialsError> {
        match self {
            EndpointSource::Fixed(endpoint) => Ok(endpoint.clone()),
            EndpointSource::Region(region) => {
                endpoint::resolve(&Env::from_pairs([("AWS_REGION", region.as_str())]), None)
            }
            EndpointSource::FromEnv(env) => {
                let set = ProfileSet::load(env, None).ok();
                endpoint::resolve(env, set.as_ref())
            }
        }
    }
}

/// What the STS source builders ([`WebIdentityBuilder`](crate::web_identity::WebIdentityBuilder),
/// [`AssumeRoleBuilder`](crate::assume_role::AssumeRoleBuilder)) share.
#[derive(Clone, Default)]
pub(crate) struct StsSettings {
    pub(crate) env: Option<Env>,
    pub(crate) region: Option<String>,
    pub(crate) endpoint: Option<StsEndpoint>,
    pub(crate) transport: Option<TransportOptions>,
    pub(crate) time_source: Option<SharedTimeSource>,
}

impl fmt::Debug for StsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StsSettings")
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

impl StsSettings {
    pub(crate) fn env(&self) -> Env {
        self.env.clone().unwrap_or_else(Env::real)
    }

    /// The endpoint choice and the client these settings describe.
    pub(crate) fn build(self) -> (EndpointSource, StsClient) {
        let env = self.env();
        let endpoint = match (self.endpoint, self.region) {
            (Some(endpoint), _) => EndpointSource::Fixed(endpoint),
            (None, Some(region)) => EndpointSource::Region(region),
            (None, None) => EndpointSource::FromEnv(env),
        };
        let time_source = self
            .time_source
            .unwrap_or_else(|| Arc::new(crate::SystemClock));
        let client = StsClient::new(
            self.transport.unwrap_or_else(default_transport),
            time_source,
        );
        (endpoint, client)
    }
}

/// The body of a request, wiped when the last reference drops (it may hold a web identity token).
struct WipedBody(Zeroizing<Vec<u8>>);

impl AsRef<[u8]> for WipedBody {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// The STS client under the STS sources: one transport, one signer (its key cache).
#[derive(Clone)]
pub(crate) struct StsClient {
    client: HttpClient,
    transport: TransportOptions,
    signer: Arc<Signer>,
    time_source: SharedTimeSource,
}

impl fmt::Debug for StsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StsClient")
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

impl StsClient {
    pub(crate) fn new(transport: TransportOptions, time_source: SharedTimeSource) -> Self {
        Self {
            client: HttpClient::from_options(&transport),
            transport,
            signer: Arc::new(Signer::new()),
            time_source,
        }
    }

    fn session_and_duration(&self, request: &RoleRequest) -> (String, Option<String>) {
        let session = request.session_name(self.time_source.now());
        (session, request.duration.map(|d| d.as_secs().to_string()))
    }

    /// `AssumeRole`, signed with `source`. The credentials are named `provider_name`.
    pub(crate) async fn assume_role(
        &self,
        endpoint: &StsEndpoint,
        source: &Credentials,
        request: &RoleRequest,
        provider_name: Cow<'static, str>,
    ) -> Result<Credentials, CredentialsError> {
        let (session, duration) = self.session_and_duration(request);
        let mut form = role_form("AssumeRole", request, &session, duration.as_deref());
        if let Some(id) = &request.external_id {
            form.push(("ExternalId", id));
        }
        let what = format!("AssumeRole {}", request.role_arn);
        self.call(endpoint, &what, &form, Some(source), provider_name)
            .await
    }

    /// `AssumeRoleWithWebIdentity` (unsigned: the token is the proof).
    pub(crate) async fn assume_role_with_web_identity(
        &self,
        endpoint: &StsEndpoint,
        request: &RoleRequest,
        token: &str,
        provider_name: Cow<'static, str>,
    ) -> Result<Credentials, CredentialsError> {
        let (session, duration) = self.session_and_duration(request);
        let mut form = role_form(
            "AssumeRoleWithWebIdentity",
            request,
            &session,
            duration.as_deref(),
        );
        form.push(("WebIdentityToken", token));
        let what = format!("AssumeRoleWithWebIdentity {}", request.role_arn);
        self.call(endpoint, &what, &form, None, provider_name).await
    }

    async fn call(
        &self,
        endpoint: &StsEndpoint,
        what: &str,
        form: &[(&str, &str)],
        signer: Option<&Credentials>,
        provider_name: Cow<'static, str>,
    ) -> Result<Credentials, CredentialsError> {
        let mut body = Zeroizing::new(Vec::with_capacity(256));
        for (i, (key, value)) in form.iter().enumerate() {
            if i > 0 {
                body.push(b'&');
            }
            body.extend_from_slice(key.as_bytes());
            body.push(b'=');
            for piece in utf8_percent_encode(value, FORM) {
                body.extend_from_slice(piece.as_bytes());
            }
        }
        let body = Bytes::from_owner(WipedBody(body));
        let provider = &provider_name;
        let body = &body;
        retry(&self.transport, "STS call", |attempt| async move {
            let headers = match self.headers(endpoint, body, signer) {
                Ok(headers) => headers,
                Err(e) => return Attempt::Done(Err(e)),
            };
            let response = match self
                .client
                .send(Method::POST, &endpoint.uri, &headers, body.clone())
                .await
            {
                Ok(response) => response,
                Err(e) => {
                    let message = format!(
                        "STS {what} at {} failed{}",
                        shown(endpoint),
                        if attempt.last && attempt.number > 1 {
                            format!(" after {} attempts", attempt.number)
                        } else {
                            String::new()
                        }
                    );
                    return transport_failure(e, provider.clone(), &message);
                }
            };
            let text = String::from_utf8_lossy(&response.body);
            if response.status == StatusCode::OK {
                return Attempt::Done(parse_credentials(&text, provider.clone()));
            }
            let code = xml::element(&text, "Code").map(|c| c.trim().to_owned());
            let message = xml::element(&text, "Message")
                .map(|m| truncate(m.trim(), 300))
                .unwrap_or_default();
            let status = response.status;
            let described = match &code {
                Some(code) => format!("{code}: {message}"),
                None => format!("HTTP {status}"),
            };
            let text = format!(
                "STS {what} at {} was refused (HTTP {}): {described}",
                shown(endpoint),
                status.as_u16()
            );
            match code.as_deref() {
                Some("AccessDenied" | "InvalidIdentityToken") => Attempt::Done(Err(
                    CredentialsError::non_recoverable(provider.clone(), text),
                )),
                Some(
                    "Throttling"
                    | "ThrottlingException"
                    | "RequestLimitExceeded"
                    | "IDPCommunicationError"
                    | "ServiceUnavailable"
                    | "InternalFailure",
                ) => Attempt::Retry(CredentialsError::failed(provider.clone(), text)),
                _ if status.is_server_error() => {
                    Attempt::Retry(CredentialsError::failed(provider.clone(), text))
                }
                _ => Attempt::Done(Err(CredentialsError::failed(provider.clone(), text))),
            }
        })
        .await
    }

    /// `Host`, `Content-Type` and, for a signed call, the SigV4 headers.
    fn headers(
        &self,
        endpoint: &StsEndpoint,
        body: &Bytes,
        signer: Option<&Credentials>,
    ) -> Result<Vec<(HeaderName, HeaderValue)>, CredentialsError> {
        let mut request = http::Request::builder()
            .method(Method::POST)
            .uri(endpoint.uri.clone())
            .header(
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-www-form-urlencoded; charset=utf-8"),
            )
            .body(())
            .map_err(|e| {
                CredentialsError::failed("sts", format!("cannot build the STS request: {e}"))
            })?;
        if let Some(host) = host_header(&endpoint.uri) {
            request.headers_mut().insert(HOST, host);
        }
        if let Some(credentials) = signer {
            let params =
                SigningParams::new(credentials, &endpoint.region, "sts", self.time_source.now());
            self.signer
                .sign_request(&mut request, Payload::Bytes(body), &params)
                .map_err(|e| {
                    CredentialsError::failed_with(
                        "sts",
                        format!("cannot sign the STS request with the source credentials: {e}"),
                        e,
                    )
                })?;
        }
        Ok(request
            .headers()
            .iter()
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect())
    }
}

/// The parameters both role actions start with.
fn role_form<'a>(
    action: &'a str,
    request: &'a RoleRequest,
    session: &'a str,
    duration: Option<&'a str>,
) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![
        ("Action", action),
        ("Version", VERSION),
        ("RoleArn", request.role_arn.as_str()),
        ("RoleSessionName", session),
    ];
    if let Some(duration) = duration {
        form.push(("DurationSeconds", duration));
    }
    form
}

/// The `Host` header for a URI: host lower-cased, port kept unless it is the scheme's default.
fn host_header(uri: &http::Uri) -> Option<HeaderValue> {
    let host = uri.host()?.to_ascii_lowercase();
    let https = uri
        .scheme_str()
        .is_some_and(|s| s.eq_ignore_ascii_case("https"));
    let text = match uri.port_u16() {
        Some(port) if !(https && port == 443 || !https && port == 80) => format!("{host}:{port}"),
        _ => host,
    };
    HeaderValue::from_str(&text).ok()
}

fn shown(endpoint: &StsEndpoint) -> String {
    crate::endpoint::origin(&endpoint.uri)
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_owned(),
    }
}

/// The account id in an ARN (`arn:aws:sts::123456789012:assumed-role/...`), when it has one.
pub(crate) fn account_of_arn(arn: &str) -> Option<&str> {
    let account = arn.split(':').nth(4)?;
    (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())).then_some(account)
}

/// The credentials in a successful `AssumeRole` or `AssumeRoleWithWebIdentity` answer (the XML
/// body), named `provider`; the account id comes from the assumed role's ARN. For tools that hold
/// such an answer, and the fuzz targets. Messages never quote the answer.
///
/// ```
/// let xml = "<AssumeRoleResponse><AssumeRoleResult><AssumedRoleUser>\
///   <Arn>arn:aws:sts::123456789012:assumed-role/r/s</Arn></AssumedRoleUser><Credentials>\
///   <AccessKeyId>ASIAX</AccessKeyId><SecretAccessKey>s</SecretAccessKey>\
///   <SessionToken>t</SessionToken><Expiration>2030-01-01T00:00:00Z</Expiration>\
///   </Credentials></AssumeRoleResult></AssumeRoleResponse>";
/// let creds = sigv4_credentials::sts::parse_credentials_answer(xml, "sts").unwrap();
/// assert_eq!(creds.account_id(), Some("123456789012"));
/// ```
pub fn parse_credentials_answer(
    xml: &str,
    provider: impl Into<Cow<'static, str>>,
) -> Result<Credentials, CredentialsError> {
    parse_credentials(xml, provider.into())
}

/// The credentials in a successful `AssumeRole*` answer. Messages never quote the answer.
fn parse_credentials(
    xml: &str,
    provider: Cow<'static, str>,
) -> Result<Credentials, CredentialsError> {
    let field = |name: &str| {
        xml::element(xml, name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                CredentialsError::failed(
                    provider.clone(),
                    format!("the STS answer has no {name} (is the endpoint really STS?)"),
                )
            })
    };
    let access_key_id = field("AccessKeyId")?;
    let secret = Zeroizing::new(field("SecretAccessKey")?);
    let token = Zeroizing::new(field("SessionToken")?);
    let expiration = field("Expiration")?;
    let expiry = parse_rfc3339(&expiration).map_err(|e| {
        CredentialsError::failed(
            provider.clone(),
            format!("the STS answer has an Expiration that is not an RFC 3339 time: {e}"),
        )
    })?;
    let account_id =
        xml::element(xml, "Arn").and_then(|arn| account_of_arn(&arn).map(str::to_owned));
    Ok(Credentials::builder(access_key_id, secret.as_str())
        .session_token(token.as_str())
        .expiry(expiry)
        .account_id_opt(account_id)
        .provider_name(provider)
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANSWER: &str = r#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <AssumedRoleUser>
      <AssumedRoleId>AROARABCDEFGHIJKLMNOP:assume-role-provider-session</AssumedRoleId>
      <Arn>arn:aws:sts::123456789012:assumed-role/integration-test/assume-role-provider-session</Arn>
    </AssumedRoleUser>
    <Credentials>
      <AccessKeyId>ASIARTESTID</AccessKeyId>
      <SecretAccessKey>TESTSECRETKEY</SecretAccessKey>
      <SessionToken>TESTSESSIONTOKEN</SessionToken>
      <Expiration>2021-08-05T19:58:02Z</Expiration>
    </Credentials>
  </AssumeRoleResult>
</AssumeRoleResponse>"#;

    #[test]
    fn parses_a_recorded_answer() {
        let creds = parse_credentials(ANSWER, "assume role".into()).unwrap();
        assert_eq!(creds.access_key_id(), "ASIARTESTID");
        assert_eq!(creds.secret_access_key(), "TESTSECRETKEY");
        assert_eq!(creds.session_token(), Some("TESTSESSIONTOKEN"));
        assert_eq!(creds.account_id(), Some("123456789012"));
        assert_eq!(
            creds.expiry(),
            Some(UNIX_EPOCH + Duration::from_secs(1_628_193_482))
        );
    }

    #[test]
    fn microsecond_expirations_are_accepted() {
        let answer = ANSWER.replace("19:58:02Z", "19:58:02.123456Z");
        let creds = parse_credentials(&answer, "sts".into()).unwrap();
        assert_eq!(
            creds.expiry(),
            Some(UNIX_EPOCH + Duration::from_secs(1_628_193_482) + Duration::from_micros(123_456))
        );
    }

    #[test]
    fn missing_fields_are_named_without_quoting_secrets() {
        let answer = ANSWER.replace("<SessionToken>TESTSESSIONTOKEN</SessionToken>", "");
        let err = parse_credentials(&answer, "sts".into()).unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(text.contains("SessionToken"), "{text}");
        assert!(!text.contains("TESTSECRETKEY"), "{text}");
    }

    #[test]
    fn form_encoding_matches_the_recordings() {
        let encoded: String =
            utf8_percent_encode("arn:aws:iam::123456789:role/integration-test", FORM).collect();
        assert_eq!(
            encoded,
            "arn%3Aaws%3Aiam%3A%3A123456789%3Arole%2Fintegration-test"
        );
        let encoded: String = utf8_percent_encode("a.b-c_d~e\n+ =", FORM).collect();
        assert_eq!(encoded, "a.b-c_d~e%0A%2B%20%3D");
    }

    #[test]
    fn account_ids_come_from_the_fifth_field() {
        assert_eq!(
            account_of_arn("arn:aws:sts::123456789012:assumed-role/r/s"),
            Some("123456789012")
        );
        assert_eq!(account_of_arn("arn:aws:iam::1234:role/x"), None);
        assert_eq!(account_of_arn("nonsense"), None);
    }

    #[test]
    fn host_headers_drop_default_ports() {
        let h = |u: &str| {
            host_header(&u.parse().unwrap())
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned()
        };
        assert_eq!(
            h("https://STS.us-east-1.amazonaws.com/"),
            "sts.us-east-1.amazonaws.com"
        );
        assert_eq!(h("https://sts.example:443/"), "sts.example");
        assert_eq!(h("http://127.0.0.1:8080"), "127.0.0.1:8080");
    }
}
