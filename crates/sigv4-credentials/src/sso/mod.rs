//! Credentials from IAM Identity Center (SSO), as `aws sso login` leaves them.
//!
//! A profile with `sso_session` (and a `[sso-session NAME]` section with `sso_start_url` and
//! `sso_region`), or with the legacy `sso_start_url` + `sso_region`, plus `sso_account_id` and
//! `sso_role_name`, is served by [`Sso`]:
//!
//! 1. the access token is read from the token cache the CLI wrote,
//!    `~/.aws/sso/cache/<SHA-1 of the session name or start URL>.json` ([`cache_file_name`]);
//! 2. with an `sso_session`, a token within 5 minutes of its expiry ([`TOKEN_REFRESH_WINDOW`]) is
//!    refreshed through SSO-OIDC `CreateToken` (`POST /token`) when the file holds a refresh
//!    token and a client registration that has not expired; the new token (and the new refresh
//!    token, when one comes back) is written back atomically (see [`cache`]); a failed refresh
//!    keeps using the old token while it is valid;
//! 3. `GetRoleCredentials` (`GET /federation/credentials?account_id=…&role_name=…`, the token in
//!    the `x-amz-sso_bearer_token` header) gives the role's credentials, with the account id.
//!
//! No token file, or an expired token that cannot be refreshed, is
//! [`CredentialsError::NonRecoverable`] saying to run `aws sso login --profile NAME`: retrying
//! cannot help, so a [`CredentialsCache`](crate::CredentialsCache) surfaces it at once. The portal
//! and OIDC endpoints are resolved by [`crate::endpoint`] (`AWS_ENDPOINT_URL_SSO`,
//! `AWS_ENDPOINT_URL_SSO_OIDC`, the `sso` / `sso_oidc` keys of a `services` section,
//! `endpoint_url`, FIPS and dual-stack) for the `sso_region`.
//!
//! No access token, refresh token or client secret is ever in a `Debug` output, an error or a log
//! line.

use std::borrow::Cow;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE};
use http::{Method, StatusCode, Uri};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::cached_session::{session_builder_methods, Session, SessionOptions};
use crate::endpoint::origin as shown;
use crate::endpoint::{self, Service};
use crate::transport::{retry, transport_failure, Attempt, HttpClient, TransportOptions};
use crate::{Credentials, CredentialsError, ProvideCredentials, ProvideCredentialsFuture};

pub mod cache;

pub use cache::cache_file_name;

/// The provider name in errors.
pub const PROVIDER_NAME: &str = "sso";

/// A token closer than this to its expiry is refreshed (when it can be): 5 minutes, as the SDKs.
pub const TOKEN_REFRESH_WINDOW: Duration = Duration::from_secs(300);

/// Default connect timeout for the portal and OIDC calls.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_millis(3100);
/// Default read timeout for the portal and OIDC calls.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// The transport options SSO starts from: 3.1 s connect, 5 s read, 3 attempts.
pub fn default_transport() -> TransportOptions {
    TransportOptions::new(DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT).max_attempts(3)
}

const BEARER: HeaderName = HeaderName::from_static("x-amz-sso_bearer_token");

/// Query values: everything but `A-Z a-z 0-9 - _ . ~` percent-encoded.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// What a profile says about SSO, as [`Sso::builder`] takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoSettings {
    /// `sso_start_url` (of the session, or of the profile in the legacy form).
    pub start_url: String,
    /// `sso_region`: where the portal and OIDC endpoints are.
    pub region: String,
    /// `sso_account_id`.
    pub account_id: String,
    /// `sso_role_name`.
    pub role_name: String,
    /// `sso_session`: the session name (the token can then be refreshed); `None` for the legacy
    /// form.
    pub session_name: Option<String>,
}

/// IAM Identity Center credentials (see the [module docs](self)).
///
/// ```no_run
/// # async fn demo() -> Result<(), sigv4_credentials::CredentialsError> {
/// use sigv4_credentials::sso::{Sso, SsoSettings};
/// use sigv4_credentials::{CredentialsCache, ProvideCredentials};
///
/// let sso = Sso::builder(SsoSettings {
///     start_url: "https://d-abc123.awsapps.com/start".into(),
///     region: "us-east-1".into(),
///     account_id: "123456789012".into(),
///     role_name: "Developer".into(),
///     session_name: Some("corp".into()),
/// })
/// .profile_name("dev")
/// .build();
/// let creds = CredentialsCache::new(sso).provide_credentials().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Sso {
    inner: Arc<Inner>,
}

struct Inner {
    settings: SsoSettings,
    client: HttpClient,
    common: Session,
}

impl fmt::Debug for Sso {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sso")
            .field("settings", &self.inner.settings)
            .field("profile_name", &self.inner.common.profile_name)
            .field("transport", &self.inner.common.transport)
            .finish_non_exhaustive()
    }
}

/// Builds an [`Sso`] source; from [`Sso::builder`].
#[derive(Clone)]
pub struct SsoBuilder {
    settings: SsoSettings,
    options: SessionOptions,
}

impl fmt::Debug for SsoBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SsoBuilder")
            .field("settings", &self.settings)
            .field("profile_name", &self.options.profile_name)
            .field("cache_dir", &self.options.cache_dir)
            .finish_non_exhaustive()
    }
}

impl SsoBuilder {
    session_builder_methods!();

    /// Builds the source (no I/O happens here).
    pub fn build(self) -> Sso {
        let common = self.options.resolve(cache::default_dir, default_transport);
        Sso {
            inner: Arc::new(Inner {
                settings: self.settings,
                client: HttpClient::from_options(&common.transport),
                common,
            }),
        }
    }
}

/// A secret string in a JSON answer, wiped when dropped.
#[derive(Deserialize)]
#[serde(from = "String")]
pub(crate) struct Secret(pub(crate) Zeroizing<String>);

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(Zeroizing::new(s))
    }
}

impl Secret {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// `GetRoleCredentials`'s answer.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RoleCredentialsAnswer {
    role_credentials: RoleCredentials,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RoleCredentials {
    access_key_id: String,
    secret_access_key: Secret,
    session_token: Secret,
    /// Milliseconds since the epoch.
    expiration: u64,
}

/// `CreateToken`'s answer.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateTokenAnswer {
    access_token: Secret,
    expires_in: u64,
    #[serde(default)]
    refresh_token: Option<Secret>,
}

/// An error answer of the portal or OIDC (`{"message": …}`, `{"error": …, "error_description": …}`,
/// `x-amzn-ErrorType`): the code and message, never anything else of the body.
fn error_of(response: &crate::transport::Response) -> String {
    #[derive(Deserialize, Default)]
    struct Body {
        #[serde(default)]
        error: Option<String>,
        #[serde(default, alias = "error_description", alias = "Message")]
        message: Option<String>,
        #[serde(default, rename = "__type")]
        kind: Option<String>,
    }
    let body: Body = serde_json::from_slice(&response.body).unwrap_or_default();
    let header = response
        .headers
        .get("x-amzn-errortype")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(':').next().unwrap_or(v).to_owned());
    let code = header.or(body.kind).or(body.error);
    let message: String = body.message.unwrap_or_default().chars().take(300).collect();
    match (code, message.is_empty()) {
        (Some(code), false) => format!("{code}: {message}"),
        (Some(code), true) => code,
        (None, false) => message,
        (None, true) => format!("HTTP {}", response.status.as_u16()),
    }
}

/// A refusal by a token service (SSO-OIDC, sign-in): throttling and 5xx are retried; another 4xx
/// means the session must be renewed (`NonRecoverable`, with `advice`); anything else fails.
pub(crate) fn token_refusal<T>(
    status: StatusCode,
    provider: &'static str,
    text: String,
    advice: &str,
) -> Attempt<T, CredentialsError> {
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        Attempt::Retry(CredentialsError::failed(provider, text))
    } else if status.is_client_error() {
        Attempt::Done(Err(CredentialsError::non_recoverable(
            provider,
            format!("{text}; {advice}"),
        )))
    } else {
        Attempt::Done(Err(CredentialsError::failed(provider, text)))
    }
}

impl Sso {
    /// Starts a builder for these settings.
    pub fn builder(settings: SsoSettings) -> SsoBuilder {
        SsoBuilder {
            settings,
            options: SessionOptions::default(),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &SsoSettings {
        &self.inner.settings
    }

    /// The token cache file this source reads (and refreshes), if a home directory is known.
    pub fn cache_file(&self) -> Option<PathBuf> {
        let s = &self.inner.settings;
        let key = s.session_name.as_deref().unwrap_or(&s.start_url);
        self.inner
            .common
            .cache_dir
            .as_ref()
            .map(|dir| dir.join(cache_file_name(key)))
    }

    /// The name the credentials carry: `sso role NAME in account ID (profile P)`.
    fn provider_name(&self) -> Cow<'static, str> {
        let s = &self.inner.settings;
        match &self.inner.common.profile_name {
            Some(p) => format!(
                "sso role {} in account {} (profile {p})",
                s.role_name, s.account_id
            ),
            None => format!("sso role {} in account {}", s.role_name, s.account_id),
        }
        .into()
    }

    /// `aws sso login` with the profile, when known.
    fn login_advice(&self) -> String {
        match &self.inner.common.profile_name {
            Some(p) => format!("run `aws sso login --profile {p}`"),
            None => "run `aws sso login`".to_owned(),
        }
    }

    fn endpoint(&self, service: &Service) -> Result<Uri, CredentialsError> {
        endpoint::resolve(
            service,
            PROVIDER_NAME,
            &self.inner.common.env,
            self.inner.common.set.as_ref(),
            Some(&self.inner.settings.region),
            "SSO needs sso_region",
        )
        .map(|(uri, _)| uri)
    }

    /// Loads the role's credentials (see the [module docs](self)).
    pub async fn load(&self) -> Result<Credentials, CredentialsError> {
        let token = self.access_token().await?;
        self.role_credentials(&token).await
    }

    /// A valid access token: from the cache file, refreshed when due and possible.
    async fn access_token(&self) -> Result<Zeroizing<String>, CredentialsError> {
        let Some(path) = self.cache_file() else {
            return Err(CredentialsError::non_recoverable(
                PROVIDER_NAME,
                format!(
                    "cannot find the SSO token cache: no home directory (HOME is not set); {}",
                    self.login_advice()
                ),
            ));
        };
        let (file, expires_at) = self.current(&path).await?;
        let now = self.inner.common.time_source.now();
        if expires_at > now + TOKEN_REFRESH_WINDOW {
            return Ok(Zeroizing::new(file.access_token().to_owned()));
        }
        if self.inner.settings.session_name.is_none() {
            // The legacy form has no refresh: the token is used until it expires.
            return self.still_valid(&file, expires_at, now, None);
        }
        let _refreshing = self.inner.common.refresh_lock.lock().await;
        // Another task or process may have refreshed the file meanwhile.
        let (file, expires_at) = self.current(&path).await?;
        let now = self.inner.common.time_source.now();
        if expires_at > now + TOKEN_REFRESH_WINDOW {
            return Ok(Zeroizing::new(file.access_token().to_owned()));
        }
        let Some(material) = file.refresh_material(now) else {
            return self.still_valid(
                &file,
                expires_at,
                now,
                Some("the cache file has no refresh token or a current client registration"),
            );
        };
        match self.create_token(&material).await {
            Ok(answer) => {
                let expires = now + Duration::from_secs(answer.expires_in);
                let updated = file.refreshed(
                    answer.access_token.as_str(),
                    expires,
                    answer.refresh_token.as_ref().map(Secret::as_str),
                );
                if let Err(e) = cache::write_atomically(
                    path.clone(),
                    updated.to_bytes(),
                    self.inner.common.before_rename.clone(),
                )
                .await
                {
                    tracing::warn!(
                        file = %path.display(),
                        error = %e,
                        "sso: refreshed the token but could not write it back to the cache file"
                    );
                } else {
                    tracing::debug!(file = %path.display(), "sso: token refreshed and written back");
                }
                Ok(answer.access_token.0)
            }
            Err(error) => {
                // Another process may have refreshed (and rotated the refresh token) first.
                if let Ok(again) = cache::TokenFile::read(&path).await {
                    let fresh = again
                        .expires_at()
                        .is_ok_and(|t| t > now + TOKEN_REFRESH_WINDOW);
                    if fresh && again.access_token() != file.access_token() {
                        return Ok(Zeroizing::new(again.access_token().to_owned()));
                    }
                }
                if expires_at > now {
                    tracing::warn!(error = %error, "sso: token refresh failed; using the current token until it expires");
                    return Ok(Zeroizing::new(file.access_token().to_owned()));
                }
                Err(error)
            }
        }
    }

    fn still_valid(
        &self,
        file: &cache::TokenFile,
        expires_at: SystemTime,
        now: SystemTime,
        why_no_refresh: Option<&str>,
    ) -> Result<Zeroizing<String>, CredentialsError> {
        if expires_at > now {
            return Ok(Zeroizing::new(file.access_token().to_owned()));
        }
        let when = sigv4_core::time::format_rfc3339(expires_at);
        let why = why_no_refresh
            .map(|w| format!(" and cannot be refreshed ({w})"))
            .unwrap_or_default();
        Err(CredentialsError::non_recoverable(
            PROVIDER_NAME,
            format!(
                "the SSO session for {} expired at {when}{why}; {}",
                self.inner.settings.start_url,
                self.login_advice()
            ),
        ))
    }

    /// The cache file and its token's expiry.
    async fn current(
        &self,
        path: &std::path::Path,
    ) -> Result<(cache::TokenFile, SystemTime), CredentialsError> {
        let file = cache::TokenFile::read(path)
            .await
            .map_err(|e| self.unusable(path, &e))?;
        let expires_at = file.expires_at().map_err(|e| self.unusable(path, &e))?;
        Ok((file, expires_at))
    }

    fn unusable(&self, path: &std::path::Path, error: &cache::ReadError) -> CredentialsError {
        let what = match error {
            cache::ReadError::Io(e) => format!("failed to read `{}`: {e}", path.display()),
            cache::ReadError::Invalid(why) => {
                format!(
                    "the SSO token cache `{}` cannot be used: {why}",
                    path.display()
                )
            }
        };
        CredentialsError::non_recoverable(
            PROVIDER_NAME,
            format!("{what}; {} to sign in", self.login_advice()),
        )
    }

    /// SSO-OIDC `CreateToken` with the refresh token.
    async fn create_token(
        &self,
        material: &cache::RefreshMaterial<'_>,
    ) -> Result<CreateTokenAnswer, CredentialsError> {
        let base = self.endpoint(&Service::SSO_OIDC)?;
        let uri = endpoint::join(&base, "/token").map_err(|e| {
            CredentialsError::failed(PROVIDER_NAME, format!("bad SSO-OIDC endpoint: {e}"))
        })?;
        let body = serde_json::json!({
            "clientId": material.client_id,
            "clientSecret": material.client_secret,
            "grantType": "refresh_token",
            "refreshToken": material.refresh_token,
        });
        let body = Bytes::from(Zeroizing::new(body.to_string()).as_bytes().to_vec());
        let headers = [
            (CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (ACCEPT, HeaderValue::from_static("application/json")),
        ];
        let advice = self.login_advice();
        let (uri, headers, body, advice) = (&uri, &headers, &body, &advice);
        retry(&self.inner.common.transport, "SSO-OIDC CreateToken", |attempt| async move {
            let response = match self
                .inner
                .client
                .send(Method::POST, uri, headers, body.clone())
                .await
            {
                Ok(r) => r,
                Err(e) => {
                    let message = format!(
                        "SSO-OIDC CreateToken at {} failed (attempt {})",
                        shown(uri),
                        attempt.number
                    );
                    return transport_failure(e, PROVIDER_NAME, &message);
                }
            };
            if response.status == StatusCode::OK {
                return Attempt::Done(serde_json::from_slice::<CreateTokenAnswer>(&response.body).map_err(
                    |e| {
                        CredentialsError::failed(
                            PROVIDER_NAME,
                            format!(
                                "SSO-OIDC CreateToken at {} answered a document without a usable accessToken/expiresIn (line {}, column {})",
                                shown(uri),
                                e.line(),
                                e.column()
                            ),
                        )
                    },
                ));
            }
            let text = format!(
                "refreshing the SSO token at {} was refused (HTTP {}): {}",
                shown(uri),
                response.status.as_u16(),
                error_of(&response)
            );
            token_refusal(response.status, PROVIDER_NAME, text, advice)
        })
        .await
    }

    /// `GetRoleCredentials` with the access token.
    async fn role_credentials(&self, token: &str) -> Result<Credentials, CredentialsError> {
        let s = &self.inner.settings;
        let base = self.endpoint(&Service::SSO)?;
        let query = format!(
            "/federation/credentials?account_id={}&role_name={}",
            utf8_percent_encode(&s.account_id, QUERY),
            utf8_percent_encode(&s.role_name, QUERY)
        );
        let uri = endpoint::join(&base, &query).map_err(|e| {
            CredentialsError::failed(PROVIDER_NAME, format!("bad SSO endpoint: {e}"))
        })?;
        let mut bearer = HeaderValue::from_str(token).map_err(|_| {
            CredentialsError::non_recoverable(
                PROVIDER_NAME,
                format!(
                    "the cached SSO access token is not a valid header value; {}",
                    self.login_advice()
                ),
            )
        })?;
        bearer.set_sensitive(true);
        let headers = [
            (BEARER, bearer),
            (ACCEPT, HeaderValue::from_static("application/json")),
        ];
        let name = self.provider_name();
        let advice = self.login_advice();
        let (uri, headers, name, advice) = (&uri, &headers, &name, &advice);
        retry(
            &self.inner.common.transport,
            "SSO GetRoleCredentials",
            |attempt| async move {
                let response = match self
                    .inner
                    .client
                    .send(Method::GET, uri, headers, Bytes::new())
                    .await
                {
                    Ok(r) => r,
                    Err(e) => {
                        let message = format!(
                            "SSO GetRoleCredentials at {} failed (attempt {})",
                            shown(uri),
                            attempt.number
                        );
                        return transport_failure(e, PROVIDER_NAME, &message);
                    }
                };
                let status = response.status;
                if status == StatusCode::OK {
                    return Attempt::Done(self.parse_role_credentials(
                        &response.body,
                        uri,
                        name.clone(),
                    ));
                }
                let text = format!(
                "SSO GetRoleCredentials for role {} in account {} at {} was refused (HTTP {}): {}",
                s.role_name,
                s.account_id,
                shown(uri),
                status.as_u16(),
                error_of(&response)
            );
                match status {
                    StatusCode::UNAUTHORIZED => {
                        Attempt::Done(Err(CredentialsError::non_recoverable(
                            PROVIDER_NAME,
                            format!("{text}; the SSO session is no longer valid: {advice}"),
                        )))
                    }
                    StatusCode::FORBIDDEN | StatusCode::NOT_FOUND => {
                        Attempt::Done(Err(CredentialsError::non_recoverable(PROVIDER_NAME, text)))
                    }
                    s if s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS => {
                        Attempt::Retry(CredentialsError::failed(PROVIDER_NAME, text))
                    }
                    _ => Attempt::Done(Err(CredentialsError::failed(PROVIDER_NAME, text))),
                }
            },
        )
        .await
    }

    fn parse_role_credentials(
        &self,
        body: &[u8],
        uri: &Uri,
        name: Cow<'static, str>,
    ) -> Result<Credentials, CredentialsError> {
        let answer: RoleCredentialsAnswer = serde_json::from_slice(body).map_err(|e| {
            CredentialsError::failed(
                PROVIDER_NAME,
                format!(
                    "SSO GetRoleCredentials at {} answered a document without usable roleCredentials (line {}, column {})",
                    shown(uri),
                    e.line(),
                    e.column()
                ),
            )
        })?;
        let c = answer.role_credentials;
        Ok(
            Credentials::builder(c.access_key_id, c.secret_access_key.as_str())
                .session_token(c.session_token.as_str())
                .expiry(UNIX_EPOCH + Duration::from_millis(c.expiration))
                .account_id(self.inner.settings.account_id.as_str())
                .provider_name(name)
                .build(),
        )
    }
}

impl ProvideCredentials for Sso {
    fn provide_credentials(&self) -> ProvideCredentialsFuture<'_> {
        ProvideCredentialsFuture::new(self.load())
    }
}
