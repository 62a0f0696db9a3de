//! SigV4a against aws-sigv4 (its `sigv4a` feature), for a few requests, header and query forms.
//! ECDSA signatures are randomized, so the two are compared through verification: what
//! aws-sigv4 signs, our verifier accepts with the secret alone (so the canonical request, string
//! to sign and key derivation agree), and what we sign, a changed byte makes ours refuse.
#![cfg(feature = "sigv4a")]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sigv4::http_request::{
    sign as aws_sign, SignableBody, SignableRequest, SignatureLocation as AwsLocation,
    SigningSettings as AwsSettings,
};
use aws_smithy_runtime_api::client::identity::Identity;
use http::Request;
use sigv4_core::verify::{SignedRequest, VerifyParams, VerifySettings};
use sigv4_core::{Algorithm, Credentials, Payload, Signer, SigningParams};

fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

const AKID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

fn requests() -> Vec<(Request<Vec<u8>>, Option<&'static str>)> {
    vec![
        (
            Request::get(
                "https://mrap.accesspoint.s3-global.amazonaws.com/key?list-type=2&prefix=a%2Fb",
            )
            .body(Vec::new())
            .unwrap(),
            None,
        ),
        (
            Request::post("https://events.example.global.api.aws/?Action=PutEvents")
                .header("content-type", "application/x-amz-json-1.1")
                .header("x-amz-target", "AWSEvents.PutEvents")
                .body(br#"{"Entries":[]}"#.to_vec())
                .unwrap(),
            None,
        ),
        (
            Request::put("https://kvs.cloudfront-kvs.global.api.aws/key-value-stores/a/keys/k")
                .header("if-match", "ETAG")
                .body(b"value".to_vec())
                .unwrap(),
            Some("FwoGZXIvYXdzEXAMPLETOKEN+/="),
        ),
    ]
}

/// Signs with aws-sigv4's SigV4a.
fn theirs(request: &mut Request<Vec<u8>>, token: Option<&str>, query: bool) {
    let creds = aws_credential_types::Credentials::new(
        AKID,
        SECRET,
        token.map(str::to_owned),
        None,
        "differential",
    );
    let identity = Identity::from(creds);
    let mut settings = AwsSettings::default();
    if query {
        settings.signature_location = AwsLocation::QueryParams;
        settings.expires_in = Some(Duration::from_secs(900));
    }
    let params = aws_sigv4::sign::v4a::SigningParams::builder()
        .identity(&identity)
        .region_set("*")
        .name("s3")
        .time(t0())
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
        .collect();
    let signable = SignableRequest::new(
        request.method().as_str(),
        request.uri().to_string(),
        headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        SignableBody::Bytes(request.body()),
    )
    .unwrap();
    let (instructions, _) = aws_sign(signable, &params).unwrap().into_parts();
    instructions.apply_to_request_http1x(request);
}

fn ours_verify(request: &Request<Vec<u8>>, token: Option<&str>) -> Result<(), String> {
    let creds = Credentials::builder(AKID, SECRET)
        .session_token_opt(token.map(str::to_owned))
        .build();
    let claimed =
        SignedRequest::parse(request.uri(), request.headers()).map_err(|e| e.to_string())?;
    assert_eq!(claimed.algorithm(), Algorithm::SigV4a);
    assert_eq!(claimed.region(), "*");
    let mut settings = VerifySettings::default();
    settings.region = Some("eu-west-3".to_owned());
    Signer::new()
        .verify(
            request.into(),
            &claimed,
            Payload::Bytes(request.body()),
            &VerifyParams::new(&creds, t0(), &settings),
        )
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[test]
fn aws_sigv4s_sigv4a_signatures_verify_with_ours() {
    for query in [false, true] {
        for (request, token) in requests() {
            let mut signed = request.clone();
            theirs(&mut signed, token, query);
            ours_verify(&signed, token)
                .unwrap_or_else(|e| panic!("query={query} {:?}: {e}", request.uri()));
            // A changed body is refused (the check can fail).
            if !request.body().is_empty() && !query {
                let mut changed = signed.clone();
                changed.body_mut()[0] ^= 1;
                assert!(ours_verify(&changed, token).is_err());
            }
        }
    }
}

#[test]
fn our_sigv4a_signatures_round_trip_and_match_aws_sigv4s_headers() {
    let signer = Signer::new();
    for (request, token) in requests() {
        let creds = Credentials::builder(AKID, SECRET)
            .session_token_opt(token.map(str::to_owned))
            .build();
        let params = SigningParams::new(&creds, "*", "s3", t0()).with_algorithm(Algorithm::SigV4a);
        let mut ours = request.clone();
        signer
            .sign_request(&mut ours, Payload::Bytes(request.body()), &params)
            .unwrap();
        ours_verify(&ours, token).unwrap();
        let mut theirs_signed = request.clone();
        theirs(&mut theirs_signed, token, false);
        // The same headers set, the same Authorization up to the signature.
        let upto = |r: &Request<Vec<u8>>| {
            let auth = r.headers()["authorization"].to_str().unwrap();
            auth[..auth.find("Signature=").unwrap()].to_owned()
        };
        assert_eq!(upto(&ours), upto(&theirs_signed));
        for name in ["x-amz-date", "x-amz-region-set", "x-amz-security-token"] {
            assert_eq!(
                ours.headers().get(name),
                theirs_signed.headers().get(name),
                "{name}"
            );
        }
    }
}
