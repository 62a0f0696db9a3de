//! The body types on both sides of the proxy.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;

use crate::BoxError;

/// The body of a request on its way upstream: the client's stream as it arrives, or the bytes
/// the signing layer buffered to hash them.
///
/// The signing layer hands it on inside a `tower_sigv4::SigV4Body` (its own bytes when it
/// buffered the body to hash it).
#[derive(Debug)]
pub struct RequestBody(RequestInner);

#[derive(Debug)]
enum RequestInner {
    Streaming(UnsyncBoxBody<Bytes, BoxError>),
    Buffered(Full<Bytes>),
}

impl RequestBody {
    /// Wraps a client's body, streamed frame by frame.
    pub fn streaming<B>(body: B) -> Self
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        Self(RequestInner::Streaming(
            body.map_err(Into::into).boxed_unsync(),
        ))
    }
}

impl From<Bytes> for RequestBody {
    fn from(bytes: Bytes) -> Self {
        Self(RequestInner::Buffered(Full::new(bytes)))
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match &mut self.get_mut().0 {
            RequestInner::Streaming(body) => Pin::new(body).poll_frame(cx),
            RequestInner::Buffered(full) => Pin::new(full).poll_frame(cx).map_err(|e| match e {}),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.0 {
            RequestInner::Streaming(body) => body.is_end_stream(),
            RequestInner::Buffered(full) => full.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.0 {
            RequestInner::Streaming(body) => body.size_hint(),
            RequestInner::Buffered(full) => full.size_hint(),
        }
    }
}

/// The body of the proxy's answer: the upstream's body, passed on frame by frame as it arrives
/// (never buffered, so server-sent events and long polls work), or a short body of the proxy's
/// own (its errors, or a refusal it read to explain).
#[derive(Debug)]
pub struct ResponseBody(ResponseInner);

#[derive(Debug)]
enum ResponseInner {
    Upstream(Incoming),
    Local(Full<Bytes>),
}

impl ResponseBody {
    pub(crate) fn upstream(body: Incoming) -> Self {
        Self(ResponseInner::Upstream(body))
    }

    pub(crate) fn local(bytes: impl Into<Bytes>) -> Self {
        Self(ResponseInner::Local(Full::new(bytes.into())))
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match &mut self.get_mut().0 {
            ResponseInner::Upstream(body) => Pin::new(body).poll_frame(cx),
            ResponseInner::Local(full) => Pin::new(full).poll_frame(cx).map_err(|e| match e {}),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.0 {
            ResponseInner::Upstream(body) => body.is_end_stream(),
            ResponseInner::Local(full) => full.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.0 {
            ResponseInner::Upstream(body) => body.size_hint(),
            ResponseInner::Local(full) => full.size_hint(),
        }
    }
}
