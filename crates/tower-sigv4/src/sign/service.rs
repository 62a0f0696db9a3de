use std::borrow::Cow;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use http_body::Body;
use sigv4_credentials::ProvideCredentials;
use tower_service::Service;

use super::body::SigV4Body;
use super::future::ResponseFuture;
use super::layer::{Config, SigV4Layer};
use crate::error::BoxError;

/// Signs each request with AWS SigV4, then calls the inner service. Made by [`SigV4Layer`]; see the
/// [module docs](crate::sign) for an example.
///
/// Takes any [`http_body::Body`] and hands the inner service a [`SigV4Body`] around it: the
/// buffered bytes, the body unchanged, or the body framed as aws-chunked and signed as it is read
/// ([`PayloadPolicy::AwsChunked`](crate::PayloadPolicy::AwsChunked)). So the inner service is
/// `hyper_util`'s `Client<_, SigV4Body<B>>` or any service taking `Request<SigV4Body<B>>`.
///
/// Errors are [`BoxError`]: the inner service's errors unchanged, or a
/// [`SigV4Error`](crate::SigV4Error) when signing failed (then the inner service was not called).
#[derive(Debug, Clone)]
pub struct SigV4Service<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S> SigV4Service<S> {
    /// Wraps `inner` with a [`SigV4Layer`]'s configuration.
    pub fn new(inner: S, layer: &SigV4Layer) -> Self {
        Self::from_config(inner, Arc::clone(layer.config()))
    }

    pub(crate) fn from_config(inner: S, config: Arc<Config>) -> Self {
        Self { inner, config }
    }

    /// The short way to a [`SigV4Layer`]: same as [`SigV4Layer::new`].
    pub fn layer(
        provider: impl ProvideCredentials + 'static,
        region: impl Into<Cow<'static, str>>,
        service: impl Into<Cow<'static, str>>,
    ) -> SigV4Layer {
        SigV4Layer::new(provider, region, service)
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

impl<S, B, RB> Service<Request<B>> for SigV4Service<S>
where
    S: Service<Request<SigV4Body<B>>, Response = Response<RB>> + Clone,
    S::Error: Into<BoxError>,
    B: Body,
    B::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // The inner service was driven to readiness in `poll_ready`: keep that one for this
        // request and leave a fresh clone in its place (the clone may not be ready).
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        ResponseFuture::start(inner, Arc::clone(&self.config), request)
    }
}
