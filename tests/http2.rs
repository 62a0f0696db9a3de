//! HTTP/2 on loopback (h2c, prior knowledge): the signing layer on a hyper-util client that speaks
//! only HTTP/2, `VerifyLayer` on a hyper HTTP/2 server. HTTP/2 carries the host as `:authority`
//! (hyper puts it in the request URI) and the server sees no `Host` header: the signer signs the
//! URI's authority, and the verifier reads it back from the URI. With the `reqwest-middleware`
//! feature, the same for `SigV4Middleware` on a reqwest client speaking HTTP/2 (prior knowledge).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{Request, Response, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use sigv4::credentials::{ManualClock, SharedTimeSource, TimeSource};
use sigv4::verify::Verified;
use sigv4::{Credentials, SigV4Body, SigV4Layer, StaticKeyStore, VerifyBody, VerifyLayer};
use tower::{service_fn, ServiceBuilder, ServiceExt};

/// An HTTP/2-only server: `VerifyLayer` in front of a handler that echoes what it saw (the
/// signer's key, the version, the Host header if any, the URI's authority, the body).
async fn start_h2_server(creds: Credentials, time: SharedTimeSource) -> std::net::SocketAddr {
    let service = ServiceBuilder::new()
        .layer(VerifyLayer::new(StaticKeyStore::new().with(creds)).time_source(time))
        .service(service_fn(|request: Request<VerifyBody>| async move {
            let who = request
                .extensions()
                .get::<Verified>()
                .map(|v| v.access_key_id().to_owned())
                .unwrap_or_default();
            let echo = serde_json::json!({
                "who": who,
                "version": format!("{:?}", request.version()),
                "host_header": request.headers().get("host").map(|h| h.to_str().unwrap_or("?").to_owned()),
                "authority": request.uri().authority().map(|a| a.to_string()),
                "body": String::from_utf8_lossy(&request.into_body().collect().await.unwrap().to_bytes()),
            });
            Ok::<_, Infallible>(Response::new(Full::<Bytes>::from(echo.to_string())))
        }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = TowerToHyperService::new(service.clone());
            tokio::spawn(
                hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    });
    addr
}

fn setup() -> (Credentials, ManualClock, SharedTimeSource) {
    let creds = Credentials::builder("AKIDHTTP2CLIENT00001", "h2-secret")
        .session_token("h2-session-token")
        .build();
    let clock = ManualClock::new(SystemTime::now());
    let time: SharedTimeSource = Arc::new(clock.clone());
    (creds, clock, time)
}

/// hyper-util's client speaking only HTTP/2 (prior knowledge), behind `layer`.
fn h2_client(
    layer: SigV4Layer,
) -> sigv4::SigV4Service<
    Client<hyper_util::client::legacy::connect::HttpConnector, SigV4Body<Full<Bytes>>>,
> {
    ServiceBuilder::new().layer(layer).service(
        Client::builder(TokioExecutor::new())
            .http2_only(true)
            .build_http::<SigV4Body<Full<Bytes>>>(),
    )
}

async fn body_json(response: Response<hyper::body::Incoming>) -> serde_json::Value {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn signed_requests_over_h2c_are_verified_by_authority() {
    let (creds, _clock, time) = setup();
    let addr = start_h2_server(creds.clone(), time.clone()).await;
    let client = h2_client(
        SigV4Layer::builder(creds, "us-east-1", "execute-api")
            .time_source(time)
            .build(),
    );

    for (method, path, body) in [
        ("GET", "/prod/items?limit=10&next=a%2Fb", ""),
        ("POST", "/prod/items", r#"{"name":"widget"}"#),
        ("PUT", "/prod/items/%C3%A9t%C3%A9", "été"),
    ] {
        let request = Request::builder()
            .method(method)
            .uri(format!("http://{addr}{path}"))
            .header("content-type", "application/json")
            .body(Full::from(body.to_owned()))
            .unwrap();
        let response = client.clone().oneshot(request).await.unwrap();
        assert_eq!(response.version(), Version::HTTP_2);
        assert_eq!(response.status(), StatusCode::OK, "{method} {path}");
        let echo = body_json(response).await;
        assert_eq!(echo["who"], "AKIDHTTP2CLIENT00001", "{method} {path}");
        assert_eq!(echo["version"], "HTTP/2.0");
        // HTTP/2: no Host header on the server; the host travels as :authority.
        assert_eq!(echo["host_header"], serde_json::Value::Null);
        assert_eq!(echo["authority"], addr.to_string());
        assert_eq!(echo["body"], body);
    }
}

#[tokio::test]
async fn a_callers_host_header_is_signed_as_the_server_sees_it() {
    // A caller that sets `Host` itself (say, a virtual host behind the address it dials): over
    // HTTP/2 the server must see what was signed, or the signature breaks.
    let (creds, _clock, time) = setup();
    let addr = start_h2_server(creds.clone(), time.clone()).await;
    let client = h2_client(
        SigV4Layer::builder(creds, "us-east-1", "execute-api")
            .time_source(time)
            .build(),
    );
    let request = Request::get(format!("http://{addr}/prod/items"))
        .header("host", "api.internal.example")
        .body(Full::default())
        .unwrap();
    let response = client.oneshot(request).await.unwrap();
    let status = response.status();
    let echo = body_json(response).await;
    assert_eq!(status, StatusCode::OK, "{echo}");
    assert_eq!(echo["who"], "AKIDHTTP2CLIENT00001");
    // hyper sends the caller's Host as an ordinary header next to :authority; the signer signed
    // it, and the verifier, like API Gateway, reads Host when there is one.
    assert_eq!(echo["host_header"], "api.internal.example");
    assert_eq!(echo["authority"], addr.to_string());
}

#[tokio::test]
async fn a_client_clock_ten_minutes_behind_is_corrected_over_h2() {
    // hyper's server writes the real time in `Date`; the client's clock is 10 minutes behind.
    // The first request is refused for its time, the layer learns the offset from `Date` and
    // retries once: the caller sees only the success.
    let (creds, clock, time) = setup();
    let addr = start_h2_server(creds.clone(), time).await;
    let behind = ManualClock::new(clock.now() - Duration::from_secs(600));
    let layer = SigV4Layer::builder(creds, "us-east-1", "execute-api")
        .time_source(Arc::new(behind))
        .build();
    let skew = Arc::clone(layer.clock_skew().unwrap());
    let client = h2_client(layer);
    for _ in 0..3 {
        let response = client
            .clone()
            .oneshot(
                Request::get(format!("http://{addr}/prod"))
                    .body(Full::default())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert!(
        (598..=602).contains(&skew.offset_seconds()),
        "{}",
        skew.offset_seconds()
    );
}

/// reqwest speaking only HTTP/2 (h2c, prior knowledge), signed by `SigV4Middleware`: the server
/// verifies every signature, sees HTTP/2, no `Host` header, and the host as `:authority`.
#[cfg(feature = "reqwest-middleware")]
#[tokio::test]
async fn the_reqwest_middleware_over_h2c_is_verified_by_authority() {
    use sigv4::reqwest::SigV4Middleware;

    let (creds, _clock, time) = setup();
    let addr = start_h2_server(creds.clone(), time.clone()).await;
    let signing = SigV4Middleware::from(
        SigV4Layer::builder(creds, "us-east-1", "execute-api")
            .time_source(time)
            .build(),
    );
    let http = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let client = reqwest_middleware::ClientBuilder::new(http)
        .with(signing)
        .build();

    for (method, path, body) in [
        (reqwest::Method::GET, "/prod/items?limit=10&next=a%2Fb", ""),
        (reqwest::Method::POST, "/prod/items", r#"{"name":"widget"}"#),
        (reqwest::Method::PUT, "/prod/items/%C3%A9t%C3%A9", "été"),
    ] {
        let response = client
            .request(method.clone(), format!("http://{addr}{path}"))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        assert_eq!(response.version(), Version::HTTP_2, "{method} {path}");
        let status = response.status();
        let echo: serde_json::Value =
            serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        assert_eq!(status, StatusCode::OK, "{method} {path}: {echo}");
        assert_eq!(echo["who"], "AKIDHTTP2CLIENT00001", "{method} {path}");
        assert_eq!(echo["version"], "HTTP/2.0");
        assert_eq!(echo["host_header"], serde_json::Value::Null);
        assert_eq!(echo["authority"], addr.to_string());
        assert_eq!(echo["body"], body);
    }
}
