//! [`Verify`]: the service that checks, then forwards.

use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use tower_service::Service;

use super::body::VerifyBody;
use super::check::check;
use super::future::ResponseFuture;
use super::key_store::{BoxError, KeyStore};
use super::layer::{Config, VerifyLayer};

/// Checks the SigV4 signature of each request, then calls the inner service with the request
/// (body buffered, [`Verified`](sigv4_core::verify::Verified) identity in its extensions), or
/// answers a [`Rejection`](super::Rejection) itself.
///
/// Made by [`VerifyLayer`]; see the [module docs](super) for an example and for the body types.
#[derive(Clone)]
pub struct Verify<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for Verify<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verify")
            .field("inner", &self.inner)
            .field("key_store", &self.config.key_store)
            .finish_non_exhaustive()
    }
}

impl<S> Verify<S> {
    /// Wraps `inner` with the configuration of `layer`.
    pub fn new(inner: S, layer: VerifyLayer) -> Self {
        Self {
            inner,
            config: layer.config,
        }
    }

    /// The short way to a [`VerifyLayer`] with the default settings.
    pub fn layer(key_store: impl KeyStore + 'static) -> VerifyLayer {
        VerifyLayer::new(key_store)
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Verify<S>
where
    S: Service<Request<VerifyBody>, Response = Response<ResBody>> + Clone,
    ReqBody: Body + Send + 'static,
    ReqBody::Data: Send,
    ReqBody::Error: Into<BoxError>,
    ResBody: From<Bytes>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // Clone and swap: the service that was polled ready goes with this request.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        ResponseFuture::new(Box::pin(check(self.config.clone(), request)), inner)
    }
}
