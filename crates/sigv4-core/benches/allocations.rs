//! Heap allocations of one warm `Signer::sign_request` of an API Gateway GET (the key cache
//! already filled by a first signing; the request clone is not counted), and of verifying it.
//!
//! Run: `cargo bench -p sigv4-core --bench allocations`. `tests/allocations.rs` asserts the
//! same count stays small; both use the counting allocator in `tests/support/alloc_count.rs`.

#[path = "../tests/support/alloc_count.rs"]
mod alloc_count;
#[path = "../tests/support/fixtures.rs"]
mod fixtures;

fn main() {
    // `cargo bench` passes `--bench`; there is nothing to time, only to count.
    let (allocs, reallocs, bytes) = alloc_count::measure();
    let n = allocs + reallocs;
    let sizes = alloc_count::sizes(n);
    println!(
        "allocations per signed API Gateway GET: {n} ({allocs} allocations + {reallocs} reallocations, \
         {bytes} bytes; sizes in order: {sizes:?})"
    );
    let ((allocs, reallocs, bytes), with_identity) = alloc_count::measure_verify();
    let n = allocs + reallocs;
    let sizes = alloc_count::sizes(n);
    println!(
        "allocations per verified API Gateway GET (parse + verify_signature): {n} ({allocs} \
         allocations + {reallocs} reallocations, {bytes} bytes; sizes in order: {sizes:?}); \
         {with_identity} with Signer::verify (the Verified identity)"
    );
    println!(
        "allocations per clone of the Verified identity: {}",
        alloc_count::measure_identity_clone()
    );
}
