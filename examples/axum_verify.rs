//! A server that checks SigV4 signatures: `cargo run --example axum_verify`
//!
//! An axum app whose routes sit behind `sigv4::VerifyLayer` (as a route layer), with the keys it
//! accepts in a `StaticKeyStore`. Handlers get the signer's identity as an `Extension<Verified>`.
//!
//! To keep the example self-contained, it serves on 127.0.0.1 (a free port), calls itself once
//! signed (through `SigV4Layer`) and once unsigned, prints what came back, and exits (0 when both
//! answers are the expected ones).

use std::process::ExitCode;

use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sigv4::verify::Verified;
use sigv4::SigV4Body;
use sigv4::{Credentials, SigV4Layer, StaticKeyStore, VerifyLayer};
use tower::{BoxError, ServiceBuilder, ServiceExt};

/// `POST /orders`: only signed requests get here.
async fn create_order(
    Extension(caller): Extension<Verified>,
    body: String,
) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "created_by": caller.access_key_id(),
        "region": caller.region(),
        "order": body,
    }))
}

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
    // The keys this server accepts. In production: a KeyStore backed by your user database.
    let key = Credentials::new("AKIDAXUMEXAMPLE00001", "axum-example-secret-do-not-use");
    let keys = StaticKeyStore::new().with(key.clone());

    let app = Router::new()
        .route("/orders", post(create_order))
        .route_layer(
            VerifyLayer::new(keys)
                .region("eu-west-1")
                .service("execute-api"),
        )
        // Routes added after `route_layer` are not verified.
        .route("/health", get(|| async { "ok" }));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    println!("axum app with VerifyLayer listening on {url}");

    // A client that signs, as a caller of this API would.
    let client = ServiceBuilder::new()
        .layer(SigV4Layer::new(key, "eu-west-1", "execute-api"))
        .service(Client::builder(TokioExecutor::new()).build_http::<SigV4Body<Full<Bytes>>>());
    let order = || Request::post(format!("{url}/orders")).body(Full::from(r#"{"item":"widget"}"#));

    let signed = client.clone().oneshot(order()?).await?;
    let signed_status = signed.status();
    let signed_body = signed.into_body().collect().await?.to_bytes();
    println!(
        "signed   POST /orders -> {signed_status} {}",
        String::from_utf8_lossy(&signed_body)
    );

    let mut unsigned_request = order()?;
    unsigned_request.extensions_mut().insert(sigv4::SkipSigning);
    let unsigned = client.oneshot(unsigned_request).await?;
    let unsigned_status = unsigned.status();
    let error_type = unsigned
        .headers()
        .get("x-amzn-errortype")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    let unsigned_body = unsigned.into_body().collect().await?.to_bytes();
    println!(
        "unsigned POST /orders -> {unsigned_status} {error_type} {}",
        String::from_utf8_lossy(&unsigned_body)
    );

    server.abort();
    Ok(signed_status == StatusCode::OK
        && unsigned_status == StatusCode::FORBIDDEN
        && error_type == "MissingAuthenticationToken")
}
