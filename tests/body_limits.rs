//! Body limits: what the signing layer does with a body it would have to buffer but may not.
//!
//! API Gateway needs the SHA-256 of the body in the signature, so `SigV4Layer` reads the body to
//! hash it (`PayloadPolicy::BufferAndHash`), up to `max_body_size`. Here the cap is 1 KiB and the
//! stack is `SigV4Layer` → a counting wrapper → hyper-util's `Client` → the testkit's verifying
//! `Endpoint` on loopback. A body over the cap fails with `SigV4Error::BodyTooLarge` and the
//! request never reaches the client: refused before reading when its length is declared, and as
//! soon as the cap is crossed when it is a stream of unknown length.
//!
//! The client's body type is `axum::body::Body`: it holds either buffered bytes or any stream,
//! and it can be made from `Bytes` (which the layer needs to hand the buffered body on).

mod common;

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use hyper::body::{Frame, Incoming};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sigv4::{Credentials, PayloadPolicy, SigV4Body, SigV4Error, SigV4Layer, StaticKeyStore};
use sigv4_testkit::endpoint::{Endpoint, EndpointBuilder};
use tower::{BoxError, Service, ServiceBuilder, ServiceExt};

const CAP: usize = 1024;
const CHUNK: usize = 256;

fn credentials() -> Credentials {
    Credentials::new("AKIDBODYLIMITS000001", "body-limits-test-secret")
}

/// A body streamed in `CHUNK`-byte pieces, of a length it does not tell in advance (as a file
/// upload read piece by piece, or a proxied request). Counts the chunks it was asked for.
struct Chunks {
    left: usize,
    produced: Arc<AtomicUsize>,
}

impl hyper::body::Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if this.left == 0 {
            return Poll::Ready(None);
        }
        let n = this.left.min(CHUNK);
        this.left -= n;
        this.produced.fetch_add(1, Ordering::SeqCst);
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![b'x'; n])))))
    }
    // `size_hint` and `is_end_stream` keep their defaults: length unknown.
}

/// A streamed body of `len` bytes, and the counter of chunks read from it.
fn streamed(len: usize) -> (Body, Arc<AtomicUsize>) {
    let produced = Arc::new(AtomicUsize::new(0));
    let body = Body::new(Chunks {
        left: len,
        produced: produced.clone(),
    });
    (body, produced)
}

/// The endpoint, and a signing client whose inner service counts the requests it is given.
struct Stack {
    api: Endpoint,
    client: Client<HttpConnector, SigV4Body<Body>>,
    calls: Arc<AtomicUsize>,
}

impl Stack {
    async fn start() -> Self {
        Self::with_endpoint(Endpoint::builder()).await
    }

    async fn with_endpoint(builder: EndpointBuilder) -> Self {
        let api = builder
            .key_store(StaticKeyStore::new().with(credentials()))
            .start()
            .await;
        Stack {
            api,
            client: Client::builder(TokioExecutor::new()).build_http(),
            calls: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// `layer` → counting wrapper → hyper client.
    fn signing_client(
        &self,
        layer: SigV4Layer,
    ) -> impl Service<Request<Body>, Response = Response<Incoming>, Error = BoxError> + Clone {
        let (client, calls) = (self.client.clone(), self.calls.clone());
        let counting = tower::service_fn(move |request: Request<SigV4Body<Body>>| {
            calls.fetch_add(1, Ordering::SeqCst);
            client.request(request)
        });
        ServiceBuilder::new().layer(layer).service(counting)
    }

    /// The client used by most tests: buffer and hash, at most `CAP` bytes.
    fn capped_client(
        &self,
    ) -> impl Service<Request<Body>, Response = Response<Incoming>, Error = BoxError> + Clone {
        let layer = SigV4Layer::builder(
            credentials(),
            self.api.region().to_owned(),
            self.api.service().to_owned(),
        )
        .max_body_size(CAP)
        .build();
        self.signing_client(layer)
    }

    fn post(&self, body: Body) -> Request<Body> {
        Request::post(format!("{}/prod/uploads", self.api.url()))
            .body(body)
            .expect("a valid request")
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn endpoint_saw(&self) -> (u64, u64) {
        (self.api.accepted(), self.api.rejected())
    }
}

/// The `SigV4Error` a failed call returned (the layer's errors come boxed).
fn sigv4_error(error: &BoxError) -> &SigV4Error {
    error
        .downcast_ref::<SigV4Error>()
        .unwrap_or_else(|| panic!("expected a SigV4Error, got {error:?}"))
}

#[tokio::test]
async fn bodies_up_to_the_cap_are_hashed_signed_and_accepted() {
    let stack = Stack::start().await;
    let client = stack.capped_client();

    // Exactly at the cap, buffered...
    let response = client
        .clone()
        .oneshot(stack.post(Body::from(vec![b'a'; CAP])))
        .await
        .expect("signed and sent");
    let (status, _, json) = common::read(response).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["body_bytes"], CAP);

    // ...and streamed: the layer reads the stream, hashes it and sends the same bytes on.
    let (body, produced) = streamed(CAP);
    let response = client
        .oneshot(stack.post(body))
        .await
        .expect("signed and sent");
    let (status, _, json) = common::read(response).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["body_bytes"], CAP);
    assert_eq!(produced.load(Ordering::SeqCst), CAP / CHUNK);

    assert_eq!(stack.calls(), 2);
    assert_eq!(stack.endpoint_saw(), (2, 0));
}

#[tokio::test]
async fn a_body_of_known_length_over_the_cap_is_refused_before_it_is_read() {
    let stack = Stack::start().await;
    let client = stack.capped_client();

    // Buffered bytes: their length is known from the body itself.
    let error = client
        .clone()
        .oneshot(stack.post(Body::from(vec![b'a'; CAP + 1])))
        .await
        .expect_err("one byte over the cap");
    match sigv4_error(&error) {
        SigV4Error::BodyTooLarge {
            limit,
            content_length,
        } => assert_eq!((*limit, *content_length), (CAP, Some(CAP as u64 + 1))),
        other => panic!("expected BodyTooLarge, got {other:?}"),
    }

    // A stream whose request declares its length in a Content-Length header: refused on the
    // header alone, without reading a single chunk.
    let (body, produced) = streamed(64 * 1024);
    let mut request = stack.post(body);
    request
        .headers_mut()
        .insert(http::header::CONTENT_LENGTH, (64 * 1024).into());
    let error = client
        .oneshot(request)
        .await
        .expect_err("declared over the cap");
    match sigv4_error(&error) {
        SigV4Error::BodyTooLarge {
            limit,
            content_length,
        } => assert_eq!((*limit, *content_length), (CAP, Some(64 * 1024))),
        other => panic!("expected BodyTooLarge, got {other:?}"),
    }
    assert_eq!(produced.load(Ordering::SeqCst), 0, "nothing was read");
    let message = error.to_string();
    assert!(message.contains("1024-byte limit"), "{message}");
    assert!(message.contains("declares 65536 bytes"), "{message}");

    // Neither request went further than the layer.
    assert_eq!(stack.calls(), 0);
    assert_eq!(stack.endpoint_saw(), (0, 0));
}

#[tokio::test]
async fn a_stream_of_unknown_length_is_refused_as_soon_as_it_crosses_the_cap() {
    let stack = Stack::start().await;
    let client = stack.capped_client();

    // 64 KiB in 256-byte chunks, length not declared anywhere.
    let (body, produced) = streamed(64 * 1024);
    let error = client
        .oneshot(stack.post(body))
        .await
        .expect_err("the stream is longer than the cap");
    match sigv4_error(&error) {
        SigV4Error::BodyTooLarge {
            limit,
            content_length,
        } => assert_eq!((*limit, *content_length), (CAP, None)),
        other => panic!("expected BodyTooLarge, got {other:?}"),
    }
    // Four chunks fill the cap; the fifth crosses it. The other 251 are never read.
    let read = produced.load(Ordering::SeqCst);
    assert!(
        (1..=CAP / CHUNK + 1).contains(&read),
        "read {read} chunks of 256 bytes for a 1 KiB cap"
    );

    assert_eq!(stack.calls(), 0);
    assert_eq!(stack.endpoint_saw(), (0, 0));
}

#[tokio::test]
async fn an_unsigned_payload_is_not_capped_by_the_layer_but_by_the_endpoint() {
    // An endpoint that accepts UNSIGNED-PAYLOAD (as S3 does) and takes at most 1 KiB.
    let stack = Stack::with_endpoint(
        Endpoint::builder()
            .allow_unsigned_payload(true)
            .max_body_size(CAP),
    )
    .await;
    // The client does not read bodies at all: nothing to buffer, so its own cap never applies.
    let layer = SigV4Layer::builder(
        credentials(),
        stack.api.region().to_owned(),
        stack.api.service().to_owned(),
    )
    .payload_policy(PayloadPolicy::Unsigned)
    .max_body_size(CAP)
    .build();
    let client = stack.signing_client(layer);

    let response = client
        .clone()
        .oneshot(stack.post(Body::from(vec![b'a'; CAP])))
        .await
        .expect("sent");
    let (status, _, json) = common::read(response).await;
    assert_eq!(status, StatusCode::OK, "{json}");

    let response = client
        .oneshot(stack.post(Body::from(vec![b'a'; 2 * CAP])))
        .await
        .expect("sent: the layer does not look at the body");
    let status = response.status();
    let code = response
        .headers()
        .get("x-amzn-errortype")
        .map(|v| v.to_str().expect("ASCII").to_owned());
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(code.as_deref(), Some("RequestEntityTooLarge"));

    assert_eq!(stack.calls(), 2);
    assert_eq!(stack.endpoint_saw(), (1, 1));
    assert_eq!(stack.api.rejections()[0].code, "RequestEntityTooLarge");
}
