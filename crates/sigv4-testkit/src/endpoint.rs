//! An API-Gateway-like endpoint on loopback that checks SigV4 signatures for real.
//!
//! [`Endpoint`] is an HTTP/1.1 server on `127.0.0.1` (a port the OS picks) built on
//! [`tower_sigv4::VerifyLayer`]. Every request, whatever its method and path, is verified; then
//!
//! - an accepted request is answered `200` with a small JSON echo:
//!   `{"method":"POST","path":"/prod/items","access_key_id":"ASIA…","presigned":false,"body_bytes":17}`;
//! - a refused request gets what API Gateway answers: `403` (or `413`, `400`, `500`),
//!   `x-amzn-ErrorType: <code>` and `{"message":"…"}` (see
//!   [`Rejection`] for the codes); a `SignatureDoesNotMatch` message holds, as API Gateway's does,
//!   the canonical string and string to sign the endpoint expected.
//!
//! The endpoint counts and logs both ([`Endpoint::accepted`], [`Endpoint::rejected`],
//! [`Endpoint::accepted_requests`], [`Endpoint::rejections`]).
//!
//! # Keys
//!
//! The secrets come from a [`KeyStore`]: give one with [`EndpointBuilder::key_store`] (e.g. a
//! [`StaticKeyStore`]), or follow an [`ImdsEmulator`](crate::imds::ImdsEmulator)'s rotating
//! credentials with [`EndpointBuilder::imds`]: every generation the emulator issued is accepted
//! until it expires, with its own session token, just as AWS accepts the credentials an instance
//! role hands out. Without a key store every signed request is refused (`InvalidClientTokenId`).
//!
//! # Example
//!
//! ```
//! use std::time::SystemTime;
//!
//! use bytes::Bytes;
//! use http::{Request, StatusCode};
//! use http_body_util::{BodyExt, Full};
//! use hyper_util::client::legacy::Client;
//! use hyper_util::rt::TokioExecutor;
//! use sigv4_core::{Payload, Signer, SigningParams};
//! use sigv4_testkit::endpoint::Endpoint;
//! use sigv4_testkit::imds::ImdsEmulator;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let imds = ImdsEmulator::start().await;
//! let api = Endpoint::builder().imds(&imds).start().await; // us-east-1 / execute-api
//!
//! // Sign with what the instance role hands out now.
//! let creds = imds.current_credentials();
//! let mut request = Request::post(format!("{}/prod/items", api.url()))
//!     .body(Full::<Bytes>::from("{}"))
//!     .unwrap();
//! let params = SigningParams::new(&creds, api.region(), api.service(), SystemTime::now());
//! Signer::new().sign_request(&mut request, Payload::Bytes(b"{}"), &params).unwrap();
//!
//! let client = Client::builder(TokioExecutor::new()).build_http();
//! let response = client.request(request).await.unwrap();
//! assert_eq!(response.status(), StatusCode::OK);
//! let echo: serde_json::Value =
//!     serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
//! assert_eq!(echo["access_key_id"], creds.access_key_id());
//!
//! // Unsigned: refused, and logged with its code.
//! let response = client
//!     .request(Request::get(format!("{}/prod/items", api.url())).body(Full::default()).unwrap())
//!     .await
//!     .unwrap();
//! assert_eq!(response.status(), StatusCode::FORBIDDEN);
//! assert_eq!((api.accepted(), api.rejected()), (1, 1));
//! assert_eq!(api.rejections()[0].code, "MissingAuthenticationToken");
//! # }
//! ```
//!
//! The endpoint shuts down when the [`Endpoint`] is dropped: it stops accepting and closes every
//! open connection.

use std::convert::Infallible;
use std::fmt;
use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use sigv4_core::SharedTimeSource;
use tower_service::Service;
use tower_sigv4::verify::{
    KeyStore, KeyStoreFuture, Rejection, Verified, Verify, VerifyBody, VerifyLayer,
};
use tower_sigv4::StaticKeyStore;

use crate::imds::ImdsHandle;
use crate::server::Server;

/// The region an [`Endpoint`] expects by default.
pub const DEFAULT_REGION: &str = "us-east-1";
/// The service an [`Endpoint`] expects by default.
pub const DEFAULT_SERVICE: &str = "execute-api";

/// A verifying server follows the emulator's credentials: every generation issued so far, each
/// with its own session token and expiry.
impl KeyStore for ImdsHandle {
    fn lookup<'a>(
        &'a self,
        access_key_id: &'a str,
        _session_token: Option<&'a str>,
    ) -> KeyStoreFuture<'a> {
        Box::pin(std::future::ready(Ok(ImdsHandle::lookup(
            self,
            access_key_id,
        ))))
    }
}

/// A request the endpoint accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AcceptedRequest {
    /// The request method.
    pub method: Method,
    /// The request path (without the query).
    pub path: String,
    /// The access key id that signed it.
    pub access_key_id: String,
    /// True for a presigned URL.
    pub presigned: bool,
    /// The body's length.
    pub body_bytes: u64,
}

/// A request the endpoint refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RejectedRequest {
    /// The request method.
    pub method: Method,
    /// The request path (without the query).
    pub path: String,
    /// The status answered (403 for signature problems).
    pub status: StatusCode,
    /// The AWS error code answered (`SignatureDoesNotMatch`, `MissingAuthenticationToken`, ...).
    pub code: &'static str,
    /// The message answered.
    pub message: String,
    /// The access key id the request claimed, when it got that far.
    pub access_key_id: Option<String>,
}

#[derive(Default)]
struct Log {
    accepted: AtomicU64,
    rejected: AtomicU64,
    accepted_log: Mutex<Vec<AcceptedRequest>>,
    rejected_log: Mutex<Vec<RejectedRequest>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Configures an [`Endpoint`]; from [`Endpoint::builder`].
pub struct EndpointBuilder {
    key_store: Option<Arc<dyn KeyStore>>,
    region: String,
    service: String,
    time_source: Option<SharedTimeSource>,
    max_skew: Option<Duration>,
    max_body_size: Option<usize>,
    allow_unsigned_payload: bool,
}

impl fmt::Debug for EndpointBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EndpointBuilder")
            .field("key_store", &self.key_store)
            .field("region", &self.region)
            .field("service", &self.service)
            .field("time_source", &self.time_source)
            .field("max_skew", &self.max_skew)
            .field("max_body_size", &self.max_body_size)
            .field("allow_unsigned_payload", &self.allow_unsigned_payload)
            .finish()
    }
}

impl Default for EndpointBuilder {
    fn default() -> Self {
        Self {
            key_store: None,
            region: DEFAULT_REGION.to_owned(),
            service: DEFAULT_SERVICE.to_owned(),
            time_source: None,
            max_skew: None,
            max_body_size: None,
            allow_unsigned_payload: false,
        }
    }
}

impl EndpointBuilder {
    /// Where the secrets come from (replaces any earlier key store or [`imds`](Self::imds)).
    pub fn key_store(mut self, key_store: impl KeyStore + 'static) -> Self {
        self.key_store = Some(Arc::new(key_store));
        self
    }

    /// Accepts the credentials an IMDS emulator issues (every generation, until it expires).
    /// Takes an [`ImdsEmulator`](crate::imds::ImdsEmulator) (through `Deref`) or an
    /// [`ImdsHandle`].
    pub fn imds(self, imds: &ImdsHandle) -> Self {
        self.key_store(imds.clone())
    }

    /// Accepts the credentials an STS emulator issued (each until it expires). Takes an
    /// [`StsEmulator`](crate::sts::StsEmulator) (through `Deref`) or an
    /// [`StsHandle`](crate::sts::StsHandle). Replaces any earlier key store.
    pub fn sts(self, sts: &crate::sts::StsHandle) -> Self {
        self.key_store(sts.clone())
    }

    /// The region signatures must be scoped to (default [`DEFAULT_REGION`]).
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = region.into();
        self
    }

    /// The service signatures must be scoped to (default [`DEFAULT_SERVICE`]).
    pub fn service(mut self, service: impl Into<String>) -> Self {
        self.service = service.into();
        self
    }

    /// The server's clock (default: the system clock). Give the IMDS emulator the same one.
    pub fn time_source(mut self, time_source: SharedTimeSource) -> Self {
        self.time_source = Some(time_source);
        self
    }

    /// The allowed clock skew (default 5 minutes).
    pub fn max_skew(mut self, max_skew: Duration) -> Self {
        self.max_skew = Some(max_skew);
        self
    }

    /// The body limit (default 10 MiB, as API Gateway).
    pub fn max_body_size(mut self, max: usize) -> Self {
        self.max_body_size = Some(max);
        self
    }

    /// Accepts `UNSIGNED-PAYLOAD` (off by default, as API Gateway).
    pub fn allow_unsigned_payload(mut self, allow: bool) -> Self {
        self.allow_unsigned_payload = allow;
        self
    }

    /// Binds `127.0.0.1:0` and starts serving on the current tokio runtime.
    ///
    /// # Panics
    ///
    /// When the OS refuses to bind a loopback port (use [`try_start`](Self::try_start) to get the
    /// error instead), or when called outside a tokio runtime.
    pub async fn start(self) -> Endpoint {
        crate::server::listening("Endpoint", self.try_start().await)
    }

    /// Like [`start`](Self::start), returning the error when no loopback port can be bound.
    pub async fn try_start(self) -> std::io::Result<Endpoint> {
        let key_store = self
            .key_store
            .unwrap_or_else(|| Arc::new(StaticKeyStore::new()));
        let mut layer = VerifyLayer::from_shared(key_store)
            .region(self.region.clone())
            .service(self.service.clone())
            .allow_unsigned_payload(self.allow_unsigned_payload);
        let clock: SharedTimeSource = self
            .time_source
            .unwrap_or_else(|| Arc::new(sigv4_core::SystemClock));
        layer = layer.time_source(Arc::clone(&clock));
        if let Some(max_skew) = self.max_skew {
            layer = layer.max_skew(max_skew);
        }
        if let Some(max) = self.max_body_size {
            layer = layer.max_body_size(max);
        }
        let log = Arc::new(Log::default());
        let verify = Verify::new(
            Echo {
                log: Arc::clone(&log),
            },
            layer,
        );
        let for_server = Arc::clone(&log);
        let server = Server::start("sigv4 endpoint", clock, move |request| {
            respond(verify.clone(), Arc::clone(&for_server), request)
        })
        .await?;
        Ok(Endpoint {
            server,
            region: self.region,
            service: self.service,
            log,
        })
    }
}

/// A running verifying endpoint on `127.0.0.1`. See the [module docs](self).
pub struct Endpoint {
    server: Server,
    region: String,
    service: String,
    log: Arc<Log>,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("addr", &self.server.addr())
            .field("region", &self.region)
            .field("service", &self.service)
            .field("accepted", &self.accepted())
            .field("rejected", &self.rejected())
            .finish()
    }
}

impl Endpoint {
    /// Starts configuring an endpoint.
    pub fn builder() -> EndpointBuilder {
        EndpointBuilder::default()
    }

    /// The socket address the endpoint listens on.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The base URL: `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The region signatures must be scoped to.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The service signatures must be scoped to.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// How many requests were accepted.
    pub fn accepted(&self) -> u64 {
        self.log.accepted.load(Ordering::SeqCst)
    }

    /// How many requests were refused.
    pub fn rejected(&self) -> u64 {
        self.log.rejected.load(Ordering::SeqCst)
    }

    /// Every accepted request, oldest first.
    pub fn accepted_requests(&self) -> Vec<AcceptedRequest> {
        lock(&self.log.accepted_log).clone()
    }

    /// Every refused request with its code, oldest first.
    pub fn rejections(&self) -> Vec<RejectedRequest> {
        lock(&self.log.rejected_log).clone()
    }

    /// Forgets both logs and resets both counters.
    pub fn clear(&self) {
        let mut accepted = lock(&self.log.accepted_log);
        let mut rejected = lock(&self.log.rejected_log);
        accepted.clear();
        rejected.clear();
        self.log.accepted.store(0, Ordering::SeqCst);
        self.log.rejected.store(0, Ordering::SeqCst);
    }
}

/// The handler behind the verification: records and echoes.
#[derive(Clone)]
struct Echo {
    log: Arc<Log>,
}

impl Service<Request<VerifyBody>> for Echo {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<VerifyBody>) -> Self::Future {
        let log = Arc::clone(&self.log);
        Box::pin(async move { Ok(echo(&log, request).await) })
    }
}

/// Reads the whole body (an aws-chunked one is verified chunk by chunk as it is read: a bad
/// chunk is a body error, recorded as a rejection), then records the request and echoes it.
async fn echo(log: &Log, request: Request<VerifyBody>) -> Response<Full<Bytes>> {
    let json = |status: StatusCode, body: String| {
        let mut response = Response::new(Full::from(body));
        *response.status_mut() = status;
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response
    };
    let Some(verified) = request.extensions().get::<Verified>().cloned() else {
        // Not reachable behind `Verify`; answer rather than panic.
        return json(
            StatusCode::INTERNAL_SERVER_ERROR,
            r#"{"message":"Internal server error"}"#.to_owned(),
        );
    };
    let (parts, mut body) = request.into_parts();
    let mut body_bytes = 0u64;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => body_bytes += frame.data_ref().map_or(0, |d| d.len() as u64),
            Err(e) => {
                let message = e.to_string();
                lock(&log.rejected_log).push(RejectedRequest {
                    method: parts.method.clone(),
                    path: parts.uri.path().to_owned(),
                    status: StatusCode::FORBIDDEN,
                    code: "SignatureDoesNotMatch",
                    message: message.clone(),
                    access_key_id: Some(verified.access_key_id().to_owned()),
                });
                log.rejected.fetch_add(1, Ordering::SeqCst);
                return json(
                    StatusCode::FORBIDDEN,
                    serde_json::json!({ "message": message }).to_string(),
                );
            }
        }
    }
    let record = AcceptedRequest {
        method: parts.method.clone(),
        path: parts.uri.path().to_owned(),
        access_key_id: verified.access_key_id().to_owned(),
        presigned: verified.presigned,
        body_bytes,
    };
    let body = serde_json::json!({
        "method": record.method.as_str(),
        "path": record.path,
        "access_key_id": record.access_key_id,
        "presigned": record.presigned,
        "body_bytes": record.body_bytes,
    })
    .to_string();
    lock(&log.accepted_log).push(record);
    log.accepted.fetch_add(1, Ordering::SeqCst);
    json(StatusCode::OK, body)
}

async fn respond(
    mut verify: Verify<Echo>,
    log: Arc<Log>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    poll_fn(|cx| Service::<Request<Incoming>>::poll_ready(&mut verify, cx)).await?;
    let response = verify.call(request).await?;
    if let Some(rejection) = response.extensions().get::<Rejection>() {
        let record = RejectedRequest {
            method,
            path,
            status: rejection.status(),
            code: rejection.code(),
            message: rejection.message().to_owned(),
            access_key_id: rejection.access_key_id().map(str::to_owned),
        };
        lock(&log.rejected_log).push(record);
        log.rejected.fetch_add(1, Ordering::SeqCst);
    }
    Ok(response)
}
