//! Setup shared by the root integration tests (`mod common;`): one simulated clock, the IMDS
//! emulator and the testkit's verifying endpoint on loopback, and reading the endpoint's answers.
//!
//! Each test file uses only part of it.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use http::{Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use sigv4::credentials::{DefaultChain, Env, ManualClock, SharedTimeSource};
use sigv4_testkit::endpoint::Endpoint;
use sigv4_testkit::imds::{ImdsEmulator, ImdsEmulatorBuilder};

/// 2023-11-14T22:13:20Z, where every test's clock starts.
pub const T0: u64 = 1_700_000_000;

/// A `ManualClock` at [`T0`], and the same clock as the time source handed to every component.
pub fn clock_at_t0() -> (ManualClock, SharedTimeSource) {
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(T0));
    let time: SharedTimeSource = Arc::new(clock.clone());
    (clock, time)
}

/// Starts `imds` (with whatever settings the test gave its builder) and an endpoint trusting the
/// credentials it issues, both on the clock `time`.
pub async fn start_imds_and_endpoint(
    imds: ImdsEmulatorBuilder,
    time: &SharedTimeSource,
) -> (ImdsEmulator, Endpoint) {
    let imds = imds.time_source(time.clone()).start().await;
    let api = Endpoint::builder()
        .imds(&imds)
        .time_source(time.clone())
        .start()
        .await;
    (imds, api)
}

/// The default chain as an application builds it, finding `imds` as the instance's metadata
/// service: its environment holds only `AWS_EC2_METADATA_SERVICE_ENDPOINT`, so the real
/// environment and profile files are never read.
pub async fn chain_finding(imds: &ImdsEmulator, time: SharedTimeSource) -> DefaultChain {
    let env = Env::from_pairs([("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.endpoint())]);
    DefaultChain::builder()
        .env(env)
        .time_source(time)
        .build()
        .await
}

/// The endpoint's answer: status, error code (`x-amzn-errortype`) if any, and the JSON body.
pub async fn read(response: Response<Incoming>) -> (StatusCode, Option<String>, serde_json::Value) {
    let status = response.status();
    let code = response
        .headers()
        .get("x-amzn-errortype")
        .map(|v| v.to_str().expect("ASCII").to_owned());
    let body = response
        .into_body()
        .collect()
        .await
        .expect("a body")
        .to_bytes();
    (status, code, serde_json::from_slice(&body).expect("JSON"))
}
