//! `SigV4Layer` as a client stack sees it: what the inner service receives is a correctly signed
//! request (checked against AWS's own test suite, and by recomputing with the core signer), bodies
//! arrive intact, limits hold before anything is read, and errors say what to do.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, Request, Response};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Full};
use sigv4_core::{Credentials, Payload, Signer, SigningParams, SigningSettings};
use sigv4_credentials::{
    CredentialsError, ManualClock, ProvideCredentials, ProvideCredentialsFuture,
};
use tower::{service_fn, Service, ServiceBuilder, ServiceExt};
use tower_sigv4::SigV4Body;
use tower_sigv4::{
    BoxError, PayloadPolicy, SigV4Error, SigV4Layer, SigV4Service, SigningOverride, SkipSigning,
};

const AKID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const TOKEN: &str = "FQoGZXIvYXdzEXAMPLE//////////sessiontoken+/=";
/// `echo -n '{"name":"widget","count":3}' | sha256sum`
const JSON_BODY: &str = r#"{"name":"widget","count":3}"#;
const JSON_BODY_SHA256: &str = "ae2d469027ca92720310d80900b497813b4646341cbb68ed53dc3a8568da780d";
const API_URL: &str = "https://abcdef1234.execute-api.us-east-1.amazonaws.com/prod/items?limit=10";

/// 2015-08-30T12:36:00Z, the test suite's time.
fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_440_938_160)
}

fn session_creds() -> Credentials {
    Credentials::builder(AKID, SECRET)
        .session_token(TOKEN)
        .build()
}

fn layer_at(provider: impl ProvideCredentials + 'static, clock: &ManualClock) -> SigV4Layer {
    SigV4Layer::builder(provider, "us-east-1", "execute-api")
        .time_source(Arc::new(clock.clone()))
        .build()
}

/// The API Gateway layer (session credentials, clock at [`t0`]) over a fresh [`Recorder`].
#[allow(clippy::type_complexity)]
fn api_gateway_stack<B>() -> (
    Recorder,
    SigV4Service<
        impl Service<Request<SigV4Body<B>>, Response = Response<()>, Error = BoxError, Future: Send>
            + Clone,
    >,
)
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let recorder = Recorder::default();
    let service = ServiceBuilder::new()
        .layer(layer_at(session_creds(), &ManualClock::new(t0())))
        .service(recorder.service());
    (recorder, service)
}

/// What the inner service received.
#[derive(Debug, Clone)]
struct Seen {
    parts: Parts,
    body: Bytes,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.parts.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn signed_headers(&self) -> Vec<String> {
        let auth = self.header("authorization").unwrap_or("");
        let list = auth
            .split("SignedHeaders=")
            .nth(1)
            .and_then(|rest| rest.split(',').next())
            .unwrap_or("");
        list.split(';').map(str::to_owned).collect()
    }

    fn signature(&self) -> String {
        let auth = self.header("authorization").unwrap_or("");
        auth.rsplit("Signature=").next().unwrap_or("").to_owned()
    }
}

/// An inner service that records each request (body collected) and counts calls.
#[derive(Clone, Default)]
struct Recorder {
    seen: Arc<Mutex<Vec<Seen>>>,
    calls: Arc<AtomicUsize>,
}

impl Recorder {
    fn service<B>(
        &self,
    ) -> impl Service<Request<B>, Response = Response<()>, Error = BoxError, Future: Send> + Clone
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let seen = Arc::clone(&self.seen);
        let calls = Arc::clone(&self.calls);
        service_fn(move |request: Request<B>| {
            let seen = Arc::clone(&seen);
            calls.fetch_add(1, Ordering::SeqCst);
            async move {
                let (parts, body) = request.into_parts();
                let body = body.collect().await.map_err(Into::into)?.to_bytes();
                seen.lock().unwrap().push(Seen { parts, body });
                Ok::<_, BoxError>(Response::new(()))
            }
        })
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn last(&self) -> Seen {
        self.seen
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("the inner service saw a request")
    }

    fn all(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// Recomputes the signature of a received request, independently of the layer: keep the headers
/// named as signed, take the signing headers off, sign again with the core signer, return
/// (signature, payload hash used).
fn recompute(
    seen: &Seen,
    creds: &Credentials,
    time: SystemTime,
    region: &str,
    service: &str,
    payload: Payload<'_>,
) -> (String, String) {
    // As a server does: only the headers the client listed as signed (a proxy or the HTTP client
    // may add others, such as content-length, after signing).
    let signed = seen.signed_headers();
    let mut headers = HeaderMap::new();
    for (name, value) in &seen.parts.headers {
        let skip = ["authorization", "x-amz-date", "x-amz-security-token"];
        if signed.iter().any(|s| s == name.as_str()) && !skip.contains(&name.as_str()) {
            headers.append(name, value.clone());
        }
    }
    let params = SigningParams::new(creds, region, service, time);
    let (_, inspection) = Signer::new()
        .inspect(
            sigv4_core::RequestHead::new(&seen.parts.method, &seen.parts.uri, &headers),
            payload,
            &params,
        )
        .expect("re-sign");
    (inspection.signature, inspection.payload_hash)
}

/// [`recompute`] for the API Gateway layer's signing: session credentials, [`t0`], us-east-1,
/// execute-api.
fn recompute_api_gateway(seen: &Seen, payload: Payload<'_>) -> (String, String) {
    recompute(
        seen,
        &session_creds(),
        t0(),
        "us-east-1",
        "execute-api",
        payload,
    )
}

fn sigv4_error(error: &BoxError) -> &SigV4Error {
    error
        .downcast_ref::<SigV4Error>()
        .unwrap_or_else(|| panic!("expected a SigV4Error, got {error:?}"))
}

// ===== AWS's test suite through the layer =====

mod vectors {
    use super::*;

    struct Case {
        context: serde_json::Value,
        request: Request<Full<Bytes>>,
        expected: String,
    }

    fn read(case: &str, file: &str) -> String {
        let path = format!(
            "{}/tests/fixtures/sign-layer-aws-c-auth/{case}/{file}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{case}: cannot read {path}: {e}"))
    }

    fn load(case: &str) -> Case {
        let context: serde_json::Value =
            serde_json::from_str(&read(case, "context.json")).expect("context.json");
        let raw = read(case, "request.txt");
        let (head, body) = raw.split_once("\n\n").unwrap_or((raw.as_str(), ""));
        let mut lines = head.lines();
        let request_line = lines.next().expect("request line");
        let mut words = request_line.split(' ');
        let method = words.next().expect("method");
        let target = words.next().expect("target");
        let mut builder = Request::builder().method(method);
        let mut host = String::new();
        for line in lines {
            let (name, value) = line.split_once(':').expect("header line");
            if name.eq_ignore_ascii_case("host") {
                host = value.to_owned();
            }
            builder = builder.header(name, value);
        }
        let request = builder
            .uri(format!("https://{host}{target}"))
            .body(Full::new(Bytes::from(body.to_owned())))
            .expect("request");
        Case {
            context,
            request,
            expected: read(case, "header-signature.txt").trim().to_owned(),
        }
    }

    async fn run(case: &str) {
        let Case {
            context,
            request,
            expected,
        } = load(case);
        let c = &context["credentials"];
        let mut creds = Credentials::builder(
            c["access_key_id"].as_str().unwrap(),
            c["secret_access_key"].as_str().unwrap(),
        );
        if let Some(token) = c["token"].as_str() {
            creds = creds.session_token(token);
        }
        let mut settings = SigningSettings::default();
        if context["sign_body"].as_bool() == Some(true) {
            settings.content_sha256_header = sigv4_core::ContentSha256Header::Always;
        }
        if context["omit_session_token"].as_bool() == Some(true) {
            settings.session_token_mode = sigv4_core::SessionTokenMode::AddedAfterSigning;
        }
        assert_eq!(
            context["timestamp"], "2015-08-30T12:36:00Z",
            "{case}: timestamp"
        );
        let clock = ManualClock::new(t0());
        let layer = SigV4Layer::builder(
            creds.build(),
            context["region"].as_str().unwrap().to_owned(),
            context["service"].as_str().unwrap().to_owned(),
        )
        .settings(settings)
        .time_source(Arc::new(clock))
        .build();
        let recorder = Recorder::default();
        let service = ServiceBuilder::new()
            .layer(layer)
            .service(recorder.service());
        let sent_body = request.body().clone().collect().await.unwrap().to_bytes();
        service
            .oneshot(request)
            .await
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        let seen = recorder.last();
        assert_eq!(seen.signature(), expected, "{case}: signature");
        assert_eq!(seen.body, sent_body, "{case}: body");
        assert_eq!(
            seen.header("x-amz-date"),
            Some("20150830T123600Z"),
            "{case}"
        );
    }

    macro_rules! cases {
        ($($name:ident => $dir:literal,)*) => {$(
            #[tokio::test]
            async fn $name() {
                run($dir).await;
            }
        )*};
    }

    cases! {
        get_vanilla => "get-vanilla",
        get_vanilla_query => "get-vanilla-query",
        get_vanilla_query_order_key_case => "get-vanilla-query-order-key-case",
        get_vanilla_with_session_token => "get-vanilla-with-session-token",
        post_vanilla => "post-vanilla",
        post_vanilla_query => "post-vanilla-query",
        post_header_key_sort => "post-header-key-sort",
        post_x_www_form_urlencoded => "post-x-www-form-urlencoded",
        post_x_www_form_urlencoded_parameters => "post-x-www-form-urlencoded-parameters",
        post_sts_header_after => "post-sts-header-after",
        post_sts_header_before => "post-sts-header-before",
    }
}

// ===== API Gateway: body hashed, body intact, no x-amz-content-sha256 =====

#[tokio::test]
async fn api_gateway_post_is_signed_over_the_body_hash_and_the_body_arrives_intact() {
    let (recorder, service) = api_gateway_stack();
    let request = Request::post(API_URL)
        .header("content-type", "application/json")
        .header("content-length", JSON_BODY.len())
        .body(Full::new(Bytes::from_static(JSON_BODY.as_bytes())))
        .unwrap();
    service.oneshot(request).await.unwrap();

    let seen = recorder.last();
    assert_eq!(seen.body, JSON_BODY.as_bytes());
    assert_eq!(
        seen.header("x-amz-content-sha256"),
        None,
        "not added for API Gateway"
    );
    assert_eq!(seen.header("x-amz-security-token"), Some(TOKEN));
    assert_eq!(seen.header("x-amz-date"), Some("20150830T123600Z"));
    let auth = seen.header("authorization").unwrap();
    assert!(
        auth.starts_with(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/execute-api/aws4_request, "
        ),
        "{auth}"
    );
    assert_eq!(
        seen.signed_headers(),
        [
            "content-length",
            "content-type",
            "host",
            "x-amz-date",
            "x-amz-security-token"
        ]
    );

    let (signature, payload_hash) = recompute_api_gateway(&seen, Payload::Bytes(&seen.body));
    assert_eq!(
        payload_hash, JSON_BODY_SHA256,
        "the canonical request ends with the body's hash"
    );
    assert_eq!(seen.signature(), signature);
    // And it is not the signature of an empty or unsigned payload.
    let (empty, _) = recompute_api_gateway(&seen, Payload::Bytes(b""));
    assert_ne!(seen.signature(), empty);
}

#[tokio::test]
async fn a_streaming_body_under_the_cap_is_buffered_hashed_and_handed_on() {
    let (recorder, service) = api_gateway_stack();
    let chunks = ["{\"name\":", "\"widget\",", "\"count\":3}"];
    let body = Chunks::new(&chunks);
    let polls = body.polls.clone();
    let request = Request::put(API_URL).body(body).unwrap();
    service.oneshot(request).await.unwrap();
    assert!(polls.load(Ordering::SeqCst) >= 3);
    let seen = recorder.last();
    assert_eq!(seen.body, JSON_BODY.as_bytes());
    let (signature, payload_hash) = recompute_api_gateway(&seen, Payload::Bytes(&seen.body));
    assert_eq!(payload_hash, JSON_BODY_SHA256);
    assert_eq!(seen.signature(), signature);
}

#[tokio::test]
async fn an_empty_body_is_not_read() {
    let (recorder, service) = api_gateway_stack();
    let body = Chunks::new(&[]).with_exact_hint();
    let polls = body.polls.clone();
    service
        .oneshot(Request::get(API_URL).body(body).unwrap())
        .await
        .unwrap();
    // The recorder collects the body once (one poll, end of stream); the layer never polled it.
    assert_eq!(polls.load(Ordering::SeqCst), 1);
    let seen = recorder.last();
    let (signature, payload_hash) = recompute_api_gateway(&seen, Payload::Bytes(b""));
    assert_eq!(payload_hash, sigv4_core::EMPTY_SHA256);
    assert_eq!(seen.signature(), signature);
}

// ===== body cap =====

#[tokio::test]
async fn a_content_length_over_the_cap_is_refused_before_reading_and_inner_is_not_called() {
    let clock = ManualClock::new(t0());
    let recorder = Recorder::default();
    let layer = SigV4Layer::builder(session_creds(), "us-east-1", "execute-api")
        .time_source(Arc::new(clock))
        .max_body_size(16)
        .build();
    let service = ServiceBuilder::new()
        .layer(layer)
        .service(recorder.service());
    let body = Chunks::new(&["0123456789", "0123456789"]);
    let polls = body.polls.clone();
    let request = Request::post(API_URL)
        .header("content-length", "20")
        .body(body)
        .unwrap();
    let error = service.oneshot(request).await.unwrap_err();
    match sigv4_error(&error) {
        SigV4Error::BodyTooLarge {
            limit,
            content_length,
        } => {
            assert_eq!(*limit, 16);
            assert_eq!(*content_length, Some(20));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(polls.load(Ordering::SeqCst), 0, "the body was not read");
    assert_eq!(recorder.calls(), 0, "the inner service was not called");
    let message = error.to_string();
    assert!(message.contains("16-byte limit"), "{message}");
    assert!(message.contains("max_body_size"), "{message}");
    assert!(
        message.contains("PayloadPolicy::CallerProvided"),
        "{message}"
    );
}

#[tokio::test]
async fn a_stream_over_the_cap_is_an_error_and_inner_is_not_called() {
    let clock = ManualClock::new(t0());
    let recorder = Recorder::default();
    let layer = SigV4Layer::builder(session_creds(), "us-east-1", "execute-api")
        .time_source(Arc::new(clock))
        .max_body_size(25)
        .build();
    let service = ServiceBuilder::new()
        .layer(layer)
        .service(recorder.service());
    let body = Chunks::new(&["0123456789", "0123456789", "0123456789", "0123456789"]);
    let polls = body.polls.clone();
    let error = service
        .oneshot(Request::post(API_URL).body(body).unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(
            sigv4_error(&error),
            SigV4Error::BodyTooLarge {
                limit: 25,
                content_length: None
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        polls.load(Ordering::SeqCst),
        3,
        "reading stopped at the chunk over the cap"
    );
    assert_eq!(recorder.calls(), 0);
}

#[tokio::test]
async fn a_body_read_error_is_reported_and_inner_is_not_called() {
    let (recorder, service) = api_gateway_stack();
    let body = Chunks::new(&["abc"]).failing();
    let error = service
        .oneshot(Request::post(API_URL).body(body).unwrap())
        .await
        .unwrap_err();
    match sigv4_error(&error) {
        SigV4Error::BodyRead(cause) => assert_eq!(cause.to_string(), "connection reset"),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(recorder.calls(), 0);
}

// ===== payload policies =====

#[tokio::test]
async fn caller_provided_uses_the_header_and_does_not_read_the_body() {
    let clock = ManualClock::new(t0());
    let recorder = Recorder::default();
    let layer = SigV4Layer::builder(session_creds(), "us-east-1", "execute-api")
        .payload_policy(PayloadPolicy::CallerProvided)
        .time_source(Arc::new(clock))
        .build();
    let service = ServiceBuilder::new()
        .layer(layer)
        .service(recorder.service());
    let body = Chunks::new(&["{\"name\":", "\"widget\",", "\"count\":3}"]);
    let request = Request::post(API_URL)
        .header("x-amz-content-sha256", JSON_BODY_SHA256)
        .body(body)
        .unwrap();
    service.oneshot(request).await.unwrap();
    let seen = recorder.last();
    assert_eq!(seen.body, JSON_BODY.as_bytes());
    assert!(seen
        .signed_headers()
        .contains(&"x-amz-content-sha256".to_owned()));
    let (signature, payload_hash) =
        recompute_api_gateway(&seen, Payload::Bytes(JSON_BODY.as_bytes()));
    assert_eq!(payload_hash, JSON_BODY_SHA256);
    assert_eq!(seen.signature(), signature);
}

#[tokio::test]
async fn caller_provided_without_the_header_is_an_error() {
    let recorder = Recorder::default();
    let layer = SigV4Layer::builder(session_creds(), "us-east-1", "execute-api")
        .payload_policy(PayloadPolicy::CallerProvided)
        .build();
    let service = ServiceBuilder::new()
        .layer(layer)
        .service(recorder.service());
    let request = Request::post(API_URL)
        .body(Full::new(Bytes::from("x")))
        .unwrap();
    let error = service.oneshot(request).await.unwrap_err();
    assert!(matches!(
        sigv4_error(&error),
        SigV4Error::MissingPayloadHash
    ));
    assert!(
        error.to_string().contains("x-amz-content-sha256 header"),
        "{error}"
    );
    assert_eq!(recorder.calls(), 0);
}

#[tokio::test]
async fn unsigned_payload_for_s3_sends_the_marker_and_streams_the_body_untouched() {
    let clock = ManualClock::new(t0());
    let recorder = Recorder::default();
    let layer = SigV4Layer::builder(session_creds(), "us-east-1", "s3")
        .settings(SigningSettings::s3())
        .payload_policy(PayloadPolicy::Unsigned)
        .max_body_size(4)
        .time_source(Arc::new(clock))
        .build();
    let service = ServiceBuilder::new()
        .layer(layer)
        .service(recorder.service());
    let body = Chunks::new(&["larger than", " the cap"]);
    let request = Request::put("https://bucket.s3.amazonaws.com/some/key")
        .body(body)
        .unwrap();
    service.oneshot(request).await.unwrap();
    let seen = recorder.last();
    assert_eq!(seen.body, "larger than the cap".as_bytes());
    assert_eq!(
        seen.header("x-amz-content-sha256"),
        Some("UNSIGNED-PAYLOAD")
    );
    let mut headers = seen.parts.headers.clone();
    for name in [
        "authorization",
        "x-amz-date",
        "x-amz-security-token",
        "x-amz-content-sha256",
    ] {
        headers.remove(name);
    }
    let settings = SigningSettings::s3();
    let creds = session_creds();
    let params = SigningParams::new(&creds, "us-east-1", "s3", t0()).with_settings(&settings);
    let (_, inspection) = Signer::new()
        .inspect(
            sigv4_core::RequestHead::new(&seen.parts.method, &seen.parts.uri, &headers),
            Payload::Unsigned,
            &params,
        )
        .unwrap();
    assert_eq!(seen.signature(), inspection.signature);
}

// ===== per-request overrides =====

#[tokio::test]
async fn an_override_signs_for_another_region_and_service() {
    let (recorder, service) = api_gateway_stack();
    let mut request =
        Request::get("https://lambda.eu-central-1.amazonaws.com/2015-03-31/functions")
            .body(Full::new(Bytes::new()))
            .unwrap();
    request.extensions_mut().insert(
        SigningOverride::new()
            .with_region("eu-central-1")
            .with_service("lambda"),
    );
    service.oneshot(request).await.unwrap();
    let seen = recorder.last();
    assert!(seen
        .header("authorization")
        .unwrap()
        .contains("Credential=AKIDEXAMPLE/20150830/eu-central-1/lambda/aws4_request"));
    let (signature, _) = recompute(
        &seen,
        &session_creds(),
        t0(),
        "eu-central-1",
        "lambda",
        Payload::Bytes(b""),
    );
    assert_eq!(seen.signature(), signature);
}

#[tokio::test]
async fn an_override_payload_hash_is_used_as_given() {
    let (recorder, service) = api_gateway_stack();
    let body = Chunks::new(&["{\"name\":", "\"widget\",", "\"count\":3}"]);
    let polls = body.polls.clone();
    let mut request = Request::post(API_URL).body(body).unwrap();
    request
        .extensions_mut()
        .insert(SigningOverride::new().with_payload_hash(JSON_BODY_SHA256));
    service.oneshot(request).await.unwrap();
    let seen = recorder.last();
    // Read only by the recorder: 3 chunks + end.
    assert_eq!(polls.load(Ordering::SeqCst), 4);
    let (signature, _) = recompute_api_gateway(&seen, Payload::Bytes(JSON_BODY.as_bytes()));
    assert_eq!(seen.signature(), signature);
}

#[tokio::test]
async fn skip_signing_passes_the_request_through_untouched() {
    let recorder = Recorder::default();
    let provider = CountingProvider::new(Ok(session_creds()));
    let service = ServiceBuilder::new()
        .layer(SigV4Layer::new(
            provider.clone(),
            "us-east-1",
            "execute-api",
        ))
        .service(recorder.service());
    let mut request = Request::get("https://example.com/health")
        .header("accept", "text/plain")
        .body(Full::new(Bytes::new()))
        .unwrap();
    request.extensions_mut().insert(SkipSigning);
    service.oneshot(request).await.unwrap();
    let seen = recorder.last();
    assert_eq!(seen.parts.headers.len(), 1);
    assert_eq!(seen.header("accept"), Some("text/plain"));
    assert_eq!(provider.calls(), 0, "credentials not even asked for");
}

// ===== tower conventions =====

#[tokio::test]
async fn readiness_comes_from_the_inner_service_and_the_ready_one_is_used() {
    let clock = ManualClock::new(t0());
    let (mut service, mut handle) =
        tower_test::mock::spawn_layer::<Request<SigV4Body<Full<Bytes>>>, Response<()>, _>(
            layer_at(session_creds(), &clock),
        );

    handle.allow(0);
    assert!(
        service.poll_ready().is_pending(),
        "not ready while the inner service is not"
    );
    handle.allow(1);
    assert!(matches!(service.poll_ready(), Poll::Ready(Ok(()))));

    let future = service.call(Request::get(API_URL).body(Full::new(Bytes::new())).unwrap());
    let task = tokio::spawn(future);
    let (request, respond) = handle.next_request().await.expect("inner got the request");
    assert!(request.headers().contains_key("authorization"));
    respond.send_response(Response::new(()));
    task.await.unwrap().unwrap();

    // The budget of one is spent: not ready again until allowed.
    assert!(service.poll_ready().is_pending());
}

#[tokio::test]
async fn an_inner_error_passes_through_unchanged() {
    #[derive(Debug)]
    struct Refused;
    impl std::fmt::Display for Refused {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("connection refused")
        }
    }
    impl std::error::Error for Refused {}

    let service = ServiceBuilder::new()
        .layer(SigV4Layer::new(session_creds(), "us-east-1", "execute-api"))
        .service(service_fn(|_: Request<SigV4Body<Full<Bytes>>>| async {
            Err::<Response<()>, _>(Refused)
        }));
    let error = service
        .oneshot(Request::get(API_URL).body(Full::new(Bytes::new())).unwrap())
        .await
        .unwrap_err();
    assert!(error.downcast_ref::<Refused>().is_some(), "{error:?}");
    assert!(SigV4Error::find(&*error).is_none());
}

#[tokio::test]
async fn a_retry_signs_each_attempt_anew_with_the_current_time() {
    let clock = ManualClock::new(t0());
    let recorder = Recorder::default();
    let mut service = ServiceBuilder::new()
        .layer(layer_at(session_creds(), &clock))
        .service(recorder.service());

    // What a retry layer above does: the same request again, later.
    let template = || {
        Request::post(API_URL)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from_static(JSON_BODY.as_bytes())))
            .unwrap()
    };
    for _attempt in 0..2 {
        service
            .ready()
            .await
            .unwrap()
            .call(template())
            .await
            .unwrap();
        clock.advance(Duration::from_secs(7));
    }

    let seen = recorder.all();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].header("x-amz-date"), Some("20150830T123600Z"));
    assert_eq!(seen[1].header("x-amz-date"), Some("20150830T123607Z"));
    assert_ne!(seen[0].signature(), seen[1].signature());
    for (attempt, time) in seen.iter().zip([t0(), t0() + Duration::from_secs(7)]) {
        let (signature, _) = recompute(
            attempt,
            &session_creds(),
            time,
            "us-east-1",
            "execute-api",
            Payload::Bytes(&attempt.body),
        );
        assert_eq!(attempt.signature(), signature);
    }
}

#[tokio::test]
async fn a_traceparent_added_after_signing_is_not_signed() {
    let clock = ManualClock::new(t0());
    let recorder = Recorder::default();
    let service = ServiceBuilder::new()
        .layer(layer_at(session_creds(), &clock))
        // A tracing layer below the signer.
        .map_request(|mut request: Request<SigV4Body<Full<Bytes>>>| {
            request.headers_mut().insert(
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
                    .parse()
                    .unwrap(),
            );
            request
        })
        .service(recorder.service());
    let request = Request::get(API_URL)
        .header("user-agent", "my-app/1.0")
        .header("accept", "application/json")
        .body(Full::new(Bytes::new()))
        .unwrap();
    service.oneshot(request).await.unwrap();
    let seen = recorder.last();
    assert!(seen.header("traceparent").is_some());
    assert_eq!(
        seen.signed_headers(),
        ["accept", "host", "x-amz-date", "x-amz-security-token"]
    );
    // Recomputed from every header received, traceparent and user-agent included: the same
    // signature, since the signer leaves them out by default.
    let mut headers = seen.parts.headers.clone();
    for name in ["authorization", "x-amz-date", "x-amz-security-token"] {
        headers.remove(name);
    }
    assert!(headers.contains_key("traceparent"));
    let creds = session_creds();
    let params = SigningParams::new(&creds, "us-east-1", "execute-api", t0());
    let (_, inspection) = Signer::new()
        .inspect(
            sigv4_core::RequestHead::new(&seen.parts.method, &seen.parts.uri, &headers),
            Payload::Bytes(b""),
            &params,
        )
        .unwrap();
    assert_eq!(seen.signature(), inspection.signature);
}

// ===== credentials =====

#[tokio::test]
async fn a_credentials_error_surfaces_with_what_to_do_and_inner_is_not_called() {
    let recorder = Recorder::default();
    let provider = CountingProvider::new(Err(()));
    let service = ServiceBuilder::new()
        .layer(SigV4Layer::new(provider, "us-east-1", "execute-api"))
        .service(recorder.service());
    let error = service
        .oneshot(Request::get(API_URL).body(Full::new(Bytes::new())).unwrap())
        .await
        .unwrap_err();
    let sigv4 = sigv4_error(&error);
    assert!(sigv4.is_credentials());
    let SigV4Error::Credentials(inner) = sigv4 else {
        unreachable!()
    };
    assert!(matches!(inner, CredentialsError::NoneFound { .. }));
    let message = error.to_string();
    assert!(
        message.starts_with("could not get AWS credentials to sign the request"),
        "{message}"
    );
    assert!(message.contains("set AWS_ACCESS_KEY_ID"), "{message}");
    assert!(
        message.contains("environment: AWS_ACCESS_KEY_ID is not set"),
        "{message}"
    );
    assert_eq!(recorder.calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn credentials_that_are_not_at_hand_are_waited_for() {
    let clock = ManualClock::new(t0());
    let recorder = Recorder::default();
    let provider = CountingProvider::new(Ok(session_creds())).slow(Duration::from_millis(300));
    let service = ServiceBuilder::new()
        .layer(layer_at(provider.clone(), &clock))
        .service(recorder.service());
    service
        .oneshot(Request::get(API_URL).body(Full::new(Bytes::new())).unwrap())
        .await
        .unwrap();
    let seen = recorder.last();
    let (signature, _) = recompute_api_gateway(&seen, Payload::Bytes(b""));
    assert_eq!(seen.signature(), signature);
    assert_eq!(provider.calls(), 1, "one request, one provider call");
}

#[tokio::test]
async fn a_signing_error_names_the_problem() {
    let recorder = Recorder::default();
    let service = ServiceBuilder::new()
        .layer(SigV4Layer::new(session_creds(), "us east 1", "execute-api"))
        .service(recorder.service());
    let error = service
        .oneshot(Request::get(API_URL).body(Full::new(Bytes::new())).unwrap())
        .await
        .unwrap_err();
    assert!(matches!(sigv4_error(&error), SigV4Error::Signing(_)));
    assert!(error.to_string().contains("region"), "{error}");
    assert_eq!(recorder.calls(), 0);
}

#[test]
fn debug_output_holds_no_secret() {
    let layer = SigV4Layer::builder(session_creds(), "us-east-1", "execute-api").build();
    let service = layer.clone();
    let text = format!("{layer:?} {:?}", tower::Layer::layer(&service, ()));
    assert!(!text.contains(SECRET), "{text}");
    assert!(!text.contains(TOKEN), "{text}");
    assert!(text.contains("execute-api"), "{text}");
}

// ===== the body types it is meant to sit on =====

#[test]
fn it_fits_a_hyper_util_client_and_reqwest_bodies() {
    fn assert_service<S, B>(_: &S)
    where
        S: Service<Request<B>, Error = BoxError> + Clone + Send + 'static,
        S::Future: Send + 'static,
    {
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<SigV4Body<Full<Bytes>>>();
    let layer = SigV4Layer::new(session_creds(), "us-east-1", "execute-api");
    let signed = SigV4Service::new(client, &layer);
    assert_service::<_, Full<Bytes>>(&signed);

    let reqwest_stack = ServiceBuilder::new()
        .layer(SigV4Layer::new(session_creds(), "us-east-1", "execute-api"))
        .service(service_fn(|_: Request<SigV4Body<reqwest::Body>>| async {
            Ok::<_, Infallible>(Response::new(()))
        }));
    assert_service::<_, reqwest::Body>(&reqwest_stack);

    let axum_stack = ServiceBuilder::new()
        .layer(SigV4Layer::new(session_creds(), "us-east-1", "execute-api"))
        .service(service_fn(
            |_: Request<SigV4Body<axum::body::Body>>| async {
                Ok::<_, Infallible>(Response::new(()))
            },
        ));
    assert_service::<_, axum::body::Body>(&axum_stack);
}

/// The whole way over a loopback connection: hyper-util's client under the layer, a hyper server
/// that checks the signature by recomputing it.
#[tokio::test]
async fn over_a_real_connection_with_hyper_util() {
    use hyper_util::rt::{TokioExecutor, TokioIo};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let service = hyper::service::service_fn(|request: Request<hyper::body::Incoming>| async {
            let (parts, body) = request.into_parts();
            let body = body.collect().await?.to_bytes();
            let seen = Seen { parts, body };
            let (signature, _) = recompute_api_gateway(&seen, Payload::Bytes(&seen.body));
            let verdict = if signature == seen.signature() {
                "valid"
            } else {
                "invalid"
            };
            Ok::<_, hyper::Error>(Response::new(Full::new(Bytes::from(format!(
                "{verdict} {}",
                String::from_utf8_lossy(&seen.body)
            )))))
        });
        hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(stream), service)
            .await
            .unwrap();
    });

    let clock = ManualClock::new(t0());
    let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build_http();
    let service = ServiceBuilder::new()
        .layer(layer_at(session_creds(), &clock))
        .service(client);
    let request = Request::post(format!("http://127.0.0.1:{port}/prod/items?limit=10"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(JSON_BODY.as_bytes())))
        .unwrap();
    let response = service.oneshot(request).await.unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, format!("valid {JSON_BODY}"));
    server.abort();
}

// ===== test doubles =====

/// A body of fixed chunks with no size hint (like a stream), counting polls; optionally failing
/// after its chunks.
struct Chunks {
    chunks: Vec<Bytes>,
    polls: Arc<AtomicUsize>,
    exact: bool,
    fail: bool,
}

impl Chunks {
    fn new(chunks: &[&'static str]) -> Self {
        Self {
            chunks: chunks
                .iter()
                .rev()
                .map(|c| Bytes::from_static(c.as_bytes()))
                .collect(),
            polls: Arc::new(AtomicUsize::new(0)),
            exact: false,
            fail: false,
        }
    }

    fn with_exact_hint(mut self) -> Self {
        self.exact = true;
        self
    }

    fn failing(mut self) -> Self {
        self.fail = true;
        self
    }
}

impl From<Bytes> for Chunks {
    fn from(bytes: Bytes) -> Self {
        Self {
            chunks: vec![bytes],
            polls: Arc::new(AtomicUsize::new(0)),
            exact: true,
            fail: false,
        }
    }
}

impl Body for Chunks {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        this.polls.fetch_add(1, Ordering::SeqCst);
        match this.chunks.pop() {
            Some(chunk) => Poll::Ready(Some(Ok(Frame::data(chunk)))),
            None if this.fail => {
                this.fail = false;
                Poll::Ready(Some(Err("connection reset".into())))
            }
            None => Poll::Ready(None),
        }
    }

    fn size_hint(&self) -> SizeHint {
        if self.exact {
            SizeHint::with_exact(self.chunks.iter().map(|c| c.len() as u64).sum())
        } else {
            SizeHint::default()
        }
    }
}

/// A provider that counts calls; fails with `NoneFound` or answers after a (tokio) delay.
#[derive(Debug, Clone)]
struct CountingProvider {
    result: Result<Credentials, ()>,
    calls: Arc<AtomicUsize>,
    delay: Option<Duration>,
}

impl CountingProvider {
    fn new(result: Result<Credentials, ()>) -> Self {
        Self {
            result,
            calls: Arc::new(AtomicUsize::new(0)),
            delay: None,
        }
    }

    fn slow(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn answer(&self) -> Result<Credentials, CredentialsError> {
        self.result
            .clone()
            .map_err(|()| CredentialsError::NoneFound {
                attempts: vec![
                    ("environment".into(), "AWS_ACCESS_KEY_ID is not set".into()),
                    ("imds".into(), "not running on EC2".into()),
                ],
            })
    }
}

impl ProvideCredentials for CountingProvider {
    fn provide_credentials(&self) -> ProvideCredentialsFuture<'_> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        match self.delay {
            None => ProvideCredentialsFuture::ready(self.answer()),
            Some(delay) => ProvideCredentialsFuture::new(async move {
                tokio::time::sleep(delay).await;
                self.answer()
            }),
        }
    }
}

#[test]
fn s3_signing_names_get_s3_rules_by_default() {
    use sigv4_core::ContentSha256Header;
    for service in ["s3", "s3-object-lambda", "s3-outposts", "s3express"] {
        let layer = SigV4Layer::new(Credentials::new("AKID", "SECRET"), "eu-west-1", service);
        let s = layer.settings();
        assert!(!s.normalize_path && !s.double_encode, "{service}");
        assert_eq!(
            s.content_sha256_header,
            ContentSha256Header::Always,
            "{service}"
        );
    }
    for service in ["execute-api", "s3control", "lambda"] {
        let layer = SigV4Layer::new(Credentials::new("AKID", "SECRET"), "eu-west-1", service);
        let s = layer.settings();
        let d = SigningSettings::default();
        assert_eq!(
            (s.normalize_path, s.double_encode),
            (d.normalize_path, d.double_encode)
        );
    }
    // Explicit settings still win.
    let layer = SigV4Layer::builder(Credentials::new("AKID", "SECRET"), "eu-west-1", "s3")
        .settings(SigningSettings::default())
        .build();
    assert!(layer.settings().normalize_path);
}
