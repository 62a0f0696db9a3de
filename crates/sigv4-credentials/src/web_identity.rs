//! Web identity credentials: EKS IAM Roles for Service Accounts (IRSA) and any OIDC token file.
//!
//! A token file (`AWS_WEB_IDENTITY_TOKEN_FILE`, or the profile key `web_identity_token_file`) and a
//! role (`AWS_ROLE_ARN` / `role_arn`) are exchanged for credentials with STS
//! `AssumeRoleWithWebIdentity`, an unsigned call. The file is read again at every refresh: the
//! kubelet rotates the projected token, and an old token is refused.
//!
//! ```no_run
//! # async fn demo() -> Result<(), sigv4_credentials::CredentialsError> {
//! use sigv4_credentials::{CredentialsCache, ProvideCredentials, WebIdentity};
//!
//! // What the default chain does with AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN (+ AWS_REGION):
//! let irsa = CredentialsCache::new(WebIdentity::builder().build_from_env()?);
//! let creds = irsa.provide_credentials().await?;
//! println!("{} (account {:?})", creds.provider_name(), creds.account_id());
//! # Ok(()) }
//! ```

use std::borrow::Cow;
use std::fmt;
use std::path::PathBuf;

use zeroize::Zeroizing;

use crate::sts::{EndpointSource, RoleRequest, StsClient, StsEndpoint, StsSettings};
use crate::{
    Credentials, CredentialsError, Env, ProvideCredentials, ProvideCredentialsFuture,
    SharedTimeSource, TransportOptions,
};

/// The name of this source in errors and on the credentials it gives.
pub const PROVIDER_NAME: &str = "web identity";

const ENV_TOKEN_FILE: &str = "AWS_WEB_IDENTITY_TOKEN_FILE";
const ENV_ROLE_ARN: &str = "AWS_ROLE_ARN";
const ENV_SESSION_NAME: &str = "AWS_ROLE_SESSION_NAME";

/// Exchanges a web identity token file for role credentials with STS. Put a
/// [`CredentialsCache`](crate::CredentialsCache) in front (the default chain does): every call to
/// this source is one STS call.
#[derive(Clone)]
pub struct WebIdentity {
    token_file: PathBuf,
    request: RoleRequest,
    endpoint: EndpointSource,
    sts: StsClient,
}

impl fmt::Debug for WebIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebIdentity")
            .field("token_file", &self.token_file)
            .field("request", &self.request)
            .finish_non_exhaustive()
    }
}

/// Builds a [`WebIdentity`] source.
#[derive(Clone, Default)]
pub struct WebIdentityBuilder {
    token_file: Option<PathBuf>,
    request: Option<RoleRequest>,
    sts: StsSettings,
}

impl fmt::Debug for WebIdentityBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebIdentityBuilder")
            .field("token_file", &self.token_file)
            .field("request", &self.request)
            .finish_non_exhaustive()
    }
}

impl WebIdentityBuilder {
    /// Where variables and profile files are read (default: the real environment).
    pub fn env(mut self, env: Env) -> Self {
        self.sts.env = Some(env);
        self
    }

    /// The token file (over `AWS_WEB_IDENTITY_TOKEN_FILE`).
    pub fn token_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.token_file = Some(path.into());
        self
    }

    /// The role and session options (over `AWS_ROLE_ARN` / `AWS_ROLE_SESSION_NAME`).
    pub fn role(mut self, request: RoleRequest) -> Self {
        self.request = Some(request);
        self
    }

    /// A fixed STS endpoint and region (default: resolved from the environment and the profile
    /// at each call, see [`sts::endpoint`](crate::sts::endpoint)).
    pub fn endpoint(mut self, endpoint: StsEndpoint) -> Self {
        self.sts.endpoint = Some(endpoint);
        self
    }

    /// Timeouts, attempts and TLS for the STS call (default [`sts::default_transport`](crate::sts::default_transport)).
    pub fn transport(mut self, options: TransportOptions) -> Self {
        self.sts.transport = Some(options);
        self
    }

    /// The clock for signing times and session names (default: the system clock).
    pub fn time_source(mut self, time_source: SharedTimeSource) -> Self {
        self.sts.time_source = Some(time_source);
        self
    }

    /// Builds the source from what was set, filling the token file, role and session name from
    /// `AWS_WEB_IDENTITY_TOKEN_FILE`, `AWS_ROLE_ARN` and `AWS_ROLE_SESSION_NAME`.
    ///
    /// [`CredentialsError::NotConfigured`] when there is no token file at all;
    /// [`CredentialsError::Failed`] when the token file is set but the role is not.
    pub fn build_from_env(self) -> Result<WebIdentity, CredentialsError> {
        let env = self.sts.env();
        let token_file = match &self.token_file {
            Some(path) => path.clone(),
            None => match env.get_non_blank(ENV_TOKEN_FILE) {
                Some(path) => PathBuf::from(path.trim()),
                None => {
                    return Err(CredentialsError::not_configured(
                        PROVIDER_NAME,
                        format!("{ENV_TOKEN_FILE} is not set"),
                    ))
                }
            },
        };
        let request = match &self.request {
            Some(request) => request.clone(),
            None => {
                let Some(role_arn) = env.get_non_blank(ENV_ROLE_ARN) else {
                    return Err(CredentialsError::failed(
                        PROVIDER_NAME,
                        format!("{ENV_TOKEN_FILE} is set but {ENV_ROLE_ARN} is not: set the role to assume with the token"),
                    ));
                };
                RoleRequest {
                    role_arn: role_arn.trim().to_owned(),
                    session_name: env
                        .get_non_blank(ENV_SESSION_NAME)
                        .map(|s| s.trim().to_owned()),
                    external_id: None,
                    duration: None,
                }
            }
        };
        Ok(self.finish(token_file, request))
    }

    /// Builds the source with this token file and role (no environment variables read for them).
    pub fn build(self, token_file: impl Into<PathBuf>, request: RoleRequest) -> WebIdentity {
        self.finish(token_file.into(), request)
    }

    fn finish(self, token_file: PathBuf, request: RoleRequest) -> WebIdentity {
        let (endpoint, sts) = self.sts.build();
        WebIdentity {
            token_file,
            request,
            endpoint,
            sts,
        }
    }
}

impl WebIdentity {
    /// Starts a builder.
    pub fn builder() -> WebIdentityBuilder {
        WebIdentityBuilder::default()
    }

    pub(crate) fn with_client(
        sts: StsClient,
        endpoint: StsEndpoint,
        token_file: PathBuf,
        request: RoleRequest,
    ) -> Self {
        Self {
            token_file,
            request,
            endpoint: EndpointSource::Fixed(endpoint),
            sts,
        }
    }

    /// The role this source assumes.
    pub fn role_arn(&self) -> &str {
        &self.request.role_arn
    }

    /// Reads the token file and calls STS once.
    pub async fn load(&self) -> Result<Credentials, CredentialsError> {
        let endpoint = self
            .endpoint
            .resolve()
            .map_err(|e| rename(e, PROVIDER_NAME))?;
        let token = read_token(&self.token_file).await?;
        let name: Cow<'static, str> = Cow::Owned(format!("web identity {}", self.request.role_arn));
        self.sts
            .assume_role_with_web_identity(&endpoint, &self.request, &token, name)
            .await
            .map_err(|e| rename(e, PROVIDER_NAME))
    }
}

impl ProvideCredentials for WebIdentity {
    fn provide_credentials(&self) -> ProvideCredentialsFuture<'_> {
        ProvideCredentialsFuture::new(self.load())
    }
}

/// The token, trimmed; the file is read at every call (the kubelet rotates it).
async fn read_token(path: &std::path::Path) -> Result<Zeroizing<String>, CredentialsError> {
    let text = tokio::fs::read_to_string(path).await.map_err(|e| {
        CredentialsError::failed_with(
            PROVIDER_NAME,
            format!(
                "cannot read the web identity token file {}: {e}",
                path.display()
            ),
            e,
        )
    })?;
    let text = Zeroizing::new(text);
    let token = text.trim();
    if token.is_empty() {
        return Err(CredentialsError::failed(
            PROVIDER_NAME,
            format!("the web identity token file {} is empty", path.display()),
        ));
    }
    Ok(Zeroizing::new(token.to_owned()))
}

/// The same error under another source name (keeps the kind).
pub(crate) fn rename(error: CredentialsError, provider: &'static str) -> CredentialsError {
    match error {
        CredentialsError::Failed { message, cause, .. } => CredentialsError::Failed {
            provider: provider.into(),
            message,
            cause,
        },
        CredentialsError::NonRecoverable { message, cause, .. } => {
            CredentialsError::NonRecoverable {
                provider: provider.into(),
                message,
                cause,
            }
        }
        other => other,
    }
}
