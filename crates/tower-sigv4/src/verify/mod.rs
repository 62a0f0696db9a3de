//! Server side: check the SigV4 signature of incoming requests, like API Gateway does.
//!
//! [`VerifyLayer`] wraps a service in [`Verify`]. For each request it:
//!
//! 1. refuses a `Content-Length` over the body limit (`413`, before reading anything);
//! 2. reads the claimed signature from the `Authorization` header or a presigned query
//!    ([`SignedRequest::parse`](sigv4_core::verify::SignedRequest::parse));
//! 3. asks the [`KeyStore`] for the access key id's credentials (unknown key, or a session token
//!    that does not match: `InvalidClientTokenId`);
//! 4. buffers the body (up to [`DEFAULT_MAX_BODY_SIZE`] unless set otherwise) and settles the
//!    payload hash: the body's SHA-256, or, when the request signed an `x-amz-content-sha256`
//!    header, that header after checking the body against it (`UNSIGNED-PAYLOAD` only with
//!    [`VerifyLayer::allow_unsigned_payload`]);
//! 5. recomputes the signature and compares in constant time, with the time taken from the
//!    layer's time source and a clock-skew window (±5 min by default)
//!    ([`Signer::verify`](sigv4_core::Signer::verify)).
//!
//! A request that passes goes to the inner service with its body intact (rebuilt from the
//! buffered bytes) and the signer's identity, a [`Verified`], in its extensions. A request that
//! fails is answered by the layer itself, the inner service is not called: status `403` (for
//! signature problems), `x-amzn-ErrorType: <code>` and an API-Gateway-style JSON body such as
//! `{"message":"Missing Authentication Token"}`. [`Rejection`] lists every code.
//!
//! # Body types
//!
//! - The inner service receives `Request<VerifyBody>`, whatever the incoming body type was
//!   (`hyper::body::Incoming`, `axum::body::Body`, ...): the body read to check its hash, or, for
//!   an aws-chunked upload (`x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD`,
//!   `-PAYLOAD-TRAILER`, or, with [`VerifyLayer::allow_unsigned_payload`],
//!   `STREAMING-UNSIGNED-PAYLOAD-TRAILER`), the decoded data streamed to the handler chunk by
//!   chunk, each chunk's signature, the trailer and the decoded length checked on the way; the
//!   first bad chunk fails the body (an error the handler reads, naming the chunk), not the
//!   process. The handler sees `Content-Length` as the decoded length and `aws-chunked` gone
//!   from `Content-Encoding`.
//! - The response keeps the inner service's body type `B`, which must implement
//!   `From<Bytes>` so that refusals can be written in it: `Full<Bytes>` and `axum::body::Body`
//!   do (for another body type, map the inner service's response into one of them).
//!
//! That fits both common servers:
//! - **axum**: `Router::new().route(..).route_layer(VerifyLayer::new(store))` (or `.layer(..)`).
//!   axum routes accept any request body and answer `Response<axum::body::Body>`.
//! - **hyper**: `ServiceBuilder::new().layer(VerifyLayer::new(store)).service(svc)` where `svc`
//!   is a `Service<Request<VerifyBody>, Response = Response<Full<Bytes>>>`, then serve it with
//!   `hyper_util::service::TowerToHyperService` (the `Verify` service accepts
//!   `Request<hyper::body::Incoming>`).
//!
//! # Example
//!
//! ```
//! use std::time::SystemTime;
//!
//! use bytes::Bytes;
//! use http::{Request, Response, StatusCode};
//! use http_body_util::{BodyExt, Full};
//! use sigv4_core::verify::Verified;
//! use sigv4_core::{Credentials, Payload, Signer, SigningParams};
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//! use tower_sigv4::verify::{StaticKeyStore, VerifyBody, VerifyLayer};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let creds = Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
//!
//! // The server: only requests signed with a known key reach the handler.
//! let api = ServiceBuilder::new()
//!     .layer(
//!         VerifyLayer::new(StaticKeyStore::new().with(creds.clone()))
//!             .region("eu-west-1")
//!             .service("execute-api"),
//!     )
//!     .service(service_fn(|request: Request<VerifyBody>| async move {
//!         let who = request.extensions().get::<Verified>().map(|v| v.access_key_id().to_owned());
//!         // A body error: an aws-chunked upload with a bad chunk (see `VerifyBody`).
//!         let body = request.into_body().collect().await?.to_bytes();
//!         let text = format!("{} sent {} bytes", who.unwrap_or_default(), body.len());
//!         Ok::<_, tower_sigv4::BoxError>(Response::new(Full::<Bytes>::from(text)))
//!     }));
//!
//! // A client signs its request (here with the core signer; usually through `SigV4Layer`).
//! let mut request = Request::post("/prod/items")
//!     .header("host", "abc123.execute-api.eu-west-1.amazonaws.com")
//!     .body(Full::<Bytes>::from(r#"{"name":"widget"}"#))?;
//! let params = SigningParams::new(&creds, "eu-west-1", "execute-api", SystemTime::now());
//! Signer::new().sign_request(&mut request, Payload::Bytes(br#"{"name":"widget"}"#), &params)?;
//!
//! let response = api.clone().oneshot(request).await?;
//! assert_eq!(response.status(), StatusCode::OK);
//! assert_eq!(response.into_body().collect().await?.to_bytes(), "AKIDEXAMPLE sent 17 bytes");
//!
//! // An unsigned request never reaches the handler.
//! let unsigned = Request::get("/prod/items")
//!     .header("host", "abc123.execute-api.eu-west-1.amazonaws.com")
//!     .body(Full::<Bytes>::default())?;
//! let response = api.oneshot(unsigned).await?;
//! assert_eq!(response.status(), StatusCode::FORBIDDEN);
//! assert_eq!(response.headers()["x-amzn-ErrorType"], "MissingAuthenticationToken");
//! assert_eq!(
//!     response.into_body().collect().await?.to_bytes(),
//!     r#"{"message":"Missing Authentication Token"}"#
//! );
//! # Ok(())
//! # }
//! ```

mod body;
mod check;
mod future;
mod key_store;
mod layer;
mod rejection;
mod service;

pub use body::VerifyBody;
pub use future::ResponseFuture;
pub use key_store::{BoxError, KeyStore, KeyStoreFuture, StaticKeyStore};
pub use layer::VerifyLayer;
pub use rejection::{Rejection, X_AMZN_ERROR_TYPE};
pub use service::Verify;
pub use sigv4_core::verify::{Verified, VerifySettings};

/// The default body limit, the signing layer's: 10 MiB (API Gateway's payload limit).
pub use crate::sign::DEFAULT_MAX_BODY_SIZE;
