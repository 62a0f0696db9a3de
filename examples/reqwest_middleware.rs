//! Signing reqwest requests: `cargo run --example reqwest_middleware --features reqwest-middleware`
//!
//! A `reqwest_middleware` client with `SigV4Middleware` as its last (innermost) middleware, so
//! every attempt of a retry middleware placed before it would be signed anew. It calls the
//! testkit's verifying endpoint on 127.0.0.1, prints the answers and exits (0 when the signed
//! request was accepted and an unsigned one refused).

use std::process::ExitCode;

use reqwest_middleware::ClientBuilder;
use sigv4::reqwest::SigV4Middleware;
use sigv4::{Credentials, StaticKeyStore};
use sigv4_testkit::endpoint::Endpoint;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<bool, BoxError> {
    // In an application: `sigv4::credentials::DefaultChain::builder().build().await`.
    let credentials = Credentials::new("AKIDREQWESTEXAMPLE01", "reqwest-example-secret");
    let api = Endpoint::builder()
        .key_store(StaticKeyStore::new().with(credentials.clone()))
        .start()
        .await;

    let client = ClientBuilder::new(reqwest::Client::new())
        // .with(retry middleware) .with(tracing middleware)   <- outer ones first
        .with(SigV4Middleware::new(
            credentials,
            api.region().to_owned(),
            api.service().to_owned(),
        ))
        .build();

    let signed = client
        .post(format!("{}/prod/items", api.url()))
        .header("content-type", "application/json")
        .body(r#"{"name":"widget"}"#)
        .send()
        .await?;
    let signed_status = signed.status();
    println!(
        "signed   POST /prod/items -> {signed_status} {}",
        signed.text().await?
    );

    let unsigned = reqwest::Client::new()
        .post(format!("{}/prod/items", api.url()))
        .body("{}")
        .send()
        .await?;
    let unsigned_status = unsigned.status();
    println!(
        "unsigned POST /prod/items -> {unsigned_status} {}",
        unsigned.text().await?
    );

    Ok(signed_status == reqwest::StatusCode::OK
        && unsigned_status == reqwest::StatusCode::FORBIDDEN)
}
