//! AWS credentials that find themselves and stay fresh.
//!
//! Sources ([`Environment`], [`Profile`] with its role chains, [`WebIdentity`] for EKS IRSA,
//! [`AssumeRole`] in code, IAM Identity Center's [`sso::Sso`], `aws login`'s [`login::Login`],
//! [`Container`], [`Imds`]) each implement [`ProvideCredentials`]; [`CredentialsCache`] sits in
//! front of any expiring source (lock-free reads, one refresh in flight, refreshed ahead of
//! expiry); [`DefaultChain`] tries them in the SDKs' order. Every source that calls out uses one
//! transport ([`TransportOptions`], HTTPS through [`tls`] with the default `tls` feature); STS
//! calls ([`sts`]) are signed by this workspace's own `sigv4-core`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), sigv4_credentials::CredentialsError> {
//! use sigv4_credentials::{DefaultChain, ProvideCredentials};
//!
//! let chain = DefaultChain::builder().build().await;
//! let creds = chain.provide_credentials().await?;
//! println!("using {} from {}", creds.access_key_id(), creds.provider_name());
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// The clock abstraction lives in the core (the layer, the verifier and the testkit use it too);
/// it is re-exported here so that `sigv4_credentials::ManualClock` keeps working.
pub use sigv4_core::clock::{ManualClock, SharedTimeSource, SystemClock, TimeSource};
pub use sigv4_core::Credentials;

pub mod assume_role;
pub(crate) mod atomic_file;
pub mod cache;
pub(crate) mod cached_session;
pub mod chain;
pub mod container;
pub mod document;
pub mod endpoint;
pub mod environment;
pub(crate) mod transport;
pub mod web_identity;
#[cfg(feature = "tls")]
pub use transport::tls;
pub mod imds;
pub mod login;
pub mod process;
pub mod profile;
pub mod sso;
pub mod sts;

pub use assume_role::AssumeRole;
pub use cache::CredentialsCache;
pub use chain::DefaultChain;
pub use container::Container;
pub use environment::Environment;
pub use imds::Imds;
pub use profile::Profile;
pub use sts::RoleRequest;
pub use transport::TransportOptions;
pub use web_identity::WebIdentity;

/// A boxed error cause.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a source gave no credentials.
///
/// The important split is [`CredentialsError::NotConfigured`] ("nothing here, try the next source")
/// against everything else ("configured, but failing": the chain stops and reports it).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialsError {
    /// This source is not set up in this environment (no variables, no profile, not on EC2...).
    #[error("{provider}: not configured: {reason}")]
    NotConfigured {
        /// The source's name.
        provider: Cow<'static, str>,
        /// What was looked for and not found.
        reason: String,
    },
    /// The source is set up but could not give credentials.
    #[error("{provider}: {message}")]
    Failed {
        /// The source's name.
        provider: Cow<'static, str>,
        /// What went wrong and what to do about it.
        message: String,
        /// The underlying cause, if any.
        #[source]
        cause: Option<BoxError>,
    },
    /// Loading took longer than the allowed time.
    #[error("{provider}: timed out after {after:?} loading credentials; {hint}")]
    Timeout {
        /// The source's name.
        provider: Cow<'static, str>,
        /// The limit that was hit.
        after: Duration,
        /// What to check.
        hint: String,
    },
    /// The credentials held have expired and could not be refreshed.
    #[error("{provider}: credentials expired and could not be refreshed: {message}")]
    Expired {
        /// The source's name.
        provider: Cow<'static, str>,
        /// Why the refresh failed.
        message: String,
    },
    /// The source answered in a way that retrying cannot change (`AccessDenied`,
    /// `InvalidIdentityToken`, an expired SSO or login session): the cache surfaces it at once
    /// instead of retrying later, and a chain stops on it.
    #[error("{provider}: {message}")]
    NonRecoverable {
        /// The source's name.
        provider: Cow<'static, str>,
        /// What went wrong and what to do about it.
        message: String,
        /// The underlying cause, if any.
        #[source]
        cause: Option<BoxError>,
    },
    /// No source in a chain gave credentials; one line per source says why.
    #[error("no AWS credentials found; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run on EC2/ECS/EKS with a role. Tried:{}", format_attempts(.attempts))]
    NoneFound {
        /// Each source tried, with why it gave nothing.
        attempts: Vec<(Cow<'static, str>, String)>,
    },
}

fn format_attempts(attempts: &[(Cow<'static, str>, String)]) -> String {
    let mut out = String::new();
    for (name, why) in attempts {
        out.push_str("\n  - ");
        out.push_str(name);
        out.push_str(": ");
        out.push_str(why);
    }
    out
}

impl CredentialsError {
    /// "Not configured here": the chain moves on to the next source.
    pub fn not_configured(
        provider: impl Into<Cow<'static, str>>,
        reason: impl Into<String>,
    ) -> Self {
        Self::NotConfigured {
            provider: provider.into(),
            reason: reason.into(),
        }
    }

    /// "Configured but failing", with a message that says what to fix.
    pub fn failed(provider: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self::Failed {
            provider: provider.into(),
            message: message.into(),
            cause: None,
        }
    }

    /// Like [`CredentialsError::failed`], keeping the underlying cause.
    pub fn failed_with(
        provider: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
        cause: impl Into<BoxError>,
    ) -> Self {
        Self::Failed {
            provider: provider.into(),
            message: message.into(),
            cause: Some(cause.into()),
        }
    }

    /// "Retrying will not help": see [`CredentialsError::NonRecoverable`].
    pub fn non_recoverable(
        provider: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        Self::NonRecoverable {
            provider: provider.into(),
            message: message.into(),
            cause: None,
        }
    }

    /// True for [`CredentialsError::NonRecoverable`]: a cache should not retry after this error.
    pub fn is_non_recoverable(&self) -> bool {
        matches!(self, Self::NonRecoverable { .. })
    }

    /// True for [`CredentialsError::NotConfigured`].
    pub fn is_not_configured(&self) -> bool {
        matches!(self, Self::NotConfigured { .. })
    }
}

/// The future returned by [`ProvideCredentials::provide_credentials`].
///
/// Either already resolved (a warm cache: no allocation) or a boxed future.
pub struct ProvideCredentialsFuture<'a>(FutureInner<'a>);

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

enum FutureInner<'a> {
    Ready(Option<Result<Credentials, CredentialsError>>),
    Boxed(BoxFuture<'a, Result<Credentials, CredentialsError>>),
}

impl<'a> ProvideCredentialsFuture<'a> {
    /// A future that is already resolved.
    pub fn ready(result: Result<Credentials, CredentialsError>) -> Self {
        Self(FutureInner::Ready(Some(result)))
    }

    /// Wraps any future.
    pub fn new(
        future: impl Future<Output = Result<Credentials, CredentialsError>> + Send + 'a,
    ) -> Self {
        Self(FutureInner::Boxed(Box::pin(future)))
    }
}

impl fmt::Debug for ProvideCredentialsFuture<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProvideCredentialsFuture")
    }
}

impl Future for ProvideCredentialsFuture<'_> {
    type Output = Result<Credentials, CredentialsError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().0 {
            FutureInner::Ready(value) => Poll::Ready(value.take().unwrap_or_else(|| {
                Err(CredentialsError::failed(
                    "credentials",
                    "future polled after completion",
                ))
            })),
            FutureInner::Boxed(future) => future.as_mut().poll(cx),
        }
    }
}

/// A source of AWS credentials. Object safe: use it as `Arc<dyn ProvideCredentials>`.
pub trait ProvideCredentials: Send + Sync + fmt::Debug {
    /// Gives the current credentials, or why there are none.
    fn provide_credentials(&self) -> ProvideCredentialsFuture<'_>;

    /// Tells the source that a service refused `refused`, credentials it gave (`ExpiredToken`,
    /// `InvalidClientTokenId`, ...): a caching source drops them, if it still holds them, so that
    /// the next call refreshes (see [`CredentialsCache`] for the guards against storms). Sources
    /// that hold nothing ignore it (the default). `tower-sigv4`'s layer calls it.
    fn invalidate(&self, refused: &Credentials) {
        let _ = refused;
    }
}

impl<T: ProvideCredentials + ?Sized> ProvideCredentials for Arc<T> {
    fn provide_credentials(&self) -> ProvideCredentialsFuture<'_> {
        (**self).provide_credentials()
    }

    fn invalidate(&self, refused: &Credentials) {
        (**self).invalidate(refused)
    }
}

impl<T: ProvideCredentials + ?Sized> ProvideCredentials for Box<T> {
    fn provide_credentials(&self) -> ProvideCredentialsFuture<'_> {
        (**self).provide_credentials()
    }

    fn invalidate(&self, refused: &Credentials) {
        (**self).invalidate(refused)
    }
}

/// Fixed credentials are a source too (they never expire unless they carry an expiry).
impl ProvideCredentials for Credentials {
    fn provide_credentials(&self) -> ProvideCredentialsFuture<'_> {
        ProvideCredentialsFuture::ready(Ok(self.clone()))
    }
}

/// The process environment, or a fixed map of variables in tests (so tests never touch the real,
/// process-global environment).
///
/// ```
/// use sigv4_credentials::Env;
///
/// let env = Env::from_pairs([("AWS_PROFILE", "dev")]);
/// assert_eq!(env.get("AWS_PROFILE").as_deref(), Some("dev"));
/// assert_eq!(env.get("HOME"), None);
/// ```
#[derive(Clone, Default)]
pub struct Env(Option<Arc<HashMap<String, String>>>);

/// Shows which variables a fixed map sets, never their values (some are secrets).
impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            None => f.write_str("Env(process)"),
            Some(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                f.debug_tuple("Env").field(&keys).finish()
            }
        }
    }
}

impl Env {
    /// The real process environment.
    pub fn real() -> Self {
        Self(None)
    }

    /// A fixed set of variables; everything else is unset.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self(Some(Arc::new(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )))
    }

    /// A variable's value; `None` when unset or not UTF-8.
    pub fn get(&self, key: &str) -> Option<String> {
        match &self.0 {
            None => std::env::var(key).ok(),
            Some(map) => map.get(key).cloned(),
        }
    }

    /// A variable's value, with blank (empty or whitespace-only) treated as unset.
    pub fn get_non_blank(&self, key: &str) -> Option<String> {
        self.get(key).filter(|v| !v.trim().is_empty())
    }

    /// The user's home directory: `HOME`, then `USERPROFILE`, then `HOMEDRIVE`+`HOMEPATH`.
    pub fn home_dir(&self) -> Option<PathBuf> {
        if let Some(home) = self.get_non_blank("HOME") {
            return Some(PathBuf::from(home));
        }
        if let Some(home) = self.get_non_blank("USERPROFILE") {
            return Some(PathBuf::from(home));
        }
        match (
            self.get_non_blank("HOMEDRIVE"),
            self.get_non_blank("HOMEPATH"),
        ) {
            (Some(drive), Some(path)) => Some(PathBuf::from(format!("{drive}{path}"))),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn credentials_are_a_source() {
        let creds = Credentials::new("AKID", "SECRET");
        let shared: Arc<dyn ProvideCredentials> = Arc::new(creds.clone());
        let got = shared.provide_credentials().await.unwrap();
        assert!(got.ptr_eq(&creds));
    }

    #[test]
    fn env_debug_hides_values() {
        let env = Env::from_pairs([("AWS_SECRET_ACCESS_KEY", "SUPERSECRET")]);
        let shown = format!("{env:?}");
        assert!(shown.contains("AWS_SECRET_ACCESS_KEY"));
        assert!(!shown.contains("SUPERSECRET"));
    }

    #[test]
    fn none_found_lists_every_source() {
        let err = CredentialsError::NoneFound {
            attempts: vec![
                ("environment".into(), "AWS_ACCESS_KEY_ID is not set".into()),
                ("imds".into(), "connection refused".into()),
            ],
        };
        let text = err.to_string();
        assert!(text.contains("environment: AWS_ACCESS_KEY_ID is not set"));
        assert!(text.contains("imds: connection refused"));
    }
}
