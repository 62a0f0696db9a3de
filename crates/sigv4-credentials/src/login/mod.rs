//! Credentials from `aws login` (console sign-in for the CLI, 2025): `login_session` profiles.
//!
//! `aws login` leaves a cache file in `~/.aws/login/cache/` (or `AWS_LOGIN_CACHE_DIRECTORY`)
//! named after the SHA-256 (hex) of the profile's `login_session` value ([`cache_file_name`]),
//! holding short-lived credentials (`accessToken`: `accessKeyId`, `secretAccessKey`,
//! `sessionToken`, `accountId`, `expiresAt`), a `refreshToken`, the `clientId` and the `dpopKey`
//! (a P-256 private key in PEM). [`Login`]:
//!
//! 1. serves the cached credentials while they are more than 5 minutes from expiry
//!    ([`REFRESH_WINDOW`]);
//! 2. else refreshes them with the sign-in service's token endpoint (`POST /v1/token`,
//!    `{"clientId", "refreshToken", "grantType": "refresh_token"}`), the request carrying a DPoP
//!    proof (RFC 9449) signed with ES256 by the cached key; the answer (`accessToken`,
//!    `refreshToken`, `expiresIn`) is written back atomically (a temporary file renamed over the old one, as for SSO);
//!    a failed refresh keeps serving credentials that have not expired yet;
//! 3. an expired session that cannot be refreshed (no cache file, a field missing, the refresh
//!    refused) is [`CredentialsError::NonRecoverable`] saying to run `aws login`.
//!
//! The endpoint is `https://{region}.signin.aws.amazon.com` for the profile's region, or as
//! configured through [`crate::endpoint`] (`AWS_ENDPOINT_URL_SIGNIN`, the `signin` key of a
//! `services` section, ...). No credential, refresh token or key is in any `Debug` output, error
//! or log line.

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use sigv4_core::time::{format_rfc3339, parse_rfc3339};

use crate::cached_session::{session_builder_methods, Session, SessionOptions};
use crate::{Credentials, CredentialsError, Env, ProvideCredentials, ProvideCredentialsFuture};

#[cfg(feature = "login")]
mod dpop;
#[cfg(feature = "login")]
mod refresh;

/// The provider name in errors.
pub const PROVIDER_NAME: &str = "login";

/// Cached credentials closer than this to their expiry are refreshed: 5 minutes.
pub const REFRESH_WINDOW: Duration = Duration::from_secs(300);

/// The cache file name of a `login_session` value: the SHA-256 of its UTF-8 bytes in lower-case
/// hex, then `.json`.
///
/// ```
/// use sigv4_credentials::login::cache_file_name;
///
/// assert_eq!(
///     cache_file_name("arn:aws:sts::012345678910:assumed-role/Admin/admin"),
///     "4b0ba8f99f075c0633e122fd73346ce203a3faf18ea0310eb2d29df1bab2e255.json"
/// );
/// ```
pub fn cache_file_name(login_session: &str) -> String {
    let mut name = String::with_capacity(69);
    for byte in Sha256::digest(login_session.trim().as_bytes()) {
        name.push_str(&format!("{byte:02x}"));
    }
    name.push_str(".json");
    name
}

/// `AWS_LOGIN_CACHE_DIRECTORY`, else `~/.aws/login/cache`.
fn default_dir(env: &Env) -> Option<PathBuf> {
    env.get_non_blank("AWS_LOGIN_CACHE_DIRECTORY")
        .map(PathBuf::from)
        .or_else(|| {
            env.home_dir()
                .map(|home| home.join(".aws").join("login").join("cache"))
        })
}

/// `aws login` credentials (see the [module docs](self)).
#[derive(Clone)]
pub struct Login {
    inner: Arc<Inner>,
}

#[cfg_attr(not(feature = "login"), allow(dead_code))]
struct Inner {
    session: String,
    common: Session,
}

impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Login")
            .field("session", &self.inner.session)
            .field("profile_name", &self.inner.common.profile_name)
            .field("cache_dir", &self.inner.common.cache_dir)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Login`] source; from [`Login::builder`].
#[derive(Clone)]
pub struct LoginBuilder {
    session: String,
    options: SessionOptions,
}

impl fmt::Debug for LoginBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginBuilder")
            .field("session", &self.session)
            .field("profile_name", &self.options.profile_name)
            .finish_non_exhaustive()
    }
}

impl LoginBuilder {
    session_builder_methods!();

    /// Builds the source (no I/O).
    pub fn build(self) -> Login {
        Login {
            inner: Arc::new(Inner {
                session: self.session,
                common: self
                    .options
                    .resolve(default_dir, crate::sso::default_transport),
            }),
        }
    }
}

/// A login cache file: its fields (unknown ones kept). `Debug` shows the field names only.
#[derive(Clone)]
pub(crate) struct LoginFile {
    fields: Map<String, Value>,
}

impl fmt::Debug for LoginFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginFile")
            .field("fields", &self.fields.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl LoginFile {
    fn parse(bytes: &[u8]) -> Result<LoginFile, String> {
        match serde_json::from_slice::<Value>(bytes) {
            Ok(Value::Object(fields)) => Ok(LoginFile { fields }),
            Ok(_) => Err("it is not a JSON object".to_owned()),
            Err(e) => Err(format!(
                "it is not JSON (line {}, column {})",
                e.line(),
                e.column()
            )),
        }
    }

    #[cfg_attr(not(feature = "login"), allow(dead_code))]
    pub(crate) fn text(&self, key: &str) -> Option<&str> {
        self.fields
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }

    /// The cached credentials and their expiry.
    fn credentials(&self, name: Cow<'static, str>) -> Result<(Credentials, SystemTime), String> {
        let token = self
            .fields
            .get("accessToken")
            .and_then(Value::as_object)
            .ok_or("it has no accessToken")?;
        let field = |k: &str| {
            token
                .get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .ok_or(format!("its accessToken has no {k}"))
        };
        let expires_at = parse_rfc3339(field("expiresAt")?)
            .map_err(|e| format!("its accessToken.expiresAt is not an RFC 3339 time: {e}"))?;
        let creds = Credentials::builder(field("accessKeyId")?, field("secretAccessKey")?)
            .session_token(field("sessionToken")?)
            .expiry(expires_at)
            .account_id_opt(
                token
                    .get("accountId")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            )
            .provider_name(name)
            .build();
        Ok((creds, expires_at))
    }

    /// The file after a refresh: new credentials (the account id kept), the new refresh token
    /// when one came back (else the old one: a refresh token is never lost).
    #[cfg_attr(not(feature = "login"), allow(dead_code))]
    pub(crate) fn refreshed(
        &self,
        creds: &Credentials,
        expires_at: SystemTime,
        refresh_token: Option<&str>,
    ) -> LoginFile {
        let mut fields = self.fields.clone();
        let mut token = fields
            .get("accessToken")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        token.insert("accessKeyId".into(), creds.access_key_id().into());
        token.insert("secretAccessKey".into(), creds.secret_access_key().into());
        token.insert(
            "sessionToken".into(),
            creds.session_token().unwrap_or_default().into(),
        );
        token.insert("expiresAt".into(), format_rfc3339(expires_at).into());
        fields.insert("accessToken".into(), Value::Object(token));
        if let Some(refresh) = refresh_token.filter(|r| !r.is_empty()) {
            fields.insert("refreshToken".into(), refresh.into());
        }
        LoginFile { fields }
    }

    #[cfg_attr(not(feature = "login"), allow(dead_code))]
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(&self.fields).unwrap_or_default()
    }
}

impl Login {
    /// Starts a builder for this `login_session` value.
    pub fn builder(login_session: impl Into<String>) -> LoginBuilder {
        LoginBuilder {
            session: login_session.into(),
            options: SessionOptions::default(),
        }
    }

    /// The cache file this source reads and refreshes, if a directory is known.
    pub fn cache_file(&self) -> Option<PathBuf> {
        self.inner
            .common
            .cache_dir
            .as_ref()
            .map(|dir| dir.join(cache_file_name(&self.inner.session)))
    }

    fn provider_name(&self) -> Cow<'static, str> {
        match &self.inner.common.profile_name {
            Some(p) => format!("aws login session {} (profile {p})", self.inner.session),
            None => format!("aws login session {}", self.inner.session),
        }
        .into()
    }

    pub(crate) fn login_advice(&self) -> String {
        match &self.inner.common.profile_name {
            Some(p) => format!("run `aws login --profile {p}`"),
            None => "run `aws login`".to_owned(),
        }
    }

    async fn read(&self, path: &Path) -> Result<LoginFile, CredentialsError> {
        let bytes = tokio::fs::read(path).await.map_err(|e| {
            CredentialsError::non_recoverable(
                PROVIDER_NAME,
                format!(
                    "failed to read `{}`: {e}; {} to sign in",
                    path.display(),
                    self.login_advice()
                ),
            )
        })?;
        LoginFile::parse(&bytes).map_err(|why| self.unusable(path, &why))
    }

    fn unusable(&self, path: &Path, why: &str) -> CredentialsError {
        CredentialsError::non_recoverable(
            PROVIDER_NAME,
            format!(
                "the aws login cache `{}` cannot be used: {why}; {} to sign in again",
                path.display(),
                self.login_advice()
            ),
        )
    }

    /// The file and the credentials in it, with their expiry.
    async fn current(
        &self,
        path: &Path,
    ) -> Result<(LoginFile, Credentials, SystemTime), CredentialsError> {
        let file = self.read(path).await?;
        let (creds, expires_at) = file
            .credentials(self.provider_name())
            .map_err(|why| self.unusable(path, &why))?;
        Ok((file, creds, expires_at))
    }

    /// Loads the credentials (see the [module docs](self)).
    pub async fn load(&self) -> Result<Credentials, CredentialsError> {
        let Some(path) = self.cache_file() else {
            return Err(CredentialsError::non_recoverable(
                PROVIDER_NAME,
                format!(
                    "cannot find the aws login cache: no home directory and no AWS_LOGIN_CACHE_DIRECTORY; {}",
                    self.login_advice()
                ),
            ));
        };
        let (_, creds, expires_at) = self.current(&path).await?;
        if expires_at > self.inner.common.time_source.now() + REFRESH_WINDOW {
            return Ok(creds);
        }
        let _refreshing = self.inner.common.refresh_lock.lock().await;
        // Another task or process may have refreshed the file meanwhile.
        let (file, creds, expires_at) = self.current(&path).await?;
        let now = self.inner.common.time_source.now();
        if expires_at > now + REFRESH_WINDOW {
            return Ok(creds);
        }
        match self.refresh(&path, &file, now).await {
            Ok(fresh) => Ok(fresh),
            Err(error) => {
                // Another process may have refreshed first.
                if let Ok((_, other, at)) = self.current(&path).await {
                    if at > now + REFRESH_WINDOW && other.access_key_id() != creds.access_key_id() {
                        return Ok(other);
                    }
                }
                if expires_at > now {
                    tracing::warn!(error = %error, "login: refresh failed; using the cached credentials until they expire");
                    return Ok(creds);
                }
                Err(error)
            }
        }
    }

    #[cfg(not(feature = "login"))]
    async fn refresh(
        &self,
        _path: &Path,
        _file: &LoginFile,
        _now: SystemTime,
    ) -> Result<Credentials, CredentialsError> {
        Err(CredentialsError::failed(
            PROVIDER_NAME,
            format!(
                "the aws login credentials of `{}` are expiring and their refresh needs the `login` feature of sigv4-credentials (off in this build); enable it, or {}",
                self.inner.session,
                self.login_advice()
            ),
        ))
    }

    #[cfg(feature = "login")]
    async fn refresh(
        &self,
        path: &Path,
        file: &LoginFile,
        now: SystemTime,
    ) -> Result<Credentials, CredentialsError> {
        let missing = |what: &str| {
            CredentialsError::non_recoverable(
                PROVIDER_NAME,
                format!(
                    "the aws login credentials in `{}` have expired and cannot be refreshed: the cache has no {what}; {} to sign in again",
                    path.display(),
                    self.login_advice()
                ),
            )
        };
        let client_id = file.text("clientId").ok_or_else(|| missing("clientId"))?;
        let refresh_token = file
            .text("refreshToken")
            .ok_or_else(|| missing("refreshToken"))?;
        let pem = file.text("dpopKey").ok_or_else(|| missing("dpopKey"))?;
        let key = dpop::DpopKey::from_pem(pem).map_err(|why| self.unusable(path, why))?;
        let endpoint = self.endpoint()?;
        let answer = refresh::create_token(
            &self.inner.common.transport,
            &endpoint,
            &key,
            client_id,
            refresh_token,
            now,
            &self.login_advice(),
        )
        .await?;
        let expires_at = now + Duration::from_secs(answer.expires_in);
        let account = file
            .fields
            .get("accessToken")
            .and_then(|t| t.get("accountId"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let creds = Credentials::builder(
            answer.access_token.access_key_id.as_str(),
            answer.access_token.secret_access_key.as_str(),
        )
        .session_token(answer.access_token.session_token.as_str())
        .expiry(expires_at)
        .account_id_opt(account)
        .provider_name(self.provider_name())
        .build();
        let updated = file.refreshed(
            &creds,
            expires_at,
            answer.refresh_token.as_ref().map(|t| t.as_str()),
        );
        if let Err(e) = crate::atomic_file::write_atomically(
            path.to_owned(),
            updated.to_bytes(),
            self.inner.common.before_rename.clone(),
        )
        .await
        {
            tracing::warn!(file = %path.display(), error = %e, "login: refreshed but could not write the cache file back");
        }
        Ok(creds)
    }

    #[cfg(feature = "login")]
    fn endpoint(&self) -> Result<http::Uri, CredentialsError> {
        let profile = self
            .inner
            .common
            .set
            .as_ref()
            .and_then(crate::profile::ProfileSet::selected);
        let region = crate::sts::endpoint::resolve_region(&self.inner.common.env, profile);
        crate::endpoint::resolve(
            &crate::endpoint::Service::SIGNIN,
            PROVIDER_NAME,
            &self.inner.common.env,
            self.inner.common.set.as_ref(),
            region.as_deref(),
            "refreshing aws login credentials needs a region for the sign-in endpoint: set AWS_REGION, or `region` in the profile",
        )
        .map(|(uri, _)| uri)
    }
}

impl ProvideCredentials for Login {
    fn provide_credentials(&self) -> ProvideCredentialsFuture<'_> {
        ProvideCredentialsFuture::new(self.load())
    }
}
