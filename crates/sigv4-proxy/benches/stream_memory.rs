//! The proxy's memory while it streams a large response: flat, whatever the size.
//!
//! A hyper HTTP/1.1 upstream on 127.0.0.1 answers a signed GET with a chunked body of zeros in
//! 64 KiB frames (from one static buffer: the upstream allocates nothing per frame); a plain
//! client that cannot sign calls the proxy (`sigv4_proxy::serve`) and reads the answer frame by
//! frame, dropping each. A counting global allocator in this binary keeps the live heap bytes and
//! their high-water mark; the mark is reset after a warm-up call, so it measures what streaming
//! adds over the steady state (proxy, client and upstream together: all three run here).
//!
//! Printed for 100 MiB and 1 GiB, twice (the first pair still sees hyper's adaptive read buffers
//! grow to their cap of about 400 KiB per connection): the heap high-water mark during the call,
//! the live heap after it, the process's peak RSS (`VmHWM`) and the throughput. The run fails
//! when the last 1 GiB mark is over 8 MiB (a proxy that buffered the answer would hold the whole
//! GiB), or more than 4 MiB above the last 100 MiB mark (growth with the size of the answer:
//! streaming 924 MiB more would show as hundreds of MiB; a few hundred KiB either way is where
//! hyper's per-connection read buffers happen to be when the mark is reset, and a 1 MiB bound
//! failed about one run in eight on that alone).
//!
//! Run: `cargo bench -p sigv4-proxy --bench stream_memory`.

mod common;

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

// The workspace's one counting allocator (live heap and its peak); including it installs it.
#[path = "../../../tests/support/counting_alloc.rs"]
mod counting_alloc;

const MIB: u64 = 1 << 20;
const FRAME: usize = 64 * 1024;
static ZEROS: [u8; FRAME] = [0; FRAME];

/// `len` zero bytes in 64 KiB frames, no length announced (the answer goes out chunked).
struct Zeros {
    left: u64,
}

impl Body for Zeros {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        let n = self.left.min(FRAME as u64) as usize;
        self.left -= n as u64;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(&ZEROS[..n])))))
    }
}

/// Answers `GET /bytes/<n>` with `n` zero bytes.
async fn upstream() -> String {
    common::upstream(|request: Request<Incoming>| async move {
        let left = request
            .uri()
            .path()
            .strip_prefix("/bytes/")
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        Ok::<_, Infallible>(Response::new(Zeros { left }))
    })
    .await
}

/// Streams `len` bytes through the proxy; returns the bytes read and how long it took.
async fn stream(client: &Client<HttpConnector, Empty<Bytes>>, proxy: &str, len: u64) -> u64 {
    let request = Request::get(format!("{proxy}/bytes/{len}"))
        .body(Empty::new())
        .unwrap();
    let response = client.request(request).await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let mut body = response.into_body();
    let mut read = 0u64;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.unwrap().into_data() {
            read += data.len() as u64;
        }
    }
    read
}

/// The process's peak resident set (`VmHWM` in /proc/self/status), when the OS tells.
fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l["VmHWM:".len()..].trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this once too: keep it short.
    let quick = !std::env::args().any(|a| a == "--bench");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let upstream = upstream().await;
        let proxy_url = common::proxy(&upstream).await;
        let client: Client<HttpConnector, Empty<Bytes>> =
            Client::builder(TokioExecutor::new()).build_http();

        // Warm-up: connections, pools, and hyper's adaptive read buffers (up to ~400 KiB per
        // connection) at their steady size.
        stream(&client, &proxy_url, if quick { 16 } else { 256 } * MIB).await;

        let sizes: &[u64] = if quick {
            &[MIB, 16 * MIB]
        } else {
            &[100 * MIB, 1024 * MIB, 100 * MIB, 1024 * MIB]
        };
        let mut marks = Vec::new();
        for &len in sizes {
            let before = counting_alloc::reset_peak();
            let started = Instant::now();
            let read = stream(&client, &proxy_url, len).await;
            let took = started.elapsed();
            assert_eq!(read, len);
            let mark = counting_alloc::peak() - before;
            let after = counting_alloc::live() - before;
            println!(
                "stream_memory/{} MiB: heap high-water {:.1} KiB above the steady state, live \
                 after {:+.1} KiB, {:.0} MiB/s, peak RSS {}",
                len / MIB,
                mark as f64 / 1024.0,
                after as f64 / 1024.0,
                len as f64 / MIB as f64 / took.as_secs_f64(),
                peak_rss()
            );
            marks.push(mark);
        }
        // The last pair, both after the buffers reached their steady size.
        let (small, large) = (marks[marks.len() - 2], marks[marks.len() - 1]);
        assert!(
            large < 8 * MIB as i64,
            "the heap high-water mark while streaming is {large} bytes: the answer is buffered"
        );
        assert!(
            large - small < 4 * MIB as i64,
            "the heap high-water mark grows with the answer: {small} then {large} bytes"
        );
    });
}
