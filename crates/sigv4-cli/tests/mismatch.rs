//! The mismatch explained: a request changed in transit after `sigv4 curl` signed it is refused
//! by the verifying endpoint with API Gateway's message (the canonical string it expected), and
//! `sigv4 curl -v` prints AWS's canonical request against ours with the changed line marked.
//!
//! The change is made by a forward proxy on the way (HTTP_PROXY), as corporate proxies and
//! gateways do to headers.

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use common::{sigv4_clean, AKID, SECRET, TOKEN};
use http::{HeaderValue, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

/// An HTTP forward proxy on loopback that rewrites `x-tenant` on the way through.
async fn tampering_proxy() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let client = client.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                    let client = client.clone();
                    async move {
                        let (mut parts, body) = request.into_parts();
                        let body = body.collect().await.unwrap().to_bytes();
                        parts
                            .headers
                            .insert("x-tenant", HeaderValue::from_static("tenant-b"));
                        let forwarded = Request::from_parts(parts, Full::new(body));
                        let response = client.request(forwarded).await.unwrap();
                        let (parts, body) = response.into_parts();
                        let body = body.collect().await.unwrap().to_bytes();
                        Ok::<_, Infallible>(Response::from_parts(parts, Full::new(body)))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_changed_in_transit_is_named_by_the_diff() {
    let api = common::endpoint_trusting_the_suite_keys().await;
    let relay = format!("http://{}", tampering_proxy().await);
    let url = format!("{}/prod/items", api.url());
    let env = [
        ("AWS_ACCESS_KEY_ID", AKID),
        ("AWS_SECRET_ACCESS_KEY", SECRET),
        ("AWS_SESSION_TOKEN", TOKEN),
        ("HTTP_PROXY", relay.as_str()),
    ];
    let run = sigv4_clean(
        &[
            "curl",
            "-v",
            &url,
            "-H",
            "x-tenant: tenant-a",
            "--region",
            "us-east-1",
            "--service",
            "execute-api",
        ],
        b"",
        &env,
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    // The endpoint's answer is API Gateway's.
    assert!(
        run.stdout
            .contains("The Canonical String for this request should have been"),
        "{}",
        run.stdout
    );
    assert_eq!(api.rejections()[0].code, "SignatureDoesNotMatch");
    // The diff names the changed header, on both sides, and nothing else differs.
    let stderr = &run.stderr;
    assert!(stderr.contains("first difference on line 8"), "{stderr}");
    let marked: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("<- AWS expected") || l.contains("<- we signed"))
        .collect();
    assert!(
        marked
            .iter()
            .any(|l| l.contains("x-tenant:tenant-b") && l.contains("AWS expected")),
        "{stderr}"
    );
    assert!(
        marked
            .iter()
            .any(|l| l.contains("x-tenant:tenant-a") && l.contains("we signed")),
        "{stderr}"
    );
    // The canonical request differs in the header only; the string to sign in its hash only.
    assert_eq!(marked.len(), 4, "{marked:#?}");
    assert!(!stderr.contains(TOKEN) && !stderr.contains(SECRET));
}
