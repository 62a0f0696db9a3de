//! No input makes the signer or the verifier panic: random URIs, header values (including bytes
//! that are neither ASCII nor UTF-8), scopes with control characters, expiries out of range,
//! precomputed hashes and forged authorization data either sign, verify, or return an error.

use std::time::{Duration, UNIX_EPOCH};

use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use sigv4_core::verify::{SignedRequest, VerifySettings};
use sigv4_core::{
    Credentials, Payload, RequestHead, SessionTokenMode, SignatureLocation, Signer, SigningParams,
    SigningSettings,
};

const ALPHABET: &[u8] = b"aZ09-_.~/%?&=+ #@:;,!$'()*[]\t\x01\x7f\xc3\xa9\xff";

fn random_bytes(rng: &mut fastrand::Rng, max: usize) -> Vec<u8> {
    let len = rng.usize(0..=max);
    (0..len)
        .map(|_| ALPHABET[rng.usize(..ALPHABET.len())])
        .collect()
}

fn random_text(rng: &mut fastrand::Rng, max: usize) -> String {
    String::from_utf8_lossy(&random_bytes(rng, max)).into_owned()
}

fn random_uri(rng: &mut fastrand::Rng) -> Uri {
    loop {
        let mut text = match rng.u8(0..4) {
            0 => String::from("https://h.example.com"),
            1 => String::from("http://[::1]:8080"),
            2 => String::new(),
            _ => String::from("example.com"),
        };
        text.push_str(&random_text(rng, 40));
        if let Ok(uri) = text.parse::<Uri>() {
            return uri;
        }
    }
}

fn random_headers(rng: &mut fastrand::Rng) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for _ in 0..rng.usize(0..6) {
        let name = [
            "host",
            "x-a",
            "X-B",
            "content-type",
            "user-agent",
            "x-amz-date",
        ][rng.usize(..6)];
        let value = random_bytes(rng, 30);
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(&value),
        ) {
            headers.append(name, value);
        }
    }
    headers
}

#[test]
fn random_inputs_never_panic() {
    let mut rng = fastrand::Rng::with_seed(0x5167_7634);
    let signer = Signer::new();
    let (mut signed, mut refused) = (0u32, 0u32);
    for i in 0..20_000u32 {
        let uri = random_uri(&mut rng);
        let headers = random_headers(&mut rng);
        let akid = if rng.bool() {
            "AKID".to_owned()
        } else {
            random_text(&mut rng, 6)
        };
        let secret = if rng.u8(0..10) == 0 {
            String::new()
        } else {
            random_text(&mut rng, 12)
        };
        let mut builder = Credentials::builder(akid, secret);
        if rng.bool() {
            builder = builder.session_token(random_text(&mut rng, 20));
        }
        let creds = builder.build();
        let region = if rng.bool() {
            "us-east-1".to_owned()
        } else {
            random_text(&mut rng, 5)
        };
        let service = if rng.bool() {
            "svc".to_owned()
        } else {
            random_text(&mut rng, 5)
        };
        let mut settings = if rng.bool() {
            SigningSettings::default()
        } else {
            SigningSettings::s3()
        };
        if rng.bool() {
            settings.session_token_mode = SessionTokenMode::AddedAfterSigning;
        }
        if rng.bool() {
            settings.location = SignatureLocation::Query {
                expires_in: Duration::from_millis(rng.u64(0..700_000_000)),
            };
        }
        let body = random_bytes(&mut rng, 20);
        let hash = random_text(&mut rng, 10);
        let payload = match rng.u8(0..3) {
            0 => Payload::Bytes(&body),
            1 => Payload::Precomputed(&hash),
            _ => Payload::Unsigned,
        };
        let time = UNIX_EPOCH + Duration::from_secs(rng.u64(0..u64::from(u32::MAX) * 80));
        let params = SigningParams::new(&creds, &region, &service, time).with_settings(&settings);
        let method = if i % 2 == 0 {
            Method::GET
        } else {
            Method::POST
        };
        match signer.sign(RequestHead::new(&method, &uri, &headers), payload, &params) {
            Ok(output) => {
                signed += 1;
                let (mut uri, mut headers) = (uri.clone(), headers.clone());
                if output.apply(&mut uri, &mut headers).is_ok() {
                    if let Ok(claimed) = SignedRequest::parse(&uri, &headers) {
                        let _ = signer.verify(
                            sigv4_core::RequestHead::new(&method, &uri, &headers),
                            &claimed,
                            payload,
                            &sigv4_core::verify::VerifyParams::new(
                                &creds,
                                time,
                                &VerifySettings::default(),
                            ),
                        );
                    }
                }
            }
            Err(_) => refused += 1,
        }
        // Forged authorization data on the verifying side.
        let mut forged = random_headers(&mut rng);
        if let Ok(v) = HeaderValue::from_bytes(&random_bytes(&mut rng, 60)) {
            let mut value = b"AWS4-HMAC-SHA256 Credential=".to_vec();
            value.extend_from_slice(v.as_bytes());
            if let Ok(v) = HeaderValue::from_bytes(&value) {
                forged.insert(http::header::AUTHORIZATION, v);
            }
        }
        if let Ok(claimed) = SignedRequest::parse(&uri, &forged) {
            let _ = signer.verify(
                sigv4_core::RequestHead::new(&method, &uri, &forged),
                &claimed,
                payload,
                &sigv4_core::verify::VerifyParams::new(&creds, time, &VerifySettings::default()),
            );
        }
    }
    // Both outcomes are exercised, so the generator is not trivially all-good or all-bad.
    assert!(
        signed > 500 && refused > 500,
        "signed {signed}, refused {refused}"
    );
}
