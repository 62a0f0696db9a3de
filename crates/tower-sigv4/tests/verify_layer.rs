//! `VerifyLayer` as a server sees it: signed requests get through with their identity, everything
//! else is refused with the AWS code a client would get from API Gateway.
//!
//! Requests are signed with the core signer (independent of the client-side layer), and the
//! layer is also checked against requests signed by AWS's own test suite
//! (`tests/fixtures/aws-c-auth`, one test per case).

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Full};
use sigv4_core::verify::Verified;
use sigv4_core::{Credentials, Payload, Signer, SigningParams, SigningSettings};
use sigv4_credentials::ManualClock;
use tower::{service_fn, Layer, ServiceExt};
use tower_sigv4::verify::{
    KeyStore, KeyStoreFuture, Rejection, StaticKeyStore, VerifyBody, VerifyLayer,
    DEFAULT_MAX_BODY_SIZE,
};

const T0: u64 = 1_700_000_000; // 2023-11-14T22:13:20Z
const HOST: &str = "abc123.execute-api.us-east-1.amazonaws.com";
const AKID: &str = "ASIAVERIFYTEST000001";

fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(T0)
}

fn creds() -> Credentials {
    Credentials::builder(AKID, "verify-test-secret")
        .session_token("verify-test-session-token")
        .build()
}

/// What the handler behind the layer saw.
#[derive(Debug, Clone)]
struct Seen {
    verified: Option<Verified>,
    body: Bytes,
    headers: HeaderMap,
}

/// What the client got back.
#[derive(Debug)]
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    rejection: Option<Rejection>,
}

impl Reply {
    fn code(&self) -> &str {
        self.headers
            .get("x-amzn-ErrorType")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn message(&self) -> String {
        let json: serde_json::Value = serde_json::from_slice(&self.body).expect("JSON body");
        json["message"].as_str().expect("message").to_owned()
    }

    #[track_caller]
    fn assert_refused(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "{self:?}");
        assert_eq!(self.code(), code, "{self:?}");
        assert_eq!(self.headers["content-type"], "application/json");
        let rejection = self
            .rejection
            .as_ref()
            .expect("Rejection in the response extensions");
        assert_eq!(rejection.code(), code);
    }
}

struct Harness {
    clock: ManualClock,
    layer: VerifyLayer,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Harness {
    fn new() -> Self {
        Self::with_store(StaticKeyStore::new().with(creds()))
    }

    fn with_store(store: impl KeyStore + 'static) -> Self {
        let clock = ManualClock::new(t0());
        let layer = VerifyLayer::new(store).time_source(Arc::new(clock.clone()));
        Self {
            clock,
            layer,
            seen: Arc::default(),
        }
    }

    fn configure(mut self, f: impl FnOnce(VerifyLayer) -> VerifyLayer) -> Self {
        self.layer = f(self.layer);
        self
    }

    /// Sends through `VerifyLayer` in front of a handler that records what it saw and echoes
    /// the body.
    async fn send<B>(&self, request: Request<B>) -> Reply
    where
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<tower::BoxError>,
    {
        let seen = self.seen.clone();
        let handler = service_fn(move |request: Request<VerifyBody>| {
            let seen = seen.clone();
            async move {
                let verified = request.extensions().get::<Verified>().cloned();
                let headers = request.headers().clone();
                let body = request
                    .into_body()
                    .collect()
                    .await
                    .expect("a buffered body")
                    .to_bytes();
                seen.lock().unwrap().push(Seen {
                    verified,
                    body: body.clone(),
                    headers,
                });
                Ok::<_, Infallible>(Response::new(Full::new(body)))
            }
        });
        let response = self.layer.layer(handler).oneshot(request).await.unwrap();
        let rejection = response.extensions().get::<Rejection>().cloned();
        let (parts, body) = response.into_parts();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body: body.collect().await.unwrap().to_bytes(),
            rejection,
        }
    }

    fn calls(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    fn last_seen(&self) -> Seen {
        self.seen
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("the handler was called")
    }
}

fn post(body: &'static str) -> Request<Full<Bytes>> {
    Request::post("/prod/items?debug=1")
        .header("host", HOST)
        .header("content-type", "application/json")
        .body(Full::from(body))
        .unwrap()
}

fn sign_with(
    mut request: Request<Full<Bytes>>,
    body: &[u8],
    creds: &Credentials,
    at: SystemTime,
    settings: &SigningSettings,
) -> Request<Full<Bytes>> {
    let params = SigningParams::new(creds, "us-east-1", "execute-api", at).with_settings(settings);
    Signer::new()
        .sign_request(&mut request, Payload::Bytes(body), &params)
        .unwrap();
    request
}

fn signed_post(body: &'static str) -> Request<Full<Bytes>> {
    sign_with(
        post(body),
        body.as_bytes(),
        &creds(),
        t0(),
        &SigningSettings::default(),
    )
}

/// `post("{}")` signed with `creds` at `at`, default settings.
fn signed_empty_post(creds: &Credentials, at: SystemTime) -> Request<Full<Bytes>> {
    sign_with(post("{}"), b"{}", creds, at, &SigningSettings::default())
}

// ===== accepted =====

#[tokio::test]
async fn accepts_a_header_signed_request_and_passes_the_body_on() {
    let h = Harness::new();
    let reply = h.send(signed_post(r#"{"name":"widget"}"#)).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.body, r#"{"name":"widget"}"#);
    let seen = h.last_seen();
    assert_eq!(seen.body, r#"{"name":"widget"}"#);
    assert_eq!(seen.headers["content-type"], "application/json");
    assert!(seen.headers.contains_key("authorization"));
}

#[tokio::test]
async fn the_handler_sees_the_verified_identity() {
    let h = Harness::new();
    let reply = h.send(signed_post("{}")).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let verified = h.last_seen().verified.expect("Verified extension");
    assert_eq!(verified.access_key_id(), AKID);
    assert_eq!(verified.region(), "us-east-1");
    assert_eq!(verified.service(), "execute-api");
    assert_eq!(verified.signed_at.as_str(), "20231114T221320Z");
    assert!(!verified.presigned);
    assert!(verified.session_token);
}

#[tokio::test]
async fn accepts_a_presigned_url_until_it_expires() {
    let h = Harness::new();
    let request = Request::get("/prod/items?id=7")
        .header("host", HOST)
        .body(Full::default())
        .unwrap();
    let request = sign_with(
        request,
        b"",
        &creds(),
        t0(),
        &SigningSettings::presigned(Duration::from_secs(60)),
    );
    assert!(request.uri().query().unwrap().contains("X-Amz-Signature="));
    assert!(!request.headers().contains_key("authorization"));

    h.clock.advance(Duration::from_secs(60));
    let reply = h.send(clone_request(&request)).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let verified = h.last_seen().verified.unwrap();
    assert!(verified.presigned);
    assert_eq!(verified.access_key_id(), AKID);

    h.clock.advance(Duration::from_secs(1));
    let reply = h.send(request).await;
    reply.assert_refused(403, "InvalidSignatureException");
    assert!(
        reply.message().starts_with("Signature expired"),
        "{}",
        reply.message()
    );
}

#[tokio::test]
async fn a_header_added_after_signing_and_not_signed_is_fine() {
    let h = Harness::new();
    let mut request = signed_post("{}");
    request.headers_mut().insert(
        "traceparent",
        HeaderValue::from_static("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
    );
    request
        .headers_mut()
        .insert("user-agent", HeaderValue::from_static("proxy/1.0"));
    let reply = h.send(request).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
}

#[tokio::test]
async fn within_the_skew_window_both_ways() {
    let h = Harness::new();
    h.clock.set(t0() + Duration::from_secs(299));
    assert_eq!(h.send(signed_post("{}")).await.status, StatusCode::OK);
    h.clock.set(t0() - Duration::from_secs(299));
    assert_eq!(h.send(signed_post("{}")).await.status, StatusCode::OK);
}

// ===== refused =====

#[tokio::test]
async fn missing_authentication_is_refused_like_api_gateway() {
    let h = Harness::new();
    let reply = h.send(post("{}")).await;
    reply.assert_refused(403, "MissingAuthenticationToken");
    assert_eq!(reply.body, r#"{"message":"Missing Authentication Token"}"#);
    assert_eq!(h.calls(), 0);
}

#[tokio::test]
async fn a_tampered_body_is_refused() {
    let h = Harness::new();
    let mut request = signed_post(r#"{"amount":1}"#);
    *request.body_mut() = Full::from(r#"{"amount":9}"#);
    let reply = h.send(request).await;
    reply.assert_refused(403, "SignatureDoesNotMatch");
    assert!(reply
        .message()
        .starts_with("The request signature we calculated does not match"));
    assert_eq!(h.calls(), 0);
}

#[tokio::test]
async fn a_tampered_signed_header_is_refused() {
    let h = Harness::new();
    let mut request = signed_post("{}");
    request
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("text/plain"));
    h.send(request)
        .await
        .assert_refused(403, "SignatureDoesNotMatch");

    let mut request = signed_post("{}");
    *request.uri_mut() = "/prod/items?debug=2".parse().unwrap();
    h.send(request)
        .await
        .assert_refused(403, "SignatureDoesNotMatch");
    assert_eq!(h.calls(), 0);
}

#[tokio::test]
async fn a_wrong_secret_is_refused() {
    let h = Harness::new();
    let wrong = Credentials::builder(AKID, "not-the-secret")
        .session_token("verify-test-session-token")
        .build();
    let request = sign_with(post("{}"), b"{}", &wrong, t0(), &SigningSettings::default());
    h.send(request)
        .await
        .assert_refused(403, "SignatureDoesNotMatch");
}

#[tokio::test]
async fn an_unknown_key_is_refused() {
    let h = Harness::new();
    let stranger = Credentials::new("AKIDUNKNOWN000000000", "whatever");
    let request = signed_empty_post(&stranger, t0());
    let reply = h.send(request).await;
    reply.assert_refused(403, "InvalidClientTokenId");
    assert_eq!(
        reply.message(),
        "The security token included in the request is invalid."
    );
    assert_eq!(
        reply.rejection.unwrap().access_key_id(),
        Some("AKIDUNKNOWN000000000")
    );
}

#[tokio::test]
async fn a_wrong_or_missing_session_token_is_refused() {
    let h = Harness::new();
    let other_token = Credentials::builder(AKID, "verify-test-secret")
        .session_token("stolen-or-stale-token")
        .build();
    let request = signed_empty_post(&other_token, t0());
    h.send(request)
        .await
        .assert_refused(403, "InvalidClientTokenId");

    let no_token = Credentials::new(AKID, "verify-test-secret");
    let request = signed_empty_post(&no_token, t0());
    h.send(request)
        .await
        .assert_refused(403, "InvalidClientTokenId");
}

#[tokio::test]
async fn an_old_signature_is_refused_as_expired() {
    let h = Harness::new();
    let request = signed_post("{}");
    h.clock.advance(Duration::from_secs(301));
    let reply = h.send(request).await;
    reply.assert_refused(403, "InvalidSignatureException");
    assert!(
        reply.message().starts_with("Signature expired"),
        "{}",
        reply.message()
    );

    // And one dated too far in the future.
    h.clock.set(t0() - Duration::from_secs(301));
    h.send(signed_post("{}"))
        .await
        .assert_refused(403, "InvalidSignatureException");
    assert_eq!(h.calls(), 0);
}

#[tokio::test]
async fn the_skew_window_is_configurable() {
    let h = Harness::new().configure(|l| l.max_skew(Duration::from_secs(30)));
    let request = signed_post("{}");
    h.clock.advance(Duration::from_secs(31));
    h.send(request)
        .await
        .assert_refused(403, "InvalidSignatureException");
}

#[tokio::test]
async fn expired_credentials_in_the_store_are_refused() {
    let expiring = Credentials::builder(AKID, "verify-test-secret")
        .session_token("verify-test-session-token")
        .expiry(t0() + Duration::from_secs(10))
        .build();
    let h = Harness::with_store(StaticKeyStore::new().with(expiring));
    assert_eq!(h.send(signed_post("{}")).await.status, StatusCode::OK);
    let request = signed_empty_post(&creds(), t0() + Duration::from_secs(20));
    h.clock.advance(Duration::from_secs(20));
    let reply = h.send(request).await;
    reply.assert_refused(403, "ExpiredToken");
    assert_eq!(
        reply.message(),
        "The security token included in the request is expired"
    );
}

#[tokio::test]
async fn an_incomplete_authorization_is_refused() {
    let h = Harness::new();
    let mut request = post("{}");
    request.headers_mut().insert(
        "authorization",
        HeaderValue::from_static(
            "AWS4-HMAC-SHA256 Credential=ASIAVERIFYTEST000001/20231114/us-east-1/execute-api/aws4_request, SignedHeaders=host;x-amz-date",
        ),
    );
    request
        .headers_mut()
        .insert("x-amz-date", HeaderValue::from_static("20231114T221320Z"));
    let reply = h.send(request).await;
    reply.assert_refused(403, "IncompleteSignature");
    assert_eq!(
        reply.message(),
        "Authorization header requires 'Signature' parameter."
    );
}

#[tokio::test]
async fn the_scope_can_be_pinned_to_a_region_and_service() {
    let h = Harness::new().configure(|l| l.region("eu-west-1").service("execute-api"));
    let reply = h.send(signed_post("{}")).await;
    reply.assert_refused(403, "InvalidSignatureException");
    assert!(reply.message().contains("eu-west-1"), "{}", reply.message());

    let h = Harness::new().configure(|l| l.region("us-east-1").service("execute-api"));
    assert_eq!(h.send(signed_post("{}")).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_key_store_failure_is_an_internal_error_without_details() {
    #[derive(Debug)]
    struct Broken;
    impl KeyStore for Broken {
        fn lookup<'a>(&'a self, _: &'a str, _: Option<&'a str>) -> KeyStoreFuture<'a> {
            Box::pin(async { Err("database password is hunter2".into()) })
        }
    }
    let h = Harness::with_store(Broken);
    let reply = h.send(signed_post("{}")).await;
    reply.assert_refused(500, "InternalFailure");
    assert_eq!(reply.body, r#"{"message":"Internal server error"}"#);
}

// ===== the body =====

/// A body that records whether anyone read it.
struct Tripwire {
    read: Arc<AtomicBool>,
    declared: u64,
}

impl Body for Tripwire {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.read.store(true, Ordering::SeqCst);
        Poll::Ready(None)
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.declared)
    }
}

/// A body of `chunks` chunks of 1 MiB, length unknown in advance.
struct Chunks {
    left: usize,
}

impl Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        self.left -= 1;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![b'x'; 1 << 20])))))
    }
}

#[tokio::test]
async fn an_oversize_content_length_is_refused_before_reading() {
    let h = Harness::new();
    let read = Arc::new(AtomicBool::new(false));
    let too_big = DEFAULT_MAX_BODY_SIZE as u64 + 1;
    // Signed, so the refusal cannot come from the signature check.
    let head = signed_post("{}");
    let (mut parts, _) = head.into_parts();
    parts
        .headers
        .insert("content-length", HeaderValue::from(too_big));
    let request = Request::from_parts(
        parts,
        Tripwire {
            read: read.clone(),
            declared: too_big,
        },
    );
    let reply = h.send(request).await;
    reply.assert_refused(413, "RequestEntityTooLarge");
    assert!(
        reply.message().contains("10485760 bytes"),
        "{}",
        reply.message()
    );
    assert!(!read.load(Ordering::SeqCst), "the body was read");
}

#[tokio::test]
async fn a_streamed_body_over_the_limit_is_refused() {
    let h = Harness::new().configure(|l| l.max_body_size(2 << 20));
    let head = signed_post("{}");
    let (parts, _) = head.into_parts();
    let reply = h.send(Request::from_parts(parts, Chunks { left: 3 })).await;
    reply.assert_refused(413, "RequestEntityTooLarge");
    assert_eq!(h.calls(), 0);

    // Exactly at the limit is fine (and then the signature decides).
    let (parts, _) = signed_post("{}").into_parts();
    let reply = h.send(Request::from_parts(parts, Chunks { left: 2 })).await;
    reply.assert_refused(403, "SignatureDoesNotMatch");
}

#[tokio::test]
async fn a_signed_content_sha256_is_used_after_checking_the_body() {
    let h = Harness::new();
    let body = r#"{"k":"v"}"#;
    let sha = sigv4_core::sha256_hex(body.as_bytes());
    let mut request = post(body);
    request
        .headers_mut()
        .insert("x-amz-content-sha256", HeaderValue::from_str(&sha).unwrap());
    let mut settings = SigningSettings::default();
    settings.content_sha256_header = sigv4_core::ContentSha256Header::Never;
    let creds = creds();
    let params =
        SigningParams::new(&creds, "us-east-1", "execute-api", t0()).with_settings(&settings);
    Signer::new()
        .sign_request(&mut request, Payload::Precomputed(&sha), &params)
        .unwrap();
    assert!(request.headers()["authorization"]
        .to_str()
        .unwrap()
        .contains("x-amz-content-sha256"));
    assert_eq!(h.send(clone_request(&request)).await.status, StatusCode::OK);

    *request.body_mut() = Full::from(r#"{"k":"w"}"#);
    h.send(request)
        .await
        .assert_refused(400, "XAmzContentSHA256Mismatch");
}

#[tokio::test]
async fn unsigned_payload_is_refused_unless_allowed() {
    let unsigned = || {
        let creds = creds();
        let params = SigningParams::new(&creds, "us-east-1", "execute-api", t0());
        let mut request = post("anything");
        Signer::new()
            .sign_request(&mut request, Payload::Unsigned, &params)
            .unwrap();
        assert_eq!(
            request.headers()["x-amz-content-sha256"],
            "UNSIGNED-PAYLOAD"
        );
        request
    };
    let h = Harness::new();
    let reply = h.send(unsigned()).await;
    reply.assert_refused(403, "SignatureDoesNotMatch");
    assert!(
        reply.message().contains("UNSIGNED-PAYLOAD"),
        "{}",
        reply.message()
    );

    let h = Harness::new().configure(|l| l.allow_unsigned_payload(true));
    let reply = h.send(unsigned()).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(h.last_seen().body, "anything");
}

fn clone_request(request: &Request<Full<Bytes>>) -> Request<Full<Bytes>> {
    let mut copy = Request::new(request.body().clone());
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.headers_mut() = request.headers().clone();
    copy
}

// ===== AWS's test suite: requests signed by someone else =====

/// 2015-08-30T12:36:00Z, the suite's time.
const SUITE_TIME: u64 = 1_440_938_160;

fn fixture(case: &str, file: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/aws-c-auth/{case}/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Parses a `*-signed-request.txt` file the way an HTTP server would (values trimmed).
fn parse_request(text: &str) -> Request<Full<Bytes>> {
    let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
    let mut lines = head.lines();
    let mut request_line = lines.next().unwrap().split(' ');
    let method = request_line.next().unwrap();
    let target = request_line.next().unwrap();
    let mut builder = Request::builder().method(method).uri(target);
    for line in lines {
        let (name, value) = line.split_once(':').unwrap();
        builder = builder.header(name, value.trim());
    }
    builder.body(Full::from(body.to_owned())).unwrap()
}

fn suite_credentials(case: &str) -> (Credentials, bool) {
    let context: serde_json::Value = serde_json::from_str(&fixture(case, "context.json")).unwrap();
    let c = &context["credentials"];
    let mut builder = Credentials::builder(
        c["access_key_id"].as_str().unwrap(),
        c["secret_access_key"].as_str().unwrap(),
    );
    if let Some(token) = c["token"].as_str() {
        builder = builder.session_token(token);
    }
    (
        builder.build(),
        context["normalize"].as_bool().unwrap_or(true),
    )
}

async fn run_suite_case(case: &str, file: &str) {
    let (credentials, normalize) = suite_credentials(case);
    let mut signing = SigningSettings::default();
    signing.normalize_path = normalize;
    let h = Harness::with_store(StaticKeyStore::new().with(credentials))
        .configure(|l| l.signing_settings(signing));
    h.clock.set(UNIX_EPOCH + Duration::from_secs(SUITE_TIME));
    let text = fixture(case, file);

    let reply = h.send(parse_request(&text)).await;
    assert_eq!(reply.status, StatusCode::OK, "{case}/{file}: {reply:?}");
    let verified = h.last_seen().verified.unwrap();
    assert_eq!(verified.access_key_id(), "AKIDEXAMPLE", "{case}/{file}");
    assert_eq!(
        verified.presigned,
        file.starts_with("query"),
        "{case}/{file}"
    );

    // One changed digit of the signature.
    let at = text.find("Signature=").unwrap() + "Signature=".len();
    let mut tampered = text.clone();
    let flipped = if &text[at..at + 1] == "0" { "1" } else { "0" };
    tampered.replace_range(at..at + 1, flipped);
    h.send(parse_request(&tampered))
        .await
        .assert_refused(403, "SignatureDoesNotMatch");
}

macro_rules! suite {
    ($($name:ident => $case:literal $(, header_only: $why:literal)?;)*) => {
        mod aws_suite {
            $(
                mod $name {
                    #[tokio::test]
                    async fn header() {
                        super::super::run_suite_case($case, "header-signed-request.txt").await;
                    }
                    suite!(@presigned $case $(, $why)?);
                }
            )*
        }
    };
    (@presigned $case:literal) => {
        #[tokio::test]
        async fn presigned() {
            super::super::run_suite_case($case, "query-signed-request.txt").await;
        }
    };
    (@presigned $case:literal, $why:literal) => {};
}

suite! {
    get_header_key_duplicate => "get-header-key-duplicate";
    get_header_value_order => "get-header-value-order";
    get_header_value_trim => "get-header-value-trim";
    get_relative_normalized => "get-relative-normalized";
    get_relative_relative_normalized => "get-relative-relative-normalized";
    get_relative_relative_unnormalized => "get-relative-relative-unnormalized";
    get_relative_unnormalized => "get-relative-unnormalized";
    get_slash_dot_slash_normalized => "get-slash-dot-slash-normalized";
    get_slash_dot_slash_unnormalized => "get-slash-dot-slash-unnormalized";
    get_slash_normalized => "get-slash-normalized";
    get_slash_pointless_dot_normalized => "get-slash-pointless-dot-normalized";
    get_slash_pointless_dot_unnormalized => "get-slash-pointless-dot-unnormalized";
    get_slash_unnormalized => "get-slash-unnormalized";
    get_slashes_normalized => "get-slashes-normalized";
    get_slashes_unnormalized => "get-slashes-unnormalized";
    get_unreserved => "get-unreserved";
    get_vanilla => "get-vanilla";
    get_vanilla_empty_query_key => "get-vanilla-empty-query-key";
    get_vanilla_query => "get-vanilla-query";
    get_vanilla_query_order_encoded => "get-vanilla-query-order-encoded";
    get_vanilla_query_order_key_case => "get-vanilla-query-order-key-case";
    get_vanilla_query_unreserved => "get-vanilla-query-unreserved";
    get_vanilla_with_session_token => "get-vanilla-with-session-token";
    post_header_key_case => "post-header-key-case";
    post_header_key_sort => "post-header-key-sort";
    post_header_value_case => "post-header-value-case";
    // The presigned variant appends X-Amz-Security-Token after signing (outside the canonical
    // query); verification accepts the token both signed and appended.
    post_sts_header_after => "post-sts-header-after";
    post_sts_header_before => "post-sts-header-before";
    post_vanilla => "post-vanilla";
    post_vanilla_empty_query_value => "post-vanilla-empty-query-value";
    post_vanilla_query => "post-vanilla-query";
    post_x_www_form_urlencoded => "post-x-www-form-urlencoded";
    post_x_www_form_urlencoded_parameters => "post-x-www-form-urlencoded-parameters";
}

// ===== on real servers =====

#[tokio::test]
async fn on_a_plain_hyper_server() {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::service::TowerToHyperService;

    let clock = ManualClock::new(t0());
    let creds = Credentials::new("AKIDHYPERSERVER00001", "hyper-secret");
    let service = tower::ServiceBuilder::new()
        .layer(
            VerifyLayer::new(StaticKeyStore::new().with(creds.clone()))
                .time_source(Arc::new(clock.clone())),
        )
        .service(service_fn(|request: Request<VerifyBody>| async move {
            let who = request
                .extensions()
                .get::<Verified>()
                .map(|v| v.access_key_id().to_owned());
            let body = request
                .into_body()
                .collect()
                .await
                .expect("a buffered body")
                .to_bytes();
            let text = format!(
                "{} {}",
                who.unwrap_or_default(),
                String::from_utf8_lossy(&body)
            );
            Ok::<_, Infallible>(Response::new(Full::<Bytes>::from(text)))
        }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let service = TowerToHyperService::new(service.clone());
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    });

    let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let mut request = Request::put(format!("http://{addr}/things/1"))
        .body(Full::from("hello"))
        .unwrap();
    let params = SigningParams::new(&creds, "us-east-1", "execute-api", t0());
    Signer::new()
        .sign_request(&mut request, Payload::Bytes(b"hello"), &params)
        .unwrap();
    let response = client.request(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "AKIDHYPERSERVER00001 hello");

    let response = client
        .request(
            Request::get(format!("http://{addr}/things/1"))
                .body(Full::default())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        response.headers()["x-amzn-errortype"],
        "MissingAuthenticationToken"
    );
    server.abort();
}

#[tokio::test]
async fn as_an_axum_route_layer() {
    use axum::{Extension, Router};

    let clock = ManualClock::new(t0());
    let app = Router::new()
        .route(
            "/prod/items",
            axum::routing::post(
                |Extension(who): Extension<Verified>, body: String| async move {
                    format!("{} {}", who.access_key_id(), body)
                },
            ),
        )
        .route_layer(
            VerifyLayer::new(StaticKeyStore::new().with(creds())).time_source(Arc::new(clock)),
        );

    let response = app
        .clone()
        .oneshot(signed_post(r#"{"a":1}"#))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, format!(r#"{AKID} {{"a":1}}"#));

    let response = app.oneshot(post("{}")).await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        response.headers()["x-amzn-errortype"],
        "MissingAuthenticationToken"
    );
}
