//! Credentials from environment variables.
//!
//! [`Environment`] reads `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and (optionally)
//! `AWS_SESSION_TOKEN`, the three variables every AWS SDK and the AWS CLI agree on. A blank value
//! (empty or only whitespace) counts as unset.
//!
//! - neither key set: [`CredentialsError::NotConfigured`] (a chain moves on);
//! - one of the pair set without the other: [`CredentialsError::Failed`] naming the missing variable
//!   (half a key pair is a mistake worth stopping for).
//!
//! ```
//! # async fn demo() -> Result<(), sigv4_credentials::CredentialsError> {
//! use sigv4_credentials::{Env, Environment, ProvideCredentials};
//!
//! let env = Env::from_pairs([
//!     ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
//!     ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
//! ]);
//! let creds = Environment::from_env(env).provide_credentials().await?;
//! assert_eq!(creds.access_key_id(), "AKIDEXAMPLE");
//! assert_eq!(creds.provider_name(), "environment");
//! # Ok(()) }
//! ```
//!
//! Legacy spellings (`AWS_ACCESS_KEY`, `AWS_SECRET_KEY`, aws-config's bare `SECRET_ACCESS_KEY`) are
//! deliberately not read: botocore and the Go SDK ignore them too, and a stray variable from another
//! tool should not silently complete a key pair.

use std::fmt;

use crate::{Credentials, CredentialsError, Env, ProvideCredentials, ProvideCredentialsFuture};

/// The provider name used in errors and in [`Credentials::provider_name`].
pub const PROVIDER_NAME: &str = "environment";

/// The variable holding the access key id.
pub const ACCESS_KEY_ID: &str = "AWS_ACCESS_KEY_ID";
/// The variable holding the secret access key.
pub const SECRET_ACCESS_KEY: &str = "AWS_SECRET_ACCESS_KEY";
/// The variable holding the session token (temporary credentials only).
pub const SESSION_TOKEN: &str = "AWS_SESSION_TOKEN";
/// The variable naming the account the credentials belong to (optional, not a secret).
pub const ACCOUNT_ID: &str = "AWS_ACCOUNT_ID";

/// Credentials from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`.
///
/// The variables are read on every call, so a changed environment is picked up (the values are not
/// kept in this struct). See the [module docs](self) for the rules.
///
/// `Debug` does not show the environment (a fixed [`Env`] may hold the very secrets).
#[derive(Clone, Default)]
pub struct Environment {
    env: Env,
}

impl fmt::Debug for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Environment").finish_non_exhaustive()
    }
}

impl Environment {
    /// Reads the real process environment.
    pub fn new() -> Self {
        Self { env: Env::real() }
    }

    /// Reads the given environment (a fixed map in tests).
    pub fn from_env(env: Env) -> Self {
        Self { env }
    }

    /// Loads the credentials now (what [`ProvideCredentials::provide_credentials`] resolves to).
    pub fn load(&self) -> Result<Credentials, CredentialsError> {
        let access_key_id = self.env.get_non_blank(ACCESS_KEY_ID);
        let secret = self.env.get_non_blank(SECRET_ACCESS_KEY);
        let (access_key_id, secret) = match (access_key_id, secret) {
            (Some(id), Some(secret)) => (id, secret),
            (None, None) => {
                return Err(CredentialsError::not_configured(
                    PROVIDER_NAME,
                    format!("{ACCESS_KEY_ID} and {SECRET_ACCESS_KEY} are not set"),
                ))
            }
            (Some(_), None) => {
                return Err(CredentialsError::failed(
                    PROVIDER_NAME,
                    format!(
                        "{ACCESS_KEY_ID} is set but {SECRET_ACCESS_KEY} is not (or is blank); \
                         set both, or unset {ACCESS_KEY_ID}"
                    ),
                ))
            }
            (None, Some(_)) => {
                return Err(CredentialsError::failed(
                    PROVIDER_NAME,
                    format!(
                        "{SECRET_ACCESS_KEY} is set but {ACCESS_KEY_ID} is not (or is blank); \
                         set both, or unset {SECRET_ACCESS_KEY}"
                    ),
                ))
            }
        };
        let token = self
            .env
            .get_non_blank(SESSION_TOKEN)
            .map(|t| t.trim().to_owned());
        Ok(Credentials::builder(access_key_id.trim(), secret.trim())
            .session_token_opt(token)
            .account_id_opt(
                self.env
                    .get_non_blank(ACCOUNT_ID)
                    .map(|a| a.trim().to_owned()),
            )
            .provider_name(PROVIDER_NAME)
            .build())
    }
}

impl ProvideCredentials for Environment {
    fn provide_credentials(&self) -> ProvideCredentialsFuture<'_> {
        ProvideCredentialsFuture::ready(self.load())
    }
}
