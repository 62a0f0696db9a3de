//! The forwarding service: check, route, rewrite, sign, send, stream back.

use std::convert::Infallible;
use std::fmt;
use std::future::{poll_fn, Future};
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, HOST};
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri, Version};
use http_body::Body;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::{Connect, HttpConnector};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use sigv4_core::chunked::ChunkedPayload;
use sigv4_core::{SharedTimeSource, SigningSettings, X_AMZ_CONTENT_SHA256};
use sigv4_credentials::ProvideCredentials;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tower_service::Service;
use tower_sigv4::SigV4Body;
use tower_sigv4::{PayloadPolicy, SigV4Error, SigV4Layer, SigV4Service, SigningOverride};

use crate::body::{RequestBody, ResponseBody};
use crate::headers::{add_forwarded_for, strip_hop_by_hop, strip_inbound};
use crate::route::{longest_match, RouteSpec, Upstream};
use crate::{BoxError, ProxyError};

/// The default limit on a body buffered to be hashed: 10 MiB, API Gateway's own limit.
pub const DEFAULT_MAX_BODY: usize = 10 * 1024 * 1024;
/// The default number of requests forwarded at once (more wait their turn).
pub const DEFAULT_MAX_CONCURRENCY: usize = 1024;
/// The default time the upstream has to answer with a response head.
pub const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(60);
/// The default time to open a TCP connection to the upstream.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest refusal body read to explain a `SignatureDoesNotMatch` (they are short).
const EXPLAIN_LIMIT: u64 = 64 * 1024;

/// The address of the client a request came from, put in the request's extensions by
/// [`serve`](crate::serve) (an embedding server sets it itself). Used for `X-Forwarded-For`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

/// The connector [`SigningProxyBuilder::build`] makes: hyper-util's TCP connector, with TLS
/// (rustls) for `https://` upstreams when a TLS configuration was given.
#[derive(Clone)]
pub struct UpstreamConnector(ConnectorInner);

#[derive(Clone)]
enum ConnectorInner {
    Https(hyper_rustls::HttpsConnector<HttpConnector>),
    Plain(HttpConnector),
}

impl fmt::Debug for UpstreamConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            ConnectorInner::Https(_) => "UpstreamConnector(https or http)",
            ConnectorInner::Plain(_) => "UpstreamConnector(http only)",
        })
    }
}

/// A connection [`UpstreamConnector`] opened.
pub type UpstreamStream = hyper_rustls::MaybeHttpsStream<TokioIo<TcpStream>>;

impl Service<Uri> for UpstreamConnector {
    type Response = UpstreamStream;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<UpstreamStream, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        match &mut self.0 {
            ConnectorInner::Https(c) => c.poll_ready(cx),
            ConnectorInner::Plain(c) => c.poll_ready(cx).map_err(Into::into),
        }
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        match &mut self.0 {
            ConnectorInner::Https(c) => Box::pin(c.call(uri)),
            ConnectorInner::Plain(c) => {
                if uri.scheme_str() == Some("https") {
                    return Box::pin(std::future::ready(Err(
                        "no TLS configuration for an https:// upstream".into(),
                    )));
                }
                let connecting = c.call(uri);
                Box::pin(async move {
                    Ok(hyper_rustls::MaybeHttpsStream::Http(
                        connecting.await.map_err(BoxError::from)?,
                    ))
                })
            }
        }
    }
}

/// A signing reverse proxy as a tower [`Service`]: every request is checked (never an open
/// proxy), routed by path prefix to a fixed upstream, stripped of the client's own signing and
/// hop-by-hop headers, signed with SigV4 for that upstream, sent over a pooled hyper client, and
/// its response streamed back frame by frame. Failures become HTTP answers (`400` refused target,
/// `404` no route, `413` body over the limit, `502` upstream unreachable, `503` no credentials,
/// `504` upstream too slow), so the error type is [`Infallible`].
///
/// Serve it with [`serve`](crate::serve), or mount it in any hyper/tower server; see the
/// [crate docs](crate) for an example. Cheap to clone (one `Arc`).
pub struct SigningProxy<C = UpstreamConnector> {
    shared: Arc<Shared<C>>,
}

impl<C> Clone for SigningProxy<C> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<C> fmt::Debug for SigningProxy<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let routes: Vec<_> = self
            .shared
            .routes
            .iter()
            .map(|r| {
                format!(
                    "{} => {}://{}{} ({}/{})",
                    r.prefix,
                    r.upstream.scheme,
                    r.upstream.authority,
                    r.upstream.base,
                    r.region,
                    r.service
                )
            })
            .collect();
        f.debug_struct("SigningProxy")
            .field("routes", &routes)
            .field("allowed_hosts", &self.shared.allowed_hosts)
            .field("timeout", &self.shared.timeout)
            .field("explain", &self.shared.explain)
            .finish_non_exhaustive()
    }
}

struct Shared<C> {
    routes: Vec<Route<C>>,
    allowed_hosts: Vec<String>,
    limit: Arc<Semaphore>,
    timeout: Duration,
    explain: bool,
}

struct Route<C> {
    prefix: String,
    upstream: Upstream,
    region: String,
    service: String,
    settings: SigningSettings,
    /// S3 with a signed payload: a body of known length is streamed aws-chunked, each chunk
    /// signed as it passes (no buffering, no `--max-body` limit).
    chunked_uploads: bool,
    signed: SigV4Service<Forward<C>>,
}

/// Configures a [`SigningProxy`]; from [`SigningProxy::builder`].
pub struct SigningProxyBuilder {
    credentials: Arc<dyn ProvideCredentials>,
    routes: Vec<RouteSpec>,
    region: Option<String>,
    service: Option<String>,
    sign_host: Option<String>,
    max_body: usize,
    unsigned_payload: bool,
    max_concurrency: usize,
    timeout: Duration,
    connect_timeout: Duration,
    allowed_hosts: Vec<String>,
    explain: bool,
    time_source: Option<SharedTimeSource>,
}

impl fmt::Debug for SigningProxyBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningProxyBuilder")
            .field("credentials", &self.credentials)
            .field("routes", &self.routes)
            .field("region", &self.region)
            .field("service", &self.service)
            .field("sign_host", &self.sign_host)
            .field("max_body", &self.max_body)
            .field("unsigned_payload", &self.unsigned_payload)
            .field("max_concurrency", &self.max_concurrency)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("allowed_hosts", &self.allowed_hosts)
            .field("explain", &self.explain)
            .field("time_source", &self.time_source)
            .finish()
    }
}

impl SigningProxy {
    /// Starts configuring a proxy that signs with credentials from `credentials` (give it a
    /// cached, refreshing source such as `sigv4_credentials::DefaultChain`: it is asked once per
    /// request).
    pub fn builder(credentials: impl ProvideCredentials + 'static) -> SigningProxyBuilder {
        SigningProxyBuilder {
            credentials: Arc::new(credentials),
            routes: Vec::new(),
            region: None,
            service: None,
            sign_host: None,
            max_body: DEFAULT_MAX_BODY,
            unsigned_payload: false,
            max_concurrency: DEFAULT_MAX_CONCURRENCY,
            timeout: DEFAULT_UPSTREAM_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            allowed_hosts: Vec::new(),
            explain: false,
            time_source: None,
        }
    }
}

impl SigningProxyBuilder {
    /// Sends every request to `upstream` (`https://abc.execute-api.eu-west-1.amazonaws.com`,
    /// optionally with a base path prepended to every request path): the route `/`.
    pub fn upstream(self, upstream: impl Into<String>) -> Self {
        self.route(RouteSpec {
            prefix: "/".to_owned(),
            upstream: upstream.into(),
        })
    }

    /// Adds a route: requests whose path is under `route.prefix` (whole segments; the longest
    /// prefix wins) go to `route.upstream`. The path and query are forwarded byte for byte (after
    /// the upstream's own base path, if it has one); the prefix is not removed.
    pub fn route(mut self, route: RouteSpec) -> Self {
        self.routes.push(route);
        self
    }

    /// The region to sign for (default: told from each upstream's host name).
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// The service's signing name (default: told from each upstream's host name).
    pub fn service(mut self, service: impl Into<String>) -> Self {
        self.service = Some(service.into());
        self
    }

    /// The `Host` sent and signed, when it is not the upstream's (a private API reached through a
    /// VPC endpoint's host name). Applies to every route.
    pub fn sign_host(mut self, host: impl Into<String>) -> Self {
        self.sign_host = Some(host.into());
        self
    }

    /// The largest body buffered to be hashed (default [`DEFAULT_MAX_BODY`]); a larger one is
    /// answered `413` and the upstream sees nothing.
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// Signs `UNSIGNED-PAYLOAD` and streams bodies through without buffering them (S3 accepts
    /// it; API Gateway does not). The body limit then does not apply.
    pub fn unsigned_payload(mut self, unsigned: bool) -> Self {
        self.unsigned_payload = unsigned;
        self
    }

    /// How many requests are forwarded at once (default [`DEFAULT_MAX_CONCURRENCY`]); more wait
    /// for a slot. At least 1.
    pub fn max_concurrency(mut self, n: usize) -> Self {
        self.max_concurrency = n.max(1);
        self
    }

    /// How long the upstream has to answer with a response head (default
    /// [`DEFAULT_UPSTREAM_TIMEOUT`]); then the client gets `504`. The body that follows may take
    /// as long as it takes (server-sent events, long polls).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long opening a TCP connection to the upstream may take (default
    /// [`DEFAULT_CONNECT_TIMEOUT`]; only for the connector [`build`](Self::build) makes).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Also accepts requests whose `Host` names `host` (the proxy's own name when clients reach
    /// it by a DNS name). Loopback names and addresses and the upstreams' own host names are
    /// always accepted; any other `Host` is refused with `400`.
    pub fn allow_host(mut self, host: impl Into<String>) -> Self {
        self.allowed_hosts.push(normalize_host(&host.into()));
        self
    }

    /// When the upstream refuses a request with `403` and shows its own canonical request or
    /// string to sign (API Gateway, S3), logs a line-by-line diff against the proxy's (at `info`
    /// level, target `sigv4_proxy`). Off by default; the session token never appears in full.
    pub fn explain_mismatches(mut self, explain: bool) -> Self {
        self.explain = explain;
        self
    }

    /// The clock signatures are dated by (default: the system clock; tests pass a
    /// `ManualClock`).
    pub fn time_source(mut self, time_source: SharedTimeSource) -> Self {
        self.time_source = Some(time_source);
        self
    }

    /// Builds the proxy with HTTPS to the upstreams through `tls` (rustls; the caller chooses the
    /// roots and the crypto provider). `tls` may be `None` when every upstream is `http://`.
    pub fn build(
        self,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> Result<SigningProxy<UpstreamConnector>, ProxyError> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(self.connect_timeout));
        let connector = match tls {
            Some(config) => UpstreamConnector(ConnectorInner::Https(
                hyper_rustls::HttpsConnectorBuilder::new()
                    .with_tls_config(Arc::unwrap_or_clone(config))
                    .https_or_http()
                    .enable_http1()
                    .wrap_connector(http),
            )),
            None => {
                if let Some(https) = self
                    .routes
                    .iter()
                    .find(|r| r.upstream.trim_start().starts_with("https:"))
                {
                    return Err(ProxyError::NoTls(https.upstream.clone()));
                }
                UpstreamConnector(ConnectorInner::Plain(http))
            }
        };
        self.build_with_connector(connector)
    }

    /// Builds the proxy over any hyper-util connector (plain HTTP, another TLS stack, a test
    /// double). Timeouts on connecting are the connector's.
    pub fn build_with_connector<C>(self, connector: C) -> Result<SigningProxy<C>, ProxyError>
    where
        C: Connect + Clone + Send + Sync + 'static,
    {
        if self.routes.is_empty() {
            return Err(ProxyError::NoRoutes);
        }
        let client: Client<C, SigV4Body<RequestBody>> = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(connector);
        let forward = Forward { client };
        let mut allowed_hosts = self.allowed_hosts;
        allowed_hosts.push("localhost".to_owned());
        let mut routes: Vec<Route<C>> = Vec::with_capacity(self.routes.len());
        for spec in &self.routes {
            if routes.iter().any(|r| r.prefix == spec.prefix) {
                return Err(ProxyError::DuplicatePrefix(spec.prefix.clone()));
            }
            let upstream = Upstream::parse(&spec.upstream, self.sign_host.as_deref())?;
            let upstream_uri = upstream.uri_for(None).map_err(|e| ProxyError::Upstream {
                upstream: spec.upstream.clone(),
                why: e.to_string(),
            })?;
            let scope = sigv4_core::infer::resolve_scope(
                &upstream_uri,
                self.region.as_deref(),
                self.service.as_deref(),
            )
            .or_else(|e| match &self.sign_host {
                // A VPC endpoint's host name may not tell; the signed host may.
                Some(host) => Uri::try_from(format!("https://{host}/"))
                    .map_err(|_| e.clone())
                    .and_then(|uri| {
                        sigv4_core::infer::resolve_scope(
                            &uri,
                            self.region.as_deref(),
                            self.service.as_deref(),
                        )
                    })
                    .map_err(|_| e),
                None => Err(e),
            });
            let (region, service) = scope.map_err(|reason| ProxyError::Scope {
                upstream: spec.upstream.clone(),
                reason,
            })?;
            let settings = if sigv4_core::infer::uses_s3_rules(&service) {
                SigningSettings::s3()
            } else {
                SigningSettings::default()
            };
            let policy = if self.unsigned_payload {
                PayloadPolicy::Unsigned
            } else {
                PayloadPolicy::BufferAndHash
            };
            let mut layer = SigV4Layer::builder(
                Arc::clone(&self.credentials),
                region.clone(),
                service.clone(),
            )
            .settings(settings.clone())
            .payload_policy(policy)
            .max_body_size(self.max_body);
            if let Some(time_source) = &self.time_source {
                layer = layer.time_source(time_source.clone());
            }
            let layer = layer.build();
            allowed_hosts.push(normalize_host(upstream.authority.host()));
            if let Ok(host) = upstream.host_header.to_str() {
                allowed_hosts.push(normalize_host(host));
            }
            let chunked_uploads =
                sigv4_core::infer::uses_s3_rules(&service) && !self.unsigned_payload;
            routes.push(Route {
                chunked_uploads,
                prefix: spec.prefix.clone(),
                upstream,
                region,
                service,
                settings,
                signed: SigV4Service::new(forward.clone(), &layer),
            });
        }
        allowed_hosts.sort();
        allowed_hosts.dedup();
        Ok(SigningProxy {
            shared: Arc::new(Shared {
                routes,
                allowed_hosts,
                limit: Arc::new(Semaphore::new(self.max_concurrency)),
                timeout: self.timeout,
                explain: self.explain,
            }),
        })
    }
}

/// Lower case, without brackets, port or trailing dot.
fn normalize_host(host: &str) -> String {
    let host = host.trim();
    let host = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else if host.matches(':').count() == 1 {
        host.split(':').next().unwrap_or("")
    } else {
        host
    };
    host.trim_end_matches('.').to_ascii_lowercase()
}

impl<C> Shared<C> {
    fn host_allowed(&self, host: &str) -> bool {
        let host = normalize_host(host);
        if let Ok(ip) = host.parse::<IpAddr>() {
            if ip.is_loopback() {
                return true;
            }
        }
        self.allowed_hosts.contains(&host)
    }

    /// Refuses what could steer the proxy anywhere but its upstreams: CONNECT, an absolute-form
    /// target (HTTP/1), or a `Host` / `:authority` naming another host.
    fn check_target<B>(&self, request: &Request<B>) -> Result<(), String> {
        if request.method() == Method::CONNECT {
            return Err("CONNECT is not supported: this is not a forward proxy".to_owned());
        }
        let uri = request.uri();
        if request.version() < Version::HTTP_2 {
            if uri.scheme().is_some() || uri.authority().is_some() {
                return Err(
                    "absolute-form request targets are refused: this is not a forward proxy; \
                     send origin-form requests (GET /path)"
                        .to_owned(),
                );
            }
        } else if let Some(authority) = uri.authority() {
            if !self.host_allowed(authority.as_str()) {
                return Err(format!(
                    "the authority {:?} is not this proxy",
                    authority.as_str()
                ));
            }
        }
        let mut hosts = request.headers().get_all(HOST).iter();
        if let Some(host) = hosts.next() {
            if hosts.next().is_some() {
                return Err("more than one Host header".to_owned());
            }
            let text = host
                .to_str()
                .map_err(|_| "a Host header that is not text")?;
            if !self.host_allowed(text) {
                return Err(format!("the Host {text:?} is not this proxy"));
            }
        }
        Ok(())
    }
}

impl<C, B> Service<Request<B>> for SigningProxy<C>
where
    C: Connect + Clone + Send + Sync + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<ResponseBody>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Concurrency is bounded per request, inside the future (so a waiting request does not
        // stop a connection's other streams).
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let shared = Arc::clone(&self.shared);
        Box::pin(async move { Ok(handle(shared, request).await) })
    }
}

/// What the per-request log line reports.
struct Outcome {
    route: Option<usize>,
    upstream_latency: Option<Duration>,
}

async fn handle<C, B>(shared: Arc<Shared<C>>, request: Request<B>) -> Response<ResponseBody>
where
    C: Connect + Clone + Send + Sync + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let mut outcome = Outcome {
        route: None,
        upstream_latency: None,
    };
    let response = forward(&shared, request, &mut outcome).await;
    let route = outcome.route.map(|i| shared.routes[i].prefix.as_str());
    tracing::info!(
        target: "sigv4_proxy",
        method = %method,
        path = %path,
        status = response.status().as_u16(),
        route = route.unwrap_or("-"),
        upstream_ms = outcome.upstream_latency.map(|d| d.as_micros() as f64 / 1000.0),
        total_ms = started.elapsed().as_micros() as f64 / 1000.0,
        "request"
    );
    response
}

async fn forward<C, B>(
    shared: &Shared<C>,
    request: Request<B>,
    outcome: &mut Outcome,
) -> Response<ResponseBody>
where
    C: Connect + Clone + Send + Sync + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    if let Err(why) = shared.check_target(&request) {
        return local(StatusCode::BAD_REQUEST, &why);
    }
    let Some(index) = longest_match(
        shared.routes.iter().map(|r| r.prefix.as_str()),
        request.uri().path(),
    ) else {
        return local(StatusCode::NOT_FOUND, "no route for this path");
    };
    outcome.route = Some(index);
    let route = &shared.routes[index];

    let (mut parts, body) = request.into_parts();
    let client = parts.extensions.get::<ClientAddr>().map(|a| a.0.ip());
    strip_inbound(&mut parts.headers);
    if let Some(ip) = client {
        add_forwarded_for(&mut parts.headers, ip);
    }
    parts
        .headers
        .insert(HOST, route.upstream.host_header.clone());
    parts.uri = match route.upstream.uri_for(parts.uri.path_and_query()) {
        Ok(uri) => uri,
        Err(e) => return local(StatusCode::BAD_REQUEST, &format!("bad request target: {e}")),
    };
    parts.version = Version::HTTP_11;
    // Only what the signing layer and the client need travels on.
    let capture = shared.explain.then(Capture::default);
    parts.extensions = http::Extensions::new();
    if let Some(capture) = &capture {
        parts.extensions.insert(capture.clone());
    }
    if route.chunked_uploads && declared_length(&parts.headers).is_some_and(|n| n > 0) {
        parts.extensions.insert(
            SigningOverride::new()
                .with_payload_policy(PayloadPolicy::aws_chunked(ChunkedPayload::Signed)),
        );
    }
    let outbound = Request::from_parts(parts, RequestBody::streaming(body));

    let Ok(_permit) = shared.limit.acquire().await else {
        return local(
            StatusCode::SERVICE_UNAVAILABLE,
            "the proxy is shutting down",
        );
    };
    let mut signed = route.signed.clone();
    let sent = Instant::now();
    let call = async {
        poll_fn(|cx| signed.poll_ready(cx)).await?;
        signed.call(outbound).await
    };
    let result = tokio::time::timeout(shared.timeout, call).await;
    outcome.upstream_latency = Some(sent.elapsed());
    let response = match result {
        Err(_) => {
            return local(
                StatusCode::GATEWAY_TIMEOUT,
                "the upstream did not answer in time",
            )
        }
        Ok(Err(error)) => return error_response(&error),
        Ok(Ok(response)) => response,
    };
    let (mut head, body) = response.into_parts();
    strip_hop_by_hop(&mut head.headers);
    let declared = declared_length(&head.headers);
    match (&capture, head.status, declared) {
        // A short refusal, while explaining: read it, explain it, send it on.
        (Some(capture), StatusCode::FORBIDDEN, Some(length)) if length <= EXPLAIN_LIMIT => {
            match explain(route, capture, body).await {
                Some(bytes) => Response::from_parts(head, ResponseBody::local(bytes)),
                None => {
                    // The upstream broke off mid-body: the head alone goes back.
                    head.headers.remove(CONTENT_LENGTH);
                    Response::from_parts(head, ResponseBody::local(Bytes::new()))
                }
            }
        }
        _ => Response::from_parts(head, ResponseBody::upstream(body)),
    }
}

/// A message's `Content-Length`, when it has one that reads as a number.
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// The proxy's own answer: a status and one line of text.
fn local(status: StatusCode, message: &str) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::local(format!("sigv4 proxy: {message}\n")));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn error_response(error: &BoxError) -> Response<ResponseBody> {
    match SigV4Error::find(&**error) {
        Some(SigV4Error::BodyTooLarge { limit, .. }) => local(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("the request body is larger than the {limit}-byte limit (--max-body)"),
        ),
        Some(e @ SigV4Error::Credentials(_)) => {
            tracing::warn!(target: "sigv4_proxy", error = %e, "no credentials to sign with");
            local(
                StatusCode::SERVICE_UNAVAILABLE,
                "no AWS credentials to sign with (see the proxy's log)",
            )
        }
        Some(SigV4Error::BodyRead(e)) => local(
            StatusCode::BAD_REQUEST,
            &format!("the request body could not be read: {e}"),
        ),
        Some(e) => local(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        None => {
            let mut text = error.to_string();
            let mut source = error.source();
            while let Some(cause) = source {
                text.push_str(": ");
                text.push_str(&cause.to_string());
                source = cause.source();
            }
            tracing::warn!(target: "sigv4_proxy", error = %text, "upstream unreachable");
            local(
                StatusCode::BAD_GATEWAY,
                &format!("the upstream could not be reached: {text}"),
            )
        }
    }
}

/// The signed request as it left, kept (only when explaining mismatches) to set beside the
/// upstream's view.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Option<Captured>>>);

struct Captured {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Option<Bytes>,
}

/// Reads a short refusal and logs AWS's canonical request beside ours. Returns the body read
/// (`None` when it could not be read whole).
async fn explain<C>(route: &Route<C>, capture: &Capture, body: Incoming) -> Option<Bytes> {
    let bytes = http_body_util::Limited::new(body, EXPLAIN_LIMIT as usize)
        .collect()
        .await
        .ok()?
        .to_bytes();
    let captured = capture.0.lock().ok()?.take();
    if let Some(captured) = captured {
        let payload_hash = captured
            .headers
            .get(&X_AMZ_CONTENT_SHA256)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let payload = match (&payload_hash, &captured.body) {
            (Some(hash), _) => sigv4_core::Payload::Precomputed(hash),
            (None, Some(body)) => sigv4_core::Payload::Bytes(body),
            (None, None) => sigv4_core::Payload::Unsigned,
        };
        match sigv4_core::mismatch::explain(
            &bytes,
            sigv4_core::RequestHead::new(&captured.method, &captured.uri, &captured.headers),
            payload,
            &route.settings,
        ) {
            Some(explanation) => tracing::info!(
                target: "sigv4_proxy",
                upstream = %route.upstream.authority,
                "the upstream refused the signature; its view against ours:\n{explanation}"
            ),
            None => tracing::info!(
                target: "sigv4_proxy",
                upstream = %route.upstream.authority,
                "the upstream answered 403 without showing its canonical request"
            ),
        }
    }
    Some(bytes)
}

/// The innermost service: records the signed request when asked, then sends it.
struct Forward<C> {
    client: Client<C, SigV4Body<RequestBody>>,
}

impl<C: Clone> Clone for Forward<C> {
    fn clone(&self) -> Self {
        Self {
            client: self.client.clone(),
        }
    }
}

impl<C> Service<Request<SigV4Body<RequestBody>>> for Forward<C>
where
    C: Connect + Clone + Send + Sync + 'static,
{
    type Response = Response<Incoming>;
    type Error = hyper_util::client::legacy::Error;
    type Future = hyper_util::client::legacy::ResponseFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.client.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<SigV4Body<RequestBody>>) -> Self::Future {
        if let Some(capture) = request.extensions_mut().remove::<Capture>() {
            if let Ok(mut slot) = capture.0.lock() {
                *slot = Some(Captured {
                    method: request.method().clone(),
                    uri: request.uri().clone(),
                    headers: request.headers().clone(),
                    body: request.body().buffered().cloned(),
                });
            }
        }
        self.client.request(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_normalized() {
        assert_eq!(normalize_host("LocalHost:8080"), "localhost");
        assert_eq!(normalize_host("[::1]:8080"), "::1");
        assert_eq!(normalize_host("::1"), "::1");
        assert_eq!(normalize_host("api.example.com."), "api.example.com");
    }
}
