//! The whole stack against an API-Gateway-like endpoint on loopback:
//! `SigV4Layer` (credentials from the default chain, found at an IMDS emulator) → hyper-util's
//! `Client` → the testkit's verifying `Endpoint` (built on `VerifyLayer`), while the emulator
//! rotates the credentials underneath.
//!
//! Time is one `ManualClock` shared by the emulator, the credentials chain, the signing layer and
//! the endpoint; the test moves it (never sleeps).

mod common;

use std::collections::BTreeSet;
use std::future::{ready, Ready};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::HeaderValue;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sigv4::credentials::ManualClock;
use sigv4::SigV4Body;
use sigv4::SigV4Layer;
use sigv4_testkit::endpoint::Endpoint;
use sigv4_testkit::imds::ImdsEmulator;
use tower::{BoxError, ServiceBuilder, ServiceExt};

type HttpClient = Client<HttpConnector, SigV4Body<Full<Bytes>>>;

/// IMDS emulator, verifying endpoint and a signing client, all on one simulated clock.
struct Stack {
    clock: ManualClock,
    imds: ImdsEmulator,
    api: Endpoint,
    signing: SigV4Layer,
    http: HttpClient,
}

impl Stack {
    async fn start() -> Self {
        let (clock, time) = common::clock_at_t0();
        let (imds, api) = common::start_imds_and_endpoint(
            ImdsEmulator::builder()
                .credential_lifetime(Duration::from_secs(3600))
                .rotate_every(Duration::ZERO), // rotations happen when the test says so
            &time,
        )
        .await;
        let chain = common::chain_finding(&imds, time.clone()).await;
        let signing = SigV4Layer::builder(chain, "us-east-1", "execute-api")
            .time_source(time)
            .build();
        let http = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(64)
            .build_http();
        Stack {
            clock,
            imds,
            api,
            signing,
            http,
        }
    }

    fn now(&self) -> SystemTime {
        use sigv4::credentials::TimeSource;
        self.clock.now()
    }

    fn post(&self, path: &str, body: impl Into<Bytes>) -> Request<Full<Bytes>> {
        Request::post(format!("{}{path}", self.api.url()))
            .header("content-type", "application/json")
            .body(Full::new(body.into()))
            .expect("a valid request")
    }
}

const TOTAL: usize = 10_000;
const IN_FLIGHT: usize = 64;
const ROUNDS: usize = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_requests_while_credentials_rotate_none_refused() {
    let stack = Arc::new(Stack::start().await);
    let client = ServiceBuilder::new()
        .layer(stack.signing.clone())
        .service(stack.http.clone());
    let per_round = TOTAL / ROUNDS;
    let mut signers_per_round = Vec::new();

    for round in 0..ROUNDS {
        if round > 0 {
            // Between rounds: 30 s before the client's current key expires, and IMDS has just
            // issued a new generation. The client's cache must refresh before it signs again.
            let in_use = stack
                .api
                .accepted_requests()
                .last()
                .expect("a request")
                .access_key_id
                .clone();
            let expiry = stack
                .imds
                .lookup(&in_use)
                .and_then(|c| c.expiry())
                .expect("an expiry");
            stack.clock.set(expiry - Duration::from_secs(30));
            stack.imds.rotate_now();
        }
        let sent = Arc::new(AtomicUsize::new(0));
        let first_of_round = stack.api.accepted() as usize;
        let mut workers = tokio::task::JoinSet::new();
        for _ in 0..IN_FLIGHT {
            let (client, stack, sent) = (client.clone(), stack.clone(), sent.clone());
            workers.spawn(async move {
                loop {
                    let i = sent.fetch_add(1, Ordering::SeqCst);
                    if i >= per_round {
                        return Ok::<_, BoxError>(());
                    }
                    if i == per_round / 2 {
                        // Mid-round, with requests in flight: IMDS rotates, time moves on a bit.
                        // The client keeps its cached (still valid) key; both are accepted.
                        stack.imds.rotate_now();
                        stack.clock.advance(Duration::from_secs(10));
                    }
                    let body = format!(r#"{{"round":{round},"i":{i}}}"#);
                    let response = client
                        .clone()
                        .oneshot(stack.post("/prod/items", body))
                        .await?;
                    let (status, code, json) = common::read(response).await;
                    if status != StatusCode::OK {
                        return Err(format!(
                            "request {i} of round {round}: {status} {code:?} {json}"
                        )
                        .into());
                    }
                }
            });
        }
        while let Some(worker) = workers.join_next().await {
            worker
                .expect("worker task")
                .expect("every request accepted");
        }
        let signers: BTreeSet<String> = stack.api.accepted_requests()[first_of_round..]
            .iter()
            .map(|r| r.access_key_id.clone())
            .collect();
        signers_per_round.push(signers);
    }

    assert_eq!(stack.api.accepted() as usize, TOTAL);
    assert_eq!(
        stack.api.rejected(),
        0,
        "{:?}",
        stack.api.rejections().first()
    );
    // IMDS issued two generations per round (one before it, one in the middle of it). Round r
    // was signed with generation 2r + 1 only: the one current when it started, fetched by the
    // chain's cache; the mid-round generation was never needed, the cached key being valid.
    let expected: Vec<BTreeSet<String>> = (0..ROUNDS)
        .map(|round| BTreeSet::from([format!("ASIAEMU{:013}", 2 * round + 1)]))
        .collect();
    assert_eq!(signers_per_round, expected);
    assert_eq!(stack.imds.generation() as usize, 2 * ROUNDS);
}

#[tokio::test]
async fn unsigned_and_tampered_requests_are_refused_with_their_codes() {
    let stack = Stack::start().await;

    // Unsigned: straight to hyper.
    let response = stack
        .http
        .request(stack.post("/prod/items", "{}").map(SigV4Body::passthrough))
        .await
        .unwrap();
    let (status, code, json) = common::read(response).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(code.as_deref(), Some("MissingAuthenticationToken"));
    assert_eq!(
        json,
        serde_json::json!({"message": "Missing Authentication Token"})
    );

    // Tampered: the body changes between the signer and the network.
    let tampering = ServiceBuilder::new()
        .layer(stack.signing.clone())
        .map_request(|mut request: Request<SigV4Body<Full<Bytes>>>| {
            *request.body_mut() = SigV4Body::full(Bytes::from_static(br#"{"amount":1000000}"#));
            request
        })
        .service(stack.http.clone());
    let response = tampering
        .oneshot(stack.post("/prod/pay", r#"{"amount":1}"#))
        .await
        .unwrap();
    let (status, code, _) = common::read(response).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(code.as_deref(), Some("SignatureDoesNotMatch"));

    let codes: Vec<_> = stack.api.rejections().iter().map(|r| r.code).collect();
    assert_eq!(
        codes,
        ["MissingAuthenticationToken", "SignatureDoesNotMatch"]
    );
    assert_eq!(stack.api.accepted(), 0);
}

#[tokio::test]
async fn a_header_added_after_signing_does_not_break_the_signature() {
    let stack = Stack::start().await;
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let recorded = seen.clone();
    let traced = ServiceBuilder::new()
        .layer(stack.signing.clone())
        // A tracing layer below the signer, as a proxy or an OpenTelemetry middleware would be.
        .map_request(move |mut request: Request<SigV4Body<Full<Bytes>>>| {
            request.headers_mut().insert(
                "traceparent",
                HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            );
            let authorization = request.headers()["authorization"]
                .to_str()
                .unwrap()
                .to_owned();
            recorded.lock().unwrap().push(authorization);
            request
        })
        .service(stack.http.clone());
    let response = traced
        .oneshot(stack.post("/prod/items", "{}"))
        .await
        .unwrap();
    let (status, _, json) = common::read(response).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    let authorization = seen.lock().unwrap()[0].clone();
    assert!(!authorization.contains("traceparent"), "{authorization}");
    assert_eq!(stack.api.accepted(), 1);
}

/// Retries once when the endpoint says the signature expired (as the SDKs do), after a
/// simulated backoff of one second.
#[derive(Clone)]
struct RetryExpiredSignature {
    clock: ManualClock,
    left: usize,
}

impl tower::retry::Policy<Request<Full<Bytes>>, Response<Incoming>, BoxError>
    for RetryExpiredSignature
{
    type Future = Ready<()>;

    fn retry(
        &mut self,
        _request: &mut Request<Full<Bytes>>,
        result: &mut Result<Response<Incoming>, BoxError>,
    ) -> Option<Self::Future> {
        let expired = matches!(result, Ok(response)
            if response.headers().get("x-amzn-errortype")
                == Some(&HeaderValue::from_static("InvalidSignatureException")));
        if expired && self.left > 0 {
            self.left -= 1;
            self.clock.advance(Duration::from_secs(1));
            Some(ready(()))
        } else {
            None
        }
    }

    fn clone_request(&mut self, request: &Request<Full<Bytes>>) -> Option<Request<Full<Bytes>>> {
        let mut copy = Request::new(request.body().clone());
        *copy.method_mut() = request.method().clone();
        *copy.uri_mut() = request.uri().clone();
        *copy.headers_mut() = request.headers().clone();
        Some(copy)
    }
}

#[tokio::test]
async fn a_retry_outside_the_signer_signs_each_attempt_afresh() {
    let stack = Stack::start().await;
    let attempts = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (recorded, clock) = (attempts.clone(), stack.clock.clone());
    let client = ServiceBuilder::new()
        .retry(RetryExpiredSignature {
            clock: stack.clock.clone(),
            left: 1,
        })
        .layer(stack.signing.clone())
        // The first attempt is held up for six minutes on its way (simulated): by the time it
        // arrives, its signature is outside the endpoint's five-minute window.
        .map_request(move |request: Request<SigV4Body<Full<Bytes>>>| {
            let mut attempts = recorded.lock().unwrap();
            attempts.push(
                request.headers()["authorization"]
                    .to_str()
                    .unwrap()
                    .to_owned(),
            );
            if attempts.len() == 1 {
                clock.advance(Duration::from_secs(6 * 60));
            }
            request
        })
        .service(stack.http.clone());

    let started = stack.now();
    let response = client
        .oneshot(stack.post("/prod/items", r#"{"n":1}"#))
        .await
        .unwrap();
    let (status, code, json) = common::read(response).await;
    assert_eq!(status, StatusCode::OK, "{code:?} {json}");

    let attempts = attempts.lock().unwrap().clone();
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert_ne!(
        attempts[0], attempts[1],
        "the retry must carry a new signature"
    );
    assert_eq!(stack.api.rejections()[0].code, "InvalidSignatureException");
    assert!(stack.api.rejections()[0]
        .message
        .starts_with("Signature expired"));
    assert_eq!((stack.api.accepted(), stack.api.rejected()), (1, 1));
    assert_eq!(
        stack.now().duration_since(started).unwrap(),
        Duration::from_secs(6 * 60 + 1)
    );
}
