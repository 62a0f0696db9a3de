//! `SigV4Middleware` in a reqwest-middleware client: the request that leaves the stack is signed
//! (checked by recomputing with the core signer and against a known AWS test-suite answer), and
//! bodies reqwest cannot hash are refused unless the request says how to sign them.
#![cfg(feature = "reqwest-middleware")]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Extensions, HeaderMap, Method};
use http_body_util::Full;
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware, Middleware, Next};
use sigv4_core::{Credentials, Payload, Signer, SigningParams};
use sigv4_credentials::ManualClock;
use tower_sigv4::reqwest::SigV4Middleware;
use tower_sigv4::{PayloadPolicy, SigV4Error, SigV4Layer, SigningOverride, SkipSigning};

const AKID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const TOKEN: &str = "FQoGZXIvYXdzEXAMPLE//////////sessiontoken+/=";
const JSON_BODY: &str = r#"{"name":"widget","count":3}"#;
/// `echo -n '{"name":"widget","count":3}' | sha256sum`
const JSON_BODY_SHA256: &str = "ae2d469027ca92720310d80900b497813b4646341cbb68ed53dc3a8568da780d";
const API_URL: &str = "https://abcdef1234.execute-api.us-east-1.amazonaws.com/prod/items?limit=10";

fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_440_938_160) // 2015-08-30T12:36:00Z
}

fn creds() -> Credentials {
    Credentials::builder(AKID, SECRET)
        .session_token(TOKEN)
        .build()
}

#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    url: String,
    headers: HeaderMap,
    body: Option<Vec<u8>>,
}

impl Seen {
    fn signature(&self) -> &str {
        let auth = self
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        auth.rsplit("Signature=").next().unwrap_or("")
    }

    fn recompute(&self, creds: &Credentials, time: SystemTime, payload: Payload<'_>) -> String {
        let mut headers = self.headers.clone();
        for name in ["authorization", "x-amz-date", "x-amz-security-token"] {
            headers.remove(name);
        }
        let uri: http::Uri = self.url.parse().unwrap();
        let params = SigningParams::new(creds, "us-east-1", "execute-api", time);
        Signer::new()
            .inspect(
                sigv4_core::RequestHead::new(&self.method, &uri, &headers),
                payload,
                &params,
            )
            .unwrap()
            .1
            .signature
    }
}

/// The innermost middleware: records the request instead of sending it (no network).
#[derive(Clone, Default)]
struct Capture {
    seen: Arc<Mutex<Vec<Seen>>>,
}

#[async_trait::async_trait]
impl Middleware for Capture {
    async fn handle(
        &self,
        request: reqwest::Request,
        _extensions: &mut Extensions,
        _next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        self.seen.lock().unwrap().push(Seen {
            method: request.method().clone(),
            url: request.url().to_string(),
            headers: request.headers().clone(),
            body: request
                .body()
                .and_then(|b| b.as_bytes())
                .map(<[u8]>::to_vec),
        });
        Ok(reqwest::Response::from(http::Response::new("ok")))
    }
}

/// A retry-like middleware: sends the request twice, moving the clock in between.
struct TwoAttempts(ManualClock);

#[async_trait::async_trait]
impl Middleware for TwoAttempts {
    async fn handle(
        &self,
        request: reqwest::Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let again = request.try_clone().expect("a buffered body");
        next.clone().run(request, extensions).await?;
        self.0.advance(Duration::from_secs(3));
        next.run(again, extensions).await
    }
}

fn client(middleware: SigV4Middleware) -> (ClientWithMiddleware, Capture) {
    let capture = Capture::default();
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(middleware)
        .with(capture.clone())
        .build();
    (client, capture)
}

fn middleware_at(clock: &ManualClock) -> SigV4Middleware {
    SigV4Layer::builder(creds(), "us-east-1", "execute-api")
        .time_source(Arc::new(clock.clone()))
        .build()
        .into()
}

fn last(capture: &Capture) -> Seen {
    capture
        .seen
        .lock()
        .unwrap()
        .last()
        .cloned()
        .expect("a request reached the end")
}

fn find_sigv4(error: &reqwest_middleware::Error) -> &SigV4Error {
    match error {
        reqwest_middleware::Error::Middleware(e) => {
            e.downcast_ref::<SigV4Error>().expect("a SigV4Error inside")
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn a_buffered_json_body_is_hashed_and_signed() {
    let clock = ManualClock::new(t0());
    let (client, capture) = client(middleware_at(&clock));
    client
        .post(API_URL)
        .header("content-type", "application/json")
        .body(JSON_BODY)
        .send()
        .await
        .unwrap();
    let seen = last(&capture);
    assert_eq!(seen.body.as_deref(), Some(JSON_BODY.as_bytes()));
    assert_eq!(seen.headers["x-amz-date"], "20150830T123600Z");
    assert_eq!(seen.headers["x-amz-security-token"], TOKEN);
    assert!(seen.headers.get("x-amz-content-sha256").is_none());
    assert_eq!(
        seen.signature(),
        seen.recompute(&creds(), t0(), Payload::Precomputed(JSON_BODY_SHA256))
    );
    assert_ne!(
        seen.signature(),
        seen.recompute(&creds(), t0(), Payload::Bytes(b""))
    );
}

/// AWS test suite, get-vanilla: known signature 5fa00fa3….
#[tokio::test]
async fn matches_the_aws_test_suite_get_vanilla() {
    let clock = ManualClock::new(t0());
    let middleware: SigV4Middleware =
        SigV4Layer::builder(Credentials::new(AKID, SECRET), "us-east-1", "service")
            .time_source(Arc::new(clock))
            .build()
            .into();
    let (client, capture) = client(middleware);
    client
        .get("https://example.amazonaws.com/")
        .send()
        .await
        .unwrap();
    assert_eq!(
        last(&capture).signature(),
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    );
}

#[tokio::test]
async fn a_streaming_body_is_refused_with_what_to_do() {
    let clock = ManualClock::new(t0());
    let (client, capture) = client(middleware_at(&clock));
    let body = reqwest::Body::wrap(Full::new(Bytes::from_static(JSON_BODY.as_bytes())));
    let error = client.post(API_URL).body(body).send().await.unwrap_err();
    assert!(matches!(find_sigv4(&error), SigV4Error::StreamingBody));
    let message = error.to_string();
    assert!(message.contains("x-amz-content-sha256"), "{message}");
    assert!(message.contains("PayloadPolicy::Unsigned"), "{message}");
    assert!(capture.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_streaming_body_with_a_precomputed_hash_header_is_signed_with_it() {
    let clock = ManualClock::new(t0());
    let (client, capture) = client(middleware_at(&clock));
    let body = reqwest::Body::wrap(Full::new(Bytes::from_static(JSON_BODY.as_bytes())));
    client
        .post(API_URL)
        .header("x-amz-content-sha256", JSON_BODY_SHA256)
        .body(body)
        .send()
        .await
        .unwrap();
    let seen = last(&capture);
    let mut without = seen.clone();
    without.headers.remove("x-amz-content-sha256");
    // The header is signed as well as used as the payload hash.
    assert_eq!(
        seen.signature(),
        seen.recompute(&creds(), t0(), Payload::Bytes(JSON_BODY.as_bytes()))
    );
    assert_ne!(
        seen.signature(),
        without.recompute(&creds(), t0(), Payload::Bytes(JSON_BODY.as_bytes()))
    );
}

#[tokio::test]
async fn a_streaming_body_with_an_extension_is_signed() {
    let clock = ManualClock::new(t0());
    let (client, capture) = client(middleware_at(&clock));
    let body = reqwest::Body::wrap(Full::new(Bytes::from_static(JSON_BODY.as_bytes())));
    client
        .put(API_URL)
        .body(body)
        .with_extension(SigningOverride::new().with_payload_hash(JSON_BODY_SHA256))
        .send()
        .await
        .unwrap();
    let seen = last(&capture);
    assert_eq!(
        seen.signature(),
        seen.recompute(&creds(), t0(), Payload::Bytes(JSON_BODY.as_bytes()))
    );

    let body = reqwest::Body::wrap(Full::new(Bytes::from_static(b"big upload")));
    client
        .put(API_URL)
        .body(body)
        .with_extension(SigningOverride::new().with_payload_policy(PayloadPolicy::Unsigned))
        .send()
        .await
        .unwrap();
    let seen = last(&capture);
    assert_eq!(seen.headers["x-amz-content-sha256"], "UNSIGNED-PAYLOAD");
    let mut head = seen.clone();
    head.headers.remove("x-amz-content-sha256");
    assert_eq!(
        seen.signature(),
        head.recompute(&creds(), t0(), Payload::Unsigned)
    );
}

#[tokio::test]
async fn overrides_and_skip_come_from_the_middleware_extensions() {
    let clock = ManualClock::new(t0());
    let (client, capture) = client(middleware_at(&clock));
    client
        .get("https://lambda.eu-west-3.amazonaws.com/2015-03-31/functions")
        .with_extension(
            SigningOverride::new()
                .with_region("eu-west-3")
                .with_service("lambda"),
        )
        .send()
        .await
        .unwrap();
    let seen = last(&capture);
    let auth = seen.headers["authorization"].to_str().unwrap();
    assert!(
        auth.contains("/20150830/eu-west-3/lambda/aws4_request"),
        "{auth}"
    );

    client
        .get("https://example.com/health")
        .with_extension(SkipSigning)
        .send()
        .await
        .unwrap();
    let seen = last(&capture);
    assert!(seen.headers.get("authorization").is_none());
    assert!(seen.headers.get("x-amz-date").is_none());
}

#[tokio::test]
async fn each_retry_attempt_is_signed_anew() {
    let clock = ManualClock::new(t0());
    let capture = Capture::default();
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(TwoAttempts(clock.clone())) // outermost
        .with(middleware_at(&clock)) // signs every attempt
        .with(capture.clone())
        .build();
    client.post(API_URL).body(JSON_BODY).send().await.unwrap();
    let seen = capture.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].headers["x-amz-date"], "20150830T123600Z");
    assert_eq!(seen[1].headers["x-amz-date"], "20150830T123603Z");
    assert_ne!(seen[0].signature(), seen[1].signature());
    assert_eq!(
        seen[1].signature(),
        seen[1].recompute(
            &creds(),
            t0() + Duration::from_secs(3),
            Payload::Bytes(JSON_BODY.as_bytes())
        )
    );
}

#[tokio::test]
async fn a_credentials_error_reaches_the_caller() {
    #[derive(Debug)]
    struct NoCreds(Arc<AtomicUsize>);
    impl sigv4_credentials::ProvideCredentials for NoCreds {
        fn provide_credentials(&self) -> sigv4_credentials::ProvideCredentialsFuture<'_> {
            self.0.fetch_add(1, Ordering::SeqCst);
            sigv4_credentials::ProvideCredentialsFuture::ready(Err(
                sigv4_credentials::CredentialsError::failed("imds", "the token request timed out"),
            ))
        }
    }
    let calls = Arc::new(AtomicUsize::new(0));
    let (client, capture) = client(SigV4Middleware::new(
        NoCreds(calls.clone()),
        "us-east-1",
        "execute-api",
    ));
    let error = client.get(API_URL).send().await.unwrap_err();
    assert!(find_sigv4(&error).is_credentials());
    assert!(
        error
            .to_string()
            .contains("imds: the token request timed out"),
        "{error}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(capture.seen.lock().unwrap().is_empty());
}
