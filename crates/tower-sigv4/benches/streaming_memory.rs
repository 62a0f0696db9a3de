//! A 1 GiB aws-chunked upload through `SigV4Layer` to a loopback hyper server that verifies it
//! with `VerifyLayer` as it arrives: the peak extra heap of the whole process (client, layer,
//! connection, server, verifier) over its level before the upload, and whether the bytes the
//! handler read decode to the original (length and CRC-32C).
//!
//! Not a timing: it counts bytes with a global allocator that tracks live heap and its peak.
//! Goal: extra heap under 4 MiB. Run: `cargo bench -p tower-sigv4 --bench streaming_memory`
//! (`-- 64` for a 64 MiB run).

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, UNIX_EPOCH};

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use sigv4_core::checksum::{Checksum, ChecksumAlgorithm};
use sigv4_core::chunked::ChunkedPayload;
use sigv4_core::{Credentials, ManualClock, SigningSettings};
use tower::{service_fn, ServiceBuilder, ServiceExt};
use tower_sigv4::{PayloadPolicy, SigV4Body, SigV4Layer, StaticKeyStore, VerifyBody, VerifyLayer};

// The workspace's one counting allocator (live heap and its peak); including it installs it.
#[path = "../../../tests/support/counting_alloc.rs"]
mod counting_alloc;

/// The source data: a pattern whose length is not a multiple of the chunk size, repeated, so a
/// chunk out of place changes the CRC; frames are slices of one buffer (no copy per frame).
const PATTERN: usize = 1_048_583;
const FRAME: usize = 64 * 1024;

struct Source {
    buf: Bytes,
    total: u64,
    sent: u64,
}

impl Source {
    fn new(buf: Bytes, total: u64) -> Self {
        Self {
            buf,
            total,
            sent: 0,
        }
    }
}

impl Body for Source {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.sent >= self.total {
            return Poll::Ready(None);
        }
        let n = (self.total - self.sent).min(FRAME as u64) as usize;
        let at = (self.sent % PATTERN as u64) as usize;
        let frame = self.buf.slice(at..at + n);
        self.sent += n as u64;
        Poll::Ready(Some(Ok(Frame::data(frame))))
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.total - self.sent)
    }
}

fn main() {
    let mib: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1024);
    let total = mib * 1024 * 1024;
    let pattern: Vec<u8> = (0..PATTERN + FRAME)
        .map(|i| ((i % PATTERN) * 131 % 251) as u8)
        .collect();
    let buf = Bytes::from(pattern);
    // The expected CRC-32C, streamed over the same frames.
    let mut want = Checksum::new(ChecksumAlgorithm::Crc32c);
    let mut at = 0u64;
    while at < total {
        let n = (total - at).min(FRAME as u64) as usize;
        let off = (at % PATTERN as u64) as usize;
        want.update(&buf[off..off + n]);
        at += n as u64;
    }
    let want = want.finalize();

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let creds = Credentials::new("AKIDSTREAM", "stream-secret");
        let clock = Arc::new(ManualClock::new(
            UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        ));
        let server = ServiceBuilder::new()
            .layer(
                VerifyLayer::new(StaticKeyStore::new().with(creds.clone()))
                    .time_source(clock.clone())
                    .signing_settings(SigningSettings::s3()),
            )
            .service(service_fn(|request: Request<VerifyBody>| async move {
                let mut body = request.into_body();
                let mut crc = Checksum::new(ChecksumAlgorithm::Crc32c);
                let mut n = 0u64;
                let text = loop {
                    match body.frame().await {
                        None => break format!("{n} {}", crc.finalize()),
                        Some(Err(e)) => break format!("error: {e}"),
                        Some(Ok(frame)) => {
                            if let Some(d) = frame.data_ref() {
                                n += d.len() as u64;
                                crc.update(d);
                            }
                        }
                    }
                };
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(text))))
            }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let service = hyper_util::service::TowerToHyperService::new(server.clone());
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        let client = ServiceBuilder::new()
            .layer(
                SigV4Layer::builder(creds, "us-east-1", "s3")
                    .settings(SigningSettings::s3())
                    .payload_policy(PayloadPolicy::aws_chunked(
                        ChunkedPayload::SignedWithTrailer(ChecksumAlgorithm::Crc32c),
                    ))
                    .time_source(clock)
                    .build(),
            )
            .service(
                hyper_util::client::legacy::Client::builder(TokioExecutor::new())
                    .build_http::<SigV4Body<Source>>(),
            );
        // Warm up (connection pool, key cache, thread-locals), then measure.
        let small = Request::put(format!("http://{addr}/bucket/warm"))
            .body(Source::new(buf.clone(), 1 << 20))
            .unwrap();
        let response = client.clone().oneshot(small).await.unwrap();
        response.into_body().collect().await.unwrap();

        let baseline = counting_alloc::reset_peak();
        let started = Instant::now();
        let request = Request::put(format!("http://{addr}/bucket/big"))
            .body(Source::new(buf.clone(), total))
            .unwrap();
        let response = client.oneshot(request).await.unwrap();
        let status = response.status();
        let text = response.into_body().collect().await.unwrap().to_bytes();
        let elapsed = started.elapsed();
        let peak = counting_alloc::peak();
        let text = String::from_utf8_lossy(&text);
        let extra = peak - baseline;
        let ok = status == 200 && text == format!("{total} {want}");
        println!(
            "aws-chunked upload of {mib} MiB through SigV4Layer -> loopback -> VerifyLayer: \
             status {status}, handler read \"{text}\" (want \"{total} {want}\": {}); \
             peak extra heap {:.2} MiB ({extra} bytes; baseline {baseline} bytes); \
             {:.0} MiB/s",
            if ok { "equal" } else { "DIFFERENT" },
            extra as f64 / (1024.0 * 1024.0),
            mib as f64 / elapsed.as_secs_f64()
        );
        if !ok || extra >= 4 * 1024 * 1024 {
            std::process::exit(1);
        }
    });
}
