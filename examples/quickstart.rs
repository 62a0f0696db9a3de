//! Quickstart: `cargo run --example quickstart`
//!
//! Everything runs on 127.0.0.1, nothing talks to AWS:
//!
//! - an IMDS emulator (what an EC2 instance role looks like from inside the instance), handing out
//!   temporary credentials that rotate;
//! - an API-Gateway-like endpoint that verifies SigV4 signatures against the credentials the
//!   emulator issued (the testkit's `Endpoint`, built on `sigv4::VerifyLayer`);
//! - a client: hyper-util's `Client` behind `sigv4::SigV4Layer`, with credentials from the default
//!   chain (`sigv4::credentials::DefaultChain`), which finds the emulator as IMDS.
//!
//! The client sends three batches of requests while the credentials rotate underneath, then an
//! unsigned and a tampered request, and prints what happened. Time is simulated: one clock,
//! shared by all four parts, is moved forward by hand, so "six hours later" takes no time.
//!
//! Exits with 0 when everything happened as expected, 1 otherwise.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sigv4::credentials::{DefaultChain, Env, ManualClock, SharedTimeSource};
use sigv4::SigV4Body;
use sigv4::{SigV4Layer, SkipSigning};
use sigv4_testkit::endpoint::Endpoint;
use sigv4_testkit::imds::ImdsEmulator;
use tower::{BoxError, ServiceBuilder, ServiceExt};

const BATCH: usize = 20;

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(problems) if problems.is_empty() => ExitCode::SUCCESS,
        Ok(problems) => {
            for problem in problems {
                eprintln!("UNEXPECTED: {problem}");
            }
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("UNEXPECTED ERROR: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<Vec<String>, BoxError> {
    let mut problems = Vec::new();
    let clock = ManualClock::new(SystemTime::now());
    let time: SharedTimeSource = Arc::new(clock.clone());

    // The "instance": IMDS with rotation only when we say so (rotate_now), so the story is exact.
    let imds = ImdsEmulator::builder()
        .time_source(time.clone())
        .rotate_every(Duration::ZERO)
        .start()
        .await;
    // The "API": verifies every request against what IMDS issued (us-east-1 / execute-api).
    let api = Endpoint::builder()
        .imds(&imds)
        .time_source(time.clone())
        .start()
        .await;

    // The default chain (environment -> profile -> container -> IMDS), given a fixed environment
    // that holds only the IMDS endpoint: this machine's real AWS_* variables and ~/.aws files are
    // not read, so the chain ends up at the emulator whatever is configured here.
    let env = Env::from_pairs([("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.endpoint())]);
    let credentials = DefaultChain::builder()
        .env(env)
        .time_source(time.clone())
        .build()
        .await;

    // The client: every request goes through the signing layer, then hyper.
    let signing = SigV4Layer::builder(
        credentials,
        api.region().to_owned(),
        api.service().to_owned(),
    )
    .time_source(time.clone())
    .build();
    let hyper_client = Client::builder(TokioExecutor::new()).build_http::<SigV4Body<Full<Bytes>>>();
    let client = ServiceBuilder::new()
        .layer(signing.clone())
        .service(hyper_client.clone());

    println!("sigv4 quickstart: a signing client, an IMDS emulator and an API-Gateway-like endpoint on loopback");
    println!(
        "  IMDS     {}  (instance role \"{}\")",
        imds.endpoint(),
        imds.role_name()
    );
    println!(
        "  endpoint {}  ({} / {}, checks every signature)",
        api.url(),
        api.region(),
        api.service()
    );

    // Batch 1: the chain finds IMDS and fetches generation 1.
    let first = imds.current_credentials();
    let signers = batch(&client, &api.url(), 1, &mut problems).await;
    report(
        1,
        &signers,
        first.access_key_id(),
        "found by the default chain via IMDS",
        &mut problems,
    );

    // IMDS rotates. The client keeps its cached credentials: they are still valid, and AWS (like
    // the endpoint) accepts every generation until it expires.
    let second = imds.rotate_now();
    let signers = batch(&client, &api.url(), 2, &mut problems).await;
    report(
        2,
        &signers,
        first.access_key_id(),
        "IMDS rotated; the cached key is still valid",
        &mut problems,
    );

    // Six hours later, 30 s before generation 1 expires: the cache refreshes from IMDS first.
    let expiry = first
        .expiry()
        .ok_or("the emulator's credentials have no expiry")?;
    clock.set(expiry - Duration::from_secs(30));
    let signers = batch(&client, &api.url(), 3, &mut problems).await;
    report(
        3,
        &signers,
        second.access_key_id(),
        "6 h later (simulated): refreshed from IMDS",
        &mut problems,
    );

    // Refused: an unsigned request (same stack, signing skipped for this one request)...
    let mut unsigned = Request::get(format!("{}/prod/items", api.url())).body(Full::default())?;
    unsigned.extensions_mut().insert(SkipSigning);
    let (status, code, message) = send(client.clone(), unsigned).await?;
    expect_refusal(
        "unsigned request",
        status,
        &code,
        &message,
        "MissingAuthenticationToken",
        &mut problems,
    );

    // ...and a tampered one: something between the signer and the network changes the body.
    let tampering = ServiceBuilder::new()
        .layer(signing)
        .map_request(|mut request: Request<SigV4Body<Full<Bytes>>>| {
            *request.body_mut() = SigV4Body::full(Bytes::from_static(br#"{"amount":1000000}"#));
            request
        })
        .service(hyper_client);
    let order =
        Request::post(format!("{}/prod/orders", api.url())).body(Full::from(r#"{"amount":1}"#))?;
    let (status, code, message) = send(tampering, order).await?;
    expect_refusal(
        "tampered body",
        status,
        &code,
        &message,
        "SignatureDoesNotMatch",
        &mut problems,
    );

    let expected = (3 * BATCH as u64, 2);
    let got = (api.accepted(), api.rejected());
    if got != expected {
        problems.push(format!(
            "endpoint counted {got:?} (accepted, rejected), expected {expected:?}"
        ));
    }
    println!(
        "{}: {} accepted, {} refused; IMDS served {} credential fetches",
        if problems.is_empty() { "OK" } else { "FAILED" },
        got.0,
        got.1,
        imds.credential_fetches()
    );
    Ok(problems)
}

/// Sends `BATCH` signed POSTs concurrently; returns how many each access key id signed.
async fn batch<S>(
    client: &S,
    url: &str,
    n: usize,
    problems: &mut Vec<String>,
) -> BTreeMap<String, usize>
where
    S: tower::Service<
            Request<Full<Bytes>>,
            Response = http::Response<hyper::body::Incoming>,
            Error = BoxError,
        > + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..BATCH {
        let body = format!(r#"{{"batch":{n},"item":{i}}}"#);
        let request = Request::post(format!("{url}/prod/items"))
            .header("content-type", "application/json")
            .body(Full::from(body));
        let client = client.clone();
        tasks.spawn(async move {
            let response = client.oneshot(request?).await?;
            let status = response.status();
            let body = response.into_body().collect().await?.to_bytes();
            let echo: serde_json::Value = serde_json::from_slice(&body)?;
            Ok::<_, BoxError>((status, echo))
        });
    }
    let mut signers = BTreeMap::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok((StatusCode::OK, echo))) => {
                let akid = echo["access_key_id"].as_str().unwrap_or("?").to_owned();
                *signers.entry(akid).or_insert(0) += 1;
            }
            Ok(Ok((status, echo))) => problems.push(format!("batch {n}: {status} {echo}")),
            Ok(Err(error)) => problems.push(format!("batch {n}: {error}")),
            Err(error) => problems.push(format!("batch {n}: task failed: {error}")),
        }
    }
    signers
}

fn report(
    n: usize,
    signers: &BTreeMap<String, usize>,
    expected: &str,
    note: &str,
    problems: &mut Vec<String>,
) {
    let accepted: usize = signers.values().sum();
    let keys: Vec<&str> = signers.keys().map(String::as_str).collect();
    println!(
        "  batch {n}: {accepted}/{BATCH} accepted, signed with {}  ({note})",
        keys.join(", ")
    );
    if accepted != BATCH || keys != [expected] {
        problems.push(format!(
            "batch {n}: expected {BATCH} accepted, all signed with {expected}"
        ));
    }
}

async fn send<S>(
    client: S,
    request: Request<Full<Bytes>>,
) -> Result<(StatusCode, String, String), BoxError>
where
    S: tower::Service<Request<Full<Bytes>>, Response = http::Response<hyper::body::Incoming>>,
    S::Error: Into<BoxError>,
{
    let response = client.oneshot(request).await.map_err(Into::into)?;
    let status = response.status();
    let code = response
        .headers()
        .get("x-amzn-errortype")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    let body = response.into_body().collect().await?.to_bytes();
    let echo: serde_json::Value = serde_json::from_slice(&body)?;
    let message = echo["message"].as_str().unwrap_or("").to_owned();
    Ok((status, code, message))
}

fn expect_refusal(
    what: &str,
    status: StatusCode,
    code: &str,
    message: &str,
    expected: &str,
    problems: &mut Vec<String>,
) {
    let short: String = message.chars().take(60).collect();
    let ellipsis = if message.chars().count() > 60 {
        "..."
    } else {
        ""
    };
    println!(
        "  {what:<16} -> {} {code}: {short}{ellipsis}",
        status.as_u16()
    );
    if status != StatusCode::FORBIDDEN || code != expected {
        problems.push(format!(
            "{what}: expected 403 {expected}, got {status} {code}"
        ));
    }
}
