//! The warm API Gateway GET signing and verification whose heap allocations are counted, shared
//! by `tests/allocations.rs` (asserts the count) and `benches/allocations.rs` (prints it).
//! Included with `#[path = "..."] mod alloc_count;` beside `mod fixtures;` (the request and
//! credentials it measures). The counting allocator is the workspace's one, in the root
//! `tests/support/counting_alloc.rs`; the only `unsafe` of those targets is there.

use sigv4_core::{Credentials, Payload, Signer, SigningParams};

use crate::fixtures::{api_gateway_get, session_token, time, AKID, SECRET};

// The workspace's one counting allocator; including it installs it for this binary.
#[path = "../../../../tests/support/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::count;
pub use counting_alloc::sizes;

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
/// `Verified` identity: one shared buffer).
#[allow(dead_code)] // Each including target uses a part of this module.
pub fn measure_verify() -> ((usize, usize, usize), usize) {
    use sigv4_core::verify::{SignedRequest, VerifySettings};
    let (creds, signer, req) = signed_get();
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

/// The credentials and signer of [`setup`], and the API Gateway GET signed with them.
fn signed_get() -> (Credentials, Signer, http::Request<()>) {
    let (creds, signer) = setup();
    let params = SigningParams::new(&creds, "us-east-1", "execute-api", time());
    let mut req: http::Request<()> = api_gateway_get();
    signer
        .sign_request(&mut req, Payload::Bytes(b""), &params)
        .expect("signs");
    (creds, signer, req)
}

/// Heap allocations (with reallocations) of cloning the `Verified` identity of a verified
/// API Gateway GET, as a layer does when it hands the identity to a handler.
pub fn measure_identity_clone() -> usize {
    use sigv4_core::verify::{SignedRequest, VerifyParams, VerifySettings};
    let (creds, signer, req) = signed_get();
    let settings = VerifySettings::default();
    let claimed = SignedRequest::parse(req.uri(), req.headers()).expect("parses");
    let verified = signer
        .verify(
            (&req).into(),
            &claimed,
            Payload::Bytes(b""),
            &VerifyParams::new(&creds, time(), &settings),
        )
        .expect("verifies");
    let (copy, (allocs, reallocs, _)) = count(|| verified.clone());
    assert_eq!(copy, verified);
    allocs + reallocs
}
