//! Bugs found by fuzzing outside this repository (issue 12), one named test each. Every test here
//! failed before its fix: what our signer produced, our verifier refused or misread; a request
//! could make verification expensive; a setting near `Duration::MAX` made the verifier panic.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderValue, Request};
use sigv4_core::verify::{
    SignedHeadersError, SignedRequest, VerifyError, VerifySettings, MAX_SIGNED_HEADERS,
    MAX_SIGNED_HEADER_BYTES,
};
use sigv4_core::{Credentials, Payload, Signer, SigningError, SigningParams, SigningSettings};

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

fn get(uri: &str) -> Request<()> {
    Request::get(uri).body(()).expect("valid request")
}

fn sign(
    req: &mut Request<()>,
    creds: &Credentials,
    settings: &SigningSettings,
) -> Result<(), SigningError> {
    let params = SigningParams::new(creds, "us-east-1", "svc", t0()).with_settings(settings);
    Signer::new()
        .sign_request(req, Payload::Bytes(b""), &params)
        .map(|_| ())
}

fn verify_with(
    req: &Request<()>,
    creds: &Credentials,
    settings: &VerifySettings,
) -> Result<(), VerifyError> {
    let claimed = SignedRequest::parse(req.uri(), req.headers())?;
    Signer::new()
        .verify(
            req.into(),
            &claimed,
            Payload::Bytes(b""),
            &sigv4_core::verify::VerifyParams::new(creds, t0(), settings),
        )
        .map(|_| ())
}

fn verify(req: &Request<()>, creds: &Credentials) -> Result<(), VerifyError> {
    verify_with(req, creds, &VerifySettings::default())
}

fn presign_settings() -> SigningSettings {
    SigningSettings::presigned(Duration::from_secs(300))
}

// 1. A `,` in the access key id, region or service.

/// `,` separates the parts of the `Authorization` header, so a credential scope holding one
/// cannot be read back: the signer used to sign it anyway (and the verifier then refused what we
/// produced). It is now refused when signing, naming the field, in both modes.
#[test]
fn comma_in_access_key_region_or_service_is_refused_when_signing() {
    let cases = [
        ("AKID,EXAMPLE", "us-east-1", "svc", "access key id"),
        ("AKIDEXAMPLE", "us-east-1,eu-west-1", "svc", "region"),
        ("AKIDEXAMPLE", "us-east-1", "s,vc", "service"),
    ];
    for settings in [SigningSettings::default(), presign_settings()] {
        for (akid, region, service, field) in cases {
            let creds = Credentials::new(akid, SECRET);
            let mut req = get("https://h.example.com/");
            let params = SigningParams::new(&creds, region, service, t0()).with_settings(&settings);
            let err = Signer::new()
                .sign_request(&mut req, Payload::Bytes(b""), &params)
                .expect_err("a ',' in the scope must be refused");
            match &err {
                SigningError::InvalidField {
                    field: got, reason, ..
                } => {
                    assert_eq!(*got, field, "{err}");
                    assert!(reason.contains("','"), "{err}");
                }
                other => panic!("expected InvalidField for {field}, got {other:?}"),
            }
            assert!(err.to_string().contains(field), "{err}");
        }
    }
}

// 2. A stale session token on the request, re-signed with credentials that have none.

/// The request carries the `x-amz-security-token` of an earlier signing; the new credentials have
/// no token. The stale token used to be signed and sent (and the verifier refused the request:
/// its token does not belong to the key). It is now removed.
#[test]
fn stale_security_token_header_is_removed_when_resigning_without_token() {
    let mut req = get("https://h.example.com/a");
    req.headers_mut().insert(
        "x-amz-security-token",
        HeaderValue::from_static("STALE-TOKEN"),
    );
    let creds = Credentials::new("AKIDEXAMPLE", SECRET);
    sign(&mut req, &creds, &SigningSettings::default()).expect("signs");
    assert!(
        !req.headers().contains_key("x-amz-security-token"),
        "{:?}",
        req.headers()
    );
    let auth = req.headers()["authorization"].to_str().unwrap().to_owned();
    assert!(!auth.contains("x-amz-security-token"), "{auth}");
    verify(&req, &creds).expect("our verifier accepts what we signed");
}

/// The same in presign mode: an `X-Amz-Security-Token` left in the query by an earlier presigning
/// is removed when presigning with credentials that have no token.
#[test]
fn stale_security_token_query_param_is_removed_when_presigning_without_token() {
    let mut req = get("https://h.example.com/a?x=1&X-Amz-Security-Token=STALE");
    let creds = Credentials::new("AKIDEXAMPLE", SECRET);
    sign(&mut req, &creds, &presign_settings()).expect("signs");
    let query = req.uri().query().unwrap();
    assert!(!query.contains("STALE"), "{query}");
    assert!(query.starts_with("x=1&X-Amz-Algorithm="), "{query}");
    verify(&req, &creds).expect("our verifier accepts what we signed");
}

/// A session token header left on a request that is then presigned with credentials that have
/// no token is removed too (the token of a presigned URL lives in its query).
#[test]
fn stale_security_token_header_is_removed_when_presigning_without_token() {
    let mut req = get("https://h.example.com/a");
    req.headers_mut().insert(
        "x-amz-security-token",
        HeaderValue::from_static("STALE-TOKEN"),
    );
    let creds = Credentials::new("AKIDEXAMPLE", SECRET);
    sign(&mut req, &creds, &presign_settings()).expect("signs");
    assert!(!req.headers().contains_key("x-amz-security-token"));
    assert!(!req.uri().query().unwrap().contains("x-amz-security-token"));
    verify(&req, &creds).expect("our verifier accepts what we signed");
}

// 3. Presigning a request that already carries a signature.

/// A header-signed request, presigned: the old `Authorization` header used to stay, and the
/// verifier (which reads the header first) checked the old signature against the new request.
/// It is now removed, with the old `x-amz-date` and token headers.
#[test]
fn presigning_removes_a_previous_authorization_header() {
    let old = Credentials::builder("AKIDOLD", "old-secret")
        .session_token("OLD-TOKEN")
        .build();
    let creds = Credentials::new("AKIDEXAMPLE", SECRET);
    let mut req = get("https://h.example.com/a?x=1");
    sign(&mut req, &old, &SigningSettings::default()).expect("signs");
    assert!(req.headers().contains_key("authorization"));
    sign(&mut req, &creds, &presign_settings()).expect("presigns");
    for name in ["authorization", "x-amz-date", "x-amz-security-token"] {
        assert!(!req.headers().contains_key(name), "{name} left in place");
    }
    let claimed = SignedRequest::parse(req.uri(), req.headers()).unwrap();
    assert!(claimed.is_presigned());
    verify(&req, &creds).expect("our verifier accepts what we signed");
}

/// A presigned URL, presigned again (new credentials, new expiry): every `X-Amz-*` signing
/// parameter of the first signing used to stay in the query, before the new ones, and the
/// verifier read the first (stale) ones. They are now removed; other parameters stay.
#[test]
fn presigning_removes_previous_signing_query_params() {
    let old = Credentials::builder("AKIDOLD", "old-secret")
        .session_token("OLD-TOKEN")
        .build();
    let creds = Credentials::new("AKIDEXAMPLE", SECRET);
    let mut req = get("https://h.example.com/a?x=1&X-Amz-Foo=kept");
    sign(
        &mut req,
        &old,
        &SigningSettings::presigned(Duration::from_secs(60)),
    )
    .expect("signs");
    sign(&mut req, &creds, &presign_settings()).expect("presigns again");
    let query = req.uri().query().unwrap();
    for name in [
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-Expires",
        "X-Amz-SignedHeaders",
        "X-Amz-Signature",
    ] {
        assert_eq!(query.matches(&format!("{name}=")).count(), 1, "{query}");
    }
    assert!(!query.contains("AKIDOLD") && !query.contains("OLD-TOKEN"));
    assert!(query.contains("X-Amz-Expires=300"), "{query}");
    assert!(query.starts_with("x=1&X-Amz-Foo=kept&"), "{query}");
    verify(&req, &creds).expect("our verifier accepts what we signed");
}

/// Parameter names are compared decoded, as the verifier reads them: an encoded
/// `X-Amz-Signature` is a signing parameter too.
#[test]
fn presigning_removes_percent_encoded_signing_params() {
    let creds = Credentials::new("AKIDEXAMPLE", SECRET);
    let mut req = get("https://h.example.com/a?X%2DAmz%2DSignature=00&y=2");
    sign(&mut req, &creds, &presign_settings()).expect("presigns");
    let query = req.uri().query().unwrap();
    assert!(!query.contains("X%2DAmz"), "{query}");
    assert!(query.starts_with("y=2&"), "{query}");
    verify(&req, &creds).expect("our verifier accepts what we signed");
}

/// Header signing a presigned URL (a re-sign in the other mode) removes the presign parameters
/// from the query as well: they would be signed as ordinary parameters and sent with a stale
/// signature and expiry.
#[test]
fn header_signing_removes_presign_query_params() {
    let creds = Credentials::new("AKIDEXAMPLE", SECRET);
    let mut req = get("https://h.example.com/a?x=1");
    sign(&mut req, &creds, &presign_settings()).expect("presigns");
    sign(&mut req, &creds, &SigningSettings::default()).expect("header signs");
    assert_eq!(req.uri().query(), Some("x=1"));
    let claimed = SignedRequest::parse(req.uri(), req.headers()).unwrap();
    assert!(!claimed.is_presigned());
    verify(&req, &creds).expect("our verifier accepts what we signed");
}

// 4. Expensive verification.

fn claimed_with_signed_headers(list: &str) -> Result<SignedRequest, VerifyError> {
    let mut req = get("https://h.example.com/");
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20231114/us-east-1/svc/aws4_request, \
         SignedHeaders={list}, Signature={}",
        "0".repeat(64)
    );
    req.headers_mut()
        .insert("authorization", HeaderValue::from_str(&auth).unwrap());
    req.headers_mut()
        .insert("x-amz-date", HeaderValue::from_static("20231114T221320Z"));
    SignedRequest::parse(req.uri(), req.headers())
}

/// `SignedHeaders` naming the same large header thousands of times used to cost hundreds of
/// milliseconds and megabytes per request before the signature was compared. A list with a
/// repeated name is now refused while parsing, before any lookup or hashing.
#[test]
fn repeated_signed_header_names_are_refused_before_hashing() {
    let mut list = String::from("host");
    for _ in 0..5000 {
        list.push_str(";x-big");
    }
    let err = claimed_with_signed_headers(&list).unwrap_err();
    assert!(
        matches!(
            err,
            VerifyError::SignedHeaders(SignedHeadersError::TooMany { .. })
        ),
        "{err:?}"
    );
    let err = claimed_with_signed_headers("host;x-big;x-big").unwrap_err();
    assert!(
        matches!(
            err,
            VerifyError::SignedHeaders(SignedHeadersError::NotSortedOrRepeated { .. })
        ),
        "{err:?}"
    );
    assert_eq!(err.code(), "IncompleteSignature");
}

/// The list must be in the canonical order (what every signer writes): a shuffled list is
/// refused, so the same names cannot be listed in many ways.
#[test]
fn unsorted_signed_headers_are_refused() {
    let err = claimed_with_signed_headers("x-a;host").unwrap_err();
    assert!(
        matches!(
            err,
            VerifyError::SignedHeaders(SignedHeadersError::NotSortedOrRepeated { .. })
        ),
        "{err:?}"
    );
    claimed_with_signed_headers("host;x-a").expect("sorted and unique is fine");
}

/// At most `MAX_SIGNED_HEADERS` names.
#[test]
fn more_than_max_signed_headers_are_refused() {
    let names = |n: usize| {
        let mut names: Vec<String> = (1..n).map(|i| format!("x-h{i:03}")).collect();
        names.push("host".to_owned());
        names.sort();
        names.join(";")
    };
    claimed_with_signed_headers(&names(MAX_SIGNED_HEADERS)).expect("at the bound");
    let err = claimed_with_signed_headers(&names(MAX_SIGNED_HEADERS + 1)).unwrap_err();
    assert_eq!(
        err,
        VerifyError::SignedHeaders(SignedHeadersError::TooMany {
            count: MAX_SIGNED_HEADERS + 1,
            max: MAX_SIGNED_HEADERS
        })
    );
}

/// The canonical headers of a request are bounded: signed headers whose values add up to more
/// than `MAX_SIGNED_HEADER_BYTES` are refused before anything is hashed.
#[test]
fn signed_headers_over_the_byte_bound_are_refused() {
    let creds = Credentials::new("AKIDEXAMPLE", SECRET);
    let mut req = get("https://h.example.com/");
    let big = "v".repeat(MAX_SIGNED_HEADER_BYTES / 4);
    for _ in 0..5 {
        req.headers_mut()
            .append("x-big", HeaderValue::from_str(&big).unwrap());
    }
    // Our signer signs it (a client may send what it likes); the verifier bounds its work.
    sign(&mut req, &creds, &SigningSettings::default()).expect("signs");
    let err = verify(&req, &creds).unwrap_err();
    assert_eq!(
        err,
        VerifyError::SignedHeaders(SignedHeadersError::TooLarge {
            max: MAX_SIGNED_HEADER_BYTES
        })
    );
    assert_eq!(err.code(), "IncompleteSignature");
    // Within the bound it verifies.
    req.headers_mut().remove("x-big");
    req.headers_mut()
        .insert("x-big", HeaderValue::from_str(&big).unwrap());
    sign(&mut req, &creds, &SigningSettings::default()).expect("signs");
    verify(&req, &creds).expect("within the bound");
}

// 5. Time arithmetic on outside data.

/// `max_skew` near `Duration::MAX` used to overflow `now + max_skew` in the presigned-expiry
/// check and panic. Now a huge skew only means "no limit on how early".
#[test]
fn presigned_expiry_check_with_max_skew_near_duration_max_does_not_panic() {
    let creds = Credentials::new("AKIDEXAMPLE", SECRET);
    let mut req = get("https://h.example.com/a");
    sign(&mut req, &creds, &presign_settings()).expect("presigns");
    for max_skew in [Duration::MAX, Duration::MAX - Duration::from_secs(1)] {
        let mut settings = VerifySettings::default();
        settings.max_skew = max_skew;
        verify_with(&req, &creds, &settings).expect("in time");
    }
    // A header-signed request with the same skew: no panic either.
    let mut req = get("https://h.example.com/a");
    sign(&mut req, &creds, &SigningSettings::default()).expect("signs");
    let mut settings = VerifySettings::default();
    settings.max_skew = Duration::MAX;
    verify_with(&req, &creds, &settings).expect("in time");
}
