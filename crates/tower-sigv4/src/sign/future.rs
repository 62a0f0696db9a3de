use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, Request, Response};
use http_body::Body;
use http_body_util::combinators::Collect;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use pin_project_lite::pin_project;
use sigv4_core::checksum::{checksum, ChecksumAlgorithm};
use sigv4_core::chunked::ChunkedPayload;
use sigv4_core::{Credentials, Payload, SigningError, SigningParams, X_AMZ_CONTENT_SHA256};
use sigv4_credentials::CredentialsError;
use tower_service::Service;
use tracing::Instrument;

use super::body::SigV4Body;
use super::layer::{Config, Stamp};
use super::payload::{PayloadPolicy, SigningOverride, SkipSigning};
use crate::error::{BoxError, SigV4Error};

type CredentialsFuture =
    Pin<Box<dyn Future<Output = Result<Credentials, CredentialsError>> + Send + 'static>>;

pin_project! {
    /// The response future of [`SigV4Service`](crate::SigV4Service): reads the body when it must
    /// be hashed, waits for credentials when they are not at hand, signs, then drives the inner
    /// service's future.
    ///
    /// With warm credentials and a body that needs no buffering (an empty body, an unsigned or
    /// precomputed payload) it allocates one small box (the credentials future, which borrows the
    /// provider) beyond what the signer does; the benchmark `layer_overhead` measures the total.
    pub struct ResponseFuture<S, B>
    where
        S: Service<Request<SigV4Body<B>>>,
        B: Body,
        B::Error: Into<BoxError>,
    {
        #[pin]
        state: State<S, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, B>
    where
        S: Service<Request<SigV4Body<B>>>,
        B: Body,
        B::Error: Into<BoxError>,
    {
        Buffering {
            #[pin]
            collect: Collect<Limited<B>>,
            parts: Option<Parts>,
            job: Option<Job<S>>,
        },
        Signing {
            request: Option<Request<SigV4Body<B>>>,
            payload: PayloadPlan,
            job: Option<Job<S>>,
            credentials: Option<CredentialsFuture>,
        },
        Calling {
            #[pin]
            future: S::Future,
            // What signed the request, to look at the answer with (`None`: sent unsigned).
            signed: Option<Signed>,
            // The request as it was before signing, for one retry after a clock-skew refusal.
            replay: Option<Replay<S>>,
        },
        Retrying {
            replay: Option<Replay<S>>,
        },
        Failed {
            error: Option<SigV4Error>,
        },
    }
}

/// The credentials a request was signed with and the configuration that signed it, kept until
/// the answer's head is known (moved, not cloned: no cost per request).
struct Signed {
    config: Arc<Config>,
    credentials: Credentials,
    stamp: Stamp,
}

/// What a retry after a clock-skew refusal needs: the unsigned request head and body, the inner
/// service to call again, and the credentials (the same ones: their time was the problem).
struct Replay<S> {
    head: Head,
    body: Bytes,
    job: Job<S>,
    credentials: Credentials,
}

/// A request head before signing (`http::request::Parts` is not `Clone`).
struct Head {
    method: http::Method,
    uri: http::Uri,
    version: http::Version,
    headers: HeaderMap,
    extensions: http::Extensions,
}

impl Head {
    fn of<B>(request: &Request<B>) -> Self {
        Self {
            method: request.method().clone(),
            uri: request.uri().clone(),
            version: request.version(),
            headers: request.headers().clone(),
            extensions: request.extensions().clone(),
        }
    }

    fn into_request<B>(self, body: B) -> Request<B> {
        let mut request = Request::new(body);
        *request.method_mut() = self.method;
        *request.uri_mut() = self.uri;
        *request.version_mut() = self.version;
        *request.headers_mut() = self.headers;
        *request.extensions_mut() = self.extensions;
        request
    }
}

/// What a signing needs besides the request and credentials.
struct Job<S> {
    inner: S,
    config: Arc<Config>,
    region: Option<Cow<'static, str>>,
    service: Option<Cow<'static, str>>,
}

/// Where the payload hash will come from.
enum PayloadPlan {
    Empty,
    Bytes(Bytes),
    Unsigned,
    FromHeader,
    Hash(String),
    /// aws-chunked: the form, the chunk size and the body's (decoded) length.
    Chunked {
        payload: ChunkedPayload,
        chunk_size: usize,
        declared: u64,
    },
    /// An event stream: each message signed as it is read, chained to the head's signature.
    #[cfg(feature = "eventstream")]
    EventStream,
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn polled_after_completion() -> BoxError {
    "tower-sigv4: ResponseFuture polled after it completed".into()
}

impl<S, B> ResponseFuture<S, B>
where
    S: Service<Request<SigV4Body<B>>>,
    B: Body,
    B::Error: Into<BoxError>,
{
    fn failed(error: SigV4Error) -> Self {
        Self {
            state: State::Failed { error: Some(error) },
        }
    }

    /// Decides, without waiting, what the request needs: no signing, buffering, or signing
    /// straight away.
    pub(crate) fn start(mut inner: S, config: Arc<Config>, request: Request<B>) -> Self {
        let extensions = request.extensions();
        if extensions.get::<SkipSigning>().is_some() {
            return Self {
                state: State::Calling {
                    future: inner.call(request.map(SigV4Body::passthrough)),
                    signed: None,
                    replay: None,
                },
            };
        }
        let (region, service, policy, hash) = match extensions.get::<SigningOverride>() {
            None => (None, None, config.payload_policy, None),
            Some(o) => (
                o.region_cow().cloned(),
                o.service_cow().cloned(),
                o.payload_policy().unwrap_or(config.payload_policy),
                o.payload_hash().map(str::to_owned),
            ),
        };
        let plan = match (hash, policy) {
            (Some(hash), _) => PayloadPlan::Hash(hash),
            (None, PayloadPolicy::Unsigned) => PayloadPlan::Unsigned,
            (
                None,
                PayloadPolicy::AwsChunked {
                    payload,
                    chunk_size,
                },
            ) => {
                let declared = content_length(request.headers())
                    .or_else(|| request.body().size_hint().exact());
                let Some(declared) = declared else {
                    return Self::failed(SigV4Error::UnknownBodyLength);
                };
                PayloadPlan::Chunked {
                    payload,
                    chunk_size,
                    declared,
                }
            }
            #[cfg(feature = "eventstream")]
            (None, PayloadPolicy::EventStream) => PayloadPlan::EventStream,
            (None, PayloadPolicy::CallerProvided) => {
                if !request.headers().contains_key(&X_AMZ_CONTENT_SHA256) {
                    return Self::failed(SigV4Error::MissingPayloadHash);
                }
                PayloadPlan::FromHeader
            }
            (None, PayloadPolicy::BufferAndHash) => {
                let body = request.body();
                let hint = body.size_hint();
                if body.is_end_stream() || hint.exact() == Some(0) {
                    PayloadPlan::Empty
                } else {
                    let limit = config.max_body_size;
                    let limit_u64 = u64::try_from(limit).unwrap_or(u64::MAX);
                    // Refuse before reading a byte when the request says it is too long.
                    if let Some(declared) = content_length(request.headers()) {
                        if declared > limit_u64 {
                            return Self::failed(SigV4Error::BodyTooLarge {
                                limit,
                                content_length: Some(declared),
                            });
                        }
                    }
                    if hint.lower() > limit_u64 {
                        return Self::failed(SigV4Error::BodyTooLarge {
                            limit,
                            content_length: hint.exact(),
                        });
                    }
                    let (parts, body) = request.into_parts();
                    return Self {
                        state: State::Buffering {
                            collect: Limited::new(body, limit).collect(),
                            parts: Some(parts),
                            job: Some(Job {
                                inner,
                                config,
                                region,
                                service,
                            }),
                        },
                    };
                }
            }
        };
        Self {
            state: State::Signing {
                request: Some(request.map(SigV4Body::passthrough)),
                payload: plan,
                job: Some(Job {
                    inner,
                    config,
                    region,
                    service,
                }),
                credentials: None,
            },
        }
    }
}

/// Gets the credentials through a future that owns (a clone of) the provider, kept in `slot` until
/// it resolves.
///
/// The provider's own future borrows the provider, so it cannot live in `ResponseFuture` next to
/// the `Arc` it borrows from without boxing. Polling a borrowed future once and asking again when
/// it is pending would avoid the box on the warm path, but would call the provider twice on the
/// cold path (starting a load, dropping it, starting another); one box (measured: within the noise
/// of the `layer_overhead` benchmark) keeps "one request, one provider call".
fn poll_credentials(
    slot: &mut Option<CredentialsFuture>,
    config: &Arc<Config>,
    region: &str,
    service: &str,
    cx: &mut Context<'_>,
) -> Poll<Result<Credentials, CredentialsError>> {
    if let Some(future) = slot {
        return future.as_mut().poll(cx);
    }
    let span = tracing::debug_span!("sigv4_credentials", region, service);
    let provider = Arc::clone(&config.provider);
    let mut owned: CredentialsFuture =
        Box::pin(async move { provider.provide_credentials().await }.instrument(span));
    let polled = owned.as_mut().poll(cx);
    if polled.is_pending() {
        tracing::debug!(
            region,
            service,
            "credentials not at hand: waiting for the provider"
        );
        *slot = Some(owned);
    }
    polled
}

impl<S, B, RB> Future for ResponseFuture<S, B>
where
    S: Service<Request<SigV4Body<B>>, Response = Response<RB>>,
    S::Error: Into<BoxError>,
    B: Body,
    B::Error: Into<BoxError>,
{
    type Output = Result<S::Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Calling {
                    future,
                    signed,
                    replay,
                } => {
                    let result = ready!(future.poll(cx));
                    if let (Ok(response), Some(signed)) = (&result, signed.take()) {
                        let (status, headers) = (response.status(), response.headers());
                        signed
                            .config
                            .check_response(status, headers, &signed.credentials);
                        let retry = signed.config.learn_clock(&signed.stamp, status, headers);
                        if retry && replay.is_some() {
                            tracing::info!(
                                status = status.as_u16(),
                                "refused for its time; signing again with the service's clock \
                                 and retrying once"
                            );
                            let replay = replay.take();
                            this.state.set(State::Retrying { replay });
                            continue;
                        }
                    }
                    return Poll::Ready(result.map_err(Into::into));
                }
                StateProj::Retrying { replay } => {
                    let Some(r) = replay.as_mut() else {
                        return Poll::Ready(Err(polled_after_completion()));
                    };
                    if let Err(error) = ready!(r.job.inner.poll_ready(cx)) {
                        this.state.set(State::Failed { error: None });
                        return Poll::Ready(Err(error.into()));
                    }
                    let Some(Replay {
                        head,
                        body,
                        mut job,
                        credentials,
                    }) = replay.take()
                    else {
                        return Poll::Ready(Err(polled_after_completion()));
                    };
                    let plan = if body.is_empty() {
                        PayloadPlan::Empty
                    } else {
                        PayloadPlan::Bytes(body.clone())
                    };
                    let mut request = head.into_request(SigV4Body::full(body));
                    let stamp = job.config.stamp();
                    if let Err(error) = sign(&mut request, &plan, &job, &credentials, &stamp) {
                        this.state.set(State::Failed { error: None });
                        return Poll::Ready(Err(error.into()));
                    }
                    let future = job.inner.call(request);
                    this.state.set(State::Calling {
                        future,
                        signed: Some(Signed {
                            config: job.config,
                            credentials,
                            stamp,
                        }),
                        replay: None,
                    });
                }
                StateProj::Failed { error } => {
                    return Poll::Ready(Err(match error.take() {
                        Some(error) => error.into(),
                        None => polled_after_completion(),
                    }));
                }
                StateProj::Buffering {
                    collect,
                    parts,
                    job,
                } => {
                    let result = ready!(collect.poll(cx));
                    let (Some(parts), Some(job)) = (parts.take(), job.take()) else {
                        return Poll::Ready(Err(polled_after_completion()));
                    };
                    match result {
                        Ok(collected) => {
                            let bytes = collected.to_bytes();
                            let request =
                                Request::from_parts(parts, SigV4Body::full(bytes.clone()));
                            this.state.set(State::Signing {
                                request: Some(request),
                                payload: PayloadPlan::Bytes(bytes),
                                job: Some(job),
                                credentials: None,
                            });
                        }
                        Err(error) => {
                            let error = if error.is::<LengthLimitError>() {
                                SigV4Error::BodyTooLarge {
                                    limit: job.config.max_body_size,
                                    content_length: None,
                                }
                            } else {
                                SigV4Error::BodyRead(error)
                            };
                            this.state.set(State::Failed { error: None });
                            return Poll::Ready(Err(error.into()));
                        }
                    }
                }
                StateProj::Signing {
                    request,
                    payload,
                    job,
                    credentials,
                } => {
                    let Some(job_ref) = job.as_ref() else {
                        return Poll::Ready(Err(polled_after_completion()));
                    };
                    let region = job_ref.region.as_deref().unwrap_or(&job_ref.config.region);
                    let service = job_ref
                        .service
                        .as_deref()
                        .unwrap_or(&job_ref.config.service);
                    let result = ready!(poll_credentials(
                        credentials,
                        &job_ref.config,
                        region,
                        service,
                        cx
                    ));
                    *credentials = None;
                    let (Some(mut request), Some(mut job)) = (request.take(), job.take()) else {
                        return Poll::Ready(Err(polled_after_completion()));
                    };
                    // The body at hand (buffered or empty) allows one retry after a clock-skew
                    // refusal: keep the unsigned head for it.
                    let replayable = match payload {
                        PayloadPlan::Empty => Some(Bytes::new()),
                        PayloadPlan::Bytes(bytes) => Some(bytes.clone()),
                        _ => None,
                    }
                    .filter(|_| job.config.skew_retry);
                    let head = replayable.as_ref().map(|_| Head::of(&request));
                    let stamp = job.config.stamp();
                    let signed = match result {
                        Ok(creds) => {
                            sign(&mut request, payload, &job, &creds, &stamp).map(|()| creds)
                        }
                        Err(error) => Err(SigV4Error::Credentials(error)),
                    };
                    match signed {
                        Ok(credentials) => {
                            let future = job.inner.call(request);
                            let config = Arc::clone(&job.config);
                            let replay = match (head, replayable) {
                                (Some(head), Some(body)) => Some(Replay {
                                    head,
                                    body,
                                    job,
                                    credentials: credentials.clone(),
                                }),
                                _ => None,
                            };
                            this.state.set(State::Calling {
                                future,
                                signed: Some(Signed {
                                    config,
                                    credentials,
                                    stamp,
                                }),
                                replay,
                            });
                        }
                        Err(error) => {
                            this.state.set(State::Failed { error: None });
                            return Poll::Ready(Err(error.into()));
                        }
                    }
                }
            }
        }
    }
}

fn sign<B, S>(
    request: &mut Request<SigV4Body<B>>,
    plan: &PayloadPlan,
    job: &Job<S>,
    credentials: &Credentials,
    stamp: &Stamp,
) -> Result<(), SigV4Error> {
    let checksum_of = |bytes: &[u8]| job.config.checksum.map(|a| (a, checksum(a, bytes)));
    let added_checksum: Option<(ChecksumAlgorithm, String)> = match plan {
        PayloadPlan::Empty => checksum_of(&[]),
        PayloadPlan::Bytes(bytes) => checksum_of(bytes),
        _ => None,
    };
    if let Some((algorithm, value)) = added_checksum {
        let value = http::HeaderValue::try_from(value).map_err(|_| {
            SigV4Error::Signing(SigningError::InvalidHeaderValue {
                name: algorithm.header_name().to_owned(),
            })
        })?;
        request.headers_mut().insert(
            http::HeaderName::from_static(algorithm.header_name()),
            value,
        );
    }
    let mut framed = 0;
    if let PayloadPlan::Chunked {
        payload,
        chunk_size,
        declared,
    } = plan
    {
        framed = payload.set_headers(request.headers_mut(), *declared, *chunk_size)?;
    }
    #[cfg(feature = "eventstream")]
    if let PayloadPlan::EventStream = plan {
        use sigv4_core::eventstream::STREAMING_AWS4_HMAC_SHA256_EVENTS;
        let headers = request.headers_mut();
        headers.remove(http::header::CONTENT_LENGTH);
        headers.insert(
            X_AMZ_CONTENT_SHA256.clone(),
            http::HeaderValue::from_static(STREAMING_AWS4_HMAC_SHA256_EVENTS),
        );
    }
    let from_header: String;
    let payload = match plan {
        PayloadPlan::Empty => Payload::Bytes(&[]),
        PayloadPlan::Bytes(bytes) => Payload::Bytes(bytes),
        PayloadPlan::Unsigned => Payload::Unsigned,
        PayloadPlan::Hash(hash) => Payload::Precomputed(hash),
        PayloadPlan::Chunked { payload, .. } => Payload::Precomputed(payload.payload_hash()),
        #[cfg(feature = "eventstream")]
        PayloadPlan::EventStream => {
            Payload::Precomputed(sigv4_core::eventstream::STREAMING_AWS4_HMAC_SHA256_EVENTS)
        }
        // Copied out: the request is signed in place.
        PayloadPlan::FromHeader => match request.headers().get(&X_AMZ_CONTENT_SHA256) {
            None => return Err(SigV4Error::MissingPayloadHash),
            Some(value) => match value.to_str() {
                Ok(text) => {
                    from_header = text.to_owned();
                    Payload::Precomputed(&from_header)
                }
                Err(_) => {
                    return Err(SigV4Error::Signing(SigningError::InvalidPayloadHash(
                        String::from_utf8_lossy(value.as_bytes())
                            .chars()
                            .take(40)
                            .collect(),
                    )))
                }
            },
        },
    };
    let seed = job.config.sign_request(
        request,
        payload,
        credentials,
        job.region.as_deref(),
        job.service.as_deref(),
        stamp,
    )?;
    if let PayloadPlan::Chunked {
        payload,
        chunk_size,
        declared,
    } = plan
    {
        let config = &job.config;
        let params = SigningParams::new(
            credentials,
            job.region.as_deref().unwrap_or(&config.region),
            job.service.as_deref().unwrap_or(&config.service),
            stamp.time(),
        )
        .with_settings(&config.settings);
        let signer = config.signer.chunk_signer(&params, &seed, *payload)?;
        let body = std::mem::replace(request.body_mut(), SigV4Body::empty());
        *request.body_mut() = body.into_aws_chunked(signer, *chunk_size, *declared, framed);
    }
    #[cfg(feature = "eventstream")]
    if let PayloadPlan::EventStream = plan {
        let config = &job.config;
        let clock: sigv4_core::SharedTimeSource = config
            .time_source
            .clone()
            .unwrap_or_else(|| std::sync::Arc::new(sigv4_core::SystemClock));
        let stream = sigv4_core::eventstream::EventStreamSigner::new(
            &config.signer,
            credentials,
            job.region.as_deref().unwrap_or(&config.region),
            job.service.as_deref().unwrap_or(&config.service),
            seed.as_str(),
        )
        .map_err(SigV4Error::EventStream)?;
        let body = std::mem::replace(request.body_mut(), SigV4Body::empty());
        *request.body_mut() = body.into_event_stream(stream, clock);
    }
    Ok(())
}
