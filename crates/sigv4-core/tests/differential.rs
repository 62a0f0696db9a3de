//! Differential test against `aws-sigv4`: thousands of generated requests, signed by both, must
//! give the same signature and the same signed request.
//!
//! The generator covers unicode paths, dot segments, `//`, repeated and empty query keys,
//! reserved characters (percent-encoded, upper- and lower-case hex), mixed-case and repeated
//! headers, runs of spaces, binary bodies, session tokens, S3 and default settings, header and
//! query signing. It leaves out exactly the cases where `aws-sigv4` departs from what AWS does
//! (each one shown in `tests/departures.rs`):
//! - a literal `+` in a query (aws-sigv4 signs `%20`, AWS reads a plus),
//! - tabs in header values (aws-sigv4 neither trims nor collapses them),
//! - URIs without authority or with only an authority (aws-sigv4 panics),
//! - control characters in the access key, region or service (aws-sigv4 panics),
//! - percent-escapes in a query that decode to invalid UTF-8 (`%AB`): aws-sigv4 replaces them
//!   with U+FFFD (`%EF%BF%BD`) before signing; found by this test (29 of the first 12,000 cases),
//! - user information in the URI (`https://user@host:8443/`): aws-sigv4 signs it as part of
//!   `host` (found while probing hosts).
//!
//! One more disagreement is left out while the lead decides it: a URI host with upper-case
//! letters and no Host header. We sign the host lower-cased, aws-sigv4 as written (and hyper
//! sends it as written). The generated hosts are all lower-case; explicit Host headers in mixed
//! case are generated (both sign them as given).
//!
//! On a mismatch the test prints both canonical requests: ours from `Signer::inspect`, aws-sigv4's
//! captured from its `tracing` event (sensitive header values are redacted there).

#[path = "support/aws_trace.rs"]
mod aws_trace;

use std::borrow::Cow;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sigv4::http_request::{
    sign as aws_sign, PayloadChecksumKind, PercentEncodingMode, SessionTokenMode as AwsTokenMode,
    SignableBody, SignableRequest, SignatureLocation as AwsLocation,
    SigningSettings as AwsSettings, UriPathNormalizationMode,
};
use aws_smithy_runtime_api::client::identity::Identity;
use http::header::{HeaderName, HeaderValue};
use http::{Method, Request, Uri};
use percent_encoding::percent_decode_str;
use sigv4_core::{
    sha256_hex, ContentSha256Header, Credentials, Payload, SessionTokenMode, SignatureLocation,
    Signer, SigningParams, SigningSettings, DEFAULT_EXCLUDED_HEADERS,
};

const SEED: u64 = 0x5167_0004_d1ff;
const CASES: usize = 12_000;

// ---------------------------------------------------------------------------------------------
// The generated case
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Body {
    Bytes,
    Unsigned,
    Precomputed,
}

#[derive(Debug, Clone)]
struct Case {
    method: Method,
    uri: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    body_kind: Body,
    akid: String,
    secret: String,
    token: Option<String>,
    region: &'static str,
    service: &'static str,
    time: SystemTime,
    normalize_path: bool,
    double_encode: bool,
    token_signed: bool,
    content_sha: ContentSha256Header,
    expires: Option<u64>,
}

const HOSTS: &[&str] = &[
    "example.amazonaws.com",
    "abcdef1234.execute-api.us-east-1.amazonaws.com",
    "my-bucket.s3.eu-west-1.amazonaws.com",
    "127.0.0.1",
    "[::1]",
    "localhost",
];

const PATH_SEGMENTS: &[&str] = &[
    "a",
    "b",
    "items",
    "Prod",
    "café",
    "日本語",
    "€uro",
    "%E2%82%AC",
    "%3D",
    "%3d",
    "%40connections",
    "@connections",
    "abc%3D",
    "%2F",
    "%20space",
    "%7e",
    "%25",
    "a=b",
    "x:y",
    "!$'()*,;",
    "-_.~",
    ".",
    "..",
    "",
    "...",
    ".hidden",
    "a.b",
    "..b",
    "key%2Bplus",
    "\u{1F600}",
];

const QUERY_KEYS: &[&str] = &[
    "a",
    "A",
    "b",
    "key",
    "Key",
    "limit",
    "next",
    "x-id",
    "%E2%82%AC",
    "caf%C3%A9",
    "café",
    "k%3Dv",
    "sp%20ace",
    "",
    "%2B",
    "list%5B%5D",
    "X-Amz-Meta",
    "%7e",
    "~",
];

const QUERY_VALUES: &[&str] = &[
    "",
    "1",
    "10",
    "abc",
    "a=b",
    "==",
    "%3d",
    "%3D",
    "%2f%2F",
    "%20",
    "hello%20world",
    "%C3%A9",
    "日本",
    "~-._",
    "%7E",
    "a,b",
    "x:y",
    "@",
    "!$'()*",
    ";",
    "/path/",
    "?",
    "%25",
    "%zz",
    "%",
    "%2B",
    "%F0%9F%98%80",
    "ABC%2dxyz",
];

const HEADER_NAMES: &[&str] = &[
    "X-Amz-Meta-Foo",
    "x-amz-meta-foo",
    "Content-Type",
    "content-type",
    "Accept",
    "X-Custom",
    "x-CUSTOM",
    "My-Header1",
    "User-Agent",
    "X-Amzn-Trace-Id",
    "X-Amz-Target",
    "Cache-Control",
    "Content-Length",
    "Range",
    "Cookie",
    "Expect",
    "Connection",
    "Traceparent",
    "If-None-Match",
    "x-a",
    "x-b",
    "zz-last",
    "a-first",
];

const HEADER_PIECES: &[&str] = &[
    "value",
    "Value With Caps",
    "application/json",
    "text/plain; charset=utf-8",
    "a,b",
    "\"quoted  string\"",
    "naïve",
    "日本",
    "\u{a0}nbsp\u{a0}",
    "1234",
    "=",
    "bytes=0-99",
    "*/*",
    "()<>@,;:\\\"/[]?={}",
    "~!#$%^&*",
];

const REGIONS: &[&str] = &[
    "us-east-1",
    "eu-west-1",
    "ap-southeast-2",
    "cn-north-1",
    "us-gov-west-1",
];
const SERVICES: &[&str] = &["execute-api", "s3", "lambda", "sts", "es", "dynamodb"];
const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";

fn pick<'a>(rng: &mut fastrand::Rng, items: &[&'a str]) -> &'a str {
    items[rng.usize(..items.len())]
}

fn random_string(rng: &mut fastrand::Rng, alphabet: &[u8], len: usize) -> String {
    (0..len)
        .map(|_| alphabet[rng.usize(..alphabet.len())] as char)
        .collect()
}

fn gen_path(rng: &mut fastrand::Rng) -> String {
    let n = rng.usize(0..6);
    let mut path = String::new();
    for _ in 0..n {
        path.push('/');
        path.push_str(pick(rng, PATH_SEGMENTS));
    }
    if rng.u8(..4) == 0 {
        path.push('/');
    }
    if path.is_empty() {
        path.push('/');
    }
    path
}

/// A query whose percent-escapes all decode to valid UTF-8 (see the module docs).
fn gen_query(rng: &mut fastrand::Rng) -> Option<String> {
    loop {
        let q = gen_query_any(rng);
        let utf8 = q.as_deref().unwrap_or("").split('&').all(|pair| {
            pair.split('=').all(|part| {
                std::str::from_utf8(&percent_decode_str(part).collect::<Vec<u8>>()).is_ok()
            })
        });
        if utf8 {
            return q;
        }
    }
}

fn gen_query_any(rng: &mut fastrand::Rng) -> Option<String> {
    match rng.u8(..10) {
        0..=2 => return None,
        3 => return Some(String::new()),
        _ => {}
    }
    let n = rng.usize(1..7);
    let mut q = String::new();
    for i in 0..n {
        if i > 0 {
            q.push('&');
        }
        if rng.u8(..20) == 0 {
            // an empty pair (`&&`)
            continue;
        }
        q.push_str(pick(rng, QUERY_KEYS));
        if rng.u8(..6) != 0 {
            q.push('=');
            q.push_str(pick(rng, QUERY_VALUES));
            if rng.bool() {
                q.push_str(pick(rng, QUERY_VALUES));
            }
        }
    }
    if rng.u8(..20) == 0 {
        q.push('&');
    }
    Some(q)
}

fn gen_header_value(rng: &mut fastrand::Rng) -> Vec<u8> {
    let mut v = String::new();
    if rng.u8(..8) == 0 {
        return Vec::new();
    }
    let lead = [0, 0, 1, 3][rng.usize(..4)];
    v.push_str(&" ".repeat(lead));
    let pieces = rng.usize(1..4);
    for i in 0..pieces {
        if i > 0 {
            let run = [1, 1, 2, 5][rng.usize(..4)];
            v.push_str(&" ".repeat(run));
        }
        v.push_str(pick(rng, HEADER_PIECES));
    }
    let trail = [0, 0, 1, 4][rng.usize(..4)];
    v.push_str(&" ".repeat(trail));
    v.into_bytes()
}

fn gen_case(rng: &mut fastrand::Rng) -> Case {
    let method = match rng.u8(..9) {
        0..=2 => Method::GET,
        3 | 4 => Method::POST,
        5 => Method::PUT,
        6 => Method::DELETE,
        7 => Method::HEAD,
        _ => Method::from_bytes(b"PATCH").expect("valid method"),
    };
    let scheme = if rng.u8(..5) == 0 { "http" } else { "https" };
    let host = pick(rng, HOSTS);
    let port = match rng.u8(..8) {
        0 => Some(if scheme == "https" { 443 } else { 80 }),
        1 => Some(8443),
        2 => Some(if scheme == "https" { 80 } else { 443 }),
        _ => None,
    };
    let authority = match port {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    };
    let path = gen_path(rng);
    let uri = match gen_query(rng) {
        Some(q) => format!("{scheme}://{authority}{path}?{q}"),
        None => format!("{scheme}://{authority}{path}"),
    };

    let mut headers = Vec::new();
    if rng.u8(..6) == 0 {
        // An explicit Host header, sometimes in mixed case (signed as given by both).
        let value = if rng.bool() {
            authority.clone()
        } else {
            authority.to_uppercase()
        };
        headers.push(("Host".to_owned(), value.into_bytes()));
    }
    for _ in 0..rng.usize(0..8) {
        headers.push((pick(rng, HEADER_NAMES).to_owned(), gen_header_value(rng)));
    }

    let body = match rng.u8(..4) {
        0 => Vec::new(),
        _ => {
            let len = rng.usize(0..4096);
            (0..len).map(|_| rng.u8(..)).collect()
        }
    };
    let body_kind = match rng.u8(..5) {
        0 => Body::Unsigned,
        1 => Body::Precomputed,
        _ => Body::Bytes,
    };
    let akid = format!(
        "{}{}",
        if rng.bool() { "AKIA" } else { "ASIA" },
        random_string(rng, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)
    );
    let secret = random_string(rng, B64, 40);
    let token = if rng.bool() {
        let len = rng.usize(1..1200);
        Some(random_string(rng, B64, len))
    } else {
        None
    };
    let s3 = rng.u8(..10) < 3;
    let (mut normalize_path, mut double_encode) = if s3 { (false, false) } else { (true, true) };
    if rng.u8(..10) == 0 {
        normalize_path = rng.bool();
        double_encode = rng.bool();
    }
    let content_sha = match (s3, rng.u8(..6)) {
        (true, 0) | (false, 0) => ContentSha256Header::Never,
        (true, _) | (false, 1) => ContentSha256Header::Always,
        _ => ContentSha256Header::WhenUnsigned,
    };
    let expires = if rng.u8(..10) < 3 {
        Some(match rng.u8(..4) {
            0 => 1,
            1 => 604_800,
            _ => rng.u64(1..=604_800),
        })
    } else {
        None
    };
    Case {
        method,
        uri,
        headers,
        body,
        body_kind,
        akid,
        secret,
        token,
        region: pick(rng, REGIONS),
        service: if s3 { "s3" } else { pick(rng, SERVICES) },
        time: UNIX_EPOCH + Duration::from_secs(rng.u64(946_684_800..2_208_988_800)),
        normalize_path,
        double_encode,
        token_signed: rng.u8(..5) != 0,
        content_sha,
        expires,
    }
}

// ---------------------------------------------------------------------------------------------
// Running both signers
// ---------------------------------------------------------------------------------------------

fn build_request(case: &Case) -> Result<Request<Vec<u8>>, String> {
    let uri: Uri = case
        .uri
        .parse()
        .map_err(|e| format!("uri {:?}: {e}", case.uri))?;
    let mut req = Request::builder()
        .method(case.method.clone())
        .uri(uri)
        .body(case.body.clone())
        .map_err(|e| e.to_string())?;
    for (name, value) in &case.headers {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| format!("{name}: {e}"))?;
        let value = HeaderValue::from_bytes(value).map_err(|e| format!("{value:?}: {e}"))?;
        req.headers_mut().append(name, value);
    }
    Ok(req)
}

fn our_settings(case: &Case) -> SigningSettings {
    let mut s = SigningSettings::default();
    s.normalize_path = case.normalize_path;
    s.double_encode = case.double_encode;
    s.session_token_mode = if case.token_signed {
        SessionTokenMode::Signed
    } else {
        SessionTokenMode::AddedAfterSigning
    };
    s.content_sha256_header = case.content_sha;
    if let Some(secs) = case.expires {
        s.location = SignatureLocation::Query {
            expires_in: Duration::from_secs(secs),
        };
    }
    s
}

fn aws_settings(case: &Case) -> AwsSettings {
    let mut s = AwsSettings::default();
    s.percent_encoding_mode = if case.double_encode {
        PercentEncodingMode::Double
    } else {
        PercentEncodingMode::Single
    };
    s.uri_path_normalization_mode = UriPathNormalizationMode::from(case.normalize_path);
    s.session_token_mode = if case.token_signed {
        AwsTokenMode::Include
    } else {
        AwsTokenMode::Exclude
    };
    let unsigned = matches!(case.body_kind, Body::Unsigned);
    s.payload_checksum_kind = match case.content_sha {
        ContentSha256Header::Always => PayloadChecksumKind::XAmzSha256,
        ContentSha256Header::WhenUnsigned if unsigned => PayloadChecksumKind::XAmzSha256,
        _ => PayloadChecksumKind::NoHeader,
    };
    s.excluded_headers = Some(
        DEFAULT_EXCLUDED_HEADERS
            .iter()
            .map(|n| Cow::Owned(n.as_str().to_owned()))
            .collect(),
    );
    if let Some(secs) = case.expires {
        s.signature_location = AwsLocation::QueryParams;
        s.expires_in = Some(Duration::from_secs(secs));
    }
    s
}

/// Our credentials and settings for `case`, handed to `f` with the case's payload.
fn with_our_params<R>(
    case: &Case,
    f: impl FnOnce(&Signer, Payload<'_>, &SigningParams<'_>) -> R,
) -> R {
    let mut b = Credentials::builder(case.akid.clone(), case.secret.clone());
    if let Some(t) = &case.token {
        b = b.session_token(t.clone());
    }
    let creds = b.build();
    let settings = our_settings(case);
    let params =
        SigningParams::new(&creds, case.region, case.service, case.time).with_settings(&settings);
    let hash = sha256_hex(&case.body);
    let payload = match case.body_kind {
        Body::Bytes => Payload::Bytes(&case.body),
        Body::Unsigned => Payload::Unsigned,
        Body::Precomputed => Payload::Precomputed(&hash),
    };
    f(&Signer::new(), payload, &params)
}

fn ours(case: &Case, req: &mut Request<Vec<u8>>) -> Result<String, String> {
    with_our_params(case, |signer, payload, params| {
        let sig = signer
            .sign_request(req, payload, params)
            .map_err(|e| e.to_string())?;
        Ok(sig.as_str().to_owned())
    })
}

fn our_canonical(case: &Case, req: &Request<Vec<u8>>) -> String {
    with_our_params(case, |signer, payload, params| {
        match signer.inspect(req.into(), payload, params) {
            Ok((_, inspection)) => inspection.canonical_request,
            Err(e) => format!("error: {e}"),
        }
    })
}

/// Signs with aws-sigv4 the way a layer would: a `SignableRequest` from the request's parts,
/// `sign`, then `apply_to_request_http1x`.
fn theirs(case: &Case, req: &mut Request<Vec<u8>>) -> Result<String, String> {
    let creds = aws_credential_types::Credentials::new(
        case.akid.clone(),
        case.secret.clone(),
        case.token.clone(),
        None,
        "differential",
    );
    let identity = Identity::from(creds);
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(case.region)
        .name(case.service)
        .time(case.time)
        .settings(aws_settings(case))
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let hash = sha256_hex(&case.body);
    let body = match case.body_kind {
        Body::Bytes => SignableBody::Bytes(&case.body),
        Body::Unsigned => SignableBody::UnsignedPayload,
        Body::Precomputed => SignableBody::Precomputed(hash),
    };
    let headers: Vec<(&str, &str)> = req
        .headers()
        .iter()
        .map(|(n, v)| {
            Ok((
                n.as_str(),
                std::str::from_utf8(v.as_bytes()).map_err(|e| e.to_string())?,
            ))
        })
        .collect::<Result<_, String>>()?;
    let signable = SignableRequest::new(
        req.method().as_str(),
        req.uri().to_string(),
        headers.into_iter(),
        body,
    )
    .map_err(|e| e.to_string())?;
    let (instructions, signature) = aws_sign(signable, &params)
        .map_err(|e| e.to_string())?
        .into_parts();
    instructions.apply_to_request_http1x(req);
    Ok(signature)
}

fn their_canonical(case: &Case, req: &Request<Vec<u8>>) -> String {
    let mut req = req.clone();
    let (result, seen) = aws_trace::capture_canonical_requests(|| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| theirs(case, &mut req)))
    });
    let texts = seen.join("\n---\n");
    match result {
        Ok(_) => texts,
        Err(_) => format!("(aws-sigv4 panicked)\n{texts}"),
    }
}

fn sorted_query(uri: &Uri) -> Vec<String> {
    let mut v: Vec<String> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect();
    v.sort();
    v
}

/// Compares the two signed requests; returns what differs.
fn compare(ours: &Request<Vec<u8>>, theirs: &Request<Vec<u8>>) -> Vec<String> {
    let mut diffs = Vec::new();
    if ours.uri().path() != theirs.uri().path() {
        diffs.push(format!(
            "path: ours {:?} theirs {:?}",
            ours.uri().path(),
            theirs.uri().path()
        ));
    }
    let (qo, qt) = (sorted_query(ours.uri()), sorted_query(theirs.uri()));
    if qo != qt {
        diffs.push(format!("query: ours {qo:?}\n theirs {qt:?}"));
    }
    let mut names: Vec<&HeaderName> = ours
        .headers()
        .keys()
        .chain(theirs.headers().keys())
        .collect();
    names.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    names.dedup();
    for name in names {
        let a: Vec<&[u8]> = ours
            .headers()
            .get_all(name)
            .iter()
            .map(HeaderValue::as_bytes)
            .collect();
        let b: Vec<&[u8]> = theirs
            .headers()
            .get_all(name)
            .iter()
            .map(HeaderValue::as_bytes)
            .collect();
        if a != b {
            let show = |v: &[&[u8]]| {
                v.iter()
                    .map(|x| String::from_utf8_lossy(x).into_owned())
                    .collect::<Vec<_>>()
            };
            diffs.push(format!(
                "header {name}: ours {:?} theirs {:?}",
                show(&a),
                show(&b)
            ));
        }
    }
    diffs
}

/// The first line where two canonical requests differ.
fn first_difference(ours: &str, theirs: &str) -> String {
    let mut a = ours.lines();
    let mut b = theirs.lines();
    for line in 1.. {
        match (a.next(), b.next()) {
            (None, None) => return "canonical requests equal (difference elsewhere)".to_owned(),
            (x, y) if x == y => {}
            (x, y) => return format!("line {line}: ours {x:?} / aws-sigv4 {y:?}"),
        }
    }
    unreachable!()
}

struct Stats {
    query_mode: usize,
    s3: usize,
    tokens: usize,
    unicode_path: usize,
    dot_segments: usize,
    repeated_headers: usize,
    bodies: usize,
}

#[test]
fn differential_against_aws_sigv4() {
    let mut rng = fastrand::Rng::with_seed(SEED);
    let mut failures = String::new();
    let mut failed = 0usize;
    let mut stats = Stats {
        query_mode: 0,
        s3: 0,
        tokens: 0,
        unicode_path: 0,
        dot_segments: 0,
        repeated_headers: 0,
        bodies: 0,
    };
    for index in 0..CASES {
        let case = gen_case(&mut rng);
        let unsigned = match build_request(&case) {
            Ok(r) => r,
            Err(e) => panic!("case {index}: the generator made an invalid request: {e}\n{case:#?}"),
        };
        stats.query_mode += usize::from(case.expires.is_some());
        stats.s3 += usize::from(!case.normalize_path && !case.double_encode);
        stats.tokens += usize::from(case.token.is_some());
        stats.unicode_path += usize::from(!unsigned.uri().path().is_ascii());
        stats.dot_segments += usize::from(
            unsigned
                .uri()
                .path()
                .split('/')
                .any(|s| s == "." || s == ".."),
        );
        stats.repeated_headers +=
            usize::from(unsigned.headers().keys_len() < unsigned.headers().len());
        stats.bodies += usize::from(!case.body.is_empty());

        let mut a = unsigned.clone();
        let mut b = unsigned.clone();
        let ours_sig = ours(&case, &mut a);
        let theirs_sig =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| theirs(&case, &mut b)))
                .unwrap_or_else(|_| Err("aws-sigv4 panicked".to_owned()));
        let mut diffs = Vec::new();
        match (&ours_sig, &theirs_sig) {
            (Ok(x), Ok(y)) if x == y => {}
            _ => diffs.push(format!(
                "signature: ours {ours_sig:?} theirs {theirs_sig:?}"
            )),
        }
        if ours_sig.is_ok() && theirs_sig.is_ok() {
            diffs.extend(compare(&a, &b));
        }
        if !diffs.is_empty() {
            failed += 1;
            let (oc, tc) = (
                our_canonical(&case, &unsigned),
                their_canonical(&case, &unsigned),
            );
            let first = first_difference(&oc, &tc);
            let _ = writeln!(failures, "case {index}: {first}");
            if failed <= 3 {
                let _ = writeln!(
                    failures,
                    "\n=== case {index} (seed {SEED:#x}) ===\n{case:#?}\n{}\n--- ours canonical request ---\n{oc}\n--- aws-sigv4 canonical request ---\n{tc}\n",
                    diffs.join("\n"),
                );
            }
        }
    }
    println!(
        "{CASES} cases: {} presigned, {} S3-style paths, {} with session token, {} unicode paths, \
         {} with dot segments, {} with repeated headers, {} with bodies",
        stats.query_mode,
        stats.s3,
        stats.tokens,
        stats.unicode_path,
        stats.dot_segments,
        stats.repeated_headers,
        stats.bodies
    );
    assert!(
        failed == 0,
        "{failed} of {CASES} cases differ from aws-sigv4:{failures}"
    );
    // The generator must actually reach the interesting shapes.
    assert!(
        stats.query_mode > CASES / 5 && stats.tokens > CASES / 3 && stats.unicode_path > CASES / 10
    );
    assert!(stats.dot_segments > CASES / 10 && stats.repeated_headers > CASES / 10);
}
