//! A bidirectional event stream over HTTP/2 (h2c, loopback), as Bedrock's
//! `InvokeModelWithBidirectionalStream` and Transcribe streaming run it: the client signs the
//! request head with the payload hash `STREAMING-AWS4-HMAC-SHA256-EVENTS`, then sends messages
//! one at a time through `EventStreamBody`, which signs each one chained to the one before. The
//! server verifies the head with the core's verifier and each message with
//! `EventStreamVerifier`, and answers each message before the client sends the next, on the same
//! HTTP/2 stream.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::sync::mpsc;
use tower_sigv4::eventstream::EventStreamBody;
use tower_sigv4::sigv4_core::eventstream::{
    EventStreamVerifier, FrameReader, HeaderValue, Message, CONTENT_TYPE,
    STREAMING_AWS4_HMAC_SHA256_EVENTS,
};
use tower_sigv4::sigv4_core::verify::{SignedRequest, VerifyParams, VerifySettings};
use tower_sigv4::sigv4_core::{
    ContentSha256Header, Credentials, ManualClock, Payload, RequestHead, Signer, SigningParams,
    SigningSettings, TimeSource,
};
use tower_sigv4::BoxError;

// CRC-32 (IEEE), bit by bit: the reference shared with the fuzz target, so the test does not
// lean on the code under test.
#[path = "../../../tests/support/crc32.rs"]
mod crc32_reference;
use crc32_reference::crc32;

/// A body fed from a channel, one data frame per item: the test decides when each message
/// leaves.
struct ChannelBody(mpsc::Receiver<Bytes>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|item| item.map(|b| Ok(Frame::data(b))))
    }
}

fn reply(kind: &str, text: String) -> Bytes {
    Message::new(text.into_bytes())
        .with_header(":message-type", HeaderValue::String("event".into()))
        .with_header(":event-type", HeaderValue::String(kind.into()))
        .encode()
        .unwrap()
        .into()
}

/// The server's side of one stream: verify the head, then each message in turn, answering each
/// before reading the next.
async fn handle(
    request: Request<Incoming>,
    creds: Credentials,
    clock: ManualClock,
) -> Result<Response<ChannelBody>, Infallible> {
    let signer = Signer::new();
    let (tx, rx) = mpsc::channel(1);
    let head = SignedRequest::parse(request.uri(), request.headers()).and_then(|claimed| {
        signer
            .verify(
                RequestHead::from(&request),
                &claimed,
                Payload::Precomputed(STREAMING_AWS4_HMAC_SHA256_EVENTS),
                &VerifyParams::new(&creds, clock.now(), &VerifySettings::default()),
            )
            .map(|_| claimed)
    });
    let claimed = match head {
        Ok(claimed) => claimed,
        Err(e) => {
            let mut response = Response::new(ChannelBody(rx));
            *response.status_mut() = StatusCode::FORBIDDEN;
            let _ = tx.try_send(reply("head-refused", e.to_string()));
            return Ok(response);
        }
    };
    let mut verifier = EventStreamVerifier::new(
        &signer,
        &creds,
        claimed.region(),
        claimed.service(),
        claimed.signature(),
    )
    .unwrap();
    tokio::spawn(async move {
        let mut body = request.into_body();
        let mut reader = FrameReader::new();
        loop {
            while let Some(frame) = reader.next_frame().unwrap() {
                verifier.check_dates(clock.now(), Duration::from_secs(300));
                let answer = match verifier.verify(frame) {
                    Ok(v) if v.is_end() => {
                        reply("end", format!("{} {}", v.index(), v.date().as_str()))
                    }
                    Ok(v) => {
                        let inner = v.inner().unwrap();
                        let text = String::from_utf8_lossy(&inner.payload).into_owned();
                        reply("ack", format!("{} {} {text}", v.index(), v.date().as_str()))
                    }
                    Err(e) => reply("refused", e.to_string()),
                };
                let last = !matches!(verifier_state(&answer), "ack");
                if tx.send(answer).await.is_err() || last {
                    return;
                }
            }
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        reader.push(&data);
                    }
                }
                Some(Err(_)) => return,
                None => {
                    let _ = tx.send(reply("refused", "no end message".into())).await;
                    return;
                }
            }
        }
    });
    Ok(Response::new(ChannelBody(rx)))
}

fn verifier_state(answer: &Bytes) -> &'static str {
    match Message::decode(answer).unwrap().header(":event-type") {
        Some(HeaderValue::String(kind)) if kind == "ack" => "ack",
        _ => "other",
    }
}

async fn start_server(creds: Credentials, clock: ManualClock) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (creds, clock) = (creds.clone(), clock.clone());
            let service = hyper::service::service_fn(move |request| {
                handle(request, creds.clone(), clock.clone())
            });
            tokio::spawn(
                hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    });
    addr
}

struct Client {
    responses: Incoming,
    reader: FrameReader,
}

impl Client {
    /// The next whole message from the server: (event type, text).
    async fn next(&mut self) -> Option<(String, String)> {
        loop {
            if let Some(frame) = self.reader.next_frame().unwrap() {
                let message = Message::decode(&frame).unwrap();
                let kind = match message.header(":event-type") {
                    Some(HeaderValue::String(kind)) => kind.clone(),
                    other => panic!("no event type: {other:?}"),
                };
                return Some((kind, String::from_utf8(message.payload.to_vec()).unwrap()));
            }
            let frame = self.responses.frame().await?.unwrap();
            if let Ok(data) = frame.into_data() {
                self.reader.push(&data);
            }
        }
    }
}

/// Opens an h2c connection, signs the head, and starts the request with `wrap(EventStreamBody)`
/// as its body; returns the sender for the messages and the response side.
async fn open<B>(
    addr: SocketAddr,
    creds: &Credentials,
    clock: &ManualClock,
    seed_override: Option<&str>,
    wrap: impl FnOnce(EventStreamBody<ChannelBody>) -> B,
) -> (mpsc::Sender<Bytes>, StatusCode, Client)
where
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut send, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);

    let signer = Signer::new();
    let mut head = Request::post(format!(
        "http://{addr}/model/test-model/invoke-with-bidirectional-stream"
    ))
    .header("content-type", CONTENT_TYPE)
    .body(())
    .unwrap();
    let mut settings = SigningSettings::default();
    settings.content_sha256_header = ContentSha256Header::Always;
    let params =
        SigningParams::new(creds, "us-east-1", "bedrock", clock.now()).with_settings(&settings);
    let seed = signer
        .sign_request(
            &mut head,
            Payload::Precomputed(STREAMING_AWS4_HMAC_SHA256_EVENTS),
            &params,
        )
        .unwrap();
    assert_eq!(
        head.headers()["x-amz-content-sha256"],
        STREAMING_AWS4_HMAC_SHA256_EVENTS
    );

    let (tx, rx) = mpsc::channel(1);
    let body = EventStreamBody::from_seed(
        ChannelBody(rx),
        &signer,
        creds,
        "us-east-1",
        "bedrock",
        seed_override.unwrap_or(seed.as_str()),
        Arc::new(clock.clone()),
    )
    .unwrap();
    let (parts, ()) = head.into_parts();
    let response = send
        .send_request(Request::from_parts(parts, wrap(body)))
        .await
        .unwrap();
    let status = response.status();
    (
        tx,
        status,
        Client {
            responses: response.into_body(),
            reader: FrameReader::new(),
        },
    )
}

fn setup() -> (Credentials, ManualClock) {
    let creds = Credentials::builder("AKIDEVENTSTREAM00001", "event-stream-secret")
        .session_token("event-stream-session-token")
        .build();
    // 23:59:57 UTC: the stream crosses midnight, so the signing key changes mid-stream.
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_767_225_597));
    (creds, clock)
}

fn amz(secs: u64) -> String {
    tower_sigv4::sigv4_core::AmzDate::from_unix_seconds(secs)
        .as_str()
        .to_owned()
}

#[tokio::test]
async fn each_message_is_answered_before_the_next_is_sent() {
    let (creds, clock) = setup();
    let addr = start_server(creds.clone(), clock.clone()).await;
    let (tx, status, mut client) = open(addr, &creds, &clock, None, |b| b).await;
    assert_eq!(status, StatusCode::OK);

    converse(tx, &mut client, &clock, 6).await;
    assert!(client.next().await.is_none());
}

/// Sends `n` messages one second apart, each answered (acknowledged with its signing time)
/// before the next is sent, then closes the stream and expects the signed end message.
async fn converse(tx: mpsc::Sender<Bytes>, client: &mut Client, clock: &ManualClock, n: u64) {
    let start = 1_767_225_597;
    for i in 0..n {
        let message = Message::new(format!("utterance {i}").into_bytes())
            .with_header(":event-type", HeaderValue::String("chunk".into()));
        tx.send(message.encode().unwrap().into()).await.unwrap();
        // The server's answer to message i arrives while the request body is still open.
        let (kind, text) = client.next().await.unwrap();
        assert_eq!(kind, "ack", "{text}");
        assert_eq!(text, format!("{i} {} utterance {i}", amz(start + i)));
        clock.advance(Duration::from_secs(1));
    }
    // Closing the client's side sends the signed end message.
    drop(tx);
    let (kind, text) = client.next().await.unwrap();
    assert_eq!(
        (kind.as_str(), text),
        ("end", format!("{n} {}", amz(start + n)))
    );
}

/// Flips one byte of the `n`-th data frame's payload area and recomputes its CRCs, so only the
/// signature chain can tell.
struct Tamper<B> {
    inner: B,
    n: usize,
    seen: usize,
}

impl<B> Body for Tamper<B>
where
    B: Body<Data = Bytes, Error = BoxError> + Unpin,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        let Poll::Ready(Some(Ok(frame))) = polled else {
            return polled;
        };
        let Ok(data) = frame.into_data() else {
            return Poll::Ready(None);
        };
        self.seen += 1;
        if self.seen != self.n {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        let mut bytes = data.to_vec();
        let n = bytes.len();
        bytes[n - 6] ^= 0x20;
        let crc = crc32(&bytes[..n - 4]);
        bytes[n - 4..].copy_from_slice(&crc.to_be_bytes());
        Poll::Ready(Some(Ok(Frame::data(bytes.into()))))
    }
}

#[test]
fn the_crc_reference_gives_the_standard_check_value() {
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
}

#[tokio::test]
async fn a_changed_message_is_refused_and_named() {
    let (creds, clock) = setup();
    let addr = start_server(creds.clone(), clock.clone()).await;
    let (tx, _, mut client) = open(addr, &creds, &clock, None, |body| Tamper {
        inner: body,
        n: 3,
        seen: 0,
    })
    .await;
    for i in 0..3 {
        tx.send(
            Message::new(format!("m{i}").into_bytes())
                .encode()
                .unwrap()
                .into(),
        )
        .await
        .unwrap();
        let (kind, text) = client.next().await.unwrap();
        if i < 2 {
            assert_eq!(kind, "ack", "{text}");
        } else {
            assert_eq!(kind, "refused");
            assert!(
                text.starts_with("event-stream message 2: the signature does not match"),
                "{text}"
            );
        }
    }
    assert!(client.next().await.is_none());
}

#[tokio::test]
async fn a_chain_from_another_seed_is_refused_at_the_first_message() {
    let (creds, clock) = setup();
    let addr = start_server(creds.clone(), clock.clone()).await;
    let other_seed = "0".repeat(64);
    let (tx, status, mut client) = open(addr, &creds, &clock, Some(&other_seed), |b| b).await;
    assert_eq!(status, StatusCode::OK); // the head itself is fine
    tx.send(Message::new(&b"hi"[..]).encode().unwrap().into())
        .await
        .unwrap();
    let (kind, text) = client.next().await.unwrap();
    assert_eq!(kind, "refused");
    assert!(text.starts_with("event-stream message 0:"), "{text}");
}

#[tokio::test]
async fn through_the_layer_with_the_event_stream_policy() {
    use tower::{Layer, Service, ServiceExt};
    use tower_sigv4::{PayloadPolicy, SigV4Body, SigV4Layer};

    let (creds, clock) = setup();
    let addr = start_server(creds.clone(), clock.clone()).await;
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (send, connection) = hyper::client::conn::http2::handshake::<_, _, SigV4Body<ChannelBody>>(
        TokioExecutor::new(),
        TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    let h2 = tower::service_fn(move |request: Request<SigV4Body<ChannelBody>>| {
        let mut send = send.clone();
        async move { send.send_request(request).await }
    });
    // The layer signs the head (its signature is the seed) and each message as it is sent.
    let mut service = SigV4Layer::builder(creds.clone(), "us-east-1", "bedrock")
        .payload_policy(PayloadPolicy::EventStream)
        .time_source(Arc::new(clock.clone()))
        .build()
        .layer(h2);

    let (tx, rx) = mpsc::channel(1);
    let request = Request::post(format!(
        "http://{addr}/model/test-model/invoke-with-bidirectional-stream"
    ))
    .header("content-type", CONTENT_TYPE)
    .body(ChannelBody(rx))
    .unwrap();
    let response = service.ready().await.unwrap().call(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut client = Client {
        responses: response.into_body(),
        reader: FrameReader::new(),
    };
    converse(tx, &mut client, &clock, 4).await;
}
