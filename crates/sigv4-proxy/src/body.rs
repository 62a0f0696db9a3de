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
pub struct RequestBody(StreamOrOwn<UnsyncBoxBody<Bytes, BoxError>>);

impl RequestBody {
    /// Wraps a client's body, streamed frame by frame.
    pub fn streaming<B>(body: B) -> Self
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        Self(StreamOrOwn::Stream(body.map_err(Into::into).boxed_unsync()))
    }
}

impl From<Bytes> for RequestBody {
    fn from(bytes: Bytes) -> Self {
        Self(StreamOrOwn::Own(Full::new(bytes)))
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Pin::new(&mut self.get_mut().0).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.0.size_hint()
    }
}

/// The body of the proxy's answer: the upstream's body, passed on frame by frame as it arrives
/// (never buffered, so server-sent events and long polls work), or a short body of the proxy's
/// own (its errors, or a refusal it read to explain).
#[derive(Debug)]
pub struct ResponseBody(StreamOrOwn<Incoming>);

impl ResponseBody {
    pub(crate) fn upstream(body: Incoming) -> Self {
        Self(StreamOrOwn::Stream(body))
    }

    pub(crate) fn local(bytes: impl Into<Bytes>) -> Self {
        Self(StreamOrOwn::Own(Full::new(bytes.into())))
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        Pin::new(&mut self.get_mut().0).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.0.size_hint()
    }
}

/// What both bodies are: a body streamed from elsewhere (passed on frame by frame, with its
/// errors), or bytes of the proxy's own (which cannot fail).
#[derive(Debug)]
enum StreamOrOwn<S> {
    Stream(S),
    Own(Full<Bytes>),
}

impl<S> Body for StreamOrOwn<S>
where
    S: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = S::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, S::Error>>> {
        match self.get_mut() {
            StreamOrOwn::Stream(body) => Pin::new(body).poll_frame(cx),
            StreamOrOwn::Own(full) => Pin::new(full).poll_frame(cx).map_err(|e| match e {}),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            StreamOrOwn::Stream(body) => body.is_end_stream(),
            StreamOrOwn::Own(full) => full.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            StreamOrOwn::Stream(body) => body.size_hint(),
            StreamOrOwn::Own(full) => full.size_hint(),
        }
    }
}
