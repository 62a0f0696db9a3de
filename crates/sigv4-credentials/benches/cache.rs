//! Warm `CredentialsCache::provide_credentials`: one atomic load + one time check + an `Arc` clone,
//! from one thread and from two threads at once (the per-call time should stay flat).

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant, SystemTime};

use criterion::{criterion_group, criterion_main, Criterion};
use sigv4_credentials::{Credentials, CredentialsCache, ProvideCredentials};

struct NoopWake;

impl Wake for NoopWake {
    fn wake(self: Arc<Self>) {}
}

/// Polls the (already resolved) future once; a warm cache never returns `Pending`.
fn call(cache: &CredentialsCache, cx: &mut Context<'_>) -> Credentials {
    match pin!(cache.provide_credentials()).poll(cx) {
        Poll::Ready(Ok(credentials)) => credentials,
        Poll::Ready(Err(e)) => panic!("warm cache failed: {e}"),
        Poll::Pending => panic!("warm cache returned Pending"),
    }
}

fn warm_cache() -> CredentialsCache {
    // Expires in an hour: far outside the refresh window, so every call takes the fast path.
    let source = Credentials::builder("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
        .session_token("token")
        .expiry(SystemTime::now() + Duration::from_secs(3600))
        .build();
    let cache = CredentialsCache::new(source);
    let waker = Waker::from(Arc::new(NoopWake));
    let mut cx = Context::from_waker(&waker);
    // The first call loads inline (no runtime here); after that the cache is warm.
    call(&cache, &mut cx);
    cache
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("cache_warm");

    let cache = warm_cache();
    let waker = Waker::from(Arc::new(NoopWake));
    group.bench_function("threads_1", |b| {
        let mut cx = Context::from_waker(&waker);
        b.iter(|| black_box(call(&cache, &mut cx)))
    });

    // Two threads each make `iters` calls at the same time; the reported time is the wall time
    // divided by `iters`, i.e. the per-call time as seen by each thread.
    group.bench_function("threads_2", |b| {
        b.iter_custom(|iters| two_threads(iters, [cache.clone(), cache.clone()]))
    });
    // Control: the same, but each thread has its own cache (nothing shared between the threads).
    // If `threads_2` is no slower than this, sharing the cache costs nothing; the gap between
    // this and `threads_1` is then the machine (other load, two cores), not the cache.
    group.bench_function("threads_2_unshared", |b| {
        b.iter_custom(|iters| two_threads(iters, [warm_cache(), warm_cache()]))
    });
    group.finish();
}

/// Runs `iters` warm calls on each of two threads at once; returns the wall time.
fn two_threads(iters: u64, caches: [CredentialsCache; 2]) -> Duration {
    let barrier = Arc::new(Barrier::new(3));
    let handles: Vec<_> = caches
        .into_iter()
        .map(|cache| {
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                let waker = Waker::from(Arc::new(NoopWake));
                let mut cx = Context::from_waker(&waker);
                barrier.wait();
                for _ in 0..iters {
                    black_box(call(&cache, &mut cx));
                }
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    for handle in handles {
        handle.join().expect("bench thread panicked");
    }
    start.elapsed()
}

criterion_group!(benches, bench);
criterion_main!(benches);
