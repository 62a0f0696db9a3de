//! Event-stream tests: the message format against aws-smithy-eventstream's encoder and decoder,
//! signatures against aws-sigv4's `sign-eventstream`, and malformed or tampered input.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sigv4::event_stream::{sign_empty_message, sign_message};
use aws_sigv4::sign::v4;
use aws_smithy_eventstream::frame::{read_message_from, write_message_to};
use aws_smithy_runtime_api::client::identity::Identity;
use aws_smithy_types::event_stream as smithy;
use aws_smithy_types::DateTime;
use bytes::Bytes;

use super::*;

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

fn to_smithy(message: &Message) -> smithy::Message {
    let mut out = smithy::Message::new(message.payload.clone());
    for header in &message.headers {
        let value = match &header.value {
            HeaderValue::Bool(v) => smithy::HeaderValue::Bool(*v),
            HeaderValue::Byte(v) => smithy::HeaderValue::Byte(*v),
            HeaderValue::Int16(v) => smithy::HeaderValue::Int16(*v),
            HeaderValue::Int32(v) => smithy::HeaderValue::Int32(*v),
            HeaderValue::Int64(v) => smithy::HeaderValue::Int64(*v),
            HeaderValue::ByteArray(v) => smithy::HeaderValue::ByteArray(v.clone()),
            HeaderValue::String(v) => smithy::HeaderValue::String(v.clone().into()),
            HeaderValue::Timestamp(v) => smithy::HeaderValue::Timestamp(DateTime::from_millis(*v)),
            HeaderValue::Uuid(v) => smithy::HeaderValue::Uuid(*v),
        };
        out = out.add_header(smithy::Header::new(header.name.clone(), value));
    }
    out
}

fn from_smithy(message: &smithy::Message) -> Message {
    let mut out = Message::new(message.payload().clone());
    for header in message.headers() {
        let value = match header.value() {
            smithy::HeaderValue::Bool(v) => HeaderValue::Bool(*v),
            smithy::HeaderValue::Byte(v) => HeaderValue::Byte(*v),
            smithy::HeaderValue::Int16(v) => HeaderValue::Int16(*v),
            smithy::HeaderValue::Int32(v) => HeaderValue::Int32(*v),
            smithy::HeaderValue::Int64(v) => HeaderValue::Int64(*v),
            smithy::HeaderValue::ByteArray(v) => HeaderValue::ByteArray(v.clone()),
            smithy::HeaderValue::String(v) => HeaderValue::String(v.as_str().to_owned()),
            smithy::HeaderValue::Timestamp(v) => HeaderValue::Timestamp(v.to_millis().unwrap()),
            smithy::HeaderValue::Uuid(v) => HeaderValue::Uuid(*v),
            other => panic!("unexpected smithy header value {other:?}"),
        };
        out = out.with_header(header.name().as_str(), value);
    }
    out
}

fn smithy_encode(message: &smithy::Message) -> Vec<u8> {
    let mut out = Vec::new();
    write_message_to(message, &mut out).unwrap();
    out
}

fn random_bytes(rng: &mut fastrand::Rng, max: usize) -> Vec<u8> {
    let n = rng.usize(..=max);
    (0..n).map(|_| rng.u8(..)).collect()
}

fn random_string(rng: &mut fastrand::Rng, max: usize) -> String {
    let n = rng.usize(..=max);
    (0..n)
        .map(|_| match rng.u8(..4) {
            0 => 'é',
            1 => '語',
            _ => rng.alphanumeric(),
        })
        .collect()
}

/// A message with every header type, in random numbers and order.
fn random_message(rng: &mut fastrand::Rng) -> Message {
    let mut message = Message::new(random_bytes(rng, 600));
    for _ in 0..rng.usize(..8) {
        let name = if rng.bool() {
            [":event-type", ":message-type", ":content-type"][rng.usize(..3)].to_owned()
        } else {
            random_string(rng, 40)
        };
        let value = match rng.u8(..10) {
            0 => HeaderValue::Bool(true),
            1 => HeaderValue::Bool(false),
            2 => HeaderValue::Byte(rng.i8(..)),
            3 => HeaderValue::Int16(rng.i16(..)),
            4 => HeaderValue::Int32(rng.i32(..)),
            5 => HeaderValue::Int64(rng.i64(..)),
            6 => HeaderValue::ByteArray(random_bytes(rng, 100).into()),
            7 => HeaderValue::String(random_string(rng, 100)),
            8 => HeaderValue::Timestamp(rng.i64(-10_000_000_000_000..10_000_000_000_000)),
            _ => HeaderValue::Uuid(rng.u128(..)),
        };
        message = message.with_header(name, value);
    }
    message
}

#[test]
fn encoding_matches_aws_smithy_eventstream_both_ways() {
    let mut rng = fastrand::Rng::with_seed(0x5eed_e7e7);
    for case in 0..500 {
        let ours = random_message(&mut rng);
        let theirs = to_smithy(&ours);
        let encoded = ours.encode().unwrap();
        assert_eq!(encoded, smithy_encode(&theirs), "case {case}: encoding");
        assert_eq!(encoded.len(), ours.encoded_len().unwrap());
        // Their decoder reads ours, ours reads theirs.
        let read_back = read_message_from(&encoded[..]).unwrap();
        assert_eq!(from_smithy(&read_back), ours, "case {case}: smithy decode");
        assert_eq!(
            Message::decode(&smithy_encode(&theirs)).unwrap(),
            ours,
            "case {case}: our decode"
        );
    }
}

#[test]
fn encoding_limits_are_typed_errors() {
    let long_name = Message::new(&b""[..]).with_header("n".repeat(256), HeaderValue::Bool(true));
    assert_eq!(
        long_name.encode(),
        Err(FrameError::HeaderNameTooLong { length: 256 })
    );
    let long_value = Message::new(&b""[..]).with_header(
        "v",
        HeaderValue::String("a".repeat(MAX_HEADER_VALUE_LEN + 1)),
    );
    assert!(matches!(
        long_value.encode(),
        Err(FrameError::HeaderValueTooLong { length: 32768, .. })
    ));
    // The longest value both encoders accept.
    let longest = Message::new(&b""[..]).with_header(
        "v",
        HeaderValue::ByteArray(vec![7; MAX_HEADER_VALUE_LEN].into()),
    );
    assert_eq!(
        longest.encode().unwrap(),
        smithy_encode(&to_smithy(&longest))
    );
    let huge = Message::new(vec![0u8; MAX_MESSAGE_LEN]);
    assert!(matches!(
        huge.encode(),
        Err(FrameError::MessageLength { .. })
    ));
    let mut many = Message::new(&b""[..]);
    for _ in 0..5 {
        many = many.with_header("h", HeaderValue::ByteArray(vec![0; 30_000].into()));
    }
    assert!(matches!(
        many.encode(),
        Err(FrameError::HeadersLength { .. })
    ));
}

/// Rewrites the prelude (lengths and its CRC) and the message CRC so that only the field under
/// test is wrong.
fn with_lengths(bytes: &[u8], total: u32, headers: u32) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[0..4].copy_from_slice(&total.to_be_bytes());
    out[4..8].copy_from_slice(&headers.to_be_bytes());
    let crc = crc32fast::hash(&out[..8]);
    out[8..12].copy_from_slice(&crc.to_be_bytes());
    out
}

fn fix_message_crc(bytes: &mut [u8]) {
    let n = bytes.len();
    let crc = crc32fast::hash(&bytes[..n - 4]);
    bytes[n - 4..].copy_from_slice(&crc.to_be_bytes());
}

#[test]
fn malformed_messages_are_typed_errors() {
    let message = Message::new(&b"payload"[..])
        .with_header(":event-type", HeaderValue::String("Chunk".into()))
        .with_header("n", HeaderValue::Int32(7));
    let good = message.encode().unwrap();
    let len = good.len();

    // Truncated anywhere.
    for cut in 0..len {
        assert!(
            matches!(
                Message::decode(&good[..cut]),
                Err(FrameError::Truncated { .. })
            ),
            "cut at {cut}"
        );
    }
    // Trailing bytes.
    let mut longer = good.clone();
    longer.push(0);
    assert_eq!(
        Message::decode(&longer),
        Err(FrameError::TrailingBytes { count: 1 })
    );
    // Bad prelude CRC, bad message CRC.
    let mut bad = good.clone();
    bad[9] ^= 0xff;
    assert!(matches!(
        Message::decode(&bad),
        Err(FrameError::PreludeCrc { .. })
    ));
    let mut bad = good.clone();
    bad[len - 1] ^= 1;
    assert!(matches!(
        Message::decode(&bad),
        Err(FrameError::MessageCrc { .. })
    ));
    // Huge or tiny lengths with a valid prelude CRC: refused from the prelude alone.
    for total in [u32::MAX, (MAX_MESSAGE_LEN + 1) as u32, 15, 0] {
        let bad = with_lengths(&good, total, 0);
        assert!(
            matches!(Message::decode(&bad), Err(FrameError::MessageLength { .. })),
            "total {total}"
        );
        let mut reader = FrameReader::new();
        reader.push(&bad[..PRELUDE_LEN]);
        assert!(reader.next_frame().is_err(), "reader, total {total}");
    }
    for headers in [u32::MAX, len as u32, (len - 15) as u32] {
        let bad = with_lengths(&good, len as u32, headers);
        assert!(
            matches!(Message::decode(&bad), Err(FrameError::HeadersLength { .. })),
            "headers {headers}"
        );
    }
    // Headers that run past their section, an unknown type, a name that is not UTF-8.
    let mut bad = good.clone();
    bad[PRELUDE_LEN] = 200; // first header's name length
    fix_message_crc(&mut bad);
    assert!(matches!(
        Message::decode(&bad),
        Err(FrameError::MalformedHeader { offset: 0, .. })
    ));
    let mut bad = good.clone();
    bad[PRELUDE_LEN + 1 + ":event-type".len()] = 42;
    fix_message_crc(&mut bad);
    assert_eq!(
        Message::decode(&bad),
        Err(FrameError::UnknownHeaderType {
            name: ":event-type".into(),
            type_byte: 42
        })
    );
    let mut bad = good.clone();
    bad[PRELUDE_LEN + 1] = 0xff;
    fix_message_crc(&mut bad);
    assert!(matches!(
        Message::decode(&bad),
        Err(FrameError::MalformedHeader { .. })
    ));
    // A string length longer than the headers section.
    let mut bad = good.clone();
    let at = PRELUDE_LEN + 1 + ":event-type".len() + 1;
    bad[at..at + 2].copy_from_slice(&0x7fffu16.to_be_bytes());
    fix_message_crc(&mut bad);
    assert!(matches!(
        Message::decode(&bad),
        Err(FrameError::MalformedHeader { .. })
    ));
}

#[test]
fn random_mutations_never_panic_and_agree_with_smithy_on_crc() {
    let mut rng = fastrand::Rng::with_seed(77);
    for _ in 0..3000 {
        let mut bytes = random_message(&mut rng).encode().unwrap();
        for _ in 0..rng.usize(1..4) {
            let i = rng.usize(..bytes.len());
            bytes[i] = rng.u8(..);
        }
        if rng.bool() {
            fix_message_crc(&mut bytes);
        }
        let ours = Message::decode(&bytes);
        let theirs = read_message_from(&bytes[..]);
        if let Ok(message) = &ours {
            // Whatever we accept, the reference decodes to the same message.
            assert_eq!(&from_smithy(theirs.as_ref().unwrap()), message);
        }
        let mut reader = FrameReader::new();
        reader.push(&bytes);
        let _ = reader.next_frame();
    }
}

fn smithy_params<'a>(identity: &'a Identity, time: SystemTime) -> v4::SigningParams<'a, ()> {
    v4::SigningParams::builder()
        .identity(identity)
        .region("us-west-2")
        .name("transcribe")
        .time(time)
        .settings(())
        .build()
        .unwrap()
}

#[test]
fn signatures_match_aws_sigv4_for_a_generated_stream() {
    let creds = Credentials::new("AKIDEXAMPLE", SECRET);
    let identity: Identity =
        aws_credential_types::Credentials::new("AKIDEXAMPLE", SECRET, None, None, "test").into();
    let signer = Signer::new();
    let mut rng = fastrand::Rng::with_seed(0xe7e7);
    let seed = crate::sha256_hex(b"the request's signature");
    let mut ours =
        EventStreamSigner::new(&signer, &creds, "us-west-2", "transcribe", &seed).unwrap();
    let mut last = seed.clone();
    // Starts a minute before midnight, with sub-second times, so the stream crosses a day
    // (a new signing key) and the sub-seconds must be dropped.
    let mut time = UNIX_EPOCH + Duration::from_secs(1_700_006_340) + Duration::from_millis(250);
    for i in 0..200 {
        time += Duration::from_millis(rng.u64(0..900));
        let message = random_message(&mut rng);
        let signed = ours.sign_message(&message, time).unwrap();
        let (theirs, sig) =
            sign_message(&to_smithy(&message), &last, &smithy_params(&identity, time))
                .unwrap()
                .into_parts();
        assert_eq!(signed.signature().as_str(), sig, "message {i}: signature");
        assert_eq!(
            &signed.bytes()[..],
            &smithy_encode(&theirs)[..],
            "message {i}: bytes"
        );
        last = sig;
    }
    assert!(ours.previous_signature().as_str() == last);
    let end = ours.sign_end(time).unwrap();
    let (theirs, sig) = sign_empty_message(&last, &smithy_params(&identity, time))
        .unwrap()
        .into_parts();
    assert_eq!(end.signature().as_str(), sig);
    assert_eq!(&end.bytes()[..], &smithy_encode(&theirs)[..]);
    assert!(ours.is_ended());
    assert_eq!(ours.sign_end(time).unwrap_err(), EventStreamError::Ended);
}

/// aws-sigv4's own unit test of the event-stream string to sign fixes the inputs (credentials
/// `ANOTREAL`/`notrealrnrELgWzOk3IfjzDKtFBhDby`, us-east-1, `testservice`, 123456789.000001234 s,
/// previous signature `sha256("last message sts")`); our signature of its message must equal the
/// one aws-sigv4 computes from them.
#[test]
fn aws_sigv4_unit_test_inputs() {
    let creds = Credentials::new("ANOTREAL", "notrealrnrELgWzOk3IfjzDKtFBhDby");
    let identity: Identity = aws_credential_types::Credentials::new(
        "ANOTREAL",
        "notrealrnrELgWzOk3IfjzDKtFBhDby",
        None,
        None,
        "test",
    )
    .into();
    let time = UNIX_EPOCH + Duration::new(123_456_789, 1234);
    let last = crate::sha256_hex(b"last message sts");
    let message = Message::new(&b"test payload"[..])
        .with_header("some-header", HeaderValue::String("value".into()));
    let mut ours =
        EventStreamSigner::new(&Signer::new(), &creds, "us-east-1", "testservice", &last).unwrap();
    let signed = ours.sign_message(&message, time).unwrap();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("testservice")
        .time(time)
        .settings(())
        .build()
        .unwrap();
    let (_, sig) = sign_message(&to_smithy(&message), &last, &params)
        .unwrap()
        .into_parts();
    assert_eq!(signed.signature().as_str(), sig);
    assert_eq!(signed.date().as_str(), "19731129T213309Z");
}

fn signed_stream(count: usize) -> (Credentials, String, Vec<Bytes>) {
    let creds = Credentials::new("AKIDEXAMPLE", SECRET);
    let seed = crate::sha256_hex(b"seed");
    let mut signer =
        EventStreamSigner::new(&Signer::new(), &creds, "us-east-1", "bedrock", &seed).unwrap();
    let t = UNIX_EPOCH + Duration::from_secs(1_750_000_000);
    let mut frames = Vec::new();
    for i in 0..count {
        let message = Message::new(format!("message {i}").into_bytes())
            .with_header(":event-type", HeaderValue::String("chunk".into()));
        frames.push(
            signer
                .sign_message(&message, t + Duration::from_secs(i as u64))
                .unwrap()
                .into_bytes(),
        );
    }
    frames.push(
        signer
            .sign_end(t + Duration::from_secs(count as u64))
            .unwrap()
            .into_bytes(),
    );
    (creds, seed, frames)
}

fn verifier(creds: &Credentials, seed: &str) -> EventStreamVerifier {
    EventStreamVerifier::new(&Signer::new(), creds, "us-east-1", "bedrock", seed).unwrap()
}

#[test]
fn verifier_accepts_the_chain_and_refuses_each_kind_of_tampering() {
    let (creds, seed, frames) = signed_stream(5);
    let all = frames.concat();
    let verified = verifier(&creds, &seed).verify_all(&all).unwrap();
    assert_eq!(verified.len(), 6);
    assert_eq!(
        verified[2].inner().unwrap().payload,
        Bytes::from_static(b"message 2")
    );
    assert!(verified[5].is_end());

    // One flipped byte anywhere in message 3 (CRCs recomputed, so only the signature can tell)
    // refuses message 3 and names it.
    for at in PRELUDE_LEN..frames[3].len() - 4 {
        let mut tampered = frames[3].to_vec();
        tampered[at] ^= 0x01;
        fix_message_crc(&mut tampered);
        let mut v = verifier(&creds, &seed);
        for frame in &frames[..3] {
            v.verify(frame.clone()).unwrap();
        }
        let err = v.verify(Bytes::from(tampered)).unwrap_err();
        assert_eq!(err.index, 3, "byte {at}");
        // The chain stays broken.
        assert_eq!(
            v.verify(frames[4].clone()).unwrap_err(),
            VerifyMessageError {
                index: 4,
                fault: MessageFault::ChainBroken
            }
        );
    }
    // Dropped, replayed, reordered.
    let mut v = verifier(&creds, &seed);
    v.verify(frames[0].clone()).unwrap();
    let err = v.verify(frames[2].clone()).unwrap_err();
    assert_eq!(
        (err.index, err.fault),
        (1, MessageFault::SignatureDoesNotMatch)
    );
    let mut v = verifier(&creds, &seed);
    v.verify(frames[0].clone()).unwrap();
    assert_eq!(v.verify(frames[0].clone()).unwrap_err().index, 1);
    // Another seed, another secret.
    let other_seed = crate::sha256_hex(b"other");
    assert_eq!(
        verifier(&creds, &other_seed)
            .verify(frames[0].clone())
            .unwrap_err()
            .fault,
        MessageFault::SignatureDoesNotMatch
    );
    let wrong = Credentials::new("AKIDEXAMPLE", "another secret");
    assert_eq!(
        verifier(&wrong, &seed)
            .verify(frames[0].clone())
            .unwrap_err()
            .fault,
        MessageFault::SignatureDoesNotMatch
    );
    // A message after the end; a stream without its end; a stream cut in the middle.
    let mut v = verifier(&creds, &seed);
    let mut more = all.clone();
    more.extend_from_slice(&frames[0]);
    let err = v.verify_all(&more).unwrap_err();
    assert_eq!((err.index, err.fault), (6, MessageFault::AfterEnd));
    let without_end = frames[..5].concat();
    let err = verifier(&creds, &seed)
        .verify_all(&without_end)
        .unwrap_err();
    assert_eq!((err.index, err.fault), (5, MessageFault::MissingEnd));
    let cut = &all[..frames[0].len() + 20];
    let err = verifier(&creds, &seed).verify_all(cut).unwrap_err();
    assert_eq!(err.index, 1);
    assert!(matches!(
        err.fault,
        MessageFault::Frame(FrameError::Truncated { .. })
    ));
    assert_eq!(
        err.to_string(),
        format!(
            "event-stream message 1: event-stream message truncated: {} bytes needed, 20 available",
            frames[1].len()
        )
    );
}

#[test]
fn verifier_refuses_missing_headers_and_skewed_dates() {
    let (creds, seed, frames) = signed_stream(1);
    // A message with no signature headers at all.
    let plain = Bytes::from(Message::new(&b"x"[..]).encode().unwrap());
    assert_eq!(
        verifier(&creds, &seed).verify(plain).unwrap_err().fault,
        MessageFault::MissingSignature
    );
    let only_sig = Message::new(&b"x"[..]).with_header(
        CHUNK_SIGNATURE_HEADER,
        HeaderValue::ByteArray(vec![0; 32].into()),
    );
    assert_eq!(
        verifier(&creds, &seed)
            .verify(only_sig.encode().unwrap().into())
            .unwrap_err()
            .fault,
        MessageFault::MissingDate
    );
    let negative = only_sig.with_header(DATE_HEADER, HeaderValue::Timestamp(-5_000));
    assert_eq!(
        verifier(&creds, &seed)
            .verify(negative.encode().unwrap().into())
            .unwrap_err()
            .fault,
        MessageFault::DateOutOfRange
    );
    let signed_at = UNIX_EPOCH + Duration::from_secs(1_750_000_000);
    let mut v = verifier(&creds, &seed);
    v.check_dates(
        signed_at + Duration::from_secs(301),
        Duration::from_secs(300),
    );
    assert!(matches!(
        v.verify(frames[0].clone()).unwrap_err().fault,
        MessageFault::DateSkew { .. }
    ));
    let mut v = verifier(&creds, &seed);
    v.check_dates(
        signed_at - Duration::from_secs(300),
        Duration::from_secs(300),
    );
    v.verify(frames[0].clone()).unwrap();
}

#[test]
fn bad_seeds_and_scopes_are_refused() {
    let creds = Credentials::new("AKIDEXAMPLE", SECRET);
    let signer = Signer::new();
    let good = crate::sha256_hex(b"x");
    for seed in ["", "abc", &good.to_uppercase(), &good.replace('a', "g")] {
        assert_eq!(
            EventStreamSigner::new(&signer, &creds, "us-east-1", "s", seed).unwrap_err(),
            EventStreamError::InvalidSeed,
            "{seed:?}"
        );
    }
    assert!(matches!(
        EventStreamSigner::new(&signer, &creds, "us/east", "s", &good).unwrap_err(),
        EventStreamError::Signing(SigningError::InvalidField { .. })
    ));
    assert!(matches!(
        EventStreamSigner::new(&signer, &Credentials::new("A", ""), "r", "s", &good).unwrap_err(),
        EventStreamError::Signing(SigningError::EmptyCredentials)
    ));
    let mut s = EventStreamSigner::new(&signer, &creds, "us-east-1", "s", &good).unwrap();
    assert_eq!(
        s.sign(b"x", UNIX_EPOCH - Duration::from_secs(1))
            .unwrap_err(),
        EventStreamError::Signing(SigningError::TimeOutOfRange)
    );
    // Nothing secret in Debug.
    assert!(!format!("{s:?}").contains(SECRET));
}
