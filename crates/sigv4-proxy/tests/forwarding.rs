//! A client that cannot sign calls the proxy; the testkit's verifying endpoint (API-Gateway-like,
//! checking SigV4 for real) accepts every request, while the IMDS emulator rotates the
//! credentials underneath. One simulated clock for the emulator, the chain, the proxy's signer and
//! the endpoint.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use common::{plain_client, text, within, Running};
use http::{Request, StatusCode};
use http_body_util::Full;
use sigv4_credentials::{DefaultChain, Env, ManualClock, SharedTimeSource};
use sigv4_proxy::SigningProxy;
use sigv4_testkit::endpoint::Endpoint;
use sigv4_testkit::imds::ImdsEmulator;

struct Stack {
    clock: ManualClock,
    imds: ImdsEmulator,
    api: Endpoint,
    proxy: Running,
}

async fn stack() -> Stack {
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
    let time: SharedTimeSource = Arc::new(clock.clone());
    let imds = ImdsEmulator::builder()
        .credential_lifetime(Duration::from_secs(3600))
        .rotate_every(Duration::ZERO)
        .time_source(time.clone())
        .start()
        .await;
    let api = Endpoint::builder()
        .imds(&imds)
        .time_source(time.clone())
        .start()
        .await;
    let env = Env::from_pairs([("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.endpoint())]);
    let chain = DefaultChain::builder()
        .env(env)
        .time_source(time.clone())
        .build()
        .await;
    // The endpoint is us-east-1 / execute-api; a loopback host tells neither.
    let proxy = SigningProxy::builder(chain)
        .upstream(api.url())
        .region(api.region())
        .service(api.service())
        .time_source(time)
        .build(None)
        .expect("a proxy");
    let proxy = common::run(proxy, Duration::from_secs(5)).await;
    Stack {
        clock,
        imds,
        api,
        proxy,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_post_and_reserved_query_characters_are_accepted() {
    let stack = stack().await;
    let client = plain_client();
    let get = Request::get(stack.proxy.url("/prod/items/42"))
        .body(Full::default())
        .unwrap();
    let (status, body) = text(client.request(get).await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let post = Request::post(stack.proxy.url("/prod/items"))
        .header("content-type", "application/json")
        .body(Full::from(r#"{"name":"widget","n":1}"#))
        .unwrap();
    let (status, body) = text(client.request(post).await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let echo: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(echo["body_bytes"], 23);

    // Reserved and encoded characters, repeated keys, empty values: kept byte for byte and signed
    // as the endpoint canonicalizes them.
    let query = "/prod/search?q=a%20b%2Bc&q=%2F%3F%23&empty=&x=%E2%82%AC&sort=-date&a.b_c~d=1";
    let get = Request::get(stack.proxy.url(query))
        .body(Full::default())
        .unwrap();
    let (status, body) = text(client.request(get).await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // A chunked body (no Content-Length) is buffered and hashed too.
    let (sender, body) = common::channel_body();
    let post = Request::post(stack.proxy.url("/prod/stream"))
        .body(body)
        .unwrap();
    let streaming = common::streaming_client();
    let sending = tokio::spawn(async move {
        for part in ["one,", "two,", "three"] {
            sender.send(Bytes::from(part)).await.unwrap();
        }
    });
    let (status, body) = text(streaming.request(post).await.unwrap()).await;
    sending.await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let echo: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(echo["body_bytes"], 13);

    assert_eq!(stack.api.rejected(), 0, "{:?}", stack.api.rejections());
    assert_eq!(stack.api.accepted(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clients_own_authorization_is_replaced() {
    let stack = stack().await;
    let client = plain_client();
    // A client that signed with stale keys of its own: the proxy signs afresh.
    let request = Request::get(stack.proxy.url("/prod/items"))
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDCLIENTSTALE/20200101/us-east-1/execute-api/aws4_request, SignedHeaders=host, Signature=00",
        )
        .header("x-amz-date", "20200101T000000Z")
        .header("x-amz-security-token", "client-token")
        .body(Full::default())
        .unwrap();
    let (status, body) = text(client.request(request).await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let accepted = stack.api.accepted_requests();
    assert_eq!(
        accepted[0].access_key_id,
        stack.imds.current_credentials().access_key_id()
    );
}

/// 1,000 requests from 32 concurrent clients, in three rounds. Between rounds the clock moves to
/// 30 s before the credentials in use expire and IMDS issues new ones; mid-round, with requests in
/// flight, IMDS rotates again and the clock moves on 10 s. None refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_requests_from_32_clients_while_credentials_rotate_none_refused() {
    const TOTAL: usize = 1000;
    const CLIENTS: usize = 32;
    const ROUNDS: usize = 3;
    let stack = Arc::new(stack().await);
    let clients: Vec<_> = (0..CLIENTS).map(|_| plain_client()).collect();
    for round in 0..ROUNDS {
        if round > 0 {
            let in_use = &stack
                .api
                .accepted_requests()
                .last()
                .unwrap()
                .access_key_id
                .clone();
            let expiry = stack.imds.lookup(in_use).and_then(|c| c.expiry()).unwrap();
            stack.clock.set(expiry - Duration::from_secs(30));
            stack.imds.rotate_now();
        }
        let first = round * TOTAL / ROUNDS;
        let last = (round + 1) * TOTAL / ROUNDS;
        let sent = Arc::new(AtomicUsize::new(first));
        let mut workers = tokio::task::JoinSet::new();
        for client in &clients {
            let (stack, sent, client) = (Arc::clone(&stack), Arc::clone(&sent), client.clone());
            workers.spawn(async move {
                loop {
                    let i = sent.fetch_add(1, Ordering::SeqCst);
                    if i >= last {
                        return Ok::<_, String>(());
                    }
                    if i == (first + last) / 2 {
                        stack.imds.rotate_now();
                        stack.clock.advance(Duration::from_secs(10));
                    }
                    let request = Request::post(stack.proxy.url(&format!("/prod/items/{i}?n={i}")))
                        .body(Full::from(format!(r#"{{"i":{i}}}"#)))
                        .unwrap();
                    let response = client.request(request).await.map_err(|e| e.to_string())?;
                    let (status, body) = text(response).await;
                    if status != StatusCode::OK {
                        return Err(format!("request {i}: {status} {body}"));
                    }
                }
            });
        }
        within("a round of requests", async {
            while let Some(worker) = workers.join_next().await {
                worker.expect("worker").expect("every request accepted");
            }
        })
        .await;
    }
    assert_eq!(stack.api.accepted() as usize, TOTAL);
    assert_eq!(stack.api.rejected(), 0, "{:?}", stack.api.rejections());
    let signers: BTreeSet<String> = stack
        .api
        .accepted_requests()
        .iter()
        .map(|r| r.access_key_id.clone())
        .collect();
    assert!(
        signers.len() >= 2,
        "the proxy kept signing with one key through the rotations: {signers:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_uploads_stream_aws_chunked_past_the_buffer_limit() {
    // An S3-like endpoint (the testkit's VerifyLayer checks the seed and every chunk's
    // signature as the body streams in); the proxy's buffer limit is far below the upload.
    let api = Endpoint::builder()
        .key_store(
            tower_sigv4::StaticKeyStore::new().with(sigv4_core::Credentials::new(
                "AKIDPROXYS3",
                "proxy-s3-secret",
            )),
        )
        .service("s3")
        .start()
        .await;
    let proxy = SigningProxy::builder(sigv4_core::Credentials::new(
        "AKIDPROXYS3",
        "proxy-s3-secret",
    ))
    .upstream(api.url())
    .region(api.region())
    .service("s3")
    .max_body(16 * 1024)
    .build(None)
    .expect("a proxy");
    let proxy = common::run(proxy, Duration::from_secs(5)).await;
    let client = plain_client();
    let content: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let put = Request::put(proxy.url("/bucket/big.bin"))
        .body(Full::from(content.clone()))
        .unwrap();
    let (status, body) = text(client.request(put).await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body} {:?}", api.rejections());
    let echo: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(echo["body_bytes"], content.len() as u64);
    // A GET carries no body and no aws-chunked framing.
    let get = Request::get(proxy.url("/bucket/big.bin"))
        .body(Full::default())
        .unwrap();
    let (status, body) = text(client.request(get).await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(api.rejected(), 0, "{:?}", api.rejections());
    assert_eq!(api.accepted(), 2);
}
