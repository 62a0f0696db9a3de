//! A service's answer that the credentials are expired or not valid, seen by the signing layer
//! (and the reqwest middleware): the credentials that signed the refused request are invalidated,
//! so the next request refreshes, exactly once; other answers change nothing; the response
//! reaches the caller unchanged.
//!
//! The inner service is a `tower::service_fn` that answers like API Gateway (no network); the
//! credentials come from a counting source behind the real `CredentialsCache`, on a `ManualClock`
//! and tokio's paused clock.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use sigv4_core::Credentials;
use sigv4_credentials::{
    CredentialsCache, ManualClock, ProvideCredentials, ProvideCredentialsFuture, TimeSource,
};
use tokio::sync::Notify;
use tower::util::BoxCloneService;
use tower::{service_fn, Service, ServiceBuilder, ServiceExt};
use tower_sigv4::SigV4Body;
use tower_sigv4::{BoxError, SigV4Layer, SkipSigning};

const API_URL: &str = "https://abcdef1234.execute-api.us-east-1.amazonaws.com/prod/items";
const HOUR: Duration = Duration::from_secs(3600);
const REFUSAL_BODY: &str = r#"{"message":"The security token included in the request is expired"}"#;

fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

/// Hands out `AKID<n>` on its n-th fetch, valid for an hour from the clock's now.
#[derive(Debug)]
struct Source {
    clock: ManualClock,
    fetches: AtomicUsize,
}

impl Source {
    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

impl ProvideCredentials for Source {
    fn provide_credentials(&self) -> ProvideCredentialsFuture<'_> {
        let n = self.fetches.fetch_add(1, Ordering::SeqCst) + 1;
        ProvideCredentialsFuture::ready(Ok(Credentials::builder(
            format!("AKID{n}"),
            format!("secret-{n}-DO-NOT-LOG"),
        )
        .session_token(format!("token-{n}-DO-NOT-LOG"))
        .expiry(self.clock.now() + HOUR)
        .provider_name("counting")
        .build()))
    }
}

/// A clock at `t0`, the counting source, and the layer over a cache in front of it.
fn setup() -> (ManualClock, Arc<Source>, SigV4Layer) {
    let clock = ManualClock::new(t0());
    let source = Arc::new(Source {
        clock: clock.clone(),
        fetches: AtomicUsize::new(0),
    });
    let cache = CredentialsCache::builder()
        .time_source(Arc::new(clock.clone()))
        .build(Arc::clone(&source));
    let layer = SigV4Layer::builder(cache, "us-east-1", "execute-api")
        .time_source(Arc::new(clock.clone()))
        .build();
    (clock, source, layer)
}

/// The access key id in a request's `Authorization` header.
fn signed_with<B>(request: &Request<B>) -> String {
    key_in(request.headers())
}

/// The access key id in the `Authorization` header among `headers`.
fn key_in(headers: &http::HeaderMap) -> String {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    auth.split("Credential=")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or("(unsigned)")
        .to_owned()
}

/// An API Gateway answer: `status`, `x-amzn-ErrorType: code`, a JSON message.
fn refusal(status: StatusCode, code: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(REFUSAL_BODY.as_bytes())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert("x-amzn-ErrorType", HeaderValue::from_static(code));
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    response
}

fn ok() -> Response<Full<Bytes>> {
    Response::new(Full::new(Bytes::from_static(b"{}")))
}

fn get() -> Request<Full<Bytes>> {
    Request::get(API_URL).body(Full::new(Bytes::new())).unwrap()
}

/// An inner service that refuses requests signed with `refused_key` with `status`/`code`, and
/// records the key of every request.
fn refusing(
    refused_key: &'static str,
    status: StatusCode,
    code: &'static str,
    seen: Arc<Mutex<Vec<String>>>,
) -> impl Service<
    Request<SigV4Body<Full<Bytes>>>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future: Send,
> + Clone {
    service_fn(move |request: Request<SigV4Body<Full<Bytes>>>| {
        let key = signed_with(&request);
        seen.lock().unwrap().push(key.clone());
        let answer = if key == refused_key {
            refusal(status, code)
        } else {
            ok()
        };
        async move { Ok::<_, Infallible>(answer) }
    })
}

/// The signing stack, boxed.
type Stack = BoxCloneService<Request<Full<Bytes>>, Response<Full<Bytes>>, BoxError>;

/// A fresh [`setup`] whose inner service refuses AKID1 with `status`/`code`: the source and the
/// signing stack.
fn stack_refusing_akid1(status: StatusCode, code: &'static str) -> (Arc<Source>, Stack) {
    let (_, source, layer) = setup();
    let service =
        ServiceBuilder::new()
            .layer(layer)
            .service(refusing("AKID1", status, code, Arc::default()));
    (source, BoxCloneService::new(service))
}

#[tokio::test(start_paused = true)]
async fn a_403_expired_token_causes_exactly_one_refresh_before_the_next_request() {
    let (_, source, layer) = setup();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let service = ServiceBuilder::new().layer(layer).service(refusing(
        "AKID1",
        StatusCode::FORBIDDEN,
        "ExpiredToken",
        Arc::clone(&seen),
    ));

    // Refused: the caller gets the answer exactly as the service sent it.
    let response = service.clone().oneshot(get()).await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(response.headers()["x-amzn-ErrorType"], "ExpiredToken");
    assert_eq!(response.headers()["content-type"], "application/json");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, REFUSAL_BODY.as_bytes());
    assert_eq!(
        source.fetches(),
        1,
        "nothing fetched until the next request"
    );

    // The next request is signed with fresh credentials, fetched once.
    let response = service.clone().oneshot(get()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(source.fetches(), 2);
    for _ in 0..10 {
        service.clone().oneshot(get()).await.unwrap();
    }
    assert_eq!(source.fetches(), 2, "then cached again");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen[0], "AKID1");
    assert!(seen[1..].iter().all(|k| k == "AKID2"), "{seen:?}");
}

#[tokio::test(start_paused = true)]
async fn the_other_header_forms_and_codes_are_recognized() {
    for (status, code) in [
        (
            StatusCode::BAD_REQUEST,
            "ExpiredTokenException:http://internal.amazon.com/coral/com.amazon.coral.service/",
        ),
        (StatusCode::FORBIDDEN, "InvalidClientTokenId"),
        (
            StatusCode::BAD_REQUEST,
            "com.amazonaws.dynamodb.v20120810#UnrecognizedClientException",
        ),
        (StatusCode::BAD_REQUEST, "TokenRefreshRequired"),
        (StatusCode::BAD_REQUEST, "InvalidToken"),
        (StatusCode::FORBIDDEN, "InvalidAccessKeyId"),
    ] {
        let (source, service) = stack_refusing_akid1(status, code);
        service.clone().oneshot(get()).await.unwrap();
        service.clone().oneshot(get()).await.unwrap();
        assert_eq!(source.fetches(), 2, "{status} {code}");
    }
}

#[tokio::test(start_paused = true)]
async fn successes_and_other_refusals_do_not_invalidate() {
    for (status, code) in [
        (StatusCode::OK, "ExpiredToken"),
        (StatusCode::FORBIDDEN, "SignatureDoesNotMatch"),
        (StatusCode::FORBIDDEN, "InvalidSignatureException"),
        (StatusCode::FORBIDDEN, "RequestTimeTooSkewed"),
        (StatusCode::BAD_REQUEST, "RequestExpired"),
        (StatusCode::FORBIDDEN, "AccessDenied"),
        (StatusCode::FORBIDDEN, "MissingAuthenticationToken"),
        (StatusCode::INTERNAL_SERVER_ERROR, "ExpiredToken"),
        (StatusCode::UNAUTHORIZED, "ExpiredToken"),
    ] {
        let (source, service) = stack_refusing_akid1(status, code);
        for _ in 0..20 {
            let response = service.clone().oneshot(get()).await.unwrap();
            assert_eq!(response.status(), status);
        }
        assert_eq!(source.fetches(), 1, "{status} {code}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_hundred_requests_refused_at_once_cause_one_refresh() {
    let (source, service) = stack_refusing_akid1(StatusCode::FORBIDDEN, "ExpiredToken");
    service.clone().oneshot(get()).await.unwrap(); // AKID1 loaded, refused, invalidated
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let service = service.clone();
            tokio::spawn(async move { service.oneshot(get()).await.unwrap().status() })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), StatusCode::OK);
    }
    assert_eq!(source.fetches(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_late_refusal_of_credentials_already_replaced_keeps_the_new_ones() {
    let (_, source, layer) = setup();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let release = Arc::new(Notify::new());
    let held = Arc::clone(&release);
    let seen_in = Arc::clone(&seen);
    // Requests marked `x-hold` wait for `release`; every request signed with AKID1 is refused.
    let inner = service_fn(move |request: Request<SigV4Body<Full<Bytes>>>| {
        let key = signed_with(&request);
        seen_in.lock().unwrap().push(key.clone());
        let hold = request.headers().contains_key("x-hold");
        let held = Arc::clone(&held);
        async move {
            if hold {
                held.notified().await;
            }
            Ok::<_, Infallible>(if key == "AKID1" {
                refusal(StatusCode::FORBIDDEN, "ExpiredToken")
            } else {
                ok()
            })
        }
    });
    let service = ServiceBuilder::new().layer(layer).service(inner);

    // A slow request signed with AKID1 is on its way...
    let mut slow = Request::get(API_URL).body(Full::new(Bytes::new())).unwrap();
    slow.headers_mut()
        .insert("x-hold", HeaderValue::from_static("1"));
    let slow = tokio::spawn(service.clone().oneshot(slow));
    tokio::task::yield_now().await;
    // ...meanwhile another AKID1 request is refused, and the next one refreshes to AKID2.
    service.clone().oneshot(get()).await.unwrap();
    assert_eq!(
        service.clone().oneshot(get()).await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(source.fetches(), 2);
    tokio::time::advance(Duration::from_secs(60)).await; // past the 10 s between invalidations

    // The slow one's refusal arrives now: AKID2 stays.
    release.notify_one();
    let late = slow.await.unwrap().unwrap();
    assert_eq!(late.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        service.clone().oneshot(get()).await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(source.fetches(), 2, "the late refusal did not drop AKID2");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.last().map(String::as_str), Some("AKID2"), "{seen:?}");
}

#[tokio::test(start_paused = true)]
async fn an_unsigned_request_refused_does_not_touch_the_credentials() {
    let (_, source, layer) = setup();
    let service = ServiceBuilder::new().layer(layer).service(service_fn(
        |_: Request<SigV4Body<Full<Bytes>>>| async {
            Ok::<_, BoxError>(refusal(StatusCode::FORBIDDEN, "ExpiredToken"))
        },
    ));
    service.clone().oneshot(get()).await.unwrap(); // signed: loads AKID1, refused, invalidated
    assert_eq!(source.fetches(), 1);
    tokio::time::advance(Duration::from_secs(60)).await;
    let mut unsigned = get();
    unsigned.extensions_mut().insert(SkipSigning);
    service.clone().oneshot(unsigned).await.unwrap();
    assert_eq!(
        source.fetches(),
        1,
        "no credentials asked for, none invalidated"
    );
}

#[cfg(feature = "reqwest-middleware")]
mod through_reqwest_middleware {
    use super::*;
    use http::Extensions;
    use reqwest_middleware::{ClientBuilder, Middleware, Next};
    use tower_sigv4::reqwest::SigV4Middleware;

    /// The innermost middleware: answers like API Gateway without sending anything; refuses
    /// requests signed with AKID1.
    #[derive(Clone, Default)]
    struct Answer {
        seen: Arc<Mutex<Vec<String>>>,
    }

    #[async_trait::async_trait]
    impl Middleware for Answer {
        async fn handle(
            &self,
            request: reqwest::Request,
            _extensions: &mut Extensions,
            _next: Next<'_>,
        ) -> reqwest_middleware::Result<reqwest::Response> {
            let key = key_in(request.headers());
            self.seen.lock().unwrap().push(key.clone());
            let mut response = http::Response::new(REFUSAL_BODY);
            if key == "AKID1" {
                *response.status_mut() = StatusCode::BAD_REQUEST;
                response.headers_mut().insert(
                    "x-amzn-ErrorType",
                    HeaderValue::from_static(
                        "ExpiredTokenException:http://internal.amazon.com/coral/com.amazon.coral.service/",
                    ),
                );
            }
            Ok(reqwest::Response::from(response))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_middleware_invalidates_on_expired_token_and_the_next_request_refreshes() {
        let (_, source, layer) = setup();
        let answer = Answer::default();
        let client = ClientBuilder::new(reqwest::Client::new())
            .with(SigV4Middleware::from(layer))
            .with(answer.clone())
            .build();
        let first = client.get(API_URL).send().await.unwrap();
        assert_eq!(first.status(), StatusCode::BAD_REQUEST);
        assert!(first.headers()["x-amzn-ErrorType"]
            .to_str()
            .unwrap()
            .starts_with("ExpiredTokenException:"));
        assert_eq!(first.text().await.unwrap(), REFUSAL_BODY);
        assert_eq!(source.fetches(), 1);
        for _ in 0..5 {
            let next = client.get(API_URL).send().await.unwrap();
            assert_eq!(next.status(), StatusCode::OK);
        }
        assert_eq!(source.fetches(), 2, "exactly one refresh");
        let seen = answer.seen.lock().unwrap().clone();
        assert_eq!(seen, ["AKID1", "AKID2", "AKID2", "AKID2", "AKID2", "AKID2"]);
    }

    #[tokio::test(start_paused = true)]
    async fn the_middleware_leaves_successes_alone() {
        let (_, source, layer) = setup();
        let client = ClientBuilder::new(reqwest::Client::new())
            .with(SigV4Middleware::from(layer))
            .with(Answer::default())
            .build();
        // AKID1 is refused once (invalidated); from then on AKID2 succeeds: no more refreshes.
        for _ in 0..20 {
            client.get(API_URL).send().await.unwrap();
        }
        assert_eq!(source.fetches(), 2);
    }
}
