//! Event-stream message signing: ours against aws-sigv4's `sign-eventstream`, for a small
//! message (a 320-byte audio frame, Transcribe's 10 ms at 16 kHz) and a 64 KiB one; and verifying
//! (ours only: aws-sigv4 has no verifier).
//!
//! Run: `cargo bench -p sigv4-core --features eventstream --bench eventstream -- --warm-up-time 1
//! --measurement-time 3`.
//!
//! Both sides start from the same inner message (our `Message` and aws-smithy's equivalent) and
//! return the encoded signed outer message; both keep their long-lived state outside the timed
//! part (our `EventStreamSigner` with the signer's key cache; aws-sigv4's `Identity`). aws-sigv4
//! returns a `Message` that still has to be encoded to reach the wire, so its timing includes
//! that encoding.

use std::hint::black_box;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sigv4::event_stream::sign_message;
use aws_sigv4::sign::v4;
use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_runtime_api::client::identity::Identity;
use aws_smithy_types::event_stream as smithy;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sigv4_core::eventstream::{EventStreamSigner, EventStreamVerifier, HeaderValue, Message};
use sigv4_core::{Credentials, Signer};

const AKID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const SEED: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn time() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_750_000_000)
}

/// aws-sigv4's parameters (built per message, as its event-stream signer takes them).
fn aws_params(identity: &Identity) -> v4::SigningParams<'_, ()> {
    v4::SigningParams::builder()
        .identity(identity)
        .region("us-east-1")
        .name("transcribe")
        .time(time())
        .settings(())
        .build()
        .unwrap()
}

fn messages(len: usize) -> (Message, smithy::Message) {
    let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
    let ours = Message::new(payload.clone())
        .with_header(":message-type", HeaderValue::String("event".into()))
        .with_header(":event-type", HeaderValue::String("AudioEvent".into()))
        .with_header(
            ":content-type",
            HeaderValue::String("application/octet-stream".into()),
        );
    let theirs = smithy::Message::new(payload)
        .add_header(smithy::Header::new(
            ":message-type",
            smithy::HeaderValue::String("event".into()),
        ))
        .add_header(smithy::Header::new(
            ":event-type",
            smithy::HeaderValue::String("AudioEvent".into()),
        ))
        .add_header(smithy::Header::new(
            ":content-type",
            smithy::HeaderValue::String("application/octet-stream".into()),
        ));
    (ours, theirs)
}

fn bench(c: &mut Criterion) {
    let signer = Signer::new();
    let creds = Credentials::new(AKID, SECRET);
    let identity: Identity =
        aws_credential_types::Credentials::new(AKID, SECRET, None, None, "bench").into();
    for (name, len) in [("320B", 320usize), ("64KiB", 64 * 1024)] {
        let (ours, theirs) = messages(len);
        let mut group = c.benchmark_group(format!("eventstream_sign_{name}"));
        group.throughput(Throughput::Bytes(len as u64));

        let mut stream =
            EventStreamSigner::new(&signer, &creds, "us-east-1", "transcribe", SEED).unwrap();
        // Agreement before timing: the same first signature.
        let (_, their_first) = sign_message(&theirs, SEED, &aws_params(&identity))
            .unwrap()
            .into_parts();
        let our_first = stream.sign_message(&ours, time()).unwrap();
        assert_eq!(our_first.signature().as_str(), their_first);

        group.bench_function("sigv4-core", |b| {
            b.iter(|| black_box(stream.sign_message(black_box(&ours), time()).unwrap()))
        });
        let mut last = their_first;
        group.bench_function("aws-sigv4", |b| {
            b.iter(|| {
                let params = aws_params(&identity);
                let (signed, signature) = sign_message(black_box(&theirs), &last, &params)
                    .unwrap()
                    .into_parts();
                let mut wire = Vec::new();
                write_message_to(&signed, &mut wire).unwrap();
                last = signature;
                black_box(wire)
            })
        });

        // Verifying: the same signed message again and again, each time from the same chain
        // state (a clone of a fresh verifier), so it always passes.
        let fresh =
            EventStreamVerifier::new(&signer, &creds, "us-east-1", "transcribe", SEED).unwrap();
        let frame = our_first.into_bytes();
        group.bench_function("sigv4-core verify", |b| {
            b.iter(|| {
                let mut verifier = fresh.clone();
                black_box(verifier.verify(black_box(frame.clone())).unwrap())
            })
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
