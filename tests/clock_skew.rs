//! A host whose clock is wrong, on loopback: the verifying endpoint's clock is 20 minutes ahead of
//! the client's. The signing layer learns the offset from the first answer's `Date` (the testkit
//! writes its own clock there), retries that one request with the corrected time, and every
//! request after it is signed right the first time: 100 requests, 100 accepted, one refusal in
//! all, and no caller sees it.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sigv4::credentials::{ManualClock, SharedTimeSource, TimeSource};
use sigv4::SigV4Body;
use sigv4::{ClockSkewCorrection, Credentials, SigV4Layer, StaticKeyStore};
use sigv4_testkit::endpoint::Endpoint;
use tower::{ServiceBuilder, ServiceExt};

async fn endpoint_ahead(creds: &Credentials, ahead: Duration) -> (Endpoint, ManualClock) {
    let client_clock = ManualClock::new(SystemTime::now());
    let server_time: SharedTimeSource = Arc::new(ManualClock::new(client_clock.now() + ahead));
    let endpoint = Endpoint::builder()
        .key_store(Arc::new(StaticKeyStore::new().with(creds.clone())))
        .time_source(server_time)
        .start()
        .await;
    (endpoint, client_clock)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_is_accepted_when_the_service_clock_is_20_minutes_ahead() {
    let creds = Credentials::new("AKIDSKEWEDHOST000001", "skewed-secret");
    let (api, client_clock) = endpoint_ahead(&creds, Duration::from_secs(20 * 60)).await;
    let layer = SigV4Layer::builder(creds, api.region().to_owned(), api.service().to_owned())
        .time_source(Arc::new(client_clock))
        .build();
    let skew = Arc::clone(layer.clock_skew().unwrap());
    let client = ServiceBuilder::new()
        .layer(layer)
        .service(Client::builder(TokioExecutor::new()).build_http::<SigV4Body<Full<Bytes>>>());
    for i in 0..100 {
        let request = Request::post(format!("{}/prod/items", api.url()))
            .body(Full::from(format!(r#"{{"n":{i}}}"#)))
            .unwrap();
        let response = client.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "request {i}");
    }
    assert_eq!(api.accepted(), 100);
    assert_eq!(
        api.rejected(),
        1,
        "only the very first request, retried at once"
    );
    assert!(
        (1199..=1201).contains(&skew.offset_seconds()),
        "{}",
        skew.offset_seconds()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_correction_off_the_refusal_reaches_the_caller() {
    let creds = Credentials::new("AKIDSKEWEDHOST000002", "skewed-secret");
    let (api, client_clock) = endpoint_ahead(&creds, Duration::from_secs(20 * 60)).await;
    let client = ServiceBuilder::new()
        .layer(
            SigV4Layer::builder(creds, api.region().to_owned(), api.service().to_owned())
                .time_source(Arc::new(client_clock))
                .clock_skew_correction(ClockSkewCorrection::Off)
                .build(),
        )
        .service(Client::builder(TokioExecutor::new()).build_http::<SigV4Body<Full<Bytes>>>());
    let response = client
        .oneshot(
            Request::get(format!("{}/prod", api.url()))
                .body(Full::default())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(api.rejected(), 1);
}
