//! Why a proxy could not be set up or started.

/// A boxed error cause.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a [`SigningProxy`](crate::SigningProxy) could not be built or started. Each message says
/// what to change.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// No upstream was configured.
    #[error("no upstream: give one upstream URL, or one or more PREFIX=UPSTREAM routes")]
    NoRoutes,
    /// Two routes have the same prefix.
    #[error("two routes have the prefix {0:?}: give each prefix once")]
    DuplicatePrefix(String),
    /// A `PREFIX=UPSTREAM` route is malformed.
    #[error("route {route:?}: {why}")]
    Route {
        /// The route as given.
        route: String,
        /// What is wrong with it.
        why: String,
    },
    /// An upstream URL is unusable.
    #[error("upstream {upstream:?}: {why}")]
    Upstream {
        /// The upstream as given.
        upstream: String,
        /// What is wrong with it.
        why: String,
    },
    /// The region or service of an upstream is neither given nor told by its host name.
    #[error(
        "upstream {upstream:?}: {reason} (give the region and the service explicitly, e.g. \
         --region us-east-1 --service execute-api)"
    )]
    Scope {
        /// The upstream as given.
        upstream: String,
        /// What could not be told.
        reason: sigv4_core::infer::ScopeUnknown,
    },
    /// An `https://` upstream was configured without a TLS client configuration.
    #[error(
        "upstream {0:?} is https:// but the proxy was built without a TLS client configuration \
         (use SigningProxyBuilder::build with a rustls ClientConfig)"
    )]
    NoTls(String),
    /// A socket could not be bound or served.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}
