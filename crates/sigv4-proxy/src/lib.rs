//! A signing reverse proxy: clients that cannot sign (any language, curl, Grafana, Prometheus)
//! call it in plain HTTP; it forwards each request to a fixed AWS upstream, signed with SigV4,
//! and streams the answer back as it arrives.
//!
//! ```text
//! client ──► serve (HTTP/1.1 + h2c) ──► SigningProxy ──► SigV4Service ──► pooled hyper client ──► upstream
//!             ClientAddr            check target (400)     buffer+hash     (TLS from the caller)
//!                                   route by prefix (404)  sign
//!                                   strip client's auth,   (413 over the limit)
//!                                   hop-by-hop; Host, XFF
//! ```
//!
//! - [`SigningProxy`]: the tower service; [`SigningProxy::builder`] takes the credentials source
//!   and the routes; [`SigningProxyBuilder::build`] takes the caller's rustls `ClientConfig` (one
//!   TLS setup per binary), [`SigningProxyBuilder::build_with_connector`] any hyper-util connector.
//! - [`serve`] (and [`serve_tls`], with the caller's rustls `ServerConfig`): runs it on a
//!   listener until a shutdown future completes, then lets in-flight requests finish within a
//!   grace period.
//! - [`Admin`]: `/healthz` and `/readyz` for a separate admin listener.
//!
//! Never an open proxy: upstreams are fixed when the proxy is built; an absolute-form request
//! target, `CONNECT`, or a `Host` naming another host is refused with `400` and nothing is sent.
//!
//! ```no_run
//! use sigv4_credentials::DefaultChain;
//! use sigv4_proxy::{serve, SigningProxy, DEFAULT_GRACE};
//!
//! # async fn demo(tls: std::sync::Arc<rustls::ClientConfig>) -> Result<(), Box<dyn std::error::Error>> {
//! let credentials = DefaultChain::builder().build().await; // cached, refreshed ahead of expiry
//! let proxy = SigningProxy::builder(credentials)
//!     .upstream("https://abc123.execute-api.eu-west-1.amazonaws.com") // region, service inferred
//!     .build(Some(tls))?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>(); // e.g. sent on SIGTERM
//! # drop(stop);
//! serve(listener, proxy, async { let _ = stopped.await; }, DEFAULT_GRACE).await;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod body;
mod error;
mod headers;
mod proxy;
mod route;
mod server;

pub use body::{RequestBody, ResponseBody};
pub use error::{BoxError, ProxyError};
pub use proxy::{
    ClientAddr, SigningProxy, SigningProxyBuilder, UpstreamConnector, UpstreamStream,
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_BODY, DEFAULT_MAX_CONCURRENCY, DEFAULT_UPSTREAM_TIMEOUT,
};
pub use route::RouteSpec;
pub use server::{serve, serve_tls, Admin, DEFAULT_GRACE};
