//! Serving: the proxy's listener (HTTP/1.1 and h2c) with graceful shutdown, and the admin
//! listener (`/healthz`, `/readyz`).

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::Body;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use sigv4_credentials::ProvideCredentials;
use tokio::net::TcpListener;
use tower_service::Service;

use crate::{BoxError, ClientAddr};

/// The default time in-flight requests get to finish once shutdown is asked for.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(30);

/// Serves `service` on `listener` (HTTP/1.1 and HTTP/2 without TLS, told apart by the preface)
/// until `shutdown` completes; then stops accepting, lets the requests in flight finish (each
/// connection closes once idle) for at most `grace`, and returns.
///
/// Each request carries the client's address as a [`ClientAddr`] extension.
pub async fn serve<S, B>(
    listener: TcpListener,
    service: S,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) where
    S: Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    serve_inner(listener, None, service, shutdown, grace).await;
}

/// Like [`serve`], over TLS: each connection's handshake uses `tls` (give it ALPN `h2` and
/// `http/1.1` to offer both). A handshake that fails or takes more than 10 s closes that
/// connection only.
pub async fn serve_tls<S, B>(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    service: S,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) where
    S: Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    serve_inner(listener, Some(acceptor), service, shutdown, grace).await;
}

/// How long a client has to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

async fn serve_inner<S, B>(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    service: S,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) where
    S: Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let builder = auto::Builder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        tracing::warn!(target: "sigv4_proxy", %error, "accept failed");
                        // Out of file descriptors, say: do not spin.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let service = service.clone();
                let hyper_service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
                    request.extensions_mut().insert(ClientAddr(peer));
                    let mut service = service.clone();
                    service.call(request)
                });
                match &tls {
                    None => {
                        let connection = builder
                            .serve_connection(TokioIo::new(stream), hyper_service)
                            .into_owned();
                        let connection = graceful.watch(connection);
                        tokio::spawn(async move {
                            if let Err(error) = connection.await {
                                tracing::debug!(target: "sigv4_proxy", %error, "connection ended with an error");
                            }
                        });
                    }
                    Some(acceptor) => {
                        let (acceptor, builder, watcher) =
                            (acceptor.clone(), builder.clone(), graceful.watcher());
                        tokio::spawn(async move {
                            let stream = match tokio::time::timeout(
                                HANDSHAKE_TIMEOUT,
                                acceptor.accept(stream),
                            )
                            .await
                            {
                                Ok(Ok(stream)) => stream,
                                Ok(Err(error)) => {
                                    tracing::debug!(target: "sigv4_proxy", %error, %peer, "TLS handshake failed");
                                    return;
                                }
                                Err(_) => {
                                    tracing::debug!(target: "sigv4_proxy", %peer, "TLS handshake timed out");
                                    return;
                                }
                            };
                            let connection = builder
                                .serve_connection(TokioIo::new(stream), hyper_service)
                                .into_owned();
                            if let Err(error) = watcher.watch(connection).await {
                                tracing::debug!(target: "sigv4_proxy", %error, "connection ended with an error");
                            }
                        });
                    }
                }
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {
            tracing::info!(target: "sigv4_proxy", "every in-flight request finished");
        }
        () = tokio::time::sleep(grace) => {
            tracing::warn!(
                target: "sigv4_proxy",
                grace_s = grace.as_secs_f64(),
                "requests still in flight after the grace period: stopping anyway"
            );
        }
    }
}

/// The admin endpoints, for orchestrators' probes:
///
/// - `GET /healthz`: `200 ok` while the process serves;
/// - `GET /readyz`: `200 ready` when credentials can be had now (from the same cached source the
///   proxy signs with, so this costs a cache read once they are loaded), else `503` and why (never
///   a secret).
///
/// Anything else is `404`.
#[derive(Clone)]
pub struct Admin {
    credentials: Arc<dyn ProvideCredentials>,
    timeout: Duration,
}

impl fmt::Debug for Admin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Admin")
            .field("credentials", &self.credentials)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Admin {
    /// Admin endpoints reporting on `credentials` (give it the source the proxy signs with).
    pub fn new(credentials: Arc<dyn ProvideCredentials>) -> Self {
        Self {
            credentials,
            timeout: Duration::from_secs(2),
        }
    }

    /// How long `/readyz` waits for credentials before answering `503` (default 2 s).
    pub fn readiness_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    async fn answer(self, path: String) -> Response<Full<Bytes>> {
        let (status, text) = match path.as_str() {
            "/healthz" => (StatusCode::OK, "ok\n".to_owned()),
            "/readyz" => {
                match tokio::time::timeout(self.timeout, self.credentials.provide_credentials())
                    .await
                {
                    Ok(Ok(_)) => (StatusCode::OK, "ready\n".to_owned()),
                    Ok(Err(e)) => (
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!("not ready: no credentials: {e}\n"),
                    ),
                    Err(_) => (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "not ready: credentials are still loading\n".to_owned(),
                    ),
                }
            }
            _ => (StatusCode::NOT_FOUND, "not found\n".to_owned()),
        };
        let mut response = Response::new(Full::new(Bytes::from(text)));
        *response.status_mut() = status;
        response
    }
}

impl<B> Service<Request<B>> for Admin {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future =
        std::pin::Pin<Box<dyn Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let admin = self.clone();
        let path = request.uri().path().to_owned();
        Box::pin(async move { Ok(admin.answer(path).await) })
    }
}
