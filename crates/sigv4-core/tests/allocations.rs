//! One warm `Signer::sign_request` of an API Gateway GET (key cache filled by a first signing,
//! request clone not counted) makes at most 4 heap allocations; verifying that request
//! (`SignedRequest::parse` and `Signer::verify_signature`) 1 (the claim's buffer), and
//! `Signer::verify`'s identity, which shares that buffer, none more. Counts, not timings.
//! The same measurements are printed by `cargo bench -p sigv4-core --bench allocations`.

#[path = "support/alloc_count.rs"]
mod alloc_count;
#[path = "support/fixtures.rs"]
mod fixtures;

#[test]
fn warm_api_gateway_get_allocates_at_most_four_times() {
    let (allocs, reallocs, bytes) = alloc_count::measure();
    let n = allocs + reallocs;
    let sizes = alloc_count::sizes(n);
    println!("allocations per signed API Gateway GET: {n} ({allocs} + {reallocs} reallocations, {bytes} bytes, sizes {sizes:?})");
    assert!(
        n <= 4,
        "{n} heap allocations in one warm signing (sizes in order: {sizes:?}); at most 4 expected"
    );
}

#[test]
fn warm_verification_of_an_api_gateway_get_allocates_once() {
    let ((allocs, reallocs, bytes), with_identity) = alloc_count::measure_verify();
    let n = allocs + reallocs;
    let sizes = alloc_count::sizes(n);
    println!(
        "allocations per verified API Gateway GET: {n} ({allocs} + {reallocs} reallocations, \
         {bytes} bytes, sizes {sizes:?}); {with_identity} with the Verified identity"
    );
    assert!(
        n <= 1,
        "{n} heap allocations in one warm verification (sizes in order: {sizes:?}); 1 expected"
    );
    // `Signer::verify`'s identity shares the claim's buffer: no allocation more.
    assert_eq!(with_identity, n, "{with_identity} with the identity");
}

#[test]
fn cloning_the_verified_identity_does_not_allocate() {
    assert_eq!(alloc_count::measure_identity_clone(), 0);
}
