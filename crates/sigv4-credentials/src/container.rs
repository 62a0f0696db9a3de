//! Credentials from a container endpoint: ECS task roles and EKS Pod Identity.
//!
//! [`Container`] is configured by the variables the container platform sets:
//! - `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` (ECS): a path on `http://169.254.170.2`; wins when
//!   both are set;
//! - `AWS_CONTAINER_CREDENTIALS_FULL_URI` (EKS Pod Identity, local credential servers): a full URI,
//!   which must be `https://` (through the crate's one TLS setup, feature `tls`), or `http://` to
//!   a host that is, or resolves only to, loopback, `169.254.170.2`, `169.254.170.23` or
//!   `fd00:ec2::23`;
//! - `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` (re-read at every fetch; wins) or
//!   `AWS_CONTAINER_AUTHORIZATION_TOKEN`: the `Authorization` header value. Leading and trailing
//!   whitespace (such as the newline `echo` writes) is trimmed; a CR or LF inside is refused.
//!
//! With neither URI variable the source is "not configured". The answer is the JSON document
//! `AccessKeyId`, `SecretAccessKey`, `Token`, `Expiration` and, when present, `AccountId` (see
//! [`crate::document`]; other fields such as `RoleArn` are ignored).
//!
//! ```no_run
//! # async fn demo() -> Result<(), sigv4_credentials::CredentialsError> {
//! use sigv4_credentials::{Container, ProvideCredentials};
//!
//! let creds = Container::builder().build().provide_credentials().await?;
//! println!("task role key {}", creds.access_key_id());
//! # Ok(()) }
//! ```

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, ACCEPT, AUTHORIZATION};
use http::{Method, StatusCode, Uri};

use crate::document::parse_credentials_document;
use crate::transport::client::strip_brackets;
use crate::transport::{retry, Attempt, HttpClient, TransportOptions};
use crate::{Credentials, CredentialsError, Env, ProvideCredentials, ProvideCredentialsFuture};

const PROVIDER: &str = "container";

/// The ECS agent's address, base of `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`.
pub const ECS_ENDPOINT: &str = "http://169.254.170.2";
/// Default connect timeout.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Default read timeout.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Default number of attempts (retrying 5xx answers).
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;
/// Default first backoff between attempts (doubles each time, with jitter).
pub const DEFAULT_INITIAL_BACKOFF: Duration = Duration::from_millis(100);

const ENV_RELATIVE_URI: &str = "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI";
const ENV_FULL_URI: &str = "AWS_CONTAINER_CREDENTIALS_FULL_URI";
const ENV_TOKEN_FILE: &str = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE";
const ENV_TOKEN: &str = "AWS_CONTAINER_AUTHORIZATION_TOKEN";

const ECS_IP: Ipv4Addr = Ipv4Addr::new(169, 254, 170, 2);
const EKS_IP: Ipv4Addr = Ipv4Addr::new(169, 254, 170, 23);
const EKS_IPV6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x23);

/// True for the addresses an `http://` full URI may point at: loopback, the ECS agent
/// (`169.254.170.2`) and EKS Pod Identity (`169.254.170.23`, `fd00:ec2::23`).
pub fn is_allowed_ip(ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    ip.is_loopback()
        || ip == IpAddr::V4(ECS_IP)
        || ip == IpAddr::V4(EKS_IP)
        || ip == IpAddr::V6(EKS_IPV6)
}

/// The endpoint found in the environment, and whether its host still has to be resolved and
/// checked.
#[derive(Debug)]
struct Endpoint {
    uri: Uri,
    /// An `http://` full URI with a host name (not an IP literal).
    check_dns: bool,
}

/// The container credentials URI from the environment: `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`
/// appended to `http://169.254.170.2`, else `AWS_CONTAINER_CREDENTIALS_FULL_URI`.
///
/// No network I/O: an `http://` full URI with an IP address is checked here; one with a host name
/// is accepted here and its addresses are checked when credentials are fetched. Neither variable
/// is [`CredentialsError::NotConfigured`]; a URI that cannot be used is
/// [`CredentialsError::Failed`].
///
/// ```
/// use sigv4_credentials::container::resolve_endpoint;
/// use sigv4_credentials::Env;
///
/// let env = Env::from_pairs([("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/abc")]);
/// let uri = resolve_endpoint(&env).unwrap();
/// assert_eq!(uri.to_string(), "http://169.254.170.2/v2/credentials/abc");
/// ```
pub fn resolve_endpoint(env: &Env) -> Result<Uri, CredentialsError> {
    resolve_with_base(env, ECS_ENDPOINT).map(|e| e.uri)
}

fn resolve_with_base(env: &Env, relative_base: &str) -> Result<Endpoint, CredentialsError> {
    if let Some(relative) = env.get_non_blank(ENV_RELATIVE_URI) {
        let relative = relative.trim();
        let sep = if relative.starts_with('/') { "" } else { "/" };
        let joined = format!("{}{sep}{relative}", relative_base.trim_end_matches('/'));
        let uri = joined.parse::<Uri>().map_err(|e| {
            CredentialsError::failed(
                PROVIDER,
                format!("{ENV_RELATIVE_URI} `{relative}` does not make a valid URI: {e}"),
            )
        })?;
        return Ok(Endpoint {
            uri,
            check_dns: false,
        });
    }
    let Some(full) = env.get_non_blank(ENV_FULL_URI) else {
        return Err(CredentialsError::not_configured(
            PROVIDER,
            format!("No environment variables were set to configure ECS provider (neither {ENV_RELATIVE_URI} nor {ENV_FULL_URI} is set)"),
        ));
    };
    let full = full.trim();
    let bad =
        |why: String| CredentialsError::failed(PROVIDER, format!("{ENV_FULL_URI} `{full}`: {why}"));
    let uri = full
        .parse::<Uri>()
        .map_err(|e| bad(format!("not a valid URI: {e}")))?;
    let Some(host) = uri.host().filter(|h| !h.is_empty()) else {
        return Err(bad("URI did not specify a host".into()));
    };
    let scheme = uri.scheme_str().unwrap_or("");
    if scheme.eq_ignore_ascii_case("https") {
        return Ok(Endpoint {
            uri,
            check_dns: false,
        });
    }
    if !scheme.eq_ignore_ascii_case("http") {
        return Err(bad("the scheme must be http or https".into()));
    }
    match strip_brackets(host).parse::<IpAddr>() {
        Ok(ip) if is_allowed_ip(ip) => Ok(Endpoint {
            uri,
            check_dns: false,
        }),
        Ok(ip) => Err(bad(not_allowed(ip))),
        Err(_) => Ok(Endpoint {
            uri,
            check_dns: true,
        }),
    }
}

fn not_allowed(ip: IpAddr) -> String {
    format!(
        "the address {ip} is not allowed: an http:// URI must point only at loopback, 169.254.170.2, 169.254.170.23 or fd00:ec2::23 (use https:// for any other host)"
    )
}

/// The `Authorization` value: the token file (re-read now) or the token variable.
fn authorization(env: &Env) -> Result<Option<HeaderValue>, CredentialsError> {
    let (token, source) = if let Some(path) = env.get_non_blank(ENV_TOKEN_FILE) {
        let token = std::fs::read_to_string(path.trim()).map_err(|e| {
            CredentialsError::failed_with(
                PROVIDER,
                format!(
                    "cannot read the authorization token file {ENV_TOKEN_FILE}=`{}`: {e}",
                    path.trim()
                ),
                e,
            )
        })?;
        (zeroize::Zeroizing::new(token), ENV_TOKEN_FILE)
    } else if let Some(token) = env.get_non_blank(ENV_TOKEN) {
        (zeroize::Zeroizing::new(token), ENV_TOKEN)
    } else {
        return Ok(None);
    };
    let trimmed = token.trim();
    if trimmed.is_empty() {
        return Err(CredentialsError::failed(
            PROVIDER,
            format!("the authorization token from {source} is empty"),
        ));
    }
    if trimmed.contains(['\r', '\n']) {
        return Err(CredentialsError::failed(
            PROVIDER,
            format!("the authorization token from {source} contains a line break (CR or LF); it must be a single line"),
        ));
    }
    let mut value = HeaderValue::from_str(trimmed).map_err(|_| {
        CredentialsError::failed(
            PROVIDER,
            format!("the authorization token from {source} has characters not allowed in an HTTP header"),
        )
    })?;
    value.set_sensitive(true);
    Ok(Some(value))
}

/// The URI for messages: no query (it could carry something private).
fn shown(uri: &Uri) -> String {
    format!(
        "{}://{}{}",
        uri.scheme_str().unwrap_or(""),
        uri.authority().map(|a| a.as_str()).unwrap_or(""),
        uri.path()
    )
}

/// ECS / EKS Pod Identity credentials source. Cheap to clone.
///
/// See the [module docs](self) for the variables it reads.
#[derive(Clone)]
pub struct Container {
    inner: Arc<Inner>,
}

struct Inner {
    env: Env,
    relative_base: String,
    client: HttpClient,
    transport: TransportOptions,
}

impl fmt::Debug for Container {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Container")
            .field("relative_uri_base", &self.inner.relative_base)
            .field("transport", &self.inner.transport)
            .finish_non_exhaustive()
    }
}

impl Default for Container {
    fn default() -> Self {
        Self::builder().build()
    }
}

impl Container {
    /// A builder with the defaults (real environment, connect 2 s, read 5 s, 3 attempts).
    pub fn builder() -> ContainerBuilder {
        ContainerBuilder::default()
    }

    /// The URI this source would call now, from the environment (see [`resolve_endpoint`]).
    pub fn resolved_endpoint(&self) -> Result<Uri, CredentialsError> {
        resolve_with_base(&self.inner.env, &self.inner.relative_base).map(|e| e.uri)
    }

    async fn load(&self) -> Result<Credentials, CredentialsError> {
        let endpoint = resolve_with_base(&self.inner.env, &self.inner.relative_base)?;
        let uri = endpoint.uri;
        let addrs = if endpoint.check_dns {
            Some(self.checked_addresses(&uri).await?)
        } else {
            None
        };
        let mut headers = Vec::with_capacity(2);
        headers.push((ACCEPT, HeaderValue::from_static("application/json")));
        if let Some(auth) = authorization(&self.inner.env)? {
            headers.push((AUTHORIZATION, auth));
        }

        let (uri, headers, addrs) = (&uri, &headers, addrs.as_deref());
        retry(&self.inner.transport, "container credentials request", |attempt| async move {
            let response = match self
                .inner
                .client
                .send_to(Method::GET, uri, addrs, headers, Bytes::new())
                .await
            {
                Ok(response) => response,
                Err(e) => {
                    let message = format!(
                        "calling the container credentials endpoint {} failed: {e}",
                        shown(uri)
                    );
                    return Attempt::Done(Err(CredentialsError::failed_with(PROVIDER, message, e)));
                }
            };
            let status = response.status;
            if status == StatusCode::OK {
                return Attempt::Done(parse_credentials_document(&response.body, PROVIDER, true));
            }
            if !status.is_server_error() {
                let hint = match status {
                    StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                        "; check AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE / AWS_CONTAINER_AUTHORIZATION_TOKEN"
                    }
                    _ => "",
                };
                return Attempt::Done(Err(CredentialsError::failed(
                    PROVIDER,
                    format!(
                        "the container credentials endpoint {} answered HTTP {status}{hint}",
                        shown(uri)
                    ),
                )));
            }
            Attempt::Retry(CredentialsError::failed(
                PROVIDER,
                format!(
                    "the container credentials endpoint {} still answered HTTP {status} after {} attempts",
                    shown(uri),
                    attempt.number
                ),
            ))
        })
        .await
    }

    /// Resolves the full URI's host name and checks every address; the request then goes to
    /// exactly these addresses (no second lookup that could answer differently).
    async fn checked_addresses(&self, uri: &Uri) -> Result<Vec<SocketAddr>, CredentialsError> {
        let host = uri
            .host()
            .map(strip_brackets)
            .unwrap_or_default()
            .to_owned();
        let port = uri.port_u16().unwrap_or(80);
        let timeout = self.inner.client.connect_timeout();
        let lookup = tokio::net::lookup_host((host.as_str(), port));
        let addrs: Vec<SocketAddr> = match tokio::time::timeout(timeout, lookup).await {
            Ok(Ok(addrs)) => addrs.collect(),
            Ok(Err(e)) => {
                return Err(CredentialsError::failed_with(
                    PROVIDER,
                    format!("{ENV_FULL_URI}: cannot resolve host `{host}`: {e}"),
                    e,
                ))
            }
            Err(_) => {
                return Err(CredentialsError::failed(
                    PROVIDER,
                    format!("{ENV_FULL_URI}: resolving host `{host}` took longer than {timeout:?}"),
                ))
            }
        };
        if addrs.is_empty() {
            return Err(CredentialsError::failed(
                PROVIDER,
                format!("{ENV_FULL_URI}: host `{host}` resolves to no address"),
            ));
        }
        if let Some(bad) = addrs.iter().find(|a| !is_allowed_ip(a.ip())) {
            return Err(CredentialsError::failed(
                PROVIDER,
                format!(
                    "{ENV_FULL_URI}: host `{host}` resolves to {}; {}",
                    bad.ip(),
                    not_allowed(bad.ip())
                ),
            ));
        }
        Ok(addrs)
    }
}

impl ProvideCredentials for Container {
    fn provide_credentials(&self) -> ProvideCredentialsFuture<'_> {
        ProvideCredentialsFuture::new(self.load())
    }
}

/// Builds a [`Container`]. Every setting is optional.
#[derive(Debug)]
pub struct ContainerBuilder {
    env: Option<Env>,
    relative_uri_base: Option<String>,
    pub(crate) transport: TransportOptions,
}

impl Default for ContainerBuilder {
    fn default() -> Self {
        Self {
            env: None,
            relative_uri_base: None,
            transport: TransportOptions::new(DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT)
                .max_attempts(DEFAULT_MAX_ATTEMPTS)
                .initial_backoff(DEFAULT_INITIAL_BACKOFF),
        }
    }
}

impl ContainerBuilder {
    /// Where the variables are read; the real environment by default.
    pub fn env(mut self, env: Env) -> Self {
        self.env = Some(env);
        self
    }

    /// The base that `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` is appended to, instead of
    /// `http://169.254.170.2` (for tests: `http://127.0.0.1:<port>`). Not checked against the
    /// allowed addresses.
    pub fn relative_uri_base(mut self, base: impl Into<String>) -> Self {
        self.relative_uri_base = Some(base.into());
        self
    }

    /// Timeouts, attempts, backoff and TLS in one value (replaces the four setters below).
    pub fn transport(mut self, options: TransportOptions) -> Self {
        self.transport = options;
        self
    }

    /// How long to wait for the TCP connection (default 2 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.transport = self.transport.connect_timeout(timeout);
        self
    }

    /// How long to wait for the whole response once connected (default 5 s).
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.transport = self.transport.read_timeout(timeout);
        self
    }

    /// Attempts per fetch, retrying 5xx answers (default 3; at least 1).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.transport = self.transport.max_attempts(attempts);
        self
    }

    /// The first pause between attempts (default 100 ms; doubles each attempt, with jitter).
    pub fn initial_backoff(mut self, backoff: Duration) -> Self {
        self.transport = self.transport.initial_backoff(backoff);
        self
    }

    /// Finishes the source. Nothing is read until credentials are asked for.
    pub fn build(self) -> Container {
        Container {
            inner: Arc::new(Inner {
                env: self.env.unwrap_or_else(Env::real),
                relative_base: self
                    .relative_uri_base
                    .unwrap_or_else(|| ECS_ENDPOINT.to_owned()),
                client: HttpClient::from_options(&self.transport),
                transport: self.transport,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_addresses() {
        for ip in [
            "127.0.0.1",
            "127.1.2.3",
            "::1",
            "169.254.170.2",
            "169.254.170.23",
            "fd00:ec2::23",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_allowed_ip(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "169.254.169.254",
            "10.0.0.1",
            "fd00:ec2::254",
            "169.254.170.3",
            "0.0.0.0",
        ] {
            assert!(!is_allowed_ip(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn ip_literals_outside_the_list_are_refused() {
        let env = Env::from_pairs([(ENV_FULL_URI, "http://10.0.0.1/creds")]);
        let err = resolve_endpoint(&env).unwrap_err();
        assert!(!err.is_not_configured());
        assert!(err.to_string().contains("10.0.0.1 is not allowed"), "{err}");
    }

    #[test]
    fn host_names_wait_for_dns() {
        let env = Env::from_pairs([(ENV_FULL_URI, "http://creds.internal:8080/creds")]);
        let endpoint = resolve_with_base(&env, ECS_ENDPOINT).unwrap();
        assert!(endpoint.check_dns);
        let env = Env::from_pairs([(ENV_FULL_URI, "http://127.0.0.1:8080/creds")]);
        assert!(!resolve_with_base(&env, ECS_ENDPOINT).unwrap().check_dns);
    }

    #[test]
    fn relative_uri_without_slash_gets_one() {
        let env = Env::from_pairs([(ENV_RELATIVE_URI, "v2/credentials")]);
        assert_eq!(
            resolve_endpoint(&env).unwrap().to_string(),
            "http://169.254.170.2/v2/credentials"
        );
    }

    #[test]
    fn token_rules() {
        let env = Env::from_pairs([(ENV_TOKEN, "Bearer abc")]);
        assert_eq!(authorization(&env).unwrap().unwrap(), "Bearer abc");
        let env = Env::from_pairs([(ENV_TOKEN, "abc\r\nX-Injected: 1")]);
        let err = authorization(&env).unwrap_err();
        assert!(err.to_string().contains("line break"), "{err}");
        assert!(!err.to_string().contains("Injected"), "{err}");
        let env = Env::from_pairs([(ENV_TOKEN, "abc\n")]);
        assert_eq!(authorization(&env).unwrap().unwrap(), "abc");
        let env = Env::from_pairs([("X", "y")]);
        assert!(authorization(&env).unwrap().is_none());
        let env = Env::from_pairs([
            (ENV_TOKEN_FILE, "/nonexistent/dir/token"),
            (ENV_TOKEN, "abc"),
        ]);
        let err = authorization(&env).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/dir/token"), "{err}");
    }
}
