//! [`DefaultChain`]: environment → profile (static keys, `credential_process`, assume role, SSO,
//! `aws login`) → web identity (EKS IRSA) → container → IMDS, behind one [`CredentialsCache`].
//!
//! The sources are tried in the AWS SDKs' order, and the rule for moving on is strict:
//!
//! - a source that answers [`CredentialsError::NotConfigured`] (or a nested chain's
//!   [`CredentialsError::NoneFound`]) is skipped, and its reason is remembered;
//! - the first source that is configured but fails ([`Failed`](CredentialsError::Failed),
//!   [`NonRecoverable`](CredentialsError::NonRecoverable), [`Timeout`](CredentialsError::Timeout),
//!   [`Expired`](CredentialsError::Expired)) stops the chain:
//!   its error is returned with the name of that source as its `provider`, so the message says
//!   which source to fix (falling through to another source would hide a broken configuration);
//! - when no source gives anything, [`CredentialsError::NoneFound`] lists each source and why.
//!
//! The whole chain sits behind one [`CredentialsCache`]: the first call walks the chain, later
//! calls are served from the cache (an atomic load) and refreshed ahead of expiry by walking the
//! chain again. A non-recoverable error keeps its kind (and gets the failing source's name), so
//! the cache in front returns it at once instead of retrying it on a timer.
//! [`invalidate`](ProvideCredentials::invalidate) goes to the cache, which passes it on to the
//! sources. Building the chain does no I/O.
//!
//! ```
//! # async fn demo() {
//! use sigv4_credentials::{DefaultChain, Env, ProvideCredentials};
//!
//! let env = Env::from_pairs([
//!     ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
//!     ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
//! ]);
//! let chain = DefaultChain::builder().env(env).build().await;
//! let creds = chain.provide_credentials().await.unwrap();
//! assert_eq!(creds.provider_name(), "environment");
//! # }
//! ```

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::cache::{CredentialsCacheBuilder, TimeoutContext};
use crate::{
    Container, CredentialsCache, CredentialsError, Env, Environment, Imds, Profile,
    ProvideCredentials, ProvideCredentialsFuture, SharedTimeSource, TransportOptions, WebIdentity,
};

/// The name used in errors about the chain as a whole.
pub const CHAIN_NAME: &str = "default chain";

/// A named source in a chain.
pub type NamedProvider = (Cow<'static, str>, Arc<dyn ProvideCredentials>);

/// The default credentials chain (environment → profile (static keys, `credential_process`,
/// assume role, SSO, `aws login`) → web identity → container → IMDS), cached.
///
/// Cheap to clone (an `Arc` inside); clones share the cache. See the [module docs](self) for the
/// rules.
#[derive(Clone)]
pub struct DefaultChain {
    names: Arc<[Cow<'static, str>]>,
    cache: CredentialsCache,
}

impl DefaultChain {
    /// Starts a builder; `DefaultChain::builder().build().await` reads the real environment.
    pub fn builder() -> DefaultChainBuilder {
        DefaultChainBuilder::default()
    }

    /// A chain over the given sources, tried in order, behind a cache with default settings.
    /// For tests and custom orders; see [`DefaultChainBuilder::providers`] to also set the clock or
    /// the load timeout.
    pub fn from_providers(providers: Vec<NamedProvider>) -> Self {
        Self::with_providers(providers, CredentialsCache::builder())
    }

    /// The names of the sources, in the order they are tried.
    pub fn source_names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(|n| n.as_ref())
    }

    fn with_providers(providers: Vec<NamedProvider>, cache: CredentialsCacheBuilder) -> Self {
        let names: Arc<[Cow<'static, str>]> = providers.iter().map(|(n, _)| n.clone()).collect();
        let progress = Arc::new(AtomicUsize::new(NOT_RUNNING));
        let chain = ChainProvider {
            names: Arc::clone(&names),
            providers,
            progress: Arc::clone(&progress),
        };
        let context = {
            let names = Arc::clone(&names);
            TimeoutContext(Arc::new(move || {
                let at = progress.load(Ordering::Relaxed);
                let name = names.get(at)?;
                let before = names[..at]
                    .iter()
                    .map(|n| n.as_ref())
                    .collect::<Vec<_>>()
                    .join(", ");
                Some(if before.is_empty() {
                    format!("the default chain was waiting on the `{name}` source")
                } else {
                    format!("the default chain was waiting on the `{name}` source ({before}: not configured)")
                })
            }))
        };
        Self {
            names,
            cache: cache.name(CHAIN_NAME).timeout_context(context).build(chain),
        }
    }
}

impl ProvideCredentials for DefaultChain {
    fn provide_credentials(&self) -> ProvideCredentialsFuture<'_> {
        self.cache.provide_credentials()
    }

    /// Marks the cached credentials stale (see [`CredentialsCache`]'s invalidation rules); the
    /// cache passes it on to the sources, so a source that caches on its own refreshes too.
    fn invalidate(&self, refused: &crate::Credentials) {
        self.cache.invalidate(refused)
    }
}

impl fmt::Debug for DefaultChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DefaultChain")
            .field("sources", &self.names)
            .field("cache", &self.cache)
            .finish()
    }
}

/// The uncached walk over the sources.
struct ChainProvider {
    names: Arc<[Cow<'static, str>]>,
    providers: Vec<NamedProvider>,
    /// The index of the source being asked (for timeout messages); one walk at a time, as the
    /// cache in front allows only one load in flight.
    progress: Arc<AtomicUsize>,
}

const NOT_RUNNING: usize = usize::MAX;

/// Resets the progress marker when a walk ends (or is dropped by a timeout).
struct ProgressReset<'a>(&'a AtomicUsize);

impl Drop for ProgressReset<'_> {
    fn drop(&mut self) {
        self.0.store(NOT_RUNNING, Ordering::Relaxed);
    }
}

impl fmt::Debug for ChainProvider {
    // Names only: a source's own `Debug` may show its configuration.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChainProvider")
            .field("sources", &self.names)
            .finish()
    }
}

impl ProvideCredentials for ChainProvider {
    fn provide_credentials(&self) -> ProvideCredentialsFuture<'_> {
        ProvideCredentialsFuture::new(async move {
            let mut attempts = Vec::with_capacity(self.providers.len());
            let _reset = ProgressReset(&self.progress);
            for (i, (name, provider)) in self.providers.iter().enumerate() {
                self.progress.store(i, Ordering::Relaxed);
                match provider.provide_credentials().await {
                    Ok(credentials) => {
                        tracing::debug!(
                            source = %name,
                            provider = credentials.provider_name(),
                            access_key_id = credentials.access_key_id(),
                            "default chain: credentials found"
                        );
                        return Ok(credentials);
                    }
                    Err(CredentialsError::NotConfigured { reason, .. }) => {
                        tracing::debug!(source = %name, reason = %reason, "default chain: not configured, trying the next source");
                        attempts.push((name.clone(), reason));
                    }
                    Err(err @ CredentialsError::NoneFound { .. }) => {
                        attempts.push((name.clone(), err.to_string()));
                    }
                    Err(err) => {
                        tracing::debug!(source = %name, error = %err, "default chain: source failed; stopping");
                        return Err(name_source(name.clone(), err));
                    }
                }
            }
            Err(CredentialsError::NoneFound { attempts })
        })
    }

    /// Passes the invalidation on to every source: the one that gave the refused credentials
    /// drops them if it caches, the others ignore it (the default), and a cache among them that
    /// holds other credentials keeps them (it compares with the refused ones).
    fn invalidate(&self, refused: &crate::Credentials) {
        for (_, provider) in &self.providers {
            provider.invalidate(refused);
        }
    }
}

/// Puts the chain's name of the failing source into the error, keeping the kind (and the
/// source's own name in the message when it differs).
fn name_source(name: Cow<'static, str>, err: CredentialsError) -> CredentialsError {
    let prefix = |provider: &str, text: String| {
        if provider == name {
            text
        } else {
            format!("{provider}: {text}")
        }
    };
    match err {
        CredentialsError::Failed {
            provider,
            message,
            cause,
        } => CredentialsError::Failed {
            message: prefix(&provider, message),
            provider: name,
            cause,
        },
        CredentialsError::Timeout {
            provider,
            after,
            hint,
        } => CredentialsError::Timeout {
            hint: prefix(&provider, hint),
            provider: name,
            after,
        },
        CredentialsError::Expired { provider, message } => CredentialsError::Expired {
            message: prefix(&provider, message),
            provider: name,
        },
        CredentialsError::NonRecoverable {
            provider,
            message,
            cause,
        } => CredentialsError::NonRecoverable {
            message: prefix(&provider, message),
            provider: name,
            cause,
        },
        other => other,
    }
}

/// Builds a [`DefaultChain`]; start with [`DefaultChain::builder`].
#[derive(Default)]
pub struct DefaultChainBuilder {
    env: Option<Env>,
    profile_name: Option<String>,
    time_source: Option<SharedTimeSource>,
    load_timeout: Option<Duration>,
    imds: Option<Imds>,
    container: Option<Container>,
    providers: Option<Vec<NamedProvider>>,
    transport: Option<TransportOptions>,
}

impl fmt::Debug for DefaultChainBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `Env` may hold a secret key when it is a fixed map: not shown.
        f.debug_struct("DefaultChainBuilder")
            .field("profile_name", &self.profile_name)
            .field("load_timeout", &self.load_timeout)
            .field("custom_imds", &self.imds.is_some())
            .field("custom_container", &self.container.is_some())
            .field(
                "providers",
                &self
                    .providers
                    .as_ref()
                    .map(|p| p.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>()),
            )
            .finish_non_exhaustive()
    }
}

impl DefaultChainBuilder {
    /// The environment the sources read (default: the real process environment).
    pub fn env(mut self, env: Env) -> Self {
        self.env = Some(env);
        self
    }

    /// The profile to use instead of `AWS_PROFILE` / `default`.
    pub fn profile_name(mut self, name: impl Into<String>) -> Self {
        self.profile_name = Some(name.into());
        self
    }

    /// The clock for expiry comparisons, in the cache and the sources (default: the system clock).
    pub fn time_source(mut self, time_source: SharedTimeSource) -> Self {
        self.time_source = Some(time_source);
        self
    }

    /// How long a caller waits for the whole chain to load (default 5 s); see
    /// [`CredentialsCacheBuilder::load_timeout`].
    pub fn load_timeout(mut self, timeout: Duration) -> Self {
        self.load_timeout = Some(timeout);
        self
    }

    /// A configured IMDS source (e.g. pointed at a test endpoint) instead of the default one.
    pub fn imds(mut self, imds: Imds) -> Self {
        self.imds = Some(imds);
        self
    }

    /// A configured container source instead of the default one.
    pub fn container(mut self, container: Container) -> Self {
        self.container = Some(container);
        self
    }

    /// Replaces the default sources with these, tried in order (`env`, `profile_name`, `imds` and
    /// `container` are then ignored). For tests and custom chains.
    pub fn providers(mut self, providers: Vec<NamedProvider>) -> Self {
        self.providers = Some(providers);
        self
    }

    /// Transport settings for the sources this chain builds: the TLS configuration (and test
    /// overrides) go to every source; timeouts and attempts to the STS sources (IMDS and the
    /// container source keep their own short defaults; give [`DefaultChainBuilder::imds`] or
    /// [`DefaultChainBuilder::container`] to change those).
    pub fn transport(mut self, options: TransportOptions) -> Self {
        self.transport = Some(options);
        self
    }

    /// Builds the chain. Does no I/O: the sources are first asked on the first call.
    pub async fn build(self) -> DefaultChain {
        let mut cache = CredentialsCache::builder();
        if let Some(ts) = &self.time_source {
            cache = cache.time_source(Arc::clone(ts));
        }
        if let Some(timeout) = self.load_timeout {
            cache = cache.load_timeout(timeout);
        }
        let providers = match self.providers {
            Some(providers) => providers,
            None => default_providers(Sources {
                env: self.env.unwrap_or_else(Env::real),
                profile_name: self.profile_name,
                time_source: self.time_source,
                imds: self.imds,
                container: self.container,
                transport: self.transport,
            }),
        };
        DefaultChain::with_providers(providers, cache)
    }
}

/// What the default sources are built from.
struct Sources {
    env: Env,
    profile_name: Option<String>,
    time_source: Option<SharedTimeSource>,
    imds: Option<Imds>,
    container: Option<Container>,
    transport: Option<TransportOptions>,
}

/// The default sources in the SDKs' order. The only place that names their constructors.
fn default_providers(sources: Sources) -> Vec<NamedProvider> {
    let Sources {
        env,
        profile_name,
        time_source,
        imds,
        container,
        transport,
    } = sources;
    let time_source = time_source.unwrap_or_else(|| Arc::new(crate::SystemClock));
    let sts_transport = transport
        .clone()
        .unwrap_or_else(crate::sts::default_transport);
    let imds = imds.unwrap_or_else(|| {
        let mut builder = Imds::builder()
            .env(env.clone())
            .time_source(Arc::clone(&time_source));
        if let Some(t) = &transport {
            builder.transport = t.connection_settings_onto(builder.transport);
        }
        builder.build()
    });
    let container = container.unwrap_or_else(|| {
        let mut builder = Container::builder().env(env.clone());
        if let Some(t) = &transport {
            builder.transport = t.connection_settings_onto(builder.transport);
        }
        builder.build()
    });
    let mut profile = Profile::builder()
        .env(env.clone())
        .time_source(Arc::clone(&time_source))
        .transport(sts_transport.clone())
        .imds(imds.clone())
        .container(container.clone());
    if let Some(name) = profile_name {
        profile = profile.profile_name(name);
    }
    vec![
        (
            Cow::Borrowed("environment"),
            Arc::new(Environment::from_env(env.clone())) as Arc<dyn ProvideCredentials>,
        ),
        (Cow::Borrowed("profile"), Arc::new(profile.build())),
        (
            Cow::Borrowed("web identity"),
            Arc::new(WebIdentityEnv {
                env: env.clone(),
                transport: sts_transport,
                time_source,
            }),
        ),
        (Cow::Borrowed("container"), Arc::new(container)),
        (Cow::Borrowed("imds"), Arc::new(imds)),
    ]
}

/// EKS IRSA: `AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN` (+ `AWS_ROLE_SESSION_NAME`), read at
/// each call so that the chain sees the environment it was built over.
#[derive(Debug)]
struct WebIdentityEnv {
    env: Env,
    transport: TransportOptions,
    time_source: SharedTimeSource,
}

impl ProvideCredentials for WebIdentityEnv {
    fn provide_credentials(&self) -> ProvideCredentialsFuture<'_> {
        let source = WebIdentity::builder()
            .env(self.env.clone())
            .transport(self.transport.clone())
            .time_source(Arc::clone(&self.time_source))
            .build_from_env();
        match source {
            Ok(source) => ProvideCredentialsFuture::new(async move { source.load().await }),
            Err(e) => ProvideCredentialsFuture::ready(Err(e)),
        }
    }
}
