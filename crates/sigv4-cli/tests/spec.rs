//! `sigv4 sign --spec`: the JSON interface other tools use to check us against other SDKs.
//!
//! Expected values are copied from the AWS SigV4 test suite (github.com/awslabs/aws-c-auth,
//! tests/aws-signing-test-suite/v4/, Apache-2.0) and from the S3 documentation's presigned-URL
//! example; each constant names its file.

mod common;

use common::{json_lines, sigv4, temp_file, AKID, SECRET};
use serde_json::{json, Value};

// v4/get-vanilla-with-session-token/context.json
const TOKEN: &str = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267";

// v4/get-vanilla-with-session-token/header-canonical-request.txt
const HEADER_CANONICAL: &str = "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\
x-amz-security-token:6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267\n\n\
host;x-amz-date;x-amz-security-token\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
// v4/get-vanilla-with-session-token/header-string-to-sign.txt
const HEADER_STS: &str =
    "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n\
067b36aa60031588cea4a4cde1f21215227a047690c72247f1d70b32fbbfad2b";
// v4/get-vanilla-with-session-token/header-signature.txt
const HEADER_SIGNATURE: &str = "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8";
// v4/get-vanilla-with-session-token/header-signed-request.txt (the Authorization line)
const HEADER_AUTHORIZATION: &str =
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
SignedHeaders=host;x-amz-date;x-amz-security-token, \
Signature=07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8";

// v4/get-vanilla-with-session-token/query-canonical-request.txt
const QUERY_CANONICAL: &str = "GET\n/\nX-Amz-Algorithm=AWS4-HMAC-SHA256&\
X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&\
X-Amz-Expires=3600&X-Amz-Security-Token=6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267&\
X-Amz-SignedHeaders=host\nhost:example.amazonaws.com\n\nhost\n\
e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
// v4/get-vanilla-with-session-token/query-string-to-sign.txt
const QUERY_STS: &str =
    "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n\
cb30434103085aa9e73780fc60dc9a9df818fd2a7b1de12a9f6f4d791f898761";
// v4/get-vanilla-with-session-token/query-signature.txt
const QUERY_SIGNATURE: &str = "7ff2b50b376cb4d151970630573d6291dc128cc5c2a12ffb237f73cc53f67b6c";
// v4/get-vanilla-with-session-token/query-signed-request.txt (the request line's target)
const QUERY_URL: &str = "https://example.amazonaws.com/?X-Amz-Algorithm=AWS4-HMAC-SHA256&\
X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&\
X-Amz-SignedHeaders=host&X-Amz-Expires=3600&\
X-Amz-Security-Token=6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267&\
X-Amz-Signature=7ff2b50b376cb4d151970630573d6291dc128cc5c2a12ffb237f73cc53f67b6c";

const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// The get-vanilla-with-session-token request (request.txt: `GET /` with a Host header).
fn session_token_spec(id: impl Into<Value>, mode: &str) -> Value {
    json!({
        "id": id.into(), "method": "GET", "url": "https://example.amazonaws.com/",
        "headers": [["Host", "example.amazonaws.com"]],
        "access_key": AKID, "secret_key": SECRET, "session_token": TOKEN,
        "region": "us-east-1", "service": "service", "timestamp": "20150830T123600Z",
        "mode": mode, "expires": 3600, "s3": false, "unsigned_payload": false,
        "comment": "unknown fields are ignored"
    })
}

fn run_spec(name: &str, specs: &Value) -> Vec<Value> {
    let path = temp_file(name, specs.to_string().as_bytes());
    let run = sigv4(&["sign", "--spec", path.to_str().unwrap()], b"", &[]);
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    assert_eq!(run.stderr, "");
    json_lines(&run.stdout)
}

#[test]
fn header_mode_matches_the_aws_suite() {
    let out = run_spec("header.json", &session_token_spec("hdr", "header"));
    assert_eq!(out.len(), 1);
    let line = &out[0];
    assert_eq!(line["id"], "hdr");
    assert_eq!(line["canonical_request"], HEADER_CANONICAL);
    assert_eq!(line["string_to_sign"], HEADER_STS);
    assert_eq!(line["signature"], HEADER_SIGNATURE);
    assert_eq!(
        line["signed_headers"],
        "host;x-amz-date;x-amz-security-token"
    );
    assert_eq!(
        line["credential_scope"],
        "20150830/us-east-1/service/aws4_request"
    );
    assert_eq!(line["payload_hash"], EMPTY_SHA256);
    assert_eq!(line["authorization"], HEADER_AUTHORIZATION);
    assert_eq!(
        line["headers"],
        json!([
            ["host", "example.amazonaws.com"],
            ["authorization", HEADER_AUTHORIZATION],
            ["x-amz-date", "20150830T123600Z"],
            ["x-amz-security-token", TOKEN],
        ])
    );
    assert_eq!(line["url"], "https://example.amazonaws.com/");
}

#[test]
fn query_mode_matches_the_aws_suite() {
    let out = run_spec("query.json", &session_token_spec("qry", "query"));
    assert_eq!(out.len(), 1);
    let line = &out[0];
    assert_eq!(line["id"], "qry");
    assert_eq!(line["canonical_request"], QUERY_CANONICAL);
    assert_eq!(line["string_to_sign"], QUERY_STS);
    assert_eq!(line["signature"], QUERY_SIGNATURE);
    assert_eq!(line["signed_headers"], "host");
    assert_eq!(line["payload_hash"], EMPTY_SHA256);
    assert_eq!(line["url"], QUERY_URL);
    assert!(
        line.get("authorization").is_none(),
        "no Authorization in query mode: {line}"
    );
    assert_eq!(line["headers"], json!([["host", "example.amazonaws.com"]]));
}

#[test]
fn a_bad_spec_in_the_middle_gives_an_error_line_and_the_run_goes_on() {
    let mut bad_url = session_token_spec("bad-url", "header");
    bad_url["url"] = json!("https://example.amazonaws.com/a b");
    let mut bad_expiry = session_token_spec("bad-expiry", "query");
    bad_expiry["expires"] = json!(604_801);
    let mut bad_header = session_token_spec(7, "header");
    bad_header["headers"] = json!([["x-ok", "1"], ["x-bad", "line\nbreak"]]);
    let specs = json!([
        session_token_spec("first", "header"),
        bad_url,
        bad_expiry,
        bad_header,
        session_token_spec("last", "query"),
    ]);
    let out = run_spec("middle.json", &specs);
    assert_eq!(out.len(), 5);
    assert_eq!(out[0]["id"], "first");
    assert_eq!(out[0]["signature"], HEADER_SIGNATURE);
    for (line, id, needle) in [
        (&out[1], json!("bad-url"), "`url`"),
        (&out[2], json!("bad-expiry"), "expiry"),
        (&out[3], json!(7), "headers[1]"),
    ] {
        assert_eq!(line["id"], id);
        let error = line["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error: {line}"));
        assert!(error.contains(needle), "{error:?} should mention {needle}");
        assert!(!error.contains(SECRET) && !error.contains(TOKEN), "{error}");
        assert_eq!(
            line.as_object().unwrap().len(),
            2,
            "only id and error: {line}"
        );
    }
    assert_eq!(out[4]["id"], "last");
    assert_eq!(out[4]["signature"], QUERY_SIGNATURE);
}

#[test]
fn missing_fields_are_named() {
    let mut spec = session_token_spec("m", "header");
    spec.as_object_mut().unwrap().remove("timestamp");
    let out = run_spec("missing.json", &json!([spec, {"method": "GET"}]));
    assert_eq!(
        out[0],
        json!({"id": "m", "error": "missing field `timestamp`"})
    );
    assert_eq!(out[1]["id"], Value::Null);
    assert!(out[1]["error"]
        .as_str()
        .unwrap()
        .starts_with("missing field"));
}

#[test]
fn specs_can_come_from_stdin() {
    let input = json!([
        session_token_spec("a", "header"),
        session_token_spec("b", "query")
    ]);
    let run = sigv4(&["sign", "--spec", "-"], input.to_string().as_bytes(), &[]);
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    let out = json_lines(&run.stdout);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0]["signature"], HEADER_SIGNATURE);
    assert_eq!(out[1]["signature"], QUERY_SIGNATURE);
}

#[test]
fn s3_presign_signs_unsigned_payload() {
    // The S3 documentation's example ("Authenticating Requests: Using Query Parameters (AWS
    // Signature Version 4)", GET Object): its documented signature.
    let spec = json!({
        "id": "s3", "method": "GET", "url": "https://examplebucket.s3.amazonaws.com/test.txt",
        "access_key": "AKIAIOSFODNN7EXAMPLE", "secret_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "region": "us-east-1", "service": "s3", "timestamp": "20130524T000000Z",
        "mode": "query", "expires": 86400, "s3": true, "body": "ignored: S3 presigning does not hash it"
    });
    let out = run_spec("s3.json", &spec);
    let line = &out[0];
    assert_eq!(line["payload_hash"], "UNSIGNED-PAYLOAD");
    let canonical = line["canonical_request"].as_str().unwrap();
    assert!(
        canonical.ends_with("\nhost\nUNSIGNED-PAYLOAD"),
        "{canonical}"
    );
    assert_eq!(
        line["signature"],
        "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
    );
    let url = line["url"].as_str().unwrap();
    assert!(url.starts_with(
        "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&"
    ));
    assert!(url.contains("&X-Amz-Expires=86400&"), "{url}");
    assert!(url.ends_with(
        "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
    ));
    assert!(!url.contains("content-sha256"), "{url}");
}

// v4/post-sts-header-after: the token is added after signing (context.json omit_session_token).
const STS_TOKEN: &str = "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMic\
RXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq\
5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9\
FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";

#[test]
fn unsigned_session_token_stays_outside_the_signed_headers() {
    let spec = |mode: &str| {
        json!({
            "id": mode, "method": "POST", "url": "https://example.amazonaws.com/",
            "headers": [["Host", "example.amazonaws.com"]],
            "access_key": AKID, "secret_key": SECRET, "session_token": STS_TOKEN,
            "region": "us-east-1", "service": "service", "timestamp": "20150830T123600Z",
            "mode": mode, "expires": 3600, "sign_session_token": false
        })
    };
    let out = run_spec("after.json", &json!([spec("header"), spec("query")]));

    let header = &out[0];
    // v4/post-sts-header-after/header-canonical-request.txt
    assert_eq!(
        header["canonical_request"],
        "POST\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n\
         e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(header["signed_headers"], "host;x-amz-date");
    // v4/post-sts-header-after/header-signature.txt
    assert_eq!(
        header["signature"],
        "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"
    );
    let headers = header["headers"].as_array().unwrap();
    assert!(
        headers.contains(&json!(["x-amz-security-token", STS_TOKEN])),
        "{headers:?}"
    );

    let query = &out[1];
    assert!(!query["canonical_request"]
        .as_str()
        .unwrap()
        .contains("Security-Token"));
    // v4/post-sts-header-after/query-signature.txt
    assert_eq!(
        query["signature"],
        "2ce6e6d2e0cf2f9d1b55fafec88cd20574c31dc2e7631979f71ba2310083e95b"
    );
    // v4/post-sts-header-after/query-signed-request.txt: the token rides in the URL, unsigned.
    assert!(query["url"].as_str().unwrap().contains(
        "&X-Amz-Security-Token=AQoDYXdzEPT%2F%2F%2F%2F%2F%2F%2F%2F%2F%2FwEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQ"
    ));
}

#[test]
fn unparseable_input_is_one_stderr_line_and_exit_2() {
    for (name, input) in [
        ("broken.json", &b"[{\"id\": 1},"[..]),
        ("scalar.json", b"42"),
        ("empty.json", b""),
    ] {
        let path = temp_file(name, input);
        let run = sigv4(&["sign", "--spec", path.to_str().unwrap()], b"", &[]);
        assert_eq!(run.code, 2, "{name}");
        assert_eq!(run.stdout, "", "{name}: no partial output");
        assert_eq!(run.stderr.lines().count(), 1, "{name}: {}", run.stderr);
    }
    let run = sigv4(&["sign", "--spec", "/nonexistent/specs.json"], b"", &[]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("/nonexistent/specs.json"),
        "{}",
        run.stderr
    );
}

#[test]
fn ten_thousand_specs_complete() {
    const N: usize = 10_000;
    let regions = ["us-east-1", "eu-west-1", "ap-southeast-2"];
    let mut specs = Vec::with_capacity(N);
    for i in 0..N {
        let mode = if i % 2 == 0 { "header" } else { "query" };
        specs.push(json!({
            "id": i, "method": if i % 3 == 0 { "POST" } else { "GET" },
            "url": format!("https://svc{}.example.com/path/{i}/obj%20{i}?b={i}&a=x", i % 7),
            "headers": [["Content-Type", "application/json"], ["X-Amz-Meta-N", i.to_string()],
                        ["X-Amz-Meta-N", "again"]],
            "body": format!("{{\"n\":{i}}}"),
            "access_key": "AKIDEXAMPLE", "secret_key": format!("secret{}", i % 5),
            "session_token": if i % 4 == 0 { Value::from("tok") } else { Value::Null },
            "region": regions[i % 3], "service": "service",
            "timestamp": format!("201508{:02}T123600Z", 1 + i % 28),
            "mode": mode, "expires": 900, "s3": i % 5 == 0, "unsigned_payload": i % 11 == 0
        }));
    }
    let path = temp_file(
        "ten-thousand.json",
        Value::Array(specs).to_string().as_bytes(),
    );
    let run = sigv4(&["sign", "--spec", path.to_str().unwrap()], b"", &[]);
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    let out = json_lines(&run.stdout);
    assert_eq!(out.len(), N);
    for (i, line) in out.iter().enumerate() {
        assert_eq!(line["id"], i, "lines keep the input order");
        assert_eq!(line["signature"].as_str().map(str::len), Some(64), "{line}");
    }
}

/// A spec without a Host header: the signer signs `host` from the URL (lower-cased, default
/// port dropped), and the headers after signing list it, so a tool comparing header lists with
/// another SDK sees every signed header.
#[test]
fn host_signed_from_the_url_is_listed_among_the_headers() {
    let mut spec = session_token_spec("no-host", "header");
    spec["headers"] = json!([]);
    spec["url"] = json!("https://Example.AmazonAWS.com:443/");
    let lines = run_spec("no-host.json", &spec);
    let line = &lines[0];
    // Same canonical request as the suite's case, which has `Host:example.amazonaws.com`.
    assert_eq!(line["canonical_request"], HEADER_CANONICAL, "{line}");
    assert_eq!(line["signature"], HEADER_SIGNATURE);
    let headers = line["headers"].as_array().unwrap();
    assert_eq!(
        headers[0],
        json!(["host", "example.amazonaws.com"]),
        "{line}"
    );
}

// v4a/get-vanilla-with-session-token/header-canonical-request.txt
const V4A_HEADER_CANONICAL: &str =
    "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\
x-amz-region-set:us-east-1\n\
x-amz-security-token:6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267\n\n\
host;x-amz-date;x-amz-region-set;x-amz-security-token\n\
e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
// v4a/get-vanilla-with-session-token/header-string-to-sign.txt
const V4A_HEADER_STS: &str =
    "AWS4-ECDSA-P256-SHA256\n20150830T123600Z\n20150830/service/aws4_request\n\
79893373104239a0547df489af395ec3c1b8873a8601f07f11ffd3f1ac557e7d";
// v4a/get-vanilla-with-session-token/query-string-to-sign.txt
const V4A_QUERY_STS: &str =
    "AWS4-ECDSA-P256-SHA256\n20150830T123600Z\n20150830/service/aws4_request\n\
496062b4c2ed2175fe08ad084158783fa8d013c694542af721d49b25d1ebd390";
// v4a/get-vanilla-with-session-token/public-key.json: 04 || X || Y
const V4A_PUBLIC_KEY: &str = "04b6618f6a65740a99e650b33b6b4b5bd0d43b176d721a3edfea7e7d2d56d936b1\
865ed22a7eadc9c5cb9d2cbaca1b3699139fedc5043dc6661864218330c8e518";

#[test]
fn sigv4a_specs_match_the_v4a_suite_and_print_the_public_key() {
    let mut header = session_token_spec("v4a-hdr", "header");
    let mut query = session_token_spec("v4a-qry", "query");
    for spec in [&mut header, &mut query] {
        let fields = spec.as_object_mut().unwrap();
        fields.insert("algorithm".into(), json!("sigv4a"));
        fields.insert("region_set".into(), json!("us-east-1"));
        fields.remove("region");
    }
    let out = run_spec(
        "v4a.json",
        &json!([header, query, session_token_spec("v4", "header")]),
    );
    assert_eq!(out.len(), 3);
    assert_eq!(out[0]["canonical_request"], V4A_HEADER_CANONICAL);
    assert_eq!(out[0]["string_to_sign"], V4A_HEADER_STS);
    assert_eq!(out[0]["credential_scope"], "20150830/service/aws4_request");
    assert_eq!(out[0]["public_key"], V4A_PUBLIC_KEY);
    let signature = out[0]["signature"].as_str().unwrap();
    assert!(
        signature.starts_with("30"),
        "a DER signature in hex: {signature}"
    );
    assert!(out[0]["authorization"].as_str().unwrap().starts_with(
        "AWS4-ECDSA-P256-SHA256 Credential=AKIDEXAMPLE/20150830/service/aws4_request, "
    ));
    assert_eq!(out[1]["string_to_sign"], V4A_QUERY_STS);
    assert_eq!(out[1]["public_key"], V4A_PUBLIC_KEY);
    assert!(out[1]["url"]
        .as_str()
        .unwrap()
        .contains("&X-Amz-Region-Set=us-east-1&"));
    // SigV4 lines carry no public key.
    assert!(out[2].get("public_key").is_none(), "{}", out[2]);
}

#[test]
fn sigv4a_without_a_region_set_is_an_error_line() {
    let mut spec = session_token_spec("no-set", "header");
    spec["algorithm"] = json!("sigv4a");
    let mut bad = session_token_spec("bad-alg", "header");
    bad["algorithm"] = json!("sigv5");
    let out = run_spec("v4a-errors.json", &json!([spec, bad]));
    assert!(
        out[0]["error"].as_str().unwrap().contains("region_set"),
        "{}",
        out[0]
    );
    assert!(
        out[1]["error"].as_str().unwrap().contains("algorithm"),
        "{}",
        out[1]
    );
}
