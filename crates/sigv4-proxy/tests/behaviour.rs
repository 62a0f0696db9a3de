//! What the proxy does besides signing: streaming, limits, refusals, shutdown, probes. The
//! upstreams are small recording hyper servers on loopback.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::{plain_client, text, within, Upstream};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use sigv4_core::Credentials;
use sigv4_credentials::{CredentialsError, ProvideCredentials, ProvideCredentialsFuture};
use sigv4_proxy::{Admin, SigningProxy, SigningProxyBuilder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;

const AKID: &str = "AKIDPROXYTEST";

fn builder(upstream: &Upstream) -> SigningProxyBuilder {
    SigningProxy::builder(
        Credentials::builder(AKID, "secret")
            .session_token("PROXYTOKEN")
            .build(),
    )
    .upstream(upstream.url())
    .region("us-east-1")
    .service("execute-api")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_sent_events_arrive_event_by_event() {
    // The upstream sends one event, then waits until the test has seen it before sending the
    // second and ending: a proxy that buffered the response would never deliver the first.
    let release = Arc::new(Notify::new());
    let gate = Arc::clone(&release);
    let upstream = Upstream::start(move |_| {
        let gate = Arc::clone(&gate);
        async move {
            let (tx, body) = common::channel_body();
            tokio::spawn(async move {
                let _ = tx.send(Bytes::from("data: one\n\n")).await;
                gate.notified().await;
                let _ = tx.send(Bytes::from("data: two\n\n")).await;
            });
            let mut response = Response::new(body.boxed());
            response.headers_mut().insert(
                "content-type",
                http::HeaderValue::from_static("text/event-stream"),
            );
            response
        }
    })
    .await;
    let proxy = common::run(
        builder(&upstream).build(None).unwrap(),
        Duration::from_secs(5),
    )
    .await;
    let response = plain_client()
        .request(
            Request::get(proxy.url("/events"))
                .body(Full::default())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.into_body();
    let first = within("the first event", body.frame())
        .await
        .unwrap()
        .unwrap()
        .into_data()
        .unwrap();
    assert_eq!(first, "data: one\n\n");
    release.notify_one();
    let rest = within("the rest", body.collect()).await.unwrap().to_bytes();
    assert_eq!(rest, "data: two\n\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_limit_gets_413_and_the_upstream_sees_nothing() {
    let upstream = Upstream::ok().await;
    let proxy = common::run(
        builder(&upstream).max_body(1024).build(None).unwrap(),
        Duration::from_secs(5),
    )
    .await;
    let client = plain_client();
    // Declared too large.
    let request = Request::post(proxy.url("/upload"))
        .body(Full::from(vec![b'x'; 1025]))
        .unwrap();
    let (status, body) = text(client.request(request).await.unwrap()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    // Streamed (chunked), found too large while reading.
    let (tx, body) = common::channel_body();
    let request = Request::post(proxy.url("/upload")).body(body).unwrap();
    let sending = tokio::spawn(async move {
        for _ in 0..4 {
            if tx.send(Bytes::from(vec![b'y'; 400])).await.is_err() {
                break;
            }
        }
    });
    let (status, body) = text(common::streaming_client().request(request).await.unwrap()).await;
    let _ = sending.await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(upstream.seen().is_empty(), "{:?}", upstream.seen());
    // At the limit: forwarded.
    let request = Request::post(proxy.url("/upload"))
        .body(Full::from(vec![b'x'; 1024]))
        .unwrap();
    let (status, _) = text(client.request(request).await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(upstream.seen().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upstream_sees_only_what_the_proxy_signed() {
    let upstream = Upstream::ok().await;
    let proxy = common::run(
        builder(&upstream).build(None).unwrap(),
        Duration::from_secs(5),
    )
    .await;
    let request = Request::put(proxy.url("/p/a%2Fb?x=%20y&b=c+d"))
        .header("authorization", "Bearer client-secret")
        .header("x-amz-date", "20200101T000000Z")
        .header("x-amz-security-token", "client-token")
        .header("x-amz-content-sha256", "UNSIGNED-PAYLOAD")
        .header("connection", "x-private")
        .header("x-private", "hop")
        .header("x-amz-target", "Svc.Op")
        .body(Full::from("{}"))
        .unwrap();
    let (status, _) = text(plain_client().request(request).await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let seen = upstream.seen().pop().unwrap();
    assert_eq!(seen.target, "/p/a%2Fb?x=%20y&b=c+d");
    let auth = seen.headers["authorization"].to_str().unwrap();
    assert!(
        auth.starts_with(&format!("AWS4-HMAC-SHA256 Credential={AKID}/")),
        "{auth}"
    );
    assert_eq!(seen.headers["x-amz-security-token"], "PROXYTOKEN");
    assert_ne!(seen.headers["x-amz-date"], "20200101T000000Z");
    assert!(!seen.headers.contains_key("x-amz-content-sha256"));
    assert!(!seen.headers.contains_key("x-private"));
    assert_eq!(seen.headers["x-amz-target"], "Svc.Op");
    assert_eq!(seen.headers["host"], upstream.addr.to_string().as_str());
    assert_eq!(seen.headers["x-forwarded-for"], "127.0.0.1");
    assert_eq!(&seen.body[..], b"{}");
}

/// Writes `raw` on a fresh connection to `addr` and reads the whole answer.
async fn raw_exchange(addr: std::net::SocketAddr, raw: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(raw.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    within("the answer", stream.read_to_end(&mut answer))
        .await
        .unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_an_open_proxy() {
    let upstream = Upstream::ok().await;
    let elsewhere = Upstream::ok().await;
    let proxy = common::run(
        builder(&upstream).build(None).unwrap(),
        Duration::from_secs(5),
    )
    .await;
    let other = elsewhere.addr;
    for raw in [
        format!("GET http://{other}/steal HTTP/1.1\r\nHost: {other}\r\nConnection: close\r\n\r\n"),
        format!(
            "GET http://{}/x HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            proxy.addr, proxy.addr
        ),
        format!("CONNECT {other} HTTP/1.1\r\nHost: {other}\r\nConnection: close\r\n\r\n"),
        "GET /x HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n".to_owned(),
        "GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n"
            .to_owned(),
    ] {
        let answer = raw_exchange(proxy.addr, &raw).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{raw:?} -> {answer}");
    }
    assert!(elsewhere.seen().is_empty());
    assert!(upstream.seen().is_empty());
    // Its own names pass: loopback, localhost, the upstream's host.
    for host in [
        proxy.addr.to_string(),
        "localhost:1".to_owned(),
        upstream.addr.to_string(),
    ] {
        let raw = format!("GET /ok HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        let answer = raw_exchange(proxy.addr, &raw).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{host} -> {answer}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_is_served_too() {
    let upstream = Upstream::ok().await;
    let proxy = common::run(
        builder(&upstream).build(None).unwrap(),
        Duration::from_secs(5),
    )
    .await;
    let client: hyper_util::client::legacy::Client<_, Full<Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .http2_only(true)
            .build_http();
    let response = client
        .request(
            Request::get(proxy.url("/h2"))
                .body(Full::default())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.version(), http::Version::HTTP_2);
    let (status, body) = text(response).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ok"));
    assert_eq!(upstream.seen()[0].target, "/h2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_in_flight_requests_finish() {
    let arrived = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let (a, r) = (Arc::clone(&arrived), Arc::clone(&release));
    let upstream = Upstream::start(move |_| {
        let (a, r) = (Arc::clone(&a), Arc::clone(&r));
        async move {
            a.notify_one();
            r.notified().await;
            Response::new(Full::from("finished").boxed())
        }
    })
    .await;
    let mut proxy = common::run(
        builder(&upstream).build(None).unwrap(),
        Duration::from_secs(30),
    )
    .await;
    let client = plain_client();
    let url = proxy.url("/slow");
    let in_flight = tokio::spawn(async move {
        let response = client
            .request(Request::get(url).body(Full::default()).unwrap())
            .await
            .unwrap();
        text(response).await
    });
    within("the request to reach the upstream", arrived.notified()).await;
    proxy.shutdown();
    // New connections are refused once the listener is gone...
    let addr = proxy.addr;
    within("the listener to close", async {
        while TcpStream::connect(addr).await.is_ok() {
            tokio::task::yield_now().await;
        }
    })
    .await;
    // ...while the request in flight still completes, and then the server stops.
    release.notify_one();
    let (status, body) = within("the in-flight request", in_flight).await.unwrap();
    assert_eq!((status, body.as_str()), (StatusCode::OK, "finished"));
    within("the server to stop", &mut proxy.task).await.unwrap();
}

#[derive(Debug)]
struct NoCredentials;

impl ProvideCredentials for NoCredentials {
    fn provide_credentials(&self) -> ProvideCredentialsFuture<'_> {
        ProvideCredentialsFuture::ready(Err(CredentialsError::not_configured(
            "test",
            "nothing here",
        )))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_readiness() {
    use tower_service::Service;
    let mut ready = Admin::new(Arc::new(Credentials::new("AKID", "secret")));
    let mut not_ready = Admin::new(Arc::new(NoCredentials));
    let get = |path: &str| Request::get(path).body(()).unwrap();
    let status = |r: Response<Full<Bytes>>| r.status();
    assert_eq!(
        status(ready.call(get("/healthz")).await.unwrap()),
        StatusCode::OK
    );
    assert_eq!(
        status(ready.call(get("/readyz")).await.unwrap()),
        StatusCode::OK
    );
    assert_eq!(
        status(not_ready.call(get("/healthz")).await.unwrap()),
        StatusCode::OK
    );
    let answer = not_ready.call(get("/readyz")).await.unwrap();
    assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = answer.into_body().collect().await.unwrap().to_bytes();
    assert!(String::from_utf8_lossy(&body).contains("no credentials"));
    assert_eq!(
        status(ready.call(get("/other")).await.unwrap()),
        StatusCode::NOT_FOUND
    );
    // And the proxy itself answers 503 when it has nothing to sign with.
    let upstream = Upstream::ok().await;
    let proxy = SigningProxy::builder(NoCredentials)
        .upstream(upstream.url())
        .region("us-east-1")
        .service("execute-api")
        .build(None)
        .unwrap();
    let proxy = common::run(proxy, Duration::from_secs(5)).await;
    let (status, _) = text(
        plain_client()
            .request(Request::get(proxy.url("/x")).body(Full::default()).unwrap())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(upstream.seen().is_empty());
}

#[test]
fn routes_and_upstreams_are_checked_when_built() {
    let creds = || Credentials::new("AKID", "secret");
    let err = SigningProxy::builder(creds()).build(None).unwrap_err();
    assert!(err.to_string().contains("no upstream"), "{err}");
    let err = SigningProxy::builder(creds())
        .upstream("http://127.0.0.1:9")
        .build(None)
        .unwrap_err();
    assert!(err.to_string().contains("--region"), "{err}");
    let err = SigningProxy::builder(creds())
        .upstream("https://abc.execute-api.eu-west-1.amazonaws.com")
        .build(None)
        .unwrap_err();
    assert!(err.to_string().contains("TLS"), "{err}");
    let proxy = SigningProxy::builder(creds())
        .upstream("http://abc.execute-api.eu-west-1.amazonaws.com/prod")
        .route(
            sigv4_proxy::RouteSpec::parse("/s3=http://bucket.s3.us-west-2.amazonaws.com").unwrap(),
        )
        .build(None)
        .unwrap();
    let debug = format!("{proxy:?}");
    assert!(debug.contains("(eu-west-1/execute-api)"), "{debug}");
    assert!(debug.contains("(us-west-2/s3)"), "{debug}");
    assert!(!debug.contains("secret"));
}
