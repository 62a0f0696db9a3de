//! Signing an event-stream request body (`application/vnd.amazon.eventstream`) as it streams:
//! [`EventStreamBody`] wraps a body of encoded event-stream messages and yields each one signed,
//! chained to the one before, then the empty message that ends the stream. What Transcribe
//! streaming and Bedrock's bidirectional streaming (HTTP/2) take.
//!
//! The request head is signed first, with the payload hash
//! [`STREAMING_AWS4_HMAC_SHA256_EVENTS`](sigv4_core::eventstream::STREAMING_AWS4_HMAC_SHA256_EVENTS);
//! its signature seeds the chain. Each message is signed when the HTTP client pulls it, at the
//! time the injected clock shows then.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::{Duration, UNIX_EPOCH};
//!
//! use bytes::Bytes;
//! use http_body_util::{BodyExt, Full};
//! use tower_sigv4::eventstream::EventStreamBody;
//! use tower_sigv4::sigv4_core::eventstream::{
//!     EventStreamSigner, EventStreamVerifier, HeaderValue, Message,
//!     STREAMING_AWS4_HMAC_SHA256_EVENTS,
//! };
//! use tower_sigv4::sigv4_core::{
//!     ContentSha256Header, Credentials, ManualClock, Payload, Signer, SigningParams,
//!     SigningSettings, TimeSource,
//! };
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), tower_sigv4::BoxError> {
//! let signer = Signer::new();
//! let creds = Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
//! let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
//!
//! // The request head, signed with the event-stream payload hash: its signature is the seed.
//! let mut head = http::Request::post("https://bedrock-runtime.us-east-1.amazonaws.com/model/m/invoke-with-bidirectional-stream")
//!     .header("content-type", "application/vnd.amazon.eventstream")
//!     .body(())?;
//! let mut settings = SigningSettings::default();
//! settings.content_sha256_header = ContentSha256Header::Always;
//! let params = SigningParams::new(&creds, "us-east-1", "bedrock", clock.now())
//!     .with_settings(&settings);
//! let seed = signer.sign_request(&mut head, Payload::Precomputed(STREAMING_AWS4_HMAC_SHA256_EVENTS), &params)?;
//!
//! // The caller's body: encoded messages (here two, in one buffer; any split works).
//! let hello = Message::new(&b"{\"text\":\"hello\"}"[..])
//!     .with_header(":event-type", HeaderValue::String("chunk".into()));
//! let messages = [hello.encode()?, hello.encode()?].concat();
//! let stream = EventStreamSigner::new(&signer, &creds, "us-east-1", "bedrock", seed.as_str())?;
//! let body = EventStreamBody::new(Full::new(Bytes::from(messages)), stream, Arc::new(clock));
//!
//! // What goes on the wire: two signed messages and the end message, which the server checks.
//! let wire = body.collect().await?.to_bytes();
//! let mut verifier = EventStreamVerifier::new(&signer, &creds, "us-east-1", "bedrock", seed.as_str())?;
//! let verified = verifier.verify_all(&wire)?;
//! assert_eq!(verified.len(), 3);
//! assert_eq!(verified[1].inner()?, hello);
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use sigv4_core::eventstream::{EventStreamError, EventStreamSigner, FrameError, FrameReader};
use sigv4_core::{Credentials, SharedTimeSource, Signer};

use crate::BoxError;

/// Why an [`EventStreamBody`] failed. Errors of the wrapped body are not wrapped in this: they
/// pass through unchanged (the same boxed error, its `source()` chain intact).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EventStreamBodyError {
    /// The wrapped body is not a sequence of whole event-stream messages (a bad CRC or length,
    /// or it ended in the middle of a message).
    #[error("the body to sign as an event stream is not a sequence of event-stream messages: {0}")]
    Frame(#[from] FrameError),
    /// A message could not be signed (the clock is out of range, the message too large).
    #[error("could not sign an event-stream message: {0}")]
    Sign(#[from] EventStreamError),
}

#[derive(Debug)]
enum State {
    /// Reading the wrapped body.
    Streaming,
    /// The end message went out; these trailers are next.
    Trailers(HeaderMap),
    /// Nothing more (after the end message and trailers, or after an error).
    Done,
}

pin_project! {
    /// A body that signs the event-stream messages of the body it wraps, each chained to the one
    /// before, and ends with the signed empty message. See the [module docs](self) for an example.
    ///
    /// - The wrapped body yields encoded messages ([`Message::encode`](
    ///   sigv4_core::eventstream::Message::encode)), split across its data frames in any way;
    ///   each whole message becomes one signed data frame.
    /// - Backpressure is kept: the wrapped body is polled only when this body is, and only
    ///   while no whole message is waiting. It holds at most one message plus one data frame.
    /// - Each message is signed at the time the clock shows when it is pulled.
    /// - Errors of the wrapped body pass through unchanged; malformed messages and signing
    ///   failures are an [`EventStreamBodyError`] in the box. After an error the body ends.
    /// - Trailers of the wrapped body follow the end message.
    pub struct EventStreamBody<B> {
        #[pin]
        inner: B,
        signer: EventStreamSigner,
        clock: SharedTimeSource,
        reader: FrameReader,
        state: State,
    }
}

impl<B> EventStreamBody<B> {
    /// Wraps `inner`, signing its messages with `signer` (built from the request's credentials,
    /// region, service and signature) at the times `clock` shows.
    pub fn new(inner: B, signer: EventStreamSigner, clock: SharedTimeSource) -> Self {
        Self {
            inner,
            signer,
            clock,
            reader: FrameReader::new(),
            state: State::Streaming,
        }
    }

    /// Wraps `inner` for the stream opened by a request signed with `credentials` for `region`
    /// and `service`, whose signature is `seed`; `signer` is the one that signed the request
    /// (its key cache is shared).
    pub fn from_seed(
        inner: B,
        signer: &Signer,
        credentials: &Credentials,
        region: &str,
        service: &str,
        seed: &str,
        clock: SharedTimeSource,
    ) -> Result<Self, EventStreamError> {
        let stream = EventStreamSigner::new(signer, credentials, region, service, seed)?;
        Ok(Self::new(inner, stream, clock))
    }

    /// The chain state: the signature the next message will chain to.
    pub fn signer(&self) -> &EventStreamSigner {
        &self.signer
    }

    /// The wrapped body.
    pub fn get_ref(&self) -> &B {
        &self.inner
    }
}

impl<B: fmt::Debug> fmt::Debug for EventStreamBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventStreamBody")
            .field("inner", &self.inner)
            .field("signer", &self.signer)
            .field("buffered", &self.reader.buffered())
            .field("state", &self.state)
            .finish()
    }
}

impl<B> Body for EventStreamBody<B>
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
        let mut this = self.project();
        loop {
            match std::mem::replace(this.state, State::Done) {
                State::Done => return Poll::Ready(None),
                State::Trailers(trailers) => {
                    return Poll::Ready(Some(Ok(Frame::trailers(trailers))))
                }
                State::Streaming => {}
            }
            // A whole message already buffered goes out before the wrapped body is polled again.
            match this.reader.next_frame() {
                Ok(Some(message)) => {
                    let time = this.clock.now();
                    return Poll::Ready(Some(match this.signer.sign(&message, time) {
                        Ok(signed) => {
                            *this.state = State::Streaming;
                            Ok(Frame::data(signed.into_bytes()))
                        }
                        Err(e) => Err(EventStreamBodyError::Sign(e).into()),
                    }));
                }
                Ok(None) => {}
                Err(e) => return Poll::Ready(Some(Err(EventStreamBodyError::Frame(e).into()))),
            }
            let polled = match this.inner.as_mut().poll_frame(cx) {
                Poll::Pending => {
                    *this.state = State::Streaming;
                    return Poll::Pending;
                }
                Poll::Ready(polled) => polled,
            };
            let trailers = match polled {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(mut data) => {
                        this.reader.push_buf(&mut data);
                        *this.state = State::Streaming;
                        continue;
                    }
                    Err(frame) => frame.into_trailers().ok(),
                },
                Some(Err(e)) => return Poll::Ready(Some(Err(e.into()))),
                None => None,
            };
            // The wrapped body is done: no partial message may be left, then the end message.
            if let Err(e) = this.reader.finish() {
                return Poll::Ready(Some(Err(EventStreamBodyError::Frame(e).into())));
            }
            let time = this.clock.now();
            return Poll::Ready(Some(match this.signer.sign_end(time) {
                Ok(signed) => {
                    if let Some(trailers) = trailers {
                        *this.state = State::Trailers(trailers);
                    }
                    Ok(Frame::data(signed.into_bytes()))
                }
                Err(e) => Err(EventStreamBodyError::Sign(e).into()),
            }));
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.state, State::Done)
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

#[cfg(test)]
mod tests;
