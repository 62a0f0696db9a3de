//! What each fuzz target does with its input, shared by the cargo-fuzz targets (`fuzz_targets/`)
//! and the stable replay of the corpora (`tests/fuzz_corpus.rs` in the workspace root, which
//! includes this file as a module). Every function must return for every input: a panic is a
//! finding. Inputs are raw bytes, cut into fields by the layouts documented on each function (no
//! `arbitrary`: the seed corpora are readable text).
#![forbid(unsafe_code)]

use std::time::{Duration, UNIX_EPOCH};

use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Uri};
use sigv4_core::verify::{
    SignedHeadersError, SignedRequest, VerifyError, VerifySettings, MAX_SIGNED_HEADERS,
};
use sigv4_core::{
    Credentials, Payload, SessionTokenMode, SignatureLocation, Signer, SigningParams,
    SigningSettings,
};

// CRC-32 (IEEE), bit by bit: the reference shared with tower-sigv4's event stream tests,
// independent of the code under test.
#[path = "../../tests/support/crc32.rs"]
mod crc32_reference;
use crc32_reference::crc32;

/// A parsed request head from fuzz input: `METHOD URI\nname: value\n...\n\nbody`.
struct Head {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Vec<u8>,
}

fn head(text: &[u8]) -> Option<Head> {
    let (top, body) = match text.windows(2).position(|w| w == b"\n\n") {
        Some(at) => (&text[..at], text[at + 2..].to_vec()),
        None => (text, Vec::new()),
    };
    let mut lines = top.split(|&b| b == b'\n');
    let first = lines.next()?;
    let space = first.iter().position(|&b| b == b' ')?;
    let method = Method::from_bytes(&first[..space]).ok()?;
    let uri = Uri::try_from(&first[space + 1..]).ok()?;
    let mut headers = HeaderMap::new();
    for line in lines {
        let colon = line.iter().position(|&b| b == b':')?;
        let name = HeaderName::from_bytes(&line[..colon]).ok()?;
        let value = line[colon + 1..]
            .strip_prefix(b" ")
            .unwrap_or(&line[colon + 1..]);
        let value = HeaderValue::from_bytes(value).ok()?;
        headers.append(name, value);
    }
    Some(Head {
        method,
        uri,
        headers,
        body,
    })
}

/// Signing, then verifying what was signed.
///
/// Layout: byte 0 picks the settings (bit 0 S3 rules, bit 1 presign, bit 2 token added after
/// signing, bit 3 a session token, bits 4-5 the payload kind), bytes 1-4 the time (seconds since
/// 2000, big-endian), then a request head (see [`head`]).
///
/// Must not panic; and whatever signs must verify with the same credentials and time, and must
/// stop verifying when the signature changes (the invariant of issue 12).
pub fn sign(data: &[u8]) {
    if data.len() < 5 {
        return;
    }
    let flags = data[0];
    let secs = u32::from_be_bytes([data[1], data[2], data[3], data[4]]);
    let Some(h) = head(&data[5..]) else {
        return;
    };
    let now = UNIX_EPOCH + Duration::from_secs(946_684_800 + u64::from(secs));
    let mut settings = if flags & 1 != 0 {
        SigningSettings::s3()
    } else {
        SigningSettings::default()
    };
    if flags & 2 != 0 {
        settings.location = SignatureLocation::Query {
            expires_in: Duration::from_secs(900),
        };
    }
    if flags & 4 != 0 {
        settings.session_token_mode = SessionTokenMode::AddedAfterSigning;
    }
    let mut builder = Credentials::builder("AKIDFUZZ", "fuzz/secret+key");
    if flags & 8 != 0 {
        builder = builder.session_token("FQoFUZZ/token+value=");
    }
    let creds = builder.build();
    let hash = sigv4_core::sha256_hex(&h.body);
    let payload = match (flags >> 4) & 3 {
        0 => Payload::Bytes(&h.body),
        1 => Payload::Unsigned,
        2 => Payload::Precomputed(&hash),
        _ => Payload::Precomputed("not-a-hash"),
    };
    let signer = Signer::new();
    let params = SigningParams::new(&creds, "us-east-1", "service", now).with_settings(&settings);
    let mut request = Request::builder()
        .method(h.method.clone())
        .uri(h.uri.clone())
        .body(())
        .expect("method and uri are valid");
    *request.headers_mut() = h.headers.clone();
    if signer.sign_request(&mut request, payload, &params).is_err() {
        return;
    }
    // Whatever we signed, our verifier accepts with the same credentials and time...
    let mut verify_settings = VerifySettings::default();
    verify_settings.signing = settings.clone();
    let (parts, ()) = request.into_parts();
    let claimed = match SignedRequest::parse(&parts.uri, &parts.headers) {
        Ok(claimed) => claimed,
        // The verifier's documented bound on the work per request: more signed headers than
        // it accepts is refused by design, with this error and no other.
        Err(VerifyError::SignedHeaders(SignedHeadersError::TooMany { .. }))
            if signed_names(&parts) > MAX_SIGNED_HEADERS =>
        {
            return
        }
        Err(e) => panic!("a request we signed does not parse back: {e:?}"),
    };
    let verified = signer.verify(
        sigv4_core::RequestHead::from(&parts),
        &claimed,
        payload,
        &sigv4_core::verify::VerifyParams::new(&creds, now, &verify_settings),
    );
    assert!(
        verified.is_ok(),
        "a request we signed is refused: {:?}",
        verified.err()
    );
    // ...and refuses it under another key.
    let other = Credentials::builder("AKIDFUZZ", "another/secret")
        .session_token_opt(creds.session_token().map(str::to_owned))
        .build();
    let refused = signer.verify(
        sigv4_core::RequestHead::from(&parts),
        &claimed,
        payload,
        &sigv4_core::verify::VerifyParams::new(&other, now, &verify_settings),
    );
    assert!(
        refused.is_err(),
        "a request verified under the wrong secret"
    );
}

/// Verification of anything: a request head with any `Authorization` header or presigned query.
///
/// Layout: bytes 0-3 the server's time (seconds since 2000), then a request head. Must not panic
/// (nor take long: the work per request is bounded before hashing).
pub fn verify(data: &[u8]) {
    if data.len() < 4 {
        return;
    }
    let secs = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
    let Some(h) = head(&data[4..]) else {
        return;
    };
    let now = UNIX_EPOCH + Duration::from_secs(946_684_800 + u64::from(secs));
    let Ok(claimed) = SignedRequest::parse(&h.uri, &h.headers) else {
        return;
    };
    let creds = Credentials::new("AKIDFUZZ", "fuzz/secret+key");
    let mut s3 = VerifySettings::default();
    s3.signing = SigningSettings::s3();
    s3.max_skew = Duration::MAX;
    for settings in [VerifySettings::default(), s3] {
        let _ = Signer::new().verify(
            sigv4_core::RequestHead::new(&h.method, &h.uri, &h.headers),
            &claimed,
            Payload::Bytes(&h.body),
            &sigv4_core::verify::VerifyParams::new(&creds, now, &settings),
        );
    }
}

/// The shared config and credentials files: parse both (the input split at the first NUL byte),
/// merge them, and resolve the selected profile's chain for every profile name they define.
pub fn profile(data: &[u8]) {
    use sigv4_credentials::profile::{chain, parse, FileKind, ProfileSet};
    let (config, credentials) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let (Ok(config), Ok(credentials)) = (
        std::str::from_utf8(config),
        std::str::from_utf8(credentials),
    ) else {
        return;
    };
    let (Ok(config), Ok(credentials)) = (
        parse(FileKind::Config, config),
        parse(FileKind::Credentials, credentials),
    ) else {
        return;
    };
    let mut names: Vec<String> = config.profiles().keys().cloned().collect();
    names.extend(credentials.profiles().keys().cloned());
    names.push("default".to_owned());
    names.truncate(16);
    for name in names {
        let set = ProfileSet::from_files(config.clone(), credentials.clone(), &name);
        let _ = chain::resolve(&set);
        let _ = sigv4_credentials::sts::endpoint::resolve(
            &sigv4_credentials::Env::from_pairs::<&str, &str>([]),
            Some(&set),
        );
    }
}

/// Every credentials document a source parses: the IMDS / container JSON, `credential_process`
/// output, STS's XML answers, and RFC 3339 times. Must not panic for any bytes.
pub fn documents(data: &[u8]) {
    let _ = sigv4_credentials::document::parse_credentials_document(data, "fuzz", true);
    let _ = sigv4_credentials::document::parse_credentials_document(data, "fuzz", false);
    let _ = sigv4_credentials::process::parse_output(data);
    let text = String::from_utf8_lossy(data);
    let _ = sigv4_credentials::sts::parse_credentials_answer(&text, "fuzz");
    let _ = sigv4_core::time::parse_rfc3339(&text);
    let _ = sigv4_core::AmzDate::parse(&text);
}

/// The seed of the event-stream chain the `eventstream` target verifies against (the seed
/// corpus's signed streams chain from it, signed with [`EVENTSTREAM_SECRET`] for us-east-1 and
/// `transcribe`).
pub const EVENTSTREAM_SEED: &str =
    "1f2e3d4c5b6a79881f2e3d4c5b6a79881f2e3d4c5b6a79881f2e3d4c5b6a7988";
/// The secret of the `eventstream` target's credentials.
pub const EVENTSTREAM_SECRET: &str = "eventstream-fuzz-secret";

/// Event streams: the frame reader, the decoder, the chain verifier, and signing.
///
/// Layout: byte 0 sets how the rest is pushed into the [`FrameReader`](sigv4_core::eventstream::FrameReader)
/// (`byte 0 + 1` bytes at a time), then the stream's bytes.
///
/// Must not panic. And: every message that decodes encodes back to the same bytes (the encoding
/// is canonical); each whole message, signed as the payload of the next message of a chain,
/// verifies; and the same signed message with one byte after the prelude changed (its CRC
/// recomputed, so only the signature can tell) is refused.
pub fn eventstream(data: &[u8]) {
    use sigv4_core::eventstream::{EventStreamSigner, EventStreamVerifier, FrameReader, Message};

    let Some((&cut, stream)) = data.split_first() else {
        return;
    };
    let signer = Signer::new();
    let creds = Credentials::new("AKIDFUZZ", EVENTSTREAM_SECRET);
    let time = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let new_verifier = || {
        EventStreamVerifier::new(&signer, &creds, "us-east-1", "transcribe", EVENTSTREAM_SEED)
            .expect("valid seed")
    };
    let mut input_chain = new_verifier();
    let mut client =
        EventStreamSigner::new(&signer, &creds, "us-east-1", "transcribe", EVENTSTREAM_SEED)
            .expect("valid seed");
    let mut server = new_verifier();
    let mut reader = FrameReader::new();
    for chunk in stream.chunks(usize::from(cut) + 1) {
        reader.push(chunk);
        loop {
            let frame = match reader.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(_) => return,
            };
            if let Ok(message) = Message::decode(&frame) {
                assert_eq!(message.encode().expect("decoded, so encodable"), frame);
            }
            let _ = input_chain.verify(frame.clone()).map(|v| v.inner());

            let Ok(signed) = client.sign(&frame, time) else {
                return; // too large to wrap
            };
            let mut probe = server.clone();
            server
                .verify(signed.bytes().clone())
                .expect("what was signed verifies");
            let mut changed = signed.bytes().to_vec();
            let n = changed.len();
            let at = 12 + frame.len() % (n - 16);
            changed[at] ^= 1 << (frame.len() % 8);
            let crc = crc32(&changed[..n - 4]);
            changed[n - 4..].copy_from_slice(&crc.to_be_bytes());
            assert!(
                probe.verify(changed.into()).is_err(),
                "a changed signed message verified"
            );
        }
    }
    let _ = reader.finish();
}

/// `sigv4 sign --spec` input: any bytes as the spec file (JSON objects, arrays of them, JSON
/// lines; see `crates/sigv4-cli/src/spec.rs`), signed with the output kept in memory.
///
/// Must not panic; a run that succeeds writes exactly as many lines as it reports, each a JSON
/// object that carries either a `signature` or an `error`; a run refused as a whole writes
/// nothing (the documented contract: the input is checked before any output).
pub fn spec(data: &[u8]) {
    let mut out = Vec::new();
    match sigv4_cli::sign_specs(data, &mut out) {
        Ok(lines) => {
            let text = std::str::from_utf8(&out).expect("the spec output is UTF-8");
            let mut count = 0;
            for line in text.lines() {
                let value: serde_json::Value =
                    serde_json::from_str(line).expect("each output line is JSON");
                let object = value.as_object().expect("each output line is an object");
                assert!(
                    object.contains_key("signature") != object.contains_key("error"),
                    "a line carries a signature or an error: {line}"
                );
                count += 1;
            }
            assert_eq!(count, lines, "the line count returned matches the output");
        }
        Err(e) => assert!(out.is_empty(), "refused ({e}) after writing output"),
    }
}

/// How many names a signed request lists in `SignedHeaders` (header or presigned query), read
/// from the request itself.
fn signed_names(parts: &http::request::Parts) -> usize {
    // The Authorization value's parts are split at `,`, a query's at `&` (a header name may
    // hold a `&`, never a `,`; in a query it is encoded).
    let (text, separator, field) = match parts.headers.get(http::header::AUTHORIZATION) {
        Some(value) => (
            String::from_utf8_lossy(value.as_bytes()).into_owned(),
            ',',
            "SignedHeaders=",
        ),
        None => (
            parts.uri.query().unwrap_or("").replace("%3B", ";"),
            '&',
            "X-Amz-SignedHeaders=",
        ),
    };
    text.split(separator)
        .find_map(|part| {
            let part = part.trim();
            // The header form's first part starts with the algorithm's name.
            let part = part.rsplit(' ').next().unwrap_or(part);
            part.strip_prefix(field)
        })
        .map_or(0, |list| list.split(';').count())
}
