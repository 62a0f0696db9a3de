//! S3's presigning rule, applied by the core: a presigned S3 URL signs `UNSIGNED-PAYLOAD`
//! whatever body is given (the body is not known when the URL is used), unless the caller gives
//! a precomputed hash; other services' presigned URLs sign the body's hash as given.

use std::time::{Duration, UNIX_EPOCH};

use sigv4_core::{
    Credentials, Payload, SignatureLocation, Signer, SigningParams, SigningSettings,
    UNSIGNED_PAYLOAD,
};

fn payload_hash(settings: &SigningSettings, payload: Payload<'_>) -> String {
    let creds = Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
    let time = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let params = SigningParams::new(&creds, "us-east-1", "s3", time).with_settings(settings);
    let request = http::Request::put("https://bucket.s3.amazonaws.com/key")
        .body(())
        .unwrap();
    let (_, inspection) = Signer::new()
        .inspect((&request).into(), payload, &params)
        .unwrap();
    assert!(inspection
        .canonical_request
        .ends_with(&inspection.payload_hash));
    inspection.payload_hash
}

fn presigned(mut settings: SigningSettings) -> SigningSettings {
    settings.location = SignatureLocation::Query {
        expires_in: Duration::from_secs(900),
    };
    settings
}

#[test]
fn s3_presigned_urls_sign_unsigned_payload() {
    let s3 = presigned(SigningSettings::s3());
    assert_eq!(payload_hash(&s3, Payload::Bytes(b"body")), UNSIGNED_PAYLOAD);
    assert_eq!(payload_hash(&s3, Payload::Bytes(b"")), UNSIGNED_PAYLOAD);
    // A hash the caller computed is theirs to sign.
    let given = "4b6e0c5fa2f7d4b3a0b4d0c7f1c2f47e7a8f3d9b6b1c2d3e4f5a6b7c8d9e0f1a";
    assert_eq!(payload_hash(&s3, Payload::Precomputed(given)), given);
}

#[test]
fn s3_header_signing_and_other_presigned_urls_hash_the_body() {
    let body_hash = sigv4_core::sha256_hex(b"body");
    assert_eq!(
        payload_hash(&SigningSettings::s3(), Payload::Bytes(b"body")),
        body_hash
    );
    let plain = presigned(SigningSettings::default());
    assert_eq!(payload_hash(&plain, Payload::Bytes(b"body")), body_hash);
}
