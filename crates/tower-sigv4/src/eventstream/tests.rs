//! `EventStreamBody`: what it yields is checked with the core's verifier (itself checked against
//! aws-sigv4); splitting, backpressure, errors passed through, trailers.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use sigv4_core::eventstream::{
    EventStreamVerifier, FrameError, HeaderValue, Message, VerifiedMessage,
};
use sigv4_core::{Credentials, ManualClock, Signer};

use super::{EventStreamBody, EventStreamBodyError};
use crate::BoxError;

/// A body that yields prepared frames and counts how often it is polled.
struct Scripted {
    frames: VecDeque<Result<Frame<Bytes>, BoxError>>,
    polls: Arc<AtomicUsize>,
}

impl Body for Scripted {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.polls.fetch_add(1, Ordering::SeqCst);
        Poll::Ready(self.frames.pop_front())
    }
}

fn scripted(frames: Vec<Result<Frame<Bytes>, BoxError>>) -> (Scripted, Arc<AtomicUsize>) {
    let polls = Arc::new(AtomicUsize::new(0));
    (
        Scripted {
            frames: frames.into(),
            polls: polls.clone(),
        },
        polls,
    )
}

const SEED: &str = "9b2f8bc5b1a0d2a6aa1f7d0f5e8f07b5a53e2d6b1b9b4cfcf0f6b8dd6b8cb0b1";

struct Fixture {
    signer: Signer,
    creds: Credentials,
    clock: ManualClock,
}

impl Fixture {
    fn new() -> Self {
        Self {
            signer: Signer::new(),
            creds: Credentials::new("AKIDEXAMPLE", "eventstream-secret"),
            clock: ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_750_000_000)),
        }
    }

    fn wrap<B>(&self, inner: B) -> EventStreamBody<B> {
        EventStreamBody::from_seed(
            inner,
            &self.signer,
            &self.creds,
            "us-east-1",
            "bedrock",
            SEED,
            Arc::new(self.clock.clone()),
        )
        .unwrap()
    }

    fn verifier(&self) -> EventStreamVerifier {
        EventStreamVerifier::new(&self.signer, &self.creds, "us-east-1", "bedrock", SEED).unwrap()
    }
}

fn message(i: usize) -> Message {
    Message::new(vec![i as u8; 10 + i * 37])
        .with_header(":event-type", HeaderValue::String(format!("event-{i}")))
}

fn data(bytes: &[u8]) -> Result<Frame<Bytes>, BoxError> {
    Ok(Frame::data(Bytes::copy_from_slice(bytes)))
}

#[tokio::test]
async fn messages_split_anyhow_come_out_one_signed_frame_each() {
    let fx = Fixture::new();
    let messages: Vec<Message> = (0..12).map(message).collect();
    let stream: Vec<u8> = messages.iter().flat_map(|m| m.encode().unwrap()).collect();
    let mut rng = fastrand_like(7);
    for _ in 0..20 {
        // Cut the stream at random points: a frame may hold parts of messages or several.
        let mut frames = Vec::new();
        let mut at = 0;
        while at < stream.len() {
            let n = (rng() % 300 + 1).min(stream.len() - at);
            frames.push(data(&stream[at..at + n]));
            at += n;
        }
        let (inner, _) = scripted(frames);
        let mut body = fx.wrap(inner);
        let mut verifier = fx.verifier();
        let mut verified: Vec<VerifiedMessage> = Vec::new();
        while let Some(frame) = body.frame().await {
            let bytes = frame.unwrap().into_data().unwrap();
            verified.push(verifier.verify(bytes).unwrap());
            fx.clock.advance(Duration::from_secs(1));
        }
        assert!(body.is_end_stream());
        assert!(verifier.is_ended());
        assert_eq!(verified.len(), messages.len() + 1);
        for (i, m) in messages.iter().enumerate() {
            assert_eq!(&verified[i].inner().unwrap(), m);
        }
        // Each message is signed at the time it is pulled.
        assert_eq!(
            verified[1].date().unix_seconds(),
            verified[0].date().unix_seconds() + 1
        );
    }
}

/// A small deterministic generator (no dependency for one test).
fn fastrand_like(seed: u64) -> impl FnMut() -> usize {
    let mut state = seed;
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state as usize
    }
}

#[tokio::test]
async fn the_inner_body_is_polled_only_when_needed() {
    let fx = Fixture::new();
    let all: Vec<u8> = (0..3).flat_map(|i| message(i).encode().unwrap()).collect();
    // Three messages in one data frame: one poll of the inner body serves three frames.
    let (inner, polls) = scripted(vec![data(&all)]);
    let mut body = fx.wrap(inner);
    for _ in 0..3 {
        body.frame().await.unwrap().unwrap();
        assert_eq!(polls.load(Ordering::SeqCst), 1);
    }
    // The end message needs the inner body's end.
    body.frame().await.unwrap().unwrap();
    assert_eq!(polls.load(Ordering::SeqCst), 2);
    assert!(body.frame().await.is_none());
    assert_eq!(polls.load(Ordering::SeqCst), 2);

    // One message per data frame: one poll per message, none ahead.
    let frames = (0..3)
        .map(|i| data(&message(i).encode().unwrap()))
        .collect();
    let (inner, polls) = scripted(frames);
    let mut body = fx.wrap(inner);
    for n in 1..=3 {
        body.frame().await.unwrap().unwrap();
        assert_eq!(polls.load(Ordering::SeqCst), n);
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the microphone was unplugged")]
struct Unplugged;

#[tokio::test]
async fn inner_errors_pass_through_unchanged() {
    let fx = Fixture::new();
    let (inner, _) = scripted(vec![
        data(&message(0).encode().unwrap()),
        Err(Box::new(Unplugged)),
        data(&message(1).encode().unwrap()),
    ]);
    let mut body = fx.wrap(inner);
    body.frame().await.unwrap().unwrap();
    let err = body.frame().await.unwrap().unwrap_err();
    assert!(err.downcast_ref::<Unplugged>().is_some(), "{err:?}");
    // The body ends after an error: no end message is signed for a broken stream.
    assert!(body.frame().await.is_none());
}

#[tokio::test]
async fn malformed_inner_messages_are_typed_errors() {
    let fx = Fixture::new();
    let mut corrupt = message(0).encode().unwrap();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 1;
    let (inner, _) = scripted(vec![data(&corrupt)]);
    let err = fx.wrap(inner).frame().await.unwrap().unwrap_err();
    assert!(matches!(
        err.downcast_ref::<EventStreamBodyError>(),
        Some(EventStreamBodyError::Frame(FrameError::MessageCrc { .. }))
    ));

    // The inner body ends in the middle of a message.
    let whole = message(1).encode().unwrap();
    let (inner, _) = scripted(vec![data(&whole[..whole.len() - 3])]);
    let err = fx.wrap(inner).frame().await.unwrap().unwrap_err();
    match err.downcast_ref::<EventStreamBodyError>() {
        Some(EventStreamBodyError::Frame(FrameError::Truncated { needed, available })) => {
            assert_eq!((*needed, *available), (whole.len(), whole.len() - 3));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn trailers_follow_the_end_message() {
    let fx = Fixture::new();
    let mut trailers = HeaderMap::new();
    trailers.insert("x-trailer", "done".parse().unwrap());
    let (inner, _) = scripted(vec![
        data(&message(0).encode().unwrap()),
        Ok(Frame::trailers(trailers.clone())),
    ]);
    let mut body = fx.wrap(inner);
    let mut verifier = fx.verifier();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    verifier.verify(first).unwrap();
    let end = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert!(verifier.verify(end).unwrap().is_end());
    let got = body
        .frame()
        .await
        .unwrap()
        .unwrap()
        .into_trailers()
        .unwrap();
    assert_eq!(got, trailers);
    assert!(body.frame().await.is_none());
    assert!(body.is_end_stream());
}
