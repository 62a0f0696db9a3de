//! A counting global allocator and the warm API Gateway GET signing it measures, shared by
//! `tests/allocations.rs` (asserts the count) and `benches/allocations.rs` (prints it).
//! Included with `#[path = "..."] mod alloc_count;` beside `mod fixtures;` (the request and
//! credentials it measures); the only `unsafe` of those targets is here.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use sigv4_core::{Credentials, Payload, Signer, SigningParams};

use crate::fixtures::{api_gateway_get, session_token, time, AKID, SECRET};

/// Counts allocations (and reallocations, which may move the block) made on a thread while
/// that thread has counting switched on.
struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);
static REALLOCS: AtomicUsize = AtomicUsize::new(0);
static BYTES: AtomicUsize = AtomicUsize::new(0);
/// The sizes of the first few counted (re)allocations, in order.
static SIZES: [AtomicUsize; 16] = [const { AtomicUsize::new(0) }; 16];

fn record(size: usize) {
    let n = ALLOCS.load(Ordering::Relaxed) + REALLOCS.load(Ordering::Relaxed);
    if let Some(slot) = SIZES.get(n.wrapping_sub(1)) {
        slot.store(size, Ordering::Relaxed);
    }
    BYTES.fetch_add(size, Ordering::Relaxed);
}

thread_local! {
    static ON: Cell<bool> = const { Cell::new(false) };
}

fn counting() -> bool {
    ON.try_with(Cell::get).unwrap_or(false)
}

// SAFETY: every call is forwarded unchanged to the system allocator; the counters only observe.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if counting() {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
            record(layout.size());
        }
        // SAFETY: same contract as ours, passed through.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if counting() {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
            record(layout.size());
        }
        // SAFETY: same contract as ours, passed through.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours, passed through.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if counting() {
            REALLOCS.fetch_add(1, Ordering::Relaxed);
            record(new_size);
        }
        // SAFETY: same contract as ours, passed through.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` with counting on and returns what it gave and (allocations, reallocations, bytes).
/// One measurement at a time: the counters are shared by every thread of the test binary, and
/// the test harness runs tests in parallel.
static MEASURING: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn count<R>(f: impl FnOnce() -> R) -> (R, (usize, usize, usize)) {
    let _one_at_a_time = MEASURING.lock().unwrap_or_else(|e| e.into_inner());
    ALLOCS.store(0, Ordering::Relaxed);
    REALLOCS.store(0, Ordering::Relaxed);
    BYTES.store(0, Ordering::Relaxed);
    ON.with(|on| on.set(true));
    let result = f();
    ON.with(|on| on.set(false));
    let counts = (
        ALLOCS.load(Ordering::Relaxed),
        REALLOCS.load(Ordering::Relaxed),
        BYTES.load(Ordering::Relaxed),
    );
    (result, counts)
}

/// The credentials (with a session token) and the signer the measurements use.
fn setup() -> (Credentials, Signer) {
    let creds = Credentials::builder(AKID, SECRET)
        .session_token(session_token())
        .build();
    (creds, Signer::new())
}

/// (allocations, reallocations, bytes) of one warm signing.
#[allow(dead_code)] // Each including target uses a part of this module.
pub fn measure() -> (usize, usize, usize) {
    let (creds, signer) = setup();
    let params = SigningParams::new(&creds, "us-east-1", "execute-api", time());
    let unsigned: http::Request<()> = api_gateway_get();

    // Warm-up: fills the key cache.
    let mut first = unsigned.clone();
    signer
        .sign_request(&mut first, Payload::Bytes(b""), &params)
        .expect("signs");

    let mut req = unsigned.clone();
    let (result, counts) = count(|| signer.sign_request(&mut req, Payload::Bytes(b""), &params));
    result.expect("signs");
    assert_eq!(
        req.headers().get("authorization"),
        first.headers().get("authorization")
    );
    counts
}

/// What one warm verification of the signed API Gateway GET allocates: (allocations,
/// reallocations, bytes) of `SignedRequest::parse` plus `Signer::verify_signature` (every
/// check), and the allocation count of `parse` plus `Signer::verify` (which also builds the
/// `Verified` identity: three strings).
#[allow(dead_code)] // Each including target uses a part of this module.
pub fn measure_verify() -> ((usize, usize, usize), usize) {
    use sigv4_core::verify::{SignedRequest, VerifySettings};
    let (creds, signer) = setup();
    let params = SigningParams::new(&creds, "us-east-1", "execute-api", time());
    let mut req: http::Request<()> = api_gateway_get();
    signer
        .sign_request(&mut req, Payload::Bytes(b""), &params)
        .expect("signs");
    let settings = VerifySettings::default();
    let (method, uri, headers) = (req.method(), req.uri(), req.headers());
    let run = |with_identity: bool| {
        let claimed = SignedRequest::parse(uri, headers).expect("parses");
        let payload = Payload::Bytes(b"");
        if with_identity {
            signer
                .verify(
                    sigv4_core::RequestHead::new(method, uri, headers),
                    &claimed,
                    payload,
                    &sigv4_core::verify::VerifyParams::new(&creds, time(), &settings),
                )
                .map(|_| ())
        } else {
            signer.verify_signature(
                sigv4_core::RequestHead::new(method, uri, headers),
                &claimed,
                payload,
                &sigv4_core::verify::VerifyParams::new(&creds, time(), &settings),
            )
        }
    };
    // Warm-up: fills the key cache and the per-thread buffer.
    run(true).expect("verifies");
    let (result, (allocs, reallocs, _)) = count(|| run(true));
    result.expect("verifies");
    let (result, counts) = count(|| run(false));
    result.expect("verifies");
    (counts, allocs + reallocs)
}

/// The sizes of the first `n` counted (re)allocations of the last [`measure`], in order.
pub fn sizes(n: usize) -> Vec<usize> {
    SIZES
        .iter()
        .take(n)
        .map(|s| s.load(Ordering::Relaxed))
        .collect()
}
