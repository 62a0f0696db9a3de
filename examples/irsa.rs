//! EKS IAM Roles for Service Accounts (IRSA) on loopback: `cargo run --example irsa`
//!
//! What a pod on EKS sees, emulated on 127.0.0.1 (nothing talks to AWS):
//!
//! - a projected service-account token in a file, and the variables the EKS webhook sets:
//!   `AWS_WEB_IDENTITY_TOKEN_FILE`, `AWS_ROLE_ARN`, `AWS_ROLE_SESSION_NAME`, `AWS_REGION`;
//! - STS (the testkit's emulator, reached through `AWS_ENDPOINT_URL_STS`), which exchanges the
//!   token for role credentials with `AssumeRoleWithWebIdentity`;
//! - an API-Gateway-like endpoint that verifies every signature against what STS issued.
//!
//! The client is the usual three lines: `DefaultChain` (which finds web identity), `SigV4Layer`,
//! hyper-util's `Client`. It sends a batch, the kubelet rotates the token, and an hour later
//! (simulated time) the chain refreshes with the new token, in one STS call, before the
//! credentials expire. Exits with 0 when everything happened as expected, 1 otherwise.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sigv4::credentials::{DefaultChain, Env, ManualClock, ProvideCredentials, SharedTimeSource};
use sigv4::SigV4Body;
use sigv4::SigV4Layer;
use sigv4_testkit::endpoint::Endpoint;
use sigv4_testkit::sts::StsEmulator;
use tower::{BoxError, ServiceBuilder, ServiceExt};

const ROLE: &str = "arn:aws:iam::123456789012:role/checkout";

#[tokio::main]
async fn main() -> ExitCode {
    let dir = std::env::temp_dir().join(format!("sigv4-irsa-example-{}", std::process::id()));
    let result = run(&dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    match result {
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

async fn run(dir: &std::path::Path) -> Result<Vec<String>, BoxError> {
    let mut problems = Vec::new();
    let clock = ManualClock::new(SystemTime::now());
    let time: SharedTimeSource = Arc::new(clock.clone());

    // The cluster's side: STS trusts the service-account token; the API trusts what STS issues.
    let sts = StsEmulator::builder()
        .time_source(time.clone())
        .web_identity_token("token-1")
        .start()
        .await;
    let api = Endpoint::builder()
        .sts(&sts)
        .time_source(time.clone())
        .start()
        .await;

    // The pod's side: the projected token and the variables the EKS webhook injects.
    std::fs::create_dir_all(dir)?;
    let token_file = dir.join("token");
    std::fs::write(&token_file, "token-1")?;
    let env = Env::from_pairs([
        (
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            token_file.display().to_string(),
        ),
        ("AWS_ROLE_ARN", ROLE.to_owned()),
        ("AWS_ROLE_SESSION_NAME", "checkout-7d9f".to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ENDPOINT_URL_STS", sts.endpoint()),
    ]);
    let credentials = DefaultChain::builder()
        .env(env)
        .time_source(time.clone())
        .build()
        .await;
    let client = ServiceBuilder::new()
        .layer(
            SigV4Layer::builder(
                credentials.clone(),
                api.region().to_owned(),
                api.service().to_owned(),
            )
            .time_source(time.clone())
            .build(),
        )
        .service(Client::builder(TokioExecutor::new()).build_http::<SigV4Body<Full<Bytes>>>());

    println!("sigv4 irsa: a pod's default chain, STS and an API-Gateway-like endpoint on loopback");
    println!("  STS      {}  (AWS_ENDPOINT_URL_STS)", sts.endpoint());
    println!(
        "  endpoint {}  ({} / {})",
        api.url(),
        api.region(),
        api.service()
    );

    let first = credentials.provide_credentials().await?;
    println!(
        "  credentials: {} (account {}), {}",
        first.access_key_id(),
        first.account_id().unwrap_or("?"),
        first.provider_name()
    );
    if first.provider_name() != format!("web identity {ROLE}") {
        problems.push(format!("unexpected source: {}", first.provider_name()));
    }
    let accepted = batch(&client, &api.url(), &mut problems).await;
    println!(
        "  batch 1: {accepted}/10 accepted, signed with {}",
        first.access_key_id()
    );

    // The kubelet rotates the projected token; STS now accepts only the new one.
    std::fs::write(&token_file, "token-2")?;
    sts.set_web_identity_token("token-2");
    // 59 min 30 s later (simulated): the credentials are in their last minute.
    let expiry = first.expiry().ok_or("STS credentials have an expiry")?;
    clock.set(expiry - Duration::from_secs(30));
    let accepted = batch(&client, &api.url(), &mut problems).await;
    let second = credentials.provide_credentials().await?;
    println!(
        "  batch 2: {accepted}/10 accepted, signed with {}  (1 h later: refreshed with the rotated token)",
        second.access_key_id()
    );
    if second.access_key_id() == first.access_key_id() {
        problems.push("the credentials were not refreshed".into());
    }
    let calls = sts.web_identity_calls();
    if calls != 2 {
        problems.push(format!(
            "expected 2 AssumeRoleWithWebIdentity calls, STS saw {calls}"
        ));
    }
    println!(
        "{}: {} accepted, {} refused; STS answered {calls} AssumeRoleWithWebIdentity calls",
        if problems.is_empty() { "OK" } else { "FAILED" },
        api.accepted(),
        api.rejected()
    );
    Ok(problems)
}

/// Ten signed POSTs, one after the other; returns how many were accepted.
async fn batch<S>(client: &S, url: &str, problems: &mut Vec<String>) -> usize
where
    S: tower::Service<
            Request<Full<Bytes>>,
            Response = http::Response<hyper::body::Incoming>,
            Error = BoxError,
        > + Clone,
{
    let mut accepted = 0;
    for i in 0..10 {
        let request = Request::post(format!("{url}/prod/orders"))
            .header("content-type", "application/json")
            .body(Full::from(format!(r#"{{"order":{i}}}"#)))
            .expect("a valid request");
        match client.clone().oneshot(request).await {
            Ok(response) if response.status() == StatusCode::OK => accepted += 1,
            Ok(response) => {
                let status = response.status();
                let body = response.into_body().collect().await.map(|b| b.to_bytes());
                problems.push(format!("refused: {status} {body:?}"));
            }
            Err(error) => problems.push(format!("request failed: {error}")),
        }
    }
    accepted
}
