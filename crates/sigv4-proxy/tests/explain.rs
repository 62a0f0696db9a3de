//! With `explain_mismatches` (`sigv4 proxy -v`), a 403 carrying API Gateway's view of the
//! request is logged as a line-by-line diff against what the proxy signed; the client still gets
//! the upstream's answer, unchanged.
//!
//! Between the proxy and the verifying endpoint, a relay rewrites one signed header (as a gateway
//! on the path might). This file installs a global log collector, so it holds one test only.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::{plain_client, text, Upstream};
use http::{HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sigv4_core::Credentials;
use sigv4_proxy::SigningProxy;
use sigv4_testkit::endpoint::Endpoint;
use tower_sigv4::StaticKeyStore;

#[derive(Clone, Default)]
struct Collected(Arc<Mutex<Vec<u8>>>);

impl Write for Collected {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_signature_is_explained_in_the_log() {
    let logs = Collected::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .init();

    let keys = Credentials::builder("AKIDEXPLAIN", "secret")
        .session_token("SESSIONTOKENSECRET")
        .build();
    let api = Endpoint::builder()
        .key_store(StaticKeyStore::new().with(keys.clone()))
        .start()
        .await;
    let api_url = api.url();
    let relay = Upstream::start(move |seen| {
        let api_url = api_url.clone();
        async move {
            let mut request = Request::builder()
                .method(seen.method)
                .uri(format!("{api_url}{}", seen.target))
                .body(Full::new(seen.body))
                .unwrap();
            *request.headers_mut() = seen.headers;
            request
                .headers_mut()
                .insert("x-tenant", HeaderValue::from_static("tenant-b"));
            let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
            let response = client.request(request).await.unwrap();
            let (parts, body) = response.into_parts();
            let body = body.collect().await.unwrap().to_bytes();
            http::Response::from_parts(parts, Full::new(body).boxed())
        }
    })
    .await;

    let proxy = SigningProxy::builder(keys)
        .upstream(relay.url())
        .region("us-east-1")
        .service("execute-api")
        .explain_mismatches(true)
        .build(None)
        .unwrap();
    let proxy = common::run(proxy, Duration::from_secs(5)).await;
    let request = Request::post(proxy.url("/prod/items"))
        .header("x-tenant", "tenant-a")
        .body(Full::from("{}"))
        .unwrap();
    let (status, body) = text(plain_client().request(request).await.unwrap()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        body.contains("The Canonical String for this request should have been"),
        "{body}"
    );
    assert_eq!(api.rejections()[0].code, "SignatureDoesNotMatch");

    let log = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("x-tenant:tenant-b   <- AWS expected"), "{log}");
    assert!(log.contains("x-tenant:tenant-a   <- we signed"), "{log}");
    assert!(!log.contains("SESSIONTOKENSECRET"), "{log}");
}
