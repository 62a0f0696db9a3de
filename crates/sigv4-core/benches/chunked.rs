//! aws-chunked signing throughput beside raw SHA-256 of the same bytes, in one run.
//!
//! Group `chunk_signing` (64 KiB chunks, throughput in bytes): `sha256` hashes a chunk (the floor:
//! every signed chunk is hashed once); `signed` frames it with `ChunkSigner::chunk_header`
//! (SHA-256 of the data plus one HMAC of the ~250-byte string to sign); `signed_crc32c_trailer`
//! also keeps the trailer's CRC-32C; `decode_verify` runs the server side's `ChunkedDecoder`
//! over a framed chunk. Goal: `signed` within 10 % of `sha256`.
//!
//! Run: `cargo bench -p sigv4-core --bench chunked`.

use std::hint::black_box;
use std::time::{Duration, UNIX_EPOCH};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sha2::{Digest, Sha256};
use sigv4_core::checksum::ChecksumAlgorithm;
use sigv4_core::chunked::{ChunkedPayload, DEFAULT_CHUNK_SIZE};
use sigv4_core::verify::SignedRequest;
use sigv4_core::{Credentials, Payload, Signer, SigningParams};

fn bench(c: &mut Criterion) {
    let signer = Signer::new();
    let creds = Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
    let params = SigningParams::new(
        &creds,
        "us-east-1",
        "s3",
        UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    );
    let data: Vec<u8> = (0..DEFAULT_CHUNK_SIZE)
        .map(|i| (i * 31 % 251) as u8)
        .collect();
    let mut request = http::Request::put("https://b.s3.amazonaws.com/k")
        .body(())
        .unwrap();
    let seed = signer
        .sign_request(
            &mut request,
            Payload::Precomputed(ChunkedPayload::Signed.payload_hash()),
            &params,
        )
        .unwrap();

    let mut group = c.benchmark_group("chunk_signing");
    group.throughput(Throughput::Bytes(data.len() as u64));
    group.bench_function("sha256", |b| {
        b.iter(|| black_box(Sha256::digest(black_box(&data))))
    });
    let mut chunks = signer
        .chunk_signer(&params, &seed, ChunkedPayload::Signed)
        .unwrap();
    group.bench_function("signed", |b| {
        b.iter(|| black_box(chunks.chunk_header(black_box(&data))))
    });
    let mut with_trailer = signer
        .chunk_signer(
            &params,
            &seed,
            ChunkedPayload::SignedWithTrailer(ChecksumAlgorithm::Crc32c),
        )
        .unwrap();
    group.bench_function("signed_crc32c_trailer", |b| {
        b.iter(|| black_box(with_trailer.chunk_header(black_box(&data))))
    });

    // The server side: a framed stream of many chunks, decoded and verified chunk by chunk.
    let claimed = SignedRequest::parse(request.uri(), request.headers()).unwrap();
    let mut framer = signer
        .chunk_signer(&params, &seed, ChunkedPayload::Signed)
        .unwrap();
    let rounds = 64usize;
    let mut framed = Vec::new();
    for _ in 0..rounds {
        framer.frame_into(&data, &mut framed);
    }
    group.throughput(Throughput::Bytes((data.len() * rounds) as u64));
    group.bench_function("decode_verify_64_chunks", |b| {
        b.iter(|| {
            let mut decoder = signer.chunk_decoder(
                &claimed,
                &creds,
                ChunkedPayload::Signed,
                (data.len() * rounds) as u64,
            );
            let mut n = 0;
            for slice in framed.chunks(16 * 1024) {
                decoder.feed(slice);
                while let Some(d) = decoder.next_data().unwrap() {
                    n += d.len();
                }
            }
            black_box(n)
        })
    });
    group.bench_function("sha256_64_chunks", |b| {
        b.iter(|| {
            for _ in 0..rounds {
                black_box(Sha256::digest(black_box(&data)));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
