//! `PayloadPolicy::AwsChunked` through the signing layer: the framed body decodes (with the
//! core's verifying decoder) to the original, the inner service pulls chunk by chunk (the layer
//! reads no further ahead than one chunk), errors of the caller's body come through with their
//! cause, a body of unknown or wrong length is a typed error; and the opt-in flexible checksum of
//! a buffered body.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Full};
use sigv4_core::checksum::{checksum, ChecksumAlgorithm};
use sigv4_core::chunked::{ChunkedPayload, DEFAULT_CHUNK_SIZE};
use sigv4_core::verify::SignedRequest;
use sigv4_core::{Credentials, ManualClock, Signer, SigningSettings};
use tower::{service_fn, ServiceBuilder, ServiceExt};
use tower_sigv4::{BoxError, PayloadPolicy, SigV4Body, SigV4Error, SigV4Layer};

fn creds() -> Credentials {
    Credentials::new("AKIDCHUNKED", "chunked-secret")
}

fn layer(policy: PayloadPolicy) -> SigV4Layer {
    SigV4Layer::builder(creds(), "eu-west-1", "s3")
        .settings(SigningSettings::s3())
        .payload_policy(policy)
        .time_source(Arc::new(ManualClock::new(
            UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        )))
        .build()
}

/// A body handing out `total` bytes in frames of `frame` bytes, counting what it gave, with an
/// exact size hint unless `hint` is false; fails with `fail_at` bytes given, if set.
struct Source {
    total: usize,
    frame: usize,
    given: Arc<AtomicUsize>,
    hint: bool,
    fail_at: Option<usize>,
}

#[derive(Debug, thiserror::Error)]
#[error("the disk went away")]
struct DiskError;

impl Source {
    fn new(total: usize, frame: usize) -> Self {
        Self {
            total,
            frame,
            given: Arc::new(AtomicUsize::new(0)),
            hint: true,
            fail_at: None,
        }
    }

    fn byte(i: usize) -> u8 {
        (i * 31 % 251) as u8
    }

    fn expected(total: usize) -> Vec<u8> {
        (0..total).map(Self::byte).collect()
    }
}

impl Body for Source {
    type Data = Bytes;
    type Error = DiskError;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, DiskError>>> {
        let this = self.get_mut();
        let given = this.given.load(Ordering::SeqCst);
        if this.fail_at.is_some_and(|at| given >= at) {
            return Poll::Ready(Some(Err(DiskError)));
        }
        if given >= this.total {
            return Poll::Ready(None);
        }
        let n = this.frame.min(this.total - given);
        let data: Vec<u8> = (given..given + n).map(Self::byte).collect();
        this.given.store(given + n, Ordering::SeqCst);
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(data)))))
    }

    fn size_hint(&self) -> SizeHint {
        if self.hint {
            SizeHint::with_exact((self.total - self.given.load(Ordering::SeqCst)) as u64)
        } else {
            SizeHint::default()
        }
    }
}

/// What the inner service saw: the head and the whole framed body.
type Seen = Arc<Mutex<Option<(http::request::Parts, Result<Bytes, BoxError>)>>>;

/// An inner service that reads the whole body and keeps it, with the head, in `seen`.
fn recorder(
    seen: &Seen,
) -> impl tower::Service<
    Request<SigV4Body<Source>>,
    Response = Response<()>,
    Error = Infallible,
    Future: Send,
> + Clone {
    let recorded = Arc::clone(seen);
    service_fn(move |request: Request<SigV4Body<Source>>| {
        let recorded = Arc::clone(&recorded);
        async move {
            let (parts, body) = request.into_parts();
            let collected = body.collect().await.map(|c| c.to_bytes());
            *recorded.lock().unwrap() = Some((parts, collected));
            Ok::<_, Infallible>(Response::new(()))
        }
    })
}

async fn send(policy: PayloadPolicy, body: Source) -> (Seen, Result<Response<()>, BoxError>) {
    let seen: Seen = Arc::default();
    let service = ServiceBuilder::new()
        .layer(layer(policy))
        .service(recorder(&seen));
    let request = Request::put("https://bucket.s3.eu-west-1.amazonaws.com/big.bin")
        .body(body)
        .unwrap();
    let result = service.oneshot(request).await;
    (seen, result)
}

/// Decodes and verifies what the inner service received, as S3 would.
fn decode(parts: &http::request::Parts, framed: &[u8]) -> Result<Vec<u8>, BoxError> {
    let claimed = SignedRequest::parse(&parts.uri, &parts.headers)?;
    let mode = ChunkedPayload::from_headers(&parts.headers)?.ok_or("not aws-chunked")?;
    let declared: u64 = parts.headers["x-amz-decoded-content-length"]
        .to_str()?
        .parse()?;
    let mut decoder = Signer::new().chunk_decoder(&claimed, &creds(), mode, declared);
    let mut out = Vec::new();
    for slice in framed.chunks(5000) {
        decoder.feed(slice);
        while let Some(data) = decoder.next_data()? {
            out.extend_from_slice(&data);
        }
    }
    decoder.finish()?;
    Ok(out)
}

#[tokio::test]
async fn every_form_decodes_to_the_original() {
    for payload in [
        ChunkedPayload::Signed,
        ChunkedPayload::SignedWithTrailer(ChecksumAlgorithm::Crc32c),
        ChunkedPayload::SignedWithTrailer(ChecksumAlgorithm::Sha256),
        ChunkedPayload::UnsignedWithTrailer(ChecksumAlgorithm::Crc32),
    ] {
        // Frames of every size relative to the chunk: smaller, larger, not a divisor.
        for (total, frame) in [
            (0, 1),
            (1, 1),
            (300_000, 7_000),
            (300_000, 100_000),
            (65_536, 65_536),
        ] {
            let policy = PayloadPolicy::aws_chunked(payload);
            let (seen, result) = send(policy, Source::new(total, frame)).await;
            result.unwrap();
            let (parts, body) = seen.lock().unwrap().take().unwrap();
            let body = body.unwrap();
            let headers = &parts.headers;
            assert_eq!(headers["content-encoding"], "aws-chunked");
            assert_eq!(headers["content-length"], body.len().to_string().as_str());
            assert_eq!(headers["x-amz-content-sha256"], payload.payload_hash());
            let authorization = headers["authorization"].to_str().unwrap();
            assert!(
                authorization.contains("content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length"),
                "{authorization}"
            );
            let decoded = match payload {
                ChunkedPayload::UnsignedWithTrailer(a) => {
                    let mut decoder =
                        sigv4_core::chunked::ChunkedDecoder::unsigned(a, total as u64);
                    decoder.feed(&body);
                    let mut out = Vec::new();
                    while let Some(d) = decoder.next_data().unwrap() {
                        out.extend_from_slice(&d);
                    }
                    decoder.finish().unwrap();
                    out
                }
                _ => decode(&parts, &body).unwrap(),
            };
            assert!(
                decoded == Source::expected(total),
                "{payload:?} {total}/{frame}"
            );
        }
    }
}

#[tokio::test]
async fn the_layer_reads_no_further_than_one_chunk_ahead() {
    let source = Source::new(10 * DEFAULT_CHUNK_SIZE, 4096);
    let given = Arc::clone(&source.given);
    let service = ServiceBuilder::new()
        .layer(layer(PayloadPolicy::aws_chunked(ChunkedPayload::Signed)))
        .service(service_fn(move |request: Request<SigV4Body<Source>>| {
            let given = Arc::clone(&given);
            async move {
                let mut body = request.into_body();
                // Pull frame by frame: the header of chunk n comes once chunk n is read, and
                // not a byte of chunk n + 1 before its header is asked for.
                let mut pulled = 0usize;
                while let Some(frame) = body.frame().await {
                    let frame = frame.unwrap();
                    if let Some(data) = frame.data_ref() {
                        pulled += data.len();
                    }
                    let read = given.load(Ordering::SeqCst);
                    assert!(
                        read <= pulled + DEFAULT_CHUNK_SIZE,
                        "read {read} bytes of the source with {pulled} framed bytes pulled"
                    );
                }
                Ok::<_, Infallible>(Response::new(()))
            }
        }));
    let request = Request::put("https://bucket.s3.amazonaws.com/k")
        .body(source)
        .unwrap();
    service.oneshot(request).await.unwrap();
}

#[tokio::test]
async fn errors_of_the_callers_body_come_through_with_their_cause() {
    let mut source = Source::new(200_000, 10_000);
    source.fail_at = Some(100_000);
    let (seen, result) = send(PayloadPolicy::aws_chunked(ChunkedPayload::Signed), source).await;
    result.unwrap();
    let (_, body) = seen.lock().unwrap().take().unwrap();
    let error = body.unwrap_err();
    assert!(error.is::<DiskError>(), "{error}");
}

#[tokio::test]
async fn a_body_of_unknown_or_wrong_length_is_a_typed_error() {
    let mut source = Source::new(1000, 100);
    source.hint = false;
    let (seen, result) = send(PayloadPolicy::aws_chunked(ChunkedPayload::Signed), source).await;
    let error = result.unwrap_err();
    assert!(
        matches!(
            SigV4Error::find(&*error),
            Some(SigV4Error::UnknownBodyLength)
        ),
        "{error}"
    );
    assert!(
        seen.lock().unwrap().is_none(),
        "the inner service was not called"
    );

    // A Content-Length that says more than the body holds: the body fails at its end.
    let source = Source::new(1000, 100);
    let seen: Seen = Arc::default();
    let service = ServiceBuilder::new()
        .layer(layer(PayloadPolicy::aws_chunked(ChunkedPayload::Signed)))
        .service(recorder(&seen));
    let request = Request::put("https://bucket.s3.amazonaws.com/k")
        .header("content-length", "1500")
        .body(source)
        .unwrap();
    service.oneshot(request).await.unwrap();
    let (parts, body) = seen.lock().unwrap().take().unwrap();
    assert_eq!(parts.headers["x-amz-decoded-content-length"], "1500");
    let error = body.unwrap_err();
    assert!(
        matches!(
            error.downcast_ref::<SigV4Error>(),
            Some(SigV4Error::BodyLengthMismatch {
                declared: 1500,
                actual: 1000
            })
        ),
        "{error}"
    );
}

#[tokio::test]
async fn a_buffered_body_gets_its_flexible_checksum_on_request() {
    for algorithm in [
        ChecksumAlgorithm::Crc32,
        ChecksumAlgorithm::Crc32c,
        ChecksumAlgorithm::Sha256,
    ] {
        let layer = SigV4Layer::builder(creds(), "eu-west-1", "s3")
            .checksum(algorithm)
            .build();
        let service = ServiceBuilder::new().layer(layer).service(service_fn(
            |request: Request<SigV4Body<Full<Bytes>>>| async move {
                Ok::<_, Infallible>(Response::new(request.headers().clone()))
            },
        ));
        let request = Request::put("https://bucket.s3.amazonaws.com/k")
            .body(Full::new(Bytes::from_static(b"hello checksum")))
            .unwrap();
        let headers = service.oneshot(request).await.unwrap().into_body();
        let name = algorithm.header_name();
        assert_eq!(
            headers[name].to_str().unwrap(),
            checksum(algorithm, b"hello checksum")
        );
        assert!(
            headers["authorization"].to_str().unwrap().contains(name),
            "the checksum header is signed"
        );
    }
}

// ===== with VerifyLayer on the other side =====

/// The layer under test's framed request for `total` bytes (captured, not sent).
async fn framed_request(payload: ChunkedPayload, total: usize) -> (http::request::Parts, Bytes) {
    let (seen, result) = send(
        PayloadPolicy::aws_chunked(payload),
        Source::new(total, 10_000),
    )
    .await;
    result.unwrap();
    let (parts, body) = seen.lock().unwrap().take().unwrap();
    (parts, body.unwrap())
}

/// A handler behind `VerifyLayer` that reads the whole body: 200 and the data's length and
/// CRC-32C, or 400 and the body error's text.
fn verifying_handler<B>() -> impl tower::Service<
    Request<B>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future: Send,
> + Clone
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let store = tower_sigv4::StaticKeyStore::new().with(creds());
    ServiceBuilder::new()
        .layer(
            tower_sigv4::VerifyLayer::new(store)
                .time_source(Arc::new(ManualClock::new(
                    UNIX_EPOCH + Duration::from_secs(1_700_000_000),
                )))
                .signing_settings(SigningSettings::s3()),
        )
        .service(service_fn(
            |request: Request<tower_sigv4::VerifyBody>| async move {
                let declared = request.headers()["content-length"].clone();
                let (status, text) = match request.into_body().collect().await {
                    Ok(c) => {
                        let data = c.to_bytes();
                        let text = format!(
                            "{} {} {}",
                            data.len(),
                            checksum(ChecksumAlgorithm::Crc32c, &data),
                            declared.to_str().unwrap_or("?")
                        );
                        (http::StatusCode::OK, text)
                    }
                    Err(e) => (http::StatusCode::BAD_REQUEST, e.to_string()),
                };
                let mut response = Response::new(Full::new(Bytes::from(text)));
                *response.status_mut() = status;
                Ok::<_, Infallible>(response)
            },
        ))
}

async fn answer(response: Response<Full<Bytes>>) -> (http::StatusCode, String) {
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn verify_layer_accepts_the_streamed_upload_and_refuses_one_flipped_byte() {
    let total = 5 * DEFAULT_CHUNK_SIZE + 123;
    let want_crc = checksum(ChecksumAlgorithm::Crc32c, &Source::expected(total));
    for payload in [
        ChunkedPayload::Signed,
        ChunkedPayload::SignedWithTrailer(ChecksumAlgorithm::Crc32),
    ] {
        let (parts, framed) = framed_request(payload, total).await;

        let request = Request::from_parts(clone_parts(&parts), Full::new(framed.clone()));
        let (status, text) = answer(verifying_handler().oneshot(request).await.unwrap()).await;
        assert_eq!(status, 200, "{payload:?}: {text}");
        assert_eq!(text, format!("{total} {want_crc} {total}"));

        // One byte of chunk 2's data flipped on the way.
        let mut tampered = framed.to_vec();
        let chunk_len = (framed.len() - 200) / 5;
        tampered[2 * chunk_len + chunk_len / 2] ^= 0x20;
        let request = Request::from_parts(clone_parts(&parts), Full::new(Bytes::from(tampered)));
        let (status, text) = answer(verifying_handler().oneshot(request).await.unwrap()).await;
        assert_eq!(status, 400, "{payload:?}: {text}");
        assert!(text.contains("chunk 2"), "{payload:?}: {text}");
        assert!(text.contains("signature does not match"), "{text}");
    }
}

fn clone_parts(parts: &http::request::Parts) -> http::request::Parts {
    let mut request = Request::new(());
    *request.method_mut() = parts.method.clone();
    *request.uri_mut() = parts.uri.clone();
    *request.headers_mut() = parts.headers.clone();
    request.into_parts().0
}

/// The whole way over loopback: hyper-util's client under the layer streams 3 MiB; a hyper server
/// with `VerifyLayer` decodes and checks it as it arrives.
#[tokio::test]
async fn over_a_real_connection() {
    use hyper_util::rt::{TokioExecutor, TokioIo};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handler = verifying_handler();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = hyper_util::service::TowerToHyperService::new(handler.clone());
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    });
    let client = ServiceBuilder::new()
        .layer(layer(PayloadPolicy::aws_chunked(
            ChunkedPayload::SignedWithTrailer(ChecksumAlgorithm::Sha256),
        )))
        .service(
            hyper_util::client::legacy::Client::builder(TokioExecutor::new())
                .build_http::<SigV4Body<Source>>(),
        );
    let total = 3 * 1024 * 1024 + 7;
    let request = Request::put(format!("http://{addr}/bucket/key"))
        .body(Source::new(total, 16 * 1024))
        .unwrap();
    let response = client.oneshot(request).await.unwrap();
    let status = response.status();
    let text = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&text));
    let want = format!(
        "{total} {} {total}",
        checksum(ChecksumAlgorithm::Crc32c, &Source::expected(total))
    );
    assert_eq!(String::from_utf8_lossy(&text), want);
}
