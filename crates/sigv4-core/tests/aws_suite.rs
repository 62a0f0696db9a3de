//! AWS's SigV4 test suite, one test per case and variant, so a failure names the case.
//!
//! Data: `tests/fixtures/aws-c-auth/v4` (header and query variants), `tests/fixtures/botocore-legacy`
//! (the 2015 suite, header only) and `tests/fixtures/smithy-rs-extra`; see each SOURCE.txt.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Uri};
use sigv4_core::{
    AmzDate, ContentSha256Header, Credentials, Payload, SessionTokenMode, SignatureLocation,
    Signer, SigningParams, SigningSettings,
};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// A request as the suite writes it: request line, `Name:value` lines (indented lines continue
/// the previous value, as an obs-fold that a server replaces with a space), blank line, body.
struct RawRequest {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn parse_request(text: &str) -> RawRequest {
    let (head, body) = match text.find("\n\n") {
        Some(i) => (&text[..i], text.as_bytes()[i + 2..].to_vec()),
        None => (text.trim_end_matches('\n'), Vec::new()),
    };
    let mut lines = head.lines();
    let line = lines.next().expect("request line");
    let method_end = line.find(' ').expect("method");
    let version_start = line.rfind(' ').expect("version");
    let method = line[..method_end].to_owned();
    let target = line[method_end + 1..version_start].to_owned();
    let mut headers: Vec<(String, String)> = Vec::new();
    for l in lines {
        if l.starts_with(' ') || l.starts_with('\t') {
            let last = headers.last_mut().expect("continuation without header");
            last.1.push(' ');
            last.1.push_str(l);
        } else if let Some((name, value)) = l.split_once(':') {
            headers.push((name.to_owned(), value.to_owned()));
        }
    }
    RawRequest {
        method,
        target,
        headers,
        body,
    }
}

fn build_request(raw: &RawRequest) -> Request<Vec<u8>> {
    let uri: Uri = raw.target.parse().unwrap_or_else(|e| {
        panic!(
            "request target {:?} is not expressible as http::Uri: {e}",
            raw.target
        )
    });
    let mut request = Request::new(raw.body.clone());
    *request.method_mut() = Method::from_bytes(raw.method.as_bytes()).unwrap();
    *request.uri_mut() = uri;
    for (name, value) in &raw.headers {
        request.headers_mut().append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    request
}

struct Context {
    creds: Credentials,
    region: String,
    service: String,
    time: SystemTime,
    settings: SigningSettings,
}

fn rfc3339(ts: &str) -> SystemTime {
    // "2015-08-30T12:36:00Z" -> the basic form the core parses.
    let basic: String = ts.chars().filter(|c| *c != '-' && *c != ':').collect();
    AmzDate::parse(&basic).unwrap().to_system_time()
}

fn context(dir: &Path) -> (Context, u64) {
    let json: serde_json::Value = serde_json::from_str(&read(&dir.join("context.json"))).unwrap();
    let c = &json["credentials"];
    let mut builder = Credentials::builder(
        c["access_key_id"].as_str().unwrap(),
        c["secret_access_key"].as_str().unwrap(),
    );
    if let Some(token) = c["token"].as_str() {
        builder = builder.session_token(token);
    }
    let mut settings = SigningSettings::default();
    let normalize = json["normalize"].as_bool().unwrap_or(true);
    settings.normalize_path = normalize;
    if json["sign_body"].as_bool().unwrap_or(false) {
        settings.content_sha256_header = ContentSha256Header::Always;
    }
    if json["omit_session_token"].as_bool().unwrap_or(false) {
        settings.session_token_mode = SessionTokenMode::AddedAfterSigning;
    }
    let expires = json["expiration_in_seconds"].as_u64().unwrap_or(3600);
    (
        Context {
            creds: builder.build(),
            region: json["region"].as_str().unwrap().to_owned(),
            service: json["service"].as_str().unwrap().to_owned(),
            time: rfc3339(json["timestamp"].as_str().unwrap()),
            settings,
        },
        expires,
    )
}

/// Header (name lower-cased, value trimmed) pairs, sorted: the signed request compared as a set.
fn header_set(headers: impl IntoIterator<Item = (String, String)>) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = headers
        .into_iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    v.sort();
    v
}

fn ours(headers: &HeaderMap) -> Vec<(String, String)> {
    header_set(headers.iter().map(|(n, v)| {
        (
            n.as_str().to_owned(),
            String::from_utf8_lossy(v.as_bytes()).into_owned(),
        )
    }))
}

fn run_aws_c_auth(suite: &str, case: &str, query: bool) {
    let dir = fixtures().join(suite).join(case);
    let (mut ctx, expires) = context(&dir);
    if query {
        ctx.settings.location = SignatureLocation::Query {
            expires_in: Duration::from_secs(expires),
        };
    }
    let raw = parse_request(&read(&dir.join("request.txt")));
    let mut request = build_request(&raw);
    let body = request.body().clone();
    let params = SigningParams::new(&ctx.creds, &ctx.region, &ctx.service, ctx.time)
        .with_settings(&ctx.settings);
    let signer = Signer::new();
    let (output, inspection) = signer
        .inspect((&request).into(), Payload::Bytes(&body), &params)
        .unwrap_or_else(|e| panic!("{case}: {e}"));
    let prefix = if query { "query" } else { "header" };
    let expect = |file: &str| read(&dir.join(format!("{prefix}-{file}")));
    assert_eq!(
        inspection.canonical_request,
        expect("canonical-request.txt"),
        "{case} ({prefix}): canonical request"
    );
    assert_eq!(
        inspection.string_to_sign,
        expect("string-to-sign.txt"),
        "{case} ({prefix}): string to sign"
    );
    assert_eq!(
        output.signature().as_str(),
        expect("signature.txt").trim(),
        "{case} ({prefix}): signature"
    );
    output.apply_to_request(&mut request).unwrap();
    let signed = parse_request(&expect("signed-request.txt"));
    assert_eq!(
        ours(request.headers()),
        header_set(signed.headers.clone()),
        "{case} ({prefix}): signed request headers"
    );
    let path_and_query = request.uri().path_and_query().unwrap().as_str().to_owned();
    assert_eq!(
        path_and_query, signed.target,
        "{case} ({prefix}): signed request target"
    );
}

macro_rules! aws_c_auth {
    ($($name:ident => $case:literal,)*) => {
        mod aws_c_auth_header {
            $(#[test] fn $name() { super::run_aws_c_auth("aws-c-auth/v4", $case, false); })*
        }
        mod aws_c_auth_query {
            $(#[test] fn $name() { super::run_aws_c_auth("aws-c-auth/v4", $case, true); })*
        }
    };
}

aws_c_auth! {
    get_header_key_duplicate => "get-header-key-duplicate",
    get_header_value_multiline => "get-header-value-multiline",
    get_header_value_order => "get-header-value-order",
    get_header_value_trim => "get-header-value-trim",
    get_relative_normalized => "get-relative-normalized",
    get_relative_relative_normalized => "get-relative-relative-normalized",
    get_relative_relative_unnormalized => "get-relative-relative-unnormalized",
    get_relative_unnormalized => "get-relative-unnormalized",
    get_slash_dot_slash_normalized => "get-slash-dot-slash-normalized",
    get_slash_dot_slash_unnormalized => "get-slash-dot-slash-unnormalized",
    get_slash_normalized => "get-slash-normalized",
    get_slash_pointless_dot_normalized => "get-slash-pointless-dot-normalized",
    get_slash_pointless_dot_unnormalized => "get-slash-pointless-dot-unnormalized",
    get_slash_unnormalized => "get-slash-unnormalized",
    get_slashes_normalized => "get-slashes-normalized",
    get_slashes_unnormalized => "get-slashes-unnormalized",
    get_unreserved => "get-unreserved",
    get_utf8 => "get-utf8",
    get_vanilla => "get-vanilla",
    get_vanilla_empty_query_key => "get-vanilla-empty-query-key",
    get_vanilla_query => "get-vanilla-query",
    get_vanilla_query_order_encoded => "get-vanilla-query-order-encoded",
    get_vanilla_query_order_key_case => "get-vanilla-query-order-key-case",
    get_vanilla_query_unreserved => "get-vanilla-query-unreserved",
    get_vanilla_utf8_query => "get-vanilla-utf8-query",
    get_vanilla_with_session_token => "get-vanilla-with-session-token",
    post_header_key_case => "post-header-key-case",
    post_header_key_sort => "post-header-key-sort",
    post_header_value_case => "post-header-value-case",
    post_sts_header_after => "post-sts-header-after",
    post_sts_header_before => "post-sts-header-before",
    post_vanilla => "post-vanilla",
    post_vanilla_empty_query_value => "post-vanilla-empty-query-value",
    post_vanilla_query => "post-vanilla-query",
    post_x_www_form_urlencoded => "post-x-www-form-urlencoded",
    post_x_www_form_urlencoded_parameters => "post-x-www-form-urlencoded-parameters",
}

/// `get-space-normalized` and `get-space-unnormalized` put a raw space in the request line
/// (`GET /example space/ HTTP/1.1`). No HTTP/1.1 client sends that and `http::Uri` cannot hold it,
/// so these two cases cannot be expressed as an `http::Request`: this test says so, and checks it,
/// instead of skipping them silently. The encoded form is covered by `smithy_rs_extra::get_space`.
#[test]
fn aws_c_auth_get_space_cases_are_not_expressible() {
    for case in ["get-space-normalized", "get-space-unnormalized"] {
        let raw = parse_request(&read(
            &fixtures()
                .join("aws-c-auth/v4")
                .join(case)
                .join("request.txt"),
        ));
        assert_eq!(raw.target, "/example space/");
        assert!(raw.target.parse::<Uri>().is_err(), "{case}");
    }
}

const LEGACY_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

fn run_legacy(path: &str) {
    let base = fixtures().join("botocore-legacy").join(path);
    let file = |ext: &str| read(&base.with_extension(ext));
    let raw = parse_request(&file("req"));
    let creq = file("creq");
    let sreq = parse_request(&file("sreq"));
    let token = sreq
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("x-amz-security-token"))
        .map(|(_, v)| v.clone());
    let mut builder = Credentials::builder("AKIDEXAMPLE", LEGACY_SECRET);
    let mut settings = SigningSettings::default();
    if let Some(token) = token {
        if !creq.contains("x-amz-security-token") {
            settings.session_token_mode = SessionTokenMode::AddedAfterSigning;
        }
        builder = builder.session_token(token);
    }
    let creds = builder.build();
    let time = rfc3339("2015-08-30T12:36:00Z");
    let mut request = build_request(&raw);
    let body = request.body().clone();
    let params = SigningParams::new(&creds, "us-east-1", "service", time).with_settings(&settings);
    let (output, inspection) = Signer::new()
        .inspect((&request).into(), Payload::Bytes(&body), &params)
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(
        inspection.canonical_request, creq,
        "{path}: canonical request"
    );
    assert_eq!(
        inspection.string_to_sign,
        file("sts"),
        "{path}: string to sign"
    );
    output.apply_to_request(&mut request).unwrap();
    assert_eq!(
        request.headers()["authorization"].to_str().unwrap(),
        file("authz").trim(),
        "{path}: authorization"
    );
    // The Authorization value is checked against `.authz` above. It is left out of the `.sreq`
    // comparison because one legacy file disagrees with its own `.authz`:
    // get-vanilla-with-session-token.sreq carries get-vanilla's signature (5fa00f...) although its
    // `.creq`, `.sts` and `.authz` sign the token (07ec16..., as aws-c-auth's copy of the case).
    let without_auth = |v: Vec<(String, String)>| -> Vec<(String, String)> {
        v.into_iter()
            .filter(|(n, _)| n != "authorization")
            .collect()
    };
    assert_eq!(
        without_auth(ours(request.headers())),
        without_auth(header_set(sreq.headers)),
        "{path}: signed request headers"
    );
}

macro_rules! legacy {
    ($($name:ident => $path:literal,)*) => {
        mod botocore_legacy {
            $(#[test] fn $name() { super::run_legacy($path); })*
        }
    };
}

legacy! {
    get_header_key_duplicate => "get-header-key-duplicate/get-header-key-duplicate",
    get_header_value_multiline => "get-header-value-multiline/get-header-value-multiline",
    get_header_value_order => "get-header-value-order/get-header-value-order",
    get_header_value_trim => "get-header-value-trim/get-header-value-trim",
    get_unreserved => "get-unreserved/get-unreserved",
    get_utf8 => "get-utf8/get-utf8",
    get_vanilla_empty_query_key => "get-vanilla-empty-query-key/get-vanilla-empty-query-key",
    get_vanilla_query_order_encoded => "get-vanilla-query-order-encoded/get-vanilla-query-order-encoded",
    get_vanilla_query_order_key_case => "get-vanilla-query-order-key-case/get-vanilla-query-order-key-case",
    get_vanilla_query_order_key => "get-vanilla-query-order-key/get-vanilla-query-order-key",
    get_vanilla_query_order_value => "get-vanilla-query-order-value/get-vanilla-query-order-value",
    get_vanilla_query_unreserved => "get-vanilla-query-unreserved/get-vanilla-query-unreserved",
    get_vanilla_query => "get-vanilla-query/get-vanilla-query",
    get_vanilla_utf8_query => "get-vanilla-utf8-query/get-vanilla-utf8-query",
    get_vanilla_with_session_token => "get-vanilla-with-session-token/get-vanilla-with-session-token",
    get_vanilla => "get-vanilla/get-vanilla",
    normalize_path_get_relative_relative => "normalize-path/get-relative-relative/get-relative-relative",
    normalize_path_get_relative => "normalize-path/get-relative/get-relative",
    normalize_path_get_slash_dot_slash => "normalize-path/get-slash-dot-slash/get-slash-dot-slash",
    normalize_path_get_slash_pointless_dot => "normalize-path/get-slash-pointless-dot/get-slash-pointless-dot",
    normalize_path_get_slash => "normalize-path/get-slash/get-slash",
    normalize_path_get_slashes => "normalize-path/get-slashes/get-slashes",
    normalize_path_get_special_character => "normalize-path/get-special-character/get-special-character",
    post_header_key_case => "post-header-key-case/post-header-key-case",
    post_header_key_sort => "post-header-key-sort/post-header-key-sort",
    post_header_value_case => "post-header-value-case/post-header-value-case",
    post_sts_header_after => "post-sts-token/post-sts-header-after/post-sts-header-after",
    post_sts_header_before => "post-sts-token/post-sts-header-before/post-sts-header-before",
    post_vanilla_empty_query_value => "post-vanilla-empty-query-value/post-vanilla-empty-query-value",
    post_vanilla_query => "post-vanilla-query/post-vanilla-query",
    post_vanilla => "post-vanilla/post-vanilla",
    post_x_www_form_urlencoded_parameters => "post-x-www-form-urlencoded-parameters/post-x-www-form-urlencoded-parameters",
    post_x_www_form_urlencoded => "post-x-www-form-urlencoded/post-x-www-form-urlencoded",
}

/// The legacy `normalize-path/get-space` case has the same raw space in its request line as the
/// aws-c-auth ones: not expressible as `http::Uri`, said and checked here.
#[test]
fn botocore_legacy_get_space_is_not_expressible() {
    let base = fixtures().join("botocore-legacy/normalize-path/get-space/get-space");
    let raw = parse_request(&read(&base.with_extension("req")));
    assert!(raw.target.contains(' '));
    assert!(raw.target.parse::<Uri>().is_err());
}

mod smithy_rs_extra {
    use super::*;

    fn sign_extra(case: &str, region: &str, service: &str, time: &str) -> sigv4_core::Inspection {
        let dir = fixtures().join("smithy-rs-extra").join(case);
        let raw = parse_request(&read(&dir.join("request.txt")));
        let request = build_request(&raw);
        let creds = Credentials::new("AKIDEXAMPLE", LEGACY_SECRET);
        let params = SigningParams::new(
            &creds,
            region,
            service,
            AmzDate::parse(time).unwrap().to_system_time(),
        );
        let (_, inspection) = Signer::new()
            .inspect((&request).into(), Payload::Bytes(request.body()), &params)
            .unwrap();
        inspection
    }

    /// Lambda Invoke with `%3A` in the path: the canonical path encodes `%` again (`%253A`).
    #[test]
    fn double_url_encode() {
        let dir = fixtures().join("smithy-rs-extra/double-url-encode");
        let inspection = sign_extra(
            "double-url-encode",
            "us-east-2",
            "lambda",
            "20210511T154045Z",
        );
        assert_eq!(
            inspection.canonical_request,
            read(&dir.join("header-canonical-request.txt"))
        );
        // This file (unlike the others) ends with a newline.
        assert_eq!(
            inspection.string_to_sign,
            read(&dir.join("header-string-to-sign.txt")).trim_end()
        );
        let signed = read(&dir.join("header-signed-request.txt"));
        assert!(signed.contains(&format!("Signature={}", inspection.signature)));
    }

    /// API Gateway WebSocket `@connections` path. The file's signed request is inconsistent (see
    /// SOURCE.txt), so only the canonical request is checked, as smithy-rs does.
    #[test]
    fn double_encode_path() {
        let dir = fixtures().join("smithy-rs-extra/double-encode-path");
        let expected = read(&dir.join("header-canonical-request.txt"));
        let date = expected
            .lines()
            .find_map(|l| l.strip_prefix("x-amz-date:"))
            .unwrap()
            .to_owned();
        let raw = parse_request(&read(&dir.join("request.txt")));
        let host = raw
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("host"))
            .map(|(_, v)| v.trim().to_owned())
            .unwrap();
        let region = host.split('.').nth(2).unwrap().to_owned();
        let inspection = sign_extra("double-encode-path", &region, "execute-api", &date);
        assert_eq!(inspection.canonical_request, expected);
    }

    /// smithy-rs's rewrite of get-space with the space percent-encoded, as it travels on the wire.
    /// The canonical URI encodes the wire path once more, so `%20` becomes `%2520` (the rule of
    /// the double-url-encode case above; an AWS front end sees `%20` and encodes it again).
    #[test]
    fn get_space() {
        let inspection = sign_extra(
            "get-space-normalized",
            "us-east-1",
            "service",
            "20150830T123600Z",
        );
        assert_eq!(
            inspection.canonical_request.lines().nth(1),
            Some("/example%2520space/")
        );
    }
}

/// aws-c-auth's SigV4a suite (`tests/fixtures/aws-c-auth/v4a`, the 38 complete cases), one test
/// per case and variant. ECDSA signatures are randomized, so no signature is compared byte for
/// byte; instead each test checks that:
/// - the public key derived from the case's credentials is the published one (`public-key.json`);
/// - our canonical request and string to sign are the published ones;
/// - our signature verifies with the published public key (not with a key of ours);
/// - the suite's signatures (`*-signature.txt` and the one in `*-signed-request.txt`) verify
///   with our verifier, on the signed request as the suite writes it.
#[cfg(feature = "sigv4a")]
mod v4a {
    use super::*;
    use sigv4_core::verify::{SignedRequest, VerifyParams, VerifySettings};
    use sigv4_core::Algorithm;

    fn published_public_key(dir: &Path) -> Vec<u8> {
        let json: serde_json::Value =
            serde_json::from_str(&read(&dir.join("public-key.json"))).unwrap();
        let hex = format!(
            "04{}{}",
            json["X"].as_str().unwrap(),
            json["Y"].as_str().unwrap()
        );
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect()
    }

    /// The `Signature=` of an `Authorization` header or the `X-Amz-Signature` of a target.
    fn signature_in(signed: &RawRequest) -> String {
        let auth = signed
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("authorization"))
            .map(|(_, v)| v.as_str());
        let text = auth.unwrap_or(&signed.target);
        let at = text.find("Signature=").expect("a signature") + "Signature=".len();
        text[at..]
            .split(|c: char| !c.is_ascii_hexdigit())
            .next()
            .unwrap()
            .to_owned()
    }

    pub(super) fn run(case: &str, query: bool) {
        let dir = fixtures().join("aws-c-auth/v4a").join(case);
        let (mut ctx, expires) = context(&dir);
        if query {
            ctx.settings.location = SignatureLocation::Query {
                expires_in: Duration::from_secs(expires),
            };
        }
        let signer = Signer::new();
        let public_key = published_public_key(&dir);
        assert_eq!(
            signer.sigv4a_public_key(&ctx.creds).map(|k| k.to_vec()),
            Some(public_key.clone()),
            "{case}: derived public key"
        );
        let prefix = if query { "query" } else { "header" };
        let expect = |file: &str| read(&dir.join(format!("{prefix}-{file}")));

        // The suite's signatures, on its signed request, through our verifier.
        let signed = parse_request(&expect("signed-request.txt"));
        let in_request = signature_in(&signed);
        let published = expect("signature.txt").trim().to_owned();
        let mut verify_settings = VerifySettings::default();
        verify_settings.signing = ctx.settings.clone();
        verify_settings.max_skew = Duration::from_secs(60);
        for signature in [&in_request, &published] {
            assert!(
                sigv4_core::sigv4a::verify_with_public_key(
                    &public_key,
                    expect("string-to-sign.txt").as_bytes(),
                    signature
                ),
                "{case} ({prefix}): the suite's signature against its string to sign"
            );
            let raw = RawRequest {
                target: signed.target.replace(&in_request, signature),
                headers: signed
                    .headers
                    .iter()
                    .map(|(n, v)| (n.clone(), v.replace(&in_request, signature)))
                    .collect(),
                method: signed.method.clone(),
                body: signed.body.clone(),
            };
            let Ok(uri) = raw.target.parse::<Uri>() else {
                // get-space-*: the raw space of the request line (see below).
                assert!(raw.target.contains(' '), "{case}: {}", raw.target);
                continue;
            };
            let mut request = build_request(&RawRequest {
                target: uri.to_string(),
                ..raw
            });
            let body = std::mem::take(request.body_mut());
            let claimed = SignedRequest::parse(request.uri(), request.headers())
                .unwrap_or_else(|e| panic!("{case} ({prefix}): parse: {e}"));
            assert_eq!(claimed.algorithm(), Algorithm::SigV4a);
            assert_eq!(claimed.region(), ctx.region);
            signer
                .verify(
                    (&request).into(),
                    &claimed,
                    Payload::Bytes(&body),
                    &VerifyParams::new(&ctx.creds, ctx.time, &verify_settings),
                )
                .unwrap_or_else(|e| panic!("{case} ({prefix}): the suite's signature: {e}"));
        }

        // Our signing: the published texts, a signature the published key accepts.
        let raw = parse_request(&read(&dir.join("request.txt")));
        if raw.target.parse::<Uri>().is_err() {
            // get-space-*: `GET /example space/ HTTP/1.1` cannot be an `http::Request` (as for
            // the v4 suite); its key and published signatures are checked above.
            assert_eq!(raw.target, "/example space/", "{case}");
            return;
        }
        let mut request = build_request(&raw);
        let body = request.body().clone();
        let params = SigningParams::new(&ctx.creds, &ctx.region, &ctx.service, ctx.time)
            .with_settings(&ctx.settings)
            .with_algorithm(Algorithm::SigV4a);
        let (output, inspection) = signer
            .inspect((&request).into(), Payload::Bytes(&body), &params)
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(
            inspection.canonical_request,
            expect("canonical-request.txt"),
            "{case} ({prefix}): canonical request"
        );
        assert_eq!(
            inspection.string_to_sign,
            expect("string-to-sign.txt"),
            "{case} ({prefix}): string to sign"
        );
        assert!(
            sigv4_core::sigv4a::verify_with_public_key(
                &public_key,
                inspection.string_to_sign.as_bytes(),
                output.signature().as_str()
            ),
            "{case} ({prefix}): our signature against the published public key"
        );
        // The signed request holds what the suite's does (the signature aside).
        output.apply_to_request(&mut request).unwrap();
        let without_signature = |pairs: Vec<(String, String)>| -> Vec<(String, String)> {
            pairs
                .into_iter()
                .map(|(n, v)| match v.find("Signature=") {
                    Some(at) if n == "authorization" => (n, v[..at].to_owned()),
                    _ => (n, v),
                })
                .collect()
        };
        assert_eq!(
            without_signature(ours(request.headers())),
            without_signature(header_set(signed.headers.clone())),
            "{case} ({prefix}): signed request headers"
        );
        let mut ours_params: Vec<&str> = request
            .uri()
            .query()
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.starts_with("X-Amz-Signature="))
            .collect();
        let mut theirs: Vec<&str> = signed
            .target
            .split_once('?')
            .map_or("", |(_, q)| q)
            .split('&')
            .filter(|p| !p.starts_with("X-Amz-Signature="))
            .collect();
        ours_params.sort_unstable();
        theirs.sort_unstable();
        assert_eq!(
            ours_params, theirs,
            "{case} ({prefix}): signed request query"
        );
    }

    macro_rules! v4a_cases {
        ($($name:ident => $case:literal,)*) => {
            mod header {
                $(#[test] fn $name() { super::run($case, false); })*
            }
            mod query {
                $(#[test] fn $name() { super::run($case, true); })*
            }
        };
    }

    v4a_cases! {
        get_header_key_duplicate => "get-header-key-duplicate",
        get_header_value_multiline => "get-header-value-multiline",
        get_header_value_order => "get-header-value-order",
        get_header_value_trim => "get-header-value-trim",
        get_relative_normalized => "get-relative-normalized",
        get_relative_relative_normalized => "get-relative-relative-normalized",
        get_relative_relative_unnormalized => "get-relative-relative-unnormalized",
        get_relative_unnormalized => "get-relative-unnormalized",
        get_slash_dot_slash_normalized => "get-slash-dot-slash-normalized",
        get_slash_dot_slash_unnormalized => "get-slash-dot-slash-unnormalized",
        get_slash_normalized => "get-slash-normalized",
        get_slash_pointless_dot_normalized => "get-slash-pointless-dot-normalized",
        get_slash_pointless_dot_unnormalized => "get-slash-pointless-dot-unnormalized",
        get_slash_unnormalized => "get-slash-unnormalized",
        get_slashes_normalized => "get-slashes-normalized",
        get_slashes_unnormalized => "get-slashes-unnormalized",
        get_space_normalized => "get-space-normalized",
        get_space_unnormalized => "get-space-unnormalized",
        get_unreserved => "get-unreserved",
        get_utf8 => "get-utf8",
        get_vanilla => "get-vanilla",
        get_vanilla_empty_query_key => "get-vanilla-empty-query-key",
        get_vanilla_query => "get-vanilla-query",
        get_vanilla_query_order_encoded => "get-vanilla-query-order-encoded",
        get_vanilla_query_order_key_case => "get-vanilla-query-order-key-case",
        get_vanilla_query_unreserved => "get-vanilla-query-unreserved",
        get_vanilla_utf8_query => "get-vanilla-utf8-query",
        get_vanilla_with_session_token => "get-vanilla-with-session-token",
        post_header_key_case => "post-header-key-case",
        post_header_key_sort => "post-header-key-sort",
        post_header_value_case => "post-header-value-case",
        post_sts_header_after => "post-sts-header-after",
        post_sts_header_before => "post-sts-header-before",
        post_vanilla => "post-vanilla",
        post_vanilla_empty_query_value => "post-vanilla-empty-query-value",
        post_vanilla_query => "post-vanilla-query",
        post_x_www_form_urlencoded => "post-x-www-form-urlencoded",
        post_x_www_form_urlencoded_parameters => "post-x-www-form-urlencoded-parameters",
    }
}
