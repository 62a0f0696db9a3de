//! Client side: sign every outgoing request with AWS SigV4.
//!
//! [`SigV4Layer`] wraps any tower service that takes `http::Request<B>` (hyper-util's `Client`,
//! an axum `Router` used as a client stack, a reqwest-based service...). For each request it
//! gets the current credentials from a [`ProvideCredentials`](sigv4_credentials::ProvideCredentials)
//! source, settles the payload hash according to the [`PayloadPolicy`], signs the head with
//! [`sigv4_core::Signer`] and calls the inner service with the signed request.
//!
//! # Example
//!
//! ```
//! use std::convert::Infallible;
//!
//! use bytes::Bytes;
//! use http::{Request, Response};
//! use http_body_util::Full;
//! use tower::{ServiceBuilder, ServiceExt};
//! use tower_sigv4::sigv4_core::Credentials;
//! use tower_sigv4::{SigV4Body, SigV4Layer};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), tower_sigv4::BoxError> {
//! // In an application: `DefaultChain::builder().build().await` (environment, profile,
//! // container, IMDS; cached and refreshed ahead of expiry).
//! let credentials = Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
//!
//! let api = ServiceBuilder::new()
//!     .layer(SigV4Layer::new(credentials, "eu-west-1", "execute-api"))
//!     // Stands in for `hyper_util::client::legacy::Client<_, SigV4Body<Full<Bytes>>>`: shows what would be
//!     // sent.
//!     .service(tower::service_fn(|request: Request<SigV4Body<Full<Bytes>>>| async move {
//!         let authorization = request.headers()["authorization"].to_str().unwrap_or("").to_owned();
//!         Ok::<_, Infallible>(Response::new(authorization))
//!     }));
//!
//! let request = Request::post("https://abcdef1234.execute-api.eu-west-1.amazonaws.com/prod/items")
//!     .header("content-type", "application/json")
//!     .body(Full::new(Bytes::from_static(br#"{"name":"widget"}"#)))?;
//! let response = api.oneshot(request).await?;
//! assert!(response.body().starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"));
//! assert!(response.body().contains("/eu-west-1/execute-api/aws4_request"));
//! # Ok(())
//! # }
//! ```
//!
//! # What the layer adds
//!
//! `authorization`, `x-amz-date`, `x-amz-security-token` (with temporary credentials) and, for an
//! unsigned payload or with [`SigningSettings::s3`](sigv4_core::SigningSettings::s3),
//! `x-amz-content-sha256`. Headers that proxies and tracing layers change after signing
//! (`user-agent`, `traceparent`, `x-amzn-trace-id`, hop-by-hop headers...) are left out of the
//! signature by default, so put tracing layers on either side.
//!
//! # Bodies
//!
//! The layer takes any [`http_body::Body`] and hands the inner service a [`SigV4Body`] around it
//! (so a hyper-util client below it is a `Client<_, SigV4Body<Full<Bytes>>>`). With
//! [`PayloadPolicy::BufferAndHash`] (the default, needed by API Gateway) a non-empty body is read
//! into memory up to [`SigV4LayerBuilder::max_body_size`] (10 MiB by default), hashed, and handed
//! on as the same bytes (trailers, if any, are dropped); an empty body is not buffered, and
//! [`SigV4LayerBuilder::checksum`] adds S3's `x-amz-checksum-*` header of such a body. For large
//! uploads, use [`PayloadPolicy::AwsChunked`] (S3: the body is signed chunk by chunk as it is
//! sent, in constant memory), [`PayloadPolicy::CallerProvided`] with an `x-amz-content-sha256`
//! header, or [`PayloadPolicy::Unsigned`] where the service accepts it (S3).
//!
//! # Per-request overrides
//!
//! Put a [`SigningOverride`] in the request's extensions to sign one request for another region or
//! service, with another payload policy or with a hash you already have; put [`SkipSigning`] there
//! to send a request unsigned:
//!
//! ```
//! use std::convert::Infallible;
//!
//! use bytes::Bytes;
//! use http::{Request, Response};
//! use http_body_util::Full;
//! use tower::{ServiceBuilder, ServiceExt};
//! use tower_sigv4::sigv4_core::Credentials;
//! use tower_sigv4::{SigV4Body, SigV4Layer, SigningOverride, SkipSigning};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), tower_sigv4::BoxError> {
//! let api = ServiceBuilder::new()
//!     .layer(SigV4Layer::new(Credentials::new("AKID", "SECRET"), "eu-west-1", "execute-api"))
//!     .service(tower::service_fn(|request: Request<SigV4Body<Full<Bytes>>>| async move {
//!         let authorization = request.headers().get("authorization").cloned();
//!         Ok::<_, Infallible>(Response::new(authorization))
//!     }));
//!
//! // Another region and service for this request only.
//! let mut request = Request::get("https://lambda.us-east-2.amazonaws.com/2015-03-31/functions")
//!     .body(Full::new(Bytes::new()))?;
//! request
//!     .extensions_mut()
//!     .insert(SigningOverride::new().with_region("us-east-2").with_service("lambda"));
//! let response = api.clone().oneshot(request).await?;
//! let authorization = response.body().as_ref().map(|v| v.to_str().unwrap_or(""));
//! assert!(authorization.unwrap_or("").contains("/us-east-2/lambda/aws4_request"));
//!
//! // No signature at all.
//! let mut request = Request::get("https://example.com/health").body(Full::new(Bytes::new()))?;
//! request.extensions_mut().insert(SkipSigning);
//! let response = api.oneshot(request).await?;
//! assert!(response.body().is_none());
//! # Ok(())
//! # }
//! ```
//!
//! # Refused credentials
//!
//! When the inner service answers a signed request with status 400 or 403 and an error code that
//! says the credentials are expired or not valid ([`REFUSED_CREDENTIALS_CODES`]: `ExpiredToken`,
//! `ExpiredTokenException`, `InvalidClientTokenId`, `UnrecognizedClientException`, `InvalidToken`,
//! `TokenRefreshRequired`, `InvalidAccessKeyId`), the layer invalidates the credentials that signed
//! it (through [`ProvideCredentials::invalidate`](sigv4_credentials::ProvideCredentials::invalidate)): a
//! [`CredentialsCache`](sigv4_credentials::CredentialsCache) or
//! [`DefaultChain`](sigv4_credentials::DefaultChain) then refreshes on the next request, once,
//! however many requests were refused, and keeps credentials it loaded since that request was
//! signed. Clock-skew and signature codes (`RequestTimeTooSkewed`, `SignatureDoesNotMatch`, ...)
//! and `AccessDenied` do not invalidate: new credentials would not help.
//!
//! The code is read from the response head only: the `x-amzn-ErrorType` header (API Gateway and
//! the JSON and REST-JSON protocols; `Code:http://...` and `namespace#Code` forms are understood)
//! or `x-amzn-query-error` (`Code;Sender`). The body is never read or buffered, and the response
//! reaches the caller unchanged; on any other status the cost is one comparison. So answers that
//! carry the code only in an XML body (S3's and STS's `<Code>ExpiredToken</Code>`) are not
//! recognized here: a caller that reads such a body can check the code with
//! [`is_refused_credentials_code`] and call the provider's
//! [`invalidate`](sigv4_credentials::ProvideCredentials::invalidate) itself. Credentials that
//! simply run out are refreshed ahead of expiry by the cache anyway; this is for credentials that
//! a service stops accepting early (revoked sessions, rotated keys, a clock the source got wrong).
//!
//! # Errors
//!
//! The service's error type is [`BoxError`](crate::BoxError). Errors of the inner service come
//! through unchanged; when signing fails the inner service is not called and the error is a
//! [`SigV4Error`](crate::SigV4Error) (find it with `downcast_ref` or
//! [`SigV4Error::find`](crate::SigV4Error::find)).
//!
//! # Tracing
//!
//! At `debug` level: a `sigv4_sign` span around each signing (region, service, access key id,
//! method, host) and a `sigv4_credentials` span around waits for credentials. Secrets and session
//! tokens are never recorded.

mod body;
mod future;
pub(crate) mod layer;
mod payload;
mod refusal;
mod service;
pub mod skew;

pub use self::body::SigV4Body;
pub use self::future::ResponseFuture;
pub use self::layer::{SigV4Layer, SigV4LayerBuilder};
pub use self::payload::{PayloadPolicy, SigningOverride, SkipSigning, DEFAULT_MAX_BODY_SIZE};
pub use self::refusal::{is_refused_credentials_code, REFUSED_CREDENTIALS_CODES};
pub use self::service::SigV4Service;
pub use self::skew::{ClockSkew, ClockSkewCorrection};
