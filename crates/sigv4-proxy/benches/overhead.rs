//! What the proxy adds to a signed call, on loopback, in the same run.
//!
//! Group `proxy_overhead`, one small POST (64-byte JSON body) answered `200 ok` by a plain hyper
//! HTTP/1.1 server on 127.0.0.1:
//!
//! - `direct`: the caller signs itself (`SigV4Layer` around a pooled hyper-util client) and calls
//!   the upstream;
//! - `through_proxy`: a client that cannot sign calls `sigv4 proxy`'s service (served by
//!   `sigv4_proxy::serve`), which signs and forwards to the same upstream.
//!
//! Both keep their connections alive. After criterion's medians, the bench prints the p50 and p99
//! of 5,000 sequential calls each way, interleaved (criterion reports means and medians only).
//! Goal (issue 11): under 100 µs median added, p99 no more than 2x the direct call's.
//!
//! Run: `cargo bench -p sigv4-proxy --bench overhead`.

mod common;

use std::convert::Infallible;
use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::{Service, ServiceExt};
use tower_sigv4::{SigV4Body, SigV4Layer, SigV4Service};

const BODY: &str = r#"{"name":"widget","colour":"blue","size":42,"tags":["a","b","c"]}"#;

type Plain = Client<HttpConnector, Full<Bytes>>;

struct Setup {
    upstream: String,
    proxy: String,
    plain: Plain,
    signed: SigV4Service<Client<HttpConnector, SigV4Body<Full<Bytes>>>>,
}

async fn upstream() -> String {
    common::upstream(|request: Request<Incoming>| async move {
        let _ = request.into_body().collect().await;
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
    })
    .await
}

async fn setup() -> Setup {
    let upstream = upstream().await;
    let proxy_url = common::proxy(&upstream).await;
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    let plain: Plain = Client::builder(TokioExecutor::new()).build(http.clone());
    let signed = tower::Layer::layer(
        &SigV4Layer::new(common::credentials(), "us-east-1", "execute-api"),
        Client::builder(TokioExecutor::new()).build(http),
    );
    Setup {
        upstream,
        proxy: proxy_url,
        plain,
        signed,
    }
}

fn post(base: &str) -> Request<Full<Bytes>> {
    Request::post(format!("{base}/prod/items?limit=10"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(BODY.as_bytes())))
        .unwrap()
}

async fn direct(setup: &Setup) {
    let response = setup
        .signed
        .clone()
        .oneshot(post(&setup.upstream))
        .await
        .unwrap();
    assert!(response.status().is_success());
    black_box(response.into_body().collect().await.unwrap());
}

async fn through_proxy(setup: &Setup) {
    let response = setup.plain.clone().call(post(&setup.proxy)).await.unwrap();
    assert!(response.status().is_success());
    black_box(response.into_body().collect().await.unwrap());
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let setup = runtime.block_on(setup());
    let mut group = c.benchmark_group("proxy_overhead");
    group.bench_function("direct", |b| b.to_async(&runtime).iter(|| direct(&setup)));
    group.bench_function("through_proxy", |b| {
        b.to_async(&runtime).iter(|| through_proxy(&setup))
    });
    group.finish();

    // Tail latency: 5,000 sequential calls each way, interleaved.
    let (mut a, mut b) = (Vec::with_capacity(5000), Vec::with_capacity(5000));
    runtime.block_on(async {
        for _ in 0..200 {
            direct(&setup).await;
            through_proxy(&setup).await;
        }
        for _ in 0..5000 {
            let t = Instant::now();
            direct(&setup).await;
            a.push(t.elapsed());
            let t = Instant::now();
            through_proxy(&setup).await;
            b.push(t.elapsed());
        }
    });
    a.sort_unstable();
    b.sort_unstable();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let (a50, a99, b50, b99) = (
        percentile(&a, 0.5),
        percentile(&a, 0.99),
        percentile(&b, 0.5),
        percentile(&b, 0.99),
    );
    println!(
        "proxy_overhead/latency (5000 calls each): direct p50 {:.1} µs p99 {:.1} µs; \
         through_proxy p50 {:.1} µs p99 {:.1} µs; added p50 {:.1} µs, p99 ratio {:.2}x",
        us(a50),
        us(a99),
        us(b50),
        us(b99),
        us(b50) - us(a50),
        us(b99) / us(a99)
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
