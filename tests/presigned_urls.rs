//! Presigned URLs against an API-Gateway-like endpoint on loopback.
//!
//! A service holding an instance role (credentials from the IMDS emulator) presigns a link with
//! `sigv4_core::Signer` and `SigningSettings::presigned`, and hands it to someone who has no AWS
//! credentials at all. That someone fetches it with a plain hyper client: no `Authorization`
//! header, no `x-amz-*` header, only the URL. The endpoint (the testkit's `Endpoint`, built on
//! `VerifyLayer`) accepts it while it is fresh, refuses it once it has expired, and refuses it
//! when anything in its query was changed.
//!
//! Time is one `ManualClock` shared by the emulator, the signer's caller and the endpoint; the
//! tests move it (never sleep).

mod common;

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Empty;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sigv4::core::{Payload, Signer, SigningParams, SigningSettings};
use sigv4::credentials::{ManualClock, TimeSource};
use sigv4_testkit::endpoint::Endpoint;
use sigv4_testkit::imds::ImdsEmulator;

/// The emulator, the endpoint and the clock they share.
struct World {
    clock: ManualClock,
    imds: ImdsEmulator,
    api: Endpoint,
    /// Someone without credentials: a bare hyper client, no signing layer.
    browser: Client<HttpConnector, Empty<Bytes>>,
}

impl World {
    async fn start() -> Self {
        let (clock, time) = common::clock_at_t0();
        let (imds, api) = common::start_imds_and_endpoint(ImdsEmulator::builder(), &time).await;
        let browser = Client::builder(TokioExecutor::new()).build_http();
        World {
            clock,
            imds,
            api,
            browser,
        }
    }

    /// What the service holding the instance role does: presigns a GET of `path_and_query`, valid
    /// for `expires_in` from now.
    fn presign(&self, path_and_query: &str, expires_in: Duration) -> String {
        let credentials = self.imds.current_credentials();
        let settings = SigningSettings::presigned(expires_in);
        let params = SigningParams::new(
            &credentials,
            self.api.region(),
            self.api.service(),
            self.clock.now(),
        )
        .with_settings(&settings);
        let mut request = Request::get(format!("{}{path_and_query}", self.api.url()))
            .body(())
            .expect("a valid request");
        // A GET has an empty body: its hash is what the endpoint will compute.
        Signer::new()
            .sign_request(&mut request, Payload::Bytes(b""), &params)
            .expect("the request can be presigned");
        assert!(
            request.headers().is_empty(),
            "a presigned request carries everything in its URL, got headers {:?}",
            request.headers().keys().collect::<Vec<_>>()
        );
        request.uri().to_string()
    }

    /// What the holder of the link does: a plain GET of the URL, nothing else.
    async fn fetch(&self, url: &str) -> (StatusCode, Option<String>, serde_json::Value) {
        let request = Request::get(url)
            .body(Empty::new())
            .expect("a valid request");
        let response = self.browser.request(request).await.expect("a response");
        common::read(response).await
    }

    fn now(&self) -> SystemTime {
        self.clock.now()
    }
}

/// The query parameters of `url`, in order, still percent-encoded.
fn query_params(url: &str) -> Vec<(String, String)> {
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or("");
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn a_presigned_url_is_accepted_from_a_client_without_credentials() {
    let world = World::start().await;
    let url = world.presign("/prod/reports/42?format=csv", Duration::from_secs(300));

    // The URL carries the whole signature in its query (the names and the encoding of the scope
    // are SigV4's, independent of this crate).
    let params = query_params(&url);
    assert_eq!(param(&params, "format"), Some("csv"));
    assert_eq!(param(&params, "X-Amz-Algorithm"), Some("AWS4-HMAC-SHA256"));
    assert_eq!(
        param(&params, "X-Amz-Credential"),
        Some("ASIAEMU0000000000001%2F20231114%2Fus-east-1%2Fexecute-api%2Faws4_request")
    );
    assert_eq!(param(&params, "X-Amz-Date"), Some("20231114T221320Z"));
    assert_eq!(param(&params, "X-Amz-Expires"), Some("300"));
    assert_eq!(param(&params, "X-Amz-SignedHeaders"), Some("host"));
    assert!(
        param(&params, "X-Amz-Security-Token").is_some_and(|t| !t.is_empty()),
        "instance-role credentials are temporary: the session token travels in the URL: {url}"
    );
    let signature = param(&params, "X-Amz-Signature").expect("a signature");
    assert_eq!(signature.len(), 64, "{signature}");
    assert!(signature.bytes().all(|b| b.is_ascii_hexdigit()));

    // A minute later, someone with only the link fetches it.
    world.clock.advance(Duration::from_secs(60));
    let (status, code, echo) = world.fetch(&url).await;
    assert_eq!(status, StatusCode::OK, "{code:?} {echo}");
    assert_eq!(echo["method"], "GET");
    assert_eq!(echo["path"], "/prod/reports/42");
    assert_eq!(echo["presigned"], true);
    assert_eq!(echo["access_key_id"], "ASIAEMU0000000000001");

    // The link can be used again while it is valid.
    let (status, _, _) = world.fetch(&url).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((world.api.accepted(), world.api.rejected()), (2, 0));
}

#[tokio::test]
async fn a_presigned_url_is_refused_once_it_has_expired() {
    let world = World::start().await;
    let signed_at = world.now();
    let url = world.presign("/prod/reports/42?format=csv", Duration::from_secs(60));

    // Valid up to and including its last second...
    world.clock.set(signed_at + Duration::from_secs(60));
    let (status, code, echo) = world.fetch(&url).await;
    assert_eq!(status, StatusCode::OK, "{code:?} {echo}");

    // ...and refused one second later, with API Gateway's code and message.
    world.clock.set(signed_at + Duration::from_secs(61));
    let (status, code, echo) = world.fetch(&url).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(code.as_deref(), Some("InvalidSignatureException"));
    let message = echo["message"].as_str().expect("a message");
    assert!(message.starts_with("Signature expired"), "{message}");
    // The expiry named is the signing time plus 60 s: 2023-11-14T22:14:20Z.
    assert!(message.contains("20231114T221420Z"), "{message}");

    assert_eq!((world.api.accepted(), world.api.rejected()), (1, 1));
    assert_eq!(world.api.rejections()[0].code, "InvalidSignatureException");
}

#[tokio::test]
async fn a_presigned_url_is_refused_when_its_query_is_changed() {
    let world = World::start().await;
    let url = world.presign("/prod/reports/42?format=csv", Duration::from_secs(60));
    let (status, _, _) = world.fetch(&url).await;
    assert_eq!(status, StatusCode::OK, "the untouched URL works");

    // Asking for another format with the same signature...
    let other_format = url.replace("format=csv", "format=json");
    assert_ne!(other_format, url);
    // ...or stretching the link's lifetime to a week...
    let longer = url.replace("X-Amz-Expires=60", "X-Amz-Expires=604800");
    assert_ne!(longer, url);
    // ...or adding a parameter.
    let extra = format!("{url}&admin=true");

    for tampered in [&other_format, &longer, &extra] {
        let (status, code, echo) = world.fetch(tampered).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{tampered}: {echo}");
        assert_eq!(code.as_deref(), Some("SignatureDoesNotMatch"), "{tampered}");
    }
    let codes: Vec<_> = world.api.rejections().iter().map(|r| r.code).collect();
    assert_eq!(codes, ["SignatureDoesNotMatch"; 3]);
    assert_eq!(world.api.accepted(), 1);
}
