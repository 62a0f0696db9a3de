//! A server that calls AWS with signed requests: `cargo run --example axum_outbound`
//!
//! An axum app whose handler calls an upstream API Gateway endpoint through a hyper client wrapped
//! in `sigv4::SigV4Layer`. The signing client is built once, kept in the app state and cloned per
//! request (cheap: the credentials cache and the signing-key cache are shared).
//!
//! To stay on loopback, the "upstream" is the testkit's verifying endpoint with a fixed key, and
//! the example calls its own route once, prints the answer and exits (0 when the upstream accepted
//! the signed call). In a real service the credentials would come from
//! `sigv4::credentials::DefaultChain::builder().build().await` and the URL from configuration.

use std::process::ExitCode;

use axum::extract::State;
use axum::http::StatusCode as AxumStatus;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sigv4::SigV4Body;
use sigv4::{Credentials, SigV4Layer, SigV4Service, StaticKeyStore};
use sigv4_testkit::endpoint::Endpoint;
use tower::{BoxError, ServiceBuilder, ServiceExt};

type SignedClient = SigV4Service<Client<HttpConnector, SigV4Body<Full<Bytes>>>>;

#[derive(Clone)]
struct AppState {
    upstream: String,
    aws: SignedClient,
}

/// `GET /inventory`: asks the upstream API, signed, and relays its answer.
async fn inventory(State(state): State<AppState>) -> Result<String, (AxumStatus, String)> {
    let request = Request::get(format!("{}/prod/inventory", state.upstream))
        .body(Full::default())
        .map_err(|e| (AxumStatus::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let response = state
        .aws
        .oneshot(request)
        .await
        .map_err(|e| (AxumStatus::BAD_GATEWAY, e.to_string()))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| (AxumStatus::BAD_GATEWAY, e.to_string()))?
        .to_bytes();
    Ok(format!(
        "upstream said {status}: {}",
        String::from_utf8_lossy(&body)
    ))
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
    let credentials = Credentials::new("AKIDOUTBOUNDEXAMPLE1", "outbound-example-secret");
    // The upstream stand-in: an API-Gateway-like endpoint that knows this key.
    let upstream = Endpoint::builder()
        .key_store(StaticKeyStore::new().with(credentials.clone()))
        .start()
        .await;

    let aws = ServiceBuilder::new()
        .layer(SigV4Layer::new(
            credentials,
            upstream.region().to_owned(),
            upstream.service().to_owned(),
        ))
        .service(Client::builder(TokioExecutor::new()).build_http());
    let app = Router::new()
        .route("/inventory", get(inventory))
        .with_state(AppState {
            upstream: upstream.url(),
            aws,
        });

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let plain = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let response = plain
        .request(Request::get(format!("{url}/inventory")).body(Full::default())?)
        .await?;
    let body = response.into_body().collect().await?.to_bytes();
    println!("GET {url}/inventory -> {}", String::from_utf8_lossy(&body));
    println!(
        "upstream accepted {} signed call(s), refused {}",
        upstream.accepted(),
        upstream.rejected()
    );

    server.abort();
    Ok(upstream.accepted() == 1 && upstream.rejected() == 0)
}
