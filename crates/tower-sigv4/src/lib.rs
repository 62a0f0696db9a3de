//! AWS Signature Version 4 for tower: sign every outgoing `http::Request` (and, on the server,
//! verify incoming ones).
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
//! let credentials = Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
//! let api = ServiceBuilder::new()
//!     .layer(SigV4Layer::new(credentials, "eu-west-1", "execute-api"))
//!     .service(tower::service_fn(|request: Request<SigV4Body<Full<Bytes>>>| async move {
//!         Ok::<_, Infallible>(Response::new(request.headers().contains_key("authorization")))
//!     }));
//! let request = Request::get("https://abcdef1234.execute-api.eu-west-1.amazonaws.com/prod/items")
//!     .body(Full::new(Bytes::new()))?;
//! assert!(*api.oneshot(request).await?.body());
//! # Ok(())
//! # }
//! ```
//!
//! - [`sign`]: [`SigV4Layer`] / [`SigV4Service`], the payload policies, per-request overrides.
//! - [`verify`]: the server side.
//! - `eventstream` (cargo feature `eventstream`, on by default): `eventstream::EventStreamBody`
//!   signs an `application/vnd.amazon.eventstream` body message by message, as it streams.
//! - `reqwest` (cargo feature `reqwest-middleware`): `reqwest::SigV4Middleware`
//!   for `reqwest-middleware` clients.
//!
//! The credentials sources live in [`sigv4_credentials`] and the signer in [`sigv4_core`]; both are
//! re-exported here.
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod error;
#[cfg(feature = "eventstream")]
#[cfg_attr(docsrs, doc(cfg(feature = "eventstream")))]
pub mod eventstream;
pub mod sign;
pub mod verify;

#[cfg(feature = "reqwest-middleware")]
pub mod reqwest;

pub use error::{BoxError, SigV4Error};
pub use sign::{
    ClockSkew, ClockSkewCorrection, PayloadPolicy, ResponseFuture, SigV4Body, SigV4Layer,
    SigV4LayerBuilder, SigV4Service, SigningOverride, SkipSigning, DEFAULT_MAX_BODY_SIZE,
};
pub use verify::{KeyStore, StaticKeyStore, Verify, VerifyBody, VerifyLayer};

pub use sigv4_core;
pub use sigv4_credentials;
