//! `sigv4_core::time::parse_rfc3339` against Smithy's shared `date-time` parse cases
//! (`tests/fixtures/smithy-rs-date-time/`, see `SOURCE.txt`).
//!
//! Every case the suite says must parse, and that lies in 1970..=9999 (what a `SystemTime` from a
//! credential document can be), must give the suite's seconds and nanoseconds; every case the suite
//! says must fail must fail. Cases before 1970 must fail with `OutOfRange` (credential documents
//! never hold them; the parser documents the range).

use std::time::{Duration, UNIX_EPOCH};

use serde_json::Value;
use sigv4_core::time::{parse_http_date, parse_rfc3339};
use sigv4_core::TimeError;

fn cases() -> Vec<Value> {
    suite("parse_date_time")
}

fn suite(name: &str) -> Vec<Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/smithy-rs-date-time/date_time_format_test_suite.json"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let all: Value = serde_json::from_str(&text).unwrap();
    all[name].as_array().unwrap().clone()
}

#[test]
fn smithy_parse_date_time_cases() {
    let (mut ok, mut errors, mut before_1970) = (0, 0, 0);
    for case in cases() {
        let text = case["smithy_format_value"].as_str().unwrap_or("");
        let got = parse_rfc3339(text);
        if case["error"].as_bool().unwrap() {
            assert!(got.is_err(), "{text:?} must be refused, got {got:?}");
            errors += 1;
            continue;
        }
        let secs: i64 = case["canonical_seconds"].as_str().unwrap().parse().unwrap();
        let nanos = case["canonical_nanos"].as_u64().unwrap() as u32;
        if secs < 0 {
            assert_eq!(got, Err(TimeError::OutOfRange), "{text:?}");
            before_1970 += 1;
            continue;
        }
        let want = UNIX_EPOCH + Duration::new(secs as u64, nanos);
        assert_eq!(got, Ok(want), "{text:?}");
        ok += 1;
    }
    assert!(ok >= 40, "only {ok} cases in range");
    eprintln!("{ok} parsed, {errors} refused, {before_1970} before 1970");
}

/// `parse_http_date` (the `Date` header the clock-skew correction reads) against Smithy's
/// `http-date` parse cases, with the same rules.
#[test]
fn smithy_parse_http_date_cases() {
    let (mut ok, mut before_1970) = (0, 0);
    for case in suite("parse_http_date") {
        let text = case["smithy_format_value"].as_str().unwrap_or("");
        let got = parse_http_date(text);
        if case["error"].as_bool().unwrap() {
            assert!(got.is_err(), "{text:?} must be refused, got {got:?}");
            continue;
        }
        let secs: i64 = case["canonical_seconds"].as_str().unwrap().parse().unwrap();
        let nanos = case["canonical_nanos"].as_u64().unwrap() as u32;
        if secs < 0 {
            assert_eq!(got, Err(TimeError::OutOfRange), "{text:?}");
            before_1970 += 1;
            continue;
        }
        assert_eq!(
            got,
            Ok(UNIX_EPOCH + Duration::new(secs as u64, nanos)),
            "{text:?}"
        );
        ok += 1;
    }
    assert!(
        ok >= 40,
        "only {ok} cases in range ({before_1970} before 1970)"
    );
}
