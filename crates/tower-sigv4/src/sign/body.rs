//! [`SigV4Body`]: the body [`SigV4Service`](crate::SigV4Service) hands the inner service.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use sigv4_core::chunked::{ChunkSigner, CHUNK_END};

use crate::error::{BoxError, SigV4Error};

pin_project! {
    /// The request body the signing layer hands on: the bytes it buffered to hash them, the
    /// caller's body unchanged, or the caller's body framed as aws-chunked and signed chunk by
    /// chunk as the inner service reads it
    /// ([`PayloadPolicy::AwsChunked`](crate::PayloadPolicy::AwsChunked)).
    ///
    /// Its data is [`Bytes`] and its error a [`BoxError`]: an error of the caller's body comes
    /// through unchanged (find it with `downcast_ref`), one of the framing (the body is longer or
    /// shorter than the length it declared) is a [`SigV4Error`].
    ///
    /// Inner services name it in their request type: `hyper_util`'s
    /// `Client<_, SigV4Body<Full<Bytes>>>`, or `service_fn(|r: Request<SigV4Body<B>>| ..)`.
    pub struct SigV4Body<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Full { data: Option<Bytes> },
        Passthrough { #[pin] body: B },
        AwsChunked { #[pin] body: B, chunking: Box<Chunking> },
        EventStream { #[pin] body: EventStream<B> },
    }
}

/// The event-stream framing of the caller's body (with the `eventstream` feature).
#[cfg(feature = "eventstream")]
type EventStream<B> = crate::eventstream::EventStreamBody<B>;
/// Without the `eventstream` feature the variant cannot be made.
#[cfg(not(feature = "eventstream"))]
type EventStream<B> = (std::convert::Infallible, std::marker::PhantomData<B>);

/// The state of an aws-chunked framing: the chunk being filled, the frames ready to go out.
struct Chunking {
    signer: Option<ChunkSigner>,
    chunk_size: usize,
    /// Data of the chunk being filled (at most `chunk_size` bytes).
    fill: BytesMut,
    /// Data read from the caller's body and not yet in a chunk.
    carry: Bytes,
    /// Frames ready to be returned: a chunk's header, data and CRLF, or the end.
    ready: VecDeque<Bytes>,
    declared: u64,
    seen: u64,
    framed_length: u64,
    /// Framed bytes returned so far.
    emitted: u64,
    inner_done: bool,
}

impl<B> fmt::Debug for SigV4Body<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            Kind::Full { data } => format!("Full({} bytes)", data.as_ref().map_or(0, Bytes::len)),
            Kind::Passthrough { .. } => "Passthrough".to_owned(),
            Kind::AwsChunked { chunking, .. } => format!(
                "AwsChunked({} of {} bytes read)",
                chunking.seen, chunking.declared
            ),
            Kind::EventStream { .. } => "EventStream".to_owned(),
        };
        f.debug_tuple("SigV4Body").field(&kind).finish()
    }
}

impl<B> SigV4Body<B> {
    /// A body of these bytes.
    pub fn full(data: Bytes) -> Self {
        Self {
            kind: Kind::Full {
                data: (!data.is_empty()).then_some(data),
            },
        }
    }

    /// An empty body.
    pub fn empty() -> Self {
        Self::full(Bytes::new())
    }

    /// The caller's body, handed on unchanged.
    pub fn passthrough(body: B) -> Self {
        Self {
            kind: Kind::Passthrough { body },
        }
    }

    /// This (passthrough) body framed as aws-chunked by `signer` in chunks of `chunk_size` bytes;
    /// it must hold exactly `declared` bytes (what `x-amz-decoded-content-length` says), and the
    /// result `framed_length` (what `Content-Length` says). Other bodies are returned unchanged.
    pub(crate) fn into_aws_chunked(
        self,
        signer: ChunkSigner,
        chunk_size: usize,
        declared: u64,
        framed_length: u64,
    ) -> Self {
        let body = match self.kind {
            Kind::Passthrough { body } => body,
            kind => return Self { kind },
        };
        Self {
            kind: Kind::AwsChunked {
                body,
                chunking: Box::new(Chunking {
                    signer: Some(signer),
                    chunk_size,
                    fill: BytesMut::new(),
                    carry: Bytes::new(),
                    ready: VecDeque::with_capacity(4),
                    declared,
                    seen: 0,
                    framed_length,
                    emitted: 0,
                    inner_done: false,
                }),
            },
        }
    }

    /// This (passthrough) body's event-stream messages, each signed by `stream` (chained from
    /// the head's signature) at `clock`'s time as it is read. Other bodies are returned
    /// unchanged.
    #[cfg(feature = "eventstream")]
    pub(crate) fn into_event_stream(
        self,
        stream: sigv4_core::eventstream::EventStreamSigner,
        clock: sigv4_core::SharedTimeSource,
    ) -> Self {
        match self.kind {
            Kind::Passthrough { body } => Self {
                kind: Kind::EventStream {
                    body: crate::eventstream::EventStreamBody::new(body, stream, clock),
                },
            },
            kind => Self { kind },
        }
    }

    /// The bytes of a buffered body not read yet (what the layer hashed); `None` for a
    /// passthrough or aws-chunked body, or once read.
    pub fn buffered(&self) -> Option<&Bytes> {
        match &self.kind {
            Kind::Full { data } => data.as_ref(),
            _ => None,
        }
    }

    /// True when the caller's body is framed as aws-chunked.
    pub fn is_aws_chunked(&self) -> bool {
        matches!(self.kind, Kind::AwsChunked { .. })
    }
}

impl<B> From<Bytes> for SigV4Body<B> {
    fn from(data: Bytes) -> Self {
        Self::full(data)
    }
}

impl Chunking {
    /// Signs the filled chunk (or `data`, a whole chunk taken without a copy) and queues it.
    fn emit(&mut self, data: Bytes) {
        let Some(signer) = self.signer.as_mut() else {
            return;
        };
        if let Some(header) = signer.chunk_header(&data) {
            self.ready
                .push_back(Bytes::copy_from_slice(header.as_bytes()));
            self.ready.push_back(data);
            self.ready.push_back(Bytes::from_static(CHUNK_END));
        }
    }

    /// Moves carried data into chunks until the carry is empty or a chunk is queued.
    fn fill_from_carry(&mut self) {
        while !self.carry.is_empty() && self.ready.is_empty() {
            if self.fill.is_empty() && self.carry.len() >= self.chunk_size {
                let chunk = self.carry.split_to(self.chunk_size);
                self.emit(chunk);
                continue;
            }
            if self.fill.capacity() == 0 {
                self.fill.reserve(self.chunk_size);
            }
            let take = (self.chunk_size - self.fill.len()).min(self.carry.len());
            self.fill.extend_from_slice(&self.carry[..take]);
            self.carry.advance(take);
            if self.fill.len() == self.chunk_size {
                let chunk = self.fill.split().freeze();
                self.emit(chunk);
            }
        }
    }

    /// The caller's body ended: the last short chunk, then the final chunk and trailer.
    fn end(&mut self) -> Result<(), SigV4Error> {
        if self.seen != self.declared {
            return Err(SigV4Error::BodyLengthMismatch {
                declared: self.declared,
                actual: self.seen,
            });
        }
        if !self.fill.is_empty() {
            let chunk = self.fill.split().freeze();
            self.emit(chunk);
        }
        self.fill = BytesMut::new();
        if let Some(signer) = self.signer.take() {
            self.ready.push_back(signer.finish());
        }
        Ok(())
    }
}

impl<B> Body for SigV4Body<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.project().kind.project() {
            KindProj::Full { data } => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            KindProj::Passthrough { body } => match ready!(body.poll_frame(cx)) {
                None => Poll::Ready(None),
                Some(Err(e)) => Poll::Ready(Some(Err(e.into()))),
                Some(Ok(frame)) => Poll::Ready(Some(Ok(
                    frame.map_data(|mut d| d.copy_to_bytes(d.remaining()))
                ))),
            },
            #[cfg(feature = "eventstream")]
            KindProj::EventStream { body } => body.poll_frame(cx),
            #[cfg(not(feature = "eventstream"))]
            KindProj::EventStream { body } => match body.as_ref().get_ref().0 {},
            KindProj::AwsChunked { mut body, chunking } => loop {
                if let Some(out) = chunking.ready.pop_front() {
                    chunking.emitted += out.len() as u64;
                    return Poll::Ready(Some(Ok(Frame::data(out))));
                }
                if chunking.inner_done {
                    return Poll::Ready(None);
                }
                if !chunking.carry.is_empty() {
                    chunking.fill_from_carry();
                    continue;
                }
                match ready!(body.as_mut().poll_frame(cx)) {
                    Some(Ok(frame)) => {
                        // Trailers of the caller's body are not sent (the aws-chunked trailer
                        // is the layer's checksum).
                        let Ok(mut data) = frame.into_data() else {
                            continue;
                        };
                        let n = data.remaining();
                        chunking.seen += n as u64;
                        if chunking.seen > chunking.declared {
                            chunking.inner_done = true;
                            chunking.ready.clear();
                            return Poll::Ready(Some(Err(SigV4Error::BodyLengthMismatch {
                                declared: chunking.declared,
                                actual: chunking.seen,
                            }
                            .into())));
                        }
                        chunking.carry = data.copy_to_bytes(n);
                    }
                    Some(Err(e)) => {
                        chunking.inner_done = true;
                        chunking.ready.clear();
                        return Poll::Ready(Some(Err(e.into())));
                    }
                    None => {
                        chunking.inner_done = true;
                        if let Err(e) = chunking.end() {
                            chunking.ready.clear();
                            return Poll::Ready(Some(Err(e.into())));
                        }
                    }
                }
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full { data } => data.is_none(),
            Kind::Passthrough { body } => body.is_end_stream(),
            Kind::AwsChunked { chunking, .. } => chunking.inner_done && chunking.ready.is_empty(),
            #[cfg(feature = "eventstream")]
            Kind::EventStream { body } => body.is_end_stream(),
            #[cfg(not(feature = "eventstream"))]
            Kind::EventStream { body } => match body.0 {},
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full { data } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
            Kind::Passthrough { body } => body.size_hint(),
            Kind::AwsChunked { chunking, .. } => {
                SizeHint::with_exact(chunking.framed_length.saturating_sub(chunking.emitted))
            }
            #[cfg(feature = "eventstream")]
            Kind::EventStream { body } => body.size_hint(),
            #[cfg(not(feature = "eventstream"))]
            Kind::EventStream { body } => match body.0 {},
        }
    }
}
