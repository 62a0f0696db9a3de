//! aws-chunked signing and decoding.
//!
//! - The example AWS documents for S3 in "Signature Calculations for the Authorization Header:
//!   Transferring Payload in Multiple Chunks (Chunked Upload) (AWS Signature Version 4)",
//!   <https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html>, section "Example: PUT
//!   Object": 66560 bytes of `a` in 64 KiB chunks, reproduced byte for byte (seed signature, each
//!   chunk signature, the framed body and its Content-Length).
//! - Chunk and trailer signatures against `aws-sigv4`'s `sign_chunk` / `sign_trailer` (a
//!   differential, over random chunk sizes and the three checksums).
//! - The decoder: round trips of all three forms fed in random slices; one flipped byte refused
//!   with the chunk named; truncation, wrong length, bad trailer.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use http::Request;
use sigv4_core::checksum::{checksum, ChecksumAlgorithm};
use sigv4_core::chunked::{ChunkSigner, ChunkedDecoder, ChunkedError, ChunkedPayload};
use sigv4_core::verify::{SignedRequest, VerifyParams, VerifySettings};
use sigv4_core::{
    Credentials, Payload, RequestHead, Signature, Signer, SigningParams, SigningSettings,
};

/// The example's credentials (AWS's S3 examples use `/bPxRfi`, not `+bPxRfi`).
const AKID: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
/// 20130524T000000Z.
const TIME: u64 = 1_369_353_600;

const SEED: &str = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
const CHUNK_1: &str = "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648";
const CHUNK_2: &str = "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497";
const FINAL: &str = "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9";

fn time() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(TIME)
}

/// The example's request head: PUT /examplebucket/chunkObject.txt on s3.amazonaws.com.
fn example_request() -> Request<()> {
    Request::put("https://s3.amazonaws.com/examplebucket/chunkObject.txt")
        .header("host", "s3.amazonaws.com")
        .header("x-amz-storage-class", "REDUCED_REDUNDANCY")
        .body(())
        .unwrap()
}

#[test]
fn aws_documented_example_byte_for_byte() {
    let signer = Signer::new();
    let creds = Credentials::new(AKID, SECRET);
    let settings = SigningSettings::s3();
    let params = SigningParams::new(&creds, "us-east-1", "s3", time()).with_settings(&settings);
    let mode = ChunkedPayload::Signed;
    let data = vec![b'a'; 66_560];

    let mut request = example_request();
    let framed = mode
        .set_headers(request.headers_mut(), data.len() as u64, 64 * 1024)
        .unwrap();
    assert_eq!(framed, 66_824, "the example's Content-Length");
    assert_eq!(request.headers()["content-length"], "66824");
    assert_eq!(request.headers()["content-encoding"], "aws-chunked");
    assert_eq!(request.headers()["x-amz-decoded-content-length"], "66560");
    let seed = signer
        .sign_request(
            &mut request,
            Payload::Precomputed(mode.payload_hash()),
            &params,
        )
        .unwrap();
    assert_eq!(seed.as_str(), SEED);
    assert_eq!(
        request.headers()["authorization"],
        format!(
            "AWS4-HMAC-SHA256 Credential={AKID}/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;\
             x-amz-decoded-content-length;x-amz-storage-class, Signature={SEED}"
        )
    );

    let mut chunks = signer.chunk_signer(&params, &seed, mode).unwrap();
    let mut body = Vec::new();
    for chunk in data.chunks(64 * 1024) {
        chunks.frame_into(chunk, &mut body);
    }
    body.extend_from_slice(&chunks.finish());

    let mut want = Vec::new();
    want.extend_from_slice(format!("10000;chunk-signature={CHUNK_1}\r\n").as_bytes());
    want.extend_from_slice(&[b'a'; 65_536]);
    want.extend_from_slice(format!("\r\n400;chunk-signature={CHUNK_2}\r\n").as_bytes());
    want.extend_from_slice(&[b'a'; 1024]);
    want.extend_from_slice(format!("\r\n0;chunk-signature={FINAL}\r\n\r\n").as_bytes());
    assert_eq!(body.len(), want.len());
    assert!(body == want, "the framed body differs from AWS's example");

    // And the server side accepts it, given the head's verification.
    let claimed = SignedRequest::parse(request.uri(), request.headers()).unwrap();
    let mut verify = VerifySettings::default();
    verify.signing = settings.clone();
    signer
        .verify(
            RequestHead::from(&request),
            &claimed,
            Payload::Precomputed(mode.payload_hash()),
            &VerifyParams::new(&creds, time(), &verify),
        )
        .unwrap();
    assert_eq!(
        ChunkedPayload::from_headers(request.headers()),
        Ok(Some(ChunkedPayload::Signed))
    );
    let mut decoder = signer.chunk_decoder(&claimed, &creds, mode, 66_560);
    let decoded = decode_all(&mut decoder, &body, 1000).unwrap();
    assert_eq!(decoded, data);
}

/// Feeds `framed` in slices of `step` bytes; the decoded data, or the first error.
fn decode_all(
    decoder: &mut ChunkedDecoder,
    framed: &[u8],
    step: usize,
) -> Result<Vec<u8>, ChunkedError> {
    let mut out = Vec::new();
    for slice in framed.chunks(step.max(1)) {
        decoder.feed(slice);
        while let Some(data) = decoder.next_data()? {
            out.extend_from_slice(&data);
        }
    }
    decoder.finish()?;
    Ok(out)
}

fn aws_params(identity: &Identity, t: SystemTime) -> aws_sigv4::sign::v4::SigningParams<'_, ()> {
    aws_sigv4::sign::v4::SigningParams::builder()
        .identity(identity)
        .region("us-east-1")
        .name("s3")
        .time(t)
        .settings(())
        .build()
        .unwrap()
}

/// Splits a signed framed body into its chunk signatures and the trailer lines.
fn chunk_signatures(framed: &[u8]) -> (Vec<String>, Vec<String>) {
    let mut sigs = Vec::new();
    let mut rest = framed;
    loop {
        let end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
        let line = std::str::from_utf8(&rest[..end]).unwrap();
        let (size, sig) = line.split_once(";chunk-signature=").unwrap();
        sigs.push(sig.to_owned());
        let size = usize::from_str_radix(size, 16).unwrap();
        rest = &rest[end + 2..];
        if size == 0 {
            break;
        }
        rest = &rest[size + 2..];
    }
    let trailer = std::str::from_utf8(rest)
        .unwrap()
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    (sigs, trailer)
}

#[test]
fn chunk_and_trailer_signatures_equal_aws_sigv4() {
    let mut rng = fastrand::Rng::with_seed(10);
    let signer = Signer::new();
    let creds = Credentials::new(AKID, SECRET);
    let identity = Identity::from(aws_credential_types::Credentials::new(
        AKID, SECRET, None, None, "test",
    ));
    for case in 0..24 {
        let t = time() + Duration::from_secs(rng.u64(0..400_000_000));
        let params = SigningParams::new(&creds, "us-east-1", "s3", t);
        let algorithm = [
            ChecksumAlgorithm::Crc32,
            ChecksumAlgorithm::Crc32c,
            ChecksumAlgorithm::Sha256,
        ][case % 3];
        let mode = if case % 2 == 0 {
            ChunkedPayload::SignedWithTrailer(algorithm)
        } else {
            ChunkedPayload::Signed
        };
        let seed_text: String = (0..64)
            .map(|_| char::from(b"0123456789abcdef"[rng.usize(0..16)]))
            .collect();
        let mut seed_request = Request::put("https://b.s3.amazonaws.com/k")
            .body(())
            .unwrap();
        let seed = signer
            .sign_request(&mut seed_request, Payload::Precomputed(&seed_text), &params)
            .unwrap();
        let data: Vec<u8> = (0..rng.usize(0..50_000)).map(|_| rng.u8(..)).collect();
        let chunk_size = rng.usize(1..20_000);
        let mut framer = signer.chunk_signer(&params, &seed, mode).unwrap();
        let mut framed = Vec::new();
        for chunk in data.chunks(chunk_size) {
            framer.frame_into(chunk, &mut framed);
        }
        framed.extend_from_slice(&framer.finish());
        assert_eq!(
            Some(framed.len() as u64),
            mode.encoded_length(data.len() as u64, chunk_size),
            "case {case}: framed length"
        );

        // Theirs, chained from the same seed.
        let aws = aws_params(&identity, t);
        let mut running = seed.as_str().to_owned();
        let mut want = Vec::new();
        for chunk in data.chunks(chunk_size).chain(std::iter::once(&[][..])) {
            let out =
                aws_sigv4::sign::v4::sign_chunk(&Bytes::copy_from_slice(chunk), &running, &aws)
                    .unwrap();
            running = out.signature().to_owned();
            want.push(running.clone());
        }
        let (sigs, trailer) = chunk_signatures(&framed);
        assert_eq!(sigs, want, "case {case}: chunk signatures");
        match mode.trailer() {
            None => assert!(trailer.is_empty()),
            Some(algorithm) => {
                let value = checksum(algorithm, &data);
                assert_eq!(trailer[0], format!("{}:{value}", algorithm.header_name()));
                let mut headers = aws_smithy_runtime_api::http::Headers::new();
                headers.insert(algorithm.header_name(), value);
                let theirs = aws_sigv4::sign::v4::sign_trailer(&headers, &running, &aws).unwrap();
                assert_eq!(
                    trailer[1],
                    format!("x-amz-trailer-signature:{}", theirs.signature()),
                    "case {case}: trailer signature"
                );
            }
        }

        // The decoder accepts it, fed in random slices.
        let claimed = claimed_for(&signer, &seed, &params);
        let mut decoder = signer.chunk_decoder(&claimed, &creds, mode, data.len() as u64);
        let step = rng.usize(1..70_000);
        assert_eq!(
            decode_all(&mut decoder, &framed, step).unwrap(),
            data,
            "case {case}"
        );
    }
}

/// What a server parses from a request signed at `params` with signature `seed`.
fn claimed_for(signer: &Signer, seed: &Signature, params: &SigningParams<'_>) -> SignedRequest {
    let _ = signer;
    let date = sigv4_core::AmzDate::from_system_time(params.time).unwrap();
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "authorization",
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{}/{}/{}/aws4_request, SignedHeaders=host;x-amz-date, Signature={}",
            params.credentials.access_key_id(),
            date.date(),
            params.region,
            params.service,
            seed
        )
        .parse()
        .unwrap(),
    );
    headers.insert("x-amz-date", date.as_str().parse().unwrap());
    SignedRequest::parse(&"https://b.s3.amazonaws.com/k".parse().unwrap(), &headers).unwrap()
}

/// A framed body of `data` in `mode` (seed from a fixed request), and what verifies it.
fn framed_body(
    signer: &Signer,
    creds: &Credentials,
    mode: ChunkedPayload,
    data: &[u8],
    chunk_size: usize,
) -> (Vec<u8>, ChunkedDecoder) {
    let params = SigningParams::new(creds, "eu-west-1", "s3", time());
    let mut request = Request::put("https://b.s3.amazonaws.com/k")
        .body(())
        .unwrap();
    mode.set_headers(request.headers_mut(), data.len() as u64, chunk_size)
        .unwrap();
    let seed = signer
        .sign_request(
            &mut request,
            Payload::Precomputed(mode.payload_hash()),
            &params,
        )
        .unwrap();
    let mut framer = match mode {
        ChunkedPayload::UnsignedWithTrailer(a) => ChunkSigner::unsigned(a),
        _ => signer.chunk_signer(&params, &seed, mode).unwrap(),
    };
    let mut framed = Vec::new();
    for chunk in data.chunks(chunk_size) {
        framer.frame_into(chunk, &mut framed);
    }
    framed.extend_from_slice(&framer.finish());
    assert_eq!(
        request.headers()["content-length"],
        framed.len().to_string().as_str()
    );
    let claimed = SignedRequest::parse(request.uri(), request.headers()).unwrap();
    assert_eq!(
        ChunkedPayload::from_headers(request.headers()),
        Ok(Some(mode))
    );
    let decoder = match mode {
        ChunkedPayload::UnsignedWithTrailer(a) => ChunkedDecoder::unsigned(a, data.len() as u64),
        _ => signer.chunk_decoder(&claimed, creds, mode, data.len() as u64),
    };
    (framed, decoder)
}

const MODES: [ChunkedPayload; 4] = [
    ChunkedPayload::Signed,
    ChunkedPayload::SignedWithTrailer(ChecksumAlgorithm::Crc32c),
    ChunkedPayload::SignedWithTrailer(ChecksumAlgorithm::Sha256),
    ChunkedPayload::UnsignedWithTrailer(ChecksumAlgorithm::Crc32),
];

#[test]
fn unsigned_trailer_framing() {
    let data = b"hello world, in chunks";
    let mut framer = ChunkSigner::unsigned(ChecksumAlgorithm::Crc32);
    let mut framed = Vec::new();
    for chunk in data.chunks(10) {
        framer.frame_into(chunk, &mut framed);
    }
    framed.extend_from_slice(&framer.finish());
    let crc = checksum(ChecksumAlgorithm::Crc32, data);
    assert_eq!(
        String::from_utf8(framed).unwrap(),
        format!(
            "a\r\nhello worl\r\na\r\nd, in chun\r\n2\r\nks\r\n0\r\nx-amz-checksum-crc32:{crc}\r\n\r\n"
        )
    );
}

#[test]
fn round_trips_of_every_form() {
    let signer = Signer::new();
    let creds = Credentials::new("AKIDEXAMPLE", "secret");
    let mut rng = fastrand::Rng::with_seed(7);
    for mode in MODES {
        for len in [0usize, 1, 8191, 8192, 8193, 40_000] {
            let data: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
            let (framed, mut decoder) = framed_body(&signer, &creds, mode, &data, 8192);
            let step = rng.usize(1..10_000);
            assert_eq!(
                decode_all(&mut decoder, &framed, step).unwrap(),
                data,
                "{mode:?} {len}"
            );
            assert!(decoder.is_done());
        }
    }
}

#[test]
fn one_flipped_byte_is_refused_with_the_chunk_named() {
    let signer = Signer::new();
    let creds = Credentials::new("AKIDEXAMPLE", "secret");
    let data = vec![7u8; 5 * 8192];
    for mode in MODES {
        let (mut framed, mut decoder) = framed_body(&signer, &creds, mode, &data, 8192);
        // Chunk 3's data: headers are the same length for every full chunk.
        let chunk_len = framed.len() / 5;
        let at = 3 * chunk_len + chunk_len / 2;
        framed[at] ^= 1;
        let mut delivered = 0;
        let error = (|| {
            for slice in framed.chunks(1000) {
                decoder.feed(slice);
                while let Some(d) = decoder.next_data()? {
                    delivered += d.len();
                }
            }
            decoder.finish()
        })()
        .unwrap_err();
        if mode.signs_chunks() {
            assert_eq!(
                error,
                ChunkedError::ChunkSignatureDoesNotMatch { chunk: 3 },
                "{mode:?}"
            );
            assert!(error.to_string().contains("chunk 3"), "{error}");
            // Chunks 0 to 2 were delivered, nothing of chunk 3.
            assert_eq!(delivered, 3 * 8192);
        } else {
            // Unsigned chunks: the checksum trailer catches it at the end.
            assert!(
                matches!(error, ChunkedError::ChecksumMismatch { .. }),
                "{mode:?}: {error}"
            );
        }
        // The decoder stays failed.
        decoder.feed(b"0\r\n\r\n");
        assert_eq!(decoder.next_data(), Ok(None));
        assert!(decoder.finish().is_err());
    }
}

#[test]
fn bad_trailers_lengths_and_truncation_are_refused() {
    let signer = Signer::new();
    let creds = Credentials::new("AKIDEXAMPLE", "secret");
    let data = vec![1u8; 20_000];
    let mode = ChunkedPayload::SignedWithTrailer(ChecksumAlgorithm::Crc32c);

    // A changed checksum in the trailer: the trailer signature no longer matches.
    let (framed, mut decoder) = framed_body(&signer, &creds, mode, &data, 8192);
    let text = String::from_utf8_lossy(&framed).into_owned();
    let at = text.find("x-amz-checksum-crc32c:").unwrap() + "x-amz-checksum-crc32c:".len();
    let mut bad = framed.clone();
    bad[at] = if bad[at] == b'A' { b'B' } else { b'A' };
    assert_eq!(
        decode_all(&mut decoder, &bad, 4096),
        Err(ChunkedError::TrailerSignatureDoesNotMatch)
    );

    // Cut short: truncated, naming the chunk it stopped in.
    let (framed, mut decoder) = framed_body(&signer, &creds, mode, &data, 8192);
    assert_eq!(
        decode_all(&mut decoder, &framed[..10_000], 4096),
        Err(ChunkedError::Truncated { chunk: 1 })
    );

    // A declared length that is not the data's.
    let (framed, _) = framed_body(&signer, &creds, ChunkedPayload::Signed, &data, 8192);
    let params = SigningParams::new(&creds, "eu-west-1", "s3", time());
    let mut request = Request::put("https://b.s3.amazonaws.com/k")
        .body(())
        .unwrap();
    ChunkedPayload::Signed
        .set_headers(request.headers_mut(), data.len() as u64, 8192)
        .unwrap();
    let seed = signer
        .sign_request(
            &mut request,
            Payload::Precomputed(ChunkedPayload::Signed.payload_hash()),
            &params,
        )
        .unwrap();
    let claimed = claimed_for(&signer, &seed, &params);
    for declared in [19_999u64, 20_001] {
        let mut decoder = signer.chunk_decoder(&claimed, &creds, ChunkedPayload::Signed, declared);
        let error = decode_all(&mut decoder, &framed, 3000).unwrap_err();
        assert!(
            matches!(error, ChunkedError::DecodedLengthMismatch { declared: d, .. } if d == declared),
            "{declared}: {error}"
        );
    }

    // Bytes after the end.
    let (mut framed, mut decoder) = framed_body(&signer, &creds, mode, &data, 8192);
    framed.extend_from_slice(b"junk");
    assert_eq!(
        decode_all(&mut decoder, &framed, 4096),
        Err(ChunkedError::TrailingBytes)
    );

    // A chunk larger than the decoder holds.
    let (framed, decoder) = framed_body(&signer, &creds, mode, &data, 8192);
    let mut decoder = decoder.with_max_chunk_size(4096);
    assert!(matches!(
        decode_all(&mut decoder, &framed, 4096),
        Err(ChunkedError::ChunkTooLarge { chunk: 0, .. })
    ));

    // Garbage in place of a chunk header.
    let (_, mut decoder) = framed_body(&signer, &creds, mode, &data, 8192);
    assert!(matches!(
        decode_all(&mut decoder, b"zz;chunk-signature=00\r\n", 4096),
        Err(ChunkedError::Malformed { chunk: 0, .. })
    ));
    let (_, mut decoder) = framed_body(&signer, &creds, mode, &data, 8192);
    assert!(matches!(
        decode_all(&mut decoder, &[b'1'; 10_000], 4096),
        Err(ChunkedError::Malformed { chunk: 0, .. })
    ));
}

/// The trailer example of "Signature Calculations for the Authorization Header: Including Trailing
/// Headers (Chunked Upload)", <https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming-trailers.html>:
/// the same 66560 bytes with an `x-amz-checksum-crc32c` trailer, chained from that example's seed:
/// the three chunk signatures (each chained on the one before), `sOO8/Q==` and the trailer signature.
#[test]
fn aws_documented_trailer_example() {
    let signer = Signer::new();
    let creds = Credentials::new(AKID, SECRET);
    let params = SigningParams::new(&creds, "us-east-1", "s3", time());
    let seed_text = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e";
    let mode = ChunkedPayload::SignedWithTrailer(ChecksumAlgorithm::Crc32c);
    let seed = Signature::from_hex(seed_text).unwrap();
    let mut framer = signer.chunk_signer(&params, &seed, mode).unwrap();
    let data = vec![b'a'; 66_560];
    let mut framed = Vec::new();
    for chunk in data.chunks(64 * 1024) {
        framer.frame_into(chunk, &mut framed);
    }
    framed.extend_from_slice(&framer.finish());
    let (sigs, trailer) = chunk_signatures(&framed);
    assert_eq!(
        sigs,
        [
            "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
            "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
            "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
        ]
    );
    assert_eq!(
        trailer,
        [
            "x-amz-checksum-crc32c:sOO8/Q==",
            "x-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435"
        ]
    );
}
