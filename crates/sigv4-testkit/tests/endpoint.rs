//! The verifying endpoint: a real HTTP server on loopback that accepts what AWS would accept and
//! refuses the rest with AWS's codes, following the IMDS emulator's rotating credentials.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sigv4_core::{Credentials, Payload, Signer, SigningParams, SigningSettings};
use sigv4_credentials::ManualClock;
use sigv4_testkit::endpoint::{Endpoint, DEFAULT_REGION, DEFAULT_SERVICE};
use sigv4_testkit::imds::ImdsEmulator;
use tower_sigv4::StaticKeyStore;

const T0: u64 = 1_700_000_000;

fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(T0)
}

type HttpClient = Client<HttpConnector, Full<Bytes>>;

fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

struct Answer {
    status: StatusCode,
    error_type: Option<String>,
    json: serde_json::Value,
}

async fn send(client: &HttpClient, request: Request<Full<Bytes>>) -> Answer {
    let response = client.request(request).await.expect("the endpoint answers");
    let status = response.status();
    let error_type = response
        .headers()
        .get("x-amzn-errortype")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&body).expect("a JSON body");
    Answer {
        status,
        error_type,
        json,
    }
}

fn signed(
    endpoint: &Endpoint,
    method: &str,
    path: &str,
    body: &'static str,
    creds: &Credentials,
    at: SystemTime,
) -> Request<Full<Bytes>> {
    signed_for(endpoint, method, path, body, creds, at, endpoint.region())
}

fn signed_for(
    endpoint: &Endpoint,
    method: &str,
    path: &str,
    body: &'static str,
    creds: &Credentials,
    at: SystemTime,
    region: &str,
) -> Request<Full<Bytes>> {
    let mut request = Request::builder()
        .method(method)
        .uri(format!("{}{path}", endpoint.url()))
        .header("content-type", "application/json")
        .body(Full::from(body))
        .unwrap();
    let params = SigningParams::new(creds, region, endpoint.service(), at);
    Signer::new()
        .sign_request(&mut request, Payload::Bytes(body.as_bytes()), &params)
        .unwrap();
    request
}

#[tokio::test]
async fn accepts_a_signed_request_and_echoes_who_sent_it() {
    let creds = Credentials::new("AKIDENDPOINT00000001", "endpoint-secret");
    let clock = ManualClock::new(t0());
    let endpoint = Endpoint::builder()
        .key_store(StaticKeyStore::new().with(creds.clone()))
        .time_source(Arc::new(clock))
        .start()
        .await;
    assert_eq!(
        (endpoint.region(), endpoint.service()),
        ("us-east-1", "execute-api")
    );
    assert_eq!(
        (DEFAULT_REGION, DEFAULT_SERVICE),
        ("us-east-1", "execute-api")
    );
    assert_eq!(
        endpoint.url(),
        format!("http://127.0.0.1:{}", endpoint.addr().port())
    );

    let answer = send(
        &client(),
        signed(
            &endpoint,
            "POST",
            "/prod/items?x=1",
            r#"{"name":"widget"}"#,
            &creds,
            t0(),
        ),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.json,
        serde_json::json!({
            "method": "POST",
            "path": "/prod/items",
            "access_key_id": "AKIDENDPOINT00000001",
            "presigned": false,
            "body_bytes": 17,
        })
    );
    assert_eq!((endpoint.accepted(), endpoint.rejected()), (1, 0));
    let log = endpoint.accepted_requests();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].access_key_id, "AKIDENDPOINT00000001");
    assert_eq!(log[0].path, "/prod/items");
}

#[tokio::test]
async fn refuses_and_logs_each_refusal_with_its_code() {
    let creds = Credentials::new("AKIDENDPOINT00000001", "endpoint-secret");
    let clock = ManualClock::new(t0());
    let endpoint = Endpoint::builder()
        .key_store(StaticKeyStore::new().with(creds.clone()))
        .time_source(Arc::new(clock.clone()))
        .start()
        .await;
    let client = client();

    // Unsigned.
    let unsigned = Request::get(format!("{}/prod/items", endpoint.url()))
        .body(Full::default())
        .unwrap();
    let answer = send(&client, unsigned).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(
        answer.error_type.as_deref(),
        Some("MissingAuthenticationToken")
    );
    assert_eq!(
        answer.json,
        serde_json::json!({"message": "Missing Authentication Token"})
    );

    // Tampered body.
    let mut tampered = signed(
        &endpoint,
        "POST",
        "/prod/pay",
        r#"{"amount":1}"#,
        &creds,
        t0(),
    );
    *tampered.body_mut() = Full::from(r#"{"amount":9}"#);
    let answer = send(&client, tampered).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(answer.error_type.as_deref(), Some("SignatureDoesNotMatch"));

    // Unknown key.
    let stranger = Credentials::new("AKIDSTRANGER00000001", "x");
    let answer = send(
        &client,
        signed(&endpoint, "GET", "/prod/items", "", &stranger, t0()),
    )
    .await;
    assert_eq!(answer.error_type.as_deref(), Some("InvalidClientTokenId"));

    // Wrong region for this endpoint.
    let answer = send(
        &client,
        signed_for(
            &endpoint,
            "GET",
            "/prod/items",
            "",
            &creds,
            t0(),
            "eu-west-1",
        ),
    )
    .await;
    assert_eq!(
        answer.error_type.as_deref(),
        Some("InvalidSignatureException")
    );

    // Too old.
    let old = signed(&endpoint, "GET", "/prod/items", "", &creds, t0());
    clock.advance(Duration::from_secs(301));
    let answer = send(&client, old).await;
    assert_eq!(
        answer.error_type.as_deref(),
        Some("InvalidSignatureException")
    );
    assert!(answer.json["message"]
        .as_str()
        .unwrap()
        .starts_with("Signature expired"));

    assert_eq!((endpoint.accepted(), endpoint.rejected()), (0, 5));
    let codes: Vec<_> = endpoint.rejections().iter().map(|r| r.code).collect();
    assert_eq!(
        codes,
        [
            "MissingAuthenticationToken",
            "SignatureDoesNotMatch",
            "InvalidClientTokenId",
            "InvalidSignatureException",
            "InvalidSignatureException",
        ]
    );
    let log = endpoint.rejections();
    assert_eq!(log[1].path, "/prod/pay");
    assert_eq!(log[1].method, http::Method::POST);
    assert_eq!(log[1].status, StatusCode::FORBIDDEN);
    assert_eq!(
        log[2].access_key_id.as_deref(),
        Some("AKIDSTRANGER00000001")
    );

    endpoint.clear();
    assert_eq!((endpoint.accepted(), endpoint.rejected()), (0, 0));
    assert!(endpoint.rejections().is_empty());
}

#[tokio::test]
async fn follows_the_imds_emulators_rotating_credentials() {
    let clock = ManualClock::new(t0());
    let imds = ImdsEmulator::builder()
        .time_source(Arc::new(clock.clone()))
        .start()
        .await;
    let endpoint = Endpoint::builder()
        .imds(&imds)
        .time_source(Arc::new(clock.clone()))
        .start()
        .await;
    let client = client();

    let first = imds.current_credentials();
    assert!(first.session_token().is_some());
    let answer = send(&client, signed(&endpoint, "GET", "/a", "", &first, t0())).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json["access_key_id"], first.access_key_id());

    // A new generation: accepted at once, and the previous one still is until it expires.
    let second = imds.rotate_now();
    assert_ne!(second.access_key_id(), first.access_key_id());
    let answer = send(&client, signed(&endpoint, "GET", "/b", "", &second, t0())).await;
    assert_eq!(answer.json["access_key_id"], second.access_key_id());
    let answer = send(&client, signed(&endpoint, "GET", "/c", "", &first, t0())).await;
    assert_eq!(answer.status, StatusCode::OK);

    // The right key with another generation's session token is not.
    let mixed = Credentials::builder(first.access_key_id(), first.secret_access_key())
        .session_token(second.session_token().unwrap())
        .build();
    let answer = send(&client, signed(&endpoint, "GET", "/d", "", &mixed, t0())).await;
    assert_eq!(answer.error_type.as_deref(), Some("InvalidClientTokenId"));

    // Once the first generation has expired, it is refused.
    let after = first.expiry().unwrap() + Duration::from_secs(1);
    clock.set(after);
    let answer = send(&client, signed(&endpoint, "GET", "/e", "", &first, after)).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(answer.error_type.as_deref(), Some("ExpiredToken"));

    assert_eq!((endpoint.accepted(), endpoint.rejected()), (3, 2));
}

#[tokio::test]
async fn accepts_a_presigned_url() {
    let creds = Credentials::builder("ASIAPRESIGNED0000001", "presign-secret")
        .session_token("presign-token")
        .build();
    let clock = ManualClock::new(t0());
    let endpoint = Endpoint::builder()
        .key_store(StaticKeyStore::new().with(creds.clone()))
        .region("eu-central-1")
        .service("lambda")
        .time_source(Arc::new(clock.clone()))
        .start()
        .await;
    let mut request = Request::get(format!("{}/2015-03-31/functions", endpoint.url()))
        .body(Full::<Bytes>::default())
        .unwrap();
    let settings = SigningSettings::presigned(Duration::from_secs(900));
    let params =
        SigningParams::new(&creds, "eu-central-1", "lambda", t0()).with_settings(&settings);
    Signer::new()
        .sign_request(&mut request, Payload::Bytes(b""), &params)
        .unwrap();
    let url = request.uri().clone();

    clock.advance(Duration::from_secs(600));
    let answer = send(
        &client(),
        Request::get(url.clone()).body(Full::default()).unwrap(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json["presigned"], true);

    clock.advance(Duration::from_secs(301));
    let answer = send(&client(), Request::get(url).body(Full::default()).unwrap()).await;
    assert_eq!(
        answer.error_type.as_deref(),
        Some("InvalidSignatureException")
    );
}

#[tokio::test]
async fn without_a_key_store_everything_signed_is_an_unknown_key() {
    let endpoint = Endpoint::builder().start().await;
    let creds = Credentials::new("AKIDANYONE0000000001", "x");
    let answer = send(
        &client(),
        signed(&endpoint, "GET", "/", "", &creds, SystemTime::now()),
    )
    .await;
    assert_eq!(answer.error_type.as_deref(), Some("InvalidClientTokenId"));
}

#[tokio::test]
async fn refuses_a_body_over_the_limit() {
    let creds = Credentials::new("AKIDENDPOINT00000001", "endpoint-secret");
    let endpoint = Endpoint::builder()
        .key_store(StaticKeyStore::new().with(creds.clone()))
        .max_body_size(8)
        .start()
        .await;
    let request = signed(
        &endpoint,
        "POST",
        "/",
        "0123456789",
        &creds,
        SystemTime::now(),
    );
    let answer = send(&client(), request).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(answer.error_type.as_deref(), Some("RequestEntityTooLarge"));
    assert_eq!(
        endpoint.rejections()[0].status,
        StatusCode::PAYLOAD_TOO_LARGE
    );
}

#[tokio::test]
async fn shuts_down_when_dropped() {
    let endpoint = Endpoint::builder().start().await;
    let addr = endpoint.addr();
    // An open connection, idle.
    let open = tokio::net::TcpStream::connect(addr).await.unwrap();
    drop(endpoint);
    // The abort takes effect when the runtime next runs the accept task.
    let mut refused = false;
    for _ in 0..1000 {
        tokio::task::yield_now().await;
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
    }
    assert!(
        refused,
        "the endpoint still accepts connections after being dropped"
    );
    // The idle connection was closed too: reading gives end-of-file (or a reset).
    let mut buf = [0u8; 1];
    open.readable().await.unwrap();
    match open.try_read(&mut buf) {
        Ok(n) => assert_eq!(n, 0),
        Err(e) => assert_ne!(e.kind(), std::io::ErrorKind::WouldBlock, "{e}"),
    }
}
