//! Clock-skew correction in the signing layer against the cross-SDK cases
//! (`tests/fixtures/clock-skew/clock-skew-test-cases.json`, see SOURCE.txt), one test per case.
//!
//! Each case is a sequence of operations on one client; each operation a sequence of attempts
//! (the first, and the layer's one retry). The client's clock is a `ManualClock` set to the
//! attempt's `clientTimeAtSend`; the inner service records the request's `x-amz-date` (which must
//! be the case's `expectedSigningTime`), moves the clock to `clientTimeAtReceive` and answers with
//! the case's status, `Date`/`Age` headers and error code (`x-amzn-ErrorType`). After each
//! operation the layer's offset must be the case's `expectedClientSkew`, and the outcome the
//! case's. `maxAttempts: 1` means no retry: the layer is built with `ClockSkewCorrection::Learn`.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use serde_json::Value;
use sigv4_core::time::parse_rfc3339;
use sigv4_core::{AmzDate, Credentials, ManualClock};
use tower::{service_fn, ServiceBuilder, ServiceExt};
use tower_sigv4::SigV4Body;
use tower_sigv4::{ClockSkewCorrection, SigV4Layer};

fn case(index: usize, description: &str) -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/clock-skew/clock-skew-test-cases.json"
    );
    let all: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let tests = all["tests"].as_array().unwrap();
    assert_eq!(tests.len(), 10);
    assert_eq!(
        tests[index]["description"].as_str(),
        Some(description),
        "case {index} moved"
    );
    tests[index].clone()
}

fn time(v: &Value) -> std::time::SystemTime {
    parse_rfc3339(v.as_str().unwrap()).unwrap()
}

#[derive(Default)]
struct Seen {
    signing_times: Vec<String>,
}

async fn run(index: usize, description: &str) {
    let case = case(index, description);
    let clock = ManualClock::new(std::time::UNIX_EPOCH);
    for (op_index, op) in case["operations"].as_array().unwrap().iter().enumerate() {
        let attempts = op["attempts"].as_array().unwrap().clone();
        let mode = if op["maxAttempts"].as_u64() == Some(1) {
            ClockSkewCorrection::Learn
        } else {
            ClockSkewCorrection::LearnAndRetry
        };
        // One layer per case (its offset carries over between operations); rebuilt only to change
        // the retry mode, carrying the offset.
        let layer = layer_for(&clock, mode);
        let skew = layer.clock_skew().unwrap().clone();
        let initial = op["initialClientSkew"].as_i64().unwrap();
        if op_index == 0 {
            skew.set_offset_seconds(initial);
        } else {
            skew.set_offset_seconds(carried(&case, op_index));
        }
        assert_eq!(
            skew.offset_seconds(),
            initial,
            "{description}: initial skew of operation {op_index}"
        );

        let seen = Arc::new(Mutex::new(Seen::default()));
        let inner = {
            let seen = Arc::clone(&seen);
            let clock = clock.clone();
            let attempts = attempts.clone();
            service_fn(move |request: Request<SigV4Body<Full<Bytes>>>| {
                let seen = Arc::clone(&seen);
                let clock = clock.clone();
                let attempts = attempts.clone();
                async move {
                    let i = {
                        let mut seen = seen.lock().unwrap();
                        let date = request.headers()["x-amz-date"].to_str().unwrap().to_owned();
                        seen.signing_times.push(date);
                        seen.signing_times.len() - 1
                    };
                    let attempt = &attempts[i.min(attempts.len() - 1)];
                    clock.set(time(&attempt["clientTimeAtReceive"]));
                    let r = &attempt["response"];
                    let mut response = Response::new(Full::<Bytes>::default());
                    *response.status_mut() =
                        StatusCode::from_u16(r["statusCode"].as_u64().unwrap() as u16).unwrap();
                    for (name, value) in r["headers"].as_object().unwrap() {
                        response.headers_mut().insert(
                            http::HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes())
                                .unwrap(),
                            value.as_str().unwrap().parse().unwrap(),
                        );
                    }
                    if let Some(code) = r["errorCode"].as_str() {
                        response
                            .headers_mut()
                            .insert("x-amzn-errortype", code.parse().unwrap());
                    }
                    Ok::<_, Infallible>(response)
                }
            })
        };
        clock.set(time(&attempts[0]["clientTimeAtSend"]));
        let response = ServiceBuilder::new()
            .layer(layer)
            .service(inner)
            .oneshot(
                Request::get("https://example.execute-api.us-east-1.amazonaws.com/prod")
                    .body(Full::default())
                    .unwrap(),
            )
            .await
            .unwrap();

        let seen = seen.lock().unwrap();
        let expected: Vec<String> = attempts
            .iter()
            .map(|a| {
                AmzDate::from_system_time(time(&a["expectedSigningTime"]))
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(
            seen.signing_times, expected,
            "{description}: operation {op_index}: attempts and signing times"
        );
        let success = response.status().is_success();
        assert_eq!(
            success,
            op["expectedOutcome"] == "success",
            "{description}: operation {op_index}: outcome ({})",
            response.status()
        );
        assert_eq!(
            skew.offset_seconds(),
            op["expectedClientSkew"].as_i64().unwrap(),
            "{description}: operation {op_index}: skew after"
        );
    }
}

/// The skew the previous operation ended with (what the case carries forward).
fn carried(case: &Value, op_index: usize) -> i64 {
    case["operations"][op_index - 1]["expectedClientSkew"]
        .as_i64()
        .unwrap()
}

fn layer_for(clock: &ManualClock, mode: ClockSkewCorrection) -> SigV4Layer {
    SigV4Layer::builder(
        Credentials::new("AKIDSKEWTEST", "skew-secret"),
        "us-east-1",
        "execute-api",
    )
    .time_source(Arc::new(clock.clone()))
    .clock_skew_correction(mode)
    .build()
}

macro_rules! cases {
    ($($name:ident: $index:expr, $description:expr;)*) => {
        $(
            #[tokio::test]
            async fn $name() {
                run($index, $description).await;
            }
        )*
    };
}

cases! {
    clocks_agree: 0, "Clocks agree, request succeeds on first attempt, ClientSkew updated to 0";
    definite_skew_is_retried_and_persists: 1, "Definite clock skew error on first attempt, retry succeeds, ClientSkew persists to next operation";
    no_retry_budget_still_learns: 2, "Clock skew error with no retry budget still updates ClientSkew";
    a_slow_answer_teaches_nothing: 3, "Delayed response exceeding trust threshold does not update ClientSkew";
    a_stale_skew_is_corrected_silently: 4, "Stale ClientSkew is silently corrected by a successful response without error or retry";
    a_small_skew_is_not_retried: 5, "Possible clock skew error with skew below detection threshold is not retried as clock skew";
    a_large_possible_skew_is_retried: 6, "Possible clock skew error with skew above detection threshold is retried and succeeds";
    no_date_no_candidate: 7, "Clock skew error with no Date header is not treated as a candidate, ClientSkew is not updated";
    a_cached_answer_teaches_nothing: 8, "Cached response with Age header does not update ClientSkew";
    a_cached_answer_does_not_poison: 9, "Cached response with Age header does not poison ClientSkew even when followed by a clock skew error";
}

#[tokio::test]
async fn the_offset_is_shared_by_clones_and_off_means_off() {
    let clock = ManualClock::new(parse_rfc3339("2026-01-01T00:00:00Z").unwrap());
    let layer = layer_for(&clock, ClockSkewCorrection::LearnAndRetry);
    let a = layer.clock_skew().unwrap();
    a.set_offset_seconds(42);
    assert_eq!(layer.clone().clock_skew().unwrap().offset_seconds(), 42);
    assert!(layer_for(&clock, ClockSkewCorrection::Off)
        .clock_skew()
        .is_none());
}
