//! One warm `Signer::sign_request` of an API Gateway GET (key cache filled by a first signing,
//! request clone not counted) makes at most 4 heap allocations. A count, not a timing.
//! The same measurement is printed by `cargo bench -p sigv4-core --bench allocations`.

#[path = "support/alloc_count.rs"]
mod alloc_count;

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
