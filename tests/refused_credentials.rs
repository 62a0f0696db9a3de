//! The whole stack when a service stops accepting credentials before they expire:
//! `SigV4Layer` (credentials from a `DefaultChain` over a counting source) → hyper-util's
//! `Client` → the testkit's verifying `Endpoint` on loopback. A session revoked on the server
//! (`InvalidClientTokenId`) or a token the server considers expired (`ExpiredToken`) is answered
//! 403; the layer invalidates the credentials that signed it, and the next request is signed with
//! fresh ones, fetched exactly once.
//!
//! One `ManualClock` is shared by the source, the chain, the layer and the endpoint.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sigv4::credentials::{
    DefaultChain, ManualClock, ProvideCredentials, ProvideCredentialsFuture, TimeSource,
};
use sigv4::SigV4Body;
use sigv4::{Credentials, SigV4Layer, StaticKeyStore};
use sigv4_testkit::endpoint::Endpoint;
use tower::{ServiceBuilder, ServiceExt};

const HOUR: Duration = Duration::from_secs(3600);

fn secret(n: usize) -> String {
    format!("secret-{n}-wJalrXUtnFEMI/K7MDENG")
}

fn token(n: usize) -> String {
    format!("session-token-{n}")
}

/// Hands out `AKID<n>` on its n-th fetch, valid for an hour from the clock's now as far as the
/// client knows.
#[derive(Debug)]
struct Source {
    clock: ManualClock,
    fetches: AtomicUsize,
}

impl ProvideCredentials for Source {
    fn provide_credentials(&self) -> ProvideCredentialsFuture<'_> {
        let n = self.fetches.fetch_add(1, Ordering::SeqCst) + 1;
        ProvideCredentialsFuture::ready(Ok(Credentials::builder(format!("AKID{n}"), secret(n))
            .session_token(token(n))
            .expiry(self.clock.now() + HOUR)
            .provider_name("counting")
            .build()))
    }
}

/// The endpoint's view of `AKID<n>`: the same secret and token, with the server's own expiry.
fn server_side(n: usize, expiry: std::time::SystemTime) -> Credentials {
    Credentials::builder(format!("AKID{n}"), secret(n))
        .session_token(token(n))
        .expiry(expiry)
        .build()
}

struct Stack {
    clock: ManualClock,
    source: Arc<Source>,
    keys: StaticKeyStore,
    api: Endpoint,
    layer: SigV4Layer,
}

impl Stack {
    async fn start() -> Self {
        let (clock, time) = common::clock_at_t0();
        let now = clock.now();
        let keys = StaticKeyStore::new()
            .with(server_side(1, now + HOUR))
            .with(server_side(2, now + 2 * HOUR));
        let api = Endpoint::builder()
            .key_store(keys.clone())
            .time_source(time.clone())
            .start()
            .await;
        let source = Arc::new(Source {
            clock: clock.clone(),
            fetches: AtomicUsize::new(0),
        });
        let chain = DefaultChain::builder()
            .providers(vec![("counting".into(), Arc::clone(&source) as _)])
            .time_source(time.clone())
            .build()
            .await;
        let layer = SigV4Layer::builder(chain, "us-east-1", "execute-api")
            .time_source(time)
            .build();
        Stack {
            clock,
            source,
            keys,
            api,
            layer,
        }
    }

    fn fetches(&self) -> usize {
        self.source.fetches.load(Ordering::SeqCst)
    }

    /// Sends one signed GET; the status, the error code, and the key it was signed with.
    async fn send(&self) -> (StatusCode, Option<String>, String) {
        let client = ServiceBuilder::new()
            .layer(self.layer.clone())
            .service(Client::builder(TokioExecutor::new()).build_http::<SigV4Body<Full<Bytes>>>());
        let request = Request::get(format!("{}/prod/items", self.api.url()))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let response = client.oneshot(request).await.expect("an answer");
        let (status, code, _) = common::read(response).await;
        let key = match status {
            StatusCode::OK => self
                .api
                .accepted_requests()
                .last()
                .map(|r| r.access_key_id.clone()),
            _ => self
                .api
                .rejections()
                .last()
                .and_then(|r| r.access_key_id.clone()),
        };
        (status, code, key.unwrap_or_default())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_revoked_on_the_server_is_replaced_by_the_next_request() {
    let stack = Stack::start().await;
    assert_eq!(stack.send().await, (StatusCode::OK, None, "AKID1".into()));

    // The session behind AKID1 is revoked: the endpoint no longer knows it.
    stack.keys.remove("AKID1");
    let (status, code, key) = stack.send().await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(code.as_deref(), Some("InvalidClientTokenId"));
    assert_eq!(key, "AKID1");
    assert_eq!(stack.fetches(), 1, "nothing fetched until the next request");

    for _ in 0..5 {
        assert_eq!(stack.send().await, (StatusCode::OK, None, "AKID2".into()));
    }
    assert_eq!(stack.fetches(), 2, "exactly one refresh");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_the_server_says_has_expired_is_replaced_by_the_next_request() {
    let stack = Stack::start().await;
    assert_eq!(stack.send().await, (StatusCode::OK, None, "AKID1".into()));

    // The server ends AKID1's session at 20 min, the client believes it lasts an hour (and, at
    // 21 min, is far from its refresh window).
    let now = stack.clock.now();
    stack
        .keys
        .insert(server_side(1, now + Duration::from_secs(20 * 60)));
    stack.clock.advance(Duration::from_secs(21 * 60));
    let (status, code, _) = stack.send().await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(code.as_deref(), Some("ExpiredToken"));
    assert_eq!(stack.fetches(), 1);

    assert_eq!(stack.send().await, (StatusCode::OK, None, "AKID2".into()));
    assert_eq!(stack.send().await, (StatusCode::OK, None, "AKID2".into()));
    assert_eq!(stack.fetches(), 2, "exactly one refresh");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signature_refusal_does_not_touch_the_credentials() {
    let stack = Stack::start().await;
    // The endpoint holds another secret for AKID1: `SignatureDoesNotMatch`, which new credentials
    // cannot fix; the cached ones stay.
    stack.keys.insert(
        Credentials::builder("AKID1", "another-secret")
            .session_token(token(1))
            .build(),
    );
    for _ in 0..3 {
        let (status, code, _) = stack.send().await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(code.as_deref(), Some("SignatureDoesNotMatch"));
    }
    assert_eq!(stack.fetches(), 1);
}
