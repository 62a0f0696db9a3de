//! Where `aws-sigv4` departs from what AWS does, one test per case.
//!
//! Each test writes out the canonical request (or the fragment) that AWS computes, says why (the
//! reasoning is in /work/shared/FIELD-NOTES.md, "where botocore and aws-sigv4 differ"), checks
//! that our signature is the one computed independently from that literal text, and shows what
//! aws-sigv4 does instead (its canonical request captured from its `tracing` output, or its panic
//! caught with `catch_unwind`). These are exactly the cases the differential test
//! (`tests/differential.rs`) leaves out of its generator.

#[path = "support/aws_trace.rs"]
mod aws_trace;

use std::borrow::Cow;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sigv4::http_request::{
    sign as aws_sign, SignableBody, SignableRequest, SigningSettings as AwsSettings,
};
use aws_smithy_runtime_api::client::identity::Identity;
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use http::header::HeaderValue;
use http::{Request, Uri};
use sha2::Sha256;
use sigv4_core::{
    sha256_hex, Credentials, Payload, Signer, SigningError, SigningParams, DEFAULT_EXCLUDED_HEADERS,
};

const AKID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const REGION: &str = "us-east-1";
const SERVICE: &str = "service";
const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// 2015-08-30T12:36:00Z, the time of AWS's own SigV4 test suite.
fn time() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_440_938_160)
}

/// The signature AWS computes for `canonical` (the SigV4 algorithm, written out here so the
/// expected value does not come from either signer).
fn expected_signature(canonical: &str) -> String {
    fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("any key length");
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    }
    let k_date = hmac(format!("AWS4{SECRET}").as_bytes(), b"20150830");
    let k_region = hmac(&k_date, REGION.as_bytes());
    let k_service = hmac(&k_region, SERVICE.as_bytes());
    let k_signing = hmac(&k_service, b"aws4_request");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/{REGION}/{SERVICE}/aws4_request\n{}",
        sha256_hex(canonical.as_bytes())
    );
    hmac(&k_signing, string_to_sign.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Our signing of `req` (empty body): the canonical request and the signature.
fn ours(req: &Request<()>) -> Result<(String, String), SigningError> {
    ours_with(req, &Credentials::new(AKID, SECRET), REGION, SERVICE)
}

fn ours_with(
    req: &Request<()>,
    creds: &Credentials,
    region: &str,
    service: &str,
) -> Result<(String, String), SigningError> {
    let params = SigningParams::new(creds, region, service, time());
    let (_, inspection) = Signer::new().inspect(req.into(), Payload::Bytes(b""), &params)?;
    // The full path a layer takes must agree with `inspect`.
    let mut signed = req.clone();
    let signature = Signer::new().sign_request(&mut signed, Payload::Bytes(b""), &params)?;
    assert_eq!(signature.as_str(), inspection.signature);
    Ok((inspection.canonical_request, inspection.signature))
}

/// What aws-sigv4 does with `req`, signed the way a layer would, with our excluded headers.
enum Theirs {
    /// Signed and applied: the signature and the canonical request from its trace output.
    Signed {
        signature: String,
        canonical: String,
    },
    /// Returned an error.
    Error(String),
    /// Panicked (while signing or while applying the signature).
    Panicked,
}

fn theirs(req: &Request<()>) -> Theirs {
    theirs_with(req, AKID, REGION, SERVICE)
}

fn theirs_with(req: &Request<()>, akid: &str, region: &str, service: &str) -> Theirs {
    let (outcome, seen) = aws_trace::capture_canonical_requests(|| {
        catch_unwind(AssertUnwindSafe(|| -> Result<String, String> {
            let identity = Identity::from(aws_credential_types::Credentials::new(
                akid,
                SECRET,
                None,
                None,
                "departures",
            ));
            let mut settings = AwsSettings::default();
            settings.excluded_headers = Some(
                DEFAULT_EXCLUDED_HEADERS
                    .iter()
                    .map(|n| Cow::Owned(n.as_str().to_owned()))
                    .collect(),
            );
            let params = aws_sigv4::sign::v4::SigningParams::builder()
                .identity(&identity)
                .region(region)
                .name(service)
                .time(time())
                .settings(settings)
                .build()
                .map_err(|e| e.to_string())?
                .into();
            let headers = req
                .headers()
                .iter()
                .map(|(n, v)| (n.as_str(), std::str::from_utf8(v.as_bytes()).unwrap_or("")));
            let signable = SignableRequest::new(
                req.method().as_str(),
                req.uri().to_string(),
                headers,
                SignableBody::Bytes(b""),
            )
            .map_err(|e| e.to_string())?;
            let (instructions, signature) = aws_sign(signable, &params)
                .map_err(|e| e.to_string())?
                .into_parts();
            let mut out = req.clone();
            instructions.apply_to_request_http1x(&mut out);
            Ok(signature)
        }))
    });
    let canonical = seen.concat();
    match outcome {
        Ok(Ok(signature)) => Theirs::Signed {
            signature,
            canonical,
        },
        Ok(Err(e)) => Theirs::Error(e),
        Err(_) => Theirs::Panicked,
    }
}

fn get(uri: &str) -> Request<()> {
    Request::get(uri).body(()).expect("valid request")
}

/// Signs `req` on our side (failing with `context` if it does not sign) and checks that our
/// canonical request is `aws_answer` and our signature the one computed independently from it.
/// Returns our signature.
fn assert_ours_match(req: &Request<()>, aws_answer: &str, context: &str) -> String {
    let (canonical, signature) = ours(req).expect(context);
    assert_eq!(canonical, aws_answer);
    assert_eq!(signature, expected_signature(aws_answer));
    signature
}

/// Checks that aws-sigv4 signs `req`, that its canonical request contains `fragment` (what it
/// signs instead of AWS's answer) and that its signature differs from ours.
fn assert_theirs_differ(req: &Request<()>, fragment: &str, ours: &str) {
    match theirs(req) {
        Theirs::Signed {
            signature: theirs,
            canonical,
        } => {
            assert!(
                canonical.contains(fragment),
                "aws-sigv4 canonical request: {canonical:?}"
            );
            assert_ne!(theirs, ours);
        }
        _ => panic!("aws-sigv4 was expected to sign this request"),
    }
}

/// A literal `+` in a query is a plus sign: RFC 3986 gives `+` no special meaning in a URI query
/// (only HTML forms read it as a space), and AWS decodes it as `+` (curl#20543, checked against
/// S3). The canonical query carries it encoded: `%2B`. aws-sigv4 decodes the query as a form
/// (`form_urlencoded`) and signs `%20` (smithy-rs#4227). FIELD-NOTES: "literal `+` in a query".
#[test]
fn literal_plus_in_query_is_signed_as_2b() {
    let req = get("https://example.amazonaws.com/?q=a+b");
    let aws_answer = "GET\n/\nq=a%2Bb\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
        .to_owned()
        + EMPTY;
    let signature = assert_ours_match(&req, &aws_answer, "signs");

    assert_theirs_differ(&req, "\nq=a%20b\n", &signature);
}

/// Tabs around a header value: an HTTP server strips optional whitespace (SP and HTAB, RFC 9110
/// §5.5) around a field value before AWS sees it, and SigV4 trims the value, so AWS signs
/// `x-test:value`. aws-sigv4 trims spaces only and keeps the tabs. FIELD-NOTES: "tab at either
/// end of a header value" (botocore trims too).
#[test]
fn tabs_at_the_ends_of_a_header_value_are_trimmed() {
    let mut req = get("https://example.amazonaws.com/");
    req.headers_mut()
        .insert("x-test", HeaderValue::from_static("\t value\t"));
    let aws_answer = "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\nx-test:value\n\nhost;x-amz-date;x-test\n"
        .to_owned()
        + EMPTY;
    let signature = assert_ours_match(&req, &aws_answer, "signs");

    assert_theirs_differ(&req, "\nx-test:\t value\t\n", &signature);
}

/// A run of whitespace inside a header value that contains a tab: SigV4 collapses sequential
/// spaces to one, and HTTP treats SP and HTAB alike as whitespace, so AWS signs `x-test:a b c`.
/// aws-sigv4 collapses only runs of spaces and keeps `a \t b\tc`. FIELD-NOTES: "tab inside a run
/// of whitespace" (botocore collapses it too).
#[test]
fn tabs_inside_a_header_value_collapse_with_the_run() {
    let mut req = get("https://example.amazonaws.com/");
    req.headers_mut()
        .insert("x-test", HeaderValue::from_static("a \t b\tc"));
    let aws_answer = "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\nx-test:a b c\n\nhost;x-amz-date;x-test\n"
        .to_owned()
        + EMPTY;
    let signature = assert_ours_match(&req, &aws_answer, "signs");

    assert_theirs_differ(&req, "\nx-test:a \t b\tc\n", &signature);
}

/// A URI without authority (`/path`) and no Host header: there is no host to sign, which AWS
/// requires (`host` is always signed). We return `SigningError::MissingHost`; aws-sigv4 panics
/// ("request uri authority must be set for signing"). FIELD-NOTES: "aws-sigv4 panics on a URI
/// without authority". With a Host header the request signs normally on our side.
#[test]
fn uri_without_authority_is_an_error_not_a_panic() {
    let req = get("/path");
    assert_eq!(ours(&req).unwrap_err(), SigningError::MissingHost);
    assert!(
        matches!(theirs(&req), Theirs::Panicked),
        "aws-sigv4 was expected to panic"
    );

    let mut with_host = get("/path");
    with_host
        .headers_mut()
        .insert("host", HeaderValue::from_static("example.amazonaws.com"));
    let aws_answer =
        "GET\n/path\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
            .to_owned() + EMPTY;
    assert_ours_match(&with_host, &aws_answer, "signs with the Host header");
}

/// A URI that is only an authority (`http::Uri` parses `example.com` as authority-form, with no
/// scheme and an empty path). An HTTP request for it goes to path `/` (RFC 9112 §3.2.1: an empty
/// path is sent as `/`), so AWS signs `/` and host `example.com`. aws-sigv4 panics on it.
/// FIELD-NOTES: "aws-sigv4 panics ... on an authority-only URI".
#[test]
fn authority_only_uri_signs_path_slash() {
    let req = Request::get(Uri::from_static("example.com"))
        .body(())
        .expect("valid request");
    assert_eq!(req.uri().path(), "");
    let aws_answer = "GET\n/\n\nhost:example.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
        .to_owned()
        + EMPTY;
    assert_ours_match(&req, &aws_answer, "signs");
    assert!(
        matches!(theirs(&req), Theirs::Panicked),
        "aws-sigv4 was expected to panic"
    );
}

/// Control characters in the access key id, region or service cannot go into the credential
/// scope of an `Authorization` header (they are not valid header bytes), so AWS can never see
/// such a request: the only right answer is an error. We return `SigningError::InvalidField`
/// naming the field; aws-sigv4 signs, then panics while applying the header
/// (`HeaderValue::from_str(..).unwrap()`). FIELD-NOTES: "(in its apply step) on a control
/// character in the access key, region or service".
#[test]
fn control_character_in_access_key_is_an_error_not_a_panic() {
    let req = get("https://example.amazonaws.com/");
    let creds = Credentials::new("AKID\nEXAMPLE", SECRET);
    match ours_with(&req, &creds, REGION, SERVICE) {
        Err(SigningError::InvalidField { field, .. }) => assert_eq!(field, "access key id"),
        other => panic!("expected InvalidField, got {other:?}"),
    }
    assert!(matches!(
        theirs_with(&req, "AKID\nEXAMPLE", REGION, SERVICE),
        Theirs::Panicked
    ));
}

/// As above, for the region.
#[test]
fn control_character_in_region_is_an_error_not_a_panic() {
    let req = get("https://example.amazonaws.com/");
    let creds = Credentials::new(AKID, SECRET);
    match ours_with(&req, &creds, "us-east-1\r", SERVICE) {
        Err(SigningError::InvalidField { field, .. }) => assert_eq!(field, "region"),
        other => panic!("expected InvalidField, got {other:?}"),
    }
    assert!(matches!(
        theirs_with(&req, AKID, "us-east-1\r", SERVICE),
        Theirs::Panicked
    ));
}

/// As above, for the service.
#[test]
fn control_character_in_service_is_an_error_not_a_panic() {
    let req = get("https://example.amazonaws.com/");
    let creds = Credentials::new(AKID, SECRET);
    match ours_with(&req, &creds, REGION, "s3\u{7f}") {
        Err(SigningError::InvalidField { field, .. }) => assert_eq!(field, "service"),
        other => panic!("expected InvalidField, got {other:?}"),
    }
    assert!(matches!(
        theirs_with(&req, AKID, REGION, "s3\u{7f}"),
        Theirs::Panicked
    ));
}

/// Found by the differential test: a percent-escape in the query that does not decode to valid
/// UTF-8 (`%AB`). SigV4 encodes the query byte by byte ("URI-encode each parameter name and
/// value", every byte outside `A-Za-z0-9-_.~` as `%XY`), and the server decodes `%AB` to the byte
/// 0xAB, so AWS signs `k=%AB` (botocore too: it keeps the encoded form). aws-sigv4 decodes the
/// query into Rust strings with `form_urlencoded::parse`, which replaces invalid UTF-8 with
/// U+FFFD, and signs `k=%EF%BF%BD`: a signature for a different request.
#[test]
fn invalid_utf8_escape_in_query_is_kept_byte_for_byte() {
    let req = get("https://example.amazonaws.com/?k=%AB&j=%c3%28");
    let aws_answer =
        "GET\n/\nj=%C3%28&k=%AB\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
            .to_owned()
            + EMPTY;
    let signature = assert_ours_match(&req, &aws_answer, "signs");

    assert_theirs_differ(&req, "\nj=%EF%BF%BD%28&k=%EF%BF%BD\n", &signature);
}

/// Found while probing hosts: user information in the URI (`https://user@host:8443/`). The Host
/// header carries only `uri-host [":" port]` (RFC 9110 §7.2; userinfo is never sent, and is
/// deprecated in http(s) URIs, RFC 9110 §4.2.4), so AWS signs `host:example.amazonaws.com:8443`.
/// aws-sigv4 signs the whole authority when the port is not the default one:
/// `host:user@example.amazonaws.com:8443`.
#[test]
fn userinfo_is_not_part_of_the_signed_host() {
    let req = get("https://user@example.amazonaws.com:8443/");
    let aws_answer =
        "GET\n/\n\nhost:example.amazonaws.com:8443\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n".to_owned()
            + EMPTY;
    let signature = assert_ours_match(&req, &aws_answer, "signs");

    assert_theirs_differ(&req, "\nhost:user@example.amazonaws.com:8443\n", &signature);
}

/// Sanity check of the oracle: for a request where both agree, aws-sigv4's signature equals the
/// one computed from the literal canonical request (so the helpers above are sound).
#[test]
fn oracle_agrees_with_aws_sigv4_on_a_plain_request() {
    let req = get("https://example.amazonaws.com/?a=1");
    let canonical =
        "GET\n/\na=1\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
            .to_owned()
            + EMPTY;
    match theirs(&req) {
        Theirs::Signed {
            signature,
            canonical: traced,
        } => {
            assert_eq!(signature, expected_signature(&canonical));
            assert_eq!(traced, canonical);
        }
        Theirs::Error(e) => panic!("aws-sigv4 failed: {e}"),
        Theirs::Panicked => panic!("aws-sigv4 panicked"),
    }
    assert_eq!(ours(&req).expect("signs").1, expected_signature(&canonical));
}
