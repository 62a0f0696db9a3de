//! Credentials from the EC2 instance metadata service (IMDSv2 only).
//!
//! [`Imds`] asks for a session token (`PUT /latest/api/token`, TTL 6 hours, reused until two
//! minutes before it ends and re-fetched when IMDS answers 401), reads the instance's role name
//! (`GET /latest/meta-data/iam/security-credentials/`, at every fetch: roles can be swapped), then
//! the role's credentials document.
//!
//! Off EC2 it gives up fast: a refused or timed-out connection on the first request means "not
//! configured here", so a [`DefaultChain`](crate::DefaultChain) moves on at once. Wrap it in a
//! [`CredentialsCache`](crate::CredentialsCache) (the default chain does): each call to
//! [`Imds::provide_credentials`](crate::ProvideCredentials::provide_credentials) goes to the network.
//!
//! ```no_run
//! # async fn demo() -> Result<(), sigv4_credentials::CredentialsError> {
//! use sigv4_credentials::{Imds, ProvideCredentials};
//! use std::time::Duration;
//!
//! let imds = Imds::builder()
//!     .connect_timeout(Duration::from_millis(500))
//!     .build();
//! let creds = imds.provide_credentials().await?;
//! println!("instance role key {}", creds.access_key_id());
//! # Ok(()) }
//! ```
//!
//! # Endpoint
//! Decided in this order (the SDKs' order): [`ImdsBuilder::endpoint`], then
//! `AWS_EC2_METADATA_SERVICE_ENDPOINT`, then the profile key `ec2_metadata_service_endpoint`, then
//! the endpoint of the mode from [`ImdsBuilder::endpoint_mode`], `AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE`
//! or the profile key `ec2_metadata_service_endpoint_mode` (`IPv4`: `http://169.254.169.254`, the
//! default; `IPv6`: `http://[fd00:ec2::254]`). [`resolve_endpoint`] computes it without any I/O
//! beyond reading the profile files. `AWS_EC2_METADATA_DISABLED=true` turns the source off.
//!
//! # Static stability
//! During an IMDS outage the service may keep serving credentials past their expiry. Rather than
//! failing every request, such credentials are used for 5 to 10 more minutes (random, so a fleet
//! does not come back at once), with a warning in the logs.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{Method, StatusCode, Uri};
use zeroize::Zeroizing;

use crate::document;
use crate::transport::{retry, Attempt, HttpClient, HttpError, TransportOptions};
use crate::{
    Credentials, CredentialsError, Env, ProvideCredentials, ProvideCredentialsFuture,
    SharedTimeSource, SystemClock,
};

const PROVIDER: &str = "imds";

/// Default connect timeout (the SDKs use 1 s: IMDS is link-local).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Default read timeout.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(1);
/// Default number of attempts per request (retrying 5xx and 401).
pub const DEFAULT_MAX_ATTEMPTS: u32 = 4;
/// Default first backoff between attempts (doubles each time, with jitter).
pub const DEFAULT_INITIAL_BACKOFF: Duration = Duration::from_millis(100);
/// The token lifetime asked for, in seconds (the maximum IMDS allows).
pub const TOKEN_TTL_SECONDS: u64 = 21_600;
/// A token is replaced this long before its TTL runs out.
pub const TOKEN_REFRESH_BEFORE: Duration = Duration::from_secs(120);

/// The IPv4 endpoint.
pub const IPV4_ENDPOINT: &str = "http://169.254.169.254";
/// The IPv6 endpoint.
pub const IPV6_ENDPOINT: &str = "http://[fd00:ec2::254]";

/// Path of the token request.
pub const TOKEN_PATH: &str = "/latest/api/token";
/// Path of the role list (the role's document is this path plus the role name).
pub const CREDENTIALS_PATH: &str = "/latest/meta-data/iam/security-credentials/";
/// The extended credentials API (same document plus `AccountId`); tried first.
pub const EXTENDED_CREDENTIALS_PATH: &str = "/latest/meta-data/iam/security-credentials-extended/";

const ENV_DISABLED: &str = "AWS_EC2_METADATA_DISABLED";
const ENV_ENDPOINT: &str = "AWS_EC2_METADATA_SERVICE_ENDPOINT";
const ENV_ENDPOINT_MODE: &str = "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE";
const PROFILE_ENDPOINT: &str = "ec2_metadata_service_endpoint";
const PROFILE_ENDPOINT_MODE: &str = "ec2_metadata_service_endpoint_mode";
const ENV_PROFILE_NAME: &str = "AWS_EC2_INSTANCE_PROFILE_NAME";
const PROFILE_PROFILE_NAME: &str = "ec2_instance_profile_name";

const TOKEN_HEADER: HeaderName = HeaderName::from_static("x-aws-ec2-metadata-token");
const TOKEN_TTL_HEADER: HeaderName =
    HeaderName::from_static("x-aws-ec2-metadata-token-ttl-seconds");

/// Which IMDS address to use when no endpoint is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum EndpointMode {
    /// `http://169.254.169.254` (the default).
    #[default]
    IpV4,
    /// `http://[fd00:ec2::254]` (IPv6-only instances, Nitro).
    IpV6,
}

impl EndpointMode {
    /// The endpoint of this mode.
    pub fn endpoint(self) -> &'static str {
        match self {
            EndpointMode::IpV4 => IPV4_ENDPOINT,
            EndpointMode::IpV6 => IPV6_ENDPOINT,
        }
    }
}

/// A value that is neither `IPv4` nor `IPv6`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a valid endpoint mode; use IPv4 or IPv6")]
pub struct InvalidEndpointMode(pub String);

impl FromStr for EndpointMode {
    type Err = InvalidEndpointMode;

    /// `IPv4` or `IPv6`, in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("ipv4") {
            Ok(EndpointMode::IpV4)
        } else if t.eq_ignore_ascii_case("ipv6") {
            Ok(EndpointMode::IpV6)
        } else {
            Err(InvalidEndpointMode(s.to_owned()))
        }
    }
}

/// The profile keys IMDS cares about, read from the selected profile.
#[derive(Debug, Default)]
struct ProfileKeys {
    endpoint: Option<String>,
    endpoint_mode: Option<String>,
    profile_name: Option<String>,
}

/// The one place that reads the shared config files for IMDS settings.
fn profile_keys(env: &Env) -> Result<ProfileKeys, CredentialsError> {
    let set = crate::profile::ProfileSet::load(env, None)?;
    let value = |key: &str| {
        set.get(key)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    Ok(ProfileKeys {
        endpoint: value(PROFILE_ENDPOINT),
        endpoint_mode: value(PROFILE_ENDPOINT_MODE),
        profile_name: value(PROFILE_PROFILE_NAME),
    })
}

/// The IMDS base endpoint (for example `http://169.254.169.254/`) from, in order: the explicit
/// `endpoint_override`, `AWS_EC2_METADATA_SERVICE_ENDPOINT`, the profile's
/// `ec2_metadata_service_endpoint`, and else the endpoint of the mode from `mode_override`,
/// `AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE` or the profile's `ec2_metadata_service_endpoint_mode`
/// (IPv4 when none is set).
///
/// No network I/O; the profile files are read only when the environment does not decide. An
/// invalid URI or mode is [`CredentialsError::Failed`] naming where it came from.
///
/// ```
/// use sigv4_credentials::imds::{resolve_endpoint, EndpointMode};
/// use sigv4_credentials::Env;
///
/// let env = Env::from_pairs([("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "IPv6")]);
/// let uri = resolve_endpoint(&env, None, None).unwrap();
/// assert_eq!(uri.host(), Some("[fd00:ec2::254]"));
/// ```
pub fn resolve_endpoint(
    env: &Env,
    endpoint_override: Option<&str>,
    mode_override: Option<EndpointMode>,
) -> Result<Uri, CredentialsError> {
    if let Some(endpoint) = endpoint_override {
        return parse_endpoint(endpoint, "Imds::builder().endpoint(..)");
    }
    if let Some(endpoint) = env.get_non_blank(ENV_ENDPOINT) {
        return parse_endpoint(&endpoint, ENV_ENDPOINT);
    }
    // The profile's endpoint outranks every mode, so the profile is read from here on.
    let keys = profile_keys(env)?;
    if let Some(endpoint) = &keys.endpoint {
        return parse_endpoint(endpoint, "the profile key ec2_metadata_service_endpoint");
    }
    let mode = if let Some(mode) = mode_override {
        mode
    } else if let Some(mode) = env.get_non_blank(ENV_ENDPOINT_MODE) {
        mode.parse::<EndpointMode>().map_err(|e| {
            CredentialsError::failed(PROVIDER, format!("{e} (from {ENV_ENDPOINT_MODE})"))
        })?
    } else if let Some(mode) = &keys.endpoint_mode {
        mode.parse::<EndpointMode>().map_err(|e| {
            CredentialsError::failed(
                PROVIDER,
                format!("{e} (from the profile key {PROFILE_ENDPOINT_MODE})"),
            )
        })?
    } else {
        EndpointMode::IpV4
    };
    parse_endpoint(mode.endpoint(), "the endpoint mode")
}

fn parse_endpoint(raw: &str, source: &str) -> Result<Uri, CredentialsError> {
    let raw = raw.trim();
    let uri: Uri = raw.parse().map_err(|e: http::uri::InvalidUri| {
        CredentialsError::failed(
            PROVIDER,
            format!("invalid IMDS endpoint `{raw}` from {source}: {e}; expected a URI like http://169.254.169.254"),
        )
    })?;
    if !crate::endpoint::absolute_http(&uri) {
        return Err(CredentialsError::failed(
            PROVIDER,
            format!("invalid IMDS endpoint `{raw}` from {source}: expected an absolute http:// URI like http://169.254.169.254"),
        ));
    }
    Ok(uri)
}

/// `base` (which may carry a path prefix) joined with an absolute `path`.
fn join(base: &Uri, path: &str) -> Result<Uri, CredentialsError> {
    let joined = format!("{}{}", display_base(base), path);
    joined.parse().map_err(|e: http::uri::InvalidUri| {
        CredentialsError::failed(
            PROVIDER,
            format!("cannot build the IMDS URL `{joined}`: {e}"),
        )
    })
}

/// The endpoint as the user would write it: no trailing slash.
fn display_base(base: &Uri) -> String {
    let scheme = base.scheme_str().unwrap_or("http");
    let authority = base.authority().map(|a| a.as_str()).unwrap_or("");
    format!(
        "{scheme}://{authority}{}",
        base.path().trim_end_matches('/')
    )
}

fn is_disabled(env: &Env) -> bool {
    env.get(ENV_DISABLED)
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// IMDSv2 credentials source. Cheap to clone (shares its token and what it learned about the
/// instance: which credentials API answers and the instance profile's name).
///
/// See the [module docs](self) for the protocol, the endpoint rules and the failure modes.
#[derive(Clone)]
pub struct Imds {
    inner: Arc<Inner>,
}

struct Inner {
    env: Env,
    endpoint: Option<String>,
    mode: Option<EndpointMode>,
    profile_name: Option<String>,
    client: HttpClient,
    transport: TransportOptions,
    time_source: SharedTimeSource,
    token: tokio::sync::Mutex<Option<CachedToken>>,
    learned: std::sync::Mutex<Learned>,
}

/// Which credentials API the instance answers, once known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    /// `/security-credentials-extended/` (carries `AccountId`).
    Extended,
    /// `/security-credentials/`, for instances without the extended API.
    Legacy,
}

impl Api {
    fn path(self) -> &'static str {
        match self {
            Api::Extended => EXTENDED_CREDENTIALS_PATH,
            Api::Legacy => CREDENTIALS_PATH,
        }
    }
}

/// What earlier fetches learned: the API that answered and the profile name the listing gave.
#[derive(Debug, Default, Clone)]
struct Learned {
    api: Option<Api>,
    listed_profile: Option<String>,
}

/// A session token (secret: never printed) and when to stop using it.
struct CachedToken {
    value: Zeroizing<String>,
    endpoint: Uri,
    refresh_at: SystemTime,
}

impl fmt::Debug for Imds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Imds")
            .field("endpoint", &self.inner.endpoint)
            .field("endpoint_mode", &self.inner.mode)
            .field("profile_name", &self.inner.profile_name)
            .field("transport", &self.inner.transport)
            .finish_non_exhaustive()
    }
}

impl Default for Imds {
    fn default() -> Self {
        Self::builder().build()
    }
}

impl Imds {
    /// A builder with the SDKs' defaults (real environment, 1 s timeouts, 4 attempts).
    pub fn builder() -> ImdsBuilder {
        ImdsBuilder::default()
    }

    /// The endpoint this source would call now (see [`resolve_endpoint`]).
    pub fn resolved_endpoint(&self) -> Result<Uri, CredentialsError> {
        resolve_endpoint(
            &self.inner.env,
            self.inner.endpoint.as_deref(),
            self.inner.mode,
        )
    }

    fn learned(&self) -> Learned {
        self.inner
            .learned
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn learn(&self, api: Api, listed_profile: Option<String>) {
        let mut learned = self.inner.learned.lock().unwrap_or_else(|e| e.into_inner());
        learned.api = Some(api);
        if listed_profile.is_some() {
            learned.listed_profile = listed_profile;
        }
    }

    fn forget_listed_profile(&self) {
        self.inner
            .learned
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .listed_profile = None;
    }

    /// The configured instance profile name: the builder, `AWS_EC2_INSTANCE_PROFILE_NAME`, or the
    /// profile key `ec2_instance_profile_name`.
    fn configured_profile(&self) -> Result<Option<String>, CredentialsError> {
        if let Some(name) = &self.inner.profile_name {
            return Ok(Some(name.clone()));
        }
        if let Some(name) = self.inner.env.get_non_blank(ENV_PROFILE_NAME) {
            return Ok(Some(name.trim().to_owned()));
        }
        Ok(profile_keys(&self.inner.env)?.profile_name)
    }

    async fn load(&self) -> Result<Credentials, CredentialsError> {
        if is_disabled(&self.inner.env) {
            return Err(CredentialsError::not_configured(
                PROVIDER,
                format!("{ENV_DISABLED} is set to true"),
            ));
        }
        let base = self.resolved_endpoint()?;
        let configured = self.configured_profile()?;
        let learned = self.learned();

        let (api, profile, listed) = match (&configured, &learned.listed_profile) {
            (Some(name), _) => (learned.api, name.clone(), false),
            (None, Some(name)) => (learned.api, name.clone(), true),
            (None, None) => {
                let (api, name) = self.list_profile(&base, learned.api).await?;
                (Some(api), name, true)
            }
        };
        match self.fetch(&base, api, &profile).await? {
            Some((api, creds)) => {
                self.learn(api, listed.then(|| profile.clone()));
                self.finish(creds, &profile)
            }
            None if listed => {
                // The instance profile changed since it was listed: list again, once.
                self.forget_listed_profile();
                let (api, name) = self.list_profile(&base, api).await?;
                match self.fetch(&base, Some(api), &name).await? {
                    Some((api, creds)) => {
                        self.learn(api, Some(name.clone()));
                        self.finish(creds, &name)
                    }
                    None => Err(invalid_profile(&name, &base)),
                }
            }
            None => Err(invalid_profile(&profile, &base)),
        }
    }

    /// Lists the instance profile: the extended API first (unless the legacy one is known to be
    /// the one that answers), the legacy one when the extended listing is 404.
    async fn list_profile(
        &self,
        base: &Uri,
        known: Option<Api>,
    ) -> Result<(Api, String), CredentialsError> {
        let mut api = known.unwrap_or(Api::Extended);
        let body = loop {
            match self.get(base, api.path()).await? {
                Ok(body) => break body,
                Err(StatusCode::NOT_FOUND) if known.is_none() && api == Api::Extended => {
                    api = Api::Legacy;
                }
                Err(StatusCode::NOT_FOUND) => {
                    return Err(CredentialsError::not_configured(
                        PROVIDER,
                        format!(
                            "no IAM role is attached to this instance ({} answered 404 for the role list); attach an instance profile to use instance credentials",
                            display_base(base)
                        ),
                    ))
                }
                Err(status) => {
                    return Err(CredentialsError::failed(
                        PROVIDER,
                        format!("listing the instance role failed with HTTP {status}"),
                    ))
                }
            }
        };
        Ok((api, parse_role(&body)?))
    }

    /// The credentials of `profile`: `Ok(None)` when every API that may answer says 404 (the
    /// profile name is not, or no longer, the instance's).
    async fn fetch(
        &self,
        base: &Uri,
        api: Option<Api>,
        profile: &str,
    ) -> Result<Option<(Api, Credentials)>, CredentialsError> {
        let tries: &[Api] = match api {
            Some(Api::Extended) => &[Api::Extended],
            Some(Api::Legacy) => &[Api::Legacy],
            None => &[Api::Extended, Api::Legacy],
        };
        for &api in tries {
            let path = format!("{}{profile}", api.path());
            match self.get(base, &path).await? {
                Ok(document) => {
                    let creds = document::parse_credentials_document(&document, PROVIDER, true)
                        .map_err(|e| prefix_error(e, &format!("role `{profile}`: ")))?;
                    return Ok(Some((api, creds)));
                }
                Err(StatusCode::NOT_FOUND) => continue,
                Err(status) => {
                    return Err(CredentialsError::failed(
                        PROVIDER,
                        format!(
                            "reading the credentials of role `{profile}` failed with HTTP {status}"
                        ),
                    ))
                }
            }
        }
        Ok(None)
    }

    /// Static stability: credentials IMDS served already expired are used a little longer.
    fn finish(&self, creds: Credentials, role: &str) -> Result<Credentials, CredentialsError> {
        let now = self.inner.time_source.now();
        if creds.is_expired_at(now) {
            let extra = Duration::from_secs(fastrand::u64(300..=600));
            tracing::warn!(
                provider = PROVIDER,
                role = %role,
                extended_by_secs = extra.as_secs(),
                "IMDS served credentials that have already expired; using them a little longer \
                 (static stability) while IMDS recovers"
            );
            return Ok(creds.with_expiry(now.checked_add(extra)));
        }
        Ok(creds)
    }

    /// A GET with the session token, retried on 5xx and 401. `Ok(Err(status))` for a final
    /// non-retryable status.
    async fn get(
        &self,
        base: &Uri,
        path: &str,
    ) -> Result<Result<Bytes, StatusCode>, CredentialsError> {
        let uri = join(base, path)?;
        let uri = &uri;
        retry(
            &self.inner.transport,
            "IMDS request",
            |attempt| async move {
                let token = match self.token(base).await {
                    Ok(token) => token,
                    Err(e) => return Attempt::Done(Err(e)),
                };
                let Ok(mut header) = HeaderValue::from_str(&token) else {
                    return Attempt::Done(Err(CredentialsError::failed(
                        PROVIDER,
                        "IMDS returned a token that is not a valid header value",
                    )));
                };
                header.set_sensitive(true);
                let response = match self
                    .inner
                    .client
                    .send(Method::GET, uri, &[(TOKEN_HEADER, header)], Bytes::new())
                    .await
                {
                    Ok(response) => response,
                    Err(e) => {
                        let message = format!("GET {path} on {} failed: {e}", display_base(base));
                        return Attempt::Done(Err(CredentialsError::failed_with(
                            PROVIDER, message, e,
                        )));
                    }
                };
                let status = response.status;
                if status == StatusCode::OK {
                    return Attempt::Done(Ok(Ok(response.body)));
                }
                if status == StatusCode::UNAUTHORIZED {
                    self.drop_token(&token).await;
                } else if !status.is_server_error() {
                    return Attempt::Done(Ok(Err(status)));
                }
                Attempt::Retry(CredentialsError::failed(
                    PROVIDER,
                    format!(
                        "GET {path} on {} still failed with HTTP {status} after {} attempts",
                        display_base(base),
                        attempt.number
                    ),
                ))
            },
        )
        .await
    }

    /// The current token, fetching one if there is none, it is for another endpoint or it is
    /// within [`TOKEN_REFRESH_BEFORE`] of its end. Concurrent callers wait for one fetch.
    async fn token(&self, base: &Uri) -> Result<Zeroizing<String>, CredentialsError> {
        let mut slot = self.inner.token.lock().await;
        let now = self.inner.time_source.now();
        if let Some(token) = slot.as_ref() {
            if token.endpoint == *base && now < token.refresh_at {
                return Ok(token.value.clone());
            }
        }
        *slot = None;
        let token = self.fetch_token(base).await?;
        let value = token.value.clone();
        *slot = Some(token);
        Ok(value)
    }

    /// Forgets `rejected` (answered 401) unless another caller already replaced it.
    async fn drop_token(&self, rejected: &str) {
        let mut slot = self.inner.token.lock().await;
        if slot.as_ref().is_some_and(|t| t.value.as_str() == rejected) {
            *slot = None;
        }
    }

    async fn fetch_token(&self, base: &Uri) -> Result<CachedToken, CredentialsError> {
        let uri = join(base, TOKEN_PATH)?;
        let (uri, shown) = (&uri, &display_base(base));
        retry(&self.inner.transport, "IMDS token request", |attempt| async move {
            let ttl_value = HeaderValue::from(TOKEN_TTL_SECONDS);
            let result = self
                .inner
                .client
                .send(Method::PUT, uri, &[(TOKEN_TTL_HEADER, ttl_value)], Bytes::new())
                .await;
            let response = match result {
                Ok(response) => response,
                Err(e) => return Attempt::Done(Err(token_transport_error(shown, e))),
            };
            let status = response.status;
            if status == StatusCode::OK {
                return Attempt::Done(self.token_from(response, base));
            }
            if status == StatusCode::FORBIDDEN {
                return Attempt::Done(Err(CredentialsError::failed(
                    PROVIDER,
                    format!(
                        "the IMDS token request to {shown} was forbidden (HTTP 403): IMDS is disabled on this instance (or the request was refused); enable the metadata service (HttpEndpoint=enabled), or set {ENV_DISABLED}=true to skip IMDS"
                    ),
                )));
            }
            if !status.is_server_error() {
                return Attempt::Done(Err(CredentialsError::failed(
                    PROVIDER,
                    format!(
                        "the IMDS token request (PUT {TOKEN_PATH}) to {shown} failed with HTTP {status}; this source needs IMDSv2"
                    ),
                )));
            }
            Attempt::Retry(CredentialsError::failed(
                PROVIDER,
                format!(
                    "the IMDS token request to {shown} still failed with HTTP {status} after {} attempts",
                    attempt.number
                ),
            ))
        })
        .await
    }

    fn token_from(
        &self,
        response: crate::transport::Response,
        base: &Uri,
    ) -> Result<CachedToken, CredentialsError> {
        let value = std::str::from_utf8(&response.body)
            .ok()
            .map(str::trim)
            .filter(|t| !t.is_empty() && HeaderValue::from_str(t).is_ok())
            .map(|t| Zeroizing::new(t.to_owned()))
            .ok_or_else(|| {
                CredentialsError::failed(
                    PROVIDER,
                    "IMDS answered the token request with an empty or invalid token",
                )
            })?;
        // The TTL header is data from the network: anything outside 1..=21600 is not believed
        // (a huge value once overflowed the refresh time), and the token is used as if it had the
        // TTL asked for.
        let ttl = response
            .headers
            .get(&TOKEN_TTL_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|ttl| (1..=TOKEN_TTL_SECONDS).contains(ttl))
            .unwrap_or(TOKEN_TTL_SECONDS);
        let lifetime = Duration::from_secs(ttl).saturating_sub(TOKEN_REFRESH_BEFORE);
        let now = self.inner.time_source.now();
        Ok(CachedToken {
            value,
            endpoint: base.clone(),
            refresh_at: now.checked_add(lifetime).unwrap_or(now),
        })
    }
}

fn invalid_profile(profile: &str, base: &Uri) -> CredentialsError {
    CredentialsError::failed(
        PROVIDER,
        format!(
            "the instance profile `{profile}` is not this instance's: {} answered 404 for its credentials (check {ENV_PROFILE_NAME} / ec2_instance_profile_name, or the instance's IAM role)",
            display_base(base)
        ),
    )
}

impl ProvideCredentials for Imds {
    fn provide_credentials(&self) -> ProvideCredentialsFuture<'_> {
        ProvideCredentialsFuture::new(self.load())
    }
}

/// What a transport failure on the token request (the first contact) means.
fn token_transport_error(endpoint: &str, error: HttpError) -> CredentialsError {
    match error {
        e if e.is_connect() => CredentialsError::not_configured(
            PROVIDER,
            format!("no IMDS at {endpoint} ({e}); not running on EC2?"),
        ),
        HttpError::ReadTimeout { after, .. } => CredentialsError::failed_with(
            PROVIDER,
            format!(
                "connected to IMDS at {endpoint} but the token request got no answer within {after:?}. \
                 In a container on EC2 (Docker, ECS on EC2, EKS) this is usually the instance's \
                 metadata hop limit: HttpPutResponseHopLimit is 1, so the answer never reaches the \
                 container; set it to 2 (aws ec2 modify-instance-metadata-options \
                 --http-put-response-hop-limit 2 --instance-id <id>)"
            ),
            error,
        ),
        HttpError::HttpsUnsupported { .. } | HttpError::BadUri { .. } => {
            CredentialsError::failed_with(PROVIDER, error.to_string(), error)
        }
        e => CredentialsError::failed_with(
            PROVIDER,
            format!("the IMDS token request to {endpoint} failed: {e}"),
            e,
        ),
    }
}

/// The role name: the first non-empty line of the role list.
fn parse_role(body: &[u8]) -> Result<String, CredentialsError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| CredentialsError::failed(PROVIDER, "the IMDS role list is not UTF-8"))?;
    let Some(role) = text.lines().map(str::trim).find(|l| !l.is_empty()) else {
        return Err(CredentialsError::not_configured(
            PROVIDER,
            "no IAM role is attached to this instance (the role list is empty)",
        ));
    };
    let valid = role
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "+=,.@-_".contains(c));
    if !valid {
        return Err(CredentialsError::failed(
            PROVIDER,
            "the IMDS role list holds a name with characters a role name cannot have",
        ));
    }
    Ok(role.to_owned())
}

fn prefix_error(error: CredentialsError, prefix: &str) -> CredentialsError {
    match error {
        CredentialsError::Failed {
            provider,
            message,
            cause,
        } => CredentialsError::Failed {
            provider,
            message: format!("{prefix}{message}"),
            cause,
        },
        other => other,
    }
}

/// Builds an [`Imds`]. Every setting is optional.
pub struct ImdsBuilder {
    env: Option<Env>,
    endpoint: Option<String>,
    mode: Option<EndpointMode>,
    profile_name: Option<String>,
    pub(crate) transport: TransportOptions,
    time_source: Option<SharedTimeSource>,
}

impl Default for ImdsBuilder {
    fn default() -> Self {
        Self {
            env: None,
            endpoint: None,
            mode: None,
            profile_name: None,
            transport: TransportOptions::new(DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT)
                .max_attempts(DEFAULT_MAX_ATTEMPTS)
                .initial_backoff(DEFAULT_INITIAL_BACKOFF),
            time_source: None,
        }
    }
}

impl fmt::Debug for ImdsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImdsBuilder")
            .field("endpoint", &self.endpoint)
            .field("endpoint_mode", &self.mode)
            .field("profile_name", &self.profile_name)
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

impl ImdsBuilder {
    /// Where variables (and, through them, the profile files) are read; the real environment by
    /// default.
    pub fn env(mut self, env: Env) -> Self {
        self.env = Some(env);
        self
    }

    /// An explicit endpoint, such as `http://127.0.0.1:1234`; outranks every variable and profile
    /// key. Checked when credentials are first loaded.
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// An explicit endpoint mode; outranks the mode variable and profile key, but not an endpoint
    /// given by the variable or the profile.
    pub fn endpoint_mode(mut self, mode: EndpointMode) -> Self {
        self.mode = Some(mode);
        self
    }

    /// The instance profile's name, which skips the listing call; outranks
    /// `AWS_EC2_INSTANCE_PROFILE_NAME` and the profile key `ec2_instance_profile_name`.
    pub fn instance_profile_name(mut self, name: impl Into<String>) -> Self {
        self.profile_name = Some(name.into());
        self
    }

    /// Timeouts, attempts and backoff in one value (replaces the four setters below).
    pub fn transport(mut self, options: TransportOptions) -> Self {
        self.transport = options;
        self
    }

    /// How long to wait for the TCP connection (default 1 s). Off EC2 this bounds the delay
    /// before the source reports "not configured".
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.transport = self.transport.connect_timeout(timeout);
        self
    }

    /// How long to wait for the whole response once connected (default 1 s).
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.transport = self.transport.read_timeout(timeout);
        self
    }

    /// Attempts per request, retrying 5xx and 401 answers (default 4; at least 1).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.transport = self.transport.max_attempts(attempts);
        self
    }

    /// The first pause between attempts (default 100 ms; doubles each attempt, with jitter).
    pub fn initial_backoff(mut self, backoff: Duration) -> Self {
        self.transport = self.transport.initial_backoff(backoff);
        self
    }

    /// The clock used for token lifetimes and to spot expired credentials (the system clock by
    /// default).
    pub fn time_source(mut self, time_source: SharedTimeSource) -> Self {
        self.time_source = Some(time_source);
        self
    }

    /// Finishes the source. No I/O happens until credentials are asked for.
    pub fn build(self) -> Imds {
        Imds {
            inner: Arc::new(Inner {
                env: self.env.unwrap_or_else(Env::real),
                endpoint: self.endpoint,
                mode: self.mode,
                profile_name: self.profile_name.filter(|n| !n.trim().is_empty()),
                client: HttpClient::from_options(&self.transport),
                transport: self.transport,
                time_source: self.time_source.unwrap_or_else(|| Arc::new(SystemClock)),
                token: tokio::sync::Mutex::new(None),
                learned: std::sync::Mutex::new(Learned::default()),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_list_first_line() {
        assert_eq!(parse_role(b"my-role\n").unwrap(), "my-role");
        assert_eq!(
            parse_role(b"\n  web@app.role+1 \nother").unwrap(),
            "web@app.role+1"
        );
        assert!(parse_role(b"").unwrap_err().is_not_configured());
        assert!(!parse_role(b"../etc").unwrap_err().is_not_configured());
    }

    #[test]
    fn endpoint_modes_parse_in_any_case() {
        assert_eq!("IPv4".parse(), Ok(EndpointMode::IpV4));
        assert_eq!("ipv6".parse(), Ok(EndpointMode::IpV6));
        assert_eq!(
            "IPv7".parse::<EndpointMode>().unwrap_err().to_string(),
            "`IPv7` is not a valid endpoint mode; use IPv4 or IPv6"
        );
    }

    #[test]
    fn join_keeps_a_base_path() {
        let base: Uri = "http://127.0.0.1:9/prefix/".parse().unwrap();
        assert_eq!(
            join(&base, TOKEN_PATH).unwrap().to_string(),
            "http://127.0.0.1:9/prefix/latest/api/token"
        );
        let base: Uri = "http://[fd00:ec2::254]".parse().unwrap();
        assert_eq!(
            join(&base, TOKEN_PATH).unwrap().to_string(),
            "http://[fd00:ec2::254]/latest/api/token"
        );
    }

    #[test]
    fn connect_failures_mean_not_configured_and_hangs_mention_the_hop_limit() {
        let refused = HttpError::Connect {
            authority: "169.254.169.254:80".into(),
            source: std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
        };
        let err = token_transport_error("http://169.254.169.254", refused);
        assert!(err.is_not_configured());
        assert!(err
            .to_string()
            .contains("no IMDS at http://169.254.169.254"));

        let timeout = HttpError::ConnectTimeout {
            authority: "169.254.169.254:80".into(),
            after: DEFAULT_CONNECT_TIMEOUT,
        };
        assert!(token_transport_error("http://169.254.169.254", timeout).is_not_configured());

        let hang = HttpError::ReadTimeout {
            authority: "169.254.169.254:80".into(),
            after: DEFAULT_READ_TIMEOUT,
        };
        let err = token_transport_error("http://169.254.169.254", hang);
        assert!(!err.is_not_configured());
        let text = err.to_string();
        assert!(text.contains("HttpPutResponseHopLimit"), "{text}");
        assert!(text.contains("set it to 2"), "{text}");
    }
}
