//! A counting global allocator and the warm API Gateway GET signing it measures, shared by
//! `tests/allocations.rs` (asserts the count) and `benches/allocations.rs` (prints it).
//! Included with `#[path = "..."] mod alloc_count;`; the only `unsafe` of those targets is here.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, UNIX_EPOCH};

use sigv4_core::{Credentials, Payload, Signer, SigningParams};

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

const HOST: &str = "abcdef1234.execute-api.us-east-1.amazonaws.com";

fn session_token() -> String {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut rng = fastrand::Rng::with_seed(900);
    let mut token = String::from("IQoJb3JpZ2luX2VjE");
    while token.len() < 900 {
        token.push(alphabet[rng.usize(..alphabet.len())] as char);
    }
    token
}

/// (allocations, reallocations, bytes) of one warm signing.
#[allow(dead_code)] // Each including target uses a part of this module.
pub fn measure() -> (usize, usize, usize) {
    let creds = Credentials::builder(
        "ASIAEXAMPLEEXAMPLE12",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    )
    .session_token(session_token())
    .build();
    let signer = Signer::new();
    let time = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let params = SigningParams::new(&creds, "us-east-1", "execute-api", time);
    let unsigned = http::Request::get(format!("https://{HOST}/prod/items?limit=10&next=abc"))
        .header("host", HOST)
        .header("user-agent", "my-app/1.0 sigv4-tower/0.1")
        .header("accept", "application/json")
        .body(())
        .expect("valid request");

    // Warm-up: fills the key cache.
    let mut first = unsigned.clone();
    signer
        .sign_request(&mut first, Payload::Bytes(b""), &params)
        .expect("signs");

    let mut req = unsigned.clone();
    ALLOCS.store(0, Ordering::Relaxed);
    REALLOCS.store(0, Ordering::Relaxed);
    BYTES.store(0, Ordering::Relaxed);
    ON.with(|on| on.set(true));
    let result = signer.sign_request(&mut req, Payload::Bytes(b""), &params);
    ON.with(|on| on.set(false));
    result.expect("signs");
    assert_eq!(
        req.headers().get("authorization"),
        first.headers().get("authorization")
    );
    (
        ALLOCS.load(Ordering::Relaxed),
        REALLOCS.load(Ordering::Relaxed),
        BYTES.load(Ordering::Relaxed),
    )
}

/// What one warm verification of the signed API Gateway GET allocates: (allocations,
/// reallocations, bytes) of `SignedRequest::parse` plus `Signer::verify_signature` (every
/// check), and the allocation count of `parse` plus `Signer::verify` (which also builds the
/// `Verified` identity: three strings).
#[allow(dead_code)] // Each including target uses a part of this module.
pub fn measure_verify() -> ((usize, usize, usize), usize) {
    use sigv4_core::verify::{SignedRequest, VerifySettings};
    let creds = Credentials::builder(
        "ASIAEXAMPLEEXAMPLE12",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    )
    .session_token(session_token())
    .build();
    let signer = Signer::new();
    let time = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let params = SigningParams::new(&creds, "us-east-1", "execute-api", time);
    let mut req = http::Request::get(format!("https://{HOST}/prod/items?limit=10&next=abc"))
        .header("host", HOST)
        .header("user-agent", "my-app/1.0 sigv4-tower/0.1")
        .header("accept", "application/json")
        .body(())
        .expect("valid request");
    signer
        .sign_request(&mut req, Payload::Bytes(b""), &params)
        .expect("signs");
    let settings = VerifySettings::default();
    let run = |full: bool| {
        let claimed = SignedRequest::parse(req.uri(), req.headers()).expect("parses");
        let args = (req.method(), req.uri(), req.headers(), &claimed);
        if full {
            signer
                .verify(
                    args.0,
                    args.1,
                    args.2,
                    args.3,
                    Payload::Bytes(b""),
                    &creds,
                    time,
                    &settings,
                )
                .map(|_| ())
        } else {
            signer.verify_signature(
                args.0,
                args.1,
                args.2,
                args.3,
                Payload::Bytes(b""),
                &creds,
                time,
                &settings,
            )
        }
    };
    // Warm-up: fills the key cache and the per-thread buffer.
    run(true).expect("verifies");
    let count = |full: bool| {
        ALLOCS.store(0, Ordering::Relaxed);
        REALLOCS.store(0, Ordering::Relaxed);
        BYTES.store(0, Ordering::Relaxed);
        ON.with(|on| on.set(true));
        let result = run(full);
        ON.with(|on| on.set(false));
        result.expect("verifies");
        (
            ALLOCS.load(Ordering::Relaxed),
            REALLOCS.load(Ordering::Relaxed),
            BYTES.load(Ordering::Relaxed),
        )
    };
    let (full_allocs, full_reallocs, _) = count(true);
    (count(false), full_allocs + full_reallocs)
}

/// The sizes of the first `n` counted (re)allocations of the last [`measure`], in order.
pub fn sizes(n: usize) -> Vec<usize> {
    SIZES
        .iter()
        .take(n)
        .map(|s| s.load(Ordering::Relaxed))
        .collect()
}
