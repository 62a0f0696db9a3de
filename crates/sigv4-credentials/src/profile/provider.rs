//! The [`Profile`] credentials provider.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::{ProfileSet, Section};
use crate::process::{self, CredentialProcess};
use crate::{
    Credentials, CredentialsError, Env, ProvideCredentials, ProvideCredentialsFuture,
    SharedTimeSource, SystemClock,
};

/// The provider name used in errors.
pub const PROVIDER_NAME: &str = "profile";

const ACCESS_KEY_ID: &str = "aws_access_key_id";
const SECRET_ACCESS_KEY: &str = "aws_secret_access_key";
const SESSION_TOKEN: &str = "aws_session_token";
const CREDENTIAL_PROCESS: &str = "credential_process";

/// Credentials from the selected profile of the shared config and credentials files.
///
/// The files are read on every call (a refreshed credentials file is picked up; put a
/// [`CredentialsCache`](crate::CredentialsCache) in front to avoid re-running a
/// `credential_process` on every request). In the selected profile, in the SDKs' order:
///
/// 1. `role_arn` (assume role, with `source_profile` or `credential_source`), `credential_source`,
///    `web_identity_token_file`, SSO (`sso_session`, `sso_start_url`, `sso_account_id`,
///    `sso_role_name`): [`CredentialsError::Failed`], "not supported yet", naming the profile and
///    the key. (`source_profile` without `role_arn` is ignored, as in the SDKs.)
/// 2. `credential_process`: the command is run (see [`crate::process`]); credentials are named
///    `"credential_process"`.
/// 3. `aws_access_key_id` + `aws_secret_access_key` (+ `aws_session_token`): credentials named
///    `"profile:<name>"`. Only one of the pair is a `Failed` error naming the missing key.
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

    /// Builds the provider (no I/O happens here).
    pub fn build(self) -> Profile {
        Profile {
            env: self.env.unwrap_or_default(),
            profile_name: self.profile_name,
            time_source: self.time_source.unwrap_or_else(|| Arc::new(SystemClock)),
            process_timeout: self.process_timeout.unwrap_or(process::DEFAULT_TIMEOUT),
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
        let Some(profile) = set.selected() else {
            return Err(CredentialsError::not_configured(
                PROVIDER_NAME,
                format!("profile `{name}` is not defined in {looked_at}"),
            ));
        };
        if let Some(key) = unsupported_key(profile) {
            return Err(CredentialsError::failed(
                PROVIDER_NAME,
                format!(
                    "profile `{name}` uses `{key}`, which is not supported yet; use static keys \
                     or credential_process in that profile, or pick another profile"
                ),
            ));
        }
        if let Some(command) = non_blank(profile, CREDENTIAL_PROCESS) {
            return CredentialProcess::new(command)
                .timeout(self.process_timeout)
                .time_source(self.time_source.clone())
                .for_profile(PROVIDER_NAME, &name)
                .load()
                .await;
        }
        static_keys(profile, &name, &looked_at)
    }
}

impl ProvideCredentials for Profile {
    fn provide_credentials(&self) -> ProvideCredentialsFuture<'_> {
        ProvideCredentialsFuture::new(self.load())
    }
}

fn non_blank<'a>(profile: &'a Section, key: &str) -> Option<&'a str> {
    profile.get(key).map(str::trim).filter(|v| !v.is_empty())
}

/// The first key that selects a source we do not implement, in the SDKs' precedence.
fn unsupported_key(profile: &Section) -> Option<&'static str> {
    const KEYS: [&str; 7] = [
        "role_arn",
        "credential_source",
        "web_identity_token_file",
        "sso_session",
        "sso_start_url",
        "sso_account_id",
        "sso_role_name",
    ];
    KEYS.into_iter()
        .find(|key| non_blank(profile, key).is_some())
}

fn static_keys(
    profile: &Section,
    name: &str,
    looked_at: &str,
) -> Result<Credentials, CredentialsError> {
    let id = non_blank(profile, ACCESS_KEY_ID);
    let secret = non_blank(profile, SECRET_ACCESS_KEY);
    let token = non_blank(profile, SESSION_TOKEN);
    match (id, secret) {
        (Some(id), Some(secret)) => Ok(Credentials::builder(id, secret)
            .session_token_opt(token.map(str::to_owned))
            .provider_name(format!("{PROVIDER_NAME}:{name}"))
            .build()),
        (None, None) if token.is_none() => {
            let mut reason = format!(
                "profile `{name}` has no credentials ({ACCESS_KEY_ID}/{SECRET_ACCESS_KEY} or \
                 {CREDENTIAL_PROCESS}) in {looked_at}"
            );
            if profile.contains("source_profile") {
                reason.push_str("; its source_profile is used only together with role_arn");
            }
            Err(CredentialsError::not_configured(PROVIDER_NAME, reason))
        }
        (id, _) => {
            let missing = if id.is_none() {
                ACCESS_KEY_ID
            } else {
                SECRET_ACCESS_KEY
            };
            Err(CredentialsError::failed(
                PROVIDER_NAME,
                format!("profile `{name}` is missing `{missing}` (set both {ACCESS_KEY_ID} and {SECRET_ACCESS_KEY})"),
            ))
        }
    }
}
