//! What the layer costs over the core signer.
//!
//! Group `layer_overhead`: `layer` drives `SigV4Service` around a no-op inner service with warm
//! cached credentials (a `CredentialsCache` holding credentials with a ~900-char session token);
//! `core_sign` signs the same request with `Signer::sign_request` directly (with
//! `SystemTime::now()`, as the layer does). Goal: `layer` within 1.15x of `core_sign`.
//!
//! Group `layer_body`: a 4 KiB POST body through the buffering path against hashing and signing
//! the same bytes directly.
//!
//! Futures are polled by hand with a no-op waker (the inner service and warm credentials resolve
//! on the first poll). Requests are built outside the timed part, 64 per batch (criterion's
//! `SmallInput` batches run to thousands, and freeing them all at once costs the allocator more
//! than a running service ever pays). Run: `cargo bench -p tower-sigv4 --bench layer`.

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use http::{Request, Response};
use http_body_util::Full;
use sigv4_core::{Credentials, Payload, Signer, SigningParams};
use sigv4_credentials::{CredentialsCache, ProvideCredentials};
use tower::{service_fn, Layer, Service};
use tower_sigv4::SigV4Body;
use tower_sigv4::SigV4Layer;

const URL: &str =
    "https://abcdef1234.execute-api.us-east-1.amazonaws.com/prod/items?limit=10&next=abc";

struct Noop;

impl Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

fn token() -> String {
    // Shaped like an STS session token: base64, ~900 characters.
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::from("IQoJb3JpZ2luX2VjE");
    let mut x: u32 = 12345;
    while s.len() < 900 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        s.push(alphabet[(x >> 16) as usize % alphabet.len()] as char);
    }
    s.push_str("==");
    s
}

fn get_request() -> Request<Full<Bytes>> {
    Request::get(URL)
        .header("host", "abcdef1234.execute-api.us-east-1.amazonaws.com")
        .header("user-agent", "my-app/1.4.2 (tower-sigv4)")
        .header("accept", "application/json")
        .body(Full::new(Bytes::new()))
        .expect("request")
}

fn post_request(body: &Bytes) -> Request<Full<Bytes>> {
    Request::post(URL)
        .header("host", "abcdef1234.execute-api.us-east-1.amazonaws.com")
        .header("user-agent", "my-app/1.4.2 (tower-sigv4)")
        .header("accept", "application/json")
        .header("content-type", "application/json")
        .body(Full::new(body.clone()))
        .expect("request")
}

fn poll_once<F: Future>(future: F, cx: &mut Context<'_>) -> F::Output {
    let mut future = pin!(future);
    match future.as_mut().poll(cx) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the benchmark expects futures that resolve on the first poll"),
    }
}

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let creds = Credentials::builder(
        "ASIAEXAMPLEKEYID1234",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    )
    .session_token(token())
    .expiry(SystemTime::now() + Duration::from_secs(6 * 3600))
    .build();
    let cache = CredentialsCache::builder().build(creds.clone());
    runtime
        .block_on(cache.provide_credentials())
        .expect("warm the cache");

    let waker = Waker::from(Arc::new(Noop));
    let mut cx = Context::from_waker(&waker);

    let layer = SigV4Layer::new(cache, "us-east-1", "execute-api");
    let mut service = layer.layer(service_fn(
        |_request: Request<SigV4Body<Full<Bytes>>>| async {
            Ok::<_, Infallible>(Response::new(()))
        },
    ));
    let signer = Signer::new();

    let mut group = c.benchmark_group("layer_overhead");
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("layer", |b| {
        b.iter_batched(
            get_request,
            |request| {
                let ready = service.poll_ready(&mut cx);
                assert!(matches!(ready, Poll::Ready(Ok(()))));
                let response = poll_once(service.call(request), &mut cx).expect("signed");
                black_box(response)
            },
            BatchSize::NumIterations(64),
        )
    });
    group.bench_function("core_sign", |b| {
        b.iter_batched(
            get_request,
            |mut request| {
                let params =
                    SigningParams::new(&creds, "us-east-1", "execute-api", SystemTime::now());
                let signature = signer
                    .sign_request(&mut request, Payload::Bytes(b""), &params)
                    .expect("signed");
                // The layer hands the request to the inner service, which drops it: do the same.
                drop(black_box(request));
                black_box(signature)
            },
            BatchSize::NumIterations(64),
        )
    });
    group.finish();

    let body = Bytes::from(vec![b'x'; 4096]);
    let mut group = c.benchmark_group("layer_body");
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("layer_post_4k", |b| {
        b.iter_batched(
            || post_request(&body),
            |request| {
                let ready = service.poll_ready(&mut cx);
                assert!(matches!(ready, Poll::Ready(Ok(()))));
                black_box(poll_once(service.call(request), &mut cx).expect("signed"))
            },
            BatchSize::NumIterations(64),
        )
    });
    group.bench_function("core_sign_post_4k", |b| {
        b.iter_batched(
            || post_request(&body),
            |mut request| {
                let params =
                    SigningParams::new(&creds, "us-east-1", "execute-api", SystemTime::now());
                let signature = signer
                    .sign_request(&mut request, Payload::Bytes(&body), &params)
                    .expect("signed");
                drop(black_box(request));
                black_box(signature)
            },
            BatchSize::NumIterations(64),
        )
    });
    group.finish();
}

criterion_group!(layer_benches, benches);
criterion_main!(layer_benches);
