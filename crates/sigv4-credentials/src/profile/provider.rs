//! The [`Profile`] credentials provider.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use std::borrow::Cow;

use super::chain::{self, Base, NamedSource};
use super::ProfileSet;
use crate::process::{self, CredentialProcess};
use crate::sso::{Sso, SsoSettings};
use crate::sts::{self, RoleRequest, StsClient};
use crate::web_identity::rename;
use crate::{
    Container, Credentials, CredentialsError, Env, Environment, Imds, ProvideCredentials,
    ProvideCredentialsFuture, SharedTimeSource, SystemClock, TransportOptions, WebIdentity,
};

/// The provider name used in errors.
pub const PROVIDER_NAME: &str = "profile";

/// Credentials from the selected profile of the shared config and credentials files.
///
/// The files are read on every call (a refreshed credentials file is picked up; put a
/// [`CredentialsCache`](crate::CredentialsCache) in front to avoid re-running a
/// `credential_process` or an STS chain on every request). The selected profile describes a chain
/// (see [`chain`]): a base, then roles to assume in order, each `AssumeRole` signed by our own
/// core with the previous hop's credentials.
///
/// - Base: `role_arn` + `web_identity_token_file` (web identity, STS
///   `AssumeRoleWithWebIdentity`); `credential_source` (`Environment`, `Ec2InstanceMetadata`,
///   `EcsContainer`); `credential_process` (the command is run, see [`crate::process`]);
///   `aws_access_key_id` + `aws_secret_access_key` (+ `aws_session_token`, `aws_account_id`),
///   named `"profile:<name>"`; `sso_session` / `sso_start_url` with `sso_account_id` and
///   `sso_role_name` (IAM Identity Center, see [`crate::sso`]); `login_session` (`aws login`,
///   see [`crate::login`]).
/// - Roles: `role_arn` with `source_profile` (chains of any length, loops refused) or
///   `credential_source`; `role_session_name`, `external_id`, `duration_seconds`; `mfa_serial` is
///   an error (a library cannot prompt). STS's endpoint and region come from
///   [`sts::endpoint`]. The credentials are named after the whole path
///   (`assume role arn:…:role/app, from assume role arn:…:role/ops, from profile:me`).
///
/// No files, no such profile, or a profile without any credential keys is
/// [`CredentialsError::NotConfigured`], saying which files were looked at and which profile.
///
/// ```no_run
/// # async fn demo() -> Result<(), sigv4_credentials::CredentialsError> {
/// use sigv4_credentials::{Profile, ProvideCredentials};
///
/// let creds = Profile::builder().profile_name("dev").build().provide_credentials().await?;
/// # Ok(()) }
/// ```
///
/// `Debug` shows the profile name and timeout, not the environment.
#[derive(Clone)]
pub struct Profile {
    env: Env,
    profile_name: Option<String>,
    time_source: SharedTimeSource,
    process_timeout: Duration,
    transport: TransportOptions,
    imds: Option<Imds>,
    container: Option<Container>,
}

impl fmt::Debug for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Profile")
            .field("profile_name", &self.profile_name)
            .field("process_timeout", &self.process_timeout)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Profile`]; every setting has a default.
///
/// `Debug` does not show the environment.
#[derive(Clone, Default)]
pub struct ProfileBuilder {
    env: Option<Env>,
    profile_name: Option<String>,
    time_source: Option<SharedTimeSource>,
    process_timeout: Option<Duration>,
    transport: Option<TransportOptions>,
    imds: Option<Imds>,
    container: Option<Container>,
}

impl fmt::Debug for ProfileBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProfileBuilder")
            .field("profile_name", &self.profile_name)
            .field("process_timeout", &self.process_timeout)
            .finish_non_exhaustive()
    }
}

impl ProfileBuilder {
    /// The environment to read `HOME`, `AWS_PROFILE`, `AWS_CONFIG_FILE`,
    /// `AWS_SHARED_CREDENTIALS_FILE` from (default: the real one).
    pub fn env(mut self, env: Env) -> Self {
        self.env = Some(env);
        self
    }

    /// The profile to use, over `AWS_PROFILE` (default: `AWS_PROFILE`, else `"default"`).
    pub fn profile_name(mut self, name: impl Into<String>) -> Self {
        self.profile_name = Some(name.into());
        self
    }

    /// The clock (used to reject already-expired `credential_process` output; default: system).
    pub fn time_source(mut self, time_source: SharedTimeSource) -> Self {
        self.time_source = Some(time_source);
        self
    }

    /// How long a `credential_process` command may run (default 60 s).
    pub fn process_timeout(mut self, timeout: Duration) -> Self {
        self.process_timeout = Some(timeout);
        self
    }

    /// Timeouts, attempts and TLS for the STS calls of role chains and web identity (default
    /// [`sts::default_transport`]).
    pub fn transport(mut self, options: TransportOptions) -> Self {
        self.transport = Some(options);
        self
    }

    /// The IMDS source `credential_source = Ec2InstanceMetadata` uses (default: one built from
    /// this environment).
    pub fn imds(mut self, imds: Imds) -> Self {
        self.imds = Some(imds);
        self
    }

    /// The container source `credential_source = EcsContainer` uses (default: one built from
    /// this environment).
    pub fn container(mut self, container: Container) -> Self {
        self.container = Some(container);
        self
    }

    /// Builds the provider (no I/O happens here).
    pub fn build(self) -> Profile {
        Profile {
            env: self.env.unwrap_or_default(),
            profile_name: self.profile_name,
            time_source: self.time_source.unwrap_or_else(|| Arc::new(SystemClock)),
            process_timeout: self.process_timeout.unwrap_or(process::DEFAULT_TIMEOUT),
            transport: self.transport.unwrap_or_else(sts::default_transport),
            imds: self.imds,
            container: self.container,
        }
    }
}

impl Default for Profile {
    fn default() -> Self {
        Self::builder().build()
    }
}

impl Profile {
    /// Starts a builder.
    pub fn builder() -> ProfileBuilder {
        ProfileBuilder::default()
    }

    /// Reads the files and loads credentials from the selected profile.
    pub async fn load(&self) -> Result<Credentials, CredentialsError> {
        let set = ProfileSet::load(&self.env, self.profile_name.as_deref())?;
        let name = set.selected_name().to_owned();
        let looked_at = match set.locations() {
            Some(at) => at.to_string(),
            None => "the shared files".to_owned(),
        };
        if set.files_found() == 0 {
            return Err(CredentialsError::not_configured(
                PROVIDER_NAME,
                format!("no profile files found (looked for {looked_at})"),
            ));
        }
        if set.selected().is_none() {
            return Err(CredentialsError::not_configured(
                PROVIDER_NAME,
                format!("profile `{name}` is not defined in {looked_at}"),
            ));
        }
        let chain = chain::resolve(&set).map_err(|e| {
            let mut e = e;
            if e.not_configured {
                e.message = format!("{} in {looked_at}", e.message);
            }
            e.into_credentials_error(PROVIDER_NAME)
        })?;
        let mut credentials = self.base_credentials(&set, &chain.base).await?;
        if chain.roles.is_empty() {
            return Ok(credentials);
        }
        let endpoint =
            sts::endpoint::resolve(&self.env, Some(&set)).map_err(|e| rename(e, PROVIDER_NAME))?;
        let client = self.sts_client();
        for hop in &chain.roles {
            if hop.mfa_serial.is_some() {
                return Err(CredentialsError::failed(
                    PROVIDER_NAME,
                    format!(
                        "profile `{}` sets mfa_serial: assuming {} needs an MFA code, which a \
                         library cannot prompt for; get session credentials first (aws sts \
                         get-session-token) and use them as the source profile",
                        hop.profile, hop.role_arn
                    ),
                ));
            }
            let name: Cow<'static, str> = Cow::Owned(format!(
                "assume role {}, from {}",
                hop.role_arn,
                credentials.provider_name()
            ));
            credentials = client
                .assume_role(&endpoint, &credentials, &hop.request(), name)
                .await
                .map_err(|e| rename(e, PROVIDER_NAME))?;
        }
        Ok(credentials)
    }

    fn sts_client(&self) -> StsClient {
        StsClient::new(self.transport.clone(), self.time_source.clone())
    }

    /// The first credentials of the chain.
    async fn base_credentials(
        &self,
        set: &ProfileSet,
        base: &Base,
    ) -> Result<Credentials, CredentialsError> {
        match base {
            Base::AccessKey {
                profile,
                access_key_id,
                secret_access_key,
                session_token,
                account_id,
            } => Ok(
                Credentials::builder(access_key_id.as_str(), secret_access_key.as_str())
                    .session_token_opt(session_token.clone())
                    .account_id_opt(account_id.clone())
                    .provider_name(format!("{PROVIDER_NAME}:{profile}"))
                    .build(),
            ),
            Base::Process { profile, command } => {
                let creds = CredentialProcess::new(command)
                    .timeout(self.process_timeout)
                    .time_source(self.time_source.clone())
                    .for_profile(PROVIDER_NAME, profile)
                    .load()
                    .await?;
                // `aws_account_id` in the profile fills in for output without AccountId.
                match (
                    creds.account_id(),
                    set.profile(profile).and_then(|p| p.get("aws_account_id")),
                ) {
                    (None, Some(account)) => {
                        Ok(creds.to_builder().account_id(account.trim()).build())
                    }
                    _ => Ok(creds),
                }
            }
            Base::Sso {
                profile,
                key,
                session_name,
                start_url,
                region,
                account_id,
                role_name,
            } => {
                let (Some(account_id), Some(role_name)) = (account_id, role_name) else {
                    return Err(CredentialsError::failed(
                        PROVIDER_NAME,
                        format!(
                            "profile `{profile}` uses `{key}` without sso_account_id and sso_role_name: the selected profile will resolve an access token instead of credentials (set both to get a role's credentials)"
                        ),
                    ));
                };
                let missing = |what: &str| {
                    CredentialsError::failed(
                        PROVIDER_NAME,
                        match session_name {
                            Some(s) => format!(
                                "sso-session `{s}` (used by profile `{profile}`) has no {what}"
                            ),
                            None => format!("profile `{profile}` uses `{key}` but has no {what}"),
                        },
                    )
                };
                let settings = SsoSettings {
                    start_url: start_url.clone().ok_or_else(|| missing("sso_start_url"))?,
                    region: region.clone().ok_or_else(|| missing("sso_region"))?,
                    account_id: account_id.clone(),
                    role_name: role_name.clone(),
                    session_name: session_name.clone(),
                };
                let builder = Sso::builder(settings)
                    .profile_name(profile.as_str())
                    .env(self.env.clone())
                    .profile_set(set.clone())
                    .time_source(self.time_source.clone())
                    .transport(self.transport.clone());
                builder
                    .build()
                    .load()
                    .await
                    .map_err(|e| rename(e, PROVIDER_NAME))
            }
            Base::LoginSession { profile, session } => {
                crate::login::Login::builder(session.as_str())
                    .profile_name(profile.as_str())
                    .env(self.env.clone())
                    .profile_set(set.clone())
                    .time_source(self.time_source.clone())
                    .transport(self.transport.clone())
                    .build()
                    .load()
                    .await
                    .map_err(|e| rename(e, PROVIDER_NAME))
            }
            Base::WebIdentity {
                role_arn,
                token_file,
                session_name,
            } => {
                let endpoint = sts::endpoint::resolve(&self.env, Some(set))
                    .map_err(|e| rename(e, PROVIDER_NAME))?;
                let mut request = RoleRequest::new(role_arn.clone());
                request.session_name = session_name.clone();
                WebIdentity::with_client(self.sts_client(), endpoint, token_file.clone(), request)
                    .load()
                    .await
                    .map_err(|e| rename(e, PROVIDER_NAME))
            }
            Base::NamedSource(named) => {
                let (what, result) = match named {
                    NamedSource::Environment => (
                        "Environment",
                        Environment::from_env(self.env.clone())
                            .provide_credentials()
                            .await,
                    ),
                    NamedSource::Ec2InstanceMetadata => (
                        "Ec2InstanceMetadata",
                        self.imds().provide_credentials().await,
                    ),
                    NamedSource::EcsContainer => {
                        ("EcsContainer", self.container().provide_credentials().await)
                    }
                };
                result.map_err(|e| {
                    CredentialsError::failed_with(
                        PROVIDER_NAME,
                        format!(
                            "profile `{}` has credential_source = {what}, which gave no credentials: {e}",
                            set.selected_name()
                        ),
                        e,
                    )
                })
            }
        }
    }

    fn imds(&self) -> Imds {
        self.imds.clone().unwrap_or_else(|| {
            Imds::builder()
                .env(self.env.clone())
                .time_source(self.time_source.clone())
                .build()
        })
    }

    fn container(&self) -> Container {
        self.container
            .clone()
            .unwrap_or_else(|| Container::builder().env(self.env.clone()).build())
    }
}

impl ProvideCredentials for Profile {
    fn provide_credentials(&self) -> ProvideCredentialsFuture<'_> {
        ProvideCredentialsFuture::new(self.load())
    }
}
