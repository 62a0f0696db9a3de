//! [`VerifyBody`]: the body [`Verify`](crate::Verify) hands the inner service.

use std::fmt;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes};
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::UnsyncBoxBody;
use sigv4_core::chunked::ChunkedDecoder;

use super::key_store::BoxError;

/// The request body a verified request reaches the inner service with: the bytes that were read
/// to check the payload hash, or, for an aws-chunked upload
/// (`x-amz-content-sha256: STREAMING-...`), the decoded data streamed as it arrives, each chunk
/// handed on only once its signature checked.
///
/// Its data is [`Bytes`] and its error a [`BoxError`]. An aws-chunked body fails (a body error,
/// the first the handler reads after the last good chunk) on the first chunk whose signature does
/// not match, on a bad trailer (checksum or trailer signature), or when the data is not as long
/// as `x-amz-decoded-content-length` says; the error is a
/// [`ChunkedError`](sigv4_core::chunked::ChunkedError) naming the chunk (find it with
/// `downcast_ref`). An error of the connection's body comes through unchanged.
pub struct VerifyBody {
    kind: Kind,
}

enum Kind {
    Full(Option<Bytes>),
    AwsChunked(Box<Decoding>),
}

struct Decoding {
    body: UnsyncBoxBody<Bytes, BoxError>,
    decoder: ChunkedDecoder,
    remaining: u64,
    done: bool,
}

impl fmt::Debug for VerifyBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Full(data) => f
                .debug_tuple("VerifyBody::Full")
                .field(&data.as_ref().map_or(0, Bytes::len))
                .finish(),
            Kind::AwsChunked(d) => f
                .debug_struct("VerifyBody::AwsChunked")
                .field("mode", &d.decoder.mode())
                .field("decoded", &d.decoder.decoded_length())
                .finish(),
        }
    }
}

impl VerifyBody {
    /// A body of these bytes.
    pub fn full(data: Bytes) -> Self {
        Self {
            kind: Kind::Full((!data.is_empty()).then_some(data)),
        }
    }

    /// The connection's aws-chunked `body`, decoded and verified by `decoder` as it is read.
    pub(crate) fn aws_chunked<B>(body: B, decoder: ChunkedDecoder, decoded_length: u64) -> Self
    where
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        use http_body_util::BodyExt;
        let body = body
            .map_frame(|f| f.map_data(|mut d| d.copy_to_bytes(d.remaining())))
            .map_err(Into::into)
            .boxed_unsync();
        Self {
            kind: Kind::AwsChunked(Box::new(Decoding {
                body,
                decoder,
                remaining: decoded_length,
                done: false,
            })),
        }
    }

    /// True for a streamed aws-chunked upload.
    pub fn is_aws_chunked(&self) -> bool {
        matches!(self.kind, Kind::AwsChunked(_))
    }
}

impl From<Bytes> for VerifyBody {
    fn from(data: Bytes) -> Self {
        Self::full(data)
    }
}

impl Default for VerifyBody {
    fn default() -> Self {
        Self::full(Bytes::new())
    }
}

impl Body for VerifyBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match &mut self.get_mut().kind {
            Kind::Full(data) => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            Kind::AwsChunked(d) => loop {
                if d.done {
                    return Poll::Ready(None);
                }
                match d.decoder.next_data() {
                    Ok(Some(data)) => {
                        d.remaining = d.remaining.saturating_sub(data.len() as u64);
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                    Ok(None) => {}
                    Err(e) => {
                        d.done = true;
                        return Poll::Ready(Some(Err(e.into())));
                    }
                }
                match ready!(Pin::new(&mut d.body).poll_frame(cx)) {
                    Some(Ok(frame)) => {
                        if let Some(data) = frame.data_ref() {
                            d.decoder.feed(data);
                        }
                    }
                    Some(Err(e)) => {
                        d.done = true;
                        return Poll::Ready(Some(Err(e)));
                    }
                    None => {
                        d.done = true;
                        return Poll::Ready(d.decoder.finish().err().map(|e| Err(e.into())));
                    }
                }
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full(data) => data.is_none(),
            Kind::AwsChunked(d) => d.done,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(data) => SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64)),
            Kind::AwsChunked(d) => SizeHint::with_exact(d.remaining),
        }
    }
}
